/**
 * The native read side beyond restore, against the real litestream v0.3.13: the listings
 * (generations, snapshots, wal) give the same rows as litestream's own commands on a replica it
 * wrote (several generations, several WAL indexes), on file:// and the loopback S3 server; the
 * in-memory restore gives the bytes `litestream restore` writes, with no file system in context
 * for S3; and `Verify` proves a backup through the native restore.
 */
import {
  LitestreamError,
  NativeReplicaListing,
  NativeRestore,
  Replicate,
  ReplicaListing,
  ReplicaStore,
  Restore,
  Verify
} from "@effect-litestream/core"
import { NodeLitestream, NodeSqliteProbe } from "@effect-litestream/node"
import { FetchHttpClient } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as NodePath from "node:path"
import { freePort, tempDir } from "../support/Fixtures.js"
import { ACCESS_KEY_ID, dbPath, guardAgainstLeaks, once, SECRET, services, settings } from "../support/Harness.js"
import { nativeDeps, rawReplicate, restoreWith, step } from "../support/NativeReplica.js"
import { S3Server } from "../support/S3Server.js"
import * as Sqlite from "../support/Sqlite.js"
import { prng } from "../support/Writer.js"

guardAgainstLeaks()

const SEED = Number(process.env.FAULT_SEED ?? Date.now() % 1_000_000)

/** Go's duration string (as litestream prints a lag) in milliseconds. */
const goMillis = (text: string): number => {
  const sign = text.startsWith("-") ? -1 : 1
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, "µs": 0.001, us: 0.001, ns: 0.000001 }
  let total = 0
  for (const [, n, unit] of text.replace(/^-/, "").matchAll(/([\d.]+)(h|ms|m|s|µs|us|ns)/g)) total += Number(n) * units[unit!]!
  return sign * total
}

/** litestream prints whole seconds (RFC 3339); the native rows keep the objects' milliseconds. */
const seconds = (d: Date) => Math.floor(d.getTime() / 1000)

const lists = (layer: Layer.Layer<ReplicaListing.ReplicaListing>) =>
  Effect.flatMap(ReplicaListing.ReplicaListing, (l) =>
    Effect.all({ generations: l.generations(), snapshots: l.snapshots(), wal: l.wal() })).pipe(Effect.provide(layer))

const nativeListing = (folder: string, url: string) => NativeReplicaListing.layer.pipe(Layer.provide(nativeDeps(folder, url)))

/** A replica written by litestream: raw `replicate` with checkpoints, then a lost shadow folder and `once`. */
const writeReplica = (dir: string, folder: string, url: string, seed: number) =>
  Effect.gen(function*() {
    const random = prng(seed)
    Sqlite.createDatabase(dbPath(folder), 20)
    const db = yield* Effect.acquireRelease(Effect.sync(() => Sqlite.open(dbPath(folder))), (db) => Effect.sync(() => db.close()))
    db.exec("CREATE TABLE IF NOT EXISTS blobs (id INTEGER PRIMARY KEY, data BLOB)")
    db.pragma("wal_autocheckpoint = 0")
    const next = { id: 1000 }
    const round = Effect.suspend(() => {
      for (let i = 0; i < 3 + Math.floor(random() * 5); i++) step(db, random, next)
      return Effect.sleep("250 millis")
    })
    yield* rawReplicate(dir, dbPath(folder), url, Effect.repeatN(round, 3))
    fs.rmSync(NodePath.join(folder, ".app.db-litestream"), { recursive: true, force: true })
    yield* round
    yield* once({ timeout: "30 seconds" }).pipe(Effect.provide(services(folder, url).pipe(Layer.orDie)))
  })

