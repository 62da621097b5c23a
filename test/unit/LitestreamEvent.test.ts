import { LitestreamEvent } from "@effect-litestream/core"
import { describe, expect, it } from "@effect/vitest"
import * as Option from "effect/Option"

// Real lines of litestream v0.3.13, verbatim.
const plain = {
  version: String.raw`2026/11/25 17:19:55 INFO litestream version=v0.3.13`,
  initialized: String.raw`2026/11/25 17:19:55 INFO initialized db path=/tmp/probe/d/db.sqlite`,
  replicating: String
    .raw`2026/11/25 17:19:55 INFO replicating to name=s3 type=s3 sync-interval=1s bucket=backups path=db region=us-east-1 endpoint=http://localhost:39531`,
  generation: String
    .raw`2026/11/25 17:19:56 INFO sync: new generation db=/tmp/probe/d/db.sqlite generation=46ba75524e5005af reason="no generation exists"`,
  snapshot: String
    .raw`2026/11/25 17:19:56 INFO snapshot written db=/tmp/probe/d/db.sqlite replica=s3 position=46ba75524e5005af/00000000:16512 elapsed=16.006805ms sz=353`,
  signal: String.raw`2026/11/25 17:19:56 INFO signal received, litestream shutting down`,
  monitorError: String
    .raw`2026/11/25 17:19:56 ERROR monitor error db=/tmp/probe/d/db.sqlite replica=s3 error="cannot determine replica position: max wal segment: RequestCanceled: request context canceled\ncaused by: context canceled"`,
  wal: String
    .raw`2026/11/25 17:19:56 INFO wal segment written db=/tmp/probe/d/db.sqlite replica=s3 position=46ba75524e5005af/00000000:0 elapsed=2.115534ms sz=16512`,
  shutDown: String.raw`2026/11/25 17:19:56 INFO litestream shut down`,
  noBackups: String.raw`2026/11/25 17:21:03 ERROR failed to run error="no matching backups found"`,
  noBucket: String
    .raw`2026/11/25 17:21:03 ERROR failed to run error="cannot fetch generations: NoSuchBucket: The specified bucket does not exist: nobucket\n\tstatus code: 404, request id: DB25896AD0B14810, host id: fauxqs"`
}

const logfmt = {
  version: String.raw`time=2026-11-25T17:23:38.455Z level=INFO msg=litestream version=v0.3.13`,
  initialized: String.raw`time=2026-11-25T17:23:38.455Z level=INFO msg="initialized db" path=/tmp/probe/f/db.sqlite`,
  replicating: String
    .raw`time=2026-11-25T17:23:38.455Z level=INFO msg="replicating to" name=file type=file sync-interval=100ms path=/tmp/probe/f/rep`,
  signal: String.raw`time=2026-11-25T17:23:39.904Z level=INFO msg="signal received, litestream shutting down"`
}

const json = {
  version: String.raw`{"time":"2026-11-25T17:23:36.94920104Z","level":"INFO","msg":"litestream","version":"v0.3.13"}`,
  generation: String
    .raw`{"time":"2026-11-25T17:23:37.057997364Z","level":"INFO","msg":"sync: new generation","db":"/tmp/probe/f/db.sqlite","generation":"b59d6f08a3825659","reason":"no generation exists"}`,
  snapshot: String
    .raw`{"time":"2026-11-25T17:23:37.070862677Z","level":"INFO","msg":"snapshot written","db":"/tmp/probe/f/db.sqlite","replica":"file","position":"b59d6f08a3825659/00000000:16512","elapsed":"10.689475ms","sz":353}`,
  wal: String
    .raw`{"time":"2026-11-25T17:23:37.07261384Z","level":"INFO","msg":"wal segment written","db":"/tmp/probe/f/db.sqlite","replica":"file","position":"b59d6f08a3825659/00000000:0","elapsed":"1.427188ms","sz":16512}`,
  calcNewPos: String
    .raw`{"time":"2026-11-25T17:24:19.429704184Z","level":"DEBUG","msg":"replica sync: calc new pos","db":"/tmp/probe/f/db.sqlite","replica":"file","position":"b59d6f08a3825659/00000000:16512"}`,
  sync: String.raw`{"time":"2026-11-25T17:24:19.421323531Z","level":"DEBUG","msg":"sync","db":"/tmp/probe/f/db.sqlite","info":{}}`,
  shutDown: String.raw`{"time":"2026-11-25T17:24:20.062986482Z","level":"INFO","msg":"litestream shut down"}`
}

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

  it("NewGeneration, with a quoted reason", () => {
    expect(LitestreamEvent.parse(plain.generation)).toEqual({
      _tag: "NewGeneration",
      db: "/tmp/probe/d/db.sqlite",
      generation: "46ba75524e5005af",
      reason: "no generation exists"
    })
  })

  it("SnapshotWritten: position, elapsed in ms, size", () => {
    expect(LitestreamEvent.parse(plain.snapshot)).toEqual({
      _tag: "SnapshotWritten",
      db: "/tmp/probe/d/db.sqlite",
      replica: "s3",
      position: position("46ba75524e5005af", 0, 16512),
      elapsedMillis: 16.006805,
      size: 353
    })
  })

  it("WalSegmentWritten", () => {
    expect(LitestreamEvent.parse(plain.wal)).toEqual({
      _tag: "WalSegmentWritten",
      db: "/tmp/probe/d/db.sqlite",
      replica: "s3",
      position: position("46ba75524e5005af", 0, 0),
      elapsedMillis: 2.115534,
      size: 16512
    })
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

  it("NewGeneration", () => {
    expect(LitestreamEvent.parse(json.generation)).toEqual({
      _tag: "NewGeneration",
      db: "/tmp/probe/f/db.sqlite",
      generation: "b59d6f08a3825659",
      reason: "no generation exists"
    })
  })

  it("SnapshotWritten: numeric size, string duration", () => {
    expect(LitestreamEvent.parse(json.snapshot)).toEqual({
      _tag: "SnapshotWritten",
      db: "/tmp/probe/f/db.sqlite",
      replica: "file",
      position: position("b59d6f08a3825659", 0, 16512),
      elapsedMillis: 10.689475,
      size: 353
    })
  })

  it("WalSegmentWritten", () => {
    expect(LitestreamEvent.parse(json.wal)).toEqual({
      _tag: "WalSegmentWritten",
      db: "/tmp/probe/f/db.sqlite",
      replica: "file",
      position: position("b59d6f08a3825659", 0, 0),
      elapsedMillis: 1.427188,
      size: 16512
    })
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
