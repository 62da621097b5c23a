/**
 * Local faults: the litestream binary missing, not executable, or not litestream; litestream
 * killed with SIGKILL in the middle of a run; the database folder not writable; the database
 * locked or not a SQLite file; `.env` files missing or malformed. Each gives a typed error, the
 * local database is kept (every `once` here has `deleteLocal: true`), no litestream is left,
 * and no credential shows up anywhere (see Sweep).
 */
import { LitestreamConfig, LitestreamError } from "@effect-litestream/core"
import { NodeLitestream } from "@effect-litestream/node"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as NodePath from "node:path"
import * as Figures from "../support/Figures.js"
import { exists, list, silentServer } from "../support/Fixtures.js"
import {
  addBlobs,
  dbPath,
  listOrEmpty,
  expectGone,
  expectNoChildren,
  forkWithChild,
  liveDatabase,
  listing,
  once,
  poll,
  replicate,
  restore,
  swept,
  tagOf,
  type Context,
  verifiedBackup
} from "../support/Faults.js"
import { FaultProxy, Throttle } from "../support/FaultProxy.js"
import { guardAgainstLeaks } from "../support/Harness.js"
import { S3Server } from "../support/S3Server.js"
import * as Sqlite from "../support/Sqlite.js"
import { KEY_ID, SECRET } from "../support/Sweep.js"

guardAgainstLeaks()

const IS_ROOT = process.getuid?.() === 0

const fileUrl = (dir: string) => `file://${NodePath.join(dir, "replica")}`

/** Every operation of the services, each expected to fail with `tag` (or one of `tags`). */
const everyOperation = (
  fails: Context["fails"],
  dir: string,
  unchanged: Effect.Effect<void>,
  check: (name: string, error: unknown) => void
) =>
  Effect.gen(function*() {
    check("once", yield* fails("once", once({ timeout: "10 seconds", deleteLocal: true })))
    const output = NodePath.join(dir, "out", "restored.db")
    check("restore", yield* fails("restore", restore({ timeout: "10 seconds", output })))
    expect(yield* exists(output)).toBe(false)
    expect(yield* exists(`${output}.tmp`)).toBe(false)
    check("replicate", yield* fails("replicate", Effect.scoped(replicate({ grace: "2 seconds" }))))
    check("generations", yield* fails("generations", listing("generations", "10 seconds")))
    yield* unchanged
    // (the verified backup writes its sentinel row first: the database changes, its rows stay)
    check("verified backup", yield* fails("verified backup", verifiedBackup({ timeout: "10 seconds", deleteLocal: true })))
  })

