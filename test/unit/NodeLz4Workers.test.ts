/**
 * The worker-thread LZ4 block decoder of the Node layers (`NodeLz4Workers`) against core's
 * in-thread decoder, on the blocks of a snapshot written by the real litestream v0.3.13
 * (committed fixture); and the deferred frame decoding the native restore runs it with.
 */
import * as Lz4 from "@effect-litestream/core/format/Lz4"
import * as Lz4BlockDecoder from "@effect-litestream/core/Lz4BlockDecoder"
import { NodeLz4Workers } from "@effect-litestream/node"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"

const snapshot = new Uint8Array(fs.readFileSync(fileURLToPath(new URL("../fixtures/lz4/litestream.snapshot.lz4", import.meta.url))))

/**
 * The snapshot's items, fed as Node Buffers (what a file read gives) of `chunk` bytes: whole, the
 * blocks are views at offsets into one Buffer (whose `slice` is no copy), else gathered.
 */
const items = (chunk = snapshot.length, storedBuffer?: (size: number) => Uint8Array, source = snapshot) => {
  const decoder = new Lz4.FrameDecoder({ deferBlocks: true, storedBuffer })
  const bytes = Buffer.from(source)
  const out: Array<Lz4.FrameItem> = []
  for (let i = 0; i < bytes.length; i += chunk) out.push(...decoder.pushItems(bytes.subarray(i, i + chunk)))
  decoder.end()
  return out
}

/**
 * Every item of `source` decoded through `decoder`, settled in order (hashed by the decoder's
 * `hash` where it has one, as the restore does); the content.
 */
const decodeAll = (decoder: Lz4BlockDecoder.Service, chunk?: number, source = snapshot) =>
  Effect.gen(function*() {
    const parts: Array<Uint8Array> = []
    // the stored copies in the decoder's recycled buffers, as the restore makes them
    for (const item of items(chunk, decoder.storedBuffer, source)) {
      if (item._tag === "End") {
        Lz4.settleEnd(item)
        continue
      }
      let bytes = item._tag === "Stored" ? yield* decoder.decode(item.stored, item.maxSize) : item.bytes
      const before = Lz4.hashState(item)
      if (decoder.hash !== undefined && before !== undefined) {
        const { after, decoded } = yield* decoder.hash(bytes, before)
        Lz4.settleHashed(item, decoded.length, after)
        bytes = decoded
      } else {
        Lz4.settle(item, bytes)
      }
      parts.push(bytes.slice())
      decoder.release(bytes)
    }
    return Buffer.concat(parts)
  })

