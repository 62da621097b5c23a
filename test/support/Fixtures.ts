/**
 * Fixtures of the integration tests: temporary folders, litestream children of this process,
 * secrets in errors, refusing and silent ports. Everything here is asynchronous: fauxqs serves
 * from this process' event loop, which must never be blocked.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as NodePath from "node:path"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

/** A fresh folder under the OS temp folder, removed with everything in it when the scope closes. */
export const tempDir = (prefix = "effect-litestream-it-"): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => fs.promises.mkdtemp(NodePath.join(os.tmpdir(), prefix))),
    (dir) => Effect.promise(() => fs.promises.rm(dir, { recursive: true, force: true }))
  )

/**
 * The pids of the `litestream` processes whose parent is this process (the test worker). Other
 * test files run in other workers, so their litestream children never show up here.
 */
export const litestreamChildren: Effect.Effect<Array<number>> = Effect.async<Array<number>>((resume) => {
  execFile("pgrep", ["-P", String(process.pid), "-x", "litestream"], (error, stdout) => {
    // pgrep exits 1 when nothing matched.
    if (error && (error as { code?: unknown }).code !== 1) {
      resume(Effect.die(error))
      return
    }
    resume(Effect.succeed(stdout.split("\n").filter((l) => l.trim() !== "").map(Number)))
  })
})

/** Whether a pid exists (signal 0). */
export const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The ways an error may end up in front of a user or in a log. */
export const renderings = (error: unknown): Array<string> => {
  const e = error as { message?: unknown; stack?: unknown }
  return [String(error), String(e?.message), String(e?.stack), JSON.stringify(error)]
}

/**
 * A loopback port where nothing listens, held until the scope closes, so a connection is refused
 * (ECONNREFUSED, "connection refused") and no listener can take the port meanwhile. (Listening,
 * closing, then handing the port out is a race: anything binding in the ephemeral range may get
 * it first.) The port is the local end of a connection this process holds to a helper listener
 * of its own: that socket (bound by connect, without SO_REUSEADDR) keeps every bind off the port,
 * and as it does not listen, connecting to the port is refused.
 */
export const freePort: Effect.Effect<number, never, Scope.Scope> = Effect.acquireRelease(
  Effect.async<{ server: net.Server; sockets: Array<net.Socket> }>((resume) => {
    const sockets: Array<net.Socket> = []
    const server = net.createServer((accepted) => {
      accepted.on("error", () => {})
      sockets.push(accepted)
    })
    server.listen(0, "127.0.0.1", () => {
      const client = net.connect({ host: "127.0.0.1", port: (server.address() as net.AddressInfo).port })
      client.on("error", (e) => resume(Effect.die(e)))
      client.on("connect", () => {
        sockets.unshift(client)
        resume(Effect.succeed({ server, sockets }))
      })
    })
  }),
  ({ server, sockets }) =>
    Effect.async<void>((resume) => {
      for (const s of sockets) s.destroy()
      server.close(() => resume(Effect.void))
    })
).pipe(Effect.map(({ sockets }) => sockets[0]!.localPort!))

/**
 * A TCP server on loopback that accepts connections and never answers: a replica that hangs.
 * `accepted` counts the connections so far (a client waiting on it has connected). Closed (with
 * every socket it accepted) when the scope closes.
 */
export const silentListener: Effect.Effect<{ readonly port: number; readonly accepted: Effect.Effect<number> }, never, Scope.Scope> =
  Effect.acquireRelease(
    Effect.async<{ server: net.Server; sockets: Set<net.Socket>; count: { n: number } }>((resume) => {
      const sockets = new Set<net.Socket>()
      const count = { n: 0 }
      const server = net.createServer((socket) => {
        count.n++
        sockets.add(socket)
        socket.on("error", () => {})
        socket.on("close", () => sockets.delete(socket))
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, sockets, count })))
    }),
    ({ server, sockets }) =>
      Effect.async<void>((resume) => {
        for (const s of sockets) s.destroy()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ count, server }) => ({
    port: (server.address() as net.AddressInfo).port,
    accepted: Effect.sync(() => count.n)
  })))

/** `silentListener`'s port. */
export const silentServer: Effect.Effect<number, never, Scope.Scope> = Effect.map(silentListener, (l) => l.port)

/** Whether a path exists (file, folder or dangling link). */
export const exists = (path: string): Effect.Effect<boolean> =>
  Effect.promise(() => fs.promises.lstat(path).then(() => true, () => false))

/** The bytes of a file. */
export const readBytes = (path: string): Effect.Effect<Buffer> => Effect.promise(() => fs.promises.readFile(path))

/** The names in a folder, sorted. */
export const list = (dir: string): Effect.Effect<Array<string>> =>
  Effect.promise(() => fs.promises.readdir(dir).then((names) => names.sort()))
