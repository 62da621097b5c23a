/**
 * 6. Memory of the Node process over a long continuous replication (10 minutes; 1 in quick mode)
 *    under a steady write load: it must stay flat, not grow with time or log volume.
 */
import * as fs from "node:fs"
import type { Suite, TargetResult } from "../lib/context.ts"
import { type ReplicationProbe, replicationProbe } from "../lib/probe.ts"
import { errorsBlock, passFail, table } from "../lib/report.ts"
import { max, millis, mib, percentile } from "../lib/stats.ts"

/** "flat": the peak RSS of the second half within this of the first half's (after the warm-up) */
const FLAT_TOLERANCE = 0.05
const WRITE_EVERY_MS = 50

/** least-squares slope of ys over xs */
const slope = (xs: ReadonlyArray<number>, ys: ReadonlyArray<number>): number => {
  const n = xs.length
  const mx = xs.reduce((a, x) => a + x, 0) / n
  const my = ys.reduce((a, y) => a + y, 0) / n
  const num = xs.reduce((a, x, i) => a + (x - mx) * (ys[i]! - my), 0)
  const den = xs.reduce((a, x) => a + (x - mx) ** 2, 0)
  return num / den
}

export const suite: Suite = {
  name: "continuous",
  sizes: ["1MB"],
  run: async (context) => {
    const minutes = Number(process.env.BENCH_CONTINUOUS_MINUTES ?? (context.quick ? 1 : 10))
    const seconds = minutes * 60
    const warmup = Math.min(60, seconds / 10)
    const windows = 10
    const folder = context.folder("continuous")
    context.log(`  continuous: ${minutes} minute(s) of replication to S3 under a steady write load`)
    let probe: ReplicationProbe | undefined
    let error: string | undefined
    try {
      probe = await replicationProbe(context, {
        replica: "s3",
        seconds,
        syncIntervalMs: 100,
        writeEveryMs: WRITE_EVERY_MS,
        gcEveryMs: (seconds * 1000) / windows,
        folder,
        prefix: "continuous"
      })
    } catch (e) {
      error = e instanceof Error ? e.message : String(e)
      context.log(`  continuous: FAILED ${error}`)
    } finally {
      fs.rmSync(folder, { recursive: true, force: true })
      await context.s3.empty(context.bucket)
    }

    if (probe === undefined) {
      const targets: Array<TargetResult> = [{ target: `6. RSS flat over ${minutes} min of continuous replication`, measured: "run failed", pass: false }]
      return {
        title: "Continuous replication memory",
        markdown: `## 6. Memory over ${minutes} minutes of continuous replication\n${errorsBlock([error ?? "?"])}`,
        targets,
        libraryCalls: { failed: 1, total: 1 }
      }
    }

    const s = probe.samples
    const indices = s.t.map((_, i) => i)
    const within = (from: number, to: number) => indices.filter((i) => s.t[i]! >= from && s.t[i]! < to)
    const peak = (is: ReadonlyArray<number>, ys: ReadonlyArray<number>) => max(is.map((i) => ys[i]!))
    const middle = warmup + (seconds - warmup) / 2
    const first = within(warmup, middle)
    const second = within(middle, Infinity)
    const firstPeak = peak(first, s.rss)
    const secondPeak = peak(second, s.rss)
    const growth = secondPeak / firstPeak - 1
    const steady = within(warmup, Infinity)
    const rssSlope = slope(steady.map((i) => s.t[i]! / 60), steady.map((i) => s.rss[i]!)) // bytes per minute
    const gcs = probe.gcs.filter((g) => g.t >= warmup - 1)
    const heapFirst = gcs[0]?.heapUsed ?? NaN
    const heapLast = gcs[gcs.length - 1]?.heapUsed ?? NaN
    const heapGrowth = heapLast / heapFirst - 1
    const pass = growth <= FLAT_TOLERANCE && heapGrowth <= FLAT_TOLERANCE

    const step = seconds / windows
    const rows = Array.from({ length: windows }, (_, w) => {
      const is = within(w * step, (w + 1) * step + (w === windows - 1 ? 1 : 0))
      const gc = probe!.gcs.find((g) => g.t >= (w + 1) * step - 1 && g.t < (w + 1) * step + step / 2)
      return [
        `${(w * step / 60).toFixed(1)}–${((w + 1) * step / 60).toFixed(1)} min`,
        mib(peak(is, s.rss)),
        mib(peak(is, s.heapUsed)),
        mib(peak(is, s.external)),
        gc ? mib(gc.heapUsed) : "n/a",
        mib(peak(is, s.litestream))
      ]
    })
    const events = Object.entries(probe.events).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(", ")
    const targets: Array<TargetResult> = [{
      target: `6. RSS flat over ${minutes} min of continuous replication (peak of 2nd half within ${FLAT_TOLERANCE * 100}% of 1st; heap after GC too)`,
      measured: `RSS ${mib(firstPeak)} → ${mib(secondPeak)} (${growth >= 0 ? "+" : ""}${(growth * 100).toFixed(1)}%); heap after GC ${mib(heapFirst)} → ${mib(heapLast)}`,
      pass
    }]

    const markdown = `## 6. Memory over ${minutes} minute(s) of continuous replication

One fresh Node process (\`bench/replication-probe.mjs\`, as in section 5) replicates a copy of
the 1 MB database to the loopback S3 server for ${minutes} minute(s), with the library's default
100 ms interval, while it writes one row every ${WRITE_EVERY_MS} ms on average through
\`replication.syncAfter\` (so the library's waiters, its event parsing and its event stream all
work the whole time: a subscriber counts every event). Every second it samples its memory
(\`process.memoryUsage()\`) and litestream's RSS; every ${(seconds / windows).toFixed(0)} s it runs a full GC and
records the heap still in use (what a leak would grow). The first ${warmup.toFixed(0)} s are the
warm-up; "flat" compares the peak RSS of the two halves of the rest, and the heap in use after
GC at the end with the first one after the warm-up.

${table(["time", "RSS, peak", "V8 heap used, peak", "external, peak", "heap used after full GC", "litestream RSS, peak"], rows)}

- Writes: ${probe.writes} (${(probe.writes / probe.loadSeconds).toFixed(1)}/s), all replicated: the restored replica holds
  ${probe.restoredRows} rows, as the database (${probe.rowsBefore} before the run); final sync ${probe.finalSync}.
- Lag over the whole run: p50 ${millis(percentile(probe.lagsMs, 50))}, p99 ${millis(percentile(probe.lagsMs, 99))}, max ${
      millis(percentile(probe.lagsMs, 100))
    }.
- Events on the stream: ${events}.
- RSS after the warm-up: peak ${mib(firstPeak)} in the first half, ${mib(secondPeak)} in the second (${
      (growth * 100).toFixed(1)
    }%); least-squares trend ${(rssSlope / 1024 ** 2).toFixed(2)} MiB per minute.
- Heap in use after a full GC: ${mib(heapFirst)} after the warm-up, ${mib(heapLast)} at the end (${(heapGrowth * 100).toFixed(1)}%).
- litestream's own RSS (a Go process, not the library's memory): ${mib(s.litestream[steady[0] ?? 0] ?? NaN)} after the
  warm-up, ${mib(s.litestream[s.litestream.length - 1] ?? NaN)} at the end.
- Target: ${targets[0]!.target}: ${targets[0]!.measured}, ${passFail(pass)}
`
    return { title: "Continuous replication memory", markdown, targets, libraryCalls: { failed: 0, total: 1 } }
  }
}
