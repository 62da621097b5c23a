/**
 * The read side of litestream v0.5 replicas (LTX files, no generations), natively: the listing
 * as typed rows, the restore plan for a target (`txid`, `timestamp` or the latest state), and
 * the plan applied page by page to a sink (a staging file, or memory). Reads go through
 * `ReplicaStore`, so it works on `file://` and S3 alike, with no litestream process.
 *
 * @since 0.3.0
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as V5 from "./format/LitestreamV5.js"
import * as Ltx from "./format/Ltx.js"
import { LitestreamConfigError, NotOnThisLine, ReplicaCorrupt } from "./LitestreamError.js"
import * as ReplicaStore from "./ReplicaStore.js"
import type { ReplicaStoreError } from "./ReplicaStoreError.js"

/**
 * One LTX file of a replica, as `litestream ltx` lists it.
 *
 * @since 0.3.0
 */
export class LtxFileRow extends Schema.Class<LtxFileRow>("LtxFileRow")({
  level: Schema.Number,
  /** 16 hex digits, as litestream prints TXIDs */
  minTxid: Schema.String,
  maxTxid: Schema.String,
  size: Schema.Number,
  created: Schema.Date,
  key: Schema.String
}) {}

/**
 * The LTX files of the replica, by level then TXID: the root's folders first (those named like
 * levels only: on a file replica, telling whether `generations/` holds an object walks it), then
 * each level folder there is (`ltx/` on file replicas, `0000/`...`0009/` on S3), listed once.
 *
 * @since 0.3.0
 */
export const files = (store: ReplicaStore.Service): Effect.Effect<ReadonlyArray<V5.LtxFile>, ReplicaStoreError> =>
  Effect.all([Stream.runCollect(store.folders("ltx")), Stream.runCollect(store.folders("000"))], { concurrency: 2 }).pipe(
    Effect.flatMap(([ltx, levels]) => {
      const present = new Set([...Chunk.toReadonlyArray(ltx), ...Chunk.toReadonlyArray(levels)])
      return Effect.forEach(V5.prefixes.filter((p) => present.has(p)), (prefix) => Stream.runCollect(store.list(prefix)), {
        concurrency: 4
      })
    }),
    Effect.map((chunks) => V5.files(chunks.flatMap((c) => Chunk.toReadonlyArray(c))))
  )

/**
 * The listing as rows (`level` one of 0-9, or all levels).
 *
 * @since 0.3.0
 */
export const list = (
  store: ReplicaStore.Service,
  options: { readonly level?: number | undefined } = {}
): Effect.Effect<ReadonlyArray<LtxFileRow>, ReplicaStoreError> =>
  Effect.map(files(store), (all) =>
    all.filter((f) => options.level === undefined || f.level === options.level).map((f) =>
      new LtxFileRow({
        level: f.level,
        minTxid: V5.hex16(f.minTxid),
        maxTxid: V5.hex16(f.maxTxid),
        size: f.size,
        created: f.createdAt,
        key: f.key
      })
    ))

/** The first `n` bytes of an object (the stream is dropped once they have arrived). */
const head = (store: ReplicaStore.Service, key: string, n: number) =>
  store.read(key).pipe(
    Stream.mapAccum(0, (seen, chunk) => [seen + chunk.length, { seen, chunk }] as const),
    Stream.takeUntil(({ chunk, seen }) => seen + chunk.length >= n),
    Stream.runFold(new Uint8Array(0), (acc, { chunk }) => {
      const out = new Uint8Array(acc.length + chunk.length)
      out.set(acc)
      out.set(chunk, acc.length)
      return out
    })
  )

/**
 * The files with `createdAt` taken from their headers' timestamps: what litestream compares a
 * `-timestamp` with (file mtimes are set from it; on S3 it is the object's metadata, which a
 * listing does not carry).
 *
 * @since 0.3.0
 */
