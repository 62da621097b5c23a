import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { LitestreamTimeout } from "../LitestreamError.js"
import type { Resolved } from "../LitestreamConfig.js"
import * as LitestreamVersion from "../LitestreamVersion.js"

// through the program's DetectionCache, when it provides one
const cached = (config: Resolved) =>
  Effect.flatMap(Effect.serviceOption(LitestreamVersion.DetectionCache), (cache) =>
    Option.match(cache, {
      onNone: () => LitestreamVersion.detect(config),
      onSome: (cache) =>
        Effect.flatMap(cache.get(config.binary), (known) =>
          Option.match(known, {
            onSome: Effect.succeed,
            onNone: () => Effect.tap(LitestreamVersion.detect(config), (d) => cache.set(config.binary, d))
          }))
    }))

/**
 * `LitestreamVersion.detect` of the configured binary, run the first time it is needed and
 * remembered once it succeeded (a binary installed after a failure is found on the next call).
 * @internal
 */
export const memo = (config: Resolved) => {
  let found: LitestreamVersion.Detected | undefined
  const detect = Effect.suspend(() =>
    found !== undefined
      ? Effect.succeed(found)
      : Effect.tap(cached(config), (d) => {
        found = d
      })
  ) as Effect.Effect<
    LitestreamVersion.Detected,
    Effect.Effect.Error<ReturnType<typeof LitestreamVersion.detect>>,
    CommandExecutor.CommandExecutor
  >
  // within the operation's own timeout: a binary that never answers `version` must not make a
  // short `once` wait out the probe's 10 seconds
  return (operation: "restore" | "replicate" | "list", timeout: Duration.DurationInput) =>
    Effect.timeoutFail(detect, {
      duration: timeout,
      onTimeout: () => new LitestreamTimeout({ operation, timeout: Duration.decode(timeout) })
    })
}
