/**
 * The native `Restore` layer (NativeRestore.layer, what `restore --native` runs) on litestream
 * v0.5 replicas: it finds the format at the replica and restores v0.5 as litestream 0.5.17
 * does (byte-identical, file:// and fauxqs), with `txid` and `timestamp`; an empty replica is
 * NoBackupsFound or Skipped; a damaged one is ReplicaCorrupt with nothing published and no
 * staging file left; `generation` on a v0.5 replica is NotOnThisLine. A replica that
 * holds both lines (backed up by litestream 0.3.13, then by 0.5.17, and the other way round):
 * the native layer picks the line litestream 0.5.17 picks, and restores the same bytes.
 */
import { NativeRestore, ReplicaStore } from "@effect-litestream/core"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as NodePath from "node:path"
import { DB, expectNoSecret, once, services } from "../support/Harness.js"
import { native, restoreWith } from "../support/NativeReplica.js"
import { litestreamV5 } from "../support/Peers.js"
import { startS3Server } from "../support/S3Server.js"
import * as Sqlite from "../support/Sqlite.js"
import { ltxV5, replicateV5, restoreV5, sleep } from "../support/V5Replica.js"

const peer = litestreamV5()
if (!peer.available) console.warn(`SKIPPED native v0.5 layer tests: ${peer.reason}`)

const tempDir = (prefix: string) => fs.mkdtempSync(NodePath.join(os.tmpdir(), prefix))
const same = (a: string, b: string) => fs.readFileSync(a).equals(fs.readFileSync(b))

/** A v0.5 replica of `folder/app.db`: rows in batches while litestream 0.5.17 replicates. */
const v5Backup = async (folder: string, url: string, batches = 6) => {
  const dbPath = NodePath.join(folder, DB)
  if (!fs.existsSync(dbPath)) Sqlite.createDatabase(dbPath, 100)
  const moments: Array<Date> = []
  const run = await replicateV5(folder, dbPath, url, async () => {
    for (let i = 0; i < batches; i++) {
      Sqlite.addRows(dbPath, 150)
      moments.push(new Date())
      await sleep(250)
    }
  })
  expect(run.code, run.out).toBe(0)
  return moments
}

/** No private file of a restore left in `folder`. */
const noStaging = (folder: string, output: string) =>
  expect(fs.readdirSync(folder).filter((f) => f.startsWith(`.${NodePath.basename(output)}`) || f.includes(".tmp"))).toEqual([])

