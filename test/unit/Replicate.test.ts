import { LitestreamConfig, LitestreamError, LitestreamEvent, Replicate } from "@effect-litestream/core"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as fs from "node:fs"
import * as os from "node:os"
import * as NodePath from "node:path"
import { json } from "../support/LogLines.js"
import * as Mock from "../support/MockExecutor.js"
import * as MockProbe from "../support/MockProbe.js"

const KEY_ID = "AKIAREPLICATEUNIT004"
const SECRET = "replicate/Unit+Secret=0004abc"
const REPLICA = "s3://backups.localhost:39531/db"

const logLine = (level: string, msg: string, attributes: Record<string, unknown> = {}) =>
  JSON.stringify({ time: "2026-11-25T17:24:20.062986482Z", level, msg, ...attributes })

const signalReceived = logLine("INFO", "signal received, litestream shutting down")
const monitorError = (error: string) => logLine("ERROR", "monitor error", { db: "/tmp/probe/f/db.sqlite", replica: "s3", error })
const REFUSED = "cannot determine replica position: max wal segment: RequestError: send request failed\n" +
  "caused by: Get \"http://localhost:39531/backups?prefix=db%2F\": dial tcp 127.0.0.1:39531: connect: connection refused"
const DENIED = "cannot determine replica position: AccessDenied: Access Denied\n\tstatus code: 403, request id: 1"
const CANCELED = "cannot determine replica position: max wal segment: RequestCanceled: request context canceled\n" +
  "caused by: context canceled"

const position = (s: string) => LitestreamEvent.parsePosition(s)

