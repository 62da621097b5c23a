/**
 * The command-line program `effect-litestream`: the commands, and `main`, which runs them on the
 * arguments and turns the outcome into an exit code (see `Failure.ExitCode`).
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as NodeCommandExecutor from "@effect/platform-node/NodeCommandExecutor"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import type { Teardown } from "@effect/platform/Runtime"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as backup from "./backup.js"
import * as Failure from "./Failure.js"
import * as Help from "./Help.js"
import * as LazyTerminal from "./LazyTerminal.js"
import * as listings from "./listings.js"
import * as Output from "./Output.js"
import * as replicate from "./replicate.js"
import * as restore from "./restore.js"
import * as Run from "./Run.js"
import * as status from "./status.js"
import * as verify from "./verify.js"
import { version } from "./version.js"

/**
 * The root command.
 *
 * @since 0.1.0
 */
export const command = Command.make("effect-litestream", {}, () =>
  Effect.fail(
    new Failure.UsageError({
      rule: "missing command",
      fix: "run effect-litestream COMMAND, with COMMAND one of restore, backup, replicate, verify, generations, snapshots, wal, ltx, status; see effect-litestream --help"
    })
  )).pipe(
    Command.withDescription(Help.description([
      "Back up SQLite databases to S3 (or any S3-compatible store, or a folder) and restore them, with litestream. Run `effect-litestream COMMAND --help` for each command."
    ], [
      ["REPLICA_URL=s3://my-bucket/db effect-litestream restore --if-db-not-exists --if-replica-exists", "at start-up"],
      ["effect-litestream backup --verify", "a one-shot, verified backup"],
      ["effect-litestream replicate --exec 'node server.js'", "continuous backup around the application"]
    ])),
    Command.withSubcommands([
      restore.command,
      backup.command,
      replicate.command,
      verify.command,
      listings.generations,
      listings.snapshots,
      listings.wal,
      listings.ltx,
      status.command
    ])
  )

const cli = Command.run(command, {
  name: "effect-litestream",
  version,
  footer: Help.footer
})

const COMMANDS = new Set(["restore", "backup", "replicate", "verify", "generations", "snapshots", "wal", "ltx", "status"])

/** @effect/cli's own options: flags, and those that take a value. */
const BUILT_IN_FLAGS = new Set(["--help", "-h", "--version", "--wizard"])
const BUILT_IN_WITH_VALUE = new Set(["--log-level", "--completions"])

/**
 * Moves @effect/cli's built-in options (`--log-level LEVEL`, `--help`, ...) given anywhere after
 * the command name to right after it, so that options work in any order.
 *
 * @effect/cli 0.77 recognizes a built-in only as the first argument after the command name: it
 * tries the built-ins on that argument alone and gives up at any other flag, so in
 * `restore --json --log-level debug` the command's own options then leave `--log-level` over,
 * an "unknown argument" (exit 2). Nothing after `--` moves.
 */
const builtInsFirst = (args: ReadonlyArray<string>): ReadonlyArray<string> => {
  const at = args.findIndex((a) => COMMANDS.has(a))
  if (at < 0) return args
  const dashes = args.indexOf("--", at + 1)
  const end = dashes < 0 ? args.length : dashes
  const builtIns: Array<string> = []
  const own: Array<string> = []
  for (let i = at + 1; i < end; i++) {
    const arg = args[i]!
    if (BUILT_IN_FLAGS.has(arg) || BUILT_IN_WITH_VALUE.has(arg.split("=")[0]!)) {
      builtIns.push(arg)
      // `--log-level debug`: its value goes with it (`--log-level=debug` is one argument).
      if (BUILT_IN_WITH_VALUE.has(arg) && i + 1 < end) builtIns.push(args[++i]!)
    } else {
      own.push(arg)
    }
  }
  return [...args.slice(0, at + 1), ...builtIns, ...own, ...args.slice(end)]
}

/**
 * @effect/cli prints a parse error itself, in several lines; it is held back (`quietParser`)
 * and told here instead: one line, with the fix, and the JSON line with `--json`.
 */
const report = (error: unknown, args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const command = args.find((a) => COMMANDS.has(a)) ?? null
    const report = Failure.describe(error, command ?? undefined)
    if (args.includes("--json")) {
      yield* Console.log(Output.jsonLine({ type: "error", command, ok: false, ...report.fields }))
    }
    yield* Effect.forEach(report.lines, (l) => Console.error(`error: ${l}`), { discard: true })
    return report.exitCode
  })

