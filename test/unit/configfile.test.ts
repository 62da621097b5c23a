/**
 * The generated litestream.yml (several databases, S3-compatible options), the settings of each
 * database of a multi-database replication (`forDatabase`), and the argv that goes with a config
 * file. The YAML is read back with a strict reader of the subset litestream's config uses.
 */
import { LitestreamCommand, LitestreamConfig } from "@effect-litestream/core"
import * as internalConfigFile from "../../packages/core/src/internal/configFile.js"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"

const KEY_ID = "AKIACONFIGFILEUNIT01"
const SECRET = "configFile/Unit+Secret=01xyz"

type Yaml = string | boolean | number | { readonly [k: string]: Yaml } | ReadonlyArray<Yaml>

/**
 * Reads the YAML subset of a litestream config: block mappings, block sequences of mappings,
 * double-quoted scalars (read as JSON, a subset of YAML's double-quoted style), and plain
 * scalars made of safe characters only. Anything else throws: the file must stay in the subset.
 */
const readYaml = (text: string): Yaml => {
  const lines = text.split("\n").filter((l) => l.trim() !== "").map((l) => {
    if (/\t/.test(l)) throw new Error(`tab in ${JSON.stringify(l)}`)
    return { indent: l.length - l.trimStart().length, text: l.trim() }
  })
  let i = 0
  const scalar = (s: string): Yaml => {
    if (s.startsWith("\"")) return JSON.parse(s) as string
    if (s === "true" || s === "false") return s === "true"
    if (/^\d+$/.test(s)) return Number(s)
    if (!/^[A-Za-z0-9_.\/-]+$/.test(s)) throw new Error(`unsafe plain scalar ${JSON.stringify(s)}`)
    return s
  }
  const block = (indent: number): Yaml => {
    if (lines[i]!.text.startsWith("- ")) {
      const items: Array<Yaml> = []
      while (i < lines.length && lines[i]!.indent === indent && lines[i]!.text.startsWith("- ")) {
        lines[i] = { indent: indent + 2, text: lines[i]!.text.slice(2) }
        items.push(block(indent + 2))
      }
      return items
    }
    const out: Record<string, Yaml> = {}
    while (i < lines.length && lines[i]!.indent === indent && !lines[i]!.text.startsWith("- ")) {
      const m = /^([A-Za-z0-9_-]+):(?: (.+))?$/.exec(lines[i]!.text)
      if (!m) throw new Error(`not a mapping entry: ${JSON.stringify(lines[i]!.text)}`)
      if (m[1]! in out) throw new Error(`duplicate key ${m[1]}`)
      i++
      if (m[2] !== undefined) {
        out[m[1]!] = scalar(m[2])
      } else {
        if (i >= lines.length || lines[i]!.indent <= indent) throw new Error(`empty value for ${m[1]}`)
        out[m[1]!] = block(lines[i]!.indent)
      }
    }
    return out
  }
  const doc = block(0)
  if (i !== lines.length) throw new Error(`unread line ${JSON.stringify(lines[i])}`)
  return doc
}

const resolve = (input: LitestreamConfig.Input) =>
  LitestreamConfig.make(input).pipe(Effect.provide(NodeContext.layer), Effect.runSync)

const s3 = (extra: Partial<LitestreamConfig.Input> = {}) =>
  resolve({
    replicaUrl: "s3://backups/apps/prod",
    accessKeyId: KEY_ID,
    secretAccessKey: SECRET,
    folder: "/srv/data",
    db: "app.db",
    endpoint: "https://account.r2.cloudflarestorage.com",
    region: "auto",
    forcePathStyle: true,
    ...extra
  })

const forDatabase = (config: LitestreamConfig.Resolved, name: string) => Either.getOrThrow(LitestreamConfig.forDatabase(config, name))