/** litestream's behaviour on SIGTERM when its final sync works. */
const finalSyncOk: Mock.OnSignal = { lines: [signalReceived, json.wal, json.shutDown], exitCode: 0 }

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(NodePath.join(os.tmpdir(), "elt-unit-replicate-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

interface Ctx {
  readonly dir: string
  readonly dbPath: string
  /** the database and the files beside it */
  readonly files: ReadonlyArray<string>
  readonly replicate: Replicate.Replicate["Type"]
  readonly mock: Mock.MockExecutorService
  /** what the SqliteProbe was asked, in order */
  readonly probeLog: Array<string>
}

/** A `Replicate` on the mock executor, the real file system and a temporary folder holding a database. */
const withReplicate = <A, E>(
  script: Mock.ScriptInput,
  body: (ctx: Ctx) => Effect.Effect<A, E>,
  options: {
    readonly createDb?: boolean
    readonly input?: Partial<LitestreamConfig.Input>
    /** the SqliteProbe's script; `false`: no SqliteProbe in the context */
    readonly probe?: MockProbe.Script | false
  } = {}
) =>
  Effect.gen(function*() {
    const dir = yield* tempDir
    const dbPath = NodePath.join(dir, "db.sqlite")
    const files = [dbPath, `${dbPath}-wal`, `${dbPath}-shm`, NodePath.join(dir, ".db.sqlite-litestream")]
    const probeLog: Array<string> = []
    if (options.createDb !== false) {
      fs.writeFileSync(files[0]!, "SQLite format 3\u0000")
      fs.writeFileSync(files[1]!, "wal")
      fs.writeFileSync(files[2]!, "shm")
      fs.mkdirSync(NodePath.join(files[3]!, "generations", "b59d6f08a3825659"), { recursive: true })
      fs.writeFileSync(NodePath.join(files[3]!, "generation"), "b59d6f08a3825659")
    }
    const layer = Replicate.layer.pipe(
      Layer.provideMerge(Layer.mergeAll(
        Mock.layer(script),
        LitestreamConfig.layer({
          replicaUrl: REPLICA,
          accessKeyId: KEY_ID,
          secretAccessKey: SECRET,
          folder: dir,
          ...options.input
        })
      )),
      Layer.provideMerge(NodeContext.layer),
      Layer.provide(options.probe === false ? Layer.empty : MockProbe.layer(probeLog, options.probe)),
      Layer.orDie
    )
    return yield* Effect.gen(function*() {
      const replicate = yield* Replicate.Replicate
      const mock = yield* Mock.MockExecutor
      return yield* body({ dir, dbPath, files, replicate, mock, probeLog })
    }).pipe(Effect.provide(layer))
  })

/** The path after `-config` in a replicate's argv. */
const configOf = (run: Mock.Run): string => {
  const i = run.args.indexOf("-config")
  if (i === -1 || i + 1 >= run.args.length) throw new Error(`no -config in ${run.args.join(" ")}`)
  return run.args[i + 1]!
}

const existing = (files: ReadonlyArray<string>) => files.filter((f) => fs.existsSync(f))

describe("Replicate.once: the command", () => {
  it.scoped("runs `litestream replicate -config FILE`; the file exists while it runs, holds no secret, and is removed", () => {
    let config: { exists: boolean; text: string } | undefined
    return withReplicate(
      {
        onStart: (run) =>
          Effect.sync(() => {
            const file = configOf(run)
            config = { exists: fs.existsSync(file), text: fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "" }
          }),
        lines: [json.version, { at: "200 millis", text: json.snapshot }],
        onSigterm: finalSyncOk
      },
      ({ dbPath, mock, replicate }) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(replicate.once({ interval: "250 millis" }))
          const run = yield* mock.started
          yield* TestClock.adjust("300 millis")
          yield* Fiber.join(fiber)

          expect(run.command).toBe("litestream")
          expect(run.args).toHaveLength(3)
          expect(run.args.slice(0, 2)).toEqual(["replicate", "-config"])
          expect(NodePath.basename(run.args[2]!)).toBe("litestream.yml")
          expect(run.args.join(" ")).not.toContain(SECRET)
          expect(run.args.join(" ")).not.toContain(KEY_ID)
          expect(run.env).toMatchObject({ LITESTREAM_SECRET_ACCESS_KEY: SECRET, LITESTREAM_ACCESS_KEY_ID: KEY_ID })

          expect(config?.exists).toBe(true)
          const text = config!.text
          expect(text).toContain(`  - path: ${JSON.stringify(dbPath)}`)
          expect(text).toContain(`      - url: ${JSON.stringify(REPLICA)}`)
          expect(text).toContain("  type: json")
          expect(text).toContain("  stderr: true")
          expect(text).toContain("  level: debug")
          expect(text).toContain("    monitor-interval: 250ms")
          expect(text).toContain("        sync-interval: 250ms")
          expect(text).not.toContain(SECRET)
          expect(text).not.toContain(KEY_ID)

          expect(fs.existsSync(configOf(run))).toBe(false)
          expect(fs.existsSync(NodePath.dirname(configOf(run)))).toBe(false)
        })
    )
  })

  it.scoped("the default interval is 100ms", () => {
    let text = ""
    return withReplicate(
      {
        onStart: (run) => Effect.sync(() => (text = fs.readFileSync(configOf(run), "utf8"))),
        lines: [{ at: "200 millis", text: json.snapshot }],
        onSigterm: finalSyncOk
      },
      ({ mock, replicate }) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(replicate.once())
          yield* mock.started
          yield* TestClock.adjust("300 millis")
          yield* Fiber.join(fiber)
          expect(text).toContain("monitor-interval: 100ms")
          expect(text).toContain("sync-interval: 100ms")
        })
    )
  })
})

