/**
 * The Prometheus text rendering of Effect's metrics (`ReplicationMetrics.Exposition`), through
 * `@effect/opentelemetry` and OpenTelemetry's Prometheus exporter: every Effect metric of the
 * process, with its description as HELP and its type as TYPE, the replication's among them.
 *
 * @since 0.3.0
 */
import * as Metrics from "@effect/opentelemetry/Metrics"
import * as Resource from "@effect/opentelemetry/Resource"
import { ReplicationMetrics } from "@effect-litestream/core"
import { PrometheusExporter, PrometheusSerializer } from "@opentelemetry/exporter-prometheus"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/**
 * The `Exposition` layer. The exporter's own HTTP server is never started: the routes of
 * `ReplicationHttp` serve its rendering.
 *
 * @since 0.3.0
 */
export const layer = (options: { readonly serviceName?: string | undefined } = {}): Layer.Layer<ReplicationMetrics.Exposition> =>
  Layer.scoped(
    ReplicationMetrics.Exposition,
    Effect.gen(function*() {
      const exporter = new PrometheusExporter({ preventServerStart: true })
      yield* Metrics.registerProducer(yield* Metrics.makeProducer, () => exporter)
      const serializer = new PrometheusSerializer()
      return {
        contentType: "text/plain; version=0.0.4; charset=utf-8",
        render: Effect.promise(() => exporter.collect()).pipe(
          Effect.map(({ resourceMetrics }) => serializer.serialize(resourceMetrics))
        )
      }
    })
  ).pipe(Layer.provide(Resource.layer({ serviceName: options.serviceName ?? "effect-litestream" })))
