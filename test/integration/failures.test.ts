/**
 * Failures with the real litestream binary: a missing or unusable binary, a missing database, a
 * replica that refuses connections or has no bucket, a replica that never answers (timeouts),
 * and interruption. After each: a typed error, no litestream left running, no secret in sight,
 * and the local database untouched.
 */
import { LitestreamError } from "@effect-litestream/core"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as fs from "node:fs"
import * as NodePath from "node:path"
import { exists, freePort, list, pidAlive, readBytes, silentServer, tempDir } from "../support/Fixtures.js"
import {
  dbPath,
  expectNoLitestream,
  failure,
  guardAgainstLeaks,
  once,
  restore,
  SECRET,
  services,
  timed
} from "../support/Harness.js"
import { workingChildren } from "../support/Faults.js"
import { S3Server } from "../support/S3Server.js"
import * as Sqlite from "../support/Sqlite.js"

guardAgainstLeaks()

/** Room for starting and stopping litestream on a loaded 2-core machine, over the configured waits. */
const SLACK_MS = 4_000

/** A database with rows, and a check that it is still there, byte for byte, with its rows. */
const liveDatabase = (dir: string) =>
  Effect.gen(function*() {
    const db = dbPath(dir)
    const written = Sqlite.createDatabase(db, 20)
    const bytes = yield* readBytes(db)
    const unchanged = Effect.gen(function*() {
      expect(yield* readBytes(db)).toEqual(bytes)
      expect(Sqlite.readRows(db)).toEqual(written)
    })
    return { db, unchanged }
  })

describe("the litestream binary", () => {
  it.scopedLive("missing: BinaryNotFound NotFound from Replicate and Restore", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const binary = "/nonexistent/litestream"
      const { unchanged } = yield* liveDatabase(dir)
      yield* Effect.gen(function*() {
        const e1 = yield* failure(once({ timeout: "10 seconds", deleteLocal: true }))
        expect(e1).toBeInstanceOf(LitestreamError.BinaryNotFound)
        expect(e1).toMatchObject({ _tag: "BinaryNotFound", binary, reason: "NotFound" })
        yield* unchanged

        const output = NodePath.join(dir, "out", "restored.db")
        const e2 = yield* failure(restore({ timeout: "10 seconds", output }))
        expect(e2).toMatchObject({ _tag: "BinaryNotFound", binary, reason: "NotFound" })
        expect(yield* exists(output)).toBe(false)
        expect(yield* exists(`${output}.tmp`)).toBe(false)
        yield* unchanged
      }).pipe(Effect.provide(services(dir, `file://${NodePath.join(dir, "replica")}`, { binary })))
    }))

  it.scopedLive("not executable: BinaryNotFound NotExecutable from Replicate and Restore", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const binary = NodePath.join(dir, "litestream")
      yield* Effect.promise(() => fs.promises.writeFile(binary, "#!/bin/sh\nexit 0\n", { mode: 0o644 }))
      const { unchanged } = yield* liveDatabase(dir)
      yield* Effect.gen(function*() {
        const e1 = yield* failure(once({ timeout: "10 seconds", deleteLocal: true }))
        expect(e1).toMatchObject({ _tag: "BinaryNotFound", binary, reason: "NotExecutable" })
        yield* unchanged
        const output = NodePath.join(dir, "restored.db")
        const e2 = yield* failure(restore({ timeout: "10 seconds", output }))
        expect(e2).toMatchObject({ _tag: "BinaryNotFound", binary, reason: "NotExecutable" })
        expect(yield* exists(output)).toBe(false)
      }).pipe(Effect.provide(services(dir, `file://${NodePath.join(dir, "replica")}`, { binary })))
    }))
})

