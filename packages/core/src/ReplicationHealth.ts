/**
 * The health of a running replication, per database: `Healthy`, `Lagging`, `Stalled` or
 * `Failing`, each with its reason and the figures behind it. Litestream itself never says that a
 * backup stopped: it keeps running and logs errors. This model is what an operator alerts on.
 *
 * The figures come from the replication's status (see `Replication.status`); `evaluate` is a
 * pure function of them and the time, so the model is the same in a test and in production.
 *
 * @since 0.3.0
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import { safeUrl } from "./internal/safeUrl.js"
import type { DatabaseStatus } from "./Replication.js"

/**
 * When a database counts as lagging, stalled or failing.
 *
 * @since 0.3.0
 */
export interface HealthOptions {
  /**
   * `Stalled` when the database changed and no replica sync succeeded for this long (neither
   * since the change nor since the last sync); default 30 s
   */
  readonly stallAfter?: Duration.DurationInput | undefined
  /** `Lagging` when the replica has been behind the database for this long; default 10 s */
  readonly lagWarning?: Duration.DurationInput | undefined
  /** `Failing` after this many replica errors in a row (no successful sync between); default 3 */
  readonly failingAfterErrors?: number | undefined
}

/** @since 0.3.0 */
export const DEFAULT_STALL_AFTER: Duration.Duration = Duration.seconds(30)
/** @since 0.3.0 */
export const DEFAULT_LAG_WARNING: Duration.Duration = Duration.seconds(10)
/** @since 0.3.0 */
export const DEFAULT_FAILING_AFTER_ERRORS = 3

/**
 * The options with their defaults applied, in milliseconds.
 *
 * @since 0.3.0
 */
export interface Thresholds {
  readonly stallAfterMillis: number
  readonly lagWarningMillis: number
  readonly failingAfterErrors: number
}

/** @since 0.3.0 */
export const thresholds = (options: HealthOptions = {}): Thresholds => ({
  stallAfterMillis: Duration.toMillis(options.stallAfter ?? DEFAULT_STALL_AFTER),
  lagWarningMillis: Duration.toMillis(options.lagWarning ?? DEFAULT_LAG_WARNING),
  failingAfterErrors: Math.max(1, options.failingAfterErrors ?? DEFAULT_FAILING_AFTER_ERRORS)
})

/**
 * The state of one database, with its reason. Healthy and Lagging are fine to serve (HTTP 200),
 * Stalled and Failing are not (503).
 *
 * @since 0.3.0
 */
export type Health = Data.TaggedEnum<{
  /** `InSync`: nothing committed is missing on the replica; `Syncing`: changes on their way, within `lagWarning`; `Idle`: no change and no sync yet */
  Healthy: { readonly reason: "InSync" | "Syncing" | "Idle" }
  /** the replica has been behind for `lagWarning` or longer, but syncs still succeed */
  Lagging: { readonly reason: "BehindDatabase" }
  /** the database changed and no replica sync succeeded for `stallAfter` */
  Stalled: { readonly reason: "NoSuccessfulSync" }
  /** `ReplicaErrors`: an error streak of `failingAfterErrors`; `PolicyGaveUp`: the error policy failed the replication; `LitestreamDown`: litestream is not running */
  Failing: { readonly reason: "ReplicaErrors" | "PolicyGaveUp" | "LitestreamDown" }
}>

/** @since 0.3.0 */
export const Health = Data.taggedEnum<Health>()

/**
 * The state names, from best to worst.
 *
 * @since 0.3.0
 */
export type State = Health["_tag"]

const RANK: Record<State, number> = { Healthy: 0, Lagging: 1, Stalled: 2, Failing: 3 }

/**
 * The numeric code of a state (0 Healthy, 1 Lagging, 2 Stalled, 3 Failing), as the metrics give it.
 *
 * @since 0.3.0
 */
export const rank = (state: State): number => RANK[state]

/**
 * Whether a state is fit to serve: Healthy or Lagging.
 *
 * @since 0.3.0
 */
export const isOk = (state: State): boolean => RANK[state] < RANK.Stalled

/**
 * The figures behind a database's state.
 *
 * @since 0.3.0
 */
export interface Figures {
  /** how long the oldest change not yet on the replica has waited; 0 when none waits */
  readonly lagSeconds: number
  /** since the last snapshot or WAL segment written (since the start when there was none) */
  readonly secondsSinceLastSync: number
  /** whether any replica sync succeeded since the start */
  readonly everSynced: boolean
  readonly consecutiveErrors: number
  /** litestream's last error for this database (masked), if the streak is on */
  readonly lastError: string | null
  /** the replica's position in litestream's notation, if known */
  readonly position: string | null
}

/**
 * One database's health.
 *
 * @since 0.3.0
 */
export interface DatabaseHealth {
  readonly db: string
  readonly replica: string
  readonly health: Health
  readonly figures: Figures
  /** one sentence: what is wrong (or right) and, when wrong, what to look at */
  readonly message: string
}

/**
 * The health of a whole replication: its worst database decides.
 *
 * @since 0.3.0
 */
export interface Report {
  readonly state: State
  /** Healthy or Lagging */
  readonly ok: boolean
  readonly litestream: "up" | "down"
  /** epoch millis of the evaluation */
  readonly at: number
  readonly databases: ReadonlyArray<DatabaseHealth>
}

