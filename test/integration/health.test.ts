/**
 * Replication health on the real litestream, against the loopback S3 server behind the fault
 * proxy, with writes flowing all along: Healthy with a lag under a second; the store answering
 * 500, then gone, gives Stalled or Failing within stallAfter + 1 s (GET /health 503, the error
 * counters rising in GET /metrics); the store silent (answers 4 s late, no error) gives Stalled
 * within stallAfter + 1 s; the store back gives Healthy again; the restore has every row.
 * `/metrics` is scraped with fetch and parsed by a Prometheus text-format parser from npm.
 */
import { Replication } from "@effect-litestream/core"
import * as PrometheusExposition from "@effect-litestream/node/PrometheusExposition"
import * as ReplicationServer from "@effect-litestream/node/ReplicationServer"
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as NodePath from "node:path"
import parsePrometheus from "parse-prometheus-text-format"
import { Delay, FaultProxy, Pass, ServerError } from "../support/FaultProxy.js"
import * as Figures from "../support/Figures.js"
import { ACCESS_KEY_ID, DB, guardAgainstLeaks, restore, SECRET, services } from "../support/Harness.js"
import { recordLogs, replicate } from "../support/Replication.js"
import { S3Server } from "../support/S3Server.js"
import * as Sqlite from "../support/Sqlite.js"

guardAgainstLeaks()

