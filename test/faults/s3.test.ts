/**
 * The S3 store misbehaving, through a fault-injecting proxy in front of fauxqs: down at start,
 * going away in the middle of a continuous replication and coming back, 403, 500, slow answers,
 * dropped connections. Each failure is a typed error within the timeout, the local database is
 * kept (every `once` here has `deleteLocal: true`), nothing is lost, no litestream is left, and
 * no credential shows up anywhere (see Sweep).
 */
import { LitestreamError } from "@effect-litestream/core"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as NodePath from "node:path"
import * as Figures from "../support/Figures.js"
import { exists, list } from "../support/Fixtures.js"
import {
  dbPath,
  deleteLocal,
  expectGone,
  expectNoChildren,
  listing,
  liveDatabase,
  once,
  poll,
  replicate,
  restore,
  swept,
  tagOf,
  timedExit,
  verifiedBackup
} from "../support/Faults.js"
import { Delay, Deny, Drop, type Fault, FaultProxy, Pass, type Rule, ServerError } from "../support/FaultProxy.js"
import type { FaultProxy as FaultProxyService } from "../support/FaultProxy.js"
import { guardAgainstLeaks } from "../support/Harness.js"
import { S3Server } from "../support/S3Server.js"
import { v3Position } from "../support/Replication.js"
import * as Sqlite from "../support/Sqlite.js"
import { KEY_ID, SECRET } from "../support/Sweep.js"

guardAgainstLeaks()

/** Adds a row every 100 ms, forever: litestream tries the replica again at each change. */
const keepWriting = (db: string) =>
  Effect.sync(() => Sqlite.addRows(db, 1)).pipe(Effect.zipRight(Effect.sleep("100 millis")), Effect.forever)

/** fauxqs on a free port, the proxy in front of it, and the replica URL through the proxy. */
const store = Effect.gen(function*() {
  const s3 = yield* Effect.orDie(S3Server("backups"))
  const proxy = yield* FaultProxy(s3.port)
  return { s3, proxy, url: proxy.url("backups", "apps/app.db") }
})

describe("S3 down at start", () => {
  it.scopedLive("once, restore, listing, verified backup and continuous replication: typed errors, db kept", (ctx) =>
    swept(ctx.task.name, ({ dir, fails, sweep }) =>
      Effect.gen(function*() {
        const { proxy, url } = yield* store
        yield* proxy.stop
        const { db, kept } = yield* liveDatabase(dir)
        yield* Effect.gen(function*() {
          const started = Date.now()
          const e1 = yield* fails("once", once({ timeout: "30 seconds", deleteLocal: true }))
          const ms = Date.now() - started
          expect(e1).toMatchObject({ _tag: "ReplicaUnreachable", replica: url })
          // it did not wait for its timeout: litestream's error ended it
          expect(ms, "once fails long before its 30 s timeout").toBeLessThan(15_000)
          yield* kept

          const output = NodePath.join(dir, "out", "restored.db")
          const e2 = yield* fails("restore", restore({ timeout: "30 seconds", output }))
          expect(e2).toBeInstanceOf(LitestreamError.ReplicaUnreachable)
          expect(yield* list(NodePath.join(dir, "out"))).toEqual([])

          const e4 = yield* fails("verified backup", verifiedBackup({ timeout: "20 seconds", deleteLocal: true }))
          expect(e4).toMatchObject({ _tag: "ReplicaUnreachable" })
          // (the verified backup wrote its sentinel row: the rows of the application stay)
          yield* kept

          // Continuous: litestream keeps retrying (it tries the replica again at each change of
          // the database); the error policy turns that into a typed failure.
          const e5 = yield* fails(
            "replicate",
            Effect.scoped(Effect.gen(function*() {
              const replication = yield* replicate({ policy: { maxConsecutiveErrors: 3 }, grace: "2 seconds" })
              return yield* Effect.raceFirst(replication.await, keepWriting(db))
            }))
          )
          expect(e5).toMatchObject({ _tag: "ReplicationFailed", reason: "ConsecutiveErrors", errors: 3 })
          expect(Sqlite.readRows(db).length).toBeGreaterThan(20)
        }).pipe(Effect.provide(sweep.layer(dir, url)))
      })))
})