describe("Replicate.once: success", () => {
  it.scoped("stops litestream as soon as a snapshot is written and succeeds on its exit 0, long before the timeout", () =>
    withReplicate(
      {
        lines: [json.version, json.generation, { at: "200 millis", text: json.snapshot }],
        exit: "never",
        onSigterm: finalSyncOk
      },
      ({ files, mock, replicate }) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(replicate.once())
          const run = yield* mock.started
          yield* TestClock.adjust("199 millis")
          expect(run.signals).toEqual([])
          expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)

          yield* TestClock.adjust("101 millis")
          const result = yield* Fiber.join(fiber)
          expect(run.signals).toEqual(["SIGTERM"])
          expect(run.finalizerSignals).toEqual([])
          expect(yield* Mock.exitOf(run)).toEqual(Option.some({ _tag: "Code", code: 0 }))
          // where the replica ends: the final sync's WAL segment, at offset 0 with 16512 bytes
          expect(result.position).toEqual(position("b59d6f08a3825659/00000000:16512"))
          expect(Duration.toMillis(result.duration)).toBeGreaterThanOrEqual(200)
          expect(Duration.toMillis(result.duration)).toBeLessThanOrEqual(300)
          expect(yield* TestClock.currentTimeMillis).toBe(300)
          expect(result.deleted).toEqual([])
          expect(existing(files)).toEqual(files)
        })
    ))

  it.scoped("an unchanged database: 'replica sync: calc new pos' alone is enough", () =>
    withReplicate(
      {
        lines: [json.version, { at: "100 millis", text: json.sync }, { at: "150 millis", text: json.calcNewPos }],
        onSigterm: { lines: [signalReceived, json.shutDown], exitCode: 0 }
      },
      ({ mock, replicate }) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(replicate.once())
          const run = yield* mock.started
          yield* TestClock.adjust("200 millis")
          const result = yield* Fiber.join(fiber)
          expect(result.position).toEqual(position("b59d6f08a3825659/00000000:16512"))
          expect(run.signals).toEqual(["SIGTERM"])
        })
    ))

  // litestream logs to stdout or stderr, by format: both are read
  const caughtUpCases: ReadonlyArray<{ readonly name: string; readonly position: Mock.Channel; readonly segments: Mock.Channel }> = [
    { name: "all on stderr", position: "stderr", segments: "stderr" },
    { name: "the position on stderr, the snapshot and WAL segment on stdout", position: "stderr", segments: "stdout" }
  ]
  for (const c of caughtUpCases) {
    it.scoped(`with the database position known ('replica sync'), waits until the replica caught up with it (${c.name})`, () =>
      withReplicate(
        {
          lines: [
            { text: json.version, channel: c.segments },
            {
              at: "100 millis",
              channel: c.position,
              text: logLine("DEBUG", "replica sync", {
                db: "/tmp/probe/f/db.sqlite",
                replica: "file",
                position: "b59d6f08a3825659/00000000:16512"
              })
            },
            { at: "200 millis", text: json.snapshot, channel: c.segments },
            { at: "400 millis", text: json.wal, channel: c.segments }
          ],
          onSigterm: { lines: [signalReceived, json.shutDown], exitCode: 0 }
        },
        ({ mock, replicate }) =>
          Effect.gen(function*() {
            const fiber = yield* Effect.fork(replicate.once())
            const run = yield* mock.started
            yield* TestClock.adjust("300 millis")
            // a snapshot is followed by the WAL segments of its index: not caught up yet
            expect(run.signals).toEqual([])
            expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
            yield* TestClock.adjust("100 millis")
            const result = yield* Fiber.join(fiber)
            // the WAL segment at offset 0 with 16512 bytes reaches the database's position
            expect(result.position).toEqual(position("b59d6f08a3825659/00000000:16512"))
            expect(run.signals).toEqual(["SIGTERM"])
          })
      ))
  }

  it.scoped("ERROR lines after SIGTERM do not fail it when litestream exits 0", () =>
    withReplicate(
      {
        lines: [json.version, { at: "200 millis", text: json.snapshot }],
        onSigterm: { lines: [signalReceived, monitorError(CANCELED), json.wal, json.shutDown], exitCode: 0 }
      },
      ({ mock, replicate }) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(replicate.once())
          yield* mock.started
          yield* TestClock.adjust("300 millis")
          const result = yield* Fiber.join(fiber)
          expect(result.position).toEqual(position("b59d6f08a3825659/00000000:16512"))
        })
    ))

  it.scoped("waits for the final sync to finish before succeeding", () =>
    withReplicate(
      {
        lines: [{ at: "200 millis", text: json.snapshot }],
        onSigterm: { lines: [signalReceived, { at: "1 second", text: json.wal }], exitCode: 0, exitAt: "1 second" }
      },
      ({ mock, replicate }) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(replicate.once())
          const run = yield* mock.started
          yield* TestClock.adjust("300 millis")
          expect(run.signals).toEqual(["SIGTERM"])
          expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
          yield* TestClock.adjust("1 second")
          const result = yield* Fiber.join(fiber)
          expect(result.position).toEqual(position("b59d6f08a3825659/00000000:16512"))
          expect(run.signals).toEqual(["SIGTERM"])
        })
    ))
})

