/**
 * Corrupt and incomplete litestream v0.3 replicas (written by the real litestream v0.3.13, then
 * damaged): the native restore fails with a typed error naming the object and the fault, never
 * restores a silently older database, publishes nothing and leaves no staging file. Each case
 * also runs the litestream-based layer (the Node layer) and raw `litestream restore` on the same
 * damaged replica: where raw litestream silently restores an older database (a WAL checksum, a
 * segment missing in the middle), the layer's replica check refuses it as the native layer does
 * (asserted, so a change in either shows up).
 */
import { LitestreamV3, Lz4 } from "@effect-litestream/core"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as NodePath from "node:path"
import { Delay, Drop, FaultProxy, Pass } from "../support/FaultProxy.js"
import { tempDir } from "../support/Fixtures.js"
import { dbPath, guardAgainstLeaks, services } from "../support/Harness.js"
import { native, rawReplicate, restoreWith } from "../support/NativeReplica.js"
import { LitestreamBinary } from "@effect-litestream/node"
import { S3Server } from "../support/S3Server.js"
import * as Sqlite from "../support/Sqlite.js"

guardAgainstLeaks()

const LZ4_FAULTS = ["BadMagic", "BadHeader", "HeaderChecksum", "BlockChecksum", "ContentChecksum", "ContentSize", "Truncated", "Corrupt"]

interface Segment {
  readonly key: string
  readonly index: number
  readonly offset: number
}

/** The replica's objects as litestream wrote them (one generation). */
const layout = (root: string) => {
  const generations = fs.readdirSync(NodePath.join(root, "generations"))
  expect(generations.length, "one generation").toBe(1)
  const generation = generations[0]!
  const snapshots = fs.readdirSync(NodePath.join(root, "generations", generation, "snapshots")).sort()
  const segments: Array<Segment> = fs.readdirSync(NodePath.join(root, "generations", generation, "wal")).sort().map((name) => {
    const [index, offset] = name.replace(".wal.lz4", "").split("_")
    return { key: `generations/${generation}/wal/${name}`, index: parseInt(index!, 16), offset: parseInt(offset!, 16) }
  })
  const byIndex = new Map<number, Array<Segment>>()
  for (const s of segments) byIndex.set(s.index, [...(byIndex.get(s.index) ?? []), s])
  return { generation, snapshot: `generations/${generation}/snapshots/${snapshots.at(-1)!}`, segments, byIndex }
}

/** A database written in small transactions while raw litestream replicates it to `url`. */
const writeReplica = (dir: string, url: string) =>
  Effect.gen(function*() {
    const folder = NodePath.join(dir, "app")
    fs.mkdirSync(folder, { recursive: true })
    const first = Sqlite.open(dbPath(folder))
    first.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, payload TEXT NOT NULL)")
    first.close()
    const db = yield* Effect.acquireRelease(Effect.sync(() => Sqlite.open(dbPath(folder))), (db) => Effect.sync(() => db.close()))
    db.pragma("wal_autocheckpoint = 0")
    let next = 1
    // small transactions, one sync each: several segments per WAL index before a checkpoint
    yield* rawReplicate(
      dir,
      dbPath(folder),
      url,
      Effect.forEach(Array.from({ length: 16 }), () =>
        Effect.gen(function*() {
          Sqlite.insertRows(db, Sqlite.rows(6, next))
          next += 6
          yield* Effect.sleep("200 millis")
        }), { discard: true }),
      { minCheckpointPageCount: 12 }
    )
    return { folder, live: Sqlite.readRows(dbPath(folder)) }
  })

/** A copy of the pristine replica (times kept: the plan reads them) for one case. */
const copyOf = (pristine: string, dir: string, name: string) => {
  const root = NodePath.join(dir, name, "replica")
  fs.cpSync(pristine, root, { recursive: true, preserveTimestamps: true })
  const folder = NodePath.join(dir, name, "app")
  fs.mkdirSync(folder, { recursive: true })
  return { root, url: `file://${root}`, folder }
}

/** Rewrites an object, keeping its modification time. */
const rewrite = (file: string, bytes: Uint8Array) => {
  const { atime, mtime } = fs.statSync(file)
  fs.writeFileSync(file, bytes)
  fs.utimesSync(file, atime, mtime)
}

