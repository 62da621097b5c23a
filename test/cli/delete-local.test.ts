/**
 * `effect-litestream backup --delete-local` (and `--verify --delete-local`) beside a writer in
 * another process, through the built CLI: each cycle ends either refused (exit 1, the database
 * kept with every committed row) or done (exit 0, every committed row in the restore).
 */
import * as fs from "node:fs"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type S3ServerHandle, startS3Server } from "../support/S3Server.js"
import * as Sqlite from "../support/Sqlite.js"
import { cycleNumbers, prng, spawnWriter } from "../support/Writer.js"
import { ACCESS_KEY, ensureBuilt, jsonLines, run, SECRET, tempDir, transcript } from "./support.js"

const CYCLES = Number(process.env.DELETE_LOCAL_CLI_CYCLES ?? 12)
const SEED = Number(process.env.FAULT_SEED ?? Date.now() % 1_000_000)
const REFUSED = ["DatabaseInUse", "DatabaseChangedAfterBackup"]

let s3: S3ServerHandle
let dir = ""

beforeAll(async () => {
  await ensureBuilt()
  s3 = await startS3Server("cli-delete-local")
  dir = await tempDir()
}, 180_000)

afterAll(async () => {
  await s3?.stop()
  await fs.promises.rm(dir, { recursive: true, force: true })
  for (const text of transcript) {
    expect(text).not.toContain(SECRET)
    expect(text).not.toContain(ACCESS_KEY)
  }
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe("backup --delete-local beside a writer in another process", () => {
  it(`${CYCLES} cycles (more, up to ${2 * CYCLES}, until both outcomes occur) over file:// and S3, with and without --verify: refused with every row kept, or done with every row restored`, async () => {
    const outcomes: Record<string, number> = {}
    // under load the CLI's start can outlast every writer of 12 cycles: all done, none refused
    const bothSeen = () => (outcomes.done ?? 0) > 0 && Object.keys(outcomes).length > 1
    for (const cycle of cycleNumbers(CYCLES, bothSeen)) {
      const random = prng(SEED + cycle)
      const folder = NodePath.join(dir, `cycle-${cycle}`)
      await fs.promises.mkdir(folder)
      const db = NodePath.join(folder, "db.sqlite")
      Sqlite.createDatabase(db, 5)
      const env = {
        REPLICA_URL: cycle % 2 === 0 ? `file://${NodePath.join(folder, "replica")}` : s3.url(`cycles/${cycle}/db`),
        DB_FOLDER: folder,
        LITESTREAM_ACCESS_KEY_ID: ACCESS_KEY,
        LITESTREAM_SECRET_ACCESS_KEY: SECRET
      }
      const verify = cycle % 4 >= 2
      // the CLI takes about a second to start: the writer runs across its start and its backup
      const writeFor = random() < 0.25 ? 0 : Math.floor(random() * 2500)
      const backupAfter = Math.floor(random() * 300)
      const label = `cycle ${cycle} (seed ${SEED + cycle}, verify ${verify}, writer ${writeFor} ms, backup after ${backupAfter} ms)`
      const writer = await spawnWriter(db, { durationMs: writeFor, intervalMs: 3 })
      try {
        await sleep(backupAfter)
        const backup = await run(["backup", "--delete-local", "--json", ...(verify ? ["--verify"] : [])], { cwd: folder, env })
        const written = await writer.done
        const expected = Array.from({ length: written.last }, (_, k) => k + 1)
        const lines = jsonLines(backup.stdout)
        const last = lines.at(-1)!
        if (backup.code === 0) {
          outcomes.done = (outcomes.done ?? 0) + 1
          expect(last, label).toMatchObject({ type: "result", outcome: "BackedUp" })
          expect(fs.existsSync(db), label).toBe(false)
          const restore = await run(["restore", "--json"], { cwd: folder, env })
          expect(restore.code, `${label}: ${restore.stderr}`).toBe(0)
        } else {
          // with --json the error is the last line on stdout; stderr says it for people
          const error = last
          expect(error, label).toMatchObject({ type: "error", ok: false })
          expect(backup.stderr, label).toMatch(/^error: The database .* was not deleted/)
          outcomes[String(error.error)] = (outcomes[String(error.error)] ?? 0) + 1
          expect(backup.code, label).toBe(1)
          expect(REFUSED, `${label}: ${backup.stderr}`).toContain(error.error)
          expect(String(error.message), label).toContain("Nothing was deleted")
          expect(fs.existsSync(db), label).toBe(true)
        }
        expect(Sqlite.readRows(db).map((r) => r.id), label).toEqual(expected)
        expect(Sqlite.integrityCheck(db), label).toBe("ok")
      } finally {
        writer.kill()
      }
    }
    // one outcome per cycle
    const cycles = Object.values(outcomes).reduce((n, k) => n + k, 0)
    expect(outcomes.done ?? 0, JSON.stringify(outcomes)).toBeGreaterThan(0)
    expect(cycles - (outcomes.done ?? 0), JSON.stringify(outcomes)).toBeGreaterThan(0)
  }, 400_000)
})
