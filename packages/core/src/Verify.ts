/**
 * Proof that the replica really holds the current database: a sentinel row is written (in a
 * table the library owns), replicated, restored to a temporary path, and checked there together
 * with `PRAGMA integrity_check`.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as LitestreamConfig from "./LitestreamConfig.js"
import type { ReplicateError } from "./LitestreamError.js"
import type * as LitestreamEvent from "./LitestreamEvent.js"
import * as Replicate from "./Replicate.js"
import type { Replication } from "./Replication.js"
import * as Restore from "./Restore.js"
import { SqliteProbe } from "./SqliteProbe.js"

/**
 * Moved to `SqliteProbe`; re-exported here for the code written against 0.1.
 *
 * @since 0.1.0
 */
export { SENTINEL_TABLE, SqliteProbe, SqliteProbeError } from "./SqliteProbe.js"

/**
 * Why a verification failed: evidence that the replica does not hold the current database.
 *
 * - `SentinelMissing`: the restored copy lacks the sentinel row written before the backup;
 * - `IntegrityCheckFailed`: the restored copy fails `PRAGMA integrity_check`, or is no database;
 * - `ReplicaEmpty`: the replica holds no backup at all although the backup step reported
 *   success: it was wiped (its prefix deleted) after the backup;
 * - `SnapshotMissing`: the replica holds WAL segments but no snapshot of their generation, so
 *   nothing restores: it was wiped while litestream kept replicating (litestream only writes a
 *   snapshot when a generation starts, so it does not repair this on its own until it restarts);
 * - `BackupFailed`: the backup step itself failed (litestream error, access denied, ...);
 * - `RestoreFailed`: the restore failed for another reason.
 *
 * @since 0.1.0
 */
export type FailureCause =
  | "SentinelMissing"
  | "IntegrityCheckFailed"
  | "ReplicaEmpty"
  | "SnapshotMissing"
  | "BackupFailed"
  | "RestoreFailed"

/**
 * Why a verification could not decide: no evidence either way.
 *
 * - `Timeout`: no proof within the timeout;
 * - `ReplicaUnreachable`: the replica did not answer;
 * - `ReplicationFailed`: the running replication ended (policy, litestream exited);
 * - `ProbeFailed`: the local database could not be written (the sentinel).
 *
 * @since 0.1.0
 */
export type InconclusiveCause = "Timeout" | "ReplicaUnreachable" | "ReplicationFailed" | "ProbeFailed"

/**
 * The three outcomes of a verification.
 *
 * @since 0.1.0
 */
export type Verification =
  | {
    readonly _tag: "Verified"
    readonly token: string
    /** where the replica stood (on litestream v0.5 a `TxidPosition`) */
    readonly position: Option.Option<LitestreamEvent.ReplicaPosition>
    readonly duration: Duration.Duration
  }
  | { readonly _tag: "Failed"; readonly cause: FailureCause; readonly reason: string }
  | { readonly _tag: "Inconclusive"; readonly cause: InconclusiveCause; readonly reason: string }

/**
 * `backup` with verification on did not verify: nothing was deleted.
 *
 * @since 0.1.0
 */
export class VerificationFailed extends Data.TaggedError("VerificationFailed")<{
  readonly verification: Exclude<Verification, { readonly _tag: "Verified" }>
}> {
  override get message(): string {
    return `The backup could not be verified (${this.verification._tag}): ${this.verification.reason}. The local database was kept.`
  }
}

/**
 * Options of a verification.
 *
 * @since 0.1.0
 */
export interface VerifyOptions {
  /** give up with `Inconclusive` after this long; default 1 minute */
  readonly timeout?: Duration.DurationInput | undefined
  /**
   * `verifyReplication` only: the database of the replication to verify (a path of its
   * `databases`, or its file name); default its first database
   */
  readonly database?: string | undefined
}

/**
 * The verification service.
 *
 * @since 0.1.0
 */
