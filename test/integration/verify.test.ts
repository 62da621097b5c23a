/**
 * Verification with the real litestream binary: a healthy replica verifies; a replica wiped
 * after the backup gives a typed, explained failure; `backup({ deleteLocal })` deletes only after
 * a verified backup; a replica that never answers is inconclusive; a running replication verifies.
 */
import { LitestreamConfig, Replicate, Restore, Verify } from "@effect-litestream/core"
import { LitestreamBinary, NodeSqliteProbe } from "@effect-litestream/node"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as NodePath from "node:path"
import { exists, silentServer, tempDir } from "../support/Fixtures.js"
import { dbPath, expectNoLitestream, guardAgainstLeaks, services, settings, siblings, timed } from "../support/Harness.js"
import { generations, replicate, verifier } from "../support/Replication.js"
import { S3Server } from "../support/S3Server.js"
import * as Sqlite from "../support/Sqlite.js"

guardAgainstLeaks()

const wipe = (folder: string) => Effect.promise(() => fs.promises.rm(folder, { recursive: true, force: true }))

/**
 * The Node services, but the replica is wiped after the backup step and before the restore that
 * checks it: what a replica lost between a backup and its verification looks like.
 */
const wipedAfterBackup = (dir: string, replica: string) => {
  const config = Layer.effect(
    LitestreamConfig.LitestreamConfig,
    Effect.flatMap(LitestreamBinary.defaultBinary, (binary) =>
      LitestreamConfig.make({ ...settings(dir, `file://${replica}`), binary }))
  )
  const wipingRestore = Layer.effect(
    Restore.Restore,
    Effect.map(Restore.make, (real) => Restore.Restore.of({ restore: (options) => Effect.zipRight(wipe(replica), real.restore(options)) }))
  )
  return Verify.layer.pipe(
    Layer.provideMerge(Layer.mergeAll(wipingRestore, Replicate.layer)),
    // the probe under Replicate too: `deleteLocal` holds the database's locks through it
    Layer.provideMerge(NodeSqliteProbe.layer),
    Layer.provideMerge(config),
    Layer.provide(NodeContext.layer),
    Layer.orDie
  )
}

describe("Verify.verify", () => {
  it.scopedLive("a healthy replica: Verified, with the replica's position; the sentinel is the library's one-row table", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const db = dbPath(dir)
      const rows = Sqlite.createDatabase(db, 30)
      yield* Effect.gen(function*() {
        const v = yield* verifier
        const first = yield* v.verify({ timeout: "20 seconds" })
        if (first._tag !== "Verified") throw new Error(`not verified: ${JSON.stringify(first)}`)
        expect(Option.isSome(first.position)).toBe(true)
        const second = yield* v.verify({ timeout: "20 seconds" })
        expect(second._tag).toBe("Verified")
        yield* expectNoLitestream
        // the application's rows are untouched; the sentinel table holds one row, the last token
        expect(Sqlite.readRows(db)).toEqual(rows)
        const sentinel = new (yield* Effect.promise(() => import("better-sqlite3"))).default(db, { readonly: true })
        try {
          expect(sentinel.prepare(`SELECT id, token FROM ${Verify.SENTINEL_TABLE}`).all()).toEqual([
            { id: 1, token: (second as { token: string }).token }
          ])
        } finally {
          sentinel.close()
        }
      }).pipe(Effect.provide(services(dir, `file://${NodePath.join(dir, "replica")}`)))
    }))

  it.scopedLive("a replica wiped after the backup step: Failed, ReplicaEmpty, saying why", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const replica = NodePath.join(dir, "replica")
      Sqlite.createDatabase(dbPath(dir), 30)
      const verification = yield* Effect.flatMap(verifier, (v) => v.verify({ timeout: "20 seconds" })).pipe(
        Effect.provide(wipedAfterBackup(dir, replica))
      )
      expect(verification).toMatchObject({ _tag: "Failed", cause: "ReplicaEmpty" })
      expect((verification as { reason: string }).reason).toMatch(/holds no backup .* wiped/)
      yield* expectNoLitestream
    }))

  it.scopedLive("a replica wiped before the call is seeded again by the backup step: Verified, a new generation", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const replica = NodePath.join(dir, "replica")
      Sqlite.createDatabase(dbPath(dir), 30)
      yield* Effect.gen(function*() {
        const v = yield* verifier
        const before = yield* v.verify({ timeout: "20 seconds" })
        expect(before._tag).toBe("Verified")
        yield* wipe(replica)
        expect(yield* generations()).toEqual([])
        const after = yield* v.verify({ timeout: "20 seconds" })
        expect(after._tag).toBe("Verified")
        // the history before the wipe is gone: the replica holds only what litestream wrote since
        const listed = yield* generations()
        expect(listed).toHaveLength(1)
        expect(Option.map((after as { position: Option.Option<{ generation: string }> }).position, (p) => p.generation)).toEqual(
          Option.some(listed[0]!.generation)
        )
      }).pipe(Effect.provide(services(dir, `file://${replica}`)))
    }))

  it.scopedLive("a replica that never answers: Inconclusive (Timeout) within the timeout, no process left", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const port = yield* silentServer
      Sqlite.createDatabase(dbPath(dir), 10)
      const [verification, ms] = yield* timed(
        Effect.flatMap(verifier, (v) => v.verify({ timeout: "1500 millis" })).pipe(
          Effect.provide(services(dir, `s3://backups.localhost:${port}/apps/app.db`))
        )
      )
      expect(verification).toMatchObject({ _tag: "Inconclusive", cause: "Timeout" })
      // the timeout ran out (1.5 s); then at most the default grace (10 s) and the slack (2 s)
      expect(ms).toBeGreaterThanOrEqual(1500)
      expect(ms).toBeLessThan(1500 + 10_000 + 2_000)
      yield* expectNoLitestream
    }))
})

