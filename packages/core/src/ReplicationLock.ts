/**
 * One litestream per database: an exclusive lock, taken before `litestream replicate` starts
 * for a database and held until it has exited. Two litestream processes on one database
 * corrupt each other's shadow WAL, and the replica silently loses committed rows; litestream
 * itself does not prevent it.
 *
 * The lock is a file beside the database, `<dir>/.<db>-effect-litestream.lock`, holding who
 * took it (`{ pid, host, startedAt, since, token }`). It is created atomically (a private file
 * is written, then hard-linked to the lock's name, which fails when the name exists), so a
 * reader never sees half of it. A lock whose holder is gone (a crash, SIGKILL) is stale and
 * taken over: the liveness check is the platform's (`layer({ isAlive })`), and a holder on
 * another host counts as alive.
 *
 * @since 0.2.0
 */
import type { PlatformError } from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { AlreadyReplicating, LocalFileError } from "./LitestreamError.js"

/**
 * Who holds a lock: the content of the lock file.
 *
 * @since 0.2.0
 */
export interface Holder {
  /** the holder's process id */
  readonly pid: number
  /** the holder's host name */
  readonly host: string
  /**
   * the holder process's start identity (on Linux: the boot id and the process's start time),
   * so that another process that got the same pid later is not taken for the holder; `null`
   * where the platform cannot tell
   */
  readonly startedAt: string | null
  /** when the lock was taken, ISO 8601 */
  readonly since: string
  /** unique to one acquisition: release removes the file only when it still holds this token */
  readonly token: string
}

const HolderJson = Schema.parseJson(Schema.Struct({
  pid: Schema.Int.pipe(Schema.positive()),
  host: Schema.String,
  startedAt: Schema.optionalWith(Schema.NullOr(Schema.String), { default: () => null }),
  since: Schema.optionalWith(Schema.String, { default: () => "unknown" }),
  token: Schema.optionalWith(Schema.String, { default: () => "" })
}))

const parseHolder = (raw: string): Option.Option<Holder> => Schema.decodeUnknownOption(HolderJson)(raw)

/**
 * The `ReplicationLock` service.
 *
 * @since 0.2.0
 */
export class ReplicationLock extends Context.Tag("@effect-litestream/core/ReplicationLock")<ReplicationLock, {
  /**
   * Takes the lock of the database at `dbPath`, held until the scope closes. Fails at once with
   * `AlreadyReplicating` when a live process (this one included) holds it; a stale lock (its
   * holder is gone) is taken over.
   */
  readonly acquire: (dbPath: string) => Effect.Effect<void, AlreadyReplicating | LocalFileError, Scope.Scope>
}>() {}

/**
 * What the platform tells about this process, and how it checks another one.
 *
 * @since 0.2.0
 */
export interface Options {
  /** this process's id */
  readonly pid: number
  /** this host's name */
  readonly host: string
  /** this process's start identity (see `Holder.startedAt`), when the platform can tell */
  readonly identity?: string | undefined
  /**
   * Whether the holder of a lock (a process of this host, not this process) still runs. Where
   * the platform can tell, a process with the holder's pid but another start identity is not
   * the holder.
   */
  readonly isAlive: (holder: Holder) => Effect.Effect<boolean>
  /**
   * A lock file that cannot be read as a holder (empty, truncated, foreign) is taken as stale
   * once it is older than this; default 2 seconds. Locks written by this module are never seen
   * half-written, so this only guards writers that are not atomic.
   */
  readonly staleGrace?: Duration.DurationInput | undefined
}

/**
 * The lock file of a database: `<dir>/.<db>-effect-litestream.lock`.
 *
 * @since 0.2.0
 */
export const lockFile = (path: Path.Path, dbPath: string): string =>
  path.join(path.dirname(dbPath), `.${path.basename(dbPath)}-effect-litestream.lock`)

/** @internal */
export const DEFAULT_STALE_GRACE: Duration.Duration = Duration.seconds(2)

/** how long contention (a takeover by another process in flight) may last before giving up */
const CONTENTION_LIMIT = Duration.seconds(5)
/** levels of takeover claims: one more each time a claimer died while taking a stale lock over */
const CLAIM_LEVELS = 8

