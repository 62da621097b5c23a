/**
 * A `SqliteProbe` for the unit tests: it records what was asked of it, in order, and deletes
 * with the real file system; a script makes a step fail.
 */
import { LitestreamError, SqliteProbe } from "@effect-litestream/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"

export interface Script {
  /** `holdWrites` fails with this */
  readonly holdFails?: LitestreamError.DatabaseInUse | undefined
  /** `deleteExclusively` fails with this, deleting nothing */
  readonly deleteFails?: LitestreamError.DatabaseInUse | LitestreamError.DatabaseChangedAfterBackup | undefined
}

/** The probe, and the log of its calls ("hold <db>", "delete", "release") shared with the test. */
export const layer = (log: Array<string>, script: Script = {}): Layer.Layer<SqliteProbe.SqliteProbe> =>
  Layer.succeed(SqliteProbe.SqliteProbe, {
    writeSentinel: () => Effect.die("not used"),
    check: () => Effect.die("not used"),
    holdWrites: (dbPath) =>
      script.holdFails !== undefined
        ? Effect.sync(() => log.push(`hold ${dbPath}`)).pipe(Effect.zipRight(Effect.fail(script.holdFails)))
        : Effect.acquireRelease(
          Effect.sync(() => {
            log.push(`hold ${dbPath}`)
            return {
              deleteExclusively: (files: ReadonlyArray<string>) =>
                Effect.suspend(() => {
                  log.push("delete")
                  if (script.deleteFails !== undefined) return Effect.fail(script.deleteFails)
                  const existing = files.filter((f) => fs.existsSync(f))
                  for (const f of existing) fs.rmSync(f, { recursive: true, force: true })
                  return Effect.succeed(existing)
                })
            }
          }),
          () => Effect.sync(() => log.push("release"))
        )
  })
