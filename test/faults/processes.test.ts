/**
 * Signals and processes: interrupting the fiber, closing the scope, and SIGINT / SIGTERM to a
 * host Node process all leave no litestream process behind, checked by pid and by process group
 * (`kill(-pgid, 0)` throws ESRCH); a litestream that does not stop on SIGTERM (stopped with
 * SIGSTOP, or ignoring SIGTERM) is killed, with its whole process group, after the grace period.
 */
import { Replication as ReplicationModule } from "@effect-litestream/core"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"
import * as Figures from "../support/Figures.js"
import { list, silentListener, silentServer } from "../support/Fixtures.js"
import {
  dbPath,
  expectGone,
  expectNoChildren,
  forkWithChild,
  listing,
  liveDatabase,
  once,
  poll,
  replicate,
  restore,
  swept,
  tagOf,
  verifiedBackup
} from "../support/Faults.js"
import { guardAgainstLeaks } from "../support/Harness.js"
import * as Sqlite from "../support/Sqlite.js"
import { DB, KEY_ID, litestreamUnder, SECRET } from "../support/Sweep.js"

guardAgainstLeaks()

const fileUrl = (dir: string) => `file://${NodePath.join(dir, "replica")}`

/** Room for starting and stopping processes on a loaded 2-core machine, over the configured waits. */
const SLACK_MS = 4_000

describe("interrupting the fiber", () => {
  it.scopedLive("of once, restore, a listing, a verified backup and a continuous replication: no litestream left", (ctx) =>
    swept(ctx.task.name, ({ dir, sweep }) =>
      Effect.gen(function*() {
        // a replica that never answers: every operation is still running when interrupted
        const { accepted, port } = yield* silentListener
        const url = `s3://backups.localhost:${port}/apps/app.db`
        const { kept } = yield* liveDatabase(dir)
        const operations = [
          ["once", once({ timeout: "60 seconds", grace: "1 second", deleteLocal: true })],
          ["restore", restore({ timeout: "60 seconds", output: NodePath.join(dir, "out", "r.db") })],
          ["generations", listing("generations", "60 seconds")],
          ["verified backup", verifiedBackup({ timeout: "60 seconds", grace: "1 second", deleteLocal: true })],
          ["replicate", Effect.scoped(Effect.zipRight(replicate({ grace: "1 second", catchUpTimeout: "500 millis" }), Effect.never))]
        ] as const
        yield* Effect.gen(function*() {
          for (const [name, operation] of operations) {
            const before = yield* accepted
            const { fiber, pid } = yield* forkWithChild(operation as Effect.Effect<unknown, unknown>)
            // interrupted once litestream waits on the replica (it connected), not after a fixed sleep
            const connected = yield* poll(accepted, (n) => n > before, "10 seconds")
            expect(connected, `${name}: litestream connected to the replica`).toBeGreaterThan(before)
            const started = Date.now()
            const exit = yield* Fiber.interrupt(fiber)
            expect(Exit.isInterrupted(exit), `${name}: ${tagOf(exit)}`).toBe(true)
            // at most the wait for a sync in flight (replicate), the grace period, and the kill;
            // not the 60 s timeouts (SLACK_MS: process stop on a loaded machine)
            expect(Date.now() - started, `${name}: interruption takes at most catch-up + grace`).toBeLessThan(500 + 1_000 + SLACK_MS)
            yield* expectGone(pid, `${name}'s litestream`)
            yield* expectNoChildren
          }
        }).pipe(Effect.provide(sweep.layer(dir, url)))
        expect(yield* list(NodePath.join(dir, "out"))).toEqual([])
        // the interrupted backups (with deleteLocal) deleted nothing: every row, integrity ok
        yield* kept
      })))
})

/** The live (not zombie) HostWatchdog processes whose parent is `parent`. */
const watchdogsOf = async (parent: number): Promise<Array<number>> => {
  const found: Array<number> = []
  for (const name of await fs.promises.readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue
    const [stat, cmdline] = await Promise.all([
      fs.promises.readFile(`/proc/${name}/stat`, "utf8").catch(() => ""),
      fs.promises.readFile(`/proc/${name}/cmdline`, "utf8").catch(() => "")
    ])
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    if (cmdline.includes("effect-litestream-watchdog") && fields[1] === String(parent) && fields[0] !== "Z") found.push(Number(name))
  }
  return found
}

