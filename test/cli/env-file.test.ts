/**
 * `--env-file` is Node's own flag (issue 11): Node 20+ reads it anywhere on its command line,
 * also after the script. The program's env file flag is `--dotenv`; a `--env-file` that reaches
 * the program is refused with exit 2 and the fix. Runs the built CLI.
 */
import * as fs from "node:fs"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, it } from "vitest"
import { ensureBuilt, jsonLines, run, tempDir } from "./support.js"

let dir = ""
let envFile = ""

beforeAll(async () => {
  await ensureBuilt()
  dir = await tempDir()
  envFile = NodePath.join(dir, "backup.env")
  await fs.promises.writeFile(envFile, `REPLICA_URL=file://${dir}/replica\nDB_FOLDER=${dir}/data\n`)
}, 180_000)

afterAll(() => fs.promises.rm(dir, { recursive: true, force: true }))

const REFUSED =
  "error: --env-file is Node's own flag, not this program's: Node reads it itself and stops (exit 9) when the file does not exist. Fix: pass the settings file as --dotenv PATH."

describe.concurrent("--env-file", () => {
  it("on an existing file: exit 2, one line naming --dotenv, nothing run", async ({ expect }) => {
    for (const args of [["generations", "--env-file", envFile], ["generations", `--env-file=${envFile}`], ["--env-file", envFile, "restore"]]) {
      const { code, stdout, stderr } = await run(args, { cwd: dir })
      expect(code, args.join(" ")).toBe(2)
      expect(stdout).toBe("")
      expect(stderr.split("\n").filter((l) => l !== "")).toEqual([REFUSED])
    }
    // nothing was restored or listed: the replica folder was never created
    expect(fs.existsSync(NodePath.join(dir, "replica"))).toBe(false)
  })

  it("with --json: the error as one JSON line too", async ({ expect }) => {
    const { code, stdout } = await run(["generations", "--json", "--env-file", envFile], { cwd: dir })
    expect(code).toBe(2)
    expect(jsonLines(stdout)).toEqual([expect.objectContaining({ type: "error", command: "generations", error: "UsageError", exitCode: 2 })])
  })

  it("on a missing file Node stops first (exit 9), as the help says; --dotenv on one exits 2", async ({ expect }) => {
    const missing = NodePath.join(dir, "missing.env")
    const node = await run(["generations", "--env-file", missing], { cwd: dir })
    // Node's own doing, before any of the program runs (nodejs/node#54232); a Node that stops
    // reading it after the script would hand it to the program, which refuses it
    if (node.code === 9) expect(node.stderr).toContain(`${missing}: not found`)
    else expect(node.stderr.trim()).toBe(REFUSED)
    const own = await run(["generations", "--dotenv", missing], { cwd: dir })
    expect(own.code).toBe(2)
    expect(own.stderr).toMatch(/^error: Cannot read the env file .*missing\.env.*\. Fix: /)
  })

  it("after `--` it is not taken for Node's: Node stops there too", async ({ expect }) => {
    // restore takes no arguments: @effect/cli refuses the stray one as it would any other
    const { code, stderr } = await run(["restore", "--dotenv", envFile, "--", "--env-file", envFile], { cwd: dir })
    expect(code).toBe(2)
    expect(stderr.trim()).toBe("error: Received unknown argument: '--env-file'. Fix: see effect-litestream restore --help.")
  })
})
