/**
 * Data safety: cycles of "write rows while replicating, stop at a random point, back up, delete
 * the local copy, restore" where every row committed before the backup step reported success
 * must come back; restores that never overwrite a database (also one created while the restore
 * runs) and never leave a partial file (interrupted, timed out).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as fs from "node:fs"
import * as NodePath from "node:path"
import * as Figures from "../support/Figures.js"
import { list, readBytes } from "../support/Fixtures.js"
import {
  addBlobs,
  dbPath,
  listOrEmpty,
  deleteLocal,
  expectNoChildren,
  once,
  poll,
  replicate,
  restore,
  swept,
  tagOf
} from "../support/Faults.js"
import { FaultProxy, Pass, Throttle } from "../support/FaultProxy.js"
import { guardAgainstLeaks } from "../support/Harness.js"
import { S3Server } from "../support/S3Server.js"
import * as Sqlite from "../support/Sqlite.js"
import { prng } from "../support/Writer.js"

guardAgainstLeaks()

// 30 in `pnpm test`; the documented run used 50 (FAULT_CYCLES=50)
const CYCLES = Number(process.env.FAULT_CYCLES ?? 30)
const SEED = Number(process.env.FAULT_SEED ?? Date.now() % 1_000_000)

/**
 * How a cycle stops and what its backup step is:
 * - `StopThenClose`: the writer stops, the replication's scope closes; the step is litestream's
 *   final sync, reported by `await` (0).
 * - `CloseWhileWriting`: the scope closes while the writer still writes, then the writer stops;
 *   the step is a `once` after both (its success covers every row).
 * - `SyncAfterThenKill`: the last write goes through `syncAfter`, which reports when the replica
 *   holds it; then litestream is killed with SIGKILL (no final sync): only what `syncAfter`
 *   reported may be counted on.
 */
const MODES = ["StopThenClose", "CloseWhileWriting", "SyncAfterThenKill"] as const

