/**
 * The loopback S3 server (fauxqs) in a child Node process (`bench/s3-server.mjs`): it keeps
 * objects in memory, and that memory must not count in the RSS of the process under test.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { createInterface, type Interface } from "node:readline"

export interface S3Server {
  readonly port: number
  readonly pid: number
  /** `s3://BUCKET.localhost:PORT/prefix`: the URL form litestream v0.3.13 understands for loopback */
  readonly url: (bucket: string, prefix: string) => string
  /** removes every object of a bucket (frees the server's memory between repetitions) */
  readonly empty: (bucket: string) => Promise<void>
  /** resident and peak memory of the server process, in bytes */
  readonly memory: () => Promise<{ rss: number; hwm: number }>
  readonly stop: () => Promise<void>
}

const script = fileURLToPath(new URL("../s3-server.mjs", import.meta.url))

export const start = async (buckets: ReadonlyArray<string>): Promise<S3Server> => {
  const child: ChildProcess = spawn(process.execPath, [script, ...buckets], { stdio: ["pipe", "pipe", "inherit"] })
  const lines: Interface = createInterface({ input: child.stdout! })
  const pending: Array<(line: string) => void> = []
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()))
  lines.on("line", (line) => pending.shift()?.(line))
  const next = () =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const onExit = () => reject(new Error("the S3 server exited"))
      exited.then(onExit)
      pending.push((line) => resolve(JSON.parse(line)))
    })
  const command = async (text: string) => {
    const answer = next()
    child.stdin!.write(`${text}\n`)
    const reply = await answer
    if (reply.ok !== true) throw new Error(`S3 server: ${String(reply.error)}`)
    return reply
  }
  const hello = await next()
  const port = Number(hello.port)
  return {
    port,
    pid: Number(hello.pid),
    url: (bucket, prefix) => `s3://${bucket}.localhost:${port}/${prefix}`,
    empty: async (bucket) => {
      await command(`empty ${bucket}`)
    },
    memory: async () => {
      const r = await command("rss")
      return { rss: Number(r.rss), hwm: Number(r.hwm) }
    },
    stop: async () => {
      child.stdin!.end()
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000)
      await exited
      clearTimeout(timer)
    }
  }
}