describe("Replicate.once: errors", () => {
  const replicaErrorCases = [
    { name: "connection refused -> ReplicaUnreachable", error: REFUSED, tag: "ReplicaUnreachable" },
    { name: "403 -> ReplicaAccessDenied", error: DENIED, tag: "ReplicaAccessDenied" },
    { name: "an unknown replica error -> ReplicaError", error: "cannot write snapshot: disk quota exceeded", tag: "ReplicaError" }
  ]
  for (const c of replicaErrorCases) {
    it.scoped(`an ERROR for the replica before any sync: ${c.name}, litestream stopped, nothing deleted`, () =>
      withReplicate(
        {
          lines: [json.version, { at: "150 millis", text: monitorError(c.error) }, { at: "10 seconds", text: json.snapshot }],
          onSigterm: { lines: [signalReceived, monitorError(c.error)], exitCode: 1 }
        },
        ({ files, mock, replicate }) =>
          Effect.gen(function*() {
            const fiber = yield* Effect.fork(replicate.once({ deleteLocal: true }))
            const run = yield* mock.started
            yield* TestClock.adjust("200 millis")
            // with deleteLocal, writes are held and litestream settles for 3 intervals before SIGTERM
            yield* TestClock.adjust("300 millis")
            const error = yield* Effect.flip(Fiber.join(fiber))
            expect(error._tag).toBe(c.tag)
            expect(error).toMatchObject({ replica: REPLICA, detail: c.error.split("\n").map((l) => l.trim()).join("; ") })
            expect(run.signals).toEqual(["SIGTERM"])
            expect(existing(files)).toEqual(files)
          })
      ))
  }

  it.scoped("exit 1 after SIGTERM (the final sync failed) -> typed failure, the database NOT deleted", () =>
    withReplicate(
      {
        lines: [json.version, { at: "200 millis", text: json.snapshot }],
        onSigterm: { lines: [signalReceived, monitorError(REFUSED)], exitCode: 1 }
      },
      ({ files, mock, replicate }) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(replicate.once({ deleteLocal: true }))
          const run = yield* mock.started
          yield* TestClock.adjust("300 millis")
          // with deleteLocal, writes are held and litestream settles for 3 intervals before SIGTERM
          yield* TestClock.adjust("300 millis")
          const error = yield* Effect.flip(Fiber.join(fiber))
          expect(error).toMatchObject({ _tag: "ReplicaUnreachable", replica: REPLICA })
          expect(run.signals).toEqual(["SIGTERM"])
          expect(existing(files)).toEqual(files)
        })
    ))

  it.scoped("exit 1 after SIGTERM without a known error -> LitestreamFailed with the last lines, secret masked", () =>
    withReplicate(
      {
        lines: [json.version, { at: "200 millis", text: json.snapshot }],
        onSigterm: {
          lines: [signalReceived, logLine("ERROR", "final sync failed", { error: `bad signature for ${SECRET}` })],
          exitCode: 1
        }
      },
      ({ files, mock, replicate }) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(replicate.once({ deleteLocal: true }))
          yield* mock.started
          yield* TestClock.adjust("300 millis")
          // with deleteLocal, writes are held and litestream settles for 3 intervals before SIGTERM
          yield* TestClock.adjust("300 millis")
          const error = yield* Effect.flip(Fiber.join(fiber))
          expect(error._tag).toBe("LitestreamFailed")
          if (error._tag !== "LitestreamFailed") return
          expect(error.operation).toBe("replicate")
          expect(error.exitCode).toBe(1)
          expect(error.stderr).toContain(logLine("ERROR", "final sync failed", { error: "bad signature for <redacted>" }))
          for (const text of [error.message, JSON.stringify(error)]) expect(text).not.toContain(SECRET)
          expect(existing(files)).toEqual(files)
        })
    ))

  it.scoped("litestream exits before any sync -> ExitedEarly with its last lines", () =>
    withReplicate(
      {
        lines: [json.version, logLine("ERROR", "failed to run", { error: "cannot open db: permission denied" })],
        exit: 1,
        exitAt: "50 millis"
      },
      ({ files, mock, replicate }) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(replicate.once({ deleteLocal: true }))
          const run = yield* mock.started
          yield* TestClock.adjust("50 millis")
          // with deleteLocal, writes are held and litestream settles for 3 intervals before SIGTERM
          yield* TestClock.adjust("300 millis")
          const error = yield* Effect.flip(Fiber.join(fiber))
          expect(error._tag).toBe("ExitedEarly")
          if (error._tag !== "ExitedEarly") return
          expect(error.exitCode).toBe(1)
          expect(error.stderr).toEqual([
            json.version,
            logLine("ERROR", "failed to run", { error: "cannot open db: permission denied" })
          ])
          expect(error.message).toContain("exited with code 1")
          expect(run.signals).toEqual([])
          expect(existing(files)).toEqual(files)
        })
    ))

  it.scoped("litestream exits 0 before any sync -> ExitedEarly", () =>
    withReplicate({ lines: [json.version], exit: 0 }, ({ replicate }) =>
      Effect.gen(function*() {
        expect(yield* Effect.flip(replicate.once())).toMatchObject({ _tag: "ExitedEarly", exitCode: 0 })
      })))

  it.scoped("timeout: no sync ever -> LitestreamTimeout, litestream sent SIGTERM, nothing deleted", () =>
    withReplicate(
      { lines: [json.version, { at: "100 millis", text: json.sync }], onSigterm: { lines: [signalReceived], exitCode: 0 } },
      ({ files, mock, replicate }) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(replicate.once({ timeout: "5 seconds", deleteLocal: true }))
          const run = yield* mock.started
          yield* TestClock.adjust("4999 millis")
          expect(run.signals).toEqual([])
          expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
          yield* TestClock.adjust("1 millis")
          const error = yield* Effect.flip(Fiber.join(fiber))
          expect(error._tag).toBe("LitestreamTimeout")
          if (error._tag !== "LitestreamTimeout") return
          expect(error.operation).toBe("replicate")
          expect(Duration.toMillis(error.timeout)).toBe(5000)
          expect(run.signals).toEqual(["SIGTERM"])
          expect(existing(files)).toEqual(files)
        })
    ))

  it.scoped("the default timeout is 1 minute", () =>
    withReplicate({ lines: [json.version], onSigterm: { exitCode: 0 } }, ({ mock, replicate }) =>
      Effect.gen(function*() {
        const fiber = yield* Effect.fork(replicate.once())
        const run = yield* mock.started
        yield* TestClock.adjust(Duration.subtract(Replicate.DEFAULT_TIMEOUT, Duration.millis(1)))
        expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
        yield* TestClock.adjust("1 millis")
        expect(yield* Effect.flip(Fiber.join(fiber))).toMatchObject({ _tag: "LitestreamTimeout" })
        expect(run.signals).toEqual(["SIGTERM"])
      })))

  it.scoped("a litestream that ignores SIGTERM gets SIGKILL after the grace period; nothing deleted", () =>
    withReplicate(
      { lines: [json.version, { at: "200 millis", text: json.snapshot }], onSigterm: "ignore" },
      ({ files, mock, replicate }) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(replicate.once({ grace: "2 seconds", deleteLocal: true }))
          const run = yield* mock.started
          yield* TestClock.adjust("300 millis")
          // with deleteLocal, writes are held and litestream settles for 3 intervals before SIGTERM
          yield* TestClock.adjust("300 millis")
          expect(run.signals).toEqual(["SIGTERM"])
          // The grace period started with the SIGTERM, at 200ms (300ms at the latest).
          yield* TestClock.adjust("1800 millis")
          expect(run.signals).toEqual(["SIGTERM"])
          expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
          yield* TestClock.adjust("300 millis")
          const error = yield* Effect.flip(Fiber.join(fiber))
          expect(run.signals).toEqual(["SIGTERM", "SIGKILL"])
          expect(yield* Mock.exitOf(run)).toEqual(Option.some({ _tag: "Signal", signal: "SIGKILL" }))
          expect(error).toMatchObject({ _tag: "LitestreamFailed", operation: "replicate", exitCode: -1 })
          // the user learns why: the final sync hung and litestream was killed
          expect(error.message).toContain("did not finish its final sync within the grace period (2s) and was killed")
          expect(existing(files)).toEqual(files)
        })
    ))

  it.scoped("a litestream stopped by someone else after a sync, exiting 0, is a success", () =>
    withReplicate(
      {
        lines: [json.version, { at: "200 millis", text: json.wal }],
        // the sync line and the exit come together: whichever `once` sees first, it is a success
        exit: 0
      },
      ({ mock, replicate }) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(replicate.once())
          const run = yield* mock.started
          yield* TestClock.adjust("300 millis")
          const result = yield* Fiber.join(fiber)
          expect(result.position).toEqual(position("b59d6f08a3825659/00000000:16512"))
          expect(run.signals).toEqual([])
        })
    ))

  it.scoped("on timeout, a litestream that ignores SIGTERM gets SIGKILL after the grace period", () =>
    withReplicate({ lines: [json.version], onSigterm: "ignore" }, ({ mock, replicate }) =>
      Effect.gen(function*() {
        const fiber = yield* Effect.fork(replicate.once({ timeout: "5 seconds", grace: "3 seconds" }))
        const run = yield* mock.started
        yield* TestClock.adjust("5 seconds")
        expect(run.signals).toEqual(["SIGTERM"])
        expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
        yield* TestClock.adjust("3 seconds")
        expect(yield* Effect.flip(Fiber.join(fiber))).toMatchObject({ _tag: "LitestreamTimeout" })
        expect(run.signals).toEqual(["SIGTERM", "SIGKILL"])
        expect(run.finalizerSignals).toEqual([])
      })))

  it.scoped("a missing database -> DatabaseNotFound, litestream never started", () =>
    withReplicate({ lines: [json.version], onSigterm: finalSyncOk }, ({ dbPath, mock, replicate }) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(replicate.once())
        expect(error).toMatchObject({ _tag: "DatabaseNotFound", path: dbPath })
        expect(error.message).toMatch(/DB_FOLDER and DB_SQLITE/)
        expect(mock.runs).toHaveLength(0)
      }), { createDb: false }))

  it.scoped("binary not found -> BinaryNotFound", () =>
    withReplicate({ spawnError: "NotFound" }, ({ replicate }) =>
      Effect.gen(function*() {
        expect(yield* Effect.flip(replicate.once())).toMatchObject({
          _tag: "BinaryNotFound",
          binary: "/missing/litestream",
          reason: "NotFound"
        })
      }), { input: { binary: "/missing/litestream" } }))
})

