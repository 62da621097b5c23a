/**
 * The v0.5 layout and restore plan (as litestream 0.5.17's CalcRestorePlan) on listings:
 * both key layouts, the snapshot at or before the target, the furthest-reaching file per step
 * across levels, txid and timestamp targets, gaps, and what gives no plan.
 */
import * as V5 from "@effect-litestream/core/format/LitestreamV5"
import { describe, expect, it } from "vitest"

const t0 = Date.UTC(2026, 0, 1)
const obj = (level: number, min: number, max: number, secs: number, s3 = false) => ({
  key: s3 ? `${V5.hex4(level)}/${V5.hex16(min)}-${V5.hex16(max)}.ltx` : `ltx/${level}/${V5.hex16(min)}-${V5.hex16(max)}.ltx`,
  size: 1000,
  lastModified: new Date(t0 + secs * 1000)
})
const keysOf = (p: V5.Plan | V5.PlanProblem) => V5.isPlan(p) ? p.files.map((f) => `${f.level}:${f.minTxid}-${f.maxTxid}`) : p._tag

describe("LitestreamV5 layout", () => {
  it("parses both layouts and ignores everything else", () => {
    expect(V5.parseKey(obj(0, 1, 2, 0))).toMatchObject({ level: 0, minTxid: 1, maxTxid: 2 })
    expect(V5.parseKey(obj(9, 1, 20, 0, true))).toMatchObject({ level: 9, minTxid: 1, maxTxid: 20 })
    for (const key of [
      "ltx/0/0000000000000001-0000000000000002.ltx.tmp",
      "ltx/10/0000000000000001-0000000000000002.ltx",
      "000a/0000000000000001-0000000000000002.ltx",
      "ltx/0/0000000000000003-0000000000000002.ltx",
      "ltx/0/0000000000000000-0000000000000002.ltx",
      "generations/0123456789abcdef/snapshots/00000000.snapshot.lz4"
    ]) expect(V5.parseKey({ key, size: 1, lastModified: new Date() })).toBeUndefined()
  })

  it("sorts by level then TXID", () => {
    const files = V5.files([obj(1, 1, 4, 0), obj(0, 3, 3, 0), obj(0, 1, 1, 0), obj(0, 2, 2, 0)])
    expect(files.map((f) => `${f.level}:${f.minTxid}`)).toEqual(["0:1", "0:2", "0:3", "1:1"])
  })
})

describe("LitestreamV5 plan", () => {
  // snapshot 1-10 at L9, L2 1-8, L1 9-12 and 13-14, L0 11..16 one per TXID
  const replica = V5.files([
    obj(9, 1, 10, 100),
    obj(2, 1, 8, 80),
    obj(1, 9, 12, 120),
    obj(1, 13, 14, 140),
    ...[11, 12, 13, 14, 15, 16].map((tx) => obj(0, tx, tx, tx * 10))
  ])

  it("the latest: snapshot, then the furthest-reaching file each step", () => {
    expect(keysOf(V5.plan(replica))).toEqual(["9:1-10", "1:9-12", "1:13-14", "0:15-15", "0:16-16"])
    expect(V5.plan(replica)).toMatchObject({ txid: 16 })
  })

  it("a txid: the last snapshot at or before it, files up to it and not past", () => {
    expect(keysOf(V5.plan(replica, { txid: 10 }))).toEqual(["9:1-10"])
    expect(keysOf(V5.plan(replica, { txid: 12 }))).toEqual(["9:1-10", "1:9-12"])
    expect(keysOf(V5.plan(replica, { txid: 13 }))).toEqual(["9:1-10", "1:9-12", "0:13-13"])
    // before the snapshot: the level files from TXID 1
    expect(keysOf(V5.plan(replica, { txid: 8 }))).toEqual(["2:1-8"])
    expect(V5.plan(replica, { txid: 9 })).toMatchObject({ _tag: "NoBackups" })
    expect(V5.plan(replica, { txid: 17 })).toMatchObject({ _tag: "NoBackups", reason: expect.stringContaining("0000000000000010") })
  })

  it("a timestamp: files written strictly before it", () => {
    expect(keysOf(V5.plan(replica, { timestamp: new Date(t0 + 131_000) }))).toEqual(["9:1-10", "1:9-12", "0:13-13"])
    expect(keysOf(V5.plan(replica, { timestamp: new Date(t0 + 120_000) }))).toEqual(["9:1-10", "0:11-11"])
    expect(keysOf(V5.plan(replica, { timestamp: new Date(t0 + 85_000) }))).toEqual(["2:1-8"])
    expect(V5.plan(replica, { timestamp: new Date(t0 + 10_000) })).toMatchObject({ _tag: "NoBackups", reason: expect.stringContaining("outside") })
    expect(V5.plan(replica, { timestamp: new Date(t0 + 500_000) })).toMatchObject({ _tag: "NoBackups" })
  })

  it("a gap in the chain: the latest fails naming the next file; a txid before it still works", () => {
    const gapped = replica.filter((f) => !(f.level === 0 && f.minTxid === 15) && !(f.level === 1 && f.minTxid === 13))
    const p = V5.plan(gapped.filter((f) => !(f.level === 0 && f.minTxid === 13) && !(f.level === 0 && f.minTxid === 14)))
    expect(p).toMatchObject({ _tag: "Gap", after: 12, next: { minTxid: 16, level: 0 } })
    expect(keysOf(V5.plan(gapped, { txid: 14 }))).toEqual(["9:1-10", "1:9-12", "0:13-13", "0:14-14"])
    expect(V5.plan(gapped, { txid: 16 })).toMatchObject({ _tag: "NoBackups" })
  })

  it("no files, bad targets", () => {
    expect(V5.plan([])).toMatchObject({ _tag: "NoBackups" })
    expect(V5.plan(replica, { txid: 3, timestamp: new Date() })).toMatchObject({ _tag: "BadTarget" })
    expect(V5.plan(replica, { txid: 0 })).toMatchObject({ _tag: "BadTarget" })
    // no snapshot and no file from TXID 1
    expect(V5.plan(V5.files([obj(0, 5, 5, 1)]))).toMatchObject({ _tag: "NoBackups" })
  })

  it("overlapping files: prefers the longer reach, then the lower start, then the higher level", () => {
    const files = V5.files([obj(0, 1, 1, 1), obj(0, 2, 2, 2), obj(1, 1, 2, 3), obj(0, 3, 3, 4), obj(2, 1, 3, 5)])
    expect(keysOf(V5.plan(files))).toEqual(["2:1-3"])
    expect(keysOf(V5.plan(files, { txid: 2 }))).toEqual(["1:1-2"])
  })
})
