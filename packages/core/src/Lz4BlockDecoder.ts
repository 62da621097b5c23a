/**
 * Where the native restore decodes the LZ4 blocks of litestream v0.3 snapshots and WAL segments.
 * Without this service it decodes them in its own thread, one after the other; a runtime with
 * threads can provide one that decodes several blocks at once (the Node layer's worker threads,
 * `NodeLz4Workers`). litestream writes frames of independent 4 MB blocks, so blocks can be decoded
 * in any order; the restore still checks and writes them in order.
 *
 * @since 0.3.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { decodeBlock, Lz4Error } from "./format/Lz4.js"
import type { XxHash32State } from "./format/XxHash32.js"

/**
 * @since 0.3.0
 */
export interface Service {
  /** blocks worth having in flight at once (the restore reads ahead this many) */
  readonly concurrency: number
  /**
   * Objects stored in fewer bytes are decoded in the caller's thread (a block or two is not worth
   * the hand-off, nor a thread's start); default 4 MiB.
   */
  readonly minSize?: number | undefined
  /**
   * Decodes one independent LZ4 block into at most `maxSize` bytes, as `Lz4.decodeBlock` does
   * (the same `Lz4Error`s). `stored` is the caller's to give away: the decoder may take over its
   * buffer (transfer it to a thread).
   */
  readonly decode: (stored: Uint8Array, maxSize: number) => Effect.Effect<Uint8Array, Lz4Error>
  /** Hands back a decoded block whose bytes are no longer needed: its buffer may be reused. */
  readonly release: (decoded: Uint8Array) => void
  /** Room for a copy of a stored block of `size` bytes, to give to `decode` (recycled buffers). */
  readonly storedBuffer?: ((size: number) => Uint8Array) | undefined
  /**
   * Goes on with a frame's content hash (xxHash32) from `before` over a block `decode` gave,
   * elsewhere (a thread): the state after, and the block back (its buffer may have moved and
   * come back; use the returned one). The restore hashes blocks in order, one at a time, so that
   * the thread that checks and writes does not hash 1 GB itself.
   */
  readonly hash?: ((decoded: Uint8Array, before: XxHash32State) => Effect.Effect<Hashed>) | undefined
  /**
   * A decoder for the blocks of one object, with buffers of its own until the scope closes
   * (the Node threads' shared memory: blocks are decoded where the restore reads them, with no
   * copy). Its blocks must be released as the service's are; whatever is not released by the
   * scope's close is taken back then. Where there is none, or it is taken, the service itself.
   */
  readonly session?: Effect.Effect<Service, never, Scope.Scope> | undefined
}

/**
 * What `hash` gives back.
 *
 * @since 0.3.0
 */
export interface Hashed {
  readonly decoded: Uint8Array
  readonly after: XxHash32State
}

/**
 * The LZ4 block decoder the native restore uses when one is provided.
 *
 * @since 0.3.0
 */
export class Lz4BlockDecoder extends Context.Tag("@effect-litestream/core/Lz4BlockDecoder")<Lz4BlockDecoder, Service>() {}

/**
 * Decodes one block in this thread into a fresh buffer (what a worker runs, and its fallback).
 *
 * @since 0.3.0
 */
export const decodeHere = (stored: Uint8Array, maxSize: number): Effect.Effect<Uint8Array, Lz4Error> =>
  Effect.try({
    try: () => {
      const out = new Uint8Array(maxSize)
      return out.subarray(0, decodeBlock(stored, out))
    },
    catch: (e) => e instanceof Lz4Error ? e : new Lz4Error("Corrupt", String(e))
  })

/**
 * A decoder in this thread that still lets the restore pipeline `concurrency` blocks (reading
 * ahead while writing): for runtimes without threads, and for tests of the pipelined path.
 *
 * @since 0.3.0
 */
export const layerInThread = (concurrency = 2): Layer.Layer<Lz4BlockDecoder> =>
  Layer.succeed(Lz4BlockDecoder, { concurrency, decode: decodeHere, release: () => {} })
