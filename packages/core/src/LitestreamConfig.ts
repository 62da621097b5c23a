/**
 * The settings of effect-litestream: one Schema, one service, two layers (explicit values, or
 * Effect's `Config` reading pylts' environment variables). Secrets are kept `Redacted`.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { LitestreamConfigError, LocalFileError, type SettingIssue } from "./LitestreamError.js"
import * as ReplicaUrl from "./ReplicaUrl.js"

/**
 * The environment variable of each setting (pylts' names, plus `DB_FOLDER` and `LITESTREAM_BIN`).
 *
 * @since 0.1.0
 */
export const variables = {
  accessKeyId: "LITESTREAM_ACCESS_KEY_ID",
  secretAccessKey: "LITESTREAM_SECRET_ACCESS_KEY",
  replicaUrl: "REPLICA_URL",
  db: "DB_SQLITE",
  folder: "DB_FOLDER",
  binary: "LITESTREAM_BIN",
  endpoint: "REPLICA_ENDPOINT",
  region: "REPLICA_REGION",
  forcePathStyle: "REPLICA_FORCE_PATH_STYLE",
  heartbeatUrl: "REPLICA_HEARTBEAT_URL",
  heartbeatInterval: "REPLICA_HEARTBEAT_INTERVAL"
} as const

const DB_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*\.(db|sqlite)$/

/**
 * A database file name: ends in `.db` or `.sqlite`, no path separator, no `..`.
 *
 * @since 0.1.0
 */
export const DbName = Schema.String.pipe(
  Schema.filter((s) => !s.includes("/") && !s.includes("\\"), {
    message: () => "must be a file name, not a path (no '/' or '\\')"
  }),
  Schema.filter((s) => !s.includes(".."), { message: () => "must not contain '..'" }),
  Schema.filter((s) => s.length <= 255, { message: () => "must be at most 255 characters" }),
  Schema.filter((s) => DB_NAME.test(s), {
    message: () => "must end in .db or .sqlite and use only letters, digits, '.', '_' and '-'"
  })
).annotations({ identifier: "DbName" })

// A NUL cannot be passed to a process (Node's spawn throws, quoting the value: a secret would be
// shown in clear) nor be part of a path: refuse it when decoding, as a typed error.
const NUL_RULE = "must not contain a NUL character"
const NoNul = Schema.String.pipe(Schema.filter((s) => !s.includes("\u0000"), { message: () => NUL_RULE }))

// Every provider's secret access keys are far longer (AWS: 40 characters); a shorter value is a
// mistake, and masking it in litestream's output would also eat ordinary words.
const SECRET_MIN = 8
const SHORT_SECRET_RULE = `must be at least ${SECRET_MIN} characters long (every provider's secret access keys are longer)`

const SecretAccessKey = NoNul.pipe(Schema.filter((s) => s.length >= SECRET_MIN, { message: () => SHORT_SECRET_RULE }))

const NonEmpty = (what: string) =>
  NoNul.pipe(Schema.filter((s) => s.trim() !== "", { message: () => `${what} must not be empty` }))

/**
 * An S3-compatible endpoint: an http(s) URL with a host and nothing after the path.
 *
 * @since 0.1.0
 */
export const Endpoint = Schema.String.pipe(
  Schema.filter((s) => {
    try {
      const u = new URL(s)
      // (URL parsing drops tabs and newlines, but the raw string is what litestream gets)
      return (u.protocol === "http:" || u.protocol === "https:") && u.hostname !== "" && u.username === "" &&
        u.password === "" && u.search === "" && !/[\u0000-\u001f\u007f]/.test(s)
    } catch {
      return false
    }
  }, { message: () => "must be an http(s) URL such as https://ACCOUNT.r2.cloudflarestorage.com, without credentials" })
)

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  sec: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000
}

/**
 * Parses a duration as the settings and the CLI take it: `90` (seconds), `500ms`, `30s`, `2m`,
 * `1h`, `1m30s` or `2 minutes`; `undefined` when it is none, or not positive.
 *
 * @since 0.3.0
 */
