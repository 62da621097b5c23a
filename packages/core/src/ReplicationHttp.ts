/**
 * The HTTP surface of a running replication, as routes of `@effect/platform`'s `HttpRouter`:
 * `GET /health` (200 when every database is Healthy or Lagging, 503 when one is Stalled or
 * Failing, with the per-database figures as JSON) and `GET /metrics` (the Prometheus text
 * format). Mount `router` in an application's own router, or serve it on its own
 * (`@effect-litestream/node`'s `ReplicationServer`).
 *
 * @since 0.3.0
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import { Replication } from "./Replication.js"
import * as ReplicationHealth from "./ReplicationHealth.js"
import { Exposition } from "./ReplicationMetrics.js"

/**
 * The response of `GET /health` for a report: 200 or 503, the report as JSON, never cached.
 *
 * @since 0.3.0
 */
export const healthResponse = (report: ReplicationHealth.Report): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.unsafeJson(ReplicationHealth.toJson(report), {
    status: report.ok ? 200 : 503,
    headers: { "cache-control": "no-store" }
  })

/**
 * `GET /health`, from the running `Replication`.
 *
 * @since 0.3.0
 */
export const health = Effect.map(Effect.flatMap(Replication, (r) => r.health), healthResponse)

/**
 * `GET /metrics`, rendered by the `Exposition` in context.
 *
 * @since 0.3.0
 */
export const metrics = Effect.flatMap(Exposition, (exposition) =>
  Effect.map(exposition.render, (text) =>
    HttpServerResponse.text(text, { contentType: exposition.contentType, headers: { "cache-control": "no-store" } })))

/**
 * Both routes: `GET /health` and `GET /metrics`.
 *
 * @since 0.3.0
 */
export const router: HttpRouter.HttpRouter<never, Replication | Exposition> = HttpRouter.empty.pipe(
  HttpRouter.get("/health", health),
  HttpRouter.get("/metrics", metrics)
)
