/**
 * The Node layers' HTTP client (`LazyHttpClient`): plain http over `node:net`, kept-alive
 * connections reading into one buffer each. Against real servers on loopback: Node's own HTTP
 * server, and raw sockets that answer byte by byte, in pieces, or wrongly.
 */
import * as LazyHttpClient from "@effect-litestream/node/LazyHttpClient"
import { TransientBodyTypeId } from "@effect-litestream/core/ReplicaStore"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as crypto from "node:crypto"
import * as http from "node:http"
import * as net from "node:net"
import { freePort } from "../support/Fixtures.js"

/** A server on a free loopback port for the scope; counts its connections. */
const serve = <S extends http.Server | net.Server>(server: S) =>
  Effect.acquireRelease(
    Effect.async<{ readonly port: number; readonly connections: () => number }>((resume) => {
      let connections = 0
      server.on("connection", () => connections++)
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({ port: (server.address() as net.AddressInfo).port, connections: () => connections })))
    }),
    () =>
      Effect.async<void>((resume) => {
        if ("closeAllConnections" in server) server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

/** A raw server: `answer` gets each connection's request head and writes whatever it likes. */
const raw = (answer: (socket: net.Socket, head: string) => void) =>
  serve(net.createServer((socket) => {
    let text = ""
    socket.on("data", (d) => {
      text += d.toString("latin1")
      const end = text.indexOf("\r\n\r\n")
      if (end >= 0) {
        const head = text.slice(0, end)
        text = text.slice(end + 4)
        answer(socket, head)
      }
    })
    socket.on("error", () => {})
  }))

const client = HttpClient.HttpClient
const bodyOf = (url: string) =>
  Effect.flatMap(client, (c) => Effect.flatMap(c.get(url), (r) => Effect.map(r.arrayBuffer, (b) => ({ status: r.status, headers: r.headers, bytes: Buffer.from(b) }))))
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe("LazyHttpClient over node:net (plain http)", () => {
  it.scopedLive("a large body: owned chunks, and the transient views each valid until the next pull; one connection serves both", () =>
    Effect.gen(function*() {
      const big = crypto.randomBytes(5 * 1024 * 1024 + 3)
      const server = yield* serve(http.createServer((_, res) => {
        res.writeHead(200, { "content-length": String(big.length) })
        res.end(big)
      }))
      const url = `http://127.0.0.1:${server.port}/big`
      const owned = yield* bodyOf(url)
      expect(owned.bytes.equals(big)).toBe(true)
      const c = yield* client
      const response = yield* c.get(url)
      expect(TransientBodyTypeId in response).toBe(true)
      const views = (response as unknown as { [TransientBodyTypeId]: () => Stream.Stream<Uint8Array> })[TransientBodyTypeId]()
      const copies = yield* Stream.runCollect(Stream.map(views, (v) => Buffer.from(v)))
      expect(Buffer.concat(Chunk.toArray(copies)).equals(big)).toBe(true)
      expect(server.connections()).toBe(1)
    }).pipe(Effect.provide(LazyHttpClient.layer)))

  it.scopedLive("chunked bodies, in pieces of every size, with chunk extensions and trailers", () =>
    Effect.gen(function*() {
      const parts = [Buffer.from("a"), crypto.randomBytes(70_000), Buffer.from("end\r\n"), crypto.randomBytes(3)]
      const whole = Buffer.concat(parts)
      const server = yield* raw((socket) => {
        let wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Test: 1\r\n\r\n"
        const bytes: Array<Buffer> = [Buffer.from(wire, "latin1")]
        for (const part of parts) bytes.push(Buffer.from(`${part.length.toString(16)};ext=1\r\n`, "latin1"), part, Buffer.from("\r\n"))
        bytes.push(Buffer.from("0\r\nX-Trailer: yes\r\n\r\n", "latin1"))
        wire = ""
        const all = Buffer.concat(bytes)
        // written 1, 2, 3, ... bytes at a time, the first few hundred; then the rest in one go
        void (async () => {
          let at = 0
          for (let n = 1; at < 400; n++) {
            socket.write(all.subarray(at, at + n))
            at += n
            await sleep(1)
          }
          socket.write(all.subarray(at))
        })()
      })
      for (let i = 0; i < 2; i++) {
        const got = yield* bodyOf(`http://127.0.0.1:${server.port}/c`)
        expect(got.status).toBe(200)
        expect(got.headers["x-test"]).toBe("1")
        expect(got.bytes.equals(whole)).toBe(true)
      }
      // the connection was reused after a chunked body
      expect(server.connections()).toBe(1)
    }).pipe(Effect.provide(LazyHttpClient.layer)))

  it.scopedLive("a 100 Continue before the answer, a head split byte by byte, a body until the connection closes", () =>
    Effect.gen(function*() {
      const server = yield* raw((socket) => {
        const wire = Buffer.from("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", "latin1")
        void (async () => {
          for (const byte of wire) {
            socket.write(Buffer.from([byte]))
            await sleep(0)
          }
          socket.end()
        })()
      })
      const got = yield* bodyOf(`http://127.0.0.1:${server.port}/x`)
      expect(got.status).toBe(200)
      expect(got.bytes.toString()).toBe("until the end")
    }).pipe(Effect.provide(LazyHttpClient.layer)))

  it.scopedLive("a kept-alive connection the server closes as the next request arrives: it goes again on a new one", () =>
    Effect.gen(function*() {
      // each connection answers its first request and drops the second unanswered (a keep-alive timer firing)
      const server = yield* raw((socket, head) => {
        const served = (socket as { served?: number }).served ?? 0
        ;(socket as { served?: number }).served = served + 1
        if (served === 0) socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n${head.split(" ")[1]!.slice(1, 5)}`)
        else socket.destroy()
      })
      const base = `http://127.0.0.1:${server.port}/`
      expect((yield* bodyOf(`${base}abcd`)).bytes.toString()).toBe("abcd")
      expect((yield* bodyOf(`${base}efgh`)).bytes.toString()).toBe("efgh")
      expect(server.connections()).toBe(2)
    }).pipe(Effect.provide(LazyHttpClient.layer)))

  it.scopedLive("HEAD and 204 have no body; a request body goes with its length", () =>
    Effect.gen(function*() {
      const received: Array<{ method: string; length: string | undefined; body: string }> = []
      const server = yield* serve(http.createServer((req, res) => {
        let body = ""
        req.on("data", (d) => (body += d))
        req.on("end", () => {
          received.push({ method: req.method!, length: req.headers["content-length"], body })
          if (req.method === "HEAD") res.writeHead(200, { "content-length": "1234" }).end()
          else if (req.method === "DELETE") res.writeHead(204).end()
          else res.end(`got ${body}`)
        })
      }))
      const base = `http://127.0.0.1:${server.port}/o`
      const c = yield* client
      const head = yield* c.execute(HttpClientRequest.head(base))
      expect(head.status).toBe(200)
      expect(yield* head.text).toBe("")
      const del = yield* c.execute(HttpClientRequest.del(base))
      expect(del.status).toBe(204)
      const put = yield* c.execute(HttpClientRequest.put(base).pipe(HttpClientRequest.bodyText("hello")))
      expect(yield* put.text).toBe("got hello")
      expect(received.map((r) => [r.method, r.length, r.body])).toEqual([["HEAD", undefined, ""], ["DELETE", "0", ""], [
        "PUT",
        "5",
        "hello"
      ]])
      expect(server.connections()).toBe(1)
    }).pipe(Effect.provide(LazyHttpClient.layer)))

  it.scopedLive("a body left half read: its connection is closed, the next request gets a new one", () =>
    Effect.gen(function*() {
      const big = crypto.randomBytes(4 * 1024 * 1024)
      const server = yield* serve(http.createServer((_, res) => {
        res.writeHead(200, { "content-length": String(big.length) })
        res.end(big)
      }))
      const url = `http://127.0.0.1:${server.port}/big`
      const c = yield* client
      const first = yield* Stream.runHead(Stream.flatMap(Stream.fromEffect(c.get(url)), (r) => r.stream))
      expect(first._tag).toBe("Some")
      expect((yield* bodyOf(url)).bytes.equals(big)).toBe(true)
      expect(server.connections()).toBe(2)
    }).pipe(Effect.provide(LazyHttpClient.layer)))

  it.scopedLive("a client used after its layer closed still answers, on a connection of its own per request", () =>
    Effect.gen(function*() {
      const server = yield* serve(http.createServer((_, res) => res.end("late")))
      // as a service built with Effect.provide(layer) and used afterwards (the layer's scope is gone)
      const late = yield* HttpClient.HttpClient.pipe(Effect.provide(LazyHttpClient.layer))
      for (let i = 0; i < 2; i++) {
        const response = yield* late.get(`http://127.0.0.1:${server.port}/`)
        expect(yield* response.text).toBe("late")
      }
      expect(server.connections()).toBe(2)
    }))

  it.scopedLive("a malformed answer, a refused port, a header with a line break: typed errors saying what was wrong", () =>
    Effect.gen(function*() {
      const server = yield* raw((socket) => socket.end("SMTP ready\r\n\r\n"))
      const c = yield* client
      const bad = yield* Effect.flip(c.get(`http://127.0.0.1:${server.port}/`))
      expect(bad._tag).toBe("RequestError")
      expect(String((bad as { cause?: unknown }).cause)).toContain("not an HTTP/1.x status line")
      // nothing listening: the transport's error, as Node's client gives it
      const port = yield* freePort
      const refused = yield* Effect.flip(c.get(`http://127.0.0.1:${port}/`))
      expect(refused._tag).toBe("RequestError")
      expect((refused as { reason?: string }).reason).toBe("Transport")
      expect(String((refused as { cause?: unknown }).cause)).toContain("ECONNREFUSED")
      const injected = yield* Effect.flip(
        c.execute(HttpClientRequest.get(`http://127.0.0.1:${port}/`).pipe(HttpClientRequest.setHeader("x-a", "b\r\nx-evil: 1")))
      )
      expect(injected._tag).toBe("RequestError")
      expect((injected as { reason?: string }).reason).toBe("Encode")
    }).pipe(Effect.provide(LazyHttpClient.layer)))
})