describe("the litestream binary", () => {
  const variants = [
    { name: "missing", reason: "NotFound", make: (dir: string) => Effect.succeed(NodePath.join(dir, "no", "litestream")) },
    {
      name: "not executable (mode 644)",
      reason: "NotExecutable",
      make: (dir: string) =>
        Effect.promise(async () => {
          const bin = NodePath.join(dir, "litestream-644")
          await fs.promises.writeFile(bin, "#!/bin/sh\nexit 0\n", { mode: 0o644 })
          return bin
        })
    },
    {
      name: "a directory",
      reason: "NotExecutable",
      make: (dir: string) =>
        Effect.promise(async () => {
          const bin = NodePath.join(dir, "litestream-dir")
          await fs.promises.mkdir(bin)
          return bin
        })
    }
  ] as const

  for (const variant of variants) {
    it.scopedLive(`${variant.name}: BinaryNotFound ${variant.reason} from every operation, db kept`, (ctx) =>
      swept(ctx.task.name, ({ dir, fails, sweep }) =>
        Effect.gen(function*() {
          const binary = yield* variant.make(dir)
          const { db, unchanged, written } = yield* liveDatabase(dir)
          yield* everyOperation(fails, dir, unchanged, (name, error) => {
            expect(error, name).toBeInstanceOf(LitestreamError.BinaryNotFound)
            expect(error, name).toMatchObject({ binary, reason: variant.reason })
          }).pipe(Effect.provide(sweep.layer(dir, fileUrl(dir), { binary })))
          expect(Sqlite.readRows(db)).toEqual(written)
        })))
  }

  it.scopedLive("not litestream (exits 0 at once, or prints garbage and exits 3), with or without a version answer: typed errors, db kept", (ctx) =>
    swept(ctx.task.name, ({ dir, fails, sweep }) =>
      Effect.gen(function*() {
        const { unchanged } = yield* liveDatabase(dir)
        // The library asks `litestream version` first: a binary that does not answer it as 0.3 or
        // 0.5 is refused before anything runs. One that answers, then does nothing, is caught by
        // the operation itself (no restore reported when nothing was written).
        const answersVersion = `if [ "$1" = version ]; then echo v0.3.13; exit 0; fi\n`
        const garbage = `echo 'not litestream at all'\necho '{"level":"ERROR","msg":"bogus"' >&2\nexit 3\n`
        for (
          const [name, script, tags] of [
            // (once, restore and replicate each ask the version first)
            ["exit 0", "#!/bin/sh\nexit 0\n", ["UnsupportedLitestreamVersion", "UnsupportedLitestreamVersion", "UnsupportedLitestreamVersion"]],
            ["garbage", `#!/bin/sh\n${garbage}`, ["LitestreamFailed", "LitestreamFailed", "LitestreamFailed"]],
            ["version, then exit 0", `#!/bin/sh\n${answersVersion}exit 0\n`, ["ExitedEarly", "LitestreamFailed", "ExitedEarly"]],
            ["version, then garbage", `#!/bin/sh\n${answersVersion}${garbage}`, ["ExitedEarly", "LitestreamFailed", "ExitedEarly"]]
          ] as const
        ) {
          const binary = NodePath.join(dir, `fake-${name.replace(/\W/g, "")}`)
          yield* Effect.promise(() => fs.promises.writeFile(binary, script, { mode: 0o755 }))
          yield* Effect.gen(function*() {
            const e1 = yield* fails("once", once({ timeout: "10 seconds", deleteLocal: true }))
            expect((e1 as { _tag: string })._tag, `${name}: once: ${String(e1)}`).toBe(tags[0])
            const output = NodePath.join(dir, "out.db")
            const e2 = yield* fails("restore", restore({ timeout: "10 seconds", output }))
            expect((e2 as { _tag: string })._tag, `${name}: restore: ${String(e2)}`).toBe(tags[1])
            expect(yield* exists(output)).toBe(false)
            const e3 = yield* fails("replicate", Effect.scoped(replicate({ grace: "1 second" })))
            expect((e3 as { _tag: string })._tag, `${name}: replicate: ${String(e3)}`).toBe(tags[2])
          }).pipe(Effect.provide(sweep.layer(dir, fileUrl(dir), { binary })))
        }
        yield* unchanged
      })))
})

