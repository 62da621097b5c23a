/**
 * `effect-litestream verify`: proves that the replica holds the current database.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import { LitestreamConfig, Verify } from "@effect-litestream/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as CliOptions from "./CliOptions.js"
import * as Help from "./Help.js"
import { formatMillis } from "./Output.js"
import * as Run from "./Run.js"

/**
 * @since 0.1.0
 */
export const command = Command.make("verify", {
  settings: CliOptions.settings,
  json: CliOptions.json,
  timeout: CliOptions.duration("timeout", "Give up, as inconclusive (exit 1), after this long; default 1m.")
}, (o) =>
  Run.run("verify", o, (out) =>
    Effect.gen(function*() {
      const config = yield* LitestreamConfig.LitestreamConfig
      const verify = yield* Verify.Verify
      yield* out.progress(`verifying the backup of ${config.dbPath} at ${config.replica.url}`, {
        db: config.dbPath,
        replica: config.replica.url
      })
      const verification = yield* verify.verify({ timeout: Option.getOrUndefined(o.timeout) })
      if (verification._tag !== "Verified") {
        return yield* new Verify.VerificationFailed({ verification })
      }
      yield* out.result({
        outcome: "Verified",
        db: config.dbPath,
        replica: config.replica.url,
        token: verification.token,
        position: Option.getOrNull(Option.map(verification.position, String)),
        durationMs: Duration.toMillis(verification.duration)
      }, [
        `verified in ${formatMillis(Duration.toMillis(verification.duration))}: the replica's copy holds the sentinel row written just before, and passes PRAGMA integrity_check`
      ])
    }))).pipe(
  Command.withDescription(Help.description([
    `Prove that the replica holds the current database: write a sentinel row (table ${Verify.SENTINEL_TABLE}, one row, replaced each time) into the database, back it up, restore the replica to a temporary folder, and check the row and PRAGMA integrity_check there. Needs better-sqlite3.`,
    "Exit 0 when verified; 1 when the check failed or was inconclusive (with the reason)."
  ], [
    ["effect-litestream verify", "check DB_FOLDER/DB_SQLITE against REPLICA_URL"],
    ["effect-litestream verify --json --timeout 2m", "machine-readable, for a monitoring job"]
  ]))
)
