/**
 * The `ReplicationLock` on Node: this process's pid and host name, its start identity from
 * `/proc` on Linux, and the liveness check `process.kill(pid, 0)` plus, where `/proc` exists,
 * the holder's start identity, so that another process that got the holder's pid later is not
 * taken for it.
 *
 * @since 0.2.0
 */
import { ReplicationLock } from "@effect-litestream/core"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"

const readText = (file: string): Effect.Effect<string | undefined> =>
  Effect.promise(() => fs.promises.readFile(file, "utf8").catch(() => undefined))

/**
 * The start time of a process, in clock ticks since boot: field 22 of `/proc/<pid>/stat`
 * (after the command name, which is in parentheses and may hold spaces and parentheses).
 *
 * @since 0.2.0
 */
export const parseStartTime = (stat: string): string | undefined => {
  const end = stat.lastIndexOf(")")
  if (end === -1) return undefined
  // fields from the 3rd on: the 22nd is the 20th of them
  const value = stat.slice(end + 1).trim().split(/\s+/)[19]
  return value !== undefined && /^\d+$/.test(value) ? value : undefined
}

/**
 * A process's start identity on Linux, `<boot id>/<start time>`; undefined elsewhere, or when
 * the process does not exist.
 *
 * @since 0.2.0
 */
export const identityOf = (pid: number): Effect.Effect<string | undefined> =>
  Effect.gen(function*() {
    const stat = yield* readText(`/proc/${pid}/stat`)
    const start = stat === undefined ? undefined : parseStartTime(stat)
    if (start === undefined) return undefined
    const boot = (yield* readText("/proc/sys/kernel/random/boot_id"))?.trim() ?? ""
    return `${boot}/${start}`
  })

/**
 * Whether the process `pid` exists: signal 0; `EPERM` (it exists, owned by another user) counts
 * as alive.
 *
 * @since 0.2.0
 */
export const pidExists = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

/**
 * Whether the holder of a lock still runs: its pid exists and, where `/proc` tells the start
 * identity of both, it is the same process.
 *
 * @since 0.2.0
 */
export const isAlive = (holder: ReplicationLock.Holder): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    if (!pidExists(holder.pid)) return false
    if (holder.startedAt === null) return true
    const now = yield* identityOf(holder.pid)
    // no /proc here (or it vanished meanwhile): the pid is all there is to go by
    if (now === undefined) return pidExists(holder.pid)
    return now === holder.startedAt
  })

/**
 * The `ReplicationLock` service for this Node process.
 *
 * @since 0.2.0
 */
export const layer: Layer.Layer<ReplicationLock.ReplicationLock, never, FileSystem.FileSystem | Path.Path> = Layer.unwrapEffect(
  Effect.map(identityOf(process.pid), (identity) =>
    ReplicationLock.layer({ pid: process.pid, host: os.hostname(), identity, isAlive }))
)
