/**
 * The `HttpClient` of the native read side. Plain `http:` requests (a loopback or LAN S3 server)
 * go over `node:net` directly: connections kept alive, each reading into one buffer of its own,
 * and a response body also offered as views into that buffer (`ReplicaStore.TransientBodyTypeId`),
 * which the S3 store reads through: Node's client makes a fresh buffer for every piece of body it
 * reads, and collecting them cost a 1 GB restore from S3 more CPU than half of its decoding.
 * Everything else (`https:`, streamed or form bodies) goes to Node's own client
 * (`NodeHttpClient`, undici: a third of the program), loaded at its first such request, so a
 * `file://` replica never loads it. No span is made per request (the restore has its own).
 *
 * @since 0.3.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Http1 from "./internal/http1.js"

/**
 * The client; its connections (and Node's client, once loaded) close with this layer's scope.
 *
 * @since 0.3.0
 */
export const layer: Layer.Layer<HttpClient.HttpClient> = Layer.scoped(
  HttpClient.HttpClient,
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const pool = yield* Effect.acquireRelease(Effect.sync(() => new Http1.Pool()), (pool) => Effect.sync(() => pool.close()))
    const node = yield* Effect.cached(
      Effect.promise(() => import("@effect/platform-node/NodeHttpClient")).pipe(
        Effect.flatMap((http) => Layer.buildWithScope(http.layer, scope)),
        Effect.map(Context.get(HttpClient.HttpClient))
      )
    )
    return HttpClient.makeWith<never, never, HttpClientError.HttpClientError, never>(
      (request) =>
        Effect.flatMap(request, (request) =>
          Http1.supports(request) ? Http1.execute(pool, request) : Effect.flatMap(node, (client) => client.execute(request))),
      (request) => Effect.succeed(request)
    )
  })
)
