/**
 * `NodeLitestream.layerRestore`: the settings and `Restore` alone (what the command-line
 * program's `restore` runs on), with the same service as `layer` builds: through litestream, and
 * natively with or without the LZ4 worker threads; nothing else is built.
 */
import { LitestreamConfig, LitestreamError, ReplicaListing, Replicate, Restore, Verify } from "@effect-litestream/core"
import { NodeLitestream } from "@effect-litestream/node"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as NodePath from "node:path"
import { exists, readBytes, tempDir } from "../support/Fixtures.js"
import { dbPath, expectNoLitestream, failure, guardAgainstLeaks, once, restore, services, settings } from "../support/Harness.js"
import * as Sqlite from "../support/Sqlite.js"

guardAgainstLeaks()

const TIMEOUT = "20 seconds"

describe("NodeLitestream.layerRestore", () => {
  it.scopedLive("restores as layer's Restore does (litestream, native, native in this thread); builds no other service", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const url = `file://${NodePath.join(dir, "replica")}`
      const rows = Sqlite.createDatabase(dbPath(dir), 120)
      yield* once({ timeout: TIMEOUT }).pipe(Effect.provide(services(dir, url)))

      const variants: ReadonlyArray<[string, NodeLitestream.LayerOptions]> = [
        ["litestream", {}],
        ["litestream, replica check over Node's client", { checkClient: "node" }],
        ["native", { read: "native" }],
        ["native, blocks decoded in this thread", { read: "native", lz4Workers: false }]
      ]
      const restored: Array<Uint8Array> = []
      for (const [name, options] of variants) {
        const output = NodePath.join(dir, `${name.replace(/\W+/g, "-")}.db`)
        yield* Effect.gen(function*() {
          const result = yield* restore({ timeout: TIMEOUT, output })
          expect(result._tag, name).toBe("Restored")
          // what layerRestore does not build
          const absent: Array<readonly [string, Effect.Effect<boolean>]> = [
            ["Replicate", Effect.map(Effect.serviceOption(Replicate.Replicate), Option.isNone)],
            ["ReplicaListing", Effect.map(Effect.serviceOption(ReplicaListing.ReplicaListing), Option.isNone)],
            ["Verify", Effect.map(Effect.serviceOption(Verify.Verify), Option.isNone)]
          ]
          for (const [tag, isAbsent] of absent) expect(yield* isAbsent, `${name}: ${tag}`).toBe(true)
          expect((yield* LitestreamConfig.LitestreamConfig).replica.url, name).toBe(url)
          // the same outcomes: an existing output is refused
          const error = yield* failure(restore({ timeout: TIMEOUT, output }))
          expect(error, name).toBeInstanceOf(LitestreamError.OutputExists)
        }).pipe(Effect.provide(NodeLitestream.layerRestore(settings(dir, url), options)))
        yield* expectNoLitestream
        expect(yield* exists(`${output}-wal`), name).toBe(false)
        restored.push(yield* readBytes(output))
        expect(Sqlite.readRows(output), name).toEqual(rows)
      }
      // litestream v0.3's restore is deterministic, and the native one writes the same bytes
      for (const bytes of restored.slice(1)) expect(Buffer.from(bytes).equals(Buffer.from(restored[0]!))).toBe(true)
    }))

  it.effect("a settings error is the layer's error, as with layer", () =>
    Effect.gen(function*() {
      for (const options of [{}, { read: "native" as const, lz4Workers: false }]) {
        const error = yield* Effect.flip(
          Effect.provide(Restore.Restore, NodeLitestream.layerRestore({ replicaUrl: "ftp://nowhere/db", folder: "/tmp", db: "x.db" }, options))
        )
        expect(error._tag).toBe("LitestreamConfigError")
      }
    }))
})
