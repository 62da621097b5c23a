/**
 * The built CLI driving the real litestream 0.5.17 through LITESTREAM_BIN (file://): `backup`
 * reports the TXID it uploaded, `restore --txid` brings back that state, a v0.3 option is exit 1
 * with `NotOnThisLine`, a malformed TXID exit 2.
 */
import * as fs from "node:fs"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { litestreamV5 } from "../support/Peers.js"
import * as Sqlite from "../support/Sqlite.js"
import { ensureBuilt, jsonLines, run, tempDir } from "./support.js"

const peer = litestreamV5()
if (!peer.available) console.log(`[cli litestream-v5] skipped: litestream 0.5.17 is not installed: ${peer.reason}`)

let dir = ""
beforeAll(async () => {
  await ensureBuilt()
  dir = await tempDir()
}, 180_000)
afterAll(async () => {
  await fs.promises.rm(dir, { recursive: true, force: true })
})

describe.skipIf(!peer.available)("the CLI with LITESTREAM_BIN = litestream 0.5.17", () => {
  it("backup, more rows, backup; restore --txid of the first: its rows; --generation: NotOnThisLine; --txid zz: exit 2", async () => {
    const db = NodePath.join(dir, "db.sqlite")
    const first = Sqlite.createDatabase(db, 30)
    const env = {
      REPLICA_URL: `file://${NodePath.join(dir, "replica")}`,
      DB_FOLDER: dir,
      LITESTREAM_BIN: peer.available ? peer.path : ""
    }
    const a = await run(["backup", "--json"], { cwd: dir, env })
    expect(a.code, a.stderr).toBe(0)
    const txid = (jsonLines(a.stdout).at(-1) as { txid?: string }).txid
    expect(txid).toMatch(/^[0-9a-f]{16}$/)
    Sqlite.addRows(db, 10)
    const b = await run(["backup", "--json"], { cwd: dir, env })
    expect(b.code, b.stderr).toBe(0)
    const restored = await run(["restore", "--txid", txid!, "-o", NodePath.join(dir, "first.db"), "--json"], { cwd: dir, env })
    expect(restored.code, restored.stderr).toBe(0)
    expect(jsonLines(restored.stdout).at(-1)).toMatchObject({ outcome: "Restored" })
    expect(Sqlite.readRows(NodePath.join(dir, "first.db"))).toEqual(first)
    const refused = await run(["restore", "--generation", "0123456789abcdef", "-o", NodePath.join(dir, "g.db"), "--json"], { cwd: dir, env })
    expect(refused.code).toBe(1)
    expect(jsonLines(refused.stdout).at(-1)).toMatchObject({ error: "NotOnThisLine" })
    const bad = await run(["restore", "--txid", "zz", "-o", NodePath.join(dir, "z.db")], { cwd: dir, env })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/transaction ID in hex/)
    expect(fs.existsSync(NodePath.join(dir, "g.db")) || fs.existsSync(NodePath.join(dir, "z.db"))).toBe(false)
  }, 60_000)
})
