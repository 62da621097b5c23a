/**
 * The `Lz4BlockDecoder` of the Node layers: worker threads that decode the LZ4 blocks of
 * litestream v0.3 snapshots and WAL segments while the native restore checks and writes the ones
 * before them. Decoding is most of a native restore's time, and the blocks of litestream's frames
 * are independent. One more thread computes each frame's content checksum (xxHash32), block
 * after block in order, so the restore's thread only reads, hands out and writes. Blocks are
 * decoded into memory the threads share (a `WebAssembly.Memory` per decoding thread), where the
 * restore writes them from and the hashing thread hashes them: no decoded byte is copied or
 * moved between threads. Where shared memory is missing, blocks travel in transferred buffers.
 *
 * The threads start with the layer (in the background) and warm their decoder up, are shared by
 * the process's layers of the same size, do not keep the process alive, and stop 30 seconds
 * after the last such layer's scope closes (a program that builds a layer per restore keeps warm
 * threads: a cold start costs each thread its isolate, 10-20 MiB, and its first blocks). If they cannot start (no `worker_threads`, core's
 * module not found beside a bundle), blocks are decoded in this thread.
 *
 * @since 0.3.0
 */
import { Lz4Error, type Lz4ErrorReason } from "@effect-litestream/core/format/Lz4"
import { XxHash32, type XxHash32State } from "@effect-litestream/core/format/XxHash32"
import * as Lz4BlockDecoder from "@effect-litestream/core/Lz4BlockDecoder"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { createRequire } from "node:module"
import * as os from "node:os"
import { pathToFileURL } from "node:url"
import { Worker } from "node:worker_threads"

/**
 * Options of `layer`.
 *
 * @since 0.3.0
 */
export interface Options {
  /**
   * threads that decode (one more hashes); default the machine's parallelism, at most 4 (0:
   * decode and hash in this thread)
   */
  readonly workers?: number | undefined
  /** objects stored in fewer bytes are decoded in the restore's thread; default 4 MiB */
  readonly minSize?: number | undefined
}

type HashReply = { readonly id: number; readonly length: number; readonly output: ArrayBuffer; readonly after: XxHash32State }

/** The answer to a block decoded in place (in a thread's shared memory). */
type PlacedReply =
  | { readonly id: number; readonly length: number; readonly stored: ArrayBuffer }
  | {
    readonly id: number
    readonly error: { readonly reason: Lz4ErrorReason; readonly message: string }
    readonly stored: ArrayBuffer
  }

type Reply =
  | { readonly id: number; readonly length: number; readonly output: ArrayBuffer; readonly stored: ArrayBuffer }
  | {
    readonly id: number
    readonly error: { readonly reason: Lz4ErrorReason; readonly message: string }
    readonly output: ArrayBuffer
    readonly stored: ArrayBuffer
  }

interface Slot {
  readonly worker: Worker
  busy: number
}

// output buffers are at least litestream's block size, so one fits any block that comes next
const MIN_OUTPUT = 4 * 1024 * 1024
const START_TIMEOUT = Duration.seconds(10)

/**
 * The worker: core's block decoder and xxHash32 (their built modules, found as Node finds the
 * package) on each message: a block to decode, or a decoded block to hash from a state. The
 * stored block comes transferred and goes back. The output is either a transferred buffer that
 * goes back, or (`at`) a place in the thread's shared memory (`workerData.memory`), which the
 * restore's thread and the hashing thread (`workerData.memories`) read where it is. An inline
 * script, so that no file has to sit beside a bundle, and the same from the sources.
 */
