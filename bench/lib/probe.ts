/**
 * Runs a probe script (`bench/*-probe.mjs`) in a fresh Node process, so that what it measures
 * (memory above all) is the library's alone, and returns the JSON line it prints last. Its
 * arguments are JSON in the environment variable `PROBE_ARGS`.
 */
import { spawn } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { type Context, copyInto, DB_NAME, fileUrl } from "./context.ts"
import { CREDENTIALS } from "./library.ts"

/** the environment variable a probe reads its arguments from (JSON) */
export const PROBE_ARGS = "EFFECT_LITESTREAM_PROBE_ARGS"

export const runProbe = <A>(script: string, args: unknown): Promise<A> =>
  new Promise((resolve, reject) => {
    const file = fileURLToPath(new URL(`../${script}`, import.meta.url))
    // The arguments hold credentials: in the environment, never in argv (visible to every user).
    const child = spawn(process.execPath, ["--expose-gc", file], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, [PROBE_ARGS]: JSON.stringify(args) }
    })
    let out = ""
    let err = ""
    child.stdout.on("data", (d) => (out += d))
    child.stderr.on("data", (d) => (err += d))
    child.on("error", reject)
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`${script} exit ${code}: ${err.trim().split("\n").slice(0, 6).join(" ")}`))
      try {
        resolve(JSON.parse(out.trim().split("\n").pop()!))
      } catch (e) {
        reject(new Error(`${script} printed ${out.slice(0, 500)}: ${String(e)}`))
      }
    })
  })

/** What `replication-probe.mjs` prints: one run of continuous replication under a write load. */
export interface ReplicationProbe {
  /** from the start of the write load to the scope's end (pending writes, final sync) */
  readonly seconds: number
  /** how long the write load ran */
  readonly loadSeconds: number
  /** rows written, each as `replication.syncAfter(insert)` */
  readonly writes: number
  /** writes whose `syncAfter` succeeded; `lagsMs` has one entry for each */
  readonly synced: number
  readonly failed: number
  readonly errors: ReadonlyArray<string>
  /** per write: milliseconds from its commit to `syncAfter` returning (the WAL segment written) */
  readonly lagsMs: ReadonlyArray<number>
  /** events seen on `replication.events`, by tag */
  readonly events: Readonly<Record<string, number>>
  /** every second: time (s), this process's memory, and litestream's RSS (bytes) */
  readonly samples: {
    readonly t: ReadonlyArray<number>
    readonly rss: ReadonlyArray<number>
    readonly heapUsed: ReadonlyArray<number>
    readonly heapTotal: ReadonlyArray<number>
    readonly external: ReadonlyArray<number>
    readonly litestream: ReadonlyArray<number>
  }
  /** after each full GC: time (s), heap in use and RSS */
  readonly gcs: ReadonlyArray<{ readonly t: number; readonly heapUsed: number; readonly rss: number }>
  /** `Ok`, or the first line of the failure of `replication.await` after the scope closed */
  readonly finalSync: string
  /** `Ok`, or the first line of the failure of the library's restore of the replica */
  readonly restore: string
  readonly rowsBefore: number
  readonly rowsAfter: number
  readonly restoredRows: number | null
}

export interface ReplicationRun {
  /** "s3" (the loopback S3 server) or "file" (a folder) */
  readonly replica: "s3" | "file"
  readonly seconds: number
  /** litestream's monitor and sync interval */
  readonly syncIntervalMs: number
  /** mean time between writes (each jittered by ±50%) */
  readonly writeEveryMs: number
  /** how often the probe runs a full GC and records the heap in use */
  readonly gcEveryMs: number
  /** an empty folder of the run's own: the database copy, the restore and a file:// replica go there */
  readonly folder: string
  /** the S3 key prefix of the run's replica */
  readonly prefix: string
}

/**
 * Runs `replication-probe.mjs` on the 1 MB database copied into `run.folder`, and checks what it
 * reports: every write synced, the final sync and the restore succeeded, and the restored
 * database holds every row written. A run that fails a check throws (it is then counted as a
 * failed run, not measured).
 */
export const replicationProbe = async (context: Context, run: ReplicationRun): Promise<ReplicationProbe> => {
  copyInto(context, "1MB", run.folder)
  const replicaUrl = run.replica === "s3"
    ? context.s3.url(context.bucket, run.prefix)
    : fileUrl(path.join(run.folder, "replica"))
  const probe = await runProbe<ReplicationProbe>("replication-probe.mjs", {
    target: { replicaUrl, folder: run.folder, db: DB_NAME, ...(run.replica === "s3" ? CREDENTIALS : {}) },
    seconds: run.seconds,
    writeEveryMs: run.writeEveryMs,
    syncIntervalMs: run.syncIntervalMs,
    gcEveryMs: run.gcEveryMs,
    restoreTo: path.join(run.folder, "restored.sqlite")
  })
  const problems = [
    probe.failed > 0 ? `${probe.failed} of ${probe.writes} syncAfter calls failed: ${probe.errors.join("; ")}` : "",
    probe.synced !== probe.writes ? `${probe.synced} of ${probe.writes} writes synced` : "",
    probe.finalSync !== "Ok" ? `final sync: ${probe.finalSync}` : "",
    probe.restore !== "Ok" ? `restore: ${probe.restore}` : "",
    probe.restoredRows !== probe.rowsAfter ? `restored ${probe.restoredRows} rows, the database has ${probe.rowsAfter}` : ""
  ].filter(Boolean)
  if (problems.length > 0) throw new Error(problems.join("; "))
  return probe
}
