/**
 * ReplicaStore, the native read side's object access, against real stores on loopback: replicas
 * written by the real litestream v0.3.13 (file:// and fauxqs), compared with what litestream
 * itself lists, with the files on disk and with the S3 server's own (V1) listing; pagination
 * past 1000 keys; the typed errors (missing key, missing bucket, closed port, a body cut short,
 * 5xx, another scheme); and, when moto's server is installed, a server that verifies Signature V4
 * refusing a wrong secret.
 */
import { LitestreamConfig, LitestreamError, type ReplicaUrl } from "@effect-litestream/core"
import * as ReplicaStore from "@effect-litestream/core/ReplicaStore"
import * as ReplicaStoreError from "@effect-litestream/core/ReplicaStoreError"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as LazyHttpClient from "@effect-litestream/node/LazyHttpClient"
import * as NodePathLayer from "@effect/platform-node/NodePath"
import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { spawn, spawnSync } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as http from "node:http"
import type * as net from "node:net"
import * as NodePath from "node:path"
import { freePort, renderings, tempDir } from "../support/Fixtures.js"
import { ACCESS_KEY_ID, dbPath, guardAgainstLeaks, once, SECRET, services } from "../support/Harness.js"
import { generations, snapshots, wal } from "../support/Replication.js"
import { S3Server } from "../support/S3Server.js"
import * as Sqlite from "../support/Sqlite.js"

guardAgainstLeaks()

const credentials = { accessKeyId: Redacted.make(ACCESS_KEY_ID), secretAccessKey: Redacted.make(SECRET) }

/** The HTTP clients the S3 store is tried with: platform-node's, and the one the Node layers give it. */
const clients = [
  { name: "platform-node's client", layer: NodeHttpClient.layer },
  { name: "the Node layers' client (LazyHttpClient)", layer: LazyHttpClient.layer }
] as const

/** The platform services the store needs, on Node. */
const platform = Layer.mergeAll(NodeHttpClient.layer, NodeFileSystem.layer)

/** The store of the configured replica, beside the Node layer's services (litestream's own listing among them). */
const withStore = (folder: string, url: string) =>
  Layer.provideMerge(ReplicaStore.layer.pipe(Layer.provide(platform)), services(folder, url))

const store = ReplicaStore.ReplicaStore
type StoreEffect = Effect.Effect<unknown, ReplicaStoreError.ReplicaStoreError, ReplicaStore.ReplicaStore>

const listAll = (prefix?: string) =>
  Effect.flatMap(store, (s) => Stream.runCollect(s.list(prefix))).pipe(Effect.map(Chunk.toArray))
const foldersOf = (prefix?: string) =>
  Effect.flatMap(store, (s) => Stream.runCollect(s.folders(prefix))).pipe(Effect.map(Chunk.toArray))
const readBytes = (key: string) => Effect.flatMap(store, (s) => s.readAll(key))
/** `read` chunk by chunk: the bytes joined, and how many chunks came. */
const readChunks = (key: string) =>
  Effect.flatMap(store, (s) => Stream.runCollect(s.read(key))).pipe(
    Effect.map((chunks) => ({ bytes: Buffer.concat(Chunk.toArray(chunks)), chunks: Chunk.size(chunks) }))
  )

/** Fails the test if a secret appears in any rendering of the error. */
const expectNoSecrets = (error: unknown, ...secrets: ReadonlyArray<string>) => {
  for (const text of renderings(error)) {
    for (const secret of [SECRET, ...secrets]) expect(text).not.toContain(secret)
  }
}

/** Byte order of UTF-8, S3's listing order. */
const byUtf8 = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b))

/** The files under a folder, as keys relative to it with their sizes, in S3's order. */
const filesOnDisk = (root: string): Array<{ key: string; size: number }> => {
  if (!fs.existsSync(root)) return []
  const found: Array<{ key: string; size: number }> = []
  const walk = (dir: string, prefix: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const key = prefix === "" ? entry.name : `${prefix}/${entry.name}`
      if (entry.isDirectory()) walk(NodePath.join(dir, entry.name), key)
      else if (entry.isFile()) found.push({ key, size: fs.statSync(NodePath.join(dir, entry.name)).size })
    }
  }
  walk(root, "")
  return found.sort((a, b) => byUtf8(a.key, b.key))
}

// --- the S3 server's side, in plain HTTP (fauxqs checks no signature) ---------------------------

const objectUrl = (port: number, bucket: string, key: string) =>
  `http://127.0.0.1:${port}/${bucket}/${key.split("/").map(encodeURIComponent).join("/")}`

const putRaw = (port: number, bucket: string, key: string, body: Uint8Array) =>
  Effect.promise(async () => {
    const response = await fetch(objectUrl(port, bucket, key), { method: "PUT", body })
    if (!response.ok) throw new Error(`PUT ${key}: ${response.status} ${await response.text()}`)
  })