export class Verify extends Context.Tag("@effect-litestream/core/Verify")<Verify, {
  /**
   * standalone: sentinel, `Replicate.once`, restore to a temporary path, check. It proves the
   * replica holds the database now: a replica wiped before the call is seeded again by the
   * backup step (litestream writes a new generation and snapshot), so it verifies; a replica
   * wiped after the backup step gives `Failed` / `ReplicaEmpty`.
   */
  readonly verify: (options?: VerifyOptions) => Effect.Effect<Verification>
  /**
   * the same against a running replication: waits for the sentinel's sync by events (see
   * `Replication.syncAfter`), no sleep. A replica wiped while the replication runs gives
   * `Failed` / `SnapshotMissing` (litestream goes on writing WAL segments that cannot be restored).
   */
  readonly verifyReplication: (replication: Replication["Type"], options?: VerifyOptions) => Effect.Effect<Verification>
  /**
   * `Replicate.once` that verifies before it deletes: with `deleteLocal`, the local files go only
   * after a `Verified` outcome; any other outcome fails with `VerificationFailed` and keeps them.
   */
  readonly backup: (
    options?: Replicate.OnceOptions
  ) => Effect.Effect<Replicate.OnceResult & { readonly verification: Verification }, ReplicateError | VerificationFailed>
}>() {}

/**
 * Builds the service.
 *
 * @since 0.1.0
 */
