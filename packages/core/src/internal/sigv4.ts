/**
 * AWS Signature Version 4 (header-based, `AWS4-HMAC-SHA256`), on WebCrypto: no dependency and
 * no Node built-in. Checked against AWS's published test suite and the S3 examples
 * (test/unit/SigV4.test.ts), and against a server that verifies signatures (moto, see
 * test/integration/ReplicaStore.test.ts).
 *
 * The secret is unwrapped only to derive the signing key; nothing here logs or keeps it.
 * @internal
 */
import * as Redacted from "effect/Redacted"

/** The SHA-256 of an empty body. */
export const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

const ALGORITHM = "AWS4-HMAC-SHA256"
const encoder = new TextEncoder()

const subtle = (): SubtleCrypto => {
  const crypto = (globalThis as { crypto?: Crypto }).crypto
  if (crypto?.subtle === undefined) {
    throw new Error("WebCrypto (globalThis.crypto.subtle) is not available: it is needed to sign S3 requests")
  }
  return crypto.subtle
}

const toHex = (buffer: ArrayBuffer): string => {
  const bytes = new Uint8Array(buffer)
  let out = ""
  for (let i = 0; i < bytes.length; i++) out += bytes[i]!.toString(16).padStart(2, "0")
  return out
}

/** SHA-256 of a string (UTF-8) or bytes, as lowercase hex. */
export const sha256Hex = async (data: string | Uint8Array<ArrayBuffer>): Promise<string> =>
  toHex(await subtle().digest("SHA-256", typeof data === "string" ? encoder.encode(data) : data))

const hmac = async (key: ArrayBuffer | Uint8Array<ArrayBuffer>, data: string): Promise<ArrayBuffer> => {
  const cryptoKey = await subtle().importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"])
  return subtle().sign("HMAC", cryptoKey, encoder.encode(data))
}

/**
 * Percent-encodes everything but SigV4's unreserved characters (`A-Z a-z 0-9 - _ . ~`), UTF-8,
 * upper-case hex; `/` is kept when `keepSlash` (an S3 key in a path). Throws a `URIError` on a
 * lone surrogate.
 */
export const uriEncode = (s: string, keepSlash = false): string => {
  const encoded = encodeURIComponent(s).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`
  )
  return keepSlash ? encoded.replace(/%2F/g, "/") : encoded
}

/** `YYYYMMDDTHHMMSSZ` of a date (UTC). */
export const amzDate = (date: Date): string => date.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "")

/** What gets signed. */
export interface SignInput {
  readonly method: string
  /**
   * the canonical URI, already encoded as it is sent: for S3 each key segment encoded once
   * (`uriEncode(key, true)`); other services encode the path a second time
   */
  readonly canonicalUri: string
  /** the query parameters, decoded (`[name, value]`, in any order, repeats allowed) */
  readonly query: ReadonlyArray<readonly [string, string]>
  /** the headers to sign, `host` and `x-amz-date` among them (any case, repeats allowed) */
  readonly headers: ReadonlyArray<readonly [string, string]>
  /** the hex SHA-256 of the body (`EMPTY_SHA256` for none), or `UNSIGNED-PAYLOAD` */
  readonly payloadHash: string
}

/** Who signs, for which region and service. */
export interface Credentials {
  readonly accessKeyId: Redacted.Redacted<string>
  readonly secretAccessKey: Redacted.Redacted<string>
}

/** The intermediate strings and the result. */
export interface Signed {
  readonly canonicalRequest: string
  readonly stringToSign: string
  readonly signedHeaders: string
  readonly signature: string
  /** the value of the `Authorization` header */
  readonly authorization: string
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/** The canonical query string: names and values encoded, sorted by name then value. */
export const canonicalQuery = (query: ReadonlyArray<readonly [string, string]>): string =>
  query
    .map(([name, value]) => [uriEncode(name), uriEncode(value)] as const)
    .sort((a, b) => compare(a[0], b[0]) || compare(a[1], b[1]))
    .map(([name, value]) => `${name}=${value}`)
    .join("&")

/** Canonical headers (names lower-cased and sorted, values trimmed, repeats joined by `,`) and the signed-header list. */
export const canonicalHeaders = (
  headers: ReadonlyArray<readonly [string, string]>
): { readonly canonical: string; readonly signed: string } => {
  const byName = new Map<string, Array<string>>()
  for (const [name, value] of headers) {
    const key = name.toLowerCase().trim()
    const values = byName.get(key) ?? []
    values.push(value.trim().replace(/\s+/g, " "))
    byName.set(key, values)
  }
  const names = [...byName.keys()].sort(compare)
  return {
    canonical: names.map((name) => `${name}:${byName.get(name)!.join(",")}\n`).join(""),
    signed: names.join(";")
  }
}

/** The canonical request of SigV4. */
export const canonicalRequest = (input: SignInput): { readonly text: string; readonly signedHeaders: string } => {
  const headers = canonicalHeaders(input.headers)
  return {
    text: [
      input.method.toUpperCase(),
      input.canonicalUri,
      canonicalQuery(input.query),
      headers.canonical,
      headers.signed,
      input.payloadHash
    ].join("\n"),
    signedHeaders: headers.signed
  }
}

/**
 * A signer for one set of credentials, region and service. The signing key is derived once per
 * day and kept in this closure only.
 */
export const makeSigner = (options: {
  readonly credentials: Credentials
  readonly region: string
  readonly service: string
}) => {
  let cached: { readonly day: string; readonly key: Promise<ArrayBuffer> } | undefined
  const signingKey = (day: string): Promise<ArrayBuffer> => {
    if (cached?.day !== day) {
      const derive = async () => {
        const kDate = await hmac(encoder.encode(`AWS4${Redacted.value(options.credentials.secretAccessKey)}`), day)
        const kRegion = await hmac(kDate, options.region)
        const kService = await hmac(kRegion, options.service)
        return hmac(kService, "aws4_request")
      }
      const key = derive()
      // a failed derivation is not kept
      key.catch(() => {
        if (cached?.key === key) cached = undefined
      })
      cached = { day, key }
    }
    return cached.key
  }

  /** Signs `input`; `datetime` must equal its `x-amz-date` header (`YYYYMMDDTHHMMSSZ`). */
  return async (input: SignInput, datetime: string): Promise<Signed> => {
    const day = datetime.slice(0, 8)
    const scope = `${day}/${options.region}/${options.service}/aws4_request`
    const request = canonicalRequest(input)
    const stringToSign = [ALGORITHM, datetime, scope, await sha256Hex(request.text)].join("\n")
    const signature = toHex(await hmac(await signingKey(day), stringToSign))
    return {
      canonicalRequest: request.text,
      stringToSign,
      signedHeaders: request.signedHeaders,
      signature,
      authorization: `${ALGORITHM} Credential=${
        Redacted.value(options.credentials.accessKeyId)
      }/${scope}, SignedHeaders=${request.signedHeaders}, Signature=${signature}`
    }
  }
}
