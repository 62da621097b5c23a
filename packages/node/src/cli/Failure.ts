/**
 * How a failure is told: one line per problem, each with its fix, no stack trace; the exit
 * code (1: the job failed, 2: bad usage or settings); and the JSON fields for `--json`.
 *
 * @since 0.1.0
 */
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as ValidationError from "@effect/cli/ValidationError"
import { LitestreamEvent } from "@effect-litestream/core"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Option from "effect/Option"
import { stripAnsi } from "./Output.js"
import { flagOf } from "./Settings.js"

/**
 * The exit codes.
 *
 * @since 0.1.0
 */
export const ExitCode = {
  /** the job was done (or skipped as the options allowed) */
  Success: 0,
  /** the job failed: no backups, replica unreachable, timeout, litestream failed, ... */
  Failure: 1,
  /** bad usage or settings: unknown flag, invalid value, missing or invalid setting, env file */
  Usage: 2,
  /** interrupted by SIGINT / SIGTERM before the job was done (not for `replicate`: its normal end) */
  Interrupted: 130
} as const

/**
 * A usage error found before @effect/cli parses the arguments (a secret given as a flag).
 *
 * @since 0.1.0
 */
export class UsageError extends Data.TaggedError("UsageError")<{
  readonly rule: string
  readonly fix: string
}> {
  override get message(): string {
    return `${this.rule}. Fix: ${this.fix}`
  }
}

/**
 * What to print and how to exit.
 *
 * @since 0.1.0
 */
export interface Report {
  readonly exitCode: number
  /** one line per problem, each ending with its fix */
  readonly lines: ReadonlyArray<string>
  /** the fields of the JSON `error` line */
  readonly fields: Record<string, unknown>
}

interface Issue {
  readonly variable: string
  readonly rule: string
  readonly fix: string
}

const oneLine = (s: string) => s.split("\n").map((l) => l.trim()).filter((l) => l !== "").join(" ")

const splitFix = (message: string): { readonly what: string; readonly fix: string | undefined } => {
  const at = message.indexOf(" Fix: ")
  return at === -1
    ? { what: oneLine(message).replace(/\.$/, ""), fix: undefined }
    : { what: oneLine(message.slice(0, at)).replace(/\.$/, ""), fix: oneLine(message.slice(at + 6)).replace(/\.$/, "") }
}

const line = (what: string, fix: string | undefined) => fix === undefined ? `${what}.` : `${what}. Fix: ${fix}.`

const issueLine = (issue: Issue) => {
  const flag = flagOf[issue.variable]
  const rule = /^(is|must|only) /.test(issue.rule) ? `${issue.variable} ${issue.rule}` : `${issue.variable}: ${issue.rule}`
  return line(rule.replace(/\.$/, ""), `${issue.fix.replace(/\.$/, "")}${flag === undefined ? "" : ` (or pass ${flag})`}`)
}

/** What litestream said last, in a few words: the message and error of its last error line. */
const lastWords = (lines: ReadonlyArray<string>): string | undefined => {
  const records = lines.map((l) => [l, LitestreamEvent.parseRecord(l)] as const)
  const errors = records.filter(([, r]) => Option.isSome(r) && (r.value.level === "ERROR" || r.value.level === "WARN"))
  const [raw, record] = errors.at(-1) ?? records.at(-1) ?? [undefined, Option.none()]
  if (raw === undefined) return undefined
  return Option.match(record, {
    onNone: () => oneLine(raw),
    onSome: (r) => oneLine(r.attributes.error ? `${r.message}: ${r.attributes.error}` : r.message)
  })
}

/** Fixes in the program's terms, where the library's name its API. */
const FIXES: Record<string, string> = {
  FinalSyncFailed: "check that the replica is reachable, then run effect-litestream backup before relying on it",
  DatabaseNotFound: "check DB_FOLDER and DB_SQLITE (or --folder and --db), or restore it first",
  BinaryNotFound:
    "install @flydotio/litestream, put litestream on PATH, or set LITESTREAM_BIN (or --litestream-bin) to its path"
}

/** The library's messages may end with litestream's last lines: the program tells them in a few words. */
const withoutTail = (message: string) => message.split("\nLast output:")[0]!

