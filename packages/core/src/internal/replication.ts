import * as FileSystem from "@effect/platform/FileSystem"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as LitestreamCommand from "../LitestreamCommand.js"
import * as LitestreamConfig from "../LitestreamConfig.js"
import {
  DatabaseNotFound,
  ExitedEarly,
  FinalSyncFailed,
  LitestreamFailed,
  LitestreamTimeout,
  ReplicationFailed
} from "../LitestreamError.js"
import * as LitestreamEvent from "../LitestreamEvent.js"
import type { DatabaseStatus, Replication, ReplicationOptions, ReplicationStatus } from "../Replication.js"
import { DEFAULT_INTERVAL } from "../Replication.js"
import * as ReplicationLock from "../ReplicationLock.js"
import * as internalConfigFile from "./configFile.js"
import * as internalProcess from "./process.js"
import * as SyncState from "./syncState.js"

const LEVELS = {
  DEBUG: LogLevel.Debug,
  INFO: LogLevel.Info,
  WARN: LogLevel.Warning,
  ERROR: LogLevel.Error
} as const

/** @internal */
export const DEFAULT_CATCH_UP_TIMEOUT = Duration.seconds(3)

/**
 * Forwards one litestream log record to Effect's logger, with the event as annotations.
 * @internal
 */
export const log = (record: LitestreamEvent.LogRecord, event: LitestreamEvent.LitestreamEvent) =>
  Effect.logWithLevel(LEVELS[record.level], record.message).pipe(
    Effect.annotateLogs({ ...record.attributes, "litestream.event": event._tag })
  )

/**
 * One record of litestream's log, with the sync state of its database after it.
 * @internal
 */
interface Observed {
  readonly record: LitestreamEvent.LogRecord
  readonly db: string | undefined
  readonly sync: SyncState.DbSync | undefined
}

interface ErrorCount {
  readonly count: number
  readonly since: Option.Option<number>
  /** bumped at each success: a pending duration timer of an older epoch does nothing */
  readonly epoch: number
}

/**
 * Runs `self` in a scope of its own, kept open with the current scope when it succeeds, closed
 * at once when it fails: a replication that failed to start leaves nothing behind (no process,
 * no lock held) in the caller's scope, so a retry in that scope starts afresh.
 */
const releasedOnFailure = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const parent = yield* Effect.scope
    const child = yield* Scope.fork(parent, ExecutionStrategy.sequential)
    return yield* self.pipe(
      Scope.extend(child),
      Effect.onExit((exit) => (Exit.isSuccess(exit) ? Effect.void : Scope.close(child, exit)))
    )
  })

/**
 * Starts a continuous replication in the current scope.
 * @internal
 */
