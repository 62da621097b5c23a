/**
 * The program as its package ships it (issue 11): the `bin` is the esbuild bundle that
 * `pnpm build` writes (an entry and the program, one CommonJS file), started through its shebang
 * like an installed command; what loads at a start (counted by a loader hook); the code cache,
 * kept only in a folder of the user's own; and the bundle working on its own, copied away from
 * every node_modules, through a real backup and restore with litestream.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Sqlite from "../support/Sqlite.js"
import { BIN, childEnv, ensureBuilt, ROOT, tempDir } from "./support.js"

const PKG = NodePath.join(ROOT, "packages/node")
const COUNTER = NodePath.join(ROOT, "test/support/count-modules.mjs")
const PROGRAM = BIN.replace(/\.cjs$/, ".program.cjs")

let dir = ""

beforeAll(async () => {
  await ensureBuilt()
  dir = await tempDir()
}, 180_000)

afterAll(() => fs.promises.rm(dir, { recursive: true, force: true }))

interface Exec {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const exec = (file: string, args: ReadonlyArray<string>, env: Record<string, string> = {}, cwd = dir): Promise<Exec> =>
  new Promise<Exec>((resolve) =>
    execFile(file, args, { cwd, env: childEnv(env), timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout, stderr })
    )
  )

/** The modules one run of the bundle loads (files and Node's built-ins), in load order. */
const loaded = async (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const out = NodePath.join(dir, `modules-${Math.random().toString(36).slice(2)}.txt`)
  const result = await exec(process.execPath, ["--import", COUNTER, BIN, ...args], { ...env, EFFECT_LITESTREAM_MODULES_OUT: out })
  const urls = fs.existsSync(out) ? fs.readFileSync(out, "utf8").split("\n").filter((l) => l !== "") : []
  const files = [...new Set(urls.filter((u) => u.startsWith("file:")))]
    .filter((u) => !u.endsWith("/count-modules-hooks.mjs") && !u.endsWith("/count-modules.mjs"))
  return { ...result, files }
}

const pkg = JSON.parse(fs.readFileSync(NodePath.join(PKG, "package.json"), "utf8")) as {
  version: string
  bin: Record<string, string>
  devDependencies: Record<string, string>
}

