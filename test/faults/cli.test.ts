/**
 * The secrets sweep through the command-line program (the built `packages/node/dist/bin.js`,
 * built once by test/cli/support's `ensureBuilt`): its failure paths, with the suite's
 * credentials in the environment or an env file, never print them (stdout, stderr, JSON or
 * plain, at every log level), and the argv and config of every litestream it starts hold none.
 * A credential given as a flag is refused without being echoed.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as NodePath from "node:path"
import { BIN, type CliResult, ensureBuilt, run, start } from "../cli/support.js"
import * as Figures from "../support/Figures.js"
import { freePort } from "../support/Fixtures.js"
import { Deny, FaultProxy } from "../support/FaultProxy.js"
import { dbPath, swept } from "../support/Faults.js"
import { guardAgainstLeaks } from "../support/Harness.js"
import { S3Server } from "../support/S3Server.js"
import * as Sqlite from "../support/Sqlite.js"
import { DB, KEY_ID, SECRET } from "../support/Sweep.js"

guardAgainstLeaks()

interface Case {
  readonly name: string
  readonly args: ReadonlyArray<string>
  readonly env?: Record<string, string>
  /** stop it with SIGINT once it printed a refusal of the store (continuous replication) */
  readonly interrupt?: boolean
  /** the exit code it must end with */
  readonly code: number
}

describe("the command-line program", () => {
  it.scopedLive("failure paths with the credentials set: none printed, none in a child's argv or config", (ctx) =>
    swept(ctx.task.name, ({ dir, sweep }) =>
      Effect.gen(function*() {
        yield* Effect.promise(() => ensureBuilt())
        expect(fs.existsSync(BIN)).toBe(true)
        const s3 = yield* Effect.orDie(S3Server("backups"))
        const proxy = yield* FaultProxy(s3.port)
        yield* proxy.set(Deny(`denied: key ${KEY_ID} secret ${SECRET}`))
        const denied = proxy.url("backups", "apps/app.db")
        const down = `s3://backups.localhost:${yield* freePort}/apps/app.db`
        const written = Sqlite.createDatabase(dbPath(dir), 20)
        const envFile = NodePath.join(dir, "creds.env")
        fs.writeFileSync(envFile, `LITESTREAM_ACCESS_KEY_ID=${KEY_ID}\nLITESTREAM_SECRET_ACCESS_KEY="${SECRET}"\nREPLICA_URL=${down}\n`)
        // the wrapper litestream of the sweep records every run's argv and config
        const wrapper = sweep.binary
        const base = {
          LITESTREAM_ACCESS_KEY_ID: KEY_ID,
          LITESTREAM_SECRET_ACCESS_KEY: SECRET,
          DB_FOLDER: dir,
          DB_SQLITE: DB,
          LITESTREAM_BIN: wrapper
        }
        const cases: ReadonlyArray<Case> = [
          { name: "backup, store down", args: ["backup", "--json", "--timeout", "20s", "--delete-local"], env: { REPLICA_URL: down }, code: 1 },
          { name: "backup, 403 echoing the credentials", args: ["backup", "--log-level", "all", "--delete-local"], env: { REPLICA_URL: denied }, code: 1 },
          { name: "verified backup, 403", args: ["backup", "--verify", "--delete-local", "--json"], env: { REPLICA_URL: denied }, code: 1 },
          // (--log-level goes before --json: after it, @effect/cli refuses it as an unknown argument)
          { name: "restore, 403", args: ["restore", "--log-level", "debug", "--json"], env: { REPLICA_URL: denied, DB_SQLITE: "other.db" }, code: 1 },
          { name: "generations, 403", args: ["generations", "--json"], env: { REPLICA_URL: denied }, code: 1 },
          { name: "verify, 403", args: ["verify", "--log-level", "all"], env: { REPLICA_URL: denied }, code: 1 },
          { name: "replicate, 403, then SIGINT", args: ["replicate", "--log-level", "all", "--json"], env: { REPLICA_URL: denied }, interrupt: true, code: 1 },
          { name: "bad settings", args: ["backup", "--db", "../escape.db"], env: { REPLICA_URL: down }, code: 2 },
          { name: "credentials from an env file, store down", args: ["backup", "--dotenv", envFile, "--json"], env: { LITESTREAM_ACCESS_KEY_ID: "", LITESTREAM_SECRET_ACCESS_KEY: "" }, code: 1 },
          // Node 20 itself parses --env-file, also after the script, and exits 9 when the file is
          // missing (documented in the program's help)
          { name: "an env file that does not exist", args: ["backup", "--env-file", NodePath.join(dir, "nope.env")], env: { REPLICA_URL: down }, code: 9 },
          { name: "a --dotenv file that does not exist", args: ["backup", "--dotenv", NodePath.join(dir, "nope.env")], env: { REPLICA_URL: down }, code: 2 },
          { name: "Node's --env-file on an existing file", args: ["backup", "--env-file", envFile], env: { REPLICA_URL: down }, code: 2 },
          { name: "the secret as a flag (=)", args: ["backup", `--secret-access-key=${SECRET}`], env: { REPLICA_URL: down }, code: 2 },
          { name: "the secret as a flag (separate)", args: ["restore", "--aws-secret-access-key", SECRET], env: { REPLICA_URL: down }, code: 2 }
        ]
        const outcomes: Array<Record<string, unknown>> = []
        yield* Effect.forEach(cases, (c) =>
          Effect.promise(async (): Promise<CliResult> => {
            const env = Object.fromEntries(Object.entries({ ...base, ...c.env }).filter(([, v]) => v !== ""))
            if (c.interrupt !== true) return run(c.args, { env, cwd: dir, timeoutMs: 45_000 })
            const running = start(c.args, { env, cwd: dir, timeoutMs: 45_000 })
            // litestream runs and the store refused it (the echo went through the output): SIGINT
            await running.line((l) => l.includes("AccessDenied"), 30_000)
            running.child.kill("SIGINT")
            return running.exit
          }).pipe(Effect.map((result) => {
            sweep.text(`cli ${c.name}: stdout`, result.stdout)
            sweep.text(`cli ${c.name}: stderr`, result.stderr)
            expect(result.code, `${c.name}: ${result.stdout}${result.stderr}`).toBe(c.code)
            expect(result.signal, c.name).toBeNull()
            outcomes.push({ case: c.name, code: result.code, ms: result.ms, bytes: result.stdout.length + result.stderr.length })
          })), { concurrency: 1, discard: true })
        // (one after the other: they share one database, and two litestreams on one database are
        // refused with AlreadyReplicating, which would keep some cases from reaching litestream)
        // the local database survived every failed backup with --delete-local
        expect(Sqlite.readRows(dbPath(dir))).toEqual(written)
        expect(Sqlite.integrityCheck(dbPath(dir))).toBe("ok")
        // the cases reached litestream: it ran under the wrapper, and the 403 echo was masked
        expect((yield* sweep.runs).length).toBeGreaterThanOrEqual(6)
        const printed = (yield* sweep.entries).filter((e) => e.source.startsWith("cli")).map((e) => e.text).join("\n")
        expect(printed).toContain("<redacted>")
        Figures.record("cli-sweep", { cases: cases.length, outcomes })
      })), 120_000)
})
