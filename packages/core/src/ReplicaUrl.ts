/**
 * Replica URLs: what litestream v0.3.13 accepts, parsed and checked before any process runs.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/**
 * A parsed replica URL. `url` is the string handed to litestream.
 *
 * @since 0.1.0
 */
export type ReplicaUrl = S3Replica | FileReplica | OtherReplica

/**
 * `s3://BUCKET/path`, or `s3://BUCKET.localhost:PORT/path` for an S3 server on this machine.
 *
 * @since 0.1.0
 */
export interface S3Replica {
  readonly _tag: "S3"
  readonly url: string
  readonly bucket: string
  readonly path: string
  /** set for `BUCKET.localhost[:PORT]`: litestream then talks plain http to localhost */
  readonly endpoint: string | undefined
}

/**
 * `file:///absolute/folder`: a local folder as the replica.
 *
 * @since 0.1.0
 */
export interface FileReplica {
  readonly _tag: "File"
  readonly url: string
  readonly path: string
}

/**
 * litestream's other schemes (`gs://`, `abs://`, `sftp://`): passed through, credentials are
 * then litestream's own business.
 *
 * @since 0.1.0
 */
export interface OtherReplica {
  readonly _tag: "Other"
  readonly url: string
  readonly scheme: "gs" | "abs" | "sftp"
}

/**
 * Why a string is not a replica URL, and what to write instead.
 *
 * @since 0.1.0
 */
export class InvalidReplicaUrl extends Data.TaggedError("InvalidReplicaUrl")<{
  readonly rule: string
  readonly fix: string
}> {
  override get message(): string {
    return `${this.rule}. Fix: ${this.fix}`
  }
}

const EXAMPLES = "s3://my-bucket/backups/db, s3://my-bucket.localhost:9000/db or file:///var/backups/db"

// S3 bucket names: 3-63 chars of lowercase letters, digits, dots and hyphens.
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/
const LOCALHOST = /^([^.]+)\.localhost$/

/**
 * Parses and checks a replica URL.
 *
 * @since 0.1.0
 */
export const parse = (input: string): Either.Either<ReplicaUrl, InvalidReplicaUrl> => {
  const fail = (rule: string, fix: string) => Either.left(new InvalidReplicaUrl({ rule, fix }))
  const trimmed = input.trim()
  if (trimmed === "") return fail("the replica URL is empty", `set it to a URL such as ${EXAMPLES}`)
  // URL parsing silently drops tabs and newlines, but the raw string is what litestream gets (and
  // refuses); a NUL cannot even be passed to a process.
  if (/[\u0000-\u001f\u007f]/.test(trimmed)) {
    return fail("the replica URL contains a control character (a tab, a newline or a NUL)", "remove it")
  }
  let url: URL
  try {
    url = new URL(trimmed)
  } catch {
    return fail("the replica URL is not a URL", `write it as ${EXAMPLES}`)
  }
  // A credential in the URL would end up in litestream's argv, visible in `ps`.
  if (url.username !== "" || url.password !== "") {
    return fail(
      "the replica URL contains credentials",
      "remove them from the URL and set LITESTREAM_ACCESS_KEY_ID / LITESTREAM_SECRET_ACCESS_KEY instead"
    )
  }
  if (url.search !== "" || url.hash !== "") {
    return fail(
      "the replica URL has a query or fragment, which litestream v0.3.13 silently ignores",
      "remove everything after '?' or '#'"
    )
  }
  // A malformed percent-escape (a lone "%") makes decodeURIComponent throw: refuse it here.
  let pathname: string
  try {
    pathname = decodeURIComponent(url.pathname)
  } catch {
    return fail("the replica URL has a malformed percent-escape in its path", "write a literal % as %25")
  }
  const scheme = url.protocol.slice(0, -1)
  switch (scheme) {
    case "s3": {
      const host = url.hostname
      if (host === "") {
        // Without a bucket litestream asks AWS for a region: never do that by accident.
        return fail("an s3:// URL needs a bucket", "write it as s3://BUCKET/path")
      }
      const local = LOCALHOST.exec(host)
      const bucket = local ? local[1]! : host
      if (!BUCKET.test(bucket)) {
        return fail(
          `"${bucket}" is not a valid S3 bucket name (3-63 lowercase letters, digits, '.' or '-')`,
          "use the bucket's exact name, as in s3://my-bucket/path"
        )
      }
      if (!local && url.port !== "") {
        return fail(
          "an s3:// URL with a port is only understood for BUCKET.localhost:PORT",
          "use s3://BUCKET.localhost:PORT/path for a local S3 server"
        )
      }
      const path = pathname.replace(/^\/+|\/+$/g, "")
      return Either.right({
        _tag: "S3",
        url: trimmed,
        bucket,
        path,
        endpoint: local ? `http://localhost${url.port === "" ? "" : `:${url.port}`}` : undefined
      })
    }
    case "file": {
      if (url.host !== "") {
        return fail(
          "a file:// URL must name an absolute local path",
          "write it with three slashes, as in file:///var/backups/db"
        )
      }
      const path = pathname.replace(/\/+$/, "")
      if (path === "") {
        return fail("a file:// URL cannot be the root folder", "name a folder, as in file:///var/backups/db")
      }
      return Either.right({ _tag: "File", url: trimmed, path })
    }
    case "gs":
    case "abs":
    case "sftp": {
      if (url.hostname === "") {
        return fail(`a ${scheme}:// URL needs a host or bucket`, `write it as ${scheme}://BUCKET/path`)
      }
      return Either.right({ _tag: "Other", url: trimmed, scheme })
    }
    default:
      return fail(
        `"${scheme}://" is not a replica scheme litestream knows (s3, file, gs, abs, sftp)`,
        `write it as ${EXAMPLES}`
      )
  }
}

/**
 * Whether litestream needs an access key and secret for this replica.
 *
 * @since 0.1.0
 */
export const requiresCredentials = (replica: ReplicaUrl): boolean => replica._tag === "S3"

/**
 * A `Schema` from a string to a checked `ReplicaUrl`.
 *
 * @since 0.1.0
 */
export const ReplicaUrlFromString: Schema.Schema<ReplicaUrl, string> = Schema.transformOrFail(
  Schema.String,
  Schema.Any as Schema.Schema<ReplicaUrl>,
  {
    strict: true,
    decode: (s, _, ast) =>
      Either.mapLeft(parse(s), (e) => new ParseResult.Type(ast, s, e.message)),
    encode: (replica) => ParseResult.succeed(replica.url)
  }
).annotations({ identifier: "ReplicaUrl" })
