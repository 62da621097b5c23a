/**
 * LZ4 blocks decoded by a small WebAssembly module: the same decoding as `Lz4.decodeBlock`'s
 * loop, two to three times as fast here on litestream's 4 MB blocks (JavaScript pays a bounds
 * check on every byte it reads or writes; WebAssembly's memory needs none). Plain TypeScript
 * over `Uint8Array`; where WebAssembly cannot run (no `WebAssembly` global, a content policy
 * that forbids compiling) it is simply not there and `decodeBlock` stays in JavaScript.
 *
 * The module is `Lz4Wasm.wat` beside this file, assembled with wabt's `wat2wasm Lz4Wasm.wat`
 * (npm `wabt` 1.0.39) and pasted below as base64. It answers only "decoded, n bytes" or "fault":
 * on a fault the JavaScript decoder decodes the block again and says which fault. A second copy,
 * `SHARED_MODULE`, is the same source on a memory it imports, shared between threads (a worker
 * decodes into memory the restore's thread then reads, with no copy): its memory line replaced by
 * `(import "env" "memory" (memory 1 65536 shared))`, assembled with `wat2wasm --enable-threads`.
 *
 * @since 0.3.0
 */

const MODULE =
  "AGFzbQEAAAABEAJgBX9/f39/AGADf39/AX8DAwIAAQUDAQABBxMCBm1lbW9yeQIABmRlY29kZQABCqEHAoYBAQJ/IAAgAmohBSADQQhPIAVBCGogBE1xBEADQCAAIAEpAwA3AwAgAEEIaiEAIAFBCGohASAAIAVJDQALDwsgAyACTwRAIAAgASAC/AoAAA8LA0AgACABayEGIAYgBSAAa0sEQCAFIABrIQYLIAAgASAG/AoAACAAIAZqIQAgACAFSQ0ACwuWBgEMfyABIQQgASACaiEFIABBwABrIQwgBUHAAGshDSAMQQBOIAJBwABPcQRAAkADQCADIAxPDQEgBCANTw0BIAMhDiADLQAAIQYgA0EBaiEDIAZBBHYhByAHQQ9HBEAgBCADKQMANwMAIAQgAykDCDcDCCADIAdqIQMgBCAHaiEEBQNAIAMgAE8EQEF/DwsgAy0AACEIIANBAWohAyAHIAhqIQcgCEH/AUYNAAsgByAMIANrSyAHIA0gBGtLcgRAIA4hAwwDCyAEIAMgB/wKAAAgAyAHaiEDIAQgB2ohBAsgAy8BACEJIANBAmohAyAJRQRAQX8PCyAJIAQgAWtLBEBBfw8LIAQgCWshCiAGQQ9xIQcgB0EPRyAJQQhPcQRAIAQgCikDADcDACAEIAopAwg3AwggBCAKKQMQNwMQIAQgB0EEamohBAwBCyAHQQ9GBEADQCADIABPBEBBfw8LIAMtAAAhCCADQQFqIQMgByAIaiEHIAhB/wFGDQALCyAHQQRqIQcgByAFIARrSwRAQX8PCyAEIAogByAJIAUQACAEIAdqIQQMAAsLCwNAIAMgAE8EQEF/DwsgAy0AACEGIANBAWohAyAGQQR2IQcgB0EPRgRAA0AgAyAATwRAQX8PCyADLQAAIQggA0EBaiEDIAcgCGohByAIQf8BRg0ACwsgBwRAIAcgACADa0sEQEF/DwsgByAFIARrSwRAQX8PCyAHQRBNIANBEGogAE0gBEEQaiAFTXFxBEAgBCADKQMANwMAIAQgAykDCDcDCAUgBCADIAf8CgAACyADIAdqIQMgBCAHaiEECyADIABGBEAgBCABaw8LIANBAmogAEsEQEF/DwsgAy8BACEJIANBAmohAyAJRQRAQX8PCyAJIAQgAWtLBEBBfw8LIAQgCWshCiAGQQ9xIQcgB0EPRgRAA0AgAyAATwRAQX8PCyADLQAAIQggA0EBaiEDIAcgCGohByAIQf8BRg0ACwsgB0EEaiEHIAcgBSAEa0sEQEF/DwsgBCAKIAcgCSAFEAAgBCAHaiEEDAALAAs="

