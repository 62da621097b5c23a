/**
 * `effect-litestream status --addr HOST:PORT`: reads `/health` of a running
 * `replicate --metrics-addr` and exits 0 when it is healthy (Healthy or Lagging), 1 when not
 * (Stalled, Failing, or no answer): for scripts and container health checks. It needs no
 * settings and starts no litestream.
 *
 * @since 0.3.0
 */
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as NodePath from "node:path"
import { parseAddress } from "../internal/serverAddress.js"
import * as CliOptions from "./CliOptions.js"
import * as Failure from "./Failure.js"
import * as Help from "./Help.js"
import * as Output from "./Output.js"
import * as Run from "./Run.js"

/**
 * `/health` did not answer, or not with a health report.
 *
 * @since 0.3.0
 */
export class HealthUnavailable extends Data.TaggedError("HealthUnavailable")<{
  readonly url: string
  readonly detail: string
}> {
  override get message(): string {
    return `No health report from ${this.url}: ${this.detail}. Fix: check that effect-litestream replicate runs with --metrics-addr at that address`
  }
}

interface Body {
  readonly state: string
  readonly ok: boolean
  readonly databases: ReadonlyArray<{ readonly db: string; readonly state: string; readonly message: string; readonly lagSeconds: number }>
}

const isBody = (u: unknown): u is Body =>
  typeof u === "object" && u !== null && typeof (u as Body).state === "string" && typeof (u as Body).ok === "boolean" &&
  Array.isArray((u as Body).databases)

const fetchHealth = (url: string, timeout: Duration.Duration) =>
  Effect.tryPromise({
    try: async (signal) => {
      const response = await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(Duration.toMillis(timeout))]) })
      return { status: response.status, text: await response.text() }
    },
    catch: (e) => new HealthUnavailable({ url, detail: e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e) })
  }).pipe(
    Effect.flatMap(({ status, text }) => {
      let body: unknown
      try {
        body = JSON.parse(text)
      } catch {
        body = undefined
      }
      return isBody(body)
        ? Effect.succeed({ status, body })
        : Effect.fail(new HealthUnavailable({ url, detail: `HTTP ${status}, not a health report` }))
    })
  )

/**
 * @since 0.3.0
 */
export const command = Command.make("status", {
  json: CliOptions.json,
  addr: Options.text("addr").pipe(
    Options.withPseudoName("HOST:PORT"),
    Options.mapEffect((s) =>
      parseAddress(s) === undefined
        ? Effect.fail(
          ValidationError.invalidValue(HelpDoc.p(`--addr: "${s}" is not HOST:PORT. Fix: write it as 127.0.0.1:9090`))
        )
        : Effect.succeed(parseAddress(s)!)
    ),
    Options.withDescription("Where replicate --metrics-addr serves /health.")
  ),
  timeout: CliOptions.duration("timeout", "How long to wait for the answer; default 5s.")
}, (o) =>
  Effect.gen(function*() {
    yield* Run.started
    const out = Output.make("status", o.json)
    const host = o.addr.host.includes(":") ? `[${o.addr.host}]` : o.addr.host
    const url = `http://${host}:${o.addr.port}/health`
    const timeout = o.timeout._tag === "Some" ? o.timeout.value : Duration.seconds(5)
    const answer = yield* fetchHealth(url, timeout).pipe(Effect.either)
    if (answer._tag === "Left") {
      const report = Failure.describe(answer.left, "status")
      yield* out.error({ ...report.fields, url }, report.lines)
      return yield* new Run.Exit({ code: Failure.ExitCode.Failure })
    }
    const { body, status } = answer.right
    const healthy = status === 200 && body.ok
    const lines = [
      `${body.state}${healthy ? "" : " (unhealthy)"}`,
      ...body.databases.map((d) => `  ${NodePath.basename(d.db)}: ${d.state}, lag ${d.lagSeconds} s: ${d.message}`)
    ]
    yield* healthy
      ? out.result({ url, httpStatus: status, ...body }, lines)
      : out.error({ error: "Unhealthy", url, httpStatus: status, ...body, exitCode: Failure.ExitCode.Failure }, lines)
    if (!healthy) return yield* new Run.Exit({ code: Failure.ExitCode.Failure })
  })).pipe(
    Command.withDescription(Help.description([
      "Read the health of a running `effect-litestream replicate --metrics-addr HOST:PORT` and exit 0 when every database is Healthy or Lagging, 1 when one is Stalled or Failing or when there is no answer: a container health check or a cron probe."
    ], [
      ["effect-litestream status --addr 127.0.0.1:9090", "exit 0 when healthy, 1 when not"],
      ["effect-litestream status --addr 127.0.0.1:9090 --json", "the per-database figures as JSON"]
    ]))
  )
