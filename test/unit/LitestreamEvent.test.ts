import { LitestreamEvent } from "@effect-litestream/core"
import { describe, expect, it } from "@effect/vitest"
import * as Option from "effect/Option"
import { json, logfmt, plain } from "../support/LogLines.js"

const position = (generation: string, index: number, offset: number) =>
  Option.some(new LitestreamEvent.Position({ generation, index, offset }))

describe("LitestreamEvent.parse: plain text (litestream replicate DB URL, stderr)", () => {
  it("Started", () => {
    expect(LitestreamEvent.parse(plain.version)).toEqual({ _tag: "Started", version: "v0.3.13" })
  })

  it("DatabaseInitialized", () => {
    expect(LitestreamEvent.parse(plain.initialized)).toEqual({ _tag: "DatabaseInitialized", db: "/tmp/probe/d/db.sqlite" })
  })

  it("ReplicatingTo", () => {
    expect(LitestreamEvent.parse(plain.replicating)).toEqual({ _tag: "ReplicatingTo", replica: "s3", type: "s3" })
  })

  it("ShuttingDown and Stopped", () => {
    expect(LitestreamEvent.parse(plain.signal)).toEqual({ _tag: "ShuttingDown" })
    expect(LitestreamEvent.parse(plain.shutDown)).toEqual({ _tag: "Stopped" })
  })

  it("ReplicaErrorLogged: the error unescaped, newline included", () => {
    expect(LitestreamEvent.parse(plain.monitorError)).toEqual({
      _tag: "ReplicaErrorLogged",
      db: "/tmp/probe/d/db.sqlite",
      replica: "s3",
      message: "monitor error",
      error: "cannot determine replica position: max wal segment: RequestCanceled: request context canceled\ncaused by: context canceled"
    })
  })

  it("failed to run (no db, no replica): Other ERROR with its error attribute", () => {
    expect(LitestreamEvent.parse(plain.noBackups)).toEqual({
      _tag: "Other",
      level: "ERROR",
      message: "failed to run",
      attributes: { error: "no matching backups found" }
    })
    expect(LitestreamEvent.parse(plain.noBucket)).toEqual({
      _tag: "Other",
      level: "ERROR",
      message: "failed to run",
      attributes: {
        error:
          "cannot fetch generations: NoSuchBucket: The specified bucket does not exist: nobucket\n\tstatus code: 404, request id: DB25896AD0B14810, host id: fauxqs"
      }
    })
  })

  it("parseRecord keeps the time, level, message and every attribute", () => {
    expect(LitestreamEvent.parseRecord(plain.replicating)).toEqual(Option.some({
      time: "2026/11/25 17:19:55",
      level: "INFO",
      message: "replicating to",
      attributes: {
        name: "s3",
        type: "s3",
        "sync-interval": "1s",
        bucket: "backups",
        path: "db",
        region: "us-east-1",
        endpoint: "http://localhost:39531"
      }
    }))
  })
})

describe("LitestreamEvent.parse: logfmt (-config, stdout)", () => {
  it("Started", () => {
    expect(LitestreamEvent.parse(logfmt.version)).toEqual({ _tag: "Started", version: "v0.3.13" })
  })

  it("DatabaseInitialized, quoted message", () => {
    expect(LitestreamEvent.parse(logfmt.initialized)).toEqual({ _tag: "DatabaseInitialized", db: "/tmp/probe/f/db.sqlite" })
  })

  it("ReplicatingTo", () => {
    expect(LitestreamEvent.parse(logfmt.replicating)).toEqual({ _tag: "ReplicatingTo", replica: "file", type: "file" })
    expect(Option.getOrThrow(LitestreamEvent.parseRecord(logfmt.replicating))).toEqual({
      time: "2026-11-25T17:23:38.455Z",
      level: "INFO",
      message: "replicating to",
      attributes: { name: "file", type: "file", "sync-interval": "100ms", path: "/tmp/probe/f/rep" }
    })
  })

  it("ShuttingDown", () => {
    expect(LitestreamEvent.parse(logfmt.signal)).toEqual({ _tag: "ShuttingDown" })
  })
})