const getRaw = (port: number, bucket: string, key: string) =>
  Effect.promise(async () => {
    const response = await fetch(objectUrl(port, bucket, key))
    if (!response.ok) throw new Error(`GET ${key}: ${response.status}`)
    return Buffer.from(await response.arrayBuffer())
  })

const xmlValues = (xml: string, name: string) =>
  Array.from(xml.matchAll(new RegExp(`<${name}>([\\s\\S]*?)</${name}>`, "g")), (m) =>
    m[1]!.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, "\"").replace(/&apos;/g, "'").replace(
      /&amp;/g,
      "&"
    ))

/** The server's own listing, with the other API (ListObjects V1, markers), 1000 keys a page. */
const listRawV1 = (port: number, bucket: string, prefix: string) =>
  Effect.promise(async () => {
    const found: Array<{ key: string; size: number }> = []
    let marker = ""
    for (;;) {
      const response = await fetch(
        `http://127.0.0.1:${port}/${bucket}?prefix=${encodeURIComponent(prefix)}&marker=${encodeURIComponent(marker)}`
      )
      const xml = await response.text()
      if (!response.ok) throw new Error(`list: ${response.status} ${xml}`)
      for (const block of xmlValues(xml, "Contents")) {
        found.push({ key: xmlValues(block, "Key")[0]!, size: Number(xmlValues(block, "Size")[0]) })
      }
      if (xmlValues(xml, "IsTruncated")[0] !== "true") return found
      marker = found[found.length - 1]!.key
    }
  })

/** An HttpClient that counts the requests it sends, by their query's first parameter. */
const countingClient = (counts: Array<string>) =>
  Layer.effect(
    HttpClient.HttpClient,
    Effect.map(HttpClient.HttpClient, (client) =>
      client.pipe(HttpClient.tapRequest((request) => Effect.sync(() => void counts.push(`${request.method} ${request.url}`)))))
  ).pipe(Layer.provide(NodeHttpClient.layer))

const s3Store = (port: number, bucket: string, root: string, extra: Partial<ReplicaStore.S3Options> = {}) =>
  ReplicaStore.layerS3({
    replica: `s3://${bucket}.localhost:${port}/${root}`,
    bucket,
    root,
    endpoint: `http://localhost:${port}`,
    region: "us-east-1",
    forcePathStyle: true,
    credentials,
    ...extra
  })

// --- replicas written by litestream --------------------------------------------------------------

interface Backend {
  readonly name: string
  readonly replica: (dir: string) => Effect.Effect<{
    readonly url: string
    /** the server's or the disk's own view: keys relative to the replica's root, with sizes */
    readonly truth: Effect.Effect<Array<{ key: string; size: number }>>
    readonly bytes: (key: string) => Effect.Effect<Buffer>
  }, never, Scope.Scope>
}

const backends: ReadonlyArray<Backend> = [
  {
    name: "file://",
    replica: (dir) => {
      const root = NodePath.join(dir, "replica")
      return Effect.succeed({
        url: `file://${root}`,
        truth: Effect.sync(() => filesOnDisk(root)),
        bytes: (key) => Effect.sync(() => fs.readFileSync(NodePath.join(root, key)))
      })
    }
  },
  {
    name: "S3 (fauxqs, s3://BUCKET.localhost:PORT/path)",
    replica: () =>
      Effect.map(Effect.orDie(S3Server("backups")), (s3) => ({
        url: s3.url("apps/app.db"),
        truth: listRawV1(s3.port, "backups", "apps/app.db/").pipe(
          Effect.map((found) => found.map(({ key, size }) => ({ key: key.slice("apps/app.db/".length), size })))
        ),
        bytes: (key) => getRaw(s3.port, "backups", `apps/app.db/${key}`)
      }))
  }
]

const hex8 = (n: number) => n.toString(16).padStart(8, "0")

