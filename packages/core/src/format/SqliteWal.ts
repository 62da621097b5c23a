/**
 * SQLite's write-ahead log (https://www.sqlite.org/fileformat2.html#walformat), plain TypeScript
 * over `Uint8Array` (no Effect, no Node built-ins): the 32-byte header, the 24-byte frame headers,
 * salts and the cumulative checksum, read incrementally; and the frames up to the last valid commit,
 * the ones SQLite itself would apply, with the database size in pages from that commit.
 *
 * litestream v0.3's WAL segments hold raw WAL bytes: the segment at offset 0 of an index starts with
 * the header, the later ones continue at their offset. Push them in order into one
 * {@link WalReader}, or start a reader from the {@link WalCursor} another one ended at.
 *
 * @since 0.2.0
 */

/** Bytes in the WAL header. */
export const HEADER_SIZE = 32

/** Bytes in a frame header (a page follows it). */
export const FRAME_HEADER_SIZE = 24

/** The WAL magic number whose checksums read words little-endian. */
export const MAGIC_LITTLE_ENDIAN = 0x377f0682

/** The WAL magic number whose checksums read words big-endian. */
export const MAGIC_BIG_ENDIAN = 0x377f0683

/** The only WAL format version there is. */
export const VERSION = 3007000

/**
 * What is wrong with a WAL header (SQLite would ignore the whole log; a replica holding one is
 * corrupt): `BadMagic`, `BadVersion`, `BadPageSize` (not a power of two in 512..65536),
 * `HeaderChecksum`, or `Truncated` (fewer than 32 bytes).
 *
 * @since 0.2.0
 */
export type WalErrorReason = "BadMagic" | "BadVersion" | "BadPageSize" | "HeaderChecksum" | "Truncated"

/**
 * A WAL that cannot be read at all: its header is missing or wrong.
 *
 * @since 0.2.0
 */
export class WalError extends Error {
  override readonly name = "WalError"
  readonly reason: WalErrorReason
  constructor(reason: WalErrorReason, message: string) {
    super(`WAL ${reason}: ${message}`)
    this.reason = reason
  }
}

/**
 * The WAL header.
 *
 * @since 0.2.0
 */
export interface WalHeader {
  /** Magic 0x377f0683: the checksums read 32-bit words big-endian (0x377f0682: little-endian). */
  readonly bigEndianChecksum: boolean
  readonly version: number
  readonly pageSize: number
  readonly checkpointSequence: number
  readonly salt1: number
  readonly salt2: number
  readonly checksum1: number
  readonly checksum2: number
}

const u32be = (b: Uint8Array, i: number): number =>
  ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0

const hostLittleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1

/**
 * SQLite's WAL checksum of `bytes` (a multiple of 8 bytes long), continuing from `s1`, `s2`
 * (0, 0 for the header): pairs of 32-bit words read in the given byte order.
 *
 * @since 0.2.0
 */
export const checksum = (
  bytes: Uint8Array,
  bigEndian: boolean,
  s1 = 0,
  s2 = 0
): readonly [number, number] => {
  const n = bytes.length
  if (n % 8 !== 0) throw new RangeError(`WAL checksums cover multiples of 8 bytes, not ${n}`)
  let a = s1 | 0
  let b = s2 | 0
  if (bigEndian !== hostLittleEndian && bytes.byteOffset % 4 === 0) {
    // The words are in the host's order and aligned: read them as such.
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, n >>> 2)
    for (let i = 0; i < words.length; i += 2) {
      a = (a + words[i]! + b) | 0
      b = (b + words[i + 1]! + a) | 0
    }
  } else if (bigEndian) {
    for (let i = 0; i < n; i += 8) {
      a = (a + ((bytes[i]! << 24) | (bytes[i + 1]! << 16) | (bytes[i + 2]! << 8) | bytes[i + 3]!) + b) | 0
      b = (b + ((bytes[i + 4]! << 24) | (bytes[i + 5]! << 16) | (bytes[i + 6]! << 8) | bytes[i + 7]!) + a) | 0
    }
  } else {
    for (let i = 0; i < n; i += 8) {
      a = (a + (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)) + b) | 0
      b = (b + (bytes[i + 4]! | (bytes[i + 5]! << 8) | (bytes[i + 6]! << 16) | (bytes[i + 7]! << 24)) + a) | 0
    }
  }
  return [a >>> 0, b >>> 0]
}

