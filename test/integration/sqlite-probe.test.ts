/**
 * The Node `SqliteProbe`'s locks on real databases and real processes: what `deleteLocal`
 * relies on. Another process holding the database (an idle connection, a write transaction, a
 * bare file descriptor without any lock) is named and nothing is deleted; a file swapped under
 * the hold is caught; with no one else, every local file goes.
 */
import { SqliteProbe } from "@effect-litestream/core"
import { NodeSqliteProbe } from "@effect-litestream/node"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"
import { tagOf } from "../support/Faults.js"
import { tempDir } from "../support/Fixtures.js"
import * as Sqlite from "../support/Sqlite.js"

const ROOT = fileURLToPath(new URL("../..", import.meta.url))

/** A process running `code` (with better-sqlite3 at hand) that says "ready" once it holds what it holds. */
const holder = (code: string) =>
  Effect.acquireRelease(
    Effect.async<ChildProcess.ChildProcess>((resume) => {
      const child = ChildProcess.spawn(process.execPath, ["--input-type=module", "-e", code], {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "inherit"]
      })
      child.stdout!.on("data", (b: Buffer) => b.toString().includes("ready") && resume(Effect.succeed(child)))
    }),
    (child) => Effect.sync(() => child.kill("SIGKILL"))
  )

const files = (db: string) => [db, `${db}-wal`, `${db}-shm`, `${db}-journal`, NodePath.join(NodePath.dirname(db), `.${NodePath.basename(db)}-litestream`)]

const deleteAll = (db: string, options?: { readonly busyTimeoutMillis?: number }) =>
  Effect.flatMap(SqliteProbe.SqliteProbe, (probe) =>
    Effect.scoped(Effect.flatMap(probe.holdWrites(db, options), (hold) => hold.deleteExclusively(files(db))))).pipe(
      Effect.provide(NodeSqliteProbe.layer)
    )

const setup = Effect.gen(function*() {
  const dir = yield* tempDir()
  const db = NodePath.join(dir, "app.db")
  const rows = Sqlite.createDatabase(db, 20)
  fs.mkdirSync(NodePath.join(dir, ".app.db-litestream", "generations"), { recursive: true })
  return { dir, db, rows }
})

describe("NodeSqliteProbe: holdWrites, then deleteExclusively", () => {
  it.scopedLive("no other connection: the database, its -wal, -shm and litestream's folder are deleted", () =>
    Effect.gen(function*() {
      const { db } = yield* setup
      const app = Sqlite.open(db) // leaves a -wal and -shm behind while open
      Sqlite.insertRows(app, Sqlite.rows(3, 21))
      const existing = files(db).filter((f) => fs.existsSync(f))
      app.close()
      expect(existing.length).toBeGreaterThanOrEqual(2)
      const deleted = yield* deleteAll(db)
      expect(deleted).toEqual(files(db).filter((f) => existing.includes(f) || f.endsWith("-litestream")))
      for (const f of files(db)) expect(fs.existsSync(f), f).toBe(false)
      expect(fs.readdirSync(NodePath.dirname(db))).toEqual([])
    }))

  const others = [
    {
      name: "an idle connection (WAL mode)",
      code: (db: string) =>
        `import D from "better-sqlite3"; const d = new D(${JSON.stringify(db)}); d.pragma("journal_mode = WAL"); d.prepare("SELECT count(*) FROM items").get(); console.log("ready"); setInterval(() => {}, 1000)`
    },
    {
      name: "a bare file descriptor, no SQLite lock at all",
      code: (db: string) => `import fs from "node:fs"; fs.openSync(${JSON.stringify(db)}, "r+"); console.log("ready"); setInterval(() => {}, 1000)`
    }
  ]
  for (const other of others) {
    it.scopedLive(`${other.name} in another process: DatabaseInUse naming its pid, nothing deleted, every row kept`, () =>
      Effect.gen(function*() {
        const { db, rows } = yield* setup
        const child = yield* holder(other.code(db))
        const before = files(db).filter((f) => fs.existsSync(f))
        const exit = yield* Effect.exit(deleteAll(db))
        expect(tagOf(exit)).toBe("DatabaseInUse")
        const error = yield* Effect.flip(exit)
        expect((error as { pids: ReadonlyArray<number> }).pids).toContain(child.pid)
        expect(error.message).toContain(`process ${child.pid}`)
        expect(error.message).toContain("Nothing was deleted")
        for (const f of before.filter((f) => !f.endsWith("-wal") && !f.endsWith("-shm"))) expect(fs.existsSync(f), f).toBe(true)
        child.kill("SIGKILL")
        expect(Sqlite.readRows(db)).toEqual(rows)
        expect(Sqlite.integrityCheck(db)).toBe("ok")
      }))
  }

  it.scopedLive("a write transaction in another process: holdWrites gives DatabaseInUse after its busy timeout, nothing deleted", () =>
    Effect.gen(function*() {
      const { db, rows } = yield* setup
      yield* holder(
        `import D from "better-sqlite3"; const d = new D(${JSON.stringify(db)}); d.exec("BEGIN IMMEDIATE"); console.log("ready"); setInterval(() => {}, 1000)`
      )
      const error = yield* Effect.flip(deleteAll(db, { busyTimeoutMillis: 300 }))
      expect(error._tag).toBe("DatabaseInUse")
      expect(error.message).toContain("was writing to it for longer than 300 ms")
      expect(fs.existsSync(db)).toBe(true)
      expect(Sqlite.readRows(db)).toEqual(rows)
    }))

  it.scopedLive("the database file replaced while writes are held: DatabaseChangedAfterBackup, both files kept", () =>
    Effect.gen(function*() {
      const { db, dir } = yield* setup
      const other = NodePath.join(dir, "other.db")
      const replacement = Sqlite.createDatabase(other, 7)
      const error = yield* Effect.flatMap(SqliteProbe.SqliteProbe, (probe) =>
        Effect.scoped(Effect.gen(function*() {
          const hold = yield* probe.holdWrites(db)
          fs.renameSync(other, db) // another database now sits at the path
          return yield* Effect.flip(hold.deleteExclusively(files(db)))
        }))).pipe(Effect.provide(NodeSqliteProbe.layer))
      expect(error._tag).toBe("DatabaseChangedAfterBackup")
      expect(error.message).toContain("replaced or removed")
      expect(Sqlite.readRows(db)).toEqual(replacement)
    }))
})
