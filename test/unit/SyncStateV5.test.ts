/**
 * `syncAfter` on litestream v0.5 (packages/core/src/internal/syncStateV5.ts), over records of a
 * real 0.5.17 run (`replicate -config` at debug level, 100 ms intervals, one row inserted at
 * about 41.60 s): the wait ends only once a database sync that began after the write ended and
 * the replica holds the TXID the database had after it; never on a sync that may have looked
 * at the WAL before the write.
 */
import { LitestreamEvent } from "@effect-litestream/core"
import { describe, expect, it } from "@effect/vitest"
import * as Option from "effect/Option"
import * as SyncStateV5 from "../../packages/core/src/internal/syncStateV5.js"

const line = (time: string, msg: string, fields: string) =>
  `{"time":"2026-12-01T12:26:${time}Z","level":"DEBUG","msg":"${msg}","system":"store","db":"app.db"${fields}}`

// from the 0.5.17 log (trimmed to the records that matter, verify lines included)
const LOG = [
  line("41.249392815", "replica sync", `,"replica":"file","txid":{"replica":"0000000000000001","db":"0000000000000001"}`),
  line("41.546263448", "sync", `,"txid":"0000000000000002","offset":16512`),
  line("41.645936246", "verify", `,"saltMatch":true,"prevWALOffset":12392`),
  line("41.646136646", "sync", `,"txid":"0000000000000002","offset":16512`),
  line("41.647098157", "db sync", `,"status":"ok"`),
  line("41.647177312", "replica sync", `,"replica":"file","txid":{"replica":"0000000000000001","db":"0000000000000002"}`),
  line("41.647694399", "ltx file uploaded", `,"replica":"file","level":0,"minTXID":"0000000000000002","maxTXID":"0000000000000002","size":191`),
  line("41.745563659", "sync", `,"txid":"0000000000000003","offset":20632`),
  line("41.749599450", "replica sync", `,"replica":"file","txid":{"replica":"0000000000000002","db":"0000000000000002"}`),
  line("41.846168768", "sync", `,"txid":"0000000000000003","offset":20632`),
  line("41.945600377", "sync", `,"txid":"0000000000000003","offset":20632`),
  line("41.949664394", "replica sync", `,"replica":"file","txid":{"replica":"0000000000000002","db":"0000000000000002"}`)
].map((l) => Option.getOrThrow(LitestreamEvent.parseRecord(l)))

const at = (time: string) => Date.parse(`2026-12-01T12:26:${time}Z`)

/** Where the wait ends: the index of the record and the TXID reached. */
const run = (after: number, records = LOG) => {
  let state = SyncStateV5.initial
  for (const [i, r] of records.entries()) {
    if (!SyncStateV5.isFor(r, "/data/app.db")) continue
    state = SyncStateV5.step(state, r, after)
    const done = SyncStateV5.reached(state)
    if (done !== undefined) return { index: i, txid: done }
  }
  return undefined
}

describe("internal/syncStateV5", () => {
  it("a write just before the database sync that copied it: done when the replica holds TXID 2 (its LTX file uploaded)", () => {
    // the 41.546 sync is logged after the write but may have looked at the WAL before it: the
    // 41.646 one began after, wrote TXID 2 (`db sync`), and the upload of TXID 2 ends the wait
    expect(run(at("41.500"))).toEqual({ index: 6, txid: 2n })
  })

  it("a write that ended after the 41.546 sync's record: that sync does not count, the next two do", () => {
    // 41.646 is the first after (it may have looked before), 41.745 the second (it began after
    // the write); the 41.846 sync shows it ended with the database at TXID 2 (`txid` 3 is the
    // next), which the replica holds since the upload before
    expect(run(at("41.600"))).toEqual({ index: 9, txid: 2n })
  })

  it("nothing written (the database stays at TXID 2): done at the sync that shows the earlier one ended, the replica already there", () => {
    expect(run(at("41.700"))).toEqual({ index: 10, txid: 2n })
  })

  it("records of another database, and records with no time after the write, never end the wait", () => {
    expect(run(at("41.960"))).toBeUndefined()
    expect(run(at("41.500"), LOG.map((r) => ({ ...r, attributes: { ...r.attributes, db: "other.db" } })))).toBeUndefined()
  })

  it("the replica behind the database: no end until it reaches the TXID (a replica sync's replica TXID counts too)", () => {
    const withoutUpload = LOG.filter((r) => r.message !== "ltx file uploaded")
    // the 41.749 replica sync reports the replica at TXID 2
    expect(run(at("41.500"), withoutUpload)).toEqual({ index: 7, txid: 2n })
  })

  it("replicaTxid reads both record kinds; isFor matches by file name", () => {
    expect(SyncStateV5.replicaTxid(LOG[0]!)).toBe(1n)
    expect(SyncStateV5.replicaTxid(LOG[6]!)).toBe(2n)
    expect(SyncStateV5.replicaTxid(LOG[1]!)).toBeUndefined()
    expect(SyncStateV5.isFor(LOG[0]!, "/data/app.db")).toBe(true)
    expect(SyncStateV5.isFor(LOG[0]!, "/data/xapp.db")).toBe(false)
  })

  it("hold / behind: the final judgement of a clean exit (the log shows the replica at the database's TXID, or why not)", () => {
    const fold = (records: ReadonlyArray<LitestreamEvent.LogRecord>) => records.reduce(SyncStateV5.hold, SyncStateV5.initialHeld)
    // the whole log: the database at TXID 2 (next 3), the replica at 2
    expect(fold(LOG)).toEqual({ db: 2n, replica: 2n, next: 3n })
    expect(SyncStateV5.behind(fold(LOG))).toBeUndefined()
    // cut after the `db sync` that wrote TXID 2, before its upload: behind
    expect(SyncStateV5.behind(fold(LOG.slice(0, 5)))).toBe(
      "the replica was last seen at TXID 0000000000000001, behind the database's 0000000000000002"
    )
    // no replica record at all (0.5.17 stuck in its S3 retries from the start)
    expect(SyncStateV5.behind(fold(LOG.filter((r) => r.message === "sync")))).toContain("never reported the replica's position")
  })

  it("TxidPosition: 16 hex digits, its value, its text", () => {
    const p = LitestreamEvent.txidPosition(42n)
    expect(p.txid).toBe("000000000000002a")
    expect(p.value).toBe(42n)
    expect(String(p)).toBe("txid 000000000000002a")
    expect(LitestreamEvent.isTxidPosition(p)).toBe(true)
    expect(LitestreamEvent.txidPosition("2A").txid).toBe("000000000000002a")
  })
})
