/**
 * Read-only access to the objects of a replica, without litestream: list a prefix, read an
 * object as a stream. Two stores: `file://` over `FileSystem`, and S3 (and S3-compatible stores)
 * over `HttpClient` with AWS Signature Version 4, from the same settings as the litestream-based
 * layers. The native read side (restore, listings, verification) is built on it.
 *
 * @since 0.2.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import type { PlatformError } from "@effect/platform/Error"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as SigV4 from "./internal/sigv4.js"
import { type Credentials, LitestreamConfig, type Resolved } from "./LitestreamConfig.js"
import { ReplicaAccessDenied, ReplicaUnreachable } from "./LitestreamError.js"
import {
  NativeReadUnsupported,
  ReplicaObjectNotFound,
  type ReplicaStoreError,
  ReplicaStoreFailed
} from "./ReplicaStoreError.js"
import type { S3Replica } from "./ReplicaUrl.js"

/**
 * One object of the replica.
 *
 * @since 0.2.0
 */
export interface ObjectInfo {
  /** the key relative to the replica's root, `/`-separated, e.g. `generations/0a1b.../snapshots/00000000.snapshot.lz4` */
  readonly key: string
  /** bytes */
  readonly size: number
  readonly lastModified: Date
}

/**
 * What a store offers. Keys and prefixes are relative to the replica's root (the path of
 * `REPLICA_URL`); listings come in the order S3 gives, ascending by the key's UTF-8 bytes, for
 * both stores.
 *
 * @since 0.2.0
 */
export interface Service {
  /** the replica URL, as errors name it */
  readonly replica: string
  /**
   * Every object whose key starts with `prefix` (a plain string prefix, as S3's: `generations/`
   * or `generations/0a1b`), page by page. A replica or prefix that holds nothing gives an empty
   * stream.
   */
  readonly list: (prefix?: string) => Stream.Stream<ObjectInfo, ReplicaStoreError>
  /**
   * The "folders" right under `prefix`: S3's common prefixes for the delimiter `/`, each ending
   * in `/` (`folders("generations/")` gives `generations/0a1b.../`, one per generation). A
   * folder with no object in it does not exist, as in S3.
   */
  readonly folders: (prefix?: string) => Stream.Stream<string, ReplicaStoreError>
  /** The bytes of an object, as they arrive: never the whole object in memory. */
  readonly read: (key: string) => Stream.Stream<Uint8Array, ReplicaStoreError>
  /** The whole object in one array: for small objects only. */
  readonly readAll: (key: string) => Effect.Effect<Uint8Array, ReplicaStoreError>
  /**
   * As `read`, but each chunk is a view into a buffer the store reuses once the next chunk is
   * pulled: for a consumer that is done with a chunk (has copied what it keeps) by then. A
   * store with nothing to reuse leaves it out; see {@link readTransient}.
   */
  readonly readReusing?: ((key: string) => Stream.Stream<Uint8Array, ReplicaStoreError>) | undefined
}

/**
 * The chunks of an object, each valid only until the next one is pulled: the store's
 * `readReusing` when it has one (a file store reads into one buffer over and over), else `read`.
 *
 * @since 0.3.0
 */
export const readTransient = (store: Service, key: string): Stream.Stream<Uint8Array, ReplicaStoreError> =>
  store.readReusing !== undefined ? store.readReusing(key) : store.read(key)

/**
 * A response body an HTTP client can also hand out as views into a buffer it reuses, each valid
 * until the next chunk is pulled (the Node layers' client does, for plain `http:`): the S3
 * store's `readReusing` reads through it when the response offers it, and copies nothing.
 *
 * @since 0.3.0
 */
export const TransientBodyTypeId: unique symbol = Symbol.for("@effect-litestream/core/ReplicaStore/TransientBody")

/**
 * @since 0.3.0
 */
export type TransientBodyTypeId = typeof TransientBodyTypeId

/**
 * See {@link TransientBodyTypeId}.
 *
 * @since 0.3.0
 */
export interface TransientBody {
  readonly [TransientBodyTypeId]: () => Stream.Stream<Uint8Array, HttpClientError.ResponseError>
}

