/**
 * LTX, the file format of litestream v0.5 replicas (https://github.com/superfly/ltx), decoded in
 * plain TypeScript over `Uint8Array` (no Effect, no Node built-ins).
 *
 * A file is a 100-byte header, page frames in ascending page order, a zero page header, the
 * page index and a 16-byte trailer. Integers are big-endian. A page frame is a 6-byte header
 * (page number u32, flags u16) then either, with flag 0x1 (ltx v0.5.2+, litestream 0.5.16+), a
 * u32 size and one LZ4 block, or (earlier files) one LZ4 frame. The file checksum is a
 * CRC-64/ISO over the header, each frame's header (and size) followed by the page *decoded*,
 * the zero page header, the index and the post-apply checksum, with bit 63 set. The database
 * checksum ("post-apply") is the XOR of CRC-64(pgno || page) over every page but the lock
 * page, bit 63 set; header flag 0x2 says the file tracks none.
 *
 * @since 0.3.0
 */
import { Crc64, Crc64Shift } from "./Crc64.js"
import * as Lz4 from "./Lz4.js"

/** Size of the header, a page header and the trailer. */
export const HEADER_SIZE = 100
export const PAGE_HEADER_SIZE = 6
export const TRAILER_SIZE = 16

/** Header flag: the file tracks no database checksum (pre- and post-apply are zero). */
export const HEADER_FLAG_NO_CHECKSUM = 0x2
/** Page header flag: a u32 size and an LZ4 block follow (else an LZ4 frame). */
export const PAGE_FLAG_SIZE = 0x1
/** Bit 63, set on every checksum LTX stores so that none is zero. */
export const CHECKSUM_FLAG = 1n << 63n

/**
 * What is wrong with an LTX input:
 * - `BadMagic`: the file does not start with `LTX1`;
 * - `BadHeader`: a header field out of range (flags, page size, TXIDs, checksums);
 * - `BadPageHeader`: a page number of 0, unknown page flags, or pages out of order;
 * - `Page`: a page that does not decode (LZ4 fault, or not exactly one page long);
 * - `BadIndex`: the page index does not describe the frames (or is malformed);
 * - `BadTrailer`: a trailer checksum missing or malformed, or bytes after it;
 * - `FileChecksum`: the file's CRC-64 does not match its trailer;
 * - `DatabaseChecksum`: a snapshot's pages do not add up to its post-apply checksum;
 * - `Truncated`: the input ends before the file does.
 *
 * @since 0.3.0
 */
export type LtxErrorReason =
  | "BadMagic"
  | "BadHeader"
  | "BadPageHeader"
  | "Page"
  | "BadIndex"
  | "BadTrailer"
  | "FileChecksum"
  | "DatabaseChecksum"
  | "Truncated"

/**
 * A fault in an LTX input; `offset` is the byte of the file at fault, when known.
 *
 * @since 0.3.0
 */
export class LtxError extends Error {
  override readonly name = "LtxError"
  readonly reason: LtxErrorReason
  readonly offset: number | undefined
  constructor(reason: LtxErrorReason, message: string, offset?: number) {
    super(offset === undefined ? `LTX ${reason}: ${message}` : `LTX ${reason} at byte ${offset}: ${message}`)
    this.reason = reason
    this.offset = offset
  }
}

/**
 * The header of an LTX file. TXIDs are numbers (exact up to 2^53; a TXID counts transactions).
 *
 * @since 0.3.0
 */
export interface Header {
  readonly flags: number
  readonly pageSize: number
  /** the database's size in pages after the file is applied */
  readonly commit: number
  readonly minTxid: number
  readonly maxTxid: number
  /** milliseconds since the epoch */
  readonly timestamp: number
  readonly preApplyChecksum: bigint
  readonly walOffset: number
  readonly walSize: number
  readonly walSalt1: number
  readonly walSalt2: number
  readonly nodeId: bigint
}

/** A snapshot holds the whole database: its range starts at the first transaction. */
export const isSnapshot = (header: Header): boolean => header.minTxid === 1

