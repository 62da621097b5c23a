/**
 * What every suite gets: the run's options, its temporary folder, the S3 server, the litestream
 * binary and the sample databases; and what every suite gives back: a Markdown section and its
 * targets. A new suite (for example replication lag, once continuous replication exists) is one
 * more module in `bench/suites/` with a `run(context)` of this shape, listed in `bench/run.ts`.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import type { SampleDatabase } from "./database.ts"
import type { S3Server } from "./s3server.ts"

export type Size = "1MB" | "100MB" | "1GB"

export const SIZES: Record<Size, { readonly label: string; readonly bytes: number }> = {
  "1MB": { label: "1 MB", bytes: 1024 ** 2 },
  "100MB": { label: "100 MB", bytes: 100 * 1024 ** 2 },
  "1GB": { label: "1 GB", bytes: 1024 ** 3 }
}

export interface Database extends SampleDatabase {
  readonly size: Size
  /** bytes of litestream's LZ4 snapshot of this database (measured once, on a file:// replica) */
  readonly snapshotBytes: number
}

export interface Context {
  readonly quick: boolean
  /** the run's temporary folder, removed at the end */
  readonly tmp: string
  readonly s3: S3Server
  /** the S3 bucket the suites use; emptied between repetitions */
  readonly bucket: string
  readonly binary: string
  /** the sizes this run covers (no 1 GB in quick mode) */
  readonly sizes: ReadonlyArray<Size>
  readonly databases: ReadonlyMap<Size, Database>
  /** progress, on stderr */
  readonly log: (message: string) => void
  /** a new empty folder under `tmp` */
  readonly folder: (name: string) => string
}

export interface TargetResult {
  readonly target: string
  readonly measured: string
  readonly pass: boolean
}

export interface SuiteResult {
  readonly title: string
  /** the section, Markdown, starting at its `##` heading */
  readonly markdown: string
  readonly targets: ReadonlyArray<TargetResult>
  /** calls of the library that failed, of all made (timed ones and warm-ups) */
  readonly libraryCalls: { readonly failed: number; readonly total: number }
}

export interface Suite {
  readonly name: string
  /** the sample databases it uses, when not every size of the run (so a run of it alone builds only those) */
  readonly sizes?: ReadonlyArray<Size>
  readonly run: (context: Context) => Promise<SuiteResult>
}

/** The database file name every run uses inside its own folder. */
export const DB_NAME = "db.sqlite"

/**
 * Copies a sample database into `dir` (as `DB_NAME`) and flushes it to disk, so that no writeback
 * of the copy competes with the run that follows.
 */
export const copyInto = (context: Context, size: Size, dir: string): void => {
  fs.mkdirSync(dir, { recursive: true })
  const target = path.join(dir, DB_NAME)
  fs.copyFileSync(context.databases.get(size)!.path, target)
  const fd = fs.openSync(target, "r+")
  fs.fsyncSync(fd)
  fs.closeSync(fd)
}

/** A private copy of a sample database in a new folder (see `copyInto`). Returns the folder. */
export const freshCopy = (context: Context, size: Size, name: string): string => {
  const dir = context.folder(name)
  copyInto(context, size, dir)
  return dir
}

export const fileUrl = (dir: string): string => `file://${dir}`
