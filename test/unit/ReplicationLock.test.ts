/**
 * `ReplicationLock` on a real temporary folder (the real FileSystem, hard links and all). Other
 * processes are played by other instances of the service with other pids, and a liveness check
 * that the test controls: which pids run, and with which start identity.
 */
import { LitestreamError, ReplicationLock } from "@effect-litestream/core"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as NodePath from "node:path"
import { tempDir } from "../support/Fixtures.js"

const HOST = "lock-test-host"

/** The processes that run, by pid, with their start identity. */
const running = new Map<number, string | null>()

const isAlive = (holder: ReplicationLock.Holder) =>
  Effect.sync(() => running.has(holder.pid) && (holder.startedAt === null || running.get(holder.pid) === holder.startedAt))

interface Process {
  readonly pid: number
  readonly lock: ReplicationLock.ReplicationLock["Type"]
}

/** A process of this host (or of `host`): its own instance of the service. */
const processOf = (
  pid: number,
  options: { readonly host?: string; readonly identity?: string; readonly staleGrace?: Duration.DurationInput } = {},
  platform: Layer.Layer<FileSystem.FileSystem | Path.Path> = NodeContext.layer
) =>
  Effect.gen(function*() {
    running.set(pid, options.identity ?? null)
    const lock = yield* ReplicationLock.make({
      pid,
      host: options.host ?? HOST,
      identity: options.identity,
      isAlive,
      staleGrace: options.staleGrace
    })
    return { pid, lock } satisfies Process
  }).pipe(Effect.provide(platform))

let nextPid = 50_000
const freshPid = () => nextPid++

const setup = Effect.gen(function*() {
  const dir = yield* tempDir("effect-litestream-lock-")
  const db = NodePath.join(dir, "app.db")
  fs.writeFileSync(db, "")
  const lockPath = NodePath.join(dir, ".app.db-effect-litestream.lock")
  return { dir, db, lockPath }
})

const readLock = (lockPath: string) => JSON.parse(fs.readFileSync(lockPath, "utf8")) as ReplicationLock.Holder

/** Everything in the folder but the database: no temporary file or claim may be left. */
const litter = (dir: string) => fs.readdirSync(dir).filter((f) => f !== "app.db").sort()

/** Acquires in a scope of its own, closed by the caller. */
const hold = (process: Process, db: string) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const exit = yield* Effect.exit(Scope.extend(process.lock.acquire(db), scope))
    return { scope, exit }
  })

const failureOf = <A, E>(exit: Exit.Exit<A, E>) => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
  if (failure === undefined) throw new Error(`expected a typed failure, got ${String(exit.cause)}`)
  return failure
}

