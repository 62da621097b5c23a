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
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Lz4 from "./format/Lz4.js"
import * as V3 from "./format/LitestreamV3.js"
import * as SqliteWal from "./format/SqliteWal.js"
import * as internalObjectFrames from "./internal/objectFrames.js"
import * as internalPublish from "./internal/publish.js"
import * as LitestreamConfig from "./LitestreamConfig.js"
import * as Lz4BlockDecoder from "./Lz4BlockDecoder.js"
import * as LtxReplica from "./LtxReplica.js"
import {
  InMemoryLimitExceeded,
  LitestreamConfigError,
  LitestreamTimeout,
  LocalFileError,
  NoBackupsFound,
  NotOnThisLine,
  ReplicaCorrupt
} from "./LitestreamError.js"
import * as ReplicaFormat from "./ReplicaFormat.js"
import * as ReplicaStore from "./ReplicaStore.js"
import type { ReplicaStoreError } from "./ReplicaStoreError.js"
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
 * Decodes an object's LZ4 frames as they arrive and runs `f` on each decoded block, in order: a
 * fault names the object. With an `Lz4BlockDecoder`, up to its `concurrency` blocks are decoded
 * at once while the ones before them are checked and written; without one, in this thread.
 */
const forEachBlock = <E, R>(
  store: ReplicaStore.Service,
  key: string,
  /** the object's stored size, from the listing */
  size: number,
  blocks: Option.Option<Lz4BlockDecoder.Service>,
  f: (block: Uint8Array) => Effect.Effect<void, E, R>
): Effect.Effect<void, E | ReplicaCorrupt | ReplicaStoreError, R> =>
  Effect.suspend(() => {
    // a small object (a WAL segment, a small database) is a block or two: not worth a thread's start
    if (Option.isNone(blocks) || blocks.value.concurrency < 2 || size < (blocks.value.minSize ?? 4 * 1024 * 1024)) {
      // each block is written (or copied) before the next chunk is pushed: its buffer can be reused
      return internalObjectFrames.decodedInThread(store, key).pipe(Stream.runForEach(f))
    }
    // the decoder's buffers for this object (its session), until the object is done
    const pool = blocks.value
    return Effect.scoped(Effect.flatMap(pool.session ?? Effect.succeed(pool), (decoder) => pipelined(store, key, decoder, f)))
  })

