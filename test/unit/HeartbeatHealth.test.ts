/**
 * The heartbeat against a loopback HTTP server: a GET every interval while the replication is
 * Healthy, none while it is Stalled or Failing; the minimum interval is 1 minute; the URL (a
 * credential) never reaches the log.
 */
import { LitestreamConfig, Replication as ReplicationTag, ReplicationHealth, ReplicationHeartbeat } from "@effect-litestream/core"
import type { Replication } from "@effect-litestream/core"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Path from "@effect/platform/Path"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as http from "node:http"
import type * as net from "node:net"

const TOKEN = "hb-token-5d1e9a-MUST-NOT-LEAK"

/** A loopback server counting the pings it gets (real time: it is outside the TestClock). */
const pingServer = Effect.acquireRelease(
  Effect.promise(() =>
    new Promise<{ server: http.Server; port: number; pings: Array<string> }>((resolve) => {
      const pings: Array<string> = []
      const server = http.createServer((req, res) => {
        pings.push(`${req.method} ${req.url}`)
        res.writeHead(200).end("OK")
      })
      server.listen(0, "127.0.0.1", () => resolve({ server, port: (server.address() as net.AddressInfo).port, pings }))
    })
  ),
  ({ server }) => Effect.promise(() => new Promise<void>((r) => server.close(() => r())))
)

/** Waits (real time, at most `ms`) until `pings` has `n` entries; a check for none waits 300 ms. */
const pinged = (pings: ReadonlyArray<string>, n: number, ms = 2000) =>
  Effect.promise(async () => {
    const deadline = Date.now() + ms
    while (pings.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    return pings.length
  })

/** A replication whose health is whatever `current.state` says. */
const fakeReplication = (current: { state: "Healthy" | "Stalled" }) => {
  const status: Replication.DatabaseStatus = {
    db: "/srv/app.db",
    replica: "file:///backups/app.db",
    position: Option.none(),
    lastSyncAt: Option.some(0),
    consecutiveErrors: 0,
    pendingSince: Option.none(),
    lastError: Option.none()
  }
  const health = Effect.sync(() =>
    ReplicationHealth.report(
      [current.state === "Healthy" ? status : { ...status, pendingSince: Option.some(0) }],
      { now: 60 * 60_000, startedAt: 0, up: true, gaveUp: Option.none() },
      ReplicationHealth.thresholds()
    )
  )
  return { health } as unknown as Replication.Replication["Type"]
}

describe("ReplicationHeartbeat", () => {
  it.scoped("pings every interval while Healthy, withholds while Stalled, resumes; the URL stays out of the log", () =>
    Effect.gen(function*() {
      const { pings, port } = yield* pingServer
      const current = { state: "Healthy" as "Healthy" | "Stalled" }
      const logged: Array<string> = []
      const logger = Logger.make(({ annotations, message }) => {
        logged.push(`${String(message)} ${JSON.stringify([...annotations])}`)
      })
      const url = Redacted.make(`http://127.0.0.1:${port}/ping/${TOKEN}`)
      const fiber = yield* ReplicationHeartbeat.run(fakeReplication(current), { url, interval: "1 minute" }).pipe(
        Effect.provide(FetchHttpClient.layer),
        Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
        Effect.fork
      )
      yield* TestClock.adjust("59 seconds")
      expect(yield* pinged(pings, 1, 300)).toBe(0) // not before the first interval
      yield* TestClock.adjust("1 second")
      expect(yield* pinged(pings, 1)).toBe(1)
      expect(pings[0]).toBe(`GET /ping/${TOKEN}`)
      yield* TestClock.adjust("1 minute")
      expect(yield* pinged(pings, 2)).toBe(2)

      current.state = "Stalled"
      yield* TestClock.adjust("1 minute")
      yield* TestClock.adjust("1 minute")
      expect(yield* pinged(pings, 3, 300)).toBe(2) // silent while stalled
      expect(logged.filter((l) => l.startsWith("heartbeat withheld: the replication is Stalled")).length).toBe(2)

      current.state = "Healthy"
      yield* TestClock.adjust("1 minute")
      expect(yield* pinged(pings, 3)).toBe(3)
      yield* Fiber.interrupt(fiber)
      for (const line of logged) expect(line).not.toContain(TOKEN)
    }))

  it.scoped("an interval under 1 minute is raised to 1 minute; a failed ping is logged without the URL", () =>
    Effect.gen(function*() {
      const { pings, port } = yield* pingServer
      const logged: Array<string> = []
      const logger = Logger.make(({ message }) => void logged.push(String(message)))
      const fiber = yield* ReplicationHeartbeat.run(fakeReplication({ state: "Healthy" }), {
        url: Redacted.make(`http://127.0.0.1:${port}/ping/${TOKEN}`),
        interval: "5 seconds"
      }).pipe(Effect.provide(FetchHttpClient.layer), Effect.provide(Logger.replace(Logger.defaultLogger, logger)), Effect.fork)
      yield* TestClock.adjust("30 seconds")
      expect(yield* pinged(pings, 1, 300)).toBe(0)
      yield* TestClock.adjust("30 seconds")
      expect(yield* pinged(pings, 1)).toBe(1)
      yield* Fiber.interrupt(fiber)

      // nothing listens on port 9 here: the ping fails, with the kind of failure only
      const failing = yield* ReplicationHeartbeat.beat(fakeReplication({ state: "Healthy" }), {
        url: Redacted.make(`http://127.0.0.1:9/ping/${TOKEN}`)
      }).pipe(Effect.provide(FetchHttpClient.layer))
      expect(failing).toEqual({ _tag: "PingFailed", detail: "RequestError" })
      for (const line of logged) expect(line).not.toContain(TOKEN)
    }))

  it.scoped("ReplicationHeartbeat.layer: the settings' URL at the settings' interval, for the layer's lifetime; nothing without the setting", () =>
    Effect.gen(function*() {
      const { pings, port } = yield* pingServer
      const settings = (extra: Partial<LitestreamConfig.Input>) =>
        LitestreamConfig.layer({ replicaUrl: "file:///backups/app.db", ...extra }).pipe(Layer.provide(Path.layer))
      const replication = Layer.succeed(ReplicationTag.Replication, fakeReplication({ state: "Healthy" }))
      const build = (extra: Partial<LitestreamConfig.Input>) =>
        Effect.gen(function*() {
          const scope = yield* Scope.make()
          yield* Layer.buildWithScope(
            ReplicationHeartbeat.layer.pipe(Layer.provide(Layer.mergeAll(settings(extra), replication, FetchHttpClient.layer))),
            scope
          )
          return scope
        })

      const pinging = yield* build({ heartbeatUrl: `http://127.0.0.1:${port}/ping/${TOKEN}`, heartbeatInterval: "2m" })
      yield* TestClock.adjust("119 seconds")
      expect(yield* pinged(pings, 1, 300)).toBe(0)
      yield* TestClock.adjust("1 second")
      expect(yield* pinged(pings, 1)).toBe(1)
      expect(pings[0]).toBe(`GET /ping/${TOKEN}`)
      yield* Scope.close(pinging, Exit.void) // the layer's scope ends: so do the pings
      yield* TestClock.adjust("10 minutes")
      expect(yield* pinged(pings, 2, 300)).toBe(1)

      const silent = yield* build({})
      yield* TestClock.adjust("10 minutes")
      expect(yield* pinged(pings, 2, 300)).toBe(1)
      yield* Scope.close(silent, Exit.void)
    }))
})
