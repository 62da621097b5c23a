/**
 * `replicate` through the built CLI: SIGTERM / SIGINT stop litestream gracefully (its final
 * sync reaches the replica), the program exits 0, and no litestream process is left behind.
 */
import * as fs from "node:fs"
import * as net from "node:net"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type S3ServerHandle, startS3Server } from "../support/S3Server.js"
import * as Sqlite from "../support/Sqlite.js"
import { ACCESS_KEY, childrenOf, ensureBuilt, jsonLines, pidAlive, run, SECRET, start, tempDir, transcript } from "./support.js"

let s3: S3ServerHandle
let dir = ""

beforeAll(async () => {
  await ensureBuilt()
  s3 = await startS3Server("cli-replicate")
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

const s3Env = (path: string, folder: string): Record<string, string> => ({
  REPLICA_URL: s3.url(path),
  DB_FOLDER: folder,
  LITESTREAM_ACCESS_KEY_ID: ACCESS_KEY,
  LITESTREAM_SECRET_ACCESS_KEY: SECRET
})

/** Waits until `check` holds (every 50 ms), at most `ms`; returns whether it does. */
const until = async (check: () => boolean, ms = 15_000) => {
  const deadline = Date.now() + ms
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  return check()
}

const waitGone = async (pid: number, ms = 5_000) => {
  const deadline = Date.now() + ms
  while (pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  return !pidAlive(pid)
}

describe.concurrent("replicate", () => {
  it("SIGTERM: final sync, exit 0, no litestream left; the last rows are on the replica", async ({ expect }) => {
    const folder = NodePath.join(dir, "term")
    await fs.promises.mkdir(folder)
    const dbPath = NodePath.join(folder, "db.sqlite")
    Sqlite.createDatabase(dbPath, 100)

    // The default interval (1 s): rows written just before the signal reach the replica only
    // through litestream's final sync.
    const cli = start(["replicate", "--json"], { cwd: dir, env: s3Env("term/db", folder) })
    const ready = JSON.parse(await cli.line((l) => l.includes("\"pid\":"))) as { pid: number }
    expect(await childrenOf(cli.child.pid!)).toEqual([ready.pid])
    await cli.line((l) => l.includes("\"event\":\"SnapshotWritten\""))

    const all = [...Sqlite.rows(100), ...Sqlite.addRows(dbPath, 50)]
    cli.child.kill("SIGTERM")
    const { code, signal, stdout, stderr } = await cli.exit
    expect(stderr).toBe("")
    expect(signal).toBeNull()
    expect(code).toBe(0)
    expect(await waitGone(ready.pid)).toBe(true)

    const lines = jsonLines(stdout)
    for (const line of lines) expect(line.command).toBe("replicate")
    expect(lines[0]).toMatchObject({ type: "progress", replica: s3.url("term/db"), databases: ["db.sqlite"] })
    expect(lines[1]).toMatchObject({ type: "progress", pid: ready.pid })
    const events = lines.filter((l) => l.type === "event")
    expect(events.some((e) => e.event === "SnapshotWritten" && e.db === dbPath)).toBe(true)
    for (const e of events) expect(typeof e.event).toBe("string")
    expect(lines.at(-2)).toMatchObject({ type: "progress", message: "signal received: stopping litestream (final sync)" })
    expect(lines.at(-1)).toMatchObject({ type: "result", ok: true, outcome: "Stopped" })

    const output = NodePath.join(dir, "term-restored.db")
    const restore = await run(["restore", "--output", output], { cwd: dir, env: s3Env("term/db", folder) })
    expect(restore.code).toBe(0)
    expect(Sqlite.readRows(output)).toEqual(all)
  })

  it("SIGINT, for people: short lines, exit 0, no litestream left", async ({ expect }) => {
    const folder = NodePath.join(dir, "int")
    await fs.promises.mkdir(folder)
    Sqlite.createDatabase(NodePath.join(folder, "app.db"), 10)
    Sqlite.createDatabase(NodePath.join(folder, "jobs.db"), 10)
    const cli = start(["replicate", "--database", "app.db", "--database", "jobs.db", "--interval", "100ms"], {
      cwd: dir,
      env: { REPLICA_URL: `file://${NodePath.join(dir, "int-replica")}`, DB_FOLDER: folder }
    })
    const ready = await cli.line((l) => l.startsWith("replicate: replicating"))
    const pid = Number(/litestream pid (\d+)/.exec(ready)![1])
    await cli.line((l) => /jobs\.db: snapshot written/.test(l))
    await cli.line((l) => /app\.db: snapshot written/.test(l))
    cli.child.kill("SIGINT")
    const { code, stdout, stderr } = await cli.exit
    expect(stderr).toBe("")
    expect(code).toBe(0)
    expect(await waitGone(pid)).toBe(true)
    expect(stdout).toMatch(/^replicate: starting litestream for app\.db, jobs\.db in .*, to file:\/\//)
    expect(stdout).toMatch(/^replicate: signal received: stopping litestream \(final sync\)$/m)
    expect(stdout).toMatch(/^replicate: stopped: litestream did its final sync and exited in \d+(\.\d+)? (ms|s) \(ran .*\)\n$/m)
    // Each database under its own prefix of the replica.
    expect((await fs.promises.readdir(NodePath.join(dir, "int-replica"))).sort()).toEqual(["app.db", "jobs.db"])
  })

  it("--exec: stops with the command, exit 0; a failing command: exit 1", async ({ expect }) => {
    // two databases: two litestreams on one database are refused (one litestream per database)
    const folder = NodePath.join(dir, "exec")
    const failing = NodePath.join(dir, "exec-fail")
    await fs.promises.mkdir(folder)
    await fs.promises.mkdir(failing)
    Sqlite.createDatabase(NodePath.join(folder, "db.sqlite"), 10)
    Sqlite.createDatabase(NodePath.join(failing, "db.sqlite"), 10)
    const env = { REPLICA_URL: `file://${NodePath.join(dir, "exec-replica")}`, DB_FOLDER: folder }
    const failingEnv = { REPLICA_URL: `file://${NodePath.join(dir, "exec-fail-replica")}`, DB_FOLDER: failing }
    const [ok, failed] = await Promise.all([
      run(["replicate", "--exec", "sleep 0.5", "--json"], { cwd: dir, env }),
      run(["replicate", "--exec", "sh -c 'exit 3'", "--db", "db.sqlite"], { cwd: dir, env: failingEnv })
    ])
    expect(ok.stderr).toBe("")
    expect(ok.code).toBe(0)
    expect(jsonLines(ok.stdout).at(-1)).toMatchObject({ type: "result", outcome: "CommandExited", exitCode: 0 })
    expect(failed.code).toBe(1)
    expect(failed.stderr).toMatch(/^error: The command "sh -c 'exit 3'" failed \(exit status 3\); litestream did its final sync and stopped\. Fix: .*\.\n$/)
  })

  it("SIGTERM when the replica is gone: the final sync fails, exit 1 and the message", async ({ expect }) => {
    const gone = await startS3Server("cli-gone")
    let stopped = false
    try {
      const folder = NodePath.join(dir, "gone")
      await fs.promises.mkdir(folder)
      const dbPath = NodePath.join(folder, "db.sqlite")
      Sqlite.createDatabase(dbPath, 10)
      const cli = start(["replicate"], { cwd: dir, env: { ...s3Env("x", folder), REPLICA_URL: gone.url("gone/db") } })
      const ready = await cli.line((l) => l.startsWith("replicate: replicating"))
      const pid = Number(/litestream pid (\d+)/.exec(ready)![1])
      await cli.line((l) => l.includes("snapshot written"))
      await gone.stop()
      stopped = true
      Sqlite.addRows(dbPath, 5)
      // litestream tries the replica at its next sync (1 s interval) and fails: a warning
      expect(await until(() => cli.stderr().includes("replicate: warning:")), `no warning; stderr:\n${cli.stderr()}`).toBe(true)
      cli.child.kill("SIGTERM")
      const { code, stderr } = await cli.exit
      expect(code).toBe(1)
      // Litestream's replica errors while the server is down, one line each, then the error.
      const lines = stderr.split("\n").filter((l) => l !== "")
      const warnings = lines.slice(0, -1)
      expect(warnings.length, "at least the warning waited for").toBeGreaterThan(0)
      for (const line of warnings) expect(line).toMatch(/^replicate: warning: db\.sqlite: .*\(litestream retries\)$/)
      expect(`${lines.at(-1)}\n`).toMatch(
        /^error: litestream's final sync to s3:\/\/cli-gone\.localhost:\d+\/gone\/db failed with exit code 1: the last changes may not be on the replica \(litestream: .*connection refused.*\)\. Fix: check that the replica is reachable, then run effect-litestream backup before relying on it\.\n$/
      )
      expect(await waitGone(pid)).toBe(true)
    } finally {
      if (!stopped) await gone.stop()
    }
  })
})

describe("a signal during another command", () => {
  it("restore from a replica that never answers, interrupted: exit 130, no litestream left", async ({ expect }) => {
    const sockets = new Set<net.Socket>()
    const server = net.createServer((s) => {
      sockets.add(s)
      s.on("error", () => {})
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const port = (server.address() as net.AddressInfo).port
    try {
      const cli = start(["restore"], {
        cwd: dir,
        env: { ...s3Env("x", NodePath.join(dir, "hang")), REPLICA_URL: `s3://hang.localhost:${port}/db` }
      })
      await cli.line((l) => l.startsWith("restore: restoring from"))
      // litestream restore is running (and waiting for the silent server); not the short
      // `litestream version` the library runs before it
      const restoring = async () => {
        const pids = await childrenOf(cli.child.pid!)
        const argvs = await Promise.all(pids.map((p) => fs.promises.readFile(`/proc/${p}/cmdline`, "utf8").catch(() => "")))
        return pids.filter((_, i) => argvs[i]!.split("\0").includes("restore"))
      }
      let children: Array<number> = []
      const deadline = Date.now() + 10_000
      while (children.length === 0 && Date.now() < deadline) {
        children = await restoring()
        if (children.length === 0) await new Promise((r) => setTimeout(r, 50))
      }
      expect(children).toHaveLength(1)
      cli.child.kill("SIGTERM")
      const { code, stderr } = await cli.exit
      expect(code).toBe(130)
      expect(stderr).toBe("error: interrupted by a signal before the job was done; litestream was stopped.\n")
      expect(await waitGone(children[0]!)).toBe(true)
      // Nothing half-written is left beside the database: the restore made its folder (it
      // stages there), and the folder is empty (a missing folder fails here: readdir throws).
      expect(await fs.promises.readdir(NodePath.join(dir, "hang"))).toEqual([])
    } finally {
      for (const s of sockets) s.destroy()
      await new Promise((r) => server.close(r))
    }
  })
})
