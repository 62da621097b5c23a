/**
 * The typed errors of effect-litestream. Every error carries a `message` that says what went
 * wrong and how to fix it; none of them ever holds a secret in clear text.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import type { NativeReadUnsupported, ReplicaObjectNotFound, ReplicaStoreFailed } from "./ReplicaStoreError.js"
import * as DurationFns from "effect/Duration"

/**
 * One rejected setting: which variable, which rule it broke, and how to fix it.
 *
 * @since 0.1.0
 */
export interface SettingIssue {
  /** the environment variable (or option name) of the setting */
  readonly variable: string
  /** the rule that the value broke */
  readonly rule: string
  /** what to do about it */
  readonly fix: string
}

/**
 * The settings could not be decoded. Lists every problem at once.
 *
 * @since 0.1.0
 */
export class LitestreamConfigError extends Data.TaggedError("LitestreamConfigError")<{
  readonly issues: ReadonlyArray<SettingIssue>
}> {
  override get message(): string {
    return `Invalid litestream settings:\n${
      this.issues.map((i) => `  - ${i.variable}: ${i.rule}. Fix: ${i.fix}`).join("\n")
    }`
  }
}

/**
 * The litestream binary could not be started: missing, or not executable.
 *
 * @since 0.1.0
 */
export class BinaryNotFound extends Data.TaggedError("BinaryNotFound")<{
  readonly binary: string
  readonly reason: "NotFound" | "NotExecutable"
}> {
  override get message(): string {
    return this.reason === "NotFound"
      ? `The litestream binary "${this.binary}" was not found. Fix: install @flydotio/litestream, put litestream on PATH, or set LITESTREAM_BIN to its path.`
      : `The litestream binary "${this.binary}" is not executable. Fix: chmod +x it, or set LITESTREAM_BIN to an executable litestream.`
  }
}

/**
 * The database to replicate does not exist.
 *
 * @since 0.1.0
 */
export class DatabaseNotFound extends Data.TaggedError("DatabaseNotFound")<{
  readonly path: string
}> {
  override get message(): string {
    return `The database ${this.path} does not exist, so there is nothing to back up. Fix: check DB_FOLDER and DB_SQLITE, or restore it first.`
  }
}

/**
 * The replica holds no backup to restore.
 *
 * @since 0.1.0
 */
export class NoBackupsFound extends Data.TaggedError("NoBackupsFound")<{
  readonly replica: string
}> {
  override get message(): string {
    return `No backups found at ${this.replica}. Fix: check REPLICA_URL, or pass ifReplicaExists to treat an empty replica as success.`
  }
}

/**
 * Restore refused to overwrite a file that already exists.
 *
 * @since 0.1.0
 */
export class OutputExists extends Data.TaggedError("OutputExists")<{
  readonly path: string
}> {
  override get message(): string {
    return `Cannot restore: ${this.path} already exists and was left untouched. Fix: move it away, restore to another output path, or pass ifDbNotExists to skip when it exists.`
  }
}

/**
 * Restore refused to publish the database beside files that SQLite would take as its own: a
 * `-wal`, `-shm` or `-journal` next to an output path that holds no database. They are left by
 * an earlier database (a crash, or a delete of only the main file); on the first open SQLite
 * would apply such a `-wal` or `-journal` to the restored database and silently turn it into
 * (part of) that other database. Nothing was published and the files were left untouched.
 *
 * @since 0.2.0
 */
export class StaleSidecarFiles extends Data.TaggedError("StaleSidecarFiles")<{
  /** the output path, which does not exist */
  readonly path: string
  /** the files found beside it */
  readonly files: ReadonlyArray<string>
}> {
  override get message(): string {
    const one = this.files.length === 1
    return `Cannot restore ${this.path}: ${this.files.join(", ")} ${one ? "exists" : "exist"} beside it, most likely left by an earlier database at that path (a crash, or deleting only its main file). SQLite would apply ${
      one ? "it" : "them"
    } to the restored database on its first open and silently turn it into that earlier database. No database was published and ${
      one ? "the file was" : "the files were"
    } left untouched. Fix: if ${one ? "it belongs" : "they belong"} to no database, remove or move ${
      one ? "it" : "them"
    } away; or pass moveAsideSidecars to have ${one ? "it" : "them"} renamed aside (never deleted) before the database is published.`
  }
}

/**
 * The replica could not be reached (connection refused, unknown host, missing bucket).
 *
 * @since 0.1.0
 */
export class ReplicaUnreachable extends Data.TaggedError("ReplicaUnreachable")<{
  readonly replica: string
  readonly detail: string
}> {
  override get message(): string {
    return `Cannot reach the replica ${this.replica}: ${this.detail}. Fix: check REPLICA_URL (host, port, bucket) and that the store is up.`
  }
}