describe.each(["file", "s3"] as const)("native listing, in-memory restore and Verify (%s), against litestream", (backend) => {
  it.scopedLive("the same rows as litestream's generations, snapshots and wal; toBytes = litestream restore's bytes", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const folder = NodePath.join(dir, "app")
      fs.mkdirSync(folder)
      const s3 = backend === "s3" ? yield* Effect.orDie(S3Server("backups")) : undefined
      const url = s3 === undefined ? `file://${NodePath.join(dir, "replica")}` : s3.url("listing/app.db")
      const binary = services(folder, url).pipe(Layer.orDie)

      // an empty replica: empty listings from both
      const empty = { generations: [], snapshots: [], wal: [] }
      if (backend === "s3") expect(yield* lists(nativeListing(folder, url))).toEqual(empty)

      yield* writeReplica(dir, folder, url, SEED + (backend === "s3" ? 1 : 0))
      const theirs = yield* lists(binary)
      const before = Date.now()
      const ours = yield* lists(nativeListing(folder, url))
      const after = Date.now()
      expect(new Set(theirs.generations.map((g) => g.generation)).size, "two generations").toBeGreaterThanOrEqual(2)
      expect(new Set(theirs.wal.map((w) => `${w.generation}/${w.index}`)).size, "several WAL indexes").toBeGreaterThanOrEqual(3)

      expect(ours.generations.map((g) => g.generation)).toEqual(theirs.generations.map((g) => g.generation))
      ours.generations.forEach((g, i) => {
        const t = theirs.generations[i]!
        expect(g).toBeInstanceOf(ReplicaListing.Generation)
        expect({ replica: g.replica, start: seconds(g.start), end: seconds(g.end) }).toEqual({
          replica: t.replica,
          start: seconds(t.start),
          end: seconds(t.end)
        })
        // the lag: behind now, truncated as litestream does (to 0.1 s past a second, 1 s past ten)
        const lag = goMillis(g.lag)
        const low = before - g.end.getTime()
        expect(lag, `lag ${g.lag}`).toBeGreaterThanOrEqual(low - (low > 10_000 ? 1000 : low > 1000 ? 100 : 1))
        expect(lag, `lag ${g.lag}`).toBeLessThanOrEqual(after - g.end.getTime())
        expect(t.lag).toMatch(/^-?[\d.]+(ns|µs|ms|s|m|h)/)
      })
      const row = (r: { readonly created: Date }) => ({ ...r, created: seconds(r.created) })
      expect(ours.snapshots.map(row)).toEqual(theirs.snapshots.map(row))
      expect(ours.wal.map(row)).toEqual(theirs.wal.map(row))
      expect(ours.snapshots.every((s) => s instanceof ReplicaListing.Snapshot)).toBe(true)
      expect(ours.wal.every((w) => w instanceof ReplicaListing.WalSegment)).toBe(true)

      // the machine lost: no local database, both still list (the lag from now)
      const lost = NodePath.join(dir, "lost")
      fs.mkdirSync(lost)
      const lostTheirs = yield* lists(services(lost, url).pipe(Layer.orDie))
      const lostOurs = yield* lists(nativeListing(lost, url))
      expect(lostOurs.generations.map((g) => g.generation)).toEqual(lostTheirs.generations.map((g) => g.generation))
      expect(lostOurs.wal.map(row)).toEqual(lostTheirs.wal.map(row))

      // in memory: the bytes litestream restore writes, at the latest state and a middle index
      const count = (g: string) => theirs.wal.filter((w) => w.generation === g).length
      const raw = theirs.generations.map((g) => g.generation).reduce((a, b) => (count(b) > count(a) ? b : a))
      const middle = theirs.wal.filter((w) => w.generation === raw).at(1)!
      const targets = [{}, { generation: middle.generation, index: middle.index }]
      // S3 with no FileSystem in context at all: only an HTTP client, the fetch one (as in a worker)
      const store = s3 === undefined
        ? ReplicaStore.layer.pipe(Layer.provide(nativeDeps(folder, url)))
        : ReplicaStore.layerS3({
          replica: url,
          bucket: s3.bucket,
          root: "listing/app.db",
          endpoint: `http://localhost:${s3.port}`,
          region: "us-east-1",
          forcePathStyle: true,
          credentials: { accessKeyId: Redacted.make(ACCESS_KEY_ID), secretAccessKey: Redacted.make(SECRET) }
        }).pipe(Layer.provide(FetchHttpClient.layer))
      for (const [n, target] of targets.entries()) {
        const output = NodePath.join(dir, `oracle-${n}.db`)
        const restored = yield* restoreWith(binary, { ...target, output })
        expect(restored._tag).toBe("Restored")
        const bytes = yield* NativeRestore.toBytes(target).pipe(Effect.provide(store))
        expect(Buffer.from(bytes).equals(fs.readFileSync(output)), `toBytes ${JSON.stringify(target)} (seed ${SEED})`).toBe(true)
      }
      // NodeLitestream with the native read side: restore and list with no litestream binary at all
      const noBinary = NodeLitestream.layer({ ...settings(folder, url), binary: NodePath.join(dir, "no-such-litestream") }, { read: "native" })
      const viaLayer = yield* Effect.gen(function*() {
        const restored = yield* Effect.flatMap(Restore.Restore, (r) => r.restore({ output: NodePath.join(dir, "via-layer.db") }))
        return { restored, listed: yield* Effect.flatMap(ReplicaListing.ReplicaListing, (l) => l.snapshots()) }
      }).pipe(Effect.provide(noBinary))
      expect(viaLayer.restored._tag).toBe("Restored")
      expect(fs.readFileSync(NodePath.join(dir, "via-layer.db")).equals(fs.readFileSync(NodePath.join(dir, "oracle-0.db")))).toBe(true)
      expect(viaLayer.listed.map(row)).toEqual(theirs.snapshots.map(row))
      // a limit below the database's size: a typed error, no partial bytes
      const limited = yield* Effect.flip(NativeRestore.toBytes({ maxBytes: 4096 }).pipe(Effect.provide(store)))
      expect(limited).toMatchObject({ _tag: "InMemoryLimitExceeded", maxBytes: 4096 })
      expect(limited.message).toMatch(/raise maxBytes/)
    }), 120_000)

  it.scopedLive("Verify through the native restore: verify and backup Verified; a running replication's replica wiped: Failed/SnapshotMissing", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const s3 = backend === "s3" ? yield* Effect.orDie(S3Server("backups")) : undefined
      const replica = NodePath.join(dir, "replica")
      const url = s3 === undefined ? `file://${replica}` : s3.url("verify/app.db")
      Sqlite.createDatabase(dbPath(dir), 30)
      const binary = services(dir, url).pipe(Layer.orDie)
      // Verify on litestream's Replicate, the native Restore
      // (fresh: the Node services hold Verify.layer too, and layers are shared by reference)
      const verify = Layer.fresh(Verify.layer).pipe(
        Layer.provide(Layer.mergeAll(NativeRestore.layer.pipe(Layer.provide(nativeDeps(dir, url))), NodeSqliteProbe.layer)),
        Layer.provide(binary),
        Layer.provide(NodeContext.layer)
      )
      yield* Effect.gen(function*() {
        const v = yield* Verify.Verify
        expect((yield* v.verify({ timeout: "30 seconds" }))._tag).toBe("Verified")
        const backedUp = yield* v.backup({ timeout: "30 seconds" })
        expect(backedUp.verification._tag).toBe("Verified")
        expect(Sqlite.readRows(dbPath(dir))).toHaveLength(30)
        if (s3 !== undefined) return
        // litestream goes on writing WAL segments to a wiped replica: nothing restores
        const replication = yield* Effect.flatMap(Replicate.Replicate, (r) => r.replicate()).pipe(Effect.provide(binary))
        expect((yield* v.verifyReplication(replication, { timeout: "20 seconds" }))._tag).toBe("Verified")
        fs.rmSync(replica, { recursive: true, force: true })
        const failed = yield* v.verifyReplication(replication, { timeout: "20 seconds" })
        expect(failed).toMatchObject({ _tag: "Failed", cause: "SnapshotMissing" })
        expect((failed as { readonly reason: string }).reason).toMatch(/wiped while litestream kept replicating.*NoSnapshot/)
      }).pipe(Effect.scoped, Effect.provide(verify))
    }), 90_000)
})

