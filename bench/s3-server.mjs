// The benchmarks' S3 server: fauxqs on a free loopback port, in its own Node process, so that
// the objects it keeps in memory never count in the RSS of the process being measured.
//
//   node bench/s3-server.mjs BUCKET...
//
// Prints one JSON line, {"port":N,"pid":N}, when it listens. Then reads commands on stdin, one a
// line, and answers each with one JSON line:
//   empty BUCKET   remove every object of a bucket (keeps the bucket)
//   rss            {"rss":BYTES,"hwm":BYTES} of this process
// It stops when stdin closes (the bench ended or died) or on SIGTERM.
//
// One fix to fauxqs 1.9.2, in this process only. Its CompleteMultipartUpload reads the part list
// with two regular expressions, <PartNumber> then <ETag>, or else <ETag> then <PartNumber>, and
// only tries the second when the first found nothing. litestream's AWS SDK (aws-sdk-go v1) writes
// the two elements in either order, varying from part to part within one request; fauxqs then
// keeps only the parts in the first order and completes a truncated object: a corrupt snapshot
// ("lz4: bad magic number" on restore) while litestream logged "snapshot written". It also leaves
// `&#34;` (Go's encoding/xml for a quote) undecoded in the ETags, so most completions fail with
// InvalidPart instead. Every object litestream uploads in parts (above 5 MiB: a snapshot of a
// database over about 10 MB) is affected. The fix keeps the raw body of each completion request
// and re-reads its parts, in any element order, with character references decoded; fauxqs still
// checks each part and its ETag.
import { startFauxqs } from "fauxqs"
import * as http from "node:http"
import { readFileSync } from "node:fs"
import { createInterface } from "node:readline"

const completionBodies = new Map()
const emit = http.Server.prototype.emit
http.Server.prototype.emit = function(event, request, ...rest) {
  if (event === "request" && request.method === "POST" && /[?&]uploadId=/.test(request.url ?? "")) {
    const uploadId = new URL(request.url, "http://localhost").searchParams.get("uploadId")
    const chunks = []
    // Registered before fastify's own listeners, so the body is complete before its handler runs.
    request.on("data", (chunk) => chunks.push(chunk))
    request.on("end", () => completionBodies.set(uploadId, Buffer.concat(chunks).toString("utf8")))
  }
  return emit.call(this, event, request, ...rest)
}

const decodeXml = (s) =>
  s.replace(/&#(x?)([0-9a-fA-F]+);/g, (_, hex, code) => String.fromCharCode(parseInt(code, hex ? 16 : 10)))
    .replaceAll("&quot;", "\"").replaceAll("&apos;", "'").replaceAll("&lt;", "<").replaceAll("&gt;", ">")
    .replaceAll("&amp;", "&")

const { S3Store } = await import(new URL("./s3/s3Store.js", import.meta.resolve("fauxqs")).href)
const complete = S3Store.prototype.completeMultipartUpload
if (typeof complete !== "function") throw new Error("fauxqs changed: S3Store.completeMultipartUpload not found")
S3Store.prototype.completeMultipartUpload = function(uploadId, parsedByFauxqs) {
  const body = completionBodies.get(uploadId)
  completionBodies.delete(uploadId)
  // Without the raw body fauxqs' own reading may drop parts silently: refuse instead.
  if (body === undefined) throw new Error(`no request body kept for upload ${uploadId} (${parsedByFauxqs.length} parts)`)
  const parts = [...body.matchAll(/<Part>([\s\S]*?)<\/Part>/g)].map(([, inner]) => ({
    partNumber: parseInt(/<PartNumber>\s*(\d+)\s*<\/PartNumber>/.exec(inner)?.[1] ?? "NaN", 10),
    etag: decodeXml(/<ETag>([\s\S]*?)<\/ETag>/.exec(inner)?.[1] ?? "")
  }))
  return complete.call(this, uploadId, parts)
}

const server = await startFauxqs({ port: 0, host: "127.0.0.1", logger: false })
for (const bucket of process.argv.slice(2)) server.createBucket(bucket)

const status = () => {
  const text = readFileSync("/proc/self/status", "utf8")
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN) * 1024
  return { rss: kb("VmRSS"), hwm: kb("VmHWM") }
}

let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  await server.stop()
  process.exit(0)
}
process.on("SIGTERM", stop)
process.on("SIGINT", stop)

const input = createInterface({ input: process.stdin })
input.on("line", (line) => {
  const [command, arg] = line.trim().split(/\s+/)
  try {
    if (command === "empty" && arg) {
      server.emptyBucket(arg)
      process.stdout.write(`${JSON.stringify({ ok: true })}\n`)
    } else if (command === "rss") {
      process.stdout.write(`${JSON.stringify({ ok: true, ...status() })}\n`)
    } else {
      process.stdout.write(`${JSON.stringify({ ok: false, error: `unknown command: ${line}` })}\n`)
    }
  } catch (e) {
    process.stdout.write(`${JSON.stringify({ ok: false, error: String(e) })}\n`)
  }
})
input.on("close", stop)

process.stdout.write(`${JSON.stringify({ port: server.port, pid: process.pid })}\n`)
