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
import { ExitedEarly, type FinalSyncFailed, type ReplicationFailed } from "./LitestreamError.js"
import type * as LitestreamEvent from "./LitestreamEvent.js"
import type * as ReplicationHealth from "./ReplicationHealth.js"

/**
 * When replica errors fail the replication. Litestream itself never gives up: it logs
 * `monitor error` lines, and v0.3.13 retries a failed sync only when the database changes again,
 * so a replica error on an idle database leaves the last changes unreplicated until the next
 * write. Errors are counted per database; a snapshot or WAL segment written (or the replica's
 * position read back) for a database resets its count.
 *
 * @since 0.1.0
 */
export interface ErrorPolicy {
  /** fail after this many replica errors in a row, with no successful sync between; default 10 */
  readonly maxConsecutiveErrors?: number | undefined
  /**
   * fail when this long has passed since a database's first error with no successful sync of
   * that database since (a timer: it fires also when litestream stops retrying); default 1 minute
   */
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
  /**
   * on scope close, how long to wait (before SIGTERM) for a replica sync in flight to finish, so
   * that litestream's final sync does not race it (litestream v0.3.13 runs both at once, and they
   * write the same WAL segment: exit 1 on file://, a hang on S3); default 3 s
   */
  readonly catchUpTimeout?: Duration.DurationInput | undefined
  /** how long litestream may take to start; default 30 s */
  readonly startTimeout?: Duration.DurationInput | undefined
  readonly policy?: ErrorPolicy | undefined
  /** run this command under litestream (`-exec`): litestream stops, after a final sync, when it exits */
  readonly exec?: string | undefined
  /**
   * which of litestream's records reach `events` and the Effect log. Litestream always runs at
   * debug level (its debug records tell when a write reached the replica, see `syncAfter`);
   * with `info` (the default) its debug records stay internal.
   */
  readonly logLevel?: "debug" | "info" | undefined
  /** when a database counts as lagging, stalled or failing (see `ReplicationHealth`) */
  readonly health?: ReplicationHealth.HealthOptions | undefined
  /**
   * litestream v0.5 only (`l0-retention`): how long level-0 LTX files stay on the replica after
   * compaction, for finer point-in-time restores; litestream's default (5 minutes) when unset.
   * With litestream v0.3: `NotOnThisLine`.
   */
  readonly l0Retention?: Duration.DurationInput | undefined
}

/**
 * Where one replicated database stands.
 *
 * @since 0.1.0
 */
export interface DatabaseStatus {
  readonly db: string
  readonly replica: string
  /**
   * the replica's last known position: on litestream v0.3 the end of the last WAL segment
   * written, or a snapshot's; on v0.5 the highest TXID uploaded (`TxidPosition`)
   */
  readonly position: Option.Option<LitestreamEvent.ReplicaPosition>
  /** epoch millis of the last snapshot or WAL segment written */
  readonly lastSyncAt: Option.Option<number>
  /** replica errors for this database since its last successful sync */
  readonly consecutiveErrors: number
  /**
   * epoch millis of the oldest change litestream saw in the database that the replica does not
   * hold yet (none: in sync, as far as litestream's log tells); the replica lag is measured from it
   */
  readonly pendingSince: Option.Option<number>
  /** litestream's last error for this database (masked) */
  readonly lastError: Option.Option<string>
}

/**
 * A snapshot of the replication's health.
 *
 * @since 0.1.0
 */
export interface ReplicationStatus {
  readonly databases: ReadonlyArray<DatabaseStatus>
  /** the highest `consecutiveErrors` of the databases */
  readonly consecutiveErrors: number
  readonly lastError: Option.Option<string>
  /**
   * how litestream's final sync went, once the scope closed: `Ok` (exit 0), `Failed` (non-zero
   * exit) or `Killed` (the grace period ran out); also reported by `await` and logged at Error
   */
  readonly finalSync: Option.Option<"Ok" | "Failed" | "Killed">
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
  /**
   * litestream's events: the start-up events (`Started`, `ReplicatingTo`, `DatabaseInitialized`,
   * ...) first, then every event from the moment the stream is run; unknown lines included.
   * Events of a database carry its path in `db`. The stream ends when the scope closes.
   */
  readonly events: Stream.Stream<LitestreamEvent.LitestreamEvent>
  readonly status: Effect.Effect<ReplicationStatus>
  /** the health of every database now (see `ReplicationHealth`) */
  readonly health: Effect.Effect<ReplicationHealth.Report>
  /**
   * the current health, then a report each time a database's state or reason changes (checked
   * at every event and every 250 ms); ends when the scope closes
   */
  readonly healthChanges: Stream.Stream<ReplicationHealth.Report>
  /**
   * Waits for the end: fails with `ReplicationFailed` when the policy gives up, or `ExitedEarly`
   * when litestream exits on its own; with `exec`, succeeds with litestream's exit code 0.
   * After the scope closed: succeeds with 0 when litestream's final sync worked, else fails with
   * `FinalSyncFailed`.
   */
  readonly await: Effect.Effect<number, ReplicationFailed | ExitedEarly | FinalSyncFailed>
  /**
   * Runs `effect`, then waits until the replica of `db` (a path of `databases` or its file name;
   * default: the first database) holds everything committed before `effect` ended: a database
   * sync that started after it must have run, and the replica must have reached the database
   * position of the replica sync that followed it. Event-driven, no sleep; returns the position
   * the replica reached: a `Position` on litestream v0.3, a `TxidPosition` on v0.5 (there: a
   * database sync that began after `effect` ended has run, and the replica holds the TXID the
   * database had after it). Fails when the replication ends first.
   */
  readonly syncAfter: <A, E, R>(
    effect: Effect.Effect<A, E, R>,
    db?: string
  ) => Effect.Effect<readonly [A, LitestreamEvent.ReplicaPosition], E | ReplicationFailed | ExitedEarly | FinalSyncFailed, R>
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
): Effect.Effect<A, E | ReplicationFailed | ExitedEarly | FinalSyncFailed, R | Replication> =>
  Effect.flatMap(Replication, (replication) =>
    Effect.raceFirst(
      app,
      Effect.flatMap(replication.await, (exitCode) => Effect.fail(new ExitedEarly({ exitCode, stderr: [] })))
    ))

/** @since 0.1.0 */
export const DEFAULT_INTERVAL: Duration.Duration = Duration.millis(100)
