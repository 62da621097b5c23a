/**
 * 3. Backup of 100 MB and 1 GB databases: the library's `once` against raw litestream driven by
 *    the same generated config and the same stop protocol (the fair comparison: what the library
 *    adds), and against raw litestream with its defaults until its replica is in sync.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { type Context, DB_NAME, fileUrl, freshCopy, SIZES, type Size, type Suite, type TargetResult } from "../lib/context.ts"
import * as Lib from "../lib/library.ts"
import { interleaved, Samples, sumCalls } from "../lib/measure.ts"
import * as Raw from "../lib/raw.ts"
import { errorsBlock, passFail, table } from "../lib/report.ts"
import { median, percent, range, ratio, ratioPercent, seconds } from "../lib/stats.ts"
import { replicaHasSnapshot } from "../lib/verify.ts"

const TARGET = 1.10

type Variant = "library" | "same" | "defaults"
type Replica = "s3" | "file"

interface Case {
  readonly size: Size
  readonly replica: Replica
  readonly reps: number
}

const cases = (context: Context): Array<Case> => {
  const all: Array<Case> = [
    { size: "100MB", replica: "s3", reps: context.quick ? 2 : 7 },
    { size: "100MB", replica: "file", reps: context.quick ? 2 : 7 },
    { size: "1GB", replica: "s3", reps: 5 }
  ]
  return all.filter((c) => context.sizes.includes(c.size))
}

/** The replica holds the snapshot and the WAL after it: the first "wal segment written" after "snapshot written". */
const inSync = (line: string, lines: ReadonlyArray<string>) => Raw.isWalSegmentWritten(line) && lines.some(Raw.isSnapshotWritten)

const runOne = async (context: Context, c: Case, variant: Variant, rep: number): Promise<number> => {
  const dir = freshCopy(context, c.size, `backup-${c.size}-${c.replica}-${variant}-${rep}`)
  const replicaDir = path.join(dir, "replica")
  try {
    const replicaUrl = c.replica === "s3"
      ? context.s3.url(context.bucket, `backup/${c.size}/${variant}/${rep}`)
      : fileUrl(replicaDir)
    const target = { replicaUrl, folder: dir, db: DB_NAME }
    const raw = await Lib.rawInputs(target)
    let time: number
    switch (variant) {
      case "library":
        time = (await Lib.once(target)).seconds
        break
      case "same":
        // The same litestream.yml as `once`, written before the clock starts (the library writes
        // its own inside the measured time), timed until the replica is in sync.
        fs.writeFileSync(path.join(dir, "litestream.yml"), raw.onceConfig)
        time = (await Raw.untilLine(raw.binary, ["replicate", "-config", path.join(dir, "litestream.yml")], raw.env, inSync, 600_000))
          .seconds
        break
      case "defaults":
        time = (await Raw.untilLine(raw.binary, ["replicate", raw.dbPath, replicaUrl], raw.env, inSync, 600_000)).seconds
        break
    }
    await replicaHasSnapshot(raw.binary, replicaUrl, raw.env)
    return time
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

export const suite: Suite = {
  name: "backup, 100 MB and 1 GB",
  run: async (context) => {
    const rows: Array<Array<string>> = []
    const targets: Array<TargetResult> = []
    const errors: Array<string> = []
    const calls: Array<{ failed: number; total: number }> = []
    for (const c of cases(context)) {
      const label = `backup ${SIZES[c.size].label} ${c.replica}`
      const samples = new Samples<Variant>()
      await interleaved(samples, c.reps, ["library", "same", "defaults"], async (v, rep) => {
        try {
          return await runOne(context, c, v, rep)
        } finally {
          if (c.replica === "s3") await context.s3.empty(context.bucket)
        }
      }, context.log, label)
      errors.push(...samples.allErrors().map((e) => `${label}: ${e}`))
      calls.push(samples.calls("library"))
      const lib = median(samples.of("library"))
      const same = median(samples.of("same"))
      const defaults = median(samples.of("defaults"))
      const ok = lib / same <= TARGET && samples.failures("library") === 0
      rows.push([
        SIZES[c.size].label,
        c.replica === "s3" ? "S3 (loopback)" : "file://",
        `**${seconds(lib)}** (${range(samples.of("library"))})`,
        `**${seconds(same)}** (${range(samples.of("same"))})`,
        `${ratio(lib, same)} (${percent(lib, same)})`,
        ratioPercent(median(samples.pairedRatios("library", "same"))),
        `${seconds(defaults)} (${range(samples.of("defaults"))})`,
        ratio(lib, defaults),
        `${samples.of("library").length}+${samples.of("same").length}+${samples.of("defaults").length}`,
        passFail(ok)
      ])
      targets.push({
        target: `3. backup ${SIZES[c.size].label} ${c.replica === "s3" ? "S3" : "file://"}: library within 10% of raw (same config)`,
        measured: percent(lib, same),
        pass: ok
      })
    }

    const markdown = `## 3. Backup of 100 MB and 1 GB databases

Every run backs a fresh copy of the database (copied and flushed to disk before the clock
starts) up to a fresh, empty replica location; after each run (not timed) \`litestream snapshots\`
must list a snapshot there. The three variants alternate within each repetition.

- **library**: \`Replicate.once()\`, from the call to its success. What it does: writes a
  litestream.yml (monitor and sync interval 100 ms, JSON logs, debug level) in a temporary folder,
  runs \`litestream replicate -config\`, waits until litestream's log says the replica is in sync
  (at this commit: a WAL segment written up to the database's position, after the snapshot),
  sends SIGTERM, and succeeds when litestream has run its final sync and exited 0. So its time
  covers the replica being in sync *and* litestream's shutdown and exit.
- **raw, same config**, the baseline of the 10% target: the *same* litestream.yml (from the same
  public builder, \`LitestreamCommand.configFile\`, with the options \`once\` uses; written before the
  clock starts), the same environment, \`litestream replicate -config FILE\`, timed from \`spawn\` to
  the moment the replica is in sync: the first "wal segment written" after "snapshot written"
  (the snapshot and the WAL after it are on the replica); then it is killed (not timed). The
  library does strictly more (its own config file, the reaction to the log, SIGTERM, the final
  sync, the exit), so the ratio is the library's whole cost over litestream's own work.
  (Raw litestream is killed rather than stopped with SIGTERM: SIGTERM while litestream is still
  in the sync that follows the snapshot hits a shutdown race in litestream v0.3.13; see Notes.)
- **raw, defaults**, for information: what a user of plain litestream gets: \`litestream replicate DB URL\`
  (1 s intervals), timed the same way, to the first "wal segment written" after "snapshot written".

"library / same" is the ratio of the medians (the target); "paired" is the median of the ratios
of the library's run and the same-config run of each repetition, which ran one after the other.

${table([
  "database", "replica", "library: median (min–max)", "raw, same config", "library / same", "paired, median", "raw, defaults, until in sync",
  "library / defaults", "runs", "within 10%"
], rows)}
${errorsBlock(errors)}`
    return { title: "Backup, 100 MB and 1 GB", markdown, targets, libraryCalls: sumCalls(calls) }
  }
}
