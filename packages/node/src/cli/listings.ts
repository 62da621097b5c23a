/**
 * `effect-litestream generations`, `snapshots`, `wal` (litestream v0.3) and `ltx` (v0.5): what the replica holds.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { LitestreamConfig, LitestreamError, LtxReplica, NativeReplicaListing, ReplicaListing, ReplicaStore } from "@effect-litestream/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as CliOptions from "./CliOptions.js"
import * as Help from "./Help.js"
import * as LazyHttpClient from "../LazyHttpClient.js"
import { formatBytes, formatMillis, table } from "./Output.js"
import * as Run from "./Run.js"

const iso = (d: Date) => d.toISOString()

interface Listing<A> {
  readonly kind: "generations" | "snapshots" | "wal"
  readonly what: string
  readonly header: ReadonlyArray<string>
  readonly cells: (a: A) => ReadonlyArray<string>
  readonly fields: (a: A) => Record<string, unknown>
  readonly list: (
    service: ReplicaListing.ReplicaListing["Type"]
  ) => (options: ReplicaListing.ListingOptions) => Effect.Effect<ReadonlyArray<A>, ReplicaListing.ListingError>
}

const make = <A>(
  listing: Listing<A>,
  paragraphs: ReadonlyArray<string>,
  examples: ReadonlyArray<readonly [string, string]>
) =>
  Command.make(listing.kind, {
    settings: CliOptions.settings,
    json: CliOptions.json,
    database: CliOptions.database,
    native: Options.boolean("native").pipe(
      Options.withDescription(
        "List without litestream: read the replica's objects (litestream v0.3, file:// or s3://) in this process. Same rows; times keep their milliseconds."
      )
    ),
    timeout: CliOptions.duration("timeout", "Give up (and stop litestream) after this long; default 1m.")
  }, (o) =>
    Run.run(listing.kind, o, (out) =>
      Effect.gen(function*() {
        const config = yield* LitestreamConfig.LitestreamConfig
        // the HTTP client is loaded only when the native listing makes a request (S3)
        const service = o.native
          ? yield* NativeReplicaListing.make.pipe(Effect.provide(LazyHttpClient.layer))
          : yield* ReplicaListing.ReplicaListing
        const replica = Option.match(o.database, {
          onNone: () => config.replica.url,
          onSome: (db) => `${config.replica.url.replace(/\/+$/, "")}/${db}`
        })
        yield* out.progress(`listing the ${listing.what} at ${replica}`, { replica })
        const started = Date.now()
        const rows = yield* listing.list(service)({
          database: Option.getOrUndefined(o.database),
          timeout: Option.getOrUndefined(o.timeout)
        })
        const took = Date.now() - started
        yield* Effect.forEach(rows, (row) => out.row(listing.fields(row)), { discard: true })
        if (rows.length > 0) yield* out.lines(table(listing.header, rows.map(listing.cells)))
        yield* out.result(
          { outcome: "Listed", kind: listing.kind, replica, count: rows.length, durationMs: took },
          [`${rows.length} ${listing.what} at ${replica} (${formatMillis(took)})`]
        )
      }))).pipe(Command.withDescription(Help.description(paragraphs, examples)))

/**
 * @since 0.1.0
 */
export const generations = make<ReplicaListing.Generation>({
  kind: "generations",
  what: "generations",
  header: ["GENERATION", "START", "END", "LAG"],
  cells: (g) => [g.generation, iso(g.start), iso(g.end), g.lag],
  fields: (g) => ({ kind: "generation", generation: g.generation, start: g.start, end: g.end, lag: g.lag, replica: g.replica }),
  list: (s) => s.generations
}, [
  "List the generations of the replica: each is a continuous run of snapshots and WAL segments; litestream starts a new one when it loses track of the database (a restore, a restart after changes it did not see)."
], [
  ["effect-litestream generations", "the generations at REPLICA_URL"],
  ["effect-litestream generations --json", "one JSON object per generation, then the result"]
])

/**
 * @since 0.1.0
 */