describe.each(backends)("ReplicaStore on a replica written by litestream, $name", (backend) => {
  it.scopedLive("list gives exactly the replica's objects, as litestream and the store itself see them; read gives their bytes", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const replica = yield* backend.replica(dir)
      const db = dbPath(dir)
      Sqlite.createDatabase(db, 300)
      yield* Effect.gen(function*() {
        yield* once({ timeout: "20 seconds" })
        Sqlite.addRows(db, 200)
        yield* once({ timeout: "20 seconds" })

        const listed = yield* listAll()
        const truth = yield* replica.truth
        expect(truth.length).toBeGreaterThan(2)
        // the same objects, sizes and order as the store's own view
        expect(listed.map(({ key, size }) => ({ key, size }))).toEqual(truth)
        for (const object of listed) {
          expect(object.lastModified).toBeInstanceOf(Date)
          expect(Math.abs(object.lastModified.getTime() - Date.now())).toBeLessThan(5 * 60_000)
        }

        // ... and exactly what litestream lists: its generations, snapshots and WAL segments
        const gens = yield* generations()
        const expected = [
          ...(yield* snapshots()).map((s) => ({
            key: `generations/${s.generation}/snapshots/${hex8(s.index)}.snapshot.lz4`,
            size: s.size
          })),
          ...(yield* wal()).map((w) => ({
            // v0.3.13 names a segment <index>_<offset>.wal.lz4 in one wal/ folder per generation
            key: `generations/${w.generation}/wal/${hex8(w.index)}_${hex8(w.offset)}.wal.lz4`,
            size: w.size
          }))
        ].sort((a, b) => byUtf8(a.key, b.key))
        expect(listed.map(({ key, size }) => ({ key, size }))).toEqual(expected)
        expect(yield* foldersOf("generations/")).toEqual(gens.map((g) => `generations/${g.generation}/`).sort())
        expect(yield* foldersOf()).toEqual(["generations/"])

        // a prefix: one generation's WAL only
        const gen = gens[0]!.generation
        expect((yield* listAll(`generations/${gen}/wal/`)).map((o) => o.key)).toEqual(
          listed.map((o) => o.key).filter((k) => k.startsWith(`generations/${gen}/wal/`))
        )
        expect(yield* listAll("generations/nothing-here/")).toEqual([])

        // every object read back, byte for byte, as a stream and whole
        for (const object of listed) {
          const expectedBytes = yield* replica.bytes(object.key)
          const streamed = yield* readChunks(object.key)
          expect(streamed.bytes.equals(expectedBytes)).toBe(true)
          expect(Buffer.from(yield* readBytes(object.key)).equals(expectedBytes)).toBe(true)
        }

        // a key that is not there: ReplicaObjectNotFound, naming it
        const missing = `generations/${gen}/snapshots/ffffffff.snapshot.lz4`
        const error = yield* Effect.flip(readBytes(missing))
        expect(error).toBeInstanceOf(ReplicaStoreError.ReplicaObjectNotFound)
        expect(error).toMatchObject({ key: missing, replica: replica.url })
        expect(error.message).toContain(missing)
        expectNoSecrets(error, ACCESS_KEY_ID)
      }).pipe(Effect.provide(withStore(dir, replica.url)))
    }))

  it.scopedLive("an empty replica lists nothing and is no error", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const replica = yield* backend.replica(dir)
      yield* Effect.gen(function*() {
        expect(yield* listAll()).toEqual([])
        expect(yield* foldersOf("generations/")).toEqual([])
      }).pipe(Effect.provide(withStore(dir, replica.url)))
    }))
})

// --- S3 specifics --------------------------------------------------------------------------------