const transientBody = (response: HttpClientResponse.HttpClientResponse): Stream.Stream<Uint8Array, HttpClientError.ResponseError> =>
  TransientBodyTypeId in response ? (response as unknown as TransientBody)[TransientBodyTypeId]() : response.stream

/**
 * The replica store service.
 *
 * @since 0.2.0
 */
export class ReplicaStore extends Context.Tag("@effect-litestream/core/ReplicaStore")<ReplicaStore, Service>() {}

// ---------------------------------------------------------------------------------------------
// keys

const INVALID_SEGMENT = /(^|\/)\.{1,2}(\/|$)/
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/**
 * A key or prefix must stay inside the replica and be sendable: no leading `/`, no `.` or `..`
 * segment (a URL would drop them), no NUL, no lone UTF-16 surrogate.
 */
const checkKey = (
  replica: string,
  operation: "list" | "read",
  key: string
): Effect.Effect<string, ReplicaStoreFailed> =>
  (operation === "read" && key === "") || key.startsWith("/") || INVALID_SEGMENT.test(key) || key.includes("\u0000") ||
      LONE_SURROGATE.test(key)
    ? Effect.fail(
      new ReplicaStoreFailed({
        replica,
        operation,
        key,
        status: undefined,
        code: undefined,
        detail:
          "not a key inside the replica (it is empty, starts with '/', or has a '.' or '..' segment, a NUL or a lone surrogate)"
      })
    )
    : Effect.succeed(key)

/** Ascending by code point, which is the order of the UTF-8 bytes (S3's order). */
const compareKeys = (a: string, b: string): number => {
  let i = 0
  let j = 0
  while (i < a.length && j < b.length) {
    const ca = a.codePointAt(i)!
    const cb = b.codePointAt(j)!
    if (ca !== cb) return ca - cb
    i += ca > 0xffff ? 2 : 1
    j += cb > 0xffff ? 2 : 1
  }
  return (a.length - i) - (b.length - j)
}

const concatBytes = (chunks: Chunk.Chunk<Uint8Array>): Uint8Array => {
  let size = 0
  for (const chunk of chunks) size += chunk.length
  const out = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.length
  }
  return out
}

const readAllOf = (read: Service["read"]) => (key: string) =>
  Stream.runCollect(read(key)).pipe(Effect.map(concatBytes))

// ---------------------------------------------------------------------------------------------
// file://

/**
 * A `file://` store.
 *
 * @since 0.2.0
 */
export interface FileOptions {
  /** the replica URL, for messages */
  readonly replica: string
  /** the absolute folder of the replica */
  readonly root: string
  /** bytes per chunk of `read` (default 1 MiB) */
  readonly chunkSize?: number | undefined
}

interface Entry {
  readonly name: string
  readonly folder: boolean
  readonly size: number
  readonly lastModified: Date
}

// Each chunk of FileSystem.stream is an Effect step and a Buffer of its own: measured here on a
// 100 MB snapshot, 64 KiB chunks took 0.6-1.0 s to read, 1 MiB chunks 0.14-0.21 s.
const DEFAULT_FILE_CHUNK = 1024 * 1024
// readReusing: one buffer read into over and over. Fresh memory for every chunk is what costs
// (page faults, GC): a 489 MB snapshot took 0.9-1.7 s of CPU through FileSystem.stream in 1 MiB
// chunks, 0.1 s read into one reused 4 MiB buffer.
const REUSED_FILE_CHUNK = 4 * 1024 * 1024

/**
 * A store over a local folder. A missing folder holds nothing (as litestream sees it);
 * objects removed while a listing runs (litestream's retention) are left out.
 *
 * @since 0.2.0
 */
