/**
 * CRC-64/ISO as Go's `hash/crc64` computes it with `crc64.ISO` (reflected polynomial
 * 0xD800000000000000, initial value and final XOR all ones; check value of "123456789":
 * 0xb90956c775a41001): the checksum of LTX files and of the database states they lead to.
 * Plain TypeScript over `Uint8Array`, no Effect, no Node built-ins.
 *
 * The 64-bit state lives in two 32-bit halves (no `bigint` in the loop) and eight bytes are
 * folded per step (slicing-by-8): LTX restores hash every page they write, twice.
 *
 * No npm package computes this variant (those on npm are CRC-64/ECMA, /NVME or /XZ).
 *
 * @since 0.3.0
 */

/** Eight tables of 256 entries, the high and the low halves apart (signed: V8 keeps them small integers). */
const TABLE_HI = new Int32Array(8 * 256)
const TABLE_LO = new Int32Array(8 * 256)

{
  for (let i = 0; i < 256; i++) {
    let hi = 0
    let lo = i
    for (let bit = 0; bit < 8; bit++) {
      const odd = lo & 1
      lo = ((lo >>> 1) | (hi << 31)) >>> 0
      hi = hi >>> 1
      if (odd) hi = (hi ^ 0xd8000000) >>> 0
    }
    TABLE_HI[i] = hi
    TABLE_LO[i] = lo
  }
  for (let t = 1; t < 8; t++) {
    for (let i = 0; i < 256; i++) {
      const prevHi = TABLE_HI[(t - 1) * 256 + i]!
      const prevLo = TABLE_LO[(t - 1) * 256 + i]!
      const idx = prevLo & 0xff
      TABLE_HI[t * 256 + i] = (prevHi >>> 8) ^ TABLE_HI[idx]!
      TABLE_LO[t * 256 + i] = ((prevLo >>> 8) | (prevHi << 24)) ^ TABLE_LO[idx]!
    }
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1

/**
 * Eight bytes a step over little-endian words (`w.length` even), the register's halves in and
 * out through `register` ([hi, lo]): a function of its own over typed arrays, which V8 keeps in
 * 32-bit integers.
 */
const words = (w: Int32Array, register: Int32Array): void => {
  let hi = register[0]!
  let lo = register[1]!
  const n = w.length
  for (let j = 0; j < n; j += 2) {
    const l = lo ^ w[j]!
    const h = hi ^ w[j + 1]!
    const a = 7 * 256 + (l & 0xff)
    const b = 6 * 256 + ((l >>> 8) & 0xff)
    const c = 5 * 256 + ((l >>> 16) & 0xff)
    const d = 4 * 256 + (l >>> 24)
    const e = 3 * 256 + (h & 0xff)
    const f = 2 * 256 + ((h >>> 8) & 0xff)
    const g = 256 + ((h >>> 16) & 0xff)
    const k = h >>> 24
    hi = TABLE_HI[a]! ^ TABLE_HI[b]! ^ TABLE_HI[c]! ^ TABLE_HI[d]! ^ TABLE_HI[e]! ^ TABLE_HI[f]! ^ TABLE_HI[g]! ^ TABLE_HI[k]!
    lo = TABLE_LO[a]! ^ TABLE_LO[b]! ^ TABLE_LO[c]! ^ TABLE_LO[d]! ^ TABLE_LO[e]! ^ TABLE_LO[f]! ^ TABLE_LO[g]! ^ TABLE_LO[k]!
  }
  register[0] = hi
  register[1] = lo
}

/**
 * An incremental CRC-64/ISO: `update` with the bytes in order, then `digest`.
 *
 * @since 0.3.0
 */
export class Crc64 {
  // the running register, complemented (Go keeps `^crc` between writes)
  private hi = -1
  private lo = -1
  private readonly register = new Int32Array(2)

  /**
   * A hasher whose register starts at zero instead of all ones: the "raw" CRC of the bytes fed,
   * which {@link Crc64.append} splices into other hashers (CRC is affine in its register, so one
   * pass over a page serves every checksum that covers it).
   */
  static raw(): Crc64 {
    const crc = new Crc64()
    crc.hi = 0
    crc.lo = 0
    return crc
  }

  /**
   * Continues this hash as if the bytes `raw` was fed were fed here: `raw` from {@link Crc64.raw},
   * `shift` made for their length. Costs 16 table reads, whatever the length.
   */
  append(raw: Crc64, shift: Crc64Shift): this {
    shift.apply(this.hi, this.lo)
    this.hi = (shift.hi ^ raw.hi) | 0
    this.lo = (shift.lo ^ raw.lo) | 0
    return this
  }

  /** Feeds `bytes`; returns this. */
  update(bytes: Uint8Array): this {
    let hi = this.hi
    let lo = this.lo
    let i = 0
    const n = bytes.length
    const end8 = n - (n % 8)
    if (LITTLE_ENDIAN && (bytes.byteOffset & 3) === 0 && end8 > 0) {
      // word-aligned (pages cut from a decoder's slabs are): two word reads per step, not eight byte reads
      const register = this.register
      register[0] = hi
      register[1] = lo
      words(new Int32Array(bytes.buffer, bytes.byteOffset, end8 >>> 2), register)
      hi = register[0]!
      lo = register[1]!
      i = end8
    }
    for (; i < end8; i += 8) {
      const l = lo ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24))
      const h = hi ^ (bytes[i + 4]! | (bytes[i + 5]! << 8) | (bytes[i + 6]! << 16) | (bytes[i + 7]! << 24))
      const a = 7 * 256 + (l & 0xff)
      const b = 6 * 256 + ((l >>> 8) & 0xff)
      const c = 5 * 256 + ((l >>> 16) & 0xff)
      const d = 4 * 256 + (l >>> 24)
      const e = 3 * 256 + (h & 0xff)
      const f = 2 * 256 + ((h >>> 8) & 0xff)
      const g = 256 + ((h >>> 16) & 0xff)
      const k = h >>> 24
      hi = TABLE_HI[a]! ^ TABLE_HI[b]! ^ TABLE_HI[c]! ^ TABLE_HI[d]! ^ TABLE_HI[e]! ^ TABLE_HI[f]! ^ TABLE_HI[g]! ^
        TABLE_HI[k]!
      lo = TABLE_LO[a]! ^ TABLE_LO[b]! ^ TABLE_LO[c]! ^ TABLE_LO[d]! ^ TABLE_LO[e]! ^ TABLE_LO[f]! ^ TABLE_LO[g]! ^
        TABLE_LO[k]!
    }
    for (; i < n; i++) {
      const idx = (lo ^ bytes[i]!) & 0xff
      lo = ((lo >>> 8) | (hi << 24)) ^ TABLE_LO[idx]!
      hi = (hi >>> 8) ^ TABLE_HI[idx]!
    }
    this.hi = hi | 0
    this.lo = lo | 0
    return this
  }

  /** Feeds a big-endian u32 (the page number LTX hashes before a page). */
  updateUint32(value: number): this {
    let hi = this.hi
    let lo = this.lo
    for (let shift = 24; shift >= 0; shift -= 8) {
      const idx = (lo ^ (value >>> shift)) & 0xff
      lo = ((lo >>> 8) | (hi << 24)) ^ TABLE_LO[idx]!
      hi = (hi >>> 8) ^ TABLE_HI[idx]!
    }
    this.hi = hi | 0
    this.lo = lo | 0
    return this
  }

  /** The checksum of the bytes so far (the hasher stays usable). */
  digest(): bigint {
    return (BigInt((~this.hi) >>> 0) << 32n) | BigInt((~this.lo) >>> 0)
  }
}