describe("listings of a store that cannot be read", () => {
  // litestream v0.3.13's generations / snapshots / wal commands exit 0 when the replica cannot be
  // read: they log "ERROR cannot list generations ... connection refused" (or AccessDenied) and
  // print the header alone. Found by this suite, fixed in ReplicaListing by its owner.
  for (const [name, setup, tag] of [
    ["store down", (proxy: FaultProxyService) => proxy.stop, "ReplicaUnreachable"],
    ["store answering 403", (proxy: FaultProxyService) => proxy.set(Deny()), "ReplicaAccessDenied"]
  ] as const) {
    it.scopedLive(`${name}: generations, snapshots and wal fail with ${tag}`, (ctx) =>
      swept(ctx.task.name, ({ dir, fails, sweep }) =>
        Effect.gen(function*() {
          const { proxy, url } = yield* store
          yield* setup(proxy)
          yield* Effect.gen(function*() {
            for (const kind of ["generations", "snapshots", "wal"] as const) {
              const e = yield* fails(kind, listing(kind))
              expect(e, kind).toMatchObject({ _tag: tag })
            }
          }).pipe(Effect.provide(sweep.layer(dir, url)))
        })))
  }
})

describe("S3 answering 403", () => {
  // The 403 body echoes both credentials, as a careless store might: litestream prints the body's
  // message, and the library must mask it everywhere.
  const denial = Deny(`Access Denied for ${KEY_ID} signed with ${SECRET}`)

  it.scopedLive("ReplicaAccessDenied from once, restore and listings; ReplicationFailed; echoed credentials masked", (ctx) =>
    swept(ctx.task.name, ({ dir, fails, sweep, sweepEvents }) =>
      Effect.gen(function*() {
        const { proxy, url } = yield* store
        yield* proxy.set(denial)
        const { kept } = yield* liveDatabase(dir)
        yield* Effect.gen(function*() {
          const e1 = yield* fails("once", once({ timeout: "30 seconds", deleteLocal: true }))
          expect(e1).toBeInstanceOf(LitestreamError.ReplicaAccessDenied)
          expect((e1 as LitestreamError.ReplicaAccessDenied).detail).toContain("AccessDenied")
          // the echo reached litestream's output, and was masked
          expect((e1 as LitestreamError.ReplicaAccessDenied).detail).toContain("<redacted>")
          yield* kept

          const output = NodePath.join(dir, "restored.db")
          const e2 = yield* fails("restore", restore({ timeout: "30 seconds", output }))
          expect(e2).toBeInstanceOf(LitestreamError.ReplicaAccessDenied)
          expect(yield* exists(output)).toBe(false)
          expect(yield* exists(`${output}.tmp`)).toBe(false)

          const e4 = yield* fails(
            "replicate",
            Effect.scoped(Effect.gen(function*() {
              const replication = yield* replicate({ policy: { maxConsecutiveErrors: 3 }, grace: "2 seconds" })
              yield* sweepEvents(replication)
              return yield* Effect.raceFirst(replication.await, keepWriting(dbPath(dir)))
            }))
          )
          expect(e4).toMatchObject({ _tag: "ReplicationFailed" })
          expect((e4 as LitestreamError.ReplicationFailed).lastError).toContain("<redacted>")
          const denied = (yield* proxy.handled).filter((h) => h.fault === "Deny").length
          expect(denied).toBeGreaterThan(3)
        }).pipe(Effect.provide(sweep.layer(dir, url)))
      })))
})

interface Case {
  readonly name: string
  readonly rule: Rule
  /** what must happen to once, and to a restore, under the fault: "success" or the error's tag */
  readonly once: string
  readonly restore: string
  /** the timeout of once and restore under this fault; default TIMEOUT_MS */
  readonly timeoutMs?: number
}

const intermittent = (every: number, fault: Fault): Rule => (req) => req.n % every === every - 1 ? fault : Pass

// The intermittent faults succeed because litestream's S3 client retries a failed request (a 500
// or a dropped connection) and the retry is the next request, which passes.
const cases: ReadonlyArray<Case> = [
  { name: "500 on every request", rule: ServerError, once: "ReplicaError", restore: "LitestreamFailed" },
  // (a timeout that a loaded machine does not reach: under two test runs at once, 2 s was missed)
  { name: "500 on every 3rd request", rule: intermittent(3, ServerError), once: "success", restore: "success", timeoutMs: 15_000 },
  { name: "every connection dropped", rule: Drop, once: "ReplicaUnreachable", restore: "ReplicaUnreachable" },
  { name: "every 4th connection dropped", rule: intermittent(4, Drop), once: "success", restore: "success", timeoutMs: 15_000 },
  // slow but within a generous timeout: must succeed (about 1 s and 1.5 s here)
  { name: "every answer 100 ms late", rule: Delay(100), once: "success", restore: "success", timeoutMs: 15_000 },
  { name: "every 2nd answer 400 ms late", rule: intermittent(2, Delay(400)), once: "success", restore: "success", timeoutMs: 15_000 },
  { name: "answers 10 s late (past the timeout)", rule: Delay(10_000), once: "LitestreamTimeout", restore: "LitestreamTimeout" }
]