export const makeFile = (options: FileOptions): Effect.Effect<Service, never, FileSystem.FileSystem> =>
  Effect.map(FileSystem.FileSystem, (fs): Service => {
    const { replica } = options
    const root = options.root.replace(/\/+$/, "")
    const pathOf = (key: string) => key === "" ? root : `${root}/${key}`
    const failed = (operation: "list" | "read", key: string, detail: string) =>
      new ReplicaStoreFailed({ replica, operation, key, status: undefined, code: undefined, detail })

    const entries = (folder: string, prefix: string): Effect.Effect<ReadonlyArray<Entry>, ReplicaStoreFailed> =>
      fs.readDirectory(pathOf(folder)).pipe(
        Effect.catchIf(
          (e) => e._tag === "SystemError" && e.reason === "NotFound",
          () => Effect.succeed([] as Array<string>)
        ),
        Effect.mapError((e) => failed("list", prefix, e.message)),
        Effect.flatMap((names) =>
          Effect.forEach(names, (name) =>
            fs.stat(pathOf(folder === "" ? name : `${folder}/${name}`)).pipe(
              Effect.map((info): Option.Option<Entry> =>
                info.type === "Directory" || info.type === "File"
                  ? Option.some({
                    name,
                    folder: info.type === "Directory",
                    size: Number(info.size),
                    lastModified: Option.getOrElse(info.mtime, () => new Date(0))
                  })
                  : Option.none()
              ),
              // removed since the folder was read
              Effect.catchIf(
                (e) => e._tag === "SystemError" && e.reason === "NotFound",
                () => Effect.succeed(Option.none<Entry>())
              ),
              Effect.mapError((e) => failed("list", prefix, e.message))
            ), { concurrency: 8 })
        ),
        Effect.map((found) =>
          found.flatMap((entry) => Option.isSome(entry) ? [entry.value] : [])
            // a folder's objects sort as "name/...": compare it so, and the walk is in key order
            .sort((a, b) => compareKeys(a.folder ? `${a.name}/` : a.name, b.folder ? `${b.name}/` : b.name))
        )
      )

    const walk = (folder: string, prefix: string): Stream.Stream<ObjectInfo, ReplicaStoreFailed> =>
      Stream.unwrap(Effect.map(entries(folder, prefix), (found) =>
        Stream.fromIterable(found).pipe(Stream.flatMap((entry) => {
          const key = folder === "" ? entry.name : `${folder}/${entry.name}`
          if (entry.folder) {
            return `${key}/`.startsWith(prefix) || prefix.startsWith(`${key}/`) ? walk(key, prefix) : Stream.empty
          }
          return key.startsWith(prefix)
            ? Stream.make<[ObjectInfo]>({ key, size: entry.size, lastModified: entry.lastModified })
            : Stream.empty
        }))))

    const folderOf = (prefix: string) => prefix.includes("/") ? prefix.slice(0, prefix.lastIndexOf("/")) : ""

    const list = (prefix = ""): Stream.Stream<ObjectInfo, ReplicaStoreError> =>
      Stream.unwrap(Effect.map(checkKey(replica, "list", prefix), () => walk(folderOf(prefix), prefix)))

    const folders = (prefix = ""): Stream.Stream<string, ReplicaStoreError> =>
      Stream.unwrap(Effect.map(checkKey(replica, "list", prefix), () => {
        const folder = folderOf(prefix)
        const rest = prefix.slice(folder === "" ? 0 : folder.length + 1)
        return Stream.unwrap(Effect.map(entries(folder, prefix), (found) =>
          Stream.fromIterable(found).pipe(
            Stream.filter((entry) => entry.folder && entry.name.startsWith(rest)),
            Stream.map((entry) => folder === "" ? entry.name : `${folder}/${entry.name}`),
            // as in S3, a folder exists only while an object is in it
            Stream.filterEffect((key) =>
              Stream.runHead(walk(key, `${key}/`)).pipe(Effect.map(Option.isSome))
            ),
            Stream.map((key) => `${key}/`)
          )))
      }))

    const readError = (key: string) => (e: PlatformError): ReplicaStoreError =>
      e._tag === "SystemError" && e.reason === "NotFound"
        ? new ReplicaObjectNotFound({ replica, key })
        : failed("read", key, e.message)

    const read = (key: string): Stream.Stream<Uint8Array, ReplicaStoreError> =>
      Stream.unwrap(Effect.map(checkKey(replica, "read", key), () =>
        fs.stream(pathOf(key), { chunkSize: options.chunkSize ?? DEFAULT_FILE_CHUNK }).pipe(
          Stream.mapError(readError(key))
        )))

    // the buffer of the last read that ended, for the next one (a restore reads one object at a time)
    let spare: Uint8Array | undefined
    const reusedChunk = options.chunkSize ?? REUSED_FILE_CHUNK
    const readReusing = (key: string): Stream.Stream<Uint8Array, ReplicaStoreError> =>
      Stream.unwrapScoped(Effect.gen(function*() {
        yield* checkKey(replica, "read", key)
        const file = yield* fs.open(pathOf(key), { flag: "r" }).pipe(Effect.mapError(readError(key)))
        const buffer = yield* Effect.acquireRelease(
          Effect.sync(() => {
            const taken = spare ?? new Uint8Array(reusedChunk)
            spare = undefined
            return taken
          }),
          (taken) => Effect.sync(() => void (spare = taken))
        )
        return Stream.repeatEffectOption(
          file.read(buffer).pipe(
            Effect.mapError((e) => Option.some(readError(key)(e))),
            Effect.flatMap((n) => n === BigInt(0) ? Effect.fail(Option.none()) : Effect.succeed(buffer.subarray(0, Number(n))))
          )
        )
      }))

    return { replica, list, folders, read, readAll: readAllOf(read), readReusing }
  })

