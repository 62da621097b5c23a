/**
 * One layer for a Node application: settings from the environment and a `.env` file, the
 * bundled litestream binary, and the `Restore` and `Replicate` services on Node's process API.
 * With `{ read: "native" }` the read side (`Restore`, `ReplicaListing`, and the restore inside
 * `Verify`) is the library's own and needs no process.
 *
 * @since 0.1.0
 */
import {
  LitestreamConfig,
  NativeReplicaListing,
  NativeRestore,
  ReplicaCheck,
  Replicate,
  ReplicaListing,
  ReplicationLock,
  Restore,
  Verify
} from "@effect-litestream/core"
import type { LitestreamConfigError } from "@effect-litestream/core/LitestreamError"
import * as FileSystem from "@effect/platform/FileSystem"
import * as PlatformConfigProvider from "@effect/platform/PlatformConfigProvider"
import * as NodeCommandExecutor from "@effect/platform-node/NodeCommandExecutor"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HostWatchdog from "./HostWatchdog.js"
import * as LazyHttpClient from "./LazyHttpClient.js"
import * as LitestreamBinary from "./LitestreamBinary.js"
import * as NodeLz4Workers from "./NodeLz4Workers.js"
import * as NodeReplicationLock from "./NodeReplicationLock.js"
import * as NodeSqliteProbe from "./NodeSqliteProbe.js"

/**
 * The services this package provides.
 *
 * @since 0.1.0
 */
export type Services =
  | LitestreamConfig.LitestreamConfig
  | Restore.Restore
  | Replicate.Replicate
  | ReplicaListing.ReplicaListing
  | Verify.Verify
  | ReplicationLock.ReplicationLock

/**
 * The `.env` file named explicitly could not be read.
 *
 * @since 0.1.0
 */
export class EnvFileError extends Data.TaggedError("EnvFileError")<{
  readonly path: string
  readonly detail: string
}> {
  override get message(): string {
    return `Cannot read the env file ${this.path}: ${this.detail}. Fix: check the path, or leave envFile unset to read ./.env if present.`
  }
}

/**
 * Options of `layerEnv`.
 *
 * @since 0.1.0
 */
export interface EnvOptions {
  /**
   * The `.env` file to read under the environment (the environment wins, as in pylts).
   * Default `.env`, skipped when missing; a path given here must exist; `false` reads none.
   */
  readonly envFile?: string | false | undefined
}

/**
 * The config provider: the environment first, then the `.env` file.
 *
 * @since 0.1.0
 */
export const configProvider = (options: EnvOptions = {}) =>
  Effect.gen(function*() {
    const env = ConfigProvider.fromEnv()
    if (options.envFile === false) return env
    const path = options.envFile ?? ".env"
    const fs = yield* FileSystem.FileSystem
    const exists = yield* fs.exists(path).pipe(Effect.orElseSucceed(() => false))
    if (!exists) {
      if (options.envFile === undefined) return env
      return yield* new EnvFileError({ path, detail: "no such file" })
    }
    const dotEnv = yield* PlatformConfigProvider.fromDotEnv(path).pipe(
      Effect.mapError((e) => new EnvFileError({ path, detail: e.message }))
    )
    return ConfigProvider.orElse(env, () => dotEnv)
  })

/**
 * Who reads the replica: litestream (`restore`, `generations`, ... through the binary, every
 * scheme litestream knows) or the library itself (`NativeRestore`, `NativeReplicaListing`: no
 * process, `file://` and `s3://` only). Writing is always litestream's.
 *
 * @since 0.2.0
 */
export type ReadSide = "litestream" | "native"

/**
 * Options of `layer`.
 *
 * @since 0.2.0
 */
export interface LayerOptions {
  /** default `"litestream"` */
  readonly read?: ReadSide | undefined
  /**
   * The HTTP client of the replica check beside a litestream restore from S3: `"fetch"` (default:
   * Node's built-in fetch, the cheaper to load for an application) or `"node"` (Node's client,
   * loaded at its first request: the cheaper inside the CLI's bundle, whose code cache holds it;
   * a 1 MB S3 restore there took 1.06-1.14 s with it, 1.54-1.74 s over fetch, at load 11-16).
   *
   * @since 0.3.0
   */
  readonly checkClient?: "fetch" | "node" | undefined
  /**
   * With `read: "native"`: decode the LZ4 blocks of v0.3 replicas in worker threads
   * (`NodeLz4Workers`, started with the layer). Default `true`; `false` decodes them in the
   * restore's own thread, which costs a small database less than starting threads.
   *
   * @since 0.3.0
   */
  readonly lz4Workers?: boolean | undefined
}

// The replica check's S3 reads go through fetch (built into Node) by default: loaded at the
// first request, and cheaper to load than Node's client outside the CLI's bundle (a 1 MB S3
// restore in the demo: 0.28-0.31 s over fetch, 0.51-0.54 s over the Node client; 0.18 s with no
// check). The native side uses LazyHttpClient: plain http over node:net (no client to load),
// https over Node's client, loaded at its first such request.
const replicaCheck = {
  fetch: ReplicaCheck.layer.pipe(Layer.provide(FetchHttpClient.layer)),
  node: ReplicaCheck.layer.pipe(Layer.provide(LazyHttpClient.layer))
}

