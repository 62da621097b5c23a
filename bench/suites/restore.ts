/**
 * 2. Restore of 1 MB, 100 MB and 1 GB databases: the library's `Restore.restore` (through
 *    litestream, and native) against raw `litestream restore -o OUT URL`, from the same replica,
 *    interleaved; the Node process's peak RSS growth during each native restore.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { type Context, copyInto, DB_NAME, fileUrl, freshCopy, SIZES, type Size, type Suite, type TargetResult } from "../lib/context.ts"
import * as Lib from "../lib/library.ts"
import { interleaved, Samples, sumCalls } from "../lib/measure.ts"
import * as Raw from "../lib/raw.ts"
import { errorsBlock, passFail, table } from "../lib/report.ts"
import { median, percent, range, ratio, ratioPercent, seconds } from "../lib/stats.ts"
import { restoredIsWhole } from "../lib/verify.ts"

const TARGET = 1.05
/** native / raw: no process, no checkpoint per WAL index; at 1 GB the decoding shows */
const nativeTarget = (size: Size) => (size === "1GB" ? 1.2 : 1.0)
/** the native restore streams: the process grows by at most this much, whatever the size */
const RSS_TARGET_MIB = 64

type Variant = "library" | "native" | "raw"
type Replica = "s3" | "file"

interface Case {
  readonly size: Size
  readonly replica: Replica
  readonly reps: number
}

const cases = (context: Context): Array<Case> => {
  const q = context.quick
  const all: Array<Case> = [
    { size: "1MB", replica: "s3", reps: q ? 3 : 15 },
    { size: "1MB", replica: "file", reps: q ? 3 : 15 },
    { size: "100MB", replica: "s3", reps: q ? 2 : 9 },
    { size: "100MB", replica: "file", reps: q ? 2 : 9 },
    { size: "1GB", replica: "s3", reps: 7 },
    { size: "1GB", replica: "file", reps: 5 }
  ]
  return all.filter((c) => context.sizes.includes(c.size))
}

