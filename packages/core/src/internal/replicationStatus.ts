/**
 * The per-database status of a running replication and its error policy: what the replica
 * holds, when it last synced, what waits for it, the error streaks; the health evaluated from
 * them, and the metrics recorded from the same events.
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as LogLevel from "effect/LogLevel"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type { ExitedEarly, FinalSyncFailed } from "../LitestreamError.js"
import { ReplicationFailed } from "../LitestreamError.js"
import * as LitestreamEvent from "../LitestreamEvent.js"
import type { DatabaseStatus, ErrorPolicy, ReplicationStatus } from "../Replication.js"
import * as ReplicationHealth from "../ReplicationHealth.js"
import * as ReplicationMetrics from "../ReplicationMetrics.js"
import type { Observed } from "./replicationEvents.js"
import * as SyncState from "./syncState.js"
import * as SyncStateV5 from "./syncStateV5.js"

/** How often the time-based states (Stalled, Lagging) and the time gauges are looked at. */
const TICK = Duration.millis(250)

interface ErrorCount {
  readonly count: number
  readonly since: Option.Option<number>
  /** bumped at each success: a pending duration timer of an older epoch does nothing */
  readonly epoch: number
}

/**
 * What waits for the replica. litestream v0.3, in two slots: the changes the replica sync in
 * flight copies, and those that came after it started. litestream v0.5: the database TXIDs seen
 * and when, past the replica's. The lag is measured from the oldest.
 */
interface Pending {
  readonly covering: Option.Option<number>
  readonly later: Option.Option<number>
  readonly v5?: { readonly replica: bigint; readonly seen: ReadonlyArray<readonly [bigint, number]> } | undefined
}

/** @internal */
export const initialPending: Pending = { covering: Option.none(), later: Option.none() }

const oldest = (p: Pending): Option.Option<number> =>
  p.v5 !== undefined
    ? Option.fromNullable(p.v5.seen[0]?.[1])
    : Option.orElse(p.covering, () => p.later)

/**
 * Folds one record of a database into what waits for its replica. litestream v0.3 (its debug
 * records; see `SyncState`): a change opens `later`, a `replica sync` takes it over as
 * `covering`, the replica reaching that sync's target clears `covering`. litestream v0.5: each
 * database TXID is timed when first seen; a `replica sync` drops those the replica holds.
 * @internal
 */
export const pendingAfter = (
  p: Pending,
  record: LitestreamEvent.LogRecord,
  sync: SyncState.DbSync | undefined,
  now: number
): Pending => {
  const txids = SyncStateV5.txids(record)
  if (txids !== undefined) {
    const v5 = p.v5 ?? { replica: 0n, seen: [] }
    const replica = txids.replica
    const seen = v5.seen.some(([t]) => t === txids.db) ? v5.seen : [...v5.seen, [txids.db, now] as const]
    return { ...p, v5: { replica, seen: seen.filter(([t]) => t > replica) } }
  }
  if (sync === undefined) return p
  switch (record.message) {
    case "copy-shadow: ok":
    case "sync: new generation":
      return Option.isSome(p.later) ? p : { ...p, later: Option.some(now) }
    case "replica sync":
      return { covering: oldest(p), later: Option.none() }
    case "wal segment written":
    case "snapshot written":
    case "replica sync: calc new pos": {
      const reached = Option.exists(sync.target, (t) => Option.exists(sync.reached, (r) => SyncState.reaches(r, t)))
      return reached ? { ...p, covering: Option.none() } : p
    }
    default:
      return p
  }
}


/** @internal */
export interface StatusPart {
  readonly status: Ref.Ref<ReplicationStatus>
  /** sees every record and event of the fan-out */
  readonly handle: (observed: Option.Option<Observed>, event: LitestreamEvent.LitestreamEvent) => Effect.Effect<void>
  /** the replication is being stopped: errors from now on are the shutdown's */
  readonly stop: Effect.Effect<void>
  readonly stopping: () => boolean
  /** litestream exited (or was stopped) */
  readonly down: Effect.Effect<void>
  readonly health: Effect.Effect<ReplicationHealth.Report>
  readonly healthChanges: Stream.Stream<ReplicationHealth.Report>
  /** starts the ticker that re-evaluates the time-based states (in the current scope) */
  readonly tick: Effect.Effect<void, never, Scope.Scope>
}

/**
 * The status part over `configs`, settling `ended` when the policy gives up.
 * @internal
 */
