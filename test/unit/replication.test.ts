/**
 * Continuous replication (`Replicate.replicate`) on the mock CommandExecutor and the TestClock:
 * the events from litestream's real JSON lines, the error policy, `syncAfter`'s precision, and
 * what closing the scope does (catch up, SIGTERM, final sync, SIGKILL), with no process spawned.
 */
import { LitestreamConfig, LitestreamError, LitestreamEvent, Replicate, Replication } from "@effect-litestream/core"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as fs from "node:fs"
import * as os from "node:os"
import * as NodePath from "node:path"
import * as Mock from "../support/MockExecutor.js"

const REPLICA = "file:///var/backups/app"
const GEN = "e8b7f45cd06baa0d"
/** the wall-clock time the TestClock is set to: litestream's lines carry times around it */
const T0 = Date.parse("2026-11-25T17:57:07.000Z")

const at = (ms: number) => new Date(T0 + ms).toISOString().replace("Z", "123456Z")
const pos = (index: number, offset: number) => `${GEN}/${index.toString(16).padStart(8, "0")}:${offset}`
const position = (index: number, offset: number) => new LitestreamEvent.Position({ generation: GEN, index, offset })

/**
 * Real JSON lines of litestream v0.3.13 (`logging: {type: json, stderr: true, level: debug}`),
 * captured from `litestream replicate -config`, with the test's database path and times.
 */
const lines = (db: string) => {
  const d = JSON.stringify(db)
  const shadow = JSON.stringify(`${NodePath.dirname(db)}/.${NodePath.basename(db)}-litestream/generations/${GEN}/wal/00000000.wal`)
  return {
    version: (t = 0) => `{"time":"${at(t)}","level":"INFO","msg":"litestream","version":"v0.3.13"}`,
    initialized: (t = 0) => `{"time":"${at(t)}","level":"INFO","msg":"initialized db","path":${d}}`,
    replicatingTo: (t = 0) =>
      `{"time":"${at(t)}","level":"INFO","msg":"replicating to","name":"file","type":"file","sync-interval":100000000,"path":"/var/backups/app"}`,
    sync: (t: number) => `{"time":"${at(t)}","level":"DEBUG","msg":"sync","db":${d},"info":{}}`,
    copyShadow: (t: number) => `{"time":"${at(t)}","level":"DEBUG","msg":"copy-shadow","db":${d},"filename":${shadow}}`,
    copyOk: (t: number, offset: number) =>
      `{"time":"${at(t)}","level":"DEBUG","msg":"copy-shadow: ok","db":${d},"filename":${shadow},"offset":${offset},"salt":"1fc2608a 2afb15e7"}`,
    copyBreak: (t: number, offset: number) =>
      `{"time":"${at(t)}","level":"DEBUG","msg":"copy-shadow: break","db":${d},"filename":${shadow},"offset":${offset},"error":"EOF"}`,
    newGeneration: (t: number) =>
      `{"time":"${at(t)}","level":"INFO","msg":"sync: new generation","db":${d},"generation":"${GEN}","reason":"no generation exists"}`,
    syncOk: (t: number) => `{"time":"${at(t)}","level":"DEBUG","msg":"sync: ok","db":${d}}`,
    replicaSync: (t: number, p: string) =>
      `{"time":"${at(t)}","level":"DEBUG","msg":"replica sync","db":${d},"replica":"file","position":"${p}"}`,
    writeSnapshot: (t: number, p: string) =>
      `{"time":"${at(t)}","level":"INFO","msg":"write snapshot","db":${d},"replica":"file","position":"${p}"}`,
    snapshotWritten: (t: number, p: string) =>
      `{"time":"${at(t)}","level":"INFO","msg":"snapshot written","db":${d},"replica":"file","position":"${p}","elapsed":"57.080697ms","sz":750}`,
    calcNewPos: (t: number, p: string) =>
      `{"time":"${at(t)}","level":"DEBUG","msg":"replica sync: calc new pos","db":${d},"replica":"file","position":"${p}"}`,
    writeWal: (t: number, p: string) =>
      `{"time":"${at(t)}","level":"INFO","msg":"write wal segment","db":${d},"replica":"file","position":"${p}"}`,
    walWritten: (t: number, p: string, sz: number) =>
      `{"time":"${at(t)}","level":"INFO","msg":"wal segment written","db":${d},"replica":"file","position":"${p}","elapsed":"8.544224ms","sz":${sz}}`,
    monitorError: (t: number) =>
      `{"time":"${at(t)}","level":"ERROR","msg":"monitor error","db":${d},"replica":"s3","error":"cannot determine replica position: max snapshot: RequestError: send request failed\\ncaused by: Get \\"http://localhost:45399/backups?delimiter=%2F&prefix=x%2Fapp.db%2Fgenerations%2F${GEN}%2Fsnapshots%2F\\": dial tcp 127.0.0.1:45399: connect: connection refused"}`,
    canceled: (t: number) =>
      `{"time":"${at(t)}","level":"ERROR","msg":"monitor error","db":${d},"replica":"s3","error":"client write: RequestCanceled: request context canceled\\ncaused by: context canceled"}`,
    signal: (t: number) => `{"time":"${at(t)}","level":"INFO","msg":"signal received, litestream shutting down"}`,
    errorClosing: (t: number) =>
      `{"time":"${at(t)}","level":"ERROR","msg":"error closing db","db":${d},"error":"client write: RequestError: send request failed\\ncaused by: Put \\"http://localhost:43149/backups/apps/app.db/generations/${GEN}/wal/00000000_00005098.wal.lz4\\": dial tcp 127.0.0.1:43149: connect: connection refused"}`,
    shutDown: (t: number) => `{"time":"${at(t)}","level":"INFO","msg":"litestream shut down"}`,
    failedToRun: (t: number) =>
      `{"time":"${at(t)}","level":"ERROR","msg":"failed to run","error":"client write: RequestError: send request failed\\ncaused by: Put \\"http://localhost:43149/backups/apps/app.db/generations/${GEN}/wal/00000000_00005098.wal.lz4\\": dial tcp 127.0.0.1:43149: connect: connection refused"}`
  }
}
type Lines = ReturnType<typeof lines>

