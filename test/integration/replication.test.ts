/**
 * Continuous replication with the real litestream binary, against a file:// replica and against
 * fauxqs on loopback: rows written while it runs, typed events, no process left behind (also on
 * interruption), the error policy, the final sync, point-in-time restore, and two databases
 * replicated by one process.
 */
import { LitestreamError, LitestreamEvent, Replication } from "@effect-litestream/core"
import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as NodePath from "node:path"
import { exists, litestreamChildren, tempDir } from "../support/Fixtures.js"
import { dbPath, guardAgainstLeaks, restore, services, siblings, timed } from "../support/Harness.js"
import { expectGone, recordLogs, replicate, snapshots, stoppableS3, v3Position, verifier, wal } from "../support/Replication.js"
import { S3Server } from "../support/S3Server.js"
import * as Sqlite from "../support/Sqlite.js"

guardAgainstLeaks()

const ROUNDS = Number(process.env.ELT_CLOSE_ROUNDS ?? 4)
/** ELT_CLOSE_NO_CATCH_UP=1 turns the catch-up wait off, to see the race it prevents */
const CLOSE_OPTIONS: Replication.ReplicationOptions = process.env.ELT_CLOSE_NO_CATCH_UP ? { catchUpTimeout: "0 millis" } : {}

interface Backend {
  readonly name: string
  readonly replica: (dir: string) => Effect.Effect<string, never, Scope.Scope>
}

const backends: ReadonlyArray<Backend> = [
  { name: "file:// replica", replica: (dir) => Effect.succeed(`file://${NodePath.join(dir, "replica")}`) },
  { name: "S3 replica (fauxqs)", replica: () => Effect.map(Effect.orDie(S3Server("backups")), (s3) => s3.url("apps/app.db")) }
]

/** Deletes a database and everything beside it, as a lost machine would. */
const deleteLocal = (db: string) =>
  Effect.promise(() => Promise.all(siblings(db).map((f) => fs.promises.rm(f, { recursive: true, force: true }))))

/** The result of one read-only query. */
const query = <A>(path: string, sql: string): A => {
  const db = new Database(path, { readonly: true, fileMustExist: true })
  try {
    return db.prepare(sql).all() as A
  } finally {
    db.close()
  }
}

/** An application connection kept open for the test's scope. */
const appConnection = (db: string) =>
  Effect.acquireRelease(Effect.sync(() => Sqlite.open(db)), (c) => Effect.sync(() => c.close()))

