/**
 * Helpers of the integration tests of continuous replication, verification and listings: the
 * services through their tags, a fauxqs server that a test can stop mid-run, the generated
 * config of a running litestream, the proof that a process is gone, and a log recorder.
 */
import type { ReplicaListing as ListingModule, Replication as ReplicationModule, Verify as VerifyModule } from "@effect-litestream/core"
import { LitestreamEvent, Replicate, ReplicaListing, Verify } from "@effect-litestream/core"
import { expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import { litestreamChildren, pidAlive } from "./Fixtures.js"
import { type S3Server, startS3Server } from "./S3Server.js"

/** `Replicate.replicate` through the service (in the caller's scope). */
export const replicate = (options?: ReplicationModule.ReplicationOptions) =>
  Effect.flatMap(Replicate.Replicate, (service) => service.replicate(options))

/** The listings through the service. */
export const generations = (options?: ListingModule.ListingOptions) =>
  Effect.flatMap(ReplicaListing.ReplicaListing, (l) => l.generations(options))
export const snapshots = (options?: ListingModule.ListingOptions) =>
  Effect.flatMap(ReplicaListing.ReplicaListing, (l) => l.snapshots(options))
export const wal = (options?: ListingModule.ListingOptions) =>
  Effect.flatMap(ReplicaListing.ReplicaListing, (l) => l.wal(options))

/** The verification service. */
export const verifier = Verify.Verify
export type Verification = VerifyModule.Verification

/** A position of litestream v0.3 (generation, index, offset); fails the test on a v0.5 TXID. */
export const v3Position = (p: LitestreamEvent.ReplicaPosition): LitestreamEvent.Position => {
  if (LitestreamEvent.isTxidPosition(p)) throw new Error(`expected a litestream v0.3 position, got ${p}`)
  return p
}

/** A fauxqs server that the test may stop before the scope ends (stopping twice is fine). */
export interface StoppableS3 extends S3Server {
  readonly stop: Effect.Effect<void>
}

export const stoppableS3 = (bucket = "backups"): Effect.Effect<StoppableS3, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => startS3Server(bucket)).pipe(Effect.map((handle) => {
      let stopped: Promise<void> | undefined
      const stop = Effect.promise(() => (stopped ??= handle.stop()))
      return { ...handle, stop }
    })),
    (server) => server.stop
  ).pipe(Effect.map(({ stop, ...server }): StoppableS3 => ({ ...server, stop })))

/** The argv of a running process, from /proc. */
export const argvOf = (pid: number): Effect.Effect<Array<string>> =>
  Effect.promise(() => fs.promises.readFile(`/proc/${pid}/cmdline`, "utf8")).pipe(
    Effect.map((text) => text.split("\0").filter((a) => a !== ""))
  )

/** The path and text of the config file a running litestream was given (`-config FILE`). */
export const configOf = (pid: number) =>
  Effect.gen(function*() {
    const argv = yield* argvOf(pid)
    const i = argv.indexOf("-config")
    expect(i, `no -config in ${argv.join(" ")}`).toBeGreaterThan(0)
    const path = argv[i + 1]!
    const text = yield* Effect.promise(() => fs.promises.readFile(path, "utf8"))
    return { argv, path, text }
  })

/** The process `pid` is gone, and this worker has no litestream child left. */
export const expectGone = (pid: number) =>
  Effect.gen(function*() {
    expect(pidAlive(pid), `litestream ${pid} still running`).toBe(false)
    expect(yield* litestreamChildren, "litestream children left").toEqual([])
  })

/** One record of the Effect log. */
export interface Logged {
  readonly level: string
  readonly message: string
  readonly annotations: Record<string, unknown>
}

/** A logger that records every entry at Info and above, beside the default one, and the list it fills. */
export const recordLogs = () => {
  const logged: Array<Logged> = []
  const recorder = Logger.make<unknown, void>(({ annotations, logLevel, message }) => {
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    const record: Record<string, unknown> = {}
    for (const [k, v] of annotations) record[k] = v
    logged.push({ level: logLevel.label, message: text, annotations: record })
  })
  return { logged, layer: Logger.add(recorder) }
}