describe("Verify.backup", () => {
  it.scopedLive("deleteLocal: deletes the local files only after Verified", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const db = dbPath(dir)
      const rows = Sqlite.createDatabase(db, 40)
      yield* Effect.gen(function*() {
        const result = yield* Effect.flatMap(verifier, (v) => v.backup({ deleteLocal: true, timeout: "20 seconds" }))
        expect(result.verification._tag).toBe("Verified")
        expect(result.deleted).toContain(db)
        for (const f of siblings(db)) expect(yield* exists(f), f).toBe(false)
        // what was deleted is in the replica
        yield* Effect.flatMap(Restore.Restore, (r) => r.restore({ timeout: "20 seconds" }))
        expect(Sqlite.readRows(db)).toEqual(rows)
      }).pipe(Effect.provide(services(dir, `file://${NodePath.join(dir, "replica")}`)))
    }))

  it.scopedLive("deleteLocal with a replica wiped after the backup step: VerificationFailed, every local file kept", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const db = dbPath(dir)
      const rows = Sqlite.createDatabase(db, 40)
      const error = yield* Effect.flip(
        Effect.flatMap(verifier, (v) => v.backup({ deleteLocal: true, timeout: "20 seconds" })).pipe(
          Effect.provide(wipedAfterBackup(dir, NodePath.join(dir, "replica")))
        )
      )
      expect(error).toBeInstanceOf(Verify.VerificationFailed)
      expect((error as Verify.VerificationFailed).verification).toMatchObject({ _tag: "Failed", cause: "ReplicaEmpty" })
      expect(error.message).toMatch(/The local database was kept/)
      // nothing deleted: the database and litestream's folder stay; the -wal and -shm go only
      // because SQLite checkpoints them into the database when its last connection closes (the
      // library's lock was the last one), so every row is in the database file itself
      for (const f of siblings(db).filter((f) => !f.endsWith("-wal") && !f.endsWith("-shm"))) {
        expect(yield* exists(f), f).toBe(true)
      }
      expect(Sqlite.readRows(db)).toEqual(rows)
      expect(Sqlite.integrityCheck(db)).toBe("ok")
      yield* expectNoLitestream
    }))
})

describe("Verify.verifyReplication", () => {
  it.scopedLive("a running replication (S3): Verified through its events; the replica wiped meanwhile: Failed, SnapshotMissing", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const s3 = yield* Effect.orDie(S3Server("backups"))
      const other = yield* tempDir()
      const db = dbPath(dir)
      Sqlite.createDatabase(db, 30)
      yield* Effect.gen(function*() {
        const replication = yield* replicate()
        const v = yield* verifier
        const [verified, ms] = yield* timed(v.verifyReplication(replication, { timeout: "20 seconds" }))
        expect(verified._tag).toBe("Verified")
        // event-driven: it returns on litestream's events, well within its 20 s timeout
        expect(ms).toBeLessThan(10_000)
        expect((yield* replication.status).databases[0]!.position).toEqual(
          (verified as { position: Option.Option<unknown> }).position
        )
        yield* Sqlite.addRowsEffect(db, 5)
        expect((yield* v.verifyReplication(replication, { timeout: "20 seconds" }))._tag).toBe("Verified")
      }).pipe(Effect.scoped, Effect.provide(services(dir, s3.url("apps/app.db"))))

      // file:// replica, wiped while litestream goes on replicating to it
      Sqlite.createDatabase(dbPath(other), 30)
      const replica = NodePath.join(other, "replica")
      yield* Effect.gen(function*() {
        const replication = yield* replicate()
        const v = yield* verifier
        expect((yield* v.verifyReplication(replication, { timeout: "20 seconds" }))._tag).toBe("Verified")
        yield* wipe(replica)
        const failed = yield* v.verifyReplication(replication, { timeout: "20 seconds" })
        expect(failed).toMatchObject({ _tag: "Failed", cause: "SnapshotMissing" })
        expect((failed as { reason: string }).reason).toMatch(/no snapshot .* wiped while litestream kept replicating/)
      }).pipe(Effect.scoped, Effect.provide(services(other, `file://${replica}`)))
      yield* expectNoLitestream
    }))
})
