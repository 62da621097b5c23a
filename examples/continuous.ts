/**
 * Continuous replication for the application's whole life, type-checked with the tests.
 * Settings from the environment or ./.env: `tsx examples/continuous.ts`.
 */
import { Replicate, Replication, Verify } from "@effect-litestream/core"
import { NodeLitestream } from "@effect-litestream/node"
import { Effect, Layer, Stream } from "effect"

// litestream runs beside the app, for as long as the layer lives; its scope's end stops it
// gracefully (SIGTERM, final sync, SIGKILL after the grace period).
const ReplicationLive = Replication.layer(
  Effect.flatMap(Replicate.Replicate, (replicate) =>
    replicate.replicate({
      syncInterval: "1 second",
      policy: { maxConsecutiveErrors: 5, maxErrorDuration: "2 minutes" }
    }))
)

const app = Effect.gen(function*() {
  const replication = yield* Replication.Replication
  // Typed events: here, print each WAL segment as it reaches the replica.
  yield* replication.events.pipe(
    Stream.filter((event) => event._tag === "WalSegmentWritten"),
    Stream.runForEach((event) => Effect.log(`replicated ${event.size ?? 0} bytes of ${event.db}`)),
    Effect.fork
  )
  // Proof that the replica holds the current database: sentinel, sync, restore elsewhere, check.
  const verify = yield* Verify.Verify
  const verification = yield* verify.verifyReplication(replication, { timeout: "1 minute" })
  yield* Effect.log(`verification: ${verification._tag}`)
  // ... serve requests ...
  return yield* Effect.never
})

// If replication fails (the error policy gives up, or litestream exits), the app is interrupted
// and the failure surfaces here, typed.
Replication.runBeside(app).pipe(
  Effect.provide(ReplicationLive.pipe(Layer.provideMerge(NodeLitestream.layerEnv()))),
  Effect.runPromise
)