/** `forEachBlock` with `pool`: blocks decoded `concurrency` at a time, checked and written in order. */
const pipelined = <E, R>(
  store: ReplicaStore.Service,
  key: string,
  pool: Lz4BlockDecoder.Service,
  f: (block: Uint8Array) => Effect.Effect<void, E, R>
): Effect.Effect<void, E | ReplicaCorrupt | ReplicaStoreError, R> => {
  const corrupt = internalObjectFrames.corrupt(store.replica, key)
  const decoder = new Lz4.FrameDecoder({ deferBlocks: true, storedBuffer: pool.storedBuffer })
  const decode = (
    item: Lz4.FrameItem
  ): Effect.Effect<{ readonly item: Lz4.FrameItem; readonly bytes: Uint8Array | undefined }, ReplicaCorrupt> =>
    item._tag === "Stored"
      ? pool.decode(item.stored, item.maxSize).pipe(
        Effect.mapError((e) => corrupt(new Lz4.Lz4Error(e.reason, e.message.replace(/^LZ4 \w+: /, ""), item.offset))),
        Effect.map((bytes) => ({ item, bytes }))
      )
      : Effect.succeed({ item, bytes: item._tag === "Decoded" ? item.bytes : undefined })
  // pushItems copies what it keeps of a chunk (the stored blocks): the store may reuse it
  return ReplicaStore.readTransient(store, key).pipe(
    // every read of a chunk of them in one step (an S3 body arrives in 16-64 KB reads)
    Stream.mapChunksEffect((chunks) =>
      Effect.try({
        try: () => Chunk.unsafeFromArray(Chunk.toReadonlyArray(chunks).flatMap((chunk) => decoder.pushItems(chunk))),
        catch: corrupt
      })
    ),
    Stream.concat(Stream.fromEffect(Effect.try({ try: () => decoder.end(), catch: corrupt })).pipe(Stream.drain)),
    // in order, `concurrency` at a time: reading and decoding run ahead of the checks and writes
    Stream.mapEffect(decode, { concurrency: pool.concurrency }),
    // the content checks, in order; a block reaches `f` only once they pass
    Stream.mapEffect(({ bytes, item }) => {
      const hash = pool.hash
      const before = hash !== undefined && item._tag === "Stored" ? Lz4.hashState(item) : undefined
      if (before === undefined || hash === undefined || item._tag === "End") {
        return Effect.try({
          try: () => {
            if (item._tag === "End") Lz4.settleEnd(item)
            else Lz4.settle(item, bytes!)
            return { item, bytes }
          },
          catch: corrupt
        })
      }
      // hashed by the decoder's thread, in turn: this one only carries the state
      return Effect.flatMap(hash(bytes!, before), ({ after, decoded }) =>
        Effect.try({
          try: () => {
            Lz4.settleHashed(item, decoded.length, after)
            return { item, bytes: decoded }
          },
          catch: corrupt
        }))
    }),
    // one block checked ahead of the one being written: hashing overlaps the write
    Stream.buffer({ capacity: 1 }),
    Stream.runForEach(({ bytes, item }) =>
      item._tag === "End"
        ? Effect.void
        : f(bytes!).pipe(Effect.ensuring(Effect.sync(() => item._tag === "Stored" && pool.release(bytes!))))
    )
  )
}

/**
 * Where the restored pages go: a file being written, or a buffer in memory.
 */
interface Sink<E> {
  readonly writeAt: (position: number, bytes: Uint8Array) => Effect.Effect<void, E>
  /** the database ends here (databases shrink: a commit's page count can be below the snapshot's) */
  readonly end: (size: number) => Effect.Effect<void, LocalFileError>
}

// SQLite's header: the page count at 28 is valid when the change counter at 24 equals the
// "version valid for" number at 92 (every SQLite since 3.7.0 writes both).
const headerPageCount = (header: Uint8Array): number | undefined => {
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength)
  const count = view.getUint32(28)
  return count > 0 && view.getUint32(24) === view.getUint32(92) ? count : undefined
}

/**
 * Writes a commit's pages: the last frame of a page wins, and runs of consecutive pages go out
 * as one write of up to 1 MiB (a transaction that rewrote a table is a few writes, not one per page).
 */
const writePages = <E>(
  sink: Sink<E>,
  frames: ReadonlyArray<{ readonly pgno: number; readonly page: Uint8Array }>,
  pageSize: number
): Effect.Effect<void, E> =>
  Effect.suspend(() => {
    const latest = new Map<number, Uint8Array>()
    for (const { page, pgno } of frames) latest.set(pgno, page)
    const pgnos = [...latest.keys()].sort((a, b) => a - b)
    const perRun = Math.max(1, Math.floor((1024 * 1024) / pageSize))
    const runs: Array<{ readonly at: number; readonly bytes: Uint8Array }> = []
    for (let i = 0; i < pgnos.length;) {
      let j = i + 1
      while (j < pgnos.length && j - i < perRun && pgnos[j] === pgnos[j - 1]! + 1) j++
      let bytes = latest.get(pgnos[i]!)!
      if (j - i > 1) {
        bytes = new Uint8Array((j - i) * pageSize)
        for (let k = i; k < j; k++) bytes.set(latest.get(pgnos[k]!)!, (k - i) * pageSize)
      }
      runs.push({ at: (pgnos[i]! - 1) * pageSize, bytes })
      i = j
    }
    return Effect.forEach(runs, ({ at, bytes }) => sink.writeAt(at, bytes), { discard: true })
  })

