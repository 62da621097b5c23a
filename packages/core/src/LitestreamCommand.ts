/**
 * Pure builders: litestream's argv, the child's environment, the generated litestream.yml, and
 * the masking of secrets in anything litestream prints. Nothing here runs a process.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/platform/Command"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { Resolved } from "./LitestreamConfig.js"

/**
 * Options of a restore.
 *
 * @since 0.1.0
 */
export interface RestoreOptions {
  /** where to write the database; default: the configured `dbPath` */
  readonly output?: string | undefined
  /** restore the state as of this time (litestream `-timestamp`) */
  readonly timestamp?: Date | undefined
  /** restore from this generation (litestream `-generation`); litestream v0.3 only */
  readonly generation?: string | undefined
  /** restore up to this WAL index of the generation (litestream `-index`); litestream v0.3 only */
  readonly index?: number | undefined
  /** restore up to this transaction ID, inclusive (litestream `-txid`); litestream v0.5 only */
  readonly txid?: number | undefined
  /** restore this database of a multi-database replication (`REPLICA_URL/<name>`, `folder/<name>`) */
  readonly database?: string | undefined
  /** succeed, restoring nothing, when the replica holds no backup */
  readonly ifReplicaExists?: boolean | undefined
  /** succeed, restoring nothing, when the output file already exists */
  readonly ifDbNotExists?: boolean | undefined
  /**
   * when `<output>-wal`, `<output>-shm` or `<output>-journal` exists beside an output that does
   * not (left by an earlier database), rename them aside to `<file>.stale-<timestamp>` right
   * before the database is published, instead of failing with `StaleSidecarFiles`. They are
   * never deleted. Not a litestream flag: never passed to litestream.
   */
  readonly moveAsideSidecars?: boolean | undefined
  /**
   * the native read side only: read the replica as this litestream line's format (`"v3"`:
   * generations; `"v5"`: LTX files) instead of finding it at the replica. Never passed to
   * litestream.
   */
  readonly format?: "v3" | "v5" | undefined
  /** give up (and stop litestream) after this long; default 5 minutes */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * `litestream replicate DB URL`: the form pylts uses, plain-text log on stderr.
 *
 * @since 0.1.0
 */
export const replicateArgs = (config: Resolved): Array<string> => ["replicate", config.dbPath, config.replica.url]

/**
 * `litestream replicate -config FILE`, for a config written by `configFile`.
 *
 * @since 0.1.0
 */
export const replicateConfigArgs = (configPath: string): Array<string> => ["replicate", "-config", configPath]

/**
 * `litestream restore`. Never `-v`: v0.3.13 rejects it (pylts' restore silently fails on it).
 *
 * @since 0.1.0
 */
export const restoreArgs = (config: Resolved, options: RestoreOptions = {}, line: "v0.3" | "v0.5" = "v0.3"): Array<string> => [
  "restore",
  "-o",
  options.output ?? config.dbPath,
  ...(options.ifReplicaExists ? ["-if-replica-exists"] : []),
  ...(options.ifDbNotExists ? ["-if-db-not-exists"] : []),
  ...(line === "v0.3"
    ? [
      ...(options.generation !== undefined ? ["-generation", options.generation] : []),
      ...(options.index !== undefined ? ["-index", options.index.toString(16).padStart(8, "0")] : [])
    ]
    : options.txid !== undefined
    ? ["-txid", options.txid.toString(16).padStart(16, "0")]
    : []),
  ...(options.timestamp !== undefined ? ["-timestamp", options.timestamp.toISOString()] : []),
  config.replica.url
]

/**
 * The restore options the binary's line does not have: `generation` and `index` exist on
 * litestream v0.3 only, `txid` on v0.5 only.
 *
 * @since 0.2.0
 */
export const foreignRestoreOptions = (line: "v0.3" | "v0.5", options: RestoreOptions): ReadonlyArray<string> =>
  line === "v0.3"
    ? (options.txid !== undefined ? ["txid"] : [])
    : [...(options.generation !== undefined ? ["generation"] : []), ...(options.index !== undefined ? ["index"] : [])]

/**
 * The environment added to the child's. The configured credentials go in under both litestream's
 * and AWS's names, so they win over `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` inherited from
 * the parent (litestream reads `LITESTREAM_*` only when `AWS_*` is unset), and an inherited
 * `AWS_SESSION_TOKEN`, which belongs to other keys, is blanked.
 *
 * @since 0.1.0
 */
export const childEnv = (config: Resolved, line: "v0.3" | "v0.5" = "v0.3"): Record<string, string> => ({
  // litestream 0.5.17's AWS SDK refuses AWS_CA_BUNDLE together with the HTTP client it builds for
  // a custom endpoint ("unable to add custom RootCAs HTTPClient"): it would fail every request
  ...(line === "v0.5" && customEndpoint(config) ? { AWS_CA_BUNDLE: "" } : {}),
  ...credentialsEnv(config)
})

const customEndpoint = (config: Resolved) =>
  config.s3.endpoint !== undefined || (config.replica._tag === "S3" && config.replica.endpoint !== undefined)

const credentialsEnv = (config: Resolved): Record<string, string> =>
  Option.match(config.credentials, {
    onNone: () => ({}),
    onSome: ({ accessKeyId, secretAccessKey }) => ({
      LITESTREAM_ACCESS_KEY_ID: Redacted.value(accessKeyId),
      LITESTREAM_SECRET_ACCESS_KEY: Redacted.value(secretAccessKey),
      AWS_ACCESS_KEY_ID: Redacted.value(accessKeyId),
      AWS_SECRET_ACCESS_KEY: Redacted.value(secretAccessKey),
      AWS_SESSION_TOKEN: ""
    })
  })

/**
 * A litestream `Command` with the configured binary and the child environment.
 *
 * @since 0.1.0
 */
export const make = (config: Resolved, args: ReadonlyArray<string>, line: "v0.3" | "v0.5" = "v0.3"): Command.Command =>
  Command.make(config.binary, ...args).pipe(Command.env(childEnv(config, line)))

/**
 * Options of the generated litestream.yml.
 *
 * @since 0.1.0
 */
export interface ConfigFileOptions {
  /** how often litestream checks the database for changes; litestream's default is 1s */
  readonly monitorInterval?: Duration.DurationInput | undefined
  /** how often litestream pushes changes to the replica; litestream's default is 1s */
  readonly syncInterval?: Duration.DurationInput | undefined
  /** `debug` makes litestream report a replica that is already in sync */
  readonly logLevel?: "debug" | "info" | undefined
  /** run this command under litestream (`exec:`); litestream stops when it exits */
  readonly exec?: string | undefined
  /**
   * `false` stops litestream from checkpointing the database (its checkpoints write a row to
   * `_litestream_seq`), so that its syncs only read: `once` with `deleteLocal` holds the
   * database's write lock through the final sync. Default: litestream's own checkpoints.
   */
  readonly checkpoints?: boolean | undefined
  /**
   * the binary's line: v0.5 gets its own layout (one `replica:` per database, where v0.3 has a
   * `replicas:` list, which 0.5.17 also reads); default v0.3
   */
  readonly line?: "v0.3" | "v0.5" | undefined
  /**
   * litestream v0.5 only (`shutdown-sync-timeout`): how long its final sync may retry after
   * SIGTERM before it gives up with an error; ignored on v0.3, which has no such limit
   */
  readonly shutdownSyncTimeout?: Duration.DurationInput | undefined
  /**
   * litestream v0.5 only (`l0-retention`): how long level-0 LTX files stay on the replica after
   * compaction (finer point-in-time restores for longer, at the cost of objects); litestream's
   * default when unset
   */
  readonly l0Retention?: Duration.DurationInput | undefined
}

const goDuration = (d: Duration.DurationInput) => `${Math.max(1, Math.round(Duration.toMillis(d)))}ms`

// JSON strings are valid YAML double-quoted scalars: no path or URL can break the file.
const q = (s: string) => JSON.stringify(s)

/**
 * A litestream.yml for one or several databases. It holds no secret: litestream takes the
 * credentials from the environment (`childEnv`). Logs are JSON on stderr, one object per line.
 * S3 endpoint, region and path style go here, since litestream v0.3.13 ignores URL queries.
 *
 * @since 0.1.0
 */
export const configFile = (
  configs: Resolved | ReadonlyArray<Resolved>,
  options: ConfigFileOptions = {}
): string => {
  const list: ReadonlyArray<Resolved> = Array.isArray(configs) ? configs : [configs as Resolved]
  const v5 = options.line === "v0.5"
  const lines = [
    "logging:",
    "  type: json",
    "  stderr: true",
    `  level: ${options.logLevel ?? "info"}`,
    ...(options.exec !== undefined ? [`exec: ${q(options.exec)}`] : []),
    ...(v5 && options.shutdownSyncTimeout !== undefined ? [`shutdown-sync-timeout: ${goDuration(options.shutdownSyncTimeout)}`] : []),
    ...(v5 && options.l0Retention !== undefined ? [`l0-retention: ${goDuration(options.l0Retention)}`] : []),
    "dbs:"
  ]
  // v0.3: a list of replicas ("      - url:"); v0.5: one replica ("      url:")
  const [head, rest] = v5 ? ["    replica:", "      "] : ["    replicas:", "        "]
  for (const config of list) {
    const { endpoint, forcePathStyle, region } = config.s3
    lines.push(
      `  - path: ${q(config.dbPath)}`,
      `    monitor-interval: ${goDuration(options.monitorInterval ?? "1 second")}`,
      ...(options.checkpoints === false ? ["    checkpoint-interval: 0s", "    min-checkpoint-page-count: 2147483647"] : []),
      head,
      `${v5 ? rest : "      - "}url: ${q(config.replica.url)}`,
      `${rest}sync-interval: ${goDuration(options.syncInterval ?? "1 second")}`,
      ...(endpoint !== undefined ? [`${rest}endpoint: ${q(endpoint)}`] : []),
      ...(region !== undefined ? [`${rest}region: ${q(region)}`] : []),
      ...(forcePathStyle !== undefined ? [`${rest}force-path-style: ${forcePathStyle}`] : [])
    )
  }
  return [...lines, ""].join("\n")
}

/**
 * Whether the replica needs settings that only a config file can carry (endpoint, region,
 * path style): then restore and listings go through `configFile` too.
 *
 * @since 0.1.0
 */
export const needsConfigFile = (config: Resolved): boolean =>
  config.s3.endpoint !== undefined || config.s3.region !== undefined || config.s3.forcePathStyle !== undefined

/**
 * `litestream restore -config FILE -o OUTPUT DB`: restore through a generated config.
 *
 * @since 0.1.0
 */
export const restoreConfigArgs = (
  config: Resolved,
  configPath: string,
  options: RestoreOptions = {},
  line: "v0.3" | "v0.5" = "v0.3"
): Array<string> => {
  const args = restoreArgs(config, options, line)
  return ["restore", "-config", configPath, ...args.slice(1, -1), config.dbPath]
}

/**
 * Replaces the credentials in a line of output with `<redacted>`: the secret access key
 * wherever it appears; the access key id only as a whole token (it is an identifier, not a
 * secret, as AWS documents it: a short one must not eat letters out of ordinary words).
 *
 * @since 0.1.0
 */
export const masker = (config: Resolved): (line: string) => string => {
  if (Option.isNone(config.credentials)) return (line) => line
  // Also the forms litestream may print a value in: JSON / Go-quoted (with Go's HTML escapes)
  // and URL-encoded.
  const forms = (s: string) => {
    const json = JSON.stringify(s).slice(1, -1)
    return [s, json, json.replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026"), encodeURIComponent(s)]
  }
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")
  const { accessKeyId, secretAccessKey } = config.credentials.value
  const patterns = [
    ...forms(Redacted.value(secretAccessKey)).map((form) => ({ form, pattern: escape(form) })),
    ...forms(Redacted.value(accessKeyId)).map((form) => ({
      form,
      pattern: `(?<![\\p{L}\\p{N}])${escape(form)}(?![\\p{L}\\p{N}])`
    }))
  ].filter((p) => p.form.length > 0)
  if (patterns.length === 0) return (line) => line
  // Longest first: at a given place the longer form wins, so none is half-masked by a shorter one.
  const re = new RegExp(patterns.sort((a, b) => b.form.length - a.form.length).map((p) => p.pattern).join("|"), "gu")
  return (line) => line.replace(re, "<redacted>")
}
