/**
 * Replica listings: the table parser on litestream's real outputs, and the service on the mock
 * CommandExecutor (argv, config file, errors litestream reports with exit code 0, timeouts).
 */
import { LitestreamConfig, LitestreamError, ReplicaListing } from "@effect-litestream/core"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import * as fs from "node:fs"
import * as os from "node:os"
import * as NodePath from "node:path"
import * as Mock from "../support/MockExecutor.js"

const KEY_ID = "AKIALISTINGUNIT00001"
const SECRET = "listing/Unit+Secret=0001"

// Real outputs of litestream v0.3.13 (stdout), for a file:// and an S3 replica.
const real = {
  generations: [
    "name  generation        lag  start                 end",
    "file  f2d4511db35ff916  24s  2026-11-25T17:36:01Z  2026-11-25T17:36:02Z"
  ].join("\n"),
  generationsNegativeLag: [
    "name  generation        lag    start                 end",
    "s3    a15e27dd6d18b97c  -57ms  2026-11-25T18:13:16Z  2026-11-25T18:13:16Z",
    "s3    e3691ff00954f61d  1.3s   2026-11-25T18:01:58Z  2026-11-25T18:02:01Z",
    ""
  ].join("\n"),
  snapshots: [
    "replica  generation        index  size  created",
    "file     f2d4511db35ff916  0      340   2026-11-25T17:36:01Z"
  ].join("\n"),
  wal: [
    "replica  generation        index  offset  size  created",
    "file     f2d4511db35ff916  0      28872   169   2026-11-25T17:36:01Z"
  ].join("\n"),
  walMany: [
    "replica  generation        index  offset  size   created",
    "s3       036560b69e51b426  0      0       649    2026-11-25T18:19:17Z",
    "s3       036560b69e51b426  0      24752   58449  2026-11-25T18:19:18Z",
    "s3       036560b69e51b426  1      0       119    2026-11-25T18:19:18Z",
    "s3       036560b69e51b426  1      4152    424    2026-11-25T18:19:19Z"
  ].join("\n"),
  emptyGenerations: "name  generation  lag  start  end\n",
  emptySnapshots: "replica  generation  index  size  created\n",
  emptyWal: "replica  generation  index  offset  size  created\n",
  // stderr, exit code 0: litestream reports an unreadable replica and prints the header alone
  refused: String
    .raw`2026/11/25 18:02:06 ERROR cannot list generations replica=s3 error="RequestError: send request failed\ncaused by: Get \"http://localhost:1/bk?delimiter=%2F&prefix=x%2Fgenerations%2F\": dial tcp 127.0.0.1:1: connect: connection refused"`,
  refusedSnapshots: String
    .raw`2026/11/25 18:02:06 ERROR cannot determine snapshots error="cannot fetch generations: RequestError: send request failed\ncaused by: Get \"http://localhost:1/bk?delimiter=%2F&prefix=x%2Fgenerations%2F\": dial tcp 127.0.0.1:1: connect: connection refused"`,
  denied: String
    .raw`{"time":"2026-11-25T18:02:06.1Z","level":"ERROR","msg":"cannot list generations","replica":"s3","error":"AccessDenied: Access Denied\n\tstatus code: 403, request id: 1"}`,
  notInConfig: String
    .raw`{"time":"2026-11-25T18:02:01.059688982Z","level":"ERROR","msg":"failed to run","error":"database not found in config: /tmp/elt3/d/zzz.db"}`
}

