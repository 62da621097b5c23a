/**
 * The benchmarks of effect-litestream: `pnpm bench` (full, about 30 minutes, 10 of them one
 * continuous replication) or `BENCH_QUICK=1 pnpm bench` (no 1 GB database, fewer repetitions,
 * one minute of continuous replication: about 5 minutes).
 * `BENCH_CONTINUOUS_MINUTES=N` sets the length of the continuous replication.
 * `BENCH_ONLY=one-shot,restore` runs only the suites whose names contain one of the words.
 *
 * Writes bench/results.md and prints it. Nothing leaves the machine: the S3 server is fauxqs on
 * loopback, in a child process of its own (bench/s3-server.mjs).
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { type Context, type Database, DB_NAME, fileUrl, SIZES, type Size, type Suite, type SuiteResult } from "./lib/context.ts"
import { createDatabase } from "./lib/database.ts"
import * as Lib from "./lib/library.ts"
import * as Raw from "./lib/raw.ts"
import { sumCalls } from "./lib/measure.ts"
import { passFail, table } from "./lib/report.ts"
import * as S3 from "./lib/s3server.ts"
import { mib } from "./lib/stats.ts"
import * as backupLarge from "./suites/backupLarge.ts"
import * as cli from "./suites/cli.ts"
import * as continuous from "./suites/continuous.ts"
import * as lag from "./suites/lag.ts"
import * as memory from "./suites/memory.ts"
import * as oneShot from "./suites/oneShot.ts"
import * as restore from "./suites/restore.ts"
import * as restoreV5 from "./suites/restoreV5.ts"
import * as v5 from "./suites/v5.ts"

/** The suites, in order. */
const SUITES: ReadonlyArray<Suite> = [oneShot.suite, restore.suite, restoreV5.suite, backupLarge.suite, memory.suite, lag.suite, continuous.suite, cli.suite, v5.suite]

const BUCKET = "bench-backups"
const here = path.dirname(fileURLToPath(import.meta.url))
const quick = process.env.BENCH_QUICK === "1" || process.argv.includes("--quick")
const only = (process.env.BENCH_ONLY ?? "").split(",").map((s) => s.trim()).filter(Boolean)
const log = (message: string) => process.stderr.write(`${message}\n`)
const cpusCount = os.cpus().length

const tryRun = (file: string, args: ReadonlyArray<string>): string | undefined => {
  try {
    return execFileSync(file, args, { cwd: here, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim()
  } catch {
    return undefined
  }
}

const packageVersion = (name: string): string => {
  let dir = path.dirname(fileURLToPath(import.meta.resolve(name)))
  while (dir !== path.dirname(dir)) {
    const file = path.join(dir, "package.json")
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, "utf8")) as { name?: string; version?: string }
      if (pkg.name === name) return pkg.version ?? "?"
    }
    dir = path.dirname(dir)
  }
  return "?"
}

