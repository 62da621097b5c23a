/**
 * HTTP/1.1 over `node:net` for plain `http:` requests with a body of bytes (or none): the S3 reads
 * of the native read side. Node's client allocates a fresh buffer for every piece of body it
 * reads (a 1 GB restore from S3 made ~7000 of 64 KB, and their garbage collection cost more CPU
 * than decoding half of the blocks); here each connection reads into one buffer of its own, over
 * and over, and a body's chunks are views into it, valid until the next one is pulled (the
 * `TransientBody` of `ReplicaStore`). Connections are kept alive and reused.
 * @internal
 */
import * as Cookies from "@effect/platform/Cookies"
import * as Headers from "@effect/platform/Headers"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as UrlParams from "@effect/platform/UrlParams"
import { TransientBodyTypeId } from "@effect-litestream/core/ReplicaStore"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Inspectable from "effect/Inspectable"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as net from "node:net"

/** bytes a connection reads at once at most: while the body's reader is busy, the kernel gathers more */
const READ_BUFFER = 1024 * 1024
/** a response head larger than this is refused */
const MAX_HEAD = 64 * 1024
/** idle connections kept per host, and for how long */
const MAX_IDLE = 8
const IDLE_MS = 4000

/** Whether `request` goes over this transport: plain http, a body of bytes or text or none. */
export const supports = (request: HttpClientRequest.HttpClientRequest): boolean =>
  request.url.startsWith("http://") &&
  (request.body._tag === "Empty" || request.body._tag === "Uint8Array" ||
    (request.body._tag === "Raw" && (typeof request.body.body === "string" || request.body.body instanceof Uint8Array)))

const enum BodyKind {
  None,
  Length,
  Chunked,
  UntilClose
}

const enum ChunkStage {
  Size,
  Data,
  DataEnd,
  Trailer
}

/** What a connection's reads go to: the exchange in progress. */
interface Reader {
  /** bytes read: a view into the connection's buffer; false pauses the socket */
  readonly data: (bytes: Uint8Array) => boolean
  /** the socket ended or failed */
  readonly end: (error: Error | undefined) => void
}

class Connection {
  readonly socket: net.Socket
  reader: Reader | undefined
  /** no more exchanges: closed, failed, or left in an unknown state */
  dead = false
  /** bytes of responses received so far: a reused connection closed before any is safe to retry */
  received = 0
  idleTimer: ReturnType<typeof setTimeout> | undefined
  constructor(readonly key: string, host: string, port: number, readonly onGone: (connection: Connection) => void) {
    const buffer = Buffer.allocUnsafe(READ_BUFFER)
    this.socket = net.connect({
      host,
      port,
      noDelay: true,
      onread: {
        buffer,
        callback: (n: number, buf: Uint8Array) => {
          if (n <= 0) return true
          this.received += n
          if (this.reader === undefined) {
            // bytes nobody asked for: the connection is out of step
            this.kill()
            return false
          }
          // a plain Uint8Array: a Buffer's slice() would be a view, not the copy its readers expect
          return this.reader.data(new Uint8Array(buf.buffer, buf.byteOffset, n))
        }
      }
    })
    const ended = (error: Error | undefined) => {
      this.dead = true
      const reader = this.reader
      this.reader = undefined
      reader?.end(error)
      this.onGone(this)
    }
    this.socket.on("error", (e) => ended(e))
    this.socket.on("end", () => ended(undefined))
    this.socket.on("close", () => ended(new Error("the connection closed")))
  }
  kill(): void {
    this.dead = true
    this.socket.destroy()
  }
}

/**
 * The connections of one client (a layer): reused while it is open, all closed with it. A client
 * used after its layer closed (a service built with `Effect.provide(layer)` and used later) still
 * works, on a new connection per request.
 */
export class Pool {
  private readonly idle = new Map<string, Array<Connection>>()
  private readonly all = new Set<Connection>()
  closed = false

  /** an idle connection to `host:port`, or (none, or `fresh`) a new one */
  take(host: string, port: number, fresh: boolean): { readonly connection: Connection; readonly reused: boolean } {
    const key = `${host}:${port}`
    const idle = this.idle.get(key)
    while (!fresh && idle !== undefined && idle.length > 0) {
      const connection = idle.pop()!
      clearTimeout(connection.idleTimer)
      if (connection.dead) continue
      connection.socket.ref()
      return { connection, reused: true }
    }
    const connection = new Connection(key, host, port, (c) => this.forget(c))
    this.all.add(connection)
    return { connection, reused: false }
  }