describe("litestream killed with SIGKILL in the middle of a run", () => {
  it.scopedLive("once: ExitedEarly at once, the database kept", (ctx) =>
    swept(ctx.task.name, ({ dir, sweep }) =>
      Effect.gen(function*() {
        // a replica that never answers: litestream is still waiting when it is killed
        const port = yield* silentServer
        const { kept } = yield* liveDatabase(dir)
        yield* Effect.gen(function*() {
          const { fiber, pid } = yield* forkWithChild(once({ timeout: "30 seconds", grace: "2 seconds", deleteLocal: true }))
          process.kill(pid, "SIGKILL")
          const started = Date.now()
          const exit = yield* Fiber.await(fiber)
          // the death is noticed, not the 30 s timeout (a third of it is room for a loaded machine)
          expect(Date.now() - started, "reported at the death, not at the timeout").toBeLessThan(10_000)
          if (Exit.isFailure(exit)) sweep.cause("once", exit.cause)
          expect(tagOf(exit)).toBe("ExitedEarly")
          yield* expectGone(pid)
          yield* expectNoChildren
        }).pipe(Effect.provide(sweep.layer(dir, `s3://backups.localhost:${port}/apps/app.db`)))
        yield* kept
      })))

  it.scopedLive("continuous replication: await fails with ExitedEarly; the database and the replica are intact", (ctx) =>
    swept(ctx.task.name, ({ dir, sweep, sweepEvents }) =>
      Effect.gen(function*() {
        const db = dbPath(dir)
        const written = Sqlite.createDatabase(db, 30)
        yield* Effect.gen(function*() {
          yield* Effect.scoped(Effect.gen(function*() {
            const replication = yield* replicate({ grace: "2 seconds" })
            yield* sweepEvents(replication)
            yield* replication.syncAfter(Effect.sync(() => written.push(...Sqlite.addRows(db, 20))))
            process.kill(replication.pid, "SIGKILL")
            const exit = yield* Effect.exit(replication.await.pipe(Effect.timeout("5 seconds")))
            if (Exit.isFailure(exit)) sweep.cause("await", exit.cause)
            expect(tagOf(exit)).toBe("ExitedEarly")
            yield* expectGone(replication.pid)
          }))
          yield* expectNoChildren
          expect(Sqlite.readRows(db)).toEqual(written)
          // what was synced before the kill is on the replica
          const output = NodePath.join(dir, "restored.db")
          yield* restore({ timeout: "20 seconds", output })
          expect(Sqlite.readRows(output)).toEqual(written)
        }).pipe(Effect.provide(sweep.layer(dir, fileUrl(dir))))
      })))

  it.scopedLive("restore: a typed failure, no output file and no temporary file left", (ctx) =>
    swept(ctx.task.name, ({ dir, sweep }) =>
      Effect.gen(function*() {
        const s3 = yield* Effect.orDie(S3Server("backups"))
        const proxy = yield* FaultProxy(s3.port)
        const db = dbPath(dir)
        Sqlite.createDatabase(db, 200)
        addBlobs(db, 24)
        yield* Effect.gen(function*() {
          yield* once({ timeout: "20 seconds" })
          // the snapshot download crawls: litestream is killed while writing <output>.tmp
          yield* proxy.set((req) => req.method === "GET" && !req.path.includes("?") ? Throttle(32_768, 20) : { _tag: "Pass" })
          const outDir = NodePath.join(dir, "out")
          const output = NodePath.join(outDir, "restored.db")
          const { fiber, pid } = yield* forkWithChild(restore({ timeout: "30 seconds", output }))
          // litestream writes its temporary file (a private name beside the output)
          const partial = yield* poll(listOrEmpty(outDir), (names) => names.some((n) => n.endsWith(".tmp")), "10 seconds")
          expect(partial.some((n) => n.endsWith(".tmp")), "the restore was caught in the middle").toBe(true)
          process.kill(pid, "SIGKILL")
          const exit = yield* Fiber.await(fiber)
          if (Exit.isFailure(exit)) sweep.cause("restore", exit.cause)
          expect(tagOf(exit)).toBe("LitestreamFailed")
          yield* expectGone(pid)
          expect(yield* list(outDir)).toEqual([])
        }).pipe(Effect.provide(sweep.layer(dir, proxy.url("backups", "apps/app.db"))))
      })))
})

