/**
 * `effect-litestream restore`: brings the database back from its replica.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { LitestreamConfig, Restore } from "@effect-litestream/core"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as CliOptions from "./CliOptions.js"
import * as Help from "./Help.js"
import { formatMillis } from "./Output.js"
import * as Run from "./Run.js"
import * as Settings from "./Settings.js"

// a TXID as litestream v0.5 prints it: up to 16 hex digits
const TxidHex = Schema.transform(
  Schema.String.pipe(
    Schema.pattern(/^[0-9a-fA-F]{1,16}$/, { message: () => "must be a transaction ID in hex (1 to 16 digits), e.g. 000000000000002a" })
  ),
  Schema.Number,
  { strict: true, decode: (s) => parseInt(s, 16), encode: (n) => n.toString(16).padStart(16, "0") }
)

/**
 * No backup of the replica matches `--timestamp`, `--generation` or `--index`.
 *
 * @since 0.1.0
 */
export class NoMatchingBackup extends Data.TaggedError("NoMatchingBackup")<{
  readonly replica: string
  readonly selectors: ReadonlyArray<string>
}> {
  override get message(): string {
    return `No backup at ${this.replica} matches ${this.selectors.join(" ")}. Fix: see what the replica holds with effect-litestream generations and snapshots (or wal), and pick from there`
  }
}

/**
 * @since 0.1.0
 */
