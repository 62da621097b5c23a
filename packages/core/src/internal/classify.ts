import {
  LitestreamFailed,
  LocalFileError,
  NoBackupsFound,
  OutputExists,
  ReplicaAccessDenied,
  ReplicaUnreachable
} from "../LitestreamError.js"
import * as LitestreamEvent from "../LitestreamEvent.js"

const DENIED = /AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch|NoCredentialProviders|Forbidden|status code: 403|ExpiredToken/
const UNREACHABLE =
  /connection refused|no such host|send request failed|NoSuchBucket|i\/o timeout|dial tcp|network is unreachable|connection reset|no route to host/

/**
 * The error text of a log line (`error=` attribute, else the message, else the line).
 * @internal
 */
export const errorText = (line: string): string => {
  const event = LitestreamEvent.parse(line)
  switch (event._tag) {
    case "ReplicaErrorLogged":
      return event.error || event.message
    case "Other":
      return event.attributes.error ?? event.message
    case "Unparsed":
      return event.line
    default:
      return line
  }
}

/**
 * Maps a replica error text to the error a user can act on, if it is a known kind.
 * @internal
 */
export const replicaProblem = (replica: string, detail: string) =>
  DENIED.test(detail)
    ? new ReplicaAccessDenied({ replica, detail: firstLine(detail) })
    : UNREACHABLE.test(detail)
    ? new ReplicaUnreachable({ replica, detail: firstLine(detail) })
    : undefined

// litestream's errors span lines ("RequestError: send request failed\ncaused by: dial tcp ...");
// the cause is the useful part, so keep every line.
const firstLine = (s: string) => s.split("\n").map((l) => l.trim()).filter((l) => l !== "").join("; ")

/**
 * Maps a failed litestream run (non-zero exit) to a typed error, from the lines it printed.
 * @internal
 */
export const failure = (
  operation: "restore" | "replicate" | "list",
  replica: string,
  exitCode: number,
  lines: ReadonlyArray<string>
) => {
  // litestream v0.5 prints its fatal error as plain text ("Error: no matching backup files available")
  if (lines.some((l) => l.startsWith("Error: no matching backup files available"))) return new NoBackupsFound({ replica })
  const errors = lines.filter((l) => /\bERROR\b|"level":"ERROR"|level=ERROR|^Error: /.test(l)).map(errorText)
  for (const detail of errors.reverse()) {
    if (detail.includes("no matching backups found")) return new NoBackupsFound({ replica })
    const exists = /output path already exists: (.*)$/.exec(detail)
    if (exists) return new OutputExists({ path: exists[1]!.trim() })
    // Go's *PathError: "write /path/to/file: no space left on device"
    const full = /(\w+) (\/[^:]*): (?:no space left on device|disk quota exceeded)/i.exec(detail)
    if (full) return LocalFileError.of(full[1]!, full[2]!, firstLine(detail))
    const problem = replicaProblem(replica, detail)
    if (problem) return problem
  }
  return new LitestreamFailed({ operation, exitCode, stderr: lines.slice(-10) })
}