  give(connection: Connection): void {
    if (connection.dead || this.closed) return connection.kill()
    const idle = this.idle.get(connection.key) ?? []
    if (idle.length >= MAX_IDLE) return connection.kill()
    idle.push(connection)
    this.idle.set(connection.key, idle)
    // an idle connection must not keep the process alive, and the server closes it after a while
    connection.socket.unref()
    connection.idleTimer = setTimeout(() => connection.kill(), IDLE_MS)
    connection.idleTimer.unref()
  }

  private forget(connection: Connection): void {
    this.all.delete(connection)
    clearTimeout(connection.idleTimer)
    const idle = this.idle.get(connection.key)
    if (idle !== undefined) {
      const i = idle.indexOf(connection)
      if (i >= 0) idle.splice(i, 1)
    }
  }

  close(): void {
    this.closed = true
    for (const connection of this.all) connection.kill()
    this.all.clear()
    this.idle.clear()
  }
}

const CRLF_CRLF = "\r\n\r\n"

interface Head {
  readonly status: number
  readonly headers: Record<string, string>
  readonly setCookies: Array<string>
  readonly keepAlive: boolean
  readonly kind: BodyKind
  readonly length: number
}

const parseHead = (text: string, method: string): Head | string => {
  const lines = text.split("\r\n")
  const status = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(lines[0]!)
  if (status === null) return `not an HTTP/1.x status line: ${JSON.stringify(lines[0]!.slice(0, 80))}`
  const headers: Record<string, string> = {}
  const setCookies: Array<string> = []
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!
    if (line === "") continue
    const colon = line.indexOf(":")
    if (colon <= 0) return `a malformed header line: ${JSON.stringify(line.slice(0, 80))}`
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    if (name === "set-cookie") setCookies.push(value)
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
  }
  const code = Number(status[2])
  const connection = (headers["connection"] ?? "").toLowerCase()
  const keepAlive = status[1] === "1" ? !connection.includes("close") : connection.includes("keep-alive")
  const encoding = (headers["transfer-encoding"] ?? "").toLowerCase()
  if (method === "HEAD" || code === 204 || code === 304 || (code >= 100 && code < 200)) {
    return { status: code, headers, setCookies, keepAlive, kind: BodyKind.None, length: 0 }
  }
  if (encoding !== "") {
    if (encoding.split(",").at(-1)!.trim() !== "chunked") return `an unsupported transfer encoding: ${encoding}`
    return { status: code, headers, setCookies, keepAlive, kind: BodyKind.Chunked, length: 0 }
  }
  const length = headers["content-length"]
  if (length !== undefined) {
    if (!/^\d+$/.test(length)) return `a malformed content-length: ${JSON.stringify(length)}`
    return { status: code, headers, setCookies, keepAlive, kind: BodyKind.Length, length: Number(length) }
  }
  return { status: code, headers, setCookies, keepAlive: false, kind: BodyKind.UntilClose, length: 0 }
}

const requestHead = (request: HttpClientRequest.HttpClientRequest, url: URL, bodyLength: number | undefined): string => {
  let head = `${request.method} ${url.pathname}${url.search} HTTP/1.1\r\n`
  let host = false
  for (const [name, value] of Object.entries(request.headers)) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new Error(`the header "${name}" holds a line break`)
    if (name === "host") host = true
    if (name === "content-length" || name === "transfer-encoding" || name === "connection") continue
    head += `${name}: ${value}\r\n`
  }
  if (!host) head += `host: ${url.host}\r\n`
  if (bodyLength !== undefined) head += `content-length: ${bodyLength}\r\n`
  return `${head}connection: keep-alive\r\n\r\n`
}

const bodyBytes = (body: HttpClientRequest.HttpClientRequest["body"]): Uint8Array | undefined => {
  switch (body._tag) {
    case "Uint8Array":
      return body.body
    case "Raw":
      return typeof body.body === "string" ? new TextEncoder().encode(body.body) : body.body as Uint8Array
    default:
      return undefined
  }
}

