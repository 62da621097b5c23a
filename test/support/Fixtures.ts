/**
 * Fixtures of the integration tests: temporary folders, litestream children of this process,
 * secrets in errors, refusing and silent ports. Everything here is asynchronous: fauxqs serves
 * from this process' event loop, which must never be blocked.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
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

// Binds a loopback port without listening, prints it, holds it until its stdin closes.
const HOLD_PORT = [
  "import socket, sys",
  "s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)",
  "s.bind(('127.0.0.1', 0))",
  "print(s.getsockname()[1], flush=True)",
  "sys.stdin.read()"
].join("\n")

/**
 * A loopback port where nothing listens, held until the scope closes: a socket is bound to it
 * but never listens, so a connection is refused (ECONNREFUSED, "connection refused") and no
 * other bind can take the port meanwhile. (Listening, closing, then handing the port out is a
 * race: anything binding in the ephemeral range may get it first.) Node cannot bind a TCP
 * socket without listening: a small python3 process holds it.
 */
export const freePort: Effect.Effect<number, never, Scope.Scope> = Effect.acquireRelease(
  Effect.async<{ port: number; child: ChildProcess }>((resume) => {
    const child = spawn("python3", ["-c", HOLD_PORT], { stdio: ["pipe", "pipe", "inherit"] })
    let out = ""
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString()
      if (out.includes("\n")) resume(Effect.succeed({ port: Number(out.trim()), child }))
    })
    child.on("error", (e) => resume(Effect.die(e)))
    child.on("exit", (code) => {
      if (!out.includes("\n")) resume(Effect.dieMessage(`the port holder exited (${code}) before binding`))
    })
  }),
  ({ child }) =>
    Effect.async<void>((resume) => {
      if (child.exitCode !== null) return resume(Effect.void)
      child.once("exit", () => resume(Effect.void))
      child.stdin!.end()
    })
).pipe(Effect.map(({ port }) => port))

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
