/**
 * What the command-line program prints. For people: short lines on stdout (what is happening,
 * how long it took) and errors on stderr. With `--json`: one JSON object per line on stdout,
 * each with a `type` (`progress`, `event`, `row`, `result`, `error`) and the `command`.
 *
 * @since 0.1.0
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"

/**
 * The printer of one command run.
 *
 * @since 0.1.0
 */
export interface Output {
  readonly json: boolean
  readonly command: string
  /** what is happening now */
  readonly progress: (message: string, fields?: Record<string, unknown>) => Effect.Effect<void>
  /** something litestream reported; `human` is omitted for events people need not see */
  readonly event: (fields: Record<string, unknown>, human?: string | undefined) => Effect.Effect<void>
  /** one row of a listing */
  readonly row: (fields: Record<string, unknown>) => Effect.Effect<void>
  /** the outcome of the command */
  readonly result: (fields: Record<string, unknown>, human: ReadonlyArray<string>) => Effect.Effect<void>
  /** a problem that does not end the command */
  readonly warn: (message: string, fields?: Record<string, unknown>) => Effect.Effect<void>
  /** the error that ended the command: stderr for people, and a JSON line with `--json` */
  readonly error: (fields: Record<string, unknown>, human: ReadonlyArray<string>) => Effect.Effect<void>
  /** lines for people only (tables); nothing with `--json` */
  readonly lines: (lines: ReadonlyArray<string>) => Effect.Effect<void>
}

const replacer = (_key: string, value: unknown) =>
  value instanceof Date ? value.toISOString() : typeof value === "bigint" ? value.toString() : value

/**
 * One JSON line.
 *
 * @since 0.1.0
 */
export const jsonLine = (fields: Record<string, unknown>): string => JSON.stringify(fields, replacer)

/**
 * A printer for `command`, for people or (`json`) for programs.
 *
 * @since 0.1.0
 */
export const make = (command: string, json: boolean): Output => {
  const emit = (type: string, fields: Record<string, unknown>) => Console.log(jsonLine({ type, command, ...fields }))
  const say = (line: string) => Console.log(`${command}: ${line}`)
  return {
    json,
    command,
    progress: (message, fields = {}) => json ? emit("progress", { message, ...fields }) : say(message),
    event: (fields, human) => json ? emit("event", fields) : human === undefined ? Effect.void : say(human),
    row: (fields) => json ? emit("row", fields) : Effect.void,
    result: (fields, human) =>
      json ? emit("result", { ok: true, ...fields }) : Effect.forEach(human, say, { discard: true }),
    warn: (message, fields = {}) =>
      json ? emit("warning", { message, ...fields }) : Console.error(`${command}: warning: ${message}`),
    error: (fields, human) =>
      Effect.zipRight(
        json ? emit("error", { ok: false, ...fields }) : Effect.void,
        Effect.forEach(human, (line) => Console.error(`error: ${line}`), { discard: true })
      ),
    lines: (lines) => json ? Effect.void : Effect.forEach(lines, (l) => Console.log(l), { discard: true })
  }
}

/**
 * A duration for people: `312 ms`, `1.24 s`, `2 min 5 s`.
 *
 * @since 0.1.0
 */
export const formatMillis = (ms: number): string =>
  ms < 1000
    ? `${Math.round(ms)} ms`
    : ms < 60_000
    ? `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`
    : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`

/**
 * A size for people: `512 B`, `4.0 kB`, `1.2 MB`.
 *
 * @since 0.1.0
 */
export const formatBytes = (n: number): string =>
  n < 1000 ? `${n} B` : n < 1_000_000 ? `${(n / 1000).toFixed(1)} kB` : `${(n / 1_000_000).toFixed(1)} MB`

/**
 * Aligned columns for people.
 *
 * @since 0.1.0
 */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): Array<string> => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()
  return [line(header), ...rows.map(line)]
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g

/**
 * Removes terminal colour codes.
 *
 * @since 0.1.0
 */
export const stripAnsi = (s: string): string => s.replace(ANSI, "")

/**
 * A `Console` that drops colour codes from what goes to a stream that is not a terminal, or
 * everywhere when `NO_COLOR` is set (@effect/cli colours its help and errors unconditionally).
 *
 * @since 0.1.0
 */
export const plainConsole = (base: Console.Console, stdoutTty: boolean, stderrTty: boolean): Console.Console => {
  const noColor = (process.env.NO_COLOR ?? "") !== ""
  const strip = (tty: boolean) => (args: ReadonlyArray<unknown>) =>
    tty && !noColor ? args : args.map((a) => (typeof a === "string" ? stripAnsi(a) : a))
  return {
    ...base,
    log: (...args: ReadonlyArray<unknown>) => base.log(...strip(stdoutTty)(args)),
    error: (...args: ReadonlyArray<unknown>) => base.error(...strip(stderrTty)(args))
  }
}
