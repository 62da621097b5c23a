/**
 * Restore's guarantees with the real litestream binary: an empty replica, an existing output
 * file, and restoring beside a live database.
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

describe.each(backends)("$name", (backend) => {
  it.scopedLive("no backups: NoBackupsFound; with ifReplicaExists: Skipped NoBackups, nothing written", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const url = yield* backend.replica(dir)
      const folder = NodePath.join(dir, "data")
      const db = dbPath(folder)

      yield* Effect.gen(function*() {
        const error = yield* failure(restore({ timeout: TIMEOUT }))
        expect(error).toBeInstanceOf(LitestreamError.NoBackupsFound)
        expect(error).toMatchObject({ _tag: "NoBackupsFound", replica: url })
        expect(yield* exists(db)).toBe(false)
        expect(yield* exists(`${db}.tmp`)).toBe(false)

        const skipped = yield* restore({ timeout: TIMEOUT, ifReplicaExists: true })
        yield* expectNoLitestream
        expect(skipped).toEqual({ _tag: "Skipped", path: db, reason: "NoBackups" })
        expect(yield* list(folder)).toEqual([])
      }).pipe(Effect.provide(services(folder, url)))
    }))

  it.scopedLive("an existing file is never overwritten; ifDbNotExists skips; another output leaves the live db alone", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const url = yield* backend.replica(dir)
      const db = dbPath(dir)
      const backedUp = Sqlite.createDatabase(db, 60)

      yield* Effect.gen(function*() {
        yield* once({ timeout: TIMEOUT })
        // The live database moves on after the backup, and the application keeps it open.
        const app = yield* Effect.acquireRelease(Effect.sync(() => Sqlite.open(db)), (c) => Effect.sync(() => c.close()))
        Sqlite.insertRows(app, Sqlite.rows(10, 61))
        const liveFiles = [db, `${db}-wal`]
        const before = yield* Effect.forEach(liveFiles, readBytes)

        const error = yield* failure(restore({ timeout: TIMEOUT }))
        expect(error).toBeInstanceOf(LitestreamError.OutputExists)
        expect(error).toMatchObject({ _tag: "OutputExists", path: db })
        expect(yield* Effect.forEach(liveFiles, readBytes)).toEqual(before)
        expect(yield* exists(`${db}.tmp`)).toBe(false)

        const skipped = yield* restore({ timeout: TIMEOUT, ifDbNotExists: true })
        yield* expectNoLitestream
        expect(skipped).toEqual({ _tag: "Skipped", path: db, reason: "DatabaseExists" })
        expect(yield* Effect.forEach(liveFiles, readBytes)).toEqual(before)

        // An explicit output that exists (any file, not only a database) is refused too.
        const other = NodePath.join(dir, "notes.txt")
        yield* Effect.promise(() => fs.promises.writeFile(other, "keep me\n"))
        const refused = yield* failure(restore({ timeout: TIMEOUT, output: other }))
        expect(refused).toMatchObject({ _tag: "OutputExists", path: other })
        expect((yield* readBytes(other)).toString()).toBe("keep me\n")

        const output = NodePath.join(dir, "restore-check", "app.db")
        const restored = yield* restore({ timeout: TIMEOUT, output })
        yield* expectNoLitestream
        expect(restored).toMatchObject({ _tag: "Restored", path: output })
        expect(Sqlite.readRows(output)).toEqual(backedUp)
        expect(Sqlite.integrityCheck(output)).toBe("ok")
        expect(yield* Effect.forEach(liveFiles, readBytes)).toEqual(before)
        expect(app.prepare("SELECT COUNT(*) AS n FROM items").get()).toEqual({ n: 70 })
      }).pipe(Effect.provide(services(dir, url)))
    }))
})
