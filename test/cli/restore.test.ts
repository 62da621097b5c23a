/**
 * `effect-litestream restore` through the built CLI beside another database's stale `-wal`
 * (file:// replica, the real litestream): refused with exit 1 and the fix; `--move-aside-sidecars`
 * renames it aside and restores.
 */
import * as fs from "node:fs"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Sqlite from "../support/Sqlite.js"
import { firstOpen, leaveStale } from "../support/StaleFiles.js"
import { ensureBuilt, jsonLines, run, tempDir } from "./support.js"

let dir = ""

beforeAll(async () => {
  await ensureBuilt()
  dir = await tempDir()
}, 180_000)

afterAll(async () => {
  await fs.promises.rm(dir, { recursive: true, force: true })
})

describe("restore beside a stale -wal", () => {
  it("exit 1 with StaleSidecarFiles, nothing published, the -wal untouched; --move-aside-sidecars restores and moves it aside", async () => {
    const replica = `file://${NodePath.join(dir, "replica")}`
    const source = NodePath.join(dir, "source")
    const data = NodePath.join(dir, "data")
    await fs.promises.mkdir(source)
    await fs.promises.mkdir(data)
    const env = (folder: string) => ({ REPLICA_URL: replica, DB_FOLDER: folder })

    // Database B, backed up; database A's WAL left where B is to be restored.
    const b = Sqlite.createDatabase(NodePath.join(source, "db.sqlite"), 100)
    const backup = await run(["backup"], { cwd: dir, env: env(source) })
    expect(backup.stderr).toBe("")
    expect(backup.code).toBe(0)
    const db = NodePath.join(data, "db.sqlite")
    const stale = leaveStale(db, "-wal")

    const refused = await run(["restore"], { cwd: dir, env: env(data) })
    expect(refused.code).toBe(1)
    expect(refused.stdout).toBe(`restore: restoring from ${replica}\n`)
    expect(refused.stderr).toBe(
      `error: Cannot restore ${db}: ${db}-wal exists beside it, most likely left by an earlier database at that path (a crash, or deleting only its main file). SQLite would apply it to the restored database on its first open and silently turn it into that earlier database. No database was published and the file was left untouched. Fix: if it belongs to no database, remove or move it away, or pass --move-aside-sidecars to rename it aside (never deleted) and restore.\n`
    )
    expect(await fs.promises.readdir(data)).toEqual(["db.sqlite-wal"])
    expect(await fs.promises.readFile(`${db}-wal`)).toEqual(stale)

    const json = await run(["restore", "--json", "--if-db-not-exists"], { cwd: dir, env: env(data) })
    expect(json.code).toBe(1)
    expect(jsonLines(json.stdout).at(-1)).toMatchObject({
      type: "error",
      command: "restore",
      ok: false,
      error: "StaleSidecarFiles",
      exitCode: 1,
      path: db,
      files: [`${db}-wal`]
    })
    expect(await fs.promises.readdir(data)).toEqual(["db.sqlite-wal"])

    const restored = await run(["restore", "--move-aside-sidecars", "--json"], { cwd: dir, env: env(data) })
    expect(restored.stderr).toBe("")
    expect(restored.code).toBe(0)
    const result = jsonLines(restored.stdout).at(-1)!
    expect(result).toMatchObject({ type: "result", ok: true, outcome: "Restored", path: db })
    const movedAside = result.movedAside as Array<{ from: string; to: string }>
    expect(movedAside).toHaveLength(1)
    expect(movedAside[0]!.from).toBe(`${db}-wal`)
    expect(movedAside[0]!.to).toMatch(/\/data\/db\.sqlite-wal\.stale-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z$/)
    expect(await fs.promises.readFile(movedAside[0]!.to)).toEqual(stale)
    expect((await fs.promises.readdir(data)).sort()).toEqual(["db.sqlite", NodePath.basename(movedAside[0]!.to)].sort())
    const seen = firstOpen(db)
    expect(seen.tables).toEqual(["items"])
    expect(seen.rows).toEqual(b)
    expect(seen.integrity).toBe("ok")

    // The human form says what was moved.
    await fs.promises.rm(db)
    await fs.promises.writeFile(`${db}-wal`, stale)
    const human = await run(["restore", "--move-aside-sidecars"], { cwd: dir, env: env(data) })
    expect(human.code).toBe(0)
    expect(human.stdout).toMatch(
      new RegExp(`^restore: moved the stale ${db}-wal aside to ${db}-wal\\.stale-\\S+$\\nrestore: restored ${db} in `, "m")
    )
  })
})
