/**
 * The WebAssembly LZ4 block loop against the JavaScript one (`decodeBlockJs`), which the LZ4
 * suite checks against independent encoders: the same bytes for every block that decodes, a
 * fault wherever the JavaScript loop finds one (and only there), with outputs cut short too.
 */
import { decodeBlock, decodeBlockJs } from "@effect-litestream/core/format/Lz4"
import { decodeBlockWasm, sharedMemoryDecoder } from "@effect-litestream/core/format/Lz4Wasm"
import * as FastCheck from "effect/FastCheck"
import * as fs from "node:fs"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"
import * as lz4js from "lz4js"
import { concat } from "../../support/Bytes.js"
import { describe, expect, it } from "vitest"

const FIXTURES = fileURLToPath(new URL("../../fixtures/lz4/", import.meta.url))
const fixture = (name: string): Uint8Array => new Uint8Array(fs.readFileSync(NodePath.join(FIXTURES, name)))

/** The compressed blocks of an LZ4 frame with no dictionary id (of linked blocks, the first). */
const blocksOf = (frame: Uint8Array): Array<Uint8Array> => {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength)
  const flg = frame[4]!
  let at = 4 + 2 + ((flg & 0x08) !== 0 ? 8 : 0) + 1
  const blocks: Array<Uint8Array> = []
  for (;;) {
    const word = view.getUint32(at, true)
    at += 4
    if (word === 0 || (blocks.length > 0 && (flg & 0x20) === 0)) return blocks
    const size = word & 0x7fffffff
    if ((word & 0x80000000) === 0) blocks.push(frame.subarray(at, at + size))
    at += size + ((flg & 0x10) !== 0 ? 4 : 0)
  }
}

// the test's types have no WebAssembly global; what sharedMemoryDecoder takes
type SharedMemory = Parameters<typeof sharedMemoryDecoder>[0]
const WasmMemory = (globalThis as unknown as {
  readonly WebAssembly: { readonly Memory: new(limits: { initial: number; maximum: number; shared: boolean }) => SharedMemory }
}).WebAssembly.Memory
const sharedMemory = new WasmMemory({ initial: 256, maximum: 256, shared: true })
const shared = sharedMemoryDecoder(sharedMemory)!

/** The loops on `src` into `room` bytes: their outcomes (-1 for a fault) must be the same. */
const agree = (src: Uint8Array, room: number) => {
  const js = new Uint8Array(room)
  const wasm = new Uint8Array(room)
  let n: number
  try {
    n = decodeBlockJs(src, js)
  } catch {
    n = -1
  }
  const m = decodeBlockWasm(src, wasm)
  expect(m, `${src.length} stored bytes into ${room}`).toBe(n)
  if (n > 0) expect(Buffer.from(wasm.subarray(0, n)).equals(Buffer.from(js.subarray(0, n)))).toBe(true)
  // the shared-memory module (what the Node worker threads run), past the stored copy
  const at = (src.length + 64 + 7) & ~7
  const s = shared(src, at, room)
  expect(s, `shared: ${src.length} stored bytes into ${room}`).toBe(n)
  if (n > 0) expect(Buffer.from(sharedMemory.buffer, at, n).equals(Buffer.from(js.subarray(0, n)))).toBe(true)
  return n
}

/** Data LZ4 finds matches in: runs of a few patterns, some noise. */
const compressible = FastCheck.array(
  FastCheck.oneof(
    FastCheck.uint8Array({ minLength: 1, maxLength: 40 }),
    FastCheck.record({ byte: FastCheck.integer({ min: 0, max: 255 }), n: FastCheck.integer({ min: 1, max: 3000 }) }).map(({ byte, n }) =>
      new Uint8Array(n).fill(byte)
    ),
    FastCheck.constantFrom(new TextEncoder().encode("INSERT INTO events VALUES "), new TextEncoder().encode("ab"))
  ),
  { minLength: 1, maxLength: 200 }
).map(concat)

describe("LZ4 blocks in WebAssembly", () => {
  it("is available here (Node)", () => {
    expect(decodeBlockWasm(new Uint8Array([0x10, 65]), new Uint8Array(1))).toBe(1)
  })

  it("decodes every fixture block as the JavaScript loop does, also into too little room", () => {
    for (const name of fs.readdirSync(FIXTURES).filter((f) => f.endsWith(".lz4"))) {
      for (const block of blocksOf(fixture(name))) {
        const n = agree(block, 4 * 1024 * 1024)
        expect(n, name).toBeGreaterThanOrEqual(0)
        agree(block, n)
        if (n > 0) agree(block, n - 1)
        agree(block, Math.floor(n / 2))
      }
    }
  })

  it("agrees with the JavaScript loop on random data, its blocks cut and changed", () => {
    FastCheck.assert(
      FastCheck.property(compressible, FastCheck.array(FastCheck.nat(), { maxLength: 3 }), FastCheck.nat(), (data, flips, cut) => {
        const frame = lz4js.compress(data)
        for (const block of blocksOf(frame)) {
          expect(agree(block, data.length + 64)).toBeGreaterThanOrEqual(0)
          const changed = block.slice(0, block.length - (cut % Math.min(8, block.length)))
          for (const f of flips) changed[f % changed.length] ^= 1 << (f % 8)
          agree(changed, data.length + 64)
          agree(block, Math.max(0, data.length - 1 - (cut % 64)))
        }
      }),
      { numRuns: 300 }
    )
  })

  it("leaves a fault to decodeBlock's JavaScript loop, which names it", () => {
    // a match 5 bytes back, after 1 literal: before the start of the data
    const bad = new Uint8Array(300)
    bad.set([0x10, 65, 5, 0], 0)
    expect(decodeBlockWasm(bad, new Uint8Array(1000))).toBe(-1)
    expect(() => decodeBlock(bad, new Uint8Array(1000))).toThrow(/reaches before the start/)
  })
})
