/**
 * The v0.5 read side over a file:// store on the fixture replica written by litestream 0.5.17:
 * the listing rows, the plan, and the plan applied to memory giving the very bytes
 * `litestream restore` of 0.5.17 gave (test/fixtures/ltx-0.5.17/restored.db); earlier TXIDs;
 * and typed errors for v0.3 options, a renamed file and a chain without its snapshot.
 */
import { LtxReplica, ReplicaStore } from "@effect-litestream/core"
import * as Ltx from "@effect-litestream/core/format/Ltx"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"
import { encode, pagesOf } from "../support/LtxEncoder.js"

const fixture = fileURLToPath(new URL("../fixtures/ltx-0.5.17/", import.meta.url))

const storeAt = (root: string) =>
  ReplicaStore.makeFile({ replica: `file://${root}`, root }).pipe(Effect.provide(NodeContext.layer))

const memory = () => {
  let buffer = new Uint8Array(0)
  return {
    sink: {
      writeAt: (position: number, bytes: Uint8Array) =>
        Effect.sync(() => {
          if (position + bytes.length > buffer.length) {
            const grown = new Uint8Array(position + bytes.length)
            grown.set(buffer)
            buffer = grown
          }
          buffer.set(bytes, position)
        }),
      end: (size: number) =>
        Effect.sync(() => {
          const out = new Uint8Array(size)
          out.set(buffer.subarray(0, size))
          buffer = out
        })
    },
    bytes: () => buffer
  }
}

const restore = (root: string, target: LtxReplica.Target = {}) =>
  Effect.gen(function*() {
    const store = yield* storeAt(root)
    const plan = yield* LtxReplica.planFor(store, target)
    if ("_tag" in plan) return plan
    const m = memory()
    const applied = yield* LtxReplica.apply(store, plan, m.sink)
    return { applied, bytes: m.bytes(), plan }
  })

const copyReplica = () => {
  const dir = fs.mkdtempSync(NodePath.join(os.tmpdir(), "ltx-replica-unit-"))
  fs.cpSync(NodePath.join(fixture, "replica"), dir, { recursive: true })
  return dir
}

describe("LtxReplica", () => {
  it.effect("lists the files as rows", () =>
    Effect.gen(function*() {
      const rows = yield* LtxReplica.list(yield* storeAt(NodePath.join(fixture, "replica")))
      expect(rows.map((r) => `${r.level} ${r.minTxid}-${r.maxTxid}`)).toEqual([
        "0 0000000000000001-0000000000000001",
        "0 0000000000000002-0000000000000002",
        "0 0000000000000003-0000000000000003",
        "1 0000000000000001-0000000000000002",
        "9 0000000000000001-0000000000000002"
      ])
      expect(rows[0]!.size).toBe(fs.statSync(NodePath.join(fixture, "replica/ltx/0/0000000000000001-0000000000000001.ltx")).size)
    }))

  it.effect("restores the bytes litestream 0.5.17 restored", () =>
    Effect.gen(function*() {
      const result = yield* restore(NodePath.join(fixture, "replica"))
      if ("_tag" in result) throw new Error(result.reason)
      expect(result.plan.files.map((f) => f.key)).toEqual([
        "ltx/9/0000000000000001-0000000000000002.ltx",
        "ltx/0/0000000000000003-0000000000000003.ltx"
      ])
      expect(result.applied).toEqual({ pageSize: 1024, pages: 7, txid: 3 })
      expect(Buffer.from(result.bytes).equals(fs.readFileSync(NodePath.join(fixture, "restored.db")))).toBe(true)
    }))

  it.effect("restores earlier TXIDs; past the last is NoBackups", () =>
    Effect.gen(function*() {
      const one = yield* restore(NodePath.join(fixture, "replica"), { txid: 1 })
      const two = yield* restore(NodePath.join(fixture, "replica"), { txid: 2 })
      if ("_tag" in one || "_tag" in two) throw new Error("no plan")
      expect(one.plan.files.map((f) => f.key)).toEqual(["ltx/0/0000000000000001-0000000000000001.ltx"])
      expect(two.plan.files.map((f) => f.key)).toEqual(["ltx/9/0000000000000001-0000000000000002.ltx"])
      expect(Buffer.from(one.bytes).equals(Buffer.from(two.bytes))).toBe(false)
      expect(yield* restore(NodePath.join(fixture, "replica"), { txid: 4 })).toMatchObject({ _tag: "NoBackups" })
    }))

  it.effect("v0.3 options on a v0.5 replica: NotOnThisLine", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(restore(NodePath.join(fixture, "replica"), { generation: "0123456789abcdef" }))
      expect(error._tag).toBe("NotOnThisLine")
      expect(error.message).toContain("LTX files, no generations")
    }))

  it.effect("a renamed file, a damaged file, a chain without its snapshot: ReplicaCorrupt naming the file", () =>
    Effect.gen(function*() {
      const dir = copyReplica()
      // the L0 file of TXID 3 renamed to claim TXIDs 3-4
      fs.renameSync(NodePath.join(dir, "ltx/0/0000000000000003-0000000000000003.ltx"), NodePath.join(dir, "ltx/0/0000000000000003-0000000000000004.ltx"))
      const renamed = yield* Effect.flip(restore(dir))
      expect(renamed).toMatchObject({ _tag: "ReplicaCorrupt", fault: "NameMismatch", key: "ltx/0/0000000000000003-0000000000000004.ltx" })
      fs.renameSync(NodePath.join(dir, "ltx/0/0000000000000003-0000000000000004.ltx"), NodePath.join(dir, "ltx/0/0000000000000003-0000000000000003.ltx"))
      // a flipped byte near the end of the snapshot
      const snapshot = NodePath.join(dir, "ltx/9/0000000000000001-0000000000000002.ltx")
      const bytes = fs.readFileSync(snapshot)
      bytes[bytes.length - 3]! ^= 1
      fs.writeFileSync(snapshot, bytes)
      expect(yield* Effect.flip(restore(dir))).toMatchObject({ _tag: "ReplicaCorrupt", fault: "FileChecksum", key: "ltx/9/0000000000000001-0000000000000002.ltx" })
      // no snapshot and no file from TXID 1 at any level: nothing to start from
      fs.rmSync(NodePath.join(dir, "ltx/9"), { recursive: true })
      fs.rmSync(NodePath.join(dir, "ltx/1"), { recursive: true })
      fs.rmSync(NodePath.join(dir, "ltx/0/0000000000000001-0000000000000001.ltx"))
      expect(yield* restore(dir)).toMatchObject({ _tag: "NoBackups" })
      fs.rmSync(dir, { recursive: true, force: true })
    }))
})

