/**
 * 7. The command-line program (issue 11): its start with no work (`--version`, `--help`) against
 *    `node -e 0` and `litestream version`; `backup` and `restore` of 1 MB end to end (spawn to
 *    exit) against raw litestream, the library in-process and the program unbundled; what a start
 *    loads and where its CPU goes, bundled and unbundled; and the seed, pylts 0.0.9 itself, run
 *    on the same database and replica.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as Cli from "../lib/cli.ts"
import { type Context, DB_NAME, fileUrl, freshCopy, type Suite, type TargetResult } from "../lib/context.ts"
import * as Lib from "../lib/library.ts"
import { interleaved, Samples, sumCalls } from "../lib/measure.ts"
import * as Pylts from "../lib/pylts.ts"
import * as Raw from "../lib/raw.ts"
import { errorsBlock, passFail, table } from "../lib/report.ts"
import { median, mib, millis, range, ratio, rotate, seconds } from "../lib/stats.ts"
import { replicaHasSnapshot, restoredIsWhole } from "../lib/verify.ts"

type Replica = "s3" | "file"

const node = process.execPath

// ---- start-up

type Start = "node" | "litestream" | "version" | "help" | "helpUnbundled"

const START_LABELS: Record<Start, string> = {
  node: "`node -e 0`",
  litestream: "`litestream version`",
  version: "`effect-litestream --version` (the bundle)",
  help: "`effect-litestream --help` (the bundle)",
  helpUnbundled: "`node dist/bin.js --help` (unbundled)"
}

/** A table row's measured cells: median (bold), range, runs (and failures), ratio to `raw`. */
const sampleCells = <V extends string>(s: Samples<V>, v: V, raw: number): Array<string> => [
  `**${seconds(median(s.of(v)))}**`,
  range(s.of(v)),
  `${s.of(v).length}${s.failures(v) ? ` (+${s.failures(v)} failed)` : ""}`,
  ratio(median(s.of(v)), raw)
]

// ---- runs kept in full: every failed run, and every run that exited 0 but wrote to stderr,
//      with its command line, exit code, stdout and stderr

const keptRuns: Array<{ readonly label: string; readonly failed: boolean; readonly text: string }> = []

const repLabel = (rep: number) => rep < 0 ? "warm-up" : `rep ${rep + 1}`

/** Runs `f`; a failure is kept in full (`RunFailed`: its output) under `label`, then rethrown. */
const kept = async <A>(label: string, f: () => Promise<A>): Promise<A> => {
  try {
    return await f()
  } catch (e) {
    keptRuns.push({
      label,
      failed: true,
      text: e instanceof Cli.RunFailed ? e.details() : e instanceof Error ? e.stack ?? e.message : String(e)
    })
    throw e
  }
}

/** A run that succeeded but said something on stderr: kept in full, still counted. */
const noteStderr = (label: string, run: Cli.Run) => {
  if (run.stderr.trim() !== "") {
    keptRuns.push({ label, failed: false, text: new Cli.RunFailed("exited 0, with output on stderr", run).details() })
  }
}

/** A raw litestream run as a `Cli.Run`, for `RunFailed` (its lines are stdout and stderr both). */
const rawRun = (args: ReadonlyArray<string>, run: Raw.RawRun): Cli.Run => ({
  command: ["litestream", ...args].join(" "),
  seconds: run.seconds,
  peakRss: NaN,
  code: run.exitCode,
  signal: run.signal,
  stdout: "",
  stderr: run.lines.join("\n")
})

const keptRunsBlock = (): string =>
  keptRuns.length === 0
    ? "None: no run failed, and none wrote to stderr.\n"
    : keptRuns.map((r) =>
      `- ${r.failed ? "**failed**" : "succeeded, with stderr"}: ${r.label}\n\n~~~\n${r.text.replace(/~~~/g, "~ ~ ~")}\n~~~\n`
    ).join("\n")

// ---- backup and restore

type Backup = "cli" | "unbundled" | "library" | "raw"
type RestoreVariant = "cli" | "native" | "unbundled" | "raw"