export const parseDuration = (input: string): Duration.Duration | undefined => {
  const s = input.trim().toLowerCase()
  if (/^\d+(\.\d+)?$/.test(s)) return Duration.millis(Number(s) * 1000)
  let total = 0
  let rest = s
  const part = /^(\d+(?:\.\d+)?)\s*([a-z]+)\s*/
  while (rest !== "") {
    const m = part.exec(rest)
    if (!m || DURATION_UNITS[m[2]!] === undefined) return undefined
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!
    rest = rest.slice(m[0].length)
  }
  return s === "" || total <= 0 ? undefined : Duration.millis(total)
}

/**
 * The shortest heartbeat interval (as litestream v0.5's `heartbeat-interval`): a dead man's
 * switch checked more often than that only alerts on noise.
 *
 * @since 0.3.0
 */
export const MIN_HEARTBEAT_INTERVAL: Duration.Duration = Duration.minutes(1)

// The URL is a credential (whoever knows it can ping): no rule message may quote it.
const HEARTBEAT_URL_RULE = "must be an http(s) URL, such as https://hc-ping.com/UUID"
const HeartbeatUrl = NoNul.pipe(Schema.filter((s) => {
  try {
    const u = new URL(s)
    return (u.protocol === "http:" || u.protocol === "https:") && u.hostname !== "" && !/[\u0000-\u001f\u007f]/.test(s)
  } catch {
    return false
  }
}, { message: () => HEARTBEAT_URL_RULE }))

const HeartbeatInterval = Schema.transformOrFail(Schema.String, Schema.DurationFromSelf, {
  strict: true,
  decode: (s, _, ast) => {
    const d = parseDuration(s)
    return d === undefined
      ? ParseResult.fail(new ParseResult.Type(ast, s, `"${s}" is not a duration. Fix: write it as 5m, 1h or 90s`))
      : Duration.lessThan(d, MIN_HEARTBEAT_INTERVAL)
      ? ParseResult.fail(
        new ParseResult.Type(ast, s, `must be at least 1m (it is ${Duration.format(d)}). Fix: set it to 1m or longer, or leave it unset for 1m`)
      )
      : ParseResult.succeed(d)
  },
  encode: (d) => ParseResult.succeed(`${Duration.toMillis(d)}ms`)
})

/**
 * The Schema of the settings. `Encoded` is what `layer` takes; `Type` is decoded and checked.
 *
 * @since 0.1.0
 */
export const Settings = Schema.Struct({
  accessKeyId: Schema.optional(Schema.Redacted(NoNul)),
  secretAccessKey: Schema.optional(Schema.Redacted(SecretAccessKey)),
  replicaUrl: ReplicaUrl.ReplicaUrlFromString,
  db: Schema.optionalWith(DbName, { default: () => "db.sqlite" }),
  folder: Schema.optionalWith(NonEmpty("the folder"), { default: () => "./data" }),
  binary: Schema.optionalWith(NonEmpty("the binary"), { default: () => "litestream" }),
  endpoint: Schema.optional(Endpoint),
  region: Schema.optional(Schema.String.pipe(
    Schema.filter((s) => /^[a-z0-9-]+$/.test(s), { message: () => "must be a region name such as us-east-1 or auto" })
  )),
  forcePathStyle: Schema.optional(Schema.Union(Schema.Boolean, Schema.BooleanFromString).annotations({
    message: () => "must be true or false"
  })),
  heartbeatUrl: Schema.optional(Schema.Redacted(HeartbeatUrl)),
  heartbeatInterval: Schema.optional(HeartbeatInterval)
})

/**
 * What `layer` and `make` take: plain strings, as pylts' `ConfigS3(key=, token=, s3=, folder=)`.
 *
 * @since 0.1.0
 */
export type Input = typeof Settings.Encoded

