/**
 * Which litestream line wrote a replica: v0.3 (`generations/`) or v0.5 (LTX files), found at
 * the replica itself. When both are there (a replica upgraded in place), the choice follows
 * litestream 0.5.17's `Replica.Restore`: with a TXID, v0.5; with a timestamp, the line whose
 * newest snapshot before it is newer; else the line written to last.
 *
 * @since 0.3.0
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as V3 from "./format/LitestreamV3.js"
import * as V5 from "./format/LitestreamV5.js"
import * as LtxReplica from "./LtxReplica.js"
import type * as ReplicaStore from "./ReplicaStore.js"
import type { ReplicaStoreError } from "./ReplicaStoreError.js"

/**
 * A replica format: `v3` (litestream 0.3: generations, snapshots, WAL segments) or `v5`
 * (litestream 0.5: LTX files).
 *
 * @since 0.3.0
 */
export type Format = "v3" | "v5"

/**
 * What the choice depends on: the restore target, and a format forced by the caller.
 *
 * @since 0.3.0
 */
export interface DetectOptions {
  readonly format?: Format | undefined
  readonly txid?: number | undefined
  readonly timestamp?: Date | undefined
  readonly generation?: string | undefined
  readonly index?: number | undefined
}

/**
 * The choice on listings already made (pure): `undefined` when the replica holds neither.
 *
 * @since 0.3.0
 */
export const choose = (
  generations: ReadonlyArray<V3.Generation>,
  files: ReadonlyArray<V5.LtxFile>,
  options: DetectOptions = {}
): Format | undefined => {
  if (options.format !== undefined) return options.format
  const hasV3 = generations.some((g) => g.snapshots.length > 0 || g.segments.length > 0)
  const hasV5 = files.length > 0
  if (!hasV3) return hasV5 ? "v5" : undefined
  if (!hasV5) return "v3"
  if (options.txid !== undefined) return "v5"
  // generation and index name v0.3 generations
  if (options.generation !== undefined || options.index !== undefined) return "v3"
  const at = options.timestamp?.getTime()
  if (at !== undefined) {
    let v3: number | undefined
    for (const g of generations) {
      for (const s of g.snapshots) {
        const t = s.createdAt.getTime()
        if (t <= at && (v3 === undefined || t > v3)) v3 = t
      }
    }
    let v5: number | undefined
    for (const f of files) {
      const t = f.createdAt.getTime()
      if (f.level === V5.SNAPSHOT_LEVEL && t < at && (v5 === undefined || t > v5)) v5 = t
    }
    return v3 !== undefined && (v5 === undefined || v3 > v5) ? "v3" : "v5"
  }
  const v3Updated = Math.max(...generations.map((g) => g.updatedAt.getTime()))
  const v5Updated = V5.timeBounds(files)!.updatedAt.getTime()
  return v3Updated > v5Updated ? "v3" : "v5"
}

/**
 * What `detect` found: the format (`undefined` when the replica holds no backup of either line)
 * and the LTX files it listed on the way (none when the format was forced), for the v0.5 plan.
 *
 * @since 0.3.0
 */
export interface Detected {
  readonly format: Format | undefined
  readonly ltx: ReadonlyArray<V5.LtxFile> | undefined
  /** the objects under `generations/` it listed on the way (none when the format was forced), for the v0.3 plan */
  readonly generations?: ReadonlyArray<ReplicaStore.ObjectInfo> | undefined
}

/**
 * The format of the replica behind `store` for a restore with `options` (one listing of each
 * layout).
 *
 * @since 0.3.0
 */
export const detect = (
  store: ReplicaStore.Service,
  options: DetectOptions = {}
): Effect.Effect<Detected, ReplicaStoreError> =>
  options.format !== undefined
    ? Effect.succeed({ format: options.format, ltx: undefined })
    : Effect.all([
      Stream.runCollect(store.list("generations/")).pipe(Effect.map(Chunk.toReadonlyArray)),
      LtxReplica.files(store)
    ], { concurrency: 2 }).pipe(Effect.map(([objects, files]) => ({
      format: choose(V3.generations(objects), files, options),
      ltx: files,
      generations: objects
    })))
