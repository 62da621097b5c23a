/**
 * The PyPI peers installed by the global setup: each one is there and is the pinned 0.5.17,
 * or the reason it is not is printed and the check skipped.
 */
import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import { LITESTREAM_V5_VERSION, litestreamV5, litestreamVfs } from "../support/Peers.js"

const v5 = litestreamV5()
const vfs = litestreamVfs()
if (!v5.available) console.warn(`SKIPPED: litestream ${LITESTREAM_V5_VERSION}: ${v5.reason}`)
if (!vfs.available) console.warn(`SKIPPED: litestream-vfs ${LITESTREAM_V5_VERSION}: ${vfs.reason}`)

describe("test peers", () => {
  it.skipIf(!v5.available)(`litestream ${LITESTREAM_V5_VERSION} runs and says its version`, () => {
    if (!v5.available) return
    const r = spawnSync(v5.path, ["version"], { encoding: "utf8" })
    expect(r.status).toBe(0)
    expect(r.stdout.trim()).toContain(LITESTREAM_V5_VERSION)
    expect(process.env.LITESTREAM_V5_BIN).toBe(v5.path)
  })

  it.skipIf(!vfs.available)(`litestream-vfs ${LITESTREAM_V5_VERSION} is a shared object`, () => {
    if (!vfs.available) return
    const head = fs.readFileSync(vfs.path).subarray(0, 4)
    expect([...head]).toEqual([0x7f, 0x45, 0x4c, 0x46]) // ELF
  })
})
