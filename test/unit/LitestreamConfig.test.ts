import { LitestreamConfig, LitestreamError } from "@effect-litestream/core"
import * as Path from "@effect/platform/Path"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as os from "node:os"
import * as NodePath from "node:path"
import * as util from "node:util"

const KEY_ID = "AKIAUNITTESTKEY0001"
const SECRET = "s3cr3t/unit+test=value-0001"
const s3 = { replicaUrl: "s3://backups/db", accessKeyId: KEY_ID, secretAccessKey: SECRET }

const decodeError = (input: LitestreamConfig.Input): LitestreamError.LitestreamConfigError => {
  const result = LitestreamConfig.decode(input)
  if (Either.isRight(result)) throw new Error(`expected ${JSON.stringify(input)} to be refused`)
  return result.left
}

/** Every way an error may reach a user or a log. */
const renderings = (error: unknown): Array<string> => [
  String(error),
  (error as Error).message,
  String((error as Error).stack),
  JSON.stringify(error),
  util.inspect(error, { depth: null })
]

describe("LitestreamConfig.decode", () => {
  it("applies the defaults: db.sqlite, ./data, litestream", () => {
    const settings = Either.getOrThrow(LitestreamConfig.decode({ replicaUrl: "file:///var/backups/db" }))
    expect(settings.db).toBe("db.sqlite")
    expect(settings.folder).toBe("./data")
    expect(settings.binary).toBe("litestream")
    expect(settings.replicaUrl).toMatchObject({ _tag: "File", path: "/var/backups/db" })
    expect(settings.accessKeyId).toBeUndefined()
  })

  it("treats blank values as unset", () => {
    const settings = Either.getOrThrow(
      LitestreamConfig.decode({ replicaUrl: "file:///var/backups/db", db: "  ", folder: "", binary: "" })
    )
    expect(settings).toMatchObject({ db: "db.sqlite", folder: "./data", binary: "litestream" })
  })

  it("accepts database names ending in .db or .sqlite", () => {
    for (const db of ["app.db", "my-app_1.sqlite", "db.sqlite", "a.b.db"]) {
      expect(Either.getOrThrow(LitestreamConfig.decode({ replicaUrl: "file:///b", db })).db).toBe(db)
    }
  })

  const badNames: Array<[string, RegExp]> = [
    ["app.txt", /must end in \.db or \.sqlite/],
    ["app", /must end in \.db or \.sqlite/],
    ["dir/app.db", /not a path/],
    ["/abs/app.db", /not a path/],
    ["..\\app.db", /not a path/],
    ["a\\b.sqlite", /not a path/],
    ["a..b.db", /must not contain '\.\.'/],
    ["app db.sqlite", /only letters, digits/]
  ]
  for (const [db, rule] of badNames) {
    it(`refuses the database name ${JSON.stringify(db)}, naming DB_SQLITE, the rule and the fix`, () => {
      const error = decodeError({ replicaUrl: "file:///b", db })
      expect(error.issues).toHaveLength(1)
      expect(error.issues[0]!.variable).toBe("DB_SQLITE")
      expect(error.issues[0]!.rule).toMatch(rule)
      expect(error.issues[0]!.fix).toMatch(/db\.sqlite/)
      expect(error.message).toContain("DB_SQLITE: ")
      expect(error.message).toContain("Fix: use a plain file name")
    })
  }

  it("requires both credentials for an s3:// replica, naming each variable", () => {
    const error = decodeError({ replicaUrl: "s3://backups/db" })
    expect(error._tag).toBe("LitestreamConfigError")
    expect(error.issues.map((i) => i.variable)).toEqual(["LITESTREAM_ACCESS_KEY_ID", "LITESTREAM_SECRET_ACCESS_KEY"])
    for (const issue of error.issues) {
      expect(issue.rule).toBe("is required for an s3:// replica")
      expect(issue.fix).toContain(`set ${issue.variable}`)
    }
    expect(error.message).toMatch(/LITESTREAM_SECRET_ACCESS_KEY: is required for an s3:\/\/ replica\. Fix: set LITESTREAM_SECRET_ACCESS_KEY/)
  })

  it("requires the secret when only the key id is set, and never shows the key id", () => {
    const error = decodeError({ replicaUrl: "s3://backups/db", accessKeyId: KEY_ID })
    expect(error.issues.map((i) => i.variable)).toEqual(["LITESTREAM_SECRET_ACCESS_KEY"])
    for (const text of renderings(error)) expect(text).not.toContain(KEY_ID)
  })

  it("does not require credentials for a file:// replica", () => {
    const settings = Either.getOrThrow(LitestreamConfig.decode({ replicaUrl: "file:///var/backups/db" }))
    expect(settings.secretAccessKey).toBeUndefined()
  })

  it("keeps credentials redacted", () => {
    const settings = Either.getOrThrow(LitestreamConfig.decode(s3))
    expect(Redacted.isRedacted(settings.secretAccessKey)).toBe(true)
    expect(Redacted.value(settings.secretAccessKey!)).toBe(SECRET)
    expect(Redacted.value(settings.accessKeyId!)).toBe(KEY_ID)
  })

  it("requires REPLICA_URL", () => {
    const error = decodeError({} as LitestreamConfig.Input)
    expect(error.issues).toEqual([
      { variable: "REPLICA_URL", rule: "is required", fix: expect.stringContaining("set REPLICA_URL") }
    ])
  })

  it("reports an invalid REPLICA_URL with the URL rule and fix", () => {
    const error = decodeError({ ...s3, replicaUrl: "s3://backups:9000/db" })
    expect(error.issues).toHaveLength(1)
    expect(error.issues[0]).toEqual({
      variable: "REPLICA_URL",
      rule: "an s3:// URL with a port is only understood for BUCKET.localhost:PORT",
      fix: "use s3://BUCKET.localhost:PORT/path for a local S3 server"
    })
  })

  it("reports every problem at once", () => {
    const error = decodeError({ replicaUrl: "ftp://x/y", db: "x.txt", accessKeyId: KEY_ID, secretAccessKey: SECRET })
    expect(error.issues.map((i) => i.variable).sort()).toEqual(["DB_SQLITE", "REPLICA_URL"])
  })

  it("never puts a secret in an error: credentials in the URL, wrong types, other bad settings", () => {
    const errors = [
      decodeError({ ...s3, db: "../x.db" }),
      decodeError({ ...s3, replicaUrl: `s3://${KEY_ID}:${encodeURIComponent(SECRET)}@backups/db` }),
      decodeError({ ...s3, replicaUrl: `s3://${KEY_ID}:hunter2@backups/db` }),
      decodeError({ ...s3, secretAccessKey: 424242 as unknown as string, db: "bad" }),
      decodeError({ ...s3, accessKeyId: { key: KEY_ID } as unknown as string })
    ]
    for (const error of errors) {
      for (const text of renderings(error)) {
        expect(text).not.toContain(SECRET)
        expect(text).not.toContain(encodeURIComponent(SECRET))
        expect(text).not.toContain(KEY_ID)
        expect(text).not.toContain("hunter2")
        expect(text).not.toContain("424242")
      }
      for (const issue of error.issues) {
        expect(issue.variable).toMatch(/^[A-Z_]+$/)
        expect(issue.rule.length).toBeGreaterThan(0)
        expect(issue.fix.length).toBeGreaterThan(0)
      }
    }
    expect(errors[3]!.issues).toContainEqual({
      variable: "LITESTREAM_SECRET_ACCESS_KEY",
      rule: "must be a string",
      fix: expect.stringContaining("LITESTREAM_SECRET_ACCESS_KEY")
    })
  })
})

