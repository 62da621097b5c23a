/**
 * Bad usage and bad settings exit 2 with a one-line message and its fix; settings come from the
 * flags, then the environment, then the env file; options work in any order, @effect/cli's own
 * (`--log-level`, `--help`, `--version`) after a command's flags too. Runs the built CLI.
 */
import * as fs from "node:fs"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ensureBuilt, jsonLines, run, SECRET, tempDir, transcript } from "./support.js"

let dir = ""

beforeAll(async () => {
  await ensureBuilt()
  dir = await tempDir()
}, 180_000)

afterAll(async () => {
  await fs.promises.rm(dir, { recursive: true, force: true })
  // The secret given in the environment of the children never shows up in what they printed.
  for (const text of transcript) expect(text).not.toContain(SECRET)
})

const errorLines = (stderr: string) => stderr.split("\n").filter((l) => l !== "")

describe.concurrent("bad settings: exit 2, one line per problem with its fix, no stack trace", () => {
  it("REPLICA_URL missing; with --json, also as one JSON object on stdout", async ({ expect }) => {
    const [human, json] = await Promise.all([run(["restore"], { cwd: dir }), run(["restore", "--json"], { cwd: dir })])
    const line =
      "error: REPLICA_URL is required. Fix: set REPLICA_URL, as in s3://my-bucket/db or file:///var/backups/db (or pass --replica-url)."
    expect(human.code).toBe(2)
    expect(human.stdout).toBe("")
    expect(errorLines(human.stderr)).toEqual([line])
    expect(json.code).toBe(2)
    const lines = jsonLines(json.stdout)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({
      type: "error",
      command: "restore",
      ok: false,
      error: "LitestreamConfigError",
      exitCode: 2,
      issues: [{ variable: "REPLICA_URL", flag: "--replica-url", rule: "is required" }]
    })
    expect(errorLines(json.stderr)).toEqual([line])
  })

  it("an s3:// replica without its secret names the variable to set", async ({ expect }) => {
    const { code, stderr } = await run(["backup"], {
      cwd: dir,
      env: { REPLICA_URL: "s3://my-bucket.localhost:9/db", LITESTREAM_ACCESS_KEY_ID: "AKIA-ONLY-THE-ID" }
    })
    expect(code).toBe(2)
    expect(errorLines(stderr)).toEqual([
      "error: LITESTREAM_SECRET_ACCESS_KEY is required for an s3:// replica. Fix: set LITESTREAM_SECRET_ACCESS_KEY to the secret of the bucket's credentials."
    ])
  })

  it("several problems: one line each, every one with its fix", async ({ expect }) => {
    const { code, stdout, stderr } = await run(["restore", "--db", "../evil", "--region", "Not A Region"], {
      cwd: dir,
      env: { REPLICA_URL: "ftp://example.com/db" }
    })
    expect(code).toBe(2)
    expect(stdout).toBe("")
    expect(stderr).not.toMatch(/\n\s+at /)
    const lines = errorLines(stderr)
    expect(lines).toHaveLength(3)
    for (const line of lines) expect(line).toMatch(/^error: \S+.*\. Fix: .+\.$/)
    expect(lines.find((l) => l.startsWith("error: REPLICA_URL"))).toMatch(
      /^error: REPLICA_URL: "ftp:\/\/" is not a replica scheme litestream knows .*\. Fix: write it as s3:\/\/.*\(or pass --replica-url\)\.$/
    )
    expect(lines.some((l) => l.startsWith("error: DB_SQLITE") && l.endsWith("(or pass --db)."))).toBe(true)
    expect(lines.some((l) => l.startsWith("error: REPLICA_REGION") && l.endsWith("(or pass --region)."))).toBe(true)
  })
})