/**
 * The replica refused the credentials.
 *
 * @since 0.1.0
 */
export class ReplicaAccessDenied extends Data.TaggedError("ReplicaAccessDenied")<{
  readonly replica: string
  readonly detail: string
}> {
  override get message(): string {
    return `Access to the replica ${this.replica} was denied: ${this.detail}. Fix: check LITESTREAM_ACCESS_KEY_ID and LITESTREAM_SECRET_ACCESS_KEY and the bucket's permissions.`
  }
}

/**
 * Litestream logged an error for the replica while replicating.
 *
 * @since 0.1.0
 */
export class ReplicaError extends Data.TaggedError("ReplicaError")<{
  readonly replica: string
  readonly detail: string
}> {
  override get message(): string {
    return `Litestream could not replicate to ${this.replica}: ${this.detail}`
  }
}

/**
 * A step did not finish within its timeout. The litestream process was stopped.
 *
 * @since 0.1.0
 */
export class LitestreamTimeout extends Data.TaggedError("LitestreamTimeout")<{
  readonly operation: "restore" | "replicate" | "list" | "version"
  readonly timeout: Duration.Duration
}> {
  override get message(): string {
    return `litestream ${this.operation} did not finish within ${
      DurationFns.format(this.timeout)
    }; it was stopped. Fix: check that the replica answers, or raise the timeout.`
  }
}

/**
 * Litestream exited before doing its job (for `replicate`, before a sync was confirmed).
 *
 * @since 0.1.0
 */
export class ExitedEarly extends Data.TaggedError("ExitedEarly")<{
  readonly exitCode: number
  readonly stderr: ReadonlyArray<string>
}> {
  override get message(): string {
    return `litestream replicate exited with code ${this.exitCode} before the replica was in sync.${
      tail(this.stderr)
    }`
  }
}

/**
 * Any other failure of litestream: the exit code and the last lines it printed (secrets masked).
 *
 * @since 0.1.0
 */
export class LitestreamFailed extends Data.TaggedError("LitestreamFailed")<{
  readonly operation: "restore" | "replicate" | "list" | "version"
  readonly exitCode: number
  readonly stderr: ReadonlyArray<string>
}> {
  override get message(): string {
    return `litestream ${this.operation} failed with exit code ${this.exitCode}.${tail(this.stderr)}`
  }
}

const tail = (lines: ReadonlyArray<string>): string =>
  lines.length === 0 ? "" : `\nLast output:\n${lines.map((l) => `  ${l}`).join("\n")}`

/**
 * The replica cannot be restored as it is (native read side): an object is not what litestream
 * writes (a bad LZ4 frame, a WAL checksum mismatch, a snapshot that is no database), or one is
 * missing in the middle. Nothing was published, and no file was left behind.
 *
 * @since 0.2.0
 */
export class ReplicaCorrupt extends Data.TaggedError("ReplicaCorrupt")<{
  readonly replica: string
  /** the object at fault, relative to the replica's root (empty when it is the layout) */
  readonly key: string
  /** what is wrong, e.g. `BlockChecksum`, `WalChecksum`, `MissingSegment`, `NotADatabase` */
  readonly fault: string
  readonly detail: string
}> {
  override get message(): string {
    return `The replica ${this.replica} cannot be restored: ${this.key === "" ? "" : `${this.key}: `}${this.fault}: ${this.detail}. Nothing was restored. Fix: restore an earlier point (timestamp, generation), or back the database up again to write a new generation.`
  }
}

/**
 * An in-memory restore (`NativeRestore.toBytes`) would need more memory than it was allowed.
 *
 * @since 0.2.0
 */
export class InMemoryLimitExceeded extends Data.TaggedError("InMemoryLimitExceeded")<{
  readonly maxBytes: number
  /** the size the database reached when the restore stopped */
  readonly needed: number
}> {
  override get message(): string {
    return `The restored database needs at least ${this.needed} bytes, over the in-memory limit of ${this.maxBytes}. Nothing was returned. Fix: raise maxBytes, or restore to a file with Restore.restore.`
  }
}

/**
 * The newest release of each litestream line the library was tested against.
 *
 * @since 0.2.0
 */
export const TESTED_VERSIONS = { "v0.3": "0.3.13", "v0.5": "0.5.17" } as const

/**
 * The binary is a litestream the library cannot drive (older than 0.3, a line it does not know,
 * or no version at all).
 *
 * @since 0.2.0
 */
export class UnsupportedLitestreamVersion extends Data.TaggedError("UnsupportedLitestreamVersion")<{
  readonly binary: string
  /** what `litestream version` printed (its first line) */
  readonly version: string
}> {
  override get message(): string {
    return `The litestream binary "${this.binary}" reports version "${this.version}", which this library cannot drive: it knows litestream 0.3 (tested ${
      TESTED_VERSIONS["v0.3"]
    }) and 0.5 (tested ${TESTED_VERSIONS["v0.5"]}). Fix: set LITESTREAM_BIN to a litestream 0.3 or 0.5, or leave it unset for the bundled ${TESTED_VERSIONS["v0.3"]}.`
  }
}

