/**
 * The health model as a pure function of a database's status and the time, the labels and the
 * JSON body (no credential), the error kinds, and the server's address rules.
 */
import { Replication, ReplicationHealth, ReplicationHttp, ReplicationMetrics } from "@effect-litestream/core"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ReplicationServer from "@effect-litestream/node/ReplicationServer"

const T = 1_800_000_000_000
const base: Replication.DatabaseStatus = {
  db: "/srv/app.db",
  replica: "s3://backups.localhost:9000/app.db",
  position: Option.none(),
  lastSyncAt: Option.none(),
  consecutiveErrors: 0,
  pendingSince: Option.none(),
  lastError: Option.none()
}
const context = (now: number, extra: Partial<ReplicationHealth.Context> = {}): ReplicationHealth.Context => ({
  now,
  startedAt: T,
  up: true,
  gaveUp: Option.none(),
  ...extra
})
const t = ReplicationHealth.thresholds({ stallAfter: "30 seconds", lagWarning: "10 seconds", failingAfterErrors: 3 })
const state = (s: Partial<Replication.DatabaseStatus>, now: number, extra: Partial<ReplicationHealth.Context> = {}) => {
  const h = ReplicationHealth.evaluate({ ...base, ...s }, context(now, extra), t).health
  return `${h._tag}/${h.reason}`
}

describe("ReplicationHealth.evaluate", () => {
  it("defaults: stallAfter 30 s, lagWarning 10 s, Failing after 3 errors", () => {
    expect(ReplicationHealth.thresholds()).toEqual({ stallAfterMillis: 30_000, lagWarningMillis: 10_000, failingAfterErrors: 3 })
  })

  it("Healthy: Idle before anything, InSync after a sync, Syncing while a change waits less than lagWarning", () => {
    expect(state({}, T + 60_000)).toBe("Healthy/Idle")
    expect(state({ lastSyncAt: Option.some(T + 1000) }, T + 60_000)).toBe("Healthy/InSync")
    expect(state({ lastSyncAt: Option.some(T + 1000), pendingSince: Option.some(T + 59_000) }, T + 60_000)).toBe("Healthy/Syncing")
  })

  it("Lagging at lagWarning; Stalled only when neither a sync nor the change is younger than stallAfter", () => {
    const pending = Option.some(T + 10_000)
    expect(state({ pendingSince: pending, lastSyncAt: Option.some(T + 39_000) }, T + 19_999)).toBe("Healthy/Syncing")
    expect(state({ pendingSince: pending, lastSyncAt: Option.some(T + 19_000) }, T + 20_000)).toBe("Lagging/BehindDatabase")
    // a slow store: the change waited 35 s but a sync succeeded 5 s ago: Lagging, not Stalled
    expect(state({ pendingSince: pending, lastSyncAt: Option.some(T + 40_000) }, T + 45_000)).toBe("Lagging/BehindDatabase")
    expect(state({ pendingSince: pending, lastSyncAt: Option.some(T + 9_000) }, T + 39_999)).toBe("Lagging/BehindDatabase")
    expect(state({ pendingSince: pending, lastSyncAt: Option.some(T + 9_000) }, T + 40_000)).toBe("Stalled/NoSuccessfulSync")
    // never synced: measured from the start
    expect(state({ pendingSince: Option.some(T) }, T + 30_000)).toBe("Stalled/NoSuccessfulSync")
    // nothing waits: an old last sync is an idle database, not a stall
    expect(state({ lastSyncAt: Option.some(T) }, T + 3_600_000)).toBe("Healthy/InSync")
  })

  it("Failing before Stalled: error streak, policy gave up, litestream down", () => {
    const stalled = { pendingSince: Option.some(T), lastError: Option.some("dial tcp: connection refused") }
    expect(state({ ...stalled, consecutiveErrors: 2 }, T + 40_000)).toBe("Stalled/NoSuccessfulSync")
    expect(state({ ...stalled, consecutiveErrors: 3 }, T + 40_000)).toBe("Failing/ReplicaErrors")
    expect(state({}, T, { up: false })).toBe("Failing/LitestreamDown")
    expect(state({}, T, { up: false, gaveUp: Option.some("10 errors") })).toBe("Failing/PolicyGaveUp")
    const failing = ReplicationHealth.evaluate({ ...base, ...stalled, consecutiveErrors: 3 }, context(T + 40_000), t)
    expect(failing.figures).toEqual({
      lagSeconds: 40,
      secondsSinceLastSync: 40,
      everSynced: false,
      consecutiveErrors: 3,
      lastError: "dial tcp: connection refused",
      position: null
    })
    expect(failing.message).toMatch(/^3 replica errors in a row, the last: dial tcp: connection refused\. Fix: /)
  })

  it("report: the worst database decides; ok for Healthy and Lagging only", () => {
    const a = { ...base, db: "/srv/a.db", lastSyncAt: Option.some(T) }
    const b = { ...base, db: "/srv/b.db", pendingSince: Option.some(T) }
    const lagging = ReplicationHealth.report([a, b], context(T + 15_000), t)
    expect([lagging.state, lagging.ok]).toEqual(["Lagging", true])
    const stalled = ReplicationHealth.report([a, b], context(T + 31_000), t)
    expect([stalled.state, stalled.ok, stalled.databases.map((d) => d.health._tag)]).toEqual([
      "Stalled",
      false,
      ["Healthy", "Stalled"]
    ])
    expect(ReplicationHealth.sameStates(lagging, stalled)).toBe(false)
    expect(ReplicationHealth.sameStates(stalled, ReplicationHealth.report([a, b], context(T + 50_000), t))).toBe(true)
  })

  it("toJson and the labels carry no credential of the replica URL", () => {
    const secretive = { ...base, replica: "sftp://backup:hunter2-SECRET@host.example/path?key=SECRET2#x" }
    const body = JSON.stringify(ReplicationHealth.toJson(ReplicationHealth.report([secretive], context(T), t)))
    expect(body).not.toMatch(/SECRET|hunter2|backup:/)
    expect(body).toContain("sftp://host.example/path")
    expect(ReplicationMetrics.replicaLabel("s3://AKIA:SECRET@bucket/p?x=1")).toBe("s3://bucket/p")
    expect(ReplicationMetrics.replicaLabel("file:///var/backups/app")).toBe("file:///var/backups/app")
  })
})

