/**
 * Which litestream a binary is, and what that changes, on the mock executor: `litestream
 * version` is run once per service and picks the command set; a version the library cannot drive
 * is a typed error before anything else runs; options of the other line are refused by name.
 */
import { LitestreamCommand, LitestreamConfig, LitestreamEvent, LitestreamVersion, Replicate, Restore } from "@effect-litestream/core"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as NodePath from "node:path"
import * as Mock from "../support/MockExecutor.js"

const REPLICA = "s3://backups.localhost:39531/db"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(NodePath.join(os.tmpdir(), "elt-unit-version-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const services = (dir: string, script: Mock.ScriptInput, version: string | "script") =>
  Layer.mergeAll(Restore.layer, Replicate.layer).pipe(
    Layer.provideMerge(Layer.mergeAll(
      Mock.layer(script, { version }),
      LitestreamConfig.layer({
        replicaUrl: REPLICA,
        accessKeyId: "AKIAVERSIONUNIT00001",
        secretAccessKey: "version/Unit+Secret=01",
        folder: dir
      })
    )),
    Layer.provideMerge(NodeContext.layer),
    Layer.orDie
  )

describe("LitestreamVersion.parse and lineOf", () => {
  it("v0.3.13 and 0.5.17 (as the binaries print them); other lines and garbage are not driven", () => {
    const line = (text: string) => Either.map(LitestreamVersion.parse(text), LitestreamVersion.lineOf)
    expect(line("v0.3.13\n")).toEqual(Either.right("v0.3"))
    expect(line("0.5.17\n")).toEqual(Either.right("v0.5"))
    expect(line("0.5.99")).toEqual(Either.right("v0.5"))
    expect(line("v0.4.0")).toEqual(Either.right(undefined))
    expect(line("0.6.0")).toEqual(Either.right(undefined))
    expect(line("1.0.0")).toEqual(Either.right(undefined))
    expect(line("development build")).toEqual(Either.left("development build"))
    expect(String(Either.getOrThrow(LitestreamVersion.parse("v0.3.13")))).toBe("0.3.13")
  })
})

describe("the command set follows the binary's version", () => {
  it.scoped("v0.5: restore passes -txid (16 hex digits), never -generation/-index; version asked once", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const script: Mock.ScriptInput = (command) =>
        command.args[0] === "version"
          ? { lines: [{ text: "0.5.17", channel: "stdout" }], exit: 0 }
          : {
            exit: 0,
            onStart: (run) => Effect.sync(() => fs.writeFileSync(run.args[run.args.indexOf("-o") + 1]!, "SQLite format 3\u0000"))
          }
      yield* Effect.gen(function*() {
        const restore = yield* Restore.Restore
        const mock = yield* Mock.MockExecutor
        yield* restore.restore({ txid: 0x2a, output: NodePath.join(dir, "a.db") })
        yield* restore.restore({ timestamp: new Date("2026-12-01T10:00:00Z"), output: NodePath.join(dir, "b.db") })
        const versions = mock.runs.filter((r) => r.args[0] === "version")
        const restores = mock.runs.filter((r) => r.args[0] === "restore")
        expect(versions).toHaveLength(1)
        expect(restores[0]!.args).toContain("-txid")
        expect(restores[0]!.args[restores[0]!.args.indexOf("-txid") + 1]).toBe("000000000000002a")
        expect(restores[1]!.args).toContain("-timestamp")
        for (const r of restores) expect(r.args.some((a) => a === "-generation" || a === "-index")).toBe(false)
        // litestream 0.5's AWS SDK refuses a CA bundle with a custom endpoint: blanked for it
        expect(restores[0]!.env.AWS_CA_BUNDLE).toBe("")
      }).pipe(Effect.provide(services(dir, script, "script")))
    }))

  it.scoped("v0.5: generation / index refused by name (NotOnThisLine); v0.3: txid refused", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      fs.writeFileSync(NodePath.join(dir, "db.sqlite"), "")
      const never: Mock.Script = { exit: 1 }
      yield* Effect.gen(function*() {
        const restore = yield* Restore.Restore
        const mock = yield* Mock.MockExecutor
        const refused = yield* Effect.flip(restore.restore({ generation: "0123456789abcdef", index: 3 }))
        expect(refused).toMatchObject({ _tag: "NotOnThisLine", line: "v0.5", version: "0.5.17" })
        expect(refused.message).toMatch(/generation and index .* litestream 0\.5\.17 .*txid/)
        expect(mock.runs.filter((r) => r.args[0] !== "version"), "nothing started").toEqual([])
        expect(fs.existsSync(NodePath.join(dir, "db.sqlite"))).toBe(true)
      }).pipe(Effect.provide(services(dir, never, "0.5.17")))
      yield* Effect.gen(function*() {
        const restore = yield* Restore.Restore
        const refused = yield* Effect.flip(restore.restore({ txid: 7 }))
        expect(refused).toMatchObject({ _tag: "NotOnThisLine", line: "v0.3", version: "0.3.13" })
      }).pipe(Effect.provide(services(dir, never, "v0.3.13")))
    }))

  it.scoped("a version it cannot drive: UnsupportedLitestreamVersion naming it, before any restore or backup runs", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      fs.writeFileSync(NodePath.join(dir, "db.sqlite"), "")
      for (const printed of ["v0.4.0", "0.6.1", "not a version"]) {
        yield* Effect.gen(function*() {
          const mock = yield* Mock.MockExecutor
          const r = yield* Effect.flip(Effect.flatMap(Restore.Restore, (s) => s.restore()))
          const o = yield* Effect.flip(Effect.flatMap(Replicate.Replicate, (s) => s.once()))
          for (const e of [r, o]) {
            expect(e).toMatchObject({ _tag: "UnsupportedLitestreamVersion", version: printed })
            expect(e.message).toContain(`"${printed}"`)
            expect(e.message).toMatch(/LITESTREAM_BIN/)
          }
          expect(mock.runs.filter((run) => run.args[0] !== "version")).toEqual([])
        }).pipe(Effect.provide(services(dir, { exit: 0 }, printed)))
      }
    }))
})

