/**
 * The WAL decoder against SQLite itself: WAL files written by real SQLite (better-sqlite3, with
 * `wal_autocheckpoint = 0`, copied while the connection is open), damaged in the ways a log can be
 * (a transaction in progress, a torn last frame, a flipped byte, frames left from before the log
 * restarted). The frames the decoder returns, applied to a copy of the database file, must give the
 * very bytes SQLite gives on another copy after `PRAGMA wal_checkpoint(TRUNCATE)`. And WAL segments
 * written by litestream v0.3.13, read across segments, must give what `litestream restore` gives.
 */
import { decodeFrame } from "@effect-litestream/core/format/Lz4"
import {
  checksum,
  committedFrames,
  parseHeader,
  WalError,
  WalReader
} from "@effect-litestream/core/format/SqliteWal"
import type { CommittedFrames, WalCursor, WalErrorReason, WalFrame } from "@effect-litestream/core/format/SqliteWal"
import Database from "better-sqlite3"
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"

const dir = fs.mkdtempSync(NodePath.join(os.tmpdir(), "sqlite-wal-unit-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))
let counter = 0
const fresh = (name: string) => NodePath.join(dir, `${++counter}-${name}`)

/** A database file as it was on disk, and its WAL, copied while the writing connection was open. */
interface Made {
  readonly pageSize: number
  readonly base: Uint8Array
  readonly wal: Uint8Array
}

const read = (path: string) => new Uint8Array(fs.readFileSync(path))

/**
 * Writes a database with real SQLite and copies the database file and its -wal while the
 * connection is still open (nothing checkpointed since `setup`). `inProgress` runs inside a
 * transaction left open while copying.
 */
const make = (
  pageSize: number,
  work: (db: Database.Database) => void,
  options: { setup?: (db: Database.Database) => void; inProgress?: (db: Database.Database) => void } = {}
): Made => {
  const path = fresh(`p${pageSize}.db`)
  const db = new Database(path)
  try {
    db.pragma(`page_size = ${pageSize}`)
    db.pragma("journal_mode = WAL")
    db.pragma("wal_autocheckpoint = 0")
    db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, blob BLOB)")
    if (options.setup) {
      options.setup(db)
      db.pragma("wal_checkpoint(TRUNCATE)")
    }
    work(db)
    if (options.inProgress) {
      db.exec("BEGIN")
      options.inProgress(db)
      const made = { pageSize, base: read(path), wal: read(`${path}-wal`) }
      db.exec("ROLLBACK")
      return made
    }
    return { pageSize, base: read(path), wal: read(`${path}-wal`) }
  } finally {
    db.close()
  }
}

const insert = (db: Database.Database, from: number, count: number, blobSize = 100) => {
  const stmt = db.prepare("INSERT INTO items (id, name, blob) VALUES (?, ?, ?)")
  db.transaction(() => {
    for (let i = from; i < from + count; i++) {
      stmt.run(i, `item ${i} `.repeat(1 + (i % 9)), new Uint8Array(blobSize).map((_, k) => (i * 31 + k) & 0xff))
    }
  })()
}

/** Several transactions: inserts, a blob over many overflow pages, updates, deletes. */
const workload = (db: Database.Database) => {
  insert(db, 1, 300)
  insert(db, 1000, 3, 200_000)
  db.exec("UPDATE items SET name = name || ' updated' WHERE id % 3 = 0")
  db.exec("DELETE FROM items WHERE id % 5 = 0")
  insert(db, 2000, 50)
}

/** What SQLite makes of `base` and `wal`: both written to files, then a TRUNCATE checkpoint. */
const sqliteCheckpoint = (made: { base: Uint8Array; wal: Uint8Array }): Uint8Array => {
  const path = fresh("oracle.db")
  fs.writeFileSync(path, made.base)
  fs.writeFileSync(`${path}-wal`, made.wal)
  const db = new Database(path)
  try {
    db.pragma("wal_checkpoint(TRUNCATE)")
  } finally {
    db.close()
  }
  return read(path)
}

/** The decoded frames applied to a copy of the database file, written here (not by the module). */
const apply = (base: Uint8Array, result: CommittedFrames): Uint8Array => {
  if (result.pageCount === undefined) return base.slice()
  const pageSize = result.header.pageSize
  const highest = result.frames.reduce((n, f) => Math.max(n, f.pgno), 0)
  const out = new Uint8Array(Math.max(base.length, highest * pageSize, result.pageCount * pageSize))
  out.set(base)
  for (const f of result.frames) out.set(f.page, (f.pgno - 1) * pageSize)
  return out.slice(0, result.pageCount * pageSize)
}

const same = (actual: Uint8Array, expected: Uint8Array, what: string) => {
  expect(actual.length, `${what}: length`).toBe(expected.length)
  expect(Buffer.from(actual).equals(Buffer.from(expected)), `${what}: bytes`).toBe(true)
}

/** Rows of a database file (opened read-only from a copy), and its integrity check. */
const inspect = (bytes: Uint8Array) => {
  const path = fresh("inspect.db")
  fs.writeFileSync(path, bytes)
  const db = new Database(path, { readonly: true })
  try {
    return {
      integrity: db.pragma("integrity_check", { simple: true }),
      rows: (db.prepare("SELECT count(*) AS n FROM items").get() as { n: number }).n
    }
  } finally {
    db.close()
  }
}

/**
 * The decoder's result on `made` (whole and in chunks of 1 (small logs), 7, 4096, 65536: all the same), applied, must be
 * SQLite's checkpointed file byte for byte. Returns the result and the applied database.
 */
const proveAgainstSqlite = (made: Made, what: string) => {
  const result = committedFrames(made.wal)
  for (const size of made.wal.length < 400_000 ? [1, 7, 4096] : [7, 4096, 65536]) {
    const chunks = Array.from({ length: Math.ceil(made.wal.length / size) }, (_, i) => made.wal.subarray(i * size, i * size + size))
    const again = committedFrames(chunks)
    expect(again.frames.map(summary), `${what}: chunks of ${size}`).toEqual(result.frames.map(summary))
    expect([again.pageCount, again.uncommitted, again.stop], `${what}: chunks of ${size}`).toEqual([
      result.pageCount,
      result.uncommitted,
      result.stop
    ])
    expect(Buffer.from(apply(made.base, again)).equals(Buffer.from(apply(made.base, result)))).toBe(true)
  }
  const applied = apply(made.base, result)
  same(applied, sqliteCheckpoint(made), `${what}: applied frames vs SQLite's checkpoint`)
  return { result, applied }
}

const summary = (f: WalFrame) => [f.index, f.offset, f.pgno, f.commit, f.checksum1, f.checksum2, Buffer.from(f.page).toString("base64")]

const frameOffset = (pageSize: number, k: number) => 32 + k * (24 + pageSize)
const frameCount = (made: Made) => Math.floor((made.wal.length - 32) / (24 + made.pageSize))
/** The commit sizes of the WAL's frames as the bytes say (no checks). */
const commitsOf = (made: Made) =>
  Array.from({ length: frameCount(made) }, (_, k) => Buffer.from(made.wal).readUInt32BE(frameOffset(made.pageSize, k) + 4))

describe("WAL written by SQLite: frames up to the last commit, applied, equal SQLite's checkpoint", () => {
  for (const pageSize of [1024, 4096, 65536]) {
    it(`page size ${pageSize}: inserts, overflow pages, updates, deletes`, () => {
      const made = make(pageSize, workload)
      const header = parseHeader(made.wal)
      expect(header).toMatchObject({ pageSize, version: 3007000, bigEndianChecksum: false })
      const { result, applied } = proveAgainstSqlite(made, `page size ${pageSize}`)
      expect(result.stop).toBeUndefined()
      expect(result.uncommitted).toBe(0)
      expect(result.frames.length).toBe(frameCount(made))
      expect(result.frames.filter((f) => f.commit !== 0).length, "one commit frame per transaction").toBe(6)
      expect(applied.length).toBe(result.pageCount! * pageSize)
      expect(inspect(applied)).toEqual({ integrity: "ok", rows: 300 + 3 + 50 - 60 - 1 })
    })
  }

  it("a database that shrank (DELETE then VACUUM): the file takes the commit's page count", () => {
    const made = make(4096, (db) => {
      db.exec("DELETE FROM items WHERE id > 50")
      db.exec("VACUUM")
    }, { setup: (db) => insert(db, 1, 2000, 500) })
    const { result, applied } = proveAgainstSqlite(made, "vacuum")
    expect(result.pageCount! * 4096).toBeLessThan(made.base.length / 4)
    expect(inspect(applied)).toEqual({ integrity: "ok", rows: 50 })
  })

  it("a transaction in progress (its spilled frames have commit 0): not applied", () => {
    const made = make(4096, workload, {
      inProgress: (db) => {
        db.pragma("cache_size = 10")
        insert(db, 10_000, 3000, 300)
      }
    })
    const commits = commitsOf(made)
    expect(commits.at(-1), "the WAL ends with frames of no commit").toBe(0)
    const { result, applied } = proveAgainstSqlite(made, "in progress")
    expect(result.uncommitted).toBeGreaterThan(10)
    expect(result.stop).toBeUndefined()
    expect(result.frames.at(-1)!.commit).toBeGreaterThan(0)
    expect(inspect(applied).rows).toBe(292)
  })

  it("a torn last frame, cut in its header or its page: the commit before it", () => {
    const made = make(4096, workload)
    const last = frameCount(made) - 1
    const commits = commitsOf(made)
    let previousCommit = last - 1
    while (previousCommit >= 0 && commits[previousCommit] === 0) previousCommit--
    for (const into of [3, 24, 24 + 2000]) {
      const torn = { ...made, wal: made.wal.slice(0, frameOffset(4096, last) + into) }
      const { result } = proveAgainstSqlite(torn, `torn at +${into}`)
      expect(result.stop).toEqual({ reason: "Torn", offset: frameOffset(4096, last), index: last })
      expect(result.frames.length).toBe(previousCommit + 1)
      expect(result.uncommitted).toBe(last - previousCommit - 1)
    }
  })

  it("a flipped byte in a frame's page or header: nothing from that frame on (Checksum or Salt)", () => {
    const made = make(1024, workload)
    const n = frameCount(made)
    for (const [k, into, reason] of [
      [Math.floor(n / 2), 24 + 100, "Checksum"],
      [Math.floor(n / 3), 4, "Checksum"], // the commit size
      [n - 1, 24 + 1023, "Checksum"],
      [5, 9, "Salt"],
      [7, 21, "Checksum"] // the stored checksum itself
    ] as const) {
      const wal = made.wal.slice()
      wal[frameOffset(1024, k) + into]! ^= 0x10
      const { result } = proveAgainstSqlite({ ...made, wal }, `flipped in frame ${k} at +${into}`)
      expect(result.stop).toEqual({ reason, offset: frameOffset(1024, k), index: k })
      expect(result.frames.length).toBeLessThanOrEqual(k)
      expect(result.frames.length + result.uncommitted).toBe(k)
    }
  })

  it("frames left from before the log restarted (old salts, after a RESTART checkpoint): not applied", () => {
    const path = fresh("restart.db")
    const db = new Database(path)
    let made: Made
    try {
      db.pragma("page_size = 4096")
      db.pragma("journal_mode = WAL")
      db.pragma("wal_autocheckpoint = 0")
      db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, blob BLOB)")
      insert(db, 1, 500)
      insert(db, 600, 500)
      const long = read(`${path}-wal`)
      db.pragma("wal_checkpoint(RESTART)")
      insert(db, 5000, 2)
      made = { pageSize: 4096, base: read(path), wal: read(`${path}-wal`) }
      expect(made.wal.length, "the log was overwritten from its start, not truncated").toBe(long.length)
      expect(parseHeader(made.wal).salt1).toBe((parseHeader(long).salt1 + 1) >>> 0)
    } finally {
      db.close()
    }
    const { result, applied } = proveAgainstSqlite(made, "restarted")
    expect(result.stop?.reason).toBe("Salt")
    expect(result.frames.length).toBeLessThan(frameCount(made) / 4)
    expect(inspect(applied)).toEqual({ integrity: "ok", rows: 1002 })
  })

  it("a frame of page number 0 with good checksums (re-checksummed here): nothing from it on (PageNumber)", () => {
    const made = make(4096, workload)
    const k = Math.floor(frameCount(made) / 2)
    const wal = rechecksum(made.wal, 4096, false, (bytes) => bytes.writeUInt32BE(0, frameOffset(4096, k)))
    // Unedited, the same recomputation gives SQLite's own bytes back.
    same(rechecksum(made.wal, 4096, false), made.wal, "recomputed checksums")
    const { result } = proveAgainstSqlite({ ...made, wal }, "page number 0")
    expect(result.stop).toEqual({ reason: "PageNumber", offset: frameOffset(4096, k), index: k })
    expect(result.frames.length + result.uncommitted).toBe(k)
  })

  it("big-endian checksums (magic 0x377f0683), re-checksummed here: SQLite and the decoder agree", () => {
    // SQLite writes its native order, little-endian on this machine; the big-endian log is made by
    // recomputing the header's and every frame's checksum with big-endian words (code below, not
    // the module's), and SQLite's own reading of it is the proof.
    for (const pageSize of [1024, 65536]) {
      const made = make(pageSize, workload)
      const big = { ...made, wal: toBigEndian(made.wal, pageSize) }
      const header = parseHeader(big.wal)
      expect(header.bigEndianChecksum).toBe(true)
      const { result, applied } = proveAgainstSqlite(big, `big-endian, page size ${pageSize}`)
      expect(result.stop).toBeUndefined()
      expect(result.frames.length).toBe(frameCount(made))
      same(applied, apply(made.base, committedFrames(made.wal)), "big-endian vs little-endian")
      // The little-endian checksums do not pass as big-endian ones.
      const wrong = made.wal.slice()
      Buffer.from(wrong.buffer).writeUInt32BE(0x377f0683, 0)
      expect(reasonOf(() => parseHeader(wrong))).toBe("HeaderChecksum")
    }
  })
})

