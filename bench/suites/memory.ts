/**
 * 4. Peak RSS of the Node process while `Replicate.once` backs up 1 MB, 100 MB and 1 GB
 *    databases: it must not grow with the database (litestream reads the database, not Node).
 */
import * as fs from "node:fs"
import { DB_NAME, freshCopy, SIZES, type Size, type Suite, type TargetResult } from "../lib/context.ts"
import * as Lib from "../lib/library.ts"
import { interleaved, Samples, sumCalls } from "../lib/measure.ts"
import { runProbe } from "../lib/probe.ts"
import { errorsBlock, passFail, table } from "../lib/report.ts"
import { median, mib, seconds } from "../lib/stats.ts"

/** "flat": at every size, the backup adds at most this much to the process's RSS before it */
const FLAT_TOLERANCE = 0.10
/** and what the largest backup adds is under this share of its database: not proportional to it */
const SHARE_OF_DATABASE = 0.01

interface Probe {
  readonly baseline: number
  readonly peak: number
  readonly hwm: number
  readonly heapPeak: number
  readonly litestreamPeak: number
  readonly samples: number
  readonly seconds: number
}

export const suite: Suite = {
  name: "memory",
  run: async (context) => {
    const reps = context.quick ? 1 : 3
    const sizes = context.sizes
    const samples = new Samples<Size>()
    const probes = new Map<Size, Array<Probe>>()
    await interleaved(samples, reps, sizes, async (size, rep) => {
      const warm = freshCopy(context, "1MB", `memory-warmup-${size}-${rep}`)
      const dir = freshCopy(context, size, `memory-${size}-${rep}`)
      try {
        const settings = (folder: string, prefix: string) => ({
          replicaUrl: context.s3.url(context.bucket, prefix),
          folder,
          db: DB_NAME,
          ...Lib.CREDENTIALS
        })
        const result = await runProbe<Probe>("rss-probe.mjs", {
          warmup: settings(warm, `memory/warmup/${size}/${rep}`),
          target: settings(dir, `memory/${size}/${rep}`)
        })
        probes.set(size, [...(probes.get(size) ?? []), result])
        return result.seconds
      } finally {
        fs.rmSync(warm, { recursive: true, force: true })
        fs.rmSync(dir, { recursive: true, force: true })
        await context.s3.empty(context.bucket)
      }
    }, context.log, "memory")

    const peakOf = (p: Probe) => (Number.isFinite(p.hwm) ? Math.max(p.hwm, p.peak) : p.peak)
    const m = (size: Size, f: (p: Probe) => number) => median((probes.get(size) ?? []).map(f))
    const rows = sizes.map((size) => [
      SIZES[size].label,
      mib(m(size, (p) => p.baseline)),
      mib(m(size, (p) => p.peak)),
      mib(m(size, (p) => p.hwm)),
      `**${mib(m(size, peakOf))}**`,
      `+${mib(m(size, (p) => peakOf(p) - p.baseline))}`,
      mib(m(size, (p) => p.heapPeak)),
      mib(m(size, (p) => p.litestreamPeak)),
      seconds(m(size, (p) => p.seconds)),
      String(probes.get(size)?.length ?? 0)
    ])
    // Growth is measured within each process (peak over its own baseline): the baselines of
    // separate processes differ by a few MiB whatever they back up.
    const growth = (size: Size) => m(size, (p) => peakOf(p) / p.baseline - 1)
    const largest = sizes[sizes.length - 1]!
    const worst = sizes.reduce((a, size) => (growth(size) > growth(a) ? size : a), sizes[0]!)
    const added = (size: Size) => m(size, (p) => peakOf(p) - p.baseline)
    const share = added(largest) / SIZES[largest].bytes
    const pass = sizes.every((size) => growth(size) <= FLAT_TOLERANCE) && share <= SHARE_OF_DATABASE &&
      samples.allErrors().length === 0
    const targets: Array<TargetResult> = [{
      target: `4. peak RSS flat: a backup adds at most ${FLAT_TOLERANCE * 100}% to the process's RSS, 1 MB to ${
        SIZES[largest].label
      }, and under ${SHARE_OF_DATABASE * 100}% of the database's size`,
      measured: sizes.map((size) => `${SIZES[size].label} +${mib(m(size, (p) => peakOf(p) - p.baseline))} (${(growth(size) * 100).toFixed(1)}%)`).join(", "),
      pass
    }]
    const small = m("1MB", peakOf)
    const large = m(largest, peakOf)

    const markdown = `## 4. Peak RSS of the Node process during a backup

Each measurement runs in a fresh Node process (\`bench/rss-probe.mjs\`, plain JavaScript on the
built packages, no TypeScript loader), with the S3 server in another process: only the
library's memory counts. The probe first backs up a 1 MB database to another replica (warm-up:
modules loaded, code compiled), runs a GC, takes the baseline RSS, resets the kernel's peak
(\`VmHWM\`, by writing 5 to \`/proc/self/clear_refs\`), then runs \`Replicate.once\` on the database to S3
while sampling \`process.memoryUsage().rss\` every 50 ms. "Peak" is the larger of the sampled
maximum and \`VmHWM\` (which also catches what falls between samples); the V8 heap's peak
\`heapTotal\` is sampled with it. litestream's own peak
(\`VmHWM\` of the child, sampled) is shown for comparison: it is a separate process.
${reps} measurement(s) per size, sizes interleaved; medians.

${table(["database", "baseline RSS", "peak RSS, sampled", "VmHWM", "peak", "peak − baseline", "V8 heap, peak total", "litestream peak RSS", "backup time", "runs"], rows)}
${errorsBlock(samples.allErrors())}
- Target: ${targets[0]!.target}: ${targets[0]!.measured}, ${passFail(pass)} (largest growth: ${SIZES[worst].label}, +${(growth(worst) * 100).toFixed(1)}%; with ${
      SIZES[largest].label
    }, ${(share * 100).toFixed(2)}% of the database).
- Across processes, the peak with ${SIZES[largest].label} is ${mib(large)} against ${mib(small)} with 1 MB (${
      large >= small ? "+" : ""
    }${mib(large - small)}), part of it a higher baseline before the backup started. What a longer
  backup adds is garbage made while litestream runs (its log lines read and parsed), not the
  database: Node never reads it. Whether that garbage stays bounded over a long run is what
  section 6 measures.
`
    // Each probe makes two calls (warm-up and measured); a failed probe counts as one failed call.
    const probeCalls = sumCalls(sizes.map((size) => samples.calls(size)))
    return { title: "Peak RSS", markdown, targets, libraryCalls: { failed: probeCalls.failed, total: probeCalls.total * 2 } }
  }
}