export const suite: Suite = {
  name: "restore",
  run: async (context) => {
    const rows: Array<Array<string>> = []
    const targets: Array<TargetResult> = []
    const errors: Array<string> = []
    const calls: Array<{ failed: number; total: number }> = []
    const nativeRows: Array<Array<string>> = []
    for (const c of cases(context)) {
      const db = context.databases.get(c.size)!
      const label = `restore ${SIZES[c.size].label} ${c.replica}`
      // The replica: one backup with the library, not timed. Every restore reads this same replica.
      const source = freshCopy(context, c.size, `restore-source-${c.size}-${c.replica}`)
      const replicaUrl = c.replica === "s3"
        ? context.s3.url(context.bucket, `restore/${c.size}`)
        : fileUrl(context.folder(`restore-replica-${c.size}`))
      const target = { replicaUrl, folder: source, db: DB_NAME }
      const samples = new Samples<Variant>()
      for (let attempt = 1;; attempt++) {
        try {
          await Lib.once(target)
          samples.untimedRun("library")
          break
        } catch (e) {
          samples.untimedRun("library", e, "backup to set up the replica")
          context.log(`  ${label}: the backup that sets up the replica FAILED: ${e instanceof Error ? e.message.split("\n")[0] : e}`)
          if (attempt === 3) throw e
          if (c.replica === "s3") await context.s3.empty(context.bucket)
          else fs.rmSync(new URL(replicaUrl).pathname, { recursive: true, force: true })
          fs.rmSync(source, { recursive: true, force: true })
          copyInto(context, c.size, source)
        }
      }
      fs.rmSync(source, { recursive: true, force: true })
      const raw = await Lib.rawInputs(target)
      const outputs = context.folder(`restore-out-${c.size}-${c.replica}`)

      // peak RSS over the process's own before each native restore, sampled every 5 ms
      const growth: Array<number> = []
      await interleaved(samples, c.reps, ["library", "native", "raw"], async (variant, rep) => {
        const out = path.join(outputs, `${variant}-${rep}.sqlite`)
        try {
          let time: number
          if (variant === "library") {
            const r = await Lib.restore(target, out)
            if (r.value._tag !== "Restored") throw new Error(`restore skipped: ${r.value.reason}`)
            time = r.seconds
          } else if (variant === "native") {
            ;(globalThis as { gc?: () => void }).gc?.()
            const before = process.memoryUsage().rss
            let peak = before
            const sampler = setInterval(() => {
              peak = Math.max(peak, process.memoryUsage().rss)
            }, 5)
            try {
              const r = await Lib.nativeRestore(target, out)
              if (r.value._tag !== "Restored") throw new Error(`restore skipped: ${r.value.reason}`)
              time = r.seconds
            } finally {
              clearInterval(sampler)
            }
            if (rep >= 0) growth.push(Math.max(peak, process.memoryUsage().rss) - before)
          } else {
            const r = await Raw.toExit(raw.binary, ["restore", "-o", out, replicaUrl], raw.env, 600_000)
            if (r.exitCode !== 0) throw new Error(`litestream restore exit ${r.exitCode}: ${r.lines.slice(-2).join(" ")}`)
            time = r.seconds
          }
          // The first restore of each variant is checked whole (outside the measured time).
          if (rep === 0) restoredIsWhole(out, db.rows)
          else if (fs.statSync(out).size < db.bytes * 0.9) throw new Error(`restored only ${fs.statSync(out).size} bytes`)
          return time
        } finally {
          // Raw litestream leaves OUT.tmp-wal and OUT.tmp-shm behind (the library removes its own).
          for (const f of [out, `${out}-wal`, `${out}-shm`, `${out}.tmp-wal`, `${out}.tmp-shm`]) fs.rmSync(f, { force: true })
        }
      }, context.log, label, { warmup: ["library", "native", "raw"] })
      errors.push(...samples.allErrors().map((e) => `${label}: ${e}`))
      calls.push(samples.calls("library"), samples.calls("native"))
      if (c.replica === "s3") await context.s3.empty(context.bucket)
      else fs.rmSync(new URL(replicaUrl).pathname, { recursive: true, force: true })

      const lib = median(samples.of("library"))
      const rawMedian = median(samples.of("raw"))
      const ok = lib / rawMedian <= TARGET && samples.failures("library") === 0
      rows.push([
        SIZES[c.size].label,
        c.replica === "s3" ? "S3 (loopback)" : "file://",
        `**${seconds(lib)}** (${range(samples.of("library"))})`,
        `**${seconds(rawMedian)}** (${range(samples.of("raw"))})`,
        `${ratio(lib, rawMedian)} (${percent(lib, rawMedian)})`,
        ratioPercent(median(samples.pairedRatios("library", "raw"))),
        `${samples.of("library").length}+${samples.of("raw").length}`,
        passFail(ok)
      ])
      targets.push({
        target: `2. restore ${SIZES[c.size].label} ${c.replica === "s3" ? "S3" : "file://"}: library within 5% of raw`,
        measured: `${percent(lib, rawMedian)}`,
        pass: ok
      })
      const nat = median(samples.of("native"))
      const natOk = nat / rawMedian <= nativeTarget(c.size) && samples.failures("native") === 0
      const peakMiB = growth.length === 0 ? NaN : Math.max(...growth) / 1024 / 1024
      const rssOk = peakMiB <= RSS_TARGET_MIB
      nativeRows.push([
        SIZES[c.size].label,
        c.replica === "s3" ? "S3 (loopback)" : "file://",
        `**${seconds(nat)}** (${range(samples.of("native"))})`,
        `**${seconds(rawMedian)}**`,
        `${ratio(nat, rawMedian)} (${percent(nat, rawMedian)})`,
        ratioPercent(median(samples.pairedRatios("native", "raw"))),
        `${ratio(nat, lib)}`,
        `+${peakMiB.toFixed(1)} MiB`,
        `${samples.of("native").length}`,
        passFail(natOk && rssOk)
      ])
      targets.push({
        target: `2. native restore ${SIZES[c.size].label} ${c.replica === "s3" ? "S3" : "file://"}: at most ${nativeTarget(c.size).toFixed(1)}x raw, peak RSS +${RSS_TARGET_MIB} MiB at most`,
        measured: `${ratio(nat, rawMedian)}, +${peakMiB.toFixed(1)} MiB`,
        pass: natOk && rssOk
      })
    }

    const markdown = `## 2. Restore

The replica is written once per case by \`Replicate.once\` (not timed); then each repetition
restores it twice, once per variant, in alternating order, to a new output file that is deleted
afterwards, after one untimed warm-up restore per variant. The warm-up matters: the first restore
of a new replica is much slower than the next ones, whichever variant runs it (measured for 1 GB
from S3: 4–8 s instead of about 1.7 s, with litestream's system time about 3 s instead of 0.6 s and
the S3 server's CPU time 1 s instead of 0.1 s), and without a warm-up that cost fell on the first
timed run, the library's. After that, 1 GB restores on this machine are bimodal, about 1.6 s or
about 2.8 s (litestream's system time 0.3 s or 1.6 s) for either variant, often alternating from one
run to the next: hence 7 repetitions, and the paired column. The first restore of each variant is
checked (\`PRAGMA quick_check\` and the row count).

- library: \`Restore.restore({ output })\`, from the call to its success (the layer is built before the clock starts).
- raw: \`litestream restore -o OUT URL\`, from \`spawn\` to its exit (code 0).

"library / raw" is the ratio of the medians (the target); "paired" is the median of the ratios
of the two runs of each repetition, which ran back to back: less sensitive to the load drifting.

${table(["database", "replica", "library: median (min–max)", "raw: median (min–max)", "library / raw", "paired, median", "runs", "within 5%"], rows)}

### Native restore

- native: \`Restore.restore({ output })\` of \`NodeLitestream.layer(settings, { read: "native" })\`: the
  library reads the replica itself (listing, LZ4 frames, WAL frames), no litestream process; timed
  like "library", in the same rotation. Peak RSS: the Node process's RSS sampled every 5 ms during
  each native restore, over its RSS right before it (after a GC when \`--expose-gc\` is on), the
  largest over the repetitions.

${table(["database", "replica", "native: median (min–max)", "raw: median", "native / raw", "paired, median", "native / library", "peak RSS growth", "runs", "target"], nativeRows)}
${errorsBlock(errors)}`
    return { title: "Restore", markdown, targets, libraryCalls: sumCalls(calls) }
  }
}