describe("LitestreamCommand.configFile: several databases, S3-compatible options", () => {
  it("one entry per database, each with its own replica prefix and the store's endpoint, region and path style", () => {
    const base = s3()
    const configs = [base, forDatabase(base, "users.db"), forDatabase(base, "events.sqlite")]
    const text = LitestreamCommand.configFile(configs, {
      monitorInterval: "250 millis",
      syncInterval: "2 seconds",
      logLevel: "debug"
    })
    const replica = (url: string) => ({
      url,
      "sync-interval": "2000ms",
      endpoint: "https://account.r2.cloudflarestorage.com",
      region: "auto",
      "force-path-style": true
    })
    expect(readYaml(text)).toEqual({
      logging: { type: "json", stderr: true, level: "debug" },
      dbs: [
        { path: "/srv/data/app.db", "monitor-interval": "250ms", replicas: [replica("s3://backups/apps/prod")] },
        { path: "/srv/data/users.db", "monitor-interval": "250ms", replicas: [replica("s3://backups/apps/prod/users.db")] },
        { path: "/srv/data/events.sqlite", "monitor-interval": "250ms", replicas: [replica("s3://backups/apps/prod/events.sqlite")] }
      ]
    })
  })

  it("never holds a credential, whatever the settings", () => {
    for (const config of [s3(), s3({ forcePathStyle: false }), s3({ endpoint: undefined, region: "eu-west-1" })]) {
      const text = LitestreamCommand.configFile([config, forDatabase(config, "b.db")], { exec: "node server.js" })
      expect(text).not.toContain(SECRET)
      expect(text).not.toContain(KEY_ID)
      expect(text).not.toMatch(/access-key|secret/i)
    }
  })

  it("only the S3 options that are set; none for a file replica", () => {
    const regionOnly = readYaml(LitestreamCommand.configFile(s3({ endpoint: undefined, forcePathStyle: undefined, region: "eu-west-1" })))
    expect(regionOnly).toMatchObject({ dbs: [{ replicas: [{ url: "s3://backups/apps/prod", region: "eu-west-1" }] }] })
    const replicaOf = (y: Yaml) => ((y as { dbs: Array<{ replicas: Array<Record<string, Yaml>> }> }).dbs[0]!.replicas[0]!)
    expect(Object.keys(replicaOf(regionOnly)).sort()).toEqual(["region", "sync-interval", "url"])
    const pathStyleOff = replicaOf(readYaml(LitestreamCommand.configFile(s3({ forcePathStyle: false }))))
    expect(pathStyleOff["force-path-style"]).toBe(false)
    const file = resolve({ replicaUrl: "file:///var/backups/app", folder: "/srv/data" })
    expect(Object.keys(replicaOf(readYaml(LitestreamCommand.configFile(file)))).sort()).toEqual(["sync-interval", "url"])
  })

  it("paths and URLs with YAML's special characters stay one quoted scalar each, read back exactly", () => {
    const folders = [
      "/srv/my data",
      "/srv/a: b",
      "/srv/#not a comment",
      "/srv/\"quoted\" and 'single'",
      "/srv/ünïcödé/数据",
      "/srv/- dash",
      "/srv/{braces}[brackets],&*!|>%@`"
    ]
    for (const folder of folders) {
      const config = s3({ folder, replicaUrl: "s3://backups/a%20b/x" })
      const configs = [config, forDatabase(config, "b.db")]
      const doc = readYaml(LitestreamCommand.configFile(configs, { exec: "sh -c 'echo \"hi\": #1'" })) as {
        exec: string
        dbs: Array<{ path: string; replicas: Array<{ url: string }> }>
      }
      expect(doc.dbs.map((d) => d.path)).toEqual(configs.map((c) => c.dbPath))
      expect(doc.dbs.map((d) => d.replicas[0]!.url)).toEqual(["s3://backups/a%20b/x", "s3://backups/a%20b/x/b.db"])
      expect(doc.exec).toBe("sh -c 'echo \"hi\": #1'")
    }
  })

  it.scoped("written to a temporary folder owned by the scope, removed when it closes", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const config = s3()
      const file = yield* internalConfigFile.scoped([config, forDatabase(config, "b.db")], {}).pipe(
        Scope.extend(scope),
        Effect.provide(NodeContext.layer)
      )
      expect(fs.readFileSync(file, "utf8")).toBe(LitestreamCommand.configFile([config, forDatabase(config, "b.db")]))
      yield* Scope.close(scope, Exit.void)
      expect(fs.existsSync(file)).toBe(false)
    }))
})

describe("LitestreamCommand.configFile: litestream v0.5's layout", () => {
  it("one replica: per database, shutdown-sync-timeout and l0-retention at the top; v0.3 gets neither", () => {
    const base = s3()
    const configs = [base, forDatabase(base, "users.db")]
    const options = { monitorInterval: "100 millis", syncInterval: "100 millis", logLevel: "debug", shutdownSyncTimeout: "9500 millis", l0Retention: "2 minutes" } as const
    const replica = (url: string) => ({
      url,
      "sync-interval": "100ms",
      endpoint: "https://account.r2.cloudflarestorage.com",
      region: "auto",
      "force-path-style": true
    })
    expect(readYaml(LitestreamCommand.configFile(configs, { ...options, line: "v0.5" }))).toEqual({
      logging: { type: "json", stderr: true, level: "debug" },
      "shutdown-sync-timeout": "9500ms",
      "l0-retention": "120000ms",
      dbs: [
        { path: "/srv/data/app.db", "monitor-interval": "100ms", replica: replica("s3://backups/apps/prod") },
        { path: "/srv/data/users.db", "monitor-interval": "100ms", replica: replica("s3://backups/apps/prod/users.db") }
      ]
    })
    expect(readYaml(LitestreamCommand.configFile(configs, options))).toEqual({
      logging: { type: "json", stderr: true, level: "debug" },
      dbs: [
        { path: "/srv/data/app.db", "monitor-interval": "100ms", replicas: [replica("s3://backups/apps/prod")] },
        { path: "/srv/data/users.db", "monitor-interval": "100ms", replicas: [replica("s3://backups/apps/prod/users.db")] }
      ]
    })
  })
})