/** Whether the file tracks database checksums. */
export const tracksChecksums = (header: Header): boolean => (header.flags & HEADER_FLAG_NO_CHECKSUM) === 0

/**
 * SQLite's lock page (the page holding byte 2^30), never part of a database's content.
 *
 * @since 0.3.0
 */
export const lockPgno = (pageSize: number): number => Math.floor(0x40000000 / pageSize) + 1

/**
 * One page of a file, decoded: `data` is `pageSize` bytes the caller owns (a view of a larger
 * buffer shared with the pages decoded next to it, never reused by the decoder).
 */
export interface Page {
  readonly pgno: number
  readonly data: Uint8Array
  /** the page's term of the database checksum, {@link pageChecksum} (computed in the same pass as the file's) */
  readonly checksum?: bigint | undefined
}

/** One entry of the page index: where a page's frame sits in the file. */
export interface PageIndexEntry {
  readonly pgno: number
  readonly offset: number
  readonly size: number
}

/** What `end` returns: the file as a whole, checked. */
export interface Summary {
  readonly header: Header
  readonly pageIndex: ReadonlyArray<PageIndexEntry>
  readonly postApplyChecksum: bigint
  readonly fileChecksum: bigint
  /** the file's length in bytes */
  readonly size: number
}

const u64 = (view: DataView, at: number): bigint => view.getBigUint64(at)

/** A u64 as a number, or a fault: LTX's offsets and TXIDs fit in 2^53 in any real file. */
const safe = (value: bigint, field: string, at: number): number => {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new LtxError("BadHeader", `${field} ${value} is past 2^53`, at)
  return Number(value)
}

const isValidPageSize = (size: number): boolean => size >= 512 && size <= 65536 && (size & (size - 1)) === 0

/**
 * Parses and checks the 100-byte header (as ltx's `Header.Validate`).
 *
 * @since 0.3.0
 */
export const parseHeader = (bytes: Uint8Array): Header => {
  if (bytes.length < HEADER_SIZE) throw new LtxError("Truncated", `${bytes.length} bytes, a header needs ${HEADER_SIZE}`)
  if (bytes[0] !== 0x4c || bytes[1] !== 0x54 || bytes[2] !== 0x58 || bytes[3] !== 0x31) {
    throw new LtxError("BadMagic", "not an LTX file (no LTX1 magic)", 0)
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_SIZE)
  const header: Header = {
    flags: view.getUint32(4),
    pageSize: view.getUint32(8),
    commit: view.getUint32(12),
    minTxid: safe(u64(view, 16), "min TXID", 16),
    maxTxid: safe(u64(view, 24), "max TXID", 24),
    timestamp: safe(u64(view, 32), "timestamp", 32),
    preApplyChecksum: u64(view, 40),
    walOffset: safe(u64(view, 48), "WAL offset", 48),
    walSize: safe(u64(view, 56), "WAL size", 56),
    walSalt1: view.getUint32(64),
    walSalt2: view.getUint32(68),
    nodeId: u64(view, 72)
  }
  const bad = (message: string, at: number) => new LtxError("BadHeader", message, at)
  if ((header.flags & ~HEADER_FLAG_NO_CHECKSUM) !== 0) throw bad(`unknown flags 0x${header.flags.toString(16)}`, 4)
  if (!isValidPageSize(header.pageSize)) throw bad(`page size ${header.pageSize} is not a power of two from 512 to 65536`, 8)
  if (header.minTxid === 0 || header.maxTxid === 0) throw bad("a TXID of 0", 16)
  if (header.minTxid > header.maxTxid) throw bad(`TXIDs out of order (${header.minTxid} > ${header.maxTxid})`, 16)
  if (isSnapshot(header) || !tracksChecksums(header)) {
    if (header.preApplyChecksum !== 0n) {
      throw bad(isSnapshot(header) ? "a snapshot with a pre-apply checksum" : "a pre-apply checksum on a file without checksums", 40)
    }
  } else if ((header.preApplyChecksum & CHECKSUM_FLAG) === 0n) {
    throw bad("the pre-apply checksum is missing or lacks bit 63", 40)
  }
  return header
}

