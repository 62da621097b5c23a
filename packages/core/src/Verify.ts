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
 * The little SQLite access verification needs; the node package implements it.
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
}>() {}

/**
 * The three outcomes of a verification.
 *
 * @since 0.1.0
 */
export type Verification =
  | {
    readonly _tag: "Verified"
    readonly token: string
    readonly position: Option.Option<LitestreamEvent.Position>
    readonly duration: Duration.Duration
  }
  | { readonly _tag: "Failed"; readonly reason: string }
  | { readonly _tag: "Inconclusive"; readonly reason: string }

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
}

/**
 * The verification service.
 *
 * @since 0.1.0
 */
export class Verify extends Context.Tag("@effect-litestream/core/Verify")<Verify, {
  /** standalone: sentinel, `Replicate.once`, restore to a temporary path, check */
  readonly verify: (options?: VerifyOptions) => Effect.Effect<Verification>
  /** the same against a running replication: waits for the sentinel's sync by events, no sleep */
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
  const failed = (reason: string): Verification => ({ _tag: "Failed", reason })
  const describe = (e: { readonly message: string }) => e.message

  // Restores the replica to a temporary folder and looks for the sentinel there.
  const checkReplica = (token: string, dbPath: string, database: string | undefined) =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "effect-litestream-verify-" })
      const output = path.join(dir, path.basename(dbPath))
      yield* restore.restore({ output, database })
      return yield* probe.check(output, token)
    }))

  const timed = <E>(
    timeout: Duration.DurationInput | undefined,
    effect: Effect.Effect<Verification, E>
  ): Effect.Effect<Verification> =>
    effect.pipe(
      Effect.catchAll((e) => Effect.succeed(failed(describe(e as { readonly message: string })))),
      Effect.timeoutTo({
        duration: timeout ?? "1 minute",
        onSuccess: (v) => v,
        onTimeout: (): Verification => ({
          _tag: "Inconclusive",
          reason: `no proof within ${Duration.format(Duration.decode(timeout ?? "1 minute"))}`
        })
      })
    )

  const judge = (
    token: string,
    found: { readonly sentinel: boolean; readonly integrity: string },
    position: Option.Option<LitestreamEvent.Position>,
    duration: Duration.Duration
  ): Verification =>
    !found.sentinel
      ? failed("the sentinel row written before the backup is missing from the restored copy")
      : found.integrity !== "ok"
      ? failed(`the restored copy fails PRAGMA integrity_check: ${found.integrity}`)
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
        yield* probe.writeSentinel(config.dbPath, token)
        const once = yield* replicate.once({ timeout: options.timeout ?? "1 minute" })
        return yield* verifyAfterOnce(token, started, once)
      })
    ).pipe(Effect.withSpan("Verify.verify"))

  const verifyReplication = (replication: Replication["Type"], options: VerifyOptions = {}) =>
    timed(
      options.timeout,
      Effect.gen(function*() {
        const started = yield* Clock.currentTimeMillis
        const token = yield* newToken
        const dbPath = replication.databases[0]!
        const database = dbPath === config.dbPath ? undefined : path.basename(dbPath)
        let [, position] = yield* replication.syncAfter(probe.writeSentinel(dbPath, token), dbPath)
        // The first sync after the write may have carried only earlier frames: check, and wait
        // for the next sync when the sentinel is not there yet (the timeout bounds the loop).
        while (true) {
          const found = yield* checkReplica(token, dbPath, database)
          const now = yield* Clock.currentTimeMillis
          if (found.sentinel) return judge(token, found, Option.some(position), Duration.millis(now - started))
          ;[, position] = yield* replication.syncAfter(Effect.void, dbPath)
        }
      })
    ).pipe(Effect.withSpan("Verify.verifyReplication"))

  const backup = (options: Replicate.OnceOptions = {}) =>
    Effect.gen(function*() {
      const started = yield* Clock.currentTimeMillis
      const token = yield* newToken
      yield* probe.writeSentinel(config.dbPath, token).pipe(
        Effect.catchAll((e) => new VerificationFailed({ verification: { _tag: "Failed", reason: e.message } }))
      )
      const once = yield* replicate.once({ ...options, deleteLocal: false })
      const verification = yield* timed(options.timeout, verifyAfterOnce(token, started, once))
      if (verification._tag !== "Verified") return yield* new VerificationFailed({ verification })
      const deleted = options.deleteLocal ? yield* replicate.deleteLocal : []
      return { ...once, deleted, verification }
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
