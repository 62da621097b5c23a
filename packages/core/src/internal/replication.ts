import * as FileSystem from "@effect/platform/FileSystem"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import * as LitestreamCommand from "../LitestreamCommand.js"
import * as LitestreamConfig from "../LitestreamConfig.js"
import { DatabaseNotFound, ExitedEarly, LitestreamFailed, LitestreamTimeout, ReplicationFailed } from "../LitestreamError.js"
import * as LitestreamEvent from "../LitestreamEvent.js"
import type { Replication, ReplicationOptions, ReplicationStatus } from "../Replication.js"
import { DEFAULT_INTERVAL } from "../Replication.js"
import * as internalConfigFile from "./configFile.js"
import * as internalProcess from "./process.js"

const LEVELS = {
  DEBUG: LogLevel.Debug,
  INFO: LogLevel.Info,
  WARN: LogLevel.Warning,
  ERROR: LogLevel.Error
} as const

/**
 * Forwards one litestream log record to Effect's logger, with the event as annotations.
 * @internal
 */
export const log = (record: LitestreamEvent.LogRecord, event: LitestreamEvent.LitestreamEvent) =>
  Effect.logWithLevel(LEVELS[record.level], record.message).pipe(
    Effect.annotateLogs({ ...record.attributes, "litestream.event": event._tag })
  )

/**
 * Starts a continuous replication in the current scope.
 * @internal
 */