describe("ReplicaStore on S3 (fauxqs)", () => {
  it.scopedLive("pagination: 1205 keys in 2 pages of 1000, in 13 pages of 100; folders over pages", () =>
    Effect.gen(function*() {
      const s3 = yield* Effect.orDie(S3Server("backups"))
      const keys = Array.from({ length: 1205 }, (_, i) => `many/d${String(i % 31).padStart(2, "0")}/k${String(i).padStart(5, "0")}`)
      yield* Effect.forEach(keys, (key, i) => putRaw(s3.port, "backups", `root/${key}`, new Uint8Array(1 + (i % 97))), {
        concurrency: 16
      })
      // beside the root, not under it
      yield* putRaw(s3.port, "backups", "rootless/x", new Uint8Array(3))
      const expected = keys.map((key, i) => ({ key, size: 1 + (i % 97) })).sort((a, b) => byUtf8(a.key, b.key))

      for (const [pageSize, pages] of [[undefined, 2], [100, 13]] as const) {
        const sent: Array<string> = []
        const listed = yield* listAll().pipe(
          Effect.provide(s3Store(s3.port, "backups", "root", { pageSize }).pipe(Layer.provide(countingClient(sent))))
        )
        expect(listed.map(({ key, size }) => ({ key, size }))).toEqual(expected)
        expect(sent.filter((r) => r.includes("list-type=2"))).toHaveLength(pages)
        // the second page asks with the token of the first
        expect(sent[1]).toContain("continuation-token=")
      }
      const sent: Array<string> = []
      const folders = yield* foldersOf("many/").pipe(
        Effect.provide(s3Store(s3.port, "backups", "root", { pageSize: 7 }).pipe(Layer.provide(countingClient(sent))))
      )
      expect(folders).toEqual(Array.from({ length: 31 }, (_, i) => `many/d${String(i).padStart(2, "0")}/`))
      expect(sent.length).toBe(5)
    }))

  it.scopedLive("keys with spaces, '+', '%', unicode are listed and read as they are", () =>
    Effect.gen(function*() {
      const s3 = yield* Effect.orDie(S3Server("backups"))
      const keys = ["a b/c+d.bin", "100%/x", "é/ü ß.lz4", "q?=&/y", "tilde~/z"]
      for (const [i, key] of keys.entries()) {
        yield* putRaw(s3.port, "backups", `r/${key}`, new TextEncoder().encode(`body ${i} of ${key}`))
      }
      for (const client of clients) {
        yield* Effect.gen(function*() {
          const listed = yield* listAll()
          // (fauxqs orders its listing with localeCompare, not by bytes as S3 does: compared as a set)
          expect(listed.map((o) => o.key).sort(byUtf8)).toEqual([...keys].sort(byUtf8))
          for (const [i, key] of keys.entries()) {
            expect(new TextDecoder().decode(yield* readBytes(key))).toBe(`body ${i} of ${key}`)
          }
        }).pipe(Effect.provide(s3Store(s3.port, "backups", "r").pipe(Layer.provide(client.layer))))
      }
    }))

  it.scopedLive("a large object comes as a stream of chunks; the fetch HttpClient works the same", () =>
    Effect.gen(function*() {
      const s3 = yield* Effect.orDie(S3Server("backups"))
      const big = crypto.randomBytes(9 * 1024 * 1024 + 17)
      yield* putRaw(s3.port, "backups", "db/big.bin", big)
      for (const client of [...clients.map((c) => c.layer), FetchHttpClient.layer]) {
        const got = yield* readChunks("big.bin").pipe(
          Effect.provide(s3Store(s3.port, "backups", "db").pipe(Layer.provide(client)))
        )
        expect(got.bytes.equals(big)).toBe(true)
        expect(got.chunks).toBeGreaterThan(1)
        // readReusing: chunks that may be views into a reused buffer, each copied before the next
        const copied = yield* Effect.flatMap(store, (st) =>
          Stream.runCollect(Stream.map(ReplicaStore.readTransient(st, "big.bin"), (chunk) => Buffer.from(chunk)))).pipe(
            Effect.provide(s3Store(s3.port, "backups", "db").pipe(Layer.provide(client)))
          )
        expect(Buffer.concat(Chunk.toArray(copied)).equals(big)).toBe(true)
      }
    }))

  it.scopedLive("a missing bucket: ReplicaUnreachable saying NoSuchBucket", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const s3 = yield* Effect.orDie(S3Server("backups"))
      const url = s3.urlIn("no-such-bucket", "apps/app.db")
      const error = yield* Effect.flip(listAll().pipe(Effect.provide(withStore(dir, url))))
      expect(error).toBeInstanceOf(LitestreamError.ReplicaUnreachable)
      expect(error).toMatchObject({ replica: url })
      expect((error as LitestreamError.ReplicaUnreachable).detail).toContain("NoSuchBucket")
      expectNoSecrets(error, ACCESS_KEY_ID)
    }))

  it.scopedLive("nothing listening (a closed port): ReplicaUnreachable, after the retries", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const port = yield* freePort
      const url = `s3://backups.localhost:${port}/apps/app.db`
      const effects: ReadonlyArray<StoreEffect> = [listAll(), readBytes("generations/x")]
      for (const effect of effects) {
        const error = yield* Effect.flip(effect.pipe(Effect.provide(withStore(dir, url))))
        expect(error).toBeInstanceOf(LitestreamError.ReplicaUnreachable)
        expect(error).toMatchObject({ replica: url })
        expect((error as LitestreamError.ReplicaUnreachable).detail).toMatch(/ECONNREFUSED/)
        expectNoSecrets(error, ACCESS_KEY_ID)
      }
    }))
})

// --- answers no S3 server gives on purpose: a stand-in on loopback -------------------------------