/**
 * Writes the plan's database into `sink`: the snapshot, then each WAL index's committed
 * transactions, page by page; the database ends at the last commit's page count.
 */
const applyPlan = <E>(
  store: ReplicaStore.Service,
  plan: V3.Plan,
  sink: Sink<E>,
  blocks: Option.Option<Lz4BlockDecoder.Service>
) =>
  Effect.gen(function*() {
    const corrupt = (key: string, fault: string, detail: string) =>
      new ReplicaCorrupt({ replica: store.replica, key, fault, detail })

    // 1. the snapshot, streamed; its header gives the page size
    let size = 0
    let header = new Uint8Array(0)
    yield* forEachBlock(store, plan.snapshot.key, plan.snapshot.size, blocks, (block) =>
      Effect.suspend(() => {
        if (header.length < 100) header = Uint8Array.from([...header, ...block.subarray(0, 100 - header.length)])
        const at = size
        size += block.length
        return sink.writeAt(at, block)
      }))
    const pageSize = pageSizeOf(header)
    if (pageSize === undefined || size % pageSize !== 0) {
      return yield* corrupt(
        plan.snapshot.key,
        "NotADatabase",
        pageSize === undefined ? "the snapshot is not a SQLite database" : `${size} bytes is not a whole number of ${pageSize}-byte pages`
      )
    }
    let pageCount = size / pageSize
    const declared = headerPageCount(header)
    if (declared !== undefined && declared > pageCount) {
      return yield* corrupt(
        plan.snapshot.key,
        "SnapshotShort",
        `the snapshot holds ${pageCount} pages, its database header says ${declared}: it was cut short`
      )
    }

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
            yield* writePages(sink, pending, pageSize)
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
        yield* forEachBlock(store, segment.key, segment.size, blocks, (block) =>
          Effect.suspend(() => {
            offset += block.length
            return Effect.try({
              try: () => reader.push(block),
              catch: (e) => corrupt(segment.key, e instanceof SqliteWal.WalError ? e.reason : "Wal", String(e))
            }).pipe(Effect.flatMap(apply))
          }))
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
    yield* sink.end(pageCount * pageSize)
  })

/**
 * A sink writing the file at `path` (created, or truncated). Every `FLUSH_BEHIND` bytes written
 * it starts an fsync in the background, so the disk writes the restored pages while later ones
 * are decoded: the last fsync, which the restore waits for, then has little left to do (a
 * 100 MB database's fsync alone took 50-80 ms here, a third of a restore).
 */
const fileSink = (path: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const fileError = (operation: string) => (e: { readonly message: string }) => LocalFileError.of(operation, path, e.message)
    const file = yield* fs.open(path, { flag: "w" }).pipe(Effect.mapError(fileError("create")))
    const scope = yield* Effect.scope
    let unflushed = 0
    let flushing: Fiber.RuntimeFiber<void> | undefined
    let flushFailed: LocalFileError | undefined
    // the fsync runs on its own while writes go on; its failure fails `end`
    const flushBehind = file.sync.pipe(
      Effect.catchAll((e) => Effect.sync(() => void (flushFailed ??= fileError("sync")(e)))),
      Effect.forkIn(scope),
      Effect.map((fiber) => {
        flushing = fiber
      })
    )
    const sink: Sink<LocalFileError> = {
      writeAt: (position, bytes) =>
        file.seek(position, "start").pipe(
          Effect.zipRight(file.writeAll(bytes)),
          Effect.mapError(fileError("write")),
          Effect.zipRight(Effect.suspend(() => {
            unflushed += bytes.length
            if (unflushed < FLUSH_BEHIND || (flushing !== undefined && flushing.unsafePoll() === null)) return Effect.void
            unflushed = 0
            return flushBehind
          }))
        ),
      end: (size) =>
        Effect.gen(function*() {
          if (flushing !== undefined) yield* Fiber.await(flushing)
          if (flushFailed !== undefined) return yield* flushFailed
          yield* file.truncate(size).pipe(Effect.zipRight(file.sync), Effect.mapError(fileError("truncate")))
        })
    }
    return sink
  })

