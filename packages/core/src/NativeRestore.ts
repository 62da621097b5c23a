/**
 * A `Restore` layer that needs no process: it reads litestream v0.3 replicas itself (object
 * listings, LZ4 frames, SQLite WAL frames) through `ReplicaStore`, and publishes the database
 * exactly as the litestream-based layer does (private staging name, hard link, never overwrite,
 * no partial file). It runs wherever `FileSystem` and `HttpClient` exist.
 *
 * @since 0.2.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Path from "@effect/platform/Path"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as Lz4 from "./format/Lz4.js"
import * as V3 from "./format/LitestreamV3.js"
import * as SqliteWal from "./format/SqliteWal.js"
import * as internalPublish from "./internal/publish.js"
import * as LitestreamConfig from "./LitestreamConfig.js"
import { LitestreamConfigError, LitestreamTimeout, LocalFileError, ReplicaCorrupt } from "./LitestreamError.js"
import * as ReplicaStore from "./ReplicaStore.js"
import { clearSidecars, DEFAULT_TIMEOUT, Restore, type RestoreOptions } from "./Restore.js"

const SQLITE_MAGIC = "SQLite format 3\u0000"

/** The page size a database header gives (bytes 16-17; 1 means 65536). */
const pageSizeOf = (header: Uint8Array): number | undefined => {
  if (header.length < 100 || new TextDecoder().decode(header.subarray(0, 16)) !== SQLITE_MAGIC) return undefined
  const raw = (header[16]! << 8) | header[17]!
  const size = raw === 1 ? 65536 : raw
  return size >= 512 && size <= 65536 && (size & (size - 1)) === 0 ? size : undefined
}

/**
 * Decodes an object's LZ4 frames as they arrive: a fault names the object.
 */
const decoded = (store: ReplicaStore.Service, key: string) =>
  Stream.suspend(() => {
    const decoder = new Lz4.FrameDecoder()
    const corrupt = (e: unknown) =>
      new ReplicaCorrupt({
        replica: store.replica,
        key,
        fault: e instanceof Lz4.Lz4Error ? e.reason : "Lz4",
        detail: e instanceof Error ? e.message : String(e)
      })
    return store.read(key).pipe(
      Stream.mapConcatEffect((chunk) => Effect.try({ try: () => decoder.push(chunk), catch: corrupt })),
      Stream.concat(Stream.fromEffect(Effect.try({ try: () => decoder.end(), catch: corrupt })).pipe(Stream.drain))
    )
  })

/**
 * Writes the plan's database at `staging`: the snapshot, then each WAL index's committed
 * transactions, page by page; the file ends at the last commit's page count.
 */
const applyPlan = (store: ReplicaStore.Service, plan: V3.Plan, staging: string) =>
  Effect.scoped(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const fileError = (operation: string) => (e: { readonly message: string }) =>
      new LocalFileError({ operation, path: staging, detail: e.message })
    const corrupt = (key: string, fault: string, detail: string) =>
      new ReplicaCorrupt({ replica: store.replica, key, fault, detail })
    const file = yield* fs.open(staging, { flag: "w" }).pipe(Effect.mapError(fileError("create")))
    const write = (bytes: Uint8Array) => file.writeAll(bytes).pipe(Effect.mapError(fileError("write")))

    // 1. the snapshot, streamed; its header gives the page size
    let size = 0
    let header = new Uint8Array(0)
    yield* decoded(store, plan.snapshot.key).pipe(
      Stream.runForEach((block) =>
        Effect.suspend(() => {
          if (header.length < 100) header = Uint8Array.from([...header, ...block.subarray(0, 100 - header.length)])
          size += block.length
          return write(block)
        })
      )
    )
    const pageSize = pageSizeOf(header)
    if (pageSize === undefined || size % pageSize !== 0) {
      return yield* corrupt(
        plan.snapshot.key,
        "NotADatabase",
        pageSize === undefined ? "the snapshot is not a SQLite database" : `${size} bytes is not a whole number of ${pageSize}-byte pages`
      )
    }
    let pageCount = size / pageSize

    // 2. each WAL index: its segments are one WAL, contiguous from offset 0
    for (const { index, segments } of plan.indexes) {
      const reader = new SqliteWal.WalReader()
      let offset = 0
      let pending: Array<{ readonly pgno: number; readonly page: Uint8Array }> = []
      const apply = (frames: ReadonlyArray<SqliteWal.WalFrame>) =>
        Effect.gen(function*() {
          for (const frame of frames) {
            // a frame's page is a view into a buffer the reader may reuse: copy it
            pending.push({ pgno: frame.pgno, page: frame.page.slice() })
            if (frame.commit === 0) continue
            if (reader.header!.pageSize !== pageSize) {
              return yield* corrupt(segments[0]!.key, "PageSize", `WAL pages of ${reader.header!.pageSize} bytes, database pages of ${pageSize}`)
            }
            for (const { page, pgno } of pending) {
              yield* file.seek((pgno - 1) * pageSize, "start")
              yield* write(page)
            }
            pending = []
            pageCount = frame.commit
          }
        })
      for (const segment of segments) {
        if (segment.offset !== offset) {
          return yield* corrupt(
            segment.key,
            "MissingSegment",
            `WAL index ${V3.hex8(index)} continues at offset ${segment.offset}, but its segments so far end at ${offset}: a segment is missing`
          )
        }
        yield* decoded(store, segment.key).pipe(
          Stream.runForEach((block) =>
            Effect.suspend(() => {
              offset += block.length
              return Effect.try({
                try: () => reader.push(block),
                catch: (e) => corrupt(segment.key, e instanceof SqliteWal.WalError ? e.reason : "Wal", String(e))
              }).pipe(Effect.flatMap(apply))
            })
          )
        )
        const stop = reader.stopped
        if (stop !== undefined) {
          return yield* corrupt(segment.key, `Wal${stop.reason}`, `frame ${stop.index} at byte ${stop.offset} of WAL index ${V3.hex8(index)} fails SQLite's ${stop.reason === "Checksum" ? "checksum" : stop.reason === "Salt" ? "salt" : "frame"} check`)
        }
      }
      const last = segments.at(-1)!
      const stop = yield* Effect.try({
        try: () => reader.end(),
        catch: (e) => corrupt(last.key, e instanceof SqliteWal.WalError ? e.reason : "Wal", String(e))
      })
      if (stop !== undefined) {
        return yield* corrupt(last.key, `Wal${stop.reason}`, `WAL index ${V3.hex8(index)} ends inside frame ${stop.index}`)
      }
      // frames after the last commit were never committed: SQLite (and litestream) ignore them
    }
    yield* file.truncate(pageCount * pageSize).pipe(Effect.mapError(fileError("truncate")))
    yield* file.sync.pipe(Effect.mapError(fileError("sync")))
  }))