export const withHeaderTimes = (
  store: ReplicaStore.Service,
  all: ReadonlyArray<V5.LtxFile>
): Effect.Effect<ReadonlyArray<V5.LtxFile>, ReplicaStoreError | ReplicaCorrupt> =>
  Effect.forEach(all, (file) =>
    head(store, file.key, Ltx.HEADER_SIZE).pipe(
      Effect.flatMap((bytes) =>
        Effect.try({
          try: () => ({ ...file, createdAt: new Date(Ltx.parseHeader(bytes).timestamp) }),
          catch: (e) => corruptFrom(store, file.key, e)
        })
      )
    ), { concurrency: 8 })

const corruptFrom = (store: ReplicaStore.Service, key: string, e: unknown) =>
  new ReplicaCorrupt({
    replica: store.replica,
    key,
    fault: e instanceof Ltx.LtxError ? e.reason : "Ltx",
    detail: e instanceof Error ? e.message.replace(/^LTX \w+:? /, "") : String(e)
  })

/**
 * Which state of a v0.5 replica to restore. `generation` and `index` belong to v0.3 replicas:
 * given here they fail with `NotOnThisLine`.
 *
 * @since 0.3.0
 */
export interface Target {
  readonly txid?: number | undefined
  readonly timestamp?: Date | undefined
  readonly generation?: string | undefined
  readonly index?: number | undefined
}

const badTarget = (rule: string, fix: string) =>
  new LitestreamConfigError({ issues: [{ variable: "restore options", rule, fix }] })

/**
 * The restore plan for `target`, or `NoBackups` (nothing matches: an empty replica, a TXID past
 * its files, a time outside them). A hole in the TXID chain is `ReplicaCorrupt` (`TxidGap`).
 *
 * @since 0.3.0
 */
export const planFor = (
  store: ReplicaStore.Service,
  target: Target,
  /** the replica's files, when already listed */
  listed?: ReadonlyArray<V5.LtxFile>
): Effect.Effect<
  V5.Plan | { readonly _tag: "NoBackups"; readonly reason: string },
  ReplicaStoreError | ReplicaCorrupt | LitestreamConfigError | NotOnThisLine
> =>
  Effect.gen(function*() {
    if (target.generation !== undefined || target.index !== undefined) {
      return yield* new NotOnThisLine({
        feature: `restore option "${target.generation !== undefined ? "generation" : "index"}"`,
        line: "v0.5",
        version: "0.5 (this replica holds LTX files, no generations)",
        fix: "restore a litestream v0.5 replica by txid or timestamp"
      })
    }
    let all = listed ?? (yield* files(store))
    if (target.timestamp !== undefined) all = yield* withHeaderTimes(store, all)
    const plan = V5.plan(all, { txid: target.txid, timestamp: target.timestamp })
    if (V5.isPlan(plan)) {
      yield* Effect.logDebug("native v0.5 restore plan").pipe(
        Effect.annotateLogs({ txid: V5.hex16(plan.txid), files: plan.files.map((f) => f.key).join(" ") })
      )
      return plan
    }
    switch (plan._tag) {
      case "NoBackups":
        return plan
      case "BadTarget":
        return yield* badTarget(plan.reason, "pass a txid (a whole number from 1) or a timestamp, not both")
      case "Gap":
        return yield* new ReplicaCorrupt({ replica: store.replica, key: plan.next.key, fault: "TxidGap", detail: plan.reason })
    }
  })

/**
 * Where the restored pages go (the shape of `NativeRestore`'s sinks): bytes at a position, then
 * the database's final size.
 *
 * @since 0.3.0
 */
export interface Sink<E, E2> {
  readonly writeAt: (position: number, bytes: Uint8Array) => Effect.Effect<void, E>
  readonly end: (size: number) => Effect.Effect<void, E2>
}

/** What `apply` found: the database's page size and pages, and the TXID it is at. */
export interface Applied {
  readonly pageSize: number
  readonly pages: number
  readonly txid: number
}