const lz4Encode = (bytes: Uint8Array): Uint8Array | undefined => {
  try {
    return ChildProcess.execFileSync("lz4", ["-c", "-q"], { input: bytes })
  } catch {
    try {
      const lz4js = createRequire(import.meta.url)("lz4js") as { compress: (b: Uint8Array) => Array<number> | Uint8Array }
      return Uint8Array.from(lz4js.compress(bytes))
    } catch {
      return undefined
    }
  }
}

/** What a restore did, in a line; a restored database is compared with the live one. */
const describeOutcome = (
  result: Either.Either<{ readonly _tag: string }, { readonly _tag: string; readonly message: string }>,
  output: string,
  live: ReadonlyArray<Sqlite.Row>
): string => {
  if (Either.isLeft(result)) return `fails: ${result.left._tag}: ${result.left.message.split("\n").filter((_line, i, all) => i === 0 || i >= all.length - 2).join(" | ")}`
  if (result.right._tag !== "Restored") return `outcome ${result.right._tag}`
  const rows = Sqlite.readRows(output)
  const ok = Sqlite.integrityCheck(output)
  return rows.length === live.length && JSON.stringify(rows) === JSON.stringify(live)
    ? `restores the latest database (integrity ${ok})`
    : `silently restores an older database: ${rows.length} of ${live.length} rows (integrity ${ok})`
}

/**
 * What raw `litestream restore -o OUT URL` (v0.3.13, no library) leaves, in a line: the finding
 * the litestream-based layer's replica check exists for.
 */
const rawRestore = (dir: string, name: string, url: string, live: ReadonlyArray<Sqlite.Row>) =>
  Effect.gen(function*() {
    const bin = yield* LitestreamBinary.defaultBinary
    const out = NodePath.join(dir, name, "raw-out", "restored.db")
    fs.mkdirSync(NodePath.dirname(out), { recursive: true })
    const run = ChildProcess.spawnSync(bin, ["restore", "-o", out, url], { encoding: "utf8", timeout: 30_000 })
    const outcome = run.status !== 0 ? `fails: exit ${run.status}` : describeOutcome(Either.right({ _tag: "Restored" }), out, live)
    console.log(`[${name}] raw litestream restore: ${outcome}`)
    return outcome
  })

/** Both restores on one replica, each into a folder of its own. */
const both = (dir: string, name: string, folder: string, url: string, live: ReadonlyArray<Sqlite.Row>) =>
  Effect.gen(function*() {
    const nativeOut = NodePath.join(dir, name, "native-out")
    const oracleOut = NodePath.join(dir, name, "litestream-out")
    fs.mkdirSync(nativeOut, { recursive: true })
    fs.mkdirSync(oracleOut, { recursive: true })
    const nativeResult = yield* Effect.either(restoreWith(native(folder, url), { output: NodePath.join(nativeOut, "restored.db") }))
    const oracleResult = yield* Effect.either(
      restoreWith(services(folder, url).pipe(Layer.orDie), { output: NodePath.join(oracleOut, "restored.db"), timeout: "30 seconds" })
    )
    const litestream = describeOutcome(oracleResult, NodePath.join(oracleOut, "restored.db"), live)
    console.log(`[${name}] native: ${describeOutcome(nativeResult, NodePath.join(nativeOut, "restored.db"), live)}`)
    console.log(`[${name}] litestream restore: ${litestream}`)
    return { native: nativeResult, litestream, oracleResult, nativeOut, oracleOut }
  })

/** Nothing published, no staging file (`.effect-litestream-restore-*`) left in the output's folder. */
const expectNothingPublished = (folder: string) => expect(fs.readdirSync(folder), `nothing in ${folder}`).toEqual([])

/**
 * The litestream-based layer publishes nothing either, and leaves nothing: also when litestream
 * fails while downloading WAL and leaves its `<staging>.tmp-<index>-wal` files (the shared
 * publishing removes everything named after the private staging file).
 */
const expectOracleUnpublished = (folder: string, name: string) => {
  expect(fs.readdirSync(folder), `${name}: litestream published nothing and left nothing`).toEqual([])
}