describe("the database", () => {
  it.scopedLive("missing: DatabaseNotFound, and nothing is created", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const db = dbPath(dir)
      const error = yield* failure(
        once({ timeout: "10 seconds", deleteLocal: true }).pipe(
          Effect.provide(services(dir, `file://${NodePath.join(dir, "replica")}`))
        )
      )
      expect(error).toBeInstanceOf(LitestreamError.DatabaseNotFound)
      expect(error).toMatchObject({ _tag: "DatabaseNotFound", path: db })
      expect(yield* list(dir)).toEqual([])
    }))
})

describe("an unreachable replica", () => {
  it.scopedLive("connection refused: ReplicaUnreachable from once (long before its timeout) and from restore", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const port = yield* freePort
      const url = `s3://backups.localhost:${port}/apps/app.db`
      const { unchanged } = yield* liveDatabase(dir)
      yield* Effect.gen(function*() {
        const [e1, ms] = yield* timed(failure(once({ timeout: "30 seconds", deleteLocal: true })))
        expect(e1).toBeInstanceOf(LitestreamError.ReplicaUnreachable)
        expect(e1).toMatchObject({ _tag: "ReplicaUnreachable", replica: url })
        // litestream's error ended it, not the 30 s timeout
        expect(ms).toBeLessThan(15_000)
        // the failed backup deleted nothing
        yield* unchanged

        const output = NodePath.join(dir, "restored.db")
        const e2 = yield* failure(restore({ timeout: "30 seconds", output }))
        expect(e2).toBeInstanceOf(LitestreamError.ReplicaUnreachable)
        expect(e2).toMatchObject({ _tag: "ReplicaUnreachable", replica: url })
        expect((e2 as LitestreamError.ReplicaUnreachable).detail).toMatch(/send request failed|connection refused/)
        expect(yield* exists(output)).toBe(false)
        expect(yield* exists(`${output}.tmp`)).toBe(false)
        yield* unchanged
      }).pipe(Effect.provide(services(dir, url)))
    }))

  it.scopedLive("a bucket that does not exist: ReplicaUnreachable (NoSuchBucket) from once and restore", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const s3 = yield* Effect.orDie(S3Server("backups"))
      const url = s3.urlIn("no-such-bucket", "apps/app.db")
      const { unchanged } = yield* liveDatabase(dir)
      yield* Effect.gen(function*() {
        const [e1, ms] = yield* timed(failure(once({ timeout: "30 seconds", deleteLocal: true })))
        expect(e1).toMatchObject({ _tag: "ReplicaUnreachable", replica: url })
        expect((e1 as LitestreamError.ReplicaUnreachable).detail).toContain("NoSuchBucket")
        // litestream's error ended it, not the 30 s timeout
        expect(ms).toBeLessThan(15_000)
        yield* unchanged

        const output = NodePath.join(dir, "restored.db")
        const e2 = yield* failure(restore({ timeout: "30 seconds", output }))
        expect(e2).toMatchObject({ _tag: "ReplicaUnreachable", replica: url })
        expect((e2 as LitestreamError.ReplicaUnreachable).detail).toContain("NoSuchBucket")
        expect(yield* exists(output)).toBe(false)
        expect(yield* exists(`${output}.tmp`)).toBe(false)
      }).pipe(Effect.provide(services(dir, url)))
    }))
})