describe("NodeLz4Workers", () => {
  const expected = Buffer.from(Lz4.decodeFrame(snapshot))

  it("the fixture has compressed independent blocks (what the pool is for)", () => {
    expect(items().filter((i) => i._tag === "Stored").length).toBeGreaterThan(0)
  })

  // one pool for all the checks: starting threads from the sources (tsx in each) takes a while
  it.scoped("decodes in worker threads what the in-thread decoder gives; a corrupt block is Corrupt; buffers reused", () =>
    Effect.gen(function*() {
      const workers = yield* NodeLz4Workers.make({ workers: 2 })
      expect(yield* workers.threads).toBe(true)
      expect((yield* decodeAll(workers)).equals(expected)).toBe(true)
      expect((yield* decodeAll(workers, 100_000)).equals(expected)).toBe(true)
      // several at once, as the restore has them in flight
      const stored = items().filter((i): i is Extract<Lz4.FrameItem, { _tag: "Stored" }> => i._tag === "Stored")
      const lengths = yield* Effect.forEach(stored, (i) => workers.decode(i.stored, i.maxSize).pipe(Effect.map((b) => b.length)), {
        concurrency: 4
      })
      expect(lengths.length).toBe(stored.length)
      // one literal, then a match reaching before the start
      const error = yield* Effect.flip(workers.decode(new Uint8Array([0x10, 0x61, 0x02, 0x00]), 100))
      expect(error).toBeInstanceOf(Lz4.Lz4Error)
      expect(error.reason).toBe("Corrupt")
      // the pool keeps working, on reused buffers
      expect(yield* workers.threads).toBe(true)
      expect((yield* decodeAll(workers)).equals(expected)).toBe(true)

      // the content hash, in the hashing thread: a wrong content checksum is found at the frame's end
      const blocks = items().filter((i) => i._tag !== "End")
      expect(blocks.every((i) => Lz4.hashState(i) !== undefined), "the fixture carries a content checksum").toBe(true)
      const wrongSum = snapshot.slice()
      wrongSum[wrongSum.length - 1]! ^= 0x01
      // the checks throw, as in the restore's Effect.try: here a defect
      const wrong = yield* decodeAll(workers, undefined, wrongSum).pipe(Effect.as("no fault"), Effect.catchAllDefect(Effect.succeed))
      expect(wrong).toBeInstanceOf(Lz4.Lz4Error)
      expect((wrong as Lz4.Lz4Error).reason).toBe("ContentChecksum")
    }))

  it.scoped("a session decodes into the threads' shared memory: the same content, hashed there; one session at a time; places back when it closes", () =>
    Effect.gen(function*() {
      const workers = yield* NodeLz4Workers.make({ workers: 2 })
      expect(yield* workers.threads).toBe(true)
      const stored = items().filter((i): i is Extract<Lz4.FrameItem, { _tag: "Stored" }> => i._tag === "Stored")
      yield* Effect.scoped(Effect.gen(function*() {
        const session = yield* workers.session!
        expect((yield* decodeAll(session)).equals(expected)).toBe(true)
        expect((yield* decodeAll(session, 100_000)).equals(expected)).toBe(true)
        // decoded in place: views into shared memory
        const first = yield* session.decode(stored[0]!.stored.slice(), stored[0]!.maxSize)
        expect(first.buffer).toBeInstanceOf(SharedArrayBuffer)
        // a second session meanwhile (another restore) gets the plain service: transferred buffers
        const other = yield* Effect.scoped(Effect.flatMap(workers.session!, (s) => s.decode(stored[0]!.stored.slice(), stored[0]!.maxSize)))
        expect(other.buffer).toBeInstanceOf(ArrayBuffer)
        expect(Buffer.from(other).equals(Buffer.from(first))).toBe(true)
        // every place held: the next block still decodes (in a transferred buffer)
        const held = [first]
        for (let i = 0; i < 12; i++) held.push(yield* session.decode(stored[i % stored.length]!.stored.slice(), stored[0]!.maxSize))
        expect(held.filter((b) => b.buffer instanceof SharedArrayBuffer).length).toBeLessThan(held.length)
        // each where it was put, none overwritten by the ones after it
        const reference = (j: number) => {
          const out = new Uint8Array(stored[j]!.maxSize)
          return Buffer.from(out.subarray(0, Lz4.decodeBlock(stored[j]!.stored, out)))
        }
        expect(Buffer.from(held[0]!).equals(reference(0))).toBe(true)
        for (let i = 1; i < held.length; i++) expect(Buffer.from(held[i]!).equals(reference((i - 1) % stored.length)), `block ${i}`).toBe(true)
        // a corrupt block in place: Corrupt, and its place is free again
        const error = yield* Effect.flip(session.decode(new Uint8Array([0x10, 0x61, 0x02, 0x00]), 100))
        expect(error.reason).toBe("Corrupt")
      }))
      // closed without releasing its blocks: the next session has every place
      yield* Effect.scoped(Effect.gen(function*() {
        const session = yield* workers.session!
        const blocks = yield* Effect.forEach(stored.slice(0, 3), (i) => session.decode(i.stored.slice(), i.maxSize))
        expect(blocks.every((b) => b.buffer instanceof SharedArrayBuffer)).toBe(true)
      }))
    }))

  it.scoped("workers: 0 decodes in this thread", () =>
    Effect.gen(function*() {
      const here = yield* NodeLz4Workers.make({ workers: 0 })
      expect(yield* here.threads).toBe(false)
      expect((yield* decodeAll(here)).equals(expected)).toBe(true)
    }))

  it("a flipped byte of the deferred frame is still caught (ContentChecksum or Corrupt) with core's in-thread decoder", () =>
    Effect.runPromise(Effect.gen(function*() {
      const here = yield* Lz4BlockDecoder.Lz4BlockDecoder.pipe(Effect.provide(Lz4BlockDecoder.layerInThread()))
      const at = Math.floor(snapshot.length / 2)
      const bad = snapshot.slice()
      bad[at]! ^= 0x40
      const reason = yield* Effect.gen(function*() {
        const decoder = new Lz4.FrameDecoder({ deferBlocks: true })
        for (const item of decoder.pushItems(bad)) {
          if (item._tag === "End") Lz4.settleEnd(item)
          else Lz4.settle(item, item._tag === "Stored" ? yield* here.decode(item.stored, item.maxSize) : item.bytes)
        }
        decoder.end()
        return "none"
      }).pipe(Effect.catchAllDefect((e) => Effect.succeed((e as Lz4.Lz4Error).reason)), Effect.catchAll((e) => Effect.succeed(e.reason)))
      expect(["ContentChecksum", "Corrupt", "ContentSize"]).toContain(reason)
    })))
})