/**
 * Builds the native `Restore` from the settings, `FileSystem`, `Path` and `HttpClient`.
 *
 * @since 0.2.0
 */
export const make = Effect.gen(function*() {
  const base = yield* LitestreamConfig.LitestreamConfig
  const context = yield* Effect.context<FileSystem.FileSystem | Path.Path | HttpClient.HttpClient>()
  const path = yield* Path.Path

  const restore = (options: RestoreOptions = {}) =>
    Effect.gen(function*() {
      const config = options.database === undefined ? base : yield* LitestreamConfig.forDatabase(base, options.database)
      const store = yield* ReplicaStore.make(config)
      const timeout = Duration.decode(options.timeout ?? DEFAULT_TIMEOUT)
      const write = (staging: string) =>
        Effect.gen(function*() {
          const objects = Chunk.toReadonlyArray(yield* Stream.runCollect(store.list("generations/")))
          const plan = V3.plan(V3.generations(objects), {
            generation: options.generation,
            index: options.index,
            timestamp: options.timestamp
          })
          if (!V3.isPlan(plan)) {
            switch (plan._tag) {
              case "NoBackups":
                return { _tag: "NoBackups" } as const
              case "BadTarget":
                return yield* new LitestreamConfigError({
                  issues: [{ variable: "restore options", rule: plan.reason, fix: "pass generation with index, or a timestamp alone" }]
                })
              case "Incomplete":
                return yield* new ReplicaCorrupt({ replica: store.replica, key: "", fault: "Incomplete", detail: plan.reason })
            }
          }
          yield* Effect.logDebug("native restore plan").pipe(
            Effect.annotateLogs({
              generation: plan.generation,
              snapshot: plan.snapshot.key,
              indexes: plan.indexes.map((i) => `${V3.hex8(i.index)}:${i.segments.length}`).join(" ")
            })
          )
          yield* applyPlan(store, plan, staging)
          return { _tag: "Written" } as const
        }).pipe(
          Effect.timeoutFail({ duration: timeout, onTimeout: () => new LitestreamTimeout({ operation: "restore", timeout }) })
        )
      return yield* internalPublish.publish({
        output: options.output !== undefined ? path.resolve(options.output) : config.dbPath,
        replica: config.replica.url,
        restore: options,
        clearSidecars,
        write
      })
    }).pipe(
      Effect.provide(context),
      Effect.withSpan("Restore.restore", { attributes: { replica: base.replica.url, native: true } })
    )

  return Restore.of({ restore })
})

/**
 * The native `Restore`: the same tag, options, outcomes and errors as `Restore.layer`, without
 * litestream. Reads `file://` and `s3://` replicas of litestream v0.3.
 *
 * @since 0.2.0
 */
export const layer: Layer.Layer<
  Restore,
  never,
  LitestreamConfig.LitestreamConfig | FileSystem.FileSystem | Path.Path | HttpClient.HttpClient
> = Layer.effect(Restore, make)
