/**
 * `effect-litestream restore --native` through the built CLI, on file:// and the loopback S3
 * server: a backup made by the CLI (litestream v0.3.13) comes back without litestream, with the
 * same bytes as `restore` through litestream; a corrupt replica is exit 1 with the object named.
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
  s3 = await startS3Server("cli-native")
  dir = await tempDir()
}, 180_000)

afterAll(async () => {
  await s3?.stop()
  await fs.promises.rm(dir, { recursive: true, force: true })
  for (const text of transcript) {
    expect(text).not.toContain(SECRET)
    expect(text).not.toContain(ACCESS_KEY)
  }
})

describe("restore --native", () => {
  for (const backend of ["file", "s3"] as const) {
    it(`${backend}: the rows back without litestream, byte-identical to restore through litestream`, async () => {
      const folder = NodePath.join(dir, backend)
      await fs.promises.mkdir(folder)
      const db = NodePath.join(folder, "db.sqlite")
      const rows = Sqlite.createDatabase(db, 300)
      const base = {
        REPLICA_URL: backend === "file" ? `file://${NodePath.join(folder, "replica")}` : s3.url("native/db"),
        DB_FOLDER: folder,
        LITESTREAM_ACCESS_KEY_ID: ACCESS_KEY,
        LITESTREAM_SECRET_ACCESS_KEY: SECRET
      }
      // no litestream to be found: the native restore must not need one
      const env = { ...base, LITESTREAM_BIN: NodePath.join(folder, "no-litestream-here") }
      const backup = await run(["backup", "--json"], { cwd: folder, env: base })
      expect(backup.code, backup.stderr).toBe(0)
      const native = await run(["restore", "--native", "--json", "-o", NodePath.join(folder, "native.db")], { cwd: folder, env })
      expect(native.code, native.stderr).toBe(0)
      expect(jsonLines(native.stdout).at(-1)).toMatchObject({ type: "result", ok: true, outcome: "Restored" })
      const oracle = await run(["restore", "--json", "-o", NodePath.join(folder, "oracle.db")], { cwd: folder, env: base })
      expect(oracle.code, oracle.stderr).toBe(0)
      expect(fs.readFileSync(NodePath.join(folder, "native.db")).equals(fs.readFileSync(NodePath.join(folder, "oracle.db")))).toBe(true)
      expect(Sqlite.readRows(NodePath.join(folder, "native.db"))).toEqual(rows)
      // the listings --native: the rows litestream lists, without litestream (times: litestream prints seconds)
      for (const kind of ["generations", "snapshots", "wal"]) {
        const theirs = await run([kind, "--json"], { cwd: folder, env: base })
        const ours = await run([kind, "--native", "--json"], { cwd: folder, env })
        expect(theirs.code, theirs.stderr).toBe(0)
        expect(ours.code, ours.stderr).toBe(0)
        const rows = (out: string) =>
          jsonLines(out).filter((l) => l.type === "row").map((l) => {
            const { created, end, lag: _lag, start, ...rest } = l as Record<string, unknown>
            const second = (t: unknown) => (t === undefined ? undefined : Math.floor(new Date(t as string).getTime() / 1000))
            return { ...rest, created: second(created), start: second(start), end: second(end) }
          })
        expect(rows(ours.stdout).length, kind).toBeGreaterThan(0)
        expect(rows(ours.stdout), kind).toEqual(rows(theirs.stdout))
      }
      // through litestream, the missing binary is the error: the native restore did not use it
      const withoutBinary = await run(["restore", "--json", "-o", NodePath.join(folder, "none.db")], { cwd: folder, env })
      expect(withoutBinary.code).toBe(1)
      expect(jsonLines(withoutBinary.stdout).at(-1)).toMatchObject({ error: "BinaryNotFound" })
    }, 60_000)
  }

  it("a truncated snapshot: exit 1, ReplicaCorrupt naming it, nothing published", async () => {
    const folder = NodePath.join(dir, "corrupt")
    await fs.promises.mkdir(folder)
    Sqlite.createDatabase(NodePath.join(folder, "db.sqlite"), 300)
    const replica = NodePath.join(folder, "replica")
    const env = { REPLICA_URL: `file://${replica}`, DB_FOLDER: folder, LITESTREAM_ACCESS_KEY_ID: ACCESS_KEY, LITESTREAM_SECRET_ACCESS_KEY: SECRET }
    const backup = await run(["backup"], { cwd: folder, env })
    expect(backup.code, backup.stderr + backup.stdout).toBe(0)
    const generations = fs.readdirSync(NodePath.join(replica, "generations"))
    const snapshots = NodePath.join(replica, "generations", generations[0]!, "snapshots")
    const snapshot = NodePath.join(snapshots, fs.readdirSync(snapshots)[0]!)
    const bytes = fs.readFileSync(snapshot)
    fs.writeFileSync(snapshot, bytes.subarray(0, Math.floor(bytes.length / 2)))
    const out = NodePath.join(folder, "out")
    const restore = await run(["restore", "--native", "--json", "-o", NodePath.join(out, "db.sqlite")], { cwd: folder, env })
    expect(restore.code).toBe(1)
    const error = jsonLines(restore.stdout).at(-1)!
    expect(error).toMatchObject({ type: "error", error: "ReplicaCorrupt" })
    expect(String(error.message)).toContain(`generations/${generations[0]}/snapshots/`)
    expect(String(error.message)).toContain("Truncated")
    expect(fs.readdirSync(out)).toEqual([])
  }, 60_000)
})
