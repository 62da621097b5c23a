/**
 * Children that cannot outlive their host. The platform's executor starts every child in its
 * own process group, so when the host dies without running its finalizers (SIGKILL, the OOM
 * killer, a crash) nothing stops litestream: it would run on, replicating or restoring, until
 * it happened to write a log line into the closed pipe.
 *
 * This layer wraps the `CommandExecutor`: beside every process it starts, a small `sh` watchdog
 * (in a process group of its own, so a signal to the host's group does not reach it) waits on a
 * pipe whose only writer is the host. When the host dies the kernel closes that pipe; the
 * watchdog then sends SIGTERM to the child's process group (litestream runs its final sync)
 * and SIGKILL 1.2 s later if the group is still there. When the child's scope closes normally,
 * the watchdog is killed after the library has stopped the child.
 *
 * @since 0.1.0
 */
import * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { type ChildProcess, spawn } from "node:child_process"

// $1 is the child's pid, which is its process group (the executor starts it detached). dash's
// `kill` takes no `--`: `-"$1"` is the group. `read` returns at end of file: the host is gone.
const SCRIPT = [
  `while read -r _; do :; done`,
  `kill -TERM -"$1" 2>/dev/null || kill -TERM "$1" 2>/dev/null || exit 0`,
  `i=0`,
  `while [ "$i" -lt 12 ]; do`,
  `  sleep 0.1`,
  `  kill -0 -"$1" 2>/dev/null || exit 0`,
  `  i=$((i + 1))`,
  `done`,
  `kill -KILL -"$1" 2>/dev/null || kill -KILL "$1" 2>/dev/null`
].join("\n")

/** Starts the watchdog of `pid`; undefined where no `sh` can start (the child still runs, unwatched). */
const watch = (pid: number): ChildProcess | undefined => {
  if (process.platform === "win32") return undefined
  try {
    const child = spawn("/bin/sh", ["-c", SCRIPT, "effect-litestream-watchdog", String(pid)], {
      stdio: ["pipe", "ignore", "ignore"],
      detached: true
    })
    child.on("error", () => {})
    child.stdin?.on("error", () => {})
    // neither the watchdog nor its pipe keeps the host's event loop alive
    child.unref()
    ;(child.stdin as { unref?: () => void } | null)?.unref?.()
    return child
  } catch {
    return undefined
  }
}

const unwatch = (child: ChildProcess | undefined) =>
  Effect.sync(() => {
    if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
    try {
      process.kill(-child.pid, "SIGKILL")
    } catch {
      child.kill("SIGKILL")
    }
  })

/**
 * Wraps an executor: every process it starts is watched until its scope closes.
 *
 * @since 0.1.0
 */
export const watched = (executor: CommandExecutor.CommandExecutor): CommandExecutor.CommandExecutor =>
  CommandExecutor.makeExecutor((command) =>
    Effect.tap(executor.start(command), (child) =>
      Effect.acquireRelease(Effect.sync(() => watch(child.pid)), unwatch))
  )

/**
 * The `CommandExecutor` of the context, with the watchdog. `NodeLitestream`'s layers use it;
 * an application that builds the core layers on `NodeContext` itself can add it the same way.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<CommandExecutor.CommandExecutor, never, CommandExecutor.CommandExecutor> = Layer.effect(
  CommandExecutor.CommandExecutor,
  Effect.map(CommandExecutor.CommandExecutor, watched)
)