/** A set of page numbers, growing as needed. */
class PageSet {
  private bits = new Uint8Array(1024)
  add(pgno: number) {
    const byte = pgno >>> 3
    if (byte >= this.bits.length) {
      const grown = new Uint8Array(Math.max(byte + 1, this.bits.length * 2))
      grown.set(this.bits)
      this.bits = grown
    }
    this.bits[byte]! |= 1 << (pgno & 7)
  }
  has(pgno: number) {
    const byte = pgno >>> 3
    return byte < this.bits.length && (this.bits[byte]! & (1 << (pgno & 7))) !== 0
  }
}

/** Joins runs of consecutive pages that lie side by side into single writes (views, no copies). */
const runs = (pages: ReadonlyArray<Ltx.Page>): Array<{ readonly pgno: number; readonly bytes: Uint8Array }> => {
  const out: Array<{ pgno: number; bytes: Uint8Array }> = []
  let i = 0
  while (i < pages.length) {
    // a run: consecutive pages the decoder put side by side (one view, no copy); a slab's end
    // starts a new run rather than a copy of the pages into one array
    let j = i + 1
    while (j < pages.length && pages[j]!.pgno === pages[j - 1]!.pgno + 1) {
      const a = pages[j - 1]!.data
      const b = pages[j]!.data
      if (a.buffer !== b.buffer || a.byteOffset + a.length !== b.byteOffset) break
      j++
    }
    const first = pages[i]!.data
    out.push({
      pgno: pages[i]!.pgno,
      bytes: j - i === 1 ? first : new Uint8Array(first.buffer, first.byteOffset, (j - i) * first.length)
    })
    i = j
  }
  return out
}

/**
 * Applies `plan` to `sink`: each file's pages at `(pgno - 1) * pageSize`, in plan order (a
 * later file's page replaces an earlier one's, as litestream's compaction keeps the newest),
 * each file checked whole (its CRC-64, its index, its name against its header, one page size
 * for all; when the files track database checksums, the database's before and after each
 * file); then every page up to the last file's commit must have been written (the lock page
 * aside), and the database ends at that commit. A fault is `ReplicaCorrupt` naming the file:
 * the sink then holds a partial database, which the caller discards.
 *
 * @since 0.3.0
 */
