/**
 * litestream v0.3's replica layout and its restore plan, as plain functions over object listings
 * (no Effect, no I/O):
 *
 * ```
 * generations/<generation: 16 hex>/snapshots/<index: 8 hex>.snapshot.lz4     the whole database
 * generations/<generation>/wal/<index: 8 hex>_<offset: 8 hex>.wal.lz4         raw WAL bytes
 * ```
 *
 * The plan follows `litestream restore` of v0.3.13 (`Replica.CalcRestoreTarget`, `Restore`): times
 * are the objects' modification times (S3 LastModified, file mtime).
 *
 * @since 0.2.0
 */

/**
 * An object of a replica, as a store lists it.
 *
 * @since 0.2.0
 */
export interface ObjectInfo {
  /** relative to the replica's root, `/`-separated */
  readonly key: string
  readonly size: number
  readonly lastModified: Date
}

/**
 * A snapshot: the whole database at the start of WAL index `index`, one LZ4 frame.
 *
 * @since 0.2.0
 */
export interface Snapshot {
  readonly generation: string
  readonly index: number
  readonly key: string
  readonly size: number
  readonly createdAt: Date
}

/**
 * A WAL segment: the WAL bytes of index `index` from byte `offset` on, LZ4 frames.
 *
 * @since 0.2.0
 */
export interface WalSegment {
  readonly generation: string
  readonly index: number
  readonly offset: number
  readonly key: string
  readonly size: number
  readonly createdAt: Date
}

/**
 * One generation: its snapshots by index, its WAL segments by index then offset.
 *
 * @since 0.2.0
 */
export interface Generation {
  readonly name: string
  readonly snapshots: ReadonlyArray<Snapshot>
  readonly segments: ReadonlyArray<WalSegment>
  /** the earliest and latest modification time of its objects */
  readonly createdAt: Date
  readonly updatedAt: Date
}

const GENERATION = /^[0-9a-f]{16}$/
const SNAPSHOT = /^generations\/([0-9a-f]{16})\/snapshots\/([0-9a-f]{8})\.snapshot\.lz4$/
const SEGMENT = /^generations\/([0-9a-f]{16})\/wal\/([0-9a-f]{8})_([0-9a-f]{8})\.wal\.lz4$/

/**
 * What a key is in the layout, if anything (litestream ignores everything else too).
 *
 * @since 0.2.0
 */
export const parseKey = (
  object: ObjectInfo
): { readonly _tag: "Snapshot"; readonly snapshot: Snapshot } | { readonly _tag: "WalSegment"; readonly segment: WalSegment } | undefined => {
  const s = SNAPSHOT.exec(object.key)
  if (s !== null) {
    return {
      _tag: "Snapshot",
      snapshot: { generation: s[1]!, index: parseInt(s[2]!, 16), key: object.key, size: object.size, createdAt: object.lastModified }
    }
  }
  const w = SEGMENT.exec(object.key)
  if (w !== null) {
    return {
      _tag: "WalSegment",
      segment: {
        generation: w[1]!,
        index: parseInt(w[2]!, 16),
        offset: parseInt(w[3]!, 16),
        key: object.key,
        size: object.size,
        createdAt: object.lastModified
      }
    }
  }
  return undefined
}

/**
 * The generations of a replica from its objects, sorted by name (as litestream lists them).
 *
 * @since 0.2.0
 */
