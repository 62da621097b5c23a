/**
 * The `Lz4BlockDecoder` of the Node layers: worker threads that decode the LZ4 blocks of
 * litestream v0.3 snapshots and WAL segments while the native restore checks and writes the ones
 * before them. Decoding is most of a native restore's time (litestream's 4 MB blocks decode at
 * a few hundred MB/s in JavaScript), and the blocks of its frames are independent.
 *
 * The threads start at the first block (a layer that never restores costs nothing), do not keep
 * the process alive, and stop when the layer's scope closes. If they cannot start (no
 * `worker_threads`, the worker file missing from a bundle), blocks are decoded in this thread.
 *
 * @since 0.3.0
 */
import { Lz4Error, type Lz4ErrorReason } from "@effect-litestream/core/format/Lz4"
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
  /** worker threads; default the machine's parallelism, at most 4 (0: decode in this thread) */
  readonly workers?: number | undefined
  /** objects stored in fewer bytes are decoded in the restore's thread; default 4 MiB */
  readonly minSize?: number | undefined
}

type Reply =
  | { readonly id: number; readonly length: number; readonly output: ArrayBuffer }
  | { readonly id: number; readonly error: { readonly reason: Lz4ErrorReason; readonly message: string }; readonly output: ArrayBuffer }

interface Slot {
  readonly worker: Worker
  busy: number
}

// output buffers are at least litestream's block size, so one fits any block that comes next
const MIN_OUTPUT = 4 * 1024 * 1024
const START_TIMEOUT = Duration.seconds(10)

/**
 * The worker: core's block decoder (its built module, found as Node finds the package) on each
 * message; the stored block and the output buffer come transferred and the output goes back.
 * An inline script, so that no file has to sit beside a bundle, and the same from the sources.
 */
const WORKER = `
const { parentPort } = require("node:worker_threads")
const { workerData } = require("node:worker_threads")
import(workerData.lz4).then(({ decodeBlock, Lz4Error }) => {
  parentPort.on("message", (job) => {
    try {
      const length = decodeBlock(new Uint8Array(job.stored, 0, job.size), new Uint8Array(job.output, 0, job.maxSize))
      parentPort.postMessage({ id: job.id, length, output: job.output }, [job.output])
    } catch (e) {
      const error = e instanceof Lz4Error ? { reason: e.reason, message: e.message } : { reason: "Corrupt", message: String(e) }
      parentPort.postMessage({ id: job.id, error, output: job.output }, [job.output])
    }
  })
  parentPort.postMessage({ ready: true })
})
`

const newWorker = (): Worker => {
  const lz4 = pathToFileURL(createRequire(import.meta.url).resolve("@effect-litestream/core/format/Lz4")).href
  return new Worker(WORKER, { eval: true, workerData: { lz4 } })
}

/**
 * Builds the worker-thread decoder; the threads are stopped when the scope closes.
 *
 * @since 0.3.0
 */
