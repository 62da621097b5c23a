/**
 * Native restore of litestream v0.5 replicas (issue 13) beside `litestream restore` of 0.5.17,
 * on file:// replicas written by `litestream replicate -once` of 0.5.17 from the bench's sample
 * databases (1 MB, 100 MB, and 1 GB unless BENCH_QUICK=1). Runs are taken in turns; prints the
 * median wall time of each and the ratio (native / litestream; the goal is at most 1.0x at 1 MB
 * and 100 MB). The native side runs in this process (no process start), litestream as a child.
 *
 * Needs litestream 0.5.17 in .peers/ (the test setup installs it) or LITESTREAM_V5_BIN.
 * Run: `npx tsx bench/ltx-restore.ts [1MB,100MB,1GB]`.
 */
import { NodeContext } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as LtxReplica from "../packages/core/src/LtxReplica.ts"
import * as ReplicaStore from "../packages/core/src/ReplicaStore.ts"
import { litestreamV5 } from "../test/support/Peers.ts"
import { createDatabase } from "./lib/database.ts"
import { median, ratio } from "./lib/stats.ts"

const quick = process.env.BENCH_QUICK === "1"
const SIZES: Record<string, number> = { "1MB": 1 << 20, "100MB": 100 << 20, "1GB": 1 << 30 }
const chosen = (process.argv[2] ?? (quick ? "1MB,100MB" : "1MB,100MB,1GB")).split(",")
const REPS: Record<string, number> = { "1MB": 9, "100MB": 5, "1GB": 3 }

const peer = litestreamV5()
if (!peer.available) {
  console.error(`litestream 0.5.17 unavailable: ${peer.reason}`)
  process.exit(1)
}
const bin = peer.path
const env = (() => {
  const { AWS_CA_BUNDLE: _drop, ...rest } = process.env
  return rest
})()

const run = (args: ReadonlyArray<string>) =>
  new Promise<void>((resolve, reject) => {
    const child = spawn(bin, args, { env, stdio: ["ignore", "ignore", "pipe"] })
    let err = ""
    child.stderr.on("data", (b: Buffer) => (err += b.toString()))
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`litestream ${args[0]} exit ${code}: ${err}`))))
  })

const native = (root: string, out: string) =>
  Effect.gen(function*() {
    const store = yield* ReplicaStore.makeFile({ replica: `file://${root}`, root })
    const plan = yield* LtxReplica.planFor(store, {})
    if ("_tag" in plan) throw new Error(plan.reason)
    const fd = fs.openSync(out, "w")
    yield* LtxReplica.apply(store, plan, {
      writeAt: (position, bytes) => Effect.sync(() => void fs.writeSync(fd, bytes, 0, bytes.length, position)),
      end: (size) => Effect.sync(() => (fs.ftruncateSync(fd, size), fs.fsyncSync(fd), fs.closeSync(fd)))
    })
  }).pipe(Effect.provide(NodeContext.layer), Effect.runPromise)

const time = async (f: () => Promise<void>) => {
  const t = performance.now()
  await f()
  return (performance.now() - t) / 1000
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), "bench-ltx-"))
const lines: Array<string> = ["| size | litestream 0.5.17 restore | native | native / litestream |", "|---|---|---|---|"]
try {
  for (const size of chosen) {
    const db = path.join(work, `${size}.db`)
    const sample = createDatabase(db, SIZES[size]!)
    const root = path.join(work, `${size}-replica`)
    const config = path.join(work, `${size}.yml`)
    fs.writeFileSync(config, `dbs:\n  - path: ${JSON.stringify(db)}\n    replica:\n      url: ${JSON.stringify(`file://${root}`)}\n`)
    await run(["replicate", "-once", "-config", config])
    const times = { litestream: [] as Array<number>, native: [] as Array<number> }
    for (let rep = 0; rep < REPS[size]!; rep++) {
      const order = rep % 2 === 0 ? (["litestream", "native"] as const) : (["native", "litestream"] as const)
      for (const which of order) {
        const out = path.join(work, `${size}-${which}-${rep}.db`)
        times[which].push(await time(() => which === "native" ? native(root, out) : run(["restore", "-o", out, `file://${root}`])))
        if (rep === 0 && which === "native") {
          const theirs = path.join(work, `${size}-check.db`)
          await run(["restore", "-o", theirs, `file://${root}`])
          if (!fs.readFileSync(theirs).equals(fs.readFileSync(out))) throw new Error(`${size}: native restore differs from litestream's`)
          fs.rmSync(theirs)
        }
        fs.rmSync(out, { force: true })
      }
    }
    const a = median(times.litestream)
    const b = median(times.native)
    const line = `| ${size} (${(sample.bytes / 1e6).toFixed(1)} MB) | ${a.toFixed(3)} s | ${b.toFixed(3)} s | ${ratio(b, a)} |`
    console.error(line)
    lines.push(line)
  }
  console.log(lines.join("\n"))
} finally {
  fs.rmSync(work, { recursive: true, force: true })
}
