/**
 * Databases unlike the suite's usual one (4096-byte pages, WAL), through the litestream path:
 * page sizes 1024 and 65536, and a database in rollback-journal mode. Each is replicated while
 * it is written, backed up with `once({ deleteLocal })`, restored: every row, the same page
 * size, integrity ok.
 */
import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as NodePath from "node:path"
import * as Figures from "../support/Figures.js"
import { dbPath, once, replicate, restore, swept } from "../support/Faults.js"
import { guardAgainstLeaks } from "../support/Harness.js"
import { S3Server } from "../support/S3Server.js"
import * as Sqlite from "../support/Sqlite.js"

guardAgainstLeaks()

const pragma = (path: string, name: string): unknown => {
  const db = new Database(path, { readonly: true, fileMustExist: true })
  try {
    return db.pragma(name, { simple: true })
  } finally {
    db.close()
  }
}

/** A database with `pageSize`-byte pages in `journal` mode, rows 1..count (payloads up to 2 pages). */
const create = (path: string, pageSize: number, journal: "wal" | "delete", count: number) => {
  const db = new Database(path)
  try {
    // (the page size takes effect only before the first table, and not in WAL mode)
    db.pragma(`page_size = ${pageSize}`)
    db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, payload TEXT NOT NULL)")
    db.pragma(`journal_mode = ${journal}`)
    return add(db, 0, count, pageSize)
  } finally {
    db.close()
  }
}

const add = (db: Database.Database, after: number, count: number, pageSize: number) => {
  const rows = Array.from({ length: count }, (_, k) => {
    const id = after + k + 1
    // some rows overflow onto further pages
    return { id, name: `row-${id}`, payload: `p${id}-`.repeat(1 + ((id * 37) % Math.ceil(pageSize / 3))) }
  })
  const insert = db.prepare("INSERT INTO items (id, name, payload) VALUES (@id, @name, @payload)")
  db.transaction(() => {
    for (const r of rows) insert.run(r)
  })()
  return rows
}

describe("page sizes other than 4096", () => {
  it.scopedLive("1024 (file://) and 65536 (S3): written while replicating, once with deleteLocal, restored: every row, same page size", (ctx) =>
    swept(ctx.task.name, ({ dir, sweep }) =>
      Effect.gen(function*() {
        const s3 = yield* Effect.orDie(S3Server("backups"))
        const outcomes: Array<Record<string, unknown>> = []
        for (const [pageSize, backend] of [[1024, "file"], [65536, "s3"]] as const) {
          const folder = NodePath.join(dir, `page-${pageSize}`)
          fs.mkdirSync(folder, { recursive: true })
          const db = dbPath(folder)
          const committed = create(db, pageSize, "wal", 150)
          expect(pragma(db, "page_size"), "the test database has the page size").toBe(pageSize)
          const url = backend === "file" ? `file://${NodePath.join(folder, "replica")}` : s3.url(`pages/${pageSize}/app.db`)
          yield* Effect.gen(function*() {
            yield* Effect.scoped(Effect.gen(function*() {
              const replication = yield* replicate({ grace: "5 seconds" })
              const app = yield* Effect.acquireRelease(Effect.sync(() => new Database(db)), (c) => Effect.sync(() => c.close()))
              for (let round = 0; round < 3; round++) {
                yield* replication.syncAfter(Effect.sync(() => committed.push(...add(app, committed.at(-1)!.id, 60, pageSize))))
              }
            }))
            const result = yield* once({ timeout: "30 seconds", deleteLocal: true })
            expect(result.deleted, String(pageSize)).toContain(db)
            const restored = yield* restore({ timeout: "30 seconds" })
            expect(restored._tag).toBe("Restored")
          }).pipe(Effect.provide(sweep.layer(folder, url)))
          expect(pragma(db, "page_size"), "the restored database keeps the page size").toBe(pageSize)
          expect(Sqlite.readRows(db), String(pageSize)).toEqual(committed)
          expect(Sqlite.integrityCheck(db)).toBe("ok")
          outcomes.push({ pageSize, backend, rows: committed.length })
        }
        Figures.record("page-sizes", { outcomes })
      })), 90_000)
})

describe("a database in rollback-journal mode", () => {
  // litestream v0.3.13 needs WAL: it runs `PRAGMA journal_mode = wal` on the database it is
  // given, which stays in WAL mode afterwards (SQLite keeps the mode in the file). The library
  // passes the database on as it is: backed up and restored, but no longer in rollback mode.
  it.scopedLive("journal_mode=DELETE: once with deleteLocal backs it up (litestream turns it to WAL), restore gives every row", (ctx) =>
    swept(ctx.task.name, ({ dir, sweep }) =>
      Effect.gen(function*() {
        const db = dbPath(dir)
        const committed = create(db, 4096, "delete", 120)
        expect(pragma(db, "journal_mode")).toBe("delete")
        const url = `file://${NodePath.join(dir, "replica")}`
        yield* Effect.gen(function*() {
          // a first backup without deletion, to see the mode litestream leaves behind
          yield* once({ timeout: "30 seconds" })
          expect(Sqlite.journalMode(db), "litestream switched the database to WAL").toBe("wal")
          expect(Sqlite.readRows(db)).toEqual(committed)
          const result = yield* once({ timeout: "30 seconds", deleteLocal: true })
          expect(result.deleted).toContain(db)
          const restored = yield* restore({ timeout: "30 seconds" })
          expect(restored._tag).toBe("Restored")
        }).pipe(Effect.provide(sweep.layer(dir, url)))
        expect(Sqlite.readRows(db)).toEqual(committed)
        expect(Sqlite.integrityCheck(db)).toBe("ok")
        Figures.record("rollback-journal", { rows: committed.length, modeAfterBackup: "wal" })
      })), 60_000)
})
