/**
 * The LZ4 decoder against independent encoders: frames made by the lz4 CLI (Debian's lz4 1.9.4,
 * committed under test/fixtures/lz4 so these always run, and made live when the binary is on PATH)
 * and frames written by the real litestream v0.3.13 (committed, and made live with the bundled
 * binary). Decoded bytes are compared with the encoder's input, or with what `lz4 -d` gives.
 */
import { decodeBlock, decodeFrame, decodeFrames, decodeFramesAsync, FrameDecoder, Lz4Error } from "@effect-litestream/core/format/Lz4"
import type { Lz4ErrorReason } from "@effect-litestream/core/format/Lz4"
import { XxHash32, xxHash32 } from "@effect-litestream/core/format/XxHash32"
import Database from "better-sqlite3"
import * as FastCheck from "effect/FastCheck"
import { execFileSync, spawn, spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"
import * as lz4js from "lz4js"
import { concat } from "../../support/Bytes.js"
import { afterAll, describe, expect, it } from "vitest"

const FIXTURES = fileURLToPath(new URL("../../fixtures/lz4/", import.meta.url))
const fixture = (name: string): Uint8Array => new Uint8Array(fs.readFileSync(NodePath.join(FIXTURES, name)))

const lz4Binary = spawnSync("lz4", ["--version"]).status === 0
if (!lz4Binary) {
  console.warn("lz4 CLI not found on PATH: the live lz4 CLI tests are skipped (apt-get install lz4); the committed fixtures still run")
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")


/** Feeds `bytes` in chunks of `size` and returns the concatenated output (`end` included). */
const chunked = (bytes: Uint8Array, size: number): Uint8Array => {
  const decoder = new FrameDecoder()
  const parts: Array<Uint8Array> = []
  for (let i = 0; i < bytes.length; i += size) parts.push(...decoder.push(bytes.subarray(i, i + size)))
  decoder.end()
  return concat(parts)
}

/** The decoding of `bytes` fed whole and in chunks of 1, 7 and 4096 bytes; all must agree. */
const decodeEveryWay = (bytes: Uint8Array): Uint8Array => {
  const whole = decodeFrame(bytes)
  for (const size of [1, 7, 4096]) {
    expect(Buffer.from(chunked(bytes, size)).equals(Buffer.from(whole)), `chunks of ${size}`).toBe(true)
  }
  return whole
}

const same = (actual: Uint8Array, expected: Uint8Array) => {
  expect(actual.length).toBe(expected.length)
  expect(Buffer.from(actual).equals(Buffer.from(expected))).toBe(true)
}

/** The reason of the Lz4Error `f` throws (fails if it throws something else or nothing). */
const reasonOf = (f: () => unknown): Lz4ErrorReason => {
  try {
    f()
  } catch (error) {
    expect(error).toBeInstanceOf(Lz4Error)
    return (error as Lz4Error).reason
  }
  throw new Error("expected an Lz4Error, nothing was thrown")
}

/** The first block of a frame with no content size nor dictionary id: [size word, data offset]. */
const firstBlock = (frame: Uint8Array): { word: number; at: number } => {
  const headerEnd = 4 + 2 + ((frame[4]! & 0x08) !== 0 ? 8 : 0) + 1
  const word = Buffer.from(frame).readUInt32LE(headerEnd)
  return { word, at: headerEnd + 4 }
}

describe("xxHash32", () => {
  it("matches the published vectors (seed 0 and a seed), one-shot and streaming", () => {
    const text = (s: string) => new TextEncoder().encode(s)
    expect(xxHash32(text(""))).toBe(0x02cc5d05)
    expect(xxHash32(text("a"))).toBe(0x550d7456)
    expect(xxHash32(text("abc"))).toBe(0x32d153ff)
    expect(xxHash32(text("Nobody inspects the spammish repetition"))).toBe(0xe2293b2f)
    expect(xxHash32(text(""), 0x9e3779b1)).toBe(0x36b78ae7)
    const long = fixture("text.bin")
    const whole = xxHash32(long)
    for (const size of [1, 3, 15, 16, 17, 1000]) {
      const h = new XxHash32()
      for (let i = 0; i < long.length; i += size) h.update(long.subarray(i, i + size))
      expect(h.digest(), `updates of ${size}`).toBe(whole)
    }
  })
  it("goes on from a state (another thread's hash, structured-cloned) as if it had never stopped", () => {
    const long = fixture("text.bin")
    for (const seed of [0, 0x9e3779b1]) {
      const whole = xxHash32(long, seed)
      for (const cut of [0, 1, 15, 16, 17, 1001, long.length]) {
        const first = new XxHash32(seed).update(long.subarray(0, cut))
        const state = structuredClone(first.state())
        expect(XxHash32.fromState(state).update(long.subarray(cut)).digest(), `seed ${seed}, cut at ${cut}`).toBe(whole)
        // the state is a copy: the first hash goes on unchanged
        expect(first.update(long.subarray(cut)).digest()).toBe(whole)
      }
    }
  })
  it("hashes word-aligned and unaligned views alike (the aligned ones are read as words)", () => {
    const long = fixture("text.bin")
    const aligned = new Uint8Array(long.length)
    aligned.set(long)
    const unaligned = new Uint8Array(long.length + 1).subarray(1)
    unaligned.set(long)
    for (const length of [0, 15, 16, 17, 33, 4096, long.length]) {
      expect(xxHash32(aligned.subarray(0, length)), `${length} bytes`).toBe(xxHash32(unaligned.subarray(0, length)))
    }
  })
})

// Every fixture's frame descriptor is checked too, so each case is known to exercise its feature.
const cases = [
  { file: "text.B4.lz4", input: "text.bin", what: "-B4 (64 KB blocks, several)", size: 65536, indep: true, bx: false, cc: true, cs: false },
  { file: "text.B5.lz4", input: "text.bin", what: "-B5 (256 KB blocks)", size: 262144, indep: true, bx: false, cc: true, cs: false },
  { file: "sparse.B6.lz4", input: "sparse.bin", what: "-B6 (1 MB blocks)", size: 1048576, indep: true, bx: false, cc: true, cs: false },
  { file: "sparse.B7.lz4", input: "sparse.bin", what: "-B7 (4 MB blocks, two)", size: 4194304, indep: true, bx: false, cc: true, cs: false },
  { file: "sparse.B7DX.lz4", input: "sparse.bin", what: "-B7 -BD -BX", size: 4194304, indep: false, bx: true, cc: true, cs: false },
  { file: "text.B4.hc.lz4", input: "text.bin", what: "-12 -B4 (high compression)", size: 65536, indep: true, bx: false, cc: true, cs: false },
  { file: "text.B4.size.lz4", input: "text.bin", what: "-B4 --content-size", size: 65536, indep: true, bx: false, cc: true, cs: true },
  { file: "text.B4D.lz4", input: "text.bin", what: "-B4 -BD (linked blocks)", size: 65536, indep: false, bx: false, cc: true, cs: false },
  { file: "text.B4.nocrc.lz4", input: "text.bin", what: "-B4 --no-frame-crc", size: 65536, indep: true, bx: false, cc: false, cs: false },
  { file: "text.B4X.lz4", input: "text.bin", what: "-B4 -BX (block checksums)", size: 65536, indep: true, bx: true, cc: true, cs: false },
  { file: "text.all.lz4", input: "text.bin", what: "-B4 -BD -BX --content-size", size: 65536, indep: false, bx: true, cc: true, cs: true },
  { file: "random.B4X.lz4", input: "random.bin", what: "incompressible, -B4 -BX", size: 65536, indep: true, bx: true, cc: true, cs: false },
  { file: "repeat.B4.lz4", input: "repeat.bin", what: "48 KB of noise x3, -B4", size: 65536, indep: true, bx: false, cc: true, cs: false },
  { file: "repeat.B4D.lz4", input: "repeat.bin", what: "48 KB of noise x3, -B4 -BD", size: 65536, indep: false, bx: false, cc: true, cs: false },
  { file: "empty.lz4", input: "empty.bin", what: "empty input", size: 65536, indep: true, bx: false, cc: true, cs: false }
] as const

/** sha256 sums recorded by generate.sh: of `lz4 -d` of litestream's frames, and of inputs not committed. */
const recorded = new Map(
  fs.readFileSync(NodePath.join(FIXTURES, "SHA256SUMS"), "utf8").trim().split("\n").map((line) => {
    const [hash, name] = line.split(/\s+/)
    return [name!, hash!] as const
  })
)

describe("LZ4 frames of the lz4 CLI 1.9.4 (committed fixtures)", () => {
  for (const c of cases) {
    it(`${c.file} (${c.what}) decodes to ${c.input}, whole and in chunks of 1, 7, 4096`, () => {
      const frame = fixture(c.file)
      const decoded = decodeEveryWay(frame)
      const committed = fs.existsSync(NodePath.join(FIXTURES, c.input))
      if (committed) same(decoded, fixture(c.input))
      else expect(sha256(decoded), `sha256 of ${c.input}`).toBe(recorded.get(c.input))
      const decoder = new FrameDecoder()
      decoder.push(frame)
      decoder.end()
      expect(decoder.frameInfo).toEqual({
        blockMaxSize: c.size,
        blockIndependence: c.indep,
        blockChecksum: c.bx,
        contentChecksum: c.cc,
        contentSize: c.cs ? decoded.length : undefined
      })
      expect(decoder.frames).toBe(1)
    })
  }

  it("incompressible data is stored in uncompressed blocks (high bit of the block size)", () => {
    const frame = fixture("random.B4X.lz4")
    const { word } = firstBlock(frame)
    expect(word >>> 31, "the first block is stored uncompressed").toBe(1)
    expect(word & 0x7fffffff).toBe(65536)
  })

  it("linked blocks (-BD) need the previous 64 KB: the second block does not decode without it", () => {
    const linked = fixture("repeat.B4D.lz4")
    const independent = fixture("repeat.B4.lz4")
    expect(linked.length, "the linked frame is smaller: its second block matches into the first").toBeLessThan(
      independent.length * 0.7
    )
    const input = fixture("repeat.bin")
    const { word, at } = firstBlock(linked)
    const first = word & 0x7fffffff
    const secondWord = Buffer.from(linked).readUInt32LE(at + first)
    expect(secondWord >>> 31).toBe(0)
    const second = linked.subarray(at + first + 4, at + first + 4 + secondWord)
    const dst = new Uint8Array(65536)
    expect(reasonOf(() => decodeBlock(second, dst))).toBe("Corrupt")
    // With the first block's output as dictionary it gives the input's second 64 KB.
    const n = decodeBlock(second, dst, input.subarray(0, 65536))
    same(dst.subarray(0, n), input.subarray(65536, 65536 + n))
  })

  it("concatenated frames and skippable frames: the contents in order, the skippable ones left out", () => {
    const skippable = (magicLow: number, payload: Uint8Array) => {
      const head = Buffer.alloc(8)
      head.writeUInt32LE(0x184d2a50 + magicLow, 0)
      head.writeUInt32LE(payload.length, 4)
      return concat([head, payload])
    }
    const stream = concat([
      skippable(0, new Uint8Array(0)),
      fixture("text.B4.lz4"),
      skippable(0xf, new Uint8Array(5000).fill(0x04)),
      fixture("random.B4X.lz4"),
      fixture("empty.lz4"),
      fixture("text.all.lz4")
    ])
    same(decodeEveryWay(stream), concat([fixture("text.bin"), fixture("random.bin"), fixture("text.bin")]))
    const decoder = new FrameDecoder()
    decoder.push(stream)
    decoder.end()
    expect(decoder.frames).toBe(6)
  })

  it("decodeFrames and decodeFramesAsync stream the blocks (one per 64 KB block here)", async () => {
    const frame = fixture("text.B4.lz4")
    const chunks = Array.from({ length: Math.ceil(frame.length / 1000) }, (_, i) => frame.subarray(i * 1000, i * 1000 + 1000))
    const blocks = [...decodeFrames(chunks)]
    expect(blocks.length).toBe(Math.ceil(fixture("text.bin").length / 65536))
    expect(blocks.slice(0, -1).every((b) => b.length === 65536)).toBe(true)
    same(concat(blocks), fixture("text.bin"))
    async function* source() {
      for (const c of chunks) yield c
    }
    const asyncBlocks: Array<Uint8Array> = []
    for await (const b of decodeFramesAsync(source())) asyncBlocks.push(b)
    same(concat(asyncBlocks), fixture("text.bin"))
  })

  it("frames written by litestream v0.3.13 decode to what lz4 -d gave (sha256 recorded at generation)", () => {
    const decoder = new FrameDecoder()
    expect(decoder.push(fixture("litestream.snapshot.lz4")).map((b) => b.length).slice(0, -1)).toEqual([4194304])
    decoder.end()
    expect(decoder.frameInfo).toEqual({
      blockMaxSize: 4194304,
      blockIndependence: true,
      blockChecksum: false,
      contentChecksum: true,
      contentSize: undefined
    })
    const snapshot = decodeEveryWay(fixture("litestream.snapshot.lz4"))
    expect(sha256(snapshot)).toBe(recorded.get("litestream.snapshot.lz4"))
    expect(Buffer.from(snapshot.subarray(0, 16)).toString("latin1")).toBe("SQLite format 3\0")
    const wal = decodeEveryWay(fixture("litestream.wal.lz4"))
    expect(sha256(wal)).toBe(recorded.get("litestream.wal.lz4"))
    expect(Buffer.from(wal).readUInt32BE(0)).toBe(0x377f0682)
  })
})

describe("LZ4 faults are named", () => {
  const flip = (bytes: Uint8Array, at: number, mask = 0x01) => {
    const copy = bytes.slice()
    copy[at]! ^= mask
    return copy
  }

  it("a flipped byte in a block with block checksums: BlockChecksum", () => {
    const frame = fixture("text.B4X.lz4")
    const { at } = firstBlock(frame)
    for (const k of [0, 17, 1000, 30000]) {
      expect(reasonOf(() => decodeFrame(flip(frame, at + k)))).toBe("BlockChecksum")
    }
    const random = fixture("random.B4X.lz4")
    expect(reasonOf(() => decodeFrame(flip(random, firstBlock(random).at + 12345)))).toBe("BlockChecksum")
  })

  it("a flipped byte in an uncompressed block, content checksum only: ContentChecksum", () => {
    // random.B4X's blocks are stored uncompressed; without -BX only the content checksum can tell.
    const frame = fixture("random.B4X.lz4")
    const stripped = stripBlockChecksums(frame)
    same(decodeFrame(stripped), fixture("random.bin"))
    expect(reasonOf(() => decodeFrame(flip(stripped, firstBlock(stripped).at + 500)))).toBe("ContentChecksum")
  })

  it("any flipped byte in a compressed frame is caught (ContentChecksum or Corrupt), never other output", () => {
    const frame = fixture("text.B4.lz4")
    const { at } = firstBlock(frame)
    for (let k = 0; k < 300; k++) {
      const position = at + ((k * 7919) % (frame.length - at - 4))
      const mask = 1 << (k % 8)
      let reason: Lz4ErrorReason | undefined
      try {
        decodeFrame(flip(frame, position, mask))
      } catch (error) {
        reason = (error as Lz4Error).reason
      }
      expect(["ContentChecksum", "Corrupt", "BlockChecksum", "ContentSize"], `byte ${position}`).toContain(reason)
    }
  })

  it("a flipped byte in the frame descriptor: HeaderChecksum (or BadHeader for reserved bits)", () => {
    const frame = fixture("text.B4.size.lz4")
    for (const at of [6, 7, 8, 13, 14]) {
      expect(reasonOf(() => decodeFrame(flip(frame, at)))).toBe("HeaderChecksum")
    }
    expect(reasonOf(() => decodeFrame(flip(frame, 4, 0x02)))).toBe("BadHeader")
    expect(reasonOf(() => decodeFrame(flip(frame, 5, 0x80)))).toBe("BadHeader")
  })

  it("a content size the blocks do not match: ContentSize", () => {
    const frame = fixture("text.B4.size.lz4").slice()
    const view = Buffer.from(frame.buffer, frame.byteOffset, frame.length)
    view.writeUInt32LE(view.readUInt32LE(6) + 1, 6)
    frame[14] = (xxHash32(frame.subarray(4, 14)) >>> 8) & 0xff
    expect(reasonOf(() => decodeFrame(frame))).toBe("ContentSize")
    view.writeUInt32LE(view.readUInt32LE(6) - 2, 6)
    frame[14] = (xxHash32(frame.subarray(4, 14)) >>> 8) & 0xff
    expect(reasonOf(() => decodeFrame(frame))).toBe("ContentSize")
  })

  it("a truncated stream is Truncated at every cut, whole or streamed; the empty input too", () => {
    for (const name of ["text.B4X.lz4", "text.all.lz4", "random.B4X.lz4", "empty.lz4"]) {
      const frame = fixture(name)
      const cuts = [0, 1, 3, 4, 5, 6, 7, 8, 10, 11, frame.length - 4, frame.length - 1]
      for (let cut = 13; cut < frame.length; cut += 997) cuts.push(cut)
      for (const cut of cuts.filter((c) => c >= 0 && c < frame.length)) {
        expect(reasonOf(() => decodeFrame(frame.subarray(0, cut))), `${name} cut at ${cut}`).toBe("Truncated")
        const decoder = new FrameDecoder()
        for (let i = 0; i < cut; i += 4096) decoder.push(frame.subarray(i, Math.min(cut, i + 4096)))
        expect(reasonOf(() => decoder.end()), `${name} cut at ${cut}, streamed`).toBe("Truncated")
      }
    }
  })

  it("not a frame: BadMagic, also for bytes after a complete frame", () => {
    const frame = fixture("text.B4.lz4")
    expect(reasonOf(() => decodeFrame(flip(frame, 0)))).toBe("BadMagic")
    expect(reasonOf(() => decodeFrame(new TextEncoder().encode("SQLite format 3\0")))).toBe("BadMagic")
    expect(reasonOf(() => decodeFrame(concat([frame, new Uint8Array([1, 2, 3, 4])])))).toBe("BadMagic")
    // The legacy format (lz4 -l) is not what litestream writes.
    expect(reasonOf(() => decodeFrame(new Uint8Array([0x02, 0x21, 0x4c, 0x18, 0, 0, 0, 0])))).toBe("BadMagic")
  })

  it("a decoder that failed keeps failing", () => {
    const decoder = new FrameDecoder()
    expect(reasonOf(() => decoder.push(new Uint8Array([1, 2, 3, 4])))).toBe("BadMagic")
    expect(reasonOf(() => decoder.push(fixture("text.B4.lz4")))).toBe("BadMagic")
  })

  it("malformed blocks: Corrupt (offset 0, before the start, past the input, output too small)", () => {
    const dst = new Uint8Array(100)
    // One literal 'a', then a match of offset 0.
    expect(reasonOf(() => decodeBlock(new Uint8Array([0x10, 0x61, 0x00, 0x00]), dst))).toBe("Corrupt")
    // One literal, then a match of offset 2: before the start.
    expect(reasonOf(() => decodeBlock(new Uint8Array([0x10, 0x61, 0x02, 0x00]), dst))).toBe("Corrupt")
    // ... unless a dictionary holds it.
    expect(decodeBlock(new Uint8Array([0x10, 0x61, 0x02, 0x00, 0x10, 0x62]), dst, new Uint8Array([0x7a]))).toBe(6)
    expect(Buffer.from(dst.subarray(0, 6)).toString()).toBe("azazab")
    // Five literals announced, two present.
    expect(reasonOf(() => decodeBlock(new Uint8Array([0x50, 0x61, 0x62]), dst))).toBe("Corrupt")
    // A long run (offset 1, 1000 bytes) into 100 bytes of room.
    expect(reasonOf(() => decodeBlock(new Uint8Array([0x1f, 0x61, 0x01, 0x00, 0xff, 0xff, 0xff, 0xd9, 0x00]), dst))).toBe(
      "Corrupt"
    )
    // The empty block has no last literals.
    expect(reasonOf(() => decodeBlock(new Uint8Array(0), dst))).toBe("Corrupt")
  })
})

describe("decodeBlock's fast loop (wild 16-byte copies away from the ends)", () => {
  /** lz4js's block encoder (an independent encoder) on `input`: the stored block. */
  const compressBlock = (input: Uint8Array): Uint8Array => {
    const out = new Uint8Array(lz4js.compressBound(input.length))
    const n = lz4js.compressBlock(input, out, 0, input.length, new Uint32Array(1 << 16))
    return out.subarray(0, n)
  }
  // texts with short and long repeats, 1-3 byte patterns (overlapping matches), noise and zeros
  const blockData = FastCheck.array(
    FastCheck.oneof(
      FastCheck.string({ minLength: 1, maxLength: 30 }).map((s) => new TextEncoder().encode(s.repeat(1 + (s.length % 9)))),
      FastCheck.tuple(FastCheck.uint8Array({ minLength: 1, maxLength: 3 }), FastCheck.integer({ min: 1, max: 300 })).map(
        ([p, n]) => new Uint8Array(p.length * n).map((_, i) => p[i % p.length]!)
      ),
      FastCheck.uint8Array({ minLength: 1, maxLength: 200 }),
      FastCheck.integer({ min: 1, max: 3000 }).map((n) => new Uint8Array(n))
    ),
    { maxLength: 80 }
  ).map((parts) => concat([...parts, ...parts.slice(0, 5)]))

  it("decodes what lz4js encodes, and agrees with the careful loop (a dictionary forces it)", () => {
    FastCheck.assert(
      FastCheck.property(blockData, (input) => {
        if (input.length === 0) return
        const block = compressBlock(input)
        if (block.length === 0) return
        const fast = new Uint8Array(input.length + 40)
        const careful = new Uint8Array(input.length + 40)
        same(fast.subarray(0, decodeBlock(block, fast)), input)
        same(careful.subarray(0, decodeBlock(block, careful, new Uint8Array([0]))), input)
        // with no room to spare, the last bytes go the careful way
        const exact = new Uint8Array(input.length)
        same(exact.subarray(0, decodeBlock(block, exact)), input)
      }),
      { numRuns: 200 }
    )
  })

  it("a block with bytes flipped: Corrupt or some output within dst, never another error", () => {
    FastCheck.assert(
      FastCheck.property(blockData, FastCheck.array(FastCheck.nat(), { minLength: 1, maxLength: 4 }), (input, flips) => {
        const block = compressBlock(input).slice()
        if (block.length === 0) return
        for (const f of flips) block[f % block.length]! ^= 1 + (f % 255)
        const dst = new Uint8Array(input.length + 40)
        try {
          expect(decodeBlock(block, dst)).toBeLessThanOrEqual(dst.length)
        } catch (error) {
          expect(error).toBeInstanceOf(Lz4Error)
          expect((error as Lz4Error).reason).toBe("Corrupt")
        }
      }),
      { numRuns: 300 }
    )
  })

  it("FrameDecoder with reuseOutput gives the same blocks as without (each read before the next push)", () => {
    const frame = fixture("text.B4.lz4")
    const expected = decodeFrame(frame)
    for (const size of [1000, 65536, 1 << 20]) {
      const decoder = new FrameDecoder({ reuseOutput: true })
      const parts: Array<Uint8Array> = []
      for (let i = 0; i < frame.length; i += size) {
        for (const block of decoder.push(frame.subarray(i, i + size))) parts.push(block.slice())
      }
      decoder.end()
      same(concat(parts), expected)
    }
  })
})

/** A copy of a frame made with -BX, without its block checksums and with the flag cleared. */
const stripBlockChecksums = (frame: Uint8Array): Uint8Array => {
  const parts: Array<Uint8Array> = []
  const header = frame.slice(0, 7)
  header[4]! &= ~0x10
  header[6] = (xxHash32(header.subarray(4, 6)) >>> 8) & 0xff
  parts.push(header)
  const view = Buffer.from(frame.buffer, frame.byteOffset, frame.length)
  let at = 7
  for (;;) {
    const word = view.readUInt32LE(at)
    parts.push(frame.subarray(at, at + 4))
    at += 4
    if (word === 0) break
    const size = word & 0x7fffffff
    parts.push(frame.subarray(at, at + size))
    at += size + 4
  }
  parts.push(frame.subarray(at))
  return concat(parts)
}

const lz4 = (args: ReadonlyArray<string>, input: Uint8Array): Uint8Array =>
  new Uint8Array(execFileSync("lz4", [...args, "-c"], { input, maxBuffer: 256 * 1024 * 1024 }))

/** Test data of a few kinds: runs, text-like, noise, and mixtures, as litestream's pages are. */
const data = FastCheck.oneof(
  FastCheck.uint8Array({ minLength: 0, maxLength: 300_000 }),
  FastCheck.tuple(FastCheck.integer({ min: 0, max: 255 }), FastCheck.integer({ min: 1, max: 600_000 })).map(([b, n]) =>
    new Uint8Array(n).fill(b)
  ),
  FastCheck.array(
    FastCheck.oneof(
      FastCheck.string({ minLength: 1, maxLength: 40 }).map((s) => new TextEncoder().encode(s.repeat(1 + (s.length % 50)))),
      FastCheck.uint8Array({ minLength: 1, maxLength: 5000 }),
      FastCheck.integer({ min: 1, max: 70_000 }).map((n) => new Uint8Array(n))
    ),
    { maxLength: 60 }
  ).map(concat)
)

const options = FastCheck.record({
  block: FastCheck.constantFrom("-B4", "-B5", "-B6", "-B7"),
  linked: FastCheck.boolean(),
  blockChecksum: FastCheck.boolean(),
  noFrameCrc: FastCheck.boolean(),
  level: FastCheck.constantFrom("-1", "-9", "--fast=5")
})

describe.skipIf(!lz4Binary)("LZ4 frames of the lz4 CLI (live)", () => {
  it("random data and options: decodes to the input with any chunking (fast-check)", () => {
    FastCheck.assert(
      FastCheck.property(data, options, FastCheck.integer({ min: 1, max: 70_000 }), (input, o, chunk) => {
        const args = [o.block, o.level, ...(o.linked ? ["-BD"] : []), ...(o.blockChecksum ? ["-BX"] : []), ...(o.noFrameCrc ? ["--no-frame-crc"] : [])]
        const frame = lz4(args, input)
        same(decodeFrame(frame), input)
        same(chunked(frame, chunk), input)
      }),
      { numRuns: 60, seed: 20261201 }
    )
  })

  it("an input over 4 MB with -B7 (4 MB blocks, linked and not) and --content-size from a file", () => {
    const dir = fs.mkdtempSync(NodePath.join(os.tmpdir(), "lz4-unit-"))
    try {
      const parts: Array<Uint8Array> = []
      for (let i = 0; i < 450; i++) {
        parts.push(new TextEncoder().encode(`row ${i} `.repeat(100)), new Uint8Array(20000).map((_, k) => (k * i) & 0xff))
      }
      const input = concat(parts)
      expect(input.length).toBeGreaterThan(2 * 4194304)
      const path = NodePath.join(dir, "input.bin")
      fs.writeFileSync(path, input)
      for (const args of [["-B7"], ["-B7", "-BD", "-BX"], ["-B7", "--content-size"]]) {
        const frame = new Uint8Array(execFileSync("lz4", [...args, "-c", path], { maxBuffer: 64 * 1024 * 1024 }))
        const decoder = new FrameDecoder()
        const blocks = decoder.push(frame)
        decoder.end()
        expect(blocks.length).toBe(Math.ceil(input.length / 4194304))
        expect(decoder.frameInfo?.contentSize).toBe(args.includes("--content-size") ? input.length : undefined)
        same(concat(blocks), input)
        same(chunked(frame, 65536), input)
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("lz4 -d agrees on concatenated and skippable frames", () => {
    const head = Buffer.alloc(8)
    head.writeUInt32LE(0x184d2a53, 0)
    head.writeUInt32LE(3, 4)
    const stream = concat([lz4(["-BD"], fixture("text.bin")), head, new Uint8Array([9, 9, 9]), lz4(["-BX"], fixture("random.bin"))])
    same(decodeFrame(stream), new Uint8Array(execFileSync("lz4", ["-d", "-c"], { input: stream })))
  })
})

// litestream v0.3.13, the bundled binary, replicating a WAL-mode database to a file:// replica.
const litestreamBinary = (() => {
  const root = fileURLToPath(new URL("../../../node_modules/.pnpm/", import.meta.url))
  const dir = fs.existsSync(root) ? fs.readdirSync(root).find((d) => d.startsWith("@flydotio+litestream-linux-x64@")) : undefined
  const bin = dir && NodePath.join(root, dir, "node_modules/@flydotio/litestream-linux-x64/litestream")
  return bin && fs.existsSync(bin) ? bin : undefined
})()

describe.skipIf(litestreamBinary === undefined)("LZ4 frames written by litestream v0.3.13 (live)", () => {
  const dir = fs.mkdtempSync(NodePath.join(os.tmpdir(), "lz4-litestream-"))
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  const replicate = async (db: string, replica: string) => {
    const child = spawn(litestreamBinary!, ["replicate", db, `file://${replica}`], { stdio: "ignore" })
    try {
      const deadline = Date.now() + 30_000
      for (;;) {
        const files = listFiles(replica)
        if (files.some((f) => f.endsWith(".snapshot.lz4")) && files.some((f) => f.endsWith(".wal.lz4"))) {
          // Let the file be written whole (litestream writes to a temporary name and renames).
          await new Promise((r) => setTimeout(r, 300))
          return listFiles(replica)
        }
        if (Date.now() > deadline) throw new Error(`litestream wrote no snapshot in 30 s: ${files.join(", ")}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    } finally {
      child.kill("SIGTERM")
      await new Promise((r) => (child.exitCode === null ? child.once("exit", r) : r(undefined)))
    }
  }

  it("a snapshot of a few MB and its WAL segment decode (in any chunking) to a valid SQLite file and to what lz4 -d gives", async () => {
    const db = NodePath.join(dir, "app.db")
    const conn = new Database(db)
    conn.pragma("journal_mode = WAL")
    conn.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, blob BLOB)")
    const insert = conn.prepare("INSERT INTO items (name, blob) VALUES (?, ?)")
    conn.transaction(() => {
      for (let i = 0; i < 3000; i++) {
        insert.run(`item ${i} `.repeat(1 + (i % 30)), new Uint8Array(1000).map((_, k) => (k % 7 === 0 ? i * k : 0) & 0xff))
      }
    })()
    conn.close()
    const files = await replicate(db, NodePath.join(dir, "replica"))
    const snapshotPath = files.find((f) => f.endsWith(".snapshot.lz4"))!
    const snapshotFrame = new Uint8Array(fs.readFileSync(snapshotPath))
    const snapshot = decodeEveryWay(snapshotFrame)
    expect(snapshot.length).toBeGreaterThan(3_000_000)
    if (lz4Binary) same(snapshot, new Uint8Array(execFileSync("lz4", ["-d", "-c", snapshotPath], { maxBuffer: 1 << 28 })))
    const restored = NodePath.join(dir, "restored.db")
    fs.writeFileSync(restored, snapshot)
    const check = new Database(restored, { readonly: true })
    try {
      expect(check.pragma("integrity_check", { simple: true })).toBe("ok")
      expect(check.prepare("SELECT count(*) AS n FROM items").get()).toEqual({ n: 3000 })
    } finally {
      check.close()
    }
    for (const path of files.filter((f) => f.endsWith(".wal.lz4"))) {
      const wal = decodeEveryWay(new Uint8Array(fs.readFileSync(path)))
      if (lz4Binary) same(wal, new Uint8Array(execFileSync("lz4", ["-d", "-c", path])))
      if (path.endsWith("00000000_00000000.wal.lz4")) expect(Buffer.from(wal).readUInt32BE(0)).toBe(0x377f0682)
    }
  })
})

const listFiles = (root: string): Array<string> => {
  if (!fs.existsSync(root)) return []
  return fs.readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => NodePath.join(e.parentPath, e.name))
}
