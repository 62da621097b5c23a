/**
 * The main job, end to end on this machine: a sample SQLite database is backed up to an S3
 * server embedded on loopback (fauxqs), deleted, restored, and checked. Every step prints what
 * it did and how long it took.
 *
 *   pnpm demo
 */
import { LitestreamConfig, Replicate, Restore } from "@effect-litestream/core"
import { NodeLitestream } from "@effect-litestream/node"
import Database from "better-sqlite3"
import { Console, Duration, Effect, Option } from "effect"
import { startFauxqs } from "fauxqs"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const ROWS = 1000

const ms = (d: Duration.Duration) => `${Duration.toMillis(d).toFixed(1)} ms`

const step = <A, E, R>(label: string, effect: Effect.Effect<A, E, R>, describe: (a: A) => string) =>
  Effect.timed(effect).pipe(
    Effect.tap(([took, a]) => Console.log(`  ${label.padEnd(28)} ${ms(took).padStart(9)}  ${describe(a)}`)),
    Effect.map(([, a]) => a)
  )

const program = Effect.gen(function*() {
  // An S3 server on a free loopback port, with one bucket: nothing leaves this machine.
  const s3 = yield* step(
    "start S3 server (fauxqs)",
    Effect.acquireRelease(
      Effect.promise(async () => {
        const server = await startFauxqs({ port: 0, host: "127.0.0.1", logger: false })
        server.createBucket("demo-backups")
        return server
      }),
      (server) => Effect.promise(() => server.stop())
    ),
    (s) => `http://127.0.0.1:${s.port}, bucket demo-backups`
  )

  const folder = yield* Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "effect-litestream-demo-"))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )
  const dbPath = path.join(folder, "db.sqlite")

  yield* step("create sample database", Effect.sync(() => {
    const db = new Database(dbPath)
    db.pragma("journal_mode = WAL")
    db.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    const insert = db.prepare("INSERT INTO notes (body) VALUES (?)")
    db.transaction(() => {
      for (let i = 1; i <= ROWS; i++) insert.run(`note ${i}: ${"x".repeat(64)}`)
    })()
    db.close()
  }), () => `${dbPath}, ${ROWS} rows`)

  const settings = {
    replicaUrl: `s3://demo-backups.localhost:${s3.port}/demo/db`,
    accessKeyId: "demo-access-key",
    secretAccessKey: "demo-secret-key",
    folder
  }
  const layer = NodeLitestream.layer(settings)

  yield* Effect.gen(function*() {
    const config = yield* LitestreamConfig.LitestreamConfig
    const secret = Option.map(config.credentials, (c) => c.secretAccessKey)
    yield* Console.log(`  replica ${config.replica.url}, secret ${Option.getOrElse(secret, () => "none")} (Redacted)`)

    const backup = yield* step(
      "backup (Replicate.once)",
      Effect.flatMap(Replicate.Replicate, (r) => r.once({ timeout: "30 seconds", deleteLocal: true })),
      (r) => `position ${Option.getOrElse(Option.map(r.position, String), () => "?")}, deleted ${r.deleted.length} local files`
    )
    if (fs.existsSync(dbPath)) return yield* Effect.dieMessage("the local database should be gone")

    const restored = yield* step(
      "restore (Restore.restore)",
      Effect.flatMap(Restore.Restore, (r) => r.restore({ timeout: "30 seconds" })),
      (r) => `${r._tag} ${r.path}`
    )

    yield* step("check restored database", Effect.sync(() => {
      const db = new Database(dbPath, { readonly: true })
      const count = (db.prepare("SELECT count(*) AS n FROM notes").get() as { n: number }).n
      const integrity = db.pragma("integrity_check", { simple: true })
      db.close()
      if (count !== ROWS || integrity !== "ok") throw new Error(`restored ${count} rows, integrity ${integrity}`)
      return { count, integrity }
    }), (r) => `${r.count} rows, integrity_check ${r.integrity}`)

    yield* Console.log(`\nRound trip OK: backup ${ms(backup.duration)}, restore ${
      restored._tag === "Restored" ? ms(restored.duration) : "skipped"
    }.`)
  }).pipe(Effect.provide(layer))
})

Console.log("effect-litestream demo: backup and restore through a loopback S3 server\n").pipe(
  Effect.zipRight(Effect.scoped(program)),
  Effect.catchAll((error) => Console.error(`\nDemo failed: ${error.message}`).pipe(Effect.zipRight(Effect.sync(() => { process.exitCode = 1 })))),
  Effect.runPromise
)
