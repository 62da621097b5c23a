/**
 * A scripted, in-memory `CommandExecutor` for the unit tests: no process is ever spawned.
 *
 * Every `Command` it is asked to start is recorded (binary, argv, env), and answered by a fake
 * `Process` that follows a `Script`: which lines it prints on stderr/stdout and when (with
 * `Effect.sleep`, so `TestClock` drives it), how it exits, and what it does with SIGTERM
 * (litestream's final sync then exit 0 or 1, dying of the signal, or ignoring it). SIGKILL always
 * kills it. Spawn failures are the `SystemError`s @effect/platform-node produces for ENOENT/EACCES.
 *
 * It mirrors @effect/platform-node's executor where the code under test can tell:
 * - `kill(signal)` delivers the signal and then waits for the process to exit;
 * - `kill` of a process that already exited fails;
 * - `exitCode` fails when the process died of a signal;
 * - stdout and stderr end when the process exits;
 * - closing the scope of `start` sends SIGTERM to a process still running and waits for its exit
 *   (recorded apart, in `finalizerSignals`: the platform never escalates to SIGKILL).
 */
import type * as Command from "@effect/platform/Command"
import * as CommandExecutor from "@effect/platform/CommandExecutor"
import { type PlatformError, SystemError } from "@effect/platform/Error"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Inspectable from "effect/Inspectable"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import * as Take from "effect/Take"

/** Where a line goes. */
export type Channel = "stdout" | "stderr"

/** One line of output. `at` is the time since the start of the process (or since the signal). */
export interface Line {
  readonly text: string
  /** default: right after the previous line */
  readonly at?: Duration.DurationInput
  /** default: stderr, where litestream logs */
  readonly channel?: Channel
}

/** What the fake does on SIGTERM (or SIGINT) when it handles it: litestream's final sync. */
export interface OnSignal {
  /** printed after the signal; `at` counts from the signal */
  readonly lines?: ReadonlyArray<Line | string>
  /** exit code after the last line: 0 when the final sync worked, 1 when it failed */
  readonly exitCode: number
  /** when to exit, counted from the signal; default: right after the last line */
  readonly exitAt?: Duration.DurationInput
  /** run when the signal arrives, before anything is printed (to look at the world then) */
  readonly effect?: Effect.Effect<void>
}

/** The behaviour of one fake process. */
export interface Script {
  /** fail the spawn, as ENOENT ("NotFound") or EACCES ("PermissionDenied") do */
  readonly spawnError?: "NotFound" | "PermissionDenied" | undefined
  /** printed in order */
  readonly lines?: ReadonlyArray<Line | string> | undefined
  /** exit code after the last line, or "never": run until a signal ends it (the default) */
  readonly exit?: number | "never" | undefined
  /** when to exit, counted from the start; default: right after the last line */
  readonly exitAt?: Duration.DurationInput | undefined
  /** SIGTERM/SIGINT: "die" of it (the default, as a process without a handler), "ignore" it, or handle it */
  readonly onSigterm?: OnSignal | "die" | "ignore" | undefined
  /** run once the process is started, before its first line (e.g. to write `<out>.tmp`) */
  readonly onStart?: ((run: Run) => Effect.Effect<void>) | undefined
}

/** How a fake process ended. */
export type Exit =
  | { readonly _tag: "Code"; readonly code: number }
  | { readonly _tag: "Signal"; readonly signal: CommandExecutor.Signal }

/** The record of one command the executor was asked to start. */
export interface Run {
  readonly index: number
  readonly command: string
  readonly args: ReadonlyArray<string>
  /** the environment the command adds to (or sets, without `extendEnv`) the child's */
  readonly env: Readonly<Record<string, string>>
  readonly extendEnv: boolean
  readonly spawned: boolean
  readonly pid: number
  /** every signal delivered through `Process.kill`, in order */
  readonly signals: ReadonlyArray<CommandExecutor.Signal>
  /** the SIGTERM the executor's own scope finalizer sent to a process still running */
  readonly finalizerSignals: ReadonlyArray<CommandExecutor.Signal>
  /** every line printed, in order */
  readonly output: ReadonlyArray<{ readonly channel: Channel; readonly text: string }>
  /** completed when the process exits */
  readonly exited: Deferred.Deferred<Exit>
}

/** What the tests see of the mock. */
export interface MockExecutorService {
  /** every command asked to start, spawn failures included, in order */
  readonly runs: ReadonlyArray<Run>
  /** waits for the next process that was spawned (in start order) */
  readonly started: Effect.Effect<Run>
}

/** The recorder of the mock executor. */
export class MockExecutor extends Context.Tag("test/MockExecutor")<MockExecutor, MockExecutorService>() {}

/** One script for every run, or a script per run (by start index and command). */
export type ScriptInput = Script | ((command: Command.StandardCommand, index: number) => Script)

