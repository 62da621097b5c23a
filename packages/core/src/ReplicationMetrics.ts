/**
 * The metrics of a running replication, as Effect metrics (`effect/Metric`), labelled by
 * `database` (its path) and `replica` (its URL without user, password or query: never a
 * credential). A replication records them itself; any exporter of Effect's metric registry
 * sees them, e.g. `GET /metrics` (see `ReplicationHttp`).
 *
 * @since 0.3.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import { replicaProblem } from "./internal/classify.js"
import { safeUrl } from "./internal/safeUrl.js"

/** @since 0.3.0 */
export const syncs = Metric.counter("litestream_replica_syncs", {
  description: "Replica syncs that succeeded: snapshots, WAL segments and LTX files written",
  incremental: true
})

/** @since 0.3.0 */
export const errors = Metric.counter("litestream_replica_errors", {
  description: "Replica errors litestream logged, by kind (AccessDenied, Unreachable, Other)",
  incremental: true
})

/** @since 0.3.0 */
export const snapshots = Metric.counter("litestream_replica_snapshots", {
  description: "Snapshots written to the replica",
  incremental: true
})

/** @since 0.3.0 */
export const walBytes = Metric.counter("litestream_replica_wal_bytes", {
  description: "Uncompressed bytes of WAL segments (or LTX files) written to the replica",
  incremental: true
})

/** @since 0.3.0 */
export const lagSeconds = Metric.gauge("litestream_replica_lag_seconds", {
  description: "How long the oldest change not yet on the replica has waited, in seconds (0: in sync)"
})

/** @since 0.3.0 */
export const secondsSinceLastSync = Metric.gauge("litestream_replica_seconds_since_last_sync", {
  description: "Seconds since the last successful replica sync (since the start when there was none)"
})

/** @since 0.3.0 */
export const walIndex = Metric.gauge("litestream_replica_wal_index", {
  description: "The replica position: WAL index of the current generation (litestream v0.3)"
})

/** @since 0.3.0 */
export const walOffset = Metric.gauge("litestream_replica_wal_offset", {
  description: "The replica position: byte offset in the WAL index (litestream v0.3)"
})

/** @since 0.3.0 */
export const txid = Metric.gauge("litestream_replica_txid", {
  description: "The replica position: the last transaction id uploaded (litestream v0.5)"
})

/** @since 0.3.0 */
export const up = Metric.gauge("litestream_up", {
  description: "1 while litestream runs for the database, 0 once it stopped"
})

/** @since 0.3.0 */
export const health = Metric.gauge("litestream_replica_health", {
  description: "The database's health: 0 Healthy, 1 Lagging, 2 Stalled, 3 Failing"
})

/**
 * A replica URL as a label value: no user, password, query or fragment.
 *
 * @since 0.3.0
 */
export const replicaLabel = (url: string): string => safeUrl(url)

/**
 * The labels of one database's metrics.
 *
 * @since 0.3.0
 */
export const tagged = <Type, In, Out>(
  metric: Metric.Metric<Type, In, Out>,
  db: string,
  replica: string
): Metric.Metric<Type, In, Out> => Metric.tagged(Metric.tagged(metric, "database", db), "replica", replicaLabel(replica))

/**
 * The kind of a replica error, from litestream's error text (the `kind` label of `errors`).
 *
 * @since 0.3.0
 */
export const errorKind = (detail: string): "AccessDenied" | "Unreachable" | "Other" => {
  // the same reading of litestream's error texts as the typed errors of `once` and `restore`
  const problem = replicaProblem("", detail)
  return problem === undefined ? "Other" : problem._tag === "ReplicaAccessDenied" ? "AccessDenied" : "Unreachable"
}

/**
 * Renders the metrics in the Prometheus text format, for `GET /metrics`. Core holds no
 * renderer (it imports nothing but effect and @effect/platform); `@effect-litestream/node`'s
 * `PrometheusExposition.layer` provides one on OpenTelemetry's Prometheus exporter.
 *
 * @since 0.3.0
 */
export class Exposition extends Context.Tag("@effect-litestream/core/ReplicationMetrics/Exposition")<Exposition, {
  /** the `Content-Type` of the rendering */
  readonly contentType: string
  readonly render: Effect.Effect<string>
}>() {}