export const make = (config: LitestreamConfig.Resolved, options: ReplicationOptions) =>
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
    const replicaOf = new Map(configs.map((c) => [c.dbPath, c.replica.url]))
    const grace = options.grace ?? internalProcess.DEFAULT_GRACE
    const maxErrors = options.policy?.maxConsecutiveErrors ?? 10
    const maxErrorMillis = Duration.toMillis(options.policy?.maxErrorDuration ?? Duration.minutes(1))

    const file = yield* internalConfigFile.scoped(configs, {
      monitorInterval: options.monitorInterval ?? DEFAULT_INTERVAL,
      syncInterval: options.syncInterval ?? DEFAULT_INTERVAL,
      logLevel: options.logLevel ?? "info",
      exec: options.exec
    })
    const pubsub = yield* Effect.acquireRelease(PubSub.unbounded<LitestreamEvent.LitestreamEvent>(), PubSub.shutdown)
    const initialStatus: ReplicationStatus = {
      databases: configs.map((c) => ({
        db: c.dbPath,
        replica: c.replica.url,
        position: Option.none(),
        lastSyncAt: Option.none()
      })),
      consecutiveErrors: 0,
      lastError: Option.none()
    }
    const status = yield* Ref.make(initialStatus)
    const firstErrorAt = yield* Ref.make(Option.none<number>())
    const initialized = yield* Ref.make(new Set<string>())
    const started = yield* Deferred.make<void>()
    const ended = yield* Deferred.make<number, ReplicationFailed | ExitedEarly>()
    const stopping = yield* Ref.make(false)
    const tail: Array<string> = []

    const process = yield* internalProcess.start(
      LitestreamCommand.make(config, LitestreamCommand.replicateConfigArgs(file)),
      config.binary,
      grace
    )
    // Runs before the process finalizer (scopes close in reverse): a stop we asked for is no failure.
    yield* Effect.addFinalizer(() => Ref.set(stopping, true))

    const onEvent = (event: LitestreamEvent.LitestreamEvent) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        switch (event._tag) {
          case "DatabaseInitialized": {
            const seen = yield* Ref.updateAndGet(initialized, (s) => new Set([...s, event.db]))
            if (configs.every((c) => seen.has(c.dbPath))) yield* Deferred.succeed(started, undefined)
            return
          }
          case "SnapshotWritten":
          case "WalSegmentWritten":
          case "ReplicaPositionFound": {
            yield* Ref.set(firstErrorAt, Option.none())
            yield* Ref.update(status, (s) => ({
              ...s,
              consecutiveErrors: 0,
              databases: s.databases.map((d) =>
                d.db === event.db
                  ? {
                    ...d,
                    position: Option.orElse(event.position, () => d.position),
                    lastSyncAt: event._tag === "ReplicaPositionFound" ? d.lastSyncAt : Option.some(now)
                  }
                  : d
              )
            }))
            return
          }
          case "ReplicaErrorLogged": {
            if (yield* Ref.get(stopping)) return
            const detail = event.error || event.message
            const since = yield* Ref.updateAndGet(firstErrorAt, Option.orElse(() => Option.some(now)))
            const s = yield* Ref.updateAndGet(status, (s) => ({
              ...s,
              consecutiveErrors: s.consecutiveErrors + 1,
              lastError: Option.some(detail)
            }))
            const replica = (event.db && replicaOf.get(event.db)) || config.replica.url
            if (s.consecutiveErrors >= maxErrors) {
              yield* Deferred.fail(ended, new ReplicationFailed({ replica, reason: "ConsecutiveErrors", errors: s.consecutiveErrors, lastError: detail }))
            } else if (Option.isSome(since) && now - since.value >= maxErrorMillis) {
              yield* Deferred.fail(ended, new ReplicationFailed({ replica, reason: "ErrorDuration", errors: s.consecutiveErrors, lastError: detail }))
            }
            return
          }
        }
      })

    yield* internalProcess.lines(process, mask).pipe(
      Stream.runForEach((line) => {
        tail.push(line)
        if (tail.length > 20) tail.shift()
        const record = LitestreamEvent.parseRecord(line)
        const event = Option.match(record, {
          onNone: () => LitestreamEvent.Unparsed.make({ line }),
          onSome: LitestreamEvent.fromRecord
        })
        return PubSub.publish(pubsub, event).pipe(
          Effect.zipRight(onEvent(event)),
          Effect.zipRight(Option.match(record, { onNone: () => Effect.logDebug(line), onSome: (r) => log(r, event) }))
        )
      }),
      Effect.annotateLogs("litestream", "replicate"),
      Effect.ignore,
      Effect.forkScoped
    )
    yield* internalProcess.exitCode(process).pipe(
      Effect.flatMap((code) =>
        Effect.flatMap(Ref.get(stopping), (stopped) =>
          stopped || (options.exec !== undefined && code === 0)
            ? Deferred.succeed(ended, code)
            : Deferred.fail(ended, new ExitedEarly({ exitCode: code, stderr: tail.slice(-10) })))
      ),
      Effect.forkScoped
    )

    const startTimeout = Duration.decode(options.startTimeout ?? "30 seconds")
    yield* Effect.raceFirst(
      Deferred.await(started),
      Effect.flatMap(Deferred.await(ended), (code) => new ExitedEarly({ exitCode: code, stderr: tail.slice(-10) }))
    ).pipe(
      Effect.timeoutFail({ duration: startTimeout, onTimeout: () => new LitestreamTimeout({ operation: "replicate", timeout: startTimeout }) })
    )
    yield* Effect.logInfo("replication started").pipe(
      Effect.annotateLogs({ pid: process.pid, databases: configs.map((c) => c.dbPath).join(",") })
    )

    const first = configs[0]!.dbPath
    const syncAfter = <A, E, R>(effect: Effect.Effect<A, E, R>, db: string = first) =>
      Effect.scoped(Effect.gen(function*() {
        const subscription = yield* PubSub.subscribe(pubsub)
        const a = yield* effect
        while (true) {
          const event = yield* Queue.take(subscription)
          if (
            (event._tag === "SnapshotWritten" || event._tag === "WalSegmentWritten") && event.db === db &&
            Option.isSome(event.position)
          ) return [a, event.position.value] as const
        }
      }))

    return {
      pid: process.pid,
      databases: configs.map((c) => c.dbPath),
      events: Stream.fromPubSub(pubsub),
      status: Ref.get(status),
      await: Deferred.await(ended),
      syncAfter
    } satisfies Replication["Type"]
  }).pipe(
    Effect.catchTag("SystemError", "BadArgument", (e) =>
      Effect.fail(new LitestreamFailed({ operation: "replicate", exitCode: -1, stderr: [e.message] }))),
    Effect.withSpan("Replicate.replicate", { attributes: { replica: config.replica.url } })
  )

