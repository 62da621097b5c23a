/**
 * litestream v0.5's replica layout and its restore plan, as plain functions over object listings
 * (no Effect, no I/O). There are no generations: every file is an LTX file named after the TXID
 * range it covers, at a compaction level from 0 (one file per sync) to 9 (snapshots):
 *
 * ```
 * ltx/<level: decimal>/<minTXID: 16 hex>-<maxTXID: 16 hex>.ltx      file:// replicas
 * <level: 4 hex>/<minTXID>-<maxTXID>.ltx                             S3 (and the other object stores)
 * ```
 *
 * The plan follows `litestream restore` of v0.5.17 (`CalcRestorePlan` in replica.go): the latest
 * snapshot at or before the target, then, from the highest level down, the file that reaches
 * furthest while starting at most one TXID past what the plan holds so far.
 *
 * @since 0.3.0
 */
import type { ObjectInfo } from "./LitestreamV3.js"

/**
 * A TXID as litestream prints it: 16 hex digits.
 *
 * @since 0.3.0
 */
export const hex16 = (n: number): string => n.toString(16).padStart(16, "0")

/**
 * A level as the S3 layout names it: 4 hex digits.
 *
 * @since 0.3.0
 */
export const hex4 = (n: number): string => n.toString(16).padStart(4, "0")

/** The level litestream keeps its snapshots at. */
export const SNAPSHOT_LEVEL = 9

/**
 * One LTX file of a replica.
 *
 * @since 0.3.0
 */
export interface LtxFile {
  readonly level: number
  readonly minTxid: number
  readonly maxTxid: number
  /** relative to the replica's root */
  readonly key: string
  readonly size: number
  /**
   * When litestream wrote it: the listing's modification time, which litestream sets from the
   * file's header timestamp (file mtime; S3 keeps it in metadata, the restore reads the header).
   */
  readonly createdAt: Date
}

const FILE_KEY = /^ltx\/([0-9])\/([0-9a-f]{16})-([0-9a-f]{16})\.ltx$/
const S3_KEY = /^([0-9a-f]{4})\/([0-9a-f]{16})-([0-9a-f]{16})\.ltx$/

/** A 16-hex-digit TXID, or undefined past 2^53 (no replica gets there: a TXID counts syncs). */
const txid = (hex: string): number | undefined => {
  const n = parseInt(hex, 16)
  return Number.isSafeInteger(n) ? n : undefined
}

/**
 * The LTX file a key names, in either layout, or undefined (litestream ignores other keys too).
 *
 * @since 0.3.0
 */
export const parseKey = (object: ObjectInfo): LtxFile | undefined => {
  const m = FILE_KEY.exec(object.key) ?? S3_KEY.exec(object.key)
  if (m === null) return undefined
  const level = parseInt(m[1]!, m[1]!.length === 4 ? 16 : 10)
  const minTxid = txid(m[2]!)
  const maxTxid = txid(m[3]!)
  if (level > SNAPSHOT_LEVEL || minTxid === undefined || maxTxid === undefined || minTxid === 0 || minTxid > maxTxid) {
    return undefined
  }
  return { level, minTxid, maxTxid, key: object.key, size: object.size, createdAt: object.lastModified }
}

/**
 * The key prefixes a v0.5 replica's files live under: `ltx/` (file) and `0000/` to `0009/` (S3).
 *
 * @since 0.3.0
 */
export const prefixes: ReadonlyArray<string> = ["ltx/", ...Array.from({ length: 10 }, (_, level) => `${hex4(level)}/`)]

/**
 * The LTX files among a replica's objects, by level, then TXID range (as litestream lists them).
 *
 * @since 0.3.0
 */
export const files = (objects: Iterable<ObjectInfo>): ReadonlyArray<LtxFile> => {
  const out: Array<LtxFile> = []
  for (const object of objects) {
    const file = parseKey(object)
    if (file !== undefined) out.push(file)
  }
  return out.sort((a, b) => a.level - b.level || a.minTxid - b.minTxid || a.maxTxid - b.maxTxid)
}

/**
 * The earliest and latest `createdAt` over every file, or undefined for no file.
 *
 * @since 0.3.0
 */
export const timeBounds = (all: ReadonlyArray<LtxFile>): { readonly createdAt: Date; readonly updatedAt: Date } | undefined => {
  if (all.length === 0) return undefined
  let min = Infinity
  let max = -Infinity
  for (const f of all) {
    min = Math.min(min, f.createdAt.getTime())
    max = Math.max(max, f.createdAt.getTime())
  }
  return { createdAt: new Date(min), updatedAt: new Date(max) }
}

/**
 * Which state to restore: the latest, the state after transaction `txid`, or the last state
 * written before `timestamp`.
 *
 * @since 0.3.0
 */
export interface Target {
  readonly txid?: number | undefined
  readonly timestamp?: Date | undefined
}

/**
 * What to apply, in order: the files' pages, each over the previous, the database ending at
 * the last file's commit.
 *
 * @since 0.3.0
 */
export interface Plan {
  readonly files: ReadonlyArray<LtxFile>
  /** the TXID the database is at once the plan is applied */
  readonly txid: number
}

