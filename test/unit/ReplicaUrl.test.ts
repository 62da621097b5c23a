import { ReplicaUrl } from "@effect-litestream/core"
import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"

const accepted = (input: string): ReplicaUrl.ReplicaUrl => {
  const result = ReplicaUrl.parse(input)
  if (Either.isLeft(result)) throw new Error(`expected ${input} to be accepted, got: ${result.left.message}`)
  return result.right
}

const refused = (input: string): ReplicaUrl.InvalidReplicaUrl => {
  const result = ReplicaUrl.parse(input)
  if (Either.isRight(result)) throw new Error(`expected ${input} to be refused, got ${JSON.stringify(result.right)}`)
  return result.left
}

describe("ReplicaUrl.parse: accepted forms", () => {
  it("s3://bucket/path is an AWS bucket, no endpoint", () => {
    expect(accepted("s3://my-bucket/backups/db")).toEqual({
      _tag: "S3",
      url: "s3://my-bucket/backups/db",
      bucket: "my-bucket",
      path: "backups/db",
      endpoint: undefined
    })
  })

  it("trims slashes around the path and whitespace around the URL", () => {
    const replica = accepted("  s3://backups/db/  ")
    expect(replica).toMatchObject({ _tag: "S3", bucket: "backups", path: "db", url: "s3://backups/db/" })
  })

  it("s3://bucket with no path is the bucket's root", () => {
    expect(accepted("s3://backups")).toMatchObject({ _tag: "S3", bucket: "backups", path: "" })
  })

  it("s3://BUCKET.localhost:PORT/path means a local S3 server at http://localhost:PORT", () => {
    expect(accepted("s3://backups.localhost:39531/db")).toEqual({
      _tag: "S3",
      url: "s3://backups.localhost:39531/db",
      bucket: "backups",
      path: "db",
      endpoint: "http://localhost:39531"
    })
  })

  it("s3://BUCKET.localhost/path without a port is http://localhost", () => {
    expect(accepted("s3://backups.localhost/db")).toMatchObject({ bucket: "backups", endpoint: "http://localhost" })
  })

  it("file:///absolute/path is a local folder", () => {
    expect(accepted("file:///var/backups/db")).toEqual({ _tag: "File", url: "file:///var/backups/db", path: "/var/backups/db" })
    expect(accepted("file:///var/backups/db/")).toMatchObject({ _tag: "File", path: "/var/backups/db" })
  })

  it("file:// decodes percent-escapes in the path", () => {
    expect(accepted("file:///var/my%20backups/db")).toMatchObject({ _tag: "File", path: "/var/my backups/db" })
  })

  it("gs://, abs:// and sftp:// are passed through", () => {
    expect(accepted("gs://bucket/db")).toEqual({ _tag: "Other", url: "gs://bucket/db", scheme: "gs" })
    expect(accepted("abs://container/db")).toEqual({ _tag: "Other", url: "abs://container/db", scheme: "abs" })
    expect(accepted("sftp://host:2222/backups/db")).toEqual({
      _tag: "Other",
      url: "sftp://host:2222/backups/db",
      scheme: "sftp"
    })
  })

  it("only s3 requires credentials", () => {
    expect(ReplicaUrl.requiresCredentials(accepted("s3://backups/db"))).toBe(true)
    expect(ReplicaUrl.requiresCredentials(accepted("file:///var/backups/db"))).toBe(false)
    expect(ReplicaUrl.requiresCredentials(accepted("gs://bucket/db"))).toBe(false)
  })
})

