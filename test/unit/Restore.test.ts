import { LitestreamConfig, LitestreamError, ReplicaCheck, Restore } from "@effect-litestream/core"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as fs from "node:fs"
import * as os from "node:os"
import * as NodePath from "node:path"
import { plain } from "../support/LogLines.js"
import * as Mock from "../support/MockExecutor.js"

const KEY_ID = "AKIARESTOREUNIT00003"
const SECRET = "restore/Unit+Secret=0003xyz"
const REPLICA = "s3://backups.localhost:39531/db"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(NodePath.join(os.tmpdir(), "elt-unit-restore-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

interface Ctx {
  readonly dir: string
  readonly dbPath: string
  readonly restore: Restore.Restore["Type"]
  readonly mock: Mock.MockExecutorService
}

/** A `Restore` on the mock executor, the real file system and a fresh temporary folder. */
const withRestore = <A, E>(
  script: Mock.ScriptInput,
  body: (ctx: Ctx) => Effect.Effect<A, E>,
  input: Partial<LitestreamConfig.Input> = {},
  check?: ReplicaCheck.ReplicaCheck["Type"]
) =>
  Effect.gen(function*() {
    const dir = yield* tempDir
    const layer = Restore.layer.pipe(
      check === undefined ? (l) => l : Layer.provide(Layer.succeed(ReplicaCheck.ReplicaCheck, check)),
      Layer.provideMerge(Layer.mergeAll(
        Mock.layer(script),
        LitestreamConfig.layer({ replicaUrl: REPLICA, accessKeyId: KEY_ID, secretAccessKey: SECRET, folder: dir, ...input })
      )),
      Layer.provideMerge(NodeContext.layer),
      Layer.orDie
    )
    return yield* Effect.gen(function*() {
      const restore = yield* Restore.Restore
      const mock = yield* Mock.MockExecutor
      return yield* body({ dir, dbPath: NodePath.join(dir, "db.sqlite"), restore, mock })
    }).pipe(Effect.provide(layer))
  })

const line = (text: string) => `2026/11/25 17:21:03 ${text}`
const writeFile = (file: string, content = "x") => Effect.sync(() => fs.writeFileSync(file, content))

/** The path after `-o` in a restore's argv. */
const outputOf = (run: Mock.Run): string => {
  const i = run.args.indexOf("-o")
  if (i === -1 || i + 1 >= run.args.length) throw new Error(`no -o in ${run.args.join(" ")}`)
  return run.args[i + 1]!
}

describe("Restore.restore: the command", () => {
  it.scoped("runs `litestream restore -o DB URL`: secret in the env, not in argv, no -v; success is Restored", () =>
    withRestore(
      {
        lines: [line("INFO restoring snapshot db=/x replica=s3 generation=46ba75524e5005af index=0")],
        exit: 0,
        onStart: (run) => writeFile(outputOf(run), "SQLite format 3")
      },
      ({ dbPath, mock, restore }) =>
        Effect.gen(function*() {
          const result = yield* restore.restore()
          expect(result._tag).toBe("Restored")
          expect(result.path).toBe(dbPath)
          expect(fs.readFileSync(dbPath, "utf8")).toBe("SQLite format 3")
          expect(mock.runs).toHaveLength(1)
          const run = mock.runs[0]!
          expect(run.command).toBe("litestream")
          // litestream restores to a private name beside the database, published by a hard link
          expect(run.args).toEqual(["restore", "-o", outputOf(run), REPLICA])
          expect(NodePath.dirname(outputOf(run))).toBe(NodePath.dirname(dbPath))
          expect(NodePath.basename(outputOf(run))).toMatch(/^\.effect-litestream-restore-/)
          expect(fs.existsSync(outputOf(run))).toBe(false)
          expect(run.args).not.toContain("-v")
          expect(run.args.join(" ")).not.toContain(SECRET)
          expect(run.args.join(" ")).not.toContain(KEY_ID)
          expect(run.extendEnv).toBe(true)
          expect(run.env).toEqual({
            LITESTREAM_ACCESS_KEY_ID: KEY_ID,
            LITESTREAM_SECRET_ACCESS_KEY: SECRET,
            AWS_ACCESS_KEY_ID: KEY_ID,
            AWS_SECRET_ACCESS_KEY: SECRET,
            AWS_SESSION_TOKEN: ""
          })
        })
    ))

  it.scoped("maps every option to litestream's flags, flags before the URL, and creates the output folder", () =>
    withRestore({ exit: 0, onStart: (run) => writeFile(outputOf(run), "SQLite format 3") }, ({ dir, mock, restore }) =>
      Effect.gen(function*() {
        const output = NodePath.join(dir, "nested", "copy.db")
        const result = yield* restore.restore({
          output,
          ifReplicaExists: true,
          generation: "46ba75524e5005af",
          timestamp: new Date("2026-11-25T17:19:55.000Z")
        })
        expect(result).toMatchObject({ _tag: "Restored", path: output })
        expect(fs.statSync(NodePath.join(dir, "nested")).isDirectory()).toBe(true)
        expect(mock.runs[0]!.args).toEqual([
          "restore",
          "-o",
          expect.stringMatching(/\/nested\/\.effect-litestream-restore-[a-z0-9]+$/),
          "-if-replica-exists",
          "-generation",
          "46ba75524e5005af",
          "-timestamp",
          "2026-11-25T17:19:55.000Z",
          REPLICA
        ])
      })
    ))

  it.scoped("a file replica without credentials gets no credential variables", () =>
    withRestore({ exit: 0, onStart: (run) => writeFile(outputOf(run), "SQLite format 3") }, ({ mock, restore }) =>
      Effect.gen(function*() {
        yield* restore.restore()
        expect(mock.runs[0]!.env).toEqual({})
        expect(mock.runs[0]!.args.at(-1)).toBe("file:///var/backups/db")
      }), { replicaUrl: "file:///var/backups/db", accessKeyId: undefined, secretAccessKey: undefined, binary: "/opt/litestream" }))
})

describe("Restore.restore: errors", () => {
  it.scoped("binary not found (spawn ENOENT) -> BinaryNotFound NotFound", () =>
    withRestore({ spawnError: "NotFound" }, ({ restore, mock }) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(restore.restore())
        expect(error).toMatchObject({ _tag: "BinaryNotFound", binary: "/nowhere/litestream", reason: "NotFound" })
        expect(error.message).toContain("LITESTREAM_BIN")
        expect(mock.runs).toHaveLength(1)
        expect(mock.runs[0]!.spawned).toBe(false)
      }), { binary: "/nowhere/litestream" }))

  it.scoped("binary not executable (spawn EACCES) -> BinaryNotFound NotExecutable", () =>
    withRestore({ spawnError: "PermissionDenied" }, ({ restore }) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(restore.restore())
        expect(error).toMatchObject({ _tag: "BinaryNotFound", binary: "litestream", reason: "NotExecutable" })
        expect(error.message).toMatch(/not executable.*chmod \+x/)
      })))

  it.scoped("'no matching backups found', exit 1 -> NoBackupsFound", () =>
    withRestore({ lines: [line(`ERROR failed to run error="no matching backups found"`)], exit: 1 }, ({ restore }) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(restore.restore())
        expect(error).toMatchObject({ _tag: "NoBackupsFound", replica: REPLICA })
        expect(error.message).toContain("ifReplicaExists")
      })))

  it.scoped("ifReplicaExists: exit 0 with 'no matching backups found' -> Skipped NoBackups", () =>
    withRestore({ lines: [line("INFO no matching backups found")], exit: 0 }, ({ dbPath, mock, restore }) =>
      Effect.gen(function*() {
        const result = yield* restore.restore({ ifReplicaExists: true })
        expect(result).toEqual({ _tag: "Skipped", path: dbPath, reason: "NoBackups" })
        expect(mock.runs[0]!.args).toContain("-if-replica-exists")
        expect(fs.existsSync(dbPath)).toBe(false)
      })))

  it.scoped("output exists -> OutputExists, the file untouched and litestream never started", () =>
    withRestore({ exit: 0 }, ({ dbPath, mock, restore }) =>
      Effect.gen(function*() {
        yield* writeFile(dbPath, "precious")
        const error = yield* Effect.flip(restore.restore())
        expect(error).toMatchObject({ _tag: "OutputExists", path: dbPath })
        expect(error.message).toContain("ifDbNotExists")
        expect(mock.runs).toHaveLength(0)
        expect(fs.readFileSync(dbPath, "utf8")).toBe("precious")
      })))

  it.scoped("output exists with ifDbNotExists -> Skipped DatabaseExists, litestream never started", () =>
    withRestore({ exit: 0 }, ({ dbPath, mock, restore }) =>
      Effect.gen(function*() {
        yield* writeFile(dbPath, "precious")
        const result = yield* restore.restore({ ifDbNotExists: true })
        expect(result).toEqual({ _tag: "Skipped", path: dbPath, reason: "DatabaseExists" })
        expect(mock.runs).toHaveLength(0)
        expect(fs.readFileSync(dbPath, "utf8")).toBe("precious")
      })))

  // litestream's "failed to run" (exit 1), each read as its typed error, whose message says what
  // the user needs (`says`) and never the secret.
  const failures: ReadonlyArray<{
    readonly title: string
    readonly line: string
    readonly error: Record<string, unknown>
    readonly says?: ReadonlyArray<string>
  }> = [
    {
      title: "litestream's own 'output path already exists' -> OutputExists",
      line: line(`ERROR failed to run error="cannot restore, output path already exists: /srv/x/db.sqlite"`),
      error: { _tag: "OutputExists", path: "/srv/x/db.sqlite" }
    },
    {
      title: "access denied (403) -> ReplicaAccessDenied",
      line: line(String.raw`ERROR failed to run error="cannot fetch generations: AccessDenied: Access Denied\n\tstatus code: 403"`),
      error: {
        _tag: "ReplicaAccessDenied",
        replica: REPLICA,
        detail: "cannot fetch generations: AccessDenied: Access Denied; status code: 403"
      },
      says: ["LITESTREAM_SECRET_ACCESS_KEY"]
    },
    {
      title: "connection refused -> ReplicaUnreachable",
      line: line(
        String
          .raw`ERROR failed to run error="cannot fetch generations: RequestError: send request failed\ncaused by: Get \"http://localhost:39531/backups?delimiter=%2F&prefix=db%2Fgenerations%2F\": dial tcp 127.0.0.1:39531: connect: connection refused"`
      ),
      error: {
        _tag: "ReplicaUnreachable",
        replica: REPLICA,
        detail:
          "cannot fetch generations: RequestError: send request failed; caused by: Get \"http://localhost:39531/backups?delimiter=%2F&prefix=db%2Fgenerations%2F\": dial tcp 127.0.0.1:39531: connect: connection refused"
      },
      // the cause, not only "send request failed", reaches the user
      says: ["connection refused", "REPLICA_URL"]
    },
    {
      title: "a missing bucket -> ReplicaUnreachable",
      line: plain.noBucket,
      error: {
        _tag: "ReplicaUnreachable",
        detail:
          "cannot fetch generations: NoSuchBucket: The specified bucket does not exist: nobucket; status code: 404, request id: DB25896AD0B14810, host id: fauxqs"
      }
    }
  ]
  for (const failure of failures) {
    it.scoped(failure.title, () =>
      withRestore({ lines: [failure.line], exit: 1 }, ({ restore }) =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(restore.restore())
          expect(error).toMatchObject(failure.error)
          for (const text of failure.says ?? []) expect(error.message).toContain(text)
          expect(error.message).not.toContain(SECRET)
        })))
  }

  it.scoped("any other failure -> LitestreamFailed with the exit code and the last lines, secret masked", () =>
    withRestore(
      {
        lines: [
          ...Array.from({ length: 12 }, (_, i) => line(`INFO step ${i}`)),
          `panic: cannot use key ${KEY_ID} with secret ${SECRET}`,
          line(`ERROR failed to run error="unexpected reply for ${SECRET}"`)
        ],
        exit: 2
      },
      ({ restore }) =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(restore.restore())
          expect(error._tag).toBe("LitestreamFailed")
          if (error._tag !== "LitestreamFailed") return
          expect(error.operation).toBe("restore")
          expect(error.exitCode).toBe(2)
          expect(error.stderr.length).toBeLessThanOrEqual(10)
          expect(error.stderr).toContain(line(`ERROR failed to run error="unexpected reply for <redacted>"`))
          expect(error.stderr).toContain("panic: cannot use key <redacted> with secret <redacted>")
          expect(error.stderr).toContain(line("INFO step 11"))
          expect(error.stderr).not.toContain(line("INFO step 0"))
          for (const text of [error.message, String(error), JSON.stringify(error), ...error.stderr]) {
            expect(text).not.toContain(SECRET)
            expect(text).not.toContain(KEY_ID)
          }
          expect(error.message).toMatch(/failed with exit code 2/)
        })
    ))

  it.scoped("lines on stdout count too (litestream logs there with a config file), masked", () =>
    withRestore(
      { lines: [{ text: `time=2026-11-25T17:23:38.455Z level=ERROR msg="failed to run" error="bad ${SECRET}"`, channel: "stdout" }], exit: 1 },
      ({ restore }) =>
        Effect.gen(function*() {
          expect(yield* Effect.flip(restore.restore())).toMatchObject({
            _tag: "LitestreamFailed",
            exitCode: 1,
            stderr: [`time=2026-11-25T17:23:38.455Z level=ERROR msg="failed to run" error="bad <redacted>"`]
          })
        })
    ))

  it.scoped("a non-zero exit without any line -> LitestreamFailed", () =>
    withRestore({ exit: 3 }, ({ restore }) =>
      Effect.gen(function*() {
        expect(yield* Effect.flip(restore.restore())).toMatchObject({
          _tag: "LitestreamFailed",
          exitCode: 3,
          stderr: []
        })
      })))

  it.scoped("timeout: the process never exits -> LitestreamTimeout, and it was sent SIGTERM", () =>
    withRestore({ lines: [line("INFO restoring snapshot")], exit: "never" }, ({ restore, mock }) =>
      Effect.gen(function*() {
        const fiber = yield* Effect.fork(restore.restore({ timeout: "30 seconds" }))
        const run = yield* mock.started
        yield* TestClock.adjust("29 seconds")
        expect(run.signals).toEqual([])
        expect(Option.isNone(yield* Mock.exitOf(run))).toBe(true)
        yield* TestClock.adjust("1 second")
        const error = yield* Effect.flip(Fiber.join(fiber))
        expect(error._tag).toBe("LitestreamTimeout")
        if (error._tag !== "LitestreamTimeout") return
        expect(error.operation).toBe("restore")
        expect(Duration.toMillis(error.timeout)).toBe(30_000)
        expect(run.signals).toEqual(["SIGTERM"])
        expect(yield* Mock.exitOf(run)).toEqual(Option.some({ _tag: "Signal", signal: "SIGTERM" }))
      })))

  it.scoped("the default timeout is 5 minutes", () =>
    withRestore({ exit: "never" }, ({ restore, mock }) =>
      Effect.gen(function*() {
        const fiber = yield* Effect.fork(restore.restore())
        const run = yield* mock.started
        yield* TestClock.adjust(Duration.subtract(Restore.DEFAULT_TIMEOUT, Duration.millis(1)))
        expect(run.signals).toEqual([])
        yield* TestClock.adjust("1 millis")
        expect(yield* Effect.flip(Fiber.join(fiber))).toMatchObject({ _tag: "LitestreamTimeout" })
        expect(run.signals).toEqual(["SIGTERM"])
      })))
})

