/**
 * LZ4 decoding, plain TypeScript over `Uint8Array` (no Effect, no Node built-ins): the block format
 * (https://github.com/lz4/lz4/blob/dev/doc/lz4_Block_format.md) and a streaming decoder of the frame
 * format (https://github.com/lz4/lz4/blob/dev/doc/lz4_Frame_format.md).
 *
 * litestream v0.3 writes its snapshots (`*.snapshot.lz4`) and WAL segments (`*.wal.lz4`) as LZ4
 * frames with 4 MB independent blocks and a content checksum; LTX page frames are raw LZ4 blocks.
 *
 * @since 0.2.0
 */
import { decodeBlockWasm } from "./Lz4Wasm.js"
import { XxHash32, xxHash32, type XxHash32State } from "./XxHash32.js"

/**
 * What is wrong with an LZ4 input:
 * - `BadMagic`: not an LZ4 frame (nor a skippable frame) where one must start;
 * - `BadHeader`: a frame descriptor with a wrong version, reserved bits set or an unknown block size;
 * - `Unsupported`: a frame that needs a preset dictionary (dictionary id), or a content size past 2^53;
 * - `HeaderChecksum`, `BlockChecksum`, `ContentChecksum`: a checksum the frame carries does not match;
 * - `ContentSize`: the frame's content size differs from what its blocks decode to;
 * - `Truncated`: the input ends inside a frame, or holds no frame at all;
 * - `Corrupt`: a block that does not decode (a match before the start of the data, a length past
 *   the end of the input, more output than the block may hold).
 *
 * @since 0.2.0
 */
export type Lz4ErrorReason =
  | "BadMagic"
  | "BadHeader"
  | "Unsupported"
  | "HeaderChecksum"
  | "BlockChecksum"
  | "ContentChecksum"
  | "ContentSize"
  | "Truncated"
  | "Corrupt"

/**
 * A fault in an LZ4 input. `offset` is the position in the input (bytes from the start of the stream
 * given to the frame decoder) of the part at fault, when known.
 *
 * @since 0.2.0
 */
export class Lz4Error extends Error {
  override readonly name = "Lz4Error"
  readonly reason: Lz4ErrorReason
  readonly offset: number | undefined
  constructor(reason: Lz4ErrorReason, message: string, offset?: number) {
    super(offset === undefined ? `LZ4 ${reason}: ${message}` : `LZ4 ${reason} at byte ${offset}: ${message}`)
    this.reason = reason
    this.offset = offset
  }
}

/** The magic number of an LZ4 frame (little-endian on the wire). */
export const FRAME_MAGIC = 0x184d2204

/** Skippable frames have magic numbers 0x184D2A50 to 0x184D2A5F. */
const isSkippable = (magic: number): boolean => (magic & 0xfffffff0) === 0x184d2a50

/** How far back a match may reach: the dictionary a linked block needs. */
const WINDOW = 65536

const corrupt = (message: string): Lz4Error => new Lz4Error("Corrupt", message)

/**
 * Decodes one LZ4 block (`src`, all of it) into `dst` from index 0, and returns the number of bytes
 * written. Matches may reach back into `dict`, the data that came just before (a linked block's
 * previous 64 KB, or a preset dictionary). Throws an {@link Lz4Error} `Corrupt` if the block is
 * malformed or decodes to more than `dst.length` bytes. Bytes of `dst` past the returned length may
 * be overwritten.
 *
 * @since 0.2.0
 */
export const decodeBlock = (src: Uint8Array, dst: Uint8Array, dict?: Uint8Array): number => {
  // A linked block's matches reach into the previous block: the careful loop handles that.
  if (dict !== undefined && dict.length > 0) return decodeCareful(src, dst, dict, 0, 0)
  // the WebAssembly loop where there is one; a fault is decoded again below, which names it
  if (src.length >= WASM_MIN) {
    const n = decodeBlockWasm(src, dst)
    if (n !== undefined && n >= 0) return n
  }
  return decodeBlockJs(src, dst)
}

/** Blocks stored in fewer bytes stay in JavaScript (copying in and out would cost more than it saves). */
const WASM_MIN = 256

/**
 * {@link decodeBlock} of an independent block in JavaScript alone, never WebAssembly (what
 * the WebAssembly loop is checked against).
 *
 * @since 0.3.0
 */
