/**
 * The native restore against litestream v0.3.13 on workloads fast-check draws: inserts,
 * updates, deletes, blobs over overflow pages, VACUUM, the application's own checkpoints and
 * backups (`Replicate.once`) in any order, at page sizes 1024, 4096 and 65536, on a file://
 * replica. For each: the latest state, each generation's latest state and an index in the middle
 * of the last generation restore to the same bytes through both, and pass `integrity_check`.
 *
 * `NATIVE_PROPERTY_RUNS` sets the number of workloads (default 4, about 5 s each);
 * `FAULT_SEED` replays a run.
 */
import { ReplicaListing, type Restore } from "@effect-litestream/core"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as NodePath from "node:path"
import { dbPath, once, services } from "../support/Harness.js"
import { native, restoreWith } from "../support/NativeReplica.js"
import * as Sqlite from "../support/Sqlite.js"

const RUNS = Number(process.env.NATIVE_PROPERTY_RUNS ?? 4)
const SEED = Number(process.env.FAULT_SEED ?? Date.now() % 1_000_000)

type Op =
  | { readonly _tag: "insert"; readonly n: number }
  | { readonly _tag: "update"; readonly mod: number }
  | { readonly _tag: "delete"; readonly mod: number }
  | { readonly _tag: "blob"; readonly size: number }
  | { readonly _tag: "dropBlobs" }
  | { readonly _tag: "vacuum" }
  | { readonly _tag: "checkpoint" }
  | { readonly _tag: "backup" }

const op: FastCheck.Arbitrary<Op> = FastCheck.oneof(
  { weight: 5, arbitrary: FastCheck.record({ _tag: FastCheck.constant("insert" as const), n: FastCheck.integer({ min: 1, max: 60 }) }) },
  { weight: 2, arbitrary: FastCheck.record({ _tag: FastCheck.constant("update" as const), mod: FastCheck.integer({ min: 2, max: 6 }) }) },
  { weight: 2, arbitrary: FastCheck.record({ _tag: FastCheck.constant("delete" as const), mod: FastCheck.integer({ min: 3, max: 9 }) }) },
  { weight: 2, arbitrary: FastCheck.record({ _tag: FastCheck.constant("blob" as const), size: FastCheck.integer({ min: 500, max: 200_000 }) }) },
  { weight: 1, arbitrary: FastCheck.constant({ _tag: "dropBlobs" as const }) },
  { weight: 1, arbitrary: FastCheck.constant({ _tag: "vacuum" as const }) },
  { weight: 1, arbitrary: FastCheck.constant({ _tag: "checkpoint" as const }) },
  { weight: 2, arbitrary: FastCheck.constant({ _tag: "backup" as const }) }
)

const workload = FastCheck.record({
  pageSize: FastCheck.constantFrom(1024, 4096, 65536),
  // at most three backups in the middle (each starts litestream), and one at the end
  ops: FastCheck.array(op, { minLength: 4, maxLength: 24 }).filter((ops) => ops.filter((o) => o._tag === "backup").length <= 3)
})

const runWorkload = (dir: string, pageSize: number, ops: ReadonlyArray<Op>) =>
  Effect.gen(function*() {
    const folder = NodePath.join(dir, "app")
    fs.mkdirSync(folder)
    const url = `file://${NodePath.join(dir, "replica")}`
    const binary = services(folder, url).pipe(Layer.orDie)
    const db = Sqlite.open(dbPath(folder))
    try {
      db.pragma(`page_size = ${pageSize}`)
      db.exec("VACUUM")
      db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, payload TEXT NOT NULL)")
      db.exec("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)")
      db.pragma("wal_autocheckpoint = 0")
      let next = 1
      for (const o of [...ops, { _tag: "backup" } as const]) {
        switch (o._tag) {
          case "insert":
            Sqlite.insertRows(db, Sqlite.rows(o.n, next))
            next += o.n
            break
          case "update":
            db.prepare("UPDATE items SET payload = payload || ? WHERE id % ? = 0").run("-u", o.mod)
            break
          case "delete":
            db.prepare("DELETE FROM items WHERE id % ? = 0").run(o.mod)
            break
          case "blob":
            db.prepare("INSERT INTO blobs (data) VALUES (randomblob(?))").run(o.size)
            break
          case "dropBlobs":
            db.prepare("DELETE FROM blobs WHERE id % 2 = 0").run()
            break
          case "vacuum":
            db.exec("VACUUM")
            break
          case "checkpoint":
            db.pragma("wal_checkpoint(TRUNCATE)")
            break
          case "backup":
            yield* once({ timeout: "30 seconds" }).pipe(Effect.provide(binary))
        }
      }
    } finally {
      db.close()
    }
    return { folder, url, binary }
  })

describe("native restore = litestream restore, on workloads fast-check draws", () => {
  it.live(`${RUNS} workloads (seed ${SEED}): same bytes at the latest state, each generation, a middle index`, () =>
    Effect.promise(() =>
      FastCheck.assert(
        FastCheck.asyncProperty(workload, async ({ ops, pageSize }) => {
          const dir = fs.mkdtempSync(NodePath.join(os.tmpdir(), "effect-litestream-prop-"))
          try {
            await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
              const { binary, folder, url } = yield* runWorkload(dir, pageSize, ops)
              const wal = yield* Effect.flatMap(ReplicaListing.ReplicaListing, (l) => l.wal()).pipe(Effect.provide(binary))
              const generations = [...new Set(wal.map((w) => w.generation))]
              const last = wal.filter((w) => w.generation === generations.at(-1))
              const targets: Array<Restore.RestoreOptions> = [
                {},
                ...generations.map((generation) => ({ generation })),
                ...(last.length > 1 ? [{ generation: last[0]!.generation, index: last[Math.floor(last.length / 2)]!.index }] : [])
              ]
              for (const [n, target] of targets.entries()) {
                const a = NodePath.join(dir, `oracle-${n}.db`)
                const b = NodePath.join(dir, `native-${n}.db`)
                const what = `${JSON.stringify(target)} after ${JSON.stringify(ops)} at page size ${pageSize}`
                const theirs = yield* restoreWith(binary, { ...target, output: a })
                const ours = yield* restoreWith(native(folder, url), { ...target, output: b })
                expect(ours._tag, what).toBe(theirs._tag)
                if (theirs._tag !== "Restored") continue
                expect(fs.readFileSync(b).equals(fs.readFileSync(a)), `${what}: byte-identical`).toBe(true)
                expect(Sqlite.integrityCheck(b), what).toBe("ok")
              }
              // the latest state is the live database
              expect(Sqlite.readRows(NodePath.join(dir, "native-0.db"))).toEqual(Sqlite.readRows(dbPath(folder)))
            })))
          } finally {
            fs.rmSync(dir, { recursive: true, force: true })
          }
        }),
        { numRuns: RUNS, seed: SEED, endOnFailure: true }
      )
    ), 60_000 + RUNS * 30_000)
})
