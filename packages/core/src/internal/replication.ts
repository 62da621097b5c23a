import * as FileSystem from "@effect/platform/FileSystem"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import * as LitestreamCommand from "../LitestreamCommand.js"
import * as LitestreamConfig from "../LitestreamConfig.js"
import {
  DatabaseNotFound,
  ExitedEarly,
  type FinalSyncFailed,
  LitestreamFailed,
  LitestreamTimeout,
  NotOnThisLine,
  type ReplicationFailed
} from "../LitestreamError.js"
import * as LitestreamEvent from "../LitestreamEvent.js"
import type { Replication, ReplicationOptions } from "../Replication.js"
import { DEFAULT_INTERVAL } from "../Replication.js"
import * as ReplicationLock from "../ReplicationLock.js"
import * as internalConfigFile from "./configFile.js"
import * as internalProcess from "./process.js"
import * as FanOut from "./replicationEvents.js"
import * as Shutdown from "./replicationShutdown.js"
import * as StatusPart from "./replicationStatus.js"
import * as SyncState from "./syncState.js"
import * as SyncStateV5 from "./syncStateV5.js"

/**
 * A running replication is put together here from its parts, one concern each:
 * `replicationEvents` (litestream's log fanned out to records, events and the logger),
 * `replicationStatus` (per-database status, the error policy, health and metrics),
 * `replicationShutdown` (litestream exiting, the close of the scope); `syncAfter` stays here.
 */

/** @internal */
export const DEFAULT_CATCH_UP_TIMEOUT = Duration.seconds(3)

/** @internal */
export const log = FanOut.log

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
export const make = (config: LitestreamConfig.Resolved, options: ReplicationOptions, line: "v0.3" | "v0.5" = "v0.3") =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
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

    // Litestream always runs at debug level: its debug records are what tells when a write has
    // reached the replica (see SyncState). They reach users only with logLevel "debug".
    if (line === "v0.3" && options.l0Retention !== undefined) {
      return yield* new NotOnThisLine({
        feature: 'the replication option "l0Retention"',
        line,
        version: "0.3",
        fix: "l0Retention is litestream v0.5's (LTX levels); leave it out with litestream v0.3"
      })
    }
    const grace = Duration.decode(options.grace ?? internalProcess.DEFAULT_GRACE)
    const file = yield* internalConfigFile.scoped(configs, {
      monitorInterval: options.monitorInterval ?? DEFAULT_INTERVAL,
      syncInterval: options.syncInterval ?? DEFAULT_INTERVAL,
      logLevel: "debug",
      exec: options.exec,
      line,
      // v0.5's final sync gives up by itself half a second before the grace period would kill it:
      // its own error, not a SIGKILL in the middle of a write
      shutdownSyncTimeout: Duration.max(Duration.subtract(grace, Duration.millis(500)), Duration.millis(100)),
      l0Retention: options.l0Retention
    })
    const started = yield* Deferred.make<void>()
    const ended = yield* Deferred.make<number, ReplicationFailed | ExitedEarly | FinalSyncFailed>()
    const statusPart = yield* StatusPart.make({
      databases: configs.map((c) => ({ db: c.dbPath, replica: c.replica.url })),
      policy: options.policy,
      health: options.health,
      ended
    })
    const initialized = new Set<string>()
    // litestream v0.5: what each database and its replica hold, for the judgement of its final sync
    const heldV5 = new Map<string, SyncStateV5.Held>(paths.map((p) => [p, SyncStateV5.initialHeld]))
    const notCaughtUp = () => {
      if (line !== "v0.5") return undefined
      for (const [p, h] of heldV5) {
        const why = SyncStateV5.behind(h)
        if (why !== undefined) return paths.length === 1 ? why : `${p}: ${why}`
      }
      return undefined
    }
    const fanOut = yield* FanOut.make({
      paths,
      userDebug: options.logLevel === "debug",
      handle: (observed, event) =>
        Effect.zipRight(
          Effect.zipRight(
            Effect.sync(() => {
              if (line !== "v0.5" || Option.isNone(observed)) return
              const record = observed.value.record
              for (const [p, h] of heldV5) if (SyncStateV5.isFor(record, p)) heldV5.set(p, SyncStateV5.hold(h, record))
            }),
            statusPart.handle(observed, event)
          ),
          Effect.suspend(() => {
            if (event._tag !== "DatabaseInitialized") return Effect.void
            initialized.add(event.db)
            return paths.every((p) => initialized.has(p)) ? Deferred.succeed(started, undefined) : Effect.void
          })
        )
    })

    const process = yield* internalProcess.start(
      LitestreamCommand.make(config, LitestreamCommand.replicateConfigArgs(file), line),
      config.binary,
      grace
    )
    const reader = yield* internalProcess.forEachLine(process, mask, fanOut.onLine).pipe(
      Effect.annotateLogs("litestream", "replicate"),
      Effect.ignore,
      Effect.forkScoped
    )
    const ending: Shutdown.Ending = {
      process,
      reader,
      fanOut,
      statusPart,
      started,
      ended,
      paths,
      replicas: configs.map((c) => c.replica.url).join(", "),
      exec: options.exec !== undefined,
      grace: options.grace ?? internalProcess.DEFAULT_GRACE,
      catchUpTimeout: Duration.decode(options.catchUpTimeout ?? DEFAULT_CATCH_UP_TIMEOUT),
      line,
      notCaughtUp
    }
    yield* Shutdown.watchExit(ending)
    yield* statusPart.tick
    // Added after the reader, the exit watcher and the health ticker, so it runs before they are interrupted.
    yield* Effect.addFinalizer(() => Shutdown.close(ending))
    const tail = fanOut.tail

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
    yield* fanOut.endStartup
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
          const subscription = yield* fanOut.subscribeRecords
          const a = yield* effect
          const after = yield* Clock.currentTimeMillis
          const position = yield* Effect.raceFirst(line === "v0.5" ? waitV5(subscription, path, after) : wait(subscription, path, after), ended$)
          return [a, position] as const
        }))
      }).pipe(Effect.withSpan("Replication.syncAfter", { attributes: { db } }))

    // The phases of `syncAfter` once its effect ended, from the records of one database.
    const wait = (subscription: Queue.Dequeue<FanOut.Observed>, path: string, after: number) =>
      Effect.gen(function*() {
        const syncs = fanOut.syncs
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

    // litestream v0.5 (see SyncStateV5): its records name the database by file name
    const waitV5 = (subscription: Queue.Dequeue<FanOut.Observed>, path: string, after: number) =>
      Effect.gen(function*() {
        let state = SyncStateV5.initial
        while (true) {
          const { record } = yield* Queue.take(subscription)
          if (!SyncStateV5.isFor(record, path)) continue
          state = SyncStateV5.step(state, record, after)
          const done = SyncStateV5.reached(state)
          if (done !== undefined) return LitestreamEvent.txidPosition(done) as LitestreamEvent.ReplicaPosition
        }
      })

    return {
      pid: process.pid,
      databases: paths,
      events: fanOut.events,
      status: Ref.get(statusPart.status),
      health: statusPart.health,
      healthChanges: statusPart.healthChanges,
      await: Deferred.await(ended),
      syncAfter
    } satisfies Replication["Type"]
  }).pipe(
    Effect.catchTag("SystemError", "BadArgument", (e) =>
      Effect.fail(new LitestreamFailed({ operation: "replicate", exitCode: -1, stderr: [e.message] }))),
    releasedOnFailure,
    Effect.withSpan("Replicate.replicate", { attributes: { replica: config.replica.url } })
  )
