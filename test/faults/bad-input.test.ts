/**
 * Bad input, as property tests (fast-check through @effect/vitest's `it.prop`): arbitrary strings
 * and structured near-misses for every setting. Every input either decodes or fails with a
 * `LitestreamConfigError`, never throws or dies; path traversal in the database name is refused;
 * no rendering of an error or of the decoded settings shows a secret; and a decoded setting never
 * crashes a run (a defect) once it reaches the process API.
 */
import { LitestreamConfig, LitestreamError, Replicate, Restore } from "@effect-litestream/core"
import { NodeSqliteProbe } from "@effect-litestream/node"
import { NodeContext, NodePath as NodePathLayer } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as NodePath from "node:path"
import * as util from "node:util"
import * as Figures from "../support/Figures.js"
import { tagOf } from "../support/Faults.js"
import { guardAgainstLeaks } from "../support/Harness.js"
import * as Sqlite from "../support/Sqlite.js"
import { causeRenderings, renderings } from "../support/Sweep.js"

guardAgainstLeaks()

const fc = FastCheck

/** Secrets are distinctive (a marker no other setting can produce) with an arbitrary tail. */
const KEY_MARK = "KEYMARK7Q"
const SECRET_MARK = "SECRETMARK4Z"
const tail = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom("", " ", "\n", "\u0000", "$HOME", "'\"`", "<redacted>", "a/b+c=d", "%s%o", "${SECRET}")
)
const keyId = tail.map((t) => `${KEY_MARK}${t}`)
const secret = tail.map((t) => `${SECRET_MARK}${t}`)

const anyString = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.string({ unit: "binary", maxLength: 60 }),
  fc.string({ unit: "grapheme", maxLength: 30 })
)

const replicaUrl = fc.oneof(
  anyString,
  fc.webUrl(),
  fc.constantFrom(
    "s3://bucket/db",
    "s3://",
    "s3:///path",
    "s3://Bucket/x",
    "s3://my_bucket/x",
    "s3://-bucket/x",
    "s3://bu/x",
    "S3://bucket/x",
    " s3://bucket/x ",
    "s3://bucket/x?endpoint=http://localhost:9000",
    "s3://bucket/x#frag",
    "s3://user:pass@bucket/x",
    "s3://AKIA:secret@bucket.localhost:9000/x",
    "s3://bucket:9000/x",
    "s3://bucket.localhost:99999/x",
    "s3://bucket.localhost:9000/x",
    "s3://bucket.localhost/x",
    "s3://bucket.localhost:9000/../../x",
    "s3://bucket/x\n",
    "s3://buc\tket/x",
    "s3://bucket/x\u0000y",
    "ѕ3://bucket/x",
    "file://relative/x",
    "file:///",
    "file:///var/backups/db",
    "file:/var/backups",
    "file://localhost/var/backups",
    "gs://",
    "gs://bucket/x",
    "abs://container/x",
    "sftp://host/x",
    "sftp://user:pw@host/x",
    "http://bucket/x",
    "https://s3.amazonaws.com/bucket/x",
    "//bucket/x",
    "s3:bucket/x"
  ),
  fc.tuple(
    fc.constantFrom("s3", "file", "gs", "abs", "sftp", "http", "S3", ""),
    fc.constantFrom("://", ":/", ":", "///"),
    anyString,
    fc.constantFrom("", "/", "/x/y", "/../x", "?q=1", "#f"),
    anyString
  ).map((parts) => parts.join(""))
)

