/**
 * What the fault suite's tests share: the services' operations, a swept test body (credentials
 * checked in everything it produced), the database whose survival every failure path checks,
 * and process checks by pid and by process group.
 */
import type { Replication, ReplicationOptions } from "@effect-litestream/core/Replication"
import { Replicate, ReplicaListing, Restore, Verify } from "@effect-litestream/core"
import { expect } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as NodePath from "node:path"
import * as util from "node:util"
import * as Figures from "./Figures.js"
import { litestreamChildren, readBytes, tempDir } from "./Fixtures.js"
import * as Sqlite from "./Sqlite.js"
import { DB, Sweep } from "./Sweep.js"

export const once = (options?: Replicate.OnceOptions) =>
  Effect.flatMap(Replicate.Replicate, (replicate) => replicate.once(options))

export const restore = (options?: Restore.RestoreOptions) =>
  Effect.flatMap(Restore.Restore, (service) => service.restore(options))

export const replicate = (options?: ReplicationOptions) =>
  Effect.flatMap(Replicate.Replicate, (replicate) => replicate.replicate(options))

export const deleteLocal = Effect.flatMap(Replicate.Replicate, (replicate) => replicate.deleteLocal)

export const listing = (kind: "generations" | "snapshots" | "wal", timeout: Duration.DurationInput = "20 seconds") =>
  Effect.flatMap(
    ReplicaListing.ReplicaListing,
    (listing): Effect.Effect<ReadonlyArray<unknown>, ReplicaListing.ListingError> => listing[kind]({ timeout })
  )

export const verifiedBackup = (options?: Replicate.OnceOptions) =>
  Effect.flatMap(Verify.Verify, (verify) => verify.backup(options))

export const dbPath = (folder: string) => NodePath.join(folder, DB)