/** litestream's start: version, the database initialised, its replica. */
const startUp = (l: Lines): Array<Mock.Line> => [{ text: l.version() }, { text: l.initialized() }, { text: l.replicatingTo() }]

/** One database sync that copied frames, then the replica's sync up to `to` (from `from`). */
const syncCycle = (l: Lines, t: number, from: number, to: number): Array<Mock.Line> => [
  { at: `${t} millis`, text: l.sync(t) },
  { text: l.copyShadow(t) },
  { text: l.copyOk(t, from) },
  { text: l.copyBreak(t, to) },
  { text: l.syncOk(t) },
  { at: `${t + 5} millis`, text: l.replicaSync(t + 5, pos(0, to)) },
  { text: l.writeWal(t + 5, pos(0, from)) },
  { at: `${t + 10} millis`, text: l.walWritten(t + 10, pos(0, from), to - from) }
]

/** A database sync that found nothing new. */
const quietSync = (l: Lines, t: number): Array<Mock.Line> => [
  { at: `${t} millis`, text: l.sync(t) },
  { text: l.copyShadow(t) },
  { text: l.copyBreak(t, 20632) },
  { text: l.syncOk(t) }
]

/** The first sync of a new generation: snapshot, position read back, WAL from offset 0. */
const firstSync = (l: Lines, t: number): Array<Mock.Line> => [
  { at: `${t} millis`, text: l.sync(t) },
  { text: l.copyShadow(t) },
  { text: l.copyOk(t, 32) },
  { text: l.copyBreak(t, 16512) },
  { text: l.newGeneration(t) },
  { text: l.syncOk(t) },
  { text: l.replicaSync(t, pos(0, 16512)) },
  { text: l.writeSnapshot(t, pos(0, 16512)) },
  { at: `${t + 20} millis`, text: l.snapshotWritten(t + 20, pos(0, 16512)) },
  { text: l.calcNewPos(t + 20, pos(0, 0)) },
  { text: l.writeWal(t + 20, pos(0, 0)) },
  { at: `${t + 30} millis`, text: l.walWritten(t + 30, pos(0, 0), 16512) }
]

/** litestream on SIGTERM, when its final sync works. */
const finalSyncOk = (l: Lines): Mock.OnSignal => ({
  lines: [l.signal(0), l.sync(0), l.syncOk(0), l.replicaSync(0, pos(0, 20632)), l.shutDown(0)],
  exitCode: 0
})

interface Ctx {
  readonly dir: string
  readonly db: string
  readonly l: Lines
  readonly replicate: Replicate.Replicate["Type"]
  readonly mock: Mock.MockExecutorService
}

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(NodePath.join(os.tmpdir(), "elt-unit-replication-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/**
 * A `Replicate` on the mock executor, in a temporary folder holding `app.db` (and `b.db`), with
 * the TestClock at T0. `script` gets the real lines with the test's database paths.
 */
const withReplicate = <A, E>(
  script: (l: Lines, lb: Lines) => Mock.ScriptInput,
  body: (ctx: Ctx & { readonly lb: Lines; readonly b: string }) => Effect.Effect<A, E, Scope.Scope>
) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(T0)
    const dir = yield* tempDir
    const db = NodePath.join(dir, "app.db")
    const b = NodePath.join(dir, "b.db")
    fs.writeFileSync(db, "SQLite format 3\u0000")
    fs.writeFileSync(b, "SQLite format 3\u0000")
    const l = lines(db)
    const lb = lines(b)
    const layer = Replicate.layer.pipe(
      Layer.provideMerge(Layer.mergeAll(
        Mock.layer(script(l, lb)),
        LitestreamConfig.layer({ replicaUrl: REPLICA, folder: dir, db: "app.db" })
      )),
      Layer.provideMerge(NodeContext.layer),
      Layer.orDie
    )
    return yield* Effect.gen(function*() {
      const service = yield* Replicate.Replicate
      // On the TestClock nothing moves unless a test moves it: the catch-up wait of the close
      // is off unless a test sets it (the tests of closing do).
      const replicate: Replicate.Replicate["Type"] = {
        ...service,
        replicate: (options) => service.replicate({ catchUpTimeout: "0 millis", ...options })
      }
      const mock = yield* Mock.MockExecutor
      return yield* body({ dir, db, b, l, lb, replicate, mock })
    }).pipe(Effect.provide(layer))
  })

/** Records every log entry (Debug and above reach it only if the minimum level allows). */
const recordLogs = () => {
  const logged: Array<{ level: string; message: string }> = []
  const layer = Logger.add(Logger.make(({ logLevel, message }) => {
    logged.push({ level: logLevel.label, message: Array.isArray(message) ? message.map(String).join(" ") : String(message) })
  }))
  return { logged, layer }
}

/** Collects a replication's events into an array, in a fiber of `scope`. */
const collect = (replication: Replication.Replication["Type"], scope: Scope.Scope) =>
  Effect.gen(function*() {
    const events: Array<LitestreamEvent.LitestreamEvent> = []
    yield* replication.events.pipe(Stream.runForEach((e) => Effect.sync(() => events.push(e))), Effect.forkIn(scope))
    yield* Effect.yieldNow()
    return events
  })