/**
 * The CRC-64 of one page as LTX's database checksum counts it: CRC(pgno u32 BE || page), bit 63 set.
 *
 * @since 0.3.0
 */
export const pageChecksum = (pgno: number, data: Uint8Array): bigint =>
  new Crc64().updateUint32(pgno).update(data).digest() | CHECKSUM_FLAG

/**
 * The database checksum of a whole database file (`pageSize` pages, the lock page skipped).
 *
 * @since 0.3.0
 */
export const databaseChecksum = (db: Uint8Array, pageSize: number): bigint => {
  const lock = lockPgno(pageSize)
  let sum = CHECKSUM_FLAG
  for (let pgno = 1; pgno * pageSize <= db.length; pgno++) {
    if (pgno === lock) continue
    sum = CHECKSUM_FLAG | (sum ^ pageChecksum(pgno, db.subarray((pgno - 1) * pageSize, pgno * pageSize)))
  }
  return sum
}

/**
 * The database checksum of a database being built page by page: `set` each page written,
 * `resize` to each commit; `value` is then what a file's post-apply checksum must be. Costs one
 * CRC-64 per page written, and 8 bytes per page of the database.
 *
 * @since 0.3.0
 */
export class RunningChecksum {
  private sums = new BigUint64Array(1024)
  private xor = 0n
  private pages = 0
  private readonly lock: number
  constructor(readonly pageSize: number) {
    this.lock = lockPgno(pageSize)
  }

  /** Page `pgno` now holds `data` (whose {@link pageChecksum} is `checksum`, when known). */
  set(pgno: number, data: Uint8Array, checksum?: bigint): void {
    if (pgno === this.lock) return
    if (pgno >= this.sums.length) {
      const grown = new BigUint64Array(Math.max(pgno + 1, this.sums.length * 2))
      grown.set(this.sums)
      this.sums = grown
    }
    const sum = checksum ?? pageChecksum(pgno, data)
    if (pgno <= this.pages) this.xor ^= this.sums[pgno]! ^ sum
    this.sums[pgno] = sum
  }

  /** The database now has `pages` pages. */
  resize(pages: number): void {
    const [from, to] = pages > this.pages ? [this.pages, pages] : [pages, this.pages]
    for (let pgno = from + 1; pgno <= to && pgno < this.sums.length; pgno++) {
      if (pgno !== this.lock) this.xor ^= this.sums[pgno]!
    }
    this.pages = pages
  }

  /** The checksum of the database as it stands. */
  get value(): bigint {
    return CHECKSUM_FLAG | this.xor
  }
}

/**
 * The length of the LZ4 frame at `at` in `b`; or, when `b` ends before it does, minus the
 * length `b` needs from `at` before this can say more.
 */
