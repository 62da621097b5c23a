#!/usr/bin/env node
/**
 * The entry of the bundled `effect-litestream` (the package's `bin`, built by
 * scripts/bundle.mjs into CommonJS, `effect-litestream.cjs`): `--version` alone is answered
 * before anything else loads; any other command line runs the program,
 * `effect-litestream.program.cjs` beside this file, compiled with a code cache (see
 * `cli/CompileCache.ts`). `bin.ts` is the same without the bundle.
 *
 * @since 0.1.0
 */
import { fileURLToPath } from "node:url"
import * as CompileCache from "./cli/CompileCache.js"
import { version } from "./cli/version.js"

const COMMANDS = new Set(["restore", "backup", "replicate", "verify", "generations", "snapshots", "wal"])

const args = process.argv.slice(2)
if (args.length === 1 && args[0] === "--version") {
  process.stdout.write(`${version}\n`)
} else {
  // a code cache per command (restore --native apart: the HTTP client): each compiles its own part
  const command = `${args.find((a) => COMMANDS.has(a)) ?? "other"}${args.includes("--native") ? "native" : ""}`
  const Cli = CompileCache.load(fileURLToPath(new URL("./effect-litestream.program.cjs", import.meta.url)), command) as typeof import(
    "./cli/Cli.js"
  )
  Cli.runMain(process.argv)
}
