/**
 * Which processes hold a file open, from Linux's `/proc/<pid>/fd`. Elsewhere (no `/proc`) the
 * answer is `undefined`: the caller then relies on SQLite's locks alone.
 * @internal
 */
import * as NodeFs from "node:fs"

/** A file by identity (device and inode), which survives renames. */
export interface FileId {
  readonly dev: number
  readonly ino: number
}

/** The identity of `path` now, or `undefined` when it does not exist. */
export const fileId = (path: string): FileId | undefined => {
  try {
    const st = NodeFs.statSync(path)
    return { dev: st.dev, ino: st.ino }
  } catch {
    return undefined
  }
}

/** The open file descriptors on each process that point at one of `files`, this process included. */
export const holders = (files: ReadonlyArray<FileId>): Map<number, number> | undefined => {
  if (!NodeFs.existsSync("/proc/self/fd")) return undefined
  const wanted = new Set(files.map((f) => `${f.dev}:${f.ino}`))
  const found = new Map<number, number>()
  for (const entry of NodeFs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    let fds: Array<string>
    try {
      fds = NodeFs.readdirSync(`/proc/${entry}/fd`)
    } catch {
      continue // gone, or another user's: their SQLite locks still count
    }
    for (const fd of fds) {
      try {
        const st = NodeFs.statSync(`/proc/${entry}/fd/${fd}`)
        if (wanted.has(`${st.dev}:${st.ino}`)) found.set(Number(entry), (found.get(Number(entry)) ?? 0) + 1)
      } catch {
        // closed meanwhile
      }
    }
  }
  return found
}

/**
 * The processes other than this one holding one of `files` open, plus this process when it
 * holds more descriptors on them than `ownAllowed` (another connection of its own).
 */
export const otherHolders = (files: ReadonlyArray<FileId>, ownAllowed: number): ReadonlyArray<number> => {
  const all = holders(files)
  if (all === undefined) return []
  return [...all.entries()].filter(([pid, n]) => pid !== process.pid || n > ownAllowed).map(([pid]) => pid).sort(
    (a, b) => a - b
  )
}

/**
 * The program name of a process (`/proc/<pid>/comm`), if readable: its name only, never its
 * arguments, which may hold anything (another program's secrets among them).
 */
export const commandOf = (pid: number): string | undefined => {
  try {
    const name = NodeFs.readFileSync(`/proc/${pid}/comm`, "utf8").trim()
    return name === "" ? undefined : name
  } catch {
    return undefined
  }
}