/**
 * Reads and checks the 32-byte WAL header at the start of `bytes`. Throws a {@link WalError}.
 *
 * @since 0.2.0
 */
export const parseHeader = (bytes: Uint8Array): WalHeader => {
  if (bytes.length < HEADER_SIZE) throw new WalError("Truncated", `${bytes.length} bytes, the header needs 32`)
  const magic = u32be(bytes, 0)
  if (magic !== MAGIC_LITTLE_ENDIAN && magic !== MAGIC_BIG_ENDIAN) {
    throw new WalError("BadMagic", `0x${magic.toString(16).padStart(8, "0")} is not a WAL`)
  }
  const header: WalHeader = {
    bigEndianChecksum: magic === MAGIC_BIG_ENDIAN,
    version: u32be(bytes, 4),
    pageSize: u32be(bytes, 8),
    checkpointSequence: u32be(bytes, 12),
    salt1: u32be(bytes, 16),
    salt2: u32be(bytes, 20),
    checksum1: u32be(bytes, 24),
    checksum2: u32be(bytes, 28)
  }
  if (header.version !== VERSION) throw new WalError("BadVersion", `version ${header.version}, not ${VERSION}`)
  const p = header.pageSize
  if (p < 512 || p > 65536 || (p & (p - 1)) !== 0) throw new WalError("BadPageSize", `page size ${p}`)
  const [c1, c2] = checksum(bytes.subarray(0, 24), header.bigEndianChecksum)
  if (c1 !== header.checksum1 || c2 !== header.checksum2) {
    throw new WalError(
      "HeaderChecksum",
      `header checksum ${hex(header.checksum1)} ${hex(header.checksum2)}, computed ${hex(c1)} ${hex(c2)}`
    )
  }
  return header
}

const hex = (n: number): string => `0x${n.toString(16).padStart(8, "0")}`

/**
 * A frame that passed SQLite's checks (salts, page number, cumulative checksum).
 *
 * @since 0.2.0
 */
export interface WalFrame {
  /** Its position among the WAL's frames, from 0 (SQLite numbers them from 1). */
  readonly index: number
  /** The byte offset of its frame header in the WAL. */
  readonly offset: number
  /** The page it holds, from 1: it goes at byte `(pgno - 1) * pageSize` of the database. */
  readonly pgno: number
  /** For a commit frame, the database size in pages after the commit; 0 otherwise. */
  readonly commit: number
  /** The cumulative checksum up to and including this frame. */
  readonly checksum1: number
  readonly checksum2: number
  /** The page (`pageSize` bytes). May be a view into the chunk it came in: do not modify. */
  readonly page: Uint8Array
}

/**
 * Where a reading stands: enough to carry on with the bytes that follow in another reader (the next
 * WAL segment of the same index).
 *
 * @since 0.2.0
 */
export interface WalCursor {
  readonly header: WalHeader
  /** The byte offset in the WAL of the next frame. */
  readonly offset: number
  /** Frames read before `offset`. */
  readonly frames: number
  /** The cumulative checksum so far (the header's before any frame). */
  readonly checksum1: number
  readonly checksum2: number
}

/**
 * The last commit frame read: the database it leaves has `pageCount` pages, and the frames to apply
 * are the first `frames` of the WAL.
 *
 * @since 0.2.0
 */
export interface WalCommit {
  readonly frames: number
  readonly pageCount: number
  /** The position right after the commit frame. */
  readonly cursor: WalCursor
}

/**
 * Why reading stopped before the end of the input: SQLite ignores this frame and everything after:
 * - `Salt`: the frame's salts are not the header's (a frame left from before the WAL restarted);
 * - `PageNumber`: page number 0;
 * - `Checksum`: the cumulative checksum does not match (a torn write, or corruption);
 * - `Torn`: the input ends inside the frame.
 *
 * @since 0.2.0
 */