describe("Restore.restore: no partial file is left", () => {
  it.scoped("a leftover <out>.tmp is removed when litestream fails", () =>
    withRestore(
      {
        onStart: (run) => writeFile(`${outputOf(run)}.tmp`, "partial"),
        lines: [{ at: "10 millis", text: line(`ERROR failed to run error="decode wal: unexpected EOF"`) }],
        exit: 1
      },
      ({ dbPath, mock, restore }) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(restore.restore())
          yield* mock.started
          yield* TestClock.adjust("10 millis")
          expect(yield* Effect.flip(Fiber.join(fiber))).toMatchObject({ _tag: "LitestreamFailed", exitCode: 1 })
          expect(fs.existsSync(`${dbPath}.tmp`)).toBe(false)
          expect(fs.existsSync(dbPath)).toBe(false)
        })
    ))

  it.scoped("a leftover <out>.tmp is removed when litestream fails with a known error", () =>
    withRestore(
      {
        onStart: (run) => writeFile(`${outputOf(run)}.tmp`, "partial"),
        lines: [{ at: "10 millis", text: line(String.raw`ERROR failed to run error="AccessDenied: Access Denied\n\tstatus code: 403"`) }],
        exit: 1
      },
      ({ dbPath, mock, restore }) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(restore.restore())
          yield* mock.started
          yield* TestClock.adjust("10 millis")
          expect(yield* Effect.flip(Fiber.join(fiber))).toMatchObject({ _tag: "ReplicaAccessDenied" })
          expect(fs.existsSync(`${dbPath}.tmp`)).toBe(false)
        })
    ))

  it.scoped("a leftover <out>.tmp is removed on timeout", () =>
    withRestore(
      { onStart: (run) => writeFile(`${outputOf(run)}.tmp`, "partial"), exit: "never" },
      ({ dbPath, mock, restore }) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(restore.restore({ timeout: "1 second" }))
          const run = yield* mock.started
          yield* TestClock.adjust("1 second")
          expect(yield* Effect.flip(Fiber.join(fiber))).toMatchObject({ _tag: "LitestreamTimeout" })
          expect(run.signals).toEqual(["SIGTERM"])
          expect(fs.existsSync(`${dbPath}.tmp`)).toBe(false)
        })
    ))
})

