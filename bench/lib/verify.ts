/** Checks, outside the measured time, that a run really did its job. */
import Database from "better-sqlite3"
import * as fs from "node:fs"
import * as Raw from "./raw.ts"

/** `litestream snapshots URL` lists at least one snapshot; returns its size in bytes. */
export const replicaHasSnapshot = async (binary: string, url: string, env: Record<string, string>): Promise<number> => {
  const run = await Raw.toExit(binary, ["snapshots", url], env, 60_000)
  // replica  generation  index  size  created
  const rows = run.lines.slice(1).map((l) => l.trim().split(/\s+/)).filter((cols) => cols.length >= 5)
  if (run.exitCode !== 0 || rows.length === 0) {
    throw new Error(`no snapshot on ${url} (litestream snapshots exit ${run.exitCode}): ${run.lines.slice(-3).join(" ")}`)
  }
  return Math.max(...rows.map((cols) => Number(cols[3])))
}

/** The restored database is whole: `PRAGMA quick_check` is ok and it has the source's rows. */
export const restoredIsWhole = (path: string, rows: number): void => {
  if (!fs.existsSync(path)) throw new Error(`restore wrote no ${path}`)
  const db = new Database(path, { readonly: true })
  try {
    const check = db.pragma("quick_check", { simple: true })
    const count = (db.prepare("SELECT count(*) AS n FROM events").get() as { n: number }).n
    if (check !== "ok" || count !== rows) throw new Error(`restored ${path}: quick_check ${String(check)}, ${count} rows of ${rows}`)
  } finally {
    db.close()
  }
}
