/**
 * The native restore against its oracle, the real litestream v0.3.13: replicas written by
 * litestream (`Replicate.once`, several times, with checkpoints between so there are several WAL
 * indexes, and a lost shadow folder so there are several generations), at page sizes 1024, 4096
 * and 65536, from seeded workloads (inserts, updates, deletes, blobs over overflow pages,
 * VACUUM). Both layers restore the latest state and earlier points (timestamp, generation and
 * index); the files must be byte-identical (litestream's restore is deterministic), and sound.
 */
import { ReplicaListing, ReplicaStore, type Restore } from "@effect-litestream/core"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as NodePath from "node:path"
import { tempDir } from "../support/Fixtures.js"
import { dbPath, guardAgainstLeaks, once, services } from "../support/Harness.js"
import { native, nativeDeps, nativeWorkers, rawReplicate, restoreWith, step } from "../support/NativeReplica.js"
import { S3Server } from "../support/S3Server.js"
import * as Sqlite from "../support/Sqlite.js"
import { prng } from "../support/Writer.js"

guardAgainstLeaks()

const SEED = Number(process.env.FAULT_SEED ?? Date.now() % 1_000_000)

const files = (folder: string) => [dbPath(folder), `${dbPath(folder)}-wal`, `${dbPath(folder)}-shm`]

describe("native restore of litestream v0.3 replicas, against litestream restore", () => {
  for (const pageSize of [1024, 4096, 65536]) {
    for (const backend of ["file", "s3"] as const) {
      it.scopedLive(`page size ${pageSize}, ${backend}: latest, by timestamp, by generation and index: byte-identical, sound`, () =>
        Effect.gen(function*() {
          const seed = SEED + pageSize + (backend === "s3" ? 1 : 0)
          const random = prng(seed)
          const dir = yield* tempDir()
          const folder = NodePath.join(dir, "app")
          fs.mkdirSync(folder)
          const url = backend === "file"
            ? `file://${NodePath.join(dir, "replica")}`
            : (yield* Effect.orDie(S3Server("backups"))).url(`native/${pageSize}/app.db`)
          // the database, with the page size set before its first table
          const first = Sqlite.open(dbPath(folder))
          first.pragma(`page_size = ${pageSize}`)
          first.exec("VACUUM")
          first.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, payload TEXT NOT NULL)")
          first.exec("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)")
          first.close()
          const next = { id: 1 }
          const points: Array<Date> = []
          const binary = services(folder, url).pipe(Layer.orDie)
          const db = yield* Effect.acquireRelease(Effect.sync(() => Sqlite.open(dbPath(folder))), (db) => Effect.sync(() => db.close()))
          db.pragma("wal_autocheckpoint = 0")
          const round = () =>
            Effect.gen(function*() {
              for (let i = 0; i < 3 + Math.floor(random() * 6); i++) step(db, random, next)
              yield* Effect.sleep("250 millis")
              points.push(new Date())
              yield* Effect.sleep("50 millis")
            })
          // 1. raw `litestream replicate` running while the application writes, with a low
          //    checkpoint threshold: litestream checkpoints, so the generation has several WAL indexes
          yield* rawReplicate(dir, dbPath(folder), url, Effect.repeatN(round(), 3))
          // 2. the shadow folder lost: the next backup (`Replicate.once`) starts a new generation
          fs.rmSync(NodePath.join(folder, ".app.db-litestream"), { recursive: true, force: true })
          for (let r = 0; r < 2; r++) {
            yield* round()
            yield* once({ timeout: "30 seconds" }).pipe(Effect.provide(binary))
          }
          // litestream's own listing: the older generation and an index in its middle
          const wal = yield* Effect.flatMap(ReplicaListing.ReplicaListing, (l) => l.wal({ timeout: "30 seconds" })).pipe(
            Effect.provide(binary)
          )
          const generationsSeen = [...new Set(wal.map((w) => w.generation))]
          expect(generationsSeen.length, "two generations (the shadow folder was lost once)").toBeGreaterThanOrEqual(2)
          // the generation of the raw run: the one with the most WAL indexes
          const indexCount = (g: string) => new Set(wal.filter((w) => w.generation === g).map((w) => w.index)).size
          const raw = generationsSeen.reduce((a, b) => (indexCount(b) > indexCount(a) ? b : a))
          const older = wal.filter((w) => w.generation === raw).sort((x, y) => x.index - y.index)
          const indexes = [...new Set(older.map((w) => w.index))]
          expect(indexes.length, "several WAL indexes (checkpoints)").toBeGreaterThanOrEqual(2)
          // times as the store gives them (what both restores compare with), 1 ms later: litestream
          // reads file times in nanoseconds, a Date holds milliseconds
          const objects = yield* Effect.flatMap(ReplicaStore.ReplicaStore, (store) => Stream.runCollect(store.list("generations/"))).pipe(
            Effect.provide(ReplicaStore.layer.pipe(Layer.provide(nativeDeps(folder, url)))),
            Effect.orDie
          )
          const segments = [...objects].filter((o) => o.key.includes(`/${raw}/wal/`)).sort((x, y) => x.key < y.key ? -1 : 1)
          const after = (o: { readonly lastModified: Date }) => new Date(o.lastModified.getTime() + 1)
          // a segment whose generation wrote nothing else within 3 ms after it (at a checkpoint
          // litestream writes an index's last segment and the next index's first in the same
          // millisecond: 1 ms later would fall between them in nanoseconds, and a Date cannot
          // say which of the two): the first from `i` on, else the last
          const times = [...objects].filter((o) => o.key.includes(`/${raw}/`)).map((o) => o.lastModified.getTime())
          const alone = (i: number) =>
            segments.slice(i).find((s) => {
              const t = s.lastModified.getTime()
              return !times.some((u) => u > t && u - t < 3)
            }) ?? segments.at(-1)!
          const mid = older[Math.floor(older.length / 2)]!
          const firstSnapshot = Math.min(
            ...[...objects].filter((o) => o.key.includes(`/${raw}/snapshots/`)).map((o) => parseInt(NodePath.basename(o.key).split(".")[0]!, 16))
          )
          const targets: Array<{ readonly name: string; readonly options: Restore.RestoreOptions }> = [
            { name: "latest", options: {} },
            { name: "just after a middle WAL segment of the raw run", options: { timestamp: after(alone(Math.floor(segments.length / 2))) } },
            // past a generation's last object is outside it (as litestream v0.3 decides)
            { name: "just after the raw run's last WAL segment", options: { timestamp: after(segments.at(-1)!), ifReplicaExists: true } },
            { name: "just after the raw run's first WAL segment", options: { timestamp: after(alone(0)) } },
            // outside every generation: both say there is nothing to restore
            { name: "timestamp before the first backup", options: { timestamp: new Date(0), ifReplicaExists: true } },
            { name: "the raw run's generation, latest", options: { generation: raw } },
            { name: "the raw run's generation, a middle index", options: { generation: raw, index: mid.index } },
            // (its first snapshot is at index 0, or later when litestream checkpointed before it
            // uploaded the snapshot: a loaded machine)
            { name: "the raw run's generation, its first snapshot's index", options: { generation: raw, index: firstSnapshot } }
          ]
          let n = 0
          let restored = 0
          for (const target of targets) {
            const a = NodePath.join(dir, `oracle-${n}.db`)
            const b = NodePath.join(dir, `native-${n++}.db`)
            const oracle = yield* restoreWith(binary, { ...target.options, output: a }).pipe(
              Effect.mapError((e) => new Error(`litestream restore, ${target.name}: ${e.message}`))
            )
            // every other target with the worker-thread LZ4 decoder (the Node layer's), the others in this thread
            const layer = n % 2 === 0 ? nativeWorkers(folder, url) : native(folder, url)
            const ours = yield* restoreWith(layer, { ...target.options, output: b }).pipe(
              Effect.mapError((e) => new Error(`native restore, ${target.name}: ${e.message}`))
            )
            // the same outcome; restored: the same bytes
            expect({ ...ours, duration: 0, path: "" }, target.name).toEqual({ ...oracle, duration: 0, path: "" })
            if (oracle._tag === "Restored") {
              restored++
              expect(fs.readFileSync(b).equals(fs.readFileSync(a)), `${target.name} (seed ${seed}): byte-identical`).toBe(true)
              expect(Sqlite.integrityCheck(b), target.name).toBe("ok")
            } else {
              expect(fs.existsSync(b), target.name).toBe(false)
            }
            // nothing but the published database beside it
            expect(fs.readdirSync(dir).filter((f) => f.startsWith(".effect-litestream-restore-")), target.name).toEqual([])
          }
          expect(restored, "targets restored (the others: nothing to restore, both agree)").toBeGreaterThanOrEqual(targets.length - 2)
          // the live database as the source of truth for "latest"
          const live = Sqlite.readRows(dbPath(folder))
          expect(Sqlite.readRows(NodePath.join(dir, "native-0.db"))).toEqual(live)
          expect(files(folder).length).toBe(3)
        }), 120_000)
    }
  }
})