export const make = (options: Options = {}) =>
  Effect.gen(function*() {
    const count = Math.max(0, Math.floor(options.workers ?? Math.min(4, os.availableParallelism())))
    const slots: Array<Slot> = []
    const pending = new Map<number, (reply: Reply) => void>()
    const free: Array<ArrayBuffer> = []
    const ours = new WeakSet<ArrayBufferLike>()
    let nextId = 0
    let lost: string | undefined

    const onMessage = (message: Reply | { readonly ready: true }) => {
      if ("ready" in message) return
      const done = pending.get(message.id)
      pending.delete(message.id)
      done?.(message)
    }

    // every worker started and answered, or false (then this thread decodes)
    const start = Effect.async<boolean>((resume) => {
      let waiting = count
      let settled = false
      const settle = (ok: boolean) => {
        if (settled) return
        settled = true
        resume(Effect.succeed(ok))
      }
      try {
        for (let i = 0; i < count; i++) {
          const worker = newWorker()
          const slot: Slot = { worker, busy: 0 }
          worker.once("message", () => {
            worker.on("message", onMessage)
            if (--waiting === 0) settle(true)
          })
          worker.on("error", (e) => {
            lost = `an LZ4 worker thread failed: ${e.message}`
            settle(false)
          })
          worker.on("exit", () => {
            lost ??= "an LZ4 worker thread exited"
            settle(false)
          })
          // a pool that is not in use must not keep the process alive
          worker.unref()
          slots.push(slot)
        }
      } catch (e) {
        lost = `LZ4 worker threads cannot start: ${e instanceof Error ? e.message : String(e)}`
        settle(false)
      }
    }).pipe(
      Effect.timeoutTo({ duration: START_TIMEOUT, onSuccess: (ok) => ok, onTimeout: () => false }),
      Effect.tap((ok) => ok ? Effect.void : Effect.logDebug("LZ4 blocks decoded in this thread").pipe(Effect.annotateLogs({ reason: lost ?? "start timed out" })))
    )
    const started = count === 0 ? Effect.succeed(false) : yield* Effect.cached(start)

    yield* Effect.addFinalizer(() =>
      Effect.promise(() => Promise.all(slots.map((s) => s.worker.terminate().catch(() => 0)))).pipe(Effect.asVoid)
    )

    const output = (maxSize: number): ArrayBuffer => {
      for (let i = free.length - 1; i >= 0; i--) {
        if (free[i]!.byteLength >= maxSize) return free.splice(i, 1)[0]!
      }
      return new ArrayBuffer(Math.max(maxSize, MIN_OUTPUT))
    }

    const inWorker = (stored: Uint8Array, maxSize: number) =>
      Effect.async<Uint8Array, Lz4Error>((resume) => {
        const slot = slots.reduce((a, b) => (b.busy < a.busy ? b : a))
        const id = nextId++
        // transferred, so it must be a buffer of its own
        const own = stored.byteOffset === 0 && stored.byteLength === stored.buffer.byteLength && stored.buffer instanceof ArrayBuffer ?
          stored :
          new Uint8Array(stored) // a copy (a Buffer's `slice` would be a view)
        slot.busy++
        pending.set(id, (reply) => {
          slot.busy--
          if ("error" in reply) {
            free.push(reply.output)
            resume(Effect.fail(new Lz4Error(reply.error.reason, reply.error.message.replace(/^LZ4 \w+: /, ""))))
          } else {
            // a transferred buffer arrives as a new ArrayBuffer object: remember this one as ours
            ours.add(reply.output)
            resume(Effect.succeed(new Uint8Array(reply.output, 0, reply.length)))
          }
        })
        const out = output(maxSize)
        slot.worker.postMessage({ id, stored: own.buffer, size: own.length, output: out, maxSize }, [own.buffer as ArrayBuffer, out])
        // interrupted: the answer is dropped when it comes
        return Effect.sync(() => {
          if (pending.delete(id)) slot.busy--
        })
      })

    return {
      /** whether the blocks go to worker threads (false: they could not start, or `workers: 0`) */
      threads: Effect.map(started, (ok) => ok && lost === undefined),
      concurrency: count === 0 ? 1 : count + 1,
      minSize: options.minSize,
      decode: (stored, maxSize) =>
        Effect.flatMap(started, (ok) =>
          ok && lost === undefined ? inWorker(stored, maxSize) : Lz4BlockDecoder.decodeHere(stored, maxSize)),
      release: (decoded) => {
        if (ours.has(decoded.buffer) && free.length < count + 4) free.push(decoded.buffer as ArrayBuffer)
      }
    } satisfies Lz4BlockDecoder.Service & { readonly threads: Effect.Effect<boolean> }
  })

/**
 * `Lz4BlockDecoder` on worker threads (see the module's description).
 *
 * @since 0.3.0
 */
export const layer = (options: Options = {}): Layer.Layer<Lz4BlockDecoder.Lz4BlockDecoder> =>
  Layer.scoped(Lz4BlockDecoder.Lz4BlockDecoder, make(options))
