/**
 * `replicate` with a heartbeat, through the built CLI: REPLICA_HEARTBEAT_URL (from the
 * environment) pinged at the interval while the replication is healthy; the URL (a credential)
 * never printed; bad heartbeat settings refused with exit 2 before litestream starts.
 *
 * The real ping waits the minimum interval (1 minute): `CLI_HEARTBEAT_PING=0` leaves it out.
 */
import * as fs from "node:fs"
import * as http from "node:http"
import type * as net from "node:net"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Sqlite from "../support/Sqlite.js"
import { ensureBuilt, jsonLines, run, start, tempDir, transcript } from "./support.js"

const TOKEN = "hb-cli-4be1d07a-MUST-NOT-LEAK"
const PING = process.env.CLI_HEARTBEAT_PING !== "0"

let dir = ""
let server: http.Server
let port = 0
const pings: Array<string> = []

beforeAll(async () => {
  await ensureBuilt()
  dir = await tempDir("effect-litestream-heartbeat-")
  server = http.createServer((req, res) => {
    pings.push(`${req.method} ${req.url}`)
    res.writeHead(200).end("OK")
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  port = (server.address() as net.AddressInfo).port
}, 180_000)

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()))
  await fs.promises.rm(dir, { recursive: true, force: true })
  expect(transcript.length).toBeGreaterThan(0)
  for (const text of transcript) expect(text).not.toContain(TOKEN)
})

const env = (name: string, extra: Record<string, string> = {}) => {
  const folder = NodePath.join(dir, name)
  fs.mkdirSync(folder, { recursive: true })
  return {
    folder,
    env: { REPLICA_URL: `file://${NodePath.join(dir, `${name}-replica`)}`, DB_FOLDER: folder, ...extra }
  }
}

describe("replicate --heartbeat", () => {
  it("bad heartbeat settings: exit 2, the variable named, the URL never echoed, litestream never started", async () => {
    const cases: Array<[Array<string>, Record<string, string>, RegExp]> = [
      [[], { REPLICA_HEARTBEAT_URL: `ftp://127.0.0.1/${TOKEN}` }, /REPLICA_HEARTBEAT_URL must be an http\(s\) URL/],
      [[], { REPLICA_HEARTBEAT_URL: `http://127.0.0.1/${TOKEN}`, REPLICA_HEARTBEAT_INTERVAL: "10s" }, /REPLICA_HEARTBEAT_INTERVAL must be at least 1m/],
      [["--heartbeat-interval", "30s"], { REPLICA_HEARTBEAT_URL: `http://127.0.0.1/${TOKEN}` }, /--heartbeat-interval 30s is shorter than 1m/],
      [["--heartbeat-interval", "5m"], {}, /--heartbeat-interval needs REPLICA_HEARTBEAT_URL/]
    ]
    for (const [i, [args, extra, message]] of cases.entries()) {
      const { env: e, folder } = env(`bad-${i}`, extra)
      Sqlite.createDatabase(NodePath.join(folder, "db.sqlite"), 5)
      const result = await run(["replicate", ...args], { cwd: dir, env: e })
      expect(result.code, `${args.join(" ")} ${JSON.stringify(Object.keys(extra))}: ${result.stderr}`).toBe(2)
      expect(result.stderr).toMatch(message)
      expect(`${result.stdout}${result.stderr}`).not.toContain(TOKEN)
      expect(result.stdout).not.toContain("replicating (litestream pid")
    }
  })

  it.skipIf(!PING)("pings REPLICA_HEARTBEAT_URL after the interval while healthy; the URL stays out of the output", async () => {
    const { env: e, folder } = env("ping", { REPLICA_HEARTBEAT_URL: `http://127.0.0.1:${port}/ping/${TOKEN}` })
    const dbPath = NodePath.join(folder, "db.sqlite")
    Sqlite.createDatabase(dbPath, 20)
    const startedAt = Date.now()
    const cli = start(["replicate", "--json", "--interval", "200ms"], { cwd: dir, env: e, timeoutMs: 140_000 })
    try {
      await cli.line((l) => l.includes("heartbeat every 1m while healthy"))
      await cli.line((l) => l.includes("\"event\":\"SnapshotWritten\""))
      Sqlite.addRows(dbPath, 10)
      // the first ping comes one interval after the start, not before
      expect(pings).toEqual([])
      const deadline = Date.now() + 90_000
      while (pings.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200))
      const pingedAt = Date.now()
      expect(pings).toEqual([`GET /ping/${TOKEN}`])
      // litestream v0.3.13 checkpoints every minute too: a SIGTERM in the middle of that
      // checkpoint fails its final sync (FinalSyncFailed, "release read lock: context
      // canceled"). Stop after a sync that came later instead.
      const synced = () => cli.stdout().split("\n").filter((l) => l.includes("\"event\":\"WalSegmentWritten\"")).length
      const seen = synced()
      Sqlite.addRows(dbPath, 10)
      const until = Date.now() + 30_000
      while (synced() === seen && Date.now() < until) await new Promise((r) => setTimeout(r, 50))
      expect(synced()).toBeGreaterThan(seen)
      console.log(`[heartbeat] first ping ${((pingedAt - startedAt) / 1000).toFixed(1)} s after the start`)
    } finally {
      cli.child.kill("SIGTERM")
    }
    const { code, stderr, stdout } = await cli.exit
    expect(code, `${stdout}\n${stderr}`).toBe(0)
    const progress = jsonLines(stdout).filter((l) => l.type === "progress").map((l) => String(l.message ?? ""))
    expect(progress.some((m) => m.includes("heartbeat every 1m while healthy"))).toBe(true)
    expect(stdout).not.toContain(TOKEN)
  }, 150_000)
})