const TIMEOUT_MS = 2_000
const GRACE_MS = 1_000
/** Room for starting and stopping litestream on a loaded 2-core machine, over the configured waits. */
const SLACK_MS = 4_000
// the timeout, the grace period of the final sync, process start and stop
const boundMs = (c: Case) => (c.timeoutMs ?? TIMEOUT_MS) + GRACE_MS + SLACK_MS

describe("S3 answering 500, slowly, or dropping connections", () => {
  it.scopedLive(`once then restore under each fault: the stated outcome, never past timeout + grace (${cases.length} faults)`, (ctx) =>
    swept(ctx.task.name, ({ dir, sweep }) =>
      Effect.gen(function*() {
        const { proxy } = yield* store
        const outcomes: Array<Record<string, unknown>> = []
        let i = 0
        for (const c of cases) {
          const folder = NodePath.join(dir, `case-${i}`)
          const url = proxy.url("backups", `cases/${i++}/app.db`)
          const { db, written, kept } = yield* liveDatabase(folder)
          yield* proxy.set(c.rule)
          yield* Effect.gen(function*() {
            const timeout = `${c.timeoutMs ?? TIMEOUT_MS} millis` as const
            const [exit, ms] = yield* timedExit(once({ timeout, grace: `${GRACE_MS} millis`, deleteLocal: true }))
            yield* expectNoChildren
            expect(ms, `${c.name}: once took ${ms} ms`).toBeLessThan(boundMs(c))
            const tag = tagOf(exit)
            if (Exit.isFailure(exit)) sweep.cause(`once under ${c.name}`, exit.cause)
            expect(tag, `once under ${c.name}`).toBe(c.once)

            if (Exit.isSuccess(exit)) {
              // deleted only after the backup succeeded; then everything must come back
              expect(yield* exists(db)).toBe(false)
              yield* proxy.set(Pass)
              const restored = yield* restore({ timeout: "20 seconds" })
              expect(restored._tag).toBe("Restored")
              expect(Sqlite.readRows(db)).toEqual(written)
            } else {
              yield* kept
            }

            // A restore under the same fault (to another path): typed error or success in time.
            yield* proxy.set(c.rule)
            const output = NodePath.join(folder, "again", "restored.db")
            const [rexit, rms] = yield* timedExit(restore({ timeout, output }))
            yield* expectNoChildren
            expect(rms, `${c.name}: restore took ${rms} ms`).toBeLessThan((c.timeoutMs ?? TIMEOUT_MS) + SLACK_MS)
            if (Exit.isFailure(rexit)) sweep.cause(`restore under ${c.name}`, rexit.cause)
            const rtag = tagOf(rexit)
            expect(rtag, `restore under ${c.name}`).toBe(c.restore)
            if (Exit.isSuccess(rexit)) {
              expect(Sqlite.readRows(output)).toEqual(written)
            } else {
              expect(yield* list(NodePath.join(folder, "again")), `${c.name}: no partial output`).toEqual([])
            }
            outcomes.push({ fault: c.name, once: tag, onceMs: ms, restore: rtag, restoreMs: rms })
          }).pipe(Effect.provide(sweep.layer(folder, url)))
        }
        Figures.record("s3-faults", { outcomes })
      })), 120_000)
})

