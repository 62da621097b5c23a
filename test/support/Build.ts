/**
 * The built packages and the CLI's bundle (`pnpm build`) for the tests that run them.
 * vitest's global setup builds once before any test file starts (test/build.setup.ts), so that
 * no file rebuilds the bundle while another runs it; `ensureBuilt` builds again only when a
 * source is newer than the last build (a file run on its own after an edit).
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"
import { pidAlive } from "./Fixtures.js"

const ROOT = fileURLToPath(new URL("../..", import.meta.url))
const LOCK = NodePath.join(ROOT, "node_modules/.cache/effect-litestream-cli-build.lock")
const STAMP = `${LOCK}.done`
/** What the build reads: a change to any of them makes the bundle stale. */
const SOURCES = ["packages/core/src", "packages/node/src", "packages/node/scripts", "packages/core/package.json", "packages/node/package.json"]

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const node = (what: string, args: ReadonlyArray<string>) =>
  new Promise<void>((resolve, reject) => {
    execFile(
      process.execPath,
      args,
      { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => error ? reject(new Error(`pnpm build (${what}) failed:\n${stdout}${stderr}`)) : resolve()
    )
  })

/** `pnpm build`: the packages (tsc), then the program's bundle (esbuild). */
const build = async () => {
  await node("tsc -b tsconfig.build.json", [NodePath.join(ROOT, "node_modules/typescript/bin/tsc"), "-b", "tsconfig.build.json"])
  await node("node packages/node/scripts/bundle.mjs", [NodePath.join(ROOT, "packages/node/scripts/bundle.mjs")])
}

const newest = (path: string): number => {
  const stat = fs.statSync(path, { throwIfNoEntry: false })
  if (stat === undefined) return 0
  if (!stat.isDirectory()) return stat.mtimeMs
  let latest = stat.mtimeMs
  for (const entry of fs.readdirSync(path)) latest = Math.max(latest, newest(NodePath.join(path, entry)))
  return latest
}

/** When the last build started, if it finished; 0 if none did. */
const lastBuild = async () => Number(await fs.promises.readFile(STAMP, "utf8").catch(() => "0"))

/**
 * Builds unless the last build is newer than every source. A lock keeps test files that start
 * together from writing dist/ at the same time.
 */
export const ensureBuilt = async (): Promise<void> => {
  const fresh = async () => (await lastBuild()) > Math.max(...SOURCES.map((s) => newest(NodePath.join(ROOT, s))))
  if (await fresh()) return
  await fs.promises.mkdir(NodePath.dirname(LOCK), { recursive: true })
  const deadline = Date.now() + 180_000
  while (true) {
    try {
      await fs.promises.mkdir(LOCK)
      await fs.promises.writeFile(NodePath.join(LOCK, "pid"), String(process.pid))
      break
    } catch {
      const owner = Number(await fs.promises.readFile(NodePath.join(LOCK, "pid"), "utf8").catch(() => "0"))
      if (owner > 0 && !pidAlive(owner)) await fs.promises.rm(LOCK, { recursive: true, force: true })
      if (Date.now() > deadline) throw new Error(`timed out waiting for the build lock ${LOCK}`)
      await sleep(100)
    }
  }
  try {
    if (await fresh()) return
    const started = Date.now()
    await build()
    await fs.promises.writeFile(STAMP, String(started))
  } finally {
    await fs.promises.rm(LOCK, { recursive: true, force: true })
  }
}