const ProcessProto = {
  [CommandExecutor.ProcessTypeId]: CommandExecutor.ProcessTypeId,
  ...Inspectable.BaseProto,
  toJSON(this: CommandExecutor.Process) {
    return { _id: "@effect/platform/CommandExecutor/Process", pid: this.pid, fake: true }
  }
}

const commandLine = (command: Command.StandardCommand) => [command.command, ...command.args].join(" ")

const spawnError = (command: Command.StandardCommand, reason: "NotFound" | "PermissionDenied") =>
  new SystemError({
    reason,
    module: "Command",
    method: "spawn",
    pathOrDescriptor: commandLine(command),
    syscall: `spawn ${command.command}`,
    description: `spawn ${command.command} ${reason === "NotFound" ? "ENOENT" : "EACCES"}`
  })

const normalize = (line: Line | string): Line => (typeof line === "string" ? { text: line } : line)

const millis = (d: Duration.DurationInput | undefined): number | undefined =>
  d === undefined ? undefined : Duration.toMillis(Duration.decode(d))

/** Sleeps until `base + offset` on the (test) clock; never sleeps for zero or less. */
const sleepUntil = (base: number, offset: number | undefined) =>
  offset === undefined ? Effect.void : Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const left = base + offset - now
    return left > 0 ? Effect.sleep(Duration.millis(left)) : Effect.void
  })

/**
 * A mock `CommandExecutor` and its recorder (`MockExecutor`) as one layer. Every test that
 * builds it gets fresh records.
 *
 * `litestream version` (which the services run once, to pick the command set) is answered with
 * `options.version` (default `v0.3.13`) and not recorded, unless `options.version` is `"script"`:
 * then it goes to the script like any other command.
 */