/**
 * A copy of a WAL with its header's and every frame's checksum recomputed here (not by the module),
 * with magic 0x377f0683 and big-endian words if `bigEndian`, after `edit` changed the bytes.
 */
const rechecksum = (wal: Uint8Array, pageSize: number, bigEndian: boolean, edit?: (bytes: Buffer) => void): Uint8Array => {
  const out = Buffer.from(wal.slice())
  edit?.(out)
  const word = (i: number) => (bigEndian ? out.readUInt32BE(i) : out.readUInt32LE(i))
  const sum = (from: number, to: number, s: [number, number]) => {
    for (let i = from; i < to; i += 8) {
      s[0] = (s[0] + word(i) + s[1]) >>> 0
      s[1] = (s[1] + word(i + 4) + s[0]) >>> 0
    }
  }
  out.writeUInt32BE(bigEndian ? 0x377f0683 : 0x377f0682, 0)
  const s: [number, number] = [0, 0]
  sum(0, 24, s)
  out.writeUInt32BE(s[0], 24)
  out.writeUInt32BE(s[1], 28)
  for (let at = 32; at + 24 + pageSize <= out.length; at += 24 + pageSize) {
    sum(at, at + 8, s)
    sum(at + 24, at + 24 + pageSize, s)
    out.writeUInt32BE(s[0], at + 16)
    out.writeUInt32BE(s[1], at + 20)
  }
  return new Uint8Array(out)
}