/**
 * Why no plan: nothing to restore for the target (`NoBackups`, as litestream's "no matching
 * backup files available"), a target that makes no sense, or a hole in the TXID chain.
 *
 * @since 0.3.0
 */
export type PlanProblem =
  | { readonly _tag: "NoBackups"; readonly reason: string }
  | { readonly _tag: "BadTarget"; readonly reason: string }
  | { readonly _tag: "Gap"; readonly reason: string; readonly after: number; readonly next: LtxFile }

/** Whether `next` is a better next file than `current` (upstream's `restoreCandidateBetter`). */
const better = (current: LtxFile, next: LtxFile): boolean => {
  if (next.maxTxid !== current.maxTxid) return next.maxTxid > current.maxTxid
  if (next.minTxid !== current.minTxid) return next.minTxid < current.minTxid
  if (next.level !== current.level) return next.level > current.level
  return next.createdAt.getTime() < current.createdAt.getTime()
}

/**
 * The restore plan, as litestream v0.5.17 computes it. A target `txid` past what the replica
 * holds, or a `timestamp` outside the replica's time span, gives `NoBackups`; the latest state
 * with a later file beyond a hole in the chain gives `Gap`.
 *
 * @since 0.3.0
 */
export const plan = (all: ReadonlyArray<LtxFile>, target: Target = {}): Plan | PlanProblem => {
  const { timestamp, txid: wanted } = target
  if (wanted !== undefined && timestamp !== undefined) {
    return { _tag: "BadTarget", reason: "give a txid or a timestamp, not both" }
  }
  if (wanted !== undefined && (!Number.isSafeInteger(wanted) || wanted < 1)) {
    return { _tag: "BadTarget", reason: `txid ${wanted} is not a transaction ID (a whole number from 1)` }
  }
  const bounds = timeBounds(all)
  if (bounds === undefined) return { _tag: "NoBackups", reason: "the replica holds no LTX file" }
  const at = timestamp?.getTime()
  if (at !== undefined && (at < bounds.createdAt.getTime() || at > bounds.updatedAt.getTime())) {
    return {
      _tag: "NoBackups",
      reason: `${timestamp!.toISOString()} is outside the replica's span (${bounds.createdAt.toISOString()} to ${bounds.updatedAt.toISOString()})`
    }
  }
  const eligible = (f: LtxFile) =>
    (wanted === undefined || f.maxTxid <= wanted) && (at === undefined || f.createdAt.getTime() < at)

  const plan: Array<LtxFile> = []
  for (const f of all) {
    if (f.level === SNAPSHOT_LEVEL && eligible(f)) {
      if (plan.length === 0) plan.push(f)
      else plan[0] = f
    }
  }
  let current = plan[0]?.maxTxid ?? 0
  const done = () => wanted !== undefined && current >= wanted

  // one cursor per level, highest first, over its files in TXID order
  const cursors = Array.from({ length: SNAPSHOT_LEVEL }, (_, i) => SNAPSHOT_LEVEL - 1 - i).map((level) => ({
    files: all.filter((f) => f.level === level),
    at: 0,
    candidate: undefined as LtxFile | undefined
  }))
  while (!done()) {
    let next: (typeof cursors)[number] | undefined
    for (const cursor of cursors) {
      if (cursor.candidate !== undefined && cursor.candidate.maxTxid <= current) cursor.candidate = undefined
      // take in every file that starts at most one past `current`; keep the best eligible one
      while (cursor.at < cursor.files.length && cursor.files[cursor.at]!.minTxid <= current + 1) {
        const f = cursor.files[cursor.at++]!
        if (f.maxTxid <= current || !eligible(f)) continue
        if (cursor.candidate === undefined || better(cursor.candidate, f)) cursor.candidate = f
      }
      if (cursor.candidate !== undefined && (next === undefined || better(next.candidate!, cursor.candidate))) next = cursor
    }
    if (next === undefined) break
    plan.push(next.candidate!)
    current = next.candidate!.maxTxid
    next.candidate = undefined
  }

  if (plan.length > 0 && wanted === undefined && at === undefined) {
    for (const cursor of cursors) {
      const f = cursor.files[cursor.at]
      if (f !== undefined && f.minTxid > current + 1) {
        return {
          _tag: "Gap",
          after: current,
          next: f,
          reason: `the files reach TXID ${hex16(current)}, but ${f.key} starts at ${hex16(f.minTxid)}: the TXIDs between are missing`
        }
      }
    }
  }
  if (plan.length === 0) {
    return {
      _tag: "NoBackups",
      reason: wanted !== undefined
        ? `no file chain from a snapshot reaches TXID ${hex16(wanted)}`
        : at !== undefined
        ? `no file chain from a snapshot was written before ${timestamp!.toISOString()}`
        : "no file chain starts at a snapshot or at TXID 1"
    }
  }
  if (wanted !== undefined && current < wanted) {
    return { _tag: "NoBackups", reason: `the replica's files reach TXID ${hex16(current)}, not ${hex16(wanted)}` }
  }
  return { files: plan, txid: current }
}

/**
 * Whether `plan` gave a plan.
 *
 * @since 0.3.0
 */
export const isPlan = (u: Plan | PlanProblem): u is Plan => !("_tag" in u)