/** An HTTP server on loopback that answers every request with `handler`; closed with the scope. */
const standIn = (handler: (req: http.IncomingMessage, res: http.ServerResponse) => void) =>
  Effect.acquireRelease(
    Effect.async<{ server: http.Server; port: number; requests: Array<http.IncomingMessage> }>((resume) => {
      const requests: Array<http.IncomingMessage> = []
      const server = http.createServer((req, res) => {
        requests.push(req)
        handler(req, res)
      })
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({ server, port: (server.address() as net.AddressInfo).port, requests })))
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

describe.each(clients)("ReplicaStore on S3: failures in the middle, $name", (client) => {
  it.scopedLive("a body cut short: ReplicaUnreachable, not a short object", () =>
    Effect.gen(function*() {
      const server = yield* standIn((_, res) => {
        res.writeHead(200, { "content-length": "100000" })
        res.write(Buffer.alloc(1000, 7), () => res.socket?.destroy())
      })
      const error = yield* Effect.flip(
        readBytes("k").pipe(Effect.provide(s3Store(server.port, "b", "r").pipe(Layer.provide(client.layer))))
      )
      expect(error).toBeInstanceOf(LitestreamError.ReplicaUnreachable)
      expect(error.message).toMatch(/reading "k"|ended after/)
      expectNoSecrets(error, ACCESS_KEY_ID)
    }))

  it.scopedLive("a 500 is retried (twice by default), then ReplicaStoreFailed with the status and S3's code", () =>
    Effect.gen(function*() {
      const server = yield* standIn((_, res) => {
        res.writeHead(500, { "content-type": "application/xml" })
        res.end("<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>")
      })
      const error = yield* Effect.flip(
        listAll().pipe(Effect.provide(s3Store(server.port, "b", "r").pipe(Layer.provide(client.layer))))
      )
      expect(error).toBeInstanceOf(ReplicaStoreError.ReplicaStoreFailed)
      expect(error).toMatchObject({ status: 500, code: "InternalError", operation: "list" })
      expect(error.message).toContain("HTTP 500, InternalError")
      expect(server.requests).toHaveLength(3)
    }))

  it.scopedLive("403 SignatureDoesNotMatch: ReplicaAccessDenied, no key id or secret in it, not retried", () =>
    Effect.gen(function*() {
      const server = yield* standIn((_, res) => {
        res.writeHead(403, { "content-type": "application/xml" })
        // S3 echoes the access key id, and a server could echo anything
        res.end(
          `<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided (${ACCESS_KEY_ID}, ${SECRET}).</Message><AWSAccessKeyId>${ACCESS_KEY_ID}</AWSAccessKeyId></Error>`
        )
      })
      const error = yield* Effect.flip(
        readBytes("k").pipe(Effect.provide(s3Store(server.port, "b", "r").pipe(Layer.provide(client.layer))))
      )
      expect(error).toBeInstanceOf(LitestreamError.ReplicaAccessDenied)
      expect(error.message).toContain("SignatureDoesNotMatch")
      expectNoSecrets(error, ACCESS_KEY_ID)
      expect(server.requests).toHaveLength(1)
      // what went over the wire: the Authorization header holds the key id, never the secret
      const sent = server.requests[0]!
      expect(sent.headers.authorization).toMatch(
        new RegExp(`^AWS4-HMAC-SHA256 Credential=${ACCESS_KEY_ID}/\\d{8}/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$`)
      )
      expect(JSON.stringify(sent.headers) + sent.url).not.toContain(SECRET)
      expect(sent.url).toBe("/b/r/k")
    }))
})

// --- file:// specifics ---------------------------------------------------------------------------

describe("ReplicaStore on file://", () => {
  it.scopedLive("listed in UTF-8 byte order (as S3), prefixes as plain strings, empty folders absent, nothing outside the root", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const root = NodePath.join(dir, "replica")
      const files = ["a-b", "a/b", "a.b", "a/b-c/d", "ab", "é", "\u{1F600}", "\uFF01", "z/ y", "gen/0001/x", "gen/0002/x"]
      for (const [i, key] of files.entries()) {
        fs.mkdirSync(NodePath.dirname(NodePath.join(root, key)), { recursive: true })
        fs.writeFileSync(NodePath.join(root, key), Buffer.alloc(i + 1, i))
      }
      fs.mkdirSync(NodePath.join(root, "gen/0003/empty"), { recursive: true })
      fs.writeFileSync(NodePath.join(dir, "outside"), "not in the replica")
      yield* Effect.gen(function*() {
        const listed = yield* listAll()
        expect(listed.map((o) => o.key)).toEqual([...files].sort(byUtf8))
        expect(listed.map(({ key, size }) => ({ key, size }))).toEqual(filesOnDisk(root))
        expect((yield* listAll("a")).map((o) => o.key)).toEqual(["a-b", "a.b", "a/b", "a/b-c/d", "ab"])
        expect((yield* listAll("a/b")).map((o) => o.key)).toEqual(["a/b", "a/b-c/d"])
        expect((yield* listAll("gen/0001/")).map((o) => o.key)).toEqual(["gen/0001/x"])
        expect(yield* foldersOf("gen/")).toEqual(["gen/0001/", "gen/0002/"])
        expect(yield* foldersOf("gen/0002")).toEqual(["gen/0002/"])
        expect(yield* foldersOf()).toEqual(["a/", "gen/", "z/"])
        expect(Buffer.from(yield* readBytes("a/b-c/d")).equals(Buffer.alloc(4, 3))).toBe(true)

        for (const key of ["../outside", "a/../../outside", "/etc/passwd", "", "a/./b"]) {
          const error = yield* Effect.flip(readBytes(key))
          expect(error).toBeInstanceOf(ReplicaStoreError.ReplicaStoreFailed)
        }
        expect(yield* Effect.flip(listAll("../"))).toBeInstanceOf(ReplicaStoreError.ReplicaStoreFailed)
        const missing = yield* Effect.flip(readBytes("gen/0009/x"))
        expect(missing).toBeInstanceOf(ReplicaStoreError.ReplicaObjectNotFound)
        expect(missing.message).toContain("gen/0009/x")
        const folder = yield* Effect.flip(readBytes("gen/0001"))
        expect(folder).toBeInstanceOf(ReplicaStoreError.ReplicaStoreFailed)
      }).pipe(Effect.provide(ReplicaStore.layerFile({ replica: `file://${root}`, root }).pipe(Layer.provide(NodeFileSystem.layer))))
    }))

  it.scopedLive("a file of 5 MB is read in chunks of the size asked for", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const big = crypto.randomBytes(5 * 1024 * 1024)
      fs.writeFileSync(NodePath.join(dir, "big"), big)
      const got = yield* readChunks("big").pipe(
        Effect.provide(ReplicaStore.layerFile({ replica: `file://${dir}`, root: dir, chunkSize: 1024 * 1024 }).pipe(Layer.provide(NodeFileSystem.layer)))
      )
      expect(got.bytes.equals(big)).toBe(true)
      expect(got.chunks).toBe(5)
    }))
})