describe("Replicate.replicate: start", () => {
  it.scoped("runs `litestream replicate -config FILE` at debug level, returns once every database is initialised", () =>
    withReplicate(
      (l) => ({ lines: [{ text: l.version() }, { at: "50 millis", text: l.initialized(50) }], onSigterm: finalSyncOk(l) }),
      ({ db, dir, mock, replicate }) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(Effect.scoped(replicate.replicate()))
          const run = yield* mock.started
          const config = fs.readFileSync(run.args[2]!, "utf8")
          expect(run.args.slice(0, 2)).toEqual(["replicate", "-config"])
          expect(config).toContain("  level: debug")
          expect(config).toContain(`  - path: ${JSON.stringify(db)}`)
          expect(config).toContain("    monitor-interval: 100ms")
          expect(config).toContain("        sync-interval: 100ms")
          yield* TestClock.adjust("49 millis")
          expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
          yield* TestClock.adjust("1 millis")
          const replication = yield* Fiber.join(fiber)
          expect(replication.databases).toEqual([db])
          expect(replication.pid).toBe(run.pid)
          expect(NodePath.dirname(db)).toBe(dir)
        })
    ))

  it.scoped("l0Retention (litestream v0.5's) with litestream v0.3: NotOnThisLine naming it, no litestream started", () =>
    withReplicate(
      (l) => ({ lines: [{ text: l.version() }, { text: l.initialized(0) }], onSigterm: finalSyncOk(l) }),
      ({ mock, replicate }) =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(Effect.scoped(replicate.replicate({ l0Retention: "2 minutes" })))
          expect(error).toMatchObject({ _tag: "NotOnThisLine", line: "v0.3" })
          expect(error.message).toContain("l0Retention")
          expect(mock.runs.filter((r) => r.args[0] === "replicate")).toEqual([])
        })
    ))

  it.scoped("litestream exits before the database is initialised: ExitedEarly", () =>
    withReplicate(
      (l) => ({ lines: [{ text: l.version() }, { text: l.failedToRun(0) }], exit: 1 }),
      ({ replicate }) =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(Effect.scoped(replicate.replicate()))
          expect(error).toBeInstanceOf(LitestreamError.ExitedEarly)
          expect(error).toMatchObject({ exitCode: 1 })
          expect((error as LitestreamError.ExitedEarly).stderr.join("\n")).toContain("failed to run")
        })
    ))

  it.scoped("no start within startTimeout: LitestreamTimeout, litestream stopped", () =>
    withReplicate(
      (l) => ({ lines: [{ text: l.version() }], onSigterm: { exitCode: 0 } }),
      ({ mock, replicate }) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(Effect.scoped(replicate.replicate({ startTimeout: "2 seconds" })))
          const run = yield* mock.started
          yield* TestClock.adjust("2 seconds")
          const error = yield* Effect.flip(Fiber.join(fiber))
          expect(error).toMatchObject({ _tag: "LitestreamTimeout", operation: "replicate" })
          expect(run.signals).toEqual(["SIGTERM"])
          expect(yield* Mock.exitOf(run)).toEqual(Option.some({ _tag: "Code", code: 0 }))
        })
    ))

  it.scoped("a database that does not exist: DatabaseNotFound, nothing started", () =>
    withReplicate(
      (l) => ({ lines: startUp(l) }),
      ({ dir, mock, replicate }) =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(Effect.scoped(replicate.replicate({ databases: ["app.db", "missing.db"] })))
          expect(error).toMatchObject({ _tag: "DatabaseNotFound", path: NodePath.join(dir, "missing.db") })
          expect(mock.runs).toEqual([])
        })
    ))
})

describe("Replicate.replicate: events", () => {
  it.scoped("each kind of event, typed, from real lines; start-up events replayed; debug records kept internal", () =>
    withReplicate(
      (l) => ({
        lines: [
          ...startUp(l),
          ...firstSync(l, 100),
          { at: "200 millis", text: l.monitorError(200) },
          { text: "panic: runtime error: something litestream never logs as a record" }
        ],
        onSigterm: finalSyncOk(l)
      }),
      ({ db, replicate }) =>
        Effect.gen(function*() {
          const outer = yield* Effect.scope
          const scope = yield* Scope.make()
          const replication = yield* replicate.replicate().pipe(Scope.extend(scope))
          // subscribed after the start: the start-up events come first all the same
          const events = yield* collect(replication, outer)
          yield* TestClock.adjust("300 millis")
          yield* Scope.close(scope, Exit.void)

          expect(events.map((e) => e._tag)).toEqual([
            "Started",
            "DatabaseInitialized",
            "ReplicatingTo",
            "NewGeneration",
            "Other", // write snapshot
            "SnapshotWritten",
            "Other", // write wal segment
            "WalSegmentWritten",
            "ReplicaErrorLogged",
            "Unparsed",
            "ShuttingDown",
            "Stopped"
          ])
          expect(events[0]).toEqual({ _tag: "Started", version: "v0.3.13" })
          expect(events[1]).toEqual({ _tag: "DatabaseInitialized", db })
          expect(events[2]).toEqual({ _tag: "ReplicatingTo", replica: "file", type: "file" })
          expect(events[3]).toEqual({ _tag: "NewGeneration", db, generation: GEN, reason: "no generation exists" })
          expect(events[4]).toMatchObject({ _tag: "Other", level: "INFO", message: "write snapshot" })
          expect(events[5]).toEqual({
            _tag: "SnapshotWritten",
            db,
            replica: "file",
            position: Option.some(position(0, 16512)),
            elapsedMillis: 57.080697,
            size: 750
          })
          expect(events[7]).toEqual({
            _tag: "WalSegmentWritten",
            db,
            replica: "file",
            position: Option.some(position(0, 0)),
            elapsedMillis: 8.544224,
            size: 16512
          })
          expect(events[8]).toMatchObject({ _tag: "ReplicaErrorLogged", db, replica: "s3", message: "monitor error" })
          expect((events[8] as { error: string }).error).toMatch(/^cannot determine replica position: .*\ncaused by: .*connection refused$/)
          expect(events[9]).toEqual({ _tag: "Unparsed", line: "panic: runtime error: something litestream never logs as a record" })
          // every event is a valid LitestreamEvent
          for (const e of events) expect(Schema.is(LitestreamEvent.LitestreamEvent)(e)).toBe(true)
        })
    ))

  it.scoped("logLevel debug: litestream's debug records are events too", () =>
    withReplicate(
      (l) => ({ lines: [...startUp(l), ...firstSync(l, 100)], onSigterm: finalSyncOk(l) }),
      ({ db, replicate }) =>
        Effect.gen(function*() {
          const replication = yield* replicate.replicate({ logLevel: "debug" })
          const events = yield* collect(replication, yield* Effect.scope)
          yield* TestClock.adjust("200 millis")
          expect(events).toContainEqual({ _tag: "Other", level: "DEBUG", message: "sync", attributes: { db, info: "{}" } })
          expect(events).toContainEqual({ _tag: "Other", level: "DEBUG", message: "replica sync", attributes: { db, replica: "file", position: pos(0, 16512) } })
          expect(events).toContainEqual({ _tag: "ReplicaPositionFound", db, replica: "file", position: Option.some(position(0, 0)) })
        })
    ))

  it.scoped("status: the position and time of the last sync, per database", () =>
    withReplicate(
      (l) => ({ lines: [...startUp(l), ...firstSync(l, 100), ...syncCycle(l, 400, 16512, 20632)], onSigterm: finalSyncOk(l) }),
      ({ db, replicate }) =>
        Effect.gen(function*() {
          const replication = yield* replicate.replicate()
          expect((yield* replication.status).databases).toEqual([
            { db, replica: REPLICA, position: Option.none(), lastSyncAt: Option.none(), consecutiveErrors: 0, pendingSince: Option.none(), lastError: Option.none() }
          ])
          yield* TestClock.adjust("500 millis")
          const status = yield* replication.status
          expect(status.databases).toEqual([
            {
              db,
              replica: REPLICA,
              position: Option.some(position(0, 20632)),
              lastSyncAt: Option.some(T0 + 410),
              consecutiveErrors: 0,
              // the replica reached the target of its sync: nothing waits
              pendingSince: Option.none(),
              lastError: Option.none()
            }
          ])
          expect(status.finalSync).toEqual(Option.none())
        })
    ))
})