describe.skipIf(!peer.available)("NativeRestore.layer on litestream v0.5 replicas", () => {
  for (const store of ["file", "s3"] as const) {
    it(`${store}: latest, txid and timestamp, byte-identical to litestream 0.5.17`, { timeout: 90_000 }, async () => {
      const folder = tempDir(`native-v5-layer-${store}-`)
      const server = store === "s3" ? await startS3Server("v5-layer") : undefined
      try {
        const url = server !== undefined ? server.url("layer/db") : `file://${NodePath.join(folder, "replica")}`
        const moments = await v5Backup(folder, url)
        const rows = await ltxV5(url)
        const txid = rows.filter((r) => r.level === 0).at(-3)!.maxTxid
        for (const [label, options, target] of [
          ["latest", {}, {}],
          ["txid", { txid }, { txid }],
          ["timestamp", { timestamp: moments[2]! }, { timestamp: moments[2]! }]
        ] as const) {
          const ours = NodePath.join(folder, `${label}-native.db`)
          const theirs = NodePath.join(folder, `${label}-litestream.db`)
          const result = await Effect.runPromise(restoreWith(native(folder, url), { ...options, output: ours }))
          expect(result._tag, label).toBe("Restored")
          const run = await restoreV5(url, theirs, target)
          expect(run.code, run.out).toBe(0)
          expect(same(ours, theirs), label).toBe(true)
          expect(Sqlite.integrityCheck(ours)).toBe("ok")
        }
        noStaging(folder, "latest-native.db")
        if (server === undefined) {
          // in memory, from a store alone
          const root = NodePath.join(folder, "replica")
          const bytes = await Effect.runPromise(
            NativeRestore.toBytes({ txid }).pipe(
              Effect.provide(ReplicaStore.layerFile({ replica: url, root })),
              Effect.provide(NodeContext.layer)
            )
          )
          expect(Buffer.from(bytes).equals(fs.readFileSync(NodePath.join(folder, "txid-litestream.db")))).toBe(true)
        }
      } finally {
        await server?.stop()
        fs.rmSync(folder, { recursive: true, force: true })
      }
    })
  }

  it("empty replica, generation on v0.5, a damaged file: typed errors, nothing published", { timeout: 60_000 }, async () => {
    const folder = tempDir("native-v5-layer-errors-")
    try {
      const url = `file://${NodePath.join(folder, "replica")}`
      const out = NodePath.join(folder, "out.db")
      const empty = await Effect.runPromise(Effect.flip(restoreWith(native(folder, url), { output: out })))
      expect(empty._tag).toBe("NoBackupsFound")
      expect(await Effect.runPromise(restoreWith(native(folder, url), { output: out, ifReplicaExists: true }))).toMatchObject({
        _tag: "Skipped",
        reason: "NoBackups"
      })
      await v5Backup(folder, url, 3)
      const generation = await Effect.runPromise(Effect.flip(restoreWith(native(folder, url), { output: out, generation: "0123456789abcdef" })))
      expect(generation._tag).toBe("NotOnThisLine")
      expect(generation.message).toContain("LTX files, no generations")
      // past the last TXID: nothing to restore
      const past = await Effect.runPromise(Effect.flip(restoreWith(native(folder, url), { output: out, txid: 1_000_000 })))
      expect(past._tag).toBe("NoBackupsFound")
      // cut in half every file that reaches the last TXID (the plan must read one of them)
      const all = fs.readdirSync(NodePath.join(folder, "replica/ltx"), { recursive: true, encoding: "utf8" })
        .filter((f) => f.endsWith(".ltx"))
      const lastTxid = Math.max(...all.map((f) => parseInt(f.slice(-20, -4), 16)))
      const cut = all.filter((f) => parseInt(f.slice(-20, -4), 16) === lastTxid)
      for (const f of cut) {
        const file = NodePath.join(folder, "replica/ltx", f)
        fs.truncateSync(file, Math.floor(fs.statSync(file).size / 2))
      }
      const corrupt = await Effect.runPromise(Effect.flip(restoreWith(native(folder, url), { output: out })))
      expect(corrupt).toMatchObject({ _tag: "ReplicaCorrupt", fault: "Truncated" })
      expect(cut.map((f) => `ltx/${f}`)).toContain((corrupt as { key: string }).key)
      expectNoSecret(corrupt)
      expect(fs.existsSync(out)).toBe(false)
      noStaging(folder, "out.db")
    } finally {
      fs.rmSync(folder, { recursive: true, force: true })
    }
  })

  it("txid on a litestream v0.3 replica: NotOnThisLine, nothing published", { timeout: 60_000 }, async () => {
    const folder = tempDir("native-v5-txid-on-v3-")
    try {
      const url = `file://${NodePath.join(folder, "replica")}`
      Sqlite.createDatabase(NodePath.join(folder, DB), 50)
      await Effect.runPromise(Effect.provide(once({ timeout: "30 seconds" }), services(folder, url)))
      const out = NodePath.join(folder, "out.db")
      const error = await Effect.runPromise(Effect.flip(restoreWith(native(folder, url), { output: out, txid: 1 })))
      expect(error).toMatchObject({ _tag: "NotOnThisLine", line: "v0.3" })
      expect(error.message).toContain('restore option "txid"')
      expect(fs.existsSync(out)).toBe(false)
    } finally {
      fs.rmSync(folder, { recursive: true, force: true })
    }
  })

  for (const order of ["v3-then-v5", "v5-then-v3"] as const) {
    it(`a replica with both lines (${order}): the line and bytes litestream 0.5.17 restores`, { timeout: 90_000 }, async () => {
      const folder = tempDir(`native-v5-mixed-${order}-`)
      try {
        const url = `file://${NodePath.join(folder, "replica")}`
        const dbPath = NodePath.join(folder, DB)
        Sqlite.createDatabase(dbPath, 200)
        const v3 = () =>
          Effect.runPromise(Effect.provide(once({ timeout: "30 seconds" }), services(folder, url))).then(() => undefined)
        if (order === "v3-then-v5") {
          await v3()
          await sleep(1100)
          await v5Backup(folder, url, 2)
        } else {
          await v5Backup(folder, url, 2)
          await sleep(1100)
          Sqlite.addRows(dbPath, 77)
          await v3()
        }
        expect(fs.existsSync(NodePath.join(folder, "replica/generations"))).toBe(true)
        expect(fs.existsSync(NodePath.join(folder, "replica/ltx"))).toBe(true)
        const ours = NodePath.join(folder, "native.db")
        const theirs = NodePath.join(folder, "litestream.db")
        expect((await Effect.runPromise(restoreWith(native(folder, url), { output: ours })))._tag).toBe("Restored")
        const run = await restoreV5(url, theirs)
        expect(run.code, run.out).toBe(0)
        expect(same(ours, theirs)).toBe(true)
        expect(Sqlite.readRows(ours)).toEqual(Sqlite.readRows(dbPath))
        // the format forced: each line's own latest state; the one chosen is one of them
        const forced = { v3: NodePath.join(folder, "v3.db"), v5: NodePath.join(folder, "v5.db") }
        for (const format of ["v3", "v5"] as const) {
          expect((await Effect.runPromise(restoreWith(native(folder, url), { output: forced[format], format })))._tag).toBe("Restored")
        }
        expect(same(forced.v3, forced.v5)).toBe(false)
        expect(same(ours, order === "v3-then-v5" ? forced.v5 : forced.v3)).toBe(true)
      } finally {
        fs.rmSync(folder, { recursive: true, force: true })
      }
    })
  }
})
