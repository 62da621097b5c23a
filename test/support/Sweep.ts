/**
 * The secrets sweep of the fault suite: distinctive credentials, and a recorder that collects
 * every text a failure path produces (errors in all their renderings, Effect logs at every level,
 * replication events, the argv and generated config of every litestream run, what a host
 * process printed, every file left in the test's folder) and checks that no credential appears
 * in any of it.
 *
 * Every litestream run of a sweep goes through a wrapper script that records its argv and the
 * config file it was given, then `exec`s the real binary (same pid, same signals); a watcher
 * also reads `/proc/<pid>/cmdline` of the live litestream processes below the test worker (or a
 * watched host) during the run.
 */
import { NodeLitestream } from "@effect-litestream/node"
import type { LitestreamConfig } from "@effect-litestream/core"
import { expect } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as NodePath from "node:path"
import * as util from "node:util"
import { LitestreamBinary } from "@effect-litestream/node"

/** Fake credentials, distinctive enough that any occurrence is a leak. */
export const KEY_ID = "AKIAFAULTSUITE0K9Q2X"
export const SECRET = "faultSecret-5d1e88b0-NEVER-SHOW-ME"
/** What must never be seen: both credentials, and their distinctive cores (a truncated leak). */
export const NEEDLES: ReadonlyArray<string> = [SECRET, KEY_ID, "5d1e88b0", "FAULTSUITE0K9Q2X"]

/** The database file name of the suite. */
export const DB = "app.db"

/** The Node layer with the suite's credentials. */
export const layer = (folder: string, replicaUrl: string, extra: Partial<LitestreamConfig.Input> = {}) =>
  NodeLitestream.layer({
    accessKeyId: KEY_ID,
    secretAccessKey: SECRET,
    replicaUrl,
    folder,
    db: DB,
    ...extra
  })

/** Every way an error (or a failure's cause) is shown to a user or a log. */
export const renderings = (error: unknown): Array<string> => {
  const e = error as { message?: unknown; stack?: unknown; toString?: unknown }
  const out = [
    String(error),
    String(e?.message),
    String(e?.stack),
    safeJson(error),
    util.inspect(error, { depth: Infinity, showHidden: false }),
    util.format("%o", error)
  ]
  return out
}

/** Every rendering of a failure's cause, and of each error and defect in it. */
export const causeRenderings = (cause: Cause.Cause<unknown>): Array<string> => [
  Cause.pretty(cause, { renderErrorCause: true }),
  ...Cause.failures(cause).pipe((c) => Array.from(c)).flatMap(renderings),
  ...Cause.defects(cause).pipe((c) => Array.from(c)).flatMap(renderings)
]

const safeJson = (u: unknown) => {
  try {
    return JSON.stringify(u) ?? "undefined"
  } catch (e) {
    return `<not serialisable: ${String(e)}>`
  }
}

/** The first needle found in a text, if any. */
export const leakIn = (text: string): string | undefined => NEEDLES.find((n) => text.includes(n))

export interface Entry {
  readonly source: string
  readonly text: string
}

/** The recorder of one test. */
export interface Sweep {
  /** the wrapper litestream, for programs started outside the layer (a CLI, a host) */
  readonly binary: string
  /** the Node layer, with the wrapper binary that records argv and config */
  readonly layer: (folder: string, replicaUrl: string, extra?: Partial<LitestreamConfig.Input>) => ReturnType<typeof layer>
  /** captures Effect logs at every level (replaces the default logger) */
  readonly logger: Layer.Layer<never>
  /** adds an error (all renderings) */
  readonly error: (source: string, error: unknown) => void
  /** adds a failure's cause (pretty) and every error in it */
  readonly cause: (source: string, cause: Cause.Cause<unknown>) => void
  /** adds any text (an event, a host's output) */
  readonly text: (source: string, text: string) => void
  /** also watch litestream processes whose parent is this pid (a host process) */
  readonly watchParent: (pid: number) => void
  /** what was recorded */
  readonly entries: Effect.Effect<ReadonlyArray<Entry>>
  /** argv lines recorded by the wrapper, one per litestream run: `argv[PID]: ARGS` */
  readonly runs: Effect.Effect<ReadonlyArray<string>>
  /** the pids of every litestream run through the wrapper */
  readonly pids: Effect.Effect<ReadonlyArray<number>>
  /** live `/proc/<pid>/cmdline` reads */
  readonly liveArgv: Effect.Effect<ReadonlyArray<string>>
  /** fails the test if any entry holds a needle; returns the counts by kind */
  readonly check: Effect.Effect<{ readonly texts: number; readonly files: number; readonly runs: number; readonly live: number }>
}

