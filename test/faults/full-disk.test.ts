/**
 * A full disk, on a real file system: a small tmpfs mounted for each case (it needs root and
 * mount(2); where the machine refuses, the cases say so and are skipped). A restore into a full
 * device, through litestream or natively, fails with `LocalFileError` `reason: "NoSpace"`,
 * publishes nothing and leaves nothing on the device; a backup of a database on a full device
 * fails the same way and leaves the database as it was; both succeed once there is room. And,
 * with a file system that fails one fsync: a native restore whose background fsync fails (its
 * last one succeeding) fails, and publishes nothing.
 */
import { LitestreamError, NativeRestore } from "@effect-litestream/core"
import { NodeFileSystem } from "@effect/platform-node"
import * as FileSystem from "@effect/platform/FileSystem"
import { SystemError } from "@effect/platform/Error"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as NodePath from "node:path"
import { addBlobs, listOrEmpty } from "../support/Faults.js"
import { tempDir } from "../support/Fixtures.js"
import { dbPath, failure, guardAgainstLeaks, once, restore, services } from "../support/Harness.js"
import { native, nativeDeps, nativeWorkers, restoreWith } from "../support/NativeReplica.js"
import * as Sqlite from "../support/Sqlite.js"

guardAgainstLeaks()

const mount = (dir: string, kib: number) =>
  ChildProcess.execFileSync("mount", ["-t", "tmpfs", "-o", `size=${kib}k`, "tmpfs", dir], { stdio: "pipe" })

/** Whether this machine lets the tests mount a tmpfs (root, and mount(2) allowed). */
const mountable = (() => {
  const dir = fs.mkdtempSync(NodePath.join(os.tmpdir(), "effect-litestream-mount-probe-"))
  try {
    mount(dir, 64)
    ChildProcess.execFileSync("umount", [dir], { stdio: "pipe" })
    return true
  } catch {
    return false
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})()
if (!mountable) console.warn("full-disk.test.ts: the tmpfs cases are skipped: this machine does not let the tests mount a tmpfs (needs root and mount(2))")

/** A tmpfs of `kib` KiB at a new folder, unmounted when the scope closes. */
const smallDevice = (kib: number) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = fs.mkdtempSync(NodePath.join(os.tmpdir(), "effect-litestream-full-"))
      mount(dir, kib)
      return dir
    }),
    (dir) =>
      Effect.sync(() => {
        ChildProcess.execFileSync("umount", [dir], { stdio: "pipe" })
        fs.rmSync(dir, { recursive: true, force: true })
      })
  )

const resize = (dir: string, kib: number) =>
  Effect.sync(() => ChildProcess.execFileSync("mount", ["-o", `remount,size=${kib}k`, dir], { stdio: "pipe" }))

/** Bytes in use on the device at `dir`. */
const used = (dir: string) => {
  const stat = fs.statfsSync(dir)
  return (stat.blocks - stat.bfree) * stat.bsize
}

/** Fills the device at `dir` up with a file `filler`. */
const fill = (dir: string) =>
  Effect.sync(() => {
    const chunk = Buffer.alloc(64 * 1024, 1)
    const fd = fs.openSync(NodePath.join(dir, "filler"), "w")
    try {
      for (;;) fs.writeSync(fd, chunk)
    } catch (e) {
      expect((e as NodeJS.ErrnoException).code).toBe("ENOSPC")
    } finally {
      fs.closeSync(fd)
    }
  })

/** A database of about `mib` MiB (random blobs) backed up to a file:// replica; its rows. */
const backedUp = (dir: string, mib: number) =>
  Effect.gen(function*() {
    const folder = NodePath.join(dir, "app")
    fs.mkdirSync(folder)
    Sqlite.createDatabase(dbPath(folder), 50)
    addBlobs(dbPath(folder), mib * 16)
    const url = `file://${NodePath.join(dir, "replica")}`
    yield* once().pipe(Effect.provide(services(folder, url)))
    return { folder, url, rows: Sqlite.readRows(dbPath(folder)) }
  })

const expectNoSpace = (error: unknown, where: string) => {
  expect(error).toBeInstanceOf(LitestreamError.LocalFileError)
  const e = error as LitestreamError.LocalFileError
  expect(e.reason, e.message).toBe("NoSpace")
  expect(e.path.startsWith(where), e.message).toBe(true)
  expect(e.message).toContain("Fix: free space on the device")
}