describe("LitestreamEvent.parse: JSON (logging: {type: json, stderr: true})", () => {
  it("Started", () => {
    expect(LitestreamEvent.parse(json.version)).toEqual({ _tag: "Started", version: "v0.3.13" })
  })

  it("ReplicaPositionFound from 'replica sync: calc new pos' (debug)", () => {
    expect(LitestreamEvent.parse(json.calcNewPos)).toEqual({
      _tag: "ReplicaPositionFound",
      db: "/tmp/probe/f/db.sqlite",
      replica: "file",
      position: position("b59d6f08a3825659", 0, 16512)
    })
  })

  it("an unknown message is kept as Other, objects as JSON text", () => {
    expect(LitestreamEvent.parse(json.sync)).toEqual({
      _tag: "Other",
      level: "DEBUG",
      message: "sync",
      attributes: { db: "/tmp/probe/f/db.sqlite", info: "{}" }
    })
  })

  it("Stopped", () => {
    expect(LitestreamEvent.parse(json.shutDown)).toEqual({ _tag: "Stopped" })
  })

  it("an ERROR for a replica is ReplicaErrorLogged", () => {
    const line = JSON.stringify({
      time: "2026-11-25T17:24:20Z",
      level: "ERROR",
      msg: "monitor error",
      db: "/tmp/probe/f/db.sqlite",
      replica: "s3",
      error: "dial tcp 127.0.0.1:1: connect: connection refused"
    })
    expect(LitestreamEvent.parse(line)).toEqual({
      _tag: "ReplicaErrorLogged",
      db: "/tmp/probe/f/db.sqlite",
      replica: "s3",
      message: "monitor error",
      error: "dial tcp 127.0.0.1:1: connect: connection refused"
    })
  })

  it("the three formats of one event parse alike", () => {
    const events = [plain.version, logfmt.version, json.version].map(LitestreamEvent.parse)
    expect(new Set(events.map((e) => JSON.stringify(e))).size).toBe(1)
  })
})

/** The replication events plain text and JSON both carry, with what each line holds. */
const replicationEvents = [
  {
    format: "plain text",
    lines: plain,
    db: "/tmp/probe/d/db.sqlite",
    replica: "s3",
    generation: "46ba75524e5005af",
    snapshotMillis: 16.006805,
    walMillis: 2.115534
  },
  {
    format: "JSON",
    lines: json,
    db: "/tmp/probe/f/db.sqlite",
    replica: "file",
    generation: "b59d6f08a3825659",
    snapshotMillis: 10.689475,
    walMillis: 1.427188
  }
] as const

describe.each(replicationEvents)(
  "LitestreamEvent.parse: $format, replication events",
  ({ db, generation, lines, replica, snapshotMillis, walMillis }) => {
    it("NewGeneration, with a quoted reason", () => {
      expect(LitestreamEvent.parse(lines.generation)).toEqual({
        _tag: "NewGeneration",
        db,
        generation,
        reason: "no generation exists"
      })
    })

    const written = (_tag: string, offset: number, elapsedMillis: number, size: number) => ({
      _tag,
      db,
      replica,
      position: position(generation, 0, offset),
      elapsedMillis,
      size
    })

    // Plain text writes the size as text, JSON as a number; both write elapsed as a Go duration string.
    it("SnapshotWritten: position, elapsed in ms, size", () => {
      expect(LitestreamEvent.parse(lines.snapshot)).toEqual(written("SnapshotWritten", 16512, snapshotMillis, 353))
    })

    it("WalSegmentWritten", () => {
      expect(LitestreamEvent.parse(lines.wal)).toEqual(written("WalSegmentWritten", 0, walMillis, 16512))
    })
  }
)

describe("LitestreamEvent.parse: junk", () => {
  const junk = [
    "",
    "   ",
    "flag provided but not defined: -v",
    "Usage of restore:",
    "  -o string",
    "panic: runtime error: index out of range [3] with length 3",
    "{not json",
    "{\"level\":\"INFO\"}",
    "{\"level\":\"TRACE\",\"msg\":\"x\"}",
    "[1, 2, 3]",
    "time=2026-11-25T17:23:38.455Z level=NOPE msg=x",
    "time=2026-11-25T17:23:38.455Z level=INFO",
    "time=2026-11-25T17:23:38.455Z level=INFO msg=\"unterminated",
    "2026/11/25 17:19:55 TRACE something",
    "2026-11-25 17:19:55 INFO wrong date format"
  ]
  for (const line of junk) {
    it(`Unparsed: ${JSON.stringify(line)}`, () => {
      expect(LitestreamEvent.parse(line)).toEqual({ _tag: "Unparsed", line })
      expect(Option.isNone(LitestreamEvent.parseRecord(line))).toBe(true)
    })
  }

  it("a plain line without attributes keeps the whole message", () => {
    expect(LitestreamEvent.parse("2026/11/25 17:19:55 WARN something odd happened")).toEqual({
      _tag: "Other",
      level: "WARN",
      message: "something odd happened",
      attributes: {}
    })
  })
})

