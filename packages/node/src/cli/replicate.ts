/**
 * `effect-litestream replicate`: continuous replication until SIGINT / SIGTERM (then a final
 * sync, and exit 0), or until the `--exec` command exits.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as ValidationError from "@effect/cli/ValidationError"
import {
  type LitestreamEvent,
  LitestreamConfig,
  Replicate,
  type Replication,
  ReplicationHealth,
  ReplicationHeartbeat
} from "@effect-litestream/core"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import type { ExitedEarly } from "@effect-litestream/core/LitestreamError"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as NodePath from "node:path"
import * as CliOptions from "./CliOptions.js"
import * as Failure from "./Failure.js"
import * as Help from "./Help.js"
import { formatBytes, formatMillis, type Output } from "./Output.js"
import * as Run from "./Run.js"
import { isLoopback, parseAddress } from "../internal/serverAddress.js"

const DEFAULT_INTERVAL = Duration.seconds(1)

/**
 * The `--exec` command failed: litestream did its final sync and stopped with it.
 *
 * @since 0.1.0
 */
export class ExecFailed extends Data.TaggedError("ExecFailed")<{
  readonly command: string
  readonly detail: string
}> {
  override get message(): string {
    return `The command ${JSON.stringify(this.command)} failed (${this.detail}); litestream did its final sync and stopped. Fix: see why the command failed; its own output is above`
  }
}

/**
 * An event as JSON fields: options flattened, positions in litestream's own notation.
 *
 * @since 0.1.0
 */
export const eventFields = (event: LitestreamEvent.LitestreamEvent): Record<string, unknown> => {
  const fields: Record<string, unknown> = { event: event._tag }
  for (const [key, value] of Object.entries(event)) {
    if (key !== "_tag") fields[key] = Option.isOption(value) ? Option.getOrNull(Option.map(value, String)) : value
  }
  return fields
}

const oneLine = (s: string) => s.split("\n").map((l) => l.trim()).filter((l) => l !== "").join(" ")

const name = (db: string | undefined) => (db === undefined ? "?" : NodePath.basename(db))

const describeEvent = (event: LitestreamEvent.LitestreamEvent): string | undefined => {
  const at = (p: Option.Option<LitestreamEvent.Position>) => Option.getOrElse(Option.map(p, String), () => "?")
  switch (event._tag) {
    case "SnapshotWritten":
    case "WalSegmentWritten":
      return `${name(event.db)}: ${event._tag === "SnapshotWritten" ? "snapshot" : "wal segment"} written at ${
        at(event.position)
      }${event.size === undefined ? "" : `, ${formatBytes(event.size)}`}${
        event.elapsedMillis === undefined ? "" : ` in ${formatMillis(event.elapsedMillis)}`
      }`
    case "NewGeneration":
      return `${name(event.db)}: new generation ${event.generation} (${event.reason})`
    default:
      return undefined
  }
}

// a change of health: a warning when it is bad, a line when it is good again
const reportHealth = (out: Output) => (r: ReplicationHealth.Report) => {
  const worst = r.databases.find((d) => d.health._tag === r.state) ?? r.databases[0]
  const fields = {
    event: "HealthChanged",
    state: r.state,
    ok: r.ok,
    databases: ReplicationHealth.toJson(r).databases
  }
  const line = `health ${r.state}${worst === undefined ? "" : `: ${name(worst.db)}: ${worst.message}`}`
  return r.ok || out.json ? out.event(fields, line) : out.warn(line)
}

const report = (out: Output) => (event: LitestreamEvent.LitestreamEvent) =>
  event._tag === "ReplicaErrorLogged" && !out.json
    ? out.warn(oneLine(`${name(event.db)}: ${event.message}${event.error === "" ? "" : `: ${event.error}`} (litestream retries)`))
    : out.event(eventFields(event), describeEvent(event))

/**
 * @since 0.1.0
 */