const TRAVERSAL = [
  "../x.db",
  "..\\x.db",
  "a/b.db",
  "a\\b.db",
  "/etc/x.db",
  "..",
  "../",
  "./x.db",
  "x/../y.db",
  "..db",
  "x..db",
  "....db",
  "x.db/",
  "x.db\\",
  "%2e%2e%2fx.db",
  "\u0000x.db",
  "x.db\u0000.txt",
  "C:\\x.db",
  "~/x.db"
]
const dbName = fc.oneof(
  anyString,
  fc.constantFrom(...TRAVERSAL, "db.sqlite", "app.db", ".db", "x.DB", "x.sqlite3", "x", "ｘ.db", "a".repeat(253) + ".db", "a".repeat(300) + ".db"),
  fc.tuple(anyString, fc.constantFrom("/", "\\", ".."), anyString, fc.constantFrom(".db", ".sqlite", "")).map((p) => p.join(""))
)
const folder = fc.oneof(anyString, fc.constantFrom("", " ", ".", "..", "../..", "/", "./data", "\u0000", "a\u0000b", "/tmp/x\n"))
const endpoint = fc.oneof(
  anyString,
  fc.webUrl(),
  fc.constantFrom(
    "http://",
    "ftp://host",
    "https://user:pw@host",
    "https://host?x=1",
    "https://host/path",
    "localhost:9000",
    "http://127.0.0.1:9000",
    "https://ACCOUNT.r2.cloudflarestorage.com",
    "http://ho\nst",
    "http://host\u0000"
  )
)
const region = fc.oneof(anyString, fc.constantFrom("", "us-east-1", "auto", "US-EAST-1", "us_east_1", "eu-west-3 ", "ü"))
const forcePathStyle = fc.oneof(anyString, fc.constantFrom("true", "false", "TRUE", "False", "yes", "1", "0", " true", ""))

const optional = <A>(arb: FastCheck.Arbitrary<A>) => fc.option(arb, { nil: undefined, freq: 3 })

const validDb = fc.tuple(fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_-]{0,30}$/), fc.constantFrom(".db", ".sqlite"))
  .map(([a, b]) => a + b)
const validS3 = fc.tuple(
  fc.stringMatching(/^[a-z0-9][a-z0-9-]{1,20}[a-z0-9]$/),
  fc.constantFrom("", ".localhost:9000", ".localhost:39531"),
  fc.stringMatching(/^[A-Za-z0-9/_.-]{0,30}$/)
).map(([bucket, host, path]) => `s3://${bucket}${host}/${path}`)

// every setting optional, each from anything to a near-miss
const anySettings = fc.record({
  accessKeyId: optional(keyId),
  secretAccessKey: optional(secret),
  replicaUrl: optional(replicaUrl),
  db: optional(dbName),
  folder: optional(folder),
  binary: optional(anyString),
  endpoint: optional(endpoint),
  region: optional(region),
  forcePathStyle: optional(forcePathStyle)
})

const settings = fc.oneof(
  // anything goes
  anySettings,
  // a valid record, then up to three of its settings replaced by a near-miss or anything
  fc.tuple(
    fc.record({
      accessKeyId: keyId,
      secretAccessKey: secret,
      replicaUrl: fc.oneof(validS3, fc.constantFrom("file:///var/backups/db", "gs://bucket/db")),
      db: validDb,
      folder: fc.constantFrom("/srv/data", "./data", "rel/dir"),
      binary: fc.constantFrom(undefined, "/usr/local/bin/litestream"),
      endpoint: fc.constantFrom(undefined, "http://127.0.0.1:9000", "https://ACCOUNT.r2.cloudflarestorage.com"),
      region: fc.constantFrom(undefined, "us-east-1", "auto"),
      forcePathStyle: fc.constantFrom(undefined, "true", "false")
    }),
    fc.subarray(
      ["accessKeyId", "secretAccessKey", "replicaUrl", "db", "folder", "binary", "endpoint", "region", "forcePathStyle"] as const,
      { maxLength: 3 }
    ),
    anySettings
  ).map(([valid, keys, other]) => {
    const out: Record<string, string | undefined> = { ...valid }
    for (const key of keys) out[key] = other[key]
    // endpoint, region and path style only go with s3://
    if (!String(out.replicaUrl).startsWith("s3://") && !keys.some((k) => k === "endpoint" || k === "region" || k === "forcePathStyle")) {
      out.endpoint = out.region = out.forcePathStyle = undefined
    }
    return out as typeof other
  })
)
type Settings = typeof settings extends FastCheck.Arbitrary<infer A> ? A : never

const EMPTY: Settings = {
  accessKeyId: undefined,
  secretAccessKey: undefined,
  replicaUrl: undefined,
  db: undefined,
  folder: undefined,
  binary: undefined,
  endpoint: undefined,
  region: undefined,
  forcePathStyle: undefined
}

const VARIABLES = new Set<string>([...Object.values(LitestreamConfig.variables), "settings"])

/**
 * The secrets of an input as a leak would show them: the whole values, their escaped forms (a
 * JSON string, `util.inspect`), and their distinctive markers (a cut value keeps its start).
 */