/**
 * An option exists on one line of litestream only (`generation` and `index` on v0.3, `txid` on
 * v0.5), or a feature is not available on the line the binary belongs to.
 *
 * @since 0.2.0
 */
export class NotOnThisLine extends Data.TaggedError("NotOnThisLine")<{
  /** what was asked for, e.g. `restore option "generation"` */
  readonly feature: string
  readonly line: "v0.3" | "v0.5"
  readonly version: string
  readonly fix: string
}> {
  override get message(): string {
    return `${this.feature} is not available with litestream ${this.version} (the ${this.line} line). Fix: ${this.fix}`
  }
}

/**
 * Errors of `Restore.restore`.
 *
 * @since 0.1.0
 */
export type RestoreError =
  | UnsupportedLitestreamVersion
  | NotOnThisLine
  | ReplicaCorrupt
  | NativeReadUnsupported
  | ReplicaObjectNotFound
  | ReplicaStoreFailed
  | BinaryNotFound
  | NoBackupsFound
  | OutputExists
  | StaleSidecarFiles
  | ReplicaUnreachable
  | ReplicaAccessDenied
  | LitestreamTimeout
  | LitestreamFailed
  | LocalFileError

/**
 * Errors of `Replicate.once`.
 *
 * @since 0.1.0
 */
export type ReplicateError =
  | UnsupportedLitestreamVersion
  | NotOnThisLine
  | BinaryNotFound
  | DatabaseNotFound
  | ReplicaUnreachable
  | ReplicaAccessDenied
  | ReplicaError
  | LitestreamTimeout
  | ExitedEarly
  | LitestreamFailed
  | LocalFileError
  | DatabaseInUse
  | DatabaseChangedAfterBackup
  | DeleteLocalUnavailable
  | AlreadyReplicating

/**
 * A local file operation failed (creating the folder, writing the generated config, deleting
 * the local database after a backup, writing a restored database). `reason` is `"NoSpace"` when
 * the device (or the user's quota) was full: see `LocalFileError.of`.
 *
 * @since 0.1.0
 */
export class LocalFileError extends Data.TaggedError("LocalFileError")<{
  readonly operation: string
  readonly path: string
  readonly detail: string
  readonly reason?: "NoSpace" | undefined
}> {
  /**
   * The error for a failed operation on `path`, from the platform's message: `reason` is
   * `"NoSpace"` when it says the device or the quota is full (ENOSPC, EDQUOT).
   *
   * @since 0.3.0
   */
  static of(operation: string, path: string, detail: string): LocalFileError {
    return NO_SPACE.test(detail)
      ? new LocalFileError({ operation, path, detail, reason: "NoSpace" })
      : new LocalFileError({ operation, path, detail })
  }

  override get message(): string {
    const fix = this.reason === "NoSpace"
      ? `free space on the device that holds ${this.path}, or use a folder on another device`
      : "check that the path exists and is writable"
    return `Could not ${this.operation} ${this.path}: ${this.detail}. Fix: ${fix}.`
  }
}

const NO_SPACE = /\bENOSPC\b|\bEDQUOT\b|no space left on device|disk quota exceeded/i

/**
 * The local database was not deleted because another connection has it open (or was writing to
 * it): a row it commits would be in no replica. Nothing was deleted.
 *
 * @since 0.2.0
 */
export class DatabaseInUse extends Data.TaggedError("DatabaseInUse")<{
  readonly path: string
  /** the processes that hold the database open, where the platform can tell (Linux: `/proc`) */
  readonly pids: ReadonlyArray<number>
  readonly detail: string
}> {
  override get message(): string {
    const who = this.pids.length === 0 ? "another connection" : `process${this.pids.length > 1 ? "es" : ""} ${this.pids.join(", ")}`
    return `The database ${this.path} was not deleted: ${who} ${this.detail}, so a row committed now would be in no backup. Nothing was deleted. Fix: stop the writers (close every connection) before deleting the local copy, or back up without deleting.`
  }
}

/**
 * The local database was not deleted because it changed after the backup (a commit after
 * litestream's final sync, or the file was replaced): the replica does not hold it. Nothing was
 * deleted.
 *
 * @since 0.2.0
 */
export class DatabaseChangedAfterBackup extends Data.TaggedError("DatabaseChangedAfterBackup")<{
  readonly path: string
  readonly detail: string
}> {
  override get message(): string {
    return `The database ${this.path} was not deleted: ${this.detail}, so the replica does not hold what is on disk. Nothing was deleted. Fix: stop the writers and run the backup again.`
  }
}