describe("Replicate.replicate: the error policy", () => {
  const errorsAt = (l: Lines, times: ReadonlyArray<number>): Array<Mock.Line> =>
    times.map((t) => ({ at: `${t} millis`, text: l.monitorError(t) }))

  it.scoped("N consecutive replica errors fail `await` with ReplicationFailed, not N - 1", () =>
    withReplicate(
      (l) => ({ lines: [...startUp(l), ...errorsAt(l, [100, 200, 300])], onSigterm: finalSyncOk(l) }),
      ({ db, replicate }) =>
        Effect.gen(function*() {
          const logs = recordLogs()
          const replication = yield* replicate.replicate({ policy: { maxConsecutiveErrors: 3 } }).pipe(Effect.provide(logs.layer))
          const waiting = yield* Effect.fork(replication.await)
          yield* TestClock.adjust("250 millis")
          expect(Option.isNone(yield* Fiber.poll(waiting))).toBe(true)
          expect((yield* replication.status).consecutiveErrors).toBe(2)
          yield* TestClock.adjust("50 millis")
          const error = yield* Effect.flip(Fiber.join(waiting))
          expect(error).toBeInstanceOf(LitestreamError.ReplicationFailed)
          expect(error).toMatchObject({ _tag: "ReplicationFailed", reason: "ConsecutiveErrors", errors: 3, replica: REPLICA })
          expect((error as LitestreamError.ReplicationFailed).lastError).toMatch(/connection refused$/)
          const status = yield* replication.status
          expect(status.databases[0]).toMatchObject({ db, consecutiveErrors: 3 })
          expect(status.lastError).toEqual(Option.some(expect.stringMatching(/connection refused$/)))
          expect(logs.logged).toContainEqual({ level: "ERROR", message: error.message })
        })
    ))

  it.scoped("a successful sync in between resets the count", () =>
    withReplicate(
      (l) => ({
        lines: [
          ...startUp(l),
          ...errorsAt(l, [100, 200]),
          { at: "250 millis", text: l.walWritten(250, pos(0, 16512), 4120) },
          ...errorsAt(l, [300, 400, 500])
        ],
        onSigterm: finalSyncOk(l)
      }),
      ({ replicate }) =>
        Effect.gen(function*() {
          const replication = yield* replicate.replicate({ policy: { maxConsecutiveErrors: 3 } })
          const waiting = yield* Effect.fork(replication.await)
          yield* TestClock.adjust("260 millis")
          expect((yield* replication.status).consecutiveErrors).toBe(0)
          yield* TestClock.adjust("140 millis")
          expect(Option.isNone(yield* Fiber.poll(waiting))).toBe(true)
          expect((yield* replication.status).consecutiveErrors).toBe(2)
          yield* TestClock.adjust("100 millis")
          expect(yield* Effect.flip(Fiber.join(waiting))).toMatchObject({ reason: "ConsecutiveErrors", errors: 3 })
        })
    ))

  it.scoped("maxErrorDuration: fails when that long passed since the first error with no success, even if errors stop", () =>
    withReplicate(
      (l) => ({ lines: [...startUp(l), ...errorsAt(l, [100, 300])], onSigterm: finalSyncOk(l) }),
      ({ replicate }) =>
        Effect.gen(function*() {
          const replication = yield* replicate.replicate({ policy: { maxConsecutiveErrors: 100, maxErrorDuration: "1 second" } })
          const waiting = yield* Effect.fork(replication.await)
          yield* TestClock.adjust("1099 millis")
          expect(Option.isNone(yield* Fiber.poll(waiting))).toBe(true)
          yield* TestClock.adjust("1 millis")
          expect(yield* Effect.flip(Fiber.join(waiting))).toMatchObject({
            _tag: "ReplicationFailed",
            reason: "ErrorDuration",
            errors: 2
          })
        })
    ))

  it.scoped("maxErrorDuration: a success before the deadline cancels it; the next error starts a new one", () =>
    withReplicate(
      (l) => ({
        lines: [
          ...startUp(l),
          ...errorsAt(l, [100]),
          { at: "600 millis", text: l.walWritten(600, pos(0, 16512), 4120) },
          ...errorsAt(l, [1500])
        ],
        onSigterm: finalSyncOk(l)
      }),
      ({ replicate }) =>
        Effect.gen(function*() {
          const replication = yield* replicate.replicate({ policy: { maxErrorDuration: "1 second" } })
          const waiting = yield* Effect.fork(replication.await)
          yield* TestClock.adjust("2499 millis")
          expect(Option.isNone(yield* Fiber.poll(waiting))).toBe(true)
          yield* TestClock.adjust("1 millis")
          expect(yield* Effect.flip(Fiber.join(waiting))).toMatchObject({ reason: "ErrorDuration", errors: 1 })
        })
    ))

  it.scoped("errors are counted per database: another database's successes do not reset them", () =>
    withReplicate(
      (l, lb) => ({
        lines: [
          { text: l.version() },
          { text: l.initialized() },
          { text: lb.initialized() },
          { at: "100 millis", text: lb.monitorError(100) },
          { at: "150 millis", text: l.walWritten(150, pos(0, 0), 16512) },
          { at: "200 millis", text: lb.monitorError(200) }
        ],
        onSigterm: finalSyncOk(l)
      }),
      ({ b, db, replicate }) =>
        Effect.gen(function*() {
          const replication = yield* replicate.replicate({ databases: ["app.db", "b.db"], policy: { maxConsecutiveErrors: 2 } })
          yield* TestClock.adjust("200 millis")
          const error = yield* Effect.flip(replication.await)
          expect(error).toMatchObject({ reason: "ConsecutiveErrors", errors: 2, replica: `${REPLICA}/b.db` })
          const status = yield* replication.status
          expect(status.databases.map((d) => [d.db, d.consecutiveErrors])).toEqual([[db, 0], [b, 2]])
        })
    ))

  it.scoped("runBeside: the app is interrupted when the policy gives up, and the failure is returned", () =>
    withReplicate(
      (l) => ({ lines: [...startUp(l), ...errorsAt(l, [100, 200])], onSigterm: finalSyncOk(l) }),
      ({ replicate }) =>
        Effect.gen(function*() {
          const replication = yield* replicate.replicate({ policy: { maxConsecutiveErrors: 2 } })
          const interrupted = yield* Deferred.make<void>()
          const app = Effect.never.pipe(Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined)))
          const running = yield* Effect.fork(Replication.runBeside(app).pipe(Effect.provideService(Replication.Replication, replication)))
          yield* TestClock.adjust("200 millis")
          expect(yield* Effect.flip(Fiber.join(running))).toMatchObject({ _tag: "ReplicationFailed", errors: 2 })
          expect(yield* Deferred.isDone(interrupted)).toBe(true)
        })
    ))

  it.scoped("runBeside: the app's result when it ends first; the replication goes on", () =>
    withReplicate(
      (l) => ({ lines: startUp(l), onSigterm: finalSyncOk(l) }),
      ({ mock, replicate }) =>
        Effect.gen(function*() {
          const replication = yield* replicate.replicate()
          const result = yield* Replication.runBeside(Effect.succeed(42)).pipe(Effect.provideService(Replication.Replication, replication))
          expect(result).toBe(42)
          expect(mock.runs[0]!.signals).toEqual([])
          expect(Option.isNone(yield* Mock.exitOf(mock.runs[0]!))).toBe(true)
        })
    ))
})

