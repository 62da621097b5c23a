/**
 * What `replicate --metrics-addr` adds, loaded with `import()` only then: the Prometheus
 * exposition (OpenTelemetry) and the HTTP server serving `/health` and `/metrics`.
 *
 * @since 0.3.0
 */
import { Replication } from "@effect-litestream/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as PrometheusExposition from "../PrometheusExposition.js"
import * as ReplicationServer from "../ReplicationServer.js"

/**
 * Serves `/health` and `/metrics` of `replication` in the current scope; returns the address.
 *
 * @since 0.3.0
 */
export const serve = (replication: Replication.Replication["Type"], options: ReplicationServer.ServerOptions) =>
  Effect.gen(function*() {
    // built in the caller's scope: the exporter lives as long as the server, not just its start
    const exposition = yield* Layer.build(PrometheusExposition.layer())
    return yield* ReplicationServer.serve(options).pipe(
      Effect.provideService(Replication.Replication, replication),
      Effect.provide(exposition)
    )
  })
