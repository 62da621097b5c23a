/**
 * LZ4 decoders side by side on a real litestream v0.3.13 snapshot (issue 10): core's
 * `format/Lz4` (its WebAssembly block loop, `format/Lz4Wasm`, and its JavaScript one), `lz4js` (plain JavaScript, npm) and `lz4-wasm-nodejs` (lz4_flex
 * compiled to WebAssembly, npm; block format only, so it is given the frame's blocks). Prints MB/s
 * of decoded output (MB = 10^6 bytes), the median of runs taken in turns. Run: `npx tsx bench/lz4.ts [MB]`.
 */
import Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as lz4js from "lz4js"
import * as lz4wasm from "lz4-wasm-nodejs"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { decodeBlock, decodeBlockJs, decodeFrame, FrameDecoder } from "../packages/core/src/format/Lz4.ts"
import { xxHash32 } from "../packages/core/src/format/XxHash32.ts"
import { bundled } from "../packages/node/src/LitestreamBinary.ts"

const targetMb = Number(process.argv[2] ?? 8)

/** A WAL-mode database of about `mb` MB: text rows, small numbers, some noisy blobs. */
const makeDatabase = (file: string, mb: number) => {
  const db = new Database(file)
  db.pragma("journal_mode = WAL")
  db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER, note TEXT, blob BLOB)")
  const insert = db.prepare("INSERT INTO items (name, qty, note, blob) VALUES (?, ?, ?, ?)")
  let seed = 42
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32
  const words = ["alpha", "beta", "gamma", "delta", "order", "customer", "shipped", "pending", "invoice"]
  db.transaction(() => {
    for (let i = 0; i * 170 < mb * 1e6; i++) {
      const note = Array.from({ length: 8 + (i % 20) }, () => words[Math.floor(rand() * words.length)]).join(" ")
      const blob = i % 4 === 0 ? new Uint8Array(120).map(() => Math.floor(rand() * 256)) : null
      insert.run(`item-${i}`, Math.floor(rand() * 1000), note, blob)
    }
  })()
  db.close()
}

/** Runs litestream replicate until it has written a snapshot; returns the snapshot's bytes. */
const snapshotOf = async (binary: string, file: string, replica: string): Promise<Uint8Array> => {
  const child = spawn(binary, ["replicate", file, `file://${replica}`], { stdio: "ignore" })
  try {
    const deadline = Date.now() + 60_000
    for (;;) {
      const found = fs.existsSync(replica) ?
        fs.readdirSync(replica, { recursive: true }).map(String).find((f) => f.endsWith(".snapshot.lz4")) :
        undefined
      if (found) {
        await new Promise((r) => setTimeout(r, 500))
        return new Uint8Array(fs.readFileSync(path.join(replica, found)))
      }
      if (Date.now() > deadline) throw new Error("litestream wrote no snapshot in 60 s")
      await new Promise((r) => setTimeout(r, 100))
    }
  } finally {
    child.kill("SIGTERM")
    await new Promise((r) => (child.exitCode === null ? child.once("exit", r) : r(undefined)))
  }
}

/** The stored blocks of a frame (no content size, no dictionary id, no block checksums). */
const blocksOf = (frame: Uint8Array) => {
  const view = Buffer.from(frame.buffer, frame.byteOffset, frame.length)
  const blocks: Array<{ data: Uint8Array; compressed: boolean }> = []
  let at = 7
  for (;;) {
    const word = view.readUInt32LE(at)
    at += 4
    if (word === 0) break
    const size = word & 0x7fffffff
    blocks.push({ data: frame.subarray(at, at + size), compressed: (word & 0x80000000) === 0 })
    at += size
  }
  return blocks
}

const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/**
 * Times the cases round-robin (the machine's load then weighs on all of them alike): 2 warm-up
 * rounds, then rounds until each case ran at least 7 times and 4 s passed. Median ms per run.
 */