export const decodeBlockJs = (src: Uint8Array, dst: Uint8Array): number => {
  const dict = undefined
  const sEnd = src.length
  const sv = new DataView(src.buffer, src.byteOffset, src.byteLength)
  const dv = new DataView(dst.buffer, dst.byteOffset, dst.byteLength)
  // While a sequence starts this far from both ends, its literals and short matches are copied
  // as four whole words (16 bytes, "wild" copies: the bytes past the sequence are rewritten by
  // the next ones) with no per-byte bounds checks. Litestream's data is about 10 bytes per
  // sequence, so the per-sequence work is what costs; the last 32 bytes go the careful way.
  const sSafe = sEnd - 32
  const dSafe = dst.length - 32
  let ip = 0
  let op = 0
  while (ip < sSafe && op < dSafe) {
    const start = ip
    const token = src[ip++]!
    let length = token >>> 4
    if (length < 15) {
      dv.setUint32(op, sv.getUint32(ip, true), true)
      dv.setUint32(op + 4, sv.getUint32(ip + 4, true), true)
      // most literal runs are under 8 bytes: a well-predicted branch
      if (length > 8) {
        dv.setUint32(op + 8, sv.getUint32(ip + 8, true), true)
        dv.setUint32(op + 12, sv.getUint32(ip + 12, true), true)
      }
      op += length
      ip += length
    } else {
      let b: number
      do {
        if (ip >= sEnd) throw corrupt("literal length runs past the end of the block")
        b = src[ip++]!
        length += b
      } while (b === 255)
      const stop = ip + length
      // a run that ends near either end (the block's last literals): the careful loop redoes it
      if (stop > sSafe || op + length > dSafe) {
        ip = start
        break
      }
      dst.set(src.subarray(ip, stop), op)
      op += length
      ip = stop
    }
    // at least 17 bytes of the block are left here: the offset can be read
    const offset = sv.getUint16(ip, true)
    ip += 2
    let matchLength = token & 15
    if (matchLength === 15) {
      let b: number
      do {
        if (ip >= sEnd) throw corrupt("match length runs past the end of the block")
        b = src[ip++]!
        matchLength += b
      } while (b === 255)
    }
    matchLength += 4
    let ref = op - offset
    if (offset === 0) throw corrupt("match offset 0")
    if (ref < 0) throw corrupt(`match offset ${offset} reaches before the start of the data`)
    const stop = op + matchLength
    if (matchLength <= 16 && offset >= 4) {
      // word by word is right even when the match overlaps itself: each word read lies at
      // least 4 bytes back, so it is already written
      dv.setUint32(op, dv.getUint32(ref, true), true)
      dv.setUint32(op + 4, dv.getUint32(ref + 4, true), true)
      dv.setUint32(op + 8, dv.getUint32(ref + 8, true), true)
      dv.setUint32(op + 12, dv.getUint32(ref + 12, true), true)
      op = stop
      continue
    }
    if (stop > dst.length) throw corrupt(`block decodes to more than ${dst.length} bytes`)
    op = copyMatch(dst, dv, op, ref, stop, offset)
  }
  return decodeCareful(src, dst, dict, ip, op)
}

/** Copies a match of `dst` (from `ref` to `op`, `offset` back) up to `stop`; returns `stop`. */
const copyMatch = (dst: Uint8Array, dv: DataView, op: number, ref: number, stop: number, offset: number): number => {
  if (offset >= 4) {
    if (offset >= stop - op && stop - op >= 64) {
      dst.copyWithin(op, ref, ref + (stop - op))
    } else if (stop + 3 <= dst.length) {
      for (; op < stop; op += 4, ref += 4) dv.setUint32(op, dv.getUint32(ref, true), true)
    } else {
      while (op < stop) dst[op++] = dst[ref++]!
    }
  } else if (stop - op < 64) {
    while (op < stop) dst[op++] = dst[ref++]!
  } else {
    // A run of a 1-3 byte pattern: copy it in doubling runs (the distance from `ref` stays a
    // multiple of `offset`, so each run repeats the pattern exactly).
    while (op < stop) {
      const n = Math.min(op - ref, stop - op)
      dst.copyWithin(op, ref, ref + n)
      op += n
    }
  }
  return stop
}

/**
 * The careful loop: every length checked against both ends, matches into `dict`; from `ip` in
 * `src` and `op` in `dst` (where the fast loop stopped) to the end of the block.
 */
