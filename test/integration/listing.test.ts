/**
 * Replica listings with the real litestream binary: typed rows for a real replica (file:// and
 * fauxqs), agreeing with what replication reported; an empty replica lists nothing; a replica
 * that cannot be read is a typed error (litestream itself exits 0 then, with an ERROR line).
 */
import { LitestreamError, ReplicaListing } from "@effect-litestream/core"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as NodePath from "node:path"
import { freePort, tempDir } from "../support/Fixtures.js"
import { dbPath, expectNoLitestream, guardAgainstLeaks, once, services } from "../support/Harness.js"
import { generations, snapshots, stoppableS3, wal } from "../support/Replication.js"
import { S3Server } from "../support/S3Server.js"
import * as Sqlite from "../support/Sqlite.js"

guardAgainstLeaks()

interface Backend {
  readonly name: string
  /** litestream's name of the replica type, in the `replica` column */
  readonly type: string
  readonly replica: (dir: string) => Effect.Effect<string, never, Scope.Scope>
}

const backends: ReadonlyArray<Backend> = [
  { name: "file:// replica", type: "file", replica: (dir) => Effect.succeed(`file://${NodePath.join(dir, "replica")}`) },
  { name: "S3 replica (fauxqs)", type: "s3", replica: () => Effect.map(Effect.orDie(S3Server("backups")), (s3) => s3.url("apps/app.db")) }
]

describe.each(backends)("ReplicaListing, $name", (backend) => {
  it.scopedLive("generations, snapshots and wal: typed rows that agree with the backups made", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const url = yield* backend.replica(dir)
      const db = dbPath(dir)
      Sqlite.createDatabase(db, 50)
      yield* Effect.gen(function*() {
        // nothing backed up yet: empty listings, not errors
        expect(yield* generations()).toEqual([])
        expect(yield* snapshots()).toEqual([])
        expect(yield* wal()).toEqual([])

        const startedAt = Math.floor(Date.now() / 1000) * 1000
        const first = yield* once({ timeout: "20 seconds" })
        Sqlite.addRows(db, 20)
        const second = yield* once({ timeout: "20 seconds" })
        const endedAt = Date.now()
        const ids = [first, second].map((r) => Option.getOrThrow(r.position).generation)

        const listed = yield* generations()
        for (const g of listed) {
          expect(g).toBeInstanceOf(ReplicaListing.Generation)
          expect(g.replica).toBe(backend.type)
          expect(g.lag).toMatch(/^-?[\d.]+(ns|µs|us|ms|s|m|h)/)
          expect(g.start.getTime()).toBeGreaterThanOrEqual(startedAt)
          expect(g.end.getTime()).toBeGreaterThanOrEqual(g.start.getTime())
          expect(g.end.getTime()).toBeLessThanOrEqual(endedAt)
        }
        // each `once` ran on a database whose WAL litestream had checkpointed away: a generation each
        expect(listed.map((g) => g.generation).sort()).toEqual([...new Set(ids)].sort())

        const snaps = yield* snapshots()
        expect(snaps.length).toBeGreaterThanOrEqual(listed.length)
        for (const s of snaps) {
          expect(s).toBeInstanceOf(ReplicaListing.Snapshot)
          expect(s.replica).toBe(backend.type)
          expect(ids).toContain(s.generation)
          expect(s.index).toBe(0)
          expect(s.size).toBeGreaterThan(0)
          expect(s.created).toBeInstanceOf(Date)
        }
        const segments = yield* wal()
        expect(segments.length).toBeGreaterThan(0)
        for (const w of segments) {
          expect(w).toBeInstanceOf(ReplicaListing.WalSegment)
          expect(w.replica).toBe(backend.type)
          expect(ids).toContain(w.generation)
          expect(w.offset).toBeGreaterThanOrEqual(0)
          expect(w.size).toBeGreaterThan(0)
        }
        // the last backup's position is inside the last generation's WAL
        const last = Option.getOrThrow(second.position)
        expect(segments.some((w) => w.generation === last.generation && w.index === last.index)).toBe(true)
        yield* expectNoLitestream
      }).pipe(Effect.provide(services(dir, url)))
    }))
})

describe("ReplicaListing: a replica that cannot be read", () => {
  it.scopedLive("connection refused: ReplicaUnreachable from each listing (litestream exits 0 and prints the header only)", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const port = yield* freePort
      const url = `s3://backups.localhost:${port}/apps/app.db`
      yield* Effect.gen(function*() {
        const lists: ReadonlyArray<Effect.Effect<ReadonlyArray<unknown>, ReplicaListing.ListingError, ReplicaListing.ReplicaListing>> = [
          generations(),
          snapshots(),
          wal()
        ]
        for (const list of lists) {
          const error = yield* Effect.flip(list)
          expect(error).toBeInstanceOf(LitestreamError.ReplicaUnreachable)
          expect(error).toMatchObject({ _tag: "ReplicaUnreachable", replica: url })
          expect((error as LitestreamError.ReplicaUnreachable).detail).toMatch(/connection refused/)
        }
        yield* expectNoLitestream
      }).pipe(Effect.provide(services(dir, url)))
    }))

  it.scopedLive("the store goes away after a backup: ReplicaUnreachable, not an empty list", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const s3 = yield* stoppableS3()
      Sqlite.createDatabase(dbPath(dir), 10)
      yield* Effect.gen(function*() {
        yield* once({ timeout: "20 seconds" })
        expect(yield* generations()).toHaveLength(1)
        yield* s3.stop
        expect(yield* Effect.flip(generations())).toMatchObject({ _tag: "ReplicaUnreachable" })
      }).pipe(Effect.provide(services(dir, s3.url("apps/app.db"))))
    }))

  it.scopedLive("a bucket that does not exist: ReplicaUnreachable (NoSuchBucket)", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const s3 = yield* Effect.orDie(S3Server("backups"))
      yield* Effect.gen(function*() {
        const error = yield* Effect.flip(generations())
        expect(error).toMatchObject({ _tag: "ReplicaUnreachable" })
        expect((error as LitestreamError.ReplicaUnreachable).detail).toContain("NoSuchBucket")
      }).pipe(Effect.provide(services(dir, s3.urlIn("no-such-bucket", "apps/app.db"))))
    }))
})
