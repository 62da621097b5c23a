/**
 * `once({ deleteLocal })` on litestream v0.5, on the mock executor and the mock probe: a first
 * `replicate -once`, then the write hold, then a second `-once` under it, whose last
 * `replica sync` must show the replica at the database's TXID; only then the exclusive delete.
 * Every other end keeps the database: the replica behind, 0.5.17's "database is locked" under
 * the hold, the first run failing (no hold taken at all).
 */
import { LitestreamConfig, Replicate } from "@effect-litestream/core"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as NodePath from "node:path"
import * as Mock from "../support/MockExecutor.js"
import * as MockProbe from "../support/MockProbe.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(NodePath.join(os.tmpdir(), "elt-unit-dl5-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const replicaSync = (replica: number, db: number) =>
  JSON.stringify({
    time: "2026-12-01T12:45:10.994Z",
    level: "DEBUG",
    msg: "replica sync",
    system: "store",
    db: "db.sqlite",
    replica: "file",
    txid: { replica: replica.toString(16).padStart(16, "0"), db: db.toString(16).padStart(16, "0") }
  })

const uploaded = (txid: number) =>
  JSON.stringify({
    time: "2026-12-01T12:45:10.993Z",
    level: "DEBUG",
    msg: "ltx file uploaded",
    system: "store",
    db: "db.sqlite",
    replica: "file",
    level_: 0,
    minTXID: txid.toString(16).padStart(16, "0"),
    maxTXID: txid.toString(16).padStart(16, "0"),
    size: 191
  }).replace("\"level_\"", "\"level\"")

/** The scripts of the two `replicate -once` runs, in order. */
const services = (dir: string, runs: ReadonlyArray<Mock.Script>, log: Array<string>) => {
  let n = 0
  return Replicate.layer.pipe(
    Layer.provideMerge(Layer.mergeAll(
      Mock.layer(() => runs[n++] ?? { exit: 1 }, { version: "0.5.17" }),
      MockProbe.layer(log),
      LitestreamConfig.layer({ replicaUrl: `file://${NodePath.join(dir, "replica")}`, folder: dir })
    )),
    Layer.provideMerge(NodeContext.layer),
    Layer.orDie
  )
}

const ok = (lines: ReadonlyArray<string>): Mock.Script => ({ lines: lines.map((text) => ({ text, channel: "stderr" as const })), exit: 0 })

describe("once({ deleteLocal }) on litestream v0.5", () => {
  it.scoped("two -once runs, the second under the hold and caught up: the files deleted, the TXID reported", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const db = NodePath.join(dir, "db.sqlite")
      fs.writeFileSync(db, "")
      fs.writeFileSync(`${db}-wal`, "")
      const log: Array<string> = []
      yield* Effect.gen(function*() {
        const result = yield* Effect.flatMap(Replicate.Replicate, (r) => r.once({ deleteLocal: true }))
        expect(result.deleted).toEqual([db, `${db}-wal`])
        expect(result.txid).toBe("0000000000000003")
        expect(log).toEqual([`hold ${db}`, "delete", "release"])
        const runs = (yield* Mock.MockExecutor).runs.filter((r) => r.args[0] === "replicate")
        expect(runs.map((r) => r.args.slice(0, 2))).toEqual([["replicate", "-once"], ["replicate", "-once"]])
        expect(fs.existsSync(db)).toBe(false)
      }).pipe(Effect.provide(services(dir, [
        ok([uploaded(2), replicaSync(2, 2)]),
        ok([uploaded(3), replicaSync(3, 3)])
      ], log)))
    }))

  it.scoped("the second run ends with the replica behind the database: DatabaseChangedAfterBackup, nothing deleted", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const db = NodePath.join(dir, "db.sqlite")
      fs.writeFileSync(db, "")
      const log: Array<string> = []
      yield* Effect.gen(function*() {
        const error = yield* Effect.flip(Effect.flatMap(Replicate.Replicate, (r) => r.once({ deleteLocal: true })))
        expect(error._tag).toBe("DatabaseChangedAfterBackup")
        expect(error.message).toContain("TXID 2 behind the database's 3")
        expect(log).toEqual([`hold ${db}`, "release"])
        expect(fs.existsSync(db)).toBe(true)
      }).pipe(Effect.provide(services(dir, [ok([replicaSync(2, 2)]), ok([replicaSync(2, 3)])], log)))
    }))

  it.scoped("0.5.17's \"database is locked\" under the hold (the -wal went away): DatabaseChangedAfterBackup, nothing deleted", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const db = NodePath.join(dir, "db.sqlite")
      fs.writeFileSync(db, "")
      const log: Array<string> = []
      yield* Effect.gen(function*() {
        const error = yield* Effect.flip(Effect.flatMap(Replicate.Replicate, (r) => r.once({ deleteLocal: true })))
        expect(error._tag).toBe("DatabaseChangedAfterBackup")
        expect(error.message).toContain("back up again once it is idle")
        expect(log).toEqual([`hold ${db}`, "release"])
        expect(fs.existsSync(db)).toBe(true)
      }).pipe(Effect.provide(services(dir, [
        ok([replicaSync(2, 2)]),
        {
          lines: [{ text: `Error: sync database ${db}: ensure wal exists: database is locked (5) (SQLITE_BUSY)`, channel: "stderr" }],
          exit: 1
        }
      ], log)))
    }))

  it.scoped("the first run fails: its error, no hold taken, nothing deleted", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const db = NodePath.join(dir, "db.sqlite")
      fs.writeFileSync(db, "")
      const log: Array<string> = []
      yield* Effect.gen(function*() {
        const error = yield* Effect.flip(Effect.flatMap(Replicate.Replicate, (r) => r.once({ deleteLocal: true })))
        expect(error._tag).toBe("LitestreamFailed")
        expect(log).toEqual([])
        expect(fs.existsSync(db)).toBe(true)
      }).pipe(Effect.provide(services(dir, [{ lines: [{ text: "Error: something else", channel: "stderr" }], exit: 1 }], log)))
    }))
})

describe("once on litestream v0.5: exit 0 is not proof on its own", () => {
  it.scoped("exit 0 with no replica record (as 0.5.17's replicate gives on SIGTERM before its first sync): LitestreamFailed saying so; caught up: the TXID", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      fs.writeFileSync(NodePath.join(dir, "db.sqlite"), "")
      const log: Array<string> = []
      yield* Effect.gen(function*() {
        const error = yield* Effect.flip(Effect.flatMap(Replicate.Replicate, (r) => r.once()))
        expect(error._tag).toBe("LitestreamFailed")
        expect(error.message).toContain("never reported the replica's position")
        const done = yield* Effect.flatMap(Replicate.Replicate, (r) => r.once())
        expect(done.txid).toBe("0000000000000004")
        expect(log).toEqual([])
      }).pipe(Effect.provide(services(dir, [ok([]), ok([uploaded(4), replicaSync(4, 4)])], log)))
    }))
})