describe("Replicate.replicate: closing the scope", () => {
  it.scoped("waits for the replica sync in flight (litestream's final sync would race it), then SIGTERM; await gives 0", () => {
    let signalledAt = -1
    return withReplicate(
      (l) => ({
        lines: [
          ...startUp(l),
          ...firstSync(l, 100),
          // a change copied at 200; the replica's sync starts at 205 and ends at 400
          { at: "200 millis", text: l.sync(200) },
          { text: l.copyOk(200, 16512) },
          { text: l.syncOk(200) },
          { at: "205 millis", text: l.replicaSync(205, pos(0, 20632)) },
          { at: "300 millis", text: l.sync(300) },
          { text: l.syncOk(300) },
          { at: "400 millis", text: l.walWritten(400, pos(0, 16512), 4120) },
          ...quietSync(l, 500)
        ],
        onSigterm: { ...finalSyncOk(l), effect: Effect.map(Clock.currentTimeMillis, (t) => void (signalledAt = t - T0)) }
      }),
      ({ mock, replicate }) =>
        Effect.gen(function*() {
          const scope = yield* Scope.make()
          const replication = yield* replicate.replicate({ catchUpTimeout: "3 seconds" }).pipe(Scope.extend(scope))
          yield* TestClock.adjust("250 millis")
          const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
          yield* TestClock.adjust("200 millis")
          // at 450: caught up at 400, but no quiet database sync seen since
          expect(mock.runs[0]!.signals).toEqual([])
          yield* TestClock.adjust("50 millis")
          yield* Fiber.join(closing)
          expect(signalledAt).toBe(500)
          expect(mock.runs[0]!.signals).toEqual(["SIGTERM"])
          expect(yield* replication.await).toBe(0)
          expect((yield* replication.status).finalSync).toEqual(Option.some("Ok"))
        })
    )
  })

  it.scoped("never caught up: SIGTERM after catchUpTimeout, with a warning", () =>
    withReplicate(
      (l) => ({
        lines: [...startUp(l), { at: "100 millis", text: l.replicaSync(100, pos(0, 16512)) }],
        onSigterm: finalSyncOk(l)
      }),
      ({ mock, replicate }) =>
        Effect.gen(function*() {
          const logs = recordLogs()
          const scope = yield* Scope.make()
          yield* replicate.replicate({ catchUpTimeout: "1 second" }).pipe(Scope.extend(scope), Effect.provide(logs.layer))
          const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
          yield* TestClock.adjust("999 millis")
          expect(mock.runs[0]!.signals).toEqual([])
          yield* TestClock.adjust("1 millis")
          yield* Fiber.join(closing)
          expect(mock.runs[0]!.signals).toEqual(["SIGTERM"])
          expect(logs.logged.filter((e) => e.level === "WARN").map((e) => e.message)).toEqual([
            "a replica sync was still in flight after 1s; stopping litestream anyway"
          ])
        })
    ))

  it.scoped("a final sync that fails (exit 1): await fails with FinalSyncFailed, logged at Error, status Failed", () =>
    withReplicate(
      (l) => ({
        lines: [...startUp(l), ...firstSync(l, 100), ...quietSync(l, 200)],
        onSigterm: { lines: [l.signal(0), l.canceled(0), l.errorClosing(0), l.shutDown(0), l.failedToRun(0)], exitCode: 1 }
      }),
      ({ mock, replicate }) =>
        Effect.gen(function*() {
          const logs = recordLogs()
          const scope = yield* Scope.make()
          const replication = yield* replicate.replicate({ policy: { maxConsecutiveErrors: 1 }, catchUpTimeout: "3 seconds" }).pipe(
            Scope.extend(scope),
            Effect.provide(logs.layer)
          )
          yield* TestClock.adjust("300 millis")
          yield* Scope.close(scope, Exit.void)
          expect(mock.runs[0]!.signals).toEqual(["SIGTERM"])
          const error = yield* Effect.flip(replication.await)
          expect(error).toBeInstanceOf(LitestreamError.FinalSyncFailed)
          expect(error).toMatchObject({ _tag: "FinalSyncFailed", replica: REPLICA, exitCode: 1, killed: false })
          expect((error as LitestreamError.FinalSyncFailed).stderr.join("\n")).toContain("failed to run")
          // litestream's own errors while it stops do not count for the policy
          expect((yield* replication.status).consecutiveErrors).toBe(0)
          expect((yield* replication.status).finalSync).toEqual(Option.some("Failed"))
          expect(logs.logged).toContainEqual({ level: "ERROR", message: error.message })
        })
    ))

  it.scoped("a final sync that hangs: SIGKILL after the grace period, FinalSyncFailed killed", () =>
    withReplicate(
      (l) => ({ lines: [...startUp(l), ...firstSync(l, 100), ...quietSync(l, 200)], onSigterm: "ignore" }),
      ({ mock, replicate }) =>
        Effect.gen(function*() {
          const scope = yield* Scope.make()
          const replication = yield* replicate.replicate({ grace: "2 seconds" }).pipe(Scope.extend(scope))
          yield* TestClock.adjust("300 millis")
          const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
          yield* TestClock.adjust("1999 millis")
          expect(mock.runs[0]!.signals).toEqual(["SIGTERM"])
          yield* TestClock.adjust("1 millis")
          yield* Fiber.join(closing)
          expect(mock.runs[0]!.signals).toEqual(["SIGTERM", "SIGKILL"])
          expect(yield* Mock.exitOf(mock.runs[0]!)).toEqual(Option.some({ _tag: "Signal", signal: "SIGKILL" }))
          expect(yield* Effect.flip(replication.await)).toMatchObject({ _tag: "FinalSyncFailed", killed: true, exitCode: -1 })
          expect((yield* replication.status).finalSync).toEqual(Option.some("Killed"))
        })
    ))

  it.scoped("after the policy gave up, no catch-up wait: SIGTERM at once; await keeps the policy's failure", () =>
    withReplicate(
      (l) => ({
        lines: [...startUp(l), { at: "100 millis", text: l.replicaSync(100, pos(0, 16512)) }, { at: "150 millis", text: l.monitorError(150) }],
        onSigterm: { lines: [l.signal(0), l.errorClosing(0), l.shutDown(0)], exitCode: 1 }
      }),
      ({ mock, replicate }) =>
        Effect.gen(function*() {
          const scope = yield* Scope.make()
          const replication = yield* replicate.replicate({ policy: { maxConsecutiveErrors: 1 } }).pipe(Scope.extend(scope))
          yield* TestClock.adjust("200 millis")
          yield* Scope.close(scope, Exit.void)
          expect(mock.runs[0]!.signals).toEqual(["SIGTERM"])
          expect(yield* Effect.flip(replication.await)).toMatchObject({ _tag: "ReplicationFailed" })
          expect((yield* replication.status).finalSync).toEqual(Option.some("Failed"))
        })
    ))

  it.scoped("litestream exits on its own: await fails with ExitedEarly and its last lines", () =>
    withReplicate(
      (l) => ({ lines: [...startUp(l), { at: "100 millis", text: l.failedToRun(100) }], exit: 1 }),
      ({ replicate }) =>
        Effect.gen(function*() {
          const replication = yield* replicate.replicate()
          yield* TestClock.adjust("100 millis")
          const error = yield* Effect.flip(replication.await)
          expect(error).toMatchObject({ _tag: "ExitedEarly", exitCode: 1 })
          expect((error as LitestreamError.ExitedEarly).stderr.at(-1)).toContain("failed to run")
        })
    ))

  it.scoped("exec: litestream's exit 0 when the command ends is success", () =>
    withReplicate(
      (l) => ({ lines: [...startUp(l), { at: "100 millis", text: l.shutDown(100) }], exit: 0, exitAt: "100 millis" }),
      ({ mock, replicate }) =>
        Effect.gen(function*() {
          const replication = yield* replicate.replicate({ exec: "node server.js" })
          expect(fs.readFileSync(mock.runs[0]!.args[2]!, "utf8")).toContain(`exec: "node server.js"`)
          yield* TestClock.adjust("100 millis")
          expect(yield* replication.await).toBe(0)
        })
    ))

  it.scoped("interrupting the fiber that holds the scope stops litestream", () =>
    withReplicate(
      (l) => ({ lines: [...startUp(l), ...firstSync(l, 100), ...quietSync(l, 200)], onSigterm: finalSyncOk(l) }),
      ({ mock, replicate }) =>
        Effect.gen(function*() {
          const running = yield* Deferred.make<void>()
          const fiber = yield* Effect.fork(Effect.scoped(
            replicate.replicate().pipe(Effect.zipRight(Deferred.succeed(running, undefined)), Effect.zipRight(Effect.never))
          ))
          yield* mock.started
          yield* Deferred.await(running)
          yield* TestClock.adjust("300 millis")
          yield* Fiber.interrupt(fiber)
          expect(mock.runs[0]!.signals).toEqual(["SIGTERM"])
          expect(yield* Mock.exitOf(mock.runs[0]!)).toEqual(Option.some({ _tag: "Code", code: 0 }))
        })
    ))
})