export const apply = <E, E2>(
  store: ReplicaStore.Service,
  plan: V5.Plan,
  sink: Sink<E, E2>
): Effect.Effect<Applied, ReplicaCorrupt | ReplicaStoreError | E | E2> =>
  Effect.gen(function*() {
    const written = new PageSet()
    let pageSize: number | undefined
    let commit = 0
    // the database checksum, kept when the plan's first file tracks checksums
    let running: Ltx.RunningChecksum | undefined
    let reached = 0
    const checksumFault = (file: V5.LtxFile, which: string, expected: bigint, actual: bigint) =>
      new ReplicaCorrupt({
        replica: store.replica,
        key: file.key,
        fault: `${which}Checksum`,
        detail: `the database's checksum ${which === "PreApply" ? "before" : "after"} this file is ${Ltx.hex16(actual)}, the file says ${Ltx.hex16(expected)}`
      })
    for (const file of plan.files) {
      // pages written (and checksummed) before the next chunk is pushed: their memory is reused
      const decoder = new Ltx.Decoder({ reusePages: true })
      const corrupt = (e: unknown) => corruptFrom(store, file.key, e)
      const check = (header: Ltx.Header) => {
        if (header.minTxid !== file.minTxid || header.maxTxid !== file.maxTxid) {
          return Option.some(
            new ReplicaCorrupt({
              replica: store.replica,
              key: file.key,
              fault: "NameMismatch",
              detail: `its header covers TXIDs ${V5.hex16(header.minTxid)}-${V5.hex16(header.maxTxid)}, its name ${V5.hex16(file.minTxid)}-${V5.hex16(file.maxTxid)}`
            })
          )
        }
        if (pageSize !== undefined && header.pageSize !== pageSize) {
          return Option.some(
            new ReplicaCorrupt({
              replica: store.replica,
              key: file.key,
              fault: "PageSize",
              detail: `pages of ${header.pageSize} bytes, the files before it have ${pageSize}`
            })
          )
        }
        return Option.none()
      }
      let checked = false
      // the decoder keeps no view of a chunk: the store may reuse its buffer
      yield* ReplicaStore.readTransient(store, file.key).pipe(
        Stream.runForEach((chunk) =>
          Effect.gen(function*() {
            const pages = yield* Effect.try({ try: () => decoder.push(chunk), catch: corrupt })
            const header = decoder.header
            if (header !== undefined && !checked) {
              checked = true
              const bad = check(header)
              if (Option.isSome(bad)) return yield* bad.value
              pageSize = header.pageSize
              if (reached === 0 && Ltx.tracksChecksums(header)) running = new Ltx.RunningChecksum(header.pageSize)
              // a file that continues the chain exactly must start from the state it was made on
              if (
                running !== undefined && Ltx.tracksChecksums(header) && !Ltx.isSnapshot(header) &&
                header.minTxid === reached + 1 && running.value !== header.preApplyChecksum
              ) {
                return yield* checksumFault(file, "PreApply", header.preApplyChecksum, running.value)
              }
            }
            if (running !== undefined) for (const page of pages) running.set(page.pgno, page.data, page.checksum)
            for (const run of runs(pages)) {
              yield* sink.writeAt((run.pgno - 1) * pageSize!, run.bytes)
            }
            for (const page of pages) written.add(page.pgno)
          })
        )
      )
      const summary = yield* Effect.try({ try: () => decoder.end(), catch: corrupt })
      commit = summary.header.commit
      reached = summary.header.maxTxid
      if (running !== undefined) {
        running.resize(commit)
        if (Ltx.tracksChecksums(summary.header) && running.value !== summary.postApplyChecksum) {
          return yield* checksumFault(file, "PostApply", summary.postApplyChecksum, running.value)
        }
      }
    }
    const size = pageSize!
    const lock = Ltx.lockPgno(size)
    for (let pgno = 1; pgno <= commit; pgno++) {
      if (pgno !== lock && !written.has(pgno)) {
        return yield* new ReplicaCorrupt({
          replica: store.replica,
          key: plan.files[0]!.key,
          fault: "MissingPages",
          detail: `page ${pgno} of the ${commit} the database has at TXID ${V5.hex16(plan.txid)} is in none of the plan's files (${
            plan.files.map((f) => f.key).join(", ")
          }): the chain does not start at a snapshot`
        })
      }
    }
    yield* sink.end(commit * size)
    return { pageSize: size, pages: commit, txid: plan.txid }
  })

/**
 * The whole v0.5 restore into `sink`: the plan for `target`, applied; `NoBackups` (nothing
 * written) when nothing matches. What `NativeRestore` runs on a v0.5 replica.
 *
 * @since 0.3.0
 */
export const restoreTo = <E, E2>(
  store: ReplicaStore.Service,
  target: Target,
  sink: Sink<E, E2>,
  /** the replica's files, when already listed */
  listed?: ReadonlyArray<V5.LtxFile>
): Effect.Effect<
  { readonly _tag: "Written"; readonly applied: Applied } | { readonly _tag: "NoBackups"; readonly reason: string },
  ReplicaCorrupt | ReplicaStoreError | LitestreamConfigError | NotOnThisLine | E | E2
> =>
  Effect.gen(function*() {
    const plan = yield* planFor(store, target, listed)
    if (!V5.isPlan(plan)) return plan
    const applied = yield* apply(store, plan, sink)
    return { _tag: "Written", applied } as const
  })
