/**
 * Runs the BUILT command-line program, as its package's `bin` ships it (the bundle,
 * `node packages/node/dist/effect-litestream.cjs`), as a child process.
 * Everything is asynchronous: the S3 server (fauxqs) of a test runs on the test's own event
 * loop, which a synchronous spawn would block.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"

export const ROOT = fileURLToPath(new URL("../..", import.meta.url))
/** The bundle; `EFFECT_LITESTREAM_CLI_BIN=packages/node/dist/bin.js` runs the tests on tsc's output instead. */
export const BIN = NodePath.resolve(ROOT, process.env.EFFECT_LITESTREAM_CLI_BIN ?? "packages/node/dist/effect-litestream.cjs")

/** A fake secret nobody could mistake for anything else: it must never be printed. */
export const SECRET = "Sup3r-Secr3t-CLI-Value-9f4e1c2a"
export const ACCESS_KEY = "AKIA-CLI-TEST-KEY-ID"

/** See test/support/Build.ts: the global setup builds once per run. */
export { ensureBuilt } from "../support/Build.js"

/** The environment of a child: PATH and HOME only, then `env`; nothing else leaks in. */
export const childEnv = (env: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  HOME: process.env.HOME ?? os.tmpdir(),
  ...env
})

/**
 * Generous deadlines: on a busy machine one run can take seconds; the test's own timeout (60 s)
 * stays the bound.
 */
export interface RunOptions {
  readonly env?: Record<string, string>
  readonly cwd?: string
  readonly timeoutMs?: number
}

export interface CliResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  readonly ms: number
}

/** Every line any child printed, to check that the secret never shows up. */
export const transcript: Array<string> = []

/** A running CLI: its process, its output so far, and a wait for a line. */
export interface RunningCli {
  readonly child: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  /** resolves with the first stdout line that matches */
  readonly line: (match: (line: string) => boolean, timeoutMs?: number) => Promise<string>
  readonly exit: Promise<CliResult>
}

export const start = (args: ReadonlyArray<string>, options: RunOptions = {}): RunningCli => {
  const started = Date.now()
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? os.tmpdir(),
    env: childEnv(options.env),
    stdio: ["ignore", "pipe", "pipe"]
  })
  let stdout = ""
  let stderr = ""
  const waiters: Array<() => void> = []
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk
    for (const w of waiters.splice(0)) w()
  })
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk
  })
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 50_000)
  const exit = new Promise<CliResult>((resolve, reject) => {
    child.on("error", reject)
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      transcript.push(stdout, stderr)
      for (const w of waiters.splice(0)) w()
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started })
    })
  })
  let exited = false
  void exit.then(() => (exited = true), () => (exited = true))
  const line = (match: (line: string) => boolean, timeoutMs = 40_000) =>
    new Promise<string>((resolve, reject) => {
      const deadline = setTimeout(
        () => reject(new Error(`no matching line within ${timeoutMs} ms; stdout:\n${stdout}\nstderr:\n${stderr}`)),
        timeoutMs
      )
      const check = () => {
        const found = stdout.split("\n").find(match)
        if (found !== undefined) {
          clearTimeout(deadline)
          resolve(found)
        } else if (exited) {
          clearTimeout(deadline)
          reject(new Error(`the CLI exited without a matching line; stdout:\n${stdout}\nstderr:\n${stderr}`))
        } else {
          waiters.push(check)
        }
      }
      check()
    })
  return { child, stdout: () => stdout, stderr: () => stderr, line, exit }
}

/** Runs the CLI to its end. */
export const run = (args: ReadonlyArray<string>, options: RunOptions = {}): Promise<CliResult> =>
  start(args, options).exit

/** stdout as JSON objects, one per line; fails on any line that is not one. */
export const jsonLines = (stdout: string): Array<Record<string, unknown>> =>
  stdout.split("\n").filter((l) => l !== "").map((l) => {
    const parsed: unknown = JSON.parse(l)
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error(`not an object: ${l}`)
    return parsed as Record<string, unknown>
  })

/** The pids of the processes whose parent is `pid`. */
export const childrenOf = (pid: number): Promise<Array<number>> =>
  new Promise<Array<number>>((resolve, reject) => {
    execFile("pgrep", ["-P", String(pid)], (error, stdout) => {
      if (error && (error as { code?: unknown }).code !== 1) reject(error)
      else resolve(stdout.split("\n").filter((l) => l.trim() !== "").map(Number))
    })
  }).then((pids) =>
    // (not HostWatchdog's watchdog, a child of the CLI beside each litestream)
    pids.filter((p) => {
      try {
        return !fs.readFileSync(`/proc/${p}/cmdline`, "utf8").includes("effect-litestream-watchdog")
      } catch {
        return false
      }
    })
  )

/** Whether a process exists. */
export { pidAlive } from "../support/Fixtures.js"

/** A fresh temporary folder. */
export const tempDir = (prefix = "effect-litestream-cli-"): Promise<string> =>
  fs.promises.mkdtemp(NodePath.join(os.tmpdir(), prefix))
