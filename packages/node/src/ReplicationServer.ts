/**
 * A standalone HTTP server for a running replication: `GET /health` and `GET /metrics`
 * (`ReplicationHttp.router`) on `NodeHttpServer`, for the lifetime of a scope. It listens on
 * loopback unless told otherwise: health figures and metrics are for the operator's scraper,
 * not for the world.
 *
 * @since 0.3.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpServer from "@effect/platform/HttpServer"
import type { Replication } from "@effect-litestream/core"
import { ReplicationHttp, type ReplicationMetrics } from "@effect-litestream/core"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import * as internal from "./internal/serverAddress.js"

/**
 * Where to listen.
 *
 * @since 0.3.0
 */
export interface ServerOptions {
  readonly host: string
  /** 0: any free port (see the `address` returned) */
  readonly port: number
  /** allow an address that is not loopback; default false */
  readonly public?: boolean | undefined
}

/**
 * The server could not listen, or was asked to listen beyond loopback without `public`.
 *
 * @since 0.3.0
 */
export class ServerStartFailed extends Data.TaggedError("ServerStartFailed")<{
  readonly address: string
  readonly reason: "NotLoopback" | "ListenFailed"
  readonly detail: string
}> {
  override get message(): string {
    return this.reason === "NotLoopback"
      ? `Refused to serve /health and /metrics on ${this.address}: not a loopback address. Fix: use 127.0.0.1 (or ::1, localhost), or allow it explicitly (public: true, CLI --metrics-public)`
      : `Could not serve /health and /metrics on ${this.address}: ${this.detail}. Fix: choose another address or port, or stop what listens there`
  }
}

/**
 * Whether a host name or address is loopback.
 *
 * @since 0.3.0
 */
export const isLoopback: (host: string) => boolean = internal.isLoopback

/**
 * Parses `HOST:PORT` (`[::1]:9090` for IPv6).
 *
 * @since 0.3.0
 */
export const parseAddress: (text: string) => { readonly host: string; readonly port: number } | undefined = internal.parseAddress

/**
 * Serves the routes in the current scope; returns the address it listens on.
 *
 * @since 0.3.0
 */
export const serve = (
  options: ServerOptions
): Effect.Effect<
  { readonly host: string; readonly port: number },
  ServerStartFailed,
  Scope.Scope | Replication.Replication | ReplicationMetrics.Exposition
> =>
  Effect.gen(function*() {
    const address = `${options.host.includes(":") ? `[${options.host}]` : options.host}:${options.port}`
    if (!isLoopback(options.host) && options.public !== true) {
      return yield* new ServerStartFailed({ address, reason: "NotLoopback", detail: "" })
    }
    const context = yield* Layer.build(
      NodeHttpServer.layer(() => Http.createServer(), { host: options.host, port: options.port })
    ).pipe(Effect.mapError((e) => new ServerStartFailed({ address, reason: "ListenFailed", detail: String(e.cause ?? e) })))
    const server = Context.get(context, HttpServer.HttpServer)
    yield* server.serve(ReplicationHttp.router)
    const bound = server.address
    return bound._tag === "TcpAddress" ? { host: bound.hostname, port: bound.port } : { host: options.host, port: options.port }
  }).pipe(Effect.withSpan("ReplicationServer.serve"))

/**
 * The server as a layer.
 *
 * @since 0.3.0
 */
export const layer = (
  options: ServerOptions
): Layer.Layer<never, ServerStartFailed, Replication.Replication | ReplicationMetrics.Exposition> =>
  Layer.scopedDiscard(serve(options))