const withWords = (what: string, stderr: unknown) => {
  const said = Array.isArray(stderr) ? lastWords(stderr as ReadonlyArray<string>) : undefined
  return said === undefined ? what : `${what.replace(/\.$/, "")} (litestream: ${said})`
}

const DEBUG_FIX = "run again as effect-litestream --log-level debug COMMAND ... to see litestream's output"

const failure = (tag: string, what: string, fix: string | undefined, extra: Record<string, unknown> = {}): Report => ({
  exitCode: ExitCode.Failure,
  lines: [line(what, fix)],
  fields: { error: tag, message: what, fix: fix ?? null, exitCode: ExitCode.Failure, ...extra }
})

const usage = (tag: string, lines: ReadonlyArray<string>, extra: Record<string, unknown> = {}): Report => ({
  exitCode: ExitCode.Usage,
  lines,
  fields: { error: tag, message: lines.join(" "), exitCode: ExitCode.Usage, ...extra }
})

type Tagged = { readonly _tag: string; readonly message: string } & Record<string, unknown>

const isTagged = (u: unknown): u is Tagged =>
  typeof u === "object" && u !== null && typeof (u as Tagged)._tag === "string" &&
  typeof (u as Tagged).message === "string"

// --delete-local refused: nothing was deleted, and the way out in the CLI's own terms.
const DELETE_FIXES: Record<string, string> = {
  DatabaseInUse:
    "stop the processes that have it open (close every connection), then run backup --delete-local again; or run backup without --delete-local",
  DatabaseChangedAfterBackup: "stop the writers, then run backup --delete-local again",
  DeleteLocalUnavailable: "install better-sqlite3 beside effect-litestream (npm install better-sqlite3), or run backup without --delete-local"
}

/**
 * The report of a typed failure.
 *
 * @since 0.1.0
 */
export const describe = (error: unknown, command?: string): Report => {
  if (ValidationError.isValidationError(error)) {
    const doc = (error as { readonly error?: HelpDoc.HelpDoc }).error
    const { fix, what } = splitFix(doc === undefined ? error._tag : stripAnsi(HelpDoc.toAnsiText(doc)))
    return usage("UsageError", [line(what, fix ?? `see effect-litestream ${command ?? ""} --help`.replace("  ", " "))])
  }
  if (!isTagged(error)) return unexpected(String(error))
  switch (error._tag) {
    case "LitestreamConfigError": {
      const issues = error.issues as ReadonlyArray<Issue>
      return usage("LitestreamConfigError", issues.map(issueLine), {
        issues: issues.map((i) => ({ variable: i.variable, flag: flagOf[i.variable] ?? null, rule: i.rule, fix: i.fix }))
      })
    }
    case "EnvFileError":
    case "UsageError": {
      const { fix, what } = splitFix(error.message)
      return usage(error._tag, [line(what, fix)])
    }
    case "NoBackupsFound":
      return failure(
        error._tag,
        `No backups found at ${String(error.replica)}`,
        "check REPLICA_URL (or --replica-url), or pass --if-replica-exists to treat an empty replica as success",
        { replica: error.replica }
      )
    case "OutputExists":
      return failure(
        error._tag,
        `Cannot restore: ${String(error.path)} already exists and was left untouched`,
        "move it away, restore elsewhere with --output PATH, or pass --if-db-not-exists to skip when it exists",
        { path: error.path }
      )
    case "StaleSidecarFiles": {
      const { what } = splitFix(error.message)
      const one = Array.isArray(error.files) && error.files.length === 1
      return failure(
        error._tag,
        what,
        `if ${one ? "it belongs" : "they belong"} to no database, remove or move ${one ? "it" : "them"} away, or pass --move-aside-sidecars to rename ${one ? "it" : "them"} aside (never deleted) and restore`,
        { path: error.path, files: error.files }
      )
    }
    case "DatabaseInUse":
    case "DatabaseChangedAfterBackup":
    case "DeleteLocalUnavailable": {
      const { what } = splitFix(error.message)
      return failure(error._tag, what, DELETE_FIXES[error._tag], {
        path: error.path,
        ...(error._tag === "DatabaseInUse" ? { pids: error.pids } : {})
      })
    }
    case "LitestreamTimeout": {
      const { what } = splitFix(error.message)
      return failure(error._tag, what, "check that the replica answers, or raise --timeout")
    }
    case "LitestreamFailed":
    case "ExitedEarly": {
      const { what } = splitFix(withoutTail(error.message))
      return failure(error._tag, withWords(what, error.stderr), DEBUG_FIX, { litestreamExitCode: error.exitCode })
    }
    case "VerificationFailed": {
      const verification = error.verification as { readonly _tag: string; readonly reason: string }
      return failure(
        error._tag,
        `The backup could not be verified (${verification._tag}): ${oneLine(verification.reason).replace(/\.$/, "")}`,
        "check the replica with effect-litestream snapshots, then run effect-litestream verify again; nothing was deleted",
        { verification }
      )
    }
    case "AlreadyReplicating": {
      // the library's message names the holder and why; the fix in the program's terms
      const { what } = splitFix(error.message)
      const fix = error.holder === "OtherHost"
        ? `stop it on ${String(error.host)} first, then run this again; if that process is gone, delete ${String(error.lockFile)}`
        : `let the running replication do the backing up (it already copies every commit to the replica; in an application, Replication.syncAfter confirms a write), or stop it first (SIGTERM to pid ${
          String(error.pid)
        }: final sync, then exit) and run this again`
      return failure(error._tag, what, fix, {
        path: error.path,
        lockFile: error.lockFile,
        pid: error.pid,
        host: error.host,
        since: error.since,
        holder: error.holder
      })
    }
    default: {
      const { fix, what } = splitFix(withoutTail(error.message))
      return failure(error._tag, withWords(what, error.stderr), FIXES[error._tag] ?? fix)
    }
  }
}