describe("closing the scope", () => {
  it.scopedLive("of a replication, of a Replication.layer, and of a scope closed while replicating: no litestream left", (ctx) =>
    swept(ctx.task.name, ({ dir, sweep }) =>
      Effect.gen(function*() {
        const db = dbPath(dir)
        Sqlite.createDatabase(db, 20)
        yield* Effect.gen(function*() {
          // a scope closed by hand
          const scope = yield* Scope.make()
          const replication = yield* replicate({ grace: "2 seconds" }).pipe(Scope.extend(scope))
          // NodeLitestream's executor started a watchdog beside it (HostWatchdog)
          expect(yield* Effect.promise(() => watchdogsOf(process.pid))).toHaveLength(1)
          yield* replication.syncAfter(Effect.sync(() => Sqlite.addRows(db, 5)))
          yield* Scope.close(scope, Exit.void)
          yield* expectGone(replication.pid)
          expect(yield* replication.await).toBe(0)

          // the layer, for an application's lifetime
          const pid = yield* Effect.scoped(Effect.gen(function*() {
            const context = yield* Layer.build(ReplicationModule.layer(replicate({ grace: "2 seconds" })))
            return context.unsafeMap.get(ReplicationModule.Replication.key) as ReplicationModule.Replication["Type"]
          })).pipe(Effect.map((r) => r.pid))
          yield* expectGone(pid)

          // a scope closed by a failure of the program that uses it
          let failedPid = 0
          const exit = yield* Effect.exit(Effect.scoped(Effect.gen(function*() {
            const r = yield* replicate({ grace: "2 seconds" })
            failedPid = r.pid
            return yield* Effect.fail("the application failed" as const)
          })))
          expect(Exit.isFailure(exit)).toBe(true)
          yield* expectGone(failedPid)
          yield* expectNoChildren
          // and the watchdogs went with their litestreams
          const watchdogs = yield* poll(Effect.promise(() => watchdogsOf(process.pid)), (w) => w.length === 0, "3 seconds")
          expect(watchdogs, "watchdogs left running").toEqual([])
        }).pipe(Effect.provide(sweep.layer(dir, fileUrl(dir))))
      })))
})

describe("a litestream that does not stop on SIGTERM", () => {
  it.scopedLive("stopped with SIGSTOP before the scope closes: killed after the 500 ms grace period, FinalSyncFailed", (ctx) =>
    swept(ctx.task.name, ({ dir, sweep }) =>
      Effect.gen(function*() {
        const db = dbPath(dir)
        Sqlite.createDatabase(db, 20)
        yield* Effect.gen(function*() {
          let pid = 0
          let awaitEnd: Effect.Effect<number, unknown> = Effect.succeed(0)
          let closing = 0
          yield* Effect.scoped(Effect.gen(function*() {
            const replication = yield* replicate({ grace: "500 millis", catchUpTimeout: "200 millis" })
            pid = replication.pid
            awaitEnd = replication.await
            yield* replication.syncAfter(Effect.sync(() => Sqlite.addRows(db, 5)))
            process.kill(pid, "SIGSTOP")
            closing = Date.now()
          }))
          const ms = Date.now() - closing
          // the grace period (500 ms) passed before the kill; at most the catch-up wait (200 ms),
          // the grace period and the kill (SLACK_MS: a loaded machine)
          expect(ms).toBeGreaterThanOrEqual(500)
          expect(ms).toBeLessThan(200 + 500 + SLACK_MS)
          yield* expectGone(pid)
          const exit = yield* Effect.exit(awaitEnd)
          if (Exit.isFailure(exit)) sweep.cause("await", exit.cause)
          expect(tagOf(exit)).toBe("FinalSyncFailed")
          expect(Exit.isFailure(exit) && (exit.cause as { error?: { killed?: boolean } }).error?.killed).toBe(true)
          yield* expectNoChildren
        }).pipe(Effect.provide(sweep.layer(dir, fileUrl(dir))))
      })))

  it.scopedLive("ignoring SIGTERM, with a child of its own: once and replicate kill the whole process group after the grace", (ctx) =>
    swept(ctx.task.name, ({ dir, sweep }) =>
      Effect.gen(function*() {
        Sqlite.createDatabase(dbPath(dir), 20)
        // prints its own pid and its child's, ignores SIGTERM, never syncs
        const binary = NodePath.join(dir, "stubborn")
        const marker = NodePath.join(dir, "stubborn.pids")
        yield* Effect.promise(() =>
          fs.promises.writeFile(
            binary,
            // (it answers `litestream version` as v0.3.13 does, which the library asks first)
            `#!/bin/sh\nif [ "$1" = version ]; then echo v0.3.13; exit 0; fi\ntrap '' TERM\nsleep 300 &\necho "$$ $!" >> '${marker}'\nwhile :; do sleep 0.05; done\n`,
            { mode: 0o755 }
          )
        )
        const pidsOf = (line: string) => line.trim().split(" ").map(Number)
        yield* Effect.gen(function*() {
          const started = Date.now()
          const exit = yield* Effect.exit(once({ timeout: "600 millis", grace: "500 millis" }))
          const ms = Date.now() - started
          expect(tagOf(exit)).toBe("LitestreamTimeout")
          // the timeout (600 ms), then the grace period (500 ms), then SIGKILL
          expect(ms).toBeGreaterThanOrEqual(600 + 500)
          expect(ms).toBeLessThan(600 + 500 + SLACK_MS)
          const [pid, child] = pidsOf(fs.readFileSync(marker, "utf8").split("\n")[0]!)
          yield* expectGone(pid!, "the stubborn process")
          yield* expectGone(child!, "its child")

          const exit2 = yield* Effect.exit(Effect.scoped(replicate({ grace: "500 millis", startTimeout: "700 millis", catchUpTimeout: "200 millis" })))
          expect(tagOf(exit2)).toBe("LitestreamTimeout")
          const [pid2, child2] = pidsOf(fs.readFileSync(marker, "utf8").split("\n")[1]!)
          yield* expectGone(pid2!, "the stubborn process")
          yield* expectGone(child2!, "its child")
          yield* expectNoChildren
        }).pipe(Effect.provide(sweep.layer(dir, fileUrl(dir), { binary })))
      })))
})

