/**
 * Upstream's `litestream-vfs` 0.5.17 (the SQLite extension from PyPI's `litestream-vfs` wheel,
 * installed by the test setup) as a second, independent reader of v0.5 replicas: loaded into
 * the `sqlite3` module of Debian's system python3 (a pyenv python earlier on PATH may be built
 * without `enable_load_extension`), it opens the replica at `LITESTREAM_REPLICA_URL` as a
 * read-only database, which the backup API copies into a plain file.
 *
 * Its traps (see shared/DESIGN.md): the URL must be in the environment at start; the destination
 * is opened before the extension is loaded; the copy's header is SQLite's own (the bytes are not
 * the replica's), so compare rows and page counts, not bytes.
 */
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import { litestreamVfs, type Peer } from "./Peers.js"
import { v5Env } from "./V5Replica.js"

const PYTHON = "/usr/bin/python3"

const SCRIPT = `
import sqlite3, sys
so, out = sys.argv[1], sys.argv[2]
dest = sqlite3.connect(out)
loader = sqlite3.connect(":memory:")
loader.enable_load_extension(True)
loader.load_extension(so)
src = sqlite3.connect("file:replica.db?vfs=litestream&mode=ro", uri=True)
src.backup(dest)
src.close()
dest.close()
`

/** The VFS with a python that can load it, or why not. */
export const vfsOracle = (): Peer => {
  const so = litestreamVfs()
  if (!so.available) return so
  if (!fs.existsSync(PYTHON)) return { available: false, reason: `${PYTHON} (Debian's python3, whose sqlite3 loads extensions) is missing` }
  const probe = ChildProcess.spawnSync(PYTHON, ["-c", "import sqlite3; sqlite3.connect(':memory:').enable_load_extension(True)"], {
    stdio: "ignore",
    timeout: 30_000
  })
  if (probe.status !== 0) return { available: false, reason: `${PYTHON}'s sqlite3 module cannot load extensions` }
  return so
}

/** Copies the replica at `url` through the VFS into `out` (async: fauxqs may be serving). */
export const vfsRestore = (url: string, out: string): Promise<{ readonly code: number | null; readonly out: string }> => {
  const so = litestreamVfs()
  if (!so.available) return Promise.reject(new Error(so.reason))
  return new Promise((resolve, reject) => {
    const env = { ...v5Env(), LITESTREAM_REPLICA_URL: url }
    const child = ChildProcess.spawn(PYTHON, ["-c", SCRIPT, so.path, out], { env, stdio: ["ignore", "pipe", "pipe"] })
    let text = ""
    child.stdout.on("data", (b: Buffer) => (text += b.toString()))
    child.stderr.on("data", (b: Buffer) => (text += b.toString()))
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000)
    child.on("error", reject)
    child.on("close", (code) => { // "close": after the last output was read
      clearTimeout(timer)
      resolve({ code, out: text })
    })
  })
}