/**
 * `deleteLocal` was asked for without a way to lock the database (no `SqliteProbe` in the
 * context), so deleting could lose rows committed meanwhile: refused, nothing deleted.
 *
 * @since 0.2.0
 */
export class DeleteLocalUnavailable extends Data.TaggedError("DeleteLocalUnavailable")<{
  readonly path: string
}> {
  override get message(): string {
    return `Deleting ${this.path} after the backup needs SQLite's locks to prove that no connection can commit a row the replica lacks, and no SqliteProbe is available. Nothing was deleted. Fix: install better-sqlite3 (the Node layers then provide it), or provide a SqliteProbe layer, or back up without deleting.`
  }
}

/**
 * Continuous replication gave up under its error policy (too many consecutive replica errors,
 * or errors for too long without a successful sync).
 *
 * @since 0.1.0
 */
export class ReplicationFailed extends Data.TaggedError("ReplicationFailed")<{
  readonly replica: string
  readonly reason: "ConsecutiveErrors" | "ErrorDuration"
  readonly errors: number
  readonly lastError: string
}> {
  override get message(): string {
    return `Replication to ${this.replica} failed: ${
      this.reason === "ConsecutiveErrors"
        ? `${this.errors} consecutive errors`
        : `errors for longer than the policy allows (${this.errors} so far)`
    }; last: ${this.lastError}. Fix: check that the replica is reachable and the credentials are valid.`
  }
}

/**
 * Closing a continuous replication: litestream's final sync failed (it exited non-zero) or did
 * not finish within the grace period (it was killed). The last changes may be missing from the
 * replica; the local database is untouched.
 *
 * @since 0.1.0
 */
export class FinalSyncFailed extends Data.TaggedError("FinalSyncFailed")<{
  readonly replica: string
  /** litestream's exit code, -1 when it was killed */
  readonly exitCode: number
  /** true when the grace period ran out and litestream was killed */
  readonly killed: boolean
  readonly stderr: ReadonlyArray<string>
  /**
   * why a clean exit is not trusted: litestream v0.5 can exit 0 on SIGTERM without its final
   * sync reaching the replica (its log then shows the replica behind the database)
   */
  readonly reason?: string | undefined
}> {
  override get message(): string {
    return `${
      this.killed
        ? `litestream's final sync to ${this.replica} did not finish within the grace period; litestream was killed`
        : this.reason !== undefined
        ? `litestream's final sync to ${this.replica} did not reach the replica (litestream exited ${this.exitCode}): ${this.reason}`
        : `litestream's final sync to ${this.replica} failed with exit code ${this.exitCode}`
    }: the last changes may not be on the replica. Fix: check that the replica is reachable, then run a backup (Replicate.once) before relying on it.${
      tail(this.stderr)
    }`
  }
}

/**
 * Another process (or this one) already runs litestream for this database: nothing was
 * started. Litestream must run once per database: two litestream processes on one database
 * corrupt each other's shadow WAL, and the replica silently loses committed rows.
 *
 * @since 0.2.0
 */
export class AlreadyReplicating extends Data.TaggedError("AlreadyReplicating")<{
  /** the database */
  readonly path: string
  /** the lock file that says who replicates it */
  readonly lockFile: string
  /** the process that holds the lock */
  readonly pid: number
  /** the host of that process */
  readonly host: string
  /** when that process took the lock (ISO 8601, as it recorded it) */
  readonly since: string
  /**
   * `ThisProcess`: an earlier replication of this very process; `ThisHost`: another process of
   * this machine, alive; `OtherHost`: a process of another machine (the folder is shared), whose
   * liveness cannot be checked from here, so its lock is taken as held
   */
  readonly holder: "ThisProcess" | "ThisHost" | "OtherHost"
}> {
  override get message(): string {
    const who = this.holder === "ThisProcess"
      ? `this process (pid ${this.pid}) already replicates it (since ${this.since})`
      : this.holder === "ThisHost"
      ? `process ${this.pid} on ${this.host} has replicated it since ${this.since}`
      : `process ${this.pid} on another host, ${this.host}, has held it since ${this.since} (a process of another machine cannot be checked from here, so its lock counts as held)`
    const stop = this.holder === "OtherHost"
      ? `stop it on ${this.host} first; if that process is gone, delete ${this.lockFile}`
      : this.holder === "ThisProcess"
      ? "close the scope of the running replication first"
      : `stop it first (SIGTERM to pid ${this.pid}: it runs its final sync and exits)`
    return `Not starting litestream for ${this.path}: ${who} (lock file ${this.lockFile}). Litestream must run once per database: two litestream processes on one database corrupt each other's shadow WAL, and the replica silently loses committed rows. Fix: ask the running replication instead (in the application, Replication.syncAfter confirms that a write reached the replica), or ${stop}.`
  }
}
