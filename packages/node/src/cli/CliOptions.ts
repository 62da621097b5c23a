/**
 * The options every command shares: the non-secret settings (each overrides its environment
 * variable), `--dotenv` and `--json`; and the option kinds the commands reuse (durations).
 *
 * Secrets have no option on purpose: a flag ends up in the shell history and in `ps`.
 *
 * @since 0.1.0
 */
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import { LitestreamConfig } from "@effect-litestream/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"

const { variables } = LitestreamConfig

const setting = (name: string, pseudo: string, description: string) =>
  Options.text(name).pipe(Options.withPseudoName(pseudo), Options.withDescription(description), Options.optional)

/**
 * The settings given on the command line; each one wins over its variable.
 *
 * @since 0.1.0
 */
export interface SettingsFlags {
  readonly replicaUrl: Option.Option<string>
  readonly db: Option.Option<string>
  readonly folder: Option.Option<string>
  readonly litestreamBin: Option.Option<string>
  readonly endpoint: Option.Option<string>
  readonly region: Option.Option<string>
  readonly forcePathStyle: boolean
  readonly envFile: Option.Option<string>
}

/**
 * The settings options.
 *
 * @since 0.1.0
 */
export const settings: Options.Options<SettingsFlags> = Options.all({
  replicaUrl: setting(
    "replica-url",
    "URL",
    `Where the backups live (${variables.replicaUrl}): s3://BUCKET/path, s3://BUCKET.localhost:PORT/path or file:///folder.`
  ),
  db: setting("db", "NAME", `The database file name (${variables.db}); default db.sqlite.`),
  folder: setting("folder", "DIR", `The folder that holds the database (${variables.folder}); default ./data.`),
  litestreamBin: setting(
    "litestream-bin",
    "PATH",
    `The litestream executable (${variables.binary}); default: the bundled one, else litestream on PATH.`
  ),
  endpoint: setting(
    "endpoint",
    "URL",
    `The S3-compatible endpoint (${variables.endpoint}), e.g. https://ACCOUNT.r2.cloudflarestorage.com.`
  ),
  region: setting("region", "NAME", `The S3 region (${variables.region}), e.g. us-east-1, or auto for R2.`),
  forcePathStyle: Options.boolean("force-path-style").pipe(
    Options.withDescription(`Use path-style S3 addressing (${variables.forcePathStyle}=true).`)
  ),
  // not --env-file: Node reads that flag itself, anywhere on its command line (see Failure.nodeFlag)
  envFile: setting(
    "dotenv",
    "PATH",
    "Read settings missing from the flags and the environment from this .env file; default ./.env when it exists."
  )
})

/**
 * `--json`: one JSON object per line on stdout.
 *
 * @since 0.1.0
 */
export const json: Options.Options<boolean> = Options.boolean("json").pipe(
  Options.withDescription("Print machine-readable results and events: one JSON object per line on stdout.")
)

/**
 * Parses `90` (seconds), `500ms`, `30s`, `2m`, `1h`, `1m30s` or `2 minutes`: as the settings do.
 *
 * @since 0.1.0
 */
export const parseDuration: (input: string) => Duration.Duration | undefined = LitestreamConfig.parseDuration

/**
 * An optional duration option.
 *
 * @since 0.1.0
 */
export const duration = (name: string, description: string): Options.Options<Option.Option<Duration.Duration>> =>
  Options.text(name).pipe(
    Options.withPseudoName("DURATION"),
    Options.mapEffect((s) => {
      const d = parseDuration(s)
      return d === undefined
        ? Effect.fail(
          ValidationError.invalidValue(
            HelpDoc.p(`--${name}: "${s}" is not a duration. Fix: write it as 30s, 2m, 500ms, 1h or a number of seconds`)
          )
        )
        : Effect.succeed(d)
    }),
    Options.withDescription(description),
    Options.optional
  )

/**
 * `--database NAME`: a database of a multi-database replication, at `REPLICA_URL/NAME`.
 *
 * @since 0.1.0
 */
export const database: Options.Options<Option.Option<string>> = Options.text("database").pipe(
  Options.withPseudoName("NAME"),
  Options.withDescription(
    "Work on this database of a multi-database replication (replicate --database NAME): the file DB_FOLDER/NAME, backed up at REPLICA_URL/NAME."
  ),
  Options.optional
)
