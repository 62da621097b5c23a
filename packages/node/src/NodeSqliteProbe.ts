/**
 * The `SqliteProbe` on better-sqlite3: the verification's sentinel, and the locks that make
 * `deleteLocal` safe. better-sqlite3 is loaded on first use, so an application that never
 * verifies nor deletes does not need it installed.
 *
 * @since 0.1.0
 */
import { LitestreamError, SqliteProbe } from "@effect-litestream/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import * as OpenFiles from "./internal/openFiles.js"

type Database = import("better-sqlite3").Database

const detail = (e: unknown) => e instanceof Error ? e.message : String(e)
const isBusy = (e: unknown) =>
  typeof e === "object" && e !== null && "code" in e && String((e as { code: unknown }).code).startsWith("SQLITE_BUSY")

const load = Effect.tryPromise({
  try: () => import("better-sqlite3").then((m) => m.default),
  catch: (e) => new SqliteProbe.SqliteProbeError({ path: "better-sqlite3", detail: `cannot load better-sqlite3: ${detail(e)}` })
})

const open = (path: string, readonly: boolean, timeout = 5000) =>
  Effect.flatMap(load, (Sqlite) =>
    Effect.try({
      try: (): Database => new Sqlite(path, { fileMustExist: true, readonly, timeout }),
      catch: (e) => new SqliteProbe.SqliteProbeError({ path, detail: detail(e) })
    }))

const use = <A>(path: string, readonly: boolean, f: (db: Database) => A) =>
  Effect.acquireUseRelease(
    open(path, readonly),
    (db) =>
      Effect.try({
        try: () => f(db),
        catch: (e) => new SqliteProbe.SqliteProbeError({ path, detail: detail(e) })
      }),
    (db) => Effect.sync(() => db.close())
  )

class Refused {
  constructor(readonly error: LitestreamError.DatabaseInUse | LitestreamError.DatabaseChangedAfterBackup) {}
}

const inUse = (path: string, targets: ReadonlyArray<OpenFiles.FileId>, ownAllowed: number, what: string) => {
  const pids = OpenFiles.otherHolders(targets, ownAllowed)
  // which program it is, where /proc tells (an operator's first question)
  const names = pids.map((pid) => OpenFiles.commandOf(pid)).filter((n): n is string => n !== undefined)
  return new LitestreamError.DatabaseInUse({
    path,
    pids,
    detail: names.length === 0 ? what : `${what} (${[...new Set(names)].join(", ")})`
  })
}

const ids = (paths: ReadonlyArray<string>) =>
  paths.map(OpenFiles.fileId).filter((id): id is OpenFiles.FileId => id !== undefined)

/**
 * The deletion itself, synchronous from start to end so that nothing of this process runs in
 * between. `db` holds the write lock (`BEGIN IMMEDIATE`); `opened` is the file it opened.
 */
