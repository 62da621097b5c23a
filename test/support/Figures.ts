/**
 * Figures of the fault suite for docs/reliability.md: when FAULT_FIGURES names a file, each
 * call appends one JSON line to it ({ figure, ...data }); otherwise nothing happens.
 */
import * as fs from "node:fs"

export const record = (figure: string, data: Record<string, unknown>): void => {
  const file = process.env.FAULT_FIGURES
  if (file === undefined || file === "") return
  fs.appendFileSync(file, `${JSON.stringify({ figure, ...data })}\n`)
}
