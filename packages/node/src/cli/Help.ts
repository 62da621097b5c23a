/**
 * Help texts: a description with examples, and the footer every `--help` ends with (settings,
 * secrets, exit codes).
 *
 * @since 0.1.0
 */
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Span from "@effect/cli/HelpDoc/Span"
import { LitestreamConfig } from "@effect-litestream/core"

/**
 * A command's description: paragraphs, then its examples.
 *
 * @since 0.1.0
 */
export const description = (
  paragraphs: ReadonlyArray<string>,
  examples: ReadonlyArray<readonly [command: string, what: string]>
): HelpDoc.HelpDoc =>
  HelpDoc.blocks([
    ...paragraphs.map((p) => HelpDoc.p(p)),
    HelpDoc.h2("EXAMPLES"),
    ...examples.map(([command, what]) => HelpDoc.descriptionList([[Span.text(`$ ${command}`), HelpDoc.p(what)]]))
  ])

const v = LitestreamConfig.variables

const list = (rows: ReadonlyArray<readonly [string, string]>) =>
  HelpDoc.descriptionList(
    rows.map(([term, what]) => [Span.text(term), HelpDoc.p(what)] as [Span.Span, HelpDoc.HelpDoc]) as [
      [Span.Span, HelpDoc.HelpDoc],
      ...Array<[Span.Span, HelpDoc.HelpDoc]>
    ]
  )

/**
 * The footer of every `--help`.
 *
 * @since 0.1.0
 */
export const footer: HelpDoc.HelpDoc = HelpDoc.blocks([
  HelpDoc.h1("SETTINGS"),
  HelpDoc.p(
    `Each setting comes from its flag, else the environment, else the env file (--dotenv PATH; default ./.env when it exists): ${v.replicaUrl} (--replica-url), ${v.db} (--db), ${v.folder} (--folder), ${v.binary} (--litestream-bin), ${v.endpoint} (--endpoint), ${v.region} (--region), ${v.forcePathStyle} (--force-path-style).`
  ),
  HelpDoc.p(
    `Secrets are read only from the environment or the env file, never from flags (which end up in the shell history and in ps): ${v.accessKeyId} and ${v.secretAccessKey}, required for s3:// replicas.`
  ),
  HelpDoc.h1("OUTPUT"),
  HelpDoc.p(
    "Progress and results go to stdout, errors to stderr: one line each, with its fix. --json prints one JSON object per line on stdout instead (type: progress, event, row, result or error). --log-level debug (before the command or among its options) also prints litestream's own log on stderr."
  ),
  HelpDoc.h1("EXIT CODES"),
  list([
    ["0", "success (also: skipped as --if-replica-exists / --if-db-not-exists allowed; replicate stopped by SIGINT or SIGTERM)"],
    ["1", "the job failed (no backups, replica unreachable or refused, timeout, litestream failed, verification failed, replicate's final sync failed)"],
    ["2", "bad usage or settings (unknown flag, invalid value, missing or invalid setting, unreadable env file, a secret given as a flag)"],
    ["9", "(Node itself, before the program starts) --env-file PATH with a missing file: --env-file is Node's own flag, use --dotenv PATH"],
    ["130", "interrupted by SIGINT or SIGTERM before the job was done (every command but replicate)"]
  ])
])
