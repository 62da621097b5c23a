/**
 * The secrets sweep, beyond what every test of this suite already checks (each runs under
 * `swept`: its errors, Effect logs at every level, events, and the argv and config of every
 * litestream run are searched for the credentials). Here: the sweep is not vacuous (it sees
 * litestream's lines, live argv, config files; an echoed secret is masked, not dropped), where the
 * credentials do go (the child's environment only, readable by its owner), the settings'
 * renderings, and a full round trip with litestream's debug output on.
 */
import { LitestreamConfig } from "@effect-litestream/core"
import { describe, expect, it } from "@effect/vitest"
import { NodePath as NodePathLayer } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as NodePath from "node:path"
import * as util from "node:util"
import * as Figures from "../support/Figures.js"
import { silentServer, tempDir } from "../support/Fixtures.js"
import {
  dbPath,
  deleteLocal,
  forkWithChild,
  liveDatabase,
  listing,
  once,
  poll,
  replicate,
  restore,
  swept,
  verifiedBackup
} from "../support/Faults.js"
import { Deny, FaultProxy } from "../support/FaultProxy.js"
import { guardAgainstLeaks } from "../support/Harness.js"
import { S3Server } from "../support/S3Server.js"
import * as Sqlite from "../support/Sqlite.js"
import { KEY_ID, leakIn, NEEDLES, SECRET, Sweep } from "../support/Sweep.js"

guardAgainstLeaks()

describe("where the credentials go", () => {
  it.scopedLive("into the child's environment only (readable by its owner), never its argv or config file", (ctx) =>
    swept(ctx.task.name, ({ dir, sweep }) =>
      Effect.gen(function*() {
        const port = yield* silentServer
        const { kept } = yield* liveDatabase(dir, 10)
        yield* Effect.gen(function*() {
          const { fiber, pid } = yield* forkWithChild(once({ timeout: "30 seconds", grace: "1 second", deleteLocal: true }))
          // wait until the wrapper has exec'd litestream itself
          const argv = yield* poll(
            Effect.sync(() => fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((a) => a !== "")),
            (argv) => !argv[0]!.endsWith("sh"),
            "10 seconds"
          )
          expect(argv[0], "the wrapper exec'd litestream").not.toMatch(/sh$/)
          const environ = fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")
          const stat = fs.statSync(`/proc/${pid}/environ`)
          const config = fs.readFileSync(argv[argv.indexOf("-config") + 1]!, "utf8")
          // the sweep's watcher read the live argv too
          const live = yield* poll(sweep.liveArgv, (l) => l.length > 0, "5 seconds")
          expect(live.length).toBeGreaterThan(0)
          yield* Fiber.interrupt(fiber)
          // the interrupted backup (with deleteLocal) deleted nothing
          yield* kept

          expect(argv.slice(1)).toEqual(["replicate", "-config", expect.stringMatching(/litestream\.yml$/)])
          for (const text of [argv.join(" "), config]) expect(leakIn(text)).toBeUndefined()
          // the generated config names the replica, and nothing secret
          expect(config).toContain(`url: "s3://backups.localhost:${port}/apps/app.db"`)
          expect(config).not.toMatch(/access-key-id|secret-access-key/)
          // the environment holds them, under litestream's and AWS's names
          expect(environ).toContain(`LITESTREAM_SECRET_ACCESS_KEY=${SECRET}`)
          expect(environ).toContain(`AWS_SECRET_ACCESS_KEY=${SECRET}`)
          expect(environ).toContain(`AWS_ACCESS_KEY_ID=${KEY_ID}`)
          // /proc/<pid>/environ is readable by the process' owner only
          expect(stat.mode & 0o077).toBe(0)
          expect(stat.uid).toBe(process.getuid?.())
        }).pipe(Effect.provide(sweep.layer(dir, `s3://backups.localhost:${port}/apps/app.db`)))
      })))
})

describe("renderings of the settings", () => {
  it.effect("the config service, the settings and the layer's values: <redacted>, never the values", () =>
    Effect.gen(function*() {
      const input = { accessKeyId: KEY_ID, secretAccessKey: SECRET, replicaUrl: "s3://bucket.localhost:9/x", folder: "/tmp/x" }
      const config = yield* Effect.provide(
        LitestreamConfig.LitestreamConfig,
        LitestreamConfig.layer(input).pipe(Layer.provide(NodePathLayer.layer))
      )
      const decoded = LitestreamConfig.decode(input)
      for (const value of [config, config.credentials, decoded]) {
        for (const text of [String(value), JSON.stringify(value), util.inspect(value, { depth: Infinity }), util.format("%j %o %O", value, value, value)]) {
          expect(leakIn(text), text).toBeUndefined()
        }
      }
      expect(JSON.stringify(config)).toContain("<redacted>")
    }))
})