const toBigEndian = (wal: Uint8Array, pageSize: number) => rechecksum(wal, pageSize, true)

const reasonOf = (f: () => unknown): WalErrorReason => {
  try {
    f()
  } catch (error) {
    expect(error).toBeInstanceOf(WalError)
    return (error as WalError).reason
  }
  throw new Error("expected a WalError, nothing was thrown")
}

describe("WAL header and reader", () => {
  const made = make(4096, (db) => insert(db, 1, 20))

  it("parseHeader reads SQLite's header and names each fault", () => {
    const header = parseHeader(made.wal)
    const view = Buffer.from(made.wal)
    expect(header).toEqual({
      bigEndianChecksum: false,
      version: 3007000,
      pageSize: 4096,
      checkpointSequence: view.readUInt32BE(12),
      salt1: view.readUInt32BE(16),
      salt2: view.readUInt32BE(20),
      checksum1: view.readUInt32BE(24),
      checksum2: view.readUInt32BE(28)
    })
    expect(checksum(made.wal.subarray(0, 24), false)).toEqual([header.checksum1, header.checksum2])
    const patched = (at: number, value: number) => {
      const copy = Buffer.from(made.wal.slice(0, 32))
      copy.writeUInt32BE(value, at)
      return new Uint8Array(copy)
    }
    expect(reasonOf(() => parseHeader(made.wal.subarray(0, 31)))).toBe("Truncated")
    expect(reasonOf(() => parseHeader(patched(0, 0x377f0684)))).toBe("BadMagic")
    expect(reasonOf(() => parseHeader(patched(4, 3007001)))).toBe("BadVersion")
    expect(reasonOf(() => parseHeader(patched(8, 3000)))).toBe("BadPageSize")
    expect(reasonOf(() => parseHeader(patched(8, 131072)))).toBe("BadPageSize")
    expect(reasonOf(() => parseHeader(patched(12, 7)))).toBe("HeaderChecksum")
    expect(reasonOf(() => committedFrames(new Uint8Array(0)))).toBe("Truncated")
  })

  it("a header and no frame: nothing to apply; the reader says where it stands", () => {
    const result = committedFrames(made.wal.subarray(0, 32))
    expect(result).toMatchObject({ frames: [], pageCount: undefined, uncommitted: 0, stop: undefined })
    expect(result.cursor).toEqual(result.commitCursor)
    expect(result.cursor.offset).toBe(32)
  })

  it("continues across segments from a cursor, as litestream's segments of one index follow each other", () => {
    const made = make(4096, (db) => {
      for (let k = 0; k < 6; k++) insert(db, 1 + k * 50, 50)
    })
    const whole = committedFrames(made.wal)
    const n = frameCount(made)
    expect(n).toBeGreaterThan(6)
    // Segments at frame boundaries, some ending inside a transaction (its commit in the next one).
    const cuts = [0, 1, 2, Math.floor(n / 2), n - 1, n].map((k) => frameOffset(4096, k))
    let cursor: WalCursor | undefined
    const frames: Array<WalFrame> = []
    let commit: WalReader["lastCommit"]
    for (let s = 0; s < cuts.length; s++) {
      const from = s === 0 ? 0 : cuts[s - 1]!
      if (cursor) expect(cursor.offset, "the segment starts where the last one ended").toBe(from)
      const reader = new WalReader(cursor)
      frames.push(...reader.push(made.wal.subarray(from, cuts[s])))
      expect(reader.end()).toBeUndefined()
      commit = reader.lastCommit ?? commit
      cursor = reader.cursor
    }
    expect(commit?.frames).toBe(n)
    expect(commit?.pageCount).toBe(whole.pageCount)
    expect(frames.slice(0, commit!.frames).map(summary)).toEqual(whole.frames.map(summary))
    // committedFrames over the segments as chunks gives the same; over one segment alone, only
    // what that segment commits.
    const segments = cuts.map((to, s) => made.wal.subarray(s === 0 ? 0 : cuts[s - 1]!, to))
    expect(committedFrames(segments).frames.map(summary)).toEqual(whole.frames.map(summary))
    const bytes = Array.from({ length: made.wal.length }, (_, i) => made.wal.subarray(i, i + 1))
    expect(committedFrames(bytes).frames.map(summary), "one byte at a time").toEqual(whole.frames.map(summary))
    const firstHalf = committedFrames(made.wal.subarray(0, cuts[3]))
    expect(firstHalf.frames.length + firstHalf.uncommitted).toBe(Math.floor(n / 2))
    expect(firstHalf.commitCursor.frames).toBe(firstHalf.frames.length)
    expect(firstHalf.uncommitted, "the cut falls inside a transaction").toBeGreaterThan(0)
    // Its uncommitted frames are not carried over: resume from its commitCursor, re-reading them.
    const rest = committedFrames(made.wal.subarray(firstHalf.commitCursor.offset), firstHalf.commitCursor)
    expect([...firstHalf.frames, ...rest.frames].map(summary)).toEqual(whole.frames.map(summary))
    expect(rest.pageCount).toBe(whole.pageCount)
  })
})

