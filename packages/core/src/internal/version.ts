import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as Effect from "effect/Effect"
import type { Resolved } from "../LitestreamConfig.js"
import * as LitestreamVersion from "../LitestreamVersion.js"

/**
 * `LitestreamVersion.detect` of the configured binary, run the first time it is needed and
 * remembered once it succeeded (a binary installed after a failure is found on the next call).
 * @internal
 */
export const memo = (config: Resolved) => {
  let found: LitestreamVersion.Detected | undefined
  return Effect.suspend(() =>
    found !== undefined
      ? Effect.succeed(found)
      : Effect.tap(LitestreamVersion.detect(config), (d) => {
        found = d
      })
  ) as Effect.Effect<
    LitestreamVersion.Detected,
    Effect.Effect.Error<ReturnType<typeof LitestreamVersion.detect>>,
    CommandExecutor.CommandExecutor
  >
}
