/** Markdown helpers. */

export const table = (headers: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const align = headers.map((_, i) => (i === 0 ? "---" : "---"))
  return [headers, align, ...rows].map((r) => `| ${r.join(" | ")} |`).join("\n")
}

export const passFail = (pass: boolean): string => (pass ? "**pass**" : "**FAIL**")

export const errorsBlock = (errors: ReadonlyArray<string>): string =>
  errors.length === 0 ? "" : `\nFailed runs (left out of the medians):\n\n${errors.map((e) => `- ${e.replace(/\|/g, "\\|")}`).join("\n")}\n`