// ---------------------------------------------------------------------------------------------
// S3

/**
 * An S3 store.
 *
 * @since 0.2.0
 */
export interface S3Options {
  /** the replica URL, for messages */
  readonly replica: string
  readonly bucket: string
  /** the replica's root inside the bucket, without leading or trailing `/` (`""`: the bucket's root) */
  readonly root: string
  /** the store's http(s) URL; `undefined`: AWS S3 itself (`https://s3.REGION.amazonaws.com`) */
  readonly endpoint: string | undefined
  /**
   * the region requests are signed for; `undefined`: asked once with GetBucketLocation (signed
   * for us-east-1), as litestream does for AWS when no region is set
   */
  readonly region: string | undefined
  /** `https://HOST/BUCKET/key` rather than `https://BUCKET.HOST/key` */
  readonly forcePathStyle: boolean
  /** `undefined`: anonymous requests (a public bucket) */
  readonly credentials: Credentials | undefined
  /** keys per ListObjectsV2 page, 1-1000 (default 1000, S3's maximum) */
  readonly pageSize?: number | undefined
  /** retries of a request that found the store down or busy (5xx), before any byte of its body (default 2) */
  readonly retries?: number | undefined
}

/**
 * The region litestream v0.3.13 signs for at a custom endpoint when none is set.
 *
 * @since 0.2.0
 */
export const DEFAULT_REGION = "us-east-1"

/**
 * The S3 store settings litestream v0.3.13 would use for an `s3://` replica: `REPLICA_ENDPOINT`,
 * else the `BUCKET.localhost:PORT` of the URL (plain http); `REPLICA_REGION`, else us-east-1 at
 * a custom endpoint, else looked up (AWS); `REPLICA_FORCE_PATH_STYLE`, else path style at a
 * custom endpoint and virtual-hosted style at AWS. The credentials are the configured ones only:
 * no `AWS_*` variable is read.
 *
 * @since 0.2.0
 */
export const s3Options = (config: Resolved, replica: S3Replica): S3Options => {
  const endpoint = config.s3.endpoint ?? replica.endpoint
  return {
    replica: replica.url,
    bucket: replica.bucket,
    root: replica.path,
    endpoint,
    region: config.s3.region ?? (endpoint !== undefined ? DEFAULT_REGION : undefined),
    forcePathStyle: config.s3.forcePathStyle ?? endpoint !== undefined,
    credentials: Option.getOrUndefined(config.credentials)
  }
}

const XML_ENTITY = /&(lt|gt|amp|quot|apos|#x[0-9a-fA-F]+|#[0-9]+);/g
const unescapeXml = (s: string): string =>
  s.replace(XML_ENTITY, (_, e: string) =>
    e === "lt"
      ? "<"
      : e === "gt"
      ? ">"
      : e === "amp"
      ? "&"
      : e === "quot"
      ? "\""
      : e === "apos"
      ? "'"
      : codePoint(e.startsWith("#x") ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10), `&${e};`))
