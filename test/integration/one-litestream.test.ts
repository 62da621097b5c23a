/**
 * One litestream per database, with the real litestream binary: a continuous replication holds
 * the database's lock for as long as litestream runs; a second one (in this process or another)
 * is refused with `AlreadyReplicating` before any litestream starts; once the first has exited,
 * the next starts fine; a replication that fails to start leaves no lock behind.
 */
import { LitestreamError, type Replicate } from "@effect-litestream/core"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as fs from "node:fs"
import { spawn } from "node:child_process"
import * as os from "node:os"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"
import { litestreamChildren, tempDir } from "../support/Fixtures.js"
import { dbPath, guardAgainstLeaks, once, restore, services, siblings } from "../support/Harness.js"
import { expectGone, replicate } from "../support/Replication.js"
import * as Sqlite from "../support/Sqlite.js"

guardAgainstLeaks()

const lockOf = (db: string) => NodePath.join(NodePath.dirname(db), `.${NodePath.basename(db)}-effect-litestream.lock`)
const fileReplica = (dir: string) => `file://${NodePath.join(dir, "replica")}`

const HOLDER = fileURLToPath(new URL("../support/lock-holder.mjs", import.meta.url))

describe("one litestream per database", () => {
  it.scopedLive("a second replicate of the same database fails at once with AlreadyReplicating naming this process; after the first closed, a new one starts", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const db = dbPath(dir)
      Sqlite.createDatabase(db, 10)
      yield* Effect.gen(function*() {
        const first = yield* Effect.scoped(Effect.gen(function*() {
          const replication = yield* replicate()
          const lock = JSON.parse(fs.readFileSync(lockOf(db), "utf8"))
          expect(lock).toMatchObject({ pid: process.pid, host: os.hostname() })

          const started = Date.now()
          const error = yield* Effect.flip(Effect.scoped(replicate()))
          expect(Date.now() - started).toBeLessThan(1000)
          expect(error).toBeInstanceOf(LitestreamError.AlreadyReplicating)
          expect(error).toMatchObject({ _tag: "AlreadyReplicating", path: db, pid: process.pid, holder: "ThisProcess", since: lock.since })
          expect(error.message).toContain(`this process (pid ${process.pid}) already replicates it`)
          expect(error.message).toContain("Litestream must run once per database")
          // no second litestream was started, and the first still runs and holds its lock
          expect(yield* litestreamChildren).toEqual([replication.pid])
          expect(JSON.parse(fs.readFileSync(lockOf(db), "utf8")).token).toBe(lock.token)
          yield* replication.syncAfter(Sqlite.addRowsEffect(db, 5))
          return replication
        }))
        // the lock went only after litestream exited
        yield* expectGone(first.pid)
        expect(yield* first.await).toBe(0)
        expect(fs.existsSync(lockOf(db))).toBe(false)

        yield* Effect.scoped(Effect.gen(function*() {
          const again = yield* replicate()
          expect(JSON.parse(fs.readFileSync(lockOf(db), "utf8")).pid).toBe(process.pid)
          yield* again.syncAfter(Sqlite.addRowsEffect(db, 5))
        }))
        expect(fs.existsSync(lockOf(db))).toBe(false)
        yield* expectGone(first.pid)
      }).pipe(Effect.provide(services(dir, fileReplica(dir))))
    }))

  it.scopedLive("held by another process: replicate fails with AlreadyReplicating naming that pid, and no litestream starts", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const db = dbPath(dir)
      Sqlite.createDatabase(db, 10)
      const other = yield* Effect.acquireRelease(
        Effect.sync(() =>
          spawn(process.execPath, [HOLDER], {
            env: { PATH: process.env.PATH, HOME: process.env.HOME, LOCK_DB: db },
            stdio: ["ignore", "pipe", "inherit"]
          })
        ),
        (child) => Effect.promise(() => new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve()
          child.on("exit", () => resolve())
          child.kill("SIGKILL")
        }))
      )
      yield* Effect.promise(() => new Promise<void>((resolve) => other.stdout!.on("data", (d) => String(d).includes("\"acquired\":true") && resolve())))

      yield* Effect.gen(function*() {
        const error = yield* Effect.flip(Effect.scoped(replicate()))
        expect(error).toMatchObject({ _tag: "AlreadyReplicating", path: db, pid: other.pid, host: os.hostname(), holder: "ThisHost" })
        expect(error.message).toContain(`process ${other.pid} on ${os.hostname()}`)
        expect(error.message).toContain(`SIGTERM to pid ${other.pid}`)
        expect(yield* litestreamChildren).toEqual([])

        // the other process is SIGKILLed: its lock is stale, replication starts at once
        other.kill("SIGKILL")
        yield* Effect.promise(() => new Promise((resolve) => other.on("exit", resolve)))
        yield* Effect.scoped(Effect.gen(function*() {
          const replication = yield* replicate()
          expect(JSON.parse(fs.readFileSync(lockOf(db), "utf8")).pid).toBe(process.pid)
          yield* replication.syncAfter(Sqlite.addRowsEffect(db, 5))
        }))
      }).pipe(Effect.provide(services(dir, fileReplica(dir))))
    }), 60_000)

  it.scopedLive("several databases in one litestream: one of them held, none taken, no litestream started", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      Sqlite.createDatabase(NodePath.join(dir, "a.db"), 5)
      Sqlite.createDatabase(NodePath.join(dir, "b.db"), 5)
      yield* Effect.gen(function*() {
        yield* Effect.scoped(Effect.gen(function*() {
          const b = yield* replicate({ databases: ["b.db"] })
          const error = yield* Effect.flip(Effect.scoped(replicate({ databases: ["a.db", "b.db"] })))
          expect(error).toMatchObject({ _tag: "AlreadyReplicating", path: NodePath.join(dir, "b.db"), pid: process.pid })
          // a.db's lock, taken first, was released with the failure
          expect(fs.existsSync(lockOf(NodePath.join(dir, "a.db")))).toBe(false)
          expect(yield* litestreamChildren).toEqual([b.pid])
          // a.db alone is free
          yield* Effect.scoped(replicate({ databases: ["a.db"] }))
        }))
        expect(fs.readdirSync(dir).filter((f) => f.endsWith(".lock"))).toEqual([])
      }).pipe(Effect.provide(services(dir, fileReplica(dir))))
    }))

  it.scopedLive("a replication that fails to start leaves no lock behind: a retry in the same scope starts afresh", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const db = dbPath(dir)
      Sqlite.createDatabase(db, 5)
      const binary = NodePath.join(dir, "litestream-that-exits")
      // it answers the library's version probe as litestream v0.3.13 does, then fails to start
      fs.writeFileSync(binary, "#!/bin/sh\nif [ \"$1\" = version ]; then echo v0.3.13; exit 0; fi\necho 'cannot start' >&2\nexit 1\n", {
        mode: 0o755
      })
      yield* Effect.gen(function*() {
        for (let attempt = 0; attempt < 2; attempt++) {
          const error = yield* Effect.flip(replicate())
          expect(error._tag).toBe("ExitedEarly")
          expect(fs.existsSync(lockOf(db))).toBe(false)
        }
      }).pipe(Effect.provide(services(dir, fileReplica(dir), { binary })))
    }))

  it.scopedLive("a writer commits every 5 ms while replicate runs, and backups (once, with and without deleteLocal) and replicates are tried beside it: all refused, every committed row restored", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const db = dbPath(dir)
      const written = Sqlite.createDatabase(db, 10)
      yield* Effect.gen(function*() {
        yield* Effect.scoped(Effect.gen(function*() {
          yield* replicate()
          const app = yield* Effect.acquireRelease(Effect.sync(() => Sqlite.open(db)), (c) => Effect.sync(() => c.close()))
          let next = 11
          const writer = yield* Effect.sync(() => {
            const rows = Sqlite.rows(1, next++)
            Sqlite.insertRows(app, rows)
            written.push(...rows)
          }).pipe(Effect.zipRight(Effect.sleep("5 millis")), Effect.forever, Effect.forkScoped)
          // cron-style backups (`once`, with and without deleteLocal) and replicates beside it
          const tries: Array<Effect.Effect<unknown, { readonly _tag: string }, Replicate.Replicate>> = [
            Effect.scoped(replicate()),
            once({ timeout: "10 seconds" }),
            once({ timeout: "10 seconds", deleteLocal: true }),
            Effect.scoped(replicate()),
            once({ timeout: "10 seconds", deleteLocal: true }),
            once({ timeout: "10 seconds" })
          ]
          const seen: Array<number> = []
          for (const attempt of tries) {
            yield* Effect.sleep("200 millis")
            seen.push(written.length)
            const error = yield* Effect.flip(attempt)
            expect(error._tag).toBe("AlreadyReplicating")
            expect(fs.existsSync(db)).toBe(true)
          }
          yield* Fiber.interrupt(writer)
          // the writer committed all along, between every two attempts (a count, not a rate:
          // a loaded machine writes fewer rows)
          for (let i = 1; i < seen.length; i++) expect(seen[i], `rows written before attempt ${i + 1}`).toBeGreaterThan(seen[i - 1]!)
        }))
        for (const f of siblings(db)) fs.rmSync(f, { recursive: true, force: true })
        yield* restore({ timeout: "20 seconds" })
        expect(Sqlite.readRows(db)).toEqual(written)
        expect(Sqlite.integrityCheck(db)).toBe("ok")
      }).pipe(Effect.provide(services(dir, fileReplica(dir))))
    }))
})

