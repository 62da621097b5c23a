/**
 * The `Restore` service: brings a database back from its replica with `litestream restore`.
 *
 * @since 0.1.0
 */
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as internalClassify from "./internal/classify.js"
import * as internalConfigFile from "./internal/configFile.js"
import * as internalProcess from "./internal/process.js"
import * as LitestreamCommand from "./LitestreamCommand.js"
import * as LitestreamConfig from "./LitestreamConfig.js"
import {
  type LitestreamConfigError,
  LitestreamFailed,
  LitestreamTimeout,
  LocalFileError,
  OutputExists,
  type RestoreError
} from "./LitestreamError.js"

/**
 * @since 0.1.0
 */
export type RestoreOptions = LitestreamCommand.RestoreOptions

/**
 * What a restore did: wrote the database, or skipped as the options allowed.
 *
 * @since 0.1.0
 */
export type RestoreResult =
  | { readonly _tag: "Restored"; readonly path: string; readonly duration: Duration.Duration }
  | { readonly _tag: "Skipped"; readonly path: string; readonly reason: "DatabaseExists" | "NoBackups" }

/**
 * @since 0.1.0
 */
export const DEFAULT_TIMEOUT: Duration.Duration = Duration.minutes(5)

/**
 * Restores the replica to the database path (or `options.output`). Never overwrites an existing
 * file and never leaves a partial one: litestream writes `<output>.tmp` and renames it, and a
 * failed or interrupted restore removes that temporary file.
 *
 * @since 0.1.0
 */
export class Restore extends Context.Tag("@effect-litestream/core/Restore")<Restore, {
  readonly restore: (options?: RestoreOptions) => Effect.Effect<RestoreResult, RestoreError | LitestreamConfigError>
}>() {}

/**
 * Builds the service from the settings, a `CommandExecutor` and a `FileSystem`.
 *
 * @since 0.1.0
 */
export const make = Effect.gen(function*() {
  const base = yield* LitestreamConfig.LitestreamConfig
  const context = yield* Effect.context<CommandExecutor.CommandExecutor | FileSystem.FileSystem | Path.Path>()
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const mask = LitestreamCommand.masker(base)

  const fileError = (operation: string, file: string) => (e: { readonly message: string }) =>
    new LocalFileError({ operation, path: file, detail: e.message })

  const restore = (options: RestoreOptions = {}) =>
    Effect.gen(function*() {
      const config = options.database === undefined ? base : yield* LitestreamConfig.forDatabase(base, options.database)
      const replica = config.replica.url
      const output = options.output !== undefined ? path.resolve(options.output) : config.dbPath
      const timeout = Duration.decode(options.timeout ?? DEFAULT_TIMEOUT)
      yield* fs.makeDirectory(path.dirname(output), { recursive: true }).pipe(
        Effect.mapError(fileError("create the folder", path.dirname(output)))
      )
      if (yield* fs.exists(output).pipe(Effect.orElseSucceed(() => false))) {
        if (options.ifDbNotExists) return { _tag: "Skipped", path: output, reason: "DatabaseExists" } as const
        return yield* new OutputExists({ path: output })
      }
      const tmp = `${output}.tmp`
      const tmpExisted = yield* fs.exists(tmp).pipe(Effect.orElseSucceed(() => false))
      const started = yield* Clock.currentTimeMillis
      const lines = yield* Effect.scoped(
        Effect.gen(function*() {
          const args = LitestreamCommand.needsConfigFile(config)
            ? LitestreamCommand.restoreConfigArgs(config, yield* internalConfigFile.scoped(config, {}), {
              ...options,
              output
            })
            : LitestreamCommand.restoreArgs(config, { ...options, output })
          const process = yield* internalProcess.start(LitestreamCommand.make(config, args), config.binary)
          const [lines, code] = yield* Effect.all([
            Stream.runCollect(internalProcess.lines(process, mask)),
            internalProcess.exitCode(process)
          ], { concurrency: 2 })
          return { code, lines: Array.from(lines) }
        })
      ).pipe(
        Effect.timeoutFail({ duration: timeout, onTimeout: () => new LitestreamTimeout({ operation: "restore", timeout }) }),
        Effect.catchTag("SystemError", "BadArgument", (e) =>
          Effect.fail(new LitestreamFailed({ operation: "restore", exitCode: -1, stderr: [mask(e.message)] }))),
        Effect.tap(({ lines }) =>
          Effect.forEach(lines, (line) => Effect.logDebug(line).pipe(Effect.annotateLogs("litestream", "restore")), {
            discard: true
          })
        ),
        // A non-zero exit fails here, inside the clean-up below, not after it.
        Effect.flatMap(({ code, lines }) =>
          code === 0 ? Effect.succeed(lines) : Effect.fail(internalClassify.failure("restore", replica, code, lines))
        ),
        // Litestream restores to <output>.tmp, then renames: remove what a failed run left.
        Effect.onExit((exit) => exit._tag === "Failure" && !tmpExisted ? fs.remove(tmp).pipe(Effect.ignore) : Effect.void)
      )
      if (lines.some((l) => l.includes("no matching backups found"))) {
        return { _tag: "Skipped", path: output, reason: "NoBackups" } as const
      }
      if (lines.some((l) => l.includes("database already exists, skipping"))) {
        return { _tag: "Skipped", path: output, reason: "DatabaseExists" } as const
      }
      return { _tag: "Restored", path: output, duration: Duration.millis((yield* Clock.currentTimeMillis) - started) } as const
    }).pipe(
      Effect.provide(context),
      Effect.withSpan("Restore.restore", { attributes: { replica: base.replica.url } })
    ) as Effect.Effect<RestoreResult, RestoreError | LitestreamConfigError>

  return Restore.of({ restore })
})

/**
 * The `Restore` service on top of `LitestreamConfig`, `CommandExecutor`, `FileSystem` and `Path`.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<
  Restore,
  never,
  LitestreamConfig.LitestreamConfig | CommandExecutor.CommandExecutor | FileSystem.FileSystem | Path.Path
> = Layer.effect(Restore, make)
