/**
 * The `Replicate` service: backs a database up to its replica with `litestream replicate`.
 *
 * @since 0.1.0
 */
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as internalClassify from "./internal/classify.js"
import * as internalConfigFile from "./internal/configFile.js"
import * as internalOnceV5 from "./internal/onceV5.js"
import * as internalReplication from "./internal/replication.js"
import * as internalProcess from "./internal/process.js"
import * as SyncState from "./internal/syncState.js"
import * as internalVersion from "./internal/version.js"
import * as LitestreamCommand from "./LitestreamCommand.js"
import { LitestreamConfig } from "./LitestreamConfig.js"
import * as ReplicationLock from "./ReplicationLock.js"
import {
  DatabaseChangedAfterBackup,
  type DatabaseInUse,
  DatabaseNotFound,
  DeleteLocalUnavailable,
  ExitedEarly,
  LitestreamFailed,
  LitestreamTimeout,
  LocalFileError,
  ReplicaError,
  type LitestreamConfigError,
  type ReplicateError,
  type ReplicationFailed
} from "./LitestreamError.js"
import type { Replication, ReplicationOptions } from "./Replication.js"
import * as LitestreamEvent from "./LitestreamEvent.js"
import { SqliteProbe, type SqliteProbeError, type WriteHold } from "./SqliteProbe.js"

/**
 * Options of `once`.
 *
 * @since 0.1.0
 */
export interface OnceOptions {
  /** fail with `LitestreamTimeout` (and stop litestream) after this long; default 1 minute */
  readonly timeout?: Duration.DurationInput | undefined
  /**
   * after litestream exited 0, delete the database and its `-wal`, `-shm`, `-journal`,
   * `.<db>-litestream`, and only when that loses nothing: the database's write lock is held from
   * before litestream's final sync to the deletion, and the files go only while no other
   * connection has the database open (else `DatabaseInUse`, nothing deleted). On litestream
   * v0.5 the writes are held through a second `replicate -once`, which must end with the
   * replica at the database's TXID (else `DatabaseChangedAfterBackup`). Needs a
   * `SqliteProbe` (the Node layers provide one on better-sqlite3), else `DeleteLocalUnavailable`.
   */
  readonly deleteLocal?: boolean | undefined
  /** how long litestream may take for its final sync before it is killed; default 10 seconds */
  readonly grace?: Duration.DurationInput | undefined
  /** litestream's monitor and sync interval for this run; default 100 ms (litestream's own: 1 s) */
  readonly interval?: Duration.DurationInput | undefined
  /**
   * litestream v0.3: how often it looks at the database's WAL, when that should differ from
   * `interval`; default `interval`. Its first sync (and the replica's, right after) comes one
   * monitor interval after it starts: a shorter one brings the backup forward by the difference,
   * while `interval` still spaces the replica's later syncs (the CLI's `backup`: 10 ms).
   */
  readonly monitorInterval?: Duration.DurationInput | undefined
}

/**
 * What `once` did.
 *
 * @since 0.1.0
 */
export interface OnceResult {
  /** the replica position litestream last reported */
  readonly position: Option.Option<LitestreamEvent.Position>
  /** from the call to litestream's clean exit */
  readonly duration: Duration.Duration
  /** the local files deleted (empty unless `deleteLocal`) */
  readonly deleted: ReadonlyArray<string>
  /** litestream v0.5: the last transaction ID on the replica (16 hex digits), when it uploaded one */
  readonly txid?: string | undefined
}

/**
 * @since 0.1.0
 */
export const DEFAULT_TIMEOUT: Duration.Duration = Duration.minutes(1)

/**
 * @since 0.1.0
 */
export const DEFAULT_INTERVAL: Duration.Duration = Duration.millis(100)

