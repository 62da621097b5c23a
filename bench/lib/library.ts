/**
 * The library under test, through its public API only: `NodeLitestream.layer` with explicit
 * settings, then `Replicate.once` and `Restore.restore`. Also the pure builders the raw baselines
 * borrow (child environment, generated litestream.yml), so both sides get the same inputs.
 */
import { LitestreamCommand, LitestreamConfig, Replicate, Restore } from "@effect-litestream/core"
import { LitestreamBinary, NodeLitestream } from "@effect-litestream/node"
import * as NodePath from "@effect/platform-node/NodePath"
import { Effect, Logger, LogLevel, ManagedRuntime } from "effect"

/** Any credentials do for the loopback S3 server; they are what every variant gets. */
export const CREDENTIALS = { accessKeyId: "bench-access-key", secretAccessKey: "bench-secret-key" } as const

export interface Target {
  /** the replica URL: `s3://BUCKET.localhost:PORT/prefix` or `file:///abs/folder` */
  readonly replicaUrl: string
  /** the folder that holds the database */
  readonly folder: string
  /** the database file name in `folder` */
  readonly db: string
  /** the litestream binary (`LITESTREAM_BIN`); default the bundled v0.3.13 */
  readonly binary?: string
}

const input = (target: Target): LitestreamConfig.Input => ({
  replicaUrl: target.replicaUrl,
  folder: target.folder,
  db: target.db,
  ...(target.binary === undefined ? {} : { binary: target.binary }),
  ...(target.replicaUrl.startsWith("s3://") ? CREDENTIALS : {})
})

const quiet = <A, E>(effect: Effect.Effect<A, E>) => Logger.withMinimumLogLevel(effect, LogLevel.None)

export interface Timed<A> {
  readonly seconds: number
  readonly value: A
}

/**
 * Builds the layer for `target` (not timed: an application builds it once), then times `use`
 * from the call to its success.
 */
const timed = async <S, A, E>(
  target: Target,
  tag: Effect.Effect<S, never, NodeLitestream.Services>,
  use: (service: S) => Effect.Effect<A, E>,
  options: NodeLitestream.LayerOptions = {}
): Promise<Timed<A>> => {
  const runtime = ManagedRuntime.make(NodeLitestream.layer(input(target), options))
  try {
    const service = await runtime.runPromise(tag)
    const started = performance.now()
    const value = await runtime.runPromise(quiet(use(service)))
    return { seconds: (performance.now() - started) / 1000, value }
  } finally {
    await runtime.dispose()
  }
}

/** `Replicate.once` on `target`, timed from the call to its success. */
export const once = (target: Target, options: Replicate.OnceOptions = {}) =>
  timed(target, Replicate.Replicate, (r) => r.once({ timeout: "10 minutes", ...options }))

/** `Restore.restore` of `target`'s replica to `output`, timed from the call to its success. */
export const restore = (target: Target, output: string) =>
  timed(target, Restore.Restore, (r) => r.restore({ output, timeout: "10 minutes" }))

/**
 * The native `Restore.restore` (`{ read: "native" }`: no litestream process) of `target`'s
 * replica to `output`, timed from the call to its success.
 */
export const nativeRestore = (target: Target, output: string) =>
  timed(target, Restore.Restore, (r) => r.restore({ output, timeout: "10 minutes" }), { read: "native" })

/** What the raw baselines need to run litestream with exactly the library's inputs. */
export interface RawInputs {
  readonly binary: string
  readonly dbPath: string
  /** the environment the library gives litestream (credentials under both names) */
  readonly env: Record<string, string>
  /** the litestream.yml `once` generates (same intervals, JSON logs, debug level) */
  readonly onceConfig: string
}

export const rawInputs = (target: Target): Promise<RawInputs> =>
  Effect.gen(function*() {
    const binary = target.binary ?? (yield* LitestreamBinary.defaultBinary)
    const config = yield* LitestreamConfig.make({ ...input(target), binary })
    return {
      binary,
      dbPath: config.dbPath,
      env: LitestreamCommand.childEnv(config, target.binary === undefined ? "v0.3" : "v0.5"),
      onceConfig: LitestreamCommand.configFile(config, {
        monitorInterval: Replicate.DEFAULT_INTERVAL,
        syncInterval: Replicate.DEFAULT_INTERVAL,
        logLevel: "debug"
      })
    }
  }).pipe(Effect.provide(NodePath.layer), Effect.runPromise)

export const defaultBinary = (): Promise<string> => Effect.runPromise(LitestreamBinary.defaultBinary)