export const command = Command.make("restore", {
  settings: CliOptions.settings,
  json: CliOptions.json,
  ifReplicaExists: Options.boolean("if-replica-exists").pipe(
    Options.withDescription("Succeed, restoring nothing, when the replica holds no backup (a new deployment).")
  ),
  ifDbNotExists: Options.boolean("if-db-not-exists").pipe(
    Options.withDescription("Succeed, restoring nothing, when the database file already exists.")
  ),
  moveAsideSidecars: Options.boolean("move-aside-sidecars").pipe(
    Options.withDescription(
      "When a -wal, -shm or -journal file is left beside a database path that holds no database, rename it to FILE.stale-TIMESTAMP (never deleted) and restore, instead of failing."
    )
  ),
  timestamp: Options.date("timestamp").pipe(
    Options.withPseudoName("TIME"),
    Options.withDescription("Restore the database as it was at this time (ISO 8601, e.g. 2026-01-31T12:00:00Z)."),
    Options.optional
  ),
  generation: Options.text("generation").pipe(
    Options.withPseudoName("ID"),
    Options.withDescription("Restore from this generation (see the generations command)."),
    Options.optional
  ),
  index: Options.integer("index").pipe(
    Options.withPseudoName("N"),
    Options.withDescription("Restore up to this WAL index of the generation (as listed by the snapshots and wal commands)."),
    Options.optional
  ),
  txid: Options.text("txid").pipe(
    Options.withPseudoName("HEX"),
    Options.withSchema(TxidHex),
    Options.withDescription("litestream v0.5 replicas (LITESTREAM_BIN at a v0.5 binary, or --native): restore up to this transaction ID, inclusive (hex, as the ltx listing prints it)."),
    Options.optional
  ),
  output: Options.text("output").pipe(
    Options.withAlias("o"),
    Options.withPseudoName("PATH"),
    Options.withDescription("Write the database here instead of DB_FOLDER/DB_SQLITE (the live database is not touched)."),
    Options.optional
  ),
  database: CliOptions.database,
  native: Options.boolean("native").pipe(
    Options.withDescription(
      "Restore without litestream: read the replica (litestream v0.3 or v0.5, found at the replica; file:// or s3://) in this process. Same options, checks and publishing."
    )
  ),
  timeout: CliOptions.duration("timeout", "Give up (and stop litestream) after this long; default 5m.")
}, (o) =>
  // only the settings and the one Restore (the native one with --native): a restore builds
  // nothing else (the HTTP client is loaded only when the restore makes a request: S3)
  Run.run("restore", { ...o, services: Settings.restoreLayer(o.settings, o.native) }, (out) =>
    Effect.gen(function*() {
      const config = yield* LitestreamConfig.LitestreamConfig
      const restore = yield* Restore.Restore
      const replica = Option.match(o.database, {
        onNone: () => config.replica.url,
        onSome: (db) => `${config.replica.url.replace(/\/+$/, "")}/${db}`
      })
      yield* out.progress(`restoring from ${replica}`, { replica })
      const started = Date.now()
      const result = yield* restore.restore({
        ifReplicaExists: o.ifReplicaExists,
        ifDbNotExists: o.ifDbNotExists,
        moveAsideSidecars: o.moveAsideSidecars,
        timestamp: Option.getOrUndefined(o.timestamp),
        generation: Option.getOrUndefined(o.generation),
        index: Option.getOrUndefined(o.index),
        txid: Option.getOrUndefined(o.txid),
        output: Option.getOrUndefined(o.output),
        database: Option.getOrUndefined(o.database),
        timeout: Option.getOrUndefined(o.timeout)
      }).pipe(
        // With a selector, "no matching backups" means none matches it, not an empty replica.
        Effect.mapError((e) => {
          const selectors = [
            Option.map(o.timestamp, (t) => `--timestamp ${t.toISOString()}`),
            Option.map(o.generation, (g) => `--generation ${g}`),
            Option.map(o.index, (i) => `--index ${i}`),
            Option.map(o.txid, (t) => `--txid ${t.toString(16).padStart(16, "0")}`)
          ].flatMap(Option.toArray)
          return e._tag === "NoBackupsFound" && selectors.length > 0 ? new NoMatchingBackup({ replica, selectors }) : e
        })
      )
      const took = Date.now() - started
      switch (result._tag) {
        case "Restored": {
          const movedAside = result.movedAside ?? []
          return yield* out.result(
            {
              outcome: "Restored",
              path: result.path,
              replica,
              durationMs: Duration.toMillis(result.duration),
              ...(movedAside.length > 0 ? { movedAside } : {})
            },
            [
              ...movedAside.map((m) => `moved the stale ${m.from} aside to ${m.to}`),
              `restored ${result.path} in ${formatMillis(Duration.toMillis(result.duration))}`
            ]
          )
        }
        case "Skipped":
          return yield* out.result(
            { outcome: "Skipped", reason: result.reason, path: result.path, replica, durationMs: took },
            [
              result.reason === "NoBackups"
                ? `skipped: no backups at ${replica} yet (--if-replica-exists), ${result.path} not written (${formatMillis(took)})`
                : `skipped: ${result.path} already exists (--if-db-not-exists), left untouched (${formatMillis(took)})`
            ]
          )
      }
    }))).pipe(
  Command.withDescription(Help.description([
    "Restore the database from its replica with litestream restore. Never overwrites an existing file and never leaves a partial one: the database appears at its path only when complete.",
    "Fails (exit 1) when the replica holds no backup, unless --if-replica-exists, and when the file exists, unless --if-db-not-exists.",
    "Fails (exit 1) when a -wal, -shm or -journal is left beside a path that holds no database (SQLite would apply it to the restored database), unless --move-aside-sidecars."
  ], [
    ["effect-litestream restore", "restore DB_FOLDER/DB_SQLITE from REPLICA_URL (both from the environment or ./.env)"],
    ["effect-litestream restore --if-db-not-exists --if-replica-exists", "at start-up: restore only when needed, succeed on a new, empty replica"],
    ["effect-litestream restore -o /tmp/copy.db --timestamp 2026-01-31T12:00:00Z", "a copy of the database as it was at noon, beside the live one"],
    ["effect-litestream restore --database orders.db --dotenv /etc/myapp/backup.env", "one database of a multi-database replication, settings from a file"]
  ]))
)
