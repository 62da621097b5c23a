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

/**
 * An incremental CRC-64/ISO: `update` with the bytes in order, then `digest`.
 *
 * @since 0.3.0
 */
export class Crc64 {
  // the running register, complemented (Go keeps `^crc` between writes)
  private hi = -1
  private lo = -1

  /** Feeds `bytes`; returns this. */
  update(bytes: Uint8Array): this {
    let hi = this.hi
    let lo = this.lo
    let i = 0
    const n = bytes.length
    const end8 = n - (n % 8)
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
    const b = new Uint8Array(4)
    new DataView(b.buffer).setUint32(0, value)
    return this.update(b)
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
