/**
 * The main job through the built CLI, against an S3 server on loopback (fauxqs, in this test
 * process): backup --delete-local, then restore; listings; no backups. The credentials reach
 * the CLI only through its environment, and never appear in what it prints.
 */
import * as fs from "node:fs"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type S3ServerHandle, startS3Server } from "../support/S3Server.js"
import * as Sqlite from "../support/Sqlite.js"
import { ACCESS_KEY, ensureBuilt, jsonLines, run, SECRET, tempDir, transcript } from "./support.js"

let s3: S3ServerHandle
let dir = ""

beforeAll(async () => {
  await ensureBuilt()
  s3 = await startS3Server("cli-backups")
  dir = await tempDir()
}, 180_000)

afterAll(async () => {
  await s3?.stop()
  await fs.promises.rm(dir, { recursive: true, force: true })
  expect(transcript.length).toBeGreaterThan(0)
  for (const text of transcript) {
    expect(text).not.toContain(SECRET)
    expect(text).not.toContain(ACCESS_KEY)
  }
})

const env = (path: string, folder: string): Record<string, string> => ({
  REPLICA_URL: s3.url(path),
  DB_FOLDER: folder,
  LITESTREAM_ACCESS_KEY_ID: ACCESS_KEY,
  LITESTREAM_SECRET_ACCESS_KEY: SECRET
})