describe("Replicate.once: deleteLocal", () => {
  it.scoped("deletes the database, -wal, -shm and .db.sqlite-litestream after litestream exited 0", () =>
    withReplicate(
      { lines: [json.version, { at: "200 millis", text: json.snapshot }], onSigterm: finalSyncOk },
      ({ dir, files, mock, replicate }) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(replicate.once({ deleteLocal: true }))
          const run = yield* mock.started
          yield* TestClock.adjust("300 millis")
          // with deleteLocal, writes are held and litestream settles for 3 intervals before SIGTERM
          yield* TestClock.adjust("300 millis")
          const result = yield* Fiber.join(fiber)
          expect(yield* Mock.exitOf(run)).toEqual(Option.some({ _tag: "Code", code: 0 }))
          expect(result.deleted).toEqual(files)
          expect(existing(files)).toEqual([])
          expect(fs.readdirSync(dir)).toEqual([])
        })
    ))

  it.scoped("the local files are still there when litestream runs its final sync", () => {
    const seen: Array<ReadonlyArray<string>> = []
    let files: ReadonlyArray<string> = []
    return withReplicate(
      {
        lines: [{ at: "200 millis", text: json.snapshot }],
        onSigterm: { ...finalSyncOk, effect: Effect.sync(() => seen.push(existing(files))) }
      },
      (ctx) =>
        Effect.gen(function*() {
          files = ctx.files
          const fiber = yield* Effect.fork(ctx.replicate.once({ deleteLocal: true }))
          yield* ctx.mock.started
          yield* TestClock.adjust("300 millis")
          // with deleteLocal, writes are held and litestream settles for 3 intervals before SIGTERM
          yield* TestClock.adjust("300 millis")
          const result = yield* Fiber.join(fiber)
          expect(seen).toEqual([ctx.files])
          expect(result.deleted).toEqual(ctx.files)
          expect(existing(ctx.files)).toEqual([])
        })
    )
  })

  it.scoped("deletes only what exists", () =>
    withReplicate(
      { lines: [{ at: "200 millis", text: json.snapshot }], onSigterm: finalSyncOk },
      ({ dbPath, files, mock, replicate }) =>
        Effect.gen(function*() {
          fs.rmSync(files[1]!)
          fs.rmSync(files[3]!, { recursive: true })
          const fiber = yield* Effect.fork(replicate.once({ deleteLocal: true }))
          yield* mock.started
          yield* TestClock.adjust("300 millis")
          // with deleteLocal, writes are held and litestream settles for 3 intervals before SIGTERM
          yield* TestClock.adjust("300 millis")
          const result = yield* Fiber.join(fiber)
          expect(result.deleted).toEqual([dbPath, `${dbPath}-shm`])
          expect(existing(files)).toEqual([])
        })
    ))

  it.scoped("without deleteLocal, nothing is deleted", () =>
    withReplicate(
      { lines: [{ at: "200 millis", text: json.snapshot }], onSigterm: finalSyncOk },
      ({ files, mock, replicate }) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(replicate.once())
          yield* mock.started
          yield* TestClock.adjust("300 millis")
          expect((yield* Fiber.join(fiber)).deleted).toEqual([])
          expect(existing(files)).toEqual(files)
        })
    ))
})