const WORKER = `
const { parentPort } = require("node:worker_threads")
const { workerData } = require("node:worker_threads")
Promise.all([import(workerData.lz4), import(workerData.xxhash), import(workerData.lz4wasm)]).then(([{ decodeBlock, Lz4Error }, { XxHash32 }, { sharedMemoryDecoder }]) => {
  const memory = workerData.memory
  const shared = memory === undefined ? undefined : sharedMemoryDecoder(memory)
  const memories = workerData.memories ?? []
  // warm the decoder up (a thread starts with cold code): 2000 sequences of 4 literals and a
  // 60-byte match, then 5 last literals, decoded a few times
  const warm = new Uint8Array(2000 * 8 + 6)
  for (let i = 0; i < 2000; i++) warm.set([0x4f, 97, 98, 99, 100, 4, 0, 41], i * 8)
  warm.set([0x50, 101, 102, 103, 104, 105], 2000 * 8)
  const room = new Uint8Array(2000 * 64 + 5)
  for (let i = 0; i < 40; i++) decodeBlock(warm, room)
  for (let i = 0; i < 20; i++) XxHash32.fromState(new XxHash32(0).state()).update(room).state()
  parentPort.on("message", (job) => {
    // a transferred output buffer goes back with the answer; a place in shared memory stays
    const back = job.output === undefined ? {} : { output: job.output }
    const moved = job.output === undefined ? [] : [job.output]
    if (job.before !== undefined) {
      const bytes = job.output === undefined
        ? new Uint8Array(memories[job.thread].buffer, job.at, job.length)
        : new Uint8Array(job.output, 0, job.length)
      const after = XxHash32.fromState(job.before).update(bytes).state()
      parentPort.postMessage({ id: job.id, length: job.length, after, ...back }, moved)
      return
    }
    const stored = new Uint8Array(job.stored, 0, job.size)
    try {
      let length
      if (job.at === undefined) {
        length = decodeBlock(stored, new Uint8Array(job.output, 0, job.maxSize))
      } else {
        length = shared === undefined ? -1 : shared(stored, job.at, job.maxSize)
        // the JavaScript decoder says which fault (or decodes where the shared module cannot)
        if (length < 0) length = decodeBlock(stored, new Uint8Array(memory.buffer, job.at, job.maxSize))
      }
      parentPort.postMessage({ id: job.id, length, stored: job.stored, ...back }, [job.stored, ...moved])
    } catch (e) {
      const error = e instanceof Lz4Error ? { reason: e.reason, message: e.message } : { reason: "Corrupt", message: String(e) }
      parentPort.postMessage({ id: job.id, error, stored: job.stored, ...back }, [job.stored, ...moved])
    }
  })
  parentPort.postMessage({ ready: true })
})
`

const newWorker = (memory: { readonly memory?: SharedMemory; readonly memories?: ReadonlyArray<SharedMemory> }): Worker => {
  const require = createRequire(import.meta.url)
  const url = (name: string) => pathToFileURL(require.resolve(`@effect-litestream/core/format/${name}`)).href
  return new Worker(WORKER, { eval: true, workerData: { lz4: url("Lz4"), xxhash: url("XxHash32"), lz4wasm: url("Lz4Wasm"), ...memory } })
}

/** the largest LZ4 block, and so one place of output in a shared memory */
const PLACE = 4 * 1024 * 1024
/** where the places start in a thread's shared memory: after the copy of a stored block */
const PLACES_AT = PLACE + 64 * 1024

/** What this module uses of a `WebAssembly.Memory` made shared (Node's types have no WebAssembly). */
interface SharedMemory {
  readonly buffer: SharedArrayBuffer
}

const WebAssemblyMemory = (globalThis as unknown as {
  readonly WebAssembly?: { readonly Memory: new(limits: { initial: number; maximum: number; shared: boolean }) => SharedMemory }
}).WebAssembly?.Memory

/** A decoding thread's shared memory for `places` blocks, or undefined where there is none. */
const sharedMemory = (places: number): SharedMemory | undefined => {
  try {
    const pages = (PLACES_AT + places * PLACE) / 65536
    return WebAssemblyMemory === undefined ? undefined : new WebAssemblyMemory({ initial: pages, maximum: pages, shared: true })
  } catch {
    return undefined
  }
}

/** A place of output in a decoding thread's shared memory. */
interface Place {
  readonly thread: number
  readonly at: number
}

/**
 * A set of worker threads and their buffers. Shared by the layers of a process that ask for the
 * same number of threads (an application that builds a layer per call keeps warm threads), and
 * stopped 30 seconds after the last of them closes.
 */
class Pool {
  /** the threads that decode */
  readonly slots: Array<Slot> = []
  /**
   * One more thread, that only hashes: blocks are hashed in order, one at a time, so a hash
   * must not wait behind another thread's queue of blocks to decode.
   */
  hasher: Slot | undefined
  /** each decoding thread's shared memory (none where shared memory is not available) */
  readonly memories: Array<SharedMemory> = []
  /** the places of all `memories`, given to one object's decoding at a time (`lease`) */
  readonly places: Array<Place> = []
  leased = false
  readonly free: Array<ArrayBuffer> = []
  /** buffers for stored blocks, back from the threads (a 1 GB restore copies 500 MB of them) */
  readonly freeStored: Array<ArrayBuffer> = []
  readonly storedOurs = new WeakSet<ArrayBufferLike>()
  readonly ours = new WeakSet<ArrayBufferLike>()
  readonly pending = new Map<number, (reply: Reply | HashReply | PlacedReply) => void>()
  nextId = 0
  lost: string | undefined
  users = 0
  idle: ReturnType<typeof setTimeout> | undefined
  /** every worker started and answered, or false (then the restore's thread decodes) */
  readonly ready: Promise<boolean>

