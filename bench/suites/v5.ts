/**
 * 8. litestream v0.5: the library's `Replicate.once` driving litestream 0.5.17 (`LITESTREAM_BIN`)
 *    against raw `litestream replicate -once -config FILE` with the config the library writes,
 *    1 MB, file:// and the loopback S3 server, interleaved. The binary is the test peer
 *    (`.peers/litestream-0.5.17/litestream`, installed by the first `pnpm test`, or
 *    `LITESTREAM_V5_BIN`); without it the section says so.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { type Context, DB_NAME, fileUrl, freshCopy, type Suite } from "../lib/context.ts"
import * as Lib from "../lib/library.ts"
import { interleaved, Samples, sumCalls } from "../lib/measure.ts"
import * as Raw from "../lib/raw.ts"
import { errorsBlock, table } from "../lib/report.ts"
import { median, percent, range, ratio, seconds } from "../lib/stats.ts"

type Variant = "library" | "raw"
type Replica = "s3" | "file"

const v5Binary = (): string | undefined => {
  const candidates = [
    process.env.LITESTREAM_V5_BIN,
    fileURLToPath(new URL("../../.peers/litestream-0.5.17/litestream", import.meta.url))
  ]
  return candidates.find((c): c is string => c !== undefined && c !== "" && fs.existsSync(c))
}

const runOne = async (context: Context, binary: string, replica: Replica, variant: Variant, rep: number): Promise<number> => {
  const dir = freshCopy(context, "1MB", `v5-${replica}-${variant}-${rep}`)
  try {
    const replicaUrl = replica === "s3"
      ? context.s3.url(context.bucket, `v5/${variant}/${rep}`)
      : fileUrl(path.join(dir, "replica"))
    const target = { replicaUrl, folder: dir, db: DB_NAME, binary }
    if (variant === "library") {
      const r = await Lib.once(target)
      if (r.value.txid === undefined) throw new Error("once on v0.5 reported no txid")
      return r.seconds
    }
    const raw = await Lib.rawInputs(target)
    const config = path.join(dir, "litestream.yml")
    fs.writeFileSync(config, raw.onceConfig)
    const run = await Raw.toExit(binary, ["replicate", "-once", "-config", config], raw.env, 60_000)
    if (run.exitCode !== 0) throw new Error(`litestream replicate -once exit ${run.exitCode}: ${run.lines.slice(-2).join(" ")}`)
    return run.seconds
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

export const suite: Suite = {
  name: "v5",
  sizes: ["1MB"],
  run: async (context) => {
    const binary = v5Binary()
    if (binary === undefined) {
      return {
        title: "litestream v0.5",
        markdown: "## 8. litestream v0.5\n\nSkipped: litestream 0.5.17 is not installed (run `pnpm test` once, or set `LITESTREAM_V5_BIN`).\n",
        targets: [],
        libraryCalls: { failed: 0, total: 0 }
      }
    }
    const rows: Array<Array<string>> = []
    const errors: Array<string> = []
    const calls: Array<{ failed: number; total: number }> = []
    for (const replica of ["file", "s3"] as const) {
      const samples = new Samples<Variant>()
      const label = `v5 once 1 MB ${replica}`
      await interleaved(samples, context.quick ? 3 : 9, ["library", "raw"], (variant, rep) => runOne(context, binary, replica, variant, rep), context.log, label, {
        warmup: ["library", "raw"]
      })
      if (replica === "s3") await context.s3.empty(context.bucket)
      errors.push(...samples.allErrors().map((e) => `${label}: ${e}`))
      calls.push(samples.calls("library"))
      const lib = median(samples.of("library"))
      const raw = median(samples.of("raw"))
      rows.push([
        replica === "s3" ? "S3 (loopback)" : "file://",
        `**${seconds(lib)}** (${range(samples.of("library"))})`,
        `**${seconds(raw)}** (${range(samples.of("raw"))})`,
        `${ratio(lib, raw)} (${percent(lib, raw)})`,
        `${samples.of("library").length}+${samples.of("raw").length}`
      ])
    }
    const markdown = `## 8. litestream v0.5

\`Replicate.once\` of a 1 MB database with \`LITESTREAM_BIN\` = litestream 0.5.17 (the library runs
\`litestream version\` once per layer, then \`replicate -once\` with its generated config), against raw
\`litestream replicate -once -config FILE\` with that same config and environment, from \`spawn\` to
exit 0; a fresh copy of the database and an empty replica for every run, one untimed warm-up each.
No target is set by the issue; the difference is the library's own cost (layer, version, config file).

${table(["replica", "library: median (min–max)", "raw: median (min–max)", "library / raw", "runs"], rows)}
${errorsBlock(errors)}`
    return { title: "litestream v0.5", markdown, targets: [], libraryCalls: sumCalls(calls) }
  }
}