const BACKUP_LABELS: Record<Backup, string> = {
  cli: "`effect-litestream backup` (the bundle)",
  unbundled: "`node dist/bin.js backup` (unbundled)",
  library: "`Replicate.once` in-process (layer built before the clock)",
  raw: "raw `litestream replicate DB URL`, to first \"snapshot written\""
}

type RestoreSize = "1MB" | "100MB"

const SIZE_LABELS: Record<RestoreSize, string> = { "1MB": "1 MB", "100MB": "100 MB" }

// at 100 MB the unbundled program adds nothing the 1 MB rows do not show
const RESTORE_VARIANTS: Record<RestoreSize, ReadonlyArray<RestoreVariant>> = {
  "1MB": ["cli", "native", "unbundled", "raw"],
  "100MB": ["cli", "native", "raw"]
}

const restoreReps = (size: RestoreSize, quick: boolean) => size === "1MB" ? (quick ? 3 : 9) : (quick ? 2 : 5)

const RESTORE_LABELS: Record<RestoreVariant, string> = {
  cli: "`effect-litestream restore -o OUT` (the bundle)",
  native: "`effect-litestream restore --native -o OUT` (the bundle, no litestream)",
  unbundled: "`node dist/bin.js restore -o OUT` (unbundled)",
  raw: "raw `litestream restore -o OUT URL`"
}


const CPU_LABELS: Record<"cli" | "native", string> = {
  cli: "`effect-litestream restore -o OUT` (litestream's CPU not included)",
  native: "`effect-litestream restore --native -o OUT`"
}

const cliEnv = (replicaUrl: string, folder: string): Record<string, string> => ({
  REPLICA_URL: replicaUrl,
  DB_FOLDER: folder,
  DB_SQLITE: DB_NAME,
  ...(replicaUrl.startsWith("s3://")
    ? { LITESTREAM_ACCESS_KEY_ID: Lib.CREDENTIALS.accessKeyId, LITESTREAM_SECRET_ACCESS_KEY: Lib.CREDENTIALS.secretAccessKey }
    : {})
})

const replicaUrlOf = (context: Context, replica: Replica, prefix: string, dir: string) =>
  replica === "s3" ? context.s3.url(context.bucket, prefix) : fileUrl(path.join(dir, "replica"))

const backupOnce = (context: Context, replica: Replica, variant: Backup, rep: number): Promise<number> =>
  kept(`backup 1 MB ${replica} ${variant} ${repLabel(rep)}`, () => backupRun(context, replica, variant, rep))

