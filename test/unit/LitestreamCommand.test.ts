import { LitestreamCommand, LitestreamConfig } from "@effect-litestream/core"
import type * as Command from "@effect/platform/Command"
import * as Path from "@effect/platform/Path"
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

const KEY_ID = "AKIAUNITTESTKEY0002"
const SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYUNITSECRET"

const resolve = (input: LitestreamConfig.Input) => Effect.runSync(LitestreamConfig.make(input).pipe(Effect.provide(Path.layer)))

const s3 = resolve({
  replicaUrl: "s3://backups.localhost:39531/db",
  accessKeyId: KEY_ID,
  secretAccessKey: SECRET,
  folder: "/srv/app",
  db: "app.db",
  binary: "/opt/bin/litestream"
})
const file = resolve({ replicaUrl: "file:///var/backups/db", folder: "/srv/app" })

describe("LitestreamCommand.restoreArgs", () => {
  it("restores to the database path, URL last, never -v", () => {
    expect(LitestreamCommand.restoreArgs(s3)).toEqual(["restore", "-o", "/srv/app/app.db", "s3://backups.localhost:39531/db"])
    expect(LitestreamCommand.restoreArgs(file)).toEqual(["restore", "-o", "/srv/app/db.sqlite", "file:///var/backups/db"])
  })

  it("maps every option to its flag, all before the URL", () => {
    const args = LitestreamCommand.restoreArgs(s3, {
      output: "/tmp/restored.db",
      ifReplicaExists: true,
      ifDbNotExists: true,
      generation: "46ba75524e5005af",
      timestamp: new Date(Date.UTC(2026, 10, 25, 17, 19, 55, 123)),
      timeout: "1 minute"
    })
    expect(args).toEqual([
      "restore",
      "-o",
      "/tmp/restored.db",
      "-if-replica-exists",
      "-if-db-not-exists",
      "-generation",
      "46ba75524e5005af",
      "-timestamp",
      "2026-11-25T17:19:55.123Z",
      "s3://backups.localhost:39531/db"
    ])
    expect(args.indexOf("s3://backups.localhost:39531/db")).toBe(args.length - 1)
    expect(args.every((a, i) => i === args.length - 1 || !a.startsWith("s3://"))).toBe(true)
  })

  it("leaves out the flags of options that are off or unset", () => {
    const args = LitestreamCommand.restoreArgs(s3, { ifReplicaExists: false, ifDbNotExists: false })
    expect(args).not.toContain("-if-replica-exists")
    expect(args).not.toContain("-if-db-not-exists")
    expect(args).not.toContain("-generation")
    expect(args).not.toContain("-timestamp")
  })

  it("never contains -v nor a secret, whatever the options", () => {
    const variants = [
      {},
      { ifReplicaExists: true },
      { ifDbNotExists: true, generation: "abc" },
      { timestamp: new Date(0), output: "/x.db" }
    ]
    for (const options of variants) {
      const args = LitestreamCommand.restoreArgs(s3, options)
      expect(args).not.toContain("-v")
      expect(args.join(" ")).not.toContain(SECRET)
      expect(args.join(" ")).not.toContain(KEY_ID)
    }
  })
})

describe("LitestreamCommand.replicateArgs", () => {
  it("is litestream replicate DB URL", () => {
    expect(LitestreamCommand.replicateArgs(s3)).toEqual(["replicate", "/srv/app/app.db", "s3://backups.localhost:39531/db"])
  })

  it("replicateConfigArgs is replicate -config FILE", () => {
    expect(LitestreamCommand.replicateConfigArgs("/tmp/x/litestream.yml")).toEqual([
      "replicate",
      "-config",
      "/tmp/x/litestream.yml"
    ])
  })
})

describe("LitestreamCommand.childEnv and make", () => {
  it("sets LITESTREAM_* and AWS_* to the configured credentials and blanks AWS_SESSION_TOKEN", () => {
    expect(LitestreamCommand.childEnv(s3)).toEqual({
      LITESTREAM_ACCESS_KEY_ID: KEY_ID,
      LITESTREAM_SECRET_ACCESS_KEY: SECRET,
      AWS_ACCESS_KEY_ID: KEY_ID,
      AWS_SECRET_ACCESS_KEY: SECRET,
      AWS_SESSION_TOKEN: ""
    })
  })

  it("is empty for a file replica without credentials", () => {
    expect(LitestreamCommand.childEnv(file)).toEqual({})
  })

  it("make: the configured binary, the argv, the child env, the parent's env extended", () => {
    const command = LitestreamCommand.make(s3, LitestreamCommand.restoreArgs(s3)) as Command.StandardCommand
    expect(command._tag).toBe("StandardCommand")
    expect(command.command).toBe("/opt/bin/litestream")
    expect(command.args).toEqual(LitestreamCommand.restoreArgs(s3))
    expect(command.extendEnv).toBe(true)
    const env = Object.fromEntries(command.env)
    expect(env).toEqual(LitestreamCommand.childEnv(s3))
    expect([command.command, ...command.args].join(" ")).not.toContain(SECRET)
  })

  it("argv never contains the secret", () => {
    for (const args of [LitestreamCommand.restoreArgs(s3), LitestreamCommand.replicateArgs(s3)]) {
      const command = LitestreamCommand.make(s3, args) as Command.StandardCommand
      for (const a of command.args) {
        expect(a).not.toContain(SECRET)
        expect(a).not.toContain(KEY_ID)
      }
    }
  })
})

