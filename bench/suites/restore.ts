/**
 * 2. Restore of 1 MB, 100 MB and 1 GB databases: the library's `Restore.restore` against raw
 *    `litestream restore -o OUT URL`, from the same replica, interleaved.
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

type Variant = "library" | "raw"
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
    { size: "1GB", replica: "s3", reps: 7 }
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

      await interleaved(samples, c.reps, ["library", "raw"], async (variant, rep) => {
        const out = path.join(outputs, `${variant}-${rep}.sqlite`)
        try {
          let time: number
          if (variant === "library") {
            const r = await Lib.restore(target, out)
            if (r.value._tag !== "Restored") throw new Error(`restore skipped: ${r.value.reason}`)
            time = r.seconds
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
      }, context.log, label, { warmup: ["library", "raw"] })
      errors.push(...samples.allErrors().map((e) => `${label}: ${e}`))
      calls.push(samples.calls("library"))
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
${errorsBlock(errors)}`
    return { title: "Restore", markdown, targets, libraryCalls: sumCalls(calls) }
  }
}
