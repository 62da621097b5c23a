/**
 * The settings of one command run: the flags first, then the environment, then the env file
 * (`--dotenv PATH`, default `./.env` when it exists), under the library's variable names.
 *
 * @since 0.1.0
 */
import { LitestreamConfig, type Restore } from "@effect-litestream/core"
import type { LitestreamConfigError } from "@effect-litestream/core/LitestreamError"
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as NodeLitestream from "../NodeLitestream.js"
import type { SettingsFlags } from "./CliOptions.js"

/**
 * The flag of each setting that has one; secrets have none.
 *
 * @since 0.1.0
 */
export const flagOf: Readonly<Record<string, string>> = {
  [LitestreamConfig.variables.replicaUrl]: "--replica-url",
  [LitestreamConfig.variables.db]: "--db",
  [LitestreamConfig.variables.folder]: "--folder",
  [LitestreamConfig.variables.binary]: "--litestream-bin",
  [LitestreamConfig.variables.endpoint]: "--endpoint",
  [LitestreamConfig.variables.region]: "--region",
  [LitestreamConfig.variables.forcePathStyle]: "--force-path-style",
  database: "--database"
}

/**
 * The raw settings: flags over the environment over the env file. Nothing is checked here.
 *
 * @since 0.1.0
 */
export const input = (
  flags: SettingsFlags
): Effect.Effect<LitestreamConfig.Input, NodeLitestream.EnvFileError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const provider = yield* NodeLitestream.configProvider({ envFile: Option.getOrUndefined(flags.envFile) })
    // Every variable is an optional string: reading them cannot fail.
    const fromEnv = yield* Effect.withConfigProvider(LitestreamConfig.input, provider).pipe(Effect.orDie)
    const fromFlags: Partial<Record<keyof LitestreamConfig.Input, string | boolean>> = {}
    const set = (key: keyof LitestreamConfig.Input, value: Option.Option<string>) => {
      if (Option.isSome(value)) fromFlags[key] = value.value
    }
    set("replicaUrl", flags.replicaUrl)
    set("db", flags.db)
    set("folder", flags.folder)
    set("binary", flags.litestreamBin)
    set("endpoint", flags.endpoint)
    set("region", flags.region)
    if (flags.forcePathStyle) fromFlags.forcePathStyle = true
    return { ...fromEnv, ...fromFlags } as LitestreamConfig.Input
  })

/**
 * The library's services on these settings.
 *
 * @since 0.1.0
 */
export const layer = (
  flags: SettingsFlags
): Layer.Layer<NodeLitestream.Services, LitestreamConfigError | NodeLitestream.EnvFileError, FileSystem.FileSystem> =>
  // the replica check over Node's client: inside the bundle (code-cached) cheaper than fetch
  Layer.unwrapEffect(Effect.map(input(flags), (input) => NodeLitestream.layer(input, { checkClient: "node" })))

/**
 * Only the settings and `Restore`, for `restore`: the same service as in `layer` (`native`: the
 * library's own, its LZ4 blocks decoded in this thread, as before), without building the
 * services a restore does not use (`Replicate`, `Verify`, the listings, the replication lock).
 *
 * @since 0.3.0
 */
export const restoreLayer = (
  flags: SettingsFlags,
  native: boolean
): Layer.Layer<
  LitestreamConfig.LitestreamConfig | Restore.Restore,
  LitestreamConfigError | NodeLitestream.EnvFileError,
  FileSystem.FileSystem
> =>
  Layer.unwrapEffect(
    Effect.map(input(flags), (input) =>
      NodeLitestream.layerRestore(input, native ? { read: "native", lz4Workers: false } : { checkClient: "node" }))
  )
