/**
 * litestream 0.5.17 driven by the tests directly (the binary from test/support/Peers.ts):
 * `replicate` with a config of its own (short sync, compaction and snapshot intervals, so a
 * short run writes level 1, 2 and 9 files) while a workload runs, `replicate -once`,
 * `restore` and `ltx`; a seeded workload; and the native v0.5 read side applied to a file.
 *
 * Child processes are spawned asynchronously: fauxqs serves S3 on this process' event loop.
 * litestream 0.5's AWS SDK refuses `AWS_CA_BUNDLE` with the custom HTTP client it uses for
 * non-AWS endpoints ("unable to add custom RootCAs HTTPClient"), so the child's environment
 * leaves it out.
 */
import { LitestreamConfig, LtxReplica, ReplicaStore } from "@effect-litestream/core"
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as NodePath from "node:path"
import { ACCESS_KEY_ID, SECRET, settings } from "./Harness.js"
import { litestreamV5Bin } from "./Peers.js"
import * as Sqlite from "./Sqlite.js"

/** litestream's environment: the test credentials, no CA bundle (see above). */
export const v5Env = (): NodeJS.ProcessEnv => {
  const { AWS_CA_BUNDLE: _bundle, AWS_ACCESS_KEY_ID: _id, AWS_SECRET_ACCESS_KEY: _secret, ...rest } = process.env
  return { ...rest, LITESTREAM_ACCESS_KEY_ID: ACCESS_KEY_ID, LITESTREAM_SECRET_ACCESS_KEY: SECRET }
}

export interface Run {
  readonly code: number | null
  readonly out: string
}

