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
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as internalClassify from "./internal/classify.js"
import * as internalConfigFile from "./internal/configFile.js"
import * as internalProcess from "./internal/process.js"
import * as internalPublish from "./internal/publish.js"
import * as internalVersion from "./internal/version.js"
import * as LitestreamCommand from "./LitestreamCommand.js"
import * as LitestreamConfig from "./LitestreamConfig.js"
import {
  type LitestreamConfigError,
  LitestreamFailed,
  LitestreamTimeout,
  LocalFileError,
  NotOnThisLine,
  type RestoreError,
  StaleSidecarFiles
} from "./LitestreamError.js"
import { ReplicaCheck } from "./ReplicaCheck.js"

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
  | {
    readonly _tag: "Restored"
    readonly path: string
    readonly duration: Duration.Duration
    /** the stale `-wal` / `-shm` / `-journal` files renamed aside (only with `moveAsideSidecars`, only when there were any) */
    readonly movedAside?: ReadonlyArray<MovedAside>
  }
  | { readonly _tag: "Skipped"; readonly path: string; readonly reason: "DatabaseExists" | "NoBackups" }

/**
 * A stale file beside the output, renamed aside by `moveAsideSidecars`.
 *
 * @since 0.2.0
 */
export interface MovedAside {
  readonly from: string
  readonly to: string
}

/**
 * The files SQLite takes as part of the database at `output`: its WAL, its shared-memory index
 * and its rollback journal. Beside an output that does not exist they belong to an earlier
 * database, and SQLite would apply a `-wal` or `-journal` to whatever is published there.
 *
 * @since 0.2.0
 */
export const sidecars = (output: string): ReadonlyArray<string> => [`${output}-wal`, `${output}-shm`, `${output}-journal`]

/**
 * Those of `sidecars(output)` that exist.
 *
 * @since 0.2.0
 */
export const staleSidecars = (output: string): Effect.Effect<ReadonlyArray<string>, LocalFileError, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) =>
    Effect.filter(sidecars(output), (file) =>
      fs.exists(file).pipe(
        Effect.mapError((e) => new LocalFileError({ operation: "check for", path: file, detail: e.message }))
      )))

/**
 * The check to run before publishing a restored database at `output` (which must not exist):
 * when stale `sidecars` are there, fails with `StaleSidecarFiles` (touching nothing), or with
 * `moveAside` renames each to `<file>.stale-<timestamp>` (a name not taken yet; never deleted)
 * and returns what it moved. Reused by every `Restore` layer; run it right before the publishing
 * step, so that a file created while the restore ran is caught too.
 *
 * @since 0.2.0
 */
export const clearSidecars = (
  output: string,
  options: { readonly moveAside?: boolean | undefined } = {}
): Effect.Effect<ReadonlyArray<MovedAside>, StaleSidecarFiles | LocalFileError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const found = yield* staleSidecars(output)
    if (found.length === 0) return []
    if (options.moveAside !== true) return yield* new StaleSidecarFiles({ path: output, files: found })
    const fs = yield* FileSystem.FileSystem
    const stamp = new Date(yield* Clock.currentTimeMillis).toISOString().replace(/:/g, "-")
    const moved: Array<MovedAside> = []
    for (const from of found) {
      const taken = (file: string) =>
        fs.exists(file).pipe(
          Effect.mapError((e) => new LocalFileError({ operation: "check for", path: file, detail: e.message }))
        )
      let to = `${from}.stale-${stamp}`
      for (let n = 2; yield* taken(to); n++) to = `${from}.stale-${stamp}-${n}`
      const done = yield* fs.rename(from, to).pipe(
        Effect.as(true),
        // gone meanwhile (its database closed): nothing left to move
        Effect.catchIf((e) => e._tag === "SystemError" && e.reason === "NotFound", () => Effect.succeed(false)),
        Effect.mapError((e) => new LocalFileError({ operation: "move aside", path: from, detail: e.message }))
      )
      if (done) moved.push({ from, to })
    }
    return moved
  })

/**
 * @since 0.1.0
 */
export const DEFAULT_TIMEOUT: Duration.Duration = Duration.minutes(5)

