/**
 * The `SqliteProbe` that verification needs, on better-sqlite3. It is loaded on first use, so
 * an application that never verifies does not need better-sqlite3 installed.
 *
 * @since 0.1.0
 */
import { Verify } from "@effect-litestream/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

type Database = import("better-sqlite3").Database

const open = (path: string, readonly: boolean) =>
  Effect.tryPromise({
    try: async () => {
      const { default: Sqlite } = await import("better-sqlite3")
      const db = new Sqlite(path, { fileMustExist: true, readonly, timeout: 5000 })
      return db
    },
    catch: (e) => new Verify.SqliteProbeError({ path, detail: e instanceof Error ? e.message : String(e) })
  })

const use = <A>(path: string, readonly: boolean, f: (db: Database) => A) =>
  Effect.acquireUseRelease(
    open(path, readonly),
    (db) =>
      Effect.try({
        try: () => f(db),
        catch: (e) => new Verify.SqliteProbeError({ path, detail: e instanceof Error ? e.message : String(e) })
      }),
    (db) => Effect.sync(() => db.close())
  )

/**
 * @since 0.1.0
 */
export const layer: Layer.Layer<Verify.SqliteProbe> = Layer.succeed(Verify.SqliteProbe, {
  writeSentinel: (path, token) =>
    use(path, false, (db) => {
      db.exec(
        `CREATE TABLE IF NOT EXISTS ${Verify.SENTINEL_TABLE} (id INTEGER PRIMARY KEY CHECK (id = 1), token TEXT NOT NULL, written_at TEXT NOT NULL)`
      )
      db.prepare(`INSERT OR REPLACE INTO ${Verify.SENTINEL_TABLE} (id, token, written_at) VALUES (1, ?, ?)`).run(
        token,
        new Date().toISOString()
      )
    }),
  check: (path, token) =>
    use(path, true, (db) => {
      const table = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?").get(
        Verify.SENTINEL_TABLE
      )
      const row = table === undefined
        ? undefined
        : db.prepare(`SELECT token FROM ${Verify.SENTINEL_TABLE} WHERE id = 1`).get() as { token: string } | undefined
      const integrity = String(db.pragma("integrity_check", { simple: true }))
      return { sentinel: row?.token === token, integrity }
    })
})
