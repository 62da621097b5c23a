/**
 * The README's usage example, run as written (issue 11: it logged `position ${position}`, an
 * `Option` printed as JSON over nine lines): restore at start-up, then `once`, on a `file://`
 * replica, with the real litestream. Its log line must say the position in one line.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Sqlite from "../support/Sqlite.js"
import { childEnv, ensureBuilt, ROOT, tempDir } from "./support.js"

let dir = ""
// beside the workspace's node_modules, so that `@effect-litestream/*` and `effect` resolve as in a user's project
const CACHE = NodePath.join(ROOT, "node_modules/.cache/effect-litestream-readme")

beforeAll(async () => {
  await ensureBuilt()
  dir = await tempDir()
  await fs.promises.mkdir(CACHE, { recursive: true })
}, 180_000)

afterAll(() => fs.promises.rm(dir, { recursive: true, force: true }))

/** The TypeScript block under "## Use it in an Effect application". */
const example = (readme: string): string => {
  const section = readme.split("\n## Use it in an Effect application\n")[1]
  const block = section === undefined ? undefined : /```ts\n([\s\S]*?)```/.exec(section)?.[1]
  if (block === undefined) throw new Error("README: no ```ts block under ## Use it in an Effect application")
  return block
}

describe("README usage example", () => {
  it("runs as written and logs the backup's position in one line", async () => {
    const code = example(await fs.promises.readFile(NodePath.join(ROOT, "README.md"), "utf8"))
    const file = NodePath.join(CACHE, `example-${process.pid}.ts`)
    await fs.promises.writeFile(file, code)
    const folder = NodePath.join(dir, "data")
    await fs.promises.mkdir(folder)
    Sqlite.createDatabase(NodePath.join(folder, "db.sqlite"), 50)
    const { stdout, stderr, exitCode } = await new Promise<{ stdout: string; stderr: string; exitCode: number }>(
      (resolve) =>
        execFile(
          process.execPath,
          [NodePath.join(ROOT, "node_modules/tsx/dist/cli.mjs"), file],
          { cwd: dir, env: childEnv({ REPLICA_URL: `file://${dir}/replica`, DB_FOLDER: folder }), timeout: 60_000 },
          (error, stdout, stderr) =>
            resolve({ stdout, stderr, exitCode: error ? Number((error as { code?: unknown }).code ?? 1) : 0 })
        )
    ).finally(() => fs.promises.rm(file, { force: true }))
    expect(exitCode, stderr).toBe(0)
    const lines = stdout.split("\n").filter((l) => l.includes("backed up in"))
    expect(lines, stdout).toHaveLength(1)
    // logfmt: message="backed up in 412ms, position 5aa2cdf845dc4533/00000000:16512"
    expect(lines[0]).toMatch(/message="backed up in (\d+m?s ?)+, position [0-9a-f]{16}\/[0-9a-f]{8}:\d+"$/)
    // the replica holds what was backed up
    expect(fs.readdirSync(NodePath.join(dir, "replica", "generations"))).toHaveLength(1)
  })
})