export const command = Command.make("replicate", {
  settings: CliOptions.settings,
  json: CliOptions.json,
  databases: Options.text("database").pipe(
    Options.withPseudoName("NAME"),
    Options.withDescription(
      "Replicate this database of DB_FOLDER to REPLICA_URL/NAME; repeat for several databases, all in one litestream process. Default: DB_SQLITE, at REPLICA_URL itself."
    ),
    Options.repeated
  ),
  exec: Options.text("exec").pipe(
    Options.withPseudoName("CMD"),
    Options.withDescription(
      "Run this command under litestream (e.g. your application); replication stops, after a final sync, when it exits, with its success or failure."
    ),
    Options.optional
  ),
  interval: CliOptions.duration(
    "interval",
    "How often litestream checks the databases and pushes changes to the replica; default 1s (each push is a request to the store)."
  ),
  metricsAddr: Options.text("metrics-addr").pipe(
    Options.withPseudoName("HOST:PORT"),
    Options.mapEffect((s) =>
      parseAddress(s) === undefined
        ? Effect.fail(
          ValidationError.invalidValue(
            HelpDoc.p(`--metrics-addr: "${s}" is not HOST:PORT. Fix: write it as 127.0.0.1:9090 (or [::1]:9090)`)
          )
        )
        : Effect.succeed(parseAddress(s)!)
    ),
    Options.withDescription(
      "Serve GET /health (200 Healthy or Lagging, 503 Stalled or Failing, JSON figures) and GET /metrics (Prometheus text) on this address while replicating. Loopback only, unless --metrics-public."
    ),
    Options.optional
  ),
  metricsPublic: Options.boolean("metrics-public").pipe(
    Options.withDescription("Allow a --metrics-addr that is not loopback (e.g. 0.0.0.0:9090 in a container).")
  ),
  stallAfter: CliOptions.duration(
    "stall-after",
    "Stalled when the database changed and no replica sync succeeded for this long; default 30s."
  ),
  lagWarning: CliOptions.duration(
    "lag-warning",
    "Lagging when the replica has been behind the database for this long; default 10s."
  ),
  heartbeatInterval: CliOptions.duration(
    "heartbeat-interval",
    "With REPLICA_HEARTBEAT_URL set (environment or env file; a credential, never a flag): GET it this often while every database is Healthy; default REPLICA_HEARTBEAT_INTERVAL, else 1m; at least 1m."
  )
}, (o) => {
  const clock = { started: Date.now(), stopping: Date.now() }
  const running: { replication?: Replication.Replication["Type"] } = {}
  return Run.run("replicate", { ...o, endsOnSignal: true }, (out) =>
    Effect.gen(function*() {
      // From here, SIGINT / SIGTERM is how replication normally ends: exit 0 after the final sync.
      yield* Run.exitOnSignal(Failure.ExitCode.Success)
      const config = yield* LitestreamConfig.LitestreamConfig
      const replicate = yield* Replicate.Replicate
      const interval = Option.getOrElse(o.interval, () => DEFAULT_INTERVAL)
      if (Option.isSome(o.metricsAddr) && !isLoopback(o.metricsAddr.value.host) && !o.metricsPublic) {
        return yield* new Failure.UsageError({
          rule: `--metrics-addr ${o.metricsAddr.value.host} is not a loopback address`,
          fix: "serve on 127.0.0.1 (or ::1, localhost), or add --metrics-public to serve health figures and metrics beyond this machine"
        })
      }
      // --heartbeat-interval overrides REPLICA_HEARTBEAT_INTERVAL
      if (Option.isSome(o.heartbeatInterval)) {
        if (Option.isNone(config.heartbeat)) {
          return yield* new Failure.UsageError({
            rule: "--heartbeat-interval needs REPLICA_HEARTBEAT_URL",
            fix: "set REPLICA_HEARTBEAT_URL (environment or env file: a credential, never a flag), or drop --heartbeat-interval"
          })
        }
        if (Duration.lessThan(o.heartbeatInterval.value, LitestreamConfig.MIN_HEARTBEAT_INTERVAL)) {
          return yield* new Failure.UsageError({
            rule: `--heartbeat-interval ${Duration.format(o.heartbeatInterval.value)} is shorter than 1m`,
            fix: "use 1m or longer, or leave it out for 1m"
          })
        }
      }
      const heartbeatConfig: LitestreamConfig.Resolved = {
        ...config,
        heartbeat: Option.map(config.heartbeat, (h) => ({ ...h, interval: Option.getOrElse(o.heartbeatInterval, () => h.interval) }))
      }
      const databases = o.databases.length === 0 ? undefined : o.databases
      clock.started = Date.now()
      yield* out.progress(
        `starting litestream for ${(databases ?? [config.db]).join(", ")} in ${config.folder}, to ${config.replica.url}`,
        { folder: config.folder, replica: config.replica.url, databases: databases ?? [config.db] }
      )
      const code = yield* Effect.scoped(Effect.gen(function*() {
        const replication = yield* replicate.replicate({
          databases,
          exec: Option.getOrUndefined(o.exec),
          monitorInterval: interval,
          syncInterval: interval,
          health: { stallAfter: Option.getOrUndefined(o.stallAfter), lagWarning: Option.getOrUndefined(o.lagWarning) }
        })
        running.replication = replication
        const status = yield* replication.status
        yield* out.progress(
          `replicating (litestream pid ${replication.pid}, started in ${formatMillis(Date.now() - clock.started)}); ${
            Option.isSome(o.exec) ? "stops when the command exits, or on" : "stop with"
          } Ctrl-C or SIGTERM`,
          {
            pid: replication.pid,
            databases: status.databases.map((d) => ({
              db: d.db,
              replica: d.replica,
              position: Option.getOrNull(Option.map(d.position, String))
            }))
          }
        )
        // after the line above (events replays the start-up events first): what replicate
        // prints first stays in its place
        yield* replication.events.pipe(Stream.runForEach(report(out)), Effect.forkScoped)
        yield* replication.healthChanges.pipe(
          Stream.drop(1),
          // litestream stopping is told by the command's own result
          Stream.filter((r) =>
            r.litestream === "up" &&
            !r.databases.some((d) => d.health._tag === "Failing" && d.health.reason === "LitestreamDown")
          ),
          Stream.runForEach(reportHealth(out)),
          Effect.forkScoped
        )
        const pinging = yield* ReplicationHeartbeat.fromConfig(replication).pipe(
          Effect.provide(FetchHttpClient.layer),
          Effect.provideService(LitestreamConfig.LitestreamConfig, heartbeatConfig)
        )
        if (Option.isSome(pinging)) yield* out.progress(`heartbeat every ${Duration.format(pinging.value)} while healthy`)
        if (Option.isSome(o.metricsAddr)) {
          // OpenTelemetry and the HTTP server load only here
          const { serve } = yield* Effect.promise(() => import("./healthServer.js"))
          const bound = yield* serve(replication, { ...o.metricsAddr.value, public: o.metricsPublic })
          const at = `http://${bound.host.includes(":") ? `[${bound.host}]` : bound.host}:${bound.port}`
          yield* out.progress(`serving ${at}/health and ${at}/metrics`, { metricsAddr: `${bound.host}:${bound.port}`, url: at })
        }
        // Added last, so it runs first when the scope closes: before litestream is stopped.
        yield* Effect.addFinalizer((exit) =>
          Exit.isInterrupted(exit)
            ? Effect.suspend(() => {
              clock.stopping = Date.now()
              return out.progress("signal received: stopping litestream (final sync)")
            })
            : Effect.void
        )
        return yield* replication.await.pipe(
          Effect.catchTag("ExitedEarly", (e): Effect.Effect<never, ExitedEarly | ExecFailed> =>
            Option.match(o.exec, {
              onNone: () => Effect.fail(e),
              onSome: (command) => {
                const said = e.stderr.map((l) => /exit status \d+|signal: \w+/.exec(l)?.[0]).filter((x) => x !== undefined)
                return Effect.fail(
                  new ExecFailed({ command, detail: said.at(-1) ?? `litestream exited with code ${e.exitCode}` })
                )
              }
            }))
        )
      }))
      yield* out.result(
        { outcome: "CommandExited", exitCode: code, durationMs: Date.now() - clock.started },
        [`the command exited; litestream did its final sync and stopped (ran ${formatMillis(Date.now() - clock.started)})`]
      )
    }).pipe(
      // Runs after the scope above closed: litestream has done its final sync and exited.
      Effect.onInterrupt(() =>
        Effect.gen(function*() {
          const ran = formatMillis(Date.now() - clock.started)
          if (running.replication === undefined) {
            return yield* out.result({ outcome: "Stopped", durationMs: Date.now() - clock.started }, [
              `stopped before litestream was ready (after ${ran})`
            ])
          }
          // Once the scope is closed, `await` tells how litestream's final sync went.
          const ended = yield* running.replication.await.pipe(Effect.either, Effect.timeoutOption("2 seconds"))
          const failed = ended.pipe(Option.flatMap(Either.getLeft), Option.filter((e) => e._tag === "FinalSyncFailed"))
          if (Option.isSome(failed)) {
            const report = Failure.describe(failed.value)
            yield* Run.exitOnSignal(report.exitCode)
            return yield* out.error(report.fields, report.lines)
          }
          const stopMs = Date.now() - clock.stopping
          yield* out.result({ outcome: "Stopped", durationMs: Date.now() - clock.started, stopMs }, [
            `stopped: litestream did its final sync and exited in ${formatMillis(stopMs)} (ran ${ran})`
          ])
        })
      )
    ))
}).pipe(
  Command.withDescription(Help.description([
    "Replicate continuously: litestream runs until SIGINT (Ctrl-C) or SIGTERM, then does a final sync of every database and exits; the program then exits 0. With --exec, litestream runs the command and stops when it exits.",
    "Fails (exit 1) when a database is missing, when litestream exits on its own, or when the replica keeps failing (10 errors in a row, or errors for a minute)."
  ], [
    ["effect-litestream replicate", "replicate DB_FOLDER/DB_SQLITE to REPLICA_URL until Ctrl-C"],
    ["effect-litestream replicate --database app.db --database jobs.db", "two databases, at REPLICA_URL/app.db and REPLICA_URL/jobs.db"],
    ["effect-litestream replicate --exec 'node server.js'", "run the application under litestream; stop with it"],
    ["effect-litestream replicate --json | jq -c 'select(.type == \"event\")'", "litestream's events, one JSON object per line"],
    ["effect-litestream replicate --metrics-addr 127.0.0.1:9090 --stall-after 1m", "serve /health and /metrics; Stalled after a minute without a sync"]
  ]))
)
