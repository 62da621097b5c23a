/**
 * A second oracle for the v0.5 read side: upstream's litestream-vfs 0.5.17 extension, read
 * through Debian's python3 `sqlite3` (test/support/Vfs.ts), which shares no code with
 * `litestream restore`.
 *
 * 1. Replicas written by litestream 0.5.17 (file:// and fauxqs S3) under a seeded workload:
 *    the native restore has the VFS's rows, and the source's page count.
 * 2. Replicas made here by the test encoder in both page encodings (the legacy one, an LZ4
 *    frame per page, is what litestream before 0.5.16 wrote; 0.5.17 writes only the new one),
 *    with and without database checksums, mixed in one replica, through a database that grows
 *    then shrinks: the VFS and litestream 0.5.17 read them, and the native restore gives the
 *    database's very bytes. (litestream 0.5.17 restores none of the files that track database
 *    checksums: asserted, with its message.)
 */
import * as Ltx from "@effect-litestream/core/format/Ltx"
import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as NodePath from "node:path"
import { encode, pagesOf } from "../support/LtxEncoder.js"
import { litestreamV5 } from "../support/Peers.js"
import { startS3Server } from "../support/S3Server.js"
import * as Sqlite from "../support/Sqlite.js"
import { contents, createWorkloadDb, nativeV5, replicateV5, restoreV5, seeded, sleep, workloadStep } from "../support/V5Replica.js"
import { vfsOracle, vfsRestore } from "../support/Vfs.js"

const peer = litestreamV5()
const vfs = vfsOracle()
for (const [name, p] of [["litestream 0.5.17", peer], ["litestream-vfs 0.5.17", vfs]] as const) {
  if (!p.available) console.warn(`SKIPPED native v0.5 VFS tests: ${name}: ${p.reason}`)
}

const tempDir = (prefix: string) => fs.mkdtempSync(NodePath.join(os.tmpdir(), prefix))
const WORKLOAD_MS = Number(process.env.V5_WORKLOAD_MS ?? 5000) * 0.6

const pageCount = (path: string) => {
  const db = new Database(path, { readonly: true, fileMustExist: true })
  try {
    return db.pragma("page_count", { simple: true }) as number
  } finally {
    db.close()
  }
}