describe("Replicate.once: deleteLocal holds writes from before the final sync to the deletion", () => {
  const inUse = new LitestreamError.DatabaseInUse({ path: "db.sqlite", pids: [4242], detail: "has it open" })

  it.scoped("order: writes held once the replica caught up, then SIGTERM (final sync), then the exclusive delete, then the release", () => {
    const log: { current?: Array<string> } = {}
    return withReplicate(
      {
        lines: [json.version, { at: "200 millis", text: json.snapshot }],
        onSigterm: { ...finalSyncOk, effect: Effect.sync(() => log.current!.push("SIGTERM")) }
      },
      ({ dbPath, files, mock, probeLog, replicate }) =>
        Effect.gen(function*() {
          log.current = probeLog
          const fiber = yield* Effect.fork(replicate.once({ deleteLocal: true }))
          yield* mock.started
          yield* TestClock.adjust("300 millis")
          // with deleteLocal, writes are held and litestream settles for 3 intervals before SIGTERM
          yield* TestClock.adjust("300 millis")
          const result = yield* Fiber.join(fiber)
          expect(probeLog).toEqual([`hold ${dbPath}`, "SIGTERM", "delete", "release"])
          expect(result.deleted).toEqual(files)
        })
    )
  })

  it.scoped("the generated config turns litestream's checkpoints off (they write, and writes are held), only with deleteLocal", () => {
    const texts: Array<string> = []
    return withReplicate(
      {
        onStart: (run) => Effect.sync(() => texts.push(fs.readFileSync(configOf(run), "utf8"))),
        lines: [json.version, { at: "200 millis", text: json.snapshot }],
        onSigterm: finalSyncOk
      },
      ({ mock, replicate }) =>
        Effect.gen(function*() {
          for (const deleteLocal of [false, true]) {
            const fiber = yield* Effect.fork(replicate.once({ deleteLocal }))
            yield* mock.started
            yield* TestClock.adjust(deleteLocal ? "600 millis" : "300 millis")
            yield* Fiber.join(fiber)
          }
          expect(texts[0]).not.toContain("checkpoint")
          expect(texts[1]).toContain("    checkpoint-interval: 0s\n    min-checkpoint-page-count: 2147483647\n")
        })
    )
  })

  it.scoped("no SqliteProbe: DeleteLocalUnavailable before litestream starts, nothing deleted", () =>
    withReplicate({ lines: [json.version, { at: "200 millis", text: json.snapshot }], onSigterm: finalSyncOk }, ({ files, mock, replicate }) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(replicate.once({ deleteLocal: true }))
        expect(error._tag).toBe("DeleteLocalUnavailable")
        expect(error.message).toContain("install better-sqlite3")
        expect(mock.runs).toHaveLength(0)
        expect(yield* Effect.flip(replicate.deleteLocal)).toMatchObject({ _tag: "DeleteLocalUnavailable" })
        expect(existing(files)).toEqual(files)
      }), { probe: false }))

  it.scoped("writes cannot be held (a writer's transaction): DatabaseInUse, litestream still stopped gracefully, nothing deleted", () =>
    withReplicate(
      { lines: [json.version, { at: "200 millis", text: json.snapshot }], onSigterm: finalSyncOk },
      ({ files, mock, probeLog, replicate }) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(replicate.once({ deleteLocal: true }))
          const run = yield* mock.started
          yield* TestClock.adjust("300 millis")
          // with deleteLocal, writes are held and litestream settles for 3 intervals before SIGTERM
          yield* TestClock.adjust("300 millis")
          const error = yield* Effect.flip(Fiber.join(fiber))
          expect(error).toMatchObject({ _tag: "DatabaseInUse", pids: [4242] })
          expect(error.message).toContain("process 4242 has it open")
          expect(error.message).toContain("Nothing was deleted")
          expect(run.signals).toEqual(["SIGTERM"])
          expect(probeLog).toHaveLength(1)
          expect(existing(files)).toEqual(files)
        }),
      { probe: { holdFails: inUse } }
    ))

  for (
    const refusal of [
      inUse,
      new LitestreamError.DatabaseChangedAfterBackup({ path: "db.sqlite", detail: "another connection committed to it after litestream's final sync" })
    ]
  ) {
    it.scoped(`the exclusive delete refused (${refusal._tag}): that error, nothing deleted, the hold released`, () =>
      withReplicate(
        { lines: [json.version, { at: "200 millis", text: json.snapshot }], onSigterm: finalSyncOk },
        ({ dbPath, files, mock, probeLog, replicate }) =>
          Effect.gen(function*() {
            const fiber = yield* Effect.fork(replicate.once({ deleteLocal: true }))
            yield* mock.started
            yield* TestClock.adjust("300 millis")
            // with deleteLocal, writes are held and litestream settles for 3 intervals before SIGTERM
            yield* TestClock.adjust("300 millis")
            expect(yield* Effect.flip(Fiber.join(fiber))).toMatchObject({ _tag: refusal._tag, detail: refusal.detail })
            expect(probeLog).toEqual([`hold ${dbPath}`, "delete", "release"])
            expect(existing(files)).toEqual(files)
          }),
        { probe: { deleteFails: refusal } }
      ))
  }

  it.scoped("litestream stopped by someone else before writes were held: DatabaseChangedAfterBackup, nothing deleted", () =>
    withReplicate(
      { lines: [json.version, { at: "200 millis", text: json.wal }], exit: 0 },
      ({ files, mock, probeLog, replicate }) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(replicate.once({ deleteLocal: true }))
          yield* mock.started
          yield* TestClock.adjust("300 millis")
          // with deleteLocal, writes are held and litestream settles for 3 intervals before SIGTERM
          yield* TestClock.adjust("300 millis")
          const exit = yield* Effect.exit(Fiber.join(fiber))
          // the sync line and the exit come together: whichever `once` saw first decides
          if (exit._tag === "Failure") {
            expect(yield* Effect.flip(exit)).toMatchObject({ _tag: "DatabaseChangedAfterBackup" })
            expect(existing(files)).toEqual(files)
          } else {
            expect(probeLog[0]).toMatch(/^hold /)
            expect(exit.value.deleted).toEqual(files)
          }
        })
    ))
})