const decodeCareful = (src: Uint8Array, dst: Uint8Array, dict: Uint8Array | undefined, ip: number, op: number): number => {
  const sEnd = src.length
  const dEnd = dst.length
  const sv = new DataView(src.buffer, src.byteOffset, src.byteLength)
  const dv = new DataView(dst.buffer, dst.byteOffset, dst.byteLength)
  for (;;) {
    if (ip >= sEnd) throw corrupt(`block ends without its last literals (${sEnd} bytes)`)
    const token = src[ip++]!
    // Literals.
    let length = token >>> 4
    if (length === 15) {
      let b: number
      do {
        if (ip >= sEnd) throw corrupt("literal length runs past the end of the block")
        b = src[ip++]!
        length += b
      } while (b === 255)
    }
    if (length > 0) {
      const stop = ip + length
      if (stop > sEnd) throw corrupt(`${length} literals run past the end of the block`)
      if (op + length > dEnd) throw corrupt(`block decodes to more than ${dEnd} bytes`)
      if (length >= 64) {
        dst.set(src.subarray(ip, stop), op)
        op += length
      } else if (stop + 3 <= sEnd && op + length + 3 <= dEnd) {
        for (let i = ip, o = op; i < stop; i += 4, o += 4) dv.setUint32(o, sv.getUint32(i, true), true)
        op += length
      } else {
        for (let i = ip; i < stop; i++) dst[op++] = src[i]!
      }
      ip = stop
    }
    if (ip === sEnd) return op
    // Match.
    if (ip + 2 > sEnd) throw corrupt("match offset runs past the end of the block")
    const offset = src[ip]! | (src[ip + 1]! << 8)
    ip += 2
    if (offset === 0) throw corrupt("match offset 0")
    length = token & 15
    if (length === 15) {
      let b: number
      do {
        if (ip >= sEnd) throw corrupt("match length runs past the end of the block")
        b = src[ip++]!
        length += b
      } while (b === 255)
    }
    length += 4
    const stop = op + length
    if (stop > dEnd) throw corrupt(`block decodes to more than ${dEnd} bytes`)
    let ref = op - offset
    if (ref < 0) {
      // The match starts in the dictionary.
      const dictLength = dict === undefined ? 0 : dict.length
      if (-ref > dictLength) throw corrupt(`match offset ${offset} reaches before the start of the data`)
      const d = dict!
      const n = Math.min(length, -ref)
      for (let k = dictLength + ref, end = k + n; k < end; k++) dst[op++] = d[k]!
      ref = 0
      if (op === stop) continue
    }
    op = copyMatch(dst, dv, op, ref, stop, offset)
  }
}

/**
 * The settings of one LZ4 frame, from its descriptor.
 *
 * @since 0.2.0
 */
export interface FrameInfo {
  /** Bytes at most in one block once decoded: 64 KB, 256 KB, 1 MB or 4 MB. */
  readonly blockMaxSize: number
  /** Whether each block decodes on its own (else it may refer to the previous 64 KB). */
  readonly blockIndependence: boolean
  /** Whether each block carries an xxHash32 of its stored bytes. */
  readonly blockChecksum: boolean
  /** Whether the frame ends with an xxHash32 of its decoded content. */
  readonly contentChecksum: boolean
  /** The decoded size the frame declares, if it does. */
  readonly contentSize: number | undefined
}

// The decoder's stages (plain numbers, not an enum: any TypeScript runtime strips these types).
const Stage = {
  Magic: 0,
  Descriptor: 1,
  SkipSize: 2,
  Skip: 3,
  BlockSize: 4,
  BlockData: 5,
  ContentChecksum: 6
} as const
type Stage = (typeof Stage)[keyof typeof Stage]

