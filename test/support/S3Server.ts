/**
 * An S3 server on loopback for the integration tests: fauxqs, in the test process.
 *
 * fauxqs runs on this process' event loop, so nothing may block it while it serves (no
 * `spawnSync` / `execSync`): litestream would hang waiting for an answer.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { startFauxqs } from "fauxqs"

/** A running S3 server with one bucket. */
export interface S3Server {
  readonly port: number
  readonly bucket: string
  /** `s3://BUCKET.localhost:PORT/path`: litestream then talks plain http to localhost, path style. */
  readonly url: (path: string) => string
  /** the same server, another bucket (which need not exist) */
  readonly urlIn: (bucket: string, path: string) => string
  readonly createBucket: (bucket: string) => void
}

export interface S3ServerHandle extends S3Server {
  readonly stop: () => Promise<void>
}

/** The replica URL of a bucket on a local S3 server. */
export const localUrl = (bucket: string, port: number, path: string): string =>
  `s3://${bucket}.localhost:${port}/${path.replace(/^\/+/, "")}`

/** Starts fauxqs on a free loopback port and creates `bucket`. Call `stop` when done. */
export const startS3Server = async (bucket = "backups"): Promise<S3ServerHandle> => {
  const server = await startFauxqs({ port: 0, host: "127.0.0.1", logger: false })
  try {
    server.createBucket(bucket)
  } catch (e) {
    await server.stop()
    throw e
  }
  const port = server.port
  return {
    port,
    bucket,
    url: (path) => localUrl(bucket, port, path),
    urlIn: (other, path) => localUrl(other, port, path),
    createBucket: (name) => void server.createBucket(name),
    stop: () => server.stop()
  }
}

/** fauxqs as a scoped resource: started on a free port with `bucket` created, stopped when the scope closes. */
export const S3Server = (bucket = "backups"): Effect.Effect<S3Server, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => startS3Server(bucket),
      catch: (e) => new Error(`could not start fauxqs: ${String(e)}`)
    }),
    (server) => Effect.tryPromise(() => server.stop()).pipe(Effect.ignore)
  ).pipe(Effect.map(({ stop: _stop, ...server }): S3Server => server))