describe.concurrent("round trip on S3", () => {
  it("backup --verify --delete-local --json, then restore: the same rows, a sound database", async ({ expect }) => {
    const folder = NodePath.join(dir, "app")
    await fs.promises.mkdir(folder)
    const dbPath = NodePath.join(folder, "db.sqlite")
    const rows = Sqlite.createDatabase(dbPath, 500)

    const backup = await run(["backup", "--verify", "--delete-local", "--json"], { cwd: dir, env: env("app/db", folder) })
    expect(backup.stderr).toBe("")
    expect(backup.code).toBe(0)
    const lines = jsonLines(backup.stdout)
    expect(lines.map((l) => l.type)).toEqual(["progress", "result"])
    expect(lines[0]).toMatchObject({ command: "backup", db: dbPath, replica: s3.url("app/db") })
    const result = lines[1]!
    expect(result).toMatchObject({
      command: "backup",
      ok: true,
      outcome: "BackedUp",
      db: dbPath,
      replica: s3.url("app/db"),
      verified: true,
      verification: { _tag: "Verified" }
    })
    expect(result.position).toMatch(/^[0-9a-f]{16}\/[0-9a-f]{8}:\d+$/)
    expect(result.durationMs).toBeGreaterThan(0)
    expect(result.deleted).toEqual([dbPath, `${dbPath}-wal`, `${dbPath}-shm`, NodePath.join(folder, ".db.sqlite-litestream")])
    expect(await fs.promises.readdir(folder)).toEqual([])

    const restore = await run(["restore"], { cwd: dir, env: env("app/db", folder) })
    expect(restore.stderr).toBe("")
    expect(restore.code).toBe(0)
    expect(restore.stdout).toMatch(new RegExp(`^restore: restoring from ${s3.url("app/db").replace(/\./g, "\\.")}\n`))
    expect(restore.stdout).toMatch(/^restore: restored .*db\.sqlite in \d+(\.\d+)? (ms|s)$/m)
    expect(Sqlite.readRows(dbPath)).toEqual(rows)
    expect(Sqlite.integrityCheck(dbPath)).toBe("ok")

    // The human form of a backup: what happens, how long it took.
    const again = await run(["backup"], { cwd: dir, env: env("app/db", folder) })
    expect(again.code).toBe(0)
    expect(again.stdout).toMatch(/^backup: backing up .*db\.sqlite to s3:\/\/.*\nbackup: done in \d+(\.\d+)? (ms|s), replica at [0-9a-f]{16}\/[0-9a-f]{8}:\d+\n$/)

    // What the replica holds, as JSON rows; and a standalone verification.
    const [generations, snapshots, verify] = await Promise.all([
      run(["generations", "--json"], { cwd: dir, env: env("app/db", folder) }),
      run(["snapshots", "--json"], { cwd: dir, env: env("app/db", folder) }),
      run(["verify"], { cwd: dir, env: env("app/db", folder) })
    ])
    expect(verify.stderr).toBe("")
    expect(verify.code).toBe(0)
    expect(verify.stdout).toMatch(/^verify: verified in \d+(\.\d+)? (ms|s): the replica's copy holds the sentinel row/m)
    expect(generations.code).toBe(0)
    const genLines = jsonLines(generations.stdout)
    const genRows = genLines.filter((l) => l.type === "row")
    expect(genRows.length).toBeGreaterThanOrEqual(1)
    for (const row of genRows) {
      expect(row).toMatchObject({ command: "generations", kind: "generation" })
      expect(row.generation).toMatch(/^[0-9a-f]{16}$/)
      expect(Number.isNaN(Date.parse(String(row.start)))).toBe(false)
    }
    expect(genLines.at(-1)).toMatchObject({ type: "result", ok: true, count: genRows.length })
    expect(snapshots.code).toBe(0)
    const snapRows = jsonLines(snapshots.stdout).filter((l) => l.type === "row")
    expect(snapRows.length).toBeGreaterThanOrEqual(1)
    expect(snapRows.map((r) => r.generation)).toContain(String(result.position).split("/")[0])
    for (const row of snapRows) expect(row.size).toBeGreaterThan(0)
  })

  it("restore from a replica with no backups: exit 1 and the message; 0 with --if-replica-exists", async ({ expect }) => {
    const folder = NodePath.join(dir, "empty")
    const failed = await run(["restore"], { cwd: dir, env: env("nothing-here/db", folder) })
    expect(failed.code).toBe(1)
    expect(failed.stderr).toBe(
      `error: No backups found at ${s3.url("nothing-here/db")}. Fix: check REPLICA_URL (or --replica-url), or pass --if-replica-exists to treat an empty replica as success.\n`
    )
    const json = await run(["restore", "--json"], { cwd: dir, env: env("nothing-here/db", folder) })
    expect(json.code).toBe(1)
    expect(jsonLines(json.stdout).at(-1)).toMatchObject({
      type: "error",
      command: "restore",
      ok: false,
      error: "NoBackupsFound",
      replica: s3.url("nothing-here/db"),
      exitCode: 1
    })
    const skipped = await run(["restore", "--if-replica-exists"], { cwd: dir, env: env("nothing-here/db", folder) })
    expect(skipped.code).toBe(0)
    expect(skipped.stdout).toMatch(/^restore: skipped: no backups at .* yet \(--if-replica-exists\)/m)
  })

  it("a missing database: exit 1 and the message", async ({ expect }) => {
    const folder = NodePath.join(dir, "no-db")
    const { code, stderr } = await run(["backup"], { cwd: dir, env: env("no-db/db", folder) })
    expect(code).toBe(1)
    expect(stderr).toMatch(/^error: The database .*no-db\/db\.sqlite does not exist, so there is nothing to back up\. Fix: .*\.\n$/)
  })

  it("a bucket that does not exist: exit 1, a one-line error", async ({ expect }) => {
    const folder = NodePath.join(dir, "nobucket")
    await fs.promises.mkdir(folder)
    Sqlite.createDatabase(NodePath.join(folder, "db.sqlite"), 10)
    const { code, stderr } = await run(["backup", "--timeout", "20s"], {
      cwd: dir,
      env: { ...env("x", folder), REPLICA_URL: s3.urlIn("no-such-bucket", "db") }
    })
    expect(code).toBe(1)
    expect(stderr.split("\n").filter((l) => l !== "")).toHaveLength(1)
    expect(stderr).toMatch(/^error: .*no-such-bucket.*\. Fix: .*\.\n$/)
  })
})
