/**
 * `--help` of the program and of each command, run on the built CLI.
 */
import { beforeAll, describe, expect, it } from "vitest"
import { type CliResult, ensureBuilt, run } from "./support.js"

const COMMANDS = ["restore", "backup", "replicate", "verify", "generations", "snapshots", "wal"] as const

const help = new Map<string, CliResult>()

beforeAll(async () => {
  await ensureBuilt()
  const runs = await Promise.all([["--help"], ["--version"], ...COMMANDS.map((c) => [c, "--help"])].map((args) => run(args)))
  runs.forEach((result, i) => help.set(i === 0 ? "" : i === 1 ? "--version" : COMMANDS[i - 2]!, result))
}, 180_000)

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[/

describe("effect-litestream --help", () => {
  it("lists every command, the settings, the secrets rule and the exit codes", () => {
    const { code, stdout, stderr } = help.get("")!
    expect(code).toBe(0)
    expect(stderr).toBe("")
    for (const command of COMMANDS) expect(stdout).toMatch(new RegExp(`^\\s+- ${command} `, "m"))
    expect(stdout).toContain("EXIT CODES")
    expect(stdout).toMatch(/^0\n\n\s+success/m)
    expect(stdout).toMatch(/^1\n\n\s+the job failed/m)
    expect(stdout).toMatch(/^2\n\n\s+bad usage or settings/m)
    expect(stdout).toContain("never from flags")
    expect(stdout).toContain("LITESTREAM_SECRET_ACCESS_KEY")
    // Not a terminal: no colour codes.
    expect(stdout).not.toMatch(ANSI)
  })

  it.each(COMMANDS)("%s --help: description, options, examples, exit codes", (command) => {
    const { code, stdout, stderr } = help.get(command)!
    expect(code).toBe(0)
    expect(stderr).toBe("")
    expect(stdout).toContain("DESCRIPTION")
    expect(stdout).toContain("EXAMPLES")
    expect(stdout).toMatch(new RegExp(`^\\$ effect-litestream ${command}`, "m"))
    expect(stdout).toContain("EXIT CODES")
    for (const flag of ["--replica-url", "--db", "--folder", "--litestream-bin", "--dotenv", "--json"]) {
      expect(stdout).toContain(flag)
    }
    // No option takes a secret.
    expect(stdout).not.toMatch(/--(secret|access-key|key|token|password)\b/)
    expect(stdout).not.toMatch(ANSI)
  })

  it("each command has its own options", () => {
    const has = (command: string, flags: ReadonlyArray<string>) => {
      for (const flag of flags) expect(help.get(command)!.stdout).toMatch(new RegExp(`^${flag}\\b`, "m"))
    }
    has("restore", ["--if-replica-exists", "--if-db-not-exists", "--move-aside-sidecars", "--native", "--timestamp", "--generation", "--index", "\\(-o, --output", "--database", "--timeout"])
    has("backup", ["--timeout", "--delete-local", "--verify"])
    has("replicate", ["--exec", "--database", "--interval"])
    has("verify", ["--timeout"])
    for (const listing of ["generations", "snapshots", "wal"]) has(listing, ["--database", "--timeout"])
  })

  it("--version prints the package version", () => {
    const { code, stdout } = help.get("--version")!
    expect(code).toBe(0)
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/)
  })
})
