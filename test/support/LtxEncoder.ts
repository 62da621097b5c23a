/**
 * An LTX encoder for tests: files in either page encoding (ltx v0.5.2+ "block": flag 0x1, u32
 * size, LZ4 block; earlier "frame": one LZ4 frame per page), with or without database
 * checksums. litestream 0.5.17 writes only the block encoding, so the frame encoding is covered
 * by files made here, which upstream's VFS reads (that makes them true).
 *
 * Written from the format's README (https://github.com/superfly/ltx), not from its encoder.
 */
import { Crc64 } from "@effect-litestream/core/format/Crc64"
import * as Ltx from "@effect-litestream/core/format/Ltx"
import { xxHash32 } from "@effect-litestream/core/format/XxHash32"
import { createRequire } from "node:module"
import { concat } from "./Bytes.js"

const lz4js = createRequire(import.meta.url)("lz4js") as {
  compressBlock: (src: Uint8Array, dst: Uint8Array, sIndex: number, sLength: number, hashTable: Uint32Array) => number
  compressBound: (n: number) => number
}

/** An LZ4 block of literals only: valid, if not small. */
const literalBlock = (data: Uint8Array): Uint8Array => {
  const out: Array<number> = []
  const n = data.length
  out.push(Math.min(n, 15) << 4)
  if (n >= 15) {
    let rest = n - 15
    while (rest >= 255) {
      out.push(255)
      rest -= 255
    }
    out.push(rest)
  }
  const block = new Uint8Array(out.length + n)
  block.set(out)
  block.set(data, out.length)
  return block
}

const compressBlock = (data: Uint8Array): Uint8Array => {
  const dst = new Uint8Array(lz4js.compressBound(data.length))
  const n = lz4js.compressBlock(data, dst, 0, data.length, new Uint32Array(1 << 16))
  return n > 0 ? dst.subarray(0, n) : literalBlock(data)
}

/**
 * One LZ4 frame as ltx's legacy encoder (pierrec/lz4's writer) made them: independent 4 MB
 * blocks, a content checksum (litestream's legacy reader expects the end mark and that
 * checksum right after the page), no content size.
 */
const compressFrame = (data: Uint8Array): Uint8Array => {
  const descriptor = new Uint8Array([0x64, 0x70])
  const hc = (xxHash32(descriptor) >>> 8) & 0xff
  const block = compressBlock(data)
  const out = new Uint8Array(4 + 3 + 4 + block.length + 4 + 4)
  const view = new DataView(out.buffer)
  view.setUint32(0, 0x184d2204, true)
  out.set(descriptor, 4)
  out[6] = hc
  view.setUint32(7, block.length, true)
  out.set(block, 11)
  view.setUint32(11 + block.length, 0, true)
  view.setUint32(15 + block.length, xxHash32(data), true)
  return out
}

export interface EncodeOptions {
  readonly pageSize: number
  readonly commit: number
  readonly minTxid: number
  readonly maxTxid: number
  readonly timestamp?: number
  readonly pages: ReadonlyArray<Ltx.Page>
  /** default "block" (what litestream 0.5.16+ writes) */
  readonly encoding?: "block" | "frame"
  /** track database checksums (default false, as litestream 0.5.17 writes its files) */
  readonly checksums?: boolean
  /** the database checksum before this file (needed when `checksums` and not a snapshot) */
  readonly preApplyChecksum?: bigint
  /** the database checksum after it (needed when `checksums`) */
  readonly postApplyChecksum?: bigint
}

const u32 = (n: number) => {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n)
  return b
}
const u64 = (n: bigint | number) => {
  const b = new Uint8Array(8)
  new DataView(b.buffer).setBigUint64(0, BigInt(n))
  return b
}
const uvarint = (n: number): Array<number> => {
  const out: Array<number> = []
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80)
    n = Math.floor(n / 0x80)
  }
  out.push(n)
  return out
}

/** Encodes an LTX file; pages are sorted by page number here. */
export const encode = (options: EncodeOptions): Uint8Array => {
  const checksums = options.checksums ?? false
  const header = new Uint8Array(Ltx.HEADER_SIZE)
  header.set([0x4c, 0x54, 0x58, 0x31])
  const view = new DataView(header.buffer)
  view.setUint32(4, checksums ? 0 : Ltx.HEADER_FLAG_NO_CHECKSUM)
  view.setUint32(8, options.pageSize)
  view.setUint32(12, options.commit)
  view.setBigUint64(16, BigInt(options.minTxid))
  view.setBigUint64(24, BigInt(options.maxTxid))
  view.setBigUint64(32, BigInt(options.timestamp ?? Date.now()))
  view.setBigUint64(40, checksums && options.minTxid !== 1 ? options.preApplyChecksum ?? 0n : 0n)

  const parts: Array<Uint8Array> = [header]
  const hash = new Crc64().update(header)
  let offset = Ltx.HEADER_SIZE
  const index: Array<number> = []
  for (const page of [...options.pages].sort((a, b) => a.pgno - b.pgno)) {
    const frame: Array<Uint8Array> = []
    if ((options.encoding ?? "block") === "block") {
      const block = compressBlock(page.data)
      const head = new Uint8Array([...u32(page.pgno), 0, Ltx.PAGE_FLAG_SIZE, ...u32(block.length)])
      hash.update(head).update(page.data)
      frame.push(head, block)
    } else {
      const head = new Uint8Array([...u32(page.pgno), 0, 0])
      hash.update(head).update(page.data)
      frame.push(head, compressFrame(page.data))
    }
    const size = frame.reduce((n, b) => n + b.length, 0)
    index.push(...uvarint(page.pgno), ...uvarint(offset), ...uvarint(size))
    parts.push(...frame)
    offset += size
  }
  const end = new Uint8Array(Ltx.PAGE_HEADER_SIZE)
  index.push(0)
  const indexBytes = new Uint8Array([...index, ...u64(index.length)])
  const post = u64(checksums ? options.postApplyChecksum ?? 0n : 0n)
  hash.update(end).update(indexBytes).update(post)
  const fileChecksum = u64(hash.digest() | Ltx.CHECKSUM_FLAG)
  parts.push(end, indexBytes, post, fileChecksum)
  return concat(parts)
}

/** The pages of a database file, 1 to its end, the lock page left out (as LTX snapshots do). */
export const pagesOf = (db: Uint8Array, pageSize: number): Array<Ltx.Page> => {
  const pages: Array<Ltx.Page> = []
  const lock = Ltx.lockPgno(pageSize)
  for (let pgno = 1; pgno * pageSize <= db.length; pgno++) {
    if (pgno !== lock) pages.push({ pgno, data: db.slice((pgno - 1) * pageSize, pgno * pageSize) })
  }
  return pages
}