describe("Replicate.once: deleteLocal waits for litestream to settle under the held writes", () => {
  it.scoped("a replica sync that starts after writes were held is awaited: SIGTERM only once it reached its position and three intervals passed quietly", () =>
    withReplicate(
      {
        lines: [
          json.version,
          { at: "200 millis", text: json.snapshot },
          // a sync opened right after the hold (commits made before it), its segment later
          { at: "250 millis", text: logLine("DEBUG", "replica sync", { db: "/tmp/probe/f/db.sqlite", replica: "s3", position: "b59d6f08a3825659/00000000:16512" }) },
          { at: "600 millis", text: json.wal }
        ],
        onSigterm: finalSyncOk
      },
      ({ mock, replicate }) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(replicate.once({ deleteLocal: true }))
          const run = yield* mock.started
          yield* TestClock.adjust("550 millis")
          // the sync opened at 250 ms has not reached its position: no SIGTERM
          expect(run.signals).toEqual([])
          yield* TestClock.adjust("300 millis")
          // reached at 600 ms; quiet for 3 intervals of 100 ms only from then on
          expect(run.signals).toEqual([])
          yield* TestClock.adjust("200 millis")
          expect(run.signals).toEqual(["SIGTERM"])
          yield* Fiber.join(fiber)
        })
    ))

  it.scoped("an error logged while writes are held fails the backup (nothing deleted)", () =>
    withReplicate(
      {
        lines: [json.version, { at: "200 millis", text: json.snapshot }, { at: "250 millis", text: monitorError(DENIED) }],
        onSigterm: finalSyncOk
      },
      ({ files, mock, replicate }) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(replicate.once({ deleteLocal: true }))
          yield* mock.started
          yield* TestClock.adjust("600 millis")
          expect(yield* Effect.flip(Fiber.join(fiber))).toMatchObject({ _tag: "ReplicaAccessDenied" })
          expect(existing(files)).toEqual(files)
        })
    ))
})