describe("the sweep itself", () => {
  it.scopedLive("sees litestream's lines in the logs, the live argv, the config files; an echoed secret is masked there", (ctx) =>
    swept(ctx.task.name, ({ dir, fails, sweep, sweepEvents }) =>
      Effect.gen(function*() {
        const s3 = yield* Effect.orDie(S3Server("backups"))
        const proxy = yield* FaultProxy(s3.port)
        const url = proxy.url("backups", "apps/app.db")
        const { db, kept } = yield* liveDatabase(dir, 10)
        yield* proxy.set(Deny(`denied: key ${KEY_ID} secret ${SECRET}`))
        yield* Effect.gen(function*() {
          yield* fails("once", once({ timeout: "20 seconds", deleteLocal: true }))
          yield* fails("restore", restore({ timeout: "20 seconds", output: `${db}.restored` }))
          yield* fails("snapshots", listing("snapshots"))
          yield* fails("wal", listing("wal"))
          yield* fails("verified backup", verifiedBackup({ timeout: "20 seconds", deleteLocal: true }))
          // the refused backups (with deleteLocal) deleted nothing
          yield* kept
          yield* fails(
            "replicate",
            Effect.scoped(Effect.gen(function*() {
              const replication = yield* replicate({ policy: { maxConsecutiveErrors: 2 }, grace: "1 second", logLevel: "debug" })
              yield* sweepEvents(replication)
              return yield* Effect.raceFirst(
                replication.await,
                Effect.forever(Effect.zipRight(Effect.sync(() => Sqlite.addRows(db, 1)), Effect.sleep("100 millis")))
              )
            }))
          )
        }).pipe(Effect.provide(sweep.layer(dir, url)))
        const entries = yield* sweep.entries
        const logs = entries.filter((e) => e.source === "log").map((e) => e.text)
        // litestream's own lines reached the Effect log, masked
        expect(logs.some((l) => l.includes("AccessDenied"))).toBe(true)
        expect(logs.some((l) => l.includes("<redacted>"))).toBe(true)
        expect(entries.some((e) => e.source === "event" && e.text.includes("<redacted>"))).toBe(true)
        // once, restore, snapshots, wal, the verified backup's once, replicate (and the short
        // `litestream version` runs the library makes to learn the binary's line)
        const working = (yield* sweep.runs).filter((r) => !r.endsWith(": version"))
        expect(working.length, (yield* sweep.runs).join("\n")).toBe(6)
        expect(entries.some((e) => e.source === "live config")).toBe(true)
        for (const needle of NEEDLES) expect(logs.join("\n")).not.toContain(needle)
      })))
})

describe("the sweep's own reach", () => {
  it.scopedLive("a credential written into a file of the test's folder (here litestream's shadow folder) fails the check", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("effect-litestream-sweep-")
      const sweep = yield* Sweep(dir)
      const shadow = NodePath.join(dir, ".app.db-litestream", "generations")
      fs.mkdirSync(shadow, { recursive: true })
      fs.writeFileSync(NodePath.join(shadow, "leak"), `header ${KEY_ID.slice(4)} trailer`)
      const exit = yield* Effect.exit(sweep.check)
      expect(Exit.isFailure(exit), "the sweep must see the file").toBe(true)
      fs.rmSync(NodePath.join(shadow, "leak"))
      // what is left: the sweep's wrapper script
      expect((yield* sweep.check).files).toBe(1)
    }))
})

describe("a full round trip with litestream's debug output", () => {
  it.scopedLive("replicate (debug events), once, verified backup, listings, restore: nothing shows a credential", (ctx) =>
    swept(ctx.task.name, ({ dir, sweep, sweepEvents }) =>
      Effect.gen(function*() {
        const s3 = yield* Effect.orDie(S3Server("backups"))
        const db = dbPath(dir)
        const written = Sqlite.createDatabase(db, 40)
        yield* Effect.gen(function*() {
          yield* Effect.scoped(Effect.gen(function*() {
            const replication = yield* replicate({ logLevel: "debug", grace: "3 seconds" })
            yield* sweepEvents(replication)
            yield* replication.syncAfter(Effect.sync(() => written.push(...Sqlite.addRows(db, 10))))
            const events = yield* replication.events.pipe(Stream.take(1), Stream.runCollect)
            expect(events.length).toBe(1)
          }))
          yield* once({ timeout: "20 seconds" })
          const backup = yield* verifiedBackup({ timeout: "30 seconds" })
          expect(backup.verification._tag).toBe("Verified")
          expect((yield* listing("generations")).length).toBeGreaterThan(0)
          yield* listing("snapshots")
          yield* listing("wal")
          yield* deleteLocal
          yield* restore({ timeout: "20 seconds" })
          expect(Sqlite.readRows(db)).toEqual(written)
        }).pipe(Effect.provide(sweep.layer(dir, s3.url("apps/app.db"))))
        const entries = yield* sweep.entries
        expect(entries.filter((e) => e.source === "event").length).toBeGreaterThan(3)
        expect(entries.filter((e) => e.source === "log").length).toBeGreaterThan(10)
        Figures.record("round-trip-sweep", { entries: entries.length, runs: (yield* sweep.runs).length })
      })), 90_000)
})