export const make = (options: {
  readonly databases: ReadonlyArray<{ readonly db: string; readonly replica: string }>
  readonly policy: ErrorPolicy | undefined
  readonly health: ReplicationHealth.HealthOptions | undefined
  readonly ended: Deferred.Deferred<number, ReplicationFailed | ExitedEarly | FinalSyncFailed>
}) =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const { databases, ended } = options
    const paths = databases.map((d) => d.db)
    const replicaOf = new Map(databases.map((d) => [d.db, d.replica]))
    const maxErrors = options.policy?.maxConsecutiveErrors ?? 10
    const maxErrorDuration = Duration.decode(options.policy?.maxErrorDuration ?? Duration.minutes(1))
    const thresholds = ReplicationHealth.thresholds(options.health)
    const startedAt = yield* Clock.currentTimeMillis

    const status = yield* Ref.make<ReplicationStatus>({
      databases: databases.map((d): DatabaseStatus => ({
        db: d.db,
        replica: d.replica,
        position: Option.none(),
        lastSyncAt: Option.none(),
        consecutiveErrors: 0,
        pendingSince: Option.none(),
        lastError: Option.none()
      })),
      consecutiveErrors: 0,
      lastError: Option.none(),
      finalSync: Option.none()
    })
    const errors = new Map<string, ErrorCount>(paths.map((p) => [p, { count: 0, since: Option.none(), epoch: 0 }]))
    const pending = new Map<string, Pending>(paths.map((p) => [p, initialPending]))
    let stopping = false
    let up = true
    let gaveUp = Option.none<string>()

    // litestream v0.3 names a database by its path, v0.5 by its file name
    const resolve = (db: string | undefined): string | undefined => {
      if (db === undefined) return undefined
      if (errors.has(db)) return db
      const named = paths.filter((p) => p === db || p.endsWith(`/${db}`) || p.endsWith(`\\${db}`))
      return named.length === 1 ? named[0] : undefined
    }

    const metric = <Type, In, Out>(m: Metric.Metric<Type, In, Out>, db: string) =>
      ReplicationMetrics.tagged(m, db, replicaOf.get(db) ?? "")

    const updateDb = (db: string, f: (d: DatabaseStatus) => DatabaseStatus) =>
      Ref.update(status, (s) => {
        const all = s.databases.map((d) => (d.db === db ? f(d) : d))
        return { ...s, databases: all, consecutiveErrors: Math.max(0, ...all.map((d) => d.consecutiveErrors)) }
      })

    const evaluate = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const s = yield* Ref.get(status)
      return ReplicationHealth.report(s.databases, { now, startedAt, up, gaveUp }, thresholds)
    })
    const changes = yield* SubscriptionRef.make(yield* evaluate)
    // `healthChanges` ends with the scope (after the close, which runs first)
    const closed = yield* Deferred.make<void>()
    yield* Effect.addFinalizer(() => Deferred.succeed(closed, undefined))

    // Re-evaluates; the gauges take the new figures, `healthChanges` only a change of state.
    const refresh = Effect.gen(function*() {
      const next = yield* evaluate
      for (const d of next.databases) {
        yield* Metric.set(metric(ReplicationMetrics.lagSeconds, d.db), d.figures.lagSeconds)
        yield* Metric.set(metric(ReplicationMetrics.secondsSinceLastSync, d.db), d.figures.secondsSinceLastSync)
        yield* Metric.set(metric(ReplicationMetrics.health, d.db), ReplicationHealth.rank(d.health._tag))
      }
      const previous = yield* SubscriptionRef.get(changes)
      if (!ReplicationHealth.sameStates(previous, next)) {
        yield* SubscriptionRef.set(changes, next)
        // litestream stopped because we asked: not news for the log
        if (stopping) return
        const worst = next.databases.find((d) => d.health._tag === next.state)
        yield* Effect.logWithLevel(
          next.ok ? LogLevel.Info : LogLevel.Warning,
          `replication health: ${next.state}${worst === undefined ? "" : `: ${worst.message}`}`
        ).pipe(Effect.annotateLogs({ health: next.state, databases: paths.join(",") }))
      }
    })

    const giveUp = (error: ReplicationFailed) =>
      Effect.zipRight(
        Effect.logError(error.message).pipe(Effect.annotateLogs({ replica: error.replica, reason: error.reason })),
        Effect.zipRight(
          Effect.sync(() => {
            gaveUp = Option.some(error.message)
          }),
          Deferred.fail(ended, error)
        )
      ).pipe(Effect.whenEffect(Effect.negate(Deferred.isDone(ended))), Effect.asVoid)

    // The duration policy is a timer: litestream v0.3.13 retries a failed sync only when the
    // database changes again, so on an idle database the errors stop while nothing is replicated.
    const errorTimer = (db: string, epoch: number, detail: string) =>
      Effect.sleep(maxErrorDuration).pipe(
        Effect.zipRight(Effect.suspend(() => {
          const e = errors.get(db)
          if (stopping || e === undefined || e.epoch !== epoch || Option.isNone(e.since)) return Effect.void
          return giveUp(
            new ReplicationFailed({ replica: replicaOf.get(db)!, reason: "ErrorDuration", errors: e.count, lastError: detail })
          )
        })),
        Effect.zipRight(refresh),
        Effect.forkIn(scope),
        Effect.asVoid
      )

    const onEvent = (event: LitestreamEvent.LitestreamEvent, now: number) =>
      Effect.gen(function*() {
        switch (event._tag) {
          case "SnapshotWritten":
          case "WalSegmentWritten":
          case "ReplicaPositionFound":
          case "LtxFileUploaded": {
            const db = resolve(event.db)
            if (db === undefined) return
            const e = errors.get(db)!
            errors.set(db, { count: 0, since: Option.none(), epoch: e.epoch + 1 })
            const wrote = event._tag !== "ReplicaPositionFound"
            if (event._tag === "LtxFileUploaded") {
              // what waits is told by v0.5's next `replica sync` record (see pendingAfter)
              yield* Metric.set(metric(ReplicationMetrics.txid, db), parseInt(event.maxTxid, 16))
              yield* Metric.incrementBy(metric(ReplicationMetrics.walBytes, db), event.size ?? 0)
              // where the replica stands on v0.5: the highest TXID uploaded (compactions re-upload lower ones)
              const uploaded = LitestreamEvent.txidPosition(event.maxTxid)
              yield* updateDb(db, (d) => ({
                ...d,
                position: Option.isSome(d.position) && LitestreamEvent.isTxidPosition(d.position.value) && d.position.value.value >= uploaded.value
                  ? d.position
                  : Option.some(uploaded)
              }))
            } else {
              // where the replica stands: the end of a WAL segment, not its start
              const position = event._tag === "WalSegmentWritten" ? SyncState.segmentEnd(event.position, event.size) : event.position
              yield* updateDb(db, (d) => ({ ...d, position: Option.orElse(position, () => d.position) }))
              if (Option.isSome(position)) {
                yield* Metric.set(metric(ReplicationMetrics.walIndex, db), position.value.index)
                yield* Metric.set(metric(ReplicationMetrics.walOffset, db), position.value.offset)
              }
              if (event._tag === "WalSegmentWritten") {
                yield* Metric.incrementBy(metric(ReplicationMetrics.walBytes, db), event.size ?? 0)
              }
              if (event._tag === "SnapshotWritten") yield* Metric.increment(metric(ReplicationMetrics.snapshots, db))
            }
            if (wrote) yield* Metric.increment(metric(ReplicationMetrics.syncs, db))
            yield* updateDb(db, (d) => ({
              ...d,
              consecutiveErrors: 0,
              lastSyncAt: wrote ? Option.some(now) : d.lastSyncAt,
              pendingSince: oldest(pending.get(db)!)
            }))
            return yield* refresh
          }
          case "ReplicaErrorLogged": {
            if (stopping) return
            const detail = event.error || event.message
            yield* Ref.update(status, (s) => ({ ...s, lastError: Option.some(detail) }))
            // an error that names no database of ours counts for all of them
            const named = resolve(event.db)
            const dbs = named !== undefined ? [named] : paths
            for (const db of dbs) {
              const e = errors.get(db)!
              const count = e.count + 1
              errors.set(db, { count, since: Option.orElse(e.since, () => Option.some(now)), epoch: e.epoch })
              yield* Metric.increment(
                Metric.tagged(metric(ReplicationMetrics.errors, db), "kind", ReplicationMetrics.errorKind(detail))
              )
              yield* updateDb(db, (d) => ({ ...d, consecutiveErrors: count, lastError: Option.some(detail) }))
              if (Option.isNone(e.since)) yield* errorTimer(db, e.epoch, detail)
              if (count >= maxErrors) {
                yield* giveUp(
                  new ReplicationFailed({ replica: replicaOf.get(db)!, reason: "ConsecutiveErrors", errors: count, lastError: detail })
                )
              }
            }
            return yield* refresh
          }
        }
      })

    const handle = (observed: Option.Option<Observed>, event: LitestreamEvent.LitestreamEvent) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        if (Option.isSome(observed)) {
          const { record, sync } = observed.value
          const db = resolve(observed.value.db)
          const before = db === undefined ? undefined : pending.get(db)
          if (db !== undefined && before !== undefined) {
            const after = pendingAfter(before, record, sync, now)
            if (after !== before) {
              pending.set(db, after)
              const since = oldest(after)
              yield* updateDb(db, (d) => (Option.getEquivalence<number>((a, b) => a === b)(d.pendingSince, since) ? d : { ...d, pendingSince: since }))
            }
          }
        }
        yield* onEvent(event, now)
      })

    for (const db of paths) yield* Metric.set(metric(ReplicationMetrics.up, db), 1)

    const down = Effect.gen(function*() {
      if (!up) return
      up = false
      for (const db of paths) yield* Metric.set(metric(ReplicationMetrics.up, db), 0)
      yield* refresh
    })

    return {
      status,
      handle,
      stop: Effect.sync(() => {
        stopping = true
      }),
      stopping: () => stopping,
      down,
      health: evaluate,
      healthChanges: changes.changes.pipe(Stream.interruptWhen(Deferred.await(closed))),
      tick: refresh.pipe(Effect.repeat(Schedule.spaced(TICK)), Effect.interruptible, Effect.forkScoped, Effect.asVoid)
    } satisfies StatusPart
  })