/** The size of litestream's LZ4 snapshot of a database, from its "snapshot written ... sz=" line. */
const snapshotBytes = async (binary: string, source: string, tmp: string): Promise<number> => {
  const dir = fs.mkdtempSync(path.join(tmp, "snapshot-size-"))
  try {
    fs.copyFileSync(source, path.join(dir, DB_NAME))
    const run = await Raw.untilLine(binary, ["replicate", path.join(dir, DB_NAME), fileUrl(path.join(dir, "replica"))], {}, Raw.isSnapshotWritten, 600_000)
    return Number(/sz=(\d+)/.exec(run.lines.find(Raw.isSnapshotWritten) ?? "")?.[1] ?? NaN)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

const main = async () => {
  const startedAt = new Date()
  const loadStart = os.loadavg()
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "effect-litestream-bench-"))
  let s3: S3.S3Server | undefined
  let cleaned = false
  const cleanup = async () => {
    if (cleaned) return
    cleaned = true
    await s3?.stop().catch(() => undefined)
    fs.rmSync(tmp, { recursive: true, force: true })
  }
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      log(`\n${signal}: cleaning up ${tmp}`)
      void cleanup().finally(() => process.exit(130))
    })
  }

  try {
    const binary = await Lib.defaultBinary()
    const litestreamVersion = await Raw.version(binary)
    const selected = SUITES.filter((suite) => only.length === 0 || only.some((word) => suite.name.includes(word)))
    const runSizes: ReadonlyArray<Size> = quick ? ["1MB", "100MB"] : ["1MB", "100MB", "1GB"]
    // Only the sample databases the selected suites use: building 1 GB takes a while.
    const sizes = runSizes.filter((size) => selected.some((suite) => (suite.sizes ?? runSizes).includes(size)))
    log(`effect-litestream bench (${quick ? "quick" : "full"}), litestream ${litestreamVersion}, temp ${tmp}`)

    const databases = new Map<Size, Database>()
    for (const size of sizes) {
      const created = createDatabase(path.join(tmp, `sample-${size}.sqlite`), SIZES[size].bytes)
      const snapshot = await snapshotBytes(binary, created.path, tmp)
      databases.set(size, { ...created, size, snapshotBytes: snapshot })
      log(`database ${SIZES[size].label}: ${created.rows} rows, ${mib(created.bytes)}, snapshot ${mib(snapshot)}, built in ${created.seconds.toFixed(1)} s`)
    }

    s3 = await S3.start([BUCKET])
    log(`S3 server (fauxqs) pid ${s3.pid} on 127.0.0.1:${s3.port}`)
    let n = 0
    const context: Context = {
      quick,
      tmp,
      s3,
      bucket: BUCKET,
      binary,
      sizes,
      databases,
      log,
      folder: (name) => {
        const dir = path.join(tmp, `${String(++n).padStart(4, "0")}-${name}`)
        fs.mkdirSync(dir, { recursive: true })
        return dir
      }
    }

    const results: Array<SuiteResult> = []
    for (const suite of selected) {
      log(`\n== ${suite.name}`)
      const t0 = performance.now()
      const load0 = os.loadavg()[0]!
      const result = await suite.run(context)
      const took = (performance.now() - t0) / 1000
      const note = `\n\n_This section took ${took.toFixed(0)} s; load average (1 min) ${load0.toFixed(2)} at its start, ${
        os.loadavg()[0]!.toFixed(2)
      } at its end (${cpusCount} cores)._`
      results.push({ ...result, markdown: `${result.markdown.trim()}${note}` })
      log(`== ${suite.name}: ${took.toFixed(0)} s`)
    }
    const s3Memory = await s3.memory()

    const finishedAt = new Date()
    const minutes = (finishedAt.getTime() - startedAt.getTime()) / 60_000
    const loadEnd = os.loadavg()
    const commit = tryRun("git", ["rev-parse", "--short", "HEAD"])
    const dirty = tryRun("git", ["status", "--porcelain", "--", "../packages"])
    const cpus = os.cpus()
    const targets = results.flatMap((r) => r.targets)
    const libraryCalls = sumCalls(results.map((r) => r.libraryCalls))
    const load = (l: ReadonlyArray<number>) => l.map((x) => x.toFixed(2)).join(" / ")

    const dbRows = sizes.map((size) => {
      const db = databases.get(size)!
      return [SIZES[size].label, String(db.rows), mib(db.bytes), mib(db.snapshotBytes), `${(db.bytes / db.snapshotBytes).toFixed(2)}x`]
    })

    const markdown = `# effect-litestream benchmarks

Written by \`pnpm bench\`${quick ? " in **quick mode** (`BENCH_QUICK=1`: no 1 GB database, fewer repetitions)" : ""}${
      only.length ? ` with \`BENCH_ONLY=${only.join(",")}\`` : ""
    }.
Run from ${startedAt.toISOString()} to ${finishedAt.toISOString()} (${minutes.toFixed(1)} minutes).
All times are medians of repeated runs, with min–max; the variants compared run side by side in
one process, interleaved (their order rotates every repetition), because the machine is shared
and noisy: compare the rows of one table, not these numbers with another machine's.

## Machine and versions

