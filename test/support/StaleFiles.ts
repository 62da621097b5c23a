/**
 * The leftovers of an earlier database A where another one is restored: a `-wal`, `-shm` or
 * `-journal` that a crash, or deleting only the main file, leaves behind; and what an
 * application sees when it first opens a database.
 */
import Database from "better-sqlite3"
import * as fs from "node:fs"
import * as Sqlite from "./Sqlite.js"

export type Kind = "-wal" | "-shm" | "-journal"

/**
 * Database A at `path`: 500 rows of its own and an extra table. The `kind` file is copied while
 * A is open and holds it (the WAL with every frame, no checkpoint; the shared-memory index; a hot
 * rollback journal in the middle of a transaction that spilled to the file), then A is closed and
 * every file of it deleted, and the copy put back: what a crash, or deleting only the main file,
 * leaves behind. Returns the bytes of the stale file.
 */
export const leaveStale = (path: string, kind: Kind): Buffer => {
  const a = new Database(path)
  a.pragma(kind === "-journal" ? "journal_mode = DELETE" : "journal_mode = WAL")
  a.pragma("wal_autocheckpoint = 0")
  a.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, payload TEXT NOT NULL)")
  const insert = a.prepare("INSERT INTO items (id, name, payload) VALUES (?, ?, ?)")
  a.transaction(() => {
    for (let i = 1; i <= 500; i++) insert.run(i, `a-${i}`, `database A ${i} `.repeat(3))
  })()
  a.exec("CREATE TABLE a_only (note TEXT); INSERT INTO a_only VALUES ('this is database A')")
  let bytes: Buffer
  if (kind === "-journal") {
    // a small cache makes the transaction spill pages to the file, so the journal is hot
    a.pragma("cache_size = 2")
    a.exec("BEGIN")
    a.exec("UPDATE items SET payload = 'changed ' || payload")
    bytes = fs.readFileSync(`${path}-journal`)
    a.exec("ROLLBACK")
  } else {
    bytes = fs.readFileSync(`${path}${kind}`)
  }
  a.close()
  for (const file of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) fs.rmSync(file, { force: true })
  fs.writeFileSync(`${path}${kind}`, bytes)
  if (bytes.length === 0) throw new Error(`the ${kind} of database A is empty`)
  return bytes
}

/** What a user's application sees on its first open (read-write, as an application opens it). */
export const firstOpen = (path: string) => {
  const db = Sqlite.open(path)
  try {
    // litestream's own tables (_litestream_seq, _litestream_lock) are in every replicated database
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<
      { name: string }
    >).map((r) => r.name).filter((name) => !name.startsWith("_litestream_"))
    const rows = db.prepare("SELECT id, name, payload FROM items ORDER BY id").all() as Array<Sqlite.Row>
    const integrity = (db.pragma("integrity_check") as Array<{ integrity_check: string }>).map((r) => r.integrity_check)
      .join("\n")
    return { tables, rows, integrity }
  } finally {
    db.close()
  }
}
