/**
 * The replication lock across real processes, through the Node layer: a holder in another
 * process (and its pid in the error), a holder SIGKILLed (its lock is stale at once), processes
 * racing for one stale lock, and the pieces of Node's liveness check (`/proc` start identity).
 */
import { LitestreamError, ReplicationLock } from "@effect-litestream/core"
import { NodeReplicationLock } from "@effect-litestream/node"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"
import { pidAlive, tempDir } from "../support/Fixtures.js"

const HOLDER = fileURLToPath(new URL("../support/lock-holder.mjs", import.meta.url))

const nodeLock = NodeReplicationLock.layer.pipe(Layer.provide(NodeContext.layer))

interface Holder {
  readonly child: ChildProcess
  /** the first JSON line it printed */
  readonly result: Promise<{ acquired: boolean; pid?: number; error?: string; holder?: number; detail?: string }>
  readonly exited: Promise<void>
}

/** Starts a lock-holder process (on the built packages). */
const startHolder = (db: string, env: Record<string, string> = {}): Holder => {
  const child = spawn(process.execPath, [HOLDER], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LOCK_DB: db, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let stdout = ""
  let stderr = ""
  child.stderr!.on("data", (d) => (stderr += String(d)))
  const result = new Promise<any>((resolve, reject) => {
    child.stdout!.on("data", (d) => {
      stdout += String(d)
      // its answer is the first JSON line (a takeover's warning is logged before it)
      const line = stdout.split("\n").find((l, i, all) => l.startsWith("{") && i < all.length - 1)
      if (line !== undefined) resolve(JSON.parse(line))
    })
    child.on("exit", (code) => reject(new Error(`lock holder exited (${code}) before it answered: ${stderr}`)))
  })
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()))
  return { child, result, exited }
}

/** A holder that the scope kills (SIGKILL) if it still runs. */
const holder = (db: string, env: Record<string, string> = {}) =>
  Effect.acquireRelease(Effect.sync(() => startHolder(db, env)), (h) =>
    Effect.promise(async () => {
      if (h.child.exitCode === null && h.child.signalCode === null) {
        h.child.kill("SIGKILL")
        await h.exited
      }
    }))

const acquireHere = (db: string) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const exit = yield* ReplicationLock.withLock([db]).pipe(Scope.extend(scope), Effect.provide(nodeLock), Effect.exit)
    return { scope, exit }
  })

const setup = Effect.gen(function*() {
  const dir = yield* tempDir("effect-litestream-lock-it-")
  const db = NodePath.join(dir, "app.db")
  fs.writeFileSync(db, "")
  return { dir, db, lockPath: NodePath.join(dir, ".app.db-effect-litestream.lock") }
})