describe("the database folder not writable", () => {
  it.scopedLive("a folder path under a regular file: restore LocalFileError, once and replicate DatabaseNotFound", (ctx) =>
    swept(ctx.task.name, ({ dir, fails, sweep }) =>
      Effect.gen(function*() {
        const file = NodePath.join(dir, "a-file")
        yield* Effect.promise(() => fs.promises.writeFile(file, "precious"))
        const folder = NodePath.join(file, "data")
        yield* Effect.gen(function*() {
          const e1 = yield* fails("restore", restore({ timeout: "10 seconds" }))
          expect(e1).toMatchObject({ _tag: "LocalFileError", operation: "create the folder" })
          const e2 = yield* fails("once", once({ timeout: "10 seconds", deleteLocal: true }))
          expect(e2).toMatchObject({ _tag: "DatabaseNotFound" })
          const e3 = yield* fails("replicate", Effect.scoped(replicate()))
          expect(e3).toMatchObject({ _tag: "DatabaseNotFound" })
        }).pipe(Effect.provide(sweep.layer(folder, fileUrl(dir))))
        expect(fs.readFileSync(file, "utf8")).toBe("precious")
      })))

  it.scopedLive("litestream cannot create its shadow folder beside the database: typed errors, db kept", (ctx) =>
    swept(ctx.task.name, ({ dir, fails, sweep }) =>
      Effect.gen(function*() {
        const { db, written } = yield* liveDatabase(dir)
        // `.app.db-litestream` is a regular file: litestream's mkdir fails, whoever runs the test
        const shadow = NodePath.join(dir, ".app.db-litestream")
        yield* Effect.promise(() => fs.promises.writeFile(shadow, "in the way"))
        yield* Effect.gen(function*() {
          const e1 = yield* fails("once", once({ timeout: "10 seconds", deleteLocal: true }))
          expect((e1 as { _tag: string })._tag).toBe("ReplicaError")
          expect(String((e1 as { message: string }).message)).toContain("not a directory")
          const exit = yield* Effect.exit(Effect.scoped(Effect.gen(function*() {
            const replication = yield* replicate({ policy: { maxConsecutiveErrors: 1 }, grace: "1 second" })
            return yield* replication.await.pipe(Effect.timeout("10 seconds"))
          })))
          if (Exit.isFailure(exit)) sweep.cause("replicate", exit.cause)
          expect(tagOf(exit)).toBe("ReplicationFailed")
          yield* expectNoChildren
        }).pipe(Effect.provide(sweep.layer(dir, fileUrl(dir))))
        // litestream adds its own tables before it fails: the rows are what must be kept
        expect(Sqlite.readRows(db)).toEqual(written)
        expect(fs.readFileSync(shadow, "utf8")).toBe("in the way")
      })))

  it.scopedLive("a leftover <output>.tmp (here a folder, from a crashed run) neither blocks a restore nor is removed", (ctx) =>
    swept(ctx.task.name, ({ dir, sweep }) =>
      Effect.gen(function*() {
        const written = Sqlite.createDatabase(dbPath(dir), 20)
        yield* Effect.gen(function*() {
          yield* once({ timeout: "20 seconds" })
          const output = NodePath.join(dir, "out", "restored.db")
          yield* Effect.promise(() => fs.promises.mkdir(`${output}.tmp`, { recursive: true }))
          const restored = yield* restore({ timeout: "10 seconds", output })
          expect(restored._tag).toBe("Restored")
          // (before reading it: opening a WAL database creates its -wal and -shm)
          expect(yield* list(NodePath.join(dir, "out"))).toEqual(["restored.db", "restored.db.tmp"])
          expect(Sqlite.readRows(output)).toEqual(written)
        }).pipe(Effect.provide(sweep.layer(dir, fileUrl(dir))))
      })))

  it.scopedLive.skipIf(IS_ROOT)("chmod 555 folder (skipped as root, where chmod does not stop writes)", (ctx) =>
    swept(ctx.task.name, ({ dir, fails, sweep }) =>
      Effect.gen(function*() {
        const { kept } = yield* liveDatabase(dir)
        yield* Effect.promise(() => fs.promises.chmod(dir, 0o555))
        yield* Effect.addFinalizer(() => Effect.promise(() => fs.promises.chmod(dir, 0o755)))
        yield* Effect.gen(function*() {
          const e1 = yield* fails("once", once({ timeout: "10 seconds", deleteLocal: true }))
          expect(["ReplicaError", "ExitedEarly", "LitestreamFailed", "LocalFileError"]).toContain((e1 as { _tag: string })._tag)
          const e2 = yield* fails("restore", restore({ timeout: "10 seconds", output: NodePath.join(dir, "r.db") }))
          expect(["LitestreamFailed", "LocalFileError", "NoBackupsFound"]).toContain((e2 as { _tag: string })._tag)
        }).pipe(Effect.provide(sweep.layer(dir, fileUrl(NodePath.join(dir, "..", NodePath.basename(dir) + "-replica")))))
        yield* kept
      })))
})

