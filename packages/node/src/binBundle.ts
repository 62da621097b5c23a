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
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as CompileCache from "./cli/CompileCache.js"
import { version } from "./cli/version.js"

const COMMANDS = new Set(["restore", "backup", "replicate", "verify", "generations", "snapshots", "wal", "ltx", "status"])

const args = process.argv.slice(2)

/** The value of `--name VALUE` or `--name=VALUE`. */
const flag = (name: string): string | undefined => {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--") return undefined
    if (args[i] === name) return args[i + 1]
    if (args[i]!.startsWith(`${name}=`)) return args[i]!.slice(name.length + 1)
  }
  return undefined
}

/**
 * Whether the replica is on S3, as the settings will say (the flag, then the environment, then
 * the env file): a run from S3 also compiles Node's HTTP client (the replica check beside
 * litestream, the native reads), a third of the program, which a cache made by a `file://` run
 * lacks (a 1 MB S3 restore: about 30 ms more CPU). Only a guess for the cache's name: a wrong one
 * costs a cache without some functions, nothing else.
 */
const onS3 = (): boolean => {
  const url = flag("--replica-url") ?? process.env.REPLICA_URL ?? (() => {
    try {
      return /^[ \t]*(?:export[ \t]+)?REPLICA_URL[ \t]*=[ \t]*["']?([^"'\s#]*)/m.exec(readFileSync(flag("--dotenv") ?? ".env", "latin1"))?.[1]
    } catch {
      return undefined
    }
  })()
  return url?.startsWith("s3://") === true
}

if (args.length === 1 && args[0] === "--version") {
  process.stdout.write(`${version}\n`)
} else {
  // a code cache per command (restore --native apart, and each from S3: the HTTP client): each
  // compiles its own part
  const command = `${args.find((a) => COMMANDS.has(a)) ?? "other"}${args.includes("--native") ? "native" : ""}${onS3() ? "sthree" : ""}`
  const Cli = CompileCache.load(fileURLToPath(new URL("./effect-litestream.program.cjs", import.meta.url)), command) as typeof import(
    "./cli/Cli.js"
  )
  Cli.runMain(process.argv)
}