const STALL_AFTER = Duration.seconds(2)
/** what the issue allows past stallAfter before /health must say 503 */
const SLACK_MS = 1000

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(NodePath.join(os.tmpdir(), "elt-health-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

interface HealthBody {
  readonly state: string
  readonly ok: boolean
  readonly databases: ReadonlyArray<{
    readonly db: string
    readonly state: string
    readonly reason: string
    readonly lagSeconds: number
    readonly consecutiveErrors: number
  }>
}

const get = (url: string) =>
  Effect.promise(async () => {
    const response = await fetch(url)
    return { status: response.status, text: await response.text(), type: response.headers.get("content-type") }
  })

/** Polls GET /health every 50 ms until its status is `status`; the milliseconds it took. */
const untilHealth = (base: string, status: 200 | 503, withinMs: number, state?: "Healthy") =>
  Effect.gen(function*() {
    const started = Date.now()
    while (true) {
      const r = yield* get(`${base}/health`)
      const body = JSON.parse(r.text) as HealthBody
      // Healthy, asked for, means Healthy with the lag under a second (the figure)
      if (r.status === status && (state === undefined || (body.state === state && body.databases[0]!.lagSeconds < 1))) {
        return { millis: Date.now() - started, body, text: r.text }
      }
      if (Date.now() - started > withinMs) {
        return yield* Effect.dieMessage(`/health still ${r.status} after ${withinMs} ms: ${r.text}`)
      }
      yield* Effect.sleep("50 millis")
    }
  })

/** The sum of the error counter's samples for the database in a scrape. */
const errorsIn = (text: string) =>
  parsePrometheus(text)
    .filter((f) => f.name === "litestream_replica_errors_total")
    .flatMap((f) => f.metrics)
    .reduce((sum, m) => sum + Number(m.value ?? 0), 0)

describe("replication health, real litestream and S3 behind the fault proxy", () => {
  it.scopedLive("Healthy while writing; 500 and gone give 503 within stallAfter + 1 s; back to Healthy; every row restored", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = NodePath.join(dir, DB)
      Sqlite.createDatabase(path, 10)
      const s3 = yield* S3Server()
      const proxy = yield* FaultProxy(s3.port)
      const url = proxy.url(s3.bucket, "health/app.db")
      const logs = recordLogs()
      const layer = Layer.mergeAll(services(dir, url), PrometheusExposition.layer())
      const scrapes: Array<string> = []
      const bodies: Array<string> = []

      yield* Effect.gen(function*() {
      const committed = yield* Effect.scoped(Effect.gen(function*() {
        const replication = yield* replicate({
          health: { stallAfter: STALL_AFTER, lagWarning: "1 second" },
          // the policy must not end the replication while the store is away
          policy: { maxConsecutiveErrors: 100_000, maxErrorDuration: "10 minutes" }
        })
        const { port } = yield* ReplicationServer.serve({ host: "127.0.0.1", port: 0 }).pipe(
          Effect.provideService(Replication.Replication, replication)
        )
        const base = `http://127.0.0.1:${port}`

        // a writer: one row every 20 ms, for the whole test
        const db = Sqlite.open(path)
        yield* Effect.addFinalizer(() => Effect.sync(() => db.close()))
        const insert = db.prepare("INSERT INTO items (id, name, payload) VALUES (@id, @name, @payload)")
        let last = 10
        yield* Effect.sync(() => insert.run(Sqlite.row(++last))).pipe(
          Effect.zipRight(Effect.sleep("20 millis")),
          Effect.forever,
          Effect.forkScoped
        )

        // writes flowing, the store fine: Healthy, lag under 1 s
        yield* Effect.sleep("1 second")
        // (a loaded machine can hold a sync back past lagWarning for a moment: Lagging, also 200;
        // the first Healthy report with a lag under 1 s within 10 s)
        const healthy = yield* untilHealth(base, 200, 10_000, "Healthy")
        bodies.push(healthy.text)
        expect(healthy.body.state).toBe("Healthy")
        expect(healthy.body.databases[0]!.lagSeconds).toBeLessThan(1)
        const lags: Array<number> = []
        for (let i = 0; i < 10; i++) {
          const r = yield* get(`${base}/health`)
          expect(r.status).toBe(200)
          lags.push((JSON.parse(r.text) as HealthBody).databases[0]!.lagSeconds)
          yield* Effect.sleep("50 millis")
        }
        expect(Math.max(...lags)).toBeLessThan(1)
        const before = yield* get(`${base}/metrics`)
        scrapes.push(before.text)

        // the store answers 500 to everything
        yield* proxy.set(ServerError)
        const on500 = yield* untilHealth(base, 503, Duration.toMillis(STALL_AFTER) + SLACK_MS)
        bodies.push(on500.text)
        expect(["Stalled", "Failing"]).toContain(on500.body.state)
        const during500 = yield* get(`${base}/metrics`)
        scrapes.push(during500.text)
        expect(errorsIn(during500.text)).toBeGreaterThan(errorsIn(before.text))

        // back
        yield* proxy.set(Pass)
        const back1 = yield* untilHealth(base, 200, 10_000)
        expect(back1.body.state).not.toMatch(/Stalled|Failing/)

        // the store is gone: every connection reset
        const beforeGone = yield* get(`${base}/metrics`)
        yield* proxy.stop
        const gone = yield* untilHealth(base, 503, Duration.toMillis(STALL_AFTER) + SLACK_MS)
        bodies.push(gone.text)
        expect(["Stalled", "Failing"]).toContain(gone.body.state)
        const duringGone = yield* get(`${base}/metrics`)
        scrapes.push(duringGone.text)
        expect(errorsIn(duringGone.text)).toBeGreaterThan(errorsIn(beforeGone.text))

        yield* proxy.start
        const back2 = yield* untilHealth(base, 200, 10_000)
        bodies.push(back2.text)

        // the store goes silent (every answer 4 s late, no error): the backup silently stops,
        // which only the clock can tell: Stalled
        yield* proxy.set(Delay(4000))
        const silent = yield* untilHealth(base, 503, Duration.toMillis(STALL_AFTER) + SLACK_MS)
        bodies.push(silent.text)
        expect(silent.body.state).toBe("Stalled")
        expect(silent.body.databases[0]!.reason).toBe("NoSuccessfulSync")
        expect(silent.body.databases[0]!.lagSeconds).toBeGreaterThanOrEqual(Duration.toSeconds(STALL_AFTER))
        yield* proxy.set(Pass)
        const back3 = yield* untilHealth(base, 200, 10_000)
        Figures.record("health", {
          to503On500Ms: on500.millis,
          to503GoneMs: gone.millis,
          backTo200After500Ms: back1.millis,
          backTo200AfterGoneMs: back2.millis,
          to503SilentMs: silent.millis,
          backTo200AfterSilentMs: back3.millis,
          stateOn500: on500.body.state,
          stateGone: gone.body.state,
          maxLagSecondsHealthy: Math.max(...lags)
        })
        console.log(
          `health: 503 after ${on500.millis} ms on 500s (${on500.body.state}), ${gone.millis} ms when gone (${gone.body.state}), ` +
            `${silent.millis} ms when silent (${silent.body.state}); 200 again ${back1.millis} / ${back2.millis} / ${back3.millis} ms ` +
            `after the store came back; lag while healthy <= ${Math.max(...lags)} s`
        )

        // the last row on the replica, then stop writing
        const [lastId] = yield* replication.syncAfter(Effect.sync(() => {
          insert.run(Sqlite.row(++last))
          return last
        }))
        return lastId
      }))

      // /metrics: every family of ours has HELP and TYPE and the database and replica labels on
      // each sample (Effect's metrics are global: other tests' replications in this process are
      // there too, under their own labels)
      const families = parsePrometheus(scrapes[1]!).filter((f) => f.name.startsWith("litestream_"))
      const expected = [
        "litestream_replica_syncs_total",
        "litestream_replica_errors_total",
        "litestream_replica_snapshots_total",
        "litestream_replica_wal_bytes_total",
        "litestream_replica_lag_seconds",
        "litestream_replica_seconds_since_last_sync",
        "litestream_replica_wal_index",
        "litestream_replica_wal_offset",
        "litestream_up",
        "litestream_replica_health"
      ]
      expect(families.map((f) => f.name)).toEqual(expect.arrayContaining(expected))
      for (const f of families) {
        expect(f.help, f.name).not.toBe("")
        expect(f.help, f.name).not.toMatch(/description missing/)
        expect(["COUNTER", "GAUGE"], f.name).toContain(f.type)
        for (const m of f.metrics) {
          expect(m.labels?.database, f.name).toMatch(/\.db$/)
          expect(m.labels?.replica, f.name).toMatch(/^(s3|file):\/\//)
        }
        // (a v0.5 family such as litestream_replica_txid has samples only of v0.5 replications)
        const ours = f.metrics.filter((m) => m.labels?.database === path)
        if (expected.includes(f.name)) expect(ours.length, f.name).toBeGreaterThan(0)
        for (const m of ours) expect(m.labels?.replica, f.name).toBe(url)
      }
      const errorKinds = families.find((f) => f.name === "litestream_replica_errors_total")!.metrics
        .filter((m) => m.labels?.database === path).map((m) => m.labels?.kind)
      expect(errorKinds.length).toBeGreaterThan(0)

      // no secret in any scrape, health body or log line
      for (const text of [...scrapes, ...bodies, ...logs.logged.map((l) => `${l.message} ${JSON.stringify(l.annotations)}`)]) {
        expect(text).not.toContain(SECRET)
        expect(text).not.toContain(ACCESS_KEY_ID)
      }
      expect(logs.logged.some((l) => l.level === "WARN" && /replication health: (Stalled|Failing)/.test(l.message))).toBe(true)

      // the store is whole: every committed row comes back
      const out = NodePath.join(dir, "restored.db")
      yield* restore({ output: out })
      const restored = Sqlite.open(out)
      try {
        const { count, max } = restored.prepare("SELECT count(*) AS count, max(id) AS max FROM items").get() as {
          count: number
          max: number
        }
        expect(max).toBeGreaterThanOrEqual(committed)
        expect(count).toBe(max)
        expect(restored.pragma("integrity_check", { simple: true })).toBe("ok")
      } finally {
        restored.close()
      }
      // the writer ran until the scope closed; litestream's final sync took the rest
      const source = Sqlite.open(path)
      try {
        const { count } = source.prepare("SELECT count(*) AS count FROM items").get() as { count: number }
        const { count: restoredCount } = Sqlite.open(out).prepare("SELECT count(*) AS count FROM items").get() as { count: number }
        expect(restoredCount).toBe(count)
      } finally {
        source.close()
      }
      }).pipe(Effect.provide(layer), Effect.provide(logs.layer))
    }), { timeout: 60_000 })
})