const needles = (input: Pick<Settings, "accessKeyId" | "secretAccessKey">): Array<string> => {
  const out = new Set<string>()
  for (const [value, mark] of [[input.accessKeyId, KEY_MARK], [input.secretAccessKey, SECRET_MARK]] as const) {
    if (value === undefined) continue
    out.add(mark)
    if (value.length === 0) continue
    out.add(value)
    out.add(JSON.stringify(value).slice(1, -1))
    out.add(util.inspect(value).slice(1, -1))
  }
  return [...out]
}

const expectNoSecret = (input: Pick<Settings, "accessKeyId" | "secretAccessKey">, texts: ReadonlyArray<string>, where: string) => {
  for (const needle of needles(input)) {
    for (const text of texts) expect(text.includes(needle), `${where} shows a secret: ${text.slice(0, 300)}`).toBe(false)
  }
}

const views = (value: unknown): Array<string> => [
  String(value),
  JSON.stringify(value) ?? "",
  util.inspect(value, { depth: Infinity }),
  util.format("%o", value)
]

const DECODE_RUNS = 1000

/** The decode property's body; returns whether the input decoded. */
const decodeIsTotal = (input: Settings): boolean => {
  const result = LitestreamConfig.decode(input as LitestreamConfig.Input)
  if (Either.isLeft(result)) {
    const error = result.left
    expect(error).toBeInstanceOf(LitestreamError.LitestreamConfigError)
    expect(error.issues.length).toBeGreaterThan(0)
    for (const issue of error.issues) {
      expect(VARIABLES.has(issue.variable), issue.variable).toBe(true)
      expect(typeof issue.rule === "string" && typeof issue.fix === "string").toBe(true)
    }
    expectNoSecret(input, renderings(error), "the error")
    return false
  }
  expectNoSecret(input, views(result.right), "the decoded settings")
  const resolved = Effect.runSync(LitestreamConfig.make(input as LitestreamConfig.Input).pipe(Effect.provide(NodePathLayer.layer)))
  expectNoSecret(input, views(resolved), "the resolved config")
  // what decodes is what the library can use
  expect(resolved.dbPath.startsWith(resolved.folder)).toBe(true)
  expect(NodePath.dirname(resolved.dbPath)).toBe(resolved.folder)
  return true
}