${table(["", ""], [
  ["CPU", `${cpus[0]?.model ?? "?"}, ${cpus.length} cores`],
  ["Memory", mib(os.totalmem())],
  ["OS", `${os.type()} ${os.release()} ${os.arch()}`],
  ["Load average (1 / 5 / 15 min)", `${load(loadStart)} at start, ${load(loadEnd)} at end`],
  ["Node", process.version],
  ["litestream", `${litestreamVersion} (\`${path.relative(path.join(here, ".."), binary)}\`)`],
  ["effect-litestream", `commit ${commit ?? "?"}${dirty ? " with uncommitted changes in packages/" : ""}, built packages (\`dist\`)`],
  ["effect / @effect/platform / @effect/platform-node", `${packageVersion("effect")} / ${packageVersion("@effect/platform")} / ${packageVersion("@effect/platform-node")}`],
  ["S3 server", `fauxqs ${packageVersion("fauxqs")} on 127.0.0.1, in its own Node process (peak RSS ${mib(s3Memory.hwm)}), with one fix (see Notes)`]
])}

## Targets

${table(["target", "measured", "result"], targets.map((t) => [t.target, t.measured, passFail(t.pass)]))}

Library calls that failed during this run (timed, warm-up and set-up calls; a failed timed run
is left out of its median and listed in its section): **${libraryCalls.failed} of ${libraryCalls.total}**.

${results.map((r) => r.markdown.trim()).join("\n\n")}

## Notes

- Sample databases (\`bench/lib/database.ts\`): one table of log-like events (timestamp, level,
  user, e-mail, amount, JSON tags, and a message of 8 to 48 words drawn from a vocabulary, some
  with a random id), plus an index, from a seeded PRNG: mixed text, neither zeros nor noise. WAL
  mode, checkpointed. Created once per run in a temporary folder (removed at the end); each
  run works on its own copy.

${table(["database", "rows", "file size", "LZ4 snapshot", "compression"], dbRows)}

- fauxqs 1.9.2 as published cannot hold a litestream snapshot larger than 5 MiB (any database
  over about 10 MB): its CompleteMultipartUpload finds the parts with two regular expressions
  (\`<PartNumber>\` before \`<ETag>\`, or else the reverse, tried only when the first finds
  nothing), while litestream's aws-sdk-go v1 writes the two elements in either order, varying
  from part to part in one request. fauxqs then completes the object from the parts in the first
  order only: a **truncated, corrupt snapshot, while litestream logs "snapshot written"** (restore
  then fails with \`lz4: bad magic number\`). It also leaves \`&#34;\` (Go's escaped quote) in the
  ETags, which makes most such uploads fail with \`InvalidPart\`. \`bench/s3-server.mjs\` fixes
  both in its own process (it re-reads the part list from the raw request body); fauxqs still
  checks every part and ETag. The restore suite checks the restored databases whole.
- litestream v0.3.13 has a shutdown race: SIGTERM while the replica goroutine is still in the
  sync that follows the snapshot (for example right after "snapshot written") makes the final
  sync on shutdown run concurrently with it, both writing the same WAL segment. With an S3
  replica litestream can then hang for good (its monitor goroutine blocks writing to the upload
  pipe of a cancelled request, and shutdown waits for it); with a file:// replica it exits 1
  (\`client write: stat ....wal.lz4.tmp: no such file or directory\`) or panics (\`assertion failed:
  generation name required\`). While writing this bench, SIGTERM right after "snapshot written"
  (1 MB database, 150 runs each) hung 4 times on S3 and failed 4 times on file://. \`once\` at this
  commit sends SIGTERM only once the replica has caught up with the database; any failure of a
  library call would be counted above.
- Times are wall-clock (\`performance.now()\`) in this Node process. Library calls go through
  \`ManagedRuntime\` with logging off; raw runs use \`node:child_process\`, with the environment the
  library gives litestream (\`LitestreamCommand.childEnv\`: the credentials).
`
    const file = path.join(here, "results.md")
    fs.writeFileSync(file, markdown)
    process.stdout.write(`\n${markdown}\n`)
    log(`wrote ${file}`)
    log(`targets: ${targets.filter((t) => t.pass).length} of ${targets.length} met`)
  } finally {
    await cleanup()
  }
}

main().catch((e) => {
  log(`bench failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`)
  process.exitCode = 1
})