/**
 * One request and its response on a connection: the head arrives through `onHead`; the body is
 * pulled as views into the connection's buffer (the socket waits while a view is out).
 */
class Exchange implements Reader {
  private headText = ""
  head: Head | undefined
  private left = 0
  private stage = ChunkStage.Size
  private line = ""
  /** body views of the last read, not yet handed out */
  private ready: Array<Uint8Array> = []
  private done = false
  private failure: Error | undefined
  private paused = false
  private wake: (() => void) | undefined
  /** the connection is given back, or closed, once */
  private settled = false
  onHead: ((head: Head | Error) => void) | undefined

  constructor(readonly connection: Connection, readonly pool: Pool, readonly method: string) {}

  data(bytes: Uint8Array): boolean {
    try {
      this.parse(bytes)
    } catch (e) {
      this.fail(e instanceof Error ? e : new Error(String(e)))
      return false
    }
    if (this.done && this.ready.length === 0) {
      // nothing of the body is out (there was none, or all of it was read): the connection is free
      this.release()
      this.signal()
      return true
    }
    if (this.ready.length > 0) {
      this.signal()
      // the views point into the connection's buffer: no more reads until they are used
      this.paused = true
      return false
    }
    return true
  }

  end(error: Error | undefined): void {
    if (this.head !== undefined && this.head.kind === BodyKind.UntilClose && error === undefined && !this.done) {
      this.done = true
      this.settled = true
    } else if (!this.done) {
      this.fail(error ?? new Error("the server closed the connection before the response ended"))
    }
    this.signal()
  }

  private fail(error: Error): void {
    if (this.failure === undefined && !this.done) this.failure = error
    if (this.head === undefined) {
      const onHead = this.onHead
      this.onHead = undefined
      onHead?.(error)
    }
    this.close()
  }

  private signal(): void {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }

  private parse(bytes: Uint8Array): void {
    let i = 0
    if (this.head === undefined) {
      // latin1: one character per byte, so offsets in the text are offsets in the bytes
      const before = this.headText.length
      this.headText += Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("latin1")
      const end = this.headText.indexOf(CRLF_CRLF, Math.max(0, before - 3))
      if (end < 0) {
        if (this.headText.length > MAX_HEAD) throw new Error(`the response head is over ${MAX_HEAD} bytes`)
        return
      }
      const head = parseHead(this.headText.slice(0, end), this.method)
      if (typeof head === "string") throw new Error(`a malformed response: ${head}`)
      i = end + 4 - before
      this.headText = ""
      if (head.status >= 100 && head.status < 200) {
        // an interim response (100 Continue): the real one follows
        return this.parse(bytes.subarray(i))
      }
      this.head = head
      this.left = head.length
      if (head.kind === BodyKind.None || (head.kind === BodyKind.Length && head.length === 0)) this.done = true
      const onHead = this.onHead
      this.onHead = undefined
      onHead?.(head)
    }
    const head = this.head
    while (i < bytes.length && !this.done) {
      switch (head.kind) {
        case BodyKind.Length: {
          const n = Math.min(this.left, bytes.length - i)
          this.ready.push(bytes.subarray(i, i + n))
          this.left -= n
          i += n
          if (this.left === 0) this.done = true
          break
        }
        case BodyKind.UntilClose: {
          this.ready.push(bytes.subarray(i))
          i = bytes.length
          break
        }
        case BodyKind.Chunked: {
          i = this.chunked(bytes, i)
          break
        }
        default:
          this.done = true
      }
    }
    if (this.done && i < bytes.length) throw new Error("the server sent bytes after the end of the response")
  }