export const make = Effect.gen(function*() {
  const config = yield* LitestreamConfig.LitestreamConfig
  const replicate = yield* Replicate.Replicate
  const restore = yield* Restore.Restore
  const probe = yield* SqliteProbe
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path

  const newToken = Effect.map(Random.nextInt, (n) => `${Date.now().toString(36)}-${Math.abs(n).toString(36)}`)
  const failed = (cause: FailureCause, reason: string): Verification => ({ _tag: "Failed", cause, reason })
  const inconclusive = (cause: InconclusiveCause, reason: string): Verification => ({
    _tag: "Inconclusive",
    cause,
    reason
  })
  const DEFAULT_TIMEOUT = Duration.minutes(1)

  // The same verdict from both restore layers: litestream's "no snapshots available", the native `NoSnapshot`.
  const snapshotMissing = (detail: string): Verification =>
    failed(
      "SnapshotMissing",
      `the replica holds WAL segments but no snapshot to apply them to, so nothing restores: it was wiped while litestream kept replicating${detail}. Fix: restart the replication or run a backup (litestream writes a new snapshot when it starts)`
    )

  // A step that did not succeed, as an outcome (errors of the backup, the restore, the probe).
  const step = <A, E extends { readonly _tag: string; readonly message: string }, R>(
    name: "backup" | "restore" | "sentinel" | "check" | "sync",
    effect: Effect.Effect<A, E, R>
  ): Effect.Effect<A, Verification, R> =>
    Effect.mapError(effect, (e): Verification => {
      switch (e._tag) {
        case "LitestreamTimeout":
          return inconclusive("Timeout", e.message)
        case "ReplicaUnreachable":
          return inconclusive("ReplicaUnreachable", e.message)
        case "ReplicationFailed":
        case "ExitedEarly":
        case "FinalSyncFailed":
          return name === "sync" ? inconclusive("ReplicationFailed", e.message) : failed("BackupFailed", e.message)
        case "SqliteProbeError":
          return name === "check"
            ? failed("IntegrityCheckFailed", `the restored copy cannot be read as a SQLite database: ${e.message}`)
            : inconclusive("ProbeFailed", `cannot write the sentinel row: ${e.message}`)
        case "NoBackupsFound":
          return failed(
            "ReplicaEmpty",
            `the replica holds no backup although litestream reported the backup done: it was wiped (or its prefix deleted) after the backup. ${e.message}`
          )
        case "ReplicaCorrupt":
          // the native restore reads the layout itself: no snapshot is a wipe, anything else a fault
          return (e as unknown as { readonly fault: string }).fault === "NoSnapshot"
            ? snapshotMissing(` (${e.message})`)
            : failed("RestoreFailed", e.message)
        default:
          if (name === "restore") {
            const stderr = (e as { readonly stderr?: ReadonlyArray<string> }).stderr ?? []
            if (stderr.some((l) => l.includes("no snapshots available"))) return snapshotMissing("")
            return failed("RestoreFailed", e.message)
          }
          return failed("BackupFailed", e.message)
      }
    })

  // Restores the replica to a temporary folder and looks for the sentinel there.
  const checkReplica = (token: string, dbPath: string, database: string | undefined) =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* step(
        "restore",
        fs.makeTempDirectoryScoped({ prefix: "effect-litestream-verify-" }).pipe(
          Effect.mapError((e) => ({ _tag: "LocalFileError", message: e.message }))
        )
      )
      const output = path.join(dir, path.basename(dbPath))
      yield* step("restore", restore.restore({ output, database }))
      return yield* step("check", probe.check(output, token))
    }))

  const timed = (
    timeout: Duration.DurationInput | undefined,
    effect: Effect.Effect<Verification, Verification>
  ): Effect.Effect<Verification> =>
    effect.pipe(
      Effect.merge,
      Effect.timeoutTo({
        duration: timeout ?? DEFAULT_TIMEOUT,
        onSuccess: (v) => v,
        onTimeout: (): Verification =>
          inconclusive("Timeout", `no proof within ${Duration.format(Duration.decode(timeout ?? DEFAULT_TIMEOUT))}`)
      })
    )

  const judge = (
    token: string,
    found: { readonly sentinel: boolean; readonly integrity: string },
    position: Option.Option<LitestreamEvent.ReplicaPosition>,
    duration: Duration.Duration
  ): Verification =>
    !found.sentinel
      ? failed("SentinelMissing", "the sentinel row written before the backup is missing from the restored copy")
      : found.integrity !== "ok"
      ? failed("IntegrityCheckFailed", `the restored copy fails PRAGMA integrity_check: ${found.integrity}`)
      : { _tag: "Verified", token, position, duration }

  const verifyAfterOnce = (token: string, started: number, once: Replicate.OnceResult) =>
    Effect.gen(function*() {
      const found = yield* checkReplica(token, config.dbPath, undefined)
      return judge(token, found, once.position, Duration.millis((yield* Clock.currentTimeMillis) - started))
    })

  const verify = (options: VerifyOptions = {}) =>
    timed(
      options.timeout,
      Effect.gen(function*() {
        const started = yield* Clock.currentTimeMillis
        const token = yield* newToken
        yield* step("sentinel", probe.writeSentinel(config.dbPath, token))
        const once = yield* step("backup", replicate.once({ timeout: options.timeout ?? DEFAULT_TIMEOUT }))
        return yield* verifyAfterOnce(token, started, once)
      })
    ).pipe(Effect.withSpan("Verify.verify"))

  const verifyReplication = (replication: Replication["Type"], options: VerifyOptions = {}) =>
    timed(
      options.timeout,
      Effect.gen(function*() {
        const started = yield* Clock.currentTimeMillis
        const token = yield* newToken
        const wanted = options.database
        const dbPath = wanted === undefined
          ? replication.databases[0]!
          : replication.databases.find((d) => d === wanted || path.basename(d) === wanted) ?? wanted
        // with `databases`, each database has its own prefix of the replica: restore that one
        const replica = (yield* replication.status).databases.find((d) => d.db === dbPath)?.replica
        const database = replica === undefined || replica === config.replica.url ? undefined : path.basename(dbPath)
        // syncAfter returns once the replica holds everything committed before the write ended
        const [, position] = yield* step("sync", replication.syncAfter(probe.writeSentinel(dbPath, token), dbPath))
        const found = yield* checkReplica(token, dbPath, database)
        const now = yield* Clock.currentTimeMillis
        return judge(token, found, Option.some(position), Duration.millis(now - started))
      })
    ).pipe(Effect.withSpan("Verify.verifyReplication"))

  const backup = (options: Replicate.OnceOptions = {}) =>
    Effect.gen(function*() {
      const started = yield* Clock.currentTimeMillis
      const token = yield* newToken
      yield* step("sentinel", probe.writeSentinel(config.dbPath, token)).pipe(
        Effect.catchAll((verification) =>
          new VerificationFailed({ verification: verification as Exclude<Verification, { readonly _tag: "Verified" }> })
        )
      )
      // The check runs after the backup and before the deletion, with writes still held: the
      // local files go only when the restored copy holds the sentinel.
      let verified: Verification | undefined
      const once = yield* replicate.onceThen(options, (once) =>
        Effect.gen(function*() {
          const verification = yield* timed(options.timeout, verifyAfterOnce(token, started, once))
          if (verification._tag !== "Verified") return yield* new VerificationFailed({ verification })
          verified = verification
        }))
      return { ...once, verification: verified! }
    }).pipe(Effect.withSpan("Verify.backup"))

  return Verify.of({ verify, verifyReplication, backup })
})

/**
 * @since 0.1.0
 */
export const layer: Layer.Layer<
  Verify,
  never,
  | LitestreamConfig.LitestreamConfig
  | Replicate.Replicate
  | Restore.Restore
  | SqliteProbe
  | FileSystem.FileSystem
  | Path.Path
> = Layer.effect(Verify, make)