describe("Restore.restore: stale -wal, -shm, -journal beside the output", () => {
  const SUFFIXES = ["-wal", "-shm", "-journal"] as const
  /** What TestClock's time 0 gives as the stamp of a file moved aside. */
  const STAMP = "1970-01-01T00-00-00.000Z"
  const published = { exit: 0, onStart: (run: Mock.Run) => writeFile(outputOf(run), "SQLite format 3") }

  it("sidecars: the WAL, the shared-memory index and the rollback journal of the output", () => {
    expect(Restore.sidecars("/srv/data/db.sqlite")).toEqual([
      "/srv/data/db.sqlite-wal",
      "/srv/data/db.sqlite-shm",
      "/srv/data/db.sqlite-journal"
    ])
  })

  for (const suffix of SUFFIXES) {
    it.scoped(`a stale ${suffix}: StaleSidecarFiles before litestream starts, nothing published, the file untouched`, () =>
      withRestore(published, ({ dbPath, mock, restore }) =>
        Effect.gen(function*() {
          const stale = `${dbPath}${suffix}`
          yield* writeFile(stale, "frames of another database")
          const error = yield* Effect.flip(restore.restore())
          expect(error).toBeInstanceOf(LitestreamError.StaleSidecarFiles)
          expect(error).toMatchObject({ _tag: "StaleSidecarFiles", path: dbPath, files: [stale] })
          expect(error.message).toContain(stale)
          expect(error.message).toMatch(/Fix: .*remove or move it away.*moveAsideSidecars/)
          expect(mock.runs).toHaveLength(0)
          expect(fs.existsSync(dbPath)).toBe(false)
          expect(fs.readFileSync(stale, "utf8")).toBe("frames of another database")
        })))
  }

  it.scoped("several: every one is named, in the order -wal, -shm, -journal; ifDbNotExists does not skip them", () =>
    withRestore(published, ({ dbPath, dir, mock, restore }) =>
      Effect.gen(function*() {
        for (const suffix of ["-journal", "-shm", "-wal"]) yield* writeFile(`${dbPath}${suffix}`)
        const error = yield* Effect.flip(restore.restore({ ifDbNotExists: true, ifReplicaExists: true }))
        expect(error).toMatchObject({
          _tag: "StaleSidecarFiles",
          path: dbPath,
          files: SUFFIXES.map((s) => `${dbPath}${s}`)
        })
        expect(error.message).toMatch(/remove or move them away/)
        expect(mock.runs).toHaveLength(0)
        expect(fs.readdirSync(dir).sort()).toEqual(["db.sqlite-journal", "db.sqlite-shm", "db.sqlite-wal"])
      })))

  it.scoped("an explicit output: its own sidecars count, not the configured database's", () =>
    withRestore(published, ({ dbPath, dir, restore }) =>
      Effect.gen(function*() {
        yield* writeFile(`${dbPath}-wal`)
        const output = NodePath.join(dir, "copy.db")
        expect(yield* restore.restore({ output })).toMatchObject({ _tag: "Restored", path: output })
        yield* writeFile(`${output}-wal`)
        const other = NodePath.join(dir, "other.db")
        yield* writeFile(`${other}-wal`)
        expect(yield* Effect.flip(restore.restore({ output: other }))).toMatchObject({
          _tag: "StaleSidecarFiles",
          files: [`${other}-wal`]
        })
      })))

  it.scoped("an existing output owns its sidecars: OutputExists, or Skipped with ifDbNotExists, never StaleSidecarFiles", () =>
    withRestore(published, ({ dbPath, mock, restore }) =>
      Effect.gen(function*() {
        yield* writeFile(dbPath, "live")
        for (const suffix of SUFFIXES) yield* writeFile(`${dbPath}${suffix}`, "live")
        expect(yield* Effect.flip(restore.restore())).toMatchObject({ _tag: "OutputExists", path: dbPath })
        expect(yield* restore.restore({ ifDbNotExists: true })).toEqual({
          _tag: "Skipped",
          path: dbPath,
          reason: "DatabaseExists"
        })
        expect(yield* Effect.flip(restore.restore({ moveAsideSidecars: true }))).toMatchObject({ _tag: "OutputExists" })
        expect(mock.runs).toHaveLength(0)
        for (const file of [dbPath, ...Restore.sidecars(dbPath)]) expect(fs.readFileSync(file, "utf8")).toBe("live")
      })))

  for (const suffix of SUFFIXES) {
    it.scoped(`a ${suffix} created while litestream runs is caught before the link: nothing published, no private file left`, () =>
      withRestore(
        {
          exit: 0,
          onStart: (run) =>
            Effect.gen(function*() {
              yield* writeFile(outputOf(run), "SQLite format 3")
              yield* writeFile(`${NodePath.join(NodePath.dirname(outputOf(run)), "db.sqlite")}${suffix}`, "new")
            })
        },
        ({ dbPath, dir, mock, restore }) =>
          Effect.gen(function*() {
            const error = yield* Effect.flip(restore.restore())
            expect(error).toMatchObject({ _tag: "StaleSidecarFiles", path: dbPath, files: [`${dbPath}${suffix}`] })
            expect(mock.runs).toHaveLength(1)
            expect(fs.existsSync(dbPath)).toBe(false)
            expect(fs.readdirSync(dir)).toEqual([`db.sqlite${suffix}`])
            expect(fs.readFileSync(`${dbPath}${suffix}`, "utf8")).toBe("new")
          })
      ))
  }

  it.scoped("moveAsideSidecars: litestream runs with unchanged argv, the files are renamed aside only then, reported in Restored", () => {
    let during: Array<string> = []
    return withRestore(
      {
        exit: 0,
        onStart: (run) =>
          Effect.gen(function*() {
            during = fs.readdirSync(NodePath.dirname(outputOf(run))).filter((f) => f.startsWith("db.sqlite")).sort()
            yield* writeFile(outputOf(run), "SQLite format 3")
          })
      },
      ({ dbPath, dir, mock, restore }) =>
        Effect.gen(function*() {
          yield* writeFile(`${dbPath}-wal`, "stale wal")
          yield* writeFile(`${dbPath}-shm`, "stale shm")
          const result = yield* restore.restore({ moveAsideSidecars: true, generation: "46ba75524e5005af" })
          expect(mock.runs).toHaveLength(1)
          const run = mock.runs[0]!
          expect(run.args).toEqual(["restore", "-o", outputOf(run), "-generation", "46ba75524e5005af", REPLICA])
          expect(run.args.join(" ")).not.toMatch(/move|aside|sidecar/i)
          // still in place while litestream ran: moved only once there is a database to publish
          expect(during).toEqual(["db.sqlite-shm", "db.sqlite-wal"])
          expect(result).toMatchObject({
            _tag: "Restored",
            path: dbPath,
            movedAside: [
              { from: `${dbPath}-wal`, to: `${dbPath}-wal.stale-${STAMP}` },
              { from: `${dbPath}-shm`, to: `${dbPath}-shm.stale-${STAMP}` }
            ]
          })
          expect(fs.readFileSync(dbPath, "utf8")).toBe("SQLite format 3")
          expect(fs.readFileSync(`${dbPath}-wal.stale-${STAMP}`, "utf8")).toBe("stale wal")
          expect(fs.readFileSync(`${dbPath}-shm.stale-${STAMP}`, "utf8")).toBe("stale shm")
          expect(fs.readdirSync(dir).sort()).toEqual([
            "db.sqlite",
            `db.sqlite-shm.stale-${STAMP}`,
            `db.sqlite-wal.stale-${STAMP}`
          ])
        })
    )
  })

  it.scoped("moveAsideSidecars: a name already taken is never overwritten", () =>
    withRestore(published, ({ dbPath, restore }) =>
      Effect.gen(function*() {
        yield* writeFile(`${dbPath}-journal`, "stale journal")
        yield* writeFile(`${dbPath}-journal.stale-${STAMP}`, "moved before")
        yield* writeFile(`${dbPath}-journal.stale-${STAMP}-2`, "moved before too")
        const result = yield* restore.restore({ moveAsideSidecars: true })
        expect(result).toMatchObject({
          _tag: "Restored",
          movedAside: [{ from: `${dbPath}-journal`, to: `${dbPath}-journal.stale-${STAMP}-3` }]
        })
        expect(fs.readFileSync(`${dbPath}-journal.stale-${STAMP}`, "utf8")).toBe("moved before")
        expect(fs.readFileSync(`${dbPath}-journal.stale-${STAMP}-2`, "utf8")).toBe("moved before too")
        expect(fs.readFileSync(`${dbPath}-journal.stale-${STAMP}-3`, "utf8")).toBe("stale journal")
      })))

  it.scoped("moveAsideSidecars: a -wal created while litestream runs is moved aside too", () =>
    withRestore(
      {
        exit: 0,
        onStart: (run) =>
          Effect.gen(function*() {
            yield* writeFile(outputOf(run), "SQLite format 3")
            yield* writeFile(`${NodePath.join(NodePath.dirname(outputOf(run)), "db.sqlite")}-wal`, "new")
          })
      },
      ({ dbPath, restore }) =>
        Effect.gen(function*() {
          const result = yield* restore.restore({ moveAsideSidecars: true })
          expect(result).toMatchObject({ _tag: "Restored", movedAside: [{ from: `${dbPath}-wal` }] })
          expect(fs.existsSync(`${dbPath}-wal`)).toBe(false)
        })
    ))

  it.scoped("without stale files the Restored result has no movedAside", () =>
    withRestore(published, ({ restore }) =>
      Effect.gen(function*() {
        const result = yield* restore.restore({ moveAsideSidecars: true })
        expect(result._tag).toBe("Restored")
        expect(result).not.toHaveProperty("movedAside")
      })))

  it.scoped("moveAsideSidecars: a failed restore or an empty replica leaves the files where they are", () =>
    withRestore(
      (_command, index) =>
        index === 0
          ? { lines: [line(`ERROR failed to run error="decode wal: unexpected EOF"`)], exit: 1 }
          : { lines: [line("INFO no matching backups found")], exit: 0 },
      ({ dbPath, dir, restore }) =>
        Effect.gen(function*() {
          yield* writeFile(`${dbPath}-wal`, "stale wal")
          expect(yield* Effect.flip(restore.restore({ moveAsideSidecars: true }))).toMatchObject({
            _tag: "LitestreamFailed"
          })
          expect(yield* restore.restore({ moveAsideSidecars: true, ifReplicaExists: true })).toEqual({
            _tag: "Skipped",
            path: dbPath,
            reason: "NoBackups"
          })
          expect(fs.readdirSync(dir)).toEqual(["db.sqlite-wal"])
          expect(fs.readFileSync(`${dbPath}-wal`, "utf8")).toBe("stale wal")
        })
    ))

  it.scoped("a database created while litestream runs keeps its -wal: OutputExists, nothing moved even with the option", () =>
    withRestore(
      {
        exit: 0,
        onStart: (run) =>
          Effect.gen(function*() {
            yield* writeFile(outputOf(run), "SQLite format 3")
            const db = NodePath.join(NodePath.dirname(outputOf(run)), "db.sqlite")
            yield* writeFile(db, "live")
            yield* writeFile(`${db}-wal`, "live wal")
          })
      },
      ({ dbPath, dir, restore }) =>
        Effect.gen(function*() {
          expect(yield* Effect.flip(restore.restore({ moveAsideSidecars: true }))).toMatchObject({
            _tag: "OutputExists",
            path: dbPath
          })
          expect(fs.readdirSync(dir).sort()).toEqual(["db.sqlite", "db.sqlite-wal"])
          expect(fs.readFileSync(dbPath, "utf8")).toBe("live")
          expect(fs.readFileSync(`${dbPath}-wal`, "utf8")).toBe("live wal")
        })
    ))
})

