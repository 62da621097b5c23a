import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { LocalFileError, NoBackupsFound, OutputExists, type StaleSidecarFiles } from "../LitestreamError.js"
import type * as LitestreamCommand from "../LitestreamCommand.js"
import type { MovedAside, RestoreResult } from "../Restore.js"

/**
 * What a restore layer's own step did with the staging path it was given.
 * @internal
 */
export type Written =
  | { readonly _tag: "Written" }
  /** the replica holds no backup (nothing was written) */
  | { readonly _tag: "NoBackups" }

const fileError = (operation: string, file: string) => (e: { readonly message: string }) =>
  LocalFileError.of(operation, file, e.message)

const randomSuffix = () => Math.random().toString(36).slice(2, 10).padEnd(8, "0")

/**
 * The part every `Restore` layer shares around its own step (`write`, which writes a complete
 * database at the staging path it is given): the existing output and its options, stale
 * sidecars, a private staging name beside the output, the publishing (a hard link, which never
 * replaces a file; where links are not supported, a check and a rename), the outcome, and the
 * removal of every private file on every exit, interruption included.
 * @internal
 */
export const publish = <E, R>(options: {
  readonly output: string
  readonly replica: string
  readonly restore: LitestreamCommand.RestoreOptions
  readonly clearSidecars: (
    output: string,
    options?: { readonly moveAside?: boolean | undefined }
  ) => Effect.Effect<ReadonlyArray<MovedAside>, StaleSidecarFiles | LocalFileError, FileSystem.FileSystem>
  readonly write: (staging: string) => Effect.Effect<Written, E, R>
}): Effect.Effect<
  RestoreResult,
  E | OutputExists | NoBackupsFound | StaleSidecarFiles | LocalFileError,
  R | FileSystem.FileSystem | Path.Path
> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const { output, restore } = options
    const exists = (file: string) => fs.exists(file).pipe(Effect.orElseSucceed(() => false))
    yield* fs.makeDirectory(path.dirname(output), { recursive: true }).pipe(
      Effect.mapError(fileError("create the folder", path.dirname(output)))
    )
    if (yield* exists(output)) {
      if (restore.ifDbNotExists) return { _tag: "Skipped", path: output, reason: "DatabaseExists" } as const
      return yield* new OutputExists({ path: output })
    }
    // Stale sidecars (they belong to no database, since the output does not exist) fail the
    // restore before any work; with moveAsideSidecars they are moved only right before
    // publishing, so a restore that fails or is skipped leaves them where they are.
    if (restore.moveAsideSidecars !== true) yield* options.clearSidecars(output)
    const staging = path.join(path.dirname(output), `.effect-litestream-restore-${randomSuffix()}`)
    const started = yield* Clock.currentTimeMillis
    return yield* Effect.gen(function*() {
      const written = yield* options.write(staging)
      if (written._tag === "NoBackups") {
        if (restore.ifReplicaExists) return { _tag: "Skipped", path: output, reason: "NoBackups" } as const
        return yield* new NoBackupsFound({ replica: options.replica })
      }
      // An output created meanwhile owns its sidecars: leave them, the link below fails.
      const movedAside = (yield* exists(output)) ? [] : yield* options.clearSidecars(output, {
        moveAside: restore.moveAsideSidecars
      })
      const published = yield* fs.link(staging, output).pipe(
        Effect.as(true),
        Effect.catchAll((e) =>
          e._tag === "SystemError" && e.reason === "AlreadyExists"
            ? Effect.succeed(false)
            : Effect.gen(function*() {
              if (yield* fs.exists(output).pipe(Effect.orElseSucceed(() => true))) return false
              yield* fs.rename(staging, output).pipe(Effect.mapError(fileError("move the restored database to", output)))
              return true
            })
        )
      )
      if (!published) {
        if (movedAside.length > 0) {
          yield* Effect.logWarning(
            `${output} appeared while the restore ran; the stale files moved aside before stay moved: ${
              movedAside.map((m) => `${m.from} -> ${m.to}`).join(", ")
            }`
          )
        }
        if (restore.ifDbNotExists) return { _tag: "Skipped", path: output, reason: "DatabaseExists" } as const
        return yield* new OutputExists({ path: output })
      }
      const duration = Duration.millis((yield* Clock.currentTimeMillis) - started)
      return movedAside.length > 0
        ? { _tag: "Restored", path: output, duration, movedAside } as const
        : { _tag: "Restored", path: output, duration } as const
    }).pipe(
      // The staging file, and whatever a step left beside it under names that start with it
      // (litestream's <staging>.tmp, .tmp-wal, .tmp-shm, and .tmp-<index>-wal of a WAL download
      // that failed): the name is private and random, so nothing else starts with it.
      Effect.ensuring(
        Effect.gen(function*() {
          const prefix = `${path.basename(staging)}.`
          const names = yield* fs.readDirectory(path.dirname(staging)).pipe(Effect.orElseSucceed(() => []))
          const files = [staging, ...names.filter((n) => n.startsWith(prefix)).map((n) => path.join(path.dirname(staging), n))]
          yield* Effect.forEach(files, (file) => fs.remove(file).pipe(Effect.ignore), { discard: true })
        })
      )
    )
  })
