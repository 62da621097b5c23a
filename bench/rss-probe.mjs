// One measurement of the memory of a Node process running `Replicate.once`, in a fresh process
// (started by bench/suites/memory.ts), so that nothing else the bench did counts.
//
//   EFFECT_LITESTREAM_PROBE_ARGS='{"warmup":{...target},"target":{...target}}' node --expose-gc bench/rss-probe.mjs
//
// (arguments in the environment, not argv: they hold the replica's credentials)
//
// A target is { replicaUrl, folder, db, accessKeyId, secretAccessKey }. The warm-up backup (a
// small database, another replica) loads every module and JIT-compiles the code path first.
// Then: GC, baseline RSS, VmHWM reset (`5` to /proc/self/clear_refs), and the measured backup,
// while RSS is sampled every 50 ms, with the RSS of litestream (the child process) beside it.
// Prints one JSON line.
import { Replicate } from "@effect-litestream/core"
import { NodeLitestream } from "@effect-litestream/node"
import { Effect, Logger, LogLevel } from "effect"
import { readdirSync, readFileSync, writeFileSync } from "node:fs"

const { warmup, target } = JSON.parse(process.env.EFFECT_LITESTREAM_PROBE_ARGS ?? "{}")

const status = (pid = "self") => {
  try {
    const text = readFileSync(`/proc/${pid}/status`, "utf8")
    const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN) * 1024
    return { rss: kb("VmRSS"), hwm: kb("VmHWM") }
  } catch {
    return { rss: NaN, hwm: NaN }
  }
}

const children = () => {
  const pids = []
  for (const task of readdirSync("/proc/self/task")) {
    try {
      pids.push(...readFileSync(`/proc/self/task/${task}/children`, "utf8").trim().split(/\s+/).filter(Boolean))
    } catch {}
  }
  return pids
}

const once = (settings) =>
  Effect.flatMap(Replicate.Replicate, (r) => r.once({ timeout: "10 minutes" })).pipe(
    Effect.provide(NodeLitestream.layer(settings)),
    Logger.withMinimumLogLevel(LogLevel.None),
    Effect.runPromise
  )

await once(warmup)
globalThis.gc?.()
await new Promise((r) => setTimeout(r, 200))
globalThis.gc?.()
const baseline = status().rss
let hwmReset = true
try {
  writeFileSync("/proc/self/clear_refs", "5")
} catch {
  hwmReset = false
}

let peak = baseline
let heapPeak = process.memoryUsage().heapTotal
let litestreamPeak = 0
let samples = 0
const sample = () => {
  samples++
  const usage = process.memoryUsage()
  peak = Math.max(peak, usage.rss)
  heapPeak = Math.max(heapPeak, usage.heapTotal)
  for (const pid of children()) {
    const s = status(pid)
    if (Number.isFinite(s.hwm)) litestreamPeak = Math.max(litestreamPeak, s.hwm)
  }
}
const timer = setInterval(sample, 50)
const started = performance.now()
await once(target)
const seconds = (performance.now() - started) / 1000
clearInterval(timer)
sample()
const { hwm } = status()

process.stdout.write(`${JSON.stringify({ baseline, peak, hwm: hwmReset ? hwm : NaN, heapPeak, litestreamPeak, samples, seconds })}\n`)