describe("Replication.syncAfter", () => {
  it.scoped("waits for a database sync that began after the effect, and the replica sync after it", () =>
    withReplicate(
      (l) => ({
        lines: [
          ...startUp(l),
          ...firstSync(l, 20),
          // read at 200, but this sync began at 100, before the effect ended (150): it carries
          // only earlier frames, and so does the replica sync that follows it
          { at: "200 millis", text: l.sync(100) },
          { text: l.copyOk(100, 16512) },
          { text: l.syncOk(100) },
          { text: l.replicaSync(105, pos(0, 20632)) },
          { text: l.walWritten(110, pos(0, 16512), 4120) },
          // this one began after the effect: it copies the effect's frames
          ...syncCycle(l, 300, 20632, 24752)
        ],
        onSigterm: finalSyncOk(l)
      }),
      ({ replicate }) =>
        Effect.gen(function*() {
          const replication = yield* replicate.replicate()
          yield* TestClock.adjust("150 millis")
          const fiber = yield* Effect.fork(replication.syncAfter(Effect.succeed("written")))
          yield* TestClock.adjust("150 millis")
          // at 300: the sync of 100 and its WAL segment are in, and it still waits
          expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
          yield* TestClock.adjust("9 millis")
          expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
          yield* TestClock.adjust("1 millis")
          expect(yield* Fiber.join(fiber)).toEqual(["written", position(0, 24752)])
        })
    ))

  // syncAfter, called at `calledAt`, still waits 1 ms before `doneAt` and is done there, with the
  // replica's position `offset`.
  const waits: ReadonlyArray<{
    readonly title: string
    readonly lines: (l: Lines) => Array<Mock.Line>
    readonly calledAt: number
    readonly doneAt: number
    readonly offset: number
  }> = [
    {
      title: "when the replica already holds the database's position, the next quiet database sync is enough",
      lines: (l) => [...startUp(l), ...firstSync(l, 20), ...quietSync(l, 200)],
      calledAt: 100,
      doneAt: 200,
      offset: 16512
    },
    {
      title: "a change whose replica sync has not started yet: waits for that replica sync's position",
      lines: (l) => [
        ...startUp(l),
        ...firstSync(l, 20),
        // a change copied at 100 (before the effect), whose replica sync starts only at 300
        { at: "100 millis", text: l.sync(100) },
        { text: l.copyOk(100, 16512) },
        { text: l.syncOk(100) },
        ...quietSync(l, 200),
        { at: "300 millis", text: l.replicaSync(300, pos(0, 20632)) },
        { at: "350 millis", text: l.walWritten(350, pos(0, 16512), 4120) }
      ],
      calledAt: 150,
      doneAt: 350,
      offset: 20632
    }
  ]
  for (const { calledAt, doneAt, lines, offset, title } of waits) {
    it.scoped(title, () =>
      withReplicate(
        (l) => ({ lines: lines(l), onSigterm: finalSyncOk(l) }),
        ({ replicate }) =>
          Effect.gen(function*() {
            const replication = yield* replicate.replicate()
            yield* TestClock.adjust(`${calledAt} millis`)
            const fiber = yield* Effect.fork(replication.syncAfter(Effect.void))
            yield* TestClock.adjust(`${doneAt - calledAt - 1} millis`)
            expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
            yield* TestClock.adjust("1 millis")
            expect((yield* Fiber.join(fiber))[1]).toEqual(position(0, offset))
          })
      ))
  }

  it.scoped("several databases: by path or file name, each waits for its own replica", () =>
    withReplicate(
      (l, lb) => ({
        lines: [
          { text: l.version() },
          { text: l.initialized() },
          { text: lb.initialized() },
          ...syncCycle(lb, 100, 16512, 20632),
          ...syncCycle(l, 200, 16512, 24752)
        ],
        onSigterm: finalSyncOk(l)
      }),
      ({ replicate }) =>
        Effect.gen(function*() {
          const replication = yield* replicate.replicate({ databases: ["app.db", "b.db"] })
          const a = yield* Effect.fork(replication.syncAfter(Effect.void, "app.db"))
          const b = yield* Effect.fork(replication.syncAfter(Effect.void, replication.databases[1]))
          yield* TestClock.adjust("110 millis")
          expect((yield* Fiber.join(b))[1]).toEqual(position(0, 20632))
          expect(Option.isNone(yield* Fiber.poll(a))).toBe(true)
          yield* TestClock.adjust("100 millis")
          expect((yield* Fiber.join(a))[1]).toEqual(position(0, 24752))
          const unknown = yield* Effect.exit(replication.syncAfter(Effect.void, "other.db"))
          expect(Exit.isFailure(unknown) && !Exit.isInterrupted(unknown)).toBe(true)
        })
    ))

  it.scoped("fails with the replication's failure when the policy gives up while it waits", () =>
    withReplicate(
      (l) => ({ lines: [...startUp(l), { at: "100 millis", text: l.monitorError(100) }], onSigterm: finalSyncOk(l) }),
      ({ replicate }) =>
        Effect.gen(function*() {
          const replication = yield* replicate.replicate({ policy: { maxConsecutiveErrors: 1 } })
          const fiber = yield* Effect.fork(replication.syncAfter(Effect.succeed(1)))
          yield* TestClock.adjust("100 millis")
          expect(yield* Effect.flip(Fiber.join(fiber))).toMatchObject({ _tag: "ReplicationFailed" })
        })
    ))
})