export const layer = (
  script: ScriptInput,
  options: { readonly version?: string | "script" } = {}
): Layer.Layer<CommandExecutor.CommandExecutor | MockExecutor> =>
  Layer.effectContext(Effect.gen(function*() {
    const runs: Array<Run> = []
    const startedQueue = yield* Queue.unbounded<Run>()
    let nextPid = 4000

    const start = (command: Command.Command): Effect.Effect<CommandExecutor.Process, PlatformError, Scope.Scope> =>
      Effect.gen(function*() {
        if (command._tag !== "StandardCommand") {
          return yield* Effect.dieMessage("MockExecutor: piped commands are not scripted")
        }
        const answersVersion = command.args[0] === "version" && options.version !== "script"
        const index = answersVersion ? -1 : runs.length
        const s: Script = answersVersion
          ? { lines: [{ text: options.version ?? "v0.3.13", channel: "stdout" }], exit: 0 }
          : typeof script === "function"
          ? script(command, index)
          : script
        const signals: Array<CommandExecutor.Signal> = []
        const finalizerSignals: Array<CommandExecutor.Signal> = []
        const output: Array<{ channel: Channel; text: string }> = []
        const exited = yield* Deferred.make<Exit>()
        const run: Run = {
          index,
          command: command.command,
          args: [...command.args],
          env: Object.fromEntries(command.env),
          extendEnv: command.extendEnv,
          spawned: s.spawnError === undefined,
          pid: nextPid++,
          signals,
          finalizerSignals,
          output,
          exited
        }
        if (!answersVersion) runs.push(run)
        if (s.spawnError !== undefined) return yield* spawnError(command, s.spawnError)

        const scope = yield* Effect.scope
        const streams = {
          stdout: yield* Queue.unbounded<Take.Take<Uint8Array, PlatformError>>(),
          stderr: yield* Queue.unbounded<Take.Take<Uint8Array, PlatformError>>()
        }
        const incoming = yield* Queue.unbounded<CommandExecutor.Signal>()
        const encoder = new TextEncoder()
        const fibers = new Set<Fiber.RuntimeFiber<unknown, unknown>>()
        const daemon = <A>(effect: Effect.Effect<A>) =>
          Effect.interruptible(effect).pipe(Effect.forkDaemon, Effect.tap((fiber) => fibers.add(fiber)), Effect.asVoid)
        const startedAt = yield* Clock.currentTimeMillis

        const print = (line: Line) =>
          Effect.flatMap(Deferred.isDone(exited), (done) => {
            if (done) return Effect.void
            const channel = line.channel ?? "stderr"
            output.push({ channel, text: line.text })
            return Queue.offer(streams[channel], Take.chunk(Chunk.of(encoder.encode(`${line.text}\n`))))
          })

        // Exit: the streams end first (no line is lost), then the exit code is known.
        const exit = (result: Exit) =>
          Effect.uninterruptible(Effect.gen(function*() {
            if (yield* Deferred.isDone(exited)) return
            yield* Queue.offer(streams.stdout, Take.end)
            yield* Queue.offer(streams.stderr, Take.end)
            yield* Deferred.succeed(exited, result)
          }))

        const perform = (lines: ReadonlyArray<Line | string>, base: number) =>
          Effect.forEach(lines.map(normalize), (line) =>
            Effect.zipRight(sleepUntil(base, millis(line.at)), print(line)), { discard: true })

        const main = Effect.gen(function*() {
          if (s.onStart) yield* s.onStart(run)
          yield* perform(s.lines ?? [], startedAt)
          if (s.exit === undefined || s.exit === "never") return yield* Effect.never
          yield* sleepUntil(startedAt, millis(s.exitAt))
          yield* exit({ _tag: "Code", code: s.exit })
        })

        const onSignal = (signal: CommandExecutor.Signal): Effect.Effect<void> => {
          const handler = s.onSigterm ?? "die"
          if (signal === "SIGKILL" || !(signal === "SIGTERM" || signal === "SIGINT") || handler === "die") {
            return exit({ _tag: "Signal", signal })
          }
          if (handler === "ignore") return Effect.void
          // The final sync runs beside the signal loop, so that a SIGKILL can still cut it short.
          return Effect.gen(function*() {
            const base = yield* Clock.currentTimeMillis
            if (handler.effect) yield* handler.effect
            yield* perform(handler.lines ?? [], base)
            yield* sleepUntil(base, millis(handler.exitAt))
            yield* exit({ _tag: "Code", code: handler.exitCode })
          }).pipe(daemon)
        }

        // The process is not a fiber of the code under test: like an OS process, it runs on its
        // own (daemon fibers) until it exits, and everything it runs stops when it exits.
        yield* daemon(main)
        yield* daemon(Effect.forever(Effect.flatMap(Queue.take(incoming), onSignal)))
        yield* Deferred.await(exited).pipe(
          Effect.zipRight(Effect.suspend(() => Fiber.interruptAll(fibers))),
          Effect.forkDaemon
        )

        // @effect/platform-node: on scope close, SIGTERM a process still running and wait for it.
        yield* Scope.addFinalizer(
          scope,
          Effect.flatMap(Deferred.isDone(exited), (done) => {
            if (done) return Effect.void
            finalizerSignals.push("SIGTERM")
            return Queue.offer(incoming, "SIGTERM").pipe(Effect.zipRight(Deferred.await(exited)), Effect.asVoid)
          })
        )

        const exitCode: CommandExecutor.Process["exitCode"] = Effect.flatMap(
          Deferred.await(exited),
          (result) =>
            result._tag === "Code"
              ? Effect.succeed(CommandExecutor.ExitCode(result.code))
              : Effect.fail(
                new SystemError({
                  reason: "Unknown",
                  module: "Command",
                  method: "exitCode",
                  pathOrDescriptor: commandLine(command),
                  description: `Process interrupted due to receipt of signal: ${result.signal}`
                })
              )
        )

        const kill: CommandExecutor.Process["kill"] = (signal = "SIGTERM") =>
          Effect.flatMap(Deferred.isDone(exited), (done) => {
            if (done) {
              return Effect.fail(
                new SystemError({
                  reason: "Unknown",
                  module: "Command",
                  method: "kill",
                  pathOrDescriptor: commandLine(command),
                  description: "Failed to kill process"
                })
              )
            }
            signals.push(signal)
            return Queue.offer(incoming, signal).pipe(Effect.zipRight(Deferred.await(exited)), Effect.asVoid)
          })

        const output$ = (channel: Channel): Stream.Stream<Uint8Array, PlatformError> =>
          Stream.fromQueue(streams[channel]).pipe(Stream.flattenTake)

        const process: CommandExecutor.Process = Object.assign(Object.create(ProcessProto), {
          pid: CommandExecutor.ProcessId(run.pid),
          exitCode,
          isRunning: Effect.negate(Deferred.isDone(exited)),
          kill,
          stdin: Sink.drain,
          stdout: output$("stdout"),
          stderr: output$("stderr")
        })
        if (!answersVersion) yield* Queue.offer(startedQueue, run)
        return process
      })

    const service: MockExecutorService = { runs, started: Queue.take(startedQueue) }
    return Context.make(MockExecutor, service).pipe(
      Context.add(CommandExecutor.CommandExecutor, CommandExecutor.makeExecutor(start))
    )
  }))

/** The lines a run printed on a channel, or on both. */
export const printed = (run: Run, channel?: Channel): Array<string> =>
  run.output.filter((o) => channel === undefined || o.channel === channel).map((o) => o.text)

/** Whether a run has exited, and how. */
export const exitOf = (run: Run): Effect.Effect<Option.Option<Exit>> => Deferred.poll(run.exited).pipe(
  Effect.flatMap(Option.match({ onNone: () => Effect.succeedNone, onSome: (e) => Effect.asSome(e) }))
)