/** bytes written between two background fsyncs of a file sink */
const FLUSH_BEHIND = 16 * 1024 * 1024

/** A sink into memory: a buffer that doubles as it fills, up to `maxBytes`. */
const memorySink = (maxBytes: number) => {
  let buffer = new Uint8Array(0)
  let length = 0
  const sink: Sink<InMemoryLimitExceeded> = {
    writeAt: (position, bytes) =>
      Effect.suspend(() => {
        const needed = position + bytes.length
        if (needed > maxBytes) return Effect.fail(new InMemoryLimitExceeded({ maxBytes, needed }))
        if (needed > buffer.length) {
          const grown = new Uint8Array(Math.min(maxBytes, Math.max(needed, buffer.length * 2, 1 << 16)))
          grown.set(buffer.subarray(0, length))
          buffer = grown
        }
        buffer.set(bytes, position)
        length = Math.max(length, needed)
        return Effect.void
      }),
    end: (size) =>
      Effect.sync(() => {
        // pages never written (a database grown by a commit) read as zeros, as in a file
        if (size > buffer.length) {
          const grown = new Uint8Array(size)
          grown.set(buffer.subarray(0, length))
          buffer = grown
        }
        length = size
      })
  }
  return { sink, bytes: () => buffer.subarray(0, length) }
}

/**
 * The plan for `options` from the replica's listing, or `NoBackups`.
 */
const planFor = (
  store: ReplicaStore.Service,
  options: Target,
  /** the objects under `generations/`, when already listed */
  listed: ReadonlyArray<ReplicaStore.ObjectInfo> | undefined
) =>
  Effect.gen(function*() {
    const objects = listed ?? Chunk.toReadonlyArray(yield* Stream.runCollect(store.list("generations/")))
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
          return yield* new ReplicaCorrupt({
            replica: store.replica,
            key: "",
            // no snapshot to start from: what a replica wiped while litestream kept replicating looks like
            fault: plan.missing === "Snapshot" ? "NoSnapshot" : "Incomplete",
            detail: plan.reason
          })
      }
    }
    yield* Effect.logDebug("native restore plan").pipe(
      Effect.annotateLogs({
        generation: plan.generation,
        snapshot: plan.snapshot.key,
        indexes: plan.indexes.map((i) => `${V3.hex8(i.index)}:${i.segments.length}`).join(" ")
      })
    )
    return plan
  })

/**
 * Writes the state `options` asks for into the sink `makeSink` opens: a litestream v0.5 replica
 * through `LtxReplica`, a v0.3 one here (the format found at the replica, see `ReplicaFormat`).
 */
const writeTo = <E, R>(
  store: ReplicaStore.Service,
  options: Target,
  makeSink: Effect.Effect<Sink<E>, LocalFileError, R>,
  blocks: Option.Option<Lz4BlockDecoder.Service>
) =>
  Effect.gen(function*() {
    const { format, generations, ltx } = yield* ReplicaFormat.detect(store, options)
    if (format === "v5") {
      const written = yield* LtxReplica.restoreTo(store, options, yield* makeSink, ltx)
      return written._tag === "Written" ? { _tag: "Written" } as const : { _tag: "NoBackups" } as const
    }
    if (format === "v3" && options.txid !== undefined) {
      return yield* new NotOnThisLine({
        feature: 'restore option "txid"',
        line: "v0.3",
        version: "0.3 (this replica holds generations, no LTX files)",
        fix: "restore a litestream v0.3 replica by generation, index or timestamp"
      })
    }
    const plan = yield* planFor(store, options, generations)
    if (!("snapshot" in plan)) return plan
    yield* applyPlan(store, plan, yield* makeSink, blocks)
    return { _tag: "Written" } as const
  })