describe.skipIf(!peer.available || !vfs.available)("native v0.5 restore against litestream-vfs 0.5.17", () => {
  for (const store of ["file", "s3"] as const) {
    it(`a replica written by litestream 0.5.17 (${store}): the VFS's rows, the source's page count`, { timeout: 90_000 }, async () => {
      const dir = tempDir(`native-v5-vfs-${store}-`)
      const server = store === "s3" ? await startS3Server("v5-vfs") : undefined
      try {
        const url = server !== undefined ? server.url("vfs-db") : `file://${NodePath.join(dir, "replica")}`
        const dbPath = NodePath.join(dir, "source.db")
        const db = createWorkloadDb(dbPath, 4096)
        const random = seeded(store === "file" ? 21 : 22)
        const next = { id: 1 }
        const run = await replicateV5(dir, dbPath, url, async () => {
          const until = Date.now() + WORKLOAD_MS
          while (Date.now() < until) {
            workloadStep(db, random, next)
            await sleep(Math.floor(random() * 100))
          }
          // end on growth, so the VFS's page count (it keeps the largest) is the source's
          Sqlite.insertRows(db, Sqlite.rows(2000, next.id))
        })
        expect(run.code, run.out).toBe(0)
        const source = contents(dbPath)
        const sourcePages = (db.pragma("page_count", { simple: true }) as number)
        db.close()
        const mine = NodePath.join(dir, "native.db")
        const native = await Effect.runPromise(nativeV5(dir, url, mine))
        expect("_tag" in native ? native._tag : "restored").toBe("restored")
        const viaVfs = NodePath.join(dir, "vfs.db")
        const r = await vfsRestore(url, viaVfs)
        expect(r.code, r.out).toBe(0)
        expect(contents(mine)).toEqual(contents(viaVfs))
        expect(contents(mine)).toEqual(source)
        expect(pageCount(mine)).toBe(sourcePages)
        expect(Sqlite.integrityCheck(mine)).toBe("ok")
      } finally {
        await server?.stop()
        fs.rmSync(dir, { recursive: true, force: true })
      }
    })
  }

  /** Three states of a database (rollback journal, so each file is whole): grown, changed, shrunk. */
  const states = (dir: string, pageSize: number) => {
    const path = NodePath.join(dir, "states.db")
    const db = new Database(path)
    db.pragma(`page_size = ${pageSize}`)
    db.pragma("journal_mode = DELETE")
    db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, payload TEXT NOT NULL)")
    db.exec("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)")
    Sqlite.insertRows(db, Sqlite.rows(400))
    db.prepare("INSERT INTO blobs (data) SELECT randomblob(3000) FROM (SELECT 1 UNION SELECT 2 UNION SELECT 3)").run()
    const a = new Uint8Array(fs.readFileSync(path))
    db.prepare("UPDATE items SET payload = 'changed ' || id WHERE id % 3 = 0").run()
    Sqlite.insertRows(db, Sqlite.rows(300, 401))
    const b = new Uint8Array(fs.readFileSync(path))
    db.prepare("DELETE FROM items WHERE id > 150").run()
    db.prepare("DELETE FROM blobs").run()
    db.exec("VACUUM")
    const c = new Uint8Array(fs.readFileSync(path))
    db.close()
    return { a, b, c }
  }

  /** The pages of `after` that differ from `before` (and those past its end). */
  const changed = (before: Uint8Array, after: Uint8Array, pageSize: number) =>
    pagesOf(after, pageSize).filter((p) => {
      const at = (p.pgno - 1) * pageSize
      return at + pageSize > before.length || !Buffer.from(before.subarray(at, at + pageSize)).equals(p.data)
    })

  for (const checksums of [false, true]) {
    it(`encoder replicas, both page encodings, ${checksums ? "with" : "without"} database checksums: VFS, litestream and native agree`, { timeout: 60_000 }, async () => {
      const dir = tempDir("native-v5-encoded-")
      try {
        const pageSize = 1024
        const { a, b, c } = states(dir, pageSize)
        expect(c.length).toBeLessThan(b.length)
        const sum = (db: Uint8Array) => Ltx.databaseChecksum(db, pageSize)
        const t = Date.now() - 60_000
        const file = (level: number, min: number, max: number, bytes: Uint8Array) => {
          const path = NodePath.join(dir, "replica", "ltx", String(level), `${Ltx.hex16(min)}-${Ltx.hex16(max)}.ltx`)
          fs.mkdirSync(NodePath.dirname(path), { recursive: true })
          fs.writeFileSync(path, bytes)
        }
        const common = (encoding: "block" | "frame") => ({ pageSize, encoding, checksums })
        // level 0: a snapshot in the legacy encoding, then two files in the new one
        file(0, 1, 1, encode({ ...common("frame"), commit: a.length / pageSize, minTxid: 1, maxTxid: 1, timestamp: t, pages: pagesOf(a, pageSize), postApplyChecksum: sum(a) }))
        file(0, 2, 2, encode({ ...common("block"), commit: b.length / pageSize, minTxid: 2, maxTxid: 2, timestamp: t + 1000, pages: changed(a, b, pageSize), preApplyChecksum: sum(a), postApplyChecksum: sum(b) }))
        file(0, 3, 3, encode({ ...common("frame"), commit: c.length / pageSize, minTxid: 3, maxTxid: 3, timestamp: t + 2000, pages: changed(b, c, pageSize), preApplyChecksum: sum(b), postApplyChecksum: sum(c) }))
        // level 9: the snapshot of TXIDs 1-2, legacy encoding
        file(9, 1, 2, encode({ ...common("frame"), commit: b.length / pageSize, minTxid: 1, maxTxid: 2, timestamp: t + 1500, pages: pagesOf(b, pageSize), postApplyChecksum: sum(b) }))
        const url = `file://${NodePath.join(dir, "replica")}`

        for (const [target, expected] of [[{}, c], [{ txid: 1 }, a], [{ txid: 2 }, b]] as const) {
          const label = JSON.stringify(target)
          const mine = NodePath.join(dir, `native-${label}.db`)
          const native = await Effect.runPromise(nativeV5(dir, url, mine, target))
          expect("_tag" in native ? native._tag : native.txid, label).toBe(target.txid ?? 3)
          expect(Buffer.from(fs.readFileSync(mine)).equals(Buffer.from(expected)), label).toBe(true)
          const oracle = NodePath.join(dir, `litestream-${label}.db`)
          const run = await restoreV5(url, oracle, target)
          if (checksums) {
            // litestream 0.5.17 cannot restore files that track database checksums: its compactor
            // copies the last file's post-apply checksum into an output it marks "no checksums"
            expect(run.code, run.out).toBe(1)
            expect(run.out).toContain("post-apply checksum not allowed")
            continue
          }
          expect(run.code, run.out).toBe(0)
          expect(Buffer.from(fs.readFileSync(oracle)).equals(Buffer.from(expected)), `litestream ${label}`).toBe(true)
        }
        // the VFS reads the latest state
        const viaVfs = NodePath.join(dir, "vfs.db")
        const r = await vfsRestore(url, viaVfs)
        expect(r.code, r.out).toBe(0)
        const expectedPath = NodePath.join(dir, "expected.db")
        fs.writeFileSync(expectedPath, c)
        const rows = (p: string) => {
          const db = new Database(p, { readonly: true })
          try {
            return [db.prepare("SELECT * FROM items ORDER BY id").all(), db.prepare("SELECT count(*) AS n FROM blobs").get()]
          } finally {
            db.close()
          }
        }
        expect(rows(viaVfs)).toEqual(rows(expectedPath))
        expect(rows(expectedPath)[0]).toHaveLength(150)
      } finally {
        fs.rmSync(dir, { recursive: true, force: true })
      }
    })
  }
})