/**
 * The CRC-64/ISO of `bytes`.
 *
 * @since 0.3.0
 */
export const crc64 = (bytes: Uint8Array): bigint => new Crc64().update(bytes).digest()

/**
 * The register's move over `length` bytes of zeros: the linear part of feeding any `length`
 * bytes, as eight byte-indexed tables (a 64x64 bit matrix over GF(2)). Used by
 * {@link Crc64.append}; building one costs about 64 x `length` table steps.
 *
 * @since 0.3.0
 */
export class Crc64Shift {
  private readonly tableHi = new Int32Array(8 * 256)
  private readonly tableLo = new Int32Array(8 * 256)
  /** the result of the last `apply` */
  hi = 0
  lo = 0

  constructor(readonly length: number) {
    // the image of each of the 64 register bits through `length` zero bytes
    const imageHi = new Int32Array(64)
    const imageLo = new Int32Array(64)
    for (let bit = 0; bit < 64; bit++) {
      let hi = bit >= 32 ? 1 << (bit - 32) : 0
      let lo = bit < 32 ? 1 << bit : 0
      for (let n = 0; n < length; n++) {
        const idx = lo & 0xff
        lo = ((lo >>> 8) | (hi << 24)) ^ TABLE_LO[idx]!
        hi = (hi >>> 8) ^ TABLE_HI[idx]!
      }
      imageHi[bit] = hi
      imageLo[bit] = lo
    }
    for (let k = 0; k < 8; k++) {
      for (let b = 0; b < 256; b++) {
        let hi = 0
        let lo = 0
        for (let i = 0; i < 8; i++) {
          if ((b >>> i) & 1) {
            hi ^= imageHi[8 * k + i]!
            lo ^= imageLo[8 * k + i]!
          }
        }
        this.tableHi[k * 256 + b] = hi
        this.tableLo[k * 256 + b] = lo
      }
    }
  }

  /** Moves the register (`hi`, `lo`) over `length` zero bytes; the result in `this.hi`, `this.lo`. */
  apply(hi: number, lo: number): void {
    const th = this.tableHi
    const tl = this.tableLo
    const a = lo & 0xff
    const b = 256 + ((lo >>> 8) & 0xff)
    const c = 512 + ((lo >>> 16) & 0xff)
    const d = 768 + (lo >>> 24)
    const e = 1024 + (hi & 0xff)
    const f = 1280 + ((hi >>> 8) & 0xff)
    const g = 1536 + ((hi >>> 16) & 0xff)
    const h = 1792 + (hi >>> 24)
    this.hi = th[a]! ^ th[b]! ^ th[c]! ^ th[d]! ^ th[e]! ^ th[f]! ^ th[g]! ^ th[h]!
    this.lo = tl[a]! ^ tl[b]! ^ tl[c]! ^ tl[d]! ^ tl[e]! ^ tl[f]! ^ tl[g]! ^ tl[h]!
  }
}
