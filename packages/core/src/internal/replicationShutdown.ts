/**
 * The end of a running replication: litestream exiting on its own, and the close of its scope
 * (wait for the replica sync in flight, SIGTERM, the grace period, SIGKILL, the final sync's
 * outcome in the status and in `await`).
 * @internal
 */
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import { ExitedEarly, FinalSyncFailed, type ReplicationFailed } from "../LitestreamError.js"
import type { ReplicationStatus } from "../Replication.js"
import * as internalProcess from "./process.js"
import type { FanOut } from "./replicationEvents.js"
import type { StatusPart } from "./replicationStatus.js"
import * as SyncStateV5 from "./syncStateV5.js"

/** @internal */
export interface Ending {
  readonly process: CommandExecutor.Process
  /** the fiber reading litestream's log */
  readonly reader: Fiber.RuntimeFiber<unknown, unknown>
  readonly fanOut: FanOut
  readonly statusPart: StatusPart
  readonly started: Deferred.Deferred<void>
  readonly ended: Deferred.Deferred<number, ReplicationFailed | ExitedEarly | FinalSyncFailed>
  readonly paths: ReadonlyArray<string>
  readonly replicas: string
  /** with `exec`, exit 0 is litestream's normal end */
  readonly exec: boolean
  readonly grace: Duration.DurationInput
  readonly catchUpTimeout: Duration.Duration
  /** litestream's line: its log tells a replica caught up differently */
  readonly line: "v0.3" | "v0.5"
  /**
   * after a clean exit, why the replica may not hold every database (litestream v0.5 exits 0 on
   * SIGTERM also when its final sync never reached the replica), or undefined
   */
  readonly notCaughtUp: () => string | undefined
}

const lastLines = (e: Ending) => e.fanOut.tail.slice(-10)

/**
 * litestream v0.5: each database's replica caught up, told by a `replica sync` record (logged
 * every sync interval, also when nothing changed) whose replica TXID is the database's: that
 * sync uploads nothing. (v0.3's sync state never sees v0.5's records: without this, closing
 * waited out the whole catch-up timeout.)
 */
const caughtUpV5 = (e: Ending) =>
  Effect.scoped(Effect.gen(function*() {
    const records = yield* e.fanOut.subscribeRecords
    const waiting = new Set(e.paths)
    while (waiting.size > 0) {
      const { record } = yield* Queue.take(records)
      const txids = SyncStateV5.txids(record)
      if (txids === undefined || txids.replica < txids.db) continue
      for (const p of waiting) if (SyncStateV5.isFor(record, p)) waiting.delete(p)
    }
  }))

/**
 * Watches for litestream exiting on its own (forked in the current scope): `await` is settled
 * with `ExitedEarly`, or with 0 for an `exec` command that succeeded.
 * @internal
 */
export const watchExit = (e: Ending) =>
  internalProcess.exitCode(e.process).pipe(
    Effect.flatMap((code) =>
      // a stop we asked for is settled by `close`, with the final sync's outcome
      e.statusPart.stopping()
        ? Effect.void
        : Effect.zipRight(
          e.statusPart.down,
          e.exec && code === 0
            ? Deferred.succeed(e.ended, code)
            : Effect.zipRight(
              // its last lines first: they say why
              Fiber.await(e.reader).pipe(Effect.timeout("1 second"), Effect.ignore),
              Effect.suspend(() => Deferred.fail(e.ended, new ExitedEarly({ exitCode: code, stderr: lastLines(e) })))
            )
        )
    ),
    Effect.forkScoped
  )

/**
 * Closing: stop litestream when no replica sync is in flight (its final sync would race it),
 * then SIGTERM, the grace period, SIGKILL; the outcome of the final sync is logged, kept in
 * the status, and given to `await`.
 * @internal
 */
export const close = (e: Ending) =>
  Effect.gen(function*() {
    const { ended, process, reader } = e
    yield* e.statusPart.stop
    if (!(yield* process.isRunning.pipe(Effect.orElseSucceed(() => false)))) {
      // it exited on its own: settle `await` here if the exit watcher has not done it yet
      const code = yield* internalProcess.exitCode(process)
      yield* Fiber.await(reader).pipe(Effect.interruptible, Effect.timeout("1 second"), Effect.ignore)
      yield* e.statusPart.down
      yield* e.exec && code === 0
        ? Deferred.succeed(ended, code)
        : Deferred.fail(ended, new ExitedEarly({ exitCode: code, stderr: lastLines(e) }))
      return
    }
    // no catch-up wait when it never started, or already failed
    if ((yield* Deferred.isDone(e.started)) && !(yield* Deferred.isDone(ended))) {
      const settled = yield* (e.line === "v0.5" ? caughtUpV5(e) : e.fanOut.waitUntil((s) => s.idle)).pipe(
        Effect.interruptible,
        Effect.timeout(e.catchUpTimeout),
        Effect.option
      )
      if (Option.isNone(settled)) {
        yield* Effect.logWarning(
          `a replica sync was still in flight after ${Duration.format(e.catchUpTimeout)}; stopping litestream anyway`
        ).pipe(Effect.annotateLogs({ databases: e.paths.join(",") }))
      }
    }
    const termination = yield* internalProcess.terminate(process, e.grace)
    const code = termination === "Killed" ? -1 : yield* internalProcess.exitCode(process)
    yield* Fiber.await(reader).pipe(Effect.interruptible, Effect.timeout("1 second"), Effect.ignore)
    yield* e.statusPart.down
    const notCaughtUp = termination === "Killed" || code !== 0 ? undefined : e.notCaughtUp()
    if (termination === "Killed" || code !== 0 || notCaughtUp !== undefined) {
      const error = new FinalSyncFailed({
        replica: e.replicas,
        exitCode: code,
        killed: termination === "Killed",
        stderr: lastLines(e),
        reason: notCaughtUp
      })
      yield* Effect.logError(error.message).pipe(
        Effect.annotateLogs({ pid: process.pid, exitCode: code, killed: termination === "Killed" })
      )
      const outcome = termination === "Killed" ? "Killed" as const : "Failed" as const
      yield* Ref.update(e.statusPart.status, (s): ReplicationStatus => ({ ...s, finalSync: Option.some(outcome) }))
      yield* Deferred.fail(ended, error)
    } else {
      yield* Ref.update(e.statusPart.status, (s): ReplicationStatus => ({ ...s, finalSync: Option.some("Ok" as const) }))
      yield* Deferred.succeed(ended, 0)
      yield* Effect.logInfo("replication stopped").pipe(Effect.annotateLogs({ pid: process.pid }))
    }
  }).pipe(Effect.annotateLogs("litestream", "replicate"), Effect.withSpan("Replication.close"))
