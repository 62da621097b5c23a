/**
 * The LTX listing's pure parts (packages/core/src/ReplicaListing.ts): `litestream ltx -json`'s
 * output as 0.5.17 prints it, parsed into typed rows; output that is not that, and a level that
 * does not exist, as clear errors.
 */
import { ReplicaListing } from "@effect-litestream/core"
import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"

// `litestream ltx -json -level all file://…` of 0.5.17, after two syncs and a compaction
const OUTPUT = `[
  {
    "level": 0,
    "min_txid": "0000000000000001",
    "max_txid": "0000000000000001",
    "size": 566,
    "timestamp": "2026-12-01T12:26:40Z"
  },
  {
    "level": 0,
    "min_txid": "0000000000000002",
    "max_txid": "0000000000000002",
    "size": 191,
    "timestamp": "2026-12-01T12:26:41Z"
  },
  {
    "level": 9,
    "min_txid": "0000000000000001",
    "max_txid": "0000000000000001",
    "size": 566,
    "timestamp": "2026-12-01T12:26:40Z"
  }
]
`

describe("ReplicaListing.parseLtxJson", () => {
  it("reads 0.5.17's rows: level, min/max TXID, size, time", () => {
    const rows = Either.getOrThrow(ReplicaListing.parseLtxJson(OUTPUT))
    expect(rows.map((r) => [r.level, r.minTxid, r.maxTxid, r.size])).toEqual([
      [0, "0000000000000001", "0000000000000001", 566],
      [0, "0000000000000002", "0000000000000002", 191],
      [9, "0000000000000001", "0000000000000001", 566]
    ])
    expect(rows[1]!.created).toEqual(new Date("2026-12-01T12:26:41Z"))
    expect(rows[0]).toBeInstanceOf(ReplicaListing.LtxFile)
    expect(ReplicaListing.parseLtxJson("[]")).toEqual(Either.right([]))
  })

  it("not JSON, or rows of another shape: Left saying what was printed", () => {
    const text = ReplicaListing.parseLtxJson("level  min_txid\n0 1")
    expect(Either.isLeft(text) && text.left).toContain("printed no JSON")
    const shape = ReplicaListing.parseLtxJson(`[{"level":0,"min_txid":"xyz","max_txid":"0000000000000001","size":1,"timestamp":"2026-12-01T12:26:40Z"}]`)
    expect(Either.isLeft(shape) && shape.left).toContain("cannot read litestream ltx -json's rows")
  })
})

describe("ReplicaListing.checkLevel", () => {
  it("0-9 and \"all\" (the default) pass; anything else is a LitestreamConfigError naming the rule", () => {
    expect(ReplicaListing.checkLevel(undefined)).toEqual(Either.right("all"))
    expect(ReplicaListing.checkLevel(9)).toEqual(Either.right(9))
    for (const bad of [-1, 10, 1.5, Number.NaN]) {
      const e = ReplicaListing.checkLevel(bad)
      expect(Either.isLeft(e)).toBe(true)
      if (Either.isLeft(e)) {
        expect(e.left._tag).toBe("LitestreamConfigError")
        expect(e.left.message).toContain("integer from 0 to 9")
      }
    }
  })
})