const u32le = (b: Uint8Array, i: number): number =>
  (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0

const BLOCK_SIZES: Record<number, number> = { 4: 65536, 5: 262144, 6: 1048576, 7: 4194304 }

/**
 * Options of {@link FrameDecoder}.
 *
 * @since 0.3.0
 */
export interface FrameDecoderOptions {
  /**
   * The blocks `push` returns are views into buffers the decoder keeps and overwrites at the
   * next `push`: a caller that is done with them by then (writes them out) saves a fresh 4 MB
   * allocation per block, which otherwise costs as much as decoding it.
   */
  readonly reuseOutput?: boolean | undefined
  /**
   * With `reuseOutput`: the buffers to reuse, the caller's (a decoder of each object in turn can
   * share them, and not make 4 MB of fresh memory for each); default the decoder's own.
   */
  readonly outputs?: Array<Uint8Array> | undefined
  /**
   * Use `pushItems`: the compressed blocks of frames with independent blocks come back stored,
   * for the caller to decode elsewhere (in parallel) and hand back in order with {@link settle};
   * frame ends come back as items for {@link settleEnd}, which checks the content size and
   * checksum. Everything else (header, block checksums, linked blocks) is done here.
   */
  readonly deferBlocks?: boolean | undefined
  /**
   * With `deferBlocks`: where the copies of stored blocks go (`size` bytes, the caller's to
   * recycle); default a fresh array each.
   */
  readonly storedBuffer?: ((size: number) => Uint8Array) | undefined
}

/**
 * The content checks of one frame (size, xxHash32), fed its decoded blocks in order (the state
 * {@link settle} and {@link settleEnd} carry; made by the decoder).
 *
 * @since 0.3.0
 */
export class FrameCheck {
  private output = 0
  private hasher: XxHash32 | undefined
  constructor(readonly info: FrameInfo) {
    this.hasher = info.contentChecksum ? new XxHash32(0) : undefined
  }
  add(decoded: Uint8Array, offset: number): void {
    this.output += decoded.length
    this.size(false, offset)
    this.hasher?.update(decoded)
  }
  /** The content hash's state before the next block, when the frame carries a content checksum. */
  hashState(): XxHash32State | undefined {
    return this.hasher?.state()
  }
  /** As `add`, for a block of `length` bytes hashed elsewhere from `hashState()` into `after`. */
  addHashed(length: number, after: XxHash32State, offset: number): void {
    this.output += length
    this.size(false, offset)
    if (this.hasher !== undefined) this.hasher = XxHash32.fromState(after)
  }
  size(atEnd: boolean, offset: number): void {
    const declared = this.info.contentSize
    if (declared === undefined) return
    if (this.output > declared || (atEnd && this.output !== declared)) {
      throw new Lz4Error(
        "ContentSize",
        `the frame declares ${declared} bytes, its blocks decode to ${atEnd ? "" : "more than "}${this.output}`,
        offset
      )
    }
  }
  checksum(expected: number, offset: number): void {
    const actual = this.hasher!.digest()
    if (expected !== actual) {
      throw new Lz4Error(
        "ContentChecksum",
        `content checksum 0x${expected.toString(16)}, computed 0x${actual.toString(16)}`,
        offset
      )
    }
  }
}

/**
 * What `pushItems` of a `deferBlocks` decoder gives, in stream order:
 * - `Stored`: a compressed independent block to decode (with {@link decodeBlock}, into at most
 *   `maxSize` bytes): `stored` is a copy the caller owns (its buffer can be transferred);
 * - `Decoded`: a block decoded here (uncompressed, or of a linked frame), a fresh array;
 * - `End`: the end of a frame.
 * Every `Stored` and `Decoded` item goes back through {@link settle}, every `End` through
 * {@link settleEnd}, in this order: that is where the content is checked.
 *
 * @since 0.3.0
 */
export type FrameItem =
  | { readonly _tag: "Stored"; readonly stored: Uint8Array; readonly maxSize: number; readonly offset: number; readonly check: FrameCheck }
  | { readonly _tag: "Decoded"; readonly bytes: Uint8Array; readonly offset: number; readonly check: FrameCheck }
  | { readonly _tag: "End"; readonly checksum: number | undefined; readonly offset: number; readonly check: FrameCheck }

/**
 * Checks a block of a deferred frame (its decoded bytes, in stream order): throws an
 * {@link Lz4Error} `ContentSize` if the frame now holds more than it declares.
 *
 * @since 0.3.0
 */
export const settle = (item: Exclude<FrameItem, { readonly _tag: "End" }>, decoded: Uint8Array): void =>
  item.check.add(decoded, item.offset)

/**
 * The content hash's state {@link settleHashed} goes on from for `item`'s block: `undefined` when
 * its frame carries no content checksum (then {@link settle} costs nothing worth moving).
 *
 * @since 0.3.0
 */
export const hashState = (item: Exclude<FrameItem, { readonly _tag: "End" }>): XxHash32State | undefined =>
  item.check.hashState()

/**
 * As {@link settle}, for a block whose content hash was computed elsewhere (another thread):
 * from {@link hashState} over the block's `length` decoded bytes, giving `after`.
 *
 * @since 0.3.0
 */
export const settleHashed = (item: Exclude<FrameItem, { readonly _tag: "End" }>, length: number, after: XxHash32State): void =>
  item.check.addHashed(length, after, item.offset)

/**
 * Checks the end of a deferred frame, once all its blocks are settled: its content size and
 * checksum when it declares them (`ContentSize`, `ContentChecksum`).
 *
 * @since 0.3.0
 */
export const settleEnd = (item: Extract<FrameItem, { readonly _tag: "End" }>): void => {
  item.check.size(true, item.offset)
  if (item.checksum !== undefined) item.check.checksum(item.checksum, item.offset)
}

/**
 * A streaming decoder of LZ4 frames: `push` chunks of any size as they arrive, get back the blocks
 * they completed (decoded, each a fresh `Uint8Array` the caller owns), then `end` to check that the
 * input did not stop inside a frame. Frames may follow each other (their content is concatenated)
 * and skippable frames are skipped. Holds at most one stored block and the previous 64 KB of
 * output (for linked blocks), never the whole input or output.
 *
 * Checksums are checked when the frame carries them (header always, blocks and content if flagged),
 * and the content size when declared. Any fault throws an {@link Lz4Error}; the decoder is then
 * unusable.
 *
 * @since 0.2.0
 */
export class FrameDecoder {
  /**
   * With `reuseOutput`, the blocks `push` returns are views into buffers the decoder keeps and
   * overwrites at the next `push`: a caller that is done with them by then (writes them out)
   * saves a fresh 4 MB allocation per block, which otherwise costs as much as decoding it.
   */
  constructor(private readonly options: FrameDecoderOptions = {}) {
    this.outputs = options.outputs ?? []
  }
  private readonly outputs: Array<Uint8Array>
  private outputIndex = 0
  private stage: Stage = Stage.Magic
  /** Bytes wanted by the current stage, and those gathered so far in `gather` (small stages). */
  private need = 4
  private readonly gather = new Uint8Array(20)
  private gathered = 0
  /** The stored block being gathered when it spans chunks (reused from block to block). */
  private pending: Uint8Array = new Uint8Array(0)
  private pendingLength = 0
  /** `pending` is a stored block's own copy, handed on whole (not reused) */
  private pendingGiven = false
  private skipLeft = 0
  private blockStored = 0
  private blockUncompressed = false
  private unitOffset = 0
  private frame: FrameInfo | undefined = undefined
  private check: FrameCheck | undefined = undefined
  private history: Uint8Array | undefined = undefined
  private historyLength = 0
  private failed: Lz4Error | undefined = undefined
  private input = 0
  private output = 0
  private framesDone = 0

  /** Bytes pushed so far. */
  get bytesIn(): number {
    return this.input
  }

  /** Bytes decoded so far, over all frames (with `deferBlocks`: only those decoded here). */
  get bytesOut(): number {
    return this.output
  }

  /** Frames (LZ4 and skippable) read to their end so far. */
  get frames(): number {
    return this.framesDone
  }

  /** The descriptor of the frame being read, or of the last one. */
  get frameInfo(): FrameInfo | undefined {
    return this.frame
  }

  /** Decodes what `chunk` completes; returns the decoded blocks, in order (often none). */
  push(chunk: Uint8Array): Array<Uint8Array> {
    if (this.options.deferBlocks) throw new Error("FrameDecoder: a deferBlocks decoder is fed with pushItems")
    return this.pushAny(chunk) as Array<Uint8Array>
  }

  /** `deferBlocks` only: what `chunk` completes, as {@link FrameItem}s in order (often none). */
  pushItems(chunk: Uint8Array): Array<FrameItem> {
    if (!this.options.deferBlocks) throw new Error("FrameDecoder: pushItems needs deferBlocks")
    return this.pushAny(chunk) as Array<FrameItem>
  }

  private pushAny(chunk: Uint8Array): Array<Uint8Array | FrameItem> {
    if (this.failed) throw this.failed
    const out: Array<Uint8Array | FrameItem> = []
    this.outputIndex = 0
    try {
      this.consume(chunk, out)
    } catch (error) {
      this.failed = error instanceof Lz4Error ?
        error :
        new Lz4Error("Corrupt", String(error), this.unitOffset)
      throw this.failed
    }
    return out
  }

  /** Checks that the input ended between frames, after at least one; throws `Truncated` if not. */
  end(): void {
    if (this.failed) throw this.failed
    if (this.stage === Stage.Magic && this.gathered === 0) {
      if (this.framesDone > 0) return
      this.failed = new Lz4Error("Truncated", "the input holds no frame", 0)
    } else {
      const where = this.stage === Stage.Skip ?
        `skippable frame, ${this.skipLeft} bytes missing` :
        this.stage === Stage.BlockData ?
        `block of ${this.blockStored} stored bytes, ${this.need - this.pendingLength} bytes missing` :
        `${stageName[this.stage]}, ${this.need - this.gathered} bytes missing`
      this.failed = new Lz4Error("Truncated", `the input ends inside a frame (in its ${where})`, this.unitOffset)
    }
    throw this.failed
  }

  private consume(chunk: Uint8Array, out: Array<Uint8Array | FrameItem>): void {
    const length = chunk.length
    let i = 0
    while (i < length) {
      switch (this.stage) {
        case Stage.Skip: {
          const n = Math.min(this.skipLeft, length - i)
          this.skipLeft -= n
          i += n
          this.input += n
          if (this.skipLeft === 0) {
            this.framesDone++
            this.expect(Stage.Magic, 4)
          }
          continue
        }
        case Stage.BlockData: {
          const want = this.need
          if (this.pendingLength === 0 && length - i >= want) {
            // The whole block is in this chunk: decode it in place.
            const stored = chunk.subarray(i, i + want)
            i += want
            this.input += want
            this.block(stored, out)
          } else {
            if (this.pendingLength === 0) {
              // a block handed on stored is gathered straight into its own copy (one copy, not two)
              this.pendingGiven = this.givesStored()
              if (this.pendingGiven) this.pending = this.copyTarget(want)
              else if (this.pending.length < want) this.pending = new Uint8Array(Math.max(want, this.pending.length))
            }
            const n = Math.min(want - this.pendingLength, length - i)
            this.pending.set(chunk.subarray(i, i + n), this.pendingLength)
            this.pendingLength += n
            i += n
            this.input += n
            if (this.pendingLength === want) {
              this.pendingLength = 0
              const gathered = this.pending.subarray(0, want)
              if (this.pendingGiven) this.pending = EMPTY
              this.block(gathered, out, this.pendingGiven)
            }
          }
          continue
        }
        default: {
          const n = Math.min(this.need - this.gathered, length - i)
          this.gather.set(chunk.subarray(i, i + n), this.gathered)
          this.gathered += n
          i += n
          this.input += n
          if (this.gathered === this.need) this.unit(out)
        }
      }
    }
  }

  private expect(stage: Stage, need: number): void {
    this.stage = stage
    this.need = need
    this.gathered = 0
    this.unitOffset = this.input
  }

  /** A small unit (magic, descriptor, sizes, checksum) is complete in `gather`. */
  private unit(out: Array<Uint8Array | FrameItem>): void {
    const g = this.gather
    switch (this.stage) {
      case Stage.Magic: {
        const magic = u32le(g, 0)
        if (magic === FRAME_MAGIC) {
          this.stage = Stage.Descriptor
          this.need = 2
          this.gathered = 0
          return
        }
        if (isSkippable(magic)) {
          this.stage = Stage.SkipSize
          this.need = 4
          this.gathered = 0
          return
        }
        throw new Lz4Error("BadMagic", `0x${magic.toString(16).padStart(8, "0")} is not an LZ4 frame`, this.unitOffset)
      }
      case Stage.SkipSize: {
        this.skipLeft = u32le(g, 0)
        if (this.skipLeft === 0) {
          this.framesDone++
          this.expect(Stage.Magic, 4)
        } else {
          this.stage = Stage.Skip
        }
        return
      }
      case Stage.Descriptor: {
        const flg = g[0]!
        const bd = g[1]!
        if (this.need === 2) {
          // FLG and BD read: now the descriptor's full length is known.
          const at = this.unitOffset + 4
          if (flg >>> 6 !== 1) throw new Lz4Error("BadHeader", `frame version ${flg >>> 6}, not 1`, at)
          if ((flg & 0x02) !== 0 || (bd & 0x8f) !== 0) throw new Lz4Error("BadHeader", "reserved bits are set", at)
          if (BLOCK_SIZES[(bd >>> 4) & 7] === undefined) {
            throw new Lz4Error("BadHeader", `block maximum size id ${(bd >>> 4) & 7}`, at)
          }
          this.need = 2 + ((flg & 0x08) !== 0 ? 8 : 0) + ((flg & 0x01) !== 0 ? 4 : 0) + 1
          return
        }
        const end = this.need - 1
        const hc = (xxHash32(g.subarray(0, end)) >>> 8) & 0xff
        if (hc !== g[end]) {
          throw new Lz4Error("HeaderChecksum", `header checksum 0x${g[end]!.toString(16)}, computed 0x${hc.toString(16)}`, this.unitOffset)
        }
        let contentSize: number | undefined = undefined
        if ((flg & 0x08) !== 0) {
          const low = u32le(g, 2)
          const high = u32le(g, 6)
          if (high > 0x1fffff) throw new Lz4Error("Unsupported", "content size past 2^53", this.unitOffset)
          contentSize = high * 0x100000000 + low
        }
        if ((flg & 0x01) !== 0) {
          throw new Lz4Error("Unsupported", `the frame needs preset dictionary ${u32le(g, end - 4)}`, this.unitOffset)
        }
        this.frame = {
          blockMaxSize: BLOCK_SIZES[(bd >>> 4) & 7]!,
          blockIndependence: (flg & 0x20) !== 0,
          blockChecksum: (flg & 0x10) !== 0,
          contentChecksum: (flg & 0x04) !== 0,
          contentSize
        }
        this.check = new FrameCheck(this.frame)
        this.historyLength = 0
        if (!this.frame.blockIndependence && this.history === undefined) this.history = new Uint8Array(WINDOW)
        this.expect(Stage.BlockSize, 4)
        return
      }
      case Stage.BlockSize: {
        const word = u32le(g, 0)
        const size = word & 0x7fffffff
        const frame = this.frame!
        if (size === 0) {
          // EndMark.
          if (frame.contentChecksum) {
            if (!this.options.deferBlocks) this.check!.size(true, this.unitOffset)
            this.expect(Stage.ContentChecksum, 4)
          } else {
            if (this.options.deferBlocks) {
              out.push({ _tag: "End", checksum: undefined, offset: this.unitOffset, check: this.check! })
            } else {
              this.check!.size(true, this.unitOffset)
            }
            this.frameEnd()
          }
          return
        }
        if (size > frame.blockMaxSize) {
          throw new Lz4Error("Corrupt", `block of ${size} stored bytes, more than the frame's ${frame.blockMaxSize}`, this.unitOffset)
        }
        this.blockUncompressed = (word & 0x80000000) !== 0
        this.blockStored = size
        this.stage = Stage.BlockData
        this.need = size + (frame.blockChecksum ? 4 : 0)
        this.gathered = 0
        this.pendingLength = 0
        return
      }
      case Stage.ContentChecksum: {
        const expected = u32le(g, 0)
        if (this.options.deferBlocks) {
          out.push({ _tag: "End", checksum: expected, offset: this.unitOffset, check: this.check! })
        } else {
          this.check!.checksum(expected, this.unitOffset)
        }
        this.frameEnd()
        return
      }
    }
  }

  private frameEnd(): void {
    this.framesDone++
    this.expect(Stage.Magic, 4)
  }

  /** Whether the current block goes out as a `Stored` item (decoded by the caller). */
  private givesStored(): boolean {
    return this.options.deferBlocks === true && this.frame!.blockIndependence && !this.blockUncompressed
  }

  /**
   * A stored block (with its checksum, if any) is complete. `owned`: `stored` is already a copy
   * of the caller's (gathered into it), to hand on as it is.
   */
  private block(stored: Uint8Array, out: Array<Uint8Array | FrameItem>, owned = false): void {
    const frame = this.frame!
    const size = this.blockStored
    const data = stored.subarray(0, size)
    if (frame.blockChecksum) {
      const expected = u32le(stored, size)
      const actual = xxHash32(data)
      if (expected !== actual) {
        throw new Lz4Error(
          "BlockChecksum",
          `block checksum 0x${expected.toString(16)}, computed 0x${actual.toString(16)}`,
          this.unitOffset
        )
      }
    }
    const deferred = this.options.deferBlocks === true
    if (this.givesStored()) {
      out.push({
        _tag: "Stored",
        stored: owned ? data : this.copyStored(data),
        maxSize: Math.min(frame.blockMaxSize, size * 255),
        offset: this.unitOffset,
        check: this.check!
      })
      this.expect(Stage.BlockSize, 4)
      return
    }
    const reuse = this.options.reuseOutput === true && !deferred
    let decoded: Uint8Array
    if (this.blockUncompressed) {
      decoded = reuse ? this.output_(size) : new Uint8Array(size)
      decoded.set(data)
    } else {
      // A block decodes to at most 255 bytes per stored byte.
      const room = Math.min(frame.blockMaxSize, size * 255)
      const buffer = reuse ? this.output_(room) : new Uint8Array(room)
      const dict = frame.blockIndependence || this.historyLength === 0 ?
        undefined :
        this.history!.subarray(WINDOW - this.historyLength)
      let n: number
      try {
        n = decodeBlock(data, buffer, dict)
      } catch (error) {
        if (error instanceof Lz4Error) throw new Lz4Error(error.reason, stripPrefix(error.message), this.unitOffset)
        throw error
      }
      decoded = buffer.subarray(0, n)
    }
    this.output += decoded.length
    if (!frame.blockIndependence) this.remember(decoded)
    if (deferred) {
      out.push({ _tag: "Decoded", bytes: decoded, offset: this.unitOffset, check: this.check! })
    } else {
      this.check!.add(decoded, this.unitOffset)
      out.push(decoded)
    }
    this.expect(Stage.BlockSize, 4)
  }

  /** A copy of a stored block the caller owns (`new Uint8Array`: a Node Buffer's `slice` would be a view). */
  private copyStored(data: Uint8Array): Uint8Array {
    const copy = this.copyTarget(data.length)
    copy.set(data)
    return copy
  }

  /** Room for a stored block's copy of `size` bytes, the caller's to keep. */
  private copyTarget(size: number): Uint8Array {
    const make = this.options.storedBuffer
    return make === undefined ? new Uint8Array(size) : make(size)
  }

  /** The next reused output buffer of this push, at least `size` bytes (a view of `size`). */
  private output_(size: number): Uint8Array {
    let buffer = this.outputs[this.outputIndex]
    if (buffer === undefined || buffer.length < size) {
      buffer = new Uint8Array(Math.max(size, this.frame!.blockMaxSize))
      this.outputs[this.outputIndex] = buffer
    }
    this.outputIndex++
    return buffer.subarray(0, size)
  }

  /** Keeps the last 64 KB of output, right-aligned in `history`. */
  private remember(decoded: Uint8Array): void {
    const history = this.history!
    const n = decoded.length
    if (n >= WINDOW) {
      history.set(decoded.subarray(n - WINDOW), 0)
      this.historyLength = WINDOW
      return
    }
    const keep = Math.min(this.historyLength, WINDOW - n)
    history.copyWithin(WINDOW - n - keep, WINDOW - keep, WINDOW)
    history.set(decoded, WINDOW - n)
    this.historyLength = keep + n
  }
}

const stageName: Record<Stage, string> = {
  [Stage.Magic]: "magic number",
  [Stage.Descriptor]: "frame descriptor",
  [Stage.SkipSize]: "skippable frame size",
  [Stage.Skip]: "skippable frame",
  [Stage.BlockSize]: "block size",
  [Stage.BlockData]: "block",
  [Stage.ContentChecksum]: "content checksum"
}

const EMPTY = new Uint8Array(0)

const stripPrefix = (message: string): string => message.replace(/^LZ4 \w+: /, "")

/**
 * Decodes a stream of chunks holding LZ4 frames, yielding the decoded blocks as they complete.
 * Throws an {@link Lz4Error} on any fault, `Truncated` if the chunks end inside a frame.
 *
 * @since 0.2.0
 */
export function* decodeFrames(chunks: Iterable<Uint8Array>): Generator<Uint8Array, void, undefined> {
  const decoder = new FrameDecoder()
  for (const chunk of chunks) yield* decoder.push(chunk)
  decoder.end()
}

/**
 * {@link decodeFrames} over an async source, e.g. an HTTP body.
 *
 * @since 0.2.0
 */
export async function* decodeFramesAsync(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>
): AsyncGenerator<Uint8Array, void, undefined> {
  const decoder = new FrameDecoder()
  for await (const chunk of chunks) yield* decoder.push(chunk)
  decoder.end()
}

/**
 * Decodes LZ4 frames held whole in memory (concatenated if several) into one `Uint8Array`.
 *
 * @since 0.2.0
 */
export const decodeFrame = (bytes: Uint8Array): Uint8Array => {
  const decoder = new FrameDecoder()
  const blocks = decoder.push(bytes)
  decoder.end()
  if (blocks.length === 1) return blocks[0]!
  const result = new Uint8Array(decoder.bytesOut)
  let at = 0
  for (const block of blocks) {
    result.set(block, at)
    at += block.length
  }
  return result
}