describe("settings", () => {
  it("decode is total: settings or LitestreamConfigError, never a throw; no secret in any rendering", () => {
    const counts = { decoded: 0, refused: 0 }
    // regressions found by this property: a lone "%" made decodeURIComponent throw
    const examples: Array<[Settings]> = [
      [{ ...EMPTY, replicaUrl: "file:%" }],
      [{ ...EMPTY, replicaUrl: "s3://bucket/a%zz", accessKeyId: `${KEY_MARK}x`, secretAccessKey: `${SECRET_MARK}y` }]
    ]
    fc.assert(
      fc.property(settings, (input) => {
        if (decodeIsTotal(input)) counts.decoded++
        else counts.refused++
      }),
      // (fast-check runs the examples first, within numRuns)
      { numRuns: DECODE_RUNS, examples }
    )
    // every run counted once, and both outcomes were generated often enough to mean something
    expect(counts.decoded + counts.refused).toBe(DECODE_RUNS)
    expect(counts.decoded, "inputs that decoded").toBeGreaterThan(DECODE_RUNS / 10)
    expect(counts.refused, "inputs that were refused").toBeGreaterThan(DECODE_RUNS / 10)
    Figures.record("bad-input-decode", { runs: DECODE_RUNS, examples: examples.length, ...counts })
  })

  it.prop(
    "path traversal in DB_SQLITE is refused, for any folder",
    [
      fc.oneof(
        fc.constantFrom(...TRAVERSAL),
        fc.tuple(anyString, fc.constantFrom("/", "\\", ".."), anyString, fc.constantFrom(".db", ".sqlite")).map((p) => p.join(""))
      ),
      fc.oneof(folder, fc.constant("/srv/data"))
    ],
    ([db, folder]) => {
      const result = LitestreamConfig.decode({ replicaUrl: "file:///var/backups/db", db, folder })
      expect(Either.isLeft(result), `${JSON.stringify(db)} was accepted`).toBe(true)
      if (Either.isLeft(result)) expect(result.left.issues.some((i) => i.variable === "DB_SQLITE")).toBe(true)
    },
    { fastCheck: { numRuns: 1000 } }
  )

  it.prop(
    "a valid database name stays in its folder",
    [
      fc.tuple(
        fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9._-]{0,40}$/),
        fc.constantFrom(".db", ".sqlite")
      ).map(([a, b]) => a + b).filter((s) => !s.includes("..")),
      fc.constantFrom("/srv/data", "./data", "rel/dir", "/")
    ],
    ([db, folder]) => {
      const resolved = Effect.runSync(
        LitestreamConfig.make({ replicaUrl: "file:///var/backups/db", db, folder }).pipe(Effect.provide(NodePathLayer.layer))
      )
      expect(resolved.dbPath).toBe(NodePath.join(NodePath.resolve(folder), db))
      expect(NodePath.dirname(resolved.dbPath)).toBe(NodePath.resolve(folder))
    },
    { fastCheck: { numRuns: 500 } }
  )

  it.prop(
    "REPLICA_URL: what decodes is a URL litestream can take without calling AWS by accident",
    [replicaUrl],
    ([url]) => {
      const result = LitestreamConfig.decode({ replicaUrl: url, accessKeyId: "k", secretAccessKey: "secret-s" })
      if (Either.isRight(result)) {
        const replica = result.right.replicaUrl
        expect(/[\u0000-\u001f\u007f]/.test(replica.url), JSON.stringify(replica.url)).toBe(false)
        const parsed = new URL(replica.url)
        expect(parsed.username + parsed.password + parsed.search + parsed.hash).toBe("")
        if (replica._tag === "S3") {
          expect(replica.bucket).toMatch(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/)
          // a port is only taken for the loopback form, which litestream sends to localhost
          if (parsed.port !== "") expect(replica.endpoint).toBe(`http://localhost:${parsed.port}`)
        }
        if (replica._tag === "File") expect(replica.path.startsWith("/")).toBe(true)
      } else {
        expect(result.left.issues.some((i) => i.variable === "REPLICA_URL")).toBe(true)
      }
    },
    { fastCheck: { numRuns: 2000 } }
  )

  it.effect.prop(
    "from the environment (Config provider) the outcome is the same as from explicit values",
    [settings],
    ([input]) =>
      Effect.gen(function*() {
        const env = new Map<string, string>()
        for (const [key, variable] of Object.entries(LitestreamConfig.variables)) {
          const value = input[key as keyof Settings]
          if (value !== undefined) env.set(variable, value)
        }
        const exit = yield* Effect.exit(
          Layer.build(LitestreamConfig.layerConfig()).pipe(
            Effect.scoped,
            Effect.withConfigProvider(ConfigProvider.fromMap(env)),
            Effect.provide(NodePathLayer.layer)
          )
        )
        const direct = LitestreamConfig.decode(input as LitestreamConfig.Input)
        expect(tagOf(exit), JSON.stringify(input)).toBe(Either.isRight(direct) ? "success" : "LitestreamConfigError")
        if (Exit.isFailure(exit)) expectNoSecret(input, causeRenderings(exit.cause), "the env error")
      }),
    { fastCheck: { numRuns: 100 } }
  )
})