describe("LitestreamCommand.configFile", () => {
  it("quotes the db path and URL, intervals in ms, JSON logs on stderr, no secret", () => {
    const yml = LitestreamCommand.configFile(s3, {
      monitorInterval: Duration.millis(100),
      syncInterval: "250 millis",
      logLevel: "debug"
    })
    const lines = yml.split("\n")
    expect(lines).toContain("logging:")
    expect(lines).toContain("  type: json")
    expect(lines).toContain("  stderr: true")
    expect(lines).toContain("  level: debug")
    expect(lines).toContain("dbs:")
    expect(lines).toContain(`  - path: "/srv/app/app.db"`)
    expect(lines).toContain("    monitor-interval: 100ms")
    expect(lines).toContain("    replicas:")
    expect(lines).toContain(`      - url: "s3://backups.localhost:39531/db"`)
    expect(lines).toContain("        sync-interval: 250ms")
    expect(yml.endsWith("\n")).toBe(true)
    expect(yml).not.toContain(SECRET)
    expect(yml).not.toContain(KEY_ID)
    expect(yml).not.toMatch(/access-key-id|secret-access-key/)
  })

  it("defaults: info level, litestream's 1s intervals", () => {
    const yml = LitestreamCommand.configFile(file)
    expect(yml).toContain("  level: info")
    expect(yml).toContain("    monitor-interval: 1000ms")
    expect(yml).toContain("        sync-interval: 1000ms")
  })

  it("rounds intervals to whole milliseconds, at least 1ms", () => {
    const yml = LitestreamCommand.configFile(file, { monitorInterval: Duration.micros(10n), syncInterval: "1.6 millis" })
    expect(yml).toContain("monitor-interval: 1ms")
    expect(yml).toContain("sync-interval: 2ms")
  })

  it("a path with YAML's special characters stays one double-quoted scalar", () => {
    const odd = resolve({ replicaUrl: "file:///var/backups/db", folder: "/tmp/a: b #c \"d\"", db: "x.db" })
    const yml = LitestreamCommand.configFile(odd)
    const line = yml.split("\n").find((l) => l.startsWith("  - path: "))!
    const scalar = line.slice("  - path: ".length)
    expect(scalar.startsWith("\"") && scalar.endsWith("\"")).toBe(true)
    expect(JSON.parse(scalar)).toBe("/tmp/a: b #c \"d\"/x.db")
  })
})

describe("LitestreamCommand.masker", () => {
  it("replaces the secret and the key id", () => {
    const mask = LitestreamCommand.masker(s3)
    expect(mask(`ERROR failed error="bad key ${KEY_ID} with ${SECRET}, again ${SECRET}"`)).toBe(
      `ERROR failed error="bad key <redacted> with <redacted>, again <redacted>"`
    )
    expect(mask("nothing to hide")).toBe("nothing to hide")
  })

  it("also masks the escaped forms litestream may print (JSON / Go quoting, URL encoding)", () => {
    const tricky = resolve({
      replicaUrl: "s3://my-bucket/db",
      accessKeyId: "AKIAUNITTESTKEY0003",
      secretAccessKey: `se"cr\\et<&>/+`,
      folder: "/srv/app"
    })
    const mask = LitestreamCommand.masker(tricky)
    const secret = `se"cr\\et<&>/+`
    const json = JSON.stringify({ error: `bad ${secret}` })
    expect(mask(json)).toBe(`{"error":"bad <redacted>"}`)
    const goJson = json.replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026")
    expect(mask(goJson)).toBe(`{"error":"bad <redacted>"}`)
    expect(mask(`GET /x?k=${encodeURIComponent(secret)}`)).toBe("GET /x?k=<redacted>")
  })

  it("is the identity without credentials", () => {
    const mask = LitestreamCommand.masker(file)
    expect(mask(`a line with ${SECRET}`)).toBe(`a line with ${SECRET}`)
  })
})
