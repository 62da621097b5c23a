/**
 * An `HttpClient` that loads Node's (`NodeHttpClient`, undici: a third of the program) at its
 * first request, and hands every request to it: what reads a replica natively (the native read
 * side, and the replica check beside a litestream restore) needs a client in its context, but
 * only an S3 replica makes requests, so a `file://` one never loads it.
 *
 * @since 0.3.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/**
 * The client, Node's own once loaded (its agent closes with this layer's scope).
 *
 * @since 0.3.0
 */
export const layer: Layer.Layer<HttpClient.HttpClient> = Layer.scoped(
  HttpClient.HttpClient,
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const node = yield* Effect.cached(
      Effect.promise(() => import("@effect/platform-node/NodeHttpClient")).pipe(
        Effect.flatMap((http) => Layer.buildWithScope(http.layer, scope)),
        Effect.map(Context.get(HttpClient.HttpClient))
      )
    )
    return HttpClient.makeWith<never, never, HttpClientError.HttpClientError, never>(
      (request) => Effect.flatMap(node, (client) => Effect.flatMap(request, client.execute)),
      (request) => Effect.succeed(request)
    )
  })
)