/** Holds back what goes to stderr before a command starts: @effect/cli's own parse errors. */
const quietParser = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Console.consoleWith((base) =>
    Console.withConsole(self, {
      ...base,
      error: (...args: ReadonlyArray<unknown>) => Run.commandStarted() ? base.error(...args) : Effect.void
    })
  )

const withPlainConsole = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Console.consoleWith((base) =>
    Console.withConsole(self, Output.plainConsole(base, process.stdout.isTTY === true, process.stderr.isTTY === true))
  )

/**
 * What the program uses of Node: NodeContext without its worker manager (10 ms of a start), its
 * terminal made only when read (`LazyTerminal`).
 */
const context = Layer.mergeAll(NodePath.layer, LazyTerminal.layer, NodeCommandExecutor.layer).pipe(
  Layer.provideMerge(NodeFileSystem.layer)
)

type Context = Layer.Layer.Success<typeof context>

/**
 * Runs the program on `argv` (`process.argv`: node, the script, then the arguments) and
 * succeeds with the exit code. Never fails: every failure is printed and becomes a code.
 *
 * @since 0.1.0
 */
export const main = (argv: ReadonlyArray<string>): Effect.Effect<number> => {
  const args = argv.slice(2)
  // refused before @effect/cli parses anything: a secret as a flag, Node's own --env-file
  const refused = Failure.secretFlag(args) ?? Failure.nodeFlag(args)
  const program: Effect.Effect<void, unknown, Context> = refused === undefined
    ? quietParser(cli([...argv.slice(0, 2), ...builtInsFirst(args)]))
    : Effect.fail(refused)
  return program.pipe(
    Effect.as(Failure.ExitCode.Success as number),
    Effect.catchAll((error) => error instanceof Run.Exit ? Effect.succeed(error.code) : report(error, args)),
    Effect.catchAllCause((cause) => {
      if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause)
      const report = Failure.fromCause(cause)
      return Effect.as(Effect.forEach(report.lines, (l) => Console.error(`error: ${l}`), { discard: true }), report.exitCode)
    }),
    // Effect's own logs (litestream's lines among them) only with --log-level, and on stderr.
    Effect.provide(Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger))),
    Logger.withMinimumLogLevel(LogLevel.None),
    withPlainConsole,
    Effect.provide(context)
  )
}

/**
 * Ends the process once stdout and stderr have handed everything written to the system.
 * NodeRuntime ends a successful program by letting the event loop drain, which also waits for
 * what no longer matters once every scope has closed (an idle keep-alive connection of the
 * HTTP client, a file request in flight): 20-180 ms of a 1 MB restore from S3 here.
 */
const exitFlushed = (code: number): void => {
  const streams = [process.stdout, process.stderr].filter((s) => s.writableLength > 0)
  if (streams.length === 0) return process.exit(code)
  let pending = streams.length
  for (const s of streams) s.once("drain", () => --pending === 0 && process.exit(code))
}

/**
 * The exit code of the ended program, for `NodeRuntime.runMain`: `main`'s result; on SIGINT /
 * SIGTERM 0 for `replicate` (its normal end), else 130; 1 for anything unforeseen. The process
 * then ends at once (`exitFlushed`), as NodeRuntime already does for any other code.
 *
 * @since 0.1.0
 */
export const teardown: Teardown = (exit, onExit) => {
  const code = Exit.isSuccess(exit)
    ? (typeof exit.value === "number" ? exit.value : Failure.ExitCode.Success)
    : Cause.isInterruptedOnly(exit.cause)
    ? Run.exitCodeOnSignal()
    : Failure.ExitCode.Failure
  onExit(code)
  exitFlushed(code)
}

/**
 * Runs the program on `argv` as the process: SIGINT / SIGTERM interrupt it (NodeRuntime), so every
 * scope closes and litestream gets its graceful stop; `teardown` sets the exit code.
 *
 * @since 0.1.0
 */
export const runMain = (argv: ReadonlyArray<string>): void =>
  NodeRuntime.runMain(main(argv), { disableErrorReporting: true, disablePrettyLogger: true, teardown })