describe("the version probe stays within the operation's timeout", () => {
  it.scopedLive("a binary that never answers `version`: once and restore fail with their own LitestreamTimeout, promptly", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      fs.writeFileSync(NodePath.join(dir, "db.sqlite"), "")
      const hangs: Mock.Script = { exit: "never", onSigterm: { exitCode: 0 } }
      yield* Effect.gen(function*() {
        const started = Date.now()
        const once = yield* Effect.flip(Effect.flatMap(Replicate.Replicate, (r) => r.once({ timeout: "300 millis" })))
        const restore = yield* Effect.flip(Effect.flatMap(Restore.Restore, (r) => r.restore({ timeout: "300 millis" })))
        expect(once).toMatchObject({ _tag: "LitestreamTimeout", operation: "replicate" })
        expect(restore).toMatchObject({ _tag: "LitestreamTimeout", operation: "restore" })
        // two 300 ms timeouts, not the probe's own 10 s
        expect(Date.now() - started).toBeLessThan(5000)
      }).pipe(Effect.provide(services(dir, hangs, "script")))
    }))
})

describe("pure builders for v0.5", () => {
  it("foreignRestoreOptions and restoreArgs", () => {
    expect(LitestreamCommand.foreignRestoreOptions("v0.5", { generation: "g", index: 1, txid: 2 })).toEqual(["generation", "index"])
    expect(LitestreamCommand.foreignRestoreOptions("v0.3", { generation: "g", index: 1, txid: 2 })).toEqual(["txid"])
    expect(LitestreamCommand.foreignRestoreOptions("v0.5", { txid: 2, timestamp: new Date() })).toEqual([])
  })

  it("v0.5 log lines: the record's own level (litestream logs attributes named level too), LtxFileUploaded", () => {
    const started = LitestreamEvent.parse(
      `{"time":"2026-12-01T10:12:15.96Z","level":"INFO","msg":"litestream","version":"0.5.17","level":"debug"}`
    )
    expect(started).toMatchObject({ _tag: "Started", version: "0.5.17" })
    const uploaded = LitestreamEvent.parse(
      `{"time":"2026-12-01T10:09:40.39Z","level":"DEBUG","msg":"ltx file uploaded","system":"store","db":"app.db","replica":"file","level":0,"minTXID":"0000000000000001","maxTXID":"0000000000000003","size":1249}`
    )
    expect(uploaded).toEqual(
      LitestreamEvent.LtxFileUploaded.make({ db: "app.db", replica: "file", level: 0, minTxid: "0000000000000001", maxTxid: "0000000000000003", size: 1249 })
    )
    const other = LitestreamEvent.parse(`{"time":"t","level":"DEBUG","msg":"compaction complete","level":1,"db":"app.db"}`)
    expect(other).toMatchObject({ _tag: "Other", level: "DEBUG", attributes: { level: "1" } })
  })
})