  /** Transfer-Encoding: chunked, from `i`; returns where it stopped. */
  private chunked(bytes: Uint8Array, i: number): number {
    switch (this.stage) {
      case ChunkStage.Size:
      case ChunkStage.Trailer: {
        const lf = bytes.indexOf(10, i)
        const end = lf < 0 ? bytes.length : lf + 1
        this.line += Buffer.from(bytes.buffer, bytes.byteOffset + i, end - i).toString("latin1")
        if (this.line.length > 8192) throw new Error("a chunk size or trailer line is over 8 KiB")
        if (lf < 0) return end
        const line = this.line.replace(/\r?\n$/, "")
        this.line = ""
        if (this.stage === ChunkStage.Trailer) {
          if (line === "") this.done = true
          return end
        }
        const size = /^([0-9a-fA-F]{1,12})(?:;.*)?$/.exec(line.trim())
        if (size === null) throw new Error(`a malformed chunk size: ${JSON.stringify(line.slice(0, 40))}`)
        this.left = parseInt(size[1]!, 16)
        this.stage = this.left === 0 ? ChunkStage.Trailer : ChunkStage.Data
        return end
      }
      case ChunkStage.Data: {
        const n = Math.min(this.left, bytes.length - i)
        this.ready.push(bytes.subarray(i, i + n))
        this.left -= n
        if (this.left === 0) {
          this.stage = ChunkStage.DataEnd
          this.left = 2
        }
        return i + n
      }
      case ChunkStage.DataEnd: {
        // the CRLF after a chunk's data
        while (this.left > 0 && i < bytes.length) {
          const expected = this.left === 2 ? 13 : 10
          if (bytes[i] !== expected) throw new Error("a chunk's data is not followed by CRLF")
          this.left--
          i++
        }
        if (this.left === 0) this.stage = ChunkStage.Size
        return i
      }
    }
  }

  /** The next views of the body (valid until the next pull), or none at its end. */
  readonly pull: Effect.Effect<Chunk.Chunk<Uint8Array>, Option.Option<Error>> = Effect.suspend(() => {
    if (this.ready.length > 0) {
      const views = this.ready
      this.ready = []
      return Effect.succeed(Chunk.unsafeFromArray(views))
    }
    if (this.failure !== undefined) return Effect.fail(Option.some(this.failure))
    if (this.done) {
      this.release()
      return Effect.fail(Option.none())
    }
    // the views handed out before are used: read on
    if (this.paused) {
      this.paused = false
      this.connection.socket.resume()
    }
    return Effect.flatMap(Effect.async<void>((resume) => {
      this.wake = () => resume(Effect.void)
      return Effect.sync(() => {
        this.wake = undefined
      })
    }), () => this.pull)
  })

  /** The body is read to its end: the connection serves the next request (or closes). */
  private release(): void {
    if (this.settled) return
    this.settled = true
    this.connection.reader = undefined
    if (this.head?.keepAlive === true && !this.connection.dead) {
      if (this.paused) {
        this.paused = false
        this.connection.socket.resume()
      }
      this.pool.give(this.connection)
    } else {
      this.connection.kill()
    }
  }

  /** Closes the connection unless the exchange ended cleanly (a body left unread, an error). */
  close(): void {
    if (this.settled) return
    this.settled = true
    this.connection.reader = undefined
    this.connection.kill()
  }
}