const SHARED_MODULE =
  "AGFzbQEAAAABEAJgBX9/f39/AGADf39/AX8CEgEDZW52Bm1lbW9yeQIDAYCABAMDAgABBwoBBmRlY29kZQABCqEHAoYBAQJ/IAAgAmohBSADQQhPIAVBCGogBE1xBEADQCAAIAEpAwA3AwAgAEEIaiEAIAFBCGohASAAIAVJDQALDwsgAyACTwRAIAAgASAC/AoAAA8LA0AgACABayEGIAYgBSAAa0sEQCAFIABrIQYLIAAgASAG/AoAACAAIAZqIQAgACAFSQ0ACwuWBgEMfyABIQQgASACaiEFIABBwABrIQwgBUHAAGshDSAMQQBOIAJBwABPcQRAAkADQCADIAxPDQEgBCANTw0BIAMhDiADLQAAIQYgA0EBaiEDIAZBBHYhByAHQQ9HBEAgBCADKQMANwMAIAQgAykDCDcDCCADIAdqIQMgBCAHaiEEBQNAIAMgAE8EQEF/DwsgAy0AACEIIANBAWohAyAHIAhqIQcgCEH/AUYNAAsgByAMIANrSyAHIA0gBGtLcgRAIA4hAwwDCyAEIAMgB/wKAAAgAyAHaiEDIAQgB2ohBAsgAy8BACEJIANBAmohAyAJRQRAQX8PCyAJIAQgAWtLBEBBfw8LIAQgCWshCiAGQQ9xIQcgB0EPRyAJQQhPcQRAIAQgCikDADcDACAEIAopAwg3AwggBCAKKQMQNwMQIAQgB0EEamohBAwBCyAHQQ9GBEADQCADIABPBEBBfw8LIAMtAAAhCCADQQFqIQMgByAIaiEHIAhB/wFGDQALCyAHQQRqIQcgByAFIARrSwRAQX8PCyAEIAogByAJIAUQACAEIAdqIQQMAAsLCwNAIAMgAE8EQEF/DwsgAy0AACEGIANBAWohAyAGQQR2IQcgB0EPRgRAA0AgAyAATwRAQX8PCyADLQAAIQggA0EBaiEDIAcgCGohByAIQf8BRg0ACwsgBwRAIAcgACADa0sEQEF/DwsgByAFIARrSwRAQX8PCyAHQRBNIANBEGogAE0gBEEQaiAFTXFxBEAgBCADKQMANwMAIAQgAykDCDcDCAUgBCADIAf8CgAACyADIAdqIQMgBCAHaiEECyADIABGBEAgBCABaw8LIANBAmogAEsEQEF/DwsgAy8BACEJIANBAmohAyAJRQRAQX8PCyAJIAQgAWtLBEBBfw8LIAQgCWshCiAGQQ9xIQcgB0EPRgRAA0AgAyAATwRAQX8PCyADLQAAIQggA0EBaiEDIAcgCGohByAIQf8BRg0ACwsgB0EEaiEHIAcgBSAEa0sEQEF/DwsgBCAKIAcgCSAFEAAgBCAHaiEEDAALAAs="

/** A module from its base64 (throws where WebAssembly cannot compile: the callers catch it). */
const compile = (base64: string): WebAssembly.Module =>
  new WebAssembly.Module(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)))

/** where the output starts in the module's memory: after the stored block, word aligned */
const outputAt = (srcLength: number): number => (srcLength + 64) & ~7

interface Instance {
  readonly memory: WebAssembly.Memory
  readonly decode: (srcLength: number, dst: number, dstCapacity: number) => number
}

let instance: Instance | undefined | null = null

const load = (): Instance | undefined => {
  if (instance !== null) return instance
  try {
    const exports = new WebAssembly.Instance(compile(MODULE)).exports
    instance = { memory: exports.memory as WebAssembly.Memory, decode: exports.decode as Instance["decode"] }
  } catch {
    instance = undefined
  }
  return instance
}

/**
 * Decodes the independent LZ4 block `src` into `dst` from index 0: the number of bytes written,
 * or `-1` if the block is malformed or decodes to more than `dst.length` bytes (decode it with
 * `Lz4.decodeBlock` to learn why), or `undefined` where WebAssembly is not available. Bytes of
 * `dst` past the returned length are left as they were.
 *
 * @since 0.3.0
 */
export const decodeBlockWasm = (src: Uint8Array, dst: Uint8Array): number | undefined => {
  const wasm = load()
  if (wasm === undefined) return undefined
  const at = outputAt(src.length)
  const needed = at + dst.length
  let heap = new Uint8Array(wasm.memory.buffer)
  if (heap.length < needed) {
    try {
      wasm.memory.grow(Math.ceil((needed - heap.length) / 65536))
    } catch {
      return undefined
    }
    heap = new Uint8Array(wasm.memory.buffer)
  }
  heap.set(src, 0)
  const n = wasm.decode(src.length, at, dst.length)
  if (n < 0) return -1
  dst.set(heap.subarray(at, at + n))
  return n
}

/**
 * A decoder on `memory`, a `WebAssembly.Memory` made with `shared: true` that other threads can
 * read: `decode(src, at, capacity)` copies the block `src` to `[0, src.length)` of the memory and
 * decodes it into `[at, at + capacity)`, with the answers of `decodeBlockWasm` (the decoded
 * length, or `-1`). `at` must lie past the copy (`at >= src.length + 64`). `undefined` where
 * WebAssembly has no shared memory (no threads, or no `SharedArrayBuffer`).
 *
 * @since 0.3.0
 */
export const sharedMemoryDecoder = (
  memory: WebAssembly.Memory
): ((src: Uint8Array, at: number, capacity: number) => number) | undefined => {
  let decode: Instance["decode"]
  try {
    decode = new WebAssembly.Instance(compile(SHARED_MODULE), { env: { memory } }).exports.decode as Instance["decode"]
  } catch {
    return undefined
  }
  return (src, at, capacity) => {
    if (at < outputAt(src.length) || at + capacity > memory.buffer.byteLength) {
      throw new RangeError(`LZ4 output [${at}, ${at + capacity}) does not fit past a ${src.length}-byte block in ${memory.buffer.byteLength} bytes`)
    }
    new Uint8Array(memory.buffer, 0, src.length).set(src)
    return decode(src.length, at, capacity)
  }
}