/**
 * The tokens (locks and takeover claims) that this process holds, by pid, shared by every copy
 * of this module in the process: a lock with this pid whose token is not here was left by an
 * earlier process that had the same pid.
 */
const held: Map<string, number> = (() => {
  const key = Symbol.for("@effect-litestream/core/ReplicationLock/held")
  const g = globalThis as unknown as Record<symbol, Map<string, number> | undefined>
  return (g[key] ??= new Map<string, number>())
})()

/** A short, stable hash of a lock's content: names the takeover claims of that content. */
const hash = (s: string): string => {
  let h1 = 0xdeadbeef
  let h2 = 0x41c6ce57
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    h1 = Math.imul(h1 ^ c, 2654435761)
    h2 = Math.imul(h2 ^ c, 1597334677)
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909)
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909)
  return (h2 >>> 0).toString(16).padStart(8, "0") + (h1 >>> 0).toString(16).padStart(8, "0")
}

type Judgement = "ThisProcess" | "ThisHost" | "OtherHost" | "Stale"

type Attempt =
  | { readonly _tag: "Acquired" }
  | { readonly _tag: "Held"; readonly holder: Holder; readonly where: Exclude<Judgement, "Stale"> }
  | { readonly _tag: "Retry" }
  | { readonly _tag: "Wait" }

/**
 * Builds the service on `FileSystem` and `Path`.
 *
 * @since 0.2.0
 */