describe.concurrent("bad usage: exit 2", () => {
  it("an unknown flag; with --json, also as one JSON object on stdout", async ({ expect }) => {
    const [human, json] = await Promise.all([
      run(["restore", "--bogus"], { cwd: dir }),
      run(["backup", "--json", "--bogus"], { cwd: dir })
    ])
    expect(human.code).toBe(2)
    expect(human.stdout).toBe("")
    expect(errorLines(human.stderr)).toEqual([
      "error: Received unknown argument: '--bogus'. Fix: see effect-litestream restore --help."
    ])
    expect(json.code).toBe(2)
    expect(jsonLines(json.stdout)).toEqual([
      expect.objectContaining({
        type: "error",
        command: "backup",
        ok: false,
        error: "UsageError",
        message: "Received unknown argument: '--bogus'. Fix: see effect-litestream backup --help.",
        exitCode: 2
      })
    ])
  })

  it("no command", async ({ expect }) => {
    const { code, stdout, stderr } = await run([], { cwd: dir })
    expect(code).toBe(2)
    expect(stdout).toBe("")
    expect(stderr).toMatch(/^error: missing command\. Fix: .*restore, backup, replicate.*\.\n$/)
  })

  it("an invalid duration", async ({ expect }) => {
    const { code, stderr } = await run(["backup", "--timeout", "soon"], { cwd: dir })
    expect(code).toBe(2)
    expect(errorLines(stderr)).toEqual([
      "error: --timeout: \"soon\" is not a duration. Fix: write it as 30s, 2m, 500ms, 1h or a number of seconds."
    ])
  })

  it("a secret is never taken as a flag, and never echoed", async ({ expect }) => {
    const cases = [["--secret-access-key", SECRET], [`--access-key-id=AKIA-X`]]
    const results = await Promise.all(
      cases.map((args) => run(["backup", ...args], { cwd: dir, env: { REPLICA_URL: "file:///tmp/x" } }))
    )
    results.forEach(({ code, stderr, stdout }, i) => {
      expect(code, cases[i]![0]).toBe(2)
      expect(stdout).toBe("")
      expect(errorLines(stderr)).toHaveLength(1)
      expect(stderr).toMatch(
        /is not accepted: secrets are never taken as flags.*Fix: set LITESTREAM_ACCESS_KEY_ID and LITESTREAM_SECRET_ACCESS_KEY in the environment or in the env file/
      )
      expect(stderr).not.toContain(SECRET)
    })
  })
})

describe.concurrent("settings: flags, then the environment, then the env file", () => {
  // restore --if-replica-exists on an empty file:// replica: exit 0, and the JSON result names
  // the replica it used and the path it would have written.
  const replicaOf = async (cwd: string, args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
    const { code, stdout, stderr } = await run(["restore", "--if-replica-exists", "--json", ...args], { cwd, env })
    expect(stderr).toBe("")
    expect(code).toBe(0)
    const result = jsonLines(stdout).find((l) => l.type === "result")!
    expect(result).toMatchObject({ command: "restore", ok: true, outcome: "Skipped", reason: "NoBackups" })
    return { replica: result.replica, path: result.path }
  }
  const url = (name: string) => `file://${NodePath.join(dir, name)}`

  it("the default ./.env, the environment over it, a flag over both", async ({ expect }) => {
    // Its own folder: no other test may see this ./.env.
    const cwd = NodePath.join(dir, "precedence")
    await fs.promises.mkdir(cwd)
    await fs.promises.writeFile(
      NodePath.join(cwd, ".env"),
      `REPLICA_URL=${url("from-dotenv")}\nDB_FOLDER=${NodePath.join(dir, "dotenv-data")}\nDB_SQLITE=dotenv.db\n`
    )
    const [dotenv, env, flag] = await Promise.all([
      replicaOf(cwd, []),
      replicaOf(cwd, [], { REPLICA_URL: url("from-env"), DB_SQLITE: "env.db" }),
      replicaOf(cwd, ["--replica-url", url("from-flag"), "--db", "flag.db"], { REPLICA_URL: url("from-env") })
    ])
    expect(dotenv).toEqual({ replica: url("from-dotenv"), path: NodePath.join(dir, "dotenv-data", "dotenv.db") })
    expect(env).toEqual({ replica: url("from-env"), path: NodePath.join(dir, "dotenv-data", "env.db") })
    expect(flag).toEqual({ replica: url("from-flag"), path: NodePath.join(dir, "dotenv-data", "flag.db") })
  })

  it("--dotenv PATH instead of ./.env", async ({ expect }) => {
    const file = NodePath.join(dir, "backup.env")
    await fs.promises.writeFile(file, `REPLICA_URL=${url("from-file")}\nDB_FOLDER=${NodePath.join(dir, "file-data")}\n`)
    expect(await replicaOf(dir, ["--dotenv", file])).toEqual({
      replica: url("from-file"),
      path: NodePath.join(dir, "file-data", "db.sqlite")
    })
    expect(await replicaOf(dir, [`--dotenv=${file}`])).toEqual({
      replica: url("from-file"),
      path: NodePath.join(dir, "file-data", "db.sqlite")
    })
  })

  it("a missing --dotenv file: exit 2 with the fix, before anything runs", async ({ expect }) => {
    const missing = NodePath.join(dir, "missing.env")
    const { code, stdout, stderr } = await run(["restore", "--dotenv", missing], { cwd: dir })
    expect(code).toBe(2)
    expect(stdout).toBe("")
    expect(errorLines(stderr)).toHaveLength(1)
    expect(stderr).toMatch(/^error: Cannot read the env file .*missing\.env.*\. Fix: /)
  })
})