/** Whether a process exists (signal 0); EPERM means it does. */
export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Whether a process group has members: `kill(-pgid, 0)` throws ESRCH when it has none. */
export const groupAlive = (pgid: number): boolean => {
  try {
    process.kill(-pgid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== "ESRCH"
  }
}

/** Fails the test unless the pid and its process group are gone (a zombie counts as gone: it runs nothing). */
export const expectGone = (pid: number, what = "litestream") =>
  Effect.gen(function*() {
    // A killed process may take a moment to be reaped; one whose parent died is reaped by init,
    // which in a container may never happen: a zombie runs nothing, it counts as gone.
    const state = Effect.promise(() =>
      fs.promises.readFile(`/proc/${pid}/stat`, "utf8").then((s) => s.slice(s.lastIndexOf(")") + 2, s.lastIndexOf(")") + 3), () => "gone")
    )
    const groupState = Effect.promise(async () => {
      if (!groupAlive(pid)) return "empty"
      // (only now the slow way: a group with members left, zombies or not)
      // members of the group that are not zombies
      const names = await fs.promises.readdir("/proc").catch(() => [] as Array<string>)
      const live: Array<string> = []
      await Promise.all(names.filter((n) => /^\d+$/.test(n)).map(async (n) => {
        const stat = await fs.promises.readFile(`/proc/${n}/stat`, "utf8").catch(() => "")
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
        if (fields[2] === String(pid) && fields[0] !== "Z") live.push(n)
      }))
      return live.length === 0 ? "zombies only" : `live members ${live.join(",")}`
    })
    // the common case, at once: no such process, no such group
    if (!alive(pid) && !groupAlive(pid)) return
    const check = Effect.zip(state, groupState)
    const [s, g] = yield* poll(check, ([s, g]) => (s === "gone" || s === "Z") && g !== undefined && !g.startsWith("live"), "3 seconds")
    expect(s === "gone" || s === "Z", `${what} pid ${pid} still running (state ${s})`).toBe(true)
    expect(g.startsWith("live"), `${what}'s process group ${pid}: ${g}`).toBe(false)
  })

/** Runs `self` every 20 ms until `until` holds or `max` has passed; returns the last value. */
export const poll = <A, E, R>(self: Effect.Effect<A, E, R>, until: (a: A) => boolean, max: Duration.DurationInput) =>
  Effect.gen(function*() {
    const deadline = Date.now() + Duration.toMillis(Duration.decode(max))
    while (true) {
      const a = yield* self
      if (until(a) || Date.now() >= deadline) return a
      yield* Effect.sleep("20 millis")
    }
  })

/** No litestream child of this worker. */
export const expectNoChildren = Effect.gen(function*() {
  const pids = yield* litestreamChildren
  const described = yield* Effect.promise(() =>
    Promise.all(pids.map(async (pid) => {
      const read = (f: string) => fs.promises.readFile(`/proc/${pid}/${f}`, "utf8").catch(() => "?")
      const stat = await read("stat")
      return `${pid} (state ${stat.split(") ")[1]?.[0] ?? "?"}): ${(await read("cmdline")).split("\0").join(" ")}`
    }))
  )
  expect(described, "litestream processes left running").toEqual([])
})

/** The argv of a process, or undefined once it is gone. */
const argvOf = (pid: number) =>
  fs.promises.readFile(`/proc/${pid}/cmdline`, "utf8").then((t) => t.split("\0").filter((a) => a !== ""), () => undefined)

/**
 * The litestream children of this worker that do the work: not the short `litestream version`
 * the library runs first to learn the binary's line (LitestreamVersion).
 */
export const workingChildren: Effect.Effect<Array<number>> = Effect.flatMap(litestreamChildren, (pids) =>
  Effect.promise(async () => {
    const argvs = await Promise.all(pids.map(argvOf))
    return pids.filter((_, i) => argvs[i] !== undefined && argvs[i]!.at(-1) !== "version")
  }))

/** Whether `pid` runs the litestream binary itself (the sweep's wrapper script has exec'd it). */
const isExecd = (pid: number) =>
  fs.promises.readlink(`/proc/${pid}/exe`).then((exe) => NodePath.basename(exe) === "litestream", () => false)

/**
 * Waits for exactly one working litestream child of this worker, running the binary itself (a
 * signal to the wrapper before its exec would hit a shell), and returns its pid.
 */
export const theChild = workingChildren.pipe(
  Effect.flatMap((pids) =>
    pids.length === 1
      ? Effect.flatMap(Effect.promise(() => isExecd(pids[0]!)), (execd) => execd ? Effect.succeed(pids) : Effect.fail("not exec'd yet"))
      : Effect.fail("no single litestream child yet")
  ),
  Effect.retry(Schedule.spaced("15 millis").pipe(Schedule.upTo("10 seconds"))),
  Effect.map((pids) => pids[0]!),
  Effect.orDie
)

/** How many times a test checked that its database was kept (`unchanged` or `kept`): for the figures. */
let databaseChecks = 0

/** A database with rows, and a check that it is still there, byte for byte, with its rows. */
export const liveDatabase = (folder: string, count = 20) =>
  Effect.gen(function*() {
    fs.mkdirSync(folder, { recursive: true })
    const db = dbPath(folder)
    const written = Sqlite.createDatabase(db, count)
    const bytes = yield* readBytes(db)
    // byte for byte: for paths where litestream never ran against the database
    const unchanged = Effect.gen(function*() {
      databaseChecks++
      expect(fs.existsSync(db), `${db} must be kept`).toBe(true)
      expect(yield* readBytes(db), `${db} must be unchanged`).toEqual(bytes)
      expect(Sqlite.readRows(db)).toEqual(written)
    })
    // kept with every row: where litestream ran, it may have added its own tables and
    // checkpointed the WAL into the file before it failed
    const kept = Effect.sync(() => {
      databaseChecks++
      expect(fs.existsSync(db), `${db} must be kept`).toBe(true)
      expect(Sqlite.readRows(db)).toEqual(written)
      expect(Sqlite.integrityCheck(db)).toBe("ok")
    })
    return { db, written, unchanged, kept }
  })

/** The test body's context. */
export interface Context {
  readonly dir: string
  readonly sweep: Sweep
  /** runs an effect that must fail: records the error for the sweep, checks no litestream is left */
  readonly fails: <A, E, R>(source: string, self: Effect.Effect<A, E, R>) => Effect.Effect<E, A, R>
  /** runs the replication's event stream into the sweep until the scope closes */
  readonly sweepEvents: (replication: Replication["Type"]) => Effect.Effect<void, never, Scope.Scope>
}

/**
 * A test body under the secrets sweep: a fresh folder, Effect logs captured at every level,
 * every litestream run recorded; at the end, no credential in anything recorded.
 */
export const swept = <A, E>(
  name: string,
  body: (context: Context) => Effect.Effect<A, E, Scope.Scope>
): Effect.Effect<A, E, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = yield* tempDir("effect-litestream-faults-")
    const sweep = yield* Sweep(dir)
    const checksBefore = databaseChecks
    let failures = 0
    const context: Context = {
      dir,
      sweep,
      fails: (source, self) =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(self)
          failures++
          sweep.error(source, error)
          yield* expectNoChildren
          return error
        }),
      sweepEvents: (replication) =>
        replication.events.pipe(
          Stream.runForEach((event) =>
            Effect.sync(() => sweep.text("event", `${JSON.stringify(event)} ${util.inspect(event, { depth: 5 })}`))
          ),
          Effect.forkScoped,
          Effect.asVoid
        )
    }
    const exit = yield* Effect.exit(Effect.scoped(body(context)).pipe(Effect.provide(sweep.logger)))
    if (Exit.isFailure(exit)) sweep.cause("test outcome", exit.cause)
    // every litestream the test started (through the wrapper, also under a CLI or a host) is gone
    for (const pid of yield* sweep.pids) yield* expectGone(pid)
    const counts = yield* sweep.check
    // failures: operations run through `fails` (each asserted); databaseKept: checks passed that
    // the test's database survived (every row, integrity or bytes), counted where they ran
    Figures.record("sweep", { test: name, failures, databaseKept: databaseChecks - checksBefore, ...counts })
    return yield* exit
  })