const readProcStat = async (pid: string): Promise<{ comm: string; ppid: number } | undefined> => {
  try {
    const stat = await fs.promises.readFile(`/proc/${pid}/stat`, "utf8")
    const close = stat.lastIndexOf(")")
    const comm = stat.slice(stat.indexOf("(") + 1, close)
    const ppid = Number(stat.slice(close + 2).split(" ")[1])
    return { comm, ppid }
  } catch {
    return undefined
  }
}

const readCmdline = async (pid: number): Promise<Array<string> | undefined> => {
  try {
    const raw = await fs.promises.readFile(`/proc/${pid}/cmdline`)
    return raw.toString("utf8").split("\0").filter((s) => s !== "")
  } catch {
    return undefined
  }
}

/**
 * The litestream processes below one of `parents`: their children, and the children of those
 * (a litestream under a CLI or a host that the test started), up to a few levels down.
 */
export const litestreamBelow = async (parents: ReadonlySet<number>): Promise<Array<number>> => {
  const names = await fs.promises.readdir("/proc").catch(() => [] as Array<string>)
  const stats = new Map<number, { comm: string; ppid: number }>()
  await Promise.all(names.filter((n) => /^\d+$/.test(n)).map(async (n) => {
    const stat = await readProcStat(n)
    if (stat) stats.set(Number(n), stat)
  }))
  const below = (pid: number) => {
    for (let p = stats.get(pid)?.ppid, depth = 0; p !== undefined && p > 1 && depth < 6; p = stats.get(p)?.ppid, depth++) {
      if (parents.has(p)) return true
    }
    return false
  }
  return [...stats].filter(([pid, s]) => s.comm === "litestream" && below(pid)).map(([pid]) => pid)
}

/** The litestream processes whose parent is one of `parents`. */
export const litestreamUnder = async (parents: ReadonlySet<number>): Promise<Array<number>> => {
  const names = await fs.promises.readdir("/proc").catch(() => [] as Array<string>)
  const found: Array<number> = []
  await Promise.all(names.filter((n) => /^\d+$/.test(n)).map(async (n) => {
    const stat = await readProcStat(n)
    if (stat && stat.comm === "litestream" && parents.has(stat.ppid)) found.push(Number(n))
  }))
  return found
}

/**
 * Every file under `dir` (the test's folder: databases, litestream's shadow folders, file://
 * replicas, generated configs, staging files) as latin1 text, so that a credential written in
 * clear into any of them is found; `skip` (the wrapper's log) is swept on its own, `*.env`
 * files (the tests' inputs) are not. (Replica
 * objects are LZ4-compressed: a credential inside a compressed page would not show; none of
 * the suite's databases holds one. Objects on the S3 server live in its memory: not swept.)
 */
const filesUnder = async (dir: string, skip: string): Promise<Array<Entry>> => {
  const out: Array<Entry> = []
  const walk = async (folder: string): Promise<void> => {
    const names = await fs.promises.readdir(folder, { withFileTypes: true }).catch(() => [])
    for (const entry of names) {
      const path = NodePath.join(folder, entry.name)
      if (entry.isDirectory()) await walk(path)
      // (`*.env`: the tests' own input files, which hold the credentials by design)
      else if (entry.isFile() && path !== skip && !entry.name.endsWith(".env")) {
        const bytes = await fs.promises.readFile(path).catch(() => undefined)
        if (bytes !== undefined) out.push({ source: `file ${path}`, text: bytes.toString("latin1") })
      }
    }
  }
  await walk(dir)
  return out
}