describe("LitestreamConfig.make", () => {
  it.effect("resolves the folder against the current directory and joins the db path", () =>
    Effect.gen(function*() {
      const config = yield* LitestreamConfig.make({ replicaUrl: "file:///var/backups/db" })
      expect(config.folder).toBe(NodePath.resolve("./data"))
      expect(NodePath.isAbsolute(config.folder)).toBe(true)
      expect(config.dbPath).toBe(NodePath.join(NodePath.resolve("./data"), "db.sqlite"))
      expect(config.db).toBe("db.sqlite")
      expect(config.binary).toBe("litestream")
      expect(Option.isNone(config.credentials)).toBe(true)
    }).pipe(Effect.provide(Path.layer)))

  it.effect("keeps an absolute folder, and sets credentials", () =>
    Effect.gen(function*() {
      const config = yield* LitestreamConfig.make({ ...s3, folder: "/srv/app/", db: "app.db", binary: "/opt/litestream" })
      expect(config.folder).toBe("/srv/app")
      expect(config.dbPath).toBe("/srv/app/app.db")
      expect(config.binary).toBe("/opt/litestream")
      const credentials = Option.getOrThrow(config.credentials)
      expect(Redacted.value(credentials.accessKeyId)).toBe(KEY_ID)
      expect(Redacted.value(credentials.secretAccessKey)).toBe(SECRET)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.effect("fails with LitestreamConfigError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(LitestreamConfig.make({ replicaUrl: "s3://backups/db", db: "x" }))
      expect(error._tag).toBe("LitestreamConfigError")
      expect(error.issues.map((i) => i.variable).sort()).toEqual([
        "DB_SQLITE"
      ])
    }).pipe(Effect.provide(Path.layer)))

  it.effect("no secret in String(), JSON.stringify or util.inspect of the resolved config", () =>
    Effect.gen(function*() {
      const config = yield* LitestreamConfig.make(s3)
      const renderings = [
        String(config),
        JSON.stringify(config),
        util.inspect(config, { depth: null }),
        util.inspect(config, { depth: null, showHidden: true }),
        String(Option.getOrThrow(config.credentials).secretAccessKey),
        JSON.stringify(Option.getOrThrow(config.credentials)),
        `${Option.getOrThrow(config.credentials).accessKeyId}`
      ]
      for (const text of renderings) {
        expect(text).not.toContain(SECRET)
        expect(text).not.toContain(KEY_ID)
      }
      expect(JSON.stringify(config)).toContain("<redacted>")
    }).pipe(Effect.provide(Path.layer)))
})

describe("LitestreamConfig.layer / layerConfig", () => {
  it.effect("layer(values) provides the resolved settings", () =>
    Effect.gen(function*() {
      const config = yield* LitestreamConfig.LitestreamConfig
      expect(config.dbPath).toBe("/srv/app/app.db")
      expect(config.replica).toMatchObject({ _tag: "File", path: "/var/backups/db" })
    }).pipe(Effect.provide(LitestreamConfig.layer({ replicaUrl: "file:///var/backups/db", folder: "/srv/app", db: "app.db" }).pipe(Layer.provide(Path.layer)))))

  it.effect("layerConfig reads pylts' variable names", () =>
    Effect.gen(function*() {
      const config = yield* LitestreamConfig.LitestreamConfig
      expect(config.replica).toMatchObject({ _tag: "S3", bucket: "backups", endpoint: "http://localhost:9000" })
      expect(config.db).toBe("app.sqlite")
      expect(config.dbPath).toBe("/srv/data/app.sqlite")
      expect(config.binary).toBe("/usr/local/bin/litestream")
      const credentials = Option.getOrThrow(config.credentials)
      expect(Redacted.value(credentials.accessKeyId)).toBe(KEY_ID)
      expect(Redacted.value(credentials.secretAccessKey)).toBe(SECRET)
    }).pipe(
      Effect.provide(LitestreamConfig.layerConfig()),
      Effect.provide(Path.layer),
      Effect.withConfigProvider(ConfigProvider.fromMap(
        new Map([
          ["LITESTREAM_ACCESS_KEY_ID", KEY_ID],
          ["LITESTREAM_SECRET_ACCESS_KEY", SECRET],
          ["REPLICA_URL", "s3://backups.localhost:9000/db"],
          ["DB_SQLITE", "app.sqlite"],
          ["DB_FOLDER", "/srv/data"],
          ["LITESTREAM_BIN", "/usr/local/bin/litestream"]
        ])
      ))
    ))

  it.effect("layerConfig: defaults fill what the environment leaves unset or blank; the environment wins", () =>
    Effect.gen(function*() {
      const fromDefaults = yield* LitestreamConfig.LitestreamConfig.pipe(
        Effect.provide(LitestreamConfig.layerConfig({ binary: "/bundled/litestream" })),
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["REPLICA_URL", "file:///b"], ["LITESTREAM_BIN", " "]])))
      )
      expect(fromDefaults.binary).toBe("/bundled/litestream")
      expect(fromDefaults.db).toBe("db.sqlite")
      expect(Option.isNone(fromDefaults.credentials)).toBe(true)
      const fromEnv = yield* LitestreamConfig.LitestreamConfig.pipe(
        Effect.provide(LitestreamConfig.layerConfig({ binary: "/bundled/litestream" })),
        Effect.withConfigProvider(
          ConfigProvider.fromMap(new Map([["REPLICA_URL", "file:///b"], ["LITESTREAM_BIN", "/env/litestream"]]))
        )
      )
      expect(fromEnv.binary).toBe("/env/litestream")
    }).pipe(Effect.provide(Path.layer)))

  it.effect("layerConfig fails naming the variables, without the secret", () =>
    Effect.gen(function*() {
      const error = yield* LitestreamConfig.LitestreamConfig.pipe(
        Effect.provide(LitestreamConfig.layerConfig()),
        Effect.withConfigProvider(ConfigProvider.fromMap(
          new Map([["LITESTREAM_SECRET_ACCESS_KEY", SECRET], ["DB_SQLITE", "../etc/passwd"]])
        )),
        Effect.flip
      )
      expect(error._tag).toBe("LitestreamConfigError")
      if (error._tag !== "LitestreamConfigError") return
      expect(error.issues.map((i) => i.variable).sort()).toEqual(["DB_SQLITE", "REPLICA_URL"])
      for (const text of renderings(error)) expect(text).not.toContain(SECRET)
    }).pipe(Effect.provide(Path.layer)))
})

