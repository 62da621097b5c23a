/**
 * Masking credentials in litestream's output (issue 11): the secret everywhere, the access key id
 * only as a whole token, and a secret too short to mask safely refused as a settings error.
 */
import { LitestreamCommand, LitestreamConfig } from "@effect-litestream/core"
import * as NodePathLayer from "@effect/platform-node/NodePath"
import { describe, expect, it } from "vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as fs from "node:fs"
import * as NodePath from "node:path"
import * as Sqlite from "../support/Sqlite.js"
import { ensureBuilt, start, tempDir } from "./support.js"

const resolve = (input: LitestreamConfig.Input) =>
  Effect.runSync(LitestreamConfig.make(input).pipe(Effect.provide(NodePathLayer.layer)))

const SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYMASKTEST1"

describe("masking", () => {
  it("a one-letter access key id is masked only where it stands alone", () => {
    const mask = LitestreamCommand.masker(resolve({ replicaUrl: "s3://bucket/db", accessKeyId: "x", secretAccessKey: SECRET }))
    // the line litestream printed when LITESTREAM_ACCESS_KEY_ID=x garbled it
    const line = "new generation: generation=8f1c0b2a name=db.sqlite reason=\"no generation exists\""
    expect(mask(line)).toBe(line)
    expect(mask("access key x refused")).toBe("access key <redacted> refused")
    expect(mask("key=x,")).toBe("key=<redacted>,")
    expect(mask("Credential=x/20261201/us-east-1")).toBe("Credential=<redacted>/20261201/us-east-1")
    // letters and digits of any script count as part of a word
    expect(mask("éxé 9x9")).toBe("éxé 9x9")
  })

  it("a real-looking key id: whole tokens only, also in its escaped forms", () => {
    const keyId = "AKIAMASKTEST00000001"
    const mask = LitestreamCommand.masker(resolve({ replicaUrl: "s3://bucket/db", accessKeyId: keyId, secretAccessKey: SECRET }))
    expect(mask(`InvalidAccessKeyId: ${keyId} does not exist`)).toBe("InvalidAccessKeyId: <redacted> does not exist")
    expect(mask(`"${keyId}"`)).toBe(`"<redacted>"`)
    expect(mask(`${keyId}X`)).toBe(`${keyId}X`)
  })

  it("the secret is masked everywhere, inside words too, in every form", () => {
    const mask = LitestreamCommand.masker(resolve({ replicaUrl: "s3://bucket/db", accessKeyId: "x", secretAccessKey: SECRET }))
    expect(mask(`abc${SECRET}def`)).toBe("abc<redacted>def")
    expect(mask(`sig=${encodeURIComponent(SECRET)}&xs`)).toBe("sig=<redacted>&xs")
    expect(mask(JSON.stringify({ error: `bad ${SECRET}` }))).toBe(`{"error":"bad <redacted>"}`)
    // the longer secret wins where it contains the key id
    const withKey = LitestreamCommand.masker(
      resolve({ replicaUrl: "s3://bucket/db", accessKeyId: "K7MDENG", secretAccessKey: SECRET })
    )
    expect(withKey(`${SECRET} K7MDENG`)).toBe("<redacted> <redacted>")
  })

  it("a secret access key shorter than 8 characters is a settings error that does not echo it", () => {
    for (const replicaUrl of ["s3://bucket.localhost:9000/db", "file:///var/backups/db"]) {
      const result = LitestreamConfig.decode({ replicaUrl, accessKeyId: "AKIAMASKTEST00000001", secretAccessKey: "shh1234" })
      expect(Either.isLeft(result)).toBe(true)
      if (Either.isLeft(result)) {
        expect(result.left.issues).toEqual([{
          variable: "LITESTREAM_SECRET_ACCESS_KEY",
          rule: "must be at least 8 characters long (every provider's secret access keys are longer)",
          fix: "set LITESTREAM_SECRET_ACCESS_KEY to the secret of the bucket's credentials"
        }])
        expect(result.left.message).not.toContain("shh1234")
      }
    }
    expect(Either.isRight(LitestreamConfig.decode({ replicaUrl: "s3://bucket/db", accessKeyId: "x", secretAccessKey: "12345678" })))
      .toBe(true)
  })
})

describe("masking in the CLI", () => {
  it("replicate with LITESTREAM_ACCESS_KEY_ID=x prints litestream's words whole, the secret nowhere", async () => {
    await ensureBuilt()
    const dir = await tempDir()
    try {
      await fs.promises.mkdir(NodePath.join(dir, "data"))
      Sqlite.createDatabase(NodePath.join(dir, "data", "db.sqlite"), 20)
      const running = start(["replicate"], {
        cwd: dir,
        env: {
          LITESTREAM_ACCESS_KEY_ID: "x",
          LITESTREAM_SECRET_ACCESS_KEY: SECRET,
          REPLICA_URL: `file://${dir}/replica`,
          DB_FOLDER: NodePath.join(dir, "data")
        }
      })
      const line = await running.line((l) => l.includes("new generation"))
      expect(line).toMatch(/^replicate: db\.sqlite: new generation [0-9a-f]{16} \(no generation exists\)$/)
      await running.line((l) => l.includes("snapshot"))
      running.child.kill("SIGTERM")
      const { code, stderr, stdout } = await running.exit
      expect(code, stderr).toBe(0)
      expect(stdout + stderr).not.toContain("<redacted>")
      expect(stdout + stderr).not.toContain(SECRET)
    } finally {
      await fs.promises.rm(dir, { recursive: true, force: true })
    }
  }, 120_000)
})
