/**
 * `deleteLocal` beside a writer in another process: a backup that deletes the local database
 * must never lose a committed row. Each cycle starts a writer (one connection, a row per
 * transaction every few ms, for a random time) and, at a random point, `once({ deleteLocal })`.
 * Every cycle must end either refused (`DatabaseInUse` / `DatabaseChangedAfterBackup`) with the
 * database kept and every committed row in it, or done with every committed row in the restore.
 */
import { LitestreamConfig, Replicate } from "@effect-litestream/core"
import { LitestreamBinary, NodeReplicationLock } from "@effect-litestream/node"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as NodePath from "node:path"
import * as Figures from "../support/Figures.js"
import { dbPath, expectNoChildren, once, restore, swept, tagOf } from "../support/Faults.js"
import { tempDir } from "../support/Fixtures.js"
import { guardAgainstLeaks, settings } from "../support/Harness.js"
import { S3Server } from "../support/S3Server.js"
import * as Sqlite from "../support/Sqlite.js"
import { cycleNumbers, ids, prng, probeStartingWriter, range, startWriter, type Written } from "../support/Writer.js"

guardAgainstLeaks()

// 24 in `pnpm test` (both outcomes occur within a few cycles); the documented run used 40
const CYCLES = Number(process.env.DELETE_LOCAL_CYCLES ?? 24)
const SEED = Number(process.env.FAULT_SEED ?? Date.now() % 1_000_000)
const REFUSED = ["DatabaseInUse", "DatabaseChangedAfterBackup"]


describe("once({ deleteLocal }) beside a writer in another process", () => {
  it.scopedLive(`${CYCLES} cycles (more, up to ${2 * CYCLES}, until both outcomes occur) over file:// and S3: refused with the database kept, or done with every committed row restored`, (ctx) =>
    swept(ctx.task.name, ({ dir, sweep }) =>
      Effect.gen(function*() {
        const s3 = yield* Effect.orDie(S3Server("backups"))
        const outcomes: Record<string, number> = {}
        const details: Array<Record<string, unknown>> = []
        // CYCLES, then more while only one of the two outcomes was seen (a refusal can take longer)
        const bothSeen = () => (outcomes.success ?? 0) > 0 && Object.keys(outcomes).some((o) => o !== "success")
        for (const cycle of cycleNumbers(CYCLES, bothSeen)) {
          // one generator per cycle: FAULT_SEED with the cycle number replays any cycle alone
          const random = prng(SEED + cycle)
          const backend = cycle % 2 === 0 ? "file" : "s3"
          const folder = NodePath.join(dir, `cycle-${cycle}`)
          fs.mkdirSync(folder)
          const url = backend === "file" ? `file://${NodePath.join(folder, "replica")}` : s3.url(`cycles/${cycle}/app.db`)
          const db = dbPath(folder)
          Sqlite.createDatabase(db, 5)
          // a quarter of the writers commit once and close at once: "commit and close just after"
          const writeFor = random() < 0.25 ? 0 : Math.floor(random() * 1200)
          const backupAfter = Math.floor(random() * 900)
          const label = `cycle ${cycle} (seed ${SEED + cycle}, ${backend}, writer ${writeFor} ms, backup after ${backupAfter} ms)`
          yield* Effect.gen(function*() {
            const writer = yield* startWriter(db, { durationMs: writeFor, intervalMs: 3 })
            yield* Effect.sleep(`${backupAfter} millis`)
            const exit = yield* Effect.exit(once({ timeout: "30 seconds", deleteLocal: true }))
            const written = yield* writer.done
            const outcome = tagOf(exit)
            outcomes[outcome] = (outcomes[outcome] ?? 0) + 1
            yield* expectNoChildren
            const expected = range(1, written.last)
            if (Exit.isSuccess(exit)) {
              expect(exit.value.deleted, label).toContain(db)
              expect(fs.existsSync(db), label).toBe(false)
              const restored = yield* restore({ timeout: "30 seconds" })
              expect(restored._tag, label).toBe("Restored")
            } else {
              expect(REFUSED, `${label}: ${outcome}`).toContain(outcome)
              expect(fs.existsSync(db), label).toBe(true)
            }
            // every row the writer committed, and nothing else
            expect(ids(db), label).toEqual(expected)
            expect(Sqlite.integrityCheck(db), label).toBe("ok")
            details.push({ cycle, backend, writeFor, backupAfter, outcome, committed: expected.length, writerErrors: written.errors.length })
          }).pipe(Effect.provide(sweep.layer(folder, url)))
        }
        // both paths ran: the test would prove nothing if every backup was refused, or none
        const cycles = details.length
        expect(outcomes.success ?? 0, JSON.stringify(outcomes)).toBeGreaterThan(0)
        expect(cycles - (outcomes.success ?? 0), JSON.stringify(outcomes)).toBeGreaterThan(0)
        Figures.record("delete-local", { seed: SEED, cycles, outcomes, details })
      })), 300_000)
})


describe("a writer that commits and closes just after the final sync", () => {
  for (const at of ["hold", "delete"] as const) {
    it.scopedLive(`started ${at === "hold" ? "once writes are held, before the final sync" : "right before the exclusive delete"}: refused, its row kept`, () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const db = dbPath(dir)
        Sqlite.createDatabase(db, 5)
        const started: Array<Promise<Written>> = []
        const config = Layer.effect(
          LitestreamConfig.LitestreamConfig,
          Effect.flatMap(LitestreamBinary.defaultBinary, (binary) =>
            LitestreamConfig.make({ ...settings(dir, `file://${NodePath.join(dir, "replica")}`), binary }))
        )
        const layer = Replicate.layer.pipe(
          Layer.provide(probeStartingWriter(at, started)),
          Layer.provide(NodeReplicationLock.layer),
          Layer.provideMerge(config),
          Layer.provide(NodeContext.layer),
          Layer.orDie
        )
        const exit = yield* Effect.exit(once({ timeout: "30 seconds", deleteLocal: true }).pipe(Effect.provide(layer)))
        expect(started).toHaveLength(1)
        const written = yield* Effect.promise(() => started[0]!)
        // the writer's one row (id 6) committed: before the deletion could happen, so it was refused
        expect(written).toMatchObject({ first: 6, last: 6, errors: [] })
        expect(REFUSED).toContain(tagOf(exit))
        expect(fs.existsSync(db)).toBe(true)
        expect(ids(db)).toEqual(range(1, 6))
        expect(Sqlite.integrityCheck(db)).toBe("ok")
        yield* expectNoChildren
      }))
  }
})