describe("LitestreamConfig.forDatabase", () => {
  it("the database in the same folder, replicated under REPLICA_URL/<name>, every other setting kept", () => {
    const base = s3({ replicaUrl: "s3://backups/apps/prod/" })
    const b = forDatabase(base, "b.db")
    expect(b.db).toBe("b.db")
    expect(b.dbPath).toBe("/srv/data/b.db")
    expect(b.folder).toBe(base.folder)
    expect(b.replica).toMatchObject({ _tag: "S3", url: "s3://backups/apps/prod/b.db", bucket: "backups", path: "apps/prod/b.db" })
    expect(b.s3).toEqual(base.s3)
    expect(b.credentials).toBe(base.credentials)
    expect(b.binary).toBe(base.binary)
    const local = forDatabase(resolve({ replicaUrl: "s3://backups.localhost:9000/x", accessKeyId: KEY_ID, secretAccessKey: SECRET, folder: "/d" }), "c.sqlite")
    expect(local.replica).toMatchObject({ url: "s3://backups.localhost:9000/x/c.sqlite", endpoint: "http://localhost:9000" })
    const file = forDatabase(resolve({ replicaUrl: "file:///var/backups", folder: "/d" }), "c.db")
    expect(file.replica).toEqual({ _tag: "File", url: "file:///var/backups/c.db", path: "/var/backups/c.db" })
  })

  it("refuses what is not a database file name, naming it, the rule and the fix", () => {
    for (const name of ["../x.db", "a/b.db", "x.txt", "", ".hidden", "a b.db"]) {
      const result = LitestreamConfig.forDatabase(s3(), name)
      expect(Either.isLeft(result), name).toBe(true)
      const error = Either.getLeft(result).pipe((o) => o._tag === "Some" ? o.value : undefined)!
      expect(error._tag).toBe("LitestreamConfigError")
      expect(error.issues[0]!.variable).toBe("database")
      expect(error.issues[0]!.rule).toContain(JSON.stringify(name))
      expect(error.message).toContain("Fix:")
      expect(error.message).not.toContain(SECRET)
    }
  })
})

describe("LitestreamCommand: a config file is needed for S3 options only", () => {
  it("needsConfigFile: endpoint, region or path style set", () => {
    expect(LitestreamCommand.needsConfigFile(s3())).toBe(true)
    expect(LitestreamCommand.needsConfigFile(s3({ endpoint: undefined, region: undefined, forcePathStyle: undefined }))).toBe(false)
    expect(LitestreamCommand.needsConfigFile(s3({ endpoint: undefined, region: "eu-west-1", forcePathStyle: undefined }))).toBe(true)
    expect(LitestreamCommand.needsConfigFile(s3({ endpoint: undefined, region: undefined, forcePathStyle: false }))).toBe(true)
    expect(LitestreamCommand.needsConfigFile(resolve({ replicaUrl: "file:///var/backups" }))).toBe(false)
  })

  it("restoreConfigArgs: restore -config FILE, the options, and the database path instead of the URL", () => {
    const config = s3()
    const args = LitestreamCommand.restoreConfigArgs(config, "/tmp/x/litestream.yml", {
      output: "/tmp/out.db",
      generation: "f2d4511db35ff916",
      index: 26,
      timestamp: new Date("2026-11-25T17:36:01.500Z"),
      ifReplicaExists: true
    })
    expect(args).toEqual([
      "restore",
      "-config",
      "/tmp/x/litestream.yml",
      "-o",
      "/tmp/out.db",
      "-if-replica-exists",
      "-generation",
      "f2d4511db35ff916",
      "-index",
      "0000001a",
      "-timestamp",
      "2026-11-25T17:36:01.500Z",
      "/srv/data/app.db"
    ])
    expect(args.join(" ")).not.toContain("s3://")
  })
})
