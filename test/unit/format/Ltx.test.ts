/**
 * The LTX decoder on files written by litestream 0.5.17 (test/fixtures/ltx-0.5.17), and on
 * files made by the test encoder in both page encodings, with and without database checksums,
 * fed whole and in chunks of every small size; then damaged: a flipped byte (page data, page
 * size, header, index, trailer), cut short anywhere, an index entry pointing past the end,
 * bytes after the trailer, a snapshot whose pages do not add up to its checksum.
 */
import * as Ltx from "@effect-litestream/core/format/Ltx"
import * as fs from "node:fs"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { encode, pagesOf } from "../../support/LtxEncoder.js"

const fixtures = fileURLToPath(new URL("../../fixtures/ltx-0.5.17/replica/ltx/", import.meta.url))
const fixture = (level: number, name: string) => new Uint8Array(fs.readFileSync(NodePath.join(fixtures, String(level), name)))

const decodeChunked = (bytes: Uint8Array, size: number) => {
  const d = new Ltx.Decoder()
  const pages: Array<Ltx.Page> = []
  for (let i = 0; i < bytes.length; i += size) pages.push(...d.push(bytes.slice(i, i + size)))
  return { pages, summary: d.end() }
}

/** Pages as comparable rows (vitest's deep equality is slow on 64 KiB typed arrays). */
const rows = (pages: ReadonlyArray<Ltx.Page>) => pages.map((p) => `${p.pgno}:${Buffer.from(p.data).toString("base64")}`)

const faultOf = (f: () => unknown): Ltx.LtxErrorReason | undefined => {
  try {
    f()
    return undefined
  } catch (e) {
    if (e instanceof Ltx.LtxError) return e.reason
    throw e
  }
}

/** A small database's pages: varied content, some compressible, some not. */
const database = (pageSize: number, pages: number, seed = 1) => {
  let x = seed
  const db = new Uint8Array(pageSize * pages)
  for (let i = 0; i < db.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    db[i] = (i % pageSize) < pageSize / 2 ? (i >> 6) & 0xff : x >>> 24
  }
  return db
}