describe.each(backends)("continuous replication, $name", (backend) => {
  it.scopedLive("rows written while it runs are all restored after the scope closes; typed events; no process left", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const url = yield* backend.replica(dir)
      const db = dbPath(dir)
      const written = Sqlite.createDatabase(db, 20)

      const outer = yield* Effect.scope
      yield* Effect.gen(function*() {
        let collector: Fiber.RuntimeFiber<Chunk.Chunk<LitestreamEvent.LitestreamEvent>> | undefined
        const { pid, replication, synced } = yield* Effect.scoped(Effect.gen(function*() {
          const replication = yield* replicate()
          // the stream replays the start-up events, then goes on from the moment it runs, and
          // ends when the replication's scope closes (run outside that scope, to see its end)
          collector = yield* Effect.forkIn(Stream.runCollect(replication.events), outer)
          expect(replication.databases).toEqual([db])
          expect(yield* litestreamChildren).toEqual([replication.pid])

          const app = yield* appConnection(db)
          const synced: Array<LitestreamEvent.Position> = []
          for (let batch = 0; batch < 4; batch++) {
            const [rows, position] = yield* replication.syncAfter(Effect.sync(() => {
              const rows = Sqlite.rows(25, 21 + batch * 25)
              Sqlite.insertRows(app, rows)
              return rows
            }))
            written.push(...rows)
            synced.push(v3Position(position))
          }
          // the last rows are committed just before the scope closes, without waiting: the close
          // lets litestream's final sync copy them
          const last = Sqlite.rows(10, 121)
          Sqlite.insertRows(app, last)
          written.push(...last)
          return { pid: replication.pid, replication, synced }
        }))

        // the scope closed: litestream is gone, its final sync worked, and `await` says so
        yield* expectGone(pid)
        expect(yield* replication.await).toBe(0)
        const status = yield* replication.status
        expect(status.finalSync).toEqual(Option.some("Ok"))
        expect(status.consecutiveErrors).toBe(0)

        // typed events, start-up events included, tagged with the database, up to litestream's end
        const events = Chunk.toArray(yield* Fiber.join(collector!))
        expect(events[0]).toEqual({ _tag: "Started", version: "v0.3.13" })
        expect(events).toContainEqual({ _tag: "DatabaseInitialized", db })
        expect(events.find((e) => e._tag === "NewGeneration")).toMatchObject({ db, reason: "no generation exists" })
        const snapshot = events.find((e) => e._tag === "SnapshotWritten")
        expect(snapshot).toMatchObject({ db })
        if (snapshot?._tag !== "SnapshotWritten") throw new Error("no SnapshotWritten")
        expect(Option.isSome(snapshot.position)).toBe(true)
        expect(snapshot.size).toBeGreaterThan(0)
        expect(snapshot.elapsedMillis).toBeGreaterThanOrEqual(0)
        const segments = events.filter((e) => e._tag === "WalSegmentWritten")
        expect(segments.length).toBeGreaterThanOrEqual(4)
        for (const segment of segments) {
          expect(segment.db).toBe(db)
          expect(Option.isSome(segment.position)).toBe(true)
          expect(segment.size).toBeGreaterThan(0)
          expect(segment.elapsedMillis).toBeGreaterThanOrEqual(0)
        }
        // every position syncAfter returned is the end of a WAL segment the events reported
        const ends = segments.map((s) => Option.map(s.position, (p) => `${p.generation}/${p.index}:${p.offset + s.size!}`))
        for (const p of synced) expect(ends).toContainEqual(Option.some(`${p.generation}/${p.index}:${p.offset}`))
        // litestream's debug records stay internal at the default log level
        expect(events.filter((e) => e._tag === "Other" && e.level === "DEBUG")).toEqual([])
        expect(events.filter((e) => e._tag === "Unparsed")).toEqual([])
        expect(events.filter((e) => e._tag === "ShuttingDown")).toHaveLength(1)
        expect(events.at(-1)).toEqual({ _tag: "Stopped" })

        // the machine is lost: only the replica is left
        yield* deleteLocal(db)
        for (const f of siblings(db)) expect(yield* exists(f)).toBe(false)
        const restored = yield* restore({ timeout: "20 seconds" })
        expect(restored).toMatchObject({ _tag: "Restored", path: db })
        expect(Sqlite.readRows(db)).toEqual(written)
        expect(Sqlite.integrityCheck(db)).toBe("ok")
      }).pipe(Effect.provide(services(dir, url)))
    }))

  it.scopedLive("interrupting the fiber that holds the replication stops litestream", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const url = yield* backend.replica(dir)
      Sqlite.createDatabase(dbPath(dir), 10)
      yield* Effect.gen(function*() {
        const running = yield* Deferred.make<number>()
        const fiber = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
          const replication = yield* replicate()
          yield* replication.syncAfter(Sqlite.addRowsEffect(dbPath(dir), 5))
          yield* Deferred.succeed(running, replication.pid)
          return yield* Effect.never
        })))
        const pid = yield* Deferred.await(running)
        const [exit, ms] = yield* timed(Fiber.interrupt(fiber))
        expect(Exit.isInterrupted(exit)).toBe(true)
        expect(ms).toBeLessThan(5_000)
        yield* expectGone(pid)
      }).pipe(Effect.provide(services(dir, url)))
    }))
})

describe("continuous replication, logLevel debug", () => {
  it.scopedLive("litestream's debug records reach the events stream when asked for", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      Sqlite.createDatabase(dbPath(dir), 10)
      yield* Effect.scoped(Effect.gen(function*() {
        const events: Array<LitestreamEvent.LitestreamEvent> = []
        const replication = yield* replicate({ logLevel: "debug" })
        yield* replication.events.pipe(Stream.runForEach((e) => Effect.sync(() => events.push(e))), Effect.forkScoped)
        yield* replication.syncAfter(Sqlite.addRowsEffect(dbPath(dir), 5))
        expect(events).toContainEqual(expect.objectContaining({ _tag: "Other", level: "DEBUG", message: "replica sync" }))
        expect(events).toContainEqual(expect.objectContaining({ _tag: "ReplicaPositionFound" }))
      })).pipe(Effect.provide(services(dir, `file://${NodePath.join(dir, "replica")}`)))
    }))
})

