/**
 * One litestream per database, through the built CLI: beside a running `replicate`, a second
 * `replicate` and `backup` are refused (exit 1, the holder's pid, why, what to do instead),
 * with nothing started; with a writer committing every few ms, a restore afterwards holds every
 * committed row.
 */
import * as fs from "node:fs"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Sqlite from "../support/Sqlite.js"
import { childrenOf, ensureBuilt, jsonLines, run, start, tempDir } from "./support.js"

let dir = ""

beforeAll(async () => {
  await ensureBuilt()
  dir = await tempDir()
}, 180_000)

afterAll(async () => {
  await fs.promises.rm(dir, { recursive: true, force: true })
})

const fileEnv = (folder: string): Record<string, string> => ({
  REPLICA_URL: `file://${NodePath.join(folder, "replica")}`,
  DB_FOLDER: folder
})

const setup = async (name: string, rows = 20) => {
  const folder = NodePath.join(dir, name)
  await fs.promises.mkdir(folder)
  const db = NodePath.join(folder, "db.sqlite")
  const written = Sqlite.createDatabase(db, rows)
  return { folder, db, lock: NodePath.join(folder, ".db.sqlite-effect-litestream.lock"), written }
}

describe("one litestream per database (CLI)", () => {
  it("replicate beside a running replicate: exit 1, the holder's pid and the reason; --json; the first goes on", async () => {
    const { folder, lock } = await setup("twice")
    const first = start(["replicate", "--json"], { cwd: folder, env: fileEnv(folder) })
    const ready = JSON.parse(await first.line((l) => l.includes("\"pid\":"))) as { pid: number }
    expect(JSON.parse(fs.readFileSync(lock, "utf8")).pid).toBe(first.child.pid)

    const second = await run(["replicate"], { cwd: folder, env: fileEnv(folder) })
    expect(second.code).toBe(1)
    const lines = second.stderr.split("\n").filter((l) => l !== "")
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain(`process ${first.child.pid} on `)
    expect(lines[0]).toContain("Litestream must run once per database: two litestream processes on one database corrupt each other's shadow WAL")
    expect(lines[0]).toContain(`Fix: let the running replication do the backing up`)
    expect(lines[0]).toContain(`SIGTERM to pid ${first.child.pid}`)

    const json = await run(["replicate", "--json"], { cwd: folder, env: fileEnv(folder) })
    expect(json.code).toBe(1)
    const error = jsonLines(json.stdout).find((l) => l.type === "error")
    expect(error).toMatchObject({
      type: "error",
      command: "replicate",
      ok: false,
      error: "AlreadyReplicating",
      exitCode: 1,
      pid: first.child.pid,
      holder: "ThisHost",
      lockFile: lock,
      path: NodePath.join(folder, "db.sqlite")
    })
    expect(String(error!.fix)).toContain("stop it first")

    // the first one still runs its single litestream
    expect(await childrenOf(first.child.pid!)).toEqual([ready.pid])
    first.child.kill("SIGTERM")
    expect((await first.exit).code).toBe(0)
    expect(fs.existsSync(lock)).toBe(false)
  }, 60_000)

  it("backup beside a running replicate, three times, with a writer committing every 5 ms: refused each time; every committed row restored", async () => {
    const { db, folder, lock, written } = await setup("backups", 10)
    const replicate = start(["replicate", "--json"], { cwd: folder, env: fileEnv(folder) })
    await replicate.line((l) => l.includes("\"pid\":"))

    const app = Sqlite.open(db)
    let next = 11
    const writer = setInterval(() => {
      const rows = Sqlite.rows(1, next++)
      Sqlite.insertRows(app, rows)
      written.push(...rows)
    }, 5)
    try {
      for (let i = 0; i < 3; i++) {
        const backup = await run(["backup", "--timeout", "20s"], { cwd: folder, env: fileEnv(folder) })
        expect(backup.code, backup.stderr).toBe(1)
        expect(backup.stderr).toContain(`process ${replicate.child.pid} on `)
        expect(backup.stderr).toContain("Litestream must run once per database")
        expect(fs.existsSync(db)).toBe(true)
      }
    } finally {
      clearInterval(writer)
      app.close()
    }
    replicate.child.kill("SIGTERM")
    expect((await replicate.exit).code).toBe(0)
    expect(fs.existsSync(lock)).toBe(false)

    for (const f of [db, `${db}-wal`, `${db}-shm`, NodePath.join(folder, ".db.sqlite-litestream")]) {
      await fs.promises.rm(f, { recursive: true, force: true })
    }
    const restored = await run(["restore"], { cwd: folder, env: fileEnv(folder) })
    expect(restored.code, restored.stderr).toBe(0)
    expect(written.length).toBeGreaterThan(50)
    expect(Sqlite.readRows(db)).toEqual(written)
    expect(Sqlite.integrityCheck(db)).toBe("ok")
  }, 90_000)
})
