/**
 * What a replica holds: its generations, snapshots and WAL segments, from litestream's
 * `generations`, `snapshots` and `wal` commands, parsed into typed rows.
 *
 * @since 0.1.0
 */
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as internalClassify from "./internal/classify.js"
import * as internalConfigFile from "./internal/configFile.js"
import * as internalProcess from "./internal/process.js"
import * as internalVersion from "./internal/version.js"
import * as LitestreamCommand from "./LitestreamCommand.js"
import * as LitestreamConfig from "./LitestreamConfig.js"
import type { NativeReadUnsupported, ReplicaStoreError } from "./ReplicaStoreError.js"
import {
  type BinaryNotFound,
  NotOnThisLine,
  type UnsupportedLitestreamVersion,
  type LitestreamConfigError,
  LitestreamFailed,
  LitestreamTimeout,
  LocalFileError,
  type ReplicaAccessDenied,
  type ReplicaUnreachable
} from "./LitestreamError.js"

/**
 * One generation: a continuous run of snapshots and WAL segments.
 *
 * @since 0.1.0
 */
export class Generation extends Schema.Class<Generation>("Generation")({
  replica: Schema.String,
  generation: Schema.String,
  /** how far the generation's last write is behind now, as litestream printed it (e.g. `24s`) */
  lag: Schema.String,
  start: Schema.Date,
  end: Schema.Date
}) {}

/**
 * One snapshot.
 *
 * @since 0.1.0
 */
export class Snapshot extends Schema.Class<Snapshot>("Snapshot")({
  replica: Schema.String,
  generation: Schema.String,
  index: Schema.NumberFromString,
  size: Schema.NumberFromString,
  created: Schema.Date
}) {}

/**
 * One WAL segment.
 *
 * @since 0.1.0
 */
export class WalSegment extends Schema.Class<WalSegment>("WalSegment")({
  replica: Schema.String,
  generation: Schema.String,
  index: Schema.NumberFromString,
  offset: Schema.NumberFromString,
  size: Schema.NumberFromString,
  created: Schema.Date
}) {}

const COLUMNS = {
  generations: ["name", "generation", "lag", "start", "end"],
  snapshots: ["replica", "generation", "index", "size", "created"],
  wal: ["replica", "generation", "index", "offset", "size", "created"]
} as const

const ERROR_LINE = /\bERROR\b|"level":"ERROR"|level=ERROR/

/**
 * Parses the table litestream prints (a header line, then whitespace-separated columns).
 *
 * @since 0.1.0
 */
export const parseTable = <A, I>(
  kind: keyof typeof COLUMNS,
  schema: Schema.Schema<A, I>,
  output: string
): Either.Either<Array<A>, string> => {
  const lines = output.split("\n").map((l) => l.trim()).filter((l) => l !== "")
  const header = lines[0]?.split(/\s+/) ?? []
  if (header.join(" ") !== COLUMNS[kind].join(" ")) {
    return Either.left(`unexpected header ${JSON.stringify(lines[0] ?? "")} from litestream ${kind}`)
  }
  const rows: Array<A> = []
  for (const line of lines.slice(1)) {
    const cells = line.split(/\s+/)
    const record = Object.fromEntries(header.map((h, i) => [h === "name" ? "replica" : h, cells[i]]))
    const decoded = Schema.decodeUnknownEither(schema)(record)
    if (Either.isLeft(decoded)) return Either.left(`cannot read the line ${JSON.stringify(line)} of litestream ${kind}`)
    rows.push(decoded.right)
  }
  return Either.right(rows)
}

/**
 * Errors of the listings.
 *
 * @since 0.1.0
 */
export type ListingError =
  | UnsupportedLitestreamVersion
  | NotOnThisLine
  | ReplicaStoreError
  | NativeReadUnsupported
  | BinaryNotFound
  | ReplicaUnreachable
  | ReplicaAccessDenied
  | LitestreamTimeout
  | LitestreamFailed
  | LocalFileError
  | LitestreamConfigError

/**
 * Options of a listing.
 *
 * @since 0.1.0
 */