const codePoint = (n: number, otherwise: string) => n >= 0 && n <= 0x10ffff ? String.fromCodePoint(n) : otherwise

const elements = (xml: string, name: string): Array<string> =>
  Array.from(xml.matchAll(new RegExp(`<${name}>([\\s\\S]*?)</${name}>`, "g")), (m) => m[1]!)
const element = (xml: string, name: string): string | undefined => {
  const found = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml)
  return found === null ? undefined : unescapeXml(found[1]!)
}

/** S3's error codes that mean the credentials were refused. */
const DENIED_CODES = new Set([
  "AccessDenied",
  "SignatureDoesNotMatch",
  "InvalidAccessKeyId",
  "InvalidToken",
  "ExpiredToken",
  "TokenRefreshRequired",
  "AllAccessDisabled",
  "AccountProblem",
  "InvalidSecurity",
  "RequestTimeTooSkewed"
])

interface Attempt<E> {
  readonly retry: boolean
  readonly error: E
}

/**
 * A store over S3 or an S3-compatible server. Requests are signed with Signature Version 4
 * (header-based, the body's hash being that of an empty body); the secret is used only to
 * derive the signing key and never appears in a URL, an error or a log.
 *
 * @since 0.2.0
 */
export const makeS3 = (options: S3Options): Effect.Effect<Service, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client): Service => {
    const { bucket, replica } = options
    const root = options.root.replace(/^\/+|\/+$/g, "")
    const rootPrefix = root === "" ? "" : `${root}/`
    const pageSize = Math.max(1, Math.min(1000, Math.floor(options.pageSize ?? 1000)))
    const retries = Math.max(0, Math.floor(options.retries ?? 2))

    // Never let a secret out through a server's message or an error's text.
    const secrets = options.credentials === undefined
      ? []
      : [Redacted.value(options.credentials.secretAccessKey), Redacted.value(options.credentials.accessKeyId)]
        .filter((s) => s.length >= 4)
    const scrub = (text: string): string => secrets.reduce((t, secret) => t.split(secret).join("[redacted]"), text)

    const signers = new Map<string, ReturnType<typeof SigV4.makeSigner>>()
    const signerFor = (region: string) => {
      let signer = signers.get(region)
      if (signer === undefined && options.credentials !== undefined) {
        signer = SigV4.makeSigner({ credentials: options.credentials, region, service: "s3" })
        signers.set(region, signer)
      }
      return signer
    }

    /** Where a request goes, for a region (AWS's endpoint depends on it). */
    const target = (region: string) => {
      // (us-east-1 is AWS's global endpoint, which also routes a bucket of another region, as aws-sdk-go does)
      const base = new URL(
        options.endpoint ?? (region === DEFAULT_REGION ? "https://s3.amazonaws.com" : `https://s3.${region}.amazonaws.com`)
      )
      const basePath = base.pathname.replace(/\/+$/, "")
      // a bucket with a dot cannot be a host name under https (the certificate would not match)
      const virtual = !options.forcePathStyle && !(base.protocol === "https:" && bucket.includes("."))
      const host = virtual ? `${bucket}.${base.host}` : base.host
      return {
        origin: `${base.protocol}//${host}`,
        host,
        bucketPath: virtual ? basePath : `${basePath}/${SigV4.uriEncode(bucket)}`
      }
    }

    const causeText = (cause: unknown): string => {
      const parts: Array<string> = []
      let current: unknown = cause
      for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
        const text = current instanceof Error ? current.message : String(current)
        if (text !== "" && !parts.some((p) => p.includes(text))) parts.push(text)
        current = current instanceof Error ? (current as { cause?: unknown }).cause : undefined
      }
      return parts.join(": ") || "the request failed"
    }

    const statusError = (
      operation: "list" | "read",
      key: string,
      response: HttpClientResponse.HttpClientResponse,
      body: string
    ): Attempt<ReplicaStoreError> => {
      const status = response.status
      const code = element(body, "Code")
      const message = element(body, "Message")
      const detail = scrub(
        [code, message].filter((s) => s !== undefined && s !== "").join(": ") || `HTTP ${status} without an S3 error`
      )
      if (code === "NoSuchBucket") {
        return {
          retry: false,
          error: new ReplicaUnreachable({ replica, detail: `the bucket "${bucket}" does not exist (NoSuchBucket)` })
        }
      }
      if (status === 403 || (code !== undefined && DENIED_CODES.has(code))) {
        return { retry: false, error: new ReplicaAccessDenied({ replica, detail: `${detail} (HTTP ${status})` }) }
      }
      if (status === 404 && operation === "read" && (code === undefined || code === "NoSuchKey")) {
        return { retry: false, error: new ReplicaObjectNotFound({ replica, key }) }
      }
      const region = response.headers["x-amz-bucket-region"]
      const hint = region !== undefined && region !== "" && (status === 301 || status === 400)
        ? `; the bucket is in ${region}: set REPLICA_REGION=${region}`
        : ""
      return {
        retry: status >= 500 || code === "SlowDown" || code === "RequestTimeout",
        error: new ReplicaStoreFailed({ replica, operation, key, status, code, detail: `${detail}${hint}` })
      }
    }

    /** One signed GET, retried while the store is down or busy; a 2xx response, or the typed error. */
    const get = (
      operation: "list" | "read",
      key: string,
      region: string,
      path: string,
      query: ReadonlyArray<readonly [string, string]>
    ): Effect.Effect<HttpClientResponse.HttpClientResponse, ReplicaStoreError> => {
      const { host, origin } = target(region)
      const attempt = Effect.gen(function*() {
        // the wall clock, not Effect's Clock: a signature must carry the real time
        const datetime = SigV4.amzDate(new Date())
        const headers: Array<readonly [string, string]> = [
          ["host", host],
          ["x-amz-date", datetime],
          ["x-amz-content-sha256", SigV4.EMPTY_SHA256]
        ]
        const signer = signerFor(region)
        const authorization = signer === undefined ? undefined : yield* Effect.tryPromise({
          try: () => signer({ method: "GET", canonicalUri: path, query, headers, payloadHash: SigV4.EMPTY_SHA256 }, datetime),
          catch: (e): Attempt<ReplicaStoreError> => ({
            retry: false,
            error: new ReplicaStoreFailed({
              replica,
              operation,
              key,
              status: undefined,
              code: undefined,
              detail: `could not sign the request: ${scrub(causeText(e))}`
            })
          })
        }).pipe(Effect.map((signed) => signed.authorization))
        const queryString = SigV4.canonicalQuery(query)
        const request = HttpClientRequest.get(`${origin}${path}${queryString === "" ? "" : `?${queryString}`}`).pipe(
          HttpClientRequest.setHeaders({
            "x-amz-date": datetime,
            "x-amz-content-sha256": SigV4.EMPTY_SHA256,
            ...(authorization === undefined ? {} : { authorization })
          })
        )
        const response = yield* client.execute(request).pipe(
          Effect.mapError((e: HttpClientError.HttpClientError): Attempt<ReplicaStoreError> =>
            e._tag === "RequestError" && e.reason === "Transport"
              ? { retry: true, error: new ReplicaUnreachable({ replica, detail: `${scrub(causeText(e.cause))} (${origin})` }) }
              : {
                retry: false,
                error: new ReplicaStoreFailed({
                  replica,
                  operation,
                  key,
                  status: undefined,
                  code: undefined,
                  detail: scrub(causeText(e.cause ?? e.message))
                })
              }
          )
        )
        if (response.status >= 200 && response.status < 300) return response
        const body = yield* response.text.pipe(Effect.orElseSucceed(() => ""))
        return yield* Effect.fail(statusError(operation, key, response, body))
      })
      return attempt.pipe(
        Effect.retry({
          schedule: Schedule.exponential("100 millis"),
          times: retries,
          while: (failure) => failure.retry
        }),
        Effect.mapError((failure) => failure.error)
      )
    }

    // The region: configured, or asked once (a failed look-up is asked again next time).
    let knownRegion: string | undefined = options.region
    const region: Effect.Effect<string, ReplicaStoreError> = Effect.suspend(() => {
      if (knownRegion !== undefined) return Effect.succeed(knownRegion)
      return get("list", "", DEFAULT_REGION, target(DEFAULT_REGION).bucketPath || "/", [["location", ""]]).pipe(
        Effect.mapError((e) => {
          const asking = "asking the bucket's region (GetBucketLocation, as litestream does when REPLICA_REGION is unset)"
          const fix = "; setting REPLICA_REGION skips it"
          return e._tag === "ReplicaAccessDenied"
            ? new ReplicaAccessDenied({ replica, detail: `${asking}: ${e.detail}${fix}` })
            : e._tag === "ReplicaStoreFailed"
            ? new ReplicaStoreFailed({
              replica,
              operation: "list",
              key: "",
              status: e.status,
              code: e.code,
              detail: `${asking}: ${e.detail}${fix}`
            })
            : e
        }),
        Effect.flatMap((response) => Effect.orElseSucceed(response.text, () => "")),
        Effect.map((xml) => {
          const found = /<LocationConstraint[^>]*>([^<]*)<\/LocationConstraint>/.exec(xml)
          const name = found === null ? "" : unescapeXml(found[1]!).trim()
          // an empty constraint is us-east-1; "EU" is the old name of eu-west-1
          knownRegion = name === "" ? DEFAULT_REGION : name === "EU" ? "eu-west-1" : name
          return knownRegion
        })
      )
    })

    const bodyError = (operation: "list" | "read", key: string, origin: string) => (e: unknown) =>
      new ReplicaUnreachable({
        replica,
        detail: `the connection broke while ${operation === "read" ? `reading "${key}"` : "listing"}: ${
          scrub(causeText((e as { cause?: unknown }).cause ?? e))
        } (${origin})`
      })

    interface Page {
      readonly objects: ReadonlyArray<ObjectInfo>
      readonly folders: ReadonlyArray<string>
      readonly next: string | undefined
    }

    const listPage = (
      prefix: string,
      delimiter: boolean,
      token: string | undefined
    ): Effect.Effect<Page, ReplicaStoreError> =>
      Effect.gen(function*() {
        const r = yield* region
        const { bucketPath, origin } = target(r)
        const query: Array<readonly [string, string]> = [
          ["list-type", "2"],
          ["prefix", `${rootPrefix}${prefix}`],
          ["max-keys", String(pageSize)]
        ]
        if (delimiter) query.push(["delimiter", "/"])
        if (token !== undefined) query.push(["continuation-token", token])
        const response = yield* get("list", prefix, r, bucketPath || "/", query)
        const xml = yield* Effect.mapError(response.text, bodyError("list", prefix, origin))
        const bad = (detail: string) =>
          new ReplicaStoreFailed({ replica, operation: "list", key: prefix, status: response.status, code: undefined, detail })
        if (!xml.includes("<ListBucketResult")) return yield* Effect.fail(bad("the answer is not a ListObjectsV2 result"))
        const relative = (key: string) =>
          key.startsWith(rootPrefix) ? Effect.succeed(key.slice(rootPrefix.length)) : Effect.fail(
            bad(`the store listed "${key}", outside the prefix asked for`)
          )
        const objects: Array<ObjectInfo> = []
        for (const block of elements(xml, "Contents")) {
          const key = element(block, "Key")
          const size = Number(element(block, "Size"))
          const lastModified = new Date(element(block, "LastModified") ?? "")
          if (key === undefined || !Number.isSafeInteger(size) || size < 0 || Number.isNaN(lastModified.getTime())) {
            return yield* Effect.fail(bad("an entry of the listing has no key, size or date"))
          }
          objects.push({ key: yield* relative(key), size, lastModified })
        }
        const folders: Array<string> = []
        for (const block of elements(xml, "CommonPrefixes")) {
          const folder = element(block, "Prefix")
          if (folder !== undefined) folders.push(yield* relative(folder))
        }
        const truncated = element(xml, "IsTruncated") === "true"
        const next = element(xml, "NextContinuationToken")
        if (truncated && (next === undefined || next === "" || next === token)) {
          return yield* Effect.fail(bad("the listing is truncated but gives no new continuation token"))
        }
        return { objects, folders, next: truncated ? next : undefined }
      })

    const pages = (prefix: string, delimiter: boolean): Stream.Stream<Page, ReplicaStoreError> =>
      Stream.paginateEffect(undefined as string | undefined, (token) =>
        Effect.map(listPage(prefix, delimiter, token), (page) =>
          [page, page.next === undefined ? Option.none() : Option.some(page.next)] as const))

    const list = (prefix = ""): Stream.Stream<ObjectInfo, ReplicaStoreError> =>
      Stream.unwrap(Effect.map(checkKey(replica, "list", prefix), () =>
        pages(prefix, false).pipe(Stream.mapConcat((page) => page.objects))))

    const folders = (prefix = ""): Stream.Stream<string, ReplicaStoreError> =>
      Stream.unwrap(Effect.map(checkKey(replica, "list", prefix), () =>
        pages(prefix, true).pipe(Stream.mapConcat((page) => page.folders))))

    const readWith = (body: (response: HttpClientResponse.HttpClientResponse) => Stream.Stream<Uint8Array, HttpClientError.ResponseError>) =>
    (key: string): Stream.Stream<Uint8Array, ReplicaStoreError> =>
      Stream.unwrap(Effect.gen(function*() {
        yield* checkKey(replica, "read", key)
        const r = yield* region
        const { bucketPath, origin } = target(r)
        const response = yield* get("read", key, r, `${bucketPath}/${SigV4.uriEncode(`${rootPrefix}${key}`, true)}`, [])
        const length = response.headers["content-length"]
        const expected = length === undefined || !/^\d+$/.test(length) ? undefined : Number(length)
        let received = 0
        return body(response).pipe(
          Stream.mapError(bodyError("read", key, origin)),
          // counted a whole chunk of reads at a time (an effect per read cost a restore's thread)
          Stream.mapChunks((chunks) => {
            for (const chunk of chunks) received += chunk.length
            return chunks
          }),
          // a body cut short without a transport error is still a broken read
          Stream.concat(Stream.suspend(() =>
            expected === undefined || received === expected ? Stream.empty : Stream.fail(
              new ReplicaUnreachable({
                replica,
                detail: `the body of "${key}" ended after ${received} of its ${expected} bytes (${origin})`
              })
            )
          ))
        )
      }))

    const read = readWith((response) => response.stream)
    // the client's reused buffer when it has one (else owned chunks, which are transient too)
    const readReusing = readWith(transientBody)

    return { replica, list, folders, read, readAll: readAllOf(read), readReusing }
  })

