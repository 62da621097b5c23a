/**
 * A writer in another process (test/support/writer.mjs), and the seeded generator the
 * randomized suites share.
 */
import { SqliteProbe } from "@effect-litestream/core"
import { NodeSqliteProbe } from "@effect-litestream/node"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as ChildProcess from "node:child_process"
import { fileURLToPath } from "node:url"
import * as Sqlite from "./Sqlite.js"

/** A small seeded PRNG (mulberry32): a failing cycle can be replayed from its seed. */
export const prng = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** What the writer committed: the ids `first`..`last` (none when `last < first`). */
/**
 * The cycle numbers of a writer-beside-backup test: `min` cycles, then more (up to twice as
 * many) while `enough()` says no: on a loaded machine the writer and the backup overlap less,
 * and one of the two outcomes may not occur within `min`.
 */
export function* cycleNumbers(min: number, enough: () => boolean): Generator<number> {
  for (let cycle = 0; cycle < min || (!enough() && cycle < 2 * min); cycle++) yield cycle
}

export interface Written {
  readonly first: number
  readonly last: number
  readonly errors: ReadonlyArray<string>
}

const script = fileURLToPath(new URL("./writer.mjs", import.meta.url))

/** A running writer. */
export interface RunningWriter {
  readonly pid: number
  /** resolves when it finished, with what it committed */
  readonly done: Promise<Written>
  /** SIGKILL, if still running */
  readonly kill: () => void
}

/** Starts the writer on `db`; resolves once it has the database open. */
export const spawnWriter = async (
  db: string,
  options: { readonly durationMs: number; readonly intervalMs?: number }
): Promise<RunningWriter> => {
  const child = ChildProcess.spawn(process.execPath, [script], {
    env: {
      ...process.env,
      WRITER_DB: db,
      WRITER_DURATION_MS: String(options.durationMs),
      WRITER_INTERVAL_MS: String(options.intervalMs ?? 5)
    },
    stdio: ["ignore", "pipe", "inherit"]
  })
  let out = ""
  let ready: () => void = () => {}
  const opened = new Promise<void>((resolve) => {
    ready = resolve
  })
  const done = new Promise<Written>((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString()
      if (out.includes("ready\n")) ready()
    })
    // "close", not "exit": "exit" can come before the last of stdout has been read (under load
    // the result line was missing: "writer exited 0: ready")
    child.on("close", (code) => {
      ready()
      const line = out.split("\n").find((l) => l.startsWith("{"))
      if (code === 0 && line !== undefined) resolve(JSON.parse(line) as Written)
      else reject(new Error(`writer exited ${code}: ${out}`))
    })
  })
  done.catch(() => {}) // reported to whoever awaits it
  await opened
  return { pid: child.pid!, done, kill: () => child.exitCode === null && child.kill("SIGKILL") }
}

/**
 * `spawnWriter` as a scoped effect: the scope kills the writer if it is still running.
 */
export const startWriter = (
  db: string,
  options: { readonly durationMs: number; readonly intervalMs?: number }
): Effect.Effect<{ readonly pid: number; readonly done: Effect.Effect<Written> }, never, Scope.Scope> =>
  Effect.acquireRelease(Effect.promise(() => spawnWriter(db, options)), (w) => Effect.sync(w.kill)).pipe(
    Effect.map((w) => ({ pid: w.pid, done: Effect.promise(() => w.done) }))
  )

/** The ids in the items table, in order. */
export const ids = (db: string) => Sqlite.readRows(db).map((r) => r.id)

/** from, from + 1, ..., to (none when to < from) */
export const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from + 1) }, (_, k) => from + k)

/**
 * The probe of the Node layer, with a writer in another process started at a chosen step: right
 * after writes are held (so its commit waits through litestream's final sync), or right before
 * the exclusive delete (so it races the escalation).
 */
export const probeStartingWriter = (at: "hold" | "delete", started: Array<Promise<Written>>) =>
  Layer.effect(
    SqliteProbe.SqliteProbe,
    Effect.map(SqliteProbe.SqliteProbe, (real) =>
      SqliteProbe.SqliteProbe.of({
        ...real,
        holdWrites: (db, options) =>
          Effect.gen(function*() {
            const hold = yield* real.holdWrites(db, options)
            const writer = () =>
              Effect.promise(() => spawnWriter(db, { durationMs: 0 })).pipe(Effect.map((w) => started.push(w.done)))
            if (at === "hold") yield* writer()
            return { deleteExclusively: (files) => Effect.zipRight(at === "delete" ? writer() : Effect.void, hold.deleteExclusively(files)) }
          })
      }))
  ).pipe(Layer.provide(NodeSqliteProbe.layer))