describe("ReplicaUrl.parse: refused forms, with the rule and the fix", () => {
  const cases: Array<{ name: string; input: string; rule: RegExp; fix: RegExp }> = [
    { name: "empty", input: "", rule: /empty/, fix: /s3:\/\/my-bucket/ },
    { name: "blank", input: "   ", rule: /empty/, fix: /file:\/\/\// },
    { name: "not a URL", input: "my-bucket/db", rule: /not a URL/, fix: /s3:\/\/my-bucket\/backups\/db/ },
    { name: "bucket-less s3:///path", input: "s3:///db", rule: /needs a bucket/, fix: /s3:\/\/BUCKET\/path/ },
    { name: "bare s3://", input: "s3://", rule: /needs a bucket/, fix: /s3:\/\/BUCKET\/path/ },
    { name: "uppercase bucket", input: "s3://My_Bucket/db", rule: /not a valid S3 bucket name/, fix: /exact name/ },
    { name: "too short a bucket", input: "s3://ab/db", rule: /"ab" is not a valid S3 bucket name/, fix: /s3:\/\/my-bucket/ },
    {
      name: "port on a non-localhost host",
      input: "s3://minio.example.com:9000/db",
      rule: /port is only understood for BUCKET\.localhost:PORT/,
      fix: /s3:\/\/BUCKET\.localhost:PORT\/path/
    },
    {
      name: "port on a plain bucket",
      input: "s3://backups:9000/db",
      rule: /port/,
      fix: /BUCKET\.localhost:PORT/
    },
    {
      name: "credentials in the URL",
      input: "s3://AKIAEXAMPLE:hunter2secret@backups/db",
      rule: /contains credentials/,
      fix: /LITESTREAM_ACCESS_KEY_ID \/ LITESTREAM_SECRET_ACCESS_KEY/
    },
    { name: "user only in the URL", input: "s3://someone@backups/db", rule: /contains credentials/, fix: /remove them/ },
    { name: "query string", input: "s3://backups/db?endpoint=http://minio:9000", rule: /query or fragment.*ignores/, fix: /'\?'/ },
    { name: "fragment", input: "s3://backups/db#x", rule: /query or fragment/, fix: /'#'/ },
    { name: "file://relative", input: "file://relative/path", rule: /absolute local path/, fix: /three slashes/ },
    { name: "file:/// root", input: "file:///", rule: /root folder/, fix: /file:\/\/\/var\/backups\/db/ },
    { name: "gs:// without bucket", input: "gs:///db", rule: /gs:\/\/ URL needs a host or bucket/, fix: /gs:\/\/BUCKET\/path/ },
    { name: "unknown scheme", input: "http://backups/db", rule: /"http:\/\/" is not a replica scheme/, fix: /s3:\/\// },
    { name: "unknown scheme ftp", input: "ftp://host/db", rule: /s3, file, gs, abs, sftp/, fix: /file:\/\/\// }
  ]
  for (const c of cases) {
    it(c.name, () => {
      const error = refused(c.input)
      expect(error._tag).toBe("InvalidReplicaUrl")
      expect(error.rule).toMatch(c.rule)
      expect(error.fix).toMatch(c.fix)
      expect(error.message).toBe(`${error.rule}. Fix: ${error.fix}`)
    })
  }

  it("never repeats the credentials of a refused URL", () => {
    const error = refused("s3://AKIAEXAMPLE:hunter2secret@backups/db")
    expect(error.message).not.toContain("hunter2secret")
    expect(JSON.stringify(error)).not.toContain("hunter2secret")
  })
})

describe("ReplicaUrl.ReplicaUrlFromString", () => {
  it("decodes to the parsed replica and encodes back to the string", () => {
    const replica = Schema.decodeUnknownSync(ReplicaUrl.ReplicaUrlFromString)("s3://backups.localhost:9000/db")
    expect(replica).toMatchObject({ _tag: "S3", endpoint: "http://localhost:9000" })
    expect(Schema.encodeSync(ReplicaUrl.ReplicaUrlFromString)(replica)).toBe("s3://backups.localhost:9000/db")
  })

  it("fails with the rule and the fix", () => {
    const result = Schema.decodeUnknownEither(ReplicaUrl.ReplicaUrlFromString)("s3://ab/db")
    expect(Either.isLeft(result)).toBe(true)
    if (Either.isLeft(result)) expect(result.left.message).toMatch(/not a valid S3 bucket name.*Fix: /s)
  })
})