describe("the error policy and the final sync (S3 replica that stops answering)", () => {
  it.scopedLive("ReplicationFailed after N consecutive errors; runBeside interrupts the app; the failed final sync is logged", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const s3 = yield* stoppableS3()
      const db = dbPath(dir)
      Sqlite.createDatabase(db, 20)
      const logs = recordLogs()
      yield* Effect.gen(function*() {
        let appInterrupted = false
        const { error, pid, replication } = yield* Effect.scoped(Effect.gen(function*() {
          const replication = yield* replicate({
            policy: { maxConsecutiveErrors: 2 },
            catchUpTimeout: "300 millis",
            grace: "5 seconds"
          })
          yield* replication.syncAfter(Sqlite.addRowsEffect(db, 5))
          yield* s3.stop
          // the application goes on writing; each change makes litestream try the replica again
          yield* Sqlite.addRowsEffect(db, 1).pipe(Effect.zipRight(Effect.sleep("100 millis")), Effect.forever, Effect.forkScoped)
          const app = Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => (appInterrupted = true))))
          const [error, ms] = yield* timed(
            Effect.flip(Replication.runBeside(app).pipe(Effect.provideService(Replication.Replication, replication)))
          )
          expect(ms).toBeLessThan(15_000)
          return { error, pid: replication.pid, replication }
        }))
        expect(appInterrupted).toBe(true)
        expect(error).toBeInstanceOf(LitestreamError.ReplicationFailed)
        expect(error).toMatchObject({ _tag: "ReplicationFailed", reason: "ConsecutiveErrors", errors: 2, replica: s3.url("apps/app.db") })
        expect((error as LitestreamError.ReplicationFailed).lastError).toMatch(/connection refused/)
        // `await` gives the same failure, also after the scope closed
        expect(yield* Effect.flip(replication.await)).toEqual(error)

        yield* expectGone(pid)
        const status = yield* replication.status
        expect(status.consecutiveErrors).toBeGreaterThanOrEqual(2)
        expect(status.lastError).toEqual(Option.some(expect.stringMatching(/connection refused/)))
        // the final sync could not reach the replica either: never silently ignored
        expect(status.finalSync).toEqual(Option.some("Failed"))
        expect(logs.logged).toContainEqual(expect.objectContaining({ level: "ERROR", message: expect.stringContaining("failed: 2 consecutive errors") }))
        expect(logs.logged).toContainEqual(expect.objectContaining({ level: "ERROR", message: expect.stringContaining("final sync") }))
      }).pipe(Effect.provide(services(dir, s3.url("apps/app.db"))), Effect.provide(logs.layer))
    }))

  it.scopedLive("a final sync that fails: await fails with FinalSyncFailed after the scope closed, logged at Error", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const s3 = yield* stoppableS3()
      const db = dbPath(dir)
      Sqlite.createDatabase(db, 20)
      const logs = recordLogs()
      yield* Effect.gen(function*() {
        const replication = yield* Effect.scoped(Effect.gen(function*() {
          const replication = yield* replicate({ policy: { maxConsecutiveErrors: 1000 }, catchUpTimeout: "300 millis", grace: "5 seconds" })
          yield* replication.syncAfter(Sqlite.addRowsEffect(db, 5))
          yield* s3.stop
          // a change litestream cannot replicate any more; once it tried, the scope closes
          const failed = yield* replication.events.pipe(
            Stream.filter((e) => e._tag === "ReplicaErrorLogged"),
            Stream.runHead,
            Effect.fork
          )
          yield* Effect.yieldNow()
          yield* Sqlite.addRowsEffect(db, 5)
          yield* Fiber.join(failed)
          return replication
        }))
        yield* expectGone(replication.pid)
        const error = yield* Effect.flip(replication.await)
        expect(error).toBeInstanceOf(LitestreamError.FinalSyncFailed)
        expect(error).toMatchObject({ _tag: "FinalSyncFailed", replica: s3.url("apps/app.db"), killed: false, exitCode: 1 })
        expect(error.message).toMatch(/the last changes may not be on the replica/)
        expect((error as LitestreamError.FinalSyncFailed).stderr.join("\n")).toMatch(/connection refused/)
        expect((yield* replication.status).finalSync).toEqual(Option.some("Failed"))
        expect(logs.logged).toContainEqual(expect.objectContaining({ level: "WARN", message: expect.stringContaining("still in flight") }))
        expect(logs.logged).toContainEqual(expect.objectContaining({ level: "ERROR", message: error.message }))
        // nothing local was touched
        expect(Sqlite.readRows(db)).toHaveLength(30)
      }).pipe(Effect.provide(services(dir, s3.url("apps/app.db"))), Effect.provide(logs.layer))
    }))
})