const expectCorrupt = (
  result: Either.Either<unknown, { readonly _tag: string }>,
  expected: { readonly key: string; readonly fault: string | ReadonlyArray<string>; readonly detail?: string }
) => {
  expect(Either.isLeft(result), "the restore fails").toBe(true)
  const error = (result as Either.Left<any, unknown>).left as { _tag: string; key: string; fault: string; detail: string; message: string }
  expect(error._tag, error.message).toBe("ReplicaCorrupt")
  expect(error.key).toBe(expected.key)
  if (typeof expected.fault === "string") expect(error.fault, error.message).toBe(expected.fault)
  else expect(expected.fault, error.message).toContain(error.fault)
  if (expected.key !== "") expect(error.message).toContain(expected.key)
  if (expected.detail !== undefined) expect(error.detail).toContain(expected.detail)
  return error
}

describe("native restore of corrupt litestream v0.3 replicas (file://)", () => {
  it.scopedLive("each corruption: a typed error naming the object and the fault, nothing published; and what litestream restore does", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const pristine = NodePath.join(dir, "pristine")
      const { live } = yield* writeReplica(dir, `file://${pristine}`)
      const { byIndex, snapshot } = layout(pristine)
      // the last index with at least three segments: one in its middle can go missing (the last
      // index may hold only litestream's own writes after its checkpoint)
      const multi = [...byIndex.values()].filter((s) => s.length >= 3).at(-1)
      expect(multi, `an index with 3+ segments: ${[...byIndex.entries()].map(([i, s]) => `${i}:${s.length}`).join(" ")}`).toBeDefined()
      const segs = multi!
      const file = (root: string, key: string) => NodePath.join(root, ...key.split("/"))

      // the pristine replica: both restore the live database
      {
        const c = copyOf(pristine, dir, "pristine-check")
        const r = yield* both(dir, "pristine-check", c.folder, c.url, live)
        expect(Either.isRight(r.native)).toBe(true)
        expect(r.litestream).toMatch(/^restores the latest/)
      }

      // 1. a flipped byte inside a WAL segment's LZ4 data
      {
        const c = copyOf(pristine, dir, "lz4-flip")
        const target = segs[1]!
        const bytes = fs.readFileSync(file(c.root, target.key))
        bytes[Math.floor(bytes.length / 2)]! ^= 0x5a
        rewrite(file(c.root, target.key), bytes)
        const r = yield* both(dir, "lz4-flip", c.folder, c.url, live)
        expectNothingPublished(r.nativeOut)
        expectCorrupt(r.native, { key: target.key, fault: LZ4_FAULTS })
        // raw litestream fails too ("context canceled", no object named); the layer's replica
        // check names the segment and the fault
        expect(yield* rawRestore(dir, "lz4-flip", c.url, live)).toMatch(/^fails: exit 1/)
        expectCorrupt(r.oracleResult, { key: target.key, fault: LZ4_FAULTS })
        expectOracleUnpublished(r.oracleOut, "file")
      }

      // 2. valid LZ4, one flipped byte in a WAL frame's page: SQLite's checksum fails
      {
        const c = copyOf(pristine, dir, "wal-flip")
        // the first frame of the last WAL index with several segments (the last index may hold no
        // transaction of the application's, only litestream's own after its checkpoint): SQLite
        // drops the whole index
        const target = segs[0]!
        const wal = Lz4.decodeFrame(fs.readFileSync(file(c.root, target.key)))
        wal[32 + 24 + 100]! ^= 0x01
        const encoded = lz4Encode(wal)
        if (encoded === undefined) {
          console.log("[wal-flip] skipped: neither the lz4 CLI nor lz4js")
        } else {
          expect(Lz4.decodeFrame(encoded)).toEqual(wal)
          rewrite(file(c.root, target.key), encoded)
          const r = yield* both(dir, "wal-flip", c.folder, c.url, live)
          expectNothingPublished(r.nativeOut)
        expectCorrupt(r.native, { key: target.key, fault: "WalChecksum" })
          // raw litestream (SQLite) stops at the bad frame: an older database, without a word;
          // the litestream-based layer's replica check refuses it, publishing nothing
          expect(yield* rawRestore(dir, "wal-flip", c.url, live)).toMatch(/^silently restores an older database/)
          expectCorrupt(r.oracleResult, { key: target.key, fault: "WalChecksum" })
          expectOracleUnpublished(r.oracleOut, "wal-flip")
        }
      }

      // 3. the snapshot cut in half
      {
        const c = copyOf(pristine, dir, "snapshot-truncated")
        const bytes = fs.readFileSync(file(c.root, snapshot))
        rewrite(file(c.root, snapshot), bytes.subarray(0, Math.floor(bytes.length / 2)))
        const r = yield* both(dir, "snapshot-truncated", c.folder, c.url, live)
        expectNothingPublished(r.nativeOut)
        expectCorrupt(r.native, { key: snapshot, fault: "Truncated" })
        expect(r.litestream).toMatch(/^fails: LitestreamFailed/)
        expectOracleUnpublished(r.oracleOut, "file")
      }

      // 4. a segment missing in the middle of an index
      {
        const c = copyOf(pristine, dir, "segment-missing")
        fs.rmSync(file(c.root, segs[1]!.key))
        const r = yield* both(dir, "segment-missing", c.folder, c.url, live)
        expectNothingPublished(r.nativeOut)
        expectCorrupt(r.native, { key: segs[2]!.key, fault: "MissingSegment" })
        // raw litestream concatenates the segments it finds: SQLite stops at the gap, an older
        // database; the layer's replica check refuses it
        expect(yield* rawRestore(dir, "segment-missing", c.url, live)).toMatch(/^silently restores an older database/)
        expectCorrupt(r.oracleResult, { key: segs[2]!.key, fault: "MissingSegment" })
        expectOracleUnpublished(r.oracleOut, "segment-missing")
      }

      // 5. the first segment (offset 0) of an index missing: the plan is incomplete
      {
        const c = copyOf(pristine, dir, "first-segment-missing")
        fs.rmSync(file(c.root, segs[0]!.key))
        const r = yield* both(dir, "first-segment-missing", c.folder, c.url, live)
        expectNothingPublished(r.nativeOut)
        expectCorrupt(r.native, { key: "", fault: "Incomplete", detail: LitestreamV3.hex8(segs[0]!.index) })
        expect(r.litestream).toMatch(/^fails: LitestreamFailed.*missing initial wal segment/)
        expectOracleUnpublished(r.oracleOut, "file")
      }
    }), 180_000)
})