// --- settings ------------------------------------------------------------------------------------

const resolve = (input: LitestreamConfig.Input) =>
  LitestreamConfig.make(input).pipe(Effect.provide(NodePathLayer.layer), Effect.orDie)

describe("ReplicaStore from the settings", () => {
  it.effect("gs://, abs://, sftp://: NativeReadUnsupported, pointing to the litestream-based layers", () =>
    Effect.gen(function*() {
      for (const url of ["gs://bucket/db", "abs://container/db", "sftp://host/db"]) {
        const config = yield* resolve({ replicaUrl: url, accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET })
        const error = yield* Effect.flip(
          Effect.provide(store, ReplicaStore.layer.pipe(Layer.provide([platform, Layer.succeed(LitestreamConfig.LitestreamConfig, config)])))
        )
        expect(error).toBeInstanceOf(ReplicaStoreError.NativeReadUnsupported)
        expect(error.message).toMatch(/supports file:\/\/ and s3:\/\//)
        expect(error.message).toContain("litestream-based")
        expectNoSecrets(error, ACCESS_KEY_ID)
      }
    }))

  it.effect("s3Options follows litestream v0.3.13: localhost URL, REPLICA_ENDPOINT / REGION / FORCE_PATH_STYLE, AWS", () =>
    Effect.gen(function*() {
      const keys = { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET }
      const options = (input: Omit<LitestreamConfig.Input, "accessKeyId" | "secretAccessKey">) =>
        Effect.map(resolve({ ...keys, ...input }), (config) =>
          ReplicaStore.s3Options(config, config.replica as ReplicaUrl.S3Replica))

      const local = yield* options({ replicaUrl: "s3://backups.localhost:9000/apps/app.db" })
      expect(local).toMatchObject({
        bucket: "backups",
        root: "apps/app.db",
        endpoint: "http://localhost:9000",
        region: "us-east-1",
        forcePathStyle: true
      })
      expect(Redacted.value(local.credentials!.secretAccessKey)).toBe(SECRET)
      expect(JSON.stringify(local)).not.toContain(SECRET)
      expect(String(local.credentials!.secretAccessKey)).not.toContain(SECRET)

      expect(
        yield* options({ replicaUrl: "s3://bkt/p", endpoint: "https://acct.r2.example.test", region: "auto" })
      ).toMatchObject({ endpoint: "https://acct.r2.example.test", region: "auto", forcePathStyle: true })
      expect(
        yield* options({ replicaUrl: "s3://bkt/p", endpoint: "https://nyc3.spaces.example.test", forcePathStyle: false })
      ).toMatchObject({ region: "us-east-1", forcePathStyle: false })
      // REPLICA_ENDPOINT wins over the URL's localhost, as in litestream
      expect(
        yield* options({ replicaUrl: "s3://bkt.localhost:9000/p", endpoint: "http://127.0.0.1:9100" })
      ).toMatchObject({ endpoint: "http://127.0.0.1:9100" })
      // AWS itself: no endpoint, region looked up, virtual-hosted style (nothing is contacted here)
      expect(yield* options({ replicaUrl: "s3://bkt/p" })).toMatchObject({
        endpoint: undefined,
        region: undefined,
        forcePathStyle: false
      })
      expect(yield* options({ replicaUrl: "s3://bkt/p", region: "eu-west-3" })).toMatchObject({ region: "eu-west-3" })
    }))

  it.effect("stray AWS_* variables are not read: the configured keys sign", () =>
    Effect.gen(function*() {
      const saved = { ...process.env }
      process.env.AWS_ACCESS_KEY_ID = "AKIASTRAYSTRAYSTRAY"
      process.env.AWS_SECRET_ACCESS_KEY = "stray-secret"
      process.env.AWS_REGION = "ap-south-1"
      try {
        const config = yield* resolve({ replicaUrl: "s3://bkt.localhost:9000/p", accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET })
        const options = ReplicaStore.s3Options(config, config.replica as ReplicaUrl.S3Replica)
        expect(Redacted.value(options.credentials!.accessKeyId)).toBe(ACCESS_KEY_ID)
        expect(options.region).toBe("us-east-1")
      } finally {
        process.env = saved
      }
    }))
})

// --- a server that verifies Signature V4: moto ---------------------------------------------------

/**
 * moto's server, run as `PYTHON -m moto.server`: `MOTO_PYTHON`, else `python3` on PATH, when it
 * has `moto[server]` at 5.2.5 or later. Earlier versions (5.2.1 here, for one) check a signature
 * over the percent-decoded path and query (werkzeug's `request.url`), so they refuse a correctly
 * signed ListObjectsV2 whose prefix holds a `/` (`prefix=db%2F`, as AWS and botocore's own
 * client sign it); 5.2.5 checks the URL as it arrived.
 */
const MOTO_MIN = [5, 2, 5] as const
const moto = ((): { readonly python: string } | { readonly missing: string } => {
  const python = process.env.MOTO_PYTHON || "python3"
  const probe = spawnSync(
    python,
    ["-c", "import importlib.metadata as m, moto.server; print(m.version('moto'))"],
    { encoding: "utf8", timeout: 60_000 }
  )
  if (probe.status !== 0) {
    return { missing: `${python} has no moto[server] (${(probe.stderr ?? String(probe.error)).trim().split("\n").pop()})` }
  }
  const version = probe.stdout.trim()
  const parts = version.split(".").map((n) => parseInt(n, 10) || 0)
  const first = MOTO_MIN.findIndex((min, i) => (parts[i] ?? 0) !== min)
  if (first !== -1 && (parts[first] ?? 0) < MOTO_MIN[first]) {
    return { missing: `${python} has moto ${version}, which checks signatures over a decoded URL; moto >= ${MOTO_MIN.join(".")} is needed` }
  }
  return { python }
})()

interface Moto {
  readonly port: number
  /** an unauthenticated request (moto's authentication is still off): setup only */
  readonly setup: (method: string, path: string, service: string, region: string, body?: string) => Effect.Effect<string>
  /** turns moto's authentication on: from now every request is checked (signature, then IAM policy) */
  readonly enableAuth: Effect.Effect<void>
}

const startMoto: Effect.Effect<Moto, never, Scope.Scope> = Effect.gen(function*() {
  const child = yield* Effect.acquireRelease(
    Effect.sync(() =>
      spawn((moto as { python: string }).python, ["-m", "moto.server", "-H", "127.0.0.1", "-p", "0"], {
        stdio: ["ignore", "pipe", "pipe"],
        env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp" }
      })
    ),
    (child) =>
      Effect.async<void>((resume) => {
        if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
        child.once("exit", () => resume(Effect.void))
        child.kill("SIGTERM")
      })
  )
  const port = yield* Effect.async<number>((resume) => {
    let output = ""
    const onData = (data: Buffer) => {
      output += data.toString()
      const found = /Running on http:\/\/127\.0\.0\.1:(\d+)/.exec(output)
      if (found) resume(Effect.succeed(Number(found[1])))
    }
    child.stdout!.on("data", onData)
    child.stderr!.on("data", onData)
    child.once("exit", (code) => resume(Effect.die(new Error(`moto_server exited (${code}): ${output}`))))
  }).pipe(Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => new Error("moto_server did not start") }), Effect.orDie)
  const base = `http://127.0.0.1:${port}`
  const setup = (method: string, path: string, service: string, region: string, body?: string) =>
    Effect.promise(async () => {
      const response = await fetch(`${base}${path}`, {
        method,
        // moto routes a request by its credential scope; with authentication off nothing is checked
        headers: {
          authorization: `AWS4-HMAC-SHA256 Credential=AKIASETUPSETUPSETUP/20260101/${region}/${service}/aws4_request, SignedHeaders=host, Signature=0`,
          ...(service === "iam" ? { "content-type": "application/x-www-form-urlencoded" } : {})
        },
        ...(body === undefined ? {} : { body })
      })
      const text = await response.text()
      if (!response.ok) throw new Error(`moto setup ${method} ${path}: ${response.status} ${text}`)
      return text
    })
  const enableAuth = Effect.promise(async () => {
    const response = await fetch(`${base}/moto-api/reset-auth`, { method: "POST", body: "0" })
    if (!response.ok) throw new Error(`moto reset-auth: ${response.status}`)
  })
  return { port, setup, enableAuth }
})