describe("the bundled program", () => {
  it("is the package's bin: an executable entry with a shebang beside the program, built by pnpm build with esbuild from the devDependencies", () => {
    expect(fs.existsSync(PROGRAM)).toBe(true)
    // the program runs as a script, where import() has no loader: the bundler made them require()
    // (NodeLz4Workers' inline worker script, a string run in a worker thread, has its own loader)
    expect(fs.readFileSync(PROGRAM, "utf8")).not.toMatch(/\bimport\((?!workerData\.(?:lz4|xxhash|lz4wasm)\))/)
    // ASCII only: the entry reads it as latin1
    expect(fs.readFileSync(PROGRAM).every((byte) => byte < 0x80)).toBe(true)
    expect(NodePath.resolve(PKG, pkg.bin["effect-litestream"]!)).toBe(BIN)
    expect(pkg.devDependencies.esbuild).toBeDefined()
    const root = JSON.parse(fs.readFileSync(NodePath.join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }
    expect(root.scripts.build).toContain("packages/node/scripts/bundle.mjs")
    expect(fs.readFileSync(BIN, "utf8").startsWith("#!/usr/bin/env node\n")).toBe(true)
    // the entry is CommonJS (.cjs, in a "type": "module" package): an ES module entry makes
    // Node 20 start its ES module loader before anything runs, 10-25 ms of every start here
    expect(NodePath.extname(BIN)).toBe(".cjs")
    expect(fs.readFileSync(BIN, "utf8")).not.toMatch(/^\s*(import|export)\b/m)
    expect(fs.statSync(BIN).mode & 0o111).not.toBe(0)
  })

  it("runs through its shebang, as an installed command does: --version, a usage error, --help", async () => {
    const version = await exec(BIN, ["--version"])
    expect(version).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: "" })
    const usage = await exec(BIN, ["backup", "--bogus"])
    expect(usage.code).toBe(2)
    expect(usage.stderr.trim()).toBe("error: Received unknown argument: '--bogus'. Fix: see effect-litestream backup --help.")
    const help = await exec(BIN, ["--help"])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain("EXIT CODES")
  })

  it("--version loads the small entry alone; a command loads nothing from node_modules", async () => {
    const version = await loaded(["--version"])
    expect(version.stdout).toBe(`${pkg.version}\n`)
    expect(version.files).toEqual([`file://${BIN}`])
    expect(fs.statSync(BIN).size).toBeLessThan(4 * 1024)

    // a command that runs up to its settings: parsing, help texts, the library's layers. The
    // program is compiled by the entry (vm.Script), not by Node's loader: the hook sees the entry
    // alone, and nothing else is loaded, from node_modules or anywhere
    const command = await loaded(["backup"])
    expect(command.code).toBe(2)
    expect(command.stderr).toContain("REPLICA_URL is required")
    expect(command.files).toEqual([`file://${BIN}`])
  })

  it("a restore never opens stdin: the terminal is made only when read (prompts)", async () => {
    const probe = NodePath.join(ROOT, "test/support/stdin-probe.cjs")
    const out = NodePath.join(dir, "stdin-touched.txt")
    const env = { REPLICA_URL: `file://${dir}/stdin-empty-replica`, DB_FOLDER: dir, EFFECT_LITESTREAM_STDIN_OUT: out }
    for (const native of [[], ["--native"]]) {
      const run = await exec(process.execPath, ["--require", probe, BIN, "restore", "--if-replica-exists", "--json", ...native], env)
      expect(run.code, run.stderr).toBe(0)
      expect(JSON.parse(run.stdout.trim().split("\n").at(-1)!)).toMatchObject({ outcome: "Skipped", reason: "NoBackups" })
      expect(fs.existsSync(out), `${native.join(" ")}: stdin was opened`).toBe(false)
    }
    // the probe does see a program that reads it
    await exec(process.execPath, ["--require", probe, "-e", "process.stdin"], env)
    expect(fs.readFileSync(out, "utf8")).toBe("stdin\n")
  })

  it("keeps its code cache only in a folder of the user's own, and runs without one", async () => {
    const tmp = NodePath.join(dir, "tmp")
    await fs.promises.mkdir(tmp)
    const folder = NodePath.join(tmp, `effect-litestream-compile-cache-${process.getuid!()}`)
    const usage = (env: Record<string, string>) => exec(process.execPath, [BIN, "backup", "--bogus"], { TMPDIR: tmp, ...env })
    const first = await usage({})
    expect(first.code).toBe(2)
    const made = fs.readdirSync(folder)
    expect(made).toHaveLength(1)
    expect(made[0]).toMatch(/^[0-9a-f]{32}-backup\.cache$/)
    expect(fs.statSync(folder).mode & 0o777).toBe(0o700)
    expect(fs.statSync(NodePath.join(folder, made[0]!)).mode & 0o777).toBe(0o600)
    const cached = NodePath.join(folder, made[0]!)
    const written = fs.statSync(cached).mtimeMs
    // the second run reads it (V8 accepts it) and writes nothing
    const second = await usage({})
    expect(second).toEqual(first)
    expect(fs.statSync(cached).mtimeMs).toBe(written)
    // a cache V8 rejects (another build, another Node) is made again
    fs.writeFileSync(cached, "not a code cache")
    expect(await usage({})).toEqual(first)
    expect(fs.readFileSync(cached).length).toBeGreaterThan(100_000)
    // the caches of other builds go when this one's is written, but the three newest (two
    // installations used in turn must not make each other compile every time)
    const builds = [1, 2, 3, 4, 5].map((n) => `${String(n).repeat(32)}-backup.cache`)
    builds.forEach((name, i) => {
      fs.writeFileSync(NodePath.join(folder, name), "another build")
      fs.utimesSync(NodePath.join(folder, name), 1_000_000 + i, 1_000_000 + i)
    })
    const other = NodePath.join(folder, `${"0".repeat(32)}-restore.cache`)
    fs.writeFileSync(other, "another command")
    fs.rmSync(cached)
    expect(await usage({})).toEqual(first)
    expect(fs.readdirSync(folder).sort()).toEqual([made[0], ...builds.slice(2), NodePath.basename(other)].sort())
    // a folder others can write to is never trusted: no cache read or written, the program runs
    fs.rmSync(folder, { recursive: true })
    fs.mkdirSync(folder)
    fs.chmodSync(folder, 0o777)
    expect(await usage({})).toEqual(first)
    expect(fs.readdirSync(folder)).toEqual([])
    // and it can be turned off
    fs.rmSync(folder, { recursive: true })
    expect(await usage({ EFFECT_LITESTREAM_COMPILE_CACHE: "0" })).toEqual(first)
    expect(fs.existsSync(folder)).toBe(false)
  })

  it("a run from S3 has code caches of its own (it compiles Node's HTTP client): the replica from the flag, the environment or the env file", async () => {
    const tmp = NodePath.join(dir, "tmp-s3")
    await fs.promises.mkdir(tmp)
    const folder = NodePath.join(tmp, `effect-litestream-compile-cache-${process.getuid!()}`)
    const envFile = NodePath.join(dir, "s3.env")
    fs.writeFileSync(envFile, "# settings\nexport REPLICA_URL='s3://bucket.localhost:9/db'\n")
    const cached = async (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
      fs.rmSync(folder, { recursive: true, force: true })
      // a usage error: parsed, nothing run, the cache written at the exit all the same
      const run = await exec(process.execPath, [BIN, ...args, "--bogus"], { TMPDIR: tmp, ...env })
      expect(run.code, run.stderr).toBe(2)
      return fs.readdirSync(folder).map((name) => name.replace(/^[0-9a-f]{32}-/, ""))
    }
    expect(await cached(["restore"])).toEqual(["restore.cache"])
    expect(await cached(["restore", "--replica-url", "s3://bucket.localhost:9/db"])).toEqual(["restoresthree.cache"])
    expect(await cached(["restore", "--native", "--replica-url=s3://bucket.localhost:9/db"])).toEqual(["restorenativesthree.cache"])
    expect(await cached(["restore"], { REPLICA_URL: "s3://bucket.localhost:9/db" })).toEqual(["restoresthree.cache"])
    expect(await cached(["generations", "--dotenv", envFile])).toEqual(["generationssthree.cache"])
    // the flag wins over the environment, as in the settings
    expect(await cached(["restore", "--replica-url", "file:///tmp/db"], { REPLICA_URL: "s3://bucket.localhost:9/db" })).toEqual(["restore.cache"])
  })

  it("keeps what litestream version said for the very file that said it: asked once, then again when the file changes", async () => {
    const tmp = NodePath.join(dir, "tmp-version")
    await fs.promises.mkdir(tmp)
    const folder = NodePath.join(tmp, `effect-litestream-compile-cache-${process.getuid!()}`)
    const litestream = fs.realpathSync(NodePath.join(PKG, "node_modules/@flydotio/litestream"))
    const real = NodePath.join(
      fs.realpathSync(NodePath.join(litestream, "..", `litestream-${process.platform}-${process.arch}`)),
      "litestream"
    )
    // a binary that notes each command it is asked, then is the real one
    const log = NodePath.join(dir, "version-asked.log")
    const binary = NodePath.join(dir, "litestream-noted")
    const write = (extra = "") => fs.writeFileSync(binary, `#!/bin/sh\necho "$1" >> '${log}'${extra}\nexec '${real}' "$@"\n`, { mode: 0o755 })
    write()
    const data = NodePath.join(dir, "version-data")
    await fs.promises.mkdir(data)
    Sqlite.createDatabase(NodePath.join(data, "db.sqlite"), 10)
    let n = 0
    const backup = async (env: Record<string, string> = {}) => {
      fs.rmSync(log, { force: true })
      const run = await exec(process.execPath, [BIN, "backup", "--json"], {
        REPLICA_URL: `file://${dir}/version-replica-${n++}`,
        DB_FOLDER: data,
        LITESTREAM_BIN: binary,
        TMPDIR: tmp,
        ...env
      })
      expect(run.code, run.stderr).toBe(0)
      expect(JSON.parse(run.stdout.trim().split("\n").at(-1)!)).toMatchObject({ type: "result", outcome: "BackedUp" })
      return fs.readFileSync(log, "utf8").trim().split("\n")
    }
    expect(await backup()).toEqual(["version", "replicate"])
    const kept = fs.readdirSync(folder).filter((f) => f.startsWith("litestream-version-"))
    expect(kept).toHaveLength(1)
    expect(fs.statSync(NodePath.join(folder, kept[0]!)).mode & 0o777).toBe(0o600)
    expect(await backup()).toEqual(["replicate"])
    // the same path, another file (contents, times): asked again, then kept again
    write("\n:")
    expect(await backup()).toEqual(["version", "replicate"])
    expect(await backup()).toEqual(["replicate"])
    // an entry that does not match (another binary's, or garbled) is not believed
    fs.writeFileSync(NodePath.join(folder, kept[0]!), JSON.stringify({ binary: "/elsewhere/litestream", identity: "x", text: "v0.3.13" }))
    expect(await backup()).toEqual(["version", "replicate"])
    fs.writeFileSync(NodePath.join(folder, kept[0]!), "{")
    expect(await backup()).toEqual(["version", "replicate"])
    // turned off with the code cache: asked every time
    expect(await backup({ EFFECT_LITESTREAM_COMPILE_CACHE: "0" })).toEqual(["version", "replicate"])
    expect(await backup({ EFFECT_LITESTREAM_COMPILE_CACHE: "0" })).toEqual(["version", "replicate"])
  }, 60_000)

  it("works on its own, away from every node_modules: backup and restore of a file:// replica with litestream", async () => {
    const away = NodePath.join(dir, "away")
    await fs.promises.mkdir(away)
    const bin = NodePath.join(away, NodePath.basename(BIN))
    fs.copyFileSync(BIN, bin)
    fs.chmodSync(bin, 0o755)
    fs.copyFileSync(PROGRAM, bin.replace(/\.cjs$/, ".program.cjs"))
    expect(fs.readdirSync(away).sort()).toEqual(["effect-litestream.cjs", "effect-litestream.program.cjs"])
    // the litestream of the workspace, named explicitly: nothing resolves from there
    const litestream = fs.realpathSync(NodePath.join(PKG, "node_modules/@flydotio/litestream"))
    const binary = NodePath.join(
      fs.realpathSync(NodePath.join(litestream, "..", `litestream-${process.platform}-${process.arch}`)),
      "litestream"
    )
    expect(fs.existsSync(binary)).toBe(true)
    const data = NodePath.join(dir, "away-data")
    await fs.promises.mkdir(data)
    const rows = Sqlite.createDatabase(NodePath.join(data, "db.sqlite"), 30)
    const env = { REPLICA_URL: `file://${dir}/away-replica`, DB_FOLDER: data, LITESTREAM_BIN: binary }
    const backup = await exec(bin, ["backup", "--json"], env, away)
    expect(backup.code, backup.stderr).toBe(0)
    expect(JSON.parse(backup.stdout.trim().split("\n").at(-1)!)).toMatchObject({ type: "result", outcome: "BackedUp" })
    const output = NodePath.join(dir, "away-restored.sqlite")
    const restore = await exec(bin, ["restore", "-o", output], env, away)
    expect(restore.code, restore.stderr).toBe(0)
    expect(Sqlite.readRows(output)).toEqual(rows)
  })
})
