import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Effect from "effect/Effect"
import * as LitestreamCommand from "../LitestreamCommand.js"
import type { Resolved } from "../LitestreamConfig.js"
import { LocalFileError } from "../LitestreamError.js"

/**
 * Writes a generated litestream.yml in a temporary folder owned by the current scope, and
 * returns its path. The file holds no secret (see `LitestreamCommand.configFile`).
 * @internal
 */
export const scoped = (configs: Resolved | ReadonlyArray<Resolved>, options: LitestreamCommand.ConfigFileOptions) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = yield* fs.makeTempDirectoryScoped({ prefix: "effect-litestream-" }).pipe(
      Effect.mapError((e) => new LocalFileError({ operation: "create a temporary folder for", path: "litestream.yml", detail: e.message }))
    )
    const file = path.join(dir, "litestream.yml")
    yield* fs.writeFileString(file, LitestreamCommand.configFile(configs, options)).pipe(
      Effect.mapError((e) => new LocalFileError({ operation: "write", path: file, detail: e.message }))
    )
    return file
  })