const iam = (moto: Moto, params: Record<string, string>) =>
  moto.setup("POST", "/", "iam", "us-east-1", new URLSearchParams({ ...params, Version: "2010-05-08" }).toString())

/** An IAM user allowed everything on S3, and its access key (created while authentication is off). */
const motoUser = (moto: Moto) =>
  Effect.gen(function*() {
    yield* iam(moto, { Action: "CreateUser", UserName: "reader" })
    yield* iam(moto, {
      Action: "PutUserPolicy",
      UserName: "reader",
      PolicyName: "s3",
      PolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:*", Resource: "*" }] })
    })
    const xml = yield* iam(moto, { Action: "CreateAccessKey", UserName: "reader" })
    return { accessKeyId: xmlValues(xml, "AccessKeyId")[0]!, secretAccessKey: xmlValues(xml, "SecretAccessKey")[0]! }
  })

const motoStore = (moto: Moto, bucket: string, keys: { accessKeyId: string; secretAccessKey: string }, region: string | undefined) =>
  ReplicaStore.layerS3({
    replica: `s3://${bucket}/db`,
    bucket,
    root: "db",
    endpoint: `http://127.0.0.1:${moto.port}`,
    region,
    forcePathStyle: true,
    credentials: { accessKeyId: Redacted.make(keys.accessKeyId), secretAccessKey: Redacted.make(keys.secretAccessKey) },
    retries: 0
    // the client the native read side runs on (the signatures are the signer's; the Host header is the client's)
  }).pipe(Layer.provide(LazyHttpClient.layer))