export interface WalStop {
  readonly reason: "Salt" | "PageNumber" | "Checksum" | "Torn"
  /** The byte offset of the frame in the WAL. */
  readonly offset: number
  /** Its position among the WAL's frames, from 0. */
  readonly index: number
}

/**
 * Reads a WAL incrementally: `push` chunks of any size, get back the frames they completed that
 * passed the checks, in order. From the first frame that fails a check on, nothing more is returned
 * (`stopped` tells why and where); `end` reports a torn last frame. The reader holds at most one
 * frame's bytes.
 *
 * Without a cursor the input starts with the WAL header; with one (e.g. the `cursor` of a reader
 * that read the previous segment), at that cursor's offset.
 *
 * @since 0.2.0
 */
export class WalReader {
  private header_: WalHeader | undefined
  private offset: number
  private frameCount: number
  private s1: number
  private s2: number
  private frameSize = 0
  private readonly headerBytes = new Uint8Array(HEADER_SIZE)
  private pending: Uint8Array = new Uint8Array(0)
  private pendingLength = 0
  private stop: WalStop | undefined = undefined
  private commit: WalCommit | undefined = undefined
  private ended = false

  constructor(from?: WalCursor) {
    if (from) {
      this.header_ = from.header
      this.offset = from.offset
      this.frameCount = from.frames
      this.s1 = from.checksum1
      this.s2 = from.checksum2
      this.frameSize = FRAME_HEADER_SIZE + from.header.pageSize
      this.pending = new Uint8Array(this.frameSize)
    } else {
      this.header_ = undefined
      this.offset = 0
      this.frameCount = 0
      this.s1 = 0
      this.s2 = 0
    }
  }

  /** The header, once read (or the cursor's). */
  get header(): WalHeader | undefined {
    return this.header_
  }

  /** The position after the last frame that passed the checks (undefined before the header). */
  get cursor(): WalCursor | undefined {
    const header = this.header_
    if (header === undefined) return undefined
    return { header, offset: this.offset, frames: this.frameCount, checksum1: this.s1, checksum2: this.s2 }
  }

  /** The last commit frame that passed the checks, if any (since this reader started). */
  get lastCommit(): WalCommit | undefined {
    return this.commit
  }

  /** Why reading stopped, if it did. */
  get stopped(): WalStop | undefined {
    return this.stop
  }

  /** Reads what `chunk` completes; returns the frames that passed the checks. */
  push(chunk: Uint8Array): Array<WalFrame> {
    if (this.ended) throw new Error("WalReader: push after end")
    const out: Array<WalFrame> = []
    if (this.stop) return out
    let i = 0
    const length = chunk.length
    if (this.header_ === undefined) {
      const n = Math.min(HEADER_SIZE - this.pendingLength, length)
      this.headerBytes.set(chunk.subarray(0, n), this.pendingLength)
      this.pendingLength += n
      i = n
      if (this.pendingLength < HEADER_SIZE) return out
      const header = parseHeader(this.headerBytes)
      this.header_ = header
      this.offset = HEADER_SIZE
      this.s1 = header.checksum1
      this.s2 = header.checksum2
      this.frameSize = FRAME_HEADER_SIZE + header.pageSize
      this.pending = new Uint8Array(this.frameSize)
      this.pendingLength = 0
    }
    const size = this.frameSize
    while (i < length && this.stop === undefined) {
      if (this.pendingLength === 0 && length - i >= size) {
        const frame = this.frame(chunk.subarray(i, i + size))
        i += size
        if (frame) out.push(frame)
      } else {
        const n = Math.min(size - this.pendingLength, length - i)
        this.pending.set(chunk.subarray(i, i + n), this.pendingLength)
        this.pendingLength += n
        i += n
        if (this.pendingLength === size) {
          this.pendingLength = 0
          const bytes = this.pending
          this.pending = new Uint8Array(size)
          const frame = this.frame(bytes)
          if (frame) out.push(frame)
        }
      }
    }
    return out
  }

