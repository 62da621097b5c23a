import { describe, expect, it } from "@effect/vitest"
import * as classify from "../../packages/core/src/internal/classify.js"

const REPLICA = "s3://backups.localhost:39531/db"
const plain = (text: string) => `2026/11/25 17:21:03 ${text}`

describe("internal/classify.errorText", () => {
  it("takes the error attribute of a log line, unescaped", () => {
    expect(classify.errorText(plain(String.raw`ERROR failed to run error="no matching backups found"`))).toBe(
      "no matching backups found"
    )
    expect(
      classify.errorText(
        String
          .raw`{"time":"2026-11-25T17:24:20Z","level":"ERROR","msg":"monitor error","db":"/d/db.sqlite","replica":"s3","error":"a\nb"}`
      )
    ).toBe("a\nb")
  })

  it("falls back to the message, then to the line", () => {
    expect(classify.errorText(plain("ERROR something broke"))).toBe("something broke")
    expect(classify.errorText("flag provided but not defined: -v")).toBe("flag provided but not defined: -v")
  })
})

describe("internal/classify.replicaProblem", () => {
  it("recognises denied credentials", () => {
    for (
      const detail of [
        "AccessDenied: Access Denied",
        "InvalidAccessKeyId: The AWS Access Key Id you provided does not exist",
        "SignatureDoesNotMatch: bad",
        "NoCredentialProviders: no valid providers in chain",
        "cannot fetch generations: Forbidden\n\tstatus code: 403"
      ]
    ) {
      expect(classify.replicaProblem(REPLICA, detail)).toMatchObject({
        _tag: "ReplicaAccessDenied",
        replica: REPLICA,
        detail: detail.split("\n").map((l) => l.trim()).join("; ")
      })
    }
  })

  it("recognises an unreachable replica", () => {
    for (
      const detail of [
        "dial tcp 127.0.0.1:1: connect: connection refused",
        "dial tcp: lookup nowhere.invalid: no such host",
        "RequestError: send request failed",
        "NoSuchBucket: The specified bucket does not exist",
        "read tcp 127.0.0.1:5->127.0.0.1:6: i/o timeout"
      ]
    ) {
      expect(classify.replicaProblem(REPLICA, detail)).toMatchObject({ _tag: "ReplicaUnreachable", replica: REPLICA })
    }
  })

  it("leaves other errors alone", () => {
    expect(classify.replicaProblem(REPLICA, "disk quota exceeded")).toBeUndefined()
  })
})

describe("internal/classify.failure", () => {
  it("the latest known error wins", () => {
    const lines = [
      plain(String.raw`ERROR monitor error db=/d replica=s3 error="dial tcp 127.0.0.1:1: connect: connection refused"`),
      plain(String.raw`ERROR failed to run error="cannot fetch generations: AccessDenied: Access Denied\n\tstatus code: 403"`)
    ]
    expect(classify.failure("restore", REPLICA, 1, lines)).toMatchObject({ _tag: "ReplicaAccessDenied" })
  })

  it("a full disk: LocalFileError, reason NoSpace, the path Go's error names", () => {
    const line = plain(
      String.raw`ERROR failed to run error="cannot restore snapshot: write /data/.effect-litestream-restore-ab12cd34.tmp: no space left on device"`
    )
    const error = classify.failure("restore", REPLICA, 1, [line])
    expect(error).toMatchObject({
      _tag: "LocalFileError",
      reason: "NoSpace",
      operation: "write",
      path: "/data/.effect-litestream-restore-ab12cd34.tmp"
    })
    expect(error.message).toContain("Fix: free space on the device that holds /data/")
    // a quota is as full as a disk
    expect(classify.failure("replicate", REPLICA, 1, [plain(`ERROR sync error="open /d/x-wal: disk quota exceeded"`)]))
      .toMatchObject({ _tag: "LocalFileError", reason: "NoSpace", operation: "open", path: "/d/x-wal" })
  })

  it("no backups, output exists", () => {
    expect(classify.failure("restore", REPLICA, 1, [plain(`ERROR failed to run error="no matching backups found"`)]))
      .toMatchObject({ _tag: "NoBackupsFound", replica: REPLICA })
    expect(
      classify.failure("restore", REPLICA, 1, [
        plain(`ERROR failed to run error="cannot restore, output path already exists: /srv/db.sqlite"`)
      ])
    ).toMatchObject({ _tag: "OutputExists", path: "/srv/db.sqlite" })
  })

  it("ignores what is not an ERROR line", () => {
    const lines = [plain("INFO retrying after connection refused"), "usage: litestream restore"]
    expect(classify.failure("restore", REPLICA, 2, lines)).toMatchObject({
      _tag: "LitestreamFailed",
      operation: "restore",
      exitCode: 2,
      stderr: lines
    })
  })

  it("keeps the last 10 lines", () => {
    const lines = Array.from({ length: 25 }, (_, i) => `line ${i}`)
    const error = classify.failure("replicate", REPLICA, 1, lines)
    expect(error).toMatchObject({ _tag: "LitestreamFailed", stderr: lines.slice(-10) })
  })
})