describe.each(backends)("point-in-time restore, $name", (backend) => {
  it.scopedLive("timestamp: the state as of then; generation and index: the state up to that WAL index", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const url = yield* backend.replica(dir)
      const db = dbPath(dir)
      const initial = Sqlite.createDatabase(db, 10)
      yield* Effect.gen(function*() {
        const { generation, noted } = yield* Effect.scoped(Effect.gen(function*() {
          const replication = yield* replicate()
          const app = yield* appConnection(db)
          // from litestream's first sync on, it holds a read transaction: only it checkpoints
          yield* replication.syncAfter(Effect.sync(() => app.exec("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")))
          // A: enough pages (> litestream's 1000-page checkpoint threshold) to end WAL index 0
          const a = yield* Effect.map(replication.syncAfter(Effect.sync(() => {
            const insert = app.prepare("INSERT INTO blobs (id, body) VALUES (?, ?)")
            app.transaction(() => {
              for (let i = 1; i <= 1100; i++) insert.run(i, `${i}`.padEnd(3500, "x"))
            })()
          })), ([, p]) => v3Position(p))
          const noted = new Date()
          // litestream's times have second granularity (S3 LastModified)
          yield* Effect.sleep("1100 millis")
          const b = yield* Effect.map(replication.syncAfter(Effect.sync(() => Sqlite.insertRows(app, Sqlite.rows(5, 11)))), ([, p]) => v3Position(p))
          expect(b.generation).toBe(a.generation)
          // litestream checkpointed after A: B went to a later WAL index
          expect(b.index).toBeGreaterThan(0)
          return { generation: a.generation, noted }
        }))
        const blobs = (path: string) => query<Array<{ n: number }>>(path, "SELECT COUNT(*) AS n FROM blobs")[0]
        const segments = yield* wal()
        expect((yield* snapshots()).map((s) => [s.generation, s.index])).toEqual([[generation, 0]])
        const indexes = [...new Set(segments.filter((s) => s.generation === generation).map((s) => s.index))]
        expect(indexes[0]).toBe(0)
        expect(indexes.length).toBeGreaterThanOrEqual(2)

        const asOfThen = NodePath.join(dir, "as-of-then.db")
        expect(yield* restore({ output: asOfThen, timestamp: noted })).toMatchObject({ _tag: "Restored" })
        expect(Sqlite.readRows(asOfThen)).toEqual(initial)
        expect(blobs(asOfThen)).toEqual({ n: 1100 })

        const index0 = NodePath.join(dir, "index-0.db")
        yield* restore({ output: index0, generation, index: 0 })
        expect(Sqlite.readRows(index0)).toEqual(initial)
        expect(blobs(index0)).toEqual({ n: 1100 })

        const latest = NodePath.join(dir, "latest.db")
        yield* restore({ output: latest, generation, index: indexes.at(-1)! })
        expect(Sqlite.readRows(latest)).toEqual([...initial, ...Sqlite.rows(5, 11)])
        expect(Sqlite.integrityCheck(latest)).toBe("ok")

        // a generation the replica does not hold
        const missing = yield* Effect.flip(restore({ output: NodePath.join(dir, "none.db"), generation: "0123456789abcdef" }))
        expect(missing._tag).toBe("NoBackupsFound")
        // none of this touched the live database
        expect(Sqlite.readRows(db)).toEqual([...initial, ...Sqlite.rows(5, 11)])
      }).pipe(Effect.provide(services(dir, url)))
    }))
})

