/**
 * Back up and restore with the real litestream binary: against a file:// replica and against an
 * S3 server (fauxqs) on loopback.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as NodePath from "node:path"
import { exists, list, tempDir } from "../support/Fixtures.js"
import { dbPath, expectNoLitestream, guardAgainstLeaks, once, restore, services, siblings, timed } from "../support/Harness.js"
import { S3Server } from "../support/S3Server.js"
import * as Sqlite from "../support/Sqlite.js"

guardAgainstLeaks()

interface Backend {
  readonly name: string
  /** a fresh, empty replica for one test */
  readonly replica: (dir: string) => Effect.Effect<string, never, Scope.Scope>
  /** the generations the replica holds, where the test can look */
  readonly generations: (dir: string) => Effect.Effect<Option.Option<Array<string>>>
}

const backends: ReadonlyArray<Backend> = [
  {
    name: "file:// replica",
    replica: (dir) => Effect.succeed(`file://${NodePath.join(dir, "replica")}`),
    generations: (dir) => Effect.map(list(NodePath.join(dir, "replica", "generations")), Option.some)
  },
  {
    name: "S3 replica (fauxqs)",
    replica: () => Effect.map(Effect.orDie(S3Server("backups")), (s3) => s3.url("apps/app.db")),
    generations: () => Effect.succeed(Option.none())
  }
]

const TIMEOUT = "20 seconds"

describe.each(backends)("$name", (backend) => {
  it.scopedLive("round trip: back up, delete the local copy, restore the same rows", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const url = yield* backend.replica(dir)
      const db = dbPath(dir)
      const written = Sqlite.createDatabase(db, 250)
      expect(Sqlite.journalMode(db)).toBe("wal")

      yield* Effect.gen(function*() {
        const result = yield* once({ timeout: TIMEOUT, deleteLocal: true })
        yield* expectNoLitestream
        expect(Option.isSome(result.position)).toBe(true)
        // the database and litestream's shadow folder existed and were deleted
        expect(result.deleted).toContain(db)
        expect(result.deleted).toContain(siblings(db)[3])
        for (const file of siblings(db)) expect(yield* exists(file), file).toBe(false)

        const generations = yield* backend.generations(dir)
        if (Option.isSome(generations) && Option.isSome(result.position)) {
          expect(generations.value).toEqual([result.position.value.generation])
        }

        const restored = yield* restore({ timeout: TIMEOUT })
        yield* expectNoLitestream
        expect(restored._tag).toBe("Restored")
        expect(restored.path).toBe(db)
        expect(yield* exists(`${db}.tmp`)).toBe(false)
        expect(Sqlite.readRows(db)).toEqual(written)
        expect(Sqlite.integrityCheck(db)).toBe("ok")
      }).pipe(Effect.provide(services(dir, url)))
    }))

  it.scopedLive("once twice on an unchanged database, then after more rows: the restore has every row", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const url = yield* backend.replica(dir)
      const db = dbPath(dir)
      const first = Sqlite.createDatabase(db, 100)

      yield* Effect.gen(function*() {
        const r1 = yield* once({ timeout: TIMEOUT })
        yield* expectNoLitestream
        expect(r1.deleted).toEqual([])
        expect(yield* exists(db)).toBe(true)

        // Nothing changed: litestream writes nothing new, and only reports the replica's position
        // (debug level). That must end the run quickly, not wait for the timeout.
        const [r2, ms] = yield* timed(once({ timeout: "8 seconds" }))
        yield* expectNoLitestream
        expect(ms).toBeLessThan(4_000)
        expect(Option.map(r2.position, (p) => p.generation)).toEqual(Option.map(r1.position, (p) => p.generation))

        const more = Sqlite.addRows(db, 40)
        const r3 = yield* once({ timeout: TIMEOUT, deleteLocal: true })
        yield* expectNoLitestream
        expect(r3.deleted).toContain(db)
        expect(yield* exists(db)).toBe(false)

        // Both "skip" options set, neither applies: a plain restore.
        const restored = yield* restore({ timeout: TIMEOUT, ifDbNotExists: true, ifReplicaExists: true })
        expect(restored).toMatchObject({ _tag: "Restored", path: db })
        expect(Sqlite.readRows(db)).toEqual([...first, ...more])
        expect(Sqlite.integrityCheck(db)).toBe("ok")
        yield* expectNoLitestream
      }).pipe(Effect.provide(services(dir, url)))
    }))

  it.scopedLive("rows committed while the application keeps the database open are in the backup", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const url = yield* backend.replica(dir)
      const db = dbPath(dir)
      const first = Sqlite.createDatabase(db, 30)
      // The application's connection stays open (its WAL is not checkpointed away on close).
      const app = yield* Effect.acquireRelease(Effect.sync(() => Sqlite.open(db)), (c) => Effect.sync(() => c.close()))
      const second = Sqlite.rows(25, 31)
      Sqlite.insertRows(app, second)
      expect(yield* exists(`${db}-wal`)).toBe(true)

      yield* Effect.gen(function*() {
        yield* once({ timeout: TIMEOUT })
        const third = Sqlite.rows(15, 56)
        Sqlite.insertRows(app, third)
        yield* once({ timeout: TIMEOUT })
        yield* expectNoLitestream

        const output = NodePath.join(dir, "restored", "copy.db")
        const restored = yield* restore({ timeout: TIMEOUT, output })
        expect(restored).toMatchObject({ _tag: "Restored", path: output })
        expect(Sqlite.readRows(output)).toEqual([...first, ...second, ...third])
        expect(Sqlite.integrityCheck(output)).toBe("ok")
        // the application's own view is unchanged
        expect(app.prepare("SELECT COUNT(*) AS n FROM items").get()).toEqual({ n: 70 })
      }).pipe(Effect.provide(services(dir, url)))
    }))
})

describe("first backups, back to back", () => {
  // litestream v0.3.13 runs its final sync (on SIGTERM) while the replica's own sync may still be
  // writing: stopping it in the middle of a sync failed about one first backup in seven
  // ("client write: stat ....wal.lz4.tmp: no such file or directory", or a hang on S3).
  // Miss rate: were that race back at 1 in 7 per backup, 14 backups would all pass with
  // probability (6/7)^14, about 11%; ELT_RACE_ROUNDS=40 brings it under 0.3%.
  const ROUNDS = Number(process.env.ELT_RACE_ROUNDS ?? 14)
  it.scopedLive(`never stop litestream in the middle of its own sync (${ROUNDS} backups)`, () =>
    Effect.gen(function*() {
      const s3 = yield* Effect.orDie(S3Server("backups"))
      for (let i = 0; i < ROUNDS; i++) {
        const dir = yield* tempDir()
        const url = i % 2 === 0 ? `file://${NodePath.join(dir, "replica")}` : s3.url(`race/${i}/app.db`)
        Sqlite.createDatabase(dbPath(dir), 50)
        yield* once({ timeout: TIMEOUT, grace: "3 seconds" }).pipe(
          Effect.provide(services(dir, url)),
          Effect.mapError((e) => new Error(`backup ${i} to ${url}: ${e.message}`))
        )
      }
      yield* expectNoLitestream
    }))
})
