/**
 * The native v0.5 read side on damaged replicas written by litestream 0.5.17: a flipped byte in
 * a page, a file cut short, a level 0 file deleted from the middle of the chain (a TXID gap), a
 * page index pointing past the end of its file, a file renamed to another TXID range; and on
 * S3 through the fault proxy, through the native Restore layer, a file deleted after the
 * listing and the store going away. Each gives a typed ReplicaCorrupt (or store error) naming
 * the file, and nothing is published. What litestream restore 0.5.17 does with the same replica is asserted too.
 */
import * as Ltx from "@effect-litestream/core/format/Ltx"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as NodePath from "node:path"
import { Delay, Drop, FaultProxy, Pass } from "../support/FaultProxy.js"
import { DB, expectNoSecret } from "../support/Harness.js"
import { native, restoreWith } from "../support/NativeReplica.js"
import { litestreamV5 } from "../support/Peers.js"
import { startS3Server } from "../support/S3Server.js"
import * as Sqlite from "../support/Sqlite.js"
import { createWorkloadDb, ltxV5, nativeV5, replicateV5, restoreV5, sleep } from "../support/V5Replica.js"

const peer = litestreamV5()
if (!peer.available) console.warn(`SKIPPED native v0.5 corruption tests: ${peer.reason}`)

const tempDir = (prefix: string) => fs.mkdtempSync(NodePath.join(os.tmpdir(), prefix))

/** A file:// replica by litestream 0.5.17: a snapshot, then level 0 files one per batch of rows. */
const makeReplica = async (dir: string) => {
  const dbPath = NodePath.join(dir, "source.db")
  const db = createWorkloadDb(dbPath, 4096)
  const url = `file://${NodePath.join(dir, "replica")}`
  const run = await replicateV5(dir, dbPath, url, async () => {
    for (let i = 0; i < 8; i++) {
      Sqlite.insertRows(db, Sqlite.rows(200, 1 + i * 200))
      await sleep(250)
    }
  }, { levelsMs: [3_600_000], snapshotMs: 3_600_000 })
  db.close()
  expect(run.code, run.out).toBe(0)
  return url
}

const l0 = (dir: string) =>
  fs.readdirSync(NodePath.join(dir, "replica/ltx/0")).sort().map((name) => NodePath.join(dir, "replica/ltx/0", name))

const copyOf = (from: string, to: string) => {
  fs.cpSync(from, to, { recursive: true })
  return to
}

const nativeError = async (dir: string, url: string) => {
  const out = NodePath.join(dir, `native-${Math.random().toString(36).slice(2)}.db`)
  const result = await Effect.runPromise(Effect.either(nativeV5(dir, url, out)))
  if (result._tag === "Right") throw new Error(`restored from a damaged replica: ${JSON.stringify(result.right)}`)
  return result.left
}

describe.skipIf(!peer.available)("native v0.5 restore on damaged litestream 0.5.17 replicas", () => {
  let base: string
  let baseUrl: string

  it("the undamaged replica restores (the baseline the faults below break)", { timeout: 60_000 }, async () => {
    base = tempDir("native-v5-corrupt-")
    baseUrl = await makeReplica(base)
    expect(l0(base).length).toBeGreaterThanOrEqual(5)
    const out = NodePath.join(base, "ok.db")
    const ok = await Effect.runPromise(nativeV5(base, baseUrl, out))
    expect("_tag" in ok ? ok._tag : ok.txid).toBe(l0(base).length)
    expect(Sqlite.readRows(out)).toHaveLength(1600)
  })

  const damaged = (name: string, damage: (dir: string) => void) => {
    const dir = tempDir(`native-v5-${name}-`)
    copyOf(NodePath.join(base, "replica"), NodePath.join(dir, "replica"))
    damage(dir)
    return { dir, url: `file://${NodePath.join(dir, "replica")}` }
  }

  it("a flipped byte in a page of the last file: ReplicaCorrupt naming it; litestream fails too", async () => {
    const { dir, url } = damaged("flip", (d) => {
      const last = l0(d).at(-1)!
      const bytes = fs.readFileSync(last)
      const entry = Ltx.decode(new Uint8Array(bytes)).summary.pageIndex[0]!
      bytes[entry.offset + entry.size - 2]! ^= 0x10
      fs.writeFileSync(last, bytes)
    })
    const error = await nativeError(dir, url)
    expect(error).toMatchObject({ _tag: "ReplicaCorrupt", key: expect.stringMatching(/^ltx\/0\/.*\.ltx$/) })
    expect(["Page", "FileChecksum"]).toContain((error as { fault: string }).fault)
    expect(error.message).toContain("Nothing was restored")
    const run = await restoreV5(url, NodePath.join(dir, "litestream.db"))
    expect(run.code).toBe(1)
    expect(fs.existsSync(NodePath.join(dir, "litestream.db"))).toBe(false)
  })

  it("a file cut short: Truncated; litestream fails too", async () => {
    const { dir, url } = damaged("cut", (d) => {
      const last = l0(d).at(-1)!
      fs.truncateSync(last, Math.floor(fs.statSync(last).size / 2))
    })
    expect(await nativeError(dir, url)).toMatchObject({ _tag: "ReplicaCorrupt", fault: "Truncated" })
    expect((await restoreV5(url, NodePath.join(dir, "litestream.db"))).code).toBe(1)
  })

  it("a level 0 file deleted from the middle: TxidGap naming the next file; litestream refuses too", async () => {
    const { dir, url } = damaged("gap", (d) => {
      const files = l0(d)
      fs.rmSync(files[files.length - 3]!)
    })
    const error = await nativeError(dir, url)
    expect(error).toMatchObject({ _tag: "ReplicaCorrupt", fault: "TxidGap" })
    expect(error.message).toMatch(/the TXIDs between are missing/)
    const run = await restoreV5(url, NodePath.join(dir, "litestream.db"))
    expect(run.code).toBe(1)
    expect(run.out).toContain("non-contiguous")
  })

  it("a page index entry pointing past the end of its file: BadIndex", async () => {
    const { dir, url } = damaged("index", (d) => {
      const last = l0(d).at(-1)!
      const bytes = new Uint8Array(fs.readFileSync(last))
      const { pageIndex } = Ltx.decode(bytes).summary
      const varint = (n: number) => {
        const out: Array<number> = []
        while (n >= 0x80) {
          out.push((n & 0x7f) | 0x80)
          n = Math.floor(n / 0x80)
        }
        out.push(n)
        return out
      }
      const entries = pageIndex.map((e, i) => i === pageIndex.length - 1 ? { ...e, offset: bytes.length + 100_000 } : e)
      const index = [...entries.flatMap((e) => [...varint(e.pgno), ...varint(e.offset), ...varint(e.size)]), 0]
      const tailAt = pageIndex.at(-1)!.offset + pageIndex.at(-1)!.size + Ltx.PAGE_HEADER_SIZE
      const length = new Uint8Array(8)
      new DataView(length.buffer).setBigUint64(0, BigInt(index.length))
      fs.writeFileSync(last, new Uint8Array([...bytes.subarray(0, tailAt), ...index, ...length, ...bytes.subarray(bytes.length - 16)]))
    })
    const error = await nativeError(dir, url)
    expect(error).toMatchObject({ _tag: "ReplicaCorrupt", fault: "BadIndex" })
    expect(error.message).toMatch(/past the end of the file/)
    // litestream notices only through the file checksum (the index is hashed)
    const run = await restoreV5(url, NodePath.join(dir, "litestream.db"))
    expect(run.code).toBe(1)
    expect(run.out).toContain("file checksum mismatch")
  })

  it("a file renamed to another TXID range: NameMismatch", async () => {
    const { dir, url } = damaged("rename", (d) => {
      const last = l0(d).at(-1)!
      const name = NodePath.basename(last)
      const max = parseInt(name.slice(17, 33), 16)
      fs.renameSync(last, NodePath.join(NodePath.dirname(last), `${name.slice(0, 17)}${Ltx.hex16(max + 1)}.ltx`))
    })
    expect(await nativeError(dir, url)).toMatchObject({ _tag: "ReplicaCorrupt", fault: "NameMismatch" })
  })
})

