/**
 * What a replica holds, from litestream's listing commands, parsed into typed rows: on
 * litestream v0.3 its generations, snapshots and WAL segments (`generations`, `snapshots`,
 * `wal`); on v0.5 its LTX files (`ltx`). Each listing of the other line is `NotOnThisLine`.
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
  LitestreamConfigError,
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

/**
 * One LTX file of a litestream v0.5 replica, as `litestream ltx` lists it: the transactions
 * `minTxid` to `maxTxid` (16 hex digits each) at compaction `level` (0: fresh from the WAL;
 * 1-8: compactions; 9: snapshots).
 *
 * @since 0.2.0
 */
export class LtxFile extends Schema.Class<LtxFile>("LtxFile")({
  level: Schema.Int.pipe(Schema.between(0, 9)),
  minTxid: Schema.String.pipe(Schema.pattern(/^[0-9a-f]{16}$/)),
  maxTxid: Schema.String.pipe(Schema.pattern(/^[0-9a-f]{16}$/)),
  size: Schema.Number,
  created: Schema.Date
}) {}

/** `litestream ltx -json`'s rows (0.5.17). */
const LtxJson = Schema.Array(Schema.Struct({
  level: Schema.Number,
  min_txid: Schema.String,
  max_txid: Schema.String,
  size: Schema.Number,
  timestamp: Schema.String
}))

/**
 * Parses `litestream ltx -json`'s output.
 *
 * @since 0.2.0
 */
export const parseLtxJson = (output: string): Either.Either<Array<LtxFile>, string> => {
  let json: unknown
  try {
    json = JSON.parse(output)
  } catch {
    return Either.left(`litestream ltx -json printed no JSON: ${JSON.stringify(output.slice(0, 200))}`)
  }
  return Schema.decodeUnknownEither(LtxJson)(json).pipe(
    Either.flatMap((rows) =>
      Schema.decodeUnknownEither(Schema.Array(LtxFile))(
        rows.map((r) => ({ level: r.level, minTxid: r.min_txid, maxTxid: r.max_txid, size: r.size, created: r.timestamp }))
      )
    ),
    Either.map((rows) => [...rows]),
    Either.mapLeft(() => `cannot read litestream ltx -json's rows: ${JSON.stringify(output.slice(0, 200))}`)
  )
}

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
 * Options of the LTX listing.
 *
 * @since 0.2.0
 */
export interface LtxListingOptions extends ListingOptions {
  /** one compaction level (0-9), or `"all"` (the default; litestream's own default is 0) */
  readonly level?: number | "all" | undefined
}

/**
 * The level option checked: an integer 0-9, or "all".
 *
 * @since 0.2.0
 */
export const checkLevel = (level: LtxListingOptions["level"]): Either.Either<number | "all", LitestreamConfigError> =>
  level === undefined || level === "all"
    ? Either.right("all")
    : Number.isInteger(level) && level >= 0 && level <= 9
    ? Either.right(level)
    : Either.left(
      new LitestreamConfigError({
        issues: [{
          variable: "level",
          rule: `an LTX compaction level is an integer from 0 to 9, or "all" (got ${JSON.stringify(level)})`,
          fix: "pass a level from 0 to 9 (9 holds the snapshots), or \"all\" / nothing for every level"
        }]
      })
    )

/**
 * The listing service.
 *
 * @since 0.1.0
 */
export class ReplicaListing extends Context.Tag("@effect-litestream/core/ReplicaListing")<ReplicaListing, {
  readonly generations: (options?: ListingOptions) => Effect.Effect<ReadonlyArray<Generation>, ListingError>
  readonly snapshots: (options?: ListingOptions) => Effect.Effect<ReadonlyArray<Snapshot>, ListingError>
  readonly wal: (options?: ListingOptions) => Effect.Effect<ReadonlyArray<WalSegment>, ListingError>
  /** litestream v0.5's LTX files, by level then TXID (on v0.3: `NotOnThisLine`) */
  readonly ltx: (options?: LtxListingOptions) => Effect.Effect<ReadonlyArray<LtxFile>, ListingError>
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
  const configArgs = (args: ReadonlyArray<string>, config: LitestreamConfig.Resolved) =>
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
      return [...args, "-config", yield* internalConfigFile.scoped(listed, {}), listed.dbPath]
    })

  // Runs one listing command; its stdout when litestream exited 0 and logged no error.
  const run = (config: LitestreamConfig.Resolved, args: ReadonlyArray<string>, line: "v0.3" | "v0.5", timeout: Duration.Duration) =>
    Effect.gen(function*() {
      const { code, stdout, stderr } = yield* Effect.scoped(Effect.gen(function*() {
        const argv = LitestreamCommand.needsConfigFile(config)
          ? yield* configArgs(args, config)
          : [...args, config.replica.url]
        const process = yield* internalProcess.start(LitestreamCommand.make(config, argv, line), config.binary)
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
      if (code !== 0 || stderr.some((line) => ERROR_LINE.test(line) || line.startsWith("Error: "))) {
        const error = internalClassify.failure("list", config.replica.url, code, stderr)
        return yield* (error._tag === "NoBackupsFound" || error._tag === "OutputExists"
          ? new LitestreamFailed({ operation: "list", exitCode: code, stderr: stderr.slice(-10) })
          : error)
      }
      return stdout
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
          fix: "litestream v0.5 keeps no generations, snapshots or WAL segments, but LTX files: list them with ReplicaListing's ltx (`effect-litestream ltx`), or natively with LtxReplica"
        })
      }
      const stdout = yield* run(config, [kind], line, Duration.decode(options.timeout ?? "1 minute"))
      return yield* parseTable(kind, schema, stdout).pipe(
        Either.mapLeft((detail) => new LitestreamFailed({ operation: "list", exitCode: 0, stderr: [detail] }))
      )
    }).pipe(Effect.provide(context), Effect.withSpan(`ReplicaListing.${kind}`))

  // litestream v0.5's `ltx -json -level L`: JSON rows, no table to guess at
  const ltx = (options: LtxListingOptions = {}) =>
    Effect.gen(function*() {
      const level = yield* checkLevel(options.level)
      const config = options.database === undefined ? base : yield* LitestreamConfig.forDatabase(base, options.database)
      const { line, version } = yield* detect("list", options.timeout ?? "1 minute")
      if (line === "v0.3") {
        return yield* new NotOnThisLine({
          feature: "the ltx listing",
          line,
          version: version.toString(),
          fix: "litestream v0.3 writes no LTX files: list its generations, snapshots or wal segments instead"
        })
      }
      const stdout = yield* run(config, ["ltx", "-json", "-level", String(level)], line, Duration.decode(options.timeout ?? "1 minute"))
      return yield* parseLtxJson(stdout).pipe(
        Either.mapLeft((detail) => new LitestreamFailed({ operation: "list", exitCode: 0, stderr: [detail] }))
      )
    }).pipe(Effect.provide(context), Effect.withSpan("ReplicaListing.ltx"))

  return ReplicaListing.of({
    generations: list("generations", Generation),
    snapshots: list("snapshots", Snapshot),
    wal: list("wal", WalSegment),
    ltx
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
