/**
 * `effect-litestream backup`: a one-shot backup (`Replicate.once`), optionally verified
 * (`Verify.backup`), optionally deleting the local copy afterwards.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { LitestreamConfig, Replicate, Verify } from "@effect-litestream/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as NodePath from "node:path"
import * as CliOptions from "./CliOptions.js"
import * as Help from "./Help.js"
import { formatMillis } from "./Output.js"
import * as Run from "./Run.js"

const MONITOR_INTERVAL = Duration.millis(10)

/**
 * @since 0.1.0
 */
export const command = Command.make("backup", {
  settings: CliOptions.settings,
  json: CliOptions.json,
  timeout: CliOptions.duration("timeout", "Give up (and stop litestream) after this long; default 1m."),
  deleteLocal: Options.boolean("delete-local").pipe(
    Options.withDescription(
      "After the backup (and its verification, with --verify), delete the database and its -wal, -shm and .<db>-litestream files."
    )
  ),
  verify: Options.boolean("verify").pipe(
    Options.withDescription(
      `Prove the backup: write a sentinel row (table ${Verify.SENTINEL_TABLE}) before it, restore the replica to a temporary folder, and check the row and PRAGMA integrity_check there. Needs better-sqlite3.`
    )
  )
}, (o) =>
  Run.run("backup", o, (out) =>
    Effect.gen(function*() {
      const config = yield* LitestreamConfig.LitestreamConfig
      const replica = config.replica.url
      yield* out.progress(`backing up ${config.dbPath} to ${replica}`, { db: config.dbPath, replica })
      // litestream looks at the WAL every 10 ms, so that its first sync comes at once instead of
      // 100 ms after its start; the replica's syncs stay 100 ms apart (see OnceOptions)
      const options = { timeout: Option.getOrUndefined(o.timeout), deleteLocal: o.deleteLocal, monitorInterval: MONITOR_INTERVAL }
      const result: Replicate.OnceResult & { readonly verification?: Verify.Verification } = o.verify
        ? yield* Effect.flatMap(Verify.Verify, (v) => v.backup(options))
        : yield* Effect.flatMap(Replicate.Replicate, (r) => r.once(options))
      // litestream v0.5 reports a transaction ID where v0.3 reports generation/index:offset
      const position = Option.getOrNull(Option.map(result.position, String)) ?? (result.txid === undefined ? null : `txid ${result.txid}`)
      const verification = result.verification
      const lines = [
        `done in ${formatMillis(Duration.toMillis(result.duration))}, replica at ${position ?? "an unreported position"}`
      ]
      if (verification?._tag === "Verified") {
        lines.push(`verified: the restored copy holds the sentinel row and passes PRAGMA integrity_check`)
      }
      if (o.deleteLocal) {
        lines.push(
          result.deleted.length === 0
            ? "no local file to delete"
            : `deleted ${result.deleted.length} local files: ${result.deleted.map((f) => NodePath.basename(f)).join(", ")}`
        )
      }
      yield* out.result({
        outcome: "BackedUp",
        db: config.dbPath,
        replica,
        position,
        ...(result.txid === undefined ? {} : { txid: result.txid }),
        durationMs: Duration.toMillis(result.duration),
        deleted: result.deleted,
        ...(verification === undefined ? {} : {
          verified: verification._tag === "Verified",
          verification: verification._tag === "Verified"
            ? { _tag: verification._tag, token: verification.token, durationMs: Duration.toMillis(verification.duration) }
            : verification
        })
      }, lines)
    }))).pipe(
  Command.withDescription(Help.description([
    "Back the database up once: litestream replicates it, and as soon as the replica has caught up it is stopped gracefully (its final sync must succeed). Takes well under a second for a small database; never waits out the timeout.",
    "The local files are deleted (--delete-local) only after a clean backup, and with --verify only after the verification succeeded."
  ], [
    ["effect-litestream backup", "back DB_FOLDER/DB_SQLITE up to REPLICA_URL"],
    ["effect-litestream backup --verify --delete-local", "prove the backup restores, then delete the local copy (pylts' aws-replicate-db, done right)"],
    ["effect-litestream backup --json --timeout 30s", "machine-readable result, give up after 30 seconds"]
  ]))
)