/** Runs litestream 0.5.17 with `args` to its end (killed after `timeoutMs`). */
export const runV5 = (args: ReadonlyArray<string>, timeoutMs = 60_000): Promise<Run> =>
  new Promise((resolve, reject) => {
    const child = ChildProcess.spawn(litestreamV5Bin(), args, { env: v5Env(), stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    child.stdout.on("data", (b: Buffer) => (out += b.toString()))
    child.stderr.on("data", (b: Buffer) => (out += b.toString()))
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
    child.on("error", reject)
    child.on("close", (code) => { // "close": after the last output was read
      clearTimeout(timer)
      resolve({ code, out })
    })
  })

/** Intervals of a replicate run (milliseconds). */
export interface ReplicateOptions {
  readonly syncMs?: number
  /** compaction intervals of levels 1, 2, ... */
  readonly levelsMs?: ReadonlyArray<number>
  readonly snapshotMs?: number
}

const ms = (n: number) => `${n}ms`

/** The config file of a run. */
export const configFor = (db: string, url: string, options: ReplicateOptions = {}): string =>
  [
    "levels:",
    ...(options.levelsMs ?? [1000, 3000]).map((n) => `  - interval: ${ms(n)}`),
    "snapshot:",
    `  interval: ${ms(options.snapshotMs ?? 4000)}`,
    "  retention: 1h",
    "l0-retention: 1h",
    "dbs:",
    `  - path: ${JSON.stringify(db)}`,
    "    monitor-interval: 50ms",
    "    replica:",
    `      url: ${JSON.stringify(url)}`,
    `      sync-interval: ${ms(options.syncMs ?? 100)}`,
    ""
  ].join("\n")

/**
 * Runs `litestream replicate` on `db` while `body` runs, then SIGTERM (litestream's final sync)
 * and waits for it to exit; returns its exit code and output.
 */
export const replicateV5 = async (
  dir: string,
  db: string,
  url: string,
  body: () => Promise<void>,
  options: ReplicateOptions = {}
): Promise<Run> => {
  const config = NodePath.join(dir, "litestream-v5.yml")
  fs.writeFileSync(config, configFor(db, url, options))
  const child = ChildProcess.spawn(litestreamV5Bin(), ["replicate", "-config", config], {
    env: v5Env(),
    stdio: ["ignore", "pipe", "pipe"]
  })
  let out = ""
  child.stdout.on("data", (b: Buffer) => (out += b.toString()))
  child.stderr.on("data", (b: Buffer) => (out += b.toString()))
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  try {
    await sleep(300)
    await body()
    await sleep(400)
  } finally {
    child.kill("SIGTERM")
  }
  const code = await Promise.race([exited, sleep(20_000).then(() => (child.kill("SIGKILL"), -1))])
  return { code, out }
}

export const sleep = (n: number) => new Promise<void>((resolve) => setTimeout(resolve, n))

/** `litestream restore -o out [-txid X | -timestamp T] url`. */
export const restoreV5 = (url: string, out: string, target: { readonly txid?: number; readonly timestamp?: Date } = {}) =>
  runV5([
    "restore",
    "-o",
    out,
    ...(target.txid !== undefined ? ["-txid", target.txid.toString(16).padStart(16, "0")] : []),
    ...(target.timestamp !== undefined ? ["-timestamp", target.timestamp.toISOString()] : []),
    url
  ])

/** One row of `litestream ltx -level all`. */
export interface LtxRow {
  readonly level: number
  readonly minTxid: number
  readonly maxTxid: number
  readonly size: number
  readonly created: string
}

/** `litestream ltx -level all url`, parsed. */
export const ltxV5 = async (url: string): Promise<Array<LtxRow>> => {
  const run = await runV5(["ltx", "-level", "all", url])
  if (run.code !== 0) throw new Error(`litestream ltx failed (${run.code}): ${run.out}`)
  return run.out.trim().split("\n").slice(1).map((line) => {
    const [level, min, max, size, created] = line.trim().split(/\s+/)
    return { level: Number(level), minTxid: parseInt(min!, 16), maxTxid: parseInt(max!, 16), size: Number(size), created: created! }
  })
}

/** A seeded random source. */
export const seeded = (seed: number) => {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return x / 0x100000000
  }
}

/** Creates the workload's tables at `pageSize`. */
export const createWorkloadDb = (path: string, pageSize: number): Database.Database => {
  const db = Sqlite.open(path)
  db.pragma(`page_size = ${pageSize}`)
  db.exec("VACUUM") // the page size applies to a WAL database only through a VACUUM
  db.exec("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, payload TEXT NOT NULL)")
  db.exec("CREATE TABLE IF NOT EXISTS blobs (id INTEGER PRIMARY KEY, data BLOB)")
  return db
}

/** One step of the workload: growth, updates, deletes, blobs over overflow pages, shrinking, VACUUM. */
export const workloadStep = (db: Database.Database, random: () => number, next: { id: number }) => {
  const pick = random()
  if (pick < 0.4) {
    const rows = Sqlite.rows(1 + Math.floor(random() * 60), next.id)
    next.id += rows.length
    Sqlite.insertRows(db, rows)
  } else if (pick < 0.55) {
    db.prepare("UPDATE items SET payload = payload || ? WHERE id % ? = 0").run("-u", 2 + Math.floor(random() * 5))
  } else if (pick < 0.65) {
    db.prepare("DELETE FROM items WHERE id % ? = 0").run(3 + Math.floor(random() * 7))
  } else if (pick < 0.8) {
    db.prepare("INSERT INTO blobs (data) VALUES (randomblob(?))").run(1000 + Math.floor(random() * 150_000))
  } else if (pick < 0.9) {
    db.prepare("DELETE FROM blobs WHERE id % 2 = 0").run()
  } else if (pick < 0.95) {
    // shrink: most of the data goes, then VACUUM gives the pages back
    db.prepare("DELETE FROM blobs").run()
    db.prepare("DELETE FROM items WHERE id % 4 != 0").run()
    db.exec("VACUUM")
  } else {
    db.exec("VACUUM")
  }
}

/** The rows of both workload tables, for comparing restores. */
export const contents = (path: string) => {
  const db = new Database(path, { readonly: true, fileMustExist: true })
  try {
    const items = db.prepare("SELECT id, name, payload FROM items ORDER BY id").all()
    const blobs = db.prepare("SELECT id, length(data) AS n, hex(substr(data, 1, 48)) || hex(substr(data, -48)) AS h FROM blobs ORDER BY id").all()
    return { items, blobs }
  } finally {
    db.close()
  }
}

/** The native v0.5 read side into the file `out` (the settings of the tests, `url` as replica). */
export const nativeV5 = (folder: string, url: string, out: string, target: LtxReplica.Target = {}) =>
  Effect.gen(function*() {
    const config = yield* LitestreamConfig.make(settings(folder, url))
    const store = yield* ReplicaStore.make(config)
    const plan = yield* LtxReplica.planFor(store, target)
    if ("_tag" in plan) return plan
    const applied = yield* Effect.acquireUseRelease(
      Effect.sync(() => fs.openSync(out, "w")),
      (fd) =>
        LtxReplica.apply(store, plan, {
          writeAt: (position, bytes) => Effect.sync(() => void fs.writeSync(fd, bytes, 0, bytes.length, position)),
          end: (size) => Effect.sync(() => fs.ftruncateSync(fd, size))
        }),
      (fd) => Effect.sync(() => fs.closeSync(fd))
    )
    return { ...applied, files: plan.files.map((f) => f.key) }
  }).pipe(Effect.provide([NodeContext.layer, NodeHttpClient.layer]))