const MOTO_HOWTO = "python3 -m venv DIR && DIR/bin/pip install 'moto[server]>=5.2.5', then MOTO_PYTHON=DIR/bin/python"

describe.skipIf("missing" in moto)("ReplicaStore signatures, verified by moto's server (authentication on)", () => {
  it.scopedLive("the right secret lists and reads; a wrong secret, or an unknown key id, is ReplicaAccessDenied", () =>
    Effect.gen(function*() {
      const moto = yield* startMoto
      const user = yield* motoUser(moto)
      yield* moto.setup("PUT", "/signed", "s3", "us-east-1")
      const objects = [
        ["generations/0a/snapshots/00000000.snapshot.lz4", "snapshot bytes"],
        ["generations/0a/wal/00000000/00000000.wal.lz4", "wal bytes"],
        // the canonical URI and query of an awkward key, checked by botocore's signer inside moto
        ["odd/a b+c/é~%.bin", "odd bytes"]
      ] as const
      for (const [key, body] of objects) {
        yield* moto.setup("PUT", `/signed/db/${key.split("/").map(encodeURIComponent).join("/")}`, "s3", "us-east-1", body)
      }
      yield* moto.enableAuth

      // the right secret: listed (with a prefix with '/' and a space in the query) and read
      yield* Effect.gen(function*() {
        expect((yield* listAll()).map((o) => o.key)).toEqual(objects.map(([k]) => k).sort(byUtf8))
        expect((yield* listAll("odd/a b")).map((o) => o.key)).toEqual(["odd/a b+c/é~%.bin"])
        expect(yield* foldersOf("generations/0a/")).toEqual(["generations/0a/snapshots/", "generations/0a/wal/"])
        for (const [key, body] of objects) {
          expect(new TextDecoder().decode(yield* readBytes(key))).toBe(body)
        }
      }).pipe(Effect.provide(motoStore(moto, "signed", user, "us-east-1")))

      // a wrong secret: refused by the signature check
      const wrong = { accessKeyId: user.accessKeyId, secretAccessKey: `${user.secretAccessKey.slice(0, -1)}X` }
      const effects: ReadonlyArray<StoreEffect> = [listAll(), readBytes(objects[0][0])]
      for (const effect of effects) {
        const error = yield* Effect.flip(effect.pipe(Effect.provide(motoStore(moto, "signed", wrong, "us-east-1"))))
        expect(error).toBeInstanceOf(LitestreamError.ReplicaAccessDenied)
        expect(error.message).toContain("SignatureDoesNotMatch")
        expectNoSecrets(error, user.secretAccessKey, wrong.secretAccessKey, user.accessKeyId)
      }
      // an access key id moto does not know
      const unknown = { accessKeyId: "AKIANOSUCHKEYNOSUCH1", secretAccessKey: user.secretAccessKey }
      const error = yield* Effect.flip(readBytes(objects[0][0]).pipe(Effect.provide(motoStore(moto, "signed", unknown, "us-east-1"))))
      expect(error).toBeInstanceOf(LitestreamError.ReplicaAccessDenied)
      expect(error.message).toContain("InvalidAccessKeyId")
      expectNoSecrets(error, user.secretAccessKey, unknown.accessKeyId)
    }))

  it.scopedLive("no region set: asked with GetBucketLocation (signed for us-east-1), then signed for the bucket's region", () =>
    Effect.gen(function*() {
      const moto = yield* startMoto
      const user = yield* motoUser(moto)
      yield* moto.setup(
        "PUT",
        "/far",
        "s3",
        "eu-west-3",
        "<CreateBucketConfiguration><LocationConstraint>eu-west-3</LocationConstraint></CreateBucketConfiguration>"
      )
      yield* moto.setup("PUT", "/far/db/generations/x", "s3", "eu-west-3", "far away")
      yield* moto.enableAuth
      const sent: Array<string> = []
      yield* Effect.gen(function*() {
        expect(new TextDecoder().decode(yield* readBytes("generations/x"))).toBe("far away")
        expect((yield* listAll()).map((o) => o.key)).toEqual(["generations/x"])
      }).pipe(
        Effect.provide(
          ReplicaStore.layerS3({
            replica: "s3://far/db",
            bucket: "far",
            root: "db",
            endpoint: `http://127.0.0.1:${moto.port}`,
            region: undefined,
            forcePathStyle: true,
            credentials: {
              accessKeyId: Redacted.make(user.accessKeyId),
              secretAccessKey: Redacted.make(user.secretAccessKey)
            }
          }).pipe(Layer.provide(countingClient(sent)))
        )
      )
      // asked once, then remembered
      expect(sent.filter((r) => r.includes("?location"))).toHaveLength(1)
      expect(sent).toHaveLength(3)
    }))
})

if ("missing" in moto) {
  describe("ReplicaStore signatures, verified by moto's server", () => {
    it.skip(`skipped: ${moto.missing}. To run it: ${MOTO_HOWTO}`, () => {})
  })
}