/** Writes a wrapper `litestream` that records its argv and config, then execs the real binary. */
const wrapper = (dir: string, real: string, log: string) =>
  Effect.promise(async () => {
    const bin = NodePath.join(dir, "litestream")
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`
    await fs.promises.writeFile(
      bin,
      [
        "#!/bin/sh",
        `log=${q(log)}`,
        // (after exec, litestream keeps this shell's pid: $$ is litestream's pid)
        `{ printf 'argv[%s]:' "$$"; for a in "$@"; do printf ' %s' "$a"; done; printf '\\n'; } >> "$log"`,
        `prev=""`,
        `for a in "$@"; do`,
        `  if [ "$prev" = "-config" ] && [ -f "$a" ]; then { echo "config:"; cat "$a"; } >> "$log"; fi`,
        `  prev="$a"`,
        `done`,
        `exec ${q(real)} "$@"`,
        ""
      ].join("\n"),
      { mode: 0o755 }
    )
    return bin
  })

/** The real litestream binary (the bundled one). */
export const realBinary: Effect.Effect<string> = Effect.flatMap(LitestreamBinary.bundled, (o) =>
  o._tag === "Some" ? Effect.succeed(o.value) : Effect.dieMessage("the bundled litestream binary is missing"))

/** A recorder for one test; its watcher runs until the scope closes. */
export const Sweep = (dir: string): Effect.Effect<Sweep, never, Scope.Scope> =>
  Effect.gen(function*() {
    const entries: Array<Entry> = []
    const live: Array<string> = []
    const seen = new Set<number>()
    const parents = new Set<number>([process.pid])
    const binDir = NodePath.join(dir, ".sweep-bin")
    yield* Effect.promise(() => fs.promises.mkdir(binDir, { recursive: true }))
    const log = NodePath.join(binDir, "runs.log")
    const bin = yield* wrapper(binDir, yield* realBinary, log)

    const add = (source: string, text: string) => {
      entries.push({ source, text })
    }
    const capture = Logger.make((options) => {
      // one entry per log event: its logfmt and JSON renderings together
      add("log", `${Logger.logfmtLogger.log(options)}\n${Logger.jsonLogger.log(options)}`)
      if (!Cause.isEmpty(options.cause)) add("log cause", Cause.pretty(options.cause, { renderErrorCause: true }))
    })

    // The live argv and config of every litestream process below a watched parent.
    yield* Effect.promise(async () => {
      for (const pid of await litestreamBelow(parents)) {
        if (seen.has(pid)) continue
        const argv = await readCmdline(pid)
        if (argv === undefined) continue
        seen.add(pid)
        live.push(argv.join(" "))
        const i = argv.indexOf("-config")
        if (i !== -1 && argv[i + 1]) {
          const config = await fs.promises.readFile(argv[i + 1]!, "utf8").catch(() => undefined)
          if (config !== undefined) add("live config", config)
        }
      }
    }).pipe(Effect.repeat(Schedule.spaced("20 millis")), Effect.forkScoped, Effect.interruptible)

    const runsText = Effect.promise(() => fs.promises.readFile(log, "utf8").catch(() => ""))
    const errorOf = (source: string, error: unknown) => {
      for (const text of renderings(error)) add(source, text)
    }
    return {
      binary: bin,
      layer: (folder, replicaUrl, extra = {}) => layer(folder, replicaUrl, { binary: bin, ...extra }),
      logger: Layer.merge(Logger.replace(Logger.defaultLogger, capture), Logger.minimumLogLevel(LogLevel.All)),
      error: errorOf,
      cause: (source, cause) => {
        add(source, Cause.pretty(cause, { renderErrorCause: true }))
        for (const e of Cause.failures(cause)) errorOf(source, e)
        for (const d of Cause.defects(cause)) errorOf(`${source} (defect)`, d)
      },
      text: add,
      watchParent: (pid) => void parents.add(pid),
      entries: Effect.sync(() => [...entries]),
      runs: Effect.map(runsText, (t) => t.split("\n").filter((l) => l.startsWith("argv["))),
      pids: Effect.map(runsText, (t) => Array.from(t.matchAll(/^argv\[(\d+)\]:/gm), (m) => Number(m[1]))),
      liveArgv: Effect.sync(() => [...live]),
      check: Effect.gen(function*() {
        const runs = yield* runsText
        const files = yield* Effect.promise(() => filesUnder(dir, log))
        const all: Array<Entry> = [
          ...entries,
          { source: "argv and config of every run (wrapper)", text: runs },
          ...live.map((text) => ({ source: "live /proc cmdline", text })),
          ...files
        ]
        for (const { source, text } of all) {
          const leak = leakIn(text)
          expect(leak, `a credential in ${source}: ${text.slice(0, 400)}`).toBeUndefined()
        }
        return {
          texts: entries.length,
          files: files.length,
          runs: runs.split("\n").filter((l) => l.startsWith("argv[")).length,
          live: live.length
        }
      })
    } satisfies Sweep
  })
