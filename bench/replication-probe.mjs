// One run of continuous replication under a steady write load, in a fresh Node process (started
// by bench/suites/continuous.ts), so that its memory is the library's and the writer's only.
//
//   EFFECT_LITESTREAM_PROBE_ARGS='{"target":{...},"seconds":600,...}' node --expose-gc bench/replication-probe.mjs
//
// (arguments in the environment, not argv: they hold the replica's credentials)
//
// It opens the database (a copy of a sample database) with better-sqlite3, starts
// `Replicate.replicate` in a scope, subscribes to its events (counted, as an application that
// watches them would), and writes one row every `writeEveryMs` on average (jittered: ±50%),
// each as `replication.syncAfter(insert)`, which returns when the replica holds that write: the
// lag is the time from the commit to that moment (the "wal segment written" event that covers
// it). Every second it samples the memory of this process and of litestream; every
// `gcEveryMs` it runs a full GC and records the heap still in use (what a leak would grow).
// Then it closes the scope (litestream's final sync), restores the replica with the library and
// counts the rows on both sides. Prints one JSON line.
import { Replicate, Restore } from "@effect-litestream/core"
import { NodeLitestream } from "@effect-litestream/node"
import Database from "better-sqlite3"
import { Cause, Effect, Exit, FiberSet, Logger, LogLevel, Stream } from "effect"
import { readFileSync } from "node:fs"
import * as path from "node:path"
import { INSERT, prng, rows } from "./lib/rows.mjs"

const {
  target,
  seconds,
  writeEveryMs = 50,
  syncIntervalMs = 100,
  sampleEveryMs = 1000,
  gcEveryMs = 60_000,
  restoreTo
} = JSON.parse(process.env.EFFECT_LITESTREAM_PROBE_ARGS ?? "{}")

const rssOf = (pid) => {
  try {
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN) * 1024
  } catch {
    return NaN
  }
}

// Preallocated, so that the probe's own bookkeeping does not grow with time.
const maxWrites = Math.ceil((seconds * 1000) / (writeEveryMs / 2)) + 10
const lags = new Float64Array(maxWrites)
const maxSamples = Math.ceil((seconds * 1000) / sampleEveryMs) + 10
const samples = { t: new Float64Array(maxSamples), rss: new Float64Array(maxSamples), heapUsed: new Float64Array(maxSamples), heapTotal: new Float64Array(maxSamples), external: new Float64Array(maxSamples), litestream: new Float64Array(maxSamples) }
const gcs = []
let sampled = 0
let writes = 0
let loadSeconds = 0
let synced = 0
let failed = 0
const errors = []
const events = {}

const dbPath = path.join(target.folder, target.db)
const db = new Database(dbPath)
db.pragma("journal_mode = WAL")
db.pragma("busy_timeout = 5000")
const insert = db.prepare(INSERT)
const row = rows(Date.now() & 0xffff)
const jitter = prng(7)
const rowsBefore = db.prepare("SELECT count(*) AS n FROM events").get().n

const write = Effect.sync(() => {
  insert.run(...row())
  writes++
  return performance.now()
})

const program = Effect.gen(function*() {
  const replicate = yield* Replicate.Replicate
  let started = 0
  const outcome = yield* Effect.scoped(Effect.gen(function*() {
    const replication = yield* replicate.replicate({ monitorInterval: `${syncIntervalMs} millis`, syncInterval: `${syncIntervalMs} millis` })
    yield* replication.events.pipe(
      Stream.runForEach((e) => Effect.sync(() => void (events[e._tag] = (events[e._tag] ?? 0) + 1))),
      Effect.forkScoped
    )
    started = performance.now()
    const sample = () => {
      const m = process.memoryUsage()
      const i = sampled++
      if (i >= maxSamples) return
      samples.t[i] = (performance.now() - started) / 1000
      samples.rss[i] = m.rss
      samples.heapUsed[i] = m.heapUsed
      samples.heapTotal[i] = m.heapTotal
      samples.external[i] = m.external
      samples.litestream[i] = rssOf(replication.pid)
    }
    const collect = () => {
      globalThis.gc?.()
      gcs.push({ t: (performance.now() - started) / 1000, heapUsed: process.memoryUsage().heapUsed, rss: process.memoryUsage().rss })
    }
    sample()
    const sampler = setInterval(sample, sampleEveryMs)
    const collector = setInterval(collect, gcEveryMs)
    yield* Effect.addFinalizer(() => Effect.sync(() => (clearInterval(sampler), clearInterval(collector))))

    const waiting = yield* FiberSet.make()
    const one = replication.syncAfter(write).pipe(
      Effect.matchCause({
        onSuccess: ([committedAt]) => {
          if (synced < maxWrites) lags[synced++] = performance.now() - committedAt
        },
        onFailure: (cause) => {
          failed++
          if (errors.length < 5) errors.push(Cause.pretty(cause).split("\n")[0])
        }
      })
    )
    const end = started + seconds * 1000
    // Writes on a schedule of absolute times, so a slow write does not slow the load down.
    let next = started
    while (performance.now() < end) {
      yield* FiberSet.run(waiting, one)
      next += writeEveryMs * (0.5 + jitter())
      yield* Effect.sleep(Math.max(0, next - performance.now()))
    }
    loadSeconds = (performance.now() - started) / 1000
    yield* FiberSet.awaitEmpty(waiting).pipe(Effect.timeout("30 seconds"), Effect.ignore)
    collect()
    sample()
    return replication
  }))
  const seconds_ = (performance.now() - started) / 1000
  const finalSync = yield* Effect.exit(outcome.await)
  const restored = yield* Effect.flatMap(Restore.Restore, (r) => r.restore({ output: restoreTo, timeout: "5 minutes" })).pipe(Effect.exit)
  return { seconds: seconds_, finalSync, restored }
})

const result = await program.pipe(
  Effect.provide(NodeLitestream.layer(target)),
  Logger.withMinimumLogLevel(LogLevel.None),
  Effect.runPromise
)
const rowsAfter = db.prepare("SELECT count(*) AS n FROM events").get().n
db.close()
let restoredRows = null
if (Exit.isSuccess(result.restored)) {
  const copy = new Database(restoreTo, { readonly: true })
  restoredRows = copy.prepare("SELECT count(*) AS n FROM events").get().n
  copy.close()
}

const slice = (a) => Array.from(a.subarray(0, Math.min(sampled, maxSamples)))
process.stdout.write(`${JSON.stringify({
  seconds: result.seconds,
  loadSeconds,
  writes,
  synced,
  failed,
  errors,
  lagsMs: Array.from(lags.subarray(0, synced)),
  events,
  samples: { t: slice(samples.t), rss: slice(samples.rss), heapUsed: slice(samples.heapUsed), heapTotal: slice(samples.heapTotal), external: slice(samples.external), litestream: slice(samples.litestream) },
  gcs,
  finalSync: Exit.isSuccess(result.finalSync) ? "Ok" : Cause.pretty(result.finalSync.cause).split("\n")[0],
  restore: Exit.isSuccess(result.restored) ? "Ok" : Cause.pretty(result.restored.cause).split("\n")[0],
  rowsBefore,
  rowsAfter,
  restoredRows
})}\n`)