export const make = (config: LitestreamConfig.Resolved, options: ReplicationOptions) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const scope = yield* Effect.scope
    const mask = LitestreamCommand.masker(config)
    const configs = options.databases === undefined
      ? [config]
      : yield* Effect.forEach(options.databases, (name) => LitestreamConfig.forDatabase(config, name))
    for (const c of configs) {
      if (!(yield* fs.exists(c.dbPath).pipe(Effect.orElseSucceed(() => false)))) {
        return yield* new DatabaseNotFound({ path: c.dbPath })
      }
    }
    const paths = configs.map((c) => c.dbPath)
    // One litestream per database: taken before litestream starts, released (the scope's
    // finalizers run in reverse) only after it has exited.
    yield* ReplicationLock.withLock(paths)
    const replicaOf = new Map(configs.map((c) => [c.dbPath, c.replica.url]))
    const replicas = configs.map((c) => c.replica.url).join(", ")
    const grace = options.grace ?? internalProcess.DEFAULT_GRACE
    const catchUpTimeout = Duration.decode(options.catchUpTimeout ?? DEFAULT_CATCH_UP_TIMEOUT)
    const maxErrors = options.policy?.maxConsecutiveErrors ?? 10
    const maxErrorDuration = Duration.decode(options.policy?.maxErrorDuration ?? Duration.minutes(1))
    const userDebug = options.logLevel === "debug"

    // Litestream always runs at debug level: its debug records are what tells when a write has
    // reached the replica (see SyncState). They reach users only with logLevel "debug".
    const file = yield* internalConfigFile.scoped(configs, {
      monitorInterval: options.monitorInterval ?? DEFAULT_INTERVAL,
      syncInterval: options.syncInterval ?? DEFAULT_INTERVAL,
      logLevel: "debug",
      exec: options.exec
    })
    const events = yield* Effect.acquireRelease(PubSub.unbounded<LitestreamEvent.LitestreamEvent>(), PubSub.shutdown)
    const records = yield* Effect.acquireRelease(PubSub.unbounded<Observed>(), PubSub.shutdown)
    const initialStatus: ReplicationStatus = {
      databases: configs.map((c): DatabaseStatus => ({
        db: c.dbPath,
        replica: c.replica.url,
        position: Option.none(),
        lastSyncAt: Option.none(),
        consecutiveErrors: 0
      })),
      consecutiveErrors: 0,
      lastError: Option.none(),
      finalSync: Option.none()
    }
    const status = yield* Ref.make(initialStatus)
    const errors = new Map<string, ErrorCount>(paths.map((p) => [p, { count: 0, since: Option.none(), epoch: 0 }]))
    const syncs = new Map<string, SyncState.DbSync>(paths.map((p) => [p, SyncState.initial]))
    const initialized = new Set<string>()
    const started = yield* Deferred.make<void>()
    const ended = yield* Deferred.make<number, ReplicationFailed | ExitedEarly | FinalSyncFailed>()
    let stopping = false
    let startingUp = true
    const startup: Array<LitestreamEvent.LitestreamEvent> = []
    const tail: Array<string> = []

    const process = yield* internalProcess.start(
      LitestreamCommand.make(config, LitestreamCommand.replicateConfigArgs(file)),
      config.binary,
      grace
    )

    const updateDb = (db: string, f: (d: DatabaseStatus) => DatabaseStatus) =>
      Ref.update(status, (s) => {
        const databases = s.databases.map((d) => (d.db === db ? f(d) : d))
        return { ...s, databases, consecutiveErrors: Math.max(0, ...databases.map((d) => d.consecutiveErrors)) }
      })

    const giveUp = (error: ReplicationFailed) =>
      Effect.zipRight(
        Effect.logError(error.message).pipe(Effect.annotateLogs({ replica: error.replica, reason: error.reason })),
        Deferred.fail(ended, error)
      ).pipe(Effect.whenEffect(Effect.negate(Deferred.isDone(ended))), Effect.asVoid)

    // The duration policy is a timer: litestream v0.3.13 retries a failed sync only when the
    // database changes again, so on an idle database the errors stop while nothing is replicated.
    const errorTimer = (db: string, epoch: number, detail: string) =>
      Effect.sleep(maxErrorDuration).pipe(
        Effect.zipRight(Effect.suspend(() => {
          const e = errors.get(db)
          if (stopping || e === undefined || e.epoch !== epoch || Option.isNone(e.since)) return Effect.void
          return giveUp(
            new ReplicationFailed({ replica: replicaOf.get(db) ?? config.replica.url, reason: "ErrorDuration", errors: e.count, lastError: detail })
          )
        })),
        Effect.forkIn(scope),
        Effect.asVoid
      )

    const onEvent = (event: LitestreamEvent.LitestreamEvent) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        switch (event._tag) {
          case "DatabaseInitialized": {
            initialized.add(event.db)
            if (paths.every((p) => initialized.has(p))) yield* Deferred.succeed(started, undefined)
            return
          }
          case "SnapshotWritten":
          case "WalSegmentWritten":
          case "ReplicaPositionFound": {
            const db = event.db
            if (db === undefined || !errors.has(db)) return
            const e = errors.get(db)!
            errors.set(db, { count: 0, since: Option.none(), epoch: e.epoch + 1 })
            // where the replica stands: the end of a WAL segment, not its start
            const position = event._tag === "WalSegmentWritten" ? SyncState.segmentEnd(event.position, event.size) : event.position
            yield* updateDb(db, (d) => ({
              ...d,
              consecutiveErrors: 0,
              position: Option.orElse(position, () => d.position),
              lastSyncAt: event._tag === "ReplicaPositionFound" ? d.lastSyncAt : Option.some(now)
            }))
            return
          }
          case "ReplicaErrorLogged": {
            if (stopping) return
            const detail = event.error || event.message
            yield* Ref.update(status, (s) => ({ ...s, lastError: Option.some(detail) }))
            // an error that names no database of ours counts for all of them
            const dbs = event.db !== undefined && errors.has(event.db) ? [event.db] : paths
            for (const db of dbs) {
              const e = errors.get(db)!
              const count = e.count + 1
              errors.set(db, { count, since: Option.orElse(e.since, () => Option.some(now)), epoch: e.epoch })
              yield* updateDb(db, (d) => ({ ...d, consecutiveErrors: count }))
              if (Option.isNone(e.since)) yield* errorTimer(db, e.epoch, detail)
              if (count >= maxErrors) {
                yield* giveUp(
                  new ReplicationFailed({ replica: replicaOf.get(db) ?? config.replica.url, reason: "ConsecutiveErrors", errors: count, lastError: detail })
                )
              }
            }
            return
          }
        }
      })

    const onLine = (line: string) =>
      Effect.suspend(() => {
        const record = LitestreamEvent.parseRecord(line)
        const event = Option.match(record, {
          onNone: () => LitestreamEvent.Unparsed.make({ line }),
          onSome: LitestreamEvent.fromRecord
        })
        const observed = Option.map(record, (r): Observed => {
          const db = r.attributes.db
          const before = db === undefined ? undefined : syncs.get(db)
          if (db === undefined || before === undefined) return { record: r, db, sync: undefined }
          const after = SyncState.reduce(before, r)
          syncs.set(db, after)
          return { record: r, db, sync: after }
        })
        const visible = Option.match(record, { onNone: () => true, onSome: (r) => r.level !== "DEBUG" || userDebug })
        if (visible) {
          tail.push(line)
          if (tail.length > 20) tail.shift()
        }
        if (visible && startingUp) startup.push(event)
        return Effect.all([
          Option.match(observed, { onNone: () => Effect.void, onSome: (o) => PubSub.publish(records, o) }),
          visible ? PubSub.publish(events, event) : Effect.void,
          onEvent(event),
          !visible
            ? Effect.void
            : Option.match(record, { onNone: () => Effect.logDebug(line), onSome: (r) => log(r, event) })
        ], { discard: true })
      })

    const reader = yield* internalProcess.forEachLine(process, mask, onLine).pipe(
      Effect.annotateLogs("litestream", "replicate"),
      Effect.ignore,
      Effect.forkIn(scope)
    )
    yield* internalProcess.exitCode(process).pipe(
      Effect.flatMap((code) =>
        // a stop we asked for is settled by `close`, with the final sync's outcome
        stopping
          ? Effect.void
          : options.exec !== undefined && code === 0
          ? Deferred.succeed(ended, code)
          : Effect.zipRight(
            // its last lines first: they say why
            Fiber.await(reader).pipe(Effect.timeout("1 second"), Effect.ignore),
            Effect.suspend(() => Deferred.fail(ended, new ExitedEarly({ exitCode: code, stderr: tail.slice(-10) })))
          )
      ),
      Effect.forkIn(scope)
    )

    // Waits until the sync state of every database satisfies `ok`, woken by each record.
    const waitUntil = (ok: (s: SyncState.DbSync) => boolean) =>
      Effect.scoped(Effect.gen(function*() {
        const subscription = yield* PubSub.subscribe(records)
        while (!paths.every((p) => ok(syncs.get(p)!))) yield* Queue.take(subscription)
      }))

    // Closing: stop litestream when no replica sync is in flight (its final sync would race it),
    // then SIGTERM, the grace period, SIGKILL; the outcome of the final sync is logged, kept in
    // the status, and given to `await`.
    const close = Effect.gen(function*() {
      stopping = true
      if (!(yield* process.isRunning.pipe(Effect.orElseSucceed(() => false)))) {
        // it exited on its own: settle `await` here if the exit watcher has not done it yet
        const code = yield* internalProcess.exitCode(process)
        yield* Fiber.await(reader).pipe(Effect.interruptible, Effect.timeout("1 second"), Effect.ignore)
        yield* options.exec !== undefined && code === 0
          ? Deferred.succeed(ended, code)
          : Deferred.fail(ended, new ExitedEarly({ exitCode: code, stderr: tail.slice(-10) }))
        return
      }
      // no catch-up wait when it never started, or already failed
      if ((yield* Deferred.isDone(started)) && !(yield* Deferred.isDone(ended))) {
        const settled = yield* waitUntil((s) => s.idle).pipe(Effect.interruptible, Effect.timeout(catchUpTimeout), Effect.option)
        if (Option.isNone(settled)) {
          yield* Effect.logWarning(
            `a replica sync was still in flight after ${Duration.format(catchUpTimeout)}; stopping litestream anyway`
          ).pipe(Effect.annotateLogs({ databases: paths.join(",") }))
        }
      }
      const termination = yield* internalProcess.terminate(process, grace)
      const code = termination === "Killed" ? -1 : yield* internalProcess.exitCode(process)
      yield* Fiber.await(reader).pipe(Effect.interruptible, Effect.timeout("1 second"), Effect.ignore)
      if (termination === "Killed" || code !== 0) {
        const error = new FinalSyncFailed({
          replica: replicas,
          exitCode: code,
          killed: termination === "Killed",
          stderr: tail.slice(-10)
        })
        yield* Effect.logError(error.message).pipe(
          Effect.annotateLogs({ pid: process.pid, exitCode: code, killed: termination === "Killed" })
        )
        const outcome = termination === "Killed" ? "Killed" as const : "Failed" as const
        yield* Ref.update(status, (s): ReplicationStatus => ({ ...s, finalSync: Option.some(outcome) }))
        yield* Deferred.fail(ended, error)
      } else {
        yield* Ref.update(status, (s): ReplicationStatus => ({ ...s, finalSync: Option.some("Ok" as const) }))
        yield* Deferred.succeed(ended, 0)
        yield* Effect.logInfo("replication stopped").pipe(Effect.annotateLogs({ pid: process.pid }))
      }
    }).pipe(Effect.annotateLogs("litestream", "replicate"), Effect.withSpan("Replication.close"))
    // Added after the reader and the exit watcher, so it runs before they are interrupted.
    yield* Effect.addFinalizer(() => close)

    const startTimeout = Duration.decode(options.startTimeout ?? "30 seconds")
    yield* Effect.raceFirst(
      Deferred.await(started),
      Deferred.await(ended).pipe(
        // no final sync before the start: whatever ended it, litestream exited early
        Effect.catchTag("FinalSyncFailed", (e) => Effect.succeed(e.exitCode)),
        Effect.flatMap((code) => new ExitedEarly({ exitCode: code, stderr: tail.slice(-10) }))
      )
    ).pipe(
      Effect.timeoutFail({ duration: startTimeout, onTimeout: () => new LitestreamTimeout({ operation: "replicate", timeout: startTimeout }) })
    )
    startingUp = false
    yield* Effect.logInfo("replication started").pipe(
      Effect.annotateLogs({ pid: process.pid, databases: paths.join(",") })
    )

    const resolve = (db: string) =>
      Option.fromNullable(configs.find((c) => c.dbPath === db || c.db === db)?.dbPath)

    const ended$ = Effect.flatMap(Deferred.await(ended), (code) => new ExitedEarly({ exitCode: code, stderr: [] }))

    type Phase =
      | { readonly _tag: "WaitSync" }
      | { readonly _tag: "WaitSyncOk" }
      | { readonly _tag: "WaitReplicaSync" }
      | { readonly _tag: "WaitReach"; readonly need: LitestreamEvent.Position }

    const syncAfter = <A, E, R>(effect: Effect.Effect<A, E, R>, db: string = paths[0]!) =>
      Effect.gen(function*() {
        const path = yield* Option.match(resolve(db), {
          onNone: () => Effect.dieMessage(`syncAfter: ${db} is not replicated here (${paths.join(", ")})`),
          onSome: Effect.succeed
        })
        return yield* Effect.scoped(Effect.gen(function*() {
          const subscription = yield* PubSub.subscribe(records)
          const a = yield* effect
          const after = yield* Clock.currentTimeMillis
          const position = yield* Effect.raceFirst(wait(subscription, path, after), ended$)
          return [a, position] as const
        }))
      }).pipe(Effect.withSpan("Replication.syncAfter", { attributes: { db } }))

    // The phases of `syncAfter` once its effect ended, from the records of one database.
    const wait = (subscription: Queue.Dequeue<Observed>, path: string, after: number) =>
      Effect.gen(function*() {
        let phase: Phase = { _tag: "WaitSync" }
        while (true) {
          if (phase._tag === "WaitReach") {
            const need: LitestreamEvent.Position = phase.need
            const done: Option.Option<LitestreamEvent.Position> = Option.filter(syncs.get(path)!.reached, (r) => SyncState.reaches(r, need))
            if (Option.isSome(done)) return done.value
          }
          const { record, sync } = yield* Queue.take(subscription)
          if (!SyncState.isFor(record, path) || sync === undefined) continue
          switch (phase._tag) {
            case "WaitSync": {
              // a database sync that began after the effect ended copies what it committed
              // (strictly later: litestream's time is truncated to the millisecond here)
              const t = SyncState.timeOf(record)
              if (SyncState.isDbSync(record, "sync") && (t === undefined || t > after)) phase = { _tag: "WaitSyncOk" }
              break
            }
            case "WaitSyncOk":
              // then the replica needs the position of the replica sync that follows the last
              // change, or, when that one already started, the position it copies up to
              if (SyncState.isDbSync(record, "sync: ok")) {
                phase = sync.awaiting || Option.isNone(sync.target)
                  ? { _tag: "WaitReplicaSync" }
                  : { _tag: "WaitReach", need: sync.target.value }
              }
              break
            case "WaitReplicaSync":
              if (record.message === "replica sync" && Option.isSome(sync.target)) {
                phase = { _tag: "WaitReach", need: sync.target.value }
              }
              break
            case "WaitReach":
              // a new generation: its snapshot holds everything; wait for its replica sync
              if (record.message === "sync: new generation") phase = { _tag: "WaitReplicaSync" }
              break
          }
        }
      })

    return {
      pid: process.pid,
      databases: paths,
      // subscribed first, then the start-up events: a slow consumer of those loses nothing after
      events: Stream.unwrapScoped(Effect.map(
        PubSub.subscribe(events),
        (subscription) => Stream.concat(Stream.fromIterable(startup.slice()), Stream.fromQueue(subscription))
      )),
      status: Ref.get(status),
      await: Deferred.await(ended),
      syncAfter
    } satisfies Replication["Type"]
  }).pipe(
    Effect.catchTag("SystemError", "BadArgument", (e) =>
      Effect.fail(new LitestreamFailed({ operation: "replicate", exitCode: -1, stderr: [e.message] }))),
    releasedOnFailure,
    Effect.withSpan("Replicate.replicate", { attributes: { replica: config.replica.url } })
  )