/** Each command with its boolean flags, all of them before `--log-level`. */
const COMMANDS: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
  ["restore", ["--json", "--if-replica-exists", "--if-db-not-exists", "--force-path-style"]],
  ["backup", ["--json", "--delete-local", "--verify", "--force-path-style"]],
  ["replicate", ["--json", "--force-path-style"]],
  ["verify", ["--json", "--force-path-style"]],
  ["generations", ["--json", "--force-path-style"]],
  ["snapshots", ["--json", "--force-path-style"]],
  ["wal", ["--json", "--force-path-style"]]
]

describe.concurrent("--log-level after the command's own flags", () => {
  // No REPLICA_URL: once the arguments are parsed, every command stops at its settings, fast.
  it.each(COMMANDS)("%s: taken, the command runs up to its settings", async (command, flags) => {
    const { code, stdout } = await run([command, ...flags, "--log-level", "debug"], { cwd: dir })
    expect(code).toBe(2)
    expect(jsonLines(stdout)).toEqual([
      expect.objectContaining({ type: "error", command, error: "LitestreamConfigError" })
    ])
  })

  it("after a flag with a value, and as --log-level=LEVEL", async ({ expect }) => {
    const runs = await Promise.all([
      run(["restore", "--timeout", "5s", "--json", "--log-level", "debug"], { cwd: dir }),
      run(["restore", "--json", "--log-level=debug"], { cwd: dir })
    ])
    for (const { code, stdout } of runs) {
      expect(code).toBe(2)
      expect(jsonLines(stdout)).toEqual([expect.objectContaining({ type: "error", error: "LitestreamConfigError" })])
    }
  })

  it("restore --json --log-level debug prints litestream's log on stderr, as before --json", async ({ expect }) => {
    const replica = NodePath.join(dir, "empty-replica")
    await fs.promises.mkdir(replica, { recursive: true })
    const env = { REPLICA_URL: `file://${replica}` }
    const [after, before] = await Promise.all([
      run(["restore", "--json", "--log-level", "debug"], { cwd: dir, env }),
      run(["restore", "--log-level", "debug", "--json"], { cwd: dir, env })
    ])
    for (const { code, stdout, stderr } of [after, before]) {
      // An empty replica: litestream ran, said so in its log, and the restore failed with exit 1.
      expect(code).toBe(1)
      expect(jsonLines(stdout).at(-1)).toMatchObject({ type: "error", command: "restore", error: "NoBackupsFound" })
      expect(stderr).toMatch(/level=DEBUG .*no matching backups found.* litestream=restore/)
    }
  })
})

describe.concurrent("--help and --version after the command's own flags", () => {
  it("restore --json --help prints the command's help", async ({ expect }) => {
    const { code, stdout } = await run(["restore", "--json", "--help"], { cwd: dir })
    expect(code).toBe(0)
    expect(stdout).toContain("--if-replica-exists")
    expect(stdout).toMatch(/^\$ effect-litestream restore/m)
  })

  it("backup --verify --version prints the version", async ({ expect }) => {
    const { code, stdout } = await run(["backup", "--verify", "--version"], { cwd: dir })
    expect(code).toBe(0)
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/)
  })
})