// The read sides. Native: LZ4 blocks of v0.3 replicas decoded in worker threads while the restore
// writes (or in its own thread). Litestream: it restores, and the replica check reads the WAL beside it.
const nativeClients = {
  workers: Layer.merge(LazyHttpClient.layer, NodeLz4Workers.layer()),
  inThread: LazyHttpClient.layer
}
const restoreOf = {
  native: {
    workers: NativeRestore.layer.pipe(Layer.provide(nativeClients.workers)),
    inThread: NativeRestore.layer.pipe(Layer.provide(nativeClients.inThread))
  },
  litestream: {
    fetch: Restore.layer.pipe(Layer.provide(replicaCheck.fetch)),
    node: Restore.layer.pipe(Layer.provide(replicaCheck.node))
  }
}
const restoreLayer = (options: LayerOptions) =>
  options.read === "native"
    ? restoreOf.native[options.lz4Workers === false ? "inThread" : "workers"]
    : restoreOf.litestream[options.checkClient ?? "fetch"]

const readSide = (options: LayerOptions) =>
  options.read === "native"
    ? Layer.merge(restoreLayer(options), NativeReplicaListing.layer.pipe(Layer.provide(nativeClients.inThread)))
    : Layer.merge(restoreLayer(options), ReplicaListing.layer)

// The replication lock is provided to Replicate's layer, which takes it for every litestream
// replicate it starts (one litestream per database), and offered to the application as well.
const services = (options: LayerOptions) =>
  Verify.layer.pipe(
    Layer.provideMerge(Layer.merge(readSide(options), Replicate.layer)),
    Layer.provide(NodeSqliteProbe.layer),
    Layer.provideMerge(NodeReplicationLock.layer)
  )
const byReadSide = {
  litestream: { fetch: services({ checkClient: "fetch" }), node: services({ checkClient: "node" }) },
  native: { workers: services({ read: "native" }), inThread: services({ read: "native", lz4Workers: false }) }
}
const servicesOf = (options: LayerOptions) =>
  options.read === "native"
    ? byReadSide.native[options.lz4Workers === false ? "inThread" : "workers"]
    : byReadSide.litestream[options.checkClient ?? "fetch"]

// What the services use of Node (not NodeContext: its worker manager and terminal are not
// needed, and loading them costs a CLI start 10 ms), with an executor whose children are stopped
// when the host dies (HostWatchdog).
const node = Layer.merge(NodePath.layer, NodeCommandExecutor.layer.pipe(Layer.provideMerge(NodeFileSystem.layer)))
const context = Layer.merge(node, HostWatchdog.layer.pipe(Layer.provide(node)))

const withServices = <E, R>(config: Layer.Layer<LitestreamConfig.LitestreamConfig, E, R>, options: LayerOptions) =>
  servicesOf(options).pipe(Layer.provideMerge(config), Layer.provide(context))

// the settings of explicit values, the binary defaulting to the bundled one
const configOf = (input: LitestreamConfig.Input) =>
  Layer.effect(
    LitestreamConfig.LitestreamConfig,
    Effect.flatMap(LitestreamBinary.defaultBinary, (binary) => LitestreamConfig.make({ ...input, binary: input.binary ?? binary }))
  )

/**
 * Settings from the environment and `.env` (`LITESTREAM_ACCESS_KEY_ID`, `LITESTREAM_SECRET_ACCESS_KEY`,
 * `REPLICA_URL`, `DB_SQLITE`, `DB_FOLDER`, `LITESTREAM_BIN`), plus `Restore` and `Replicate`.
 *
 * @since 0.1.0
 */
export const layerEnv = (options: EnvOptions & LayerOptions = {}): Layer.Layer<Services, LitestreamConfigError | EnvFileError> =>
  withServices(
    Layer.effect(
      LitestreamConfig.LitestreamConfig,
      Effect.gen(function*() {
        const provider = yield* configProvider(options)
        const input = yield* Effect.withConfigProvider(LitestreamConfig.input, provider).pipe(Effect.orDie)
        const binary = yield* LitestreamBinary.defaultBinary
        return yield* LitestreamConfig.make({ binary, ...input })
      })
    ),
    options
  )

/**
 * Settings from explicit values (pylts' `ConfigS3(key=, token=, s3=, folder=)`), plus `Restore`
 * and `Replicate`. The binary defaults to the bundled one.
 *
 * @since 0.1.0
 */
export const layer = (
  input: LitestreamConfig.Input,
  options: LayerOptions = {}
): Layer.Layer<Services, LitestreamConfigError> =>
  withServices(configOf(input), options)

/**
 * Only the settings and `Restore`, from explicit values as in `layer`: the same service (read
 * side, replica check, watchdog, `lz4Workers`), without building the others (`Replicate`,
 * `Verify`, the listings, the replication lock), for a program that only restores. The
 * command-line program's `restore` runs on it.
 *
 * @since 0.3.0
 */
export const layerRestore = (
  input: LitestreamConfig.Input,
  options: LayerOptions = {}
): Layer.Layer<LitestreamConfig.LitestreamConfig | Restore.Restore, LitestreamConfigError> =>
  restoreLayer(options).pipe(Layer.provideMerge(configOf(input)), Layer.provide(context))
