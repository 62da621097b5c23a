/**
 * What `litestream version` said, kept between runs of the program: each command would
 * otherwise start the binary once more before its work (about 50 ms and a process on this
 * machine, a fifth of a 1 MB backup). An answer is used only for the very file it came from:
 * the same path, device, inode, size, modification and change times; anything else (a binary
 * replaced or upgraded in place, a name looked up on PATH) and the binary is asked again. Kept
 * in the folder of the code cache (see `CompileCache.ts`: the user's own, mode 0700), and
 * turned off with it.
 *
 * @since 0.3.0
 */
import * as LitestreamVersion from "@effect-litestream/core/LitestreamVersion"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { privateFolder } from "./CompileCache.js"

interface Entry {
  readonly binary: string
  readonly identity: string
  readonly text: string
}

// what changes when the file does: ctime cannot be set back by its owner
const identityOf = (file: string): string => {
  const s = fs.statSync(file, { bigint: true })
  return [s.dev, s.ino, s.size, s.mtimeNs, s.ctimeNs].join(":")
}

const entryFile = (folder: string, binary: string) =>
  path.join(folder, `litestream-version-${createHash("sha256").update(binary).digest("hex").slice(0, 32)}.json`)

const get = (folder: string) => (binary: string): Effect.Effect<Option.Option<LitestreamVersion.Detected>> =>
  Effect.sync(() => {
    // a bare name is looked up on PATH by the executor: no file to check here
    if (!path.isAbsolute(binary)) return Option.none()
    try {
      const entry = JSON.parse(fs.readFileSync(entryFile(folder, binary), "utf8")) as Entry
      if (entry.binary !== binary || entry.identity !== identityOf(binary)) return Option.none()
      const version = LitestreamVersion.parse(entry.text)
      if (Either.isLeft(version)) return Option.none()
      const line = LitestreamVersion.lineOf(version.right)
      return line === undefined ? Option.none() : Option.some({ version: version.right, line })
    } catch {
      return Option.none()
    }
  })

const set = (folder: string) => (binary: string, detected: LitestreamVersion.Detected): Effect.Effect<void> =>
  Effect.sync(() => {
    if (!path.isAbsolute(binary)) return
    try {
      const entry: Entry = { binary, identity: identityOf(binary), text: detected.version.text }
      const file = entryFile(folder, binary)
      const temporary = `${file}.${process.pid}.tmp`
      fs.writeFileSync(temporary, JSON.stringify(entry), { mode: 0o600 })
      fs.renameSync(temporary, file)
    } catch {
      // the next run asks the binary again
    }
  })

/**
 * Runs `self` with the cache, or without where there is no folder to trust.
 *
 * @since 0.3.0
 */
export const provide = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.suspend(() => {
    const folder = privateFolder()
    return folder === undefined
      ? self
      : Effect.provideService(self, LitestreamVersion.DetectionCache, { get: get(folder), set: set(folder) })
  })