export const generations = (objects: Iterable<ObjectInfo>): ReadonlyArray<Generation> => {
  const byName = new Map<string, { snapshots: Array<Snapshot>; segments: Array<WalSegment> }>()
  const entry = (name: string) => {
    let e = byName.get(name)
    if (e === undefined) byName.set(name, e = { snapshots: [], segments: [] })
    return e
  }
  for (const object of objects) {
    const parsed = parseKey(object)
    if (parsed?._tag === "Snapshot") entry(parsed.snapshot.generation).snapshots.push(parsed.snapshot)
    else if (parsed?._tag === "WalSegment") entry(parsed.segment.generation).segments.push(parsed.segment)
  }
  return [...byName.entries()].filter(([name]) => GENERATION.test(name)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(
    ([name, { segments, snapshots }]) => {
      snapshots.sort((a, b) => a.index - b.index)
      segments.sort((a, b) => a.index - b.index || a.offset - b.offset)
      const times = [...snapshots, ...segments].map((o) => o.createdAt.getTime())
      return {
        name,
        snapshots,
        segments,
        createdAt: new Date(Math.min(...times)),
        updatedAt: new Date(Math.max(...times))
      }
    }
  )
}

/**
 * Where to restore to: the latest state, or a point given by time, or by generation and index.
 *
 * @since 0.2.0
 */
export interface Target {
  readonly generation?: string | undefined
  /** the last WAL index to apply; needs `generation` (as litestream's `-index`) */
  readonly index?: number | undefined
  readonly timestamp?: Date | undefined
}

/**
 * What to read, in order: one snapshot, then the WAL segments of each index from the
 * snapshot's index on, each index starting at offset 0.
 *
 * @since 0.2.0
 */
export interface Plan {
  readonly generation: string
  readonly snapshot: Snapshot
  readonly indexes: ReadonlyArray<{ readonly index: number; readonly segments: ReadonlyArray<WalSegment> }>
}

/**
 * Why no plan: the replica is empty, or the target cannot be restored from what it holds.
 *
 * @since 0.2.0
 */
export type PlanProblem =
  | { readonly _tag: "NoBackups"; readonly reason: string }
  | { readonly _tag: "BadTarget"; readonly reason: string }
  | {
    readonly _tag: "Incomplete"
    /** what the layout lacks: the generation's snapshot, a whole WAL index, or an index's first segment */
    readonly missing: "Snapshot" | "WalIndex" | "FirstSegment"
    readonly reason: string
  }

/**
 * The restore plan, as litestream v0.3.13 computes it: the generation holding `timestamp` (or
 * the one asked for) with the latest update; its latest snapshot at or before the target; then
 * every WAL segment up to the target, each index present and starting at offset 0, offsets
 * ascending. (Whether the offsets are contiguous is known only once the segments are
 * decompressed: the restore checks it.)
 *
 * @since 0.2.0
 */
export const plan = (all: ReadonlyArray<Generation>, target: Target = {}): Plan | PlanProblem => {
  if (target.index !== undefined && target.generation === undefined) {
    return { _tag: "BadTarget", reason: "an index needs a generation (restore up to an index of one generation)" }
  }
  if (target.index !== undefined && target.timestamp !== undefined) {
    return { _tag: "BadTarget", reason: "give an index or a timestamp, not both" }
  }
  const at = target.timestamp?.getTime()
  let chosen: Generation | undefined
  for (const g of all) {
    if (target.generation !== undefined && g.name !== target.generation) continue
    if (at !== undefined && (at < g.createdAt.getTime() || at > g.updatedAt.getTime())) continue
    if (chosen === undefined || g.updatedAt.getTime() > chosen.updatedAt.getTime()) chosen = g
  }
  if (chosen === undefined) {
    if (target.generation !== undefined && !all.some((g) => g.name === target.generation)) {
      return { _tag: "NoBackups", reason: `the replica has no generation ${target.generation}` }
    }
    return {
      _tag: "NoBackups",
      reason: at === undefined ? "the replica holds no generation" : `no generation holds ${new Date(at).toISOString()}`
    }
  }
  // the snapshot: by index, the highest at or below it; by time, the newest at or before it
  let snapshot: Snapshot | undefined
  for (const s of chosen.snapshots) {
    if (target.index !== undefined) {
      if (s.index <= target.index) snapshot = s
    } else if (at === undefined || s.createdAt.getTime() <= at) {
      if (snapshot === undefined || s.createdAt.getTime() > snapshot.createdAt.getTime()) snapshot = s
    }
  }
  if (snapshot === undefined) {
    return { _tag: "Incomplete", missing: "Snapshot", reason: `generation ${chosen.name} has no snapshot at or before the target` }
  }
  // segments in order, up to the first past the target
  const byIndex = new Map<number, Array<WalSegment>>()
  for (const seg of chosen.segments) {
    if (at !== undefined && seg.createdAt.getTime() > at) break
    if (target.index !== undefined && seg.index > target.index) break
    const list = byIndex.get(seg.index) ?? []
    if (list.length === 0 && seg.offset !== 0) {
      return { _tag: "Incomplete", missing: "FirstSegment", reason: `WAL index ${hex8(seg.index)} of generation ${chosen.name} lacks its first segment (offset 0)` }
    }
    list.push(seg)
    byIndex.set(seg.index, list)
  }
  const max = Math.max(-1, ...byIndex.keys())
  const indexes: Array<Plan["indexes"][number]> = []
  for (let index = snapshot.index; index <= max; index++) {
    const segments = byIndex.get(index)
    if (segments === undefined) {
      return { _tag: "Incomplete", missing: "WalIndex", reason: `WAL index ${hex8(index)} of generation ${chosen.name} is missing` }
    }
    indexes.push({ index, segments })
  }
  return { generation: chosen.name, snapshot, indexes }
}

/**
 * Whether `plan` gave a plan.
 *
 * @since 0.2.0
 */
export const isPlan = (u: Plan | PlanProblem): u is Plan => !("_tag" in u)

/**
 * `00000000`-style hex of an index or offset.
 *
 * @since 0.2.0
 */
export const hex8 = (n: number): string => n.toString(16).padStart(8, "0")