/**
 * S3 credentials, both halves redacted.
 *
 * @since 0.1.0
 */
export interface Credentials {
  readonly accessKeyId: Redacted.Redacted<string>
  readonly secretAccessKey: Redacted.Redacted<string>
}

/**
 * The decoded settings, with derived absolute paths.
 *
 * @since 0.1.0
 */
export interface Resolved {
  readonly replica: ReplicaUrl.ReplicaUrl
  /** the database file name, e.g. `db.sqlite` */
  readonly db: string
  /** the absolute folder that holds the database */
  readonly folder: string
  /** `folder / db`, absolute */
  readonly dbPath: string
  /** the litestream executable */
  readonly binary: string
  readonly credentials: Option.Option<Credentials>
  /** where an S3-compatible store lives; when set, litestream gets a generated config */
  readonly s3: S3Options
  /** a dead man's switch to ping while replication is healthy (see `ReplicationHeartbeat`) */
  readonly heartbeat: Option.Option<HeartbeatSettings>
}

/**
 * A heartbeat: GET `url` every `interval` while every database is Healthy.
 *
 * @since 0.3.0
 */
export interface HeartbeatSettings {
  /** a credential: whoever knows it can ping */
  readonly url: Redacted.Redacted<string>
  /** at least `MIN_HEARTBEAT_INTERVAL`; default that */
  readonly interval: Duration.Duration
}

/**
 * Settings of an S3-compatible store beyond the URL (litestream v0.3.13 ignores URL queries).
 *
 * @since 0.1.0
 */
export interface S3Options {
  readonly endpoint: string | undefined
  readonly region: string | undefined
  readonly forcePathStyle: boolean | undefined
}

/**
 * The settings service.
 *
 * @since 0.1.0
 */
export class LitestreamConfig extends Context.Tag("@effect-litestream/core/LitestreamConfig")<
  LitestreamConfig,
  Resolved
>() {}

const FIXES: Record<keyof typeof variables, string> = {
  accessKeyId: "set LITESTREAM_ACCESS_KEY_ID to the access key id of the bucket's credentials",
  secretAccessKey: "set LITESTREAM_SECRET_ACCESS_KEY to the secret of the bucket's credentials",
  replicaUrl: "set REPLICA_URL, as in s3://my-bucket/db or file:///var/backups/db",
  db: "use a plain file name such as db.sqlite or app.db",
  folder: "set DB_FOLDER to the folder that holds the database, or leave it unset for ./data",
  binary: "set LITESTREAM_BIN to the path of the litestream executable, or leave it unset",
  endpoint: "set REPLICA_ENDPOINT to the store's URL, e.g. https://ACCOUNT.r2.cloudflarestorage.com",
  region: "set REPLICA_REGION to the store's region name, e.g. us-east-1, or auto for R2",
  forcePathStyle: "set REPLICA_FORCE_PATH_STYLE to true or false",
  heartbeatUrl: "set REPLICA_HEARTBEAT_URL to the ping URL of your dead man's switch (healthchecks.io, Cronitor, ...), or unset it",
  heartbeatInterval: "set REPLICA_HEARTBEAT_INTERVAL to 1m or longer, or leave it unset for 1m"
}
const SECRET = new Set(["accessKeyId", "secretAccessKey", "heartbeatUrl"])
const SECRET_RULES = new Set([NUL_RULE, SHORT_SECRET_RULE, HEARTBEAT_URL_RULE])

const settingOf = (issue: ParseResult.ArrayFormatterIssue) => String(issue.path[0] ?? "")

// An optional setting's Schema is `X | undefined`, so with `errors: "all"` a bad value also fails
// the `undefined` member ("Expected undefined, actual ..."): noise that says nothing useful.
const withoutUndefinedMember = (
  issues: ReadonlyArray<ParseResult.ArrayFormatterIssue>
): Array<ParseResult.ArrayFormatterIssue> =>
  issues.filter((issue) =>
    !(issue._tag === "Type" && issue.message.startsWith("Expected undefined, actual") &&
      issues.some((other) => other !== issue && settingOf(other) === settingOf(issue)))
  )