describe("native restore when the store changes under it (S3 through the fault proxy)", () => {
  it.scopedLive("an object deleted after the listing, and the store going away mid-restore: typed errors, nothing published", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const server = yield* Effect.orDie(S3Server("backups"))
      const path = "corrupt/app.db"
      const { folder, live } = yield* writeReplica(dir, server.url(path))
      const proxy = yield* FaultProxy(server.port)
      const url = proxy.url("backups", path)
      const object = (key: string) => `http://127.0.0.1:${server.port}/backups/${path}/${key}`
      const listing = yield* Effect.promise(async () => (await fetch(`http://127.0.0.1:${server.port}/backups?list-type=2&prefix=${path}/`)).text())
      const keys = [...listing.matchAll(/<Key>([^<]+)<\/Key>/g)].map((m) => m[1]!.slice(path.length + 1)).filter((k) => k.endsWith(".wal.lz4")).sort()
      expect(keys.length).toBeGreaterThanOrEqual(2)
      const last = keys.at(-1)!
      const saved = yield* Effect.promise(async () => Buffer.from(await (await fetch(object(last))).arrayBuffer()))

      // 1. the last WAL segment deleted once the snapshot is being read (after the listing)
      const deleteOnSnapshot = () => {
        let done = false
        return proxy.set((request) => {
          if (!done && request.method === "GET" && request.path.includes(".snapshot.lz4")) {
            done = true
            void fetch(object(last), { method: "DELETE" })
            return Delay(300)
          }
          return Pass
        })
      }
      const put = Effect.promise(() => fetch(object(last), { method: "PUT", body: saved }))
      const nativeOut = NodePath.join(dir, "deleted", "native-out")
      const oracleOut = NodePath.join(dir, "deleted", "litestream-out")
      fs.mkdirSync(nativeOut, { recursive: true })
      fs.mkdirSync(oracleOut, { recursive: true })
      yield* deleteOnSnapshot()
      const deleted = yield* Effect.either(restoreWith(native(folder, url), { output: NodePath.join(nativeOut, "restored.db") }))
      console.log(`[object-deleted] native: ${describeOutcome(deleted, NodePath.join(nativeOut, "restored.db"), live)}`)
      expect(Either.isLeft(deleted)).toBe(true)
      const notFound = (deleted as Either.Left<any, unknown>).left as { _tag: string; message: string }
      expect(notFound._tag, notFound.message).toBe("ReplicaObjectNotFound")
      expect(notFound.message).toContain(last)
      expectNothingPublished(nativeOut)
      yield* put
      yield* deleteOnSnapshot()
      const oracleDeleted = yield* Effect.either(
        restoreWith(services(folder, url).pipe(Layer.orDie), { output: NodePath.join(oracleOut, "restored.db"), timeout: "30 seconds" })
      )
      const litestreamDeleted = describeOutcome(oracleDeleted, NodePath.join(oracleOut, "restored.db"), live)
      console.log(`[object-deleted] litestream restore: ${litestreamDeleted}`)
      // litestream fails too (how it words it varies: a 404, or its other downloads canceled)
      expect(litestreamDeleted).toMatch(/^fails: (LitestreamFailed|ReplicaUnreachable)/)
      expectOracleUnpublished(oracleOut, "object-deleted")
      yield* put

      // 2. the store goes away (listener closed, connections destroyed) at the first WAL segment
      const goAway = () => {
        let done = false
        return proxy.set((request) => {
          if (!done && request.method === "GET" && request.path.includes(".wal.lz4")) {
            done = true
            Effect.runFork(proxy.stop)
            return Drop
          }
          return Pass
        })
      }
      const nativeGone = NodePath.join(dir, "gone", "native-out")
      const oracleGone = NodePath.join(dir, "gone", "litestream-out")
      fs.mkdirSync(nativeGone, { recursive: true })
      fs.mkdirSync(oracleGone, { recursive: true })
      yield* goAway()
      const gone = yield* Effect.either(restoreWith(native(folder, url), { output: NodePath.join(nativeGone, "restored.db"), timeout: "30 seconds" }))
      console.log(`[store-gone] native: ${describeOutcome(gone, NodePath.join(nativeGone, "restored.db"), live)}`)
      expect(Either.isLeft(gone)).toBe(true)
      const unreachable = (gone as Either.Left<any, unknown>).left as { _tag: string; message: string }
      expect(unreachable._tag, unreachable.message).toBe("ReplicaUnreachable")
      expectNothingPublished(nativeGone)
      yield* proxy.start
      yield* goAway()
      const oracleGoneResult = yield* Effect.either(
        restoreWith(services(folder, url).pipe(Layer.orDie), { output: NodePath.join(oracleGone, "restored.db"), timeout: "30 seconds" })
      )
      const litestreamGone = describeOutcome(oracleGoneResult, NodePath.join(oracleGone, "restored.db"), live)
      console.log(`[store-gone] litestream restore: ${litestreamGone}`)
      expect(litestreamGone).toMatch(/^fails: (LitestreamFailed|ReplicaUnreachable)/)
      expectOracleUnpublished(oracleGone, "store-gone")
      yield* proxy.start

      // 3. a damaged WAL segment on S3: the litestream-based layer's replica check reads it over
      // fetch and names it (ReplicaCorrupt), publishing nothing
      yield* proxy.set(() => Pass)
      const damaged = Buffer.from(saved)
      damaged[Math.floor(damaged.length / 2)]! ^= 0x5a
      yield* Effect.promise(() => fetch(object(last), { method: "PUT", body: damaged }))
      const oracleDamaged = NodePath.join(dir, "damaged", "litestream-out")
      fs.mkdirSync(oracleDamaged, { recursive: true })
      const damagedResult = yield* Effect.either(
        restoreWith(services(folder, url).pipe(Layer.orDie), { output: NodePath.join(oracleDamaged, "restored.db"), timeout: "30 seconds" })
      )
      console.log(`[s3-damaged] litestream restore: ${describeOutcome(damagedResult, NodePath.join(oracleDamaged, "restored.db"), live)}`)
      expectCorrupt(damagedResult, { key: last, fault: LZ4_FAULTS })
      expectOracleUnpublished(oracleDamaged, "s3-damaged")
      yield* put
    }), 180_000)
})
