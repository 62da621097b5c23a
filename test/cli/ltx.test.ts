/**
 * `effect-litestream ltx --native` through the built CLI on replicas written by litestream
 * 0.5.17 (file:// and the loopback S3 server): the rows `litestream ltx -level all` prints
 * (times to the second, as litestream prints them), with no litestream to be found; `--level`.
 * And `restore --native` (latest, `--txid`) on the same replicas: litestream 0.5.17's bytes.
 */
import * as fs from "node:fs"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { litestreamV5 } from "../support/Peers.js"
import { type S3ServerHandle, startS3Server } from "../support/S3Server.js"
import * as Sqlite from "../support/Sqlite.js"
import { createWorkloadDb, ltxV5, replicateV5, restoreV5, sleep } from "../support/V5Replica.js"
import { ACCESS_KEY_ID, SECRET as TEST_SECRET } from "../support/Harness.js"
import { ensureBuilt, jsonLines, run, tempDir } from "./support.js"

const peer = litestreamV5()
if (!peer.available) console.warn(`SKIPPED ltx --native CLI tests: ${peer.reason}`)

let s3: S3ServerHandle
let dir = ""

describe.skipIf(!peer.available)("ltx --native, restore --native on v0.5", () => {
  beforeAll(async () => {
    await ensureBuilt()
    s3 = await startS3Server("cli-ltx")
    dir = await tempDir()
  }, 180_000)

  afterAll(async () => {
    await s3?.stop()
    await fs.promises.rm(dir, { recursive: true, force: true })
  })

  for (const backend of ["file", "s3"] as const) {
    it(`${backend}: litestream 0.5.17's rows, without litestream`, { timeout: 90_000 }, async () => {
      const folder = NodePath.join(dir, backend)
      await fs.promises.mkdir(folder)
      const dbPath = NodePath.join(folder, "db.sqlite")
      const url = backend === "file" ? `file://${NodePath.join(folder, "replica")}` : s3.url("ltx/db")
      const db = createWorkloadDb(dbPath, 4096)
      const result = await replicateV5(folder, dbPath, url, async () => {
        for (let i = 0; i < 12; i++) {
          Sqlite.insertRows(db, Sqlite.rows(100, 1 + i * 100))
          await sleep(150)
        }
      }, { levelsMs: [800], snapshotMs: 1500 })
      db.close()
      expect(result.code, result.out).toBe(0)
      const theirs = await ltxV5(url)
      const env = {
        REPLICA_URL: url,
        DB_FOLDER: folder,
        LITESTREAM_ACCESS_KEY_ID: ACCESS_KEY_ID,
        LITESTREAM_SECRET_ACCESS_KEY: TEST_SECRET,
        LITESTREAM_BIN: NodePath.join(folder, "no-litestream-here")
      }
      const ours = await run(["ltx", "--native", "--json"], { cwd: folder, env })
      expect(ours.code, ours.stderr).toBe(0)
      const rows = jsonLines(ours.stdout).filter((l) => l.type === "row")
      const simple = (r: Record<string, unknown>) => ({
        level: r.level,
        minTxid: parseInt(String(r.minTxid), 16),
        maxTxid: parseInt(String(r.maxTxid), 16),
        size: r.size
      })
      expect(rows.map(simple)).toEqual(theirs.map(({ created: _c, ...r }) => r))
      expect(new Set(theirs.map((r) => r.level))).toEqual(new Set([0, 1, 9]))
      // litestream prints the listing's time (mtime / LastModified) to the second
      expect(rows.map((r) => String(r.created).replace(/\.\d{3}Z$/, "Z"))).toEqual(theirs.map((r) => r.created))
      expect(jsonLines(ours.stdout).at(-1)).toMatchObject({ type: "result", ok: true, outcome: "Listed", count: theirs.length })
      const snapshots = await run(["ltx", "--native", "--level", "9", "--json"], { cwd: folder, env })
      expect(snapshots.code, snapshots.stderr).toBe(0)
      const levels = jsonLines(snapshots.stdout).filter((l) => l.type === "row").map((l) => l.level)
      expect(levels).toEqual(theirs.filter((r) => r.level === 9).map(() => 9))
      expect(ours.stdout + ours.stderr + snapshots.stdout + snapshots.stderr).not.toContain(TEST_SECRET)
      // restore --native on the v0.5 replica, latest and --txid: litestream 0.5.17's bytes
      const txid = theirs.filter((r) => r.level === 0).at(-4)!.maxTxid
      for (const [label, args, target] of [["latest", [], {}], ["txid", ["--txid", txid.toString(16)], { txid }]] as const) {
        const out = NodePath.join(folder, `${label}-native.db`)
        const restored = await run(["restore", "--native", "--json", "-o", out, ...args], { cwd: folder, env })
        expect(restored.code, restored.stderr).toBe(0)
        expect(jsonLines(restored.stdout).at(-1)).toMatchObject({ type: "result", ok: true, outcome: "Restored" })
        const oracle = NodePath.join(folder, `${label}-litestream.db`)
        const r = await restoreV5(url, oracle, target)
        expect(r.code, r.out).toBe(0)
        expect(fs.readFileSync(out).equals(fs.readFileSync(oracle)), label).toBe(true)
      }
    })
  }
})