describe.skipIf(!mountable)("a full disk (a small tmpfs)", () => {
  it.scopedLive("restore into a full device: NoSpace, nothing published, nothing left; then, with room, it restores", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const { folder, rows, url } = yield* backedUp(dir, 3)
      const layers = {
        litestream: Layer.orDie(services(folder, url)),
        native: native(folder, url),
        "native, worker threads": nativeWorkers(folder, url)
      }
      const device = yield* smallDevice(1024)
      const output = NodePath.join(device, "restored.db")
      for (const [name, layer] of Object.entries(layers)) {
        const error = yield* failure(restoreWith(layer, { output }))
        expectNoSpace(error, device)
        expect(yield* listOrEmpty(device), `${name}: what the failed restore left`).toEqual([])
        expect(used(device), `${name}: bytes still in use`).toBe(0)
      }
      yield* resize(device, 16 * 1024)
      for (const [name, layer] of Object.entries(layers)) {
        const result = yield* restoreWith(layer, { output })
        expect(result._tag, name).toBe("Restored")
        expect(Sqlite.readRows(output), name).toEqual(rows)
        expect(Sqlite.integrityCheck(output)).toBe("ok")
        for (const file of [output, `${output}-wal`, `${output}-shm`]) fs.rmSync(file, { force: true })
      }
    }), 120_000)

  it.scopedLive("backup of a database on a full device: NoSpace, the database as it was, nothing left beside it; then it backs up", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const device = yield* smallDevice(4096)
      const rows = Sqlite.createDatabase(dbPath(device), 200)
      const url = `file://${NodePath.join(dir, "replica")}`
      yield* fill(device)
      const before = fs.readFileSync(dbPath(device))
      const names = yield* listOrEmpty(device)
      const error = yield* failure(once({ timeout: "20 seconds" }).pipe(Effect.provide(services(device, url))))
      expectNoSpace(error, device)
      expect(yield* listOrEmpty(device), "the files beside the database").toEqual(names)
      expect(fs.readFileSync(dbPath(device)).equals(before), "the database is unchanged").toBe(true)

      fs.rmSync(NodePath.join(device, "filler"))
      yield* once({ timeout: "20 seconds" }).pipe(Effect.provide(services(device, url)))
      const output = NodePath.join(dir, "restored.db")
      yield* restore({ output }).pipe(Effect.provide(services(device, url)))
      expect(Sqlite.readRows(output)).toEqual(rows)
    }), 60_000)
})

/** Node's file system, except that the first fsync of a restore's staging file fails. */
const firstStagingSyncFails = Layer.effect(
  FileSystem.FileSystem,
  Effect.map(FileSystem.FileSystem, (real) => {
    let failed = 0
    return {
      ...real,
      open: (path: string, options?: FileSystem.OpenFileOptions) =>
        Effect.map(real.open(path, options), (file) => {
          if (!NodePath.basename(path).startsWith(".effect-litestream-restore-")) return file
          const faulty = Object.create(file) as FileSystem.File
          Object.defineProperty(faulty, "sync", {
            get: () =>
              failed++ === 0
                ? Effect.fail(new SystemError({ reason: "Unknown", module: "FileSystem", method: "sync", description: "EIO: i/o error, fsync" }))
                : file.sync
          })
          return faulty
        })
    }
  })
).pipe(Layer.provide(NodeFileSystem.layer))

describe("a failed fsync", () => {
  it.scopedLive("a native restore whose background fsync fails fails, though its last fsync succeeds; nothing published", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      // larger than the 16 MiB the file sink writes between two background fsyncs
      const { folder, rows, url } = yield* backedUp(dir, 24)
      const output = NodePath.join(dir, "out", "restored.db")
      const layer = NativeRestore.layer.pipe(Layer.provide(firstStagingSyncFails), Layer.provide(nativeDeps(folder, url)))
      const error = yield* failure(restoreWith(layer, { output }))
      expect(error).toBeInstanceOf(LitestreamError.LocalFileError)
      expect((error as LitestreamError.LocalFileError).operation).toBe("sync")
      expect((error as LitestreamError.LocalFileError).detail).toContain("EIO")
      expect(yield* listOrEmpty(NodePath.dirname(output)), "nothing published, no staging file").toEqual([])
      // the same restore with a file system whose fsyncs succeed
      yield* restoreWith(native(folder, url), { output })
      expect(Sqlite.readRows(output)).toEqual(rows)
    }), 60_000)
})
