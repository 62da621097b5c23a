/**
 * What every integration test shares: fake credentials with a distinctive secret, the services
 * on the real litestream binary, and the checks that run after each operation (no litestream
 * left running, no secret in any error).
 */
import type { LitestreamConfig, Replicate as ReplicateModule, Restore as RestoreModule } from "@effect-litestream/core"
import { Replicate, Restore } from "@effect-litestream/core"
import { NodeLitestream } from "@effect-litestream/node"
import { afterEach, expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as NodePath from "node:path"
import { litestreamChildren, renderings } from "./Fixtures.js"

/** Any credentials do for fauxqs; these are fake, and the secret is easy to spot in any text. */
export const ACCESS_KEY_ID = "AKIAEFFECTLITESTREAMIT"
export const SECRET = "itFakeSecret-7f3a9c2e-MUST-NOT-LEAK"

/** The database file name used by the tests. */
export const DB = "app.db"

/** The settings of a test: a folder and a replica URL; the fake credentials are always set. */
export const settings = (folder: string, replicaUrl: string, extra: Partial<LitestreamConfig.Input> = {}) => ({
  accessKeyId: ACCESS_KEY_ID,
  secretAccessKey: SECRET,
  replicaUrl,
  folder,
  db: DB,
  ...extra
})

/** The Node layer (bundled litestream binary unless `binary` is given). */
export const services = (folder: string, replicaUrl: string, extra: Partial<LitestreamConfig.Input> = {}) =>
  NodeLitestream.layer(settings(folder, replicaUrl, extra))

/** `Replicate.once` through the service. */
export const once = (options?: ReplicateModule.OnceOptions) =>
  Effect.flatMap(Replicate.Replicate, (replicate) => replicate.once(options))

/** `Restore.restore` through the service. */
export const restore = (options?: RestoreModule.RestoreOptions) =>
  Effect.flatMap(Restore.Restore, (service) => service.restore(options))

/** The path of the test database in `folder`. */
export const dbPath = (folder: string) => NodePath.join(folder, DB)

/** The files beside a database that a backup with `deleteLocal` must remove. */
export const siblings = (path: string) => [
  path,
  `${path}-wal`,
  `${path}-shm`,
  NodePath.join(NodePath.dirname(path), `.${NodePath.basename(path)}-litestream`)
]

/** Fails the test if a litestream process started by this worker is still running. */
export const expectNoLitestream = Effect.gen(function*() {
  const pids = yield* litestreamChildren
  expect(pids, "litestream processes left running").toEqual([])
})

/** Fails the test if the secret or the key id appears in any rendering of the error. */
export const expectNoSecret = (error: unknown) => {
  for (const text of renderings(error)) {
    expect(text).not.toContain(SECRET)
    expect(text).not.toContain(ACCESS_KEY_ID)
  }
}

/** Runs an effect that must fail, and returns its error after the common checks. */
export const failure = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(self)
    expectNoSecret(error)
    yield* expectNoLitestream
    return error
  })

/** Milliseconds taken by an effect, with its result. */
export const timed = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const started = Date.now()
    const result = yield* self
    return [result, Date.now() - started] as const
  })

/**
 * Registers a vitest `afterEach` that fails the test if a litestream child of this worker is
 * still running, and kills it (by pid) so one leak does not spill into the next test.
 */
export const guardAgainstLeaks = () =>
  afterEach(async () => {
    const pids = await Effect.runPromise(litestreamChildren)
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL")
      } catch {
        // already gone
      }
    }
    expect(pids, "litestream processes left running after the test").toEqual([])
  })
