/**
 * CRC-64/ISO against Go's `hash/crc64` with `crc64.ISO` (the values below were printed by
 * `crc64.Checksum` in Go 1.x on this machine), and incremental feeding at every split.
 */
import { Crc64, crc64, Crc64Shift } from "@effect-litestream/core/format/Crc64"
import { describe, expect, it } from "vitest"

const pattern = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff)

describe("Crc64", () => {
  it("gives Go's crc64.ISO values", () => {
    expect(crc64(new TextEncoder().encode("123456789")).toString(16)).toBe("b90956c775a41001")
    expect(crc64(pattern(1000)).toString(16)).toBe("f61401ae4fe22fd3")
    expect(crc64(pattern(13)).toString(16)).toBe("7a25f2bd1c18033c")
    expect(crc64(new Uint8Array(0))).toBe(0n)
  })

  it("gives the same value however the input is split", () => {
    const data = pattern(1000)
    const whole = crc64(data)
    for (let split = 0; split <= 40; split++) {
      const h = new Crc64().update(data.subarray(0, split)).update(data.subarray(split, split + 9)).update(data.subarray(split + 9))
      expect(h.digest()).toBe(whole)
    }
  })

  it("hashes a big-endian u32 as its four bytes", () => {
    const page = pattern(100)
    const joined = new Uint8Array([0x00, 0x01, 0x02, 0x03, ...page])
    expect(new Crc64().updateUint32(0x010203).update(page).digest()).toBe(crc64(joined))
  })

  it("a raw CRC appended with a shift equals feeding the bytes (every split of 1000 bytes, several lengths)", () => {
    const data = pattern(1000)
    for (const length of [1, 7, 8, 100, 512, 999]) {
      const shift = new Crc64Shift(length)
      for (let head = 0; head + length <= data.length; head += 37) {
        const tail = data.subarray(head, head + length)
        const spliced = new Crc64().update(data.subarray(0, head)).append(Crc64.raw().update(tail), shift)
        expect(spliced.digest(), `head ${head}, length ${length}`).toBe(crc64(data.subarray(0, head + length)))
      }
    }
    // the page checksum LTX counts: CRC(pgno BE || page), in one pass over the page
    const page = pattern(4096)
    const raw = Crc64.raw().update(page)
    const joined = new Uint8Array([0, 0, 0x30, 0x39, ...page])
    expect(new Crc64().updateUint32(12345).append(raw, new Crc64Shift(4096)).digest()).toBe(crc64(joined))
  })
})