describe("the database file", () => {
  // (a verified backup of a locked database is not run here: its own SQLite access waits 5 s for
  // the lock; VerificationFailed keeping the database is checked on the not-SQLite file below)
  it.scopedLive("locked by another connection (BEGIN EXCLUSIVE, then locking_mode=EXCLUSIVE): typed errors, nothing deleted", (ctx) =>
    swept(ctx.task.name, ({ dir, fails, sweep }) =>
      Effect.gen(function*() {
        const db = dbPath(dir)
        const written = Sqlite.createDatabase(db, 20)
        const holder = yield* Effect.acquireRelease(Effect.sync(() => Sqlite.open(db)), (c) => Effect.sync(() => c.close()))
        yield* Effect.gen(function*() {
          for (const mode of ["BEGIN EXCLUSIVE", "locking_mode=EXCLUSIVE"] as const) {
            if (mode === "BEGIN EXCLUSIVE") {
              holder.exec("BEGIN EXCLUSIVE")
              holder.prepare("INSERT INTO items (id, name, payload) VALUES (9999, 'held', 'held')").run()
            } else {
              holder.exec("ROLLBACK")
              holder.pragma("locking_mode = EXCLUSIVE")
              holder.exec("BEGIN EXCLUSIVE; COMMIT")
            }
            const e1 = yield* fails(`once (${mode})`, once({ timeout: "15 seconds", deleteLocal: true }))
            expect((e1 as { _tag: string })._tag, mode).toBe("ReplicaError")
            expect(String((e1 as { message: string }).message), mode).toContain("database is locked")
            expect(yield* exists(db)).toBe(true)
            const exit = yield* Effect.exit(Effect.scoped(Effect.gen(function*() {
              const replication = yield* replicate({ policy: { maxConsecutiveErrors: 1 }, grace: "1 second", startTimeout: "10 seconds" })
              return yield* replication.await.pipe(Effect.timeout("10 seconds"))
            })))
            if (Exit.isFailure(exit)) sweep.cause(`replicate (${mode})`, exit.cause)
            expect(tagOf(exit), mode).toBe("ReplicationFailed")
            yield* expectNoChildren
          }
        }).pipe(Effect.provide(sweep.layer(dir, fileUrl(dir))))
        holder.close()
        expect(Sqlite.readRows(db)).toEqual(written)
      })), 90_000)

  it.scopedLive("not a SQLite file: typed errors, the file untouched; restore does not overwrite it", (ctx) =>
    swept(ctx.task.name, ({ dir, fails, sweep }) =>
      Effect.gen(function*() {
        const db = dbPath(dir)
        const garbage = Buffer.from("this is not a database, only text. ".repeat(300))
        yield* Effect.promise(() => fs.promises.writeFile(db, garbage))
        yield* Effect.gen(function*() {
          const e1 = yield* fails("once", once({ timeout: "10 seconds", deleteLocal: true }))
          expect(e1).toMatchObject({ _tag: "ReplicaError" })
          expect((e1 as LitestreamError.ReplicaError).detail).toContain("not a database")
          const e2 = yield* fails("verified backup", verifiedBackup({ timeout: "10 seconds", deleteLocal: true }))
          expect(e2).toMatchObject({ _tag: "VerificationFailed" })
          const exit = yield* Effect.exit(Effect.scoped(Effect.gen(function*() {
            const replication = yield* replicate({ policy: { maxConsecutiveErrors: 1 }, grace: "1 second", startTimeout: "10 seconds" })
            return yield* replication.await.pipe(Effect.timeout("10 seconds"))
          })))
          if (Exit.isFailure(exit)) sweep.cause("replicate", exit.cause)
          expect(tagOf(exit)).toBe("ReplicationFailed")
          const e3 = yield* fails("restore", restore({ timeout: "10 seconds" }))
          expect(e3).toMatchObject({ _tag: "OutputExists", path: db })
        }).pipe(Effect.provide(sweep.layer(dir, fileUrl(dir))))
        expect(fs.readFileSync(db)).toEqual(garbage)
      })))
})