const dedupe = (issues: Array<SettingIssue>): Array<SettingIssue> =>
  issues.filter((issue, i) => issues.findIndex((o) => o.variable === issue.variable && o.rule === issue.rule) === i)

const toIssues = (error: ParseResult.ParseError): Array<SettingIssue> =>
  dedupe(withoutUndefinedMember(ParseResult.ArrayFormatter.formatErrorSync(error)).map((issue) => {
    const key = String(issue.path[0] ?? "") as keyof typeof variables
    const variable = variables[key] ?? (key || "settings")
    if (issue._tag === "Missing") return { variable, rule: "is required", fix: FIXES[key] ?? "set it" }
    // Never echo what a secret was set to: the formatter's message may quote the value.
    if (SECRET.has(key)) {
      const rule = SECRET_RULES.has(issue.message) ? issue.message : "must be a string"
      return { variable, rule, fix: FIXES[key] }
    }
    const [rule, fix] = issue.message.split(". Fix: ")
    return { variable, rule: rule!, fix: fix ?? FIXES[key] ?? "correct it" }
  }))

const blankToUndefined = (input: Input): Input =>
  Object.fromEntries(
    Object.entries(input).filter(([, v]) => !(v === undefined || (typeof v === "string" && v.trim() === "")))
  ) as Input

/**
 * Decodes settings without touching the file system: the pure part of `make`.
 *
 * @since 0.1.0
 */
export const decode = (input: Input): Either.Either<typeof Settings.Type, LitestreamConfigError> =>
  Schema.decodeUnknownEither(Settings, { errors: "all", onExcessProperty: "ignore" })(blankToUndefined(input))
    .pipe(
      Either.mapLeft((e) => new LitestreamConfigError({ issues: toIssues(e) })),
      Either.flatMap((settings) => {
        const issues: Array<SettingIssue> = []
        if (settings.heartbeatInterval !== undefined && settings.heartbeatUrl === undefined) {
          issues.push({
            variable: variables.heartbeatInterval,
            rule: "needs REPLICA_HEARTBEAT_URL",
            fix: "set REPLICA_HEARTBEAT_URL too, or unset REPLICA_HEARTBEAT_INTERVAL"
          })
        }
        if (settings.replicaUrl._tag !== "S3") {
          for (const key of ["endpoint", "region", "forcePathStyle"] as const) {
            if (settings[key] !== undefined) {
              issues.push({
                variable: variables[key],
                rule: "only applies to an s3:// replica",
                fix: `unset ${variables[key]}, or use an s3:// REPLICA_URL`
              })
            }
          }
          return issues.length === 0 ? Either.right(settings) : Either.left(new LitestreamConfigError({ issues }))
        }
        for (const key of ["accessKeyId", "secretAccessKey"] as const) {
          if (settings[key] === undefined) {
            issues.push({ variable: variables[key], rule: "is required for an s3:// replica", fix: FIXES[key] })
          }
        }
        return issues.length === 0 ? Either.right(settings) : Either.left(new LitestreamConfigError({ issues }))
      })
    )

/**
 * Decodes and resolves settings: paths become absolute against the current directory.
 *
 * @since 0.1.0
 */
export const make = (input: Input): Effect.Effect<Resolved, LitestreamConfigError, Path.Path> =>
  Effect.gen(function*() {
    const settings = yield* decode(input)
    const path = yield* Path.Path
    const folder = path.resolve(settings.folder)
    return {
      replica: settings.replicaUrl,
      db: settings.db,
      folder,
      dbPath: path.join(folder, settings.db),
      binary: settings.binary,
      credentials: settings.accessKeyId !== undefined && settings.secretAccessKey !== undefined
        ? Option.some({ accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey })
        : Option.none(),
      s3: { endpoint: settings.endpoint, region: settings.region, forcePathStyle: settings.forcePathStyle },
      heartbeat: settings.heartbeatUrl === undefined ? Option.none() : Option.some({
        url: settings.heartbeatUrl,
        interval: settings.heartbeatInterval ?? MIN_HEARTBEAT_INTERVAL
      })
    }
  })