// The host runs as `node host.mjs`: one process, as an application runs.
const HOST = fileURLToPath(new URL("./fixtures/host.mjs", import.meta.url))

interface Host {
  readonly pid: number
  readonly litestream: number
  readonly output: Array<string>
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/**
 * Starts the host process; resolves once it printed litestream's pid (replicating) or that it
 * starts a restore (`litestream` is 0 then: the restore's pid is found under the host).
 */
const startHost = (dir: string, binary: string, env: Record<string, string> = {}) =>
  Effect.async<Host, Error>((resume) => {
    const child = spawn(process.execPath, [HOST], {
      cwd: dir,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        REPLICA_URL: fileUrl(dir),
        DB_FOLDER: dir,
        DB_SQLITE: DB,
        LITESTREAM_BIN: binary,
        LITESTREAM_ACCESS_KEY_ID: KEY_ID,
        LITESTREAM_SECRET_ACCESS_KEY: SECRET,
        // HOST_WATCHDOG=off in the test's environment: the control run, without HostWatchdog
        ...(process.env.HOST_WATCHDOG === undefined ? {} : { HOST_WATCHDOG: process.env.HOST_WATCHDOG }),
        ...env
      },
      stdio: ["ignore", "pipe", "pipe"]
    })
    const output: Array<string> = []
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on("exit", (code, signal) => resolve({ code, signal }))
    )
    let buffered = ""
    let done = false
    child.stderr.on("data", (d: Buffer) => output.push(d.toString()))
    child.stdout.on("data", (d: Buffer) => {
      output.push(d.toString())
      buffered += d.toString()
      const m = /\{"pid":(\d+)\}|\{"restoring":true\}/.exec(buffered)
      if (m && !done) {
        done = true
        resume(Effect.succeed({ pid: child.pid!, litestream: Number(m[1] ?? 0), output, exited }))
      }
    })
    void exited.then(({ code, signal }) => {
      if (!done) {
        done = true
        resume(Effect.fail(new Error(`host exited (${code ?? signal}) before starting litestream: ${output.join("")}`)))
      }
    })
    return Effect.sync(() => child.kill("SIGKILL"))
  })

describe("signals to the host process", () => {
  // Two hosts at once (their start-up is the slow part).
  it.scopedLive("SIGTERM and SIGINT: each host stops, its litestream ran its final sync and is gone; every row is on the replica", (ctx) =>
    swept(ctx.task.name, ({ dir, sweep }) =>
      Effect.gen(function*() {
        // the sweep's wrapper: every litestream run of the hosts is recorded (argv, config, pid)
        const binary = sweep.binary
        yield* Effect.forEach(["SIGTERM", "SIGINT"] as const, (signal) =>
          Effect.gen(function*() {
            const folder = NodePath.join(dir, signal)
            fs.mkdirSync(folder)
            const db = dbPath(folder)
            const written = Sqlite.createDatabase(db, 10)
            const host = yield* Effect.acquireRelease(startHost(folder, binary), (h) =>
              Effect.sync(() => {
                try {
                  process.kill(h.pid, "SIGKILL")
                } catch {
                  // gone
                }
              }))
            sweep.watchParent(host.pid)
            // the application writes while the host replicates
            for (let i = 0; i < 5; i++) {
              written.push(...Sqlite.addRows(db, 10))
              yield* Effect.sleep("30 millis")
            }
            sweep.text("host's litestream argv", fs.readFileSync(`/proc/${host.litestream}/cmdline`, "utf8"))
            const started = Date.now()
            process.kill(host.pid, signal)
            const { code, signal: bySignal } = yield* Effect.promise(() => host.exited)
            const ms = Date.now() - started
            for (const chunk of host.output) sweep.text("host output", chunk)
            const out = host.output.join("")
            expect(bySignal, `${signal}: the host handled it itself: ${out}`).toBeNull()
            expect(code, signal).not.toBeNull()
            expect(out.includes(`{"final":"Ok"}`), `${signal}: the final sync must succeed (exit ${code}, ${ms} ms):\n${out}`).toBe(true)
            yield* expectGone(host.litestream, `${signal}: the host's litestream`)
            yield* expectGone(host.pid, `${signal}: the host`)
            const output = NodePath.join(folder, "restored.db")
            yield* restore({ timeout: "20 seconds", output }).pipe(Effect.provide(sweep.layer(folder, fileUrl(folder))))
            expect(Sqlite.readRows(output), signal).toEqual(written)
            Figures.record("host-signal", { signal, exitCode: code, stopMs: ms })
          }), { concurrency: 2, discard: true })
      })), 60_000)
})