const deleteUnderLock = (
  db: Database,
  dbPath: string,
  opened: OpenFiles.FileId | undefined,
  files: ReadonlyArray<string>
): ReadonlyArray<string> => {
  const targets = ids([dbPath, `${dbPath}-wal`])
  // 1. From the write lock to an exclusive one. Between the two, a writer could commit:
  //    data_version, which changes with every commit of another connection, tells.
  db.exec("COMMIT")
  const before = db.pragma("data_version", { simple: true })
  db.pragma("busy_timeout = 200")
  db.pragma("locking_mode = EXCLUSIVE")
  try {
    // Fails while any other connection has the database open: in WAL mode each one holds a
    // shared lock on the file for as long as it is open, idle or not.
    db.exec("BEGIN EXCLUSIVE")
  } catch (e) {
    if (isBusy(e)) throw new Refused(inUse(dbPath, targets, 2, "has it open"))
    throw e
  }
  db.prepare("SELECT count(*) FROM sqlite_master").get()
  const after = db.pragma("data_version", { simple: true })
  db.exec("COMMIT") // the exclusive lock stays: locking_mode = EXCLUSIVE never releases it
  if (before !== after) {
    throw new Refused(
      new LitestreamError.DatabaseChangedAfterBackup({
        path: dbPath,
        detail: "another connection committed to it after litestream's final sync"
      })
    )
  }
  const now = OpenFiles.fileId(dbPath)
  if (opened === undefined || now === undefined || now.dev !== opened.dev || now.ino !== opened.ino) {
    throw new Refused(
      new LitestreamError.DatabaseChangedAfterBackup({
        path: dbPath,
        detail: "the file was replaced or removed during the backup"
      })
    )
  }
  // 2. A process can hold the file open without any lock (opened, not read yet). On Linux,
  //    /proc names it; it would write into deleted files after the lock is gone.
  if (OpenFiles.otherHolders(targets, 2).length > 0) throw new Refused(inUse(dbPath, targets, 2, "has it open"))
  const existing = files.filter((f) => NodeFs.existsSync(f))
  // 3. Leave WAL mode under the lock: SQLite checkpoints and removes -wal and -shm itself, and
  //    closing this connection afterwards touches no file by name (a WAL connection deletes
  //    `<db>-wal` on close, which by then could belong to a new database).
  const mode = db.pragma("journal_mode = MEMORY", { simple: true })
  if (mode !== "memory") throw new Error(`cannot leave WAL mode (journal_mode is ${String(mode)})`)
  // 4. Move the database aside, then look once more: whoever opened it before the move is
  //    seen now; whoever opens the path after it gets a new file, not this one.
  const aside = NodePath.join(NodePath.dirname(dbPath), `.${NodePath.basename(dbPath)}-effect-litestream-deleting`)
  NodeFs.renameSync(dbPath, aside)
  // Only files that still exist as the same inode: SQLite removed the -wal when it left WAL
  // mode, and a free inode number is soon reused by some other file on the file system (another
  // process holding that one was taken for a holder of this database: seen under load).
  const current = ids([aside, `${dbPath}-wal`])
  const stillThere = targets.filter((t) => current.some((c) => c.dev === t.dev && c.ino === t.ino))
  if (OpenFiles.otherHolders(stillThere, 1).length > 0) {
    const refused = inUse(dbPath, stillThere, 1, "opened it while it was being deleted")
    try {
      NodeFs.linkSync(aside, dbPath)
      NodeFs.unlinkSync(aside)
    } catch {
      // the path was taken meanwhile: the database stays under its aside name, said below
      throw new Refused(
        new LitestreamError.DatabaseInUse({
          path: dbPath,
          pids: refused.pids,
          detail: `${refused.detail} (the database was kept as ${aside})`
        })
      )
    }
    throw new Refused(refused)
  }
  NodeFs.unlinkSync(aside)
  for (const file of files) {
    if (file !== dbPath) NodeFs.rmSync(file, { recursive: true, force: true })
  }
  return existing
}

/**
 * @since 0.1.0
 */
export const layer: Layer.Layer<SqliteProbe.SqliteProbe> = Layer.succeed(SqliteProbe.SqliteProbe, {
  writeSentinel: (path, token) =>
    use(path, false, (db) => {
      db.exec(
        `CREATE TABLE IF NOT EXISTS ${SqliteProbe.SENTINEL_TABLE} (id INTEGER PRIMARY KEY CHECK (id = 1), token TEXT NOT NULL, written_at TEXT NOT NULL)`
      )
      db.prepare(`INSERT OR REPLACE INTO ${SqliteProbe.SENTINEL_TABLE} (id, token, written_at) VALUES (1, ?, ?)`).run(
        token,
        new Date().toISOString()
      )
    }),
  check: (path, token) =>
    use(path, true, (db) => {
      const table = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?").get(
        SqliteProbe.SENTINEL_TABLE
      )
      const row = table === undefined
        ? undefined
        : db.prepare(`SELECT token FROM ${SqliteProbe.SENTINEL_TABLE} WHERE id = 1`).get() as { token: string } | undefined
      const integrity = String(db.pragma("integrity_check", { simple: true }))
      return { sentinel: row?.token === token, integrity }
    }),
  holdWrites: (dbPath, options = {}) =>
    Effect.gen(function*() {
      const timeout = options.busyTimeoutMillis ?? 5000
      const opened = OpenFiles.fileId(dbPath)
      const db = yield* Effect.acquireRelease(open(dbPath, false, timeout), (db) =>
        Effect.sync(() => {
          if (!db.open) return
          if (db.inTransaction) db.exec("ROLLBACK")
          db.close()
        }))
      yield* Effect.try({
        try: () => db.exec("BEGIN IMMEDIATE"),
        catch: (e) =>
          isBusy(e)
            ? inUse(dbPath, ids([dbPath, `${dbPath}-wal`]), 2, `was writing to it for longer than ${timeout} ms`)
            : new SqliteProbe.SqliteProbeError({ path: dbPath, detail: detail(e) })
      })
      let spent = false
      return {
        deleteExclusively: (files) =>
          Effect.suspend(() => {
            if (spent) {
              return Effect.fail(new SqliteProbe.SqliteProbeError({ path: dbPath, detail: "the write hold was already used" }))
            }
            spent = true
            return Effect.try({
              try: () => deleteUnderLock(db, dbPath, opened, files),
              catch: (e) => e instanceof Refused ? e.error : new SqliteProbe.SqliteProbeError({ path: dbPath, detail: detail(e) })
            }).pipe(Effect.ensuring(Effect.sync(() => db.open && db.close())))
          })
      }
    })
})