describe.skipIf(!peer.available)("native v0.5 restore when the S3 store changes under it (fault proxy)", () => {
  it("a file deleted after the listing, the store going away mid-restore: typed errors, nothing published", { timeout: 90_000 }, async () => {
    const dir = tempDir("native-v5-s3-faults-")
    const server = await startS3Server("v5-faults")
    try {
      const path = "faults/db"
      const dbPath = NodePath.join(dir, DB)
      const db = createWorkloadDb(dbPath, 4096)
      const run = await replicateV5(dir, dbPath, server.url(path), async () => {
        for (let i = 0; i < 5; i++) {
          Sqlite.insertRows(db, Sqlite.rows(200, 1 + i * 200))
          await sleep(250)
        }
      }, { levelsMs: [3_600_000], snapshotMs: 3_600_000 })
      db.close()
      expect(run.code, run.out).toBe(0)
      await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        const proxy = yield* FaultProxy(server.port)
        const url = proxy.url("v5-faults", path)
        const object = (key: string) => `http://127.0.0.1:${server.port}/v5-faults/${path}/${key}`
        const out = NodePath.join(dir, "out", DB)
        fs.mkdirSync(NodePath.dirname(out), { recursive: true })
        const nothingPublished = () => expect(fs.readdirSync(NodePath.dirname(out))).toEqual([])

        // 1. the last level 0 file deleted once the first file is being read (after the listing)
        const rows = yield* Effect.promise(() => ltxV5(server.url(path)))
        const last = `0000/${Ltx.hex16(rows.filter((r) => r.level === 0).at(-1)!.minTxid)}-${Ltx.hex16(rows.filter((r) => r.level === 0).at(-1)!.maxTxid)}.ltx`
        let deleted = false
        let deleteDone = false
        yield* proxy.set((request) => {
          if (!deleted && request.method === "GET" && request.path.endsWith(".ltx")) {
            deleted = true
            void fetch(object(last), { method: "DELETE" }).then(() => (deleteDone = true))
            return Delay(request.path.endsWith(last) ? 3000 : 300)
          }
          // the restore reads files concurrently: a GET of that file before its DELETE is done
          // waits (a loaded machine), so it reaches the store after the deletion
          if (deleted && !deleteDone && request.method === "GET" && request.path.endsWith(last)) return Delay(3000)
          return Pass
        })
        const gone = yield* Effect.flip(restoreWith(native(dir, url), { output: out }))
        expect(gone._tag, gone.message).toBe("ReplicaObjectNotFound")
        expect(gone.message).toContain(last)
        expectNoSecret(gone)
        nothingPublished()

        // 2. the store goes away at the first file's GET
        let stopped = false
        yield* proxy.set((request) => {
          if (!stopped && request.method === "GET" && request.path.endsWith(".ltx")) {
            stopped = true
            Effect.runFork(proxy.stop)
            return Drop
          }
          return Pass
        })
        const away = yield* Effect.flip(restoreWith(native(dir, url), { output: out, timeout: "20 seconds" }))
        expect(away._tag, away.message).toBe("ReplicaUnreachable")
        nothingPublished()
      })))
    } finally {
      await server.stop()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