export const make = (options: Options): Effect.Effect<ReplicationLock["Type"], never, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const staleGrace = Duration.toMillis(Duration.decode(options.staleGrace ?? DEFAULT_STALE_GRACE))

    const newToken = Effect.gen(function*() {
      const a = yield* Random.nextIntBetween(0, 0x7fffffff)
      const b = yield* Random.nextIntBetween(0, 0x7fffffff)
      const now = yield* Clock.currentTimeMillis
      return `${options.pid}-${now.toString(36)}-${a.toString(36)}${b.toString(36)}`
    })

    const record = (token: string) =>
      Effect.map(Clock.currentTimeMillis, (now) =>
        JSON.stringify({
          pid: options.pid,
          host: options.host,
          startedAt: options.identity ?? null,
          since: new Date(now).toISOString(),
          token
        } satisfies Holder) + "\n")

    /** The content of a file, none when it does not exist. */
    const read = (file: string): Effect.Effect<Option.Option<string>, PlatformError> =>
      fs.readFileString(file).pipe(
        Effect.map(Option.some),
        Effect.catchIf((e) => e._tag === "SystemError" && e.reason === "NotFound", () => Effect.succeedNone)
      )

    const removeIfThere = (file: string) =>
      fs.remove(file).pipe(Effect.catchIf((e) => e._tag === "SystemError" && e.reason === "NotFound", () => Effect.void))

    /**
     * Creates `target` with `content`, atomically, unless it exists: a private file, then a hard
     * link to the name (which fails when the name exists). Where the file system has no hard
     * links, an exclusive create (readers may then see it empty for a moment: `staleGrace`).
     */
    const createExclusive = (target: string, content: string, token: string) =>
      Effect.gen(function*() {
        const temp = `${target}.${token}.tmp`
        const linked = fs.link(temp, target).pipe(
          Effect.as(true),
          Effect.catchIf(
            (e) => e._tag === "SystemError" && e.reason === "AlreadyExists",
            () => Effect.succeed(false)
          ),
          Effect.catchIf(
            (e) => !(e._tag === "SystemError" && (e.reason === "NotFound" || e.reason === "PermissionDenied")),
            () =>
              fs.writeFileString(target, content, { flag: "wx", mode: 0o644 }).pipe(
                Effect.as(true),
                Effect.catchIf((e) => e._tag === "SystemError" && e.reason === "AlreadyExists", () => Effect.succeed(false))
              )
          )
        )
        // the private file goes however this ends: a full disk fails its write after creating it
        return yield* fs.writeFileString(temp, content, { flag: "wx", mode: 0o644 }).pipe(
          Effect.zipRight(linked),
          Effect.ensuring(Effect.ignore(fs.remove(temp)))
        )
      })

    /** Whose a lock (or claim) is, and whether that one still runs. */
    const judge = (holder: Holder): Effect.Effect<Judgement> => {
      if (holder.host !== options.host) return Effect.succeed("OtherHost")
      if (holder.pid === options.pid) {
        // every token this process holds is registered before its file exists
        if (held.get(holder.token) === options.pid) return Effect.succeed("ThisProcess")
        // not registered, same start identity: this process still, from a part that does not
        // share this module's registry (a worker thread); otherwise an earlier process that had
        // the same pid
        const same = options.identity !== undefined && holder.startedAt === options.identity
        return Effect.succeed(same ? "ThisProcess" : "Stale")
      }
      return Effect.map(options.isAlive(holder), (alive) => (alive ? "ThisHost" : "Stale"))
    }

    /** A file's content that is no holder: stale once older than the grace period. */
    const unreadableIsStale = (file: string) =>
      Effect.gen(function*() {
        const info = yield* fs.stat(file).pipe(Effect.option)
        const now = yield* Clock.currentTimeMillis
        return Option.match(Option.flatMap(info, (i) => i.mtime), {
          onNone: () => Option.isSome(info),
          onSome: (mtime) => now - mtime.getTime() >= staleGrace
        })
      })

    /**
     * Removes the stale lock whose content is `raw`, if it is still there, without ever removing
     * another: only the holder of the claim on that content may remove it, and claims are
     * created exclusively (a claimer that died leaves its claim: the next level is used then).
     */
    const takeOver = (lock: string, raw: string): Effect.Effect<"Removed" | "Changed" | "Busy", PlatformError> =>
      Effect.gen(function*() {
        const key = hash(raw)
        const claim = (level: number) => `${lock}.break-${key}.${level}`
        for (let level = 0; level < CLAIM_LEVELS; level++) {
          const token = yield* newToken
          const created = yield* Effect.uninterruptible(Effect.gen(function*() {
            held.set(token, options.pid)
            const created = yield* createExclusive(claim(level), yield* record(token), token).pipe(
              Effect.onExit((exit) => Exit.isSuccess(exit) && exit.value ? Effect.void : Effect.sync(() => held.delete(token)))
            )
            return created
          }))
          if (created) {
            return yield* Effect.gen(function*() {
              const current = yield* read(lock)
              if (Option.isNone(current) || current.value !== raw) return "Changed" as const
              yield* removeIfThere(lock)
              return "Removed" as const
            }).pipe(
              // the lock is gone or changed: no claim on its old content is of use any more
              Effect.ensuring(
                Effect.forEach(Array.from({ length: level + 1 }, (_, j) => claim(j)), (c) => Effect.ignore(fs.remove(c)), {
                  discard: true
                }).pipe(Effect.ensuring(Effect.sync(() => held.delete(token))))
              ),
              Effect.uninterruptible
            )
          }
          const other = yield* read(claim(level))
          if (Option.isNone(other)) return "Busy" as const
          const holder = parseHolder(other.value)
          if (Option.isNone(holder)) {
            // claims are written atomically: an unreadable one is foreign or corrupt
            if (!(yield* unreadableIsStale(claim(level)))) return "Busy" as const
            continue
          }
          if ((yield* judge(holder.value)) !== "Stale") return "Busy" as const
        }
        return "Busy" as const
      })

    const attempt = (dbPath: string, lock: string, scope: Scope.Scope): Effect.Effect<Attempt, PlatformError> =>
      Effect.gen(function*() {
        const token = yield* newToken
        const content = yield* record(token)
        // registered before the file exists, and the finalizer added with it, uninterruptibly:
        // no lock of this process is ever left without its release
        const created = yield* Effect.uninterruptible(Effect.gen(function*() {
          held.set(token, options.pid)
          const created = yield* createExclusive(lock, content, token).pipe(
            Effect.onExit((exit) => Exit.isSuccess(exit) && exit.value ? Effect.void : Effect.sync(() => held.delete(token)))
          )
          if (created) yield* Scope.addFinalizer(scope, release(dbPath, lock, token))
          return created
        }))
        if (created) return { _tag: "Acquired" } as const

        const raw = yield* read(lock)
        if (Option.isNone(raw)) return { _tag: "Retry" } as const // released meanwhile
        const holder = parseHolder(raw.value)
        if (Option.isNone(holder)) {
          if (!(yield* unreadableIsStale(lock))) return { _tag: "Wait" } as const
        } else {
          const where = yield* judge(holder.value)
          if (where !== "Stale") return { _tag: "Held", holder: holder.value, where } as const
        }
        const outcome = yield* takeOver(lock, raw.value)
        if (outcome === "Removed") {
          yield* Effect.logWarning(
            Option.match(holder, {
              onNone: () => `removed an unreadable replication lock ${lock}`,
              onSome: (h) =>
                `took over the replication lock of ${dbPath}: its holder, process ${h.pid} on ${h.host} (since ${h.since}), is no longer running`
            })
          ).pipe(Effect.annotateLogs({ lock }))
        }
        return outcome === "Busy" ? { _tag: "Wait" } as const : { _tag: "Retry" } as const
      })

    const release = (dbPath: string, lock: string, token: string) =>
      Effect.gen(function*() {
        const raw = yield* read(lock)
        const ours = Option.exists(Option.flatMap(raw, parseHolder), (h) => h.token === token)
        if (ours) {
          yield* removeIfThere(lock)
        } else {
          yield* Effect.logWarning(`the replication lock ${lock} of ${dbPath} no longer held this process's token; left it as it is`)
        }
      }).pipe(
        Effect.catchAll((e) => Effect.logWarning(`could not release the replication lock ${lock}: ${e.message}`)),
        Effect.ensuring(Effect.sync(() => held.delete(token)))
      )

    const acquire = (dbPath: string) =>
      Effect.gen(function*() {
        const scope = yield* Effect.scope
        const lock = lockFile(path, dbPath)
        const fileError = (e: PlatformError) => LocalFileError.of("take the replication lock", lock, e.message)
        const started = yield* Clock.currentTimeMillis
        const limit = staleGrace + Duration.toMillis(CONTENTION_LIMIT)
        while (true) {
          const result = yield* attempt(dbPath, lock, scope).pipe(Effect.mapError(fileError))
          switch (result._tag) {
            case "Acquired":
              return
            case "Held":
              return yield* new AlreadyReplicating({
                path: dbPath,
                lockFile: lock,
                pid: result.holder.pid,
                host: result.holder.host,
                since: result.holder.since,
                holder: result.where
              })
            case "Wait": {
              if ((yield* Clock.currentTimeMillis) - started > limit) {
                return yield* new LocalFileError({
                  operation: "take the replication lock",
                  path: lock,
                  detail: `another process kept taking it over (or it stayed unreadable) for ${
                    Duration.format(Duration.millis(limit))
                  }; if no effect-litestream runs for ${dbPath}, delete ${lock} and the files beside it named after it`
                })
              }
              yield* Effect.sleep(Duration.millis(20))
              break
            }
            case "Retry":
              break
          }
        }
      }).pipe(Effect.withSpan("ReplicationLock.acquire", { attributes: { db: dbPath } }))

    return ReplicationLock.of({ acquire })
  })

