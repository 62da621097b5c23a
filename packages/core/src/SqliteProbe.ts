/**
 * The little SQLite access the library needs beside litestream: the verification's sentinel row
 * and check, and the locks that make deleting the local database safe. Core only describes it;
 * `@effect-litestream/node` implements it on better-sqlite3.
 *
 * @since 0.2.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { DatabaseChangedAfterBackup, DatabaseInUse } from "./LitestreamError.js"

/**
 * The table the library writes its sentinel to; one row, replaced at each verification.
 *
 * @since 0.1.0
 */
export const SENTINEL_TABLE = "_effect_litestream_verify"

/**
 * A SQLite access failed (the database is locked, not a database, not writable).
 *
 * @since 0.1.0
 */
export class SqliteProbeError extends Data.TaggedError("SqliteProbeError")<{
  readonly path: string
  readonly detail: string
}> {
  override get message(): string {
    return `Cannot use the SQLite database ${this.path}: ${this.detail}`
  }
}

/**
 * The database's write lock, held: no connection can commit until it is released (readers,
 * litestream among them, still read). Taken before litestream's final sync, it makes that sync
 * cover every commit there will ever be, as long as the files are then deleted under it.
 *
 * @since 0.2.0
 */
export interface WriteHold {
  /**
   * Turns the write lock into an exclusive one (which fails while any other connection has the
   * database open: `DatabaseInUse`), proves that nothing was committed in the instant between
   * (else `DatabaseChangedAfterBackup`), and deletes `files` (the database first) while no
   * connection can open it. Returns the files that existed and were deleted. Nothing is
   * deleted when it fails. The hold is spent afterwards, whatever the outcome.
   */
  readonly deleteExclusively: (
    files: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<string>, DatabaseInUse | DatabaseChangedAfterBackup | SqliteProbeError>
}

/**
 * The SQLite access of the library.
 *
 * @since 0.1.0
 */
export class SqliteProbe extends Context.Tag("@effect-litestream/core/SqliteProbe")<SqliteProbe, {
  /** writes `token` as the single row of `SENTINEL_TABLE`, creating the table if needed */
  readonly writeSentinel: (dbPath: string, token: string) => Effect.Effect<void, SqliteProbeError>
  /** whether `SENTINEL_TABLE` holds `token`, and the result of `PRAGMA integrity_check` */
  readonly check: (
    dbPath: string,
    token: string
  ) => Effect.Effect<{ readonly sentinel: boolean; readonly integrity: string }, SqliteProbeError>
  /**
   * Takes the database's write lock (`BEGIN IMMEDIATE` on a connection of its own), waiting at
   * most `busyTimeout` for a writer's transaction to end (then `DatabaseInUse`). Released, if
   * not spent by `deleteExclusively`, when the scope closes.
   */
  readonly holdWrites: (
    dbPath: string,
    options?: { readonly busyTimeoutMillis?: number | undefined }
  ) => Effect.Effect<WriteHold, DatabaseInUse | SqliteProbeError, Scope.Scope>
}>() {}