// litestream v0.3.13 (the bundled binary): its WAL segments, read across segments with the cursor.
const litestreamBinary = (() => {
  const root = fileURLToPath(new URL("../../../node_modules/.pnpm/", import.meta.url))
  const found = fs.existsSync(root) ? fs.readdirSync(root).find((d) => d.startsWith("@flydotio+litestream-linux-x64@")) : undefined
  const bin = found && NodePath.join(root, found, "node_modules/@flydotio/litestream-linux-x64/litestream")
  return bin && fs.existsSync(bin) ? bin : undefined
})()

describe.skipIf(litestreamBinary === undefined)("WAL segments written by litestream v0.3.13", () => {
  it("snapshot + segments of index 0, read segment after segment, equal litestream restore's file", async () => {
    const db = fresh("app.db")
    const replica = fresh("replica")
    const conn = new Database(db)
    conn.pragma("journal_mode = WAL")
    conn.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, blob BLOB)")
    insert(conn, 1, 100)
    const child = spawn(litestreamBinary!, ["replicate", db, `file://${replica}`], { stdio: "ignore" })
    const segments = () => listFiles(replica).filter((f) => f.endsWith(".wal.lz4")).sort()
    const waitFor = async (test: () => boolean, what: string) => {
      const deadline = Date.now() + 30_000
      while (!test()) {
        if (Date.now() > deadline) throw new Error(`litestream: no ${what} in 30 s`)
        await new Promise((r) => setTimeout(r, 100))
      }
    }
    try {
      await waitFor(() => segments().length >= 1 && listFiles(replica).some((f) => f.endsWith(".snapshot.lz4")), "snapshot")
      // Each write, once litestream has synced it, adds a segment at the next offset of index 0.
      for (let round = 0; round < 3; round++) {
        const before = segments().length
        insert(conn, 1000 + round * 100, 40, 3000)
        await waitFor(() => segments().length > before, `segment ${before + 1}`)
      }
      await new Promise((r) => setTimeout(r, 300))
    } finally {
      child.kill("SIGTERM")
      await new Promise((r) => (child.exitCode === null ? child.once("exit", r) : r(undefined)))
      conn.close()
    }
    const files = segments()
    const index0 = files.filter((f) => NodePath.basename(f).startsWith("00000000_"))
    expect(index0.length, files.join(", ")).toBeGreaterThanOrEqual(3)
    const snapshot = decodeFrame(read(listFiles(replica).find((f) => f.endsWith(".snapshot.lz4"))!))

    // Every index's segments, in offset order, each continuing from where the last one ended.
    const indexes = [...new Set(files.map((f) => NodePath.basename(f).slice(0, 8)))].sort()
    let database = snapshot
    for (const index of indexes) {
      let cursor: WalCursor | undefined
      const frames: Array<WalFrame> = []
      let pageCount: number | undefined
      const base = database
      for (const path of files.filter((f) => NodePath.basename(f).startsWith(`${index}_`))) {
        const offset = parseInt(NodePath.basename(path).slice(9, 17), 16)
        const bytes = decodeFrame(read(path))
        if (offset === 0) expect(cursor).toBeUndefined()
        else expect(cursor?.offset, `${NodePath.basename(path)} continues the last segment`).toBe(offset)
        const part = committedFrames(bytes, cursor)
        expect(part.stop, NodePath.basename(path)).toBeUndefined()
        expect(part.uncommitted, "litestream's segments hold whole transactions").toBe(0)
        frames.push(...part.frames)
        pageCount = part.pageCount ?? pageCount
        cursor = part.cursor
      }
      database = apply(base, {
        header: cursor!.header,
        frames,
        pageCount,
        commitCursor: cursor!,
        cursor: cursor!,
        uncommitted: 0,
        stop: undefined
      })
    }
    const output = fresh("restored.db")
    execFileSync(litestreamBinary!, ["restore", "-o", output, `file://${replica}`], { stdio: "ignore" })
    same(database, read(output), "snapshot + decoded segments vs litestream restore")
    expect(inspect(database)).toEqual({ integrity: "ok", rows: 220 })
  })
})

const listFiles = (root: string): Array<string> => {
  if (!fs.existsSync(root)) return []
  return fs.readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => NodePath.join(e.parentPath, e.name))
}
