/**
 * What the native-restore integration tests share: the native layers on the test settings,
 * a restore through any `Restore` layer, a workload step, and raw `litestream replicate` (the
 * real v0.3.13, with a config of its own) running while a body writes.
 */
import { LitestreamConfig, NativeRestore, Restore } from "@effect-litestream/core"
import { LitestreamBinary, NodeLz4Workers } from "@effect-litestream/node"
import * as LazyHttpClient from "@effect-litestream/node/LazyHttpClient"
import { NodeContext } from "@effect/platform-node"
import { expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as NodePath from "node:path"
import { ACCESS_KEY_ID, SECRET, settings } from "./Harness.js"
import * as Sqlite from "./Sqlite.js"

/** What the native layers need: the same settings as the Node layer, a file system, the Node layers' HTTP client. */
export const nativeDeps = (folder: string, url: string) =>
  Layer.effect(
    LitestreamConfig.LitestreamConfig,
    Effect.flatMap(LitestreamBinary.defaultBinary, (binary) => LitestreamConfig.make({ ...settings(folder, url), binary }))
  ).pipe(Layer.provideMerge(Layer.mergeAll(NodeContext.layer, LazyHttpClient.layer)), Layer.orDie)

/** The native Restore. */
export const native = (folder: string, url: string) => NativeRestore.layer.pipe(Layer.provide(nativeDeps(folder, url)))

/** The native Restore as the Node layer builds it: LZ4 blocks decoded in worker threads (here every object's). */
export const nativeWorkers = (folder: string, url: string) =>
  NativeRestore.layer.pipe(Layer.provide(Layer.merge(nativeDeps(folder, url), NodeLz4Workers.layer({ workers: 2, minSize: 0 }))))

/** One restore through `layer`, 60 seconds unless told. */
export const restoreWith = (layer: Layer.Layer<Restore.Restore>, options: Restore.RestoreOptions) =>
  Effect.flatMap(Restore.Restore, (r) => r.restore({ timeout: "60 seconds", ...options })).pipe(Effect.provide(layer))

/** One step of a workload on the open database. */
export const step = (db: ReturnType<typeof Sqlite.open>, random: () => number, next: { id: number }) => {
  const pick = random()
  if (pick < 0.45) {
    const rows = Sqlite.rows(1 + Math.floor(random() * 40), next.id)
    next.id += rows.length
    Sqlite.insertRows(db, rows)
  } else if (pick < 0.6) {
    db.prepare("UPDATE items SET payload = payload || ? WHERE id % ? = 0").run("-u", 2 + Math.floor(random() * 5))
  } else if (pick < 0.7) {
    db.prepare("DELETE FROM items WHERE id % ? = 0").run(3 + Math.floor(random() * 7))
  } else if (pick < 0.85) {
    // a blob larger than a page: overflow pages
    db.prepare("INSERT INTO blobs (data) VALUES (randomblob(?))").run(1000 + Math.floor(random() * 200_000))
  } else if (pick < 0.93) {
    db.prepare("DELETE FROM blobs WHERE id % 2 = 0").run()
  } else {
    db.exec("VACUUM")
  }
}

/** Runs the real litestream on `db` with a config of its own while `body` runs, then SIGTERM. */
export const rawReplicate = <E, R>(
  dir: string,
  db: string,
  url: string,
  body: Effect.Effect<unknown, E, R>,
  options: { readonly minCheckpointPageCount?: number } = {}
) =>
  Effect.gen(function*() {
    const bin = yield* LitestreamBinary.defaultBinary
    const config = NodePath.join(dir, "litestream.yml")
    fs.writeFileSync(
      config,
      `dbs:\n  - path: ${JSON.stringify(db)}\n    monitor-interval: 50ms\n    min-checkpoint-page-count: ${
        options.minCheckpointPageCount ?? 8
      }\n    replicas:\n      - url: ${JSON.stringify(url)}\n        sync-interval: 50ms\n`
    )
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        ChildProcess.spawn(bin, ["replicate", "-config", config], {
          env: { ...process.env, LITESTREAM_ACCESS_KEY_ID: ACCESS_KEY_ID, LITESTREAM_SECRET_ACCESS_KEY: SECRET },
          stdio: ["ignore", "ignore", "pipe"]
        })
      ),
      (child) => Effect.sync(() => child.exitCode === null && child.kill("SIGKILL"))
    )
    let log = ""
    child.stderr!.on("data", (b: Buffer) => {
      log += b.toString()
    })
    const exited = child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
    yield* Effect.sleep("300 millis")
    yield* body
    // stop once litestream has been quiet for 500 ms (at most 10 s): a SIGTERM in the middle of
    // its replica sync or of one of its frequent checkpoints fails its final sync (exit 1; seen
    // under load with a fixed 300 ms wait)
    let seen = -1
    for (let waited = 0; waited < 10_000 && seen !== log.length; waited += 500) {
      seen = log.length
      yield* Effect.sleep("500 millis")
    }
    child.kill("SIGTERM")
    const code = yield* Effect.promise(() => exited)
    expect(code, log).toBe(0)
  })