describe("LitestreamConfig.ensureFolder", () => {
  it.scoped("creates the database folder, recursively", () =>
    Effect.gen(function*() {
      const root = yield* Effect.acquireRelease(
        Effect.sync(() => fs.mkdtempSync(NodePath.join(os.tmpdir(), "elt-unit-config-"))),
        (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
      )
      const folder = NodePath.join(root, "a", "b")
      const created = yield* LitestreamConfig.ensureFolder.pipe(
        Effect.provide(LitestreamConfig.layer({ replicaUrl: "file:///b", folder })),
        Effect.provide(NodeContext.layer)
      )
      expect(created).toBe(folder)
      expect(fs.statSync(folder).isDirectory()).toBe(true)
    }))
})

describe("LitestreamConfig: the heartbeat settings", () => {
  const HB_TOKEN = "hb-9f2c71-SETTINGS-MUST-NOT-LEAK"
  const file = { replicaUrl: "file:///var/backups/db" }

  it.effect("REPLICA_HEARTBEAT_URL alone: a Redacted URL at the default interval of 1m", () =>
    Effect.gen(function*() {
      const config = yield* LitestreamConfig.make({ ...file, heartbeatUrl: `https://hc-ping.com/${HB_TOKEN}` })
      const heartbeat = Option.getOrThrow(config.heartbeat)
      expect(Redacted.value(heartbeat.url)).toBe(`https://hc-ping.com/${HB_TOKEN}`)
      expect(Duration.toMillis(heartbeat.interval)).toBe(60_000)
      for (const text of [JSON.stringify(config), util.inspect(config, { depth: null }), String(heartbeat.url)]) {
        expect(text).not.toContain(HB_TOKEN)
      }
      const none = yield* LitestreamConfig.make(file)
      expect(Option.isNone(none.heartbeat)).toBe(true)
    }).pipe(Effect.provide(Path.layer)))

  it.effect("REPLICA_HEARTBEAT_INTERVAL: the forms the CLI takes, through the environment", () =>
    Effect.gen(function*() {
      for (const [text, ms] of [["5m", 300_000], ["90s", 90_000], ["1h", 3_600_000], ["120", 120_000], ["1m30s", 90_000]] as const) {
        const provider = ConfigProvider.fromMap(
          new Map([["REPLICA_URL", file.replicaUrl], ["REPLICA_HEARTBEAT_URL", "http://127.0.0.1:9/p"], ["REPLICA_HEARTBEAT_INTERVAL", text]])
        )
        const config = yield* Effect.provide(
          LitestreamConfig.LitestreamConfig,
          LitestreamConfig.layerConfig().pipe(Layer.provide(Path.layer), Layer.provide(Layer.setConfigProvider(provider)))
        )
        expect(Duration.toMillis(Option.getOrThrow(config.heartbeat).interval)).toBe(ms)
      }
    }))

  it("refuses an interval under 1m, one that is no duration, and one without a URL, each saying how to fix it", () => {
    const short = decodeError({ ...file, heartbeatUrl: "https://hc-ping.com/x", heartbeatInterval: "30s" })
    expect(short.issues).toEqual([
      { variable: "REPLICA_HEARTBEAT_INTERVAL", rule: "must be at least 1m (it is 30s)", fix: "set it to 1m or longer, or leave it unset for 1m" }
    ])
    const garbled = decodeError({ ...file, heartbeatUrl: "https://hc-ping.com/x", heartbeatInterval: "often" })
    expect(garbled.issues[0]).toMatchObject({ variable: "REPLICA_HEARTBEAT_INTERVAL", rule: "\"often\" is not a duration" })
    const alone = decodeError({ ...file, heartbeatInterval: "5m" })
    expect(alone.issues).toEqual([
      { variable: "REPLICA_HEARTBEAT_INTERVAL", rule: "needs REPLICA_HEARTBEAT_URL", fix: expect.stringContaining("set REPLICA_HEARTBEAT_URL") }
    ])
  })

  it("refuses a heartbeat URL that is not http(s) without quoting it (it is a credential)", () => {
    for (const url of [`ftp://example.com/${HB_TOKEN}`, `hc-ping.com/${HB_TOKEN}`, `http://bad host/${HB_TOKEN}`]) {
      const error = decodeError({ ...file, heartbeatUrl: url })
      expect(error.issues).toEqual([{
        variable: "REPLICA_HEARTBEAT_URL",
        rule: "must be an http(s) URL, such as https://hc-ping.com/UUID",
        fix: expect.stringContaining("REPLICA_HEARTBEAT_URL")
      }])
      for (const text of renderings(error)) expect(text).not.toContain(HB_TOKEN)
    }
  })
})
