/**
 * SQLite helpers for the integration tests (better-sqlite3), with databases in WAL mode as a
 * real application keeps them. Every helper opens and closes its own connection.
 */
import Database from "better-sqlite3"
import * as Effect from "effect/Effect"

/** One row of the test table. */
export interface Row {
  readonly id: number
  readonly name: string
  readonly payload: string
}

/** The row `i`: deterministic, so a restore can be compared with what was written. */
export const row = (i: number): Row => ({ id: i, name: `row-${i}`, payload: `payload ${i} `.repeat(1 + (i % 7)) })

/** The rows `from`..`from + count - 1`. */
export const rows = (count: number, from = 1): Array<Row> => Array.from({ length: count }, (_, k) => row(from + k))

const insertAll = (db: Database.Database, list: ReadonlyArray<Row>) => {
  const insert = db.prepare("INSERT INTO items (id, name, payload) VALUES (@id, @name, @payload)")
  db.transaction((all: ReadonlyArray<Row>) => {
    for (const r of all) insert.run(r)
  })(list)
}

/** Opens (creating if needed) a database in WAL mode. The caller closes it. */
export const open = (path: string): Database.Database => {
  const db = new Database(path)
  db.pragma("journal_mode = WAL")
  db.pragma("synchronous = NORMAL")
  return db
}

/** Creates a WAL-mode database at `path` holding rows 1..count, and closes it. */
export const createDatabase = (path: string, count: number): Array<Row> => {
  const db = open(path)
  try {
    db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, payload TEXT NOT NULL)")
    const list = rows(count)
    insertAll(db, list)
    return list
  } finally {
    db.close()
  }
}

/** Appends rows (ids after the current maximum) and closes the database; returns them. */
export const addRows = (path: string, count: number): Array<Row> => {
  const db = open(path)
  try {
    const { max } = db.prepare("SELECT COALESCE(MAX(id), 0) AS max FROM items").get() as { max: number }
    const list = rows(count, max + 1)
    insertAll(db, list)
    return list
  } finally {
    db.close()
  }
}

/** Appends rows through an open connection (the caller keeps it open). */
export const insertRows = (db: Database.Database, list: ReadonlyArray<Row>): void => insertAll(db, list)

/** All rows, by id. Opens the database read-only: reading must not create it. */
export const readRows = (path: string): Array<Row> => {
  const db = new Database(path, { readonly: true, fileMustExist: true })
  try {
    return db.prepare("SELECT id, name, payload FROM items ORDER BY id").all() as Array<Row>
  } finally {
    db.close()
  }
}

/** `PRAGMA integrity_check`: `"ok"` for a sound database. */
export const integrityCheck = (path: string): string => {
  const db = new Database(path, { readonly: true, fileMustExist: true })
  try {
    const result = db.pragma("integrity_check") as Array<{ integrity_check: string }>
    return result.map((r) => r.integrity_check).join("\n")
  } finally {
    db.close()
  }
}

/** The journal mode a database file records (`wal` for a WAL database). */
export const journalMode = (path: string): string => {
  const db = new Database(path, { readonly: true, fileMustExist: true })
  try {
    return db.pragma("journal_mode", { simple: true }) as string
  } finally {
    db.close()
  }
}

/** Effect versions, for use inside `Effect.gen`. */
export const createDatabaseEffect = (path: string, count: number) => Effect.sync(() => createDatabase(path, count))
export const addRowsEffect = (path: string, count: number) => Effect.sync(() => addRows(path, count))
export const readRowsEffect = (path: string) => Effect.sync(() => readRows(path))
export const integrityCheckEffect = (path: string) => Effect.sync(() => integrityCheck(path))