describe("write while replicating, stop at a random point, delete, restore", () => {
  it.scopedLive(`${CYCLES} cycles over file:// and S3: every committed row comes back`, (ctx) =>
    swept(ctx.task.name, ({ dir, sweep }) =>
      Effect.gen(function*() {
        const s3 = yield* Effect.orDie(S3Server("backups"))
        const figures: Array<Record<string, unknown>> = []
        for (let cycle = 0; cycle < CYCLES; cycle++) {
          // Each cycle has generators of its own, seeded from FAULT_SEED and its number: the
          // writer draws a number of times that depends on timing, so sharing one generator
          // across cycles would make every cycle after the first depend on the timing of those
          // before it. Same FAULT_SEED: every cycle makes the same choices again.
          const random = prng(SEED + cycle)
          const writes = prng((SEED + cycle) ^ 0x5bd1e995)
          const mode = MODES[cycle % MODES.length]!
          const backend = cycle % 2 === 0 ? "file" : "s3"
          const folder = NodePath.join(dir, `cycle-${cycle}`)
          fs.mkdirSync(folder)
          const url = backend === "file" ? `file://${NodePath.join(folder, "replica")}` : s3.url(`cycles/${cycle}/app.db`)
          const stopAt = 30 + Math.floor(random() * 450)
          const label = `cycle ${cycle} (FAULT_SEED=${SEED}, ${mode}, ${backend}, stop at ${stopAt} ms)`
          const db = dbPath(folder)
          // a failed backup step names its cycle (and so its seed, to replay it)
          const labelled = <A, E extends { readonly _tag: string; readonly message: string }, R>(self: Effect.Effect<A, E, R>) =>
            Effect.catchAll(self, (e) => Effect.dieMessage(`${label}: ${e._tag}: ${e.message}`))
          // committed: every row whose transaction returned, counted where it is written
          const committed = Sqlite.createDatabase(db, 5)

          const t0 = Date.now()
          const phases: Record<string, number> = {}
          const mark = (name: string) => {
            phases[name] = Date.now() - t0
          }
          yield* Effect.gen(function*() {
            const app = Sqlite.open(db)
            const writer = Effect.sync(() => {
              const batch = Sqlite.rows(1 + Math.floor(writes() * 5), committed.at(-1)!.id + 1)
              Sqlite.insertRows(app, batch)
              // committed: the transaction returned
              committed.push(...batch)
            }).pipe(
              Effect.zipRight(Effect.suspend(() => Effect.sleep(`${Math.floor(writes() * 15)} millis`))),
              Effect.forever
            )
            let awaitEnd: Effect.Effect<number, unknown> = Effect.succeed(-1)
            let writerFiber: Fiber.RuntimeFiber<never> | undefined
            yield* Effect.scoped(Effect.gen(function*() {
              const replication = yield* replicate({ grace: "2 seconds", catchUpTimeout: "500 millis" })
              awaitEnd = replication.await
              mark("started")
              writerFiber = yield* Effect.fork(writer)
              yield* Effect.sleep(`${stopAt} millis`)
              switch (mode) {
                case "StopThenClose":
                  yield* Fiber.interrupt(writerFiber)
                  return
                case "CloseWhileWriting":
                  return
                case "SyncAfterThenKill": {
                  yield* Fiber.interrupt(writerFiber)
                  const last = Sqlite.rows(3, committed.at(-1)!.id + 1)
                  yield* replication.syncAfter(Effect.sync(() => {
                    Sqlite.insertRows(app, last)
                    committed.push(...last)
                  })).pipe(Effect.timeout("20 seconds"))
                  process.kill(replication.pid, "SIGKILL")
                  const exit = yield* Effect.exit(replication.await.pipe(Effect.timeout("5 seconds")))
                  expect(tagOf(exit), label).toBe("ExitedEarly")
                  return
                }
              }
            }))
            mark("closed")
            if (mode === "CloseWhileWriting") yield* Fiber.interrupt(writerFiber!)
            app.close()
            yield* expectNoChildren
            // after the scope closed, `await` reports litestream's final sync: 0 when it succeeded
            const finalSync = mode === "SyncAfterThenKill" ? "killed" : tagOf(yield* Effect.exit(awaitEnd))

            switch (mode) {
              case "StopThenClose": {
                // the backup step is the final sync: it must have succeeded (a healthy store)
                expect(finalSync, label).toBe("success")
                yield* labelled(deleteLocal)
                break
              }
              case "CloseWhileWriting": {
                // the application still wrote while litestream stopped: the final sync covers
                // what litestream had seen. With writes going on, a replica sync can be in flight
                // at the SIGTERM (catchUpTimeout ran out), and litestream v0.3.13's final sync then
                // collides with it: FinalSyncFailed, reported, never hidden. Either way the next
                // once (below) must bring every committed row.
                expect(["success", "FinalSyncFailed"], label).toContain(finalSync)
                const result = yield* labelled(once({ timeout: "20 seconds", deleteLocal: true }))
                expect(result.deleted, label).toContain(db)
                break
              }
              case "SyncAfterThenKill":
                yield* labelled(deleteLocal)
                break
            }
            mark("backedUp")
            expect(fs.existsSync(db), label).toBe(false)

            const restored = yield* restore({ timeout: "20 seconds" })
            expect(restored._tag, label).toBe("Restored")
            const rows = Sqlite.readRows(db)
            // In every mode the backup step covers every committed row: the writer stopped
            // before it (StopThenClose, CloseWhileWriting: before the final sync or the `once`;
            // SyncAfterThenKill: `syncAfter` reported the last write durable). So the restore
            // holds every committed row, in order, and nothing else.
            expect(rows, label).toEqual(committed)
            expect(Sqlite.integrityCheck(db), label).toBe("ok")
            mark("restored")
            figures.push({ cycle, mode, backend, stopAt, phases, committed: committed.length, restored: rows.length, finalSync })
          }).pipe(Effect.provide(sweep.layer(folder, url)))
        }
        Figures.record("data-safety", {
          seed: SEED,
          cycles: CYCLES,
          rowsCommitted: figures.reduce((n, f) => n + (f.committed as number), 0),
          rowsRestored: figures.reduce((n, f) => n + (f.restored as number), 0),
          finalSyncs: figures.reduce<Record<string, number>>((acc, f) => {
            const key = `${f.mode}: ${f.finalSync}`
            acc[key] = (acc[key] ?? 0) + 1
            return acc
          }, {}),
          details: figures
        })
      })), 170_000)
})

/** A database of about 2 MB backed up to fauxqs behind the proxy, whose snapshot downloads crawl. */
const slowReplica = (dir: string) =>
  Effect.gen(function*() {
    const s3 = yield* Effect.orDie(S3Server("backups"))
    const proxy = yield* FaultProxy(s3.port)
    const db = dbPath(dir)
    const written = Sqlite.createDatabase(db, 100)
    addBlobs(db, 30)
    const url = proxy.url("backups", "apps/app.db")
    const crawl = proxy.set((req) => req.method === "GET" && !req.path.includes("?") ? Throttle(32_768, 15) : Pass)
    return { proxy, url, db, written, crawl }
  })

