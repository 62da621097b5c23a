/**
 * Continuous replication as a resource: `litestream replicate` runs for as long as a scope is
 * open, its log is a `Stream` of typed events, and an error policy decides when it has failed.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import { ExitedEarly, type ReplicationFailed } from "./LitestreamError.js"
import type * as LitestreamEvent from "./LitestreamEvent.js"

/**
 * When replica errors fail the replication. Litestream itself never gives up: it retries
 * forever and logs `monitor error` lines.
 *
 * @since 0.1.0
 */
export interface ErrorPolicy {
  /** fail after this many replica errors in a row, with no successful sync between; default 10 */
  readonly maxConsecutiveErrors?: number | undefined
  /** fail when errors have gone on for this long with no successful sync; default 1 minute */
  readonly maxErrorDuration?: Duration.DurationInput | undefined
}

/**
 * Options of a continuous replication.
 *
 * @since 0.1.0
 */
export interface ReplicationOptions {
  /**
   * Replicate these databases (file names in the configured folder), each under its own prefix
   * of the replica, `REPLICA_URL/<name>`, all by one litestream process. Default: the configured
   * database, at `REPLICA_URL` itself.
   */
  readonly databases?: ReadonlyArray<string> | undefined
  /** how often litestream checks the databases; default 100 ms (litestream's own: 1 s) */
  readonly monitorInterval?: Duration.DurationInput | undefined
  /** how often litestream pushes changes to the replica; default 100 ms (litestream's own: 1 s) */
  readonly syncInterval?: Duration.DurationInput | undefined
  /** on scope close, how long litestream's final sync may take before SIGKILL; default 10 s */
  readonly grace?: Duration.DurationInput | undefined
  /** how long litestream may take to start; default 30 s */
  readonly startTimeout?: Duration.DurationInput | undefined
  readonly policy?: ErrorPolicy | undefined
  /** run this command under litestream (`-exec`): litestream stops, after a final sync, when it exits */
  readonly exec?: string | undefined
  /** litestream's own log level; `debug` adds an event per sync; default `info` */
  readonly logLevel?: "debug" | "info" | undefined
}

/**
 * Where one replicated database stands.
 *
 * @since 0.1.0
 */
export interface DatabaseStatus {
  readonly db: string
  readonly replica: string
  readonly position: Option.Option<LitestreamEvent.Position>
  /** epoch millis of the last snapshot or WAL segment written */
  readonly lastSyncAt: Option.Option<number>
}

/**
 * A snapshot of the replication's health.
 *
 * @since 0.1.0
 */
export interface ReplicationStatus {
  readonly databases: ReadonlyArray<DatabaseStatus>
  readonly consecutiveErrors: number
  readonly lastError: Option.Option<string>
}

/**
 * A running replication.
 *
 * @since 0.1.0
 */
export class Replication extends Context.Tag("@effect-litestream/core/Replication")<Replication, {
  /** litestream's process id (also its process group id) */
  readonly pid: number
  /** the absolute paths of the replicated databases */
  readonly databases: ReadonlyArray<string>
  /** litestream's events from the moment the stream is run; unknown lines included */
  readonly events: Stream.Stream<LitestreamEvent.LitestreamEvent>
  readonly status: Effect.Effect<ReplicationStatus>
  /**
   * Waits for the end: fails with `ReplicationFailed` when the policy gives up, or `ExitedEarly`
   * when litestream exits on its own; with `exec`, succeeds with litestream's exit code 0.
   */
  readonly await: Effect.Effect<number, ReplicationFailed | ExitedEarly>
  /**
   * Runs `effect`, then waits for the next snapshot or WAL segment written for `db` (default: the
   * first database) after it: event-driven, no sleep.
   */
  readonly syncAfter: <A, E, R>(
    effect: Effect.Effect<A, E, R>,
    db?: string
  ) => Effect.Effect<readonly [A, LitestreamEvent.Position], E, R>
}>() {}

/**
 * The continuous replication as a layer: it runs for the lifetime of the layer's scope, e.g. the
 * whole application when provided at the top.
 *
 * @since 0.1.0
 */
export const layer = <E, R>(
  start: Effect.Effect<Context.Tag.Service<Replication>, E, R>
): Layer.Layer<Replication, E, Exclude<R, Scope.Scope>> => Layer.scoped(Replication, start)

/**
 * Runs `app` beside the replication: if the replication fails (policy, litestream exits) the app
 * is interrupted and the failure is returned; when the app ends first, its result is returned
 * and the replication goes on until its scope closes.
 *
 * @since 0.1.0
 */
export const runBeside = <A, E, R>(
  app: Effect.Effect<A, E, R>
): Effect.Effect<A, E | ReplicationFailed | ExitedEarly, R | Replication> =>
  Effect.flatMap(Replication, (replication) =>
    Effect.raceFirst(
      app,
      Effect.flatMap(replication.await, (exitCode) => Effect.fail(new ExitedEarly({ exitCode, stderr: [] })))
    ))

/** @since 0.1.0 */
export const DEFAULT_INTERVAL: Duration.Duration = Duration.millis(100)