/**
 * The `ReplicationLock` service on `FileSystem` and `Path`, with the platform's process facts
 * and liveness check (the Node one: `NodeReplicationLock.layer`).
 *
 * @since 0.2.0
 */
export const layer = (options: Options): Layer.Layer<ReplicationLock, never, FileSystem.FileSystem | Path.Path> =>
  Layer.effect(ReplicationLock, make(options))

/**
 * Takes the lock of every database in `dbPaths` (all or none: on a failure the ones taken are
 * released at once), held until the scope closes. Without a `ReplicationLock` in the context it
 * does nothing, so code run without a platform layer (mock executors) is unchanged.
 *
 * @since 0.2.0
 */
export const withLock = (
  dbPaths: ReadonlyArray<string>
): Effect.Effect<void, AlreadyReplicating | LocalFileError, Scope.Scope> =>
  Effect.flatMap(Effect.serviceOption(ReplicationLock), (service) =>
    Option.match(service, {
      onNone: () => Effect.void,
      onSome: (lock) =>
        Effect.gen(function*() {
          const scope = yield* Effect.scope
          const child = yield* Scope.fork(scope, ExecutionStrategy.sequential)
          const paths = Array.from(new Set(dbPaths)).sort()
          yield* Effect.forEach(paths, (p) => lock.acquire(p), { discard: true }).pipe(
            Scope.extend(child),
            Effect.onError(() => Scope.close(child, Exit.void))
          )
        })
    }))
