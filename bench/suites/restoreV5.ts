/**
 * Restore of litestream v0.5 replicas (issue 13): the library's native `Restore.restore` (no
 * process; the LTX files read in this process) against raw `litestream restore` of 0.5.17, from
 * one replica written by `litestream replicate -once` of 0.5.17 (file:// and the loopback S3
 * server), interleaved; the native result checked byte-identical to litestream's first.
 * Target: native at most 1.0x litestream at 1 MB and 100 MB. Skipped (with its reason) where
 * litestream 0.5.17 is not installed in .peers/ (the test setup puts it there) nor LITESTREAM_V5_BIN.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { litestreamV5 } from "../../test/support/Peers.ts"
import { type Context, DB_NAME, fileUrl, SIZES, type Suite, type TargetResult } from "../lib/context.ts"
import * as Lib from "../lib/library.ts"
import { interleaved, Samples, sumCalls } from "../lib/measure.ts"
import { errorsBlock, passFail, table } from "../lib/report.ts"
import { median, range, ratio } from "../lib/stats.ts"

type Variant = "native" | "litestream"

const TARGET = 1.0

/** litestream 0.5.17's environment: the bench credentials, no CA bundle (its SDK refuses one at a custom endpoint). */
const env = (): NodeJS.ProcessEnv => {
  const { AWS_CA_BUNDLE: _bundle, ...rest } = process.env
  return {
    ...rest,
    LITESTREAM_ACCESS_KEY_ID: Lib.CREDENTIALS.accessKeyId,
    LITESTREAM_SECRET_ACCESS_KEY: Lib.CREDENTIALS.secretAccessKey
  }
}

const run = (bin: string, args: ReadonlyArray<string>): Promise<number> =>
  new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(bin, args, { env: env(), stdio: ["ignore", "ignore", "pipe"] })
    let err = ""
    child.stderr.on("data", (b: Buffer) => (err += b.toString()))
    child.on("error", reject)
    child.on("exit", (code) =>
      code === 0
        ? resolve((performance.now() - started) / 1000)
        : reject(new Error(`litestream ${args[0]} exit ${code}: ${err.trim().split("\n").at(-1)}`))
    )
  })

export const suite: Suite = {
  name: "restore-v5",
  run: async (context: Context) => {
    const peer = litestreamV5()
    const title = "Restore of litestream v0.5 (LTX) replicas: native vs litestream 0.5.17"
    if (!peer.available) {
      context.log(`  restore-v5: SKIPPED: ${peer.reason}`)
      return {
        title,
        markdown: `## ${title}\n\nSkipped: ${peer.reason}\n`,
        targets: [],
        libraryCalls: { failed: 0, total: 0 }
      }
    }
    const rows: Array<Array<string>> = []
    const targets: Array<TargetResult> = []
    const errors: Array<string> = []
    const calls: Array<{ failed: number; total: number }> = []
    for (const size of context.sizes) {
      for (const replica of ["file", "s3"] as const) {
        const db = context.databases.get(size)!
        const label = `restore-v5 ${SIZES[size].label} ${replica}`
        const url = replica === "s3"
          ? context.s3.url(context.bucket, `restore-v5/${size}`)
          : fileUrl(context.folder(`restore-v5-replica-${size}`))
        const source = context.folder(`restore-v5-source-${size}-${replica}`)
        fs.copyFileSync(db.path, path.join(source, DB_NAME))
        const config = path.join(source, "litestream.yml")
        fs.writeFileSync(config, `dbs:\n  - path: ${JSON.stringify(path.join(source, DB_NAME))}\n    replica:\n      url: ${JSON.stringify(url)}\n`)
        await run(peer.path, ["replicate", "-once", "-config", config])
        const outputs = context.folder(`restore-v5-out-${size}-${replica}`)
        const target: Lib.Target = { replicaUrl: url, folder: outputs, db: DB_NAME }
        // the native result must be litestream's, byte for byte
        const check = { ours: path.join(outputs, "check-native.db"), theirs: path.join(outputs, "check-litestream.db") }
        await Lib.nativeRestore(target, check.ours)
        await run(peer.path, ["restore", "-o", check.theirs, url])
        const identical = fs.readFileSync(check.ours).equals(fs.readFileSync(check.theirs))
        fs.rmSync(check.ours)
        fs.rmSync(check.theirs)
        const samples = new Samples<Variant>()
        const reps = size === "1GB" ? 3 : context.quick ? 3 : size === "100MB" ? 7 : 11
        await interleaved(samples, reps, ["native", "litestream"], async (variant, rep) => {
          const out = path.join(outputs, `${variant}-${rep}.db`)
          try {
            return variant === "native" ? (await Lib.nativeRestore(target, out)).seconds : await run(peer.path, ["restore", "-o", out, url])
          } finally {
            fs.rmSync(out, { force: true })
          }
        }, context.log, label, { warmup: ["native"] })
        const ours = median(samples.of("native"))
        const theirs = median(samples.of("litestream"))
        const paired = median(samples.pairedRatios("native", "litestream"))
        rows.push([
          `${SIZES[size].label} ${replica}`,
          `${theirs.toFixed(3)} s (${range(samples.of("litestream"))})`,
          `${ours.toFixed(3)} s (${range(samples.of("native"))})`,
          ratio(ours, theirs),
          identical ? "yes" : "**NO**"
        ])
        if (size !== "1GB") {
          targets.push({
            target: `${label}: native at most ${TARGET.toFixed(1)}x litestream 0.5.17, byte-identical`,
            measured: `${paired.toFixed(2)}x (paired median)${identical ? "" : ", NOT identical"}`,
            pass: identical && paired <= TARGET
          })
        }
        for (const e of samples.allErrors()) errors.push(`${label} ${e}`)
        calls.push(samples.calls("native"))
      }
    }
    const markdown = [
      `## ${title}`,
      "",
      "A replica written by `litestream replicate -once` of 0.5.17 from each sample database; the library's",
      "native `Restore.restore` (NodeLitestream `{ read: \"native\" }`, no process) and `litestream restore -o` of",
      "0.5.17, interleaved. Medians, with the range.",
      "",
      table(["replica", "litestream 0.5.17 restore", "native", "native / litestream", "byte-identical"], rows),
      "",
      ...targets.map((t) => `- ${t.target}: ${t.measured} ${passFail(t.pass)}`),
      errorsBlock(errors)
    ].join("\n")
    return { title, markdown, targets, libraryCalls: sumCalls(calls) }
  }
}