// ---------------------------------------------------------------------------------------------
// from the settings

/**
 * The store of the configured replica: `file://` or `s3://`; any other scheme fails with
 * `NativeReadUnsupported`.
 *
 * @since 0.2.0
 */
export const make = (
  config: Resolved
): Effect.Effect<Service, NativeReadUnsupported, HttpClient.HttpClient | FileSystem.FileSystem> => {
  const replica = config.replica
  switch (replica._tag) {
    case "File":
      return makeFile({ replica: replica.url, root: replica.path })
    case "S3":
      return makeS3(s3Options(config, replica))
    case "Other":
      return Effect.fail(new NativeReadUnsupported({ replica: replica.url, scheme: replica.scheme }))
  }
}

/**
 * The store of the configured replica (`LitestreamConfig`).
 *
 * @since 0.2.0
 */
export const layer: Layer.Layer<
  ReplicaStore,
  NativeReadUnsupported,
  LitestreamConfig | HttpClient.HttpClient | FileSystem.FileSystem
> = Layer.effect(ReplicaStore, Effect.flatMap(LitestreamConfig, make))

/**
 * A `file://` store from explicit options.
 *
 * @since 0.2.0
 */
export const layerFile = (options: FileOptions): Layer.Layer<ReplicaStore, never, FileSystem.FileSystem> =>
  Layer.effect(ReplicaStore, makeFile(options))

/**
 * An S3 store from explicit options.
 *
 * @since 0.2.0
 */
export const layerS3 = (options: S3Options): Layer.Layer<ReplicaStore, never, HttpClient.HttpClient> =>
  Layer.effect(ReplicaStore, makeS3(options))