describe(".env files", () => {
  const names = ["LITESTREAM_ACCESS_KEY_ID", "LITESTREAM_SECRET_ACCESS_KEY", "REPLICA_URL", "DB_SQLITE", "DB_FOLDER", "LITESTREAM_BIN", "REPLICA_ENDPOINT", "REPLICA_REGION", "REPLICA_FORCE_PATH_STYLE"]
  // layerEnv reads the environment first: these tests need it free of the settings.
  const clean = names.every((n) => process.env[n] === undefined)

  const build = (envFile: string | false | undefined) =>
    Effect.exit(Layer.build(NodeLitestream.layerEnv(envFile === undefined ? {} : { envFile })).pipe(Effect.scoped))

  it.scopedLive("missing, a folder, or malformed: EnvFileError or LitestreamConfigError naming the variable; secrets never shown", (ctx) =>
    swept(ctx.task.name, ({ dir, sweep }) =>
      Effect.gen(function*() {
        expect(clean, `unset ${names.join(", ")} to run these tests`).toBe(true)
        const write = (name: string, content: string) =>
          Effect.promise(async () => {
            const path = NodePath.join(dir, name)
            await fs.promises.writeFile(path, content)
            return path
          })
        const outcomes: Array<Record<string, unknown>> = []
        const check = (name: string, exit: Exit.Exit<unknown, unknown>, tag: string, contains?: string) => {
          if (Exit.isFailure(exit)) sweep.cause(name, exit.cause)
          expect(tagOf(exit), name).toBe(tag)
          if (contains !== undefined && Exit.isFailure(exit)) {
            expect(String((exit.cause as { error?: { message?: string } }).error?.message), name).toContain(contains)
          }
          outcomes.push({ case: name, outcome: tagOf(exit) })
        }
        const creds = `LITESTREAM_ACCESS_KEY_ID=${KEY_ID}\nLITESTREAM_SECRET_ACCESS_KEY=${SECRET}\n`

        check("explicit envFile missing", yield* build(NodePath.join(dir, "nope.env")), "EnvFileError", "nope.env")
        const folder = NodePath.join(dir, "a-folder.env")
        yield* Effect.promise(() => fs.promises.mkdir(folder))
        check("envFile is a folder", yield* build(folder), "EnvFileError")
        check(
          "garbage lines only",
          yield* build(yield* write("garbage.env", `${creds}this is not = a valid line\n=novalue\n\u0000\u0001binary\n[section]\n`)),
          "LitestreamConfigError",
          "REPLICA_URL"
        )
        check(
          "bad values",
          yield* build(yield* write("bad.env", `${creds}REPLICA_URL=ftp://example.com/x\nDB_SQLITE=../escape.db\n`)),
          "LitestreamConfigError",
          "DB_SQLITE"
        )
        check(
          "s3 without credentials",
          yield* build(yield* write("nocreds.env", `REPLICA_URL=s3://bucket.localhost:9/x\n`)),
          "LitestreamConfigError",
          "LITESTREAM_SECRET_ACCESS_KEY"
        )
        check(
          "quotes, export, comments, CRLF",
          yield* build(yield* write(
            "good.env",
            `# comment\r\nexport LITESTREAM_ACCESS_KEY_ID="${KEY_ID}"\r\nLITESTREAM_SECRET_ACCESS_KEY='${SECRET}' # trailing\r\nREPLICA_URL=file:///tmp/replica\r\nDB_FOLDER=${dir}\r\n`
          )),
          "success"
        )
        Figures.record("env-files", { outcomes })
      })))

  it.scopedLive("documented: a `$NAME` in a value is expanded from the same file (`\\$` keeps a dollar); an unquoted `#` starts a comment", () =>
    Effect.gen(function*() {
      expect(clean).toBe(true)
      const dir = yield* Effect.promise(() => fs.promises.mkdtemp(NodePath.join(process.env.TMPDIR ?? "/tmp", "elt-env-")))
      yield* Effect.addFinalizer(() => Effect.promise(() => fs.promises.rm(dir, { recursive: true, force: true })))
      const path = NodePath.join(dir, ".env")
      yield* Effect.promise(() =>
        fs.promises.writeFile(
          path,
          `LITESTREAM_ACCESS_KEY_ID=key\nLITESTREAM_SECRET_ACCESS_KEY=abcd$UNSET\\$efgh#ij\nREPLICA_URL=file:///tmp/r\nDB_FOLDER=${dir}/data\n`
        )
      )
      const config = yield* Effect.flatMap(LitestreamConfig.LitestreamConfig, Effect.succeed).pipe(
        Effect.provide(NodeLitestream.layerEnv({ envFile: path }))
      )
      const secret = config.credentials._tag === "Some" ? config.credentials.value.secretAccessKey : undefined
      expect(secret && Redacted.value(secret)).toBe("abcd$efgh")
    }))
})
