/**
 * A fault-injecting HTTP proxy on loopback, in front of the S3 server of the tests (fauxqs).
 *
 * Litestream talks to the proxy (`s3://BUCKET.localhost:PROXY_PORT/path`); the proxy forwards
 * to the S3 server, or answers with a fault: 403 with an S3 `AccessDenied` body, 500 with an S3
 * `InternalError` body, a delay, a dropped connection, or a throttled response body. A fault
 * is set for every request (a switch) or chosen per request by a function. The proxy can be
 * stopped (every open connection destroyed, every new one reset: the store "went away") and
 * started again; its port stays held throughout.
 *
 * It runs on this process' event loop, as fauxqs does: nothing here blocks.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as http from "node:http"
import type * as net from "node:net"

/** What the proxy does with one request. */
export type Fault =
  | { readonly _tag: "Pass" }
  /** 403 with an S3 AccessDenied body; `message` replaces the body's <Message> */
  | { readonly _tag: "Deny"; readonly message?: string | undefined }
  /** 500 with an S3 InternalError body */
  | { readonly _tag: "ServerError" }
  /** wait, then pass through */
  | { readonly _tag: "Delay"; readonly millis: number }
  /** destroy the client's connection without an answer */
  | { readonly _tag: "Drop" }
  /** pass through, but send the response body in `chunk`-byte pieces, `millis` apart */
  | { readonly _tag: "Throttle"; readonly chunk: number; readonly millis: number }

export const Pass: Fault = { _tag: "Pass" }
export const Deny = (message?: string): Fault => ({ _tag: "Deny", message })
export const ServerError: Fault = { _tag: "ServerError" }
export const Delay = (millis: number): Fault => ({ _tag: "Delay", millis })
export const Drop: Fault = { _tag: "Drop" }
export const Throttle = (chunk: number, millis: number): Fault => ({ _tag: "Throttle", chunk, millis })

/** What the proxy saw of a request, for rules and for the record. */
export interface RequestInfo {
  readonly method: string
  readonly path: string
  /** 0-based count of requests the proxy has seen since it was created */
  readonly n: number
}

/** A request the proxy handled, and what it did with it. */
export interface Handled extends RequestInfo {
  readonly fault: Fault["_tag"]
}

export type Rule = Fault | ((request: RequestInfo) => Fault)

export interface FaultProxy {
  readonly port: number
  /** `s3://BUCKET.localhost:PROXY_PORT/path`, for a bucket of the S3 server behind */
  readonly url: (bucket: string, path: string) => string
  /** the fault for every request from now on, or a function choosing one per request */
  readonly set: (rule: Rule) => Effect.Effect<void>
  /** destroys every open connection and resets every new one: the store is gone */
  readonly stop: Effect.Effect<void>
  /** accepts connections again (the same port: it was never released) */
  readonly start: Effect.Effect<void>
  /** every request handled so far */
  readonly handled: Effect.Effect<ReadonlyArray<Handled>>
}

