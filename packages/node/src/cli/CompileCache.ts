/**
 * Loads the bundled program (one CommonJS file) with a V8 code cache, so that a start does not
 * parse and compile it again: on this machine that is most of what a start costs beyond Node's
 * own. Node 20 has no compile cache for a program (`module.enableCompileCache` is Node 22.1+, for
 * its own loader), so the file is compiled here, by `vm.Script` with `cachedData`. There is one
 * cache per command (`variant`) and build, made when its first run exits, so that it also holds
 * the functions that command compiled; made again when V8 rejects it (another Node, another
 * build). Each command keeps the caches of its four newest builds.
 *
 * The cache is code: it is read only from a folder of the user's own that no one else can write
 * (mode 0700, owned by the user), under the system's temporary folder. Anything unexpected (a
 * read-only file system, another owner) and the program is simply compiled, without a cache.
 * `EFFECT_LITESTREAM_COMPILE_CACHE=0` turns it off.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import { isAscii } from "node:buffer"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import * as vm from "node:vm"

/**
 * A folder of this user's own for the program's caches (this one, and `VersionCache`'s), or
 * undefined where there is none to trust, or when `EFFECT_LITESTREAM_COMPILE_CACHE=0`.
 *
 * @since 0.3.0
 */
export const privateFolder = (): string | undefined => {
  if (process.env.EFFECT_LITESTREAM_COMPILE_CACHE === "0" || typeof process.getuid !== "function") return undefined
  const uid = process.getuid()
  const dir = path.join(os.tmpdir(), `effect-litestream-compile-cache-${uid}`)
  try {
    fs.mkdirSync(dir, { mode: 0o700 })
  } catch {
    // exists already (checked below), or cannot be made
  }
  try {
    const stat = fs.lstatSync(dir)
    return stat.isDirectory() && stat.uid === uid && (stat.mode & 0o077) === 0 ? dir : undefined
  } catch {
    return undefined
  }
}

/** The caches kept per command: this build's and the newest of others. */
const KEEP = 4

/**
 * Runs the CommonJS file `file` and returns its exports, compiled with the code cache of
 * `variant` (letters only) when one can be trusted.
 *
 * @since 0.1.0
 */
export const load = (file: string, variant: string): unknown => {
  // the identity below is the one of the bytes read: both from one open file
  const fd = fs.openSync(file, "r")
  let bytes: Buffer
  let stat: fs.BigIntStats
  try {
    stat = fs.fstatSync(fd, { bigint: true })
    bytes = fs.readFileSync(fd)
  } finally {
    fs.closeSync(fd)
  }
  // scripts/bundle.mjs writes ASCII only: then latin1 is the same text, decoded four times faster
  const source = isAscii(bytes) ? bytes.toString("latin1") : bytes.toString("utf8")
  const folder = privateFolder()
  // one cache per build of the program and per Node (V8 checks its own version and flags too,
  // and the source's length, not its content). The build is the very file: its path, device,
  // inode, size, modification and change times (ctime cannot be set back by its owner), as in
  // VersionCache; hashing the 1.5 MB it holds cost a start 2-8 ms here.
  const identity = [file, stat.dev, stat.ino, stat.size, stat.mtimeNs, stat.ctimeNs].join(":")
  const key = createHash("sha256").update(process.version).update(process.arch).update(identity).digest("hex").slice(0, 32)
  const suffix = `-${variant.replace(/[^a-z]/g, "")}.cache`
  const cacheFile = folder === undefined ? undefined : path.join(folder, `${key}${suffix}`)
  let cachedData: Buffer | undefined
  try {
    if (cacheFile !== undefined) cachedData = fs.readFileSync(cacheFile)
  } catch {
    // no cache yet
  }
  // CommonJS's own wrapper: the file sees exports, require, module, __filename, __dirname
  const wrapped = `(function (exports, require, module, __filename, __dirname) { ${source}\n})`
  // (the program has no import() of its own: scripts/bundle.mjs makes them require())
  const script = new vm.Script(wrapped, { filename: file, ...(cachedData ? { cachedData } : {}) })
  if (folder !== undefined && cacheFile !== undefined && (cachedData === undefined || script.cachedDataRejected === true)) {
    process.once("exit", () => {
      try {
        const temporary = `${cacheFile}.${process.pid}.tmp`
        fs.writeFileSync(temporary, script.createCachedData(), { mode: 0o600 })
        fs.renameSync(temporary, cacheFile)
        // this command's caches of other builds (or other Nodes) go but the newest few: a machine
        // may run two installations in turn (a project's and a global one), which must not make
        // each other compile afresh every time
        const others = fs.readdirSync(folder)
          .filter((name) => name.endsWith(suffix) && name !== path.basename(cacheFile))
          .map((name) => ({ name, written: fs.statSync(path.join(folder, name)).mtimeMs }))
          .sort((a, b) => b.written - a.written)
        for (const { name } of others.slice(KEEP - 1)) fs.rmSync(path.join(folder, name), { force: true })
      } catch {
        // the next run compiles again
      }
    })
  }
  const module = { exports: {} as unknown }
  const run = script.runInThisContext() as (
    exports: unknown,
    require: NodeJS.Require,
    module: { exports: unknown },
    filename: string,
    dirname: string
  ) => void
  // effect's Utils probes once, as it loads, whether its frames show in stack traces: the first
  // stack of the script makes V8 compute its source positions (20 ms here for this one file).
  // With no frames to show, effect takes its other (equivalent) path. An error thrown while the
  // program loads is still thrown, without its stack.
  const stackTraceLimit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    run(module.exports, createRequire(file), module, file, path.dirname(file))
  } finally {
    Error.stackTraceLimit = stackTraceLimit
  }
  return module.exports
}