/** Whether a pid runs anything: a zombie (its parent gone, not reaped yet) runs nothing. */
const running = (pid: number) =>
  Effect.promise(() =>
    fs.promises.readFile(`/proc/${pid}/stat`, "utf8").then((s) => s[s.lastIndexOf(")") + 2] !== "Z", () => false)
  )

/** Milliseconds from now until `pid` stops running, or undefined if it still runs after `max`. */
const timeToDeath = (pid: number, maxMs: number) =>
  Effect.gen(function*() {
    const started = Date.now()
    const still = yield* poll(running(pid), (r) => !r, `${maxMs} millis`)
    return still ? undefined : Date.now() - started
  })

describe("the host process killed with SIGKILL (no finalizer runs)", () => {
  // The executor starts litestream in its own process group, so nothing in the host can stop
  // it: HostWatchdog's watchdog (on a pipe from the host) sends SIGTERM to its group, SIGKILL
  // 1.2 s later. Without it (run with HOST_WATCHDOG=off), litestream dies only when it next writes a log
  // line into the closed pipe (SIGPIPE): never, while it waits on a replica that does not
  // answer. Both hosts here wait so; measured without the watchdog, both outlive the 3 s watch.
  const LIMIT_MS = 2_000

  it.scopedLive("replicating and restoring against a replica that never answers: litestream is gone within 2 s", (ctx) =>
    swept(ctx.task.name, ({ dir, sweep }) =>
      Effect.gen(function*() {
        const port = yield* silentServer
        const url = `s3://backups.localhost:${port}/apps/app.db`
        const kill = (pid: number) =>
          Effect.sync(() => {
            try {
              process.kill(pid, "SIGKILL")
            } catch {
              // gone
            }
          })
        const outcomes = yield* Effect.forEach(["replicate", "restore"] as const, (mode) =>
          Effect.gen(function*() {
            const folder = NodePath.join(dir, mode)
            fs.mkdirSync(folder)
            const db = dbPath(folder)
            const written = Sqlite.createDatabase(db, 20)
            const output = NodePath.join(folder, "out", "restored.db")
            const host = yield* Effect.acquireRelease(
              startHost(folder, sweep.binary, { HOST_MODE: mode, HOST_OUTPUT: output, REPLICA_URL: url }),
              (h) => kill(h.pid)
            )
            sweep.watchParent(host.pid)
            // the host's litestream doing the work (not the short `litestream version` before it)
            const working = Effect.promise(async () => {
              const pids = await litestreamUnder(new Set([host.pid]))
              const argvs = await Promise.all(pids.map((p) => fs.promises.readFile(`/proc/${p}/cmdline`, "utf8").catch(() => "")))
              return pids.filter((_, i) => argvs[i]!.includes(mode === "replicate" ? "replicate" : "restore"))
            })
            const [child] = yield* poll(working, (p) => p.length > 0, "10 seconds")
            expect(child, `${mode}: the host started litestream`).toBeDefined()
            // litestream is waiting on the replica: give it time to be well into that
            yield* Effect.sleep("300 millis")
            expect(yield* running(child!), `${mode}: litestream still runs when the host is killed`).toBe(true)
            yield* kill(host.pid)
            const ms = yield* timeToDeath(child!, LIMIT_MS + 1_000)
            expect(ms, `${mode}: litestream outlived its host by more than 3 s`).toBeDefined()
            expect(ms!, `${mode}: litestream outlived its host`).toBeLessThan(LIMIT_MS)
            expect(Sqlite.readRows(db), mode).toEqual(written)
            expect(Sqlite.integrityCheck(db)).toBe("ok")
            // nothing published (a restore's staging file stays: nothing ran to remove it)
            expect(fs.existsSync(output), mode).toBe(false)
            return { host: mode, litestreamGoneMs: ms }
          }), { concurrency: 2 })
        Figures.record("host-sigkill", { outcomes })
      })), 60_000)
})
