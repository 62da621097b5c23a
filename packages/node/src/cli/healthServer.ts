/**
 * What `replicate --metrics-addr` adds, loaded with `import()` only then: the Prometheus
 * exposition (OpenTelemetry) and the HTTP server serving `/health` and `/metrics`.
 *
 * @since 0.3.0
 */
import { Replication } from "@effect-litestream/core"
import * as Effect from "effect/Effect"
import * as PrometheusExposition from "../PrometheusExposition.js"
import * as ReplicationServer from "../ReplicationServer.js"

/**
 * Serves `/health` and `/metrics` of `replication` in the current scope; returns the address.
 *
 * @since 0.3.0
 */
export const serve = (replication: Replication.Replication["Type"], options: ReplicationServer.ServerOptions) =>
  ReplicationServer.serve(options).pipe(
    Effect.provideService(Replication.Replication, replication),
    Effect.provide(PrometheusExposition.layer())
  )
