/**
 * `replicate --metrics-addr` and `status --addr` through the built CLI, on the loopback S3
 * server behind the fault proxy: status exits 0 while healthy, 1 once the store answers 500
 * (and /health says 503), 1 when nothing answers; a non-loopback address needs
 * --metrics-public (exit 2 without); the metrics are scraped; no secret anywhere.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as net from "node:net"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { FaultProxy, type FaultProxy as Proxy, Pass, ServerError } from "../support/FaultProxy.js"
import { type S3ServerHandle, startS3Server } from "../support/S3Server.js"
import * as Sqlite from "../support/Sqlite.js"
import { ACCESS_KEY, ensureBuilt, jsonLines, run, SECRET, start, tempDir, transcript } from "./support.js"

let s3: S3ServerHandle
let proxy: Proxy
let dir = ""
const scope = Effect.runSync(Scope.make())

beforeAll(async () => {
  await ensureBuilt()
  s3 = await startS3Server("cli-status")
  proxy = await Effect.runPromise(Scope.extend(FaultProxy(s3.port), scope))
  dir = await tempDir()
}, 180_000)

afterAll(async () => {
  await Effect.runPromise(Scope.close(scope, Exit.void))
  await s3?.stop()
  await fs.promises.rm(dir, { recursive: true, force: true })
  expect(transcript.length).toBeGreaterThan(0)
  for (const text of transcript) {
    expect(text).not.toContain(SECRET)
    expect(text).not.toContain(ACCESS_KEY)
  }
})

const STALL_AFTER_MS = 2000

describe("status and replicate --metrics-addr", () => {
  it("status exits 0 while healthy, 1 once the store fails (503), 0 again when it is back; metrics scraped", async () => {
    const folder = NodePath.join(dir, "health")
    await fs.promises.mkdir(folder)
    const dbPath = NodePath.join(folder, "db.sqlite")
    Sqlite.createDatabase(dbPath, 10)
    const env = {
      REPLICA_URL: proxy.url(s3.bucket, "status/db.sqlite"),
      DB_FOLDER: folder,
      LITESTREAM_ACCESS_KEY_ID: ACCESS_KEY,
      LITESTREAM_SECRET_ACCESS_KEY: SECRET
    }
    const replicating = start(
      ["replicate", "--json", "--interval", "100ms", "--metrics-addr", "127.0.0.1:0", "--stall-after", "2s", "--lag-warning", "1s"],
      { env }
    )
    const writer = setInterval(() => Sqlite.addRows(dbPath, 1), 50)
    try {
      const serving = JSON.parse(await replicating.line((l) => l.includes("\"metricsAddr\""))) as { metricsAddr: string; url: string }
      expect(serving.metricsAddr).toMatch(/^127\.0\.0\.1:\d+$/)
      const addr = serving.metricsAddr

      const ok = await run(["status", "--addr", addr])
      expect(ok.code).toBe(0)
      expect(ok.stdout).toMatch(/^status: Healthy\nstatus: {3}db\.sqlite: Healthy, lag [\d.]+ s: /)

      const metrics = await fetch(`${serving.url}/metrics`)
      expect(metrics.status).toBe(200)
      expect(metrics.headers.get("content-type")).toMatch(/^text\/plain/)
      const text = await metrics.text()
      expect(text).toMatch(/^# HELP litestream_replica_syncs_total /m)
      expect(text).toMatch(new RegExp(`^litestream_up\\{[^}]*database="${dbPath.replace(/[.]/g, "\\.")}"[^}]*\\} 1$`, "m"))

      // the store answers 500: /health turns 503 within stallAfter + 1 s, and status exits 1
      await Effect.runPromise(proxy.set(ServerError))
      const failedAt = Date.now()
      let code = 200
      while (code !== 503 && Date.now() - failedAt < STALL_AFTER_MS + 1000) {
        code = (await fetch(`${serving.url}/health`)).status
        if (code !== 503) await new Promise((r) => setTimeout(r, 50))
      }
      expect(code).toBe(503)
      const bad = await run(["status", "--addr", addr, "--json"])
      expect(bad.code).toBe(1)
      const [line] = jsonLines(bad.stdout)
      expect(line).toMatchObject({ type: "error", command: "status", error: "Unhealthy", httpStatus: 503, ok: false })
      expect(["Stalled", "Failing"]).toContain(line!.state)
      // replicate told it too, as a warning on stderr (--json: an event)
      await replicating.line((l) => l.includes("\"HealthChanged\"") && /"state":"(Failing|Stalled)"/.test(l), 5000)

      await Effect.runPromise(proxy.set(Pass))
      const backAt = Date.now()
      while ((await run(["status", "--addr", addr])).code !== 0) {
        expect(Date.now() - backAt).toBeLessThan(10_000)
      }
    } finally {
      clearInterval(writer)
      replicating.child.kill("SIGTERM")
    }
    const ended = await replicating.exit
    expect(ended.code).toBe(0)
  }, 60_000)

  it("status with nothing listening: exit 1, says what to check", async () => {
    // a port that was free a moment ago: nothing listens there
    const port = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, "127.0.0.1", () => {
        const { port } = server.address() as net.AddressInfo
        server.close(() => resolve(port))
      })
    })
    const r = await run(["status", "--addr", `127.0.0.1:${port}`])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(
      new RegExp(`^error: No health report from http://127\\.0\\.0\\.1:${port}/health: .*connect ECONNREFUSED.*Fix: check that effect-litestream replicate runs with --metrics-addr`, "m")
    )
  })

  it("bad usage: --addr not HOST:PORT, --metrics-addr beyond loopback without --metrics-public: exit 2", async () => {
    const badAddr = await run(["status", "--addr", "localhost"])
    expect(badAddr.code).toBe(2)
    expect(badAddr.stderr).toMatch(/is not HOST:PORT/)
    const folder = NodePath.join(dir, "public")
    await fs.promises.mkdir(folder)
    Sqlite.createDatabase(NodePath.join(folder, "db.sqlite"), 1)
    const open = await run(["replicate", "--metrics-addr", "0.0.0.0:0"], {
      env: { REPLICA_URL: `file://${NodePath.join(folder, "replica")}`, DB_FOLDER: folder }
    })
    expect(open.code).toBe(2)
    expect(open.stderr).toMatch(/0\.0\.0\.0 is not a loopback address.*--metrics-public/)
  })
})