  constructor(readonly count: number) {
    this.ready = new Promise<boolean>((resolve) => {
      let waiting = count + 1
      const timer = setTimeout(() => resolve(false), Duration.toMillis(START_TIMEOUT))
      timer.unref()
      const settle = (ok: boolean) => {
        clearTimeout(timer)
        resolve(ok)
      }
      try {
        // enough places for the blocks one object has in flight (decoding, hashing, written)
        const perThread = Math.ceil((count + 1 + 3) / Math.max(1, count))
        for (let i = 0; i < count; i++) {
          const memory = sharedMemory(perThread)
          if (memory === undefined) break
          this.memories.push(memory)
          for (let k = 0; k < perThread; k++) this.places.push({ thread: i, at: PLACES_AT + k * PLACE })
        }
        if (this.memories.length < count) {
          this.memories.length = 0
          this.places.length = 0
        }
        for (let i = 0; i <= count; i++) {
          const worker = newWorker(
            this.memories.length === 0 ? {} : i < count ? { memory: this.memories[i]! } : { memories: this.memories }
          )
          worker.once("message", () => {
            worker.on("message", (message: Reply | HashReply | PlacedReply) => {
              const done = this.pending.get(message.id)
              this.pending.delete(message.id)
              done?.(message)
            })
            if (--waiting === 0) settle(true)
          })
          worker.on("error", (e) => {
            this.lost = `an LZ4 worker thread failed: ${e.message}`
            settle(false)
          })
          worker.on("exit", () => {
            this.lost ??= "an LZ4 worker thread exited"
            settle(false)
          })
          // threads that are not in use must not keep the process alive
          worker.unref()
          if (i < count) this.slots.push({ worker, busy: 0 })
          else this.hasher = { worker, busy: 0 }
        }
      } catch (e) {
        this.lost = `LZ4 worker threads cannot start: ${e instanceof Error ? e.message : String(e)}`
        settle(false)
      }
    })
  }

  output(maxSize: number): ArrayBuffer {
    for (let i = this.free.length - 1; i >= 0; i--) {
      if (this.free[i]!.byteLength >= maxSize) return this.free.splice(i, 1)[0]!
    }
    return new ArrayBuffer(Math.max(maxSize, MIN_OUTPUT))
  }

  storedBuffer(size: number): Uint8Array {
    for (let i = this.freeStored.length - 1; i >= 0; i--) {
      if (this.freeStored[i]!.byteLength >= size) return new Uint8Array(this.freeStored.splice(i, 1)[0]!, 0, size)
    }
    const buffer = new ArrayBuffer(Math.max(size, MIN_OUTPUT))
    this.storedOurs.add(buffer)
    return new Uint8Array(buffer, 0, size)
  }

  terminate(): void {
    for (const slot of [...this.slots, ...(this.hasher ? [this.hasher] : [])]) void slot.worker.terminate().catch(() => 0)
  }
}

const pools = new Map<number, Pool>()
const IDLE_MS = 30_000

const acquire = (count: number): Pool => {
  let pool = pools.get(count)
  if (pool === undefined || pool.lost !== undefined) {
    pool = new Pool(count)
    pools.set(count, pool)
  }
  clearTimeout(pool.idle)
  pool.users++
  return pool
}

const release = (pool: Pool): void => {
  if (--pool.users > 0) return
  pool.idle = setTimeout(() => {
    if (pool.users > 0) return
    pool.terminate()
    if (pools.get(pool.count) === pool) pools.delete(pool.count)
  }, IDLE_MS)
  pool.idle.unref()
}

/**
 * Builds the worker-thread decoder. The threads start at once (in the background: the first
 * restore does not wait for them unless it reaches its first block first) and are shared with the
 * process's other layers of the same size; the last layer to close stops them 30 seconds later.
 *
 * @since 0.3.0
 */