describe("LitestreamEvent.parseGoDuration", () => {
  const cases: Array<[string | undefined, number | undefined]> = [
    ["10.689475ms", 10.689475],
    ["16.006805ms", 16.006805],
    ["1s", 1000],
    ["1.5s", 1500],
    ["1m2s", 62000],
    ["1h0m0s", 3_600_000],
    ["2m", 120_000],
    ["500us", 0.5],
    ["500µs", 0.5],
    ["1500000", 1.5],
    ["0", 0],
    [undefined, undefined],
    ["", undefined],
    ["abc", undefined],
    ["10ms garbage", undefined],
    ["-5ms", undefined],
    ["5 ms", undefined]
  ]
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input)} -> ${expected}`, () => {
      const result = LitestreamEvent.parseGoDuration(input)
      if (expected === undefined) expect(result).toBeUndefined()
      else expect(result).toBeCloseTo(expected, 9)
    })
  }

  it("nanoseconds", () => {
    expect(LitestreamEvent.parseGoDuration("100ns")).toBeCloseTo(0.0001, 12)
  })
})

describe("LitestreamEvent.parsePosition", () => {
  it("parses generation, hex index and offset", () => {
    expect(LitestreamEvent.parsePosition("b59d6f08a3825659/00000000:16512")).toEqual(position("b59d6f08a3825659", 0, 16512))
    expect(LitestreamEvent.parsePosition("46ba75524e5005af/0000001f:0")).toEqual(position("46ba75524e5005af", 31, 0))
  })

  it("prints back as litestream does", () => {
    for (const s of ["b59d6f08a3825659/00000000:16512", "46ba75524e5005af/0000001f:0", "46ba75524e5005af/000000ff:4152"]) {
      expect(String(Option.getOrThrow(LitestreamEvent.parsePosition(s)))).toBe(s)
    }
  })

  it("refuses anything else", () => {
    for (const s of ["", "b59d6f08a3825659", "b59d6f08a3825659/0:1", "b59d6f08a3825659/00000000:", "XYZ/00000000:1", "b59d6f08a3825659/00000000:16512 "]) {
      expect(Option.isNone(LitestreamEvent.parsePosition(s))).toBe(true)
    }
  })
})

describe("litestream v0.5's records (0.5.17, JSON)", () => {
  it("ltx file uploaded and compaction complete are typed; a replica sync stays Other with its TXIDs", () => {
    const uploaded = LitestreamEvent.parse(
      `{"time":"2026-12-01T12:26:40.05054449Z","level":"DEBUG","msg":"ltx file uploaded","system":"store","db":"app.db","replica":"file","level":0,"minTXID":"0000000000000001","maxTXID":"0000000000000001","size":566}`
    )
    expect(uploaded).toEqual({ _tag: "LtxFileUploaded", db: "app.db", replica: "file", level: 0, minTxid: "0000000000000001", maxTxid: "0000000000000001", size: 566 })
    const compacted = LitestreamEvent.parse(
      `{"time":"2026-12-01T12:26:40.947438105Z","level":"INFO","msg":"compaction complete","system":"store","db":"app.db","level":1,"txid":{"min":"0000000000000001","max":"0000000000000002"},"size":566}`
    )
    expect(compacted).toEqual({ _tag: "CompactionComplete", db: "app.db", level: 1, minTxid: "0000000000000001", maxTxid: "0000000000000002", size: 566 })
    const sync = LitestreamEvent.parse(
      `{"time":"2026-12-01T12:26:40.049825592Z","level":"DEBUG","msg":"replica sync","system":"store","db":"app.db","replica":"file","txid":{"replica":"0000000000000000","db":"0000000000000001"}}`
    )
    expect(sync).toMatchObject({ _tag: "Other", message: "replica sync", attributes: { txid: `{"replica":"0000000000000000","db":"0000000000000001"}` } })
    // a compaction record without its TXID range is kept, not dropped
    const odd = LitestreamEvent.parse(`{"time":"2026-12-01T12:26:40Z","level":"INFO","msg":"compaction complete","db":"app.db","level":1}`)
    expect(odd._tag).toBe("Other")
  })
})
