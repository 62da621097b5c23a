/**
 * Which litestream a binary is, and so which command set the library drives: the v0.3 line
 * (generations, WAL segments; `@flydotio/litestream` bundles v0.3.13) or the v0.5 line (LTX files,
 * TXIDs; what litestream's site installs today). Asked once per binary with `litestream version`.
 *
 * @since 0.2.0
 */
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as internalProcess from "./internal/process.js"
import * as LitestreamCommand from "./LitestreamCommand.js"
import { TESTED_VERSIONS } from "./LitestreamError.js"
import type { Resolved } from "./LitestreamConfig.js"
import { type BinaryNotFound, LitestreamFailed, LitestreamTimeout, UnsupportedLitestreamVersion } from "./LitestreamError.js"

/**
 * The two lines of litestream the library knows.
 *
 * @since 0.2.0
 */
export type Line = "v0.3" | "v0.5"

/**
 * A litestream version, as `litestream version` prints it (`v0.3.13`, `0.5.17`).
 *
 * @since 0.2.0
 */
export class Version extends Data.Class<{
  readonly major: number
  readonly minor: number
  readonly patch: number
  /** what the binary printed */
  readonly text: string
}> {
  override toString(): string {
    return `${this.major}.${this.minor}.${this.patch}`
  }
}

/**
 * The newest release of each line this library was tested against.
 *
 * @since 0.2.0
 */
export const TESTED: Readonly<Record<Line, string>> = TESTED_VERSIONS

/**
 * @since 0.2.0
 */
export { NotOnThisLine, UnsupportedLitestreamVersion } from "./LitestreamError.js"

const VERSION = /^v?(\d+)\.(\d+)\.(\d+)/

/**
 * Parses `litestream version`'s output.
 *
 * @since 0.2.0
 */
export const parse = (output: string): Either.Either<Version, string> => {
  const text = output.trim().split("\n")[0]?.trim() ?? ""
  const m = VERSION.exec(text)
  return m === null
    ? Either.left(text)
    : Either.right(new Version({ major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), text }))
}

/**
 * The line of a version: 0.3.x is v0.3; 0.5.x is v0.5 (newer patch releases are taken to keep
 * the commands of 0.5.17, as litestream's patch releases do); anything else is not driven.
 *
 * @since 0.2.0
 */
export const lineOf = (version: Version): Line | undefined =>
  version.major !== 0 ? undefined : version.minor === 3 ? "v0.3" : version.minor === 5 ? "v0.5" : undefined

/**
 * What a binary is: its version and line.
 *
 * @since 0.2.0
 */
export interface Detected {
  readonly version: Version
  readonly line: Line
}

/**
 * Runs `litestream version` with the configured binary (10 seconds at most).
 *
 * @since 0.2.0
 */
export const detect = (
  config: Resolved
): Effect.Effect<Detected, BinaryNotFound | UnsupportedLitestreamVersion | LitestreamFailed | LitestreamTimeout, CommandExecutor.CommandExecutor> =>
  Effect.scoped(Effect.gen(function*() {
    const process = yield* internalProcess.start(LitestreamCommand.make(config, ["version"]), config.binary)
    const [stdout, code] = yield* Effect.all([
      process.stdout.pipe(Stream.decodeText(), Stream.mkString),
      internalProcess.exitCode(process),
      Stream.runDrain(process.stderr)
    ], { concurrency: 3 })
    if (code !== 0) return yield* new LitestreamFailed({ operation: "version", exitCode: code, stderr: [stdout.trim()] })
    const version = parse(stdout)
    if (Either.isLeft(version)) return yield* new UnsupportedLitestreamVersion({ binary: config.binary, version: version.left })
    const line = lineOf(version.right)
    if (line === undefined) return yield* new UnsupportedLitestreamVersion({ binary: config.binary, version: version.right.text })
    return { version: version.right, line }
  })).pipe(
    Effect.timeoutFail({
      duration: Duration.seconds(10),
      onTimeout: () => new LitestreamTimeout({ operation: "version", timeout: Duration.seconds(10) })
    }),
    Effect.catchTag("SystemError", "BadArgument", (e) =>
      Effect.fail(new LitestreamFailed({ operation: "version", exitCode: -1, stderr: [e.message] })))
  )

/**
 * Where a program keeps what `detect` found across its runs, so that a short-lived one (the
 * CLI) does not start `litestream version` before every command. Optional: without it the
 * services ask each binary once per layer. `get` must answer only for the same file (same
 * path, same contents) that `set` was told about, and `None` when it cannot tell; neither
 * ever fails.
 *
 * @since 0.3.0
 */
export class DetectionCache extends Context.Tag("@effect-litestream/core/LitestreamVersion/DetectionCache")<
  DetectionCache,
  {
    readonly get: (binary: string) => Effect.Effect<Option.Option<Detected>>
    readonly set: (binary: string, detected: Detected) => Effect.Effect<void>
  }
>() {}