/**
 * The settings for another database in the same folder, replicated under its own prefix of the
 * replica (`REPLICA_URL/<name>`): one litestream process can replicate several of them.
 *
 * @since 0.1.0
 */
export const forDatabase = (
  config: Resolved,
  name: string
): Either.Either<Resolved, LitestreamConfigError> =>
  Schema.decodeUnknownEither(DbName)(name).pipe(
    Either.mapLeft((e) =>
      new LitestreamConfigError({
        issues: [{ variable: "database", rule: `"${name}" ${ParseResult.ArrayFormatter.formatErrorSync(e)[0]?.message ?? "is not a database name"}`, fix: FIXES.db }]
      })
    ),
    Either.flatMap((db) =>
      Either.mapLeft(
        ReplicaUrl.parse(`${config.replica.url.replace(/\/+$/, "")}/${db}`),
        (e) => new LitestreamConfigError({ issues: [{ variable: "database", rule: e.rule, fix: e.fix }] })
      ).pipe(Either.map((replica) => ({
        ...config,
        db,
        dbPath: `${config.folder.replace(/[\\/]+$/, "")}/${db}`,
        replica
      })))
    )
  )

/**
 * The settings from explicit values.
 *
 * @since 0.1.0
 */
export const layer = (input: Input): Layer.Layer<LitestreamConfig, LitestreamConfigError, Path.Path> =>
  Layer.effect(LitestreamConfig, make(input))

const optionalString = (name: string) =>
  Config.option(Config.string(name)).pipe(Config.map(Option.getOrUndefined))

/**
 * The raw settings read through Effect's `Config` (the environment by default), under the
 * variable names of `variables`. Nothing is checked here: `make` does that.
 *
 * @since 0.1.0
 */
export const input: Config.Config<Input> = Config.all({
  accessKeyId: optionalString(variables.accessKeyId),
  secretAccessKey: optionalString(variables.secretAccessKey),
  replicaUrl: optionalString(variables.replicaUrl),
  db: optionalString(variables.db),
  folder: optionalString(variables.folder),
  binary: optionalString(variables.binary),
  endpoint: optionalString(variables.endpoint),
  region: optionalString(variables.region),
  forcePathStyle: optionalString(variables.forcePathStyle),
  heartbeatUrl: optionalString(variables.heartbeatUrl),
  heartbeatInterval: optionalString(variables.heartbeatInterval)
}).pipe(Config.map((raw) => blankToUndefined(raw as Input)))

/**
 * The settings from Effect's `Config` (the environment, or whatever `ConfigProvider` is set),
 * optionally with defaults for what the environment leaves unset (the node package uses this for
 * the bundled binary).
 *
 * @since 0.1.0
 */
export const layerConfig = (
  defaults: Partial<Input> = {}
): Layer.Layer<LitestreamConfig, LitestreamConfigError | ConfigError.ConfigError, Path.Path> =>
  Layer.effect(
    LitestreamConfig,
    Effect.flatMap(input, (raw) => make({ ...blankToUndefined(defaults as Input), ...raw }))
  )

/**
 * Creates the database folder if it is missing: an effect, never a side effect of a getter.
 *
 * @since 0.1.0
 */
export const ensureFolder: Effect.Effect<string, LocalFileError, LitestreamConfig | FileSystem.FileSystem> = Effect
  .gen(function*() {
    const { folder } = yield* LitestreamConfig
    const fs = yield* FileSystem.FileSystem
    yield* fs.makeDirectory(folder, { recursive: true }).pipe(
      Effect.mapError((e) => LocalFileError.of("create the folder", folder, e.message))
    )
    return folder
  })
