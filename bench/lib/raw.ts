/**
 * The raw litestream binary, driven directly with node:child_process: the baselines the library
 * is compared with. Every run is timed from just before `spawn` to the moment named by the caller.
 */
import { spawn } from "node:child_process"
import { createInterface } from "node:readline"

export interface RawRun {
  /** seconds from spawn to the moment measured (a log line, or the exit) */
  readonly seconds: number
  readonly exitCode: number | null
  readonly signal: NodeJS.Signals | null
  readonly lines: ReadonlyArray<string>
}

interface Running {
  readonly started: number
  readonly lines: Array<string>
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>
  readonly kill: (signal: NodeJS.Signals) => void
  /** resolves with the time of the first line that satisfies `predicate` (given all lines so far) */
  readonly waitFor: (predicate: (line: string, lines: ReadonlyArray<string>) => boolean) => Promise<number>
}

const start = (binary: string, args: ReadonlyArray<string>, env: Record<string, string>): Running => {
  const started = performance.now()
  const child = spawn(binary, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
  const lines: Array<string> = []
  const waiters: Array<{ predicate: (l: string, ls: ReadonlyArray<string>) => boolean; resolve: (t: number) => void }> = []
  const onLine = (line: string) => {
    const at = performance.now()
    lines.push(line)
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i]!.predicate(line, lines)) {
        waiters[i]!.resolve(at)
        waiters.splice(i, 1)
      }
    }
  }
  createInterface({ input: child.stdout! }).on("line", onLine)
  createInterface({ input: child.stderr! }).on("line", onLine)
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve, reject) => {
    // Timed at "exit"; resolved at "close", once every line litestream printed has been read.
    let exitAt = NaN
    child.on("error", reject)
    child.on("exit", () => {
      exitAt = performance.now()
    })
    child.on("close", (code, signal) => resolve({ code, signal, at: exitAt }))
  })
  return {
    started,
    lines,
    exited,
    kill: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    },
    waitFor: (predicate) =>
      new Promise<number>((resolve, reject) => {
        waiters.push({ predicate, resolve })
        exited.then(
          () => reject(new Error(`litestream ${args.join(" ")} exited first:\n${lines.slice(-10).join("\n")}`)),
          reject
        )
      })
  }
}

const withTimeout = <A>(promise: Promise<A>, ms: number, what: string, onTimeout: () => void): Promise<A> => {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        onTimeout()
        reject(new Error(`${what}: no result after ${ms} ms`))
      }, ms)
    })
  ]).finally(() => clearTimeout(timer))
}

export const isSnapshotWritten = (line: string) => line.includes("snapshot written")
export const isWalSegmentWritten = (line: string) => line.includes("wal segment written")

/**
 * Runs litestream until a log line satisfies `predicate`; the time is taken at that line. Then
 * litestream is killed (SIGKILL, outside the measured time) and awaited.
 */
export const untilLine = async (
  binary: string,
  args: ReadonlyArray<string>,
  env: Record<string, string>,
  predicate: (line: string, lines: ReadonlyArray<string>) => boolean,
  timeoutMs: number
): Promise<RawRun> => {
  const run = start(binary, args, env)
  try {
    const at = await withTimeout(run.waitFor(predicate), timeoutMs, `litestream ${args[0]}`, () => run.kill("SIGKILL"))
    run.kill("SIGKILL")
    const exit = await run.exited
    return { seconds: (at - run.started) / 1000, exitCode: exit.code, signal: exit.signal, lines: run.lines }
  } finally {
    run.kill("SIGKILL")
    await run.exited.catch(() => undefined)
  }
}

/**
 * pylts' `timed_replicate(N)`: `Popen(...).communicate(timeout=N)`, then `kill()` (SIGKILL) and
 * `communicate()` again. The time is taken at the exit; it succeeded if "snapshot written" was logged.
 */
export const forSecondsThenKill = async (
  binary: string,
  args: ReadonlyArray<string>,
  env: Record<string, string>,
  secondsToRun: number
): Promise<RawRun> => {
  const run = start(binary, args, env)
  const timer = setTimeout(() => run.kill("SIGKILL"), secondsToRun * 1000)
  try {
    const exit = await run.exited
    return { seconds: (exit.at - run.started) / 1000, exitCode: exit.code, signal: exit.signal, lines: run.lines }
  } finally {
    clearTimeout(timer)
    run.kill("SIGKILL")
  }
}

/** Runs litestream to its exit (restore, listings); the time is taken at the exit. */
export const toExit = async (
  binary: string,
  args: ReadonlyArray<string>,
  env: Record<string, string>,
  timeoutMs: number
): Promise<RawRun> => {
  const run = start(binary, args, env)
  try {
    const exit = await withTimeout(run.exited, timeoutMs, `litestream ${args[0]}`, () => run.kill("SIGKILL"))
    return { seconds: (exit.at - run.started) / 1000, exitCode: exit.code, signal: exit.signal, lines: run.lines }
  } finally {
    run.kill("SIGKILL")
    await run.exited.catch(() => undefined)
  }
}

/** `litestream version` */
export const version = async (binary: string): Promise<string> => {
  const run = await toExit(binary, ["version"], {}, 10_000)
  return run.lines.join(" ").trim()
}
