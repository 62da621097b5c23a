/**
 * The command-line program run as a user runs it: a child process, timed from `spawn` to its
 * exit, its peak RSS from GNU time (`/usr/bin/time -f %M`, when the machine has it, around every
 * variant alike), and what it loads (the loader hook of test/support/count-modules.mjs) or where
 * its CPU goes (`node --cpu-prof`).
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../..", import.meta.url))

/** The bundle, as the package's `bin` ships it. */
export const BUNDLE = path.join(root, "packages/node/dist/effect-litestream.cjs")
/** A preload that writes the process's own CPU time at its exit (`EFFECT_LITESTREAM_CPU_OUT`). */
export const CPU_PROBE = path.join(root, "bench/lib/cpu-usage.cjs")
/** The program the bundle's entry compiles (with its code cache). */
export const PROGRAM = path.join(root, "packages/node/dist/effect-litestream.program.cjs")
/** The program unbundled: tsc's output, every module loaded from node_modules (the program before issue 11). */
export const UNBUNDLED = path.join(root, "packages/node/dist/bin.js")

const GNU_TIME = "/usr/bin/time"
export const hasGnuTime = fs.existsSync(GNU_TIME)

export interface Run {
  /** the command line (for the report) */
  readonly command: string
  readonly seconds: number
  /** peak resident set size in bytes, NaN without GNU time */
  readonly peakRss: number
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * A run that failed (a non-zero exit) or did not do its job (checked afterwards, e.g. a restore
 * that exited 0 with no output file): its command line, exit code and output, for the report.
 */
export class RunFailed extends Error {
  constructor(
    readonly reason: string,
    readonly run: {
      readonly command: string
      readonly code: number | null
      readonly signal?: string | null | undefined
      readonly stdout: string
      readonly stderr: string
    }
  ) {
    super(`${reason} (${run.command}: exit ${run.code ?? run.signal}${run.stderr.trim() === "" ? "" : `, stderr: ${run.stderr.trim().split("\n").slice(-2).join(" ")}`})`)
  }

  /** everything known of the run, for the report (output cut to its last `lines` lines each) */
  details(lines = 30): string {
    const tail = (text: string) => {
      const all = text.replace(/\s+$/, "").split("\n")
      return all.length <= lines ? all.join("\n") : [`(${all.length - lines} lines before)`, ...all.slice(-lines)].join("\n")
    }
    return [
      `${this.reason}`,
      `command: ${this.run.command}`,
      `exit code: ${this.run.code ?? "none"}${this.run.signal ? `, signal ${this.run.signal}` : ""}`,
      `stdout:${this.run.stdout.trim() === "" ? " (empty)" : `\n${tail(this.run.stdout)}`}`,
      `stderr:${this.run.stderr.trim() === "" ? " (empty)" : `\n${tail(this.run.stderr)}`}`
    ].join("\n")
  }
}

/** The command line of a run, for people: the program's path shortened to its name. */
const commandLine = (file: string, args: ReadonlyArray<string>) =>
  [path.basename(file), ...args.map((a) => (a.startsWith(root) ? path.relative(root, a) : a))].join(" ")

/**
 * Fails with `RunFailed` (the run's output kept) when `check` throws: a run that exited 0 but
 * did not do its job.
 */
export const checked = <A>(run: Run, check: () => A): A => {
  try {
    return check()
  } catch (e) {
    throw new RunFailed(`exited ${run.code} but ${e instanceof Error ? e.message : String(e)}`, run)
  }
}

/** Runs `file args` to its exit; fails (`RunFailed`) on a non-zero exit unless `allowFailure`. */
export const timed = (
  file: string,
  args: ReadonlyArray<string>,
  options: { readonly env?: Record<string, string>; readonly cwd?: string; readonly allowFailure?: boolean } = {}
): Promise<Run> => {
  const rssFile = path.join(os.tmpdir(), `effect-litestream-bench-rss-${process.pid}-${Math.random().toString(36).slice(2)}`)
  const [cmd, argv] = hasGnuTime ? [GNU_TIME, ["-f", "%M", "-o", rssFile, file, ...args]] : [file, [...args]]
  return new Promise<Run>((resolve, reject) => {
    const started = performance.now()
    const child = spawn(cmd, argv, {
      cwd: options.cwd ?? os.tmpdir(),
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? os.tmpdir(), ...options.env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c))
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c))
    let exitAt = NaN
    child.on("exit", () => (exitAt = performance.now()))
    child.on("error", reject)
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000)
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      let peakRss = NaN
      try {
        peakRss = Number(fs.readFileSync(rssFile, "utf8").trim().split("\n").at(-1)) * 1024
        fs.rmSync(rssFile, { force: true })
      } catch {
        // no GNU time
      }
      const run = { command: commandLine(file, args), seconds: (exitAt - started) / 1000, peakRss, code, signal, stdout, stderr }
      if (code !== 0 && options.allowFailure !== true) {
        reject(new RunFailed(code === null ? `killed by ${signal}` : `exited ${code}`, run))
      } else resolve(run)
    })
  })
}

const COUNTER = path.join(root, "test/support/count-modules.mjs")

/** The files and Node built-ins one run of `script args` loads. */
export const modules = async (script: string, args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const out = path.join(os.tmpdir(), `effect-litestream-bench-modules-${process.pid}-${Math.random().toString(36).slice(2)}`)
  try {
    await timed(process.execPath, ["--import", COUNTER, script, ...args], {
      env: { ...env, EFFECT_LITESTREAM_MODULES_OUT: out },
      allowFailure: true
    })
    const urls = [...new Set(fs.readFileSync(out, "utf8").split("\n").filter((l) => l !== ""))]
      .filter((u) => !/count-modules(-hooks)?\.mjs$/.test(u))
    const files = urls.filter((u) => u.startsWith("file:"))
    const bytes = files.reduce((n, u) => n + fs.statSync(fileURLToPath(u)).size, 0)
    return { files: files.length, builtins: urls.length - files.length, bytes }
  } finally {
    fs.rmSync(out, { force: true })
  }
}

/**
 * One `node --cpu-prof` run of `script args`: the profile's length, and the time V8 spent
 * compiling the program's modules (`compileSourceTextModule`, `compileForInternalLoader`), in GC,
 * and running everything else.
 */
export const cpuProfile = async (script: string, args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "effect-litestream-bench-prof-"))
  try {
    await timed(process.execPath, ["--cpu-prof", "--cpu-prof-dir", dir, "--cpu-prof-interval", "200", script, ...args], {
      env,
      allowFailure: true
    })
    const file = fs.readdirSync(dir).find((f) => f.endsWith(".cpuprofile"))!
    const profile = JSON.parse(fs.readFileSync(path.join(dir, file), "utf8")) as {
      nodes: Array<{ id: number; callFrame: { functionName: string } }>
      samples: Array<number>
      timeDeltas: Array<number>
      startTime: number
      endTime: number
    }
    const self = new Map<number, number>()
    profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
    let compile = 0
    let gc = 0
    let idle = 0
    for (const node of profile.nodes) {
      const us = self.get(node.id) ?? 0
      const name = node.callFrame.functionName
      // Node's loader compiling modules, or the bundle's entry compiling the program (vm.Script)
      if (["compileSourceTextModule", "compileForInternalLoader", "compileFunction", "Script"].includes(name)) compile += us
      else if (name === "(garbage collector)") gc += us
      else if (name === "(idle)") idle += us
    }
    const total = profile.endTime - profile.startTime
    return { totalMs: total / 1000, compileMs: compile / 1000, gcMs: gc / 1000, busyMs: (total - idle) / 1000 }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
