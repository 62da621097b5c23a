/**
 * S3-compatible settings through the generated litestream config, with the real binary and
 * fauxqs on loopback: a bucket-only URL (`s3://BUCKET/path`) plus endpoint, region and path
 * style. With an endpoint set litestream never calls AWS (never run a bucket-only URL without
 * one in a test: litestream would look the bucket's region up at AWS).
 */
import { LitestreamCommand, LitestreamConfig } from "@effect-litestream/core"
import { LitestreamBinary } from "@effect-litestream/node"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as NodePath from "node:path"
import { exists, tempDir } from "../support/Fixtures.js"
import { ACCESS_KEY_ID, dbPath, guardAgainstLeaks, once, restore, SECRET, services, siblings } from "../support/Harness.js"
import { configOf, expectGone, generations, replicate, snapshots, wal } from "../support/Replication.js"
import { S3Server } from "../support/S3Server.js"
import * as Sqlite from "../support/Sqlite.js"

guardAgainstLeaks()

/** The settings of an S3-compatible store at `port` (fauxqs): never without the endpoint. */
const compatible = (port: number) => ({
  endpoint: `http://127.0.0.1:${port}`,
  region: "us-east-1",
  forcePathStyle: true
})

const URL = "s3://backups/apps/app.db"

describe("S3-compatible settings (endpoint, region, path style)", () => {
  it.scopedLive("once, listings and restore round trip through the generated config; the config holds no secret", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const s3 = yield* Effect.orDie(S3Server("backups"))
      const db = dbPath(dir)
      const rows = Sqlite.createDatabase(db, 60)
      yield* Effect.gen(function*() {
        const config = yield* LitestreamConfig.LitestreamConfig
        expect(config.replica).toMatchObject({ _tag: "S3", bucket: "backups", path: "apps/app.db", endpoint: undefined })
        expect(LitestreamCommand.needsConfigFile(config)).toBe(true)

        const result = yield* once({ timeout: "20 seconds", deleteLocal: true })
        const position = Option.getOrThrow(result.position)
        for (const f of siblings(db)) expect(yield* exists(f)).toBe(false)

        // the listings go through the generated config as well (the local database is gone)
        const listed = yield* generations()
        expect(listed.map((g) => [g.replica, g.generation])).toEqual([["s3", position.generation]])
        expect((yield* snapshots()).map((s) => s.generation)).toEqual([position.generation])
        expect((yield* wal()).every((w) => w.generation === position.generation)).toBe(true)

        expect(yield* restore({ timeout: "20 seconds" })).toMatchObject({ _tag: "Restored", path: db })
        expect(Sqlite.readRows(db)).toEqual(rows)
        expect(Sqlite.integrityCheck(db)).toBe("ok")
      }).pipe(Effect.provide(services(dir, URL, compatible(s3.port))))
    }))

  it.scopedLive("continuous replication of two databases: the config litestream runs with, then each restores", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const s3 = yield* Effect.orDie(S3Server("backups"))
      const a = NodePath.join(dir, "a.db")
      const b = NodePath.join(dir, "b.db")
      const rowsA = Sqlite.createDatabase(a, 12)
      const rowsB = Sqlite.createDatabase(b, 4)
      yield* Effect.gen(function*() {
        const pid = yield* Effect.scoped(Effect.gen(function*() {
          const replication = yield* replicate({ databases: ["a.db", "b.db"] })
          // the file litestream was started with, read while it runs
          const { path, text } = yield* configOf(replication.pid)
          expect(text).not.toContain(SECRET)
          expect(text).not.toContain(ACCESS_KEY_ID)
          for (const [db, name] of [[a, "a.db"], [b, "b.db"]] as const) {
            expect(text).toContain(`  - path: ${JSON.stringify(db)}`)
            expect(text).toContain(`      - url: ${JSON.stringify(`${URL}/${name}`)}`)
          }
          expect(text.match(/^ {8}endpoint: "http:\/\/127\.0\.0\.1:\d+"$/gm)).toHaveLength(2)
          expect(text.match(/^ {8}region: "us-east-1"$/gm)).toHaveLength(2)
          expect(text.match(/^ {8}force-path-style: true$/gm)).toHaveLength(2)
          // the secret reaches litestream through its environment only
          const environ = yield* Effect.promise(() => fs.promises.readFile(`/proc/${replication.pid}/environ`, "utf8"))
          expect(environ.split("\0")).toContain(`LITESTREAM_SECRET_ACCESS_KEY=${SECRET}`)

          rowsA.push(...(yield* replication.syncAfter(Sqlite.addRowsEffect(a, 3), "a.db"))[0])
          rowsB.push(...(yield* replication.syncAfter(Sqlite.addRowsEffect(b, 3), "b.db"))[0])
          expect(yield* Effect.promise(() => fs.promises.access(path).then(() => true, () => false))).toBe(true)
          return replication.pid
        }))
        yield* expectGone(pid)

        for (const db of [a, b]) {
          yield* Effect.promise(() => Promise.all(siblings(db).map((f) => fs.promises.rm(f, { recursive: true, force: true }))))
        }
        expect((yield* generations({ database: "a.db" })).length).toBe(1)
        expect((yield* generations({ database: "b.db" })).length).toBe(1)
        yield* restore({ database: "a.db" })
        yield* restore({ database: "b.db" })
        expect(Sqlite.readRows(a)).toEqual(rowsA)
        expect(Sqlite.readRows(b)).toEqual(rowsB)
      }).pipe(Effect.provide(services(dir, URL, compatible(s3.port))))
    }))

  it.scopedLive("litestream itself reads the generated config of several databases with S3 options", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const binary = yield* LitestreamBinary.defaultBinary
      const base = yield* LitestreamConfig.make({
        replicaUrl: "s3://my-bucket/some path/db",
        accessKeyId: ACCESS_KEY_ID,
        secretAccessKey: SECRET,
        folder: NodePath.join(dir, "a folder: with \"quotes\" # and a hash"),
        endpoint: "https://account.r2.cloudflarestorage.com",
        region: "auto",
        forcePathStyle: false
      }).pipe(Effect.provide(NodeContext.layer), Effect.orDie)
      const configs = [base, ...["x.db", "y.sqlite"].map((name) => Effect.runSync(LitestreamConfig.forDatabase(base, name)))]
      const file = NodePath.join(dir, "litestream.yml")
      const text = LitestreamCommand.configFile(configs, { monitorInterval: "250 millis", syncInterval: "2 seconds", logLevel: "debug" })
      expect(text).not.toContain(SECRET)
      yield* Effect.promise(() => fs.promises.writeFile(file, text))
      // `litestream databases` parses the config and lists every database and its replicas,
      // without touching any replica
      const stdout = yield* Effect.async<string, Error>((resume) => {
        execFile(binary, ["databases", "-config", file], { env: {} }, (error, out, err) => {
          resume(error ? Effect.fail(new Error(`${error.message}\n${err}`)) : Effect.succeed(out))
        })
      })
      const listed = stdout.trim().split("\n").slice(1).map((line) => line.trim().split(/\s{2,}/))
      expect(listed).toEqual(configs.map((c) => [c.dbPath, "s3"]))
    }))
})