const s3Error = (code: string, message: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message>` +
  `<RequestId>FAULTPROXY0000001</RequestId><HostId>faultproxy</HostId></Error>`

const escapeXml = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

const listen = (server: http.Server, port: number) =>
  new Promise<number>((resolve, reject) => {
    const onError = (e: Error) => reject(e)
    server.once("error", onError)
    server.listen(port, "127.0.0.1", () => {
      server.off("error", onError)
      resolve((server.address() as net.AddressInfo).port)
    })
  })

/** Starts the proxy on a free loopback port in front of `127.0.0.1:targetPort`; stopped with the scope. */
export const FaultProxy = (targetPort: number): Effect.Effect<FaultProxy, never, Scope.Scope> =>
  Effect.gen(function*() {
    let rule: Rule = Pass
    let count = 0
    let running = false
    const handled: Array<Handled> = []
    // Everything that must die when the store "goes away": client sockets, upstream requests, timers.
    const sockets = new Set<net.Socket>()
    const upstreams = new Set<http.ClientRequest>()
    const timers = new Set<NodeJS.Timeout>()
    const later = (millis: number, f: () => void) => {
      const t = setTimeout(() => {
        timers.delete(t)
        f()
      }, millis)
      timers.add(t)
    }

    const forward = (req: http.IncomingMessage, res: http.ServerResponse, throttle?: { chunk: number; millis: number }) => {
      const upstream = http.request(
        { host: "127.0.0.1", port: targetPort, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.rawHeaders as unknown as http.OutgoingHttpHeaders)
          if (throttle === undefined) {
            answer.pipe(res)
            return
          }
          // Re-send the body slowly: one piece every `millis`.
          const pieces: Array<Buffer> = []
          let ended = false
          let sending = false
          const pump = () => {
            const piece = pieces.shift()
            if (piece === undefined) {
              sending = false
              if (ended) res.end()
              else answer.resume()
              return
            }
            res.write(piece)
            later(throttle.millis, pump)
          }
          answer.on("data", (data: Buffer) => {
            for (let i = 0; i < data.length; i += throttle.chunk) pieces.push(data.subarray(i, i + throttle.chunk))
            answer.pause()
            if (!sending) {
              sending = true
              pump()
            }
          })
          answer.on("end", () => {
            ended = true
            if (!sending) res.end()
          })
        }
      )
      upstreams.add(upstream)
      upstream.on("close", () => upstreams.delete(upstream))
      upstream.on("error", () => res.destroy())
      req.pipe(upstream)
    }

    const server = http.createServer((req, res) => {
      const info: RequestInfo = { method: req.method ?? "", path: req.url ?? "", n: count++ }
      const fault = typeof rule === "function" ? rule(info) : rule
      handled.push({ ...info, fault: fault._tag })
      const answer = (status: number, body: string) => {
        // Read the request body first, as a real server does, then answer.
        req.resume()
        req.on("end", () => {
          res.writeHead(status, { "content-type": "application/xml", "content-length": Buffer.byteLength(body) })
          res.end(body)
        })
      }
      switch (fault._tag) {
        case "Pass":
          return forward(req, res)
        case "Deny":
          return answer(403, s3Error("AccessDenied", escapeXml(fault.message ?? "Access Denied")))
        case "ServerError":
          return answer(500, s3Error("InternalError", "We encountered an internal error. Please try again."))
        case "Delay":
          return later(fault.millis, () => forward(req, res))
        case "Drop":
          req.socket.destroy()
          return
        case "Throttle":
          return forward(req, res, fault)
      }
    })
    server.keepAliveTimeout = 5_000
    server.on("connection", (socket) => {
      // stopped: every connection is reset at once, the port stays ours
      if (!running) return void socket.resetAndDestroy()
      sockets.add(socket)
      socket.on("close", () => sockets.delete(socket))
    })
    server.on("clientError", (_e, socket) => socket.destroy())

    const port = yield* Effect.promise(() => listen(server, 0))
    running = true

    // Stopping keeps listening (the port stays held: closing it and listening again later is a
    // race with anything else binding in the ephemeral range) and resets every connection.
    const stop = Effect.sync(() => {
      running = false
      for (const t of timers) clearTimeout(t)
      timers.clear()
      for (const u of upstreams) u.destroy()
      for (const s of sockets) s.resetAndDestroy()
      sockets.clear()
    })
    const start = Effect.sync(() => {
      running = true
    })
    yield* Effect.addFinalizer(() =>
      Effect.zipRight(stop, Effect.async<void>((resume) => void server.close(() => resume(Effect.void))))
    )

    return {
      port,
      url: (bucket, path) => `s3://${bucket}.localhost:${port}/${path.replace(/^\/+/, "")}`,
      set: (next) =>
        Effect.sync(() => {
          rule = next
        }),
      stop,
      start,
      handled: Effect.sync(() => [...handled])
    } satisfies FaultProxy
  })