export const snapshots = make<ReplicaListing.Snapshot>({
  kind: "snapshots",
  what: "snapshots",
  header: ["GENERATION", "INDEX", "SIZE", "CREATED"],
  cells: (s) => [s.generation, String(s.index), formatBytes(s.size), iso(s.created)],
  fields: (s) => ({ kind: "snapshot", generation: s.generation, index: s.index, size: s.size, created: s.created, replica: s.replica }),
  list: (s) => s.snapshots
}, [
  "List the snapshots of the replica: full copies of the database, from which restore starts before it replays WAL segments."
], [
  ["effect-litestream snapshots", "the snapshots at REPLICA_URL"],
  ["effect-litestream snapshots --database orders.db --json", "the snapshots of one database of a multi-database replication"]
])

/**
 * @since 0.1.0
 */
export const wal = make<ReplicaListing.WalSegment>({
  kind: "wal",
  what: "WAL segments",
  header: ["GENERATION", "INDEX", "OFFSET", "SIZE", "CREATED"],
  cells: (w) => [w.generation, String(w.index), String(w.offset), formatBytes(w.size), iso(w.created)],
  fields: (w) => ({
    kind: "wal",
    generation: w.generation,
    index: w.index,
    offset: w.offset,
    size: w.size,
    created: w.created,
    replica: w.replica
  }),
  list: (s) => s.wal
}, [
  "List the WAL segments of the replica: the changes after each snapshot; restore --index N replays them up to index N."
], [
  ["effect-litestream wal", "the WAL segments at REPLICA_URL"],
  ["effect-litestream wal --json | jq -s 'map(select(.type == \"row\")) | length'", "count them"]
])

/**
 * `effect-litestream ltx`: the LTX files of a litestream v0.5 replica, read in this process
 * (litestream v0.3.13, the bundled binary, has no such command).
 *
 * @since 0.3.0
 */
export const ltx = Command.make("ltx", {
  settings: CliOptions.settings,
  json: CliOptions.json,
  database: CliOptions.database,
  native: Options.boolean("native").pipe(
    Options.withDescription("Read the replica's objects in this process (the only way this command lists; accepted for symmetry with generations/snapshots/wal).")
  ),
  level: Options.integer("level").pipe(
    Options.withDescription("Only this compaction level (0-9; 9 holds the snapshots). Default: every level."),
    Options.optional
  ),
  timeout: CliOptions.duration("timeout", "Give up after this long; default 1m.")
}, (o) =>
  Run.run("ltx", o, (out) =>
    Effect.gen(function*() {
      const base = yield* LitestreamConfig.LitestreamConfig
      const config = Option.isSome(o.database) ? yield* LitestreamConfig.forDatabase(base, o.database.value) : base
      const replica = config.replica.url
      yield* out.progress(`listing the LTX files at ${replica}`, { replica })
      const started = Date.now()
      const timeout = Option.getOrElse(o.timeout, () => Duration.minutes(1))
      const rows = yield* Effect.flatMap(ReplicaStore.make(config), (store) =>
        LtxReplica.list(store, { level: Option.getOrUndefined(o.level) })).pipe(
          // the HTTP client is loaded only when a request is made (S3)
          Effect.provide(LazyHttpClient.layer),
          Effect.timeoutFail({ duration: timeout, onTimeout: () => new LitestreamError.LitestreamTimeout({ operation: "list", timeout }) })
        )
      const took = Date.now() - started
      yield* Effect.forEach(rows, (r) =>
        out.row({
          kind: "ltx",
          level: r.level,
          minTxid: r.minTxid,
          maxTxid: r.maxTxid,
          size: r.size,
          created: r.created,
          key: r.key,
          replica
        }), { discard: true })
      if (rows.length > 0) {
        yield* out.lines(
          table(["LEVEL", "MIN_TXID", "MAX_TXID", "SIZE", "CREATED"], rows.map((r) => [String(r.level), r.minTxid, r.maxTxid, formatBytes(r.size), iso(r.created)]))
        )
      }
      yield* out.result(
        { outcome: "Listed", kind: "ltx", replica, count: rows.length, durationMs: took },
        [`${rows.length} LTX files at ${replica} (${formatMillis(took)})`]
      )
    }))).pipe(Command.withDescription(Help.description([
      "List the LTX files of a litestream v0.5 replica by level (0: one per sync; 1-8: compactions; 9: snapshots), with their TXID ranges, sizes and times, read natively (file:// or s3://)."
    ], [
      ["effect-litestream ltx --native", "every LTX file at REPLICA_URL"],
      ["effect-litestream ltx --native --level 9 --json", "the snapshots, one JSON object each"]
    ])))