export interface ListingOptions {
  /** list the replica of this database of a multi-database replication (`REPLICA_URL/<name>`) */
  readonly database?: string | undefined
  /** default 1 minute */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * The listing service.
 *
 * @since 0.1.0
 */
export class ReplicaListing extends Context.Tag("@effect-litestream/core/ReplicaListing")<ReplicaListing, {
  readonly generations: (options?: ListingOptions) => Effect.Effect<ReadonlyArray<Generation>, ListingError>
  readonly snapshots: (options?: ListingOptions) => Effect.Effect<ReadonlyArray<Snapshot>, ListingError>
  readonly wal: (options?: ListingOptions) => Effect.Effect<ReadonlyArray<WalSegment>, ListingError>
}>() {}

/**
 * Builds the service.
 *
 * @since 0.1.0
 */
export const make = Effect.gen(function*() {
  const base = yield* LitestreamConfig.LitestreamConfig
  const context = yield* Effect.context<CommandExecutor.CommandExecutor | FileSystem.FileSystem | Path.Path>()
  const mask = LitestreamCommand.masker(base)
  const detect = internalVersion.memo(base)

  // `litestream generations -config FILE DB` stats DB (for the lag) and fails when it does not
  // exist, which is when listings matter most (the machine was lost). The replica is defined by
  // the config alone, so a missing database is stood in for by an empty file: the lag is then
  // counted from now, as litestream does for a replica URL.
  const configArgs = (kind: keyof typeof COLUMNS, config: LitestreamConfig.Resolved) =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      let listed = config
      if (!(yield* fs.exists(config.dbPath).pipe(Effect.orElseSucceed(() => false)))) {
        const dir = yield* fs.makeTempDirectoryScoped({ prefix: "effect-litestream-list-" }).pipe(
          Effect.mapError((e) => new LocalFileError({ operation: "create a temporary folder for", path: "a listing", detail: e.message }))
        )
        const standIn = path.join(dir, config.db)
        yield* fs.writeFileString(standIn, "").pipe(
          Effect.mapError((e) => new LocalFileError({ operation: "write", path: standIn, detail: e.message }))
        )
        listed = { ...config, dbPath: standIn }
      }
      return [kind, "-config", yield* internalConfigFile.scoped(listed, {}), listed.dbPath]
    })

  const list = <A, I>(kind: keyof typeof COLUMNS, schema: Schema.Schema<A, I>) => (options: ListingOptions = {}) =>
    Effect.gen(function*() {
      const config = options.database === undefined ? base : yield* LitestreamConfig.forDatabase(base, options.database)
      const { line, version } = yield* detect("list", options.timeout ?? "1 minute")
      if (line === "v0.5") {
        return yield* new NotOnThisLine({
          feature: `the ${kind} listing`,
          line,
          version: version.toString(),
          fix: "litestream v0.5 keeps no generations, snapshots or WAL segments, but LTX files: list them with LtxReplica (native) or `litestream ltx`"
        })
      }
      const timeout = Duration.decode(options.timeout ?? "1 minute")
      const { code, stdout, stderr } = yield* Effect.scoped(Effect.gen(function*() {
        const args = LitestreamCommand.needsConfigFile(config)
          ? yield* configArgs(kind, config)
          : [kind, config.replica.url]
        const process = yield* internalProcess.start(LitestreamCommand.make(config, args), config.binary)
        const [stdout, stderr, code] = yield* Effect.all([
          process.stdout.pipe(Stream.decodeText(), Stream.mkString),
          Stream.runCollect(process.stderr.pipe(Stream.decodeText(), Stream.splitLines, Stream.map(mask))),
          internalProcess.exitCode(process)
        ], { concurrency: 3 })
        return { code, stdout: mask(stdout), stderr: Array.from(stderr) }
      })).pipe(
        Effect.timeoutFail({ duration: timeout, onTimeout: () => new LitestreamTimeout({ operation: "list", timeout }) }),
        Effect.catchTag("SystemError", "BadArgument", (e) =>
          Effect.fail(new LitestreamFailed({ operation: "list", exitCode: -1, stderr: [mask(e.message)] })))
      )
      // litestream v0.3.13 exits 0 when it cannot read the replica: it logs an ERROR line
      // ("cannot list generations ... connection refused") and prints the header alone
      if (code !== 0 || stderr.some((line) => ERROR_LINE.test(line))) {
        const error = internalClassify.failure("list", config.replica.url, code, stderr)
        return yield* (error._tag === "NoBackupsFound" || error._tag === "OutputExists"
          ? new LitestreamFailed({ operation: "list", exitCode: code, stderr: stderr.slice(-10) })
          : error)
      }
      return yield* parseTable(kind, schema, stdout).pipe(
        Either.mapLeft((detail) => new LitestreamFailed({ operation: "list", exitCode: 0, stderr: [detail] }))
      )
    }).pipe(Effect.provide(context), Effect.withSpan(`ReplicaListing.${kind}`))

  return ReplicaListing.of({
    generations: list("generations", Generation),
    snapshots: list("snapshots", Snapshot),
    wal: list("wal", WalSegment)
  })
})

/**
 * @since 0.1.0
 */
export const layer: Layer.Layer<
  ReplicaListing,
  never,
  LitestreamConfig.LitestreamConfig | CommandExecutor.CommandExecutor | FileSystem.FileSystem | Path.Path
> = Layer.effect(ReplicaListing, make)
