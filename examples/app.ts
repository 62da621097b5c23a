/**
 * The README's usage example, type-checked with the tests. Run it with settings in the
 * environment or ./.env: `tsx examples/app.ts`.
 */
import { Replicate, Restore } from "@effect-litestream/core"
import { NodeLitestream } from "@effect-litestream/node"
import { Effect } from "effect"

const program = Effect.gen(function*() {
  const restore = yield* Restore.Restore
  // At start-up: bring the database back if it is not there (and do not fail on a new replica).
  yield* restore.restore({ ifDbNotExists: true, ifReplicaExists: true, timeout: "2 minutes" })

  // ... the application runs ...

  const replicate = yield* Replicate.Replicate
  const { duration, position } = yield* replicate.once({ timeout: "30 seconds" })
  yield* Effect.log(`backed up in ${duration}, position ${position}`)
})

// Settings from the environment, then ./.env (the environment wins, as in pylts).
program.pipe(Effect.provide(NodeLitestream.layerEnv()), Effect.runPromise)