describe("timeouts and interruption", () => {
  it.scopedLive("once against a replica that never answers: LitestreamTimeout, litestream stopped, nothing deleted", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const port = yield* silentServer
      const { unchanged } = yield* liveDatabase(dir)
      const [error, ms] = yield* timed(failure(
        once({ timeout: "300 millis", grace: "1 second", deleteLocal: true }).pipe(
          Effect.provide(services(dir, `s3://backups.localhost:${port}/apps/app.db`))
        )
      ))
      expect(error).toBeInstanceOf(LitestreamError.LitestreamTimeout)
      expect(error).toMatchObject({ _tag: "LitestreamTimeout", operation: "replicate" })
      // the timeout (300 ms), at most the grace period for the final sync (1 s), and the slack
      expect(ms).toBeGreaterThanOrEqual(300)
      expect(ms).toBeLessThan(300 + 1_000 + SLACK_MS)
      yield* unchanged
    }))

  it.scopedLive("restore from a replica that never answers: LitestreamTimeout, no output and no .tmp left", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const port = yield* silentServer
      const output = NodePath.join(dir, "out", "restored.db")
      const [error, ms] = yield* timed(failure(
        restore({ timeout: "300 millis", output }).pipe(
          Effect.provide(services(dir, `s3://backups.localhost:${port}/apps/app.db`))
        )
      ))
      expect(error).toMatchObject({ _tag: "LitestreamTimeout", operation: "restore" })
      // the timeout (300 ms), then litestream stopped
      expect(ms).toBeGreaterThanOrEqual(300)
      expect(ms).toBeLessThan(300 + SLACK_MS)
      expect(yield* list(NodePath.join(dir, "out"))).toEqual([])
    }))

  it.scopedLive("timeouts shorter than litestream's start-up, against a working replica: no process left", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const { unchanged } = yield* liveDatabase(dir)
      yield* Effect.gen(function*() {
        for (const timeout of ["1 millis", "15 millis", "40 millis"] as const) {
          const error = yield* failure(once({ timeout, deleteLocal: true }))
          expect(error, timeout).toMatchObject({ _tag: "LitestreamTimeout", operation: "replicate" })
          yield* unchanged
        }
        // and the database can still be backed up afterwards
        const result = yield* once({ timeout: "20 seconds" })
        expect(result.deleted).toEqual([])
        yield* expectNoLitestream
      }).pipe(Effect.provide(services(dir, `file://${NodePath.join(dir, "replica")}`)))
    }))

  it.scopedLive("interrupting a running once stops litestream; its argv and config hold no secret", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const port = yield* silentServer
      const { unchanged } = yield* liveDatabase(dir)
      yield* Effect.gen(function*() {
        const fiber = yield* Effect.fork(once({ timeout: "60 seconds", grace: "1 second", deleteLocal: true }))
        const [pid] = yield* workingChildren.pipe(
          Effect.filterOrFail((pids) => pids.length === 1, () => "not started yet"),
          Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("10 seconds")))
        )
        const argv = (yield* readBytes(`/proc/${pid}/cmdline`)).toString().split("\0")
        expect(argv.join(" ")).not.toContain(SECRET)
        const config = argv[argv.indexOf("-config") + 1]!
        expect((yield* readBytes(config)).toString()).not.toContain(SECRET)

        const [, ms] = yield* timed(Fiber.interrupt(fiber))
        // at most the grace period (1 s), not the 60 s timeout
        expect(ms).toBeLessThan(1_000 + SLACK_MS)
        expect(pidAlive(pid!)).toBe(false)
        yield* expectNoLitestream
        // the generated config is removed with its temporary folder
        expect(yield* exists(config)).toBe(false)
      }).pipe(Effect.provide(services(dir, `s3://backups.localhost:${port}/apps/app.db`)))
      yield* unchanged
    }))

  it.scopedLive("interrupting a running restore stops litestream and leaves no output", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const port = yield* silentServer
      const output = NodePath.join(dir, "out", "restored.db")
      yield* Effect.gen(function*() {
        const fiber = yield* Effect.fork(restore({ timeout: "60 seconds", output }))
        const [pid] = yield* workingChildren.pipe(
          Effect.filterOrFail((pids) => pids.length === 1, () => "not started yet"),
          Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("10 seconds")))
        )
        yield* Fiber.interrupt(fiber)
        expect(pidAlive(pid!)).toBe(false)
        yield* expectNoLitestream
        expect(yield* list(NodePath.join(dir, "out"))).toEqual([])
      }).pipe(Effect.provide(services(dir, `s3://backups.localhost:${port}/apps/app.db`)))
    }))
})
