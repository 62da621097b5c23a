/**
 * 5. Replication lag under continuous replication: the time from a committed write to the "wal
 *    segment written" event that covers it, p50 and p99, with the library's short sync interval
 *    (100 ms) and, for comparison, litestream's default (1 s).
 */
import * as fs from "node:fs"
import type { Suite, TargetResult } from "../lib/context.ts"
import { interleaved, Samples, sumCalls } from "../lib/measure.ts"
import { type ReplicationProbe, replicationProbe } from "../lib/probe.ts"
import { errorsBlock, passFail, table } from "../lib/report.ts"
import { millis, percentile } from "../lib/stats.ts"

type Variant = "s3-100ms" | "s3-1s" | "file-100ms" | "file-1s"
const VARIANTS: ReadonlyArray<Variant> = ["s3-100ms", "file-100ms", "s3-1s", "file-1s"]
const REPLICA = { s3: "S3 (loopback)", file: "file://" } as const
const WRITE_EVERY_MS = 50

const parse = (v: Variant) => {
  const [replica, interval] = v.split("-") as ["s3" | "file", string]
  return { replica, syncIntervalMs: interval === "1s" ? 1000 : 100 }
}

export const suite: Suite = {
  name: "lag",
  sizes: ["1MB"],
  run: async (context) => {
    const reps = context.quick ? 1 : 2
    const seconds = context.quick ? 10 : 30
    const samples = new Samples<Variant>()
    const probes = new Map<Variant, Array<ReplicationProbe>>()
    await interleaved(samples, reps, VARIANTS, async (variant, rep) => {
      const folder = context.folder(`lag-${variant}-${rep}`)
      try {
        const { replica, syncIntervalMs } = parse(variant)
        const probe = await replicationProbe(context, {
          replica,
          seconds,
          syncIntervalMs,
          writeEveryMs: WRITE_EVERY_MS,
          gcEveryMs: seconds * 1000 * 10, // none during the run
          folder,
          prefix: `lag/${variant}/${rep}`
        })
        probes.set(variant, [...(probes.get(variant) ?? []), probe])
        return percentile(probe.lagsMs, 50) / 1000
      } finally {
        fs.rmSync(folder, { recursive: true, force: true })
        await context.s3.empty(context.bucket)
      }
    }, context.log, "lag")

    const lagsOf = (v: Variant) => (probes.get(v) ?? []).flatMap((p) => p.lagsMs)
    const sum = (v: Variant, f: (p: ReplicationProbe) => number) => (probes.get(v) ?? []).reduce((a, p) => a + f(p), 0)
    const rows = VARIANTS.map((v) => {
      const { replica, syncIntervalMs } = parse(v)
      const lags = lagsOf(v)
      const writes = sum(v, (p) => p.writes)
      const segments = sum(v, (p) => p.events["WalSegmentWritten"] ?? 0)
      const secs = sum(v, (p) => p.loadSeconds)
      return [
        REPLICA[replica],
        syncIntervalMs === 100 ? "**100 ms** (library default)" : "1 s (litestream default)",
        `${writes} (${(writes / secs).toFixed(1)}/s)`,
        `${segments} (${(writes / segments).toFixed(1)} writes each)`,
        `**${millis(percentile(lags, 50))}**`,
        millis(percentile(lags, 90)),
        `**${millis(percentile(lags, 99))}**`,
        millis(percentile(lags, 100)),
        String(probes.get(v)?.length ?? 0)
      ]
    })
    const allChecked = VARIANTS.every((v) => (probes.get(v)?.length ?? 0) === reps) && samples.allErrors().length === 0
    const p = (v: Variant, q: number) => millis(percentile(lagsOf(v), q))
    const targets: Array<TargetResult> = [{
      target: "5. lag, 100 ms interval: every write reached the replica (restored and counted)",
      measured: `S3 p50 ${p("s3-100ms", 50)} / p99 ${p("s3-100ms", 99)}; file:// p50 ${p("file-100ms", 50)} / p99 ${p("file-100ms", 99)}`,
      pass: allChecked
    }]

    const markdown = `## 5. Replication lag under continuous replication

Each run is a fresh Node process (\`bench/replication-probe.mjs\`, on the built packages) that
copies the 1 MB database, starts \`Replicate.replicate\` in a scope and, for ${seconds} s, writes
one row (about 300 bytes, one transaction) every ${WRITE_EVERY_MS} ms on average (jittered by ±50%,
on a schedule of absolute times, so a slow write does not slow the load), each as
\`replication.syncAfter(insert)\`. The lag of a write is the time from its commit to the moment
\`syncAfter\` returns: when the library reads litestream's "wal segment written" line that covers
it (\`syncAfter\` waits for a database sync that started after the commit and for the replica to
reach its position; it never sleeps). Writes start as soon as \`replicate\` returns (litestream has
initialised the database; its first snapshot may still be on its way, so the first writes wait for it).
After the run, the scope closes (litestream's final sync must succeed), the library restores the
replica, and the restored database must hold every row written; a run that fails a check is
not measured. ${reps} run(s) per variant, variants interleaved; percentiles over all writes of a
variant (nearest rank).

${table(["replica", "monitor and sync interval", "writes", "WAL segments written", "lag p50", "p90", "p99", "max", "runs"], rows)}
${errorsBlock(samples.allErrors())}
- Target: ${targets[0]!.target}: ${targets[0]!.measured}, ${passFail(allChecked)}
- The interval sets the lag: litestream looks at the database once an interval, then copies the
  new WAL frames to the replica, so a write waits up to one interval (half of one on average) for
  the next look, then for the copy.
`
    return { title: "Replication lag", markdown, targets, libraryCalls: sumCalls(VARIANTS.map((v) => samples.calls(v))) }
  }
}
