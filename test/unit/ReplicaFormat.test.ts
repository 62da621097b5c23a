/**
 * Format detection (as litestream 0.5.17's Replica.Restore chooses between v0.3 and LTX backups)
 * on listings: one line only, both lines by last write, by timestamp, with a TXID or v0.3
 * options, forced, and an empty replica.
 */
import { LitestreamV3 as V3, LitestreamV5 as V5, ReplicaFormat } from "@effect-litestream/core"
import { describe, expect, it } from "vitest"

const t0 = Date.UTC(2026, 0, 1)
const at = (s: number) => new Date(t0 + s * 1000)
const v3 = (snapshotSecs: ReadonlyArray<number>, lastSecs: number) =>
  V3.generations([
    ...snapshotSecs.map((s, i) => ({ key: `generations/0123456789abcdef/snapshots/${V3.hex8(i)}.snapshot.lz4`, size: 10, lastModified: at(s) })),
    { key: `generations/0123456789abcdef/wal/${V3.hex8(snapshotSecs.length - 1)}_00000000.wal.lz4`, size: 10, lastModified: at(lastSecs) }
  ])
const v5 = (snapshotSecs: ReadonlyArray<number>, lastSecs: number) =>
  V5.files([
    ...snapshotSecs.map((s, i) => ({ key: `ltx/9/${V5.hex16(1)}-${V5.hex16(i + 1)}.ltx`, size: 10, lastModified: at(s) })),
    { key: `ltx/0/${V5.hex16(snapshotSecs.length + 1)}-${V5.hex16(snapshotSecs.length + 1)}.ltx`, size: 10, lastModified: at(lastSecs) }
  ])

describe("ReplicaFormat.choose", () => {
  it("one line only, or none", () => {
    expect(ReplicaFormat.choose(v3([10], 20), [])).toBe("v3")
    expect(ReplicaFormat.choose([], v5([10], 20))).toBe("v5")
    expect(ReplicaFormat.choose([], [])).toBeUndefined()
  })

  it("both: the line written to last; a TXID means v0.5, generation or index v0.3; forced wins", () => {
    expect(ReplicaFormat.choose(v3([10], 50), v5([30], 40))).toBe("v3")
    expect(ReplicaFormat.choose(v3([10], 20), v5([30], 40))).toBe("v5")
    expect(ReplicaFormat.choose(v3([10], 50), v5([30], 40), { txid: 2 })).toBe("v5")
    expect(ReplicaFormat.choose(v3([10], 20), v5([30], 40), { generation: "0123456789abcdef" })).toBe("v3")
    expect(ReplicaFormat.choose(v3([10], 20), v5([30], 40), { format: "v3" })).toBe("v3")
    expect(ReplicaFormat.choose([], [], { format: "v5" })).toBe("v5")
  })

  it("both, with a timestamp: the line whose newest snapshot before it is newer", () => {
    const a = v3([10, 100], 110)
    const b = v5([50, 200], 210)
    expect(ReplicaFormat.choose(a, b, { timestamp: at(60) })).toBe("v5")
    expect(ReplicaFormat.choose(a, b, { timestamp: at(150) })).toBe("v3")
    expect(ReplicaFormat.choose(a, b, { timestamp: at(250) })).toBe("v5")
    expect(ReplicaFormat.choose(a, b, { timestamp: at(20) })).toBe("v3")
  })
})
