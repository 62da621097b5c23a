/**
 * The LTX listing's pure parts (packages/core/src/ReplicaListing.ts): `litestream ltx -json`'s
 * output as 0.5.17 prints it, parsed into typed rows; output that is not that, and a level that
 * does not exist, as clear errors.
 */
import { LitestreamConfig, ReplicaListing } from "@effect-litestream/core"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as NodePath from "node:path"
import * as Mock from "../support/MockExecutor.js"

// `litestream ltx -json -level all file://…` of 0.5.17, after two syncs and a compaction
const OUTPUT = `[
  {
    "level": 0,
    "min_txid": "0000000000000001",
    "max_txid": "0000000000000001",
    "size": 566,
    "timestamp": "2026-12-01T12:26:40Z"
  },
  {
    "level": 0,
    "min_txid": "0000000000000002",
    "max_txid": "0000000000000002",
    "size": 191,
    "timestamp": "2026-12-01T12:26:41Z"
  },
  {
    "level": 9,
    "min_txid": "0000000000000001",
    "max_txid": "0000000000000001",
    "size": 566,
    "timestamp": "2026-12-01T12:26:40Z"
  }
]
`

describe("ReplicaListing.parseLtxJson", () => {
  it("reads 0.5.17's rows: level, min/max TXID, size, time", () => {
    const rows = Either.getOrThrow(ReplicaListing.parseLtxJson(OUTPUT))
    expect(rows.map((r) => [r.level, r.minTxid, r.maxTxid, r.size])).toEqual([
      [0, "0000000000000001", "0000000000000001", 566],
      [0, "0000000000000002", "0000000000000002", 191],
      [9, "0000000000000001", "0000000000000001", 566]
    ])
    expect(rows[1]!.created).toEqual(new Date("2026-12-01T12:26:41Z"))
    expect(rows[0]).toBeInstanceOf(ReplicaListing.LtxFile)
    expect(ReplicaListing.parseLtxJson("[]")).toEqual(Either.right([]))
  })

  it("not JSON, or rows of another shape: Left saying what was printed", () => {
    const text = ReplicaListing.parseLtxJson("level  min_txid\n0 1")
    expect(Either.isLeft(text) && text.left).toContain("printed no JSON")
    const shape = ReplicaListing.parseLtxJson(`[{"level":0,"min_txid":"xyz","max_txid":"0000000000000001","size":1,"timestamp":"2026-12-01T12:26:40Z"}]`)
    expect(Either.isLeft(shape) && shape.left).toContain("cannot read litestream ltx -json's rows")
  })
})

describe("ReplicaListing.checkLevel", () => {
  it("0-9 and \"all\" (the default) pass; anything else is a LitestreamConfigError naming the rule", () => {
    expect(ReplicaListing.checkLevel(undefined)).toEqual(Either.right("all"))
    expect(ReplicaListing.checkLevel(9)).toEqual(Either.right(9))
    for (const bad of [-1, 10, 1.5, Number.NaN]) {
      const e = ReplicaListing.checkLevel(bad)
      expect(Either.isLeft(e)).toBe(true)
      if (Either.isLeft(e)) {
        expect(e.left._tag).toBe("LitestreamConfigError")
        expect(e.left.message).toContain("integer from 0 to 9")
      }
    }
  })
})

const listing = (dir: string, script: Mock.ScriptInput, version: string) =>
  ReplicaListing.layer.pipe(
    Layer.provideMerge(Layer.mergeAll(
      Mock.layer(script, { version }),
      LitestreamConfig.layer({
        replicaUrl: "s3://backups.localhost:39531/db",
        accessKeyId: "AKIALTXUNIT000000001",
        secretAccessKey: "ltx/Unit+Secret=0001",
        folder: dir
      })
    )),
    Layer.provideMerge(NodeContext.layer),
    Layer.orDie
  )

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(NodePath.join(os.tmpdir(), "elt-unit-ltx-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

describe("ReplicaListing.ltx on the mock executor", () => {
  it.scoped("v0.5: `ltx -json -level L URL`, rows parsed; an `Error:` line on stderr is a typed error; v0.3: NotOnThisLine, nothing run", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* Effect.gen(function*() {
        const l = yield* ReplicaListing.ReplicaListing
        const rows = yield* l.ltx({ level: 9 })
        expect(rows.map((r) => r.level)).toEqual([0, 0, 9])
        const runs = (yield* Mock.MockExecutor).runs.filter((r) => r.args[0] === "ltx")
        expect(runs.map((r) => r.args)).toEqual([["ltx", "-json", "-level", "9", "s3://backups.localhost:39531/db"]])
      }).pipe(Effect.provide(listing(dir, { lines: [{ text: OUTPUT, channel: "stdout" }], exit: 0 }, "0.5.17")))

      yield* Effect.gen(function*() {
        const error = yield* Effect.flip(Effect.flatMap(ReplicaListing.ReplicaListing, (l) => l.ltx()))
        expect(error._tag).toBe("ReplicaUnreachable")
      }).pipe(Effect.provide(listing(dir, {
        lines: [{ text: "Error: operation error S3: ListObjectsV2, https response error StatusCode: 404, NoSuchBucket: The specified bucket does not exist", channel: "stderr" }],
        exit: 1
      }, "0.5.17")))

      yield* Effect.gen(function*() {
        const error = yield* Effect.flip(Effect.flatMap(ReplicaListing.ReplicaListing, (l) => l.ltx()))
        expect(error).toMatchObject({ _tag: "NotOnThisLine", line: "v0.3", feature: "the ltx listing" })
        expect((yield* Mock.MockExecutor).runs.filter((r) => r.args[0] !== "version")).toEqual([])
      }).pipe(Effect.provide(listing(dir, { exit: 1 }, "v0.3.13")))
    }))
})