describe("native listing of a replica that cannot be read", () => {
  it.scopedLive("connection refused: ReplicaUnreachable from each listing; gs:// : NativeReadUnsupported", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const port = yield* freePort
      const url = `s3://backups.localhost:${port}/apps/app.db`
      const listing = nativeListing(dir, url)
      const each: ReadonlyArray<(l: ReplicaListing.ReplicaListing["Type"]) => Effect.Effect<ReadonlyArray<unknown>, ReplicaListing.ListingError>> = [
        (l) => l.generations({ timeout: "20 seconds" }),
        (l) => l.snapshots({ timeout: "20 seconds" }),
        (l) => l.wal({ timeout: "20 seconds" })
      ]
      for (const list of each) {
        const error = yield* Effect.flip(Effect.flatMap(ReplicaListing.ReplicaListing, list).pipe(Effect.provide(listing)))
        expect(error).toBeInstanceOf(LitestreamError.ReplicaUnreachable)
        expect(error).toMatchObject({ _tag: "ReplicaUnreachable", replica: url })
      }
      const gs = yield* Effect.flip(Effect.flatMap(ReplicaListing.ReplicaListing, (l) => l.generations()).pipe(
        Effect.provide(nativeListing(dir, "gs://bucket/app.db"))
      ))
      expect(gs).toMatchObject({ _tag: "NativeReadUnsupported" })
    }), 60_000)
})
