/**
 * Runs one command: builds the library's services from the settings, prints the failure (if
 * any) as the command's error, and turns it into an exit code.
 *
 * @since 0.1.0
 */
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { LitestreamConfigError } from "@effect-litestream/core/LitestreamError"
import type * as NodeLitestream from "../NodeLitestream.js"
import type { SettingsFlags } from "./CliOptions.js"
import * as Failure from "./Failure.js"
import * as Output from "./Output.js"
import * as Settings from "./Settings.js"
import * as VersionCache from "./VersionCache.js"

/**
 * The command has told its outcome; the program exits with `code`.
 *
 * @since 0.1.0
 */
export class Exit extends Data.TaggedError("CliExit")<{ readonly code: number }> {}

// One program run per process: what the runtime's teardown and the console need to know.
const state = { onSignal: Failure.ExitCode.Interrupted as number, commandStarted: false }

/**
 * The exit code when SIGINT / SIGTERM ends the program: 0 once `replicate` runs (stopping is its
 * normal end), else 130.
 *
 * @since 0.1.0
 */
export const exitCodeOnSignal = (): number => state.onSignal

/**
 * Sets the exit code of a program that SIGINT / SIGTERM ends from now on (`replicate`: 0, its
 * normal end; 1 when litestream's final sync then failed).
 *
 * @since 0.1.0
 */
export const exitOnSignal = (code: number): Effect.Effect<void> =>
  Effect.sync(() => {
    state.onSignal = code
  })

/**
 * Whether a command's handler has started (the arguments were valid).
 *
 * @since 0.1.0
 */
export const commandStarted = (): boolean => state.commandStarted

/**
 * Marks the command's handler as started, for a command that needs no settings and so does not
 * go through `run` (`status`): its own errors then reach stderr.
 *
 * @since 0.3.0
 */
export const started: Effect.Effect<void> = Effect.sync(() => {
  state.commandStarted = true
})

/**
 * What a command body may use.
 *
 * @since 0.1.0
 */
export type Env<S = NodeLitestream.Services> =
  | S
  | CommandExecutor.CommandExecutor
  | FileSystem.FileSystem
  | Path.Path
  | Scope.Scope

/**
 * Runs `body` with the services built from the settings; any failure is printed (one line per
 * problem, with its fix) and becomes `Exit`.
 *
 * @since 0.1.0
 */
export const run = <E, S = NodeLitestream.Services>(
  command: string,
  options: {
    readonly json: boolean
    readonly settings: SettingsFlags
    /** a signal is how the command normally ends (`replicate`): it tells the outcome itself */
    readonly endsOnSignal?: boolean
    /**
     * the services the body uses, built from the settings (default all of them, `Settings.layer`):
     * a command that needs fewer builds only those
     */
    readonly services?: Layer.Layer<S, LitestreamConfigError | NodeLitestream.EnvFileError, FileSystem.FileSystem>
  },
  body: (out: Output.Output) => Effect.Effect<void, E, Env<S>>
): Effect.Effect<void, Exit, CommandExecutor.CommandExecutor | FileSystem.FileSystem | Path.Path> => {
  const out = Output.make(command, options.json)
  // (without `services`, S is its default: what Settings.layer provides)
  const services = options.services ?? (Settings.layer(options.settings) as unknown as NonNullable<typeof options.services>)
  return body(out).pipe(
    Effect.scoped,
    Effect.provide(services),
    VersionCache.provide,
    // The arguments were valid: from here on, what goes to stderr is the command's own.
    (self) => Effect.zipRight(Effect.sync(() => (state.commandStarted = true)), self),
    Effect.onInterrupt(() =>
      options.endsOnSignal === true
        ? Effect.void
        : out.error(
          {
            error: "Interrupted",
            message: "interrupted by a signal before the job was done; litestream was stopped",
            exitCode: Failure.ExitCode.Interrupted
          },
          ["interrupted by a signal before the job was done; litestream was stopped."]
        )
    ),
    Effect.catchAllCause((cause) => {
      if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
      const report = Failure.fromCause(cause)
      return Effect.zipRight(out.error(report.fields, report.lines), Effect.fail(new Exit({ code: report.exitCode })))
    })
  )
}
