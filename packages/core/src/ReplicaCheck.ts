/**
 * What litestream v0.3.13's restore does not check: it concatenates the WAL segments it finds and
 * lets SQLite checkpoint them, and SQLite silently stops at a frame that fails its checksum or at
 * a gap. A replica with a damaged WAL segment, or a segment missing in the middle of an index,
 * comes back as an older database, and litestream exits 0.
 *
 * `ReplicaCheck` reads the WAL segments of the same restore plan natively (the snapshot is left to
 * litestream, which refuses a damaged one) and fails with `ReplicaCorrupt` where SQLite would
 * stop. The litestream-based `Restore` runs it beside litestream, when the service is there,
 * before it publishes anything; `NodeLitestream` provides it.
 *
 * @since 0.3.0
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as V3 from "./format/LitestreamV3.js"
import * as SqliteWal from "./format/SqliteWal.js"
import * as internalObjectFrames from "./internal/objectFrames.js"
import type { Resolved } from "./LitestreamConfig.js"
import { ReplicaCorrupt } from "./LitestreamError.js"
import * as ReplicaStore from "./ReplicaStore.js"
import type { ReplicaStoreError } from "./ReplicaStoreError.js"

/**
 * What a check found: the plan's WAL segments all sound (how many, and their decoded bytes), or
 * nothing to check (not a replica the native side reads, no v0.3 plan: litestream decides).
 *
 * @since 0.3.0
 */
export type Checked =
  | { readonly _tag: "Sound"; readonly segments: number; readonly walBytes: number }
  | { readonly _tag: "NotChecked"; readonly reason: string }

/**
 * Which state the restore brings back (the options of `Restore.restore` that choose it).
 *
 * @since 0.3.0
 */
export type Target = V3.Target

/**
 * @since 0.3.0
 */
export class ReplicaCheck extends Context.Tag("@effect-litestream/core/ReplicaCheck")<ReplicaCheck, {
  readonly check: (config: Resolved, target: Target) => Effect.Effect<Checked, ReplicaCorrupt | ReplicaStoreError>
}>() {}

/**
 * Checks one WAL index: its segments contiguous from offset 0, every frame passing SQLite's
 * checks up to the end of the last segment (frames after the last commit are uncommitted, and
 * ignored by SQLite and litestream alike, but a bad frame before it would hide commits).
 */
const checkIndex = (
  store: ReplicaStore.Service,
  index: number,
  segments: ReadonlyArray<V3.WalSegment>
) =>
  Effect.gen(function*() {
    const corrupt = (key: string, fault: string, detail: string) =>
      new ReplicaCorrupt({ replica: store.replica, key, fault, detail })
    const reader = new SqliteWal.WalReader()
    let offset = 0
    for (const segment of segments) {
      if (segment.offset !== offset) {
        return yield* corrupt(
          segment.key,
          "MissingSegment",
          `WAL index ${V3.hex8(index)} continues at offset ${segment.offset}, but its segments so far end at ${offset}: a segment is missing, and litestream's restore would silently stop before it`
        )
      }
      yield* internalObjectFrames.decodedInThread(store, segment.key).pipe(
        Stream.runForEach((block) =>
          Effect.try({
            try: () => {
              offset += block.length
              reader.push(block)
            },
            catch: (e) => corrupt(segment.key, e instanceof SqliteWal.WalError ? e.reason : "Wal", String(e))
          })
        )
      )
      const stop = reader.stopped
      if (stop !== undefined) {
        return yield* corrupt(
          segment.key,
          `Wal${stop.reason}`,
          `frame ${stop.index} at byte ${stop.offset} of WAL index ${V3.hex8(index)} fails SQLite's ${
            stop.reason === "Checksum" ? "checksum" : stop.reason === "Salt" ? "salt" : "frame"
          } check: litestream's restore would silently stop there, an older database`
        )
      }
    }
    const stop = yield* Effect.try({
      try: () => reader.end(),
      catch: (e) => corrupt(segments.at(-1)!.key, e instanceof SqliteWal.WalError ? e.reason : "Wal", String(e))
    })
    if (stop !== undefined) {
      return yield* corrupt(segments.at(-1)!.key, `Wal${stop.reason}`, `WAL index ${V3.hex8(index)} ends inside frame ${stop.index}`)
    }
    return offset
  })

/**
 * Checks the WAL segments the restore of `target` would apply, from the replica's listing.
 *
 * @since 0.3.0
 */
export const check = (
  store: ReplicaStore.Service,
  target: Target
): Effect.Effect<Checked, ReplicaCorrupt | ReplicaStoreError> =>
  Effect.gen(function*() {
    const objects = Chunk.toReadonlyArray(yield* Stream.runCollect(store.list("generations/")))
    const plan = V3.plan(V3.generations(objects), target)
    if (!V3.isPlan(plan)) return { _tag: "NotChecked", reason: plan.reason } as const
    let segments = 0
    let walBytes = 0
    for (const { index, segments: of } of plan.indexes) {
      walBytes += yield* checkIndex(store, index, of)
      segments += of.length
    }
    return { _tag: "Sound", segments, walBytes } as const
  }).pipe(Effect.withSpan("ReplicaCheck.check"))

/**
 * Builds the service: `file://` replicas through `FileSystem`, `s3://` through `HttpClient`;
 * other schemes are not checked.
 *
 * @since 0.3.0
 */
export const make: Effect.Effect<
  Context.Tag.Service<ReplicaCheck>,
  never,
  FileSystem.FileSystem | HttpClient.HttpClient
> = Effect.map(
  Effect.context<FileSystem.FileSystem | HttpClient.HttpClient>(),
  (context) =>
    ReplicaCheck.of({
      check: (config, target) =>
        config.replica._tag === "Other"
          ? Effect.succeed({ _tag: "NotChecked", reason: `${config.replica.scheme}:// is not read natively` } as const)
          : ReplicaStore.make(config).pipe(
            Effect.orDie, // (only an "Other" scheme fails to make a store)
            Effect.flatMap((store) => check(store, target)),
            Effect.provide(context)
          )
    })
)

/**
 * @since 0.3.0
 */
export const layer: Layer.Layer<ReplicaCheck, never, FileSystem.FileSystem | HttpClient.HttpClient> = Layer.effect(
  ReplicaCheck,
  make
)