describe("LtxReplica database checksums (files that track them)", () => {
  const pageSize = 512
  const db = (n: number, seed: number) => Uint8Array.from({ length: n * pageSize }, (_, i) => (i * seed + (i >> 9)) & 0xff)
  const write = (dir: string, min: number, max: number, bytes: Uint8Array) => {
    const path = NodePath.join(dir, "ltx/0", `${Ltx.hex16(min)}-${Ltx.hex16(max)}.ltx`)
    fs.mkdirSync(NodePath.dirname(path), { recursive: true })
    fs.writeFileSync(path, bytes)
  }
  const build = (postOfLast: (real: bigint) => bigint, preOfLast: (real: bigint) => bigint = (x) => x) => {
    const dir = fs.mkdtempSync(NodePath.join(os.tmpdir(), "ltx-checksums-"))
    const a = db(6, 7)
    const b = db(4, 11) // shrinks, every page changed
    const sum = (x: Uint8Array) => Ltx.databaseChecksum(x, pageSize)
    write(dir, 1, 1, encode({ pageSize, commit: 6, minTxid: 1, maxTxid: 1, pages: pagesOf(a, pageSize), checksums: true, postApplyChecksum: sum(a) }))
    write(dir, 2, 2, encode({
      pageSize, commit: 4, minTxid: 2, maxTxid: 2, pages: pagesOf(b, pageSize), checksums: true,
      preApplyChecksum: preOfLast(sum(a)), postApplyChecksum: postOfLast(sum(b))
    }))
    return { dir, b }
  }

  it.effect("a consistent chain restores; a wrong post- or pre-apply checksum is ReplicaCorrupt", () =>
    Effect.gen(function*() {
      const good = build((x) => x)
      const ok = yield* restore(good.dir)
      if ("_tag" in ok) throw new Error(ok.reason)
      expect(Buffer.from(ok.bytes).equals(Buffer.from(good.b))).toBe(true)
      const post = build((x) => x ^ 0x10n)
      expect(yield* Effect.flip(restore(post.dir))).toMatchObject({ _tag: "ReplicaCorrupt", fault: "PostApplyChecksum" })
      const pre = build((x) => x, (x) => x ^ 0x4n)
      expect(yield* Effect.flip(restore(pre.dir))).toMatchObject({ _tag: "ReplicaCorrupt", fault: "PreApplyChecksum" })
      for (const d of [good.dir, post.dir, pre.dir]) fs.rmSync(d, { recursive: true, force: true })
    }))
})