/**
 * The `Replicate` service.
 *
 * `once` is pylts' `timed_replicate` done right: it starts litestream, and as soon as litestream
 * reports the replica caught up with the database (a WAL segment written, or the replica's
 * position read back, up to the database position its sync started from) it sends SIGTERM, lets
 * litestream run its final sync, and succeeds when litestream exits 0.
 * It never waits out the timeout when it has already succeeded.
 *
 * @since 0.1.0
 */
export class Replicate extends Context.Tag("@effect-litestream/core/Replicate")<Replicate, {
  readonly once: (options?: OnceOptions) => Effect.Effect<OnceResult, ReplicateError>
  /**
   * `once`, with `check` run after litestream's clean exit and before the local files are
   * deleted (with `deleteLocal`), while writes to the database stay held: the files go only when
   * `check` succeeds. `Verify.backup` checks the restored replica there.
   */
  readonly onceThen: <E, R>(
    options: OnceOptions,
    check: (result: OnceResult) => Effect.Effect<void, E, R>
  ) => Effect.Effect<OnceResult, ReplicateError | E, R>
  /**
   * Continuous replication as a resource: starts `litestream replicate` and returns once it has
   * initialised every database; closing the scope stops it gracefully (SIGTERM, final sync, then
   * SIGKILL to its process group after the grace period). See `Replication`.
   */
  readonly replicate: (
    options?: ReplicationOptions
  ) => Effect.Effect<Replication["Type"], ReplicateError | ReplicationFailed | LitestreamConfigError, Scope.Scope>
  /**
   * Deletes the local database and its `-wal`, `-shm`, `-journal` and `.<db>-litestream`, under
   * an exclusive lock, and only while no other connection has it open (else `DatabaseInUse`,
   * nothing deleted); returns what it deleted. It does not look at the replica: use
   * `once({ deleteLocal: true })` to delete only what the replica holds.
   */
  readonly deleteLocal: Effect.Effect<
    ReadonlyArray<string>,
    LocalFileError | DatabaseInUse | DatabaseChangedAfterBackup | DeleteLocalUnavailable
  >
}>() {}

type Decision =
  | { readonly _tag: "Synced" }
  | { readonly _tag: "ReplicaError"; readonly detail: string }

/**
 * The files litestream and SQLite keep beside a database: `-wal`, `-shm`, `-journal`,
 * `.<db>-litestream`.
 *
 * @since 0.1.0
 */
export const localFiles = (path: Path.Path, dbPath: string): ReadonlyArray<string> => [
  dbPath,
  `${dbPath}-wal`,
  `${dbPath}-shm`,
  `${dbPath}-journal`,
  path.join(path.dirname(dbPath), `.${path.basename(dbPath)}-litestream`)
]

/**
 * Builds the service from the settings, a `CommandExecutor` and a `FileSystem`.
 *
 * @since 0.1.0
 */