describe("decoded settings at run time", () => {
  // A stand-in for litestream that fails at once: what matters is what happens up to the process.
  // (It answers `litestream version` as v0.3.13 does: the library asks that first.)
  const fake = NodePath.join(fs.mkdtempSync(NodePath.join(os.tmpdir(), "elt-fake-")), "litestream")
  fs.writeFileSync(
    fake,
    "#!/bin/sh\nif [ \"$1\" = version ]; then echo v0.3.13; exit 0; fi\necho 'ERROR failed to run error=\"fake\"' >&2\nexit 1\n",
    { mode: 0o755 }
  )
  const folder = fs.mkdtempSync(NodePath.join(os.tmpdir(), "elt-badinput-"))
  const db = NodePath.join(folder, "app.db")
  const written = Sqlite.createDatabase(db, 3)
  const bytes = fs.readFileSync(db)
  const RUNS = 40

  const inputOf = ([accessKeyId, secretAccessKey, replicaUrl, endpoint]: readonly [string, string, string, string | undefined]) => ({
    accessKeyId,
    secretAccessKey,
    replicaUrl,
    endpoint,
    folder,
    db: "app.db",
    binary: fake
  })

  // only inputs that decode: every generated case reaches the process API
  const decodable = fc.tuple(
    keyId,
    secret,
    fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom("s3://bucket.localhost:9/x", "file:///tmp/elt-nowhere", "s3://bucket/x") },
      { weight: 1, arbitrary: replicaUrl }
    ),
    fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(undefined, "http://127.0.0.1:9") },
      { weight: 1, arbitrary: endpoint }
    )
  ).filter((args) => Either.isRight(LitestreamConfig.decode(inputOf(args))))

  it("regressions: a NUL in a secret or in the URL, a newline in the URL or endpoint are refused when decoding, the secret unshown", () => {
    // found by this suite: these decoded, then Node's spawn threw (a defect) quoting the secret,
    // or the newline reached litestream
    const regressions: ReadonlyArray<readonly [string, string, string, string | undefined]> = [
      [`${KEY_MARK}k`, `${SECRET_MARK}a\u0000b`, "s3://bucket.localhost:9/x", undefined],
      [`${KEY_MARK}k\u0000`, `${SECRET_MARK}s`, "file:///tmp/elt-nowhere", undefined],
      [`${KEY_MARK}k`, `${SECRET_MARK}s`, "file:///tmp/a\u0000b", undefined],
      [`${KEY_MARK}k`, `${SECRET_MARK}s`, "file:///tmp/a\nb", undefined],
      [`${KEY_MARK}k`, `${SECRET_MARK}s`, "s3://bucket.localhost:9/x", "http://127.0.0.1:9/\n"]
    ]
    for (const args of regressions) {
      const result = LitestreamConfig.decode(inputOf(args))
      expect(Either.isLeft(result), JSON.stringify(args)).toBe(true)
      if (Either.isLeft(result)) expectNoSecret({ accessKeyId: args[0], secretAccessKey: args[1] }, renderings(result.left), "the error")
    }
  })

  it.live(`once and restore with ${RUNS} decodable credentials and URLs: the stand-in's failure, never a defect, no secret shown`, () =>
    Effect.gen(function*() {
      const outcomes = new Map<string, number>()
      let runs = 0
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(decodable, (args) =>
            Effect.runPromise(Effect.gen(function*() {
              const input = inputOf(args)
              runs++
              const services = Layer.mergeAll(Restore.layer, Replicate.layer).pipe(
                Layer.provideMerge(LitestreamConfig.layer(input)),
                // deleteLocal needs the probe's locks (without it: DeleteLocalUnavailable, before any process)
                Layer.provide(NodeSqliteProbe.layer),
                Layer.provide(NodeContext.layer)
              )
              for (
                const [name, op, tag] of [
                  ["once", Effect.flatMap(Replicate.Replicate, (r) => r.once({ timeout: "5 seconds", deleteLocal: true })), ONCE_FAILS],
                  [
                    "restore",
                    Effect.flatMap(Restore.Restore, (r) => r.restore({ timeout: "5 seconds", output: NodePath.join(folder, "out.db") })),
                    RESTORE_FAILS
                  ]
                ] as const
              ) {
                const exit = yield* Effect.exit(
                  (op as Effect.Effect<unknown, unknown, Replicate.Replicate | Restore.Restore>).pipe(Effect.provide(services))
                )
                // the stand-in exits 1 at once with an ERROR line: that, and nothing else
                expect(tagOf(exit), `${name}: ${JSON.stringify(input)}`).toBe(tag)
                outcomes.set(`${name} ${tagOf(exit)}`, (outcomes.get(`${name} ${tagOf(exit)}`) ?? 0) + 1)
                if (Exit.isFailure(exit)) expectNoSecret({ accessKeyId: args[0], secretAccessKey: args[1] }, causeRenderings(exit.cause), name)
              }
              // the stand-in never touched the database: byte for byte, with its rows
              expect(fs.readFileSync(db)).toEqual(bytes)
              expect(Sqlite.readRows(db)).toEqual(written)
              expect(fs.existsSync(NodePath.join(folder, "out.db"))).toBe(false)
            }))),
          { numRuns: RUNS }
        )
      )
      expect(runs, "every generated input ran").toBe(RUNS)
      expect(outcomes.get(`once ${ONCE_FAILS}`)).toBe(RUNS)
      expect(outcomes.get(`restore ${RESTORE_FAILS}`)).toBe(RUNS)
      Figures.record("bad-input-runtime", { runs, outcomes: Object.fromEntries(outcomes) })
    }), 90_000)
})

const ONCE_FAILS = "ExitedEarly"
const RESTORE_FAILS = "LitestreamFailed"