describe("Restore.restore: the replica check beside litestream (ReplicaCheck)", () => {
  const corrupt = new LitestreamError.ReplicaCorrupt({
    replica: REPLICA,
    key: "generations/46ba75524e5005af/wal/00000001_00001038.wal.lz4",
    fault: "WalChecksum",
    detail: "frame 3 fails SQLite's checksum check"
  })
  const asked: Array<unknown> = []
  const failing: ReplicaCheck.ReplicaCheck["Type"] = {
    check: (_config, target) => Effect.sync(() => asked.push(target)).pipe(Effect.zipRight(Effect.fail(corrupt)))
  }

  it.scoped("its ReplicaCorrupt fails the restore while litestream still runs: litestream stopped, nothing published", () =>
    withRestore(
      // a litestream that would go on writing the staging file for ever
      { exit: "never", onStart: (run) => writeFile(outputOf(run), "SQLite format 3") },
      ({ dbPath, dir, mock, restore }) =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(restore.restore({ timestamp: new Date("2026-11-25T17:00:00Z") }))
          expect(error).toMatchObject({ _tag: "ReplicaCorrupt", fault: "WalChecksum", key: corrupt.key })
          expect(asked).toEqual([expect.objectContaining({ timestamp: new Date("2026-11-25T17:00:00Z") })])
          expect(fs.existsSync(dbPath)).toBe(false)
          expect(fs.readdirSync(dir)).toEqual([]) // the staging file removed too
          const run = mock.runs.find((r) => r.args[0] === "restore")!
          expect(yield* Deferred.isDone(run.exited)).toBe(true)
        })
    , {}, failing))

  it.scoped("its ReplicaCorrupt wins over litestream's own failure on the same damage (which names no object)", () =>
    withRestore(
      { lines: [line('ERROR failed to run error="context canceled"')], exit: 1 },
      ({ dbPath, restore }) =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(restore.restore())
          expect(error._tag).toBe("ReplicaCorrupt")
          expect(fs.existsSync(dbPath)).toBe(false)
        })
    , {}, failing))

  it.scoped("a check that cannot read the store leaves the verdict to litestream: Restored", () =>
    withRestore(
      { lines: [line("INFO restoring snapshot db=/x replica=s3")], exit: 0, onStart: (run) => writeFile(outputOf(run), "SQLite format 3") },
      ({ dbPath, restore }) =>
        Effect.gen(function*() {
          const result = yield* restore.restore()
          expect(result._tag).toBe("Restored")
          expect(fs.readFileSync(dbPath, "utf8")).toBe("SQLite format 3")
        })
    , {}, {
      check: () => Effect.fail(new LitestreamError.ReplicaUnreachable({ replica: REPLICA, detail: "connect ECONNREFUSED" }))
    }))
})
