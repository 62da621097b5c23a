/**
 * A heartbeat for dead man's switch services (healthchecks.io, Cronitor, Better Stack, ...):
 * a GET of `url` every `interval`, only while every database of the replication is Healthy,
 * as litestream v0.5's `heartbeat-url` does. When backups stop, the pings stop, and the service
 * alerts: also when the whole machine is gone, which no `/health` endpoint can tell.
 *
 * The URL is a credential (whoever knows it can ping): it is `Redacted`, and only its host
 * reaches the log.
 *
 * @since 0.3.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { LitestreamConfig, MIN_HEARTBEAT_INTERVAL } from "./LitestreamConfig.js"
import { Replication } from "./Replication.js"

/**
 * @since 0.3.0
 */
export interface HeartbeatOptions {
  /** the URL to GET (`REPLICA_HEARTBEAT_URL` in the CLI) */
  readonly url: Redacted.Redacted<string>
  /** how often; default and minimum 1 minute */
  readonly interval?: Duration.DurationInput | undefined
  /** how long one ping may take; default 10 s */
  readonly timeout?: Duration.DurationInput | undefined
}

/** @since 0.3.0 */
export const MIN_INTERVAL: Duration.Duration = MIN_HEARTBEAT_INTERVAL

/**
 * What one round did: pinged (with the HTTP status), skipped (the replication was not
 * Healthy: its state), or failed (the ping did not get through: why, without the URL).
 *
 * @since 0.3.0
 */
export type Beat =
  | { readonly _tag: "Pinged"; readonly status: number }
  | { readonly _tag: "Skipped"; readonly state: string }
  | { readonly _tag: "PingFailed"; readonly detail: string }

const hostOf = (url: string) => {
  try {
    return new URL(url).host
  } catch {
    return "?"
  }
}

/**
 * One round: the health now, then the ping if every database is Healthy.
 *
 * @since 0.3.0
 */
export const beat = (
  replication: Replication["Type"],
  options: HeartbeatOptions
): Effect.Effect<Beat, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const report = yield* replication.health
    if (report.state !== "Healthy") return { _tag: "Skipped", state: report.state } as const
    const client = yield* HttpClient.HttpClient
    return yield* client.get(Redacted.value(options.url)).pipe(
      Effect.scoped,
      Effect.timeout(options.timeout ?? Duration.seconds(10)),
      Effect.map((response): Beat => ({ _tag: "Pinged", status: response.status })),
      // the error texts of the client carry the URL: keep only the kind
      Effect.catchAll((e) => Effect.succeed<Beat>({ _tag: "PingFailed", detail: e._tag }))
    )
  })

/**
 * Pings every `interval` (the first after one interval: a replication just started has proven
 * nothing yet) for as long as it runs; fork it beside the replication. Never fails.
 *
 * @since 0.3.0
 */
export const run = (
  replication: Replication["Type"],
  options: HeartbeatOptions
): Effect.Effect<never, never, HttpClient.HttpClient> => {
  const interval = Duration.max(Duration.decode(options.interval ?? MIN_INTERVAL), MIN_INTERVAL)
  const host = hostOf(Redacted.value(options.url))
  return Effect.sleep(interval).pipe(
    Effect.zipRight(beat(replication, options)),
    Effect.tap((b) =>
      b._tag === "Pinged" && b.status < 400
        ? Effect.logDebug("heartbeat sent")
        : b._tag === "Skipped"
        ? Effect.logWarning(`heartbeat withheld: the replication is ${b.state}`)
        : Effect.logWarning(
          `heartbeat to ${host} failed (${b._tag === "Pinged" ? `HTTP ${b.status}` : b.detail}); the dead man's switch may alert`
        )
    ),
    Effect.annotateLogs({ heartbeat: host }),
    Effect.forever
  )
}

/**
 * Forks `run` into the current scope with the heartbeat of the settings
 * (`REPLICA_HEARTBEAT_URL`, `REPLICA_HEARTBEAT_INTERVAL`), or does nothing when none is set.
 * Returns the interval it pings at.
 *
 * @since 0.3.0
 */
export const fromConfig = (
  replication: Replication["Type"]
): Effect.Effect<Option.Option<Duration.Duration>, never, LitestreamConfig | HttpClient.HttpClient | Scope.Scope> =>
  Effect.flatMap(LitestreamConfig, ({ heartbeat }) =>
    Option.match(heartbeat, {
      onNone: () => Effect.succeedNone,
      onSome: (settings) => Effect.as(Effect.forkScoped(run(replication, settings)), Option.some(settings.interval))
    }))

/**
 * The heartbeat of the settings beside a running `Replication`, for as long as the layer lives:
 * provide it over `Replication.layer(...)` and an `HttpClient` (e.g. `FetchHttpClient.layer`).
 * Without `REPLICA_HEARTBEAT_URL` set it does nothing.
 *
 * @since 0.3.0
 */
export const layer: Layer.Layer<never, never, Replication | LitestreamConfig | HttpClient.HttpClient> = Layer
  .scopedDiscard(Effect.flatMap(Replication, fromConfig))