export const make = Effect.gen(function*() {
  const config = yield* LitestreamConfig
  const context = yield* Effect.context<CommandExecutor.CommandExecutor | FileSystem.FileSystem | Path.Path>()
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const probe = yield* Effect.serviceOption(SqliteProbe)
  const mask = LitestreamCommand.masker(config)
  const replica = config.replica.url
  const detect = internalVersion.memo(config)

  const replicaError = (detail: string) =>
    internalClassify.replicaProblem(replica, detail) ?? new ReplicaError({ replica, detail })

  // `holdWrites`, when given, runs once the replica caught up, before litestream's final sync;
  // litestream then settles under the held writes before it is stopped.
  const sync = <E>(options: OnceOptions, holdWrites: Effect.Effect<void, E> | undefined) =>
    Effect.gen(function*() {
      const grace = options.grace ?? internalProcess.DEFAULT_GRACE
      const interval = options.interval ?? DEFAULT_INTERVAL
      // A generated config gives short intervals, JSON logs, and debug level: the only way
      // litestream says that an unchanged database is already in sync on the replica.
      const file = yield* internalConfigFile.scoped(config, {
        monitorInterval: options.monitorInterval ?? interval,
        syncInterval: interval,
        logLevel: "debug",
        // under a held write lock, litestream's checkpoint (a write) would fail its final sync
        checkpoints: !options.deleteLocal
      })

      const process = yield* internalProcess.start(
        LitestreamCommand.make(config, LitestreamCommand.replicateConfigArgs(file)),
        config.binary,
        grace
      )
      const decided = yield* Deferred.make<Decision>()
      // Whether a replica sync is running (opened by "replica sync", closed when the replica
      // reached its position), and an error logged once writes are held: see `settle`.
      let inFlight = false
      let holding = false
      let errorWhileHolding: string | undefined
      const tail: Array<string> = []
      let position = Option.none<LitestreamEvent.Position>()
      let target = Option.none<LitestreamEvent.Position>()
      // where the replica is known to end (a snapshot's position is not that: its WAL follows)
      let reachedSoFar = Option.none<LitestreamEvent.Position>()
      const drain = yield* internalProcess.forEachLine(process, mask, (line) =>
        Effect.suspend(() => {
          tail.push(line)
          if (tail.length > 20) tail.shift()
          const event = LitestreamEvent.parse(line)
          switch (event._tag) {
            case "Other":
              // "replica sync" (debug) opens each sync of the replica; its position is the
              // database's, which that sync copies up to.
              if (event.message === "replica sync") {
                target = LitestreamEvent.parsePosition(event.attributes.position ?? "")
                // a sync that finds the replica already there writes nothing, and so logs nothing
                // more: it is not in flight (else `settle` would wait for it until the timeout)
                inFlight = !Option.exists(target, (t) => Option.exists(reachedSoFar, (p) => SyncState.reaches(p, t)))
              }
              return Effect.void
            case "SnapshotWritten":
            case "WalSegmentWritten":
            case "ReplicaPositionFound": {
              // Stop litestream only once the replica has caught up with the database, not in
              // the middle of its sync: on SIGTERM, litestream v0.3.13 runs its final sync while
              // the replica's own sync is still writing, and the two write the same WAL segment
              // (file: "client write: stat ....wal.lz4.tmp: no such file or directory", exit 1;
              // S3: a hang until the grace period ends). A snapshot is always followed by the
              // WAL segments of its index, so it never means caught up.
              const reached = event._tag === "SnapshotWritten"
                ? Option.none()
                : event._tag === "WalSegmentWritten"
                ? Option.map(event.position, (p) => ({ ...p, offset: p.offset + (event.size ?? 0) }))
                : event.position
              // Report where the replica ends, not where the last segment started.
              if (Option.isSome(reached)) {
                position = Option.map(reached, (p) => new LitestreamEvent.Position(p))
                reachedSoFar = position
              }
              else if (Option.isSome(event.position)) position = event.position
              const caughtUp = Option.match(target, {
                // no database position reported (another log format): the first sign of life will do
                onNone: () => true,
                onSome: (t) =>
                  Option.exists(reached, (r) =>
                    r.generation === t.generation && (r.index > t.index || (r.index === t.index && r.offset >= t.offset))
                  )
              })
              if (caughtUp) inFlight = false
              return caughtUp ? Deferred.succeed(decided, { _tag: "Synced" }) : Effect.void
            }
            case "ReplicaErrorLogged":
              if (holding) errorWhileHolding = event.error || event.message
              return Deferred.succeed(decided, { _tag: "ReplicaError", detail: event.error || event.message })
            default:
              return Effect.void
          }
        }).pipe(Effect.zipLeft(Effect.logDebug(line)))
      ).pipe(
        Effect.annotateLogs("litestream", "replicate"),
        Effect.forkScoped
      )
      const first = yield* Effect.raceFirst(
        Deferred.await(decided),
        Effect.map(internalProcess.exitCode(process), (code) => ({ _tag: "Exited", code }) as const)
      )
      switch (first._tag) {
        case "ReplicaError":
          return yield* replicaError(first.detail)
        case "Exited": {
          yield* Fiber.join(drain).pipe(Effect.ignore)
          // Stopped by someone else after a sync: its final sync ran, and exit 0 says it succeeded.
          const decision = yield* Deferred.poll(decided)
          if (first.code === 0 && Option.isSome(decision)) {
            const d = yield* decision.value
            if (d._tag === "Synced") return position
          }
          return yield* new ExitedEarly({ exitCode: first.code, stderr: tail.slice(-10) })
        }
        case "Synced": {
          if (holdWrites !== undefined) {
            yield* holdWrites
            holding = true
            // With writes held, the WAL cannot grow: wait until no replica sync is running and
            // none started for three intervals (litestream syncs the replica only after a change
            // it saw), so that the final sync does not run beside one (see above).
            const settle = Effect.gen(function*() {
              let quiet = 0
              while (quiet < 3) {
                yield* Effect.sleep(interval)
                if (errorWhileHolding !== undefined) return yield* replicaError(errorWhileHolding)
                quiet = inFlight ? 0 : quiet + 1
              }
              return "Settled" as const
            })
            const settled = yield* Effect.raceFirst(
              settle,
              Effect.map(internalProcess.exitCode(process), (code) => ({ _tag: "Exited", code }) as const)
            )
            if (settled !== "Settled") {
              yield* Fiber.join(drain).pipe(Effect.ignore)
              return yield* new ExitedEarly({ exitCode: settled.code, stderr: tail.slice(-10) })
            }
          }
          yield* Effect.logDebug("replica in sync, stopping litestream for its final sync")
          const killed = yield* internalProcess.stop(process, grace)
          const code = yield* internalProcess.exitCode(process)
          yield* Fiber.join(drain).pipe(Effect.ignore)
          if (killed) {
            return yield* new LitestreamFailed({
              operation: "replicate",
              exitCode: code,
              stderr: [
                ...tail.slice(-9),
                `litestream did not finish its final sync within the grace period (${Duration.format(Duration.decode(grace))}) and was killed`
              ]
            })
          }
          if (code !== 0) return yield* internalClassify.failure("replicate", replica, code, tail)
          return position
        }
      }
    }).pipe(Effect.scoped)

  // litestream v0.5 (`replicate -once`, and deleteLocal's two runs): see internal/onceV5
  const onceV5 = <E>(options: OnceOptions, holdWrites: Effect.Effect<void, E> | undefined) =>
    internalOnceV5.once(config, {
      grace: options.grace ?? internalProcess.DEFAULT_GRACE,
      interval: options.interval ?? DEFAULT_INTERVAL,
      mask,
      replicaError
    }, holdWrites)

  // The probe failing to open the database (not a database, not writable) is a local file problem.
  const lockFailed = <A, E extends { readonly _tag: string }, R>(self: Effect.Effect<A, E | SqliteProbeError, R>) =>
    Effect.mapError(self, (e) =>
      e._tag === "SqliteProbeError"
        ? new LocalFileError({ operation: "lock", path: config.dbPath, detail: mask((e as SqliteProbeError).detail) })
        : e as Exclude<E, SqliteProbeError>)
  const unavailable = new DeleteLocalUnavailable({ path: config.dbPath })
  const files = localFiles(path, config.dbPath)
  const deleteHeld = (hold: WriteHold) =>
    hold.deleteExclusively(files).pipe(lockFailed)

  const deleteLocal = Option.match(probe, {
    onNone: () => Effect.fail(unavailable),
    onSome: (probe) =>
      probe.holdWrites(config.dbPath).pipe(
        lockFailed,
        Effect.flatMap(deleteHeld),
        Effect.scoped
      )
  })

  const onceThen = <E, R>(options: OnceOptions, check: (result: OnceResult) => Effect.Effect<void, E, R>) =>
    Effect.gen(function*() {
      const timeout = Duration.decode(options.timeout ?? DEFAULT_TIMEOUT)
      const started = yield* Clock.currentTimeMillis
      if (!(yield* fs.exists(config.dbPath).pipe(Effect.orElseSucceed(() => false)))) {
        return yield* new DatabaseNotFound({ path: config.dbPath })
      }
      const { line } = yield* detect("replicate", timeout)
      if (options.deleteLocal && Option.isNone(probe)) return yield* unavailable
      // One litestream per database, held to the end of the deletion: a `replicate` started
      // between the final sync and the deletion would write rows no backup holds.
      yield* ReplicationLock.withLock([config.dbPath])
      const scope = yield* Effect.scope
      // With deleteLocal, writes are held from before litestream's final sync to the deletion:
      // that sync then covers every commit the database will have.
      let hold: WriteHold | undefined
      const holdWrites = Option.match(options.deleteLocal ? probe : Option.none(), {
        onNone: () => undefined,
        onSome: (probe) =>
          probe.holdWrites(config.dbPath).pipe(
            Scope.extend(scope),
            lockFailed,
            Effect.map((h) => {
              hold = h
            })
          )
      })
      const synced = yield* Effect.if(line === "v0.5", {
        onTrue: () => Effect.map(onceV5(options, holdWrites), (txid) => ({ position: Option.none<LitestreamEvent.Position>(), txid })),
        onFalse: () => Effect.map(sync(options, holdWrites), (position) => ({ position, txid: undefined as string | undefined }))
      }).pipe(
          Effect.timeoutFail({ duration: timeout, onTimeout: () => new LitestreamTimeout({ operation: "replicate", timeout }) }),
          Effect.catchTag("SystemError", "BadArgument", (e) =>
            Effect.fail(new LitestreamFailed({ operation: "replicate", exitCode: -1, stderr: [mask(e.message)] })))
        )
      const { position, txid } = synced
      const duration = Duration.millis((yield* Clock.currentTimeMillis) - started)
      const withTxid = txid === undefined ? {} : { txid }
      yield* check({ position, duration, deleted: [], ...withTxid })
      let deleted: ReadonlyArray<string> = []
      if (options.deleteLocal) {
        if (hold === undefined) {
          return yield* new DatabaseChangedAfterBackup({
            path: config.dbPath,
            detail:
              "litestream was stopped by someone else before its writes could be held for the final sync, so what the replica holds cannot be proven"
          })
        }
        deleted = yield* deleteHeld(hold)
      }
      yield* Effect.logInfo("backup done").pipe(
        Effect.annotateLogs({
          replica,
          position: txid ?? Option.getOrElse(Option.map(position, String), () => "unknown")
        })
      )
      return { position, duration, deleted, ...withTxid }
    }).pipe(
      Effect.scoped,
      Effect.provide(context),
      Effect.withSpan("Replicate.once", { attributes: { replica, db: config.dbPath } })
    ) as Effect.Effect<OnceResult, ReplicateError | E, R>

  const once = (options: OnceOptions = {}) => onceThen(options, () => Effect.void)

  const replicate = (options: ReplicationOptions = {}) =>
    // The layer's context holds the layer's own Scope: never let it replace the caller's, or
    // litestream would outlive the caller's scope (it would stop only with the layer).
    Effect.flatMap(detect("replicate", options.startTimeout ?? "30 seconds"), ({ line }) => internalReplication.make(config, options, line)).pipe(
      Effect.provide(Context.omit(Scope.Scope)(context))
    )

  return Replicate.of({ once, onceThen, replicate, deleteLocal })
})

/**
 * The `Replicate` service on top of `LitestreamConfig`, `CommandExecutor`, `FileSystem` and `Path`.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<
  Replicate,
  never,
  LitestreamConfig | CommandExecutor.CommandExecutor | FileSystem.FileSystem | Path.Path
> = Layer.effect(Replicate, make)