/**
 * What `evaluate` needs besides a database's status.
 *
 * @since 0.3.0
 */
export interface Context {
  readonly now: number
  /** epoch millis when the replication started */
  readonly startedAt: number
  /** litestream is running */
  readonly up: boolean
  /** the error policy failed the replication, with its message */
  readonly gaveUp: Option.Option<string>
}

const seconds = (millis: number) => Math.round(Math.max(0, millis)) / 1000

const fmt = (s: number) => `${s.toFixed(1)} s`

/**
 * The health of one database, from its status: Failing before Stalled before Lagging.
 *
 * @since 0.3.0
 */
export const evaluate = (status: DatabaseStatus, context: Context, t: Thresholds): DatabaseHealth => {
  const { now } = context
  const lagMillis = Option.match(status.pendingSince, { onNone: () => 0, onSome: (since) => now - since })
  const sinceSyncMillis = now - Option.getOrElse(status.lastSyncAt, () => context.startedAt)
  const figures: Figures = {
    lagSeconds: seconds(lagMillis),
    secondsSinceLastSync: seconds(sinceSyncMillis),
    everSynced: Option.isSome(status.lastSyncAt),
    consecutiveErrors: status.consecutiveErrors,
    lastError: status.consecutiveErrors > 0 ? Option.getOrNull(status.lastError) : null,
    position: Option.getOrNull(Option.map(status.position, String))
  }
  const make = (health: Health, message: string): DatabaseHealth => ({
    db: status.db,
    replica: safeUrl(status.replica),
    health,
    figures,
    message
  })
  if (Option.isSome(context.gaveUp)) {
    return make(Health.Failing({ reason: "PolicyGaveUp" }), `the error policy failed the replication: ${context.gaveUp.value}`)
  }
  if (!context.up) {
    return make(
      Health.Failing({ reason: "LitestreamDown" }),
      "litestream is not running: nothing is replicated. Fix: see its last lines in the log, then restart the replication"
    )
  }
  if (status.consecutiveErrors >= t.failingAfterErrors) {
    return make(
      Health.Failing({ reason: "ReplicaErrors" }),
      `${status.consecutiveErrors} replica errors in a row, the last: ${
        Option.getOrElse(status.lastError, () => "?")
      }. Fix: check that the replica is reachable and the credentials are valid`
    )
  }
  if (Option.isSome(status.pendingSince) && lagMillis >= t.stallAfterMillis && sinceSyncMillis >= t.stallAfterMillis) {
    return make(
      Health.Stalled({ reason: "NoSuccessfulSync" }),
      `the database changed ${fmt(figures.lagSeconds)} ago and no replica sync succeeded for ${
        fmt(figures.secondsSinceLastSync)
      } (stallAfter ${fmt(t.stallAfterMillis / 1000)}). Fix: check the replica's store and litestream's log`
    )
  }
  if (lagMillis >= t.lagWarningMillis) {
    return make(
      Health.Lagging({ reason: "BehindDatabase" }),
      `the replica has been behind the database for ${fmt(figures.lagSeconds)} (lagWarning ${
        fmt(t.lagWarningMillis / 1000)
      }); syncs still succeed, the store may be slow`
    )
  }
  if (Option.isSome(status.pendingSince)) {
    return make(Health.Healthy({ reason: "Syncing" }), `changes on their way to the replica (${fmt(figures.lagSeconds)})`)
  }
  if (Option.isNone(status.lastSyncAt) && Option.isNone(status.position)) {
    return make(Health.Healthy({ reason: "Idle" }), "no change to replicate yet")
  }
  return make(Health.Healthy({ reason: "InSync" }), "the replica holds every change litestream has seen")
}

/**
 * The report over every database: the worst state decides.
 *
 * @since 0.3.0
 */
export const report = (
  databases: ReadonlyArray<DatabaseStatus>,
  context: Context,
  t: Thresholds
): Report => {
  const evaluated = databases.map((d) => evaluate(d, context, t))
  const state = evaluated.reduce<State>(
    (worst, d) => (RANK[d.health._tag] > RANK[worst] ? d.health._tag : worst),
    "Healthy"
  )
  return { state, ok: isOk(state), litestream: context.up ? "up" : "down", at: context.now, databases: evaluated }
}

/**
 * Whether two reports have the same states and reasons (not merely the same figures): what
 * `healthChanges` emits on. The reasons of Healthy do not count: with writes flowing, a
 * database goes from InSync to Syncing and back at every sync.
 *
 * @since 0.3.0
 */
export const sameStates = (a: Report, b: Report): boolean =>
  a.state === b.state && a.databases.length === b.databases.length &&
  a.databases.every((d, i) => {
    const e = b.databases[i]!
    return d.db === e.db && d.health._tag === e.health._tag &&
      (d.health._tag === "Healthy" || d.health.reason === e.health.reason)
  })

/**
 * A report as plain JSON (the body of `GET /health`).
 *
 * @since 0.3.0
 */
export const toJson = (r: Report) => ({
  state: r.state,
  ok: r.ok,
  litestream: r.litestream,
  at: new Date(r.at).toISOString(),
  databases: r.databases.map((d) => ({
    db: d.db,
    replica: d.replica,
    state: d.health._tag,
    reason: d.health.reason,
    message: d.message,
    ...d.figures
  }))
})