  /**
   * Ends the input: returns why reading stopped (`Torn` if the input ended inside a frame), or
   * undefined if every frame passed and the input ended between frames. Throws `Truncated` if the
   * header was never complete.
   */
  end(): WalStop | undefined {
    this.ended = true
    if (this.header_ === undefined) {
      throw new WalError("Truncated", `${this.pendingLength} bytes, the header needs 32`)
    }
    if (this.stop === undefined && this.pendingLength > 0) {
      this.stop = { reason: "Torn", offset: this.offset, index: this.frameCount }
    }
    return this.stop
  }

  private frame(bytes: Uint8Array): WalFrame | undefined {
    const header = this.header_!
    const index = this.frameCount
    const offset = this.offset
    if (u32be(bytes, 8) !== header.salt1 || u32be(bytes, 12) !== header.salt2) {
      this.stop = { reason: "Salt", offset, index }
      return undefined
    }
    const pgno = u32be(bytes, 0)
    if (pgno === 0) {
      this.stop = { reason: "PageNumber", offset, index }
      return undefined
    }
    const page = bytes.subarray(FRAME_HEADER_SIZE)
    const [h1, h2] = checksum(bytes.subarray(0, 8), header.bigEndianChecksum, this.s1, this.s2)
    const [c1, c2] = checksum(page, header.bigEndianChecksum, h1, h2)
    if (c1 !== u32be(bytes, 16) || c2 !== u32be(bytes, 20)) {
      this.stop = { reason: "Checksum", offset, index }
      return undefined
    }
    this.s1 = c1
    this.s2 = c2
    this.frameCount = index + 1
    this.offset = offset + bytes.length
    const commit = u32be(bytes, 4)
    if (commit !== 0) this.commit = { frames: this.frameCount, pageCount: commit, cursor: this.cursor! }
    return { index, offset, pgno, commit, checksum1: c1, checksum2: c2, page }
  }
}

/**
 * The frames of a WAL that SQLite would apply.
 *
 * @since 0.2.0
 */
export interface CommittedFrames {
  readonly header: WalHeader
  /** The frames up to and including the last valid commit frame, in order. */
  readonly frames: ReadonlyArray<WalFrame>
  /** The database size in pages after that commit; undefined if no commit frame passed. */
  readonly pageCount: number | undefined
  /** The position after the last commit (the cursor's start if there was none). */
  readonly commitCursor: WalCursor
  /** The position after the last frame that passed the checks, committed or not. */
  readonly cursor: WalCursor
  /** Frames after the last commit that passed the checks, not applied. */
  readonly uncommitted: number
  /** Why reading stopped before the end of the input, if it did. */
  readonly stop: WalStop | undefined
}

/**
 * Reads a WAL (one buffer, or chunks in order: e.g. the segments of one litestream index) and returns
 * the frames up to the last valid commit: frames after it, or from the first frame that fails a
 * check, are not applied. Starts at the header unless given a cursor. Throws a {@link WalError} if
 * the header is missing or wrong.
 *
 * Uncommitted frames are not carried from one call to the next: to go on with later bytes, start
 * from `commitCursor` with the bytes from `commitCursor.offset` on, or use one {@link WalReader}.
 *
 * @since 0.2.0
 */
export const committedFrames = (wal: Uint8Array | Iterable<Uint8Array>, from?: WalCursor): CommittedFrames => {
  const reader = new WalReader(from)
  const frames: Array<WalFrame> = []
  for (const chunk of wal instanceof Uint8Array ? [wal] : wal) {
    for (const frame of reader.push(chunk)) frames.push(frame)
  }
  const stop = reader.end()
  const commit = reader.lastCommit
  const cursor = reader.cursor!
  const start = from === undefined ? 0 : from.frames
  const committed = commit === undefined ? 0 : commit.frames - start
  return {
    header: cursor.header,
    frames: frames.slice(0, committed),
    pageCount: commit?.pageCount,
    commitCursor: commit?.cursor ?? from ?? {
      header: cursor.header,
      offset: HEADER_SIZE,
      frames: 0,
      checksum1: cursor.header.checksum1,
      checksum2: cursor.header.checksum2
    },
    cursor,
    uncommitted: frames.length - committed,
    stop
  }
}
