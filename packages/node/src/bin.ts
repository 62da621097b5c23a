#!/usr/bin/env node
/**
 * The `effect-litestream` executable. `--version` alone is answered before anything else loads;
 * any other command line loads the program (`cli/Cli.ts`), which runs it (see `Cli.runMain`).
 *
 * @since 0.1.0
 */
import { version } from "./cli/version.js"

const args = process.argv.slice(2)
if (args.length === 1 && args[0] === "--version") {
  process.stdout.write(`${version}\n`)
} else {
  const Cli = await import("./cli/Cli.js")
  Cli.runMain(process.argv)
}