/**
 * The report of a defect: a bug, told in one line, without its stack.
 *
 * @since 0.1.0
 */
export const unexpected = (message: string): Report =>
  failure("UnexpectedError", `unexpected failure: ${oneLine(message)}`, "this is a bug of effect-litestream; please report it with the command you ran")

/**
 * The report of a cause: its first failure, else its first defect.
 *
 * @since 0.1.0
 */
export const fromCause = (cause: Cause.Cause<unknown>): Report =>
  Option.match(Cause.failureOption(cause), {
    onSome: describe,
    onNone: () =>
      Option.match(Cause.dieOption(cause), {
        onSome: (defect) => unexpected(defect instanceof Error ? defect.message : String(defect)),
        onNone: () => unexpected(Cause.pretty(cause).split("\n")[0] ?? "unknown")
      })
  })

/**
 * `--env-file` is Node's own flag: Node 20 and later read it anywhere on the command line, also
 * after the script (nodejs/node#54232), and exit 9 before the program starts when the file is
 * missing. It reaches the program only when the file exists; refused then, pointing at
 * `--dotenv`. Nothing after `--` counts (Node stops there too).
 *
 * @since 0.1.0
 */
export const nodeFlag = (args: ReadonlyArray<string>): UsageError | undefined => {
  const end = args.indexOf("--")
  const found = (end < 0 ? args : args.slice(0, end)).find((a) => a === "--env-file" || a.startsWith("--env-file="))
  return found === undefined ? undefined : new UsageError({
    rule:
      "--env-file is Node's own flag, not this program's: Node reads it itself and stops (exit 9) when the file does not exist",
    fix: "pass the settings file as --dotenv PATH"
  })
}

const SECRET_FLAG =
  /^--?(access-key(-id)?|secret(-access-key|-key)?|aws-access-key-id|aws-secret-access-key|litestream-access-key-id|litestream-secret-access-key|key|token|password)(=.*)?$/i

/**
 * Secrets are read only from the environment or the env file: a flag would end up in the shell
 * history and in `ps`. The value is never echoed.
 *
 * @since 0.1.0
 */
export const secretFlag = (args: ReadonlyArray<string>): UsageError | undefined => {
  const found = args.find((a) => SECRET_FLAG.test(a))
  return found === undefined ? undefined : new UsageError({
    rule: `${found.split("=")[0]} is not accepted: secrets are never taken as flags, which end up in the shell history and in ps`,
    fix: "set LITESTREAM_ACCESS_KEY_ID and LITESTREAM_SECRET_ACCESS_KEY in the environment or in the env file (--dotenv PATH)"
  })
}