/** Forks `self`, waits for the litestream child it starts, returns both. */
export const forkWithChild = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(self)
    const pid = yield* theChild
    return { fiber, pid } as const
  })

/** Milliseconds taken, with the exit. */
export const timedExit = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const started = Date.now()
    const exit = yield* Effect.exit(self)
    return [exit, Date.now() - started] as const
  })

/** "success", the failure's `_tag`, "interrupted" or "defect". */
export const tagOf = (exit: Exit.Exit<unknown, unknown>): string =>
  Exit.isSuccess(exit)
    ? "success"
    : Option.match(Cause.failureOption(exit.cause), {
      onNone: () => Cause.isInterruptedOnly(exit.cause) ? "interrupted" : "defect",
      onSome: (e) => String((e as { readonly _tag?: unknown })?._tag ?? "untagged")
    })

/** Adds `count` rows of 64 KiB random blobs (table `blobs`): a database worth interrupting. */
export const addBlobs = (path: string, count: number): void => {
  const db = Sqlite.open(path)
  try {
    db.exec("CREATE TABLE IF NOT EXISTS blobs (id INTEGER PRIMARY KEY, b BLOB NOT NULL)")
    const insert = db.prepare("INSERT INTO blobs (b) VALUES (randomblob(65536))")
    db.transaction(() => {
      for (let i = 0; i < count; i++) insert.run()
    })()
  } finally {
    db.close()
  }
}

/** The names in a folder, sorted; none when it does not exist (yet). */
export const listOrEmpty = (dir: string): Effect.Effect<Array<string>> =>
  Effect.promise(() => fs.promises.readdir(dir).then((names) => names.sort(), () => [] as Array<string>))