const backupRun = async (context: Context, replica: Replica, variant: Backup, rep: number): Promise<number> => {
  const dir = freshCopy(context, "1MB", `cli-backup-${replica}-${variant}-${rep}`)
  try {
    const replicaUrl = replicaUrlOf(context, replica, `cli-backup/${variant}/${rep}`, dir)
    const target = { replicaUrl, folder: dir, db: DB_NAME }
    const raw = await Lib.rawInputs(target)
    let time: number
    let run: Cli.Run | undefined
    switch (variant) {
      case "cli":
      case "unbundled":
        run = await Cli.timed(node, [variant === "cli" ? Cli.BUNDLE : Cli.UNBUNDLED, "backup"], { env: cliEnv(replicaUrl, dir), cwd: dir })
        noteStderr(`backup 1 MB ${replica} ${variant} ${repLabel(rep)}`, run)
        time = run.seconds
        break
      case "library":
        time = (await Lib.once(target)).seconds
        break
      case "raw": {
        const args = ["replicate", raw.dbPath, replicaUrl]
        const r = await Raw.untilLine(raw.binary, args, raw.env, Raw.isSnapshotWritten, 60_000)
        run = rawRun(args, r)
        time = r.seconds
        break
      }
    }
    if (run === undefined) await replicaHasSnapshot(raw.binary, replicaUrl, raw.env)
    else {
      const done = run
      await replicaHasSnapshot(raw.binary, replicaUrl, raw.env).catch((e) => {
        throw new Cli.RunFailed(`exited ${done.code} but ${e instanceof Error ? e.message : String(e)}`, done)
      })
    }
    return time
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

export const suite: Suite = {
  name: "cli",
  sizes: ["1MB", "100MB"],
  run: async (context) => {
    keptRuns.length = 0
    const q = context.quick
    const targets: Array<TargetResult> = []
    const calls: Array<{ failed: number; total: number }> = []

    // 1. start-up, no work
    const start = new Samples<Start>()
    const rss = new Map<Start, Array<number>>()
    const startRun = (v: Start, rep: number): Promise<number> => kept(`start ${v} ${repLabel(rep)}`, () => startOnce(v))
    const startOnce = async (v: Start): Promise<number> => {
      const run = v === "node"
        ? await Cli.timed(node, ["-e", "0"])
        : v === "litestream"
        ? await Cli.timed(context.binary, ["version"])
        : await Cli.timed(node, [v === "helpUnbundled" ? Cli.UNBUNDLED : Cli.BUNDLE, v === "version" ? "--version" : "--help"])
      rss.set(v, [...(rss.get(v) ?? []), run.peakRss])
      return run.seconds
    }
    const startVariants: ReadonlyArray<Start> = ["node", "litestream", "version", "help", "helpUnbundled"]
    await interleaved(start, q ? 5 : 21, startVariants, startRun, context.log, "cli start", { warmup: [...startVariants] })
    const nodeMedian = median(start.of("node"))
    const startRows = startVariants.map((v) => [
      START_LABELS[v],
      `**${millis(median(start.of(v)) * 1000)}**`,
      range(start.of(v)),
      Cli.hasGnuTime ? mib(median(rss.get(v) ?? [])) : "n/a",
      ratio(median(start.of(v)), nodeMedian)
    ])
    const versionMedian = median(start.of("version"))
    targets.push({
      target: `7 \`effect-litestream --version\` (the bundle): wall time, spawn to exit, median of ${q ? 5 : 21} at most 2x \`node -e 0\` (median, interleaved)`,
      measured: `${ratio(versionMedian, nodeMedian)} (${millis(versionMedian * 1000)} vs ${millis(nodeMedian * 1000)})`,
      pass: versionMedian <= 2 * nodeMedian
    })
    const versionRss = median(rss.get("version") ?? [])
    targets.push({
      target: "7 `effect-litestream --version` (the bundle): peak RSS (GNU time, median) at most 60 MiB",
      measured: Cli.hasGnuTime ? mib(versionRss) : "n/a (no /usr/bin/time)",
      pass: Cli.hasGnuTime && versionRss <= 60 * 1024 ** 2
    })

    // 2. what a start loads, and where its CPU goes (3 profiles each, medians)
    const work = context.folder("cli-profile")
    const profileEnv = cliEnv(fileUrl(path.join(work, "replica")), work)
    const loads: Array<Array<string>> = []
    for (const [label, script, args] of [
      ["`--version`", Cli.BUNDLE, ["--version"]],
      ["`--help`", Cli.BUNDLE, ["--help"]],
      ["`--help`", Cli.UNBUNDLED, ["--help"]],
      ["`backup` 1 MB file://", Cli.BUNDLE, ["backup"]],
      ["`backup` 1 MB file://", Cli.UNBUNDLED, ["backup"]]
    ] as const) {
      const isBackup = args[0] === "backup"
      const prepare = () => {
        fs.rmSync(path.join(work, "replica"), { recursive: true, force: true })
        if (isBackup) fs.copyFileSync(context.databases.get("1MB")!.path, path.join(work, DB_NAME))
      }
      prepare()
      const m = await Cli.modules(script, [...args], profileEnv)
      const profiles: Array<Awaited<ReturnType<typeof Cli.cpuProfile>>> = []
      for (let i = 0; i < 3; i++) {
        prepare()
        profiles.push(await Cli.cpuProfile(script, [...args], profileEnv))
      }
      const med = (k: "totalMs" | "busyMs" | "compileMs" | "gcMs") => millis(median(profiles.map((p) => p[k])))
      loads.push([
        label,
        script === Cli.BUNDLE ? "bundle" : "unbundled",
        String(m.files),
        `${(m.bytes / 1024).toFixed(0)} KiB`,
        String(m.builtins),
        med("totalMs"),
        med("busyMs"),
        med("compileMs"),
        med("gcMs")
      ])
    }

    // 3. backup of 1 MB, end to end
    const backupVariants: ReadonlyArray<Backup> = ["cli", "unbundled", "library", "raw"]
    const replicas: ReadonlyArray<Replica> = ["file", "s3"]
    const backups = new Map<Replica, Samples<Backup>>()
    for (const replica of replicas) {
      const samples = new Samples<Backup>()
      backups.set(replica, samples)
      await interleaved(samples, q ? 3 : 9, backupVariants, (v, rep) => backupOnce(context, replica, v, rep), context.log, `cli backup ${replica}`, {
        warmup: ["cli", "library", "raw"]
      })
      calls.push(samples.calls("cli"), samples.calls("library"))
      if (replica === "s3") await context.s3.empty(context.bucket)
    }
    const backupRows: Array<Array<string>> = []
    for (const replica of replicas) {
      const s = backups.get(replica)!
      const raw = median(s.of("raw"))
      for (const v of backupVariants) {
        backupRows.push([replica === "s3" ? "S3 (loopback)" : "file://", BACKUP_LABELS[v], ...sampleCells(s, v, raw)])
      }
      const where = replica === "s3" ? "S3" : "file://"
      const cli = median(s.of("cli"))
      const n = q ? 3 : 9
      targets.push({
        target: `7 ${where}: \`effect-litestream backup\` of 1 MB end to end (spawn to exit, median of ${n}, no run failed) at most 0.5 s`,
        measured: seconds(cli),
        pass: cli <= 0.5 && s.failures("cli") === 0
      })
      targets.push({
        target: `7 ${where}: \`effect-litestream backup\` (median) at least 2x faster than raw \`litestream replicate DB URL\` from spawn to its first "snapshot written" (median, interleaved)`,
        measured: `${(raw / cli).toFixed(2)}x (${seconds(cli)} vs ${seconds(raw)})`,
        pass: raw / cli >= 2 && s.failures("cli") === 0
      })
    }

    // 4. restore end to end, from one replica per kind and size: 1 MB (where Node's own start is
    //    most of the time: raw litestream restores it in about the time of `node -e 0`) and 100 MB
    const restoreSizes: ReadonlyArray<RestoreSize> = ["1MB", "100MB"]
    const restores = new Map<string, Samples<RestoreVariant>>()
    // the CLI process's own CPU time (all its threads; litestream excluded), 1 MB, in runs apart
    const cpus = new Map<string, Samples<"cli" | "native">>()
    for (const size of restoreSizes) {
      const variants = RESTORE_VARIANTS[size]
      const rows = context.databases.get(size)!.rows
      for (const replica of replicas) {
        const source = freshCopy(context, size, `cli-restore-source-${size}-${replica}`)
        const replicaUrl = replicaUrlOf(context, replica, `cli-restore-${size}`, source)
        const target = { replicaUrl, folder: source, db: DB_NAME }
        await Lib.once(target)
        const raw = await Lib.rawInputs(target)
        const samples = new Samples<RestoreVariant>()
        restores.set(`${size} ${replica}`, samples)
        const out = context.folder(`cli-restore-out-${size}-${replica}`)
        await interleaved(samples, restoreReps(size, q), variants, (v, rep) => {
          const label = `restore ${SIZE_LABELS[size]} ${replica} ${v} ${repLabel(rep)}`
          return kept(label, async () => {
            const output = path.join(out, `${v}-${rep}.sqlite`)
            try {
              let run: Cli.Run
              if (v === "raw") {
                const args = ["restore", "-o", output, replicaUrl]
                run = rawRun(args, await Raw.toExit(raw.binary, args, raw.env, 120_000))
                if (run.code !== 0) throw new Cli.RunFailed(run.code === null ? `killed by ${run.signal}` : `exited ${run.code}`, run)
              } else {
                run = await Cli.timed(node, [
                  v === "unbundled" ? Cli.UNBUNDLED : Cli.BUNDLE,
                  "restore",
                  "-o",
                  output,
                  ...(v === "native" ? ["--native"] : [])
                ], { env: cliEnv(replicaUrl, source), cwd: source })
                noteStderr(label, run)
              }
              // whatever its exit code, a run without its output file (or not whole) failed
              Cli.checked(run, () => restoredIsWhole(output, rows))
              return run.seconds
            } finally {
              fs.rmSync(output, { force: true })
            }
          })
        }, context.log, `cli restore ${size} ${replica}`, { warmup: ["cli", "native", "raw"] })
        calls.push(samples.calls("cli"), samples.calls("native"))
        if (size === "1MB") {
          const cpu = new Samples<"cli" | "native">()
          cpus.set(replica, cpu)
          await interleaved(cpu, q ? 3 : 9, ["cli", "native"], (v, rep) => {
            const label = `restore CPU ${SIZE_LABELS[size]} ${replica} ${v} ${repLabel(rep)}`
            return kept(label, async () => {
              const output = path.join(out, `cpu-${v}-${rep}.sqlite`)
              const cpuFile = path.join(out, `cpu-${v}-${rep}.ms`)
              try {
                const run = await Cli.timed(node, ["--require", Cli.CPU_PROBE, Cli.BUNDLE, "restore", "-o", output, ...(v === "native" ? ["--native"] : [])], {
                  env: { ...cliEnv(replicaUrl, source), EFFECT_LITESTREAM_CPU_OUT: cpuFile },
                  cwd: source
                })
                noteStderr(label, run)
                Cli.checked(run, () => restoredIsWhole(output, rows))
                return Cli.checked(run, () => {
                  const ms = Number(fs.readFileSync(cpuFile, "utf8"))
                  if (!(ms > 0)) throw new Error(`its CPU time was not written (${cpuFile})`)
                  return ms / 1000
                })
              } finally {
                fs.rmSync(output, { force: true })
                fs.rmSync(cpuFile, { force: true })
              }
            })
          }, context.log, `cli restore CPU ${size} ${replica}`)
          calls.push(cpu.calls("cli"), cpu.calls("native"))
        }
        fs.rmSync(source, { recursive: true, force: true })
        if (replica === "s3") await context.s3.empty(context.bucket)
      }
    }
    const restoreRows: Array<Array<string>> = []
    for (const size of restoreSizes) {
      for (const replica of replicas) {
        const s = restores.get(`${size} ${replica}`)!
        const raw = median(s.of("raw"))
        for (const v of RESTORE_VARIANTS[size]) {
          restoreRows.push([SIZE_LABELS[size], replica === "s3" ? "S3 (loopback)" : "file://", RESTORE_LABELS[v], ...sampleCells(s, v, raw)])
        }
        const where = replica === "s3" ? "S3" : "file://"
        const cli = median(s.of("cli"))
        const native = median(s.of("native"))
        const n = restoreReps(size, q)
        targets.push({
          target: `7 ${where} ${SIZE_LABELS[size]}: \`effect-litestream restore -o OUT\` end to end (spawn to exit, median of ${n}) at most 1.3x raw \`litestream restore -o OUT URL\` (median, interleaved)`,
          measured: `${ratio(cli, raw)} (${seconds(cli)} vs ${seconds(raw)})`,
          pass: cli <= 1.3 * raw && s.failures("cli") === 0
        })
        targets.push({
          target: `7 ${where} ${SIZE_LABELS[size]}: \`effect-litestream restore --native -o OUT\` end to end (median of ${n}) faster than raw \`litestream restore\` (median)`,
          measured: `${ratio(native, raw)} (${seconds(native)} vs ${seconds(raw)})`,
          pass: native < raw && s.failures("native") === 0
        })
      }
    }

    const cpuRows: Array<Array<string>> = []
    for (const replica of replicas) {
      const s = cpus.get(replica)!
      for (const v of ["cli", "native"] as const) {
        cpuRows.push([
          replica === "s3" ? "S3 (loopback)" : "file://",
          CPU_LABELS[v],
          `**${millis(median(s.of(v)) * 1000)}**`,
          range(s.of(v)),
          `${s.of(v).length}${s.failures(v) ? ` (+${s.failures(v)} failed)` : ""}`
        ])
        targets.push({
          target: `7 ${replica === "s3" ? "S3" : "file://"} 1 MB: the CPU time of the \`effect-litestream restore${v === "native" ? " --native" : ""}\` process (process.cpuUsage at its exit, every thread, litestream excluded; median of ${q ? 3 : 9}) under 0.5 s`,
          measured: millis(median(s.of(v)) * 1000),
          pass: median(s.of(v)) < 0.5 && s.failures(v) === 0
        })
      }
    }
    for (const replica of replicas) {
      const s = restores.get(`1MB ${replica}`)!
      targets.push({
        target: `7 ${replica === "s3" ? "S3" : "file://"} 1 MB: \`effect-litestream restore --native\` (median) faster than \`effect-litestream restore\` through litestream (median, interleaved)`,
        measured: `${seconds(median(s.of("native")))} vs ${seconds(median(s.of("cli")))}`,
        pass: median(s.of("native")) < median(s.of("cli")) && s.failures("native") === 0
      })
    }
    for (const size of restoreSizes) {
      for (const replica of replicas) {
        const s = restores.get(`${size} ${replica}`)!
        const over = median(s.of("cli")) - median(s.of("raw"))
        targets.push({
          target: `7 ${replica === "s3" ? "S3" : "file://"} ${SIZE_LABELS[size]}: \`effect-litestream restore\` (median) at most raw \`litestream restore\` (median, interleaved) + 0.5 s (the restated target; "on a quiet machine": see the load below)`,
          measured: `+${seconds(over)} (${seconds(median(s.of("cli")))} vs ${seconds(median(s.of("raw")))})`,
          pass: over <= 0.5 && s.failures("cli") === 0
        })
      }
    }

    // 5. the seed itself: pylts 0.0.9, on S3 (it takes only s3:// URLs), beside the bundle
    const pylts = await pyltsSection(context)

    const db = context.databases.get("1MB")!
    const markdown = `## 7. The command-line program

What a user of \`effect-litestream\` pays, measured from the outside: each run is a child process,
timed from \`spawn\` to its exit (the backups' and restores' results checked afterwards, outside the
time: a snapshot on the replica; the restored database whole, every row there). "The bundle" is the
package's \`bin\` (\`dist/effect-litestream.cjs\`, esbuild); "unbundled" is tsc's \`dist/bin.js\`
loading every module from node_modules, as the program shipped before. Peak RSS from GNU time.

### Start-up, no work

${q ? 5 : 21} repetitions, interleaved, after one untimed run of each.

${table(["command", "median", "min–max", "peak RSS (median)", "vs `node -e 0`"], startRows)}

### What a start loads, and where its CPU goes

Files and Node built-ins that Node's loader loads (a loader hook, \`test/support/count-modules.mjs\`):
for the bundle that is its entry alone; every run but \`--version\` then reads the program,
\`dist/effect-litestream.program.cjs\` (${(fs.statSync(Cli.PROGRAM).size / 1024).toFixed(0)} KiB), and compiles it from its code cache. Then
\`node --cpu-prof\` (median of 3 profiles, after a first run that made the cache): the profile's
length, the part not idle, compiling (Node's loader, or the entry's \`vm.Script\`), and GC.
\`backup\` waits for litestream, hence the idle time.

${table(["run", "program", "files (Node's loader)", "bytes", "built-ins", "profile", "busy", "compiling", "GC"], loads)}

### Backup of ${(db.bytes / 1024 ** 2).toFixed(2)} MiB, end to end

${q ? 3 : 9} repetitions per replica, interleaved; every run on a fresh copy and an empty replica location.

${table(["replica", "variant", "median", "min–max", "runs", "vs raw"], backupRows)}
${errorsBlock(replicas.flatMap((r) => backups.get(r)!.allErrors().map((e) => `backup ${r}: ${e}`)))}
### Restore, end to end

One replica per kind and size (written once by \`Replicate.once\`); ${restoreReps("1MB", q)} repetitions at 1 MB,
${restoreReps("100MB", q)} at 100 MB (${(context.databases.get("100MB")!.bytes / 1024 ** 2).toFixed(0)} MiB), interleaved; each restore to a new file.

${table(["size", "replica", "variant", "median", "min–max", "runs", "vs raw"], restoreRows)}
${errorsBlock([...restores].flatMap(([k, s]) => s.allErrors().map((e) => `restore ${k}: ${e}`)))}
The CPU time of the program's own process for a 1 MB restore (the target restated in the README:
steadier than wall time on a shared machine), in runs apart from the timed ones, with a preload
(\`bench/lib/cpu-usage.cjs\`) that reads \`process.cpuUsage()\` as the process exits: user and
system time of every thread of the process (V8's compiler and GC threads included), not of its
children (litestream). ${q ? 3 : 9} repetitions, interleaved.

${table(["replica", "variant", "CPU (median)", "min–max", "runs"], cpuRows)}
${errorsBlock([...cpus].flatMap(([k, s]) => s.allErrors().map((e) => `restore CPU ${k}: ${e}`)))}
${targets.map((t) => `- ${t.target}: ${t.measured}, ${passFail(t.pass)}`).join("\n")}

### Failed or suspicious runs, in full

Every run above that failed (a non-zero exit; or a check afterwards: a restore with no output
file or not whole, a backup with no snapshot on the replica), and every run that exited 0 but
wrote to stderr: its command line, exit code, stdout and stderr (the last 30 lines of each).

${keptRunsBlock()}
${pylts}
`
    return { title: "The command-line program", markdown, targets, libraryCalls: sumCalls(calls) }
  }
}

const PYLTS_SECONDS = 5

type PyltsVariant = "pylts" | "pyltsEnvOnly" | "cli"

const PYLTS_LABELS: Record<PyltsVariant, string> = {
  pylts: `\`python -m pylts aws-replicate-db ${PYLTS_SECONDS}\`, credentials exported (as its docstring says)`,
  pyltsEnvOnly: `\`python -m pylts aws-replicate-db ${PYLTS_SECONDS}\`, credentials in \`.env\` only (its documented flow)`,
  cli: "`effect-litestream backup` (the bundle), settings from the same `.env`"
}

/** The pylts part: its backup and restore run as its users run them, timed from the outside. */
const pyltsSection = async (context: Context): Promise<string> => {
  const installed = Pylts.ensure(context.log)
  if ("error" in installed) return `### The seed itself: pylts 0.0.9\n\nNot run: ${installed.error}.\n`
  const python = installed.python
  const reps = context.quick ? 2 : 3
  const rows: Array<Array<string>> = []
  const times = new Map<PyltsVariant, Array<number>>()
  const notes = new Map<PyltsVariant, Set<string>>()
  const note = (v: PyltsVariant, text: string) => notes.set(v, (notes.get(v) ?? new Set()).add(text))
  const variants: ReadonlyArray<PyltsVariant> = ["pylts", "pyltsEnvOnly", "cli"]
  for (let rep = 0; rep < reps; rep++) {
    for (const v of rotate(variants, rep)) {
      const dir = freshCopy(context, "1MB", `cli-pylts-${v}-${rep}`)
      const settings = {
        folder: dir,
        db: DB_NAME,
        replicaUrl: context.s3.url(context.bucket, `cli-pylts/${v}/${rep}`),
        ...Lib.CREDENTIALS
      }
      Pylts.writeEnv(dir, settings)
      const run = v === "cli"
        ? await Cli.timed(node, [Cli.BUNDLE, "backup"], { cwd: dir, allowFailure: true })
        : await Cli.timed(python, ["-m", "pylts", "aws-replicate-db", String(PYLTS_SECONDS)], {
          cwd: dir,
          env: Pylts.env(context.binary, settings, v === "pylts"),
          allowFailure: true
        })
      times.set(v, [...(times.get(v) ?? []), run.seconds])
      const raw = await Lib.rawInputs({ replicaUrl: settings.replicaUrl, folder: dir, db: DB_NAME })
      const snapshot = await replicaHasSnapshot(raw.binary, settings.replicaUrl, raw.env).then(() => true, () => false)
      const left = Pylts.leftBehind(dir)
      note(v, `exit ${run.code}, ${snapshot ? "a snapshot on the replica" : "**no snapshot on the replica**"}, left in the folder: ${left.length === 0 ? "nothing" : left.map((f) => `\`${f}\``).join(", ")}`)
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
  for (const v of variants) {
    rows.push([PYLTS_LABELS[v], `**${seconds(median(times.get(v) ?? []))}**`, range(times.get(v) ?? []), [...(notes.get(v) ?? [])].join("; ")])
  }

  // its restore, once, as its users run it: aws-restore-db into an empty folder
  const source = freshCopy(context, "1MB", "cli-pylts-restore-source")
  const replicaUrl = context.s3.url(context.bucket, "cli-pylts/restore")
  await Lib.once({ replicaUrl, folder: source, db: DB_NAME })
  const target = context.folder("cli-pylts-restore")
  const settings = { folder: target, db: DB_NAME, replicaUrl, ...Lib.CREDENTIALS }
  Pylts.writeEnv(target, settings)
  const restore = await Cli.timed(python, ["-m", "pylts", "aws-restore-db"], {
    cwd: target,
    env: Pylts.env(context.binary, settings, true),
    allowFailure: true
  })
  const said = restore.stderr.split("\n").find((l) => /flag provided but not defined/.test(l))?.replace(/^.*\| /, "").trim()
  const restored = Pylts.leftBehind(target)
  const help = await Cli.timed(python, ["-m", "pylts", "--help"], { cwd: target, env: Pylts.env(context.binary, settings, true), allowFailure: true })
  await context.s3.empty(context.bucket)

  return `### The seed itself: pylts 0.0.9

pylts 0.0.9 from PyPI in a virtualenv of its own (\`.peers/pylts/\`: ${Pylts.REQUIREMENTS.join(", ")}),
run as its users run it, from a folder whose \`.env\` holds the settings, litestream on PATH, on the
same 1 MB database and the loopback S3 server (pylts refuses any URL but \`s3://\`). ${reps} repetitions,
interleaved; afterwards (not timed) \`litestream snapshots\` looks for a snapshot, and the folder is listed.

${table(["variant", "median", "min–max", "outcome (every run)"], rows)}

- pylts' \`aws-replicate-db N\` always takes N seconds: it waits out the timeout, then SIGKILLs
  litestream (no final sync), then deletes only the main database file: the \`-wal\`, \`-shm\` and
  \`.db.sqlite-litestream\` folder stay. It never hands the credentials of its \`.env\` to litestream,
  so its documented flow cannot reach a bucket that checks them; it then reports nothing (its
  \`timed_replicate\` returns False, the command exits 0).
- \`aws-restore-db\` into an empty folder: exit ${restore.code} in ${seconds(restore.seconds)}; litestream said \`${said ?? "(nothing matching)"}\`;
  the folder then holds ${restored.length === 0 ? "nothing: no database was restored" : restored.map((f) => `\`${f}\``).join(", ")}.
  pylts passes \`-v\`, which litestream v0.3.13 rejects, and ignores the exit code.
- \`python -m pylts --help\` (Python, pydantic, loguru, click): ${seconds(help.seconds)}, exit ${help.code}.
`
}