describe("S3 going away during a continuous replication", () => {
  it.scopedLive("comes back: replication resumes, every committed row is in the replica and restored", (ctx) =>
    swept(ctx.task.name, ({ dir, sweep, sweepEvents }) =>
      Effect.gen(function*() {
        const { proxy, url } = yield* store
        const db = dbPath(dir)
        const first = Sqlite.createDatabase(db, 10)
        yield* Effect.gen(function*() {
          const committed = [...first]
          let errors = 0
          yield* Effect.scoped(Effect.gen(function*() {
            const app = yield* Effect.acquireRelease(Effect.sync(() => Sqlite.open(db)), (c) => Effect.sync(() => c.close()))
            const replication = yield* replicate({
              policy: { maxConsecutiveErrors: 100_000, maxErrorDuration: "2 minutes" },
              grace: "5 seconds"
            })
            yield* sweepEvents(replication)
            const ended = yield* Effect.fork(replication.await)
            const write = (count: number) =>
              Effect.sync(() => {
                const max = committed.at(-1)!.id
                const list = Sqlite.rows(count, max + 1)
                Sqlite.insertRows(app, list)
                committed.push(...list)
              })
            // A: replicated while the store is up
            yield* replication.syncAfter(write(25))

            // B: committed while the store is gone
            yield* proxy.stop
            for (let k = 0; k < 5; k++) {
              yield* write(10)
              yield* Effect.sleep("60 millis")
            }
            // litestream tries the replica at each change of the database: keep writing until it
            // has reported the outage
            const down = yield* poll(Effect.zipRight(write(1), replication.status), (s) => s.consecutiveErrors >= 2, "15 seconds")
            expect(down.consecutiveErrors, "litestream reported the outage").toBeGreaterThanOrEqual(2)
            errors = down.consecutiveErrors
            expect(Option.isNone(yield* Fiber.poll(ended)), "the policy allows the outage").toBe(true)

            // C: the store is back; litestream resumes by itself
            yield* proxy.start
            yield* write(25)
            const [, position] = yield* replication.syncAfter(write(5)).pipe(Effect.timeout("20 seconds"))
            expect(v3Position(position).generation).toMatch(/^[0-9a-f]{16}$/)
            const last = committed.at(-1)!.id
            // The replica holds the last row while litestream still runs (no final sync needed).
            const probe = NodePath.join(dir, "probe")
            let probes = 0
            const seen = yield* poll(
              Effect.gen(function*() {
                const output = NodePath.join(probe, `${probes++}.db`)
                yield* restore({ timeout: "10 seconds", output })
                return Sqlite.readRows(output).some((r) => r.id === last)
              }),
              (s) => s,
              "15 seconds"
            )
            expect(seen, "the rows written after the outage reached the replica").toBe(true)
            const status = yield* replication.status
            expect(status.consecutiveErrors).toBe(0)
            expect(Option.isNone(yield* Fiber.poll(ended))).toBe(true)
          }))
          yield* expectNoChildren

          const deleted = yield* deleteLocal
          expect(deleted).toContain(db)
          const restored = yield* restore({ timeout: "20 seconds" })
          expect(restored._tag).toBe("Restored")
          expect(Sqlite.readRows(db)).toEqual(committed)
          expect(Sqlite.integrityCheck(db)).toBe("ok")
          Figures.record("s3-outage", { rows: committed.length, errorsDuringOutage: errors })
        }).pipe(Effect.provide(sweep.layer(dir, url)))
      })), 90_000)

  it.scopedLive("does not come back: ReplicationFailed, litestream stopped, the rows synced before are in the replica", (ctx) =>
    swept(ctx.task.name, ({ dir, sweep, fails }) =>
      Effect.gen(function*() {
        const { proxy, url } = yield* store
        const db = dbPath(dir)
        const first = Sqlite.createDatabase(db, 40)
        yield* Effect.gen(function*() {
          let pid = 0
          const error = yield* fails("replicate", Effect.scoped(Effect.gen(function*() {
            const replication = yield* replicate({ policy: { maxConsecutiveErrors: 5 }, grace: "2 seconds" })
            pid = replication.pid
            yield* replication.syncAfter(Effect.sync(() => first.push(...Sqlite.addRows(db, 5))))
            yield* proxy.stop
            return yield* Effect.raceFirst(replication.await, keepWriting(db))
          })))
          expect(error).toMatchObject({ _tag: "ReplicationFailed", reason: "ConsecutiveErrors", replica: url })
          yield* expectGone(pid)
          yield* proxy.start
          const output = NodePath.join(dir, "restored.db")
          yield* restore({ timeout: "20 seconds", output })
          // everything synced before the outage is there; what came after may not be
          const restored = Sqlite.readRows(output)
          expect(restored.slice(0, first.length)).toEqual(first)
          expect(Sqlite.readRows(db).slice(0, restored.length)).toEqual(restored)
        }).pipe(Effect.provide(sweep.layer(dir, url)))
      })))
})
