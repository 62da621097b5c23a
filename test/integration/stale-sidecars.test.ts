/**
 * Restore beside another database's leftovers, with the real litestream binary (v0.3.13) on a
 * file:// replica and on the loopback S3 server: a `-wal`, `-shm` or `-journal` of an earlier
 * database A sits where database B is restored. On its first open SQLite applies such a `-wal`
 * (B silently becomes A, and `integrity_check` says ok) or rolls back such a `-journal` into B
 * (B is corrupt). The restore must refuse, or with `moveAsideSidecars` rename them aside.
 */
import { LitestreamError } from "@effect-litestream/core"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as NodePath from "node:path"
import { exists, list, readBytes, tempDir } from "../support/Fixtures.js"
import { dbPath, expectNoLitestream, failure, guardAgainstLeaks, once, restore, services } from "../support/Harness.js"
import { S3Server } from "../support/S3Server.js"
import * as Sqlite from "../support/Sqlite.js"
import { firstOpen, type Kind, leaveStale } from "../support/StaleFiles.js"

guardAgainstLeaks()

const TIMEOUT = "20 seconds"

interface Backend {
  readonly name: string
  readonly replica: (dir: string) => Effect.Effect<string, never, Scope.Scope>
}

const backends: ReadonlyArray<Backend> = [
  { name: "file:// replica", replica: (dir) => Effect.succeed(`file://${NodePath.join(dir, "replica")}`) },
  { name: "S3 replica (fauxqs)", replica: () => Effect.map(Effect.orDie(S3Server("backups")), (s3) => s3.url("apps/app.db")) }
]

const KINDS: ReadonlyArray<Kind> = ["-wal", "-shm", "-journal"]

describe.each(backends)("$name", (backend) => {
  for (const kind of KINDS) {
    it.scopedLive(
      `a stale ${kind} of database A where B is restored: StaleSidecarFiles, nothing published, the file untouched; moveAsideSidecars: B restored, the file moved aside`,
      () =>
        Effect.gen(function*() {
          const dir = yield* tempDir()
          const url = yield* backend.replica(dir)
          const data = NodePath.join(dir, "data")
          const db = dbPath(data)
          const stalePath = `${db}${kind}`
          yield* Effect.promise(() => fs.promises.mkdir(data))
          const stale = leaveStale(db, kind)
          expect(stale.length).toBeGreaterThan(kind === "-shm" ? 0 : 4096)

          // Database B, elsewhere, backed up to the replica.
          const source = NodePath.join(dir, "source")
          yield* Effect.promise(() => fs.promises.mkdir(source))
          const b = Sqlite.createDatabase(dbPath(source), 100)
          yield* once({ timeout: TIMEOUT }).pipe(Effect.provide(services(source, url)))
          yield* expectNoLitestream

          yield* Effect.gen(function*() {
            const error = yield* failure(restore({ timeout: TIMEOUT }))
            expect(error).toBeInstanceOf(LitestreamError.StaleSidecarFiles)
            expect(error).toMatchObject({ _tag: "StaleSidecarFiles", path: db, files: [stalePath] })
            expect(error.message).toContain(stalePath)
            expect(error.message).toContain("moveAsideSidecars")
            expect(yield* exists(db)).toBe(false)
            expect(yield* list(data)).toEqual([`app.db${kind}`])
            expect(yield* readBytes(stalePath)).toEqual(stale)

            // ifDbNotExists and ifReplicaExists do not make it go away: the output does not exist.
            const again = yield* failure(restore({ timeout: TIMEOUT, ifDbNotExists: true, ifReplicaExists: true }))
            expect(again).toMatchObject({ _tag: "StaleSidecarFiles", files: [stalePath] })
            expect(yield* list(data)).toEqual([`app.db${kind}`])

            // The harm the refusal prevents, shown on a copy: B restored elsewhere, then A's file put beside it.
            if (kind !== "-shm") {
              const control = NodePath.join(dir, "control", "app.db")
              expect(yield* restore({ timeout: TIMEOUT, output: control })).toMatchObject({ _tag: "Restored" })
              yield* Effect.promise(() => fs.promises.writeFile(`${control}${kind}`, stale))
              if (kind === "-wal") {
                const seen = firstOpen(control)
                expect(seen.tables).toEqual(["a_only", "items"])
                expect(seen.rows).toHaveLength(500)
                expect(seen.integrity).toBe("ok")
              } else {
                expect(() => firstOpen(control)).toThrow(/malformed/)
              }
            }

            const restored = yield* restore({ timeout: TIMEOUT, moveAsideSidecars: true })
            yield* expectNoLitestream
            expect(restored._tag).toBe("Restored")
            if (restored._tag !== "Restored") return
            expect(restored.path).toBe(db)
            expect(restored.movedAside).toHaveLength(1)
            const moved = restored.movedAside![0]!
            expect(moved.from).toBe(stalePath)
            expect(moved.to).toMatch(
              new RegExp(`^${stalePath.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\.stale-\\d{4}-\\d\\d-\\d\\dT\\d\\d-\\d\\d-\\d\\d\\.\\d{3}Z$`)
            )
            expect(yield* readBytes(moved.to)).toEqual(stale)
            expect(yield* exists(stalePath)).toBe(false)
            expect((yield* list(data)).sort()).toEqual(["app.db", NodePath.basename(moved.to)].sort())

            const seen = firstOpen(db)
            expect(seen.tables).toEqual(["items"])
            expect(seen.rows).toEqual(b)
            expect(seen.integrity).toBe("ok")
            expect(Sqlite.integrityCheck(db)).toBe("ok")
            // the stale file stays where it was moved, byte for byte
            expect(yield* readBytes(moved.to)).toEqual(stale)
          }).pipe(Effect.provide(services(data, url)))
        })
    )
  }
})