export const make = (options: Options = {}) =>
  Effect.gen(function*() {
    const count = Math.max(0, Math.floor(options.workers ?? Math.min(4, os.availableParallelism())))
    const pool = count === 0 ? undefined : yield* Effect.acquireRelease(Effect.sync(() => acquire(count)), (p) => Effect.sync(() => release(p)))
    const started = pool === undefined ? Effect.succeed(false) : Effect.promise(() => pool.ready).pipe(
      Effect.tap((ok) =>
        ok ? Effect.void : Effect.logDebug("LZ4 blocks decoded in this thread").pipe(Effect.annotateLogs({ reason: pool.lost ?? "start timed out" }))
      )
    )

    // a stored block is transferred, so it must be a buffer of its own: one of `storedBuffer`'s,
    // or a whole one; else a copy (a Buffer's `slice` would be a view)
    const ownStored = (pool: Pool, stored: Uint8Array) =>
      stored.byteOffset === 0 && stored.buffer instanceof ArrayBuffer &&
        (stored.byteLength === stored.buffer.byteLength || pool.storedOurs.has(stored.buffer)) ?
        stored :
        new Uint8Array(stored)
    // back as a new ArrayBuffer object, like every transferred buffer: recycled
    const keepStored = (pool: Pool, stored: ArrayBuffer) => {
      if (pool.freeStored.length < pool.count + 4) {
        pool.storedOurs.add(stored)
        pool.freeStored.push(stored)
      }
    }

    /**
     * Posts `job` to `slot`'s thread; the reply goes through `answer`. Interrupted, the reply is
     * dropped when it comes (with whatever buffer it carries back).
     */
    const ask = <A, E, R>(
      pool: Pool,
      slot: Slot,
      job: object,
      transfer: Array<ArrayBuffer>,
      answer: (reply: R) => Effect.Effect<A, E>
    ) =>
      Effect.async<A, E>((resume) => {
        const id = pool.nextId++
        slot.busy++
        pool.pending.set(id, (reply) => {
          slot.busy--
          resume(answer(reply as R))
        })
        slot.worker.postMessage({ id, ...job }, transfer)
        return Effect.sync(() => {
          if (pool.pending.delete(id)) slot.busy--
        })
      })

    const lz4Error = (error: { readonly reason: Lz4ErrorReason; readonly message: string }) =>
      Effect.fail(new Lz4Error(error.reason, error.message.replace(/^LZ4 \w+: /, "")))

    /** Decodes `stored` in the least busy thread, into a buffer transferred there and back. */
    const inWorker = (pool: Pool, stored: Uint8Array, maxSize: number) => {
      const own = ownStored(pool, stored)
      const out = pool.output(maxSize)
      return ask(pool, pool.slots.reduce((a, b) => (b.busy < a.busy ? b : a)), {
        stored: own.buffer,
        size: own.length,
        output: out,
        maxSize
      }, [own.buffer as ArrayBuffer, out], (reply: Reply) => {
        keepStored(pool, reply.stored)
        if ("error" in reply) {
          pool.free.push(reply.output)
          return lz4Error(reply.error)
        }
        // a transferred buffer arrives as a new ArrayBuffer object: remember this one as ours
        pool.ours.add(reply.output)
        return Effect.succeed(new Uint8Array(reply.output, 0, reply.length))
      })
    }

    /** Hashes a decoded block of the pool's (transferred there and back) in the hashing thread. */
    const hashInWorker = (pool: Pool, hasher: Slot, decoded: Uint8Array, before: XxHash32State) =>
      ask(pool, hasher, { output: decoded.buffer, length: decoded.length, before }, [decoded.buffer as ArrayBuffer], (reply: HashReply) => {
        pool.ours.add(reply.output)
        return Effect.succeed<Lz4BlockDecoder.Hashed>({ decoded: new Uint8Array(reply.output, 0, reply.length), after: reply.after })
      })

    /**
     * Decodes `stored` in the thread that owns `place`, into it: the block is a view there (an
     * interrupted one's place is its session's, which ends).
     */
    const inPlace = (pool: Pool, place: Place, stored: Uint8Array, maxSize: number) => {
      const own = ownStored(pool, stored)
      return ask(pool, pool.slots[place.thread]!, { stored: own.buffer, size: own.length, at: place.at, maxSize }, [
        own.buffer as ArrayBuffer
      ], (reply: PlacedReply) => {
        keepStored(pool, reply.stored)
        return "error" in reply
          ? lz4Error(reply.error)
          : Effect.succeed(new Uint8Array(pool.memories[place.thread]!.buffer, place.at, reply.length))
      })
    }

    /** Hashes a block decoded in place, where it is, in the hashing thread. */
    const hashInPlace = (pool: Pool, hasher: Slot, place: Place, decoded: Uint8Array, before: XxHash32State) =>
      ask(pool, hasher, { thread: place.thread, at: place.at, length: decoded.length, before }, [], (reply: HashReply) =>
        Effect.succeed<Lz4BlockDecoder.Hashed>({ decoded, after: reply.after }))

    const hashHere = (decoded: Uint8Array, before: XxHash32State) =>
      Effect.sync(() => ({ decoded, after: XxHash32.fromState(before).update(decoded).state() }))

    const service = {
      /** whether the blocks go to worker threads (false: they could not start, or `workers: 0`) */
      threads: Effect.map(started, (ok) => ok && pool?.lost === undefined),
      concurrency: count === 0 ? 1 : count + 1,
      minSize: options.minSize,
      storedBuffer: pool === undefined ? undefined : (size: number) => pool.storedBuffer(size),
      decode: (stored: Uint8Array, maxSize: number) =>
        Effect.flatMap(started, (ok) =>
          ok && pool !== undefined && pool.lost === undefined
            ? inWorker(pool, stored, maxSize)
            : Lz4BlockDecoder.decodeHere(stored, maxSize)),
      hash: (decoded: Uint8Array, before: XxHash32State) =>
        Effect.flatMap(started, (ok) =>
          // only a whole buffer of the pool's can go to a thread (blocks decoded here cannot)
          ok && pool !== undefined && pool.lost === undefined && pool.hasher !== undefined && decoded.byteOffset === 0 &&
            pool.ours.has(decoded.buffer)
            ? hashInWorker(pool, pool.hasher, decoded, before)
            : hashHere(decoded, before)),
      release: (decoded: Uint8Array) => {
        if (pool !== undefined && pool.ours.has(decoded.buffer) && pool.free.length < count + 4) pool.free.push(decoded.buffer as ArrayBuffer)
      }
    }

    /**
     * One object's blocks decoded into the threads' shared memory, read there by this thread
     * and the hashing one: no output buffer crosses threads (a 1 GB restore moved 1 GB of them,
     * and the garbage collector ran after each). One object at a time has the places; another
     * meanwhile (a second restore) gets the service, and so does a block when every place is taken.
     */
    const session = (pool: Pool) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          if (pool.leased || pool.places.length === 0) return undefined
          pool.leased = true
          return { free: [...pool.places], held: new WeakMap<Uint8Array, Place>() }
        }),
        (lease) => Effect.sync(() => lease !== undefined && (pool.leased = false))
      ).pipe(Effect.map((lease): Lz4BlockDecoder.Service =>
        lease === undefined ? service : {
          ...service,
          decode: (stored, maxSize) =>
            Effect.suspend(() => {
              // the place of the least busy thread with one free
              let best = -1
              for (let i = 0; i < lease.free.length; i++) {
                if (best < 0 || pool.slots[lease.free[i]!.thread]!.busy < pool.slots[lease.free[best]!.thread]!.busy) best = i
              }
              if (best < 0 || maxSize > PLACE) return service.decode(stored, maxSize)
              const place = lease.free.splice(best, 1)[0]!
              return inPlace(pool, place, stored, maxSize).pipe(
                Effect.tap((view) => Effect.sync(() => lease.held.set(view, place))),
                Effect.tapError(() => Effect.sync(() => lease.free.push(place)))
              )
            }),
          hash: (decoded, before) => {
            const place = lease.held.get(decoded)
            return place === undefined || pool.hasher === undefined
              ? service.hash(decoded, before)
              : hashInPlace(pool, pool.hasher, place, decoded, before)
          },
          release: (decoded) => {
            const place = lease.held.get(decoded)
            if (place === undefined) return service.release(decoded)
            lease.held.delete(decoded)
            lease.free.push(place)
          }
        }
      ))

    return {
      ...service,
      session: pool === undefined ? undefined : Effect.flatMap(started, (ok) =>
        ok && pool.lost === undefined ? session(pool) : Effect.succeed(service))
    } satisfies Lz4BlockDecoder.Service & { readonly threads: Effect.Effect<boolean> }
  })

/**
 * `Lz4BlockDecoder` on worker threads (see the module's description).
 *
 * @since 0.3.0
 */
export const layer = (options: Options = {}): Layer.Layer<Lz4BlockDecoder.Lz4BlockDecoder> =>
  Layer.scoped(Lz4BlockDecoder.Lz4BlockDecoder, make(options))