describe("Replicate.replicate: the events stream ends with the scope", () => {
  it.scoped("a subscriber sees litestream's last events, then the end", () =>
    withReplicate(
      (l) => ({ lines: [...startUp(l), ...firstSync(l, 100), ...quietSync(l, 200)], onSigterm: finalSyncOk(l) }),
      ({ replicate }) =>
        Effect.gen(function*() {
          const scope = yield* Scope.make()
          const replication = yield* replicate.replicate().pipe(Scope.extend(scope))
          const all = yield* Effect.fork(Stream.runCollect(replication.events))
          yield* TestClock.adjust("300 millis")
          yield* Scope.close(scope, Exit.void)
          const events = Chunk.toArray(yield* Fiber.join(all))
          expect(events.slice(-2)).toEqual([{ _tag: "ShuttingDown" }, { _tag: "Stopped" }])
        })
    ))
})

describe("Replicate.replicate: a slow consumer of the start-up events", () => {
  it.scoped("loses nothing that happens while it works through them", () =>
    withReplicate(
      (l) => ({ lines: [...startUp(l), ...firstSync(l, 100)], onSigterm: finalSyncOk(l) }),
      ({ replicate }) =>
        Effect.gen(function*() {
          const replication = yield* replicate.replicate()
          const seen: Array<string> = []
          // one second per event: the first sync happens while it is still on the start-up events
          yield* replication.events.pipe(
            Stream.runForEach((e) => Effect.zipRight(Effect.sync(() => seen.push(e._tag)), Effect.sleep("1 second"))),
            Effect.forkScoped
          )
          yield* TestClock.adjust("10 seconds")
          expect(seen).toEqual([
            "Started",
            "DatabaseInitialized",
            "ReplicatingTo",
            "NewGeneration",
            "Other",
            "SnapshotWritten",
            "Other",
            "WalSegmentWritten"
          ])
        })
    ))
})