const withTimeout = (timeout: Duration.DurationInput | undefined) =>
<A, E, R>(effect: Effect.Effect<A, E, R>) => {
  const duration = Duration.decode(timeout ?? DEFAULT_TIMEOUT)
  return Effect.timeoutFail(effect, {
    duration,
    onTimeout: () => new LitestreamTimeout({ operation: "restore", timeout: duration })
  })
}

/**
 * Which state of the replica to restore (the options of `Restore.restore` that choose it).
 *
 * @since 0.2.0
 */
export interface Target {
  readonly timestamp?: Date | undefined
  /** litestream v0.5 replicas: the state after this transaction */
  readonly txid?: number | undefined
  /** the replica's format, instead of finding it at the replica */
  readonly format?: ReplicaFormat.Format | undefined
  readonly generation?: string | undefined
  readonly index?: number | undefined
}

/**
 * Options of `toBytes`.
 *
 * @since 0.2.0
 */
export interface BytesOptions extends Target {
  /** give up after this long; default as `Restore.restore` */
  readonly timeout?: Duration.DurationInput | undefined
  /** refuse a database larger than this (`InMemoryLimitExceeded`); default 512 MiB */
  readonly maxBytes?: number | undefined
}

/**
 * Errors of `toBytes`.
 *
 * @since 0.2.0
 */
export type BytesError =
  | ReplicaCorrupt
  | ReplicaStoreError
  | NoBackupsFound
  | LitestreamConfigError
  | LitestreamTimeout
  | InMemoryLimitExceeded
  | LocalFileError
  | NotOnThisLine

/**
 * Restores the replica of the `ReplicaStore` in context into memory: the database file's
 * bytes, for runtimes with no file system (a worker, a serverless function) or a database
 * to open in memory. An empty replica fails with `NoBackupsFound`.
 *
 * @since 0.2.0
 */
export const toBytes = (options: BytesOptions = {}): Effect.Effect<Uint8Array, BytesError, ReplicaStore.ReplicaStore> =>
  Effect.gen(function*() {
    const store = yield* ReplicaStore.ReplicaStore
    const memory = memorySink(options.maxBytes ?? DEFAULT_MAX_BYTES)
    const written = yield* writeTo(store, options, Effect.succeed(memory.sink), yield* Effect.serviceOption(Lz4BlockDecoder.Lz4BlockDecoder))
    if (written._tag === "NoBackups") return yield* new NoBackupsFound({ replica: store.replica })
    return memory.bytes()
  }).pipe(withTimeout(options.timeout), Effect.withSpan("NativeRestore.toBytes"))

const DEFAULT_MAX_BYTES = 512 * 1024 * 1024

/**
 * Builds the native `Restore` from the settings, `FileSystem`, `Path` and `HttpClient`.
 *
 * @since 0.2.0
 */
export const make = Effect.gen(function*() {
  const base = yield* LitestreamConfig.LitestreamConfig
  const context = yield* Effect.context<FileSystem.FileSystem | Path.Path | HttpClient.HttpClient>()
  const path = yield* Path.Path
  // decodes v0.3 blocks in parallel when the platform provides it (the Node layer does)
  const blocks = yield* Effect.serviceOption(Lz4BlockDecoder.Lz4BlockDecoder)

  const restore = (options: RestoreOptions = {}) =>
    Effect.gen(function*() {
      const config = options.database === undefined ? base : yield* LitestreamConfig.forDatabase(base, options.database)
      const store = yield* ReplicaStore.make(config)
      const write = (staging: string) =>
        Effect.scoped(writeTo(store, options, fileSink(staging), blocks)).pipe(withTimeout(options.timeout))
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
 * litestream. Reads `file://` and `s3://` replicas of litestream v0.3 and v0.5 (LTX), the
 * format found at the replica.
 *
 * @since 0.2.0
 */
export const layer: Layer.Layer<
  Restore,
  never,
  LitestreamConfig.LitestreamConfig | FileSystem.FileSystem | Path.Path | HttpClient.HttpClient
> = Layer.effect(Restore, make)