describe("Ltx decoder", () => {
  it("reads litestream 0.5.17's files: header, pages, index, checksums", () => {
    const snapshot = Ltx.decode(fixture(9, "0000000000000001-0000000000000002.ltx"))
    expect(snapshot.summary.header).toMatchObject({ pageSize: 1024, commit: 7, minTxid: 1, maxTxid: 2, flags: Ltx.HEADER_FLAG_NO_CHECKSUM })
    expect(snapshot.pages.map((p) => p.pgno)).toEqual([1, 2, 3, 4, 5, 6, 7])
    expect(new TextDecoder().decode(snapshot.pages[0]!.data.subarray(0, 15))).toBe("SQLite format 3")
    expect(snapshot.summary.pageIndex.map((e) => e.pgno)).toEqual([1, 2, 3, 4, 5, 6, 7])
    expect(snapshot.summary.pageIndex[0]!.offset).toBe(Ltx.HEADER_SIZE)
    const incremental = Ltx.decode(fixture(0, "0000000000000002-0000000000000002.ltx"))
    expect(incremental.summary.header.minTxid).toBe(2)
    expect(incremental.pages.length).toBeGreaterThan(0)
    expect(incremental.pages.length).toBeLessThan(7)
    // every chunking gives the same pages
    const whole = Ltx.decode(fixture(0, "0000000000000001-0000000000000001.ltx"))
    for (const size of [1, 2, 3, 5, 7, 11, 64, 1000, 4096]) {
      const chunked = decodeChunked(fixture(0, "0000000000000001-0000000000000001.ltx"), size)
      expect(rows(chunked.pages)).toEqual(rows(whole.pages))
      expect(chunked.summary.fileChecksum).toBe(whole.summary.fileChecksum)
    }
  })

  for (const encoding of ["block", "frame"] as const) {
    for (const checksums of [false, true]) {
      it(`round-trips ${encoding}-encoded files ${checksums ? "with" : "without"} database checksums`, () => {
        for (const pageSize of [512, 4096, 65536]) {
          const db = database(pageSize, 5, pageSize)
          const pages = pagesOf(db, pageSize)
          const post = Ltx.databaseChecksum(db, pageSize)
          const file = encode({ pageSize, commit: 5, minTxid: 1, maxTxid: 3, pages, encoding, checksums, postApplyChecksum: post })
          for (const size of [1, 9, 100, 4097, file.length]) {
            const { pages: out, summary } = decodeChunked(file, size)
            expect(rows(out)).toEqual(rows(pages))
            expect(summary.postApplyChecksum).toBe(checksums ? post : 0n)
            expect(summary.size).toBe(file.length)
          }
          // an incremental file: some pages, a pre-apply checksum
          const some = [pages[1]!, pages[3]!]
          const inc = encode({
            pageSize, commit: 5, minTxid: 4, maxTxid: 4, pages: some, encoding, checksums,
            preApplyChecksum: post, postApplyChecksum: post
          })
          const decoded = Ltx.decode(inc)
          expect(rows(decoded.pages)).toEqual(rows(some))
          expect(decoded.summary.header.preApplyChecksum).toBe(checksums ? post : 0n)
        }
      })
    }
  }

  it("keeps no view of a chunk: chunks read into one reused buffer, pages in reused memory (reusePages)", () => {
    for (const pageSize of [1024, 4096, 65536]) {
      const db = database(pageSize, 300, 7)
      const pages = pagesOf(db, pageSize)
      const file = encode({ pageSize, commit: 300, minTxid: 1, maxTxid: 1, pages, encoding: "block", checksums: true, postApplyChecksum: Ltx.databaseChecksum(db, pageSize) })
      for (const size of [7, 1000, 65536, 300_000, 1 << 20]) {
        const d = new Ltx.Decoder({ reusePages: true })
        const reused = new Uint8Array(size)
        const seen: Array<string> = []
        for (let i = 0; i < file.length; i += size) {
          const n = Math.min(size, file.length - i)
          reused.set(file.subarray(i, i + n))
          // the pages are used before the next push, as a restore writes them
          seen.push(...rows(d.push(reused.subarray(0, n))))
          reused.fill(0xee)
        }
        expect(seen, `pages of ${pageSize} bytes, chunks of ${size}`).toEqual(rows(pages))
        expect(d.end().postApplyChecksum).toBe(Ltx.databaseChecksum(db, pageSize))
      }
    }
  })

  it("checks a snapshot's pages against its post-apply checksum", () => {
    const db = database(1024, 4)
    const pages = pagesOf(db, 1024)
    const wrong = Ltx.databaseChecksum(database(1024, 4, 99), 1024)
    const file = encode({ pageSize: 1024, commit: 4, minTxid: 1, maxTxid: 1, pages, checksums: true, postApplyChecksum: wrong })
    expect(faultOf(() => Ltx.decode(file))).toBe("DatabaseChecksum")
  })

  it("skips the lock page in the database checksum", () => {
    expect(Ltx.lockPgno(4096)).toBe(262145)
    expect(Ltx.lockPgno(512)).toBe(2097153)
    expect(Ltx.lockPgno(65536)).toBe(16385)
  })

  describe("faults", () => {
    const pageSize = 1024
    const db = database(pageSize, 6)
    const file = encode({ pageSize, commit: 6, minTxid: 1, maxTxid: 2, pages: pagesOf(db, pageSize) })
    const flipped = (at: number) => {
      const copy = file.slice()
      copy[at]! ^= 0x40
      return copy
    }
    const frameAt = Ltx.decode(file).summary.pageIndex[2]!

    it("a flipped byte in a page's compressed data: the page or the file checksum fails", () => {
      const reason = faultOf(() => Ltx.decode(flipped(frameAt.offset + frameAt.size - 3)))
      expect(["Page", "FileChecksum"]).toContain(reason)
    })

    it("a flipped byte in the header: a bad header or the file checksum", () => {
      expect(faultOf(() => Ltx.decode(flipped(0)))).toBe("BadMagic")
      expect(faultOf(() => Ltx.decode(flipped(36)))).toBe("FileChecksum") // timestamp
      expect(faultOf(() => Ltx.decode(flipped(9)))).toBe("BadHeader") // page size
      expect(faultOf(() => Ltx.decode(flipped(5)))).toBe("BadHeader") // flags
    })

    it("a flipped byte in a page header, the index or the trailer", () => {
      expect(faultOf(() => Ltx.decode(flipped(frameAt.offset + 5)))).toBe("BadPageHeader") // flags
      expect(faultOf(() => Ltx.decode(flipped(frameAt.offset + 3)))).toBe("BadPageHeader") // pgno 3 -> 0x43, then 4 < 0x43
      expect(faultOf(() => Ltx.decode(flipped(file.length - 1)))).toBe("FileChecksum")
      expect(faultOf(() => Ltx.decode(flipped(file.length - 9)))).toBe("BadTrailer") // post-apply set on a no-checksum file
    })

    it("cut short anywhere: Truncated", () => {
      for (const cut of [0, 50, 99, 100, 105, frameAt.offset + 7, file.length - 30, file.length - 17, file.length - 1]) {
        expect({ cut, reason: faultOf(() => Ltx.decode(file.subarray(0, cut))) }).toEqual({
          cut,
          reason: expect.stringMatching(/^(Truncated|BadIndex)$/)
        })
      }
      expect(faultOf(() => Ltx.decode(file.subarray(0, 60)))).toBe("Truncated")
      expect(faultOf(() => Ltx.decode(file.subarray(0, file.length - 1)))).toBe("Truncated")
    })

    it("a page index entry pointing past the end: BadIndex", () => {
      const { pageIndex } = Ltx.decode(file).summary
      // re-encode the index with the last entry's offset moved far away, with a valid length and checksum
      const entries = pageIndex.map((e, i) => i === pageIndex.length - 1 ? { ...e, offset: file.length + 5000 } : e)
      const varint = (n: number) => {
        const out: Array<number> = []
        while (n >= 0x80) {
          out.push((n & 0x7f) | 0x80)
          n >>>= 7
        }
        out.push(n)
        return out
      }
      const indexBytes = [...entries.flatMap((e) => [...varint(e.pgno), ...varint(e.offset), ...varint(e.size)]), 0]
      const tailStart = pageIndex.at(-1)!.offset + pageIndex.at(-1)!.size + Ltx.PAGE_HEADER_SIZE
      const len = new Uint8Array(8)
      new DataView(len.buffer).setBigUint64(0, BigInt(indexBytes.length))
      const forged = new Uint8Array([...file.subarray(0, tailStart), ...indexBytes, ...len, ...file.subarray(file.length - 16)])
      const reason = faultOf(() => Ltx.decode(forged))
      expect(reason).toBe("BadIndex")
      try {
        Ltx.decode(forged)
      } catch (e) {
        expect((e as Error).message).toContain(`the index puts page 6 at bytes ${file.length + 5000}-`)
      }
    })

    it("bytes after the trailer: BadTrailer", () => {
      expect(faultOf(() => Ltx.decode(new Uint8Array([...file, 0])))).toBe("BadTrailer")
    })

    it("a failed decoder stays failed", () => {
      const d = new Ltx.Decoder()
      expect(() => d.push(flipped(0))).toThrow(Ltx.LtxError)
      expect(() => d.push(file)).toThrow(/BadMagic/)
      expect(() => d.end()).toThrow(/BadMagic/)
    })
  })
})
