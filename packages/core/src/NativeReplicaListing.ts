/**
 * A `ReplicaListing` that needs no process: the generations, snapshots and WAL segments of a
 * litestream v0.3 replica, and the LTX files of a v0.5 one (`LtxReplica`), read from the object
 * listing itself (`ReplicaStore`), as the same typed rows litestream's `generations`,
 * `snapshots`, `wal` and `ltx` give. It reads whatever the replica holds, whichever line
 * wrote it: a listing of the other line's files is empty.
 *
 * Times carry the objects' own milliseconds, where litestream prints whole seconds. The lag is
 * how far the generation's last write is behind now, truncated and printed as litestream does
 * (litestream measures from the local database's last change when it is given a config file,
 * and from now when it is given a replica URL: the native listing always measures from now).
 *
 * @since 0.2.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as V3 from "./format/LitestreamV3.js"
import * as GoDuration from "./internal/goDuration.js"
import * as LitestreamConfig from "./LitestreamConfig.js"
import { LitestreamTimeout } from "./LitestreamError.js"
import * as LtxReplica from "./LtxReplica.js"
import {
  checkLevel,
  Generation,
  type ListingOptions,
  LtxFile,
  ReplicaListing,
  Snapshot,
  WalSegment
} from "./ReplicaListing.js"
import * as ReplicaStore from "./ReplicaStore.js"

/**
 * The rows of a replica's generations, from its parsed layout: what `litestream generations`
 * prints, the lag measured from `now`.
 *
 * @since 0.2.0
 */
export const generationRows = (
  replica: string,
  generations: ReadonlyArray<V3.Generation>,
  now: Date
): ReadonlyArray<Generation> =>
  generations.map((g) =>
    new Generation({
      replica,
      generation: g.name,
      lag: GoDuration.format(GoDuration.truncate(BigInt(now.getTime() - g.updatedAt.getTime()) * 1_000_000n)),
      start: g.createdAt,
      end: g.updatedAt
    })
  )

/**
 * The rows of `litestream snapshots`: by generation, then index.
 *
 * @since 0.2.0
 */
export const snapshotRows = (replica: string, generations: ReadonlyArray<V3.Generation>): ReadonlyArray<Snapshot> =>
  generations.flatMap((g) =>
    g.snapshots.map((s) => new Snapshot({ replica, generation: s.generation, index: s.index, size: s.size, created: s.createdAt }))
  )

/**
 * The rows of `litestream wal`: by generation, then index, then offset.
 *
 * @since 0.2.0
 */
export const walRows = (replica: string, generations: ReadonlyArray<V3.Generation>): ReadonlyArray<WalSegment> =>
  generations.flatMap((g) =>
    g.segments.map((s) =>
      new WalSegment({ replica, generation: s.generation, index: s.index, offset: s.offset, size: s.size, created: s.createdAt })
    )
  )

/**
 * Builds the native `ReplicaListing` from the settings, `FileSystem` and `HttpClient`.
 *
 * @since 0.2.0
 */
export const make = Effect.gen(function*() {
  const base = yield* LitestreamConfig.LitestreamConfig
  const context = yield* Effect.context<FileSystem.FileSystem | HttpClient.HttpClient>()

  // litestream names a replica with no name after its type
  const typeOf = (config: LitestreamConfig.Resolved) => (config.replica._tag === "File" ? "file" : "s3")

  const layout = (options: ListingOptions) =>
    Effect.gen(function*() {
      const config = options.database === undefined ? base : yield* LitestreamConfig.forDatabase(base, options.database)
      const store = yield* ReplicaStore.make(config)
      const objects = yield* Stream.runCollect(store.list("generations/"))
      return { config, generations: V3.generations(Chunk.toReadonlyArray(objects)) }
    })

  const timed = (kind: string, options: ListingOptions) => <A, E, R>(effect: Effect.Effect<A, E, R>) => {
    const timeout = Duration.decode(options.timeout ?? "1 minute")
    return effect.pipe(
      Effect.timeoutFail({ duration: timeout, onTimeout: () => new LitestreamTimeout({ operation: "list", timeout }) }),
      Effect.provide(context),
      Effect.withSpan(`ReplicaListing.${kind}`, { attributes: { native: true } })
    )
  }

  return ReplicaListing.of({
    generations: (options = {}) =>
      Effect.gen(function*() {
        const { config, generations } = yield* layout(options)
        return generationRows(typeOf(config), generations, new Date(yield* Clock.currentTimeMillis))
      }).pipe(timed("generations", options)),
    snapshots: (options = {}) =>
      layout(options).pipe(
        Effect.map(({ config, generations }) => snapshotRows(typeOf(config), generations)),
        timed("snapshots", options)
      ),
    wal: (options = {}) =>
      layout(options).pipe(
        Effect.map(({ config, generations }) => walRows(typeOf(config), generations)),
        timed("wal", options)
      ),
    ltx: (options = {}) =>
      Effect.gen(function*() {
        const level = yield* Either.match(checkLevel(options.level), { onLeft: Effect.fail, onRight: Effect.succeed })
        const config = options.database === undefined ? base : yield* LitestreamConfig.forDatabase(base, options.database)
        const rows = yield* LtxReplica.list(yield* ReplicaStore.make(config), { level: level === "all" ? undefined : level })
        return rows.map((r) => new LtxFile({ level: r.level, minTxid: r.minTxid, maxTxid: r.maxTxid, size: r.size, created: r.created }))
      }).pipe(timed("ltx", options))
  })
})

/**
 * The native `ReplicaListing`: the same tag, options and rows as `ReplicaListing.layer`,
 * without litestream. Reads `file://` and `s3://` replicas of litestream v0.3.
 *
 * @since 0.2.0
 */
export const layer: Layer.Layer<
  ReplicaListing,
  never,
  LitestreamConfig.LitestreamConfig | FileSystem.FileSystem | HttpClient.HttpClient
> = Layer.effect(ReplicaListing, make)