const timeAll = (cases: ReadonlyArray<readonly [string, () => unknown]>): Array<[string, number]> => {
  const runs = cases.map(() => [] as Array<number>)
  for (let w = 0; w < 2; w++) for (const [, f] of cases) f()
  const started = performance.now()
  while (runs[0]!.length < 7 || performance.now() - started < 4000) {
    cases.forEach(([, f], i) => {
      const t = performance.now()
      f()
      runs[i]!.push(performance.now() - t)
    })
  }
  return cases.map(([name], i) => [name, median(runs[i]!)])
}

const main = async () => {
  const binary = Option.getOrThrowWith(Effect.runSync(bundled), () => new Error("the bundled litestream is not installed"))
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-lz4-"))
  try {
    const file = path.join(dir, "app.db")
    makeDatabase(file, targetMb)
    const frame = await snapshotOf(binary, file, path.join(dir, "replica"))
    const expected = decodeFrame(frame)
    const blocks = blocksOf(frame)
    const mb = expected.length / 1e6

    // Every decoder must give the same bytes before it is timed.
    const same = (a: Uint8Array) => a.length === expected.length && Buffer.from(a).equals(Buffer.from(expected))
    const viaLz4js = lz4js.decompress(frame)
    if (!same(viaLz4js)) throw new Error("lz4js decoded other bytes")
    const wasmInputs = blocks.map((b, i) => {
      const size = Math.min(4194304, expected.length - i * 4194304)
      const input = new Uint8Array(4 + b.data.length)
      new DataView(input.buffer).setUint32(0, size, true)
      input.set(b.data, 4)
      return { input, compressed: b.compressed, raw: b.data }
    })
    const viaWasm = () => {
      const parts = wasmInputs.map((w) => (w.compressed ? lz4wasm.decompress(w.input) : w.raw))
      return Buffer.concat(parts)
    }
    if (!same(viaWasm())) throw new Error("lz4-wasm decoded other bytes")
    const scratch = new Uint8Array(4194304)
    const viaBlocks = () => {
      let n = 0
      for (const b of blocks) n += b.compressed ? decodeBlock(b.data, scratch) : b.data.length
      return n
    }
    if (viaBlocks() !== expected.length) throw new Error("decodeBlock decoded another length")
    const viaBlocksJs = () => {
      let n = 0
      for (const b of blocks) n += b.compressed ? decodeBlockJs(b.data, scratch) : b.data.length
      return n
    }
    const streamed = () => {
      const decoder = new FrameDecoder()
      for (let i = 0; i < frame.length; i += 65536) decoder.push(frame.subarray(i, i + 65536))
      decoder.end()
    }

    const rows = timeAll([
      ["core format/Lz4 decodeFrame (content checksum checked)", () => decodeFrame(frame)],
      ["core format/Lz4 FrameDecoder, 64 KiB chunks (checksum checked)", streamed],
      ["core format/Lz4 decodeBlock (WebAssembly), blocks only (no checksum)", viaBlocks],
      ["core format/Lz4 decodeBlockJs (JavaScript), blocks only (no checksum)", viaBlocksJs],
      ["lz4js 0.2.0 decompress (frame; checksum not checked)", () => lz4js.decompress(frame)],
      ["lz4-wasm-nodejs 0.9.2 decompress, blocks only (no checksum)", viaWasm],
      ["core format/XxHash32 over the decoded bytes", () => xxHash32(expected)]
    ])
    const ratio = (frame.length / expected.length).toFixed(2)
    console.log(
      `litestream v0.3.13 snapshot: ${(frame.length / 1e6).toFixed(2)} MB stored, ${mb.toFixed(2)} MB decoded ` +
        `(ratio ${ratio}), ${blocks.length} blocks of up to 4 MiB; node ${process.version}`
    )
    const width = Math.max(...rows.map(([name]) => name.length))
    for (const [name, ms] of rows) {
      console.log(`${name.padEnd(width)}  ${(mb / (ms / 1000)).toFixed(0).padStart(6)} MB/s  (${ms.toFixed(2)} ms)`)
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

await main()
