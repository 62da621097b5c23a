import type * as Command from "@effect/platform/Command"
import * as CommandExecutor from "@effect/platform/CommandExecutor"
import type { PlatformError } from "@effect/platform/Error"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { BinaryNotFound } from "../LitestreamError.js"

/** @internal */
export const DEFAULT_GRACE = Duration.seconds(10)

/**
 * How `terminate` ended a process.
 * @internal
 */
export type Termination = "NotRunning" | "Exited" | "Killed"

/**
 * Stops a process: SIGTERM (litestream then runs its final sync), and SIGKILL to the whole
 * process group when it has not exited within `grace`. The platform's own finalizer only sends
 * SIGTERM and waits forever, and litestream has no shutdown timeout of its own.
 * @internal
 */
export const terminate = (
  process: CommandExecutor.Process,
  grace: Duration.DurationInput
): Effect.Effect<Termination> =>
  Effect.gen(function*() {
    const running = process.isRunning.pipe(Effect.orElseSucceed(() => false))
    if (!(yield* running)) return "NotRunning" as const
    return yield* process.kill("SIGTERM").pipe(
      Effect.interruptible,
      Effect.timeoutFail({ duration: grace, onTimeout: () => "grace period over" as const }),
      Effect.as("Exited" as const),
      Effect.catchAll(() =>
        Effect.flatMap(running, (still) =>
          still
            ? process.kill("SIGKILL").pipe(Effect.ignore, Effect.as("Killed" as const))
            : Effect.succeed("Exited" as const))
      )
    )
  })

/**
 * `terminate`, returning whether it had to kill.
 * @internal
 */
export const stop = (process: CommandExecutor.Process, grace: Duration.DurationInput): Effect.Effect<boolean> =>
  Effect.map(terminate(process, grace), (t) => t === "Killed")

/**
 * Starts litestream in the current scope; closing the scope stops it (see `stop`).
 * @internal
 */
export const start = (
  command: Command.Command,
  binary: string,
  grace: Duration.DurationInput = DEFAULT_GRACE
): Effect.Effect<CommandExecutor.Process, BinaryNotFound | PlatformError, CommandExecutor.CommandExecutor | Scope.Scope> =>
  Effect.acquireRelease(
    Effect.flatMap(CommandExecutor.CommandExecutor, (executor) => executor.start(command)).pipe(
      Effect.catchIf(
        (e) => e._tag === "SystemError" && (e.reason === "NotFound" || e.reason === "PermissionDenied"),
        (e) =>
          Effect.fail(
            new BinaryNotFound({ binary, reason: e._tag === "SystemError" && e.reason === "NotFound" ? "NotFound" : "NotExecutable" })
          )
      )
    ),
    (process) => stop(process, grace)
  )

const splitLines = (stream: Stream.Stream<Uint8Array, PlatformError>) => stream.pipe(Stream.decodeText(), Stream.splitLines)

/**
 * Runs `f` on every masked line of stdout and stderr (litestream logs to either, by format),
 * one line at a time, until both end. The two are read by two fibers rather than `Stream.merge`, whose machinery costs about
 * 100 KiB of garbage per chunk read: over a long replication at debug level (litestream logs
 * about 40 lines a second) that was most of the Node process's allocation.
 * @internal
 */
export const forEachLine = <E, R>(
  process: CommandExecutor.Process,
  mask: (line: string) => string,
  f: (line: string) => Effect.Effect<void, E, R>
): Effect.Effect<void, E | PlatformError, R> =>
  Effect.flatMap(Effect.makeSemaphore(1), (lock) => {
    const each = (stream: Stream.Stream<Uint8Array, PlatformError>) =>
      Stream.runForEach(splitLines(stream), (line) => line.trim() === "" ? Effect.void : lock.withPermits(1)(f(mask(line))))
    return Effect.all([each(process.stdout), each(process.stderr)], { concurrency: 2, discard: true })
  })

/**
 * The exit code, or -1 when the process died of a signal.
 * @internal
 */
export const exitCode = (process: CommandExecutor.Process): Effect.Effect<number> =>
  process.exitCode.pipe(Effect.map(Number), Effect.orElseSucceed(() => -1))