const lz4FrameLength = (b: Uint8Array, at: number): number => {
  if (b.length < at + 7) return -7
  const flg = b[at + 4]!
  let p = at + 6 + ((flg & 0x08) ? 8 : 0) + ((flg & 0x01) ? 4 : 0) + 1
  const blockChecksum = (flg & 0x10) !== 0
  for (;;) {
    if (b.length < p + 4) return -(p + 4 - at)
    const size = (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0
    p += 4
    if (size === 0) break
    p += (size & 0x7fffffff) + (blockChecksum ? 4 : 0)
  }
  p += (flg & 0x04) ? 4 : 0
  return b.length < p ? -(p - at) : p - at
}

const readUvarint = (b: Uint8Array, at: number): [value: number, next: number] => {
  let value = 0
  let scale = 1
  for (let i = at; i < b.length && i < at + 10; i++) {
    const byte = b[i]!
    value += (byte & 0x7f) * scale
    if (byte < 0x80) return [value, i + 1]
    scale *= 128
  }
  throw new LtxError("BadIndex", "a varint of the page index runs past its end", at)
}

/**
 * Options of {@link Decoder}.
 *
 * @since 0.3.0
 */
export interface DecoderOptions {
  /**
   * The pages `push` returns are views into memory the decoder writes over at the next `push`
   * (use or copy them before): no fresh memory per page.
   */
  readonly reusePages?: boolean | undefined
}

const SLAB = 1024 * 1024
const EMPTY: Uint8Array = new Uint8Array(0)

// The decoder's stages.
const Stage = { Header: 0, PageHeader: 1, PageBody: 2, Tail: 3, Done: 4 } as const
type Stage = (typeof Stage)[keyof typeof Stage]

/**
 * A streaming decoder of one LTX file: `push` chunks of any size, get back the pages they
 * completed (in ascending page order), then `end` checks the index, the trailer and the
 * checksums and returns the summary. Holds at most one page frame and the tail (index and
 * trailer), never the whole file. Any fault throws an {@link LtxError}; the decoder is then
 * unusable.
 *
 * The pages come before the file checksum is known: a caller writing them must discard its
 * output if `end` throws.
 *
 * @since 0.3.0
 */
export class Decoder {
  private stage: Stage = Stage.Header
  private buffer: Uint8Array = new Uint8Array(0)
  /** chunks not yet joined to `buffer`, and their length: joined once `need` bytes are there */
  private waiting: Array<Uint8Array> = []
  private waitingLength = 0
  private need = HEADER_SIZE
  /** file offset of `buffer[0]` */
  private base = 0
  private readonly hash = new Crc64()
  /** the register's move over one page, for splicing a page's raw CRC into the file's */
  private shift: Crc64Shift | undefined
  private header_: Header | undefined
  private readonly frames: Array<PageIndexEntry> = []
  private lastPgno = 0
  private frameHeader: { pgno: number; flags: number; offset: number } | undefined
  private dbSum = CHECKSUM_FLAG
  private failed: LtxError | undefined

  /**
   * With `reusePages`, the pages `push` returns are views into slabs the decoder writes over at
   * the next `push`: a caller done with them by then (writes them out) saves fresh memory for
   * every page, which costs more than decoding it.
   */
  constructor(private readonly options: DecoderOptions = {}) {}

  // pages are cut from slabs of 1 MiB or more, so that pages decoded one after the other lie
  // side by side in memory and a caller can write a run of them without copying
  private readonly slabs: Array<Uint8Array> = []
  private slabIndex = 0
  private slab: Uint8Array = EMPTY
  private slabUsed = 0
  private pageBuffer(pageSize: number): Uint8Array {
    if (this.slabUsed + pageSize > this.slab.length) {
      const reuse = this.options.reusePages === true
      let next = reuse ? this.slabs[this.slabIndex] : undefined
      if (next === undefined || next.length < pageSize) {
        next = new Uint8Array(Math.max(pageSize * 16, SLAB))
        if (reuse) this.slabs[this.slabIndex] = next
      }
      this.slabIndex++
      this.slab = next
      this.slabUsed = 0
    }
    const page = this.slab.subarray(this.slabUsed, this.slabUsed + pageSize)
    this.slabUsed += pageSize
    return page
  }

  /** The header, once its 100 bytes have arrived. */
  get header(): Header | undefined {
    return this.header_
  }

  /** Bytes pushed so far. */
  get bytesIn(): number {
    return this.base + this.buffer.length + this.waitingLength
  }

  /**
   * Decodes what `chunk` completes; returns the pages, in order (often none). Keeps no view of
   * `chunk` once it returns (what it holds back is copied): the caller may reuse its buffer.
   */
  push(chunk: Uint8Array): Array<Page> {
    if (this.failed) throw this.failed
    if (this.options.reusePages === true) {
      // the pages of the last push are done with: their slabs are written over from the first
      this.slabIndex = 0
      this.slab = EMPTY
      this.slabUsed = 0
    }
    try {
      // join chunks only once the next step can use them: no quadratic copying of small chunks
      if (this.buffer.length + this.waitingLength + chunk.length < this.need || this.stage === Stage.Tail) {
        this.waiting.push(chunk.slice())
        this.waitingLength += chunk.length
        return []
      }
      const pages: Array<Page> = []
      if (this.waiting.length > 0) {
        this.buffer = concat([this.buffer, ...this.waiting, chunk])
        this.waiting = []
        this.waitingLength = 0
        this.steps(pages)
      } else if (this.buffer.length === 0) {
        this.buffer = chunk
        this.steps(pages)
      } else {
        // a frame cut by the chunk's start: finish it on the bytes held and the chunk's first
        // ones, then go on in the chunk itself (rather than copying all of it behind them)
        const held = this.buffer.length
        const ahead = this.header_ === undefined ? 4096 : 2 * this.header_.pageSize + 64
        const prefix = Math.min(chunk.length, Math.max(0, this.need - held) + ahead)
        this.buffer = concat([this.buffer, chunk.subarray(0, prefix)])
        const at = this.steps(pages)
        if (at >= held) {
          this.buffer = chunk.subarray(at - held)
          this.steps(pages)
        } else if (prefix < chunk.length) {
          this.buffer = concat([this.buffer, chunk.subarray(prefix)])
          this.steps(pages)
        }
      }
      // what is held back is copied: the caller may reuse the chunk's buffer
      if (this.buffer.length > 0 && this.buffer.buffer === chunk.buffer) this.buffer = this.buffer.slice()
      return pages
    } catch (e) {
      this.failed = e instanceof LtxError ? e : new LtxError("Page", String(e))
      throw this.failed
    }
  }

  /**
   * Steps through `buffer` from `from` as far as it goes, then drops what was consumed (`base`
   * moves on); returns the position reached in the buffer as it was.
   */
  private steps(pages: Array<Page>, from = 0): number {
    let at = from
    for (;;) {
      const next = this.step(at, pages)
      if (next < 0) {
        this.need = -next
        break
      }
      at = next
    }
    if (at > 0) {
      this.buffer = this.buffer.subarray(at)
      this.base += at
    }
    return at
  }

  /** One step at `at` in the buffer: the new position, or minus the bytes it needs from `at`. */
  private step(at: number, pages: Array<Page>): number {
    const b = this.buffer
    const left = b.length - at
    switch (this.stage) {
      case Stage.Header: {
        if (left < HEADER_SIZE) return -HEADER_SIZE
        const bytes = b.subarray(at, at + HEADER_SIZE)
        this.header_ = parseHeader(bytes)
        this.hash.update(bytes)
        this.stage = Stage.PageHeader
        return at + HEADER_SIZE
      }
      case Stage.PageHeader: {
        if (left < PAGE_HEADER_SIZE) return -PAGE_HEADER_SIZE
        const offset = this.base + at
        const pgno = ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0
        const flags = (b[at + 4]! << 8) | b[at + 5]!
        if (pgno === 0 && flags === 0) {
          this.hash.update(b.subarray(at, at + PAGE_HEADER_SIZE))
          this.stage = Stage.Tail
          this.need = Infinity
          return at + PAGE_HEADER_SIZE
        }
        if (pgno === 0) throw new LtxError("BadPageHeader", `page number 0 with flags 0x${flags.toString(16)}`, offset)
        if ((flags & ~PAGE_FLAG_SIZE) !== 0) throw new LtxError("BadPageHeader", `unknown page flags 0x${flags.toString(16)}`, offset)
        if (pgno <= this.lastPgno) {
          throw new LtxError("BadPageHeader", `page ${pgno} after page ${this.lastPgno}: pages must ascend`, offset)
        }
        this.frameHeader = { pgno, flags, offset }
        this.stage = Stage.PageBody
        return at
      }
      case Stage.PageBody: {
        const { flags, offset, pgno } = this.frameHeader!
        const pageSize = this.header_!.pageSize
        const data = this.pageBuffer(pageSize)
        let end: number
        let decoded: number
        try {
          if (flags & PAGE_FLAG_SIZE) {
            if (left < PAGE_HEADER_SIZE + 4) return -(PAGE_HEADER_SIZE + 4)
            const size = ((b[at + 6]! << 24) | (b[at + 7]! << 16) | (b[at + 8]! << 8) | b[at + 9]!) >>> 0
            end = at + PAGE_HEADER_SIZE + 4 + size
            if (b.length < end) return -(end - at)
            decoded = Lz4.decodeBlock(b.subarray(at + PAGE_HEADER_SIZE + 4, end), data)
            this.hash.update(b.subarray(at, at + PAGE_HEADER_SIZE + 4))
          } else {
            const length = lz4FrameLength(b, at + PAGE_HEADER_SIZE)
            if (length < 0) return -(PAGE_HEADER_SIZE - length)
            end = at + PAGE_HEADER_SIZE + length
            const page = Lz4.decodeFrame(b.subarray(at + PAGE_HEADER_SIZE, end))
            decoded = page.length
            if (decoded === pageSize) data.set(page)
            this.hash.update(b.subarray(at, at + PAGE_HEADER_SIZE))
          }
        } catch (e) {
          if (e instanceof Lz4.Lz4Error) throw new LtxError("Page", `page ${pgno}: ${e.message}`, offset)
          throw e
        }
        if (decoded !== pageSize) {
          throw new LtxError("Page", `page ${pgno} decodes to ${decoded} bytes, the page size is ${pageSize}`, offset)
        }
        // one pass over the page for both checksums that cover it: the file's, spliced in, and
        // the page's own (CRC of pgno and page), which the database checksum adds up
        const raw = Crc64.raw().update(data)
        if (this.shift === undefined || this.shift.length !== pageSize) this.shift = new Crc64Shift(pageSize)
        this.hash.append(raw, this.shift)
        const checksum = new Crc64().updateUint32(pgno).append(raw, this.shift).digest() | CHECKSUM_FLAG
        const header = this.header_!
        if (isSnapshot(header) && tracksChecksums(header) && pgno !== lockPgno(pageSize)) {
          this.dbSum = CHECKSUM_FLAG | (this.dbSum ^ checksum)
        }
        this.frames.push({ pgno, offset, size: this.base + end - offset })
        this.lastPgno = pgno
        this.frameHeader = undefined
        this.stage = Stage.PageHeader
        pages.push({ pgno, data, checksum })
        return end
      }
      case Stage.Tail:
      case Stage.Done:
        return -Infinity
    }
  }

  /**
   * Checks that the input was one whole LTX file: the page index matches the frames, the
   * trailer is well formed, the file checksum matches and, on a snapshot that tracks them, the
   * database checksum. Returns the summary.
   */
  end(): Summary {
    if (this.failed) throw this.failed
    const size = this.bytesIn
    if (this.waitingLength > 0) {
      this.buffer = concat([this.buffer, ...this.waiting])
      this.waiting = []
      this.waitingLength = 0
    }
    const fail = (e: LtxError) => {
      this.failed = e
      return e
    }
    if (this.stage !== Stage.Tail) {
      throw fail(new LtxError("Truncated", `the file ends after ${size} bytes, inside its ${this.stage === Stage.Header ? "header" : "pages"}`))
    }
    const tail = this.buffer
    const tailAt = this.base
    if (tail.length < 8 + TRAILER_SIZE + 1) {
      throw fail(new LtxError("Truncated", `the file ends after ${size} bytes, inside its page index or trailer`))
    }
    // the index: varint entries up to a zero page number, then their length as a u64
    const index: Array<PageIndexEntry> = []
    let p = 0
    try {
      for (;;) {
        const [pgno, afterPgno] = readUvarint(tail, p)
        p = afterPgno
        if (pgno === 0) break
        const [offset, afterOffset] = readUvarint(tail, p)
        const [frameSize, afterSize] = readUvarint(tail, afterOffset)
        p = afterSize
        index.push({ pgno, offset, size: frameSize })
      }
    } catch (e) {
      throw fail(e instanceof LtxError ? e : new LtxError("BadIndex", String(e)))
    }
    if (p + 8 + TRAILER_SIZE > tail.length) {
      throw fail(new LtxError("Truncated", `the file ends after ${size} bytes, inside its page index or trailer`))
    }
    const view = new DataView(tail.buffer, tail.byteOffset, tail.byteLength)
    const indexLength = view.getBigUint64(p)
    if (indexLength !== BigInt(p)) {
      throw fail(new LtxError("BadIndex", `the index says it is ${indexLength} bytes long, its entries take ${p}`, tailAt + p))
    }
    if (p + 8 + TRAILER_SIZE !== tail.length) {
      throw fail(new LtxError("BadTrailer", `${tail.length - (p + 8 + TRAILER_SIZE)} bytes after the trailer`, tailAt + p + 8 + TRAILER_SIZE))
    }
    const mismatch = index.length !== this.frames.length ? index.length : index.findIndex((e, i) => {
      const f = this.frames[i]!
      return e.pgno !== f.pgno || e.offset !== f.offset || e.size !== f.size
    })
    if (mismatch !== -1) {
      const e = index[mismatch]
      const f = this.frames[mismatch]
      throw fail(
        new LtxError(
          "BadIndex",
          e === undefined
            ? `the index lists ${index.length} pages, the file holds ${this.frames.length}`
            : e.offset + e.size > size
            ? `the index puts page ${e.pgno} at bytes ${e.offset}-${e.offset + e.size}, past the end of the file (${size} bytes)`
            : f === undefined
            ? `the index lists page ${e.pgno} at byte ${e.offset}, which holds no page frame (${this.frames.length} frames)`
            : `the index puts page ${e.pgno} at byte ${e.offset} (${e.size} bytes), the file has page ${f.pgno} at byte ${f.offset} (${f.size} bytes)`,
          tailAt
        )
      )
    }
    const trailerAt = p + 8
    this.hash.update(tail.subarray(0, trailerAt + 8))
    const postApplyChecksum = view.getBigUint64(trailerAt)
    const fileChecksum = view.getBigUint64(trailerAt + 8)
    const header = this.header_!
    if (tracksChecksums(header)) {
      if ((postApplyChecksum & CHECKSUM_FLAG) === 0n) {
        throw fail(new LtxError("BadTrailer", "the post-apply checksum is missing or lacks bit 63", tailAt + trailerAt))
      }
    } else if (postApplyChecksum !== 0n) {
      throw fail(new LtxError("BadTrailer", "a post-apply checksum on a file without checksums", tailAt + trailerAt))
    }
    if ((fileChecksum & CHECKSUM_FLAG) === 0n) {
      throw fail(new LtxError("BadTrailer", "the file checksum is missing or lacks bit 63", tailAt + trailerAt + 8))
    }
    const computed = this.hash.digest() | CHECKSUM_FLAG
    if (computed !== fileChecksum) {
      throw fail(
        new LtxError("FileChecksum", `the file's CRC-64 is ${hex16(computed)}, its trailer says ${hex16(fileChecksum)}`, tailAt + trailerAt + 8)
      )
    }
    if (isSnapshot(header) && tracksChecksums(header) && this.dbSum !== postApplyChecksum) {
      throw fail(
        new LtxError(
          "DatabaseChecksum",
          `the snapshot's pages add up to ${hex16(this.dbSum)}, its trailer says ${hex16(postApplyChecksum)}`,
          tailAt + trailerAt
        )
      )
    }
    this.stage = Stage.Done
    return { header, pageIndex: index, postApplyChecksum, fileChecksum, size }
  }
}

/**
 * Decodes a whole LTX file held in memory.
 *
 * @since 0.3.0
 */
export const decode = (bytes: Uint8Array): { readonly summary: Summary; readonly pages: ReadonlyArray<Page> } => {
  const decoder = new Decoder()
  const pages = decoder.push(bytes)
  return { summary: decoder.end(), pages }
}

/** A checksum as LTX prints it: 16 hex digits. */
export const hex16 = (n: bigint | number): string => n.toString(16).padStart(16, "0")

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const nonEmpty = parts.filter((p) => p.length > 0)
  if (nonEmpty.length === 1) return nonEmpty[0]!
  const out = new Uint8Array(nonEmpty.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of nonEmpty) {
    out.set(p, at)
    at += p.length
  }
  return out
}
