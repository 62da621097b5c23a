/**
 * 1. One-shot backup of a 1 MB database, to the loopback S3 server and to a file:// replica:
 *    the library's `Replicate.once` against raw litestream stopped at its first "snapshot
 *    written", and against pylts' `timed_replicate(5)` (run 5 s, then SIGKILL).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { type Context, DB_NAME, fileUrl, freshCopy, type Suite, type TargetResult } from "../lib/context.ts"
import * as Lib from "../lib/library.ts"
import { interleaved, Samples, sumCalls } from "../lib/measure.ts"
import * as Raw from "../lib/raw.ts"
import { errorsBlock, passFail, table } from "../lib/report.ts"
import { median, range, ratio, seconds } from "../lib/stats.ts"
import { replicaHasSnapshot } from "../lib/verify.ts"

/** pylts' `timed_replicate(N)`, N as in the issue */
const PYLTS_SECONDS = 5
const TARGET_SECONDS = 0.35
const TARGET_SPEEDUP = 10

type Variant = "library" | "raw" | "pylts"
type Replica = "s3" | "file"

const LABELS: Record<Variant, string> = {
  library: "(a) library `Replicate.once`",
  raw: "(b) raw `litestream replicate DB URL`, to first \"snapshot written\"",
  pylts: `(c) pylts \`timed_replicate(${PYLTS_SECONDS})\`: run ${PYLTS_SECONDS} s, then SIGKILL`
}

const runOne = async (context: Context, replica: Replica, variant: Variant, rep: number): Promise<number> => {
  const dir = freshCopy(context, "1MB", `one-shot-${replica}-${variant}-${rep}`)
  try {
    const replicaUrl = replica === "s3"
      ? context.s3.url(context.bucket, `one-shot/${variant}/${rep}`)
      : fileUrl(path.join(dir, "replica"))
    const target = { replicaUrl, folder: dir, db: DB_NAME }
    const raw = await Lib.rawInputs(target)
    let time: number
    switch (variant) {
      case "library":
        time = (await Lib.once(target)).seconds
        break
      case "raw":
        time = (await Raw.untilLine(raw.binary, ["replicate", raw.dbPath, replicaUrl], raw.env, Raw.isSnapshotWritten, 60_000))
          .seconds
        break
      case "pylts": {
        const run = await Raw.forSecondsThenKill(raw.binary, ["replicate", raw.dbPath, replicaUrl], raw.env, PYLTS_SECONDS)
        // pylts returns True only if litestream logged "snapshot written" before the kill.
        if (!run.lines.some(Raw.isSnapshotWritten)) throw new Error("no \"snapshot written\" within the timeout")
        time = run.seconds
        break
      }
    }
    await replicaHasSnapshot(raw.binary, replicaUrl, raw.env)
    return time
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

export const suite: Suite = {
  name: "one-shot backup, 1 MB",
  run: async (context) => {
    const reps = context.quick ? 3 : 9
    const variants: ReadonlyArray<Variant> = ["library", "raw", "pylts"]
    const replicas: ReadonlyArray<Replica> = ["s3", "file"]
    const results = new Map<Replica, Samples<Variant>>()
    for (const replica of replicas) {
      const samples = new Samples<Variant>()
      results.set(replica, samples)
      await interleaved(samples, reps, variants, (v, rep) => runOne(context, replica, v, rep), context.log, `one-shot ${replica}`, {
        warmup: ["library", "raw"]
      })
      if (replica === "s3") await context.s3.empty(context.bucket)
    }

    const rows: Array<Array<string>> = []
    const targets: Array<TargetResult> = []
    for (const replica of replicas) {
      const s = results.get(replica)!
      const lib = median(s.of("library"))
      for (const v of variants) {
        const m = median(s.of(v))
        rows.push([
          replica === "s3" ? "S3 (loopback)" : "file://",
          LABELS[v],
          `**${seconds(m)}**`,
          range(s.of(v)),
          `${s.of(v).length}${s.failures(v) ? ` (+${s.failures(v)} failed)` : ""}`,
          v === "library" ? "1.00x" : ratio(m, lib)
        ])
      }
      const where = replica === "s3" ? "S3" : "file://"
      targets.push({
        target: `1(a) ${where}: \`once\` median under ${TARGET_SECONDS} s`,
        measured: seconds(lib),
        pass: lib < TARGET_SECONDS && s.failures("library") === 0
      })
      const speedup = median(s.of("pylts")) / lib
      targets.push({
        target: `1(a) ${where}: \`once\` at least ${TARGET_SPEEDUP}x faster than pylts (c)`,
        measured: `${speedup.toFixed(1)}x`,
        pass: speedup >= TARGET_SPEEDUP && s.failures("library") === 0
      })
    }

    const db = context.databases.get("1MB")!
    const markdown = `## 1. One-shot backup of a 1 MB database

${db.rows} rows, ${(db.bytes / 1024 ** 2).toFixed(2)} MiB (LZ4 snapshot ${(db.snapshotBytes / 1024 ** 2).toFixed(2)} MiB).
${reps} repetitions per replica, after one untimed warm-up run of (a) and (b); in each repetition the
three variants run once, in an order that rotates.
Every run gets a fresh copy of the database and a fresh, empty replica location; after each run
(outside the measured time) \`litestream snapshots\` must list a snapshot on the replica.

- (a) \`Replicate.once()\` with default options: the time from the call to its success (litestream
  exited 0 after its final sync). The layer is built before the clock starts, as an application builds it once.
- (b) raw \`litestream replicate DB URL\` (default settings, 1 s intervals): from \`spawn\` to the
  moment its first "snapshot written" line is read; then it is killed (not timed).
- (c) pylts' \`timed_replicate(${PYLTS_SECONDS})\`: \`litestream replicate DB URL\` for ${PYLTS_SECONDS} s, then SIGKILL,
  timed from \`spawn\` to the exit; a success only if "snapshot written" was logged (pylts' own test).
  Unlike pylts, the credentials are passed to litestream (pylts never passes them).

${table(["replica", "variant", "median", "min–max", "runs", "vs (a)"], rows)}
${errorsBlock([...replicas].flatMap((r) => results.get(r)!.allErrors().map((e) => `${r}: ${e}`)))}
${targets.map((t) => `- ${t.target}: ${t.measured}, ${passFail(t.pass)}`).join("\n")}
`
    return {
      title: "One-shot backup, 1 MB",
      markdown,
      targets,
      libraryCalls: sumCalls(replicas.map((r) => results.get(r)!.calls("library")))
    }
  }
}