/** Sends `request` on a connection of `pool`; a reused connection that closes before answering is retried once on a new one. */
const send = (
  pool: Pool,
  request: HttpClientRequest.HttpClientRequest,
  url: URL,
  fresh = false
): Effect.Effect<Exchange, HttpClientError.RequestError> =>
  Effect.suspend(() => {
    let head: string
    const body = bodyBytes(request.body)
    try {
      head = requestHead(request, url, body?.length ?? (request.method === "GET" || request.method === "HEAD" ? undefined : 0))
    } catch (e) {
      return Effect.fail(new HttpClientError.RequestError({ request, reason: "Encode", cause: e }))
    }
    const { connection, reused } = pool.take(url.hostname, portOf(url), fresh)
    const exchange = new Exchange(connection, pool, request.method)
    const receivedBefore = connection.received
    return Effect.async<Exchange | "retry", HttpClientError.RequestError>((resume) => {
      exchange.onHead = (result) => {
        if (!(result instanceof Error)) return resume(Effect.succeed(exchange))
        // a kept-alive connection the server had closed: nothing was answered, so send it again
        const idempotent = request.method === "GET" || request.method === "HEAD"
        if (reused && idempotent && connection.received === receivedBefore) return resume(Effect.succeed("retry" as const))
        resume(Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", cause: result })))
      }
      connection.reader = exchange
      connection.socket.write(head, "latin1")
      if (body !== undefined && body.length > 0) connection.socket.write(body)
      return Effect.sync(() => exchange.close())
    }).pipe(Effect.flatMap((result) => result === "retry" ? send(pool, request, url, true) : Effect.succeed(result)))
  })

const portOf = (url: URL) => url.port === "" ? 80 : Number(url.port)

/** Executes `request` (see `supports`) over `pool`. */
export const execute = (
  pool: Pool,
  request: HttpClientRequest.HttpClientRequest
): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError> =>
  Effect.suspend(() => {
    const url = UrlParams.makeUrl(request.url, request.urlParams, request.hash)
    if (url._tag === "Left") return Effect.fail(new HttpClientError.RequestError({ request, reason: "InvalidUrl", cause: url.left }))
    return Effect.map(send(pool, request, url.right), (exchange) => {
      const response = new Response(request, exchange)
      abandoned.register(response, exchange)
      return response
    })
  })

// a response dropped with its body unread would hold its connection (and the process) open
const abandoned = new FinalizationRegistry<Exchange>((exchange) => exchange.close())

/** The response: its head parsed, its body read on demand (once). */
class Response extends Inspectable.Class implements HttpClientResponse.HttpClientResponse {
  readonly [HttpClientResponse.TypeId]: HttpClientResponse.TypeId = HttpClientResponse.TypeId
  readonly [HttpIncomingMessage.TypeId]: HttpIncomingMessage.TypeId = HttpIncomingMessage.TypeId
  readonly status: number
  readonly headers: Headers.Headers
  readonly cookies: Cookies.Cookies
  readonly remoteAddress: Option.Option<string>
  constructor(readonly request: HttpClientRequest.HttpClientRequest, private readonly exchange: Exchange) {
    super()
    const head = exchange.head!
    this.status = head.status
    this.headers = Headers.fromInput(head.headers)
    this.cookies = head.setCookies.length === 0 ? Cookies.empty : Cookies.fromSetCookie(head.setCookies)
    this.remoteAddress = Option.fromNullable(exchange.connection.socket.remoteAddress)
  }

  private decodeError(cause: unknown): HttpClientError.ResponseError {
    return new HttpClientError.ResponseError({ request: this.request, response: this, reason: "Decode", cause })
  }

  /** the body's chunks as views into the connection's buffer, each valid until the next is pulled */
  [TransientBodyTypeId](): Stream.Stream<Uint8Array, HttpClientError.ResponseError> {
    const exchange = this.exchange
    return Stream.repeatEffectChunkOption(exchange.pull).pipe(
      Stream.mapError((cause) => this.decodeError(cause)),
      // a body left before its end (interrupted, failed downstream) takes its connection with it
      Stream.ensuring(Effect.sync(() => exchange.close()))
    )
  }

  get stream(): Stream.Stream<Uint8Array, HttpClientError.ResponseError> {
    return this[TransientBodyTypeId]().pipe(Stream.mapChunks(Chunk.map((view) => view.slice())))
  }

  get arrayBuffer(): Effect.Effect<ArrayBuffer, HttpClientError.ResponseError> {
    return Stream.runCollect(this.stream).pipe(Effect.map((chunks) => {
      const joined = Buffer.concat(Chunk.toArray(chunks))
      // a small Buffer lives in Node's shared pool: hand out only its own bytes
      return joined.byteOffset === 0 && joined.byteLength === joined.buffer.byteLength
        ? joined.buffer as ArrayBuffer
        : joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength) as ArrayBuffer
    }))
  }

  get text(): Effect.Effect<string, HttpClientError.ResponseError> {
    return Effect.map(this.arrayBuffer, (bytes) => new TextDecoder().decode(bytes))
  }

  get json(): Effect.Effect<unknown, HttpClientError.ResponseError> {
    return Effect.flatMap(this.text, (text) =>
      Effect.try({ try: () => (text === "" ? null : JSON.parse(text)), catch: (cause) => this.decodeError(cause) }))
  }

  get urlParamsBody(): Effect.Effect<UrlParams.UrlParams, HttpClientError.ResponseError> {
    return Effect.map(this.text, (text) => UrlParams.fromInput(new URLSearchParams(text)))
  }

  get formData(): Effect.Effect<FormData, HttpClientError.ResponseError> {
    return Effect.fail(this.decodeError(new Error("form data bodies are not read by this client")))
  }

  toJSON(): unknown {
    return HttpIncomingMessage.inspect(this, {
      _id: "@effect/platform/HttpClientResponse",
      request: this.request.toJSON(),
      status: this.status
    })
  }
}