/**
 * Restores the replica to the database path (or `options.output`). Never overwrites an existing
 * file, also one created while the restore runs, and never leaves a partial one: litestream
 * restores to a private name beside the output, which is linked to the output only when complete
 * (the link fails if the output exists); a failed or interrupted restore removes the private files.
 * Never publishes beside a stale `-wal`, `-shm` or `-journal` (see `clearSidecars`): checked
 * before litestream starts and again right before the link.
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
  const detect = internalVersion.memo(base)
  const replicaCheck = yield* Effect.serviceOption(ReplicaCheck)

  const restore = (options: RestoreOptions = {}) =>
    Effect.gen(function*() {
      const config = options.database === undefined ? base : yield* LitestreamConfig.forDatabase(base, options.database)
      const { line, version } = yield* detect("restore", options.timeout ?? DEFAULT_TIMEOUT)
      const foreign = LitestreamCommand.foreignRestoreOptions(line, options)
      if (foreign.length > 0) {
        return yield* new NotOnThisLine({
          feature: `the restore option${foreign.length > 1 ? "s" : ""} ${foreign.join(" and ")}`,
          line,
          version: version.toString(),
          fix: line === "v0.5"
            ? "litestream v0.5 has no generations: restore up to a txid, or a timestamp"
            : "txid is litestream v0.5's; with v0.3 restore up to a generation and index, or a timestamp"
        })
      }
      const replica = config.replica.url
      const timeout = Duration.decode(options.timeout ?? DEFAULT_TIMEOUT)
      // Litestream checks the output only when it starts, and at the end renames its <out>.tmp
      // over whatever is there: a database created meanwhile would be silently replaced. So it
      // restores to the private staging name, which `publish` links to the output. Litestream
      // also leaves <staging>.tmp, .tmp-wal and .tmp-shm behind (`publish` removes them).
      // litestream v0.3.13 silently restores an older database from a damaged WAL segment or a
      // gap: the check reads the plan's WAL beside it, and only its ReplicaCorrupt counts (a
      // store it cannot read is litestream's to report)
      const checked = Option.match(line === "v0.3" ? replicaCheck : Option.none(), {
        onNone: () => Effect.void,
        onSome: (c) =>
          c.check(config, options).pipe(
            Effect.tap((result) => Effect.logDebug(`replica check: ${result._tag === "Sound" ? `${result.segments} WAL segments sound` : result.reason}`)),
            Effect.catchIf((e) => e._tag !== "ReplicaCorrupt", (e) => Effect.logDebug(`replica check not done: ${e.message}`)),
            Effect.timeoutFail({ duration: timeout, onTimeout: () => new LitestreamTimeout({ operation: "restore", timeout }) }),
            Effect.asVoid
          )
      })
      const write = (staging: string) =>
        Effect.scoped(
          Effect.gen(function*() {
            const args = LitestreamCommand.needsConfigFile(config)
              ? LitestreamCommand.restoreConfigArgs(config, yield* internalConfigFile.scoped(config, { line }), {
                ...options,
                output: staging
              }, line)
              : LitestreamCommand.restoreArgs(config, { ...options, output: staging }, line)
            const process = yield* internalProcess.start(LitestreamCommand.make(config, args, line), config.binary)
            const lines: Array<string> = []
            const [, code] = yield* Effect.all([
              internalProcess.forEachLine(process, mask, (line) => Effect.sync(() => lines.push(line))),
              internalProcess.exitCode(process)
            ], { concurrency: 2 })
            return { code, lines }
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
          Effect.flatMap(({ code, lines }) =>
            code === 0 ? Effect.succeed(lines) : Effect.fail(internalClassify.failure("restore", replica, code, lines))
          ),
          Effect.flatMap((lines) =>
            Effect.gen(function*() {
              // (exit 0 with -if-replica-exists)
              if (lines.some((l) => l.includes("no matching backups found"))) return { _tag: "NoBackups" } as const
              if (!(yield* fs.exists(staging).pipe(Effect.orElseSucceed(() => false)))) {
                return yield* new LitestreamFailed({
                  operation: "restore",
                  exitCode: 0,
                  stderr: [...lines.slice(-9), `litestream exited 0 but wrote no database to ${staging}`]
                })
              }
              return { _tag: "Written" } as const
            })
          ),
          // the check's verdict first: a ReplicaCorrupt names the object, where litestream
          // failing on the same damage says only "context canceled"
          (litestream) =>
            Effect.gen(function*() {
              const running = yield* Effect.fork(litestream)
              const verdict = yield* Effect.exit(checked)
              if (Exit.isFailure(verdict)) {
                yield* Fiber.interrupt(running)
                return yield* Effect.failCause(verdict.cause)
              }
              return yield* Fiber.join(running)
            })
        )
      return yield* internalPublish.publish({
        output: options.output !== undefined ? path.resolve(options.output) : config.dbPath,
        replica,
        restore: options,
        clearSidecars,
        write
      })
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
