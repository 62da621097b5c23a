/**
 * A process that takes the replication lock of a database through the Node layer, for the lock
 * tests: run as `node lock-holder.mjs`, on the built packages (vitest's global setup builds
 * them). Plain JavaScript: through tsx, loading the sources cost 4 CPU-seconds per holder, and the
 * race test starts twelve.
 *
 * Environment: LOCK_DB (the database path), LOCK_START_AT (optional, epoch ms: wait until then,
 * so that several holders try at the same moment), LOCK_HOLD_MS (optional: release and exit
 * after this long), LOCK_RELEASE_FILE (optional: release and exit once this file exists; default,
 * without either: hold until killed).
 *
 * Prints one JSON line: `{"acquired":true,"pid":N}`, or `{"acquired":false,"error":TAG,"holder":PID}`.
 */
import { NodeReplicationLock } from "@effect-litestream/node"
import { ReplicationLock } from "@effect-litestream/core"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as fs from "node:fs"

const db = process.env.LOCK_DB
const startAt = Number(process.env.LOCK_START_AT ?? 0)
const holdMs = process.env.LOCK_HOLD_MS === undefined ? undefined : Number(process.env.LOCK_HOLD_MS)
const releaseFile = process.env.LOCK_RELEASE_FILE

const untilReleased = Effect.sync(() => fs.existsSync(releaseFile)).pipe(
  Effect.repeat({ until: (there) => there, schedule: Schedule.spaced("20 millis") })
)

const print = (value) => Effect.sync(() => process.stdout.write(`${JSON.stringify(value)}\n`))

const main = Effect.gen(function*() {
  const wait = startAt - Date.now()
  if (wait > 0) yield* Effect.sleep(`${wait} millis`)
  yield* Effect.scoped(Effect.gen(function*() {
    yield* ReplicationLock.withLock([db])
    yield* print({ acquired: true, pid: process.pid })
    yield* releaseFile !== undefined ? untilReleased : holdMs === undefined ? Effect.never : Effect.sleep(`${holdMs} millis`)
  })).pipe(
    Effect.catchTag("AlreadyReplicating", (e) => print({ acquired: false, error: e._tag, holder: e.pid })),
    Effect.catchAll((e) => print({ acquired: false, error: e._tag, detail: e.message }))
  )
}).pipe(Effect.provide(NodeReplicationLock.layer.pipe(Layer.provide(NodeContext.layer))))

Effect.runPromise(main).then(() => process.exit(0), (e) => {
  process.stderr.write(`${String(e)}\n`)
  process.exit(1)
})