describe("ReplicationLock", () => {
  it.scopedLive("acquire writes the lock file beside the database; closing the scope removes it", () =>
    Effect.gen(function*() {
      const { db, dir, lockPath } = yield* setup
      const p = yield* processOf(freshPid(), { identity: "boot/123" })
      const before = Date.now()
      const { exit, scope } = yield* hold(p, db)
      expect(Exit.isSuccess(exit)).toBe(true)
      const holder = readLock(lockPath)
      expect(holder).toEqual({ pid: p.pid, host: HOST, startedAt: "boot/123", since: expect.any(String), token: expect.any(String) })
      expect(Date.parse(holder.since)).toBeGreaterThanOrEqual(before - 1000)
      expect(holder.token.length).toBeGreaterThan(8)
      // the private file it was linked from is gone
      expect(litter(dir)).toEqual([".app.db-effect-litestream.lock"])
      expect(ReplicationLock.lockFile(yield* pathService, db)).toBe(lockPath)

      yield* Scope.close(scope, Exit.void)
      expect(litter(dir)).toEqual([])
      // and it can be taken again
      const again = yield* hold(p, db)
      expect(Exit.isSuccess(again.exit)).toBe(true)
      yield* Scope.close(again.scope, Exit.void)
    }))

  it.scopedLive("a second acquire, by another live process, fails at once with AlreadyReplicating naming the holder", () =>
    Effect.gen(function*() {
      const { db, lockPath } = yield* setup
      const first = yield* processOf(freshPid())
      const second = yield* processOf(freshPid())
      const held = yield* hold(first, db)
      expect(Exit.isSuccess(held.exit)).toBe(true)
      const since = readLock(lockPath).since

      const started = Date.now()
      const { exit } = yield* hold(second, db)
      expect(Date.now() - started).toBeLessThan(500)
      const error = failureOf(exit)
      expect(error).toBeInstanceOf(LitestreamError.AlreadyReplicating)
      expect(error).toMatchObject({ _tag: "AlreadyReplicating", path: db, lockFile: lockPath, pid: first.pid, host: HOST, since, holder: "ThisHost" })
      expect(error.message).toContain(`process ${first.pid} on ${HOST}`)
      expect(error.message).toContain("Litestream must run once per database")
      expect(error.message).toContain("corrupt each other's shadow WAL")
      expect(error.message).toContain("Replication.syncAfter")
      expect(error.message).toContain(`SIGTERM to pid ${first.pid}`)
      // the holder's lock is untouched
      expect(readLock(lockPath).pid).toBe(first.pid)
      yield* Scope.close(held.scope, Exit.void)
    }))

  it.scopedLive("the same process twice: AlreadyReplicating, holder ThisProcess", () =>
    Effect.gen(function*() {
      const { db } = yield* setup
      const p = yield* processOf(freshPid())
      const held = yield* hold(p, db)
      const error = failureOf((yield* hold(p, db)).exit)
      expect(error).toMatchObject({ _tag: "AlreadyReplicating", pid: p.pid, holder: "ThisProcess" })
      expect(error.message).toContain(`this process (pid ${p.pid}) already replicates it`)
      // another instance of the service in the same process sees it too
      const sibling = yield* processOf(p.pid)
      expect(failureOf((yield* hold(sibling, db)).exit)).toMatchObject({ _tag: "AlreadyReplicating", holder: "ThisProcess" })
      yield* Scope.close(held.scope, Exit.void)
    }))

  it.scopedLive("a holder on another host counts as alive, and the message says so", () =>
    Effect.gen(function*() {
      const { db, lockPath } = yield* setup
      const remote = yield* processOf(freshPid(), { host: "other-machine" })
      running.delete(remote.pid) // no process of that pid here: it must not matter
      const held = yield* hold(remote, db)
      const local = yield* processOf(freshPid())
      const error = failureOf((yield* hold(local, db)).exit)
      expect(error).toMatchObject({ _tag: "AlreadyReplicating", pid: remote.pid, host: "other-machine", holder: "OtherHost" })
      expect(error.message).toContain("on another host, other-machine")
      expect(error.message).toContain(`if that process is gone, delete ${lockPath}`)
      yield* Scope.close(held.scope, Exit.void)
    }))

  it.scopedLive("the stale lock of a dead process is taken over, with a warning", () =>
    Effect.gen(function*() {
      const { db, dir, lockPath } = yield* setup
      const dead = yield* processOf(freshPid())
      const held = yield* hold(dead, db)
      // it dies without releasing: its lock stays on disk
      running.delete(dead.pid)
      const logs: Array<string> = []
      const next = yield* processOf(freshPid())
      const { exit, scope } = yield* hold(next, db).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => logs.push(String(message)))))
      )
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(readLock(lockPath).pid).toBe(next.pid)
      expect(logs.join("\n")).toContain(`process ${dead.pid} on ${HOST}`)
      expect(logs.join("\n")).toContain("is no longer running")
      expect(litter(dir)).toEqual([".app.db-effect-litestream.lock"])

      // the dead one's release (had it one) must not remove the new holder's lock
      yield* Scope.close(held.scope, Exit.void)
      expect(readLock(lockPath).pid).toBe(next.pid)
      yield* Scope.close(scope, Exit.void)
      expect(litter(dir)).toEqual([])
    }))

  it.scopedLive("a reused pid with another start identity is not the holder: the lock is stale", () =>
    Effect.gen(function*() {
      const { db, lockPath } = yield* setup
      const pid = freshPid()
      const before = yield* processOf(pid, { identity: "boot-a/1000" })
      yield* hold(before, db)
      // the holder died; later another process got the same pid
      running.set(pid, "boot-a/5000")
      const next = yield* processOf(freshPid())
      const { exit, scope } = yield* hold(next, db)
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(readLock(lockPath).pid).toBe(next.pid)
      yield* Scope.close(scope, Exit.void)

      // the same identity: the holder itself, alive
      const holder = yield* processOf(freshPid(), { identity: "boot-a/7000" })
      const held = yield* hold(holder, db)
      expect(failureOf((yield* hold(next, db)).exit)).toMatchObject({ _tag: "AlreadyReplicating", pid: holder.pid })
      yield* Scope.close(held.scope, Exit.void)
    }))

  it.scopedLive("a lock left by an earlier process that had this very pid is stale", () =>
    Effect.gen(function*() {
      const { db, lockPath } = yield* setup
      const pid = freshPid()
      fs.writeFileSync(lockPath, JSON.stringify({ pid, host: HOST, startedAt: null, since: "2026-01-01T00:00:00.000Z", token: "earlier" }))
      const p = yield* processOf(pid)
      const { exit, scope } = yield* hold(p, db)
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(readLock(lockPath).token).not.toBe("earlier")
      yield* Scope.close(scope, Exit.void)
    }))

  it.scopedLive("this pid and this start identity, though not registered here (a worker thread): held by this process", () =>
    Effect.gen(function*() {
      const { db, lockPath } = yield* setup
      const pid = freshPid()
      fs.writeFileSync(lockPath, JSON.stringify({ pid, host: HOST, startedAt: "boot/42", since: "2026-01-01T00:00:00.000Z", token: "worker" }))
      const p = yield* processOf(pid, { identity: "boot/42" })
      expect(failureOf((yield* hold(p, db)).exit)).toMatchObject({ _tag: "AlreadyReplicating", pid, holder: "ThisProcess" })
      // another start identity: an earlier process with this pid
      const later = yield* processOf(pid, { identity: "boot/99" })
      const { exit, scope } = yield* hold(later, db)
      expect(Exit.isSuccess(exit)).toBe(true)
      yield* Scope.close(scope, Exit.void)
    }))

  it.scopedLive("a lock file written by hand by a crashed process (a dead pid, no token) does not block", () =>
    Effect.gen(function*() {
      const { db, dir, lockPath } = yield* setup
      const deadPid = freshPid() // never started
      fs.writeFileSync(lockPath, `{"pid":${deadPid},"host":"${HOST}"}\n`)
      const p = yield* processOf(freshPid())
      const started = Date.now()
      const { exit, scope } = yield* hold(p, db)
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(Date.now() - started).toBeLessThan(500)
      expect(readLock(lockPath).pid).toBe(p.pid)
      yield* Scope.close(scope, Exit.void)
      expect(litter(dir)).toEqual([])
    }))

  it.scopedLive("an empty or unreadable lock file is stale once older than the grace period, not before", () =>
    Effect.gen(function*() {
      const { db, lockPath } = yield* setup
      const p = yield* processOf(freshPid(), { staleGrace: "400 millis" })

      // old: taken at once
      fs.writeFileSync(lockPath, "")
      const old = new Date(Date.now() - 60_000)
      fs.utimesSync(lockPath, old, old)
      let started = Date.now()
      const a = yield* hold(p, db)
      expect(Exit.isSuccess(a.exit)).toBe(true)
      expect(Date.now() - started).toBeLessThan(300)
      yield* Scope.close(a.scope, Exit.void)

      // fresh: a writer that is not atomic may be filling it in; it waits out the grace period
      fs.writeFileSync(lockPath, "{\"pid\":")
      started = Date.now()
      const b = yield* hold(p, db)
      expect(Exit.isSuccess(b.exit)).toBe(true)
      expect(Date.now() - started).toBeGreaterThanOrEqual(350)
      expect(readLock(lockPath).pid).toBe(p.pid)
      yield* Scope.close(b.scope, Exit.void)

      // fresh, and completed by its writer within the grace period: that writer holds it
      const writer = freshPid()
      running.set(writer, null)
      fs.writeFileSync(lockPath, "")
      setTimeout(() => fs.writeFileSync(lockPath, JSON.stringify({ pid: writer, host: HOST, since: "now", token: "w" })), 100)
      const c = yield* hold(p, db)
      expect(failureOf(c.exit)).toMatchObject({ _tag: "AlreadyReplicating", pid: writer })
      fs.rmSync(lockPath)
    }))

  it.scopedLive("release does not delete a lock it does not hold", () =>
    Effect.gen(function*() {
      const { db, lockPath } = yield* setup
      const p = yield* processOf(freshPid())
      const { scope } = yield* hold(p, db)
      // someone else's lock is in its place now (a takeover after it was taken for dead)
      const other = JSON.stringify({ pid: 4242, host: HOST, startedAt: null, since: "2026-01-01T00:00:00.000Z", token: "someone-else" })
      fs.rmSync(lockPath)
      fs.writeFileSync(lockPath, other)
      yield* Scope.close(scope, Exit.void)
      expect(fs.readFileSync(lockPath, "utf8")).toBe(other)
      // a lock already gone at release is no error either
      fs.rmSync(lockPath)
      const again = yield* hold(p, db)
      expect(Exit.isSuccess(again.exit)).toBe(true)
      fs.rmSync(lockPath)
      yield* Scope.close(again.scope, Exit.void)
      expect(fs.existsSync(lockPath)).toBe(false)
    }))

  it.scopedLive("two concurrent acquirers: exactly one wins, the other gets AlreadyReplicating naming the winner (100 rounds)", () =>
    Effect.gen(function*() {
      const { db, dir } = yield* setup
      const a = yield* processOf(freshPid())
      const b = yield* processOf(freshPid())
      for (let round = 0; round < 100; round++) {
        const [x, y] = yield* Effect.all([hold(a, db), hold(b, db)], { concurrency: 2 })
        const wins = [x, y].filter((h) => Exit.isSuccess(h.exit))
        expect(wins.length, `round ${round}`).toBe(1)
        const [winner, loser] = Exit.isSuccess(x.exit) ? [a, y] : [b, x]
        expect(failureOf(loser.exit)).toMatchObject({ _tag: "AlreadyReplicating", pid: winner.pid })
        yield* Scope.close(x.scope, Exit.void)
        yield* Scope.close(y.scope, Exit.void)
        expect(litter(dir)).toEqual([])
      }
    }))

  it.scopedLive("many processes racing to take over one stale lock: exactly one wins (50 rounds)", () =>
    Effect.gen(function*() {
      const { db, dir, lockPath } = yield* setup
      const racers = yield* Effect.forEach(Array.from({ length: 6 }), () => processOf(freshPid()))
      for (let round = 0; round < 50; round++) {
        fs.writeFileSync(lockPath, JSON.stringify({ pid: freshPid(), host: HOST, startedAt: null, since: "2026-01-01T00:00:00.000Z", token: `dead-${round}` }))
        const holds = yield* Effect.all(racers.map((r) => hold(r, db)), { concurrency: "unbounded" })
        const winners = racers.filter((_, i) => Exit.isSuccess(holds[i]!.exit))
        expect(winners.length, `round ${round}`).toBe(1)
        expect(readLock(lockPath).pid).toBe(winners[0]!.pid)
        for (const h of holds) {
          if (Exit.isFailure(h.exit)) expect(failureOf(h.exit)).toMatchObject({ _tag: "AlreadyReplicating", pid: winners[0]!.pid })
        }
        for (const h of holds) yield* Scope.close(h.scope, Exit.void)
        expect(litter(dir), `round ${round}`).toEqual([])
      }
    }).pipe(Effect.provide(Logger.remove(Logger.defaultLogger))))

  it.scopedLive("a takeover claim left by a process that died while taking over does not block", () =>
    Effect.gen(function*() {
      const { db, dir, lockPath } = yield* setup
      fs.writeFileSync(lockPath, JSON.stringify({ pid: freshPid(), host: HOST, startedAt: null, since: "2026-01-01T00:00:00.000Z", token: "dead" }))
      // a first taker-over gets its claim on the stale lock in, then dies on the spot
      const claimerPid = freshPid()
      const claimer = yield* processOf(claimerPid, {}, crashAfterClaim)
      const crashed = yield* hold(claimer, db)
      expect(Exit.isFailure(crashed.exit)).toBe(true)
      running.delete(claimerPid)
      const claims = fs.readdirSync(dir).filter((f) => f.includes(".break-"))
      expect(claims.length).toBe(1)
      expect(readLock(NodePath.join(dir, claims[0]!)).pid).toBe(claimerPid)

      const next = yield* processOf(freshPid())
      const { exit, scope } = yield* hold(next, db)
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(readLock(lockPath).pid).toBe(next.pid)
      // the dead claim was cleaned up with its own
      expect(litter(dir)).toEqual([".app.db-effect-litestream.lock"])
      yield* Scope.close(scope, Exit.void)
      expect(litter(dir)).toEqual([])
    }))

  describe("withLock", () => {
    const withService = (p: Process) => Effect.provideService(ReplicationLock.ReplicationLock, p.lock)

    it.scopedLive("takes every database, all or none", () =>
      Effect.gen(function*() {
        const { db, dir } = yield* setup
        const other = NodePath.join(dir, "other.db")
        fs.writeFileSync(other, "")
        const a = yield* processOf(freshPid())
        const b = yield* processOf(freshPid())
        const scopeA = yield* Scope.make()
        yield* ReplicationLock.withLock([db, other, db]).pipe(withService(a), Scope.extend(scopeA))
        expect(fs.existsSync(NodePath.join(dir, ".other.db-effect-litestream.lock"))).toBe(true)
        yield* Scope.close(scopeA, Exit.void)

        // b holds other.db; a asks for both: fails, and keeps none
        const scopeB = yield* Scope.make()
        yield* ReplicationLock.withLock([other]).pipe(withService(b), Scope.extend(scopeB))
        const scopeA2 = yield* Scope.make()
        const exit = yield* ReplicationLock.withLock([db, other]).pipe(withService(a), Scope.extend(scopeA2), Effect.exit)
        expect(failureOf(exit)).toMatchObject({ _tag: "AlreadyReplicating", path: other, pid: b.pid })
        // app.db was released at once, not when scopeA2 closes
        expect(fs.existsSync(NodePath.join(dir, ".app.db-effect-litestream.lock"))).toBe(false)
        yield* Scope.close(scopeA2, Exit.void)
        yield* Scope.close(scopeB, Exit.void)
        expect(fs.readdirSync(dir).sort()).toEqual(["app.db", "other.db"])
      }))

    it.scopedLive("without a ReplicationLock in the context it does nothing", () =>
      Effect.gen(function*() {
        const { db, dir } = yield* setup
        yield* ReplicationLock.withLock([db])
        expect(fs.readdirSync(dir)).toEqual(["app.db"])
      }))

    it.scopedLive("the layer provides the service", () =>
      Effect.gen(function*() {
        const { db, lockPath } = yield* setup
        const pid = freshPid()
        running.set(pid, null)
        yield* ReplicationLock.withLock([db]).pipe(
          Effect.provide(ReplicationLock.layer({ pid, host: HOST, isAlive }).pipe(Layer.provide(NodeContext.layer)))
        )
        expect(readLock(lockPath).pid).toBe(pid)
      }))
  })
})

const pathService = Effect.provide(Path.Path, NodeContext.layer)

/** The real FileSystem, except that the process "dies" (a defect) right after creating a takeover claim. */
const crashAfterClaim: Layer.Layer<FileSystem.FileSystem | Path.Path> = Layer.effect(
  FileSystem.FileSystem,
  Effect.map(FileSystem.FileSystem, (real): FileSystem.FileSystem => ({
    ...real,
    link: (from: string, to: string) =>
      to.includes(".break-") ? Effect.zipRight(real.link(from, to), Effect.die("killed while taking over")) : real.link(from, to)
  }))
).pipe(Layer.provideMerge(NodeContext.layer))
