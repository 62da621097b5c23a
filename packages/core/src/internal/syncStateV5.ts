/**
 * When a write has reached the replica, followed from litestream v0.5's debug log (0.5.17). Its
 * records name a database by file name (`db=app.db`) and speak in TXIDs:
 * - the database's sync (every monitor interval, one at a time under the database's lock):
 *   `sync` with `txid` = the next TXID (the database's + 1), then `db sync` (`status=ok`) when it
 *   wrote an LTX file of the new frames;
 * - the replica's sync (every sync interval, also when nothing changed): `replica sync` with
 *   `txid={"replica":…,"db":…}`, then `ltx file uploaded` (`maxTXID`) for each file it wrote.
 *
 * A `sync` record whose time is after the write may belong to a sync that looked at the WAL
 * just before it; the next one began after that one ended, so after the write: once it ended
 * (its `db sync`, or the `sync` after it), the database's TXID covers the write.
 * @internal
 */
import type * as LitestreamEvent from "../LitestreamEvent.js"
import { timeOf } from "./syncState.js"

const hex = (s: unknown): bigint | undefined =>
  typeof s === "string" && /^[0-9a-f]{16}$/.test(s) ? BigInt(`0x${s}`) : undefined

/**
 * Whether a v0.5 record is about the database at `path` (v0.5 names it by file name).
 * @internal
 */
export const isFor = (record: LitestreamEvent.LogRecord, path: string): boolean => {
  const db = record.attributes.db
  return db !== undefined && (db === path || path.endsWith(`/${db}`) || path.endsWith(`\\${db}`))
}

/**
 * The two TXIDs of a `replica sync` record: the replica's and the database's.
 * @internal
 */
export const txids = (record: LitestreamEvent.LogRecord): { readonly replica: bigint; readonly db: bigint } | undefined => {
  const raw = record.attributes.txid
  if (record.message !== "replica sync" || raw === undefined || !raw.startsWith("{")) return undefined
  try {
    const parsed = JSON.parse(raw) as { readonly replica?: unknown; readonly db?: unknown }
    const replica = hex(parsed.replica)
    const db = hex(parsed.db)
    return replica === undefined || db === undefined ? undefined : { replica, db }
  } catch {
    return undefined
  }
}

/**
 * The TXID the replica is known to hold after a record: a `replica sync`'s replica TXID, or an
 * uploaded LTX file's `maxTXID`.
 * @internal
 */
export const replicaTxid = (record: LitestreamEvent.LogRecord): bigint | undefined => {
  if (record.message === "ltx file uploaded") return hex(record.attributes.maxTXID)
  return txids(record)?.replica
}

/** The next TXID of a database `sync` record (not a replica's: those carry `replica`). */
const dbSyncNext = (record: LitestreamEvent.LogRecord): bigint | undefined =>
  record.message === "sync" && record.attributes.replica === undefined ? hex(record.attributes.txid) : undefined

/** @internal */
export type Phase =
  /** `seen` database syncs logged after the write so far (the second one began after it) */
  | { readonly _tag: "WaitSync"; readonly seen: number }
  /** the sync that began after the write runs; `next` is the TXID it would write */
  | { readonly _tag: "WaitSyncDone"; readonly next: bigint }
  /** the database's TXID covers the write: the replica must hold `need` */
  | { readonly _tag: "WaitReach"; readonly need: bigint }

/** @internal */
export interface Wait {
  readonly phase: Phase
  /** the highest TXID the replica was seen to hold */
  readonly replica: bigint | undefined
}

/** @internal */
export const initial: Wait = { phase: { _tag: "WaitSync", seen: 0 }, replica: undefined }

/**
 * Folds one record of the database into the wait of a write that ended at `after` (epoch ms).
 * @internal
 */
export const step = (w: Wait, record: LitestreamEvent.LogRecord, after: number): Wait => {
  const held = replicaTxid(record)
  const replica = held === undefined || (w.replica !== undefined && w.replica >= held) ? w.replica : held
  const next = dbSyncNext(record)
  const phase = w.phase
  switch (phase._tag) {
    case "WaitSync": {
      if (next === undefined) return { ...w, replica }
      // strictly later: litestream's time is truncated to the millisecond here
      const t = timeOf(record)
      if (t !== undefined && t <= after) return { ...w, replica }
      return { replica, phase: phase.seen === 0 ? { _tag: "WaitSync", seen: 1 } : { _tag: "WaitSyncDone", next } }
    }
    case "WaitSyncDone":
      // it wrote the LTX file `next`; or it found nothing new, and the next sync says so
      if (record.message === "db sync" && record.attributes.status === "ok") {
        return { replica, phase: { _tag: "WaitReach", need: phase.next } }
      }
      if (next !== undefined) return { replica, phase: { _tag: "WaitReach", need: next - 1n } }
      return { ...w, replica }
    case "WaitReach":
      return { ...w, replica }
  }
}

/**
 * The TXID the replica reached, once it holds what the write needs.
 * @internal
 */
export const reached = (w: Wait): bigint | undefined =>
  w.phase._tag === "WaitReach" && w.replica !== undefined && w.replica >= w.phase.need ? w.replica : undefined

/**
 * What litestream v0.5's log says one database and its replica hold: the database's TXID (from
 * its `sync` records, whose `txid` is the next one; a `db sync` wrote that next one; a
 * `replica sync`'s database TXID) and the replica's (uploads, `replica sync`).
 * @internal
 */
export interface Held {
  readonly db: bigint | undefined
  readonly replica: bigint | undefined
  /** the `txid` of the last database `sync`: the TXID its LTX file gets */
  readonly next: bigint | undefined
}

/** @internal */
export const initialHeld: Held = { db: undefined, replica: undefined, next: undefined }

const max = (a: bigint | undefined, b: bigint | undefined) => (a === undefined ? b : b === undefined || a >= b ? a : b)

/** @internal */
export const hold = (h: Held, record: LitestreamEvent.LogRecord): Held => {
  const next = dbSyncNext(record)
  if (next !== undefined) return { ...h, next, db: max(h.db, next - 1n) }
  if (record.message === "db sync" && record.attributes.status === "ok") return { ...h, db: max(h.db, h.next) }
  const t = txids(record)
  if (t !== undefined) return { ...h, db: max(h.db, t.db), replica: max(h.replica, t.replica) }
  const uploaded = replicaTxid(record)
  return uploaded === undefined ? h : { ...h, replica: max(h.replica, uploaded) }
}

/**
 * Why the log does not show the replica holding the database, if it does not.
 * @internal
 */
export const behind = (h: Held): string | undefined =>
  h.replica === undefined
    ? "litestream never reported the replica's position (its sync of the database never reached the replica)"
    : h.db !== undefined && h.replica < h.db
    ? `the replica was last seen at TXID ${h.replica.toString(16).padStart(16, "0")}, behind the database's ${h.db.toString(16).padStart(16, "0")}`
    : undefined