describe("two databases, one litestream process", () => {
  it.scopedLive("events tagged by database; each restores on its own", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const url = `file://${NodePath.join(dir, "replica")}`
      const a = NodePath.join(dir, "a.db")
      const b = NodePath.join(dir, "b.db")
      const rowsA = Sqlite.createDatabase(a, 15)
      const rowsB = Sqlite.createDatabase(b, 3)
      yield* Effect.gen(function*() {
        const events: Array<LitestreamEvent.LitestreamEvent> = []
        yield* Effect.scoped(Effect.gen(function*() {
          const replication = yield* replicate({ databases: ["a.db", "b.db"] })
          yield* replication.events.pipe(Stream.runForEach((e) => Effect.sync(() => events.push(e))), Effect.forkScoped)
          expect(replication.databases).toEqual([a, b])
          // one process for both
          expect(yield* litestreamChildren).toEqual([replication.pid])
          const [moreA] = yield* replication.syncAfter(Sqlite.addRowsEffect(a, 7), "a.db")
          const [moreB] = yield* replication.syncAfter(Sqlite.addRowsEffect(b, 4), b)
          rowsA.push(...moreA)
          rowsB.push(...moreB)
          const verification = yield* Effect.flatMap(verifier, (v) => v.verifyReplication(replication, { database: "b.db", timeout: "20 seconds" }))
          expect(verification._tag).toBe("Verified")
          const status = yield* replication.status
          expect(status.databases.map((d) => [d.db, d.replica])).toEqual([[a, `${url}/a.db`], [b, `${url}/b.db`]])
        }))
        expect(yield* litestreamChildren).toEqual([])

        expect(events.filter((e) => e._tag === "DatabaseInitialized").map((e) => e.db).sort()).toEqual([a, b])
        const written = (db: string) => events.filter((e) => e._tag === "WalSegmentWritten" && e.db === db)
        expect(written(a).length).toBeGreaterThan(0)
        expect(written(b).length).toBeGreaterThan(0)
        // each database has its own generation (the snapshots may come before the stream runs:
        // the WAL segments of the writes above do not)
        const generationOf = (db: string) =>
          written(db).flatMap((e) => (e._tag === "WalSegmentWritten" ? Option.toArray(e.position) : []))[0]?.generation
        expect(generationOf(a)).toBeDefined()
        expect(generationOf(b)).toBeDefined()
        expect(generationOf(a)).not.toEqual(generationOf(b))

        yield* deleteLocal(a)
        yield* deleteLocal(b)
        expect(yield* restore({ database: "a.db" })).toMatchObject({ _tag: "Restored", path: a })
        expect(Sqlite.readRows(a)).toEqual(rowsA)
        expect(yield* exists(b)).toBe(false)
        expect(yield* restore({ database: "b.db" })).toMatchObject({ _tag: "Restored", path: b })
        expect(Sqlite.readRows(b)).toEqual(rowsB)
        expect(rowsB).toHaveLength(7)
        // b.db holds the sentinel of its verification; a.db does not
        const tables = (db: string) =>
          query<Array<{ name: string }>>(db, "SELECT name FROM sqlite_master WHERE type = 'table'").map((t) => t.name)
        expect(tables(b)).toContain("_effect_litestream_verify")
        expect(tables(a)).not.toContain("_effect_litestream_verify")
      }).pipe(Effect.provide(services(dir, url)))
    }))
})

describe("closing while litestream is mid-sync", () => {
  // litestream v0.3.13 runs its final sync (on SIGTERM) beside a replica sync already running,
  // and both write the same WAL segment: "client write: stat ....wal.lz4.tmp: no such file or
  // directory", exit 1. Closing waits for the replica sync in flight before SIGTERM.
  it.scopedLive("the scope closes just as litestream wakes its replica up: the final sync works, every row is restored", () =>
    Effect.gen(function*() {
      const outcomes: Array<string> = []
      for (let round = 0; round < ROUNDS; round++) {
        const dir = yield* tempDir()
        const db = dbPath(dir)
        const written = Sqlite.createDatabase(db, 20)
        yield* Effect.gen(function*() {
          const replication = yield* Effect.scoped(Effect.gen(function*() {
            const replication = yield* replicate({ grace: "3 seconds", logLevel: "debug", ...CLOSE_OPTIONS })
            yield* replication.syncAfter(Effect.sync(() => written.push(...Sqlite.addRows(db, 5))))
            // the database sync that copies the new rows has just ended: litestream has woken its
            // replica up, whose sync starts within the sync interval
            const copied = yield* replication.events.pipe(
              Stream.filter((e) => e._tag === "Other" && (e.message === "copy-shadow: ok" || e.message === "sync: ok")),
              Stream.dropWhile((e) => e._tag === "Other" && e.message !== "copy-shadow: ok"),
              Stream.filter((e) => e._tag === "Other" && e.message === "sync: ok"),
              Stream.runHead,
              Effect.fork
            )
            yield* Effect.yieldNow()
            written.push(...Sqlite.addRows(db, 50))
            yield* Fiber.join(copied)
            return replication
          }))
          outcomes.push(Option.getOrElse((yield* replication.status).finalSync, () => "none"))
          yield* expectGone(replication.pid)
          yield* deleteLocal(db)
          yield* restore({ timeout: "20 seconds" })
          expect(Sqlite.readRows(db)).toEqual(written)
        }).pipe(Effect.provide(services(dir, `file://${NodePath.join(dir, "replica")}`)))
      }
      expect(outcomes).toEqual(Array.from({ length: ROUNDS }, () => "Ok"))
    }))
})