describe("ReplicaListing.parseTable", () => {
  it("generations: typed rows, 'name' read as the replica", () => {
    const rows = Either.getOrThrow(ReplicaListing.parseTable("generations", ReplicaListing.Generation, real.generations))
    expect(rows).toEqual([
      new ReplicaListing.Generation({
        replica: "file",
        generation: "f2d4511db35ff916",
        lag: "24s",
        start: new Date("2026-11-25T17:36:01Z"),
        end: new Date("2026-11-25T17:36:02Z")
      })
    ])
    expect(rows[0]).toBeInstanceOf(ReplicaListing.Generation)
  })

  it("generations: several rows, negative and fractional lags, a trailing newline", () => {
    const rows = Either.getOrThrow(ReplicaListing.parseTable("generations", ReplicaListing.Generation, real.generationsNegativeLag))
    expect(rows.map((r) => [r.replica, r.generation, r.lag])).toEqual([
      ["s3", "a15e27dd6d18b97c", "-57ms"],
      ["s3", "e3691ff00954f61d", "1.3s"]
    ])
    expect(rows[1]!.end.toISOString()).toBe("2026-11-25T18:02:01.000Z")
  })

  it("snapshots: index and size as numbers", () => {
    expect(Either.getOrThrow(ReplicaListing.parseTable("snapshots", ReplicaListing.Snapshot, real.snapshots))).toEqual([
      new ReplicaListing.Snapshot({
        replica: "file",
        generation: "f2d4511db35ff916",
        index: 0,
        size: 340,
        created: new Date("2026-11-25T17:36:01Z")
      })
    ])
  })

  it("wal: index, offset and size as numbers", () => {
    expect(Either.getOrThrow(ReplicaListing.parseTable("wal", ReplicaListing.WalSegment, real.wal))).toEqual([
      new ReplicaListing.WalSegment({
        replica: "file",
        generation: "f2d4511db35ff916",
        index: 0,
        offset: 28872,
        size: 169,
        created: new Date("2026-11-25T17:36:01Z")
      })
    ])
    const many = Either.getOrThrow(ReplicaListing.parseTable("wal", ReplicaListing.WalSegment, real.walMany))
    expect(many.map((w) => [w.index, w.offset, w.size])).toEqual([[0, 0, 649], [0, 24752, 58449], [1, 0, 119], [1, 4152, 424]])
  })

  it("the header alone: no rows", () => {
    expect(ReplicaListing.parseTable("generations", ReplicaListing.Generation, real.emptyGenerations)).toEqual(Either.right([]))
    expect(ReplicaListing.parseTable("snapshots", ReplicaListing.Snapshot, real.emptySnapshots)).toEqual(Either.right([]))
    expect(ReplicaListing.parseTable("wal", ReplicaListing.WalSegment, real.emptyWal)).toEqual(Either.right([]))
  })

  it("refuses another table, no output, and rows that do not decode, saying which line", () => {
    expect(ReplicaListing.parseTable("wal", ReplicaListing.WalSegment, real.snapshots)).toEqual(
      Either.left(`unexpected header ${JSON.stringify(real.snapshots.split("\n")[0])} from litestream wal`)
    )
    expect(ReplicaListing.parseTable("generations", ReplicaListing.Generation, "")).toEqual(
      Either.left("unexpected header \"\" from litestream generations")
    )
    const badIndex = "replica  generation  index  size  created\nfile  f2d4511db35ff916  zero  340  2026-11-25T17:36:01Z"
    expect(ReplicaListing.parseTable("snapshots", ReplicaListing.Snapshot, badIndex)).toEqual(
      Either.left("cannot read the line \"file  f2d4511db35ff916  zero  340  2026-11-25T17:36:01Z\" of litestream snapshots")
    )
    const badDate = "replica  generation  index  size  created\nfile  f2d4511db35ff916  0  340  yesterday"
    expect(Either.isLeft(ReplicaListing.parseTable("snapshots", ReplicaListing.Snapshot, badDate))).toBe(true)
    const missing = "name  generation  lag  start  end\nfile  f2d4511db35ff916  24s"
    expect(Either.isLeft(ReplicaListing.parseTable("generations", ReplicaListing.Generation, missing))).toBe(true)
  })
})

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(NodePath.join(os.tmpdir(), "elt-unit-listing-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** The listing service on the mock executor; `stdout` / `stderr` are what litestream prints. */
const withListing = <A, E>(
  script: Mock.ScriptInput,
  input: Partial<LitestreamConfig.Input>,
  body: (listing: ReplicaListing.ReplicaListing["Type"], mock: Mock.MockExecutorService, dir: string) => Effect.Effect<A, E>
) =>
  Effect.gen(function*() {
    const dir = yield* tempDir
    const layer = ReplicaListing.layer.pipe(
      Layer.provideMerge(Layer.mergeAll(
        Mock.layer(script),
        LitestreamConfig.layer({
          replicaUrl: "s3://backups.localhost:9000/apps/app.db",
          accessKeyId: KEY_ID,
          secretAccessKey: SECRET,
          folder: dir,
          db: "app.db",
          ...input
        })
      )),
      Layer.provideMerge(NodeContext.layer),
      Layer.orDie
    )
    return yield* Effect.gen(function*() {
      return yield* body(yield* ReplicaListing.ReplicaListing, yield* Mock.MockExecutor, dir)
    }).pipe(Effect.provide(layer))
  })

const out = (text: string): Mock.Line => ({ text, channel: "stdout" })

describe("ReplicaListing service", () => {
  it.scoped("litestream generations URL: typed rows; the credentials in the child's environment only", () =>
    withListing(
      { lines: real.generations.split("\n").map(out), exit: 0 },
      {},
      (listing, mock) =>
        Effect.gen(function*() {
          const rows = yield* listing.generations()
          expect(rows.map((r) => r.generation)).toEqual(["f2d4511db35ff916"])
          expect(mock.runs[0]!.args).toEqual(["generations", "s3://backups.localhost:9000/apps/app.db"])
          expect(mock.runs[0]!.args.join(" ")).not.toContain(SECRET)
          expect(mock.runs[0]!.env).toMatchObject({ LITESTREAM_SECRET_ACCESS_KEY: SECRET })
        })
    ))

  it.scoped("database: the replica of that database, REPLICA_URL/<name>", () =>
    withListing(
      { lines: real.wal.split("\n").map(out), exit: 0 },
      {},
      (listing, mock) =>
        Effect.gen(function*() {
          expect(yield* listing.wal({ database: "b.db" })).toHaveLength(1)
          expect(mock.runs[0]!.args).toEqual(["wal", "s3://backups.localhost:9000/apps/app.db/b.db"])
          const error = yield* Effect.flip(listing.wal({ database: "../b.db" }))
          expect(error._tag).toBe("LitestreamConfigError")
          expect(mock.runs).toHaveLength(1)
        })
    ))

  it.scoped("S3 options: -config FILE DB; a missing local database is stood in for by an empty file", () => {
    const seen: Array<{ args: ReadonlyArray<string>; config: string; standIn: boolean }> = []
    return withListing(
      {
        onStart: (run) =>
          Effect.sync(() => {
            const config = fs.readFileSync(run.args[2]!, "utf8")
            seen.push({ args: run.args, config, standIn: fs.existsSync(run.args[3]!) && fs.statSync(run.args[3]!).size === 0 })
          }),
        lines: real.snapshots.split("\n").map(out),
        exit: 0
      },
      { replicaUrl: "s3://backups/apps/app.db", endpoint: "http://127.0.0.1:9000", region: "us-east-1", forcePathStyle: true },
      (listing, mock, dir) =>
        Effect.gen(function*() {
          // the database does not exist here
          expect(yield* listing.snapshots()).toHaveLength(1)
          const [first] = seen
          expect(first!.args.slice(0, 2)).toEqual(["snapshots", "-config"])
          expect(first!.args[3]).not.toBe(NodePath.join(dir, "app.db"))
          expect(NodePath.basename(first!.args[3]!)).toBe("app.db")
          expect(first!.standIn).toBe(true)
          expect(first!.config).toContain(`  - path: ${JSON.stringify(first!.args[3])}`)
          expect(first!.config).toContain(`        endpoint: "http://127.0.0.1:9000"`)
          expect(first!.config).not.toContain(SECRET)
          // both temporary files are gone
          expect(fs.existsSync(first!.args[2]!)).toBe(false)
          expect(fs.existsSync(first!.args[3]!)).toBe(false)

          // with the database there, litestream gets its real path (for the lag)
          fs.writeFileSync(NodePath.join(dir, "app.db"), "")
          yield* listing.snapshots()
          expect(mock.runs[1]!.args[3]).toBe(NodePath.join(dir, "app.db"))
        })
    )
  })

  it.scoped("an ERROR line with exit code 0 (connection refused): ReplicaUnreachable, not an empty list", () =>
    withListing(
      (command) => ({
        lines: [
          command.args[0] === "generations" ? real.refused : real.refusedSnapshots,
          out(command.args[0] === "generations" ? real.emptyGenerations : command.args[0] === "snapshots" ? real.emptySnapshots : real.emptyWal)
        ],
        exit: 0
      }),
      {},
      (listing) =>
        Effect.gen(function*() {
          for (const run of [listing.generations(), listing.snapshots(), listing.wal()] as const) {
            const error = yield* Effect.flip(run as Effect.Effect<unknown, ReplicaListing.ListingError>)
            expect(error).toBeInstanceOf(LitestreamError.ReplicaUnreachable)
            expect(error).toMatchObject({ replica: "s3://backups.localhost:9000/apps/app.db" })
            expect((error as LitestreamError.ReplicaUnreachable).detail).toContain("connection refused")
          }
        })
    ))

  it.scoped("access denied (exit 0): ReplicaAccessDenied", () =>
    withListing(
      { lines: [real.denied, out(real.emptyGenerations)], exit: 0 },
      {},
      (listing) =>
        Effect.gen(function*() {
          expect(yield* Effect.flip(listing.generations())).toMatchObject({ _tag: "ReplicaAccessDenied" })
        })
    ))

  it.scoped("a non-zero exit: LitestreamFailed with litestream's last lines, secrets masked", () =>
    withListing(
      { lines: [real.notInConfig, `echo ${SECRET}`], exit: 1 },
      {},
      (listing) =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(listing.generations())
          expect(error).toMatchObject({ _tag: "LitestreamFailed", operation: "list", exitCode: 1 })
          expect(error.message).toContain("database not found in config")
          expect(error.message).not.toContain(SECRET)
        })
    ))

  it.scoped("output that is not the expected table: LitestreamFailed saying so", () =>
    withListing(
      { lines: [out("something else entirely")], exit: 0 },
      {},
      (listing) =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(listing.generations())
          expect(error).toMatchObject({ _tag: "LitestreamFailed", exitCode: 0 })
          expect(error.message).toContain("unexpected header \"something else entirely\" from litestream generations")
        })
    ))

  it.scoped("no answer within the timeout: LitestreamTimeout, litestream stopped", () =>
    withListing(
      { lines: [], onSigterm: { exitCode: 0 } },
      {},
      (listing, mock) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(listing.generations({ timeout: "5 seconds" }))
          const run = yield* mock.started
          yield* TestClock.adjust("5 seconds")
          expect(yield* Effect.flip(Fiber.join(fiber))).toMatchObject({ _tag: "LitestreamTimeout", operation: "list" })
          expect(run.signals).toEqual(["SIGTERM"])
        })
    ))
})