describe("the replication lock across processes (Node layer)", () => {
  it.scopedLive("a holder in another process: AlreadyReplicating names its pid; SIGKILLed, the next acquire succeeds at once", () =>
    Effect.gen(function*() {
      const { db, lockPath } = yield* setup
      const h = yield* holder(db)
      const answer = yield* Effect.promise(() => h.result)
      expect(answer).toEqual({ acquired: true, pid: h.child.pid })
      const lock = JSON.parse(fs.readFileSync(lockPath, "utf8"))
      expect(lock).toMatchObject({ pid: h.child.pid, host: os.hostname() })
      expect(lock.startedAt).toBe(yield* NodeReplicationLock.identityOf(h.child.pid!))

      const refused = yield* acquireHere(db)
      expect(Exit.isFailure(refused.exit)).toBe(true)
      const error = Exit.isFailure(refused.exit) && refused.exit.cause._tag === "Fail" ? refused.exit.cause.error : undefined
      expect(error).toBeInstanceOf(LitestreamError.AlreadyReplicating)
      expect(error).toMatchObject({ pid: h.child.pid, host: os.hostname(), holder: "ThisHost" })
      expect(error!.message).toContain(`process ${h.child.pid} on ${os.hostname()}`)

      // killed: no release ran, the lock file stays behind
      h.child.kill("SIGKILL")
      yield* Effect.promise(() => h.exited)
      expect(pidAlive(h.child.pid!)).toBe(false)
      expect(fs.existsSync(lockPath)).toBe(true)

      const started = Date.now()
      const taken = yield* acquireHere(db)
      expect(Exit.isSuccess(taken.exit)).toBe(true)
      expect(Date.now() - started).toBeLessThan(1000)
      expect(JSON.parse(fs.readFileSync(lockPath, "utf8")).pid).toBe(process.pid)
      yield* Scope.close(taken.scope, Exit.void)
      expect(fs.existsSync(lockPath)).toBe(false)
    }), 60_000)

  it.scopedLive("processes started at the same moment on a stale lock: exactly one gets it (3 rounds of 4)", () =>
    Effect.gen(function*() {
      const { db, dir, lockPath } = yield* setup
      for (let round = 0; round < 3; round++) {
        fs.writeFileSync(lockPath, JSON.stringify({ pid: 999_999_999, host: os.hostname(), startedAt: null, since: "2026-01-01T00:00:00.000Z", token: `dead-${round}` }))
        // a process takes a moment to start: they all wait for the same instant, then try; the winner
        // holds until every one has answered (a loaded machine may start one seconds late: with
        // a fixed hold it would try after the release, and rightly get the lock)
        const startAt = String(Date.now() + 3000)
        const release = NodePath.join(os.tmpdir(), `elt-lock-release-${process.pid}-${round}-${Date.now()}`)
        yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(release, { force: true })))
        const holders = yield* Effect.forEach(Array.from({ length: 4 }), () => holder(db, { LOCK_START_AT: startAt, LOCK_RELEASE_FILE: release }))
        const answers = yield* Effect.promise(() => Promise.all(holders.map((h) => h.result)))
        fs.writeFileSync(release, "")
        const winners = answers.filter((a) => a.acquired)
        expect(winners.length, JSON.stringify(answers)).toBe(1)
        for (const a of answers.filter((a) => !a.acquired)) expect(a).toMatchObject({ error: "AlreadyReplicating", holder: winners[0]!.pid })
        yield* Effect.promise(() => Promise.all(holders.map((h) => h.exited)))
        expect(fs.readdirSync(dir)).toEqual(["app.db"])
      }
    }), 120_000)

  describe("Node's liveness check", () => {
    it("parseStartTime reads field 22 after a command name with spaces and parentheses", () => {
      const rest = Array.from({ length: 50 }, (_, i) => String(i + 3)).join(" ")
      expect(NodeReplicationLock.parseStartTime(`1234 (we ird) (name)) S ${rest.split(" ").slice(1).join(" ")}`)).toBe("22")
      expect(NodeReplicationLock.parseStartTime("garbage")).toBeUndefined()
    })

    it.effect("this process: its identity is its boot id and start time from /proc; alive", () =>
      Effect.gen(function*() {
        const identity = yield* NodeReplicationLock.identityOf(process.pid)
        const boot = fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim()
        const stat = fs.readFileSync(`/proc/${process.pid}/stat`, "utf8")
        const start = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]
        expect(identity).toBe(`${boot}/${start}`)
        const me = { pid: process.pid, host: os.hostname(), startedAt: identity ?? null, since: "", token: "" }
        expect(yield* NodeReplicationLock.isAlive(me)).toBe(true)
        // the same pid with another start identity: another process that got the pid later
        expect(yield* NodeReplicationLock.isAlive({ ...me, startedAt: `${boot}/1` })).toBe(false)
        expect(yield* NodeReplicationLock.isAlive({ ...me, startedAt: null })).toBe(true)
      }))

    it.effect("a pid that does not exist is not alive", () =>
      Effect.gen(function*() {
        expect(NodeReplicationLock.pidExists(999_999_999)).toBe(false)
        expect(yield* NodeReplicationLock.isAlive({ pid: 999_999_999, host: os.hostname(), startedAt: null, since: "", token: "" })).toBe(false)
      }))
  })
})
