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

const backupOnce = async (context: Context, replica: Replica, variant: Backup, rep: number): Promise<number> => {
  const dir = freshCopy(context, "1MB", `cli-backup-${replica}-${variant}-${rep}`)
  try {
    const replicaUrl = replicaUrlOf(context, replica, `cli-backup/${variant}/${rep}`, dir)
    const target = { replicaUrl, folder: dir, db: DB_NAME }
    const raw = await Lib.rawInputs(target)
    let time: number
    switch (variant) {
      case "cli":
      case "unbundled":
        time = (await Cli.timed(node, [variant === "cli" ? Cli.BUNDLE : Cli.UNBUNDLED, "backup"], { env: cliEnv(replicaUrl, dir), cwd: dir }))
          .seconds
        break
      case "library":
        time = (await Lib.once(target)).seconds
        break
      case "raw":
        time = (await Raw.untilLine(raw.binary, ["replicate", raw.dbPath, replicaUrl], raw.env, Raw.isSnapshotWritten, 60_000)).seconds
        break
    }
    await replicaHasSnapshot(raw.binary, replicaUrl, raw.env)
    return time
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

export const suite: Suite = {
  name: "cli",
  sizes: ["1MB", "100MB"],
  run: async (context) => {
    const q = context.quick
    const targets: Array<TargetResult> = []
    const calls: Array<{ failed: number; total: number }> = []

    // 1. start-up, no work
    const start = new Samples<Start>()
    const rss = new Map<Start, Array<number>>()
    const startRun = async (v: Start): Promise<number> => {
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
        await interleaved(samples, restoreReps(size, q), variants, async (v, rep) => {
          const output = path.join(out, `${v}-${rep}.sqlite`)
          try {
            const time = v === "raw"
              ? (await Raw.toExit(raw.binary, ["restore", "-o", output, replicaUrl], raw.env, 120_000)).seconds
              : (await Cli.timed(node, [
                v === "unbundled" ? Cli.UNBUNDLED : Cli.BUNDLE,
                "restore",
                "-o",
                output,
                ...(v === "native" ? ["--native"] : [])
              ], { env: cliEnv(replicaUrl, source), cwd: source })).seconds
            restoredIsWhole(output, rows)
            return time
          } finally {
            fs.rmSync(output, { force: true })
          }
        }, context.log, `cli restore ${size} ${replica}`, { warmup: ["cli", "native", "raw"] })
        calls.push(samples.calls("cli"), samples.calls("native"))
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

    // 5. the seed itself: pylts 0.0.9, on S3 (it takes only s3:// URLs), beside the bundle
    const pylts = await pyltsSection(context)

    const db = context.databases.get("1MB")!
    const markdown = `## 7. The command-line program

What a user of \`effect-litestream\` pays, measured from the outside: each run is a child process,
timed from \`spawn\` to its exit (the backups' and restores' results checked afterwards, outside the
time: a snapshot on the replica; the restored database whole, every row there). "The bundle" is the
package's \`bin\` (\`dist/effect-litestream.mjs\`, esbuild); "unbundled" is tsc's \`dist/bin.js\`
loading every module from node_modules, as the program shipped before. Peak RSS from GNU time.

### Start-up, no work

${q ? 5 : 21} repetitions, interleaved, after one untimed run of each.

${table(["command", "median", "min–max", "peak RSS (median)", "vs `node -e 0`"], startRows)}

### What a start loads, and where its CPU goes

Files and Node built-ins that Node's loader loads (a loader hook, \`test/support/count-modules.mjs\`):
for the bundle that is its entry alone; every run but \`--version\` then reads the program,
\`dist/effect-litestream.cjs\` (${(fs.statSync(Cli.BUNDLE.replace(/\.mjs$/, ".cjs")).size / 1024).toFixed(0)} KiB), and compiles it from its code cache. Then
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
${targets.map((t) => `- ${t.target}: ${t.measured}, ${passFail(t.pass)}`).join("\n")}

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
