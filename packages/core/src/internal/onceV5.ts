/**
 * `Replicate.once` on litestream v0.5: `replicate -once`, whose exit is judged by its log, and
 * `deleteLocal`'s two runs around the write hold.
 * @internal
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as LitestreamCommand from "../LitestreamCommand.js"
import type { Resolved } from "../LitestreamConfig.js"
import {
  DatabaseChangedAfterBackup,
  LitestreamFailed,
  type ReplicaAccessDenied,
  type ReplicaError,
  type ReplicaUnreachable
} from "../LitestreamError.js"
import * as LitestreamEvent from "../LitestreamEvent.js"
import * as internalClassify from "./classify.js"
import * as internalConfigFile from "./configFile.js"
import * as internalProcess from "./process.js"
import * as SyncStateV5 from "./syncStateV5.js"

/** @internal */
export interface Options {
  readonly grace: Duration.DurationInput
  readonly interval: Duration.DurationInput
  readonly mask: (line: string) => string
  readonly replicaError: (detail: string) => ReplicaUnreachable | ReplicaAccessDenied | ReplicaError
}

// litestream v0.5: `replicate -once` syncs every database once and exits 0 when the replica
// holds it. It logs no error for an unreachable replica (its S3 client retries, and on SIGTERM
// goes on retrying for up to two minutes): the timeout, then the kill after `grace`, end that.
// `held`: run under a write hold (deleteLocal), so no checkpoint (a write), and the exit counts
// only when its last `replica sync` showed the replica at the database's TXID.
const run = (config: Resolved, options: Options, held: boolean) =>
  Effect.gen(function*() {
    const { grace, interval, mask, replicaError } = options
    const replica = config.replica.url
    const file = yield* internalConfigFile.scoped(config, {
      monitorInterval: interval,
      syncInterval: interval,
      logLevel: "debug",
      checkpoints: !held,
      line: "v0.5"
    })
    const process = yield* internalProcess.start(
      LitestreamCommand.make(config, ["replicate", "-once", "-config", file], "v0.5"),
      config.binary,
      grace
    )
    const tail: Array<string> = []
    let txid: string | undefined
    let replicaErrorSeen: string | undefined
    let lastReplicaSync: { readonly replica: bigint; readonly db: bigint } | undefined
    let seen = SyncStateV5.initialHeld
    const reader = yield* internalProcess.forEachLine(process, mask, (line) =>
      Effect.suspend(() => {
        tail.push(line)
        if (tail.length > 20) tail.shift()
        const record = LitestreamEvent.parseRecord(line)
        const event = Option.match(record, { onNone: () => LitestreamEvent.parse(line), onSome: LitestreamEvent.fromRecord })
        if (event._tag === "LtxFileUploaded") txid = event.maxTxid
        if (event._tag === "ReplicaErrorLogged") replicaErrorSeen = event.error || event.message
        if (Option.isSome(record) && SyncStateV5.isFor(record.value, config.dbPath)) {
          lastReplicaSync = SyncStateV5.txids(record.value) ?? lastReplicaSync
          seen = SyncStateV5.hold(seen, record.value)
        }
        return Effect.logDebug(line)
      })
    ).pipe(Effect.annotateLogs("litestream", "replicate"), Effect.forkScoped)
    const code = yield* internalProcess.exitCode(process)
    // its last lines say why it exited, and where the replica stands
    yield* Fiber.join(reader).pipe(Effect.timeout("1 second"), Effect.ignore)
    if (code !== 0) {
      if (replicaErrorSeen !== undefined) return yield* replicaError(replicaErrorSeen)
      // measured on 0.5.17: when the -wal went away between the two runs (its last connection,
      // a writer's, closed: SQLite checkpoints and deletes it), litestream must write to
      // recreate it ("ensure wal exists: database is locked"), which the hold forbids
      if (held && tail.some((l) => /database is locked|SQLITE_BUSY/.test(l))) {
        return yield* new DatabaseChangedAfterBackup({
          path: config.dbPath,
          detail:
            "another connection changed the database after the first sync (litestream v0.5 then had to write to it, which the held writes forbid); nothing was deleted: back up again once it is idle"
        })
      }
      return yield* internalClassify.failure("replicate", replica, code, tail)
    }
    if (held) {
      const last = lastReplicaSync
      if (last === undefined || last.replica < last.db) {
        return yield* new DatabaseChangedAfterBackup({
          path: config.dbPath,
          detail: last === undefined
            ? "litestream v0.5 exited without logging where the replica stands, so what it holds cannot be proven"
            : `litestream v0.5 exited with the replica at TXID ${last.replica.toString(16)} behind the database's ${last.db.toString(16)}`
        })
      }
      return txid ?? last.replica.toString(16).padStart(16, "0")
    }
    // exit 0 is not proof on its own: 0.5.17's continuous replicate exits 0 on SIGTERM before
    // its first sync (measured); its `-once` went on retrying there, but the log decides
    const notHeld = SyncStateV5.behind(seen)
    if (notHeld !== undefined) {
      return yield* new LitestreamFailed({ operation: "replicate", exitCode: code, stderr: [...tail.slice(-9), `litestream exited 0, but ${notHeld}`] })
    }
    return txid
  }).pipe(Effect.scoped)

// litestream v0.5 has no final sync to hold writes for: `-once` syncs and exits. With
// deleteLocal, a first `-once` (unheld: on a database new to v0.5 it may write at start), then
// the write hold, then a second `-once` under it: that one copies every commit the database
// will ever have (measured on 0.5.17: `-once` reads under another connection's BEGIN
// IMMEDIATE and exits 0), and must end with the replica at the database's TXID.
/** @internal */
export const once = <E>(config: Resolved, options: Options, holdWrites: Effect.Effect<void, E> | undefined) =>
  holdWrites === undefined
    ? run(config, options, false)
    : run(config, options, false).pipe(Effect.zipRight(holdWrites), Effect.zipRight(run(config, options, true)))
