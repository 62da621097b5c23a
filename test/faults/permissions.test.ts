/**
 * Permissions changed while litestream runs. The suite runs as root here, where `chmod` stops
 * nothing; the immutable flag (`chattr +i`, honoured for root too: EPERM "operation not
 * permitted") takes its place. Skipped where the flag cannot be set (not root, or a file
 * system without it).
 *
 * - the file:// replica made unwritable during a continuous replication: litestream stalls
 *   without a word and hangs (see the test); the library kills it at the stop, and the next
 *   backup carries every row;
 * - litestream's shadow folder made unwritable: a `once({ deleteLocal })` fails with a typed
 *   error and deletes nothing; once writable, the backup works and restores every row.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as NodePath from "node:path"
import * as Figures from "../support/Figures.js"
import { dbPath, liveDatabase, once, replicate, restore, swept } from "../support/Faults.js"
import { guardAgainstLeaks } from "../support/Harness.js"
import * as Sqlite from "../support/Sqlite.js"

guardAgainstLeaks()

const chattr = (flag: "+i" | "-i", path: string) => execFileSync("chattr", ["-R", flag, path], { stdio: "ignore" })

/** Whether the immutable flag works here, and stops this process from writing. */
const IMMUTABLE = (() => {
  const probe = fs.mkdtempSync(NodePath.join(os.tmpdir(), "elt-chattr-"))
  try {
    chattr("+i", probe)
    try {
      fs.writeFileSync(NodePath.join(probe, "x"), "x")
      return false
    } catch {
      return true
    } finally {
      chattr("-i", probe)
    }
  } catch {
    return false
  } finally {
    fs.rmSync(probe, { recursive: true, force: true })
  }
})()

/** Makes `path` (and everything under it) immutable until the scope closes. */
const frozen = (path: string) =>
  Effect.acquireRelease(Effect.sync(() => chattr("+i", path)), () => Effect.sync(() => chattr("-i", path)))

describe.skipIf(!IMMUTABLE)("permissions changed while litestream runs (chattr +i)", () => {
  // Found here: litestream v0.3.13 does not report a file:// replica it cannot write. It logs
  // "write wal segment", then nothing: no error, no "wal segment written", and it hangs from then
  // on (its final sync too, also once the folder is writable again). The library sees a replica
  // that stopped advancing: `syncAfter` times out, and closing the scope kills litestream after
  // the grace period (FinalSyncFailed, killed). Nothing is lost: the next backup, by a new
  // litestream, carries every row.
  it.scopedLive("the file:// replica made unwritable while replicating: litestream stalls silently, is killed at the stop (FinalSyncFailed); the next once carries every row", (ctx) =>
    swept(ctx.task.name, ({ dir, sweep, sweepEvents }) =>
      Effect.gen(function*() {
        const db = dbPath(dir)
        const committed = Sqlite.createDatabase(db, 20)
        const replica = NodePath.join(dir, "replica")
        const outcome: Record<string, unknown> = {}
        yield* Effect.gen(function*() {
          let awaitEnd: Effect.Effect<number, unknown> = Effect.succeed(-1)
          const started = Date.now()
          let closing = 0
          let exit: Exit.Exit<number, unknown> = Exit.succeed(-1)
          // the replica stays unwritable until litestream has ended: lifted before the close,
          // litestream sometimes recovered and its final sync succeeded
          yield* Effect.scoped(Effect.gen(function*() {
            const outer = yield* Effect.scope
            yield* Effect.scoped(Effect.gen(function*() {
              const replication = yield* replicate({
                policy: { maxConsecutiveErrors: 1_000, maxErrorDuration: "2 minutes" },
                catchUpTimeout: "500 millis",
                grace: "1 second"
              })
              awaitEnd = replication.await
              yield* sweepEvents(replication)
              yield* replication.syncAfter(Effect.sync(() => committed.push(...Sqlite.addRows(db, 10))))
              yield* Scope.extend(frozen(replica), outer)
              // the rows written now never reach the replica while it is unwritable
              const stalled = yield* Effect.exit(
                replication.syncAfter(Effect.sync(() => committed.push(...Sqlite.addRows(db, 10)))).pipe(Effect.timeout("3 seconds"))
              )
              // (a sync takes about 0.2 s at the 100 ms interval: 3 s is a stall)
              expect(stalled._tag, "no sync reached the unwritable replica").toBe("Failure")
              // and litestream said nothing about it (the silent stall)
              outcome.errorsReported = (yield* replication.status).consecutiveErrors
              closing = Date.now()
            }))
            // litestream hung in its final sync: killed after the catch-up wait and the 1 s grace
            exit = yield* Effect.exit(awaitEnd)
          }))
          expect(exit._tag).toBe("Failure")
          const error = exit._tag === "Failure" ? (exit.cause as { error?: { _tag?: string; killed?: boolean } }).error : undefined
          expect(error?._tag).toBe("FinalSyncFailed")
          expect(error?.killed, "killed after the grace period").toBe(true)
          expect(Date.now() - closing).toBeGreaterThanOrEqual(1_000)
          outcome.stopMs = Date.now() - closing
          outcome.runMs = Date.now() - started
          // the next backup (a new litestream) carries everything, the rows of the stall included
          yield* once({ timeout: "20 seconds" })
          const output = NodePath.join(dir, "restored.db")
          yield* restore({ timeout: "20 seconds", output })
          expect(Sqlite.readRows(output)).toEqual(committed)
          expect(Sqlite.integrityCheck(output)).toBe("ok")
        }).pipe(Effect.provide(sweep.layer(dir, `file://${replica}`)))
        Figures.record("permissions-replica", { rows: committed.length, ...outcome })
      })), 90_000)

  it.scopedLive("litestream's shadow folder made unwritable: once({ deleteLocal }) fails typed, deletes nothing; writable again: backed up, restored", (ctx) =>
    swept(ctx.task.name, ({ dir, fails, sweep }) =>
      Effect.gen(function*() {
        const { db, kept, written } = yield* liveDatabase(dir, 30)
        const shadow = NodePath.join(dir, ".app.db-litestream")
        yield* Effect.gen(function*() {
          // a first backup makes the shadow folder
          yield* once({ timeout: "20 seconds" })
          expect(fs.existsSync(shadow)).toBe(true)
          const error = yield* Effect.scoped(Effect.gen(function*() {
            yield* frozen(shadow)
            written.push(...Sqlite.addRows(db, 5))
            return yield* fails("once", once({ timeout: "20 seconds", grace: "2 seconds", deleteLocal: true }))
          }))
          expect((error as { _tag: string })._tag).toBe("ReplicaError")
          expect(String((error as { message: string }).message)).toMatch(/operation not permitted|permission denied/)
          yield* kept
          const result = yield* once({ timeout: "20 seconds", deleteLocal: true })
          expect(result.deleted).toContain(db)
          yield* restore({ timeout: "20 seconds" })
          expect(Sqlite.readRows(db)).toEqual(written)
          expect(Sqlite.integrityCheck(db)).toBe("ok")
        }).pipe(Effect.provide(sweep.layer(dir, `file://${NodePath.join(dir, "replica")}`)))
      })), 60_000)
})
