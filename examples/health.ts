/**
 * Replication health for operators, type-checked with the tests: `/health` and `/metrics` on
 * 127.0.0.1:9090, the health changes in the log, and a heartbeat to a dead man's switch while
 * every database is Healthy. Settings from the environment or ./.env (REPLICA_HEARTBEAT_URL and
 * REPLICA_HEARTBEAT_INTERVAL optional): `tsx examples/health.ts`.
 */
import { Replicate, Replication, ReplicationHeartbeat } from "@effect-litestream/core"
import { NodeLitestream } from "@effect-litestream/node"
import * as PrometheusExposition from "@effect-litestream/node/PrometheusExposition"
import * as ReplicationServer from "@effect-litestream/node/ReplicationServer"
import { FetchHttpClient } from "@effect/platform"
import { Effect, Layer, Stream } from "effect"

const ReplicationLive = Replication.layer(
  Effect.flatMap(Replicate.Replicate, (replicate) =>
    replicate.replicate({
      syncInterval: "1 second",
      // Stalled after a minute with changes and no successful sync; Lagging after 15 s behind
      health: { stallAfter: "1 minute", lagWarning: "15 seconds" },
      policy: { maxConsecutiveErrors: 1000, maxErrorDuration: "1 hour" }
    }))
)

const app = Effect.gen(function*() {
  const replication = yield* Replication.Replication
  // the routes on their own server; mount ReplicationHttp.router in your own router instead if you have one
  const { port } = yield* ReplicationServer.serve({ host: "127.0.0.1", port: 9090 })
  yield* Effect.log(`GET http://127.0.0.1:${port}/health and /metrics`)
  yield* replication.healthChanges.pipe(
    Stream.runForEach((report) => Effect.log(`backups: ${report.state}`)),
    Effect.forkScoped
  )
  // pings REPLICA_HEARTBEAT_URL every REPLICA_HEARTBEAT_INTERVAL (default 1m) while Healthy, if set
  yield* ReplicationHeartbeat.fromConfig(replication).pipe(Effect.provide(FetchHttpClient.layer))
  // ... serve requests ...
  return yield* Effect.never
})

Replication.runBeside(Effect.scoped(app)).pipe(
  Effect.provide(Layer.mergeAll(
    ReplicationLive.pipe(Layer.provideMerge(NodeLitestream.layerEnv())),
    PrometheusExposition.layer()
  )),
  Effect.runPromise
)