/** Waits until litestream writes its temporary file in `folder`. */
const partialIn = (folder: string) =>
  Effect.gen(function*() {
    const names = yield* poll(listOrEmpty(folder), (names) => names.some((n) => n.endsWith(".tmp")), "15 seconds")
    expect(names.some((n) => n.endsWith(".tmp")), `caught in the middle: ${names.join(", ")}`).toBe(true)
  })

describe("restore never overwrites a database and never leaves a partial file", () => {
  it.scopedLive("an existing database: OutputExists / Skipped, byte for byte untouched", (ctx) =>
    swept(ctx.task.name, ({ dir, fails, sweep }) =>
      Effect.gen(function*() {
        const db = dbPath(dir)
        Sqlite.createDatabase(db, 30)
        yield* Effect.gen(function*() {
          yield* once({ timeout: "20 seconds" })
          Sqlite.addRows(db, 5)
          const bytes = yield* readBytes(db)
          const error = yield* fails("restore", restore({ timeout: "20 seconds" }))
          expect(error).toMatchObject({ _tag: "OutputExists", path: db })
          expect(yield* restore({ timeout: "20 seconds", ifDbNotExists: true })).toMatchObject({ _tag: "Skipped", reason: "DatabaseExists" })
          expect(yield* readBytes(db)).toEqual(bytes)
        }).pipe(Effect.provide(sweep.layer(dir, `file://${NodePath.join(dir, "replica")}`)))
      })))

  it.scopedLive("a database created while the restore runs is not replaced: OutputExists (Skipped with ifDbNotExists), nothing left", (ctx) =>
    swept(ctx.task.name, ({ dir, sweep }) =>
      Effect.gen(function*() {
        const { crawl, url, written } = yield* slowReplica(dir)
        yield* Effect.gen(function*() {
          yield* once({ timeout: "30 seconds" })
          yield* crawl
          for (const ifDbNotExists of [false, true]) {
            const out = NodePath.join(dir, `out-${ifDbNotExists}`)
            const output = NodePath.join(out, "app.db")
            const fiber = yield* Effect.fork(restore({ timeout: "30 seconds", output, ifDbNotExists }))
            yield* partialIn(out)
            // another process creates the database meanwhile
            fs.writeFileSync(output, "created meanwhile: must survive")
            const exit = yield* Fiber.await(fiber)
            if (ifDbNotExists) {
              expect(Exit.isSuccess(exit) && exit.value).toMatchObject({ _tag: "Skipped", reason: "DatabaseExists" })
            } else {
              if (Exit.isFailure(exit)) sweep.cause("restore", exit.cause)
              expect(tagOf(exit)).toBe("OutputExists")
            }
            expect(fs.readFileSync(output, "utf8")).toBe("created meanwhile: must survive")
            expect(yield* list(out)).toEqual(["app.db"])
          }
          // and without the race, the same restore brings the rows back
          const output = NodePath.join(dir, "out-clean", "app.db")
          yield* restore({ timeout: "30 seconds", output })
          expect(yield* list(NodePath.join(dir, "out-clean"))).toEqual(["app.db"])
          expect(Sqlite.readRows(output)).toEqual(written)
        }).pipe(Effect.provide(sweep.layer(dir, url)))
      })), 90_000)

  it.scopedLive("interrupted or timed out in the middle of a 2 MB restore: no output, no temporary file", (ctx) =>
    swept(ctx.task.name, ({ dir, sweep }) =>
      Effect.gen(function*() {
        const { crawl, url } = yield* slowReplica(dir)
        yield* Effect.gen(function*() {
          yield* once({ timeout: "30 seconds" })
          yield* crawl
          const out = NodePath.join(dir, "out")
          const output = NodePath.join(out, "app.db")
          const fiber = yield* Effect.fork(restore({ timeout: "30 seconds", output }))
          yield* partialIn(out)
          const exit = yield* Fiber.interrupt(fiber)
          expect(Exit.isInterrupted(exit)).toBe(true)
          yield* expectNoChildren
          expect(yield* list(out)).toEqual([])

          const timedOut = yield* Effect.exit(restore({ timeout: "700 millis", output }))
          if (Exit.isFailure(timedOut)) sweep.cause("restore", timedOut.cause)
          expect(tagOf(timedOut)).toBe("LitestreamTimeout")
          yield* expectNoChildren
          expect(yield* list(out)).toEqual([])
        }).pipe(Effect.provide(sweep.layer(dir, url)))
      })))
})
