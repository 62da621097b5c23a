/**
 * Where one database's replication stands, followed from litestream's debug log. The generated
 * config runs litestream at debug level so that these records exist; they are never needed by
 * users, who see them only when they ask for `logLevel: "debug"`.
 *
 * The records, per database, as litestream v0.3.13 writes them:
 * - the database's own sync (every monitor interval), holding the database lock:
 *   `sync` … `copy-shadow: ok` (once per WAL frame copied to the shadow WAL) … `sync: ok`.
 *   A sync that copied frames (or started a generation) wakes the replica up.
 * - the replica's sync (at most every sync interval, only after such a wake-up):
 *   `replica sync` with the database position it copies up to, then `wal segment written`
 *   (position = where the segment starts, `sz` = its uncompressed length) until it got there.
 * @internal
 */
import * as Option from "effect/Option"
import * as LitestreamEvent from "../LitestreamEvent.js"

/** @internal */
export interface DbSync {
  /** the database position of the last `replica sync` */
  readonly target: Option.Option<LitestreamEvent.Position>
  /** the furthest position the replica is known to hold */
  readonly reached: Option.Option<LitestreamEvent.Position>
  /** the database sync in progress copied frames (or started a generation) */
  readonly copying: boolean
  /** a database sync changed the shadow WAL and no replica sync has started since */
  readonly awaiting: boolean
  /** caught up, and a database sync that found nothing new ran since: nothing is in flight */
  readonly idle: boolean
}

/** @internal */
export const initial: DbSync = {
  target: Option.none(),
  reached: Option.none(),
  copying: false,
  awaiting: false,
  idle: false
}

/**
 * Whether `reached` holds everything up to `target`: same generation, and not behind it.
 * @internal
 */
export const reaches = (reached: LitestreamEvent.Position, target: LitestreamEvent.Position): boolean =>
  reached.generation === target.generation &&
  (reached.index > target.index || (reached.index === target.index && reached.offset >= target.offset))

/**
 * The replica holds everything the database's shadow WAL holds, as far as the log tells.
 * @internal
 */
export const caughtUp = (s: DbSync): boolean =>
  !s.copying && !s.awaiting &&
  Option.exists(s.target, (t) => Option.exists(s.reached, (r) => reaches(r, t)))

/**
 * Whether a record belongs to the database `db` (its `db` attribute).
 * @internal
 */
export const isFor = (record: LitestreamEvent.LogRecord, db: string): boolean => record.attributes.db === db

/**
 * The database's own sync (not a replica's): `sync`, `sync: ok` carry no `replica` attribute.
 * @internal
 */
export const isDbSync = (record: LitestreamEvent.LogRecord, message: "sync" | "sync: ok"): boolean =>
  record.message === message && record.attributes.replica === undefined

/**
 * The end of a WAL segment: where it starts plus its uncompressed length (the WAL header
 * included at offset 0, which the offsets count as well).
 * @internal
 */
export const segmentEnd = (
  position: Option.Option<LitestreamEvent.Position>,
  size: number | undefined
): Option.Option<LitestreamEvent.Position> =>
  Option.map(position, (p) => new LitestreamEvent.Position({ ...p, offset: p.offset + (size ?? 0) }))

const advance = (
  current: Option.Option<LitestreamEvent.Position>,
  next: Option.Option<LitestreamEvent.Position>
): Option.Option<LitestreamEvent.Position> =>
  Option.match(next, {
    onNone: () => current,
    onSome: (n) =>
      Option.match(current, {
        onNone: () => next,
        // a new generation replaces the old one; within one, the replica only moves forward
        onSome: (c) => c.generation !== n.generation || reaches(n, c) ? next : current
      })
  })

/**
 * Folds one record of this database into its state.
 * @internal
 */
export const reduce = (s: DbSync, record: LitestreamEvent.LogRecord): DbSync => {
  const a = record.attributes
  switch (record.message) {
    case "sync":
      return a.replica === undefined ? { ...s, copying: false } : s
    case "copy-shadow: ok":
    case "sync: new generation":
      return { ...s, copying: true, idle: false }
    case "sync: ok": {
      if (a.replica !== undefined) return s
      if (s.copying) return { ...s, copying: false, awaiting: true, idle: false }
      const quiet = { ...s, copying: false }
      return { ...quiet, idle: caughtUp(quiet) }
    }
    case "replica sync":
      return { ...s, target: LitestreamEvent.parsePosition(a.position ?? ""), awaiting: false, idle: false }
    case "replica sync: calc new pos": {
      // the position read back from the store: what the replica really holds now
      const found = LitestreamEvent.parsePosition(a.position ?? "")
      return Option.isSome(found) ? { ...s, reached: found } : s
    }
    case "wal segment written": {
      const size = a.sz === undefined ? undefined : Number(a.sz)
      return {
        ...s,
        reached: advance(s.reached, segmentEnd(LitestreamEvent.parsePosition(a.position ?? ""), size))
      }
    }
    default:
      return s
  }
}

/**
 * The time of a record in epoch milliseconds, if it has one that parses (litestream's JSON
 * and logfmt logs carry RFC 3339 times with nanoseconds; they are truncated to milliseconds).
 * @internal
 */
export const timeOf = (record: LitestreamEvent.LogRecord): number | undefined => {
  if (record.time === undefined) return undefined
  const t = Date.parse(record.time)
  return Number.isNaN(t) ? undefined : t
}