describe("ReplicationMetrics.errorKind", () => {
  it("from litestream's error texts", () => {
    expect(ReplicationMetrics.errorKind("AccessDenied: Access Denied status code: 403")).toBe("AccessDenied")
    expect(ReplicationMetrics.errorKind("RequestError: send request failed caused by: dial tcp 127.0.0.1:1: connect: connection refused"))
      .toBe("Unreachable")
    expect(ReplicationMetrics.errorKind("InternalError: We encountered an internal error. status code: 500")).toBe("Other")
  })
})

describe("ReplicationServer addresses", () => {
  it("parseAddress and isLoopback", () => {
    expect(ReplicationServer.parseAddress("127.0.0.1:9090")).toEqual({ host: "127.0.0.1", port: 9090 })
    expect(ReplicationServer.parseAddress("[::1]:0")).toEqual({ host: "::1", port: 0 })
    expect(ReplicationServer.parseAddress("localhost")).toBeUndefined()
    expect(ReplicationServer.parseAddress("host:70000")).toBeUndefined()
    expect(["127.0.0.1", "127.1.2.3", "::1", "localhost", "0.0.0.0", "10.0.0.1"].map(ReplicationServer.isLoopback)).toEqual([
      true,
      true,
      true,
      true,
      false,
      false
    ])
  })
})

describe("ReplicationHttp.router, mounted in an application's own router", () => {
  it("GET /ops/health: 200 Healthy, 503 Stalled, JSON; GET /ops/metrics: the exposition's text; the app's own route still answers", async () => {
    const current = { pendingSince: Option.none<number>() }
    const replication = {
      health: Effect.sync(() => ReplicationHealth.report([{ ...base, ...current }], context(T + 60_000), t))
    } as unknown as Replication.Replication["Type"]
    const app = HttpRouter.empty.pipe(
      HttpRouter.get("/", HttpServerResponse.text("the application")),
      HttpRouter.mount("/ops", ReplicationHttp.router),
      Effect.provideService(Replication.Replication, replication),
      Effect.provideService(ReplicationMetrics.Exposition, {
        contentType: "text/plain; version=0.0.4",
        render: Effect.succeed("# HELP x y\n# TYPE x gauge\nx 1\n")
      })
    )
    const handler = HttpApp.toWebHandler(app)
    const get = (path: string) => handler(new Request(`http://app.local${path}`))

    const healthy = await get("/ops/health")
    expect(healthy.status).toBe(200)
    expect(healthy.headers.get("content-type")).toMatch(/^application\/json/)
    expect(healthy.headers.get("cache-control")).toBe("no-store")
    expect(await healthy.json()).toMatchObject({ state: "Healthy", ok: true, databases: [{ db: "/srv/app.db", state: "Healthy" }] })

    current.pendingSince = Option.some(T)
    const stalled = await get("/ops/health")
    expect(stalled.status).toBe(503)
    expect(await stalled.json()).toMatchObject({
      state: "Stalled",
      ok: false,
      databases: [{ state: "Stalled", reason: "NoSuccessfulSync", lagSeconds: 60, secondsSinceLastSync: 60 }]
    })

    const metrics = await get("/ops/metrics")
    expect(metrics.status).toBe(200)
    expect(metrics.headers.get("content-type")).toBe("text/plain; version=0.0.4")
    expect(await metrics.text()).toBe("# HELP x y\n# TYPE x gauge\nx 1\n")
    expect(await (await get("/")).text()).toBe("the application")
    expect((await get("/ops/nothing")).status).toBe(404)
  })
})