describe("Replication health (mock litestream, TestClock)", () => {
  const stateOf = (r: { readonly databases: ReadonlyArray<{ readonly health: { readonly _tag: string; readonly reason: string } }> }) =>
    r.databases.map((d) => `${d.health._tag}/${d.health.reason}`).join(",")

  /** A change copied to the shadow WAL and a replica sync towards it that never writes. */
  const stuckSync = (l: Lines, t: number, from: number, to: number): Array<Mock.Line> => [
    { at: `${t} millis`, text: l.sync(t) },
    { text: l.copyShadow(t) },
    { text: l.copyOk(t, from) },
    { text: l.syncOk(t) },
    { at: `${t + 5} millis`, text: l.replicaSync(t + 5, pos(0, to)) }
  ]

  it.scoped("Healthy while syncs succeed; Stalled once a change waited stallAfter with no sync; Healthy when the replica catches up", () =>
    withReplicate(
      (l) => ({
        lines: [
          ...startUp(l),
          ...firstSync(l, 100),
          ...stuckSync(l, 400, 16512, 20632),
          // the store comes back 6 s later: the segment is written, the replica reaches the target
          { at: "6400 millis", text: l.writeWal(6400, pos(0, 16512)) },
          { at: "6410 millis", text: l.walWritten(6410, pos(0, 16512), 20632 - 16512) }
        ],
        onSigterm: finalSyncOk(l)
      }),
      ({ replicate }) =>
        Effect.gen(function*() {
          const scope = yield* Scope.make()
          const replication = yield* replicate.replicate({ health: { stallAfter: "5 seconds", lagWarning: "2 seconds" } }).pipe(
            Scope.extend(scope)
          )
          const seen: Array<string> = []
          const watching = yield* replication.healthChanges.pipe(
            Stream.runForEach((r) => Effect.sync(() => seen.push(stateOf(r)))),
            Effect.forkScoped
          )
          yield* Effect.yieldNow()
          yield* TestClock.adjust("300 millis")
          let report = yield* replication.health
          expect(report.state).toBe("Healthy")
          expect(report.databases[0]!.figures).toMatchObject({ lagSeconds: 0, consecutiveErrors: 0, everSynced: true })
          // the change at 400 ms waits: Syncing, then Lagging after lagWarning, Stalled after stallAfter
          yield* TestClock.adjust("1200 millis")
          report = yield* replication.health
          expect(stateOf(report)).toBe("Healthy/Syncing")
          expect(report.databases[0]!.figures.lagSeconds).toBeCloseTo(1.1, 1)
          yield* TestClock.adjust("1500 millis")
          expect(stateOf(yield* replication.health)).toBe("Lagging/BehindDatabase")
          yield* TestClock.adjust("2500 millis") // 5.5 s: the change waited 5.1 s, the last sync was 5.37 s ago
          report = yield* replication.health
          expect(stateOf(report)).toBe("Stalled/NoSuccessfulSync")
          expect(report.ok).toBe(false)
          expect(report.databases[0]!.figures.secondsSinceLastSync).toBeGreaterThanOrEqual(5)
          expect(report.databases[0]!.message).toMatch(/no replica sync succeeded for 5\.\d s/)
          yield* TestClock.adjust("1000 millis") // 6.5 s: written
          report = yield* replication.health
          expect(stateOf(report)).toBe("Healthy/InSync")
          expect(report.databases[0]!.figures.lagSeconds).toBe(0)
          expect(report.databases[0]!.figures.position).toBe(pos(0, 20632))
          // each state once, in order (the ticker noticed the time-based ones); Healthy's
          // reasons (Idle, Syncing, InSync) are no change
          expect(seen).toEqual([
            "Healthy/Idle",
            "Lagging/BehindDatabase",
            "Stalled/NoSuccessfulSync",
            "Healthy/InSync"
          ])
          // the stream ends with the replication's scope
          yield* Scope.close(scope, Exit.void)
          expect(Exit.isSuccess(yield* Fiber.await(watching))).toBe(true)
        })
    ))

  it.scoped("Failing after failingAfterErrors errors in a row, with the error; a sync makes it Healthy; litestream gone is Failing/LitestreamDown", () =>
    withReplicate(
      (l) => ({
        lines: [
          ...startUp(l),
          ...firstSync(l, 100),
          { at: "200 millis", text: l.monitorError(200) },
          { at: "300 millis", text: l.monitorError(300) },
          { at: "400 millis", text: l.monitorError(400) },
          ...syncCycle(l, 500, 16512, 20632)
        ],
        exit: 1,
        exitAt: "800 millis"
      }),
      ({ replicate }) =>
        Effect.gen(function*() {
          const replication = yield* replicate.replicate({ health: { failingAfterErrors: 3 } })
          yield* TestClock.adjust("350 millis")
          expect((yield* replication.health).state).toBe("Healthy")
          yield* TestClock.adjust("100 millis")
          const failing = yield* replication.health
          expect(stateOf(failing)).toBe("Failing/ReplicaErrors")
          expect(failing.databases[0]!.figures.consecutiveErrors).toBe(3)
          expect(failing.databases[0]!.figures.lastError).toMatch(/connection refused/)
          yield* TestClock.adjust("100 millis")
          const back = yield* replication.health
          expect(stateOf(back)).toBe("Healthy/InSync")
          expect(back.databases[0]!.figures.lastError).toBeNull()
          yield* TestClock.adjust("300 millis")
          const down = yield* replication.health
          expect(stateOf(down)).toBe("Failing/LitestreamDown")
          expect(down.litestream).toBe("down")
        })
    ))
})