describe("native restore beside a stale -wal, -shm or -journal", () => {
  for (const suffix of ["-wal", "-shm", "-journal"]) {
    it.scopedLive(`a stale ${suffix} where the database is restored: StaleSidecarFiles, nothing published; moveAsideSidecars: restored, the file moved aside`, () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const folder = NodePath.join(dir, "app")
        fs.mkdirSync(folder)
        const url = `file://${NodePath.join(dir, "replica")}`
        const rows = Sqlite.createDatabase(dbPath(folder), 100)
        yield* once({ timeout: "30 seconds" }).pipe(Effect.provide(services(folder, url).pipe(Layer.orDie)))
        const output = NodePath.join(dir, "restored.db")
        const stale = `${output}${suffix}`
        fs.writeFileSync(stale, "left by an earlier database")
        const error = yield* Effect.flip(restoreWith(native(folder, url), { output }))
        expect(error._tag).toBe("StaleSidecarFiles")
        expect(fs.existsSync(output)).toBe(false)
        expect(fs.readFileSync(stale, "utf8")).toBe("left by an earlier database")
        const result = yield* restoreWith(native(folder, url), { output, moveAsideSidecars: true })
        expect(result._tag).toBe("Restored")
        expect(fs.existsSync(stale)).toBe(false)
        const moved = (result as { readonly movedAside?: ReadonlyArray<{ readonly to: string }> }).movedAside ?? []
        expect(moved).toHaveLength(1)
        expect(fs.readFileSync(moved[0]!.to, "utf8")).toBe("left by an earlier database")
        expect(Sqlite.readRows(output)).toEqual(rows)
        expect(fs.readdirSync(dir).filter((f) => f.startsWith(".effect-litestream-restore-"))).toEqual([])
      }))
  }
})
