/**
 * Realistic sample databases: rows of mixed text (log-like events, `rows.mjs`), generated from a
 * seeded PRNG, so the content is neither all zeros nor pure noise, and LZ4 (litestream's
 * compression) sees a realistic ratio.
 */
import Database from "better-sqlite3"
import * as fs from "node:fs"
import { INSERT, rows as sampleRows, SCHEMA } from "./rows.mjs"

export interface SampleDatabase {
  readonly path: string
  readonly bytes: number
  readonly rows: number
  readonly seconds: number
}

/**
 * Creates a WAL-mode database of about `targetBytes` (page_count * page_size), checkpointed and
 * closed (no -wal / -shm left), and returns its size and row count.
 */
export const createDatabase = (path: string, targetBytes: number, seed = 42): SampleDatabase => {
  const started = performance.now()
  fs.rmSync(path, { force: true })
  const db = new Database(path)
  db.pragma("journal_mode = WAL")
  db.pragma("synchronous = OFF")
  db.exec(SCHEMA)
  const insert = db.prepare(INSERT)
  const row = sampleRows(seed)
  const pageSize = db.pragma("page_size", { simple: true }) as number
  const size = () => (db.pragma("page_count", { simple: true }) as number) * pageSize
  let rows = 0
  const batch = db.transaction((n: number) => {
    for (let i = 0; i < n; i++) insert.run(...row())
  })
  // Grow in batches, with smaller batches near the target so the size lands close to it.
  while (size() < targetBytes) {
    const left = targetBytes - size()
    batch(Math.max(50, Math.min(20_000, Math.floor(left / 400))))
    rows = (db.prepare("SELECT max(id) AS n FROM events").get() as { n: number }).n
  }
  db.pragma("wal_checkpoint(TRUNCATE)")
  db.close()
  return { path, bytes: fs.statSync(path).size, rows, seconds: (performance.now() - started) / 1000 }
}
