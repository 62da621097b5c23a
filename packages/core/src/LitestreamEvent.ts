/**
 * litestream's log, as typed events. One parser reads its three formats: the plain text of
 * `litestream replicate DB URL`, the logfmt of a config file, and JSON (`logging: {type: json}`).
 *
 * @since 0.1.0
 */
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"

/**
 * A replica position: generation, WAL index, offset (`b59d6f08a3825659/00000000:16512`).
 *
 * @since 0.1.0
 */
export class Position extends Schema.Class<Position>("Position")({
  generation: Schema.String,
  index: Schema.Number,
  offset: Schema.Number
}) {
  override toString(): string {
    return `${this.generation}/${this.index.toString(16).padStart(8, "0")}:${this.offset}`
  }
}

/**
 * A replica position on litestream v0.5: the last transaction ID the replica holds (16 hex
 * digits, as litestream prints it). v0.5 has no generations and no WAL offsets: its log, its
 * LTX files and `restore -txid` all speak in TXIDs.
 *
 * @since 0.2.0
 */
export class TxidPosition extends Schema.Class<TxidPosition>("TxidPosition")({
  txid: Schema.String.pipe(Schema.pattern(/^[0-9a-f]{16}$/))
}) {
  /** the TXID as a number, for comparisons and `RestoreOptions.txid` */
  get value(): bigint {
    return BigInt(`0x${this.txid}`)
  }
  override toString(): string {
    return `txid ${this.txid}`
  }
}

/**
 * Where a replica stands, on either line: a `Position` (v0.3: generation, index, offset) or a
 * `TxidPosition` (v0.5).
 *
 * @since 0.2.0
 */
export type ReplicaPosition = Position | TxidPosition

/**
 * Whether a replica position is litestream v0.5's TXID.
 *
 * @since 0.2.0
 */
export const isTxidPosition = (p: ReplicaPosition): p is TxidPosition => p instanceof TxidPosition

/**
 * A `TxidPosition` from a TXID (a number, or 16 hex digits).
 *
 * @since 0.2.0
 */
export const txidPosition = (txid: bigint | number | string): TxidPosition =>
  new TxidPosition({
    txid: typeof txid === "string" ? txid.toLowerCase().padStart(16, "0") : txid.toString(16).padStart(16, "0")
  })

/**
 * Parses litestream's position string.
 *
 * @since 0.1.0
 */
// the regular expression has checked the fields: no validation (see `trusted` below)
export const parsePosition = (s: string): Option.Option<Position> => {
  const m = /^([0-9a-f]+)\/([0-9a-f]{8}):(\d+)$/.exec(s)
  return m ? Option.some(new Position({ generation: m[1]!, index: parseInt(m[2]!, 16), offset: Number(m[3]) }, true)) : Option.none()
}

/**
 * One log line, format-independent: level, message and attributes.
 *
 * @since 0.1.0
 */
export interface LogRecord {
  readonly time: string | undefined
  readonly level: "DEBUG" | "INFO" | "WARN" | "ERROR"
  readonly message: string
  readonly attributes: Readonly<Record<string, string>>
}

const LEVELS = new Set(["DEBUG", "INFO", "WARN", "ERROR"])

// logfmt pairs: key=value or key="quoted \"value\"". Returns undefined if `s` is not all pairs.
const parsePairs = (s: string): Record<string, string> | undefined => {
  const out: Record<string, string> = {}
  let i = 0
  while (i < s.length) {
    while (s[i] === " ") i++
    if (i >= s.length) break
    const eq = s.indexOf("=", i)
    if (eq <= i) return undefined
    const key = s.slice(i, eq)
    if (!/^[A-Za-z0-9_.-]+$/.test(key)) return undefined
    i = eq + 1
    if (s[i] === "\"") {
      let j = i + 1
      while (j < s.length && s[j] !== "\"") j += s[j] === "\\" ? 2 : 1
      if (j >= s.length) return undefined
      const quoted = s.slice(i, j + 1)
      try {
        out[key] = JSON.parse(quoted)
      } catch {
        out[key] = quoted.slice(1, -1)
      }
      i = j + 1
    } else {
      const end = s.indexOf(" ", i)
      out[key] = s.slice(i, end === -1 ? s.length : end)
      i = end === -1 ? s.length : end
    }
  }
  return out
}

const stringify = (v: unknown): string => typeof v === "string" ? v : JSON.stringify(v)

const PLAIN = /^(\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2}) (DEBUG|INFO|WARN|ERROR) (.*)$/

/**
 * Parses one line of litestream's log, in any of its three formats.
 *
 * @since 0.1.0
 */
const JSON_LEVEL = /^\{(?:"time":"[^"]*",)?"level":"([A-Z]+)"/

export const parseRecord = (line: string): Option.Option<LogRecord> => {
  const text = line.trim()
  if (text.startsWith("{")) {
    try {
      const { level: last, msg, time, ...rest } = JSON.parse(text) as Record<string, unknown>
      // slog writes time, level and msg first; litestream v0.5 also logs attributes named
      // `level` (its `-log-level`, an LTX file's compaction level), which JSON.parse keeps
      // instead: the record's own level is the first one.
      const level = JSON_LEVEL.exec(text)?.[1] ?? last
      if (typeof level !== "string" || !LEVELS.has(level) || typeof msg !== "string") return Option.none()
      const attributes: Record<string, string> = {}
      for (const [k, v] of Object.entries(rest)) attributes[k] = stringify(v)
      if (last !== level) attributes.level = stringify(last)
      return Option.some({ time: typeof time === "string" ? time : undefined, level: level as LogRecord["level"], message: msg, attributes })
    } catch {
      return Option.none()
    }
  }
  if (text.startsWith("time=")) {
    const pairs = parsePairs(text)
    if (!pairs || !LEVELS.has(pairs.level ?? "") || pairs.msg === undefined) return Option.none()
    const { level, msg, time, ...attributes } = pairs
    return Option.some({ time, level: level as LogRecord["level"], message: msg, attributes })
  }
  const m = PLAIN.exec(text)
  if (!m) return Option.none()
  const rest = m[3]!
  // The message is free text; the attributes are the longest logfmt tail.
  for (let i = rest.indexOf(" "); i !== -1; i = rest.indexOf(" ", i + 1)) {
    const pairs = parsePairs(rest.slice(i + 1))
    if (pairs && Object.keys(pairs).length > 0) {
      return Option.some({ time: m[1], level: m[2] as LogRecord["level"], message: rest.slice(0, i), attributes: pairs })
    }
  }
  return Option.some({ time: m[1], level: m[2] as LogRecord["level"], message: rest, attributes: {} })
}

/**
 * Converts a Go duration (`10.6ms`, `1m2s`) or a number of nanoseconds to milliseconds.
 *
 * @since 0.1.0
 */
export const parseGoDuration = (s: string | undefined): number | undefined => {
  if (s === undefined) return undefined
  if (/^\d+$/.test(s)) return Number(s) / 1e6
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60000, h: 3600000 }
  let total = 0
  let matched = ""
  for (const [part, n, unit] of s.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) {
    total += Number(n) * units[unit!]!
    matched += part
  }
  return matched === s && matched !== "" ? total : undefined
}

const Base = {
  db: Schema.optional(Schema.String),
  replica: Schema.optional(Schema.String)
}

/** @since 0.1.0 */
export const Started = Schema.TaggedStruct("Started", { version: Schema.String })
/** @since 0.1.0 */
export const DatabaseInitialized = Schema.TaggedStruct("DatabaseInitialized", { db: Schema.String })
/** @since 0.1.0 */
export const ReplicatingTo = Schema.TaggedStruct("ReplicatingTo", { replica: Schema.String, type: Schema.String })
/** @since 0.1.0 */
export const NewGeneration = Schema.TaggedStruct("NewGeneration", {
  db: Schema.String,
  generation: Schema.String,
  reason: Schema.String
})
/** @since 0.1.0 */
export const SnapshotWritten = Schema.TaggedStruct("SnapshotWritten", {
  ...Base,
  position: Schema.OptionFromSelf(Position),
  elapsedMillis: Schema.optional(Schema.Number),
  size: Schema.optional(Schema.Number)
})
/** @since 0.1.0 */
export const WalSegmentWritten = Schema.TaggedStruct("WalSegmentWritten", {
  ...Base,
  position: Schema.OptionFromSelf(Position),
  elapsedMillis: Schema.optional(Schema.Number),
  size: Schema.optional(Schema.Number)
})
/**
 * The replica's position was read from the store (debug level): proof the replica answered,
 * also when nothing new had to be written.
 *
 * @since 0.1.0
 */
export const ReplicaPositionFound = Schema.TaggedStruct("ReplicaPositionFound", {
  ...Base,
  position: Schema.OptionFromSelf(Position)
})
/** @since 0.1.0 */
export const ReplicaErrorLogged = Schema.TaggedStruct("ReplicaErrorLogged", {
  ...Base,
  message: Schema.String,
  error: Schema.String
})
/**
 * litestream v0.5 uploaded an LTX file (debug level): the transactions `minTxid` to `maxTxid`
 * (16 hex digits each) at compaction `level` (0: fresh from the WAL, 9: a snapshot).
 *
 * @since 0.2.0
 */
export const LtxFileUploaded = Schema.TaggedStruct("LtxFileUploaded", {
  ...Base,
  level: Schema.Number,
  minTxid: Schema.String,
  maxTxid: Schema.String,
  size: Schema.optional(Schema.Number)
})
/**
 * litestream v0.5 compacted LTX files into one at `level` (1-8; 9: a snapshot), holding the
 * transactions `minTxid` to `maxTxid` (16 hex digits each). v0.3 has no compaction.
 *
 * @since 0.2.0
 */
export const CompactionComplete = Schema.TaggedStruct("CompactionComplete", {
  db: Schema.optional(Schema.String),
  level: Schema.Number,
  minTxid: Schema.String,
  maxTxid: Schema.String,
  size: Schema.optional(Schema.Number)
})
/** @since 0.1.0 */
export const ShuttingDown = Schema.TaggedStruct("ShuttingDown", {})
/** @since 0.1.0 */
export const Stopped = Schema.TaggedStruct("Stopped", {})
/** Anything else litestream logged: kept, not dropped. @since 0.1.0 */
export const Other = Schema.TaggedStruct("Other", {
  level: Schema.Literal("DEBUG", "INFO", "WARN", "ERROR"),
  message: Schema.String,
  attributes: Schema.Record({ key: Schema.String, value: Schema.String })
})
/** A line that is not a litestream log record at all. @since 0.1.0 */
export const Unparsed = Schema.TaggedStruct("Unparsed", { line: Schema.String })

/**
 * Every event litestream's log can produce.
 *
 * @since 0.1.0
 */
export const LitestreamEvent = Schema.Union(
  Started,
  DatabaseInitialized,
  ReplicatingTo,
  NewGeneration,
  SnapshotWritten,
  WalSegmentWritten,
  ReplicaPositionFound,
  ReplicaErrorLogged,
  LtxFileUploaded,
  CompactionComplete,
  ShuttingDown,
  Stopped,
  Other,
  Unparsed
)

/**
 * @since 0.1.0
 */
export type LitestreamEvent = typeof LitestreamEvent.Type

const num = (s: string | undefined) => (s === undefined || s === "" || isNaN(Number(s)) ? undefined : Number(s))

const withOptional = <A extends object>(a: A): A =>
  Object.fromEntries(Object.entries(a).filter(([, v]) => v !== undefined)) as A

// The fields are built here from strings already checked, so the constructors skip validation:
// it cost about 30 µs and 6 KiB per line, and litestream logs 40 lines a second at debug level.
const trusted = { disableValidation: true } as const

const TXID = /^[0-9a-f]{16}$/

const compactionRange = (raw: string | undefined): { readonly min: string; readonly max: string } | undefined => {
  if (raw === undefined || !raw.startsWith("{")) return undefined
  try {
    const { max, min } = JSON.parse(raw) as { readonly min?: unknown; readonly max?: unknown }
    return typeof min === "string" && typeof max === "string" && TXID.test(min) && TXID.test(max) ? { min, max } : undefined
  } catch {
    return undefined
  }
}

/**
 * Classifies a parsed record.
 *
 * @since 0.1.0
 */
export const fromRecord = (r: LogRecord): LitestreamEvent => {
  const a = r.attributes
  const where = withOptional({ db: a.db, replica: a.replica })
  const position = () => parsePosition(a.position ?? "")
  switch (r.message) {
    case "litestream":
      if (a.version !== undefined) return Started.make({ version: a.version }, trusted)
      break
    case "initialized db":
      return DatabaseInitialized.make({ db: a.path ?? "" }, trusted)
    case "replicating to":
      return ReplicatingTo.make({ replica: a.name ?? "", type: a.type ?? "" }, trusted)
    case "sync: new generation":
      return NewGeneration.make({ db: a.db ?? "", generation: a.generation ?? "", reason: a.reason ?? "" }, trusted)
    case "snapshot written":
    case "wal segment written": {
      const fields = withOptional({
        ...where,
        position: position(),
        elapsedMillis: parseGoDuration(a.elapsed),
        size: num(a.sz)
      })
      return r.message === "snapshot written" ? SnapshotWritten.make(fields, trusted) : WalSegmentWritten.make(fields, trusted)
    }
    case "ltx file uploaded":
      if (num(a.level) !== undefined && a.minTXID !== undefined && a.maxTXID !== undefined) {
        return LtxFileUploaded.make(
          withOptional({ ...where, level: num(a.level)!, minTxid: a.minTXID, maxTxid: a.maxTXID, size: num(a.size) }),
          trusted
        )
      }
      break
    case "compaction complete": {
      // its `txid` is an object, {"min":…,"max":…}
      const range = compactionRange(a.txid)
      if (num(a.level) !== undefined && range !== undefined) {
        return CompactionComplete.make(
          withOptional({ db: a.db, level: num(a.level)!, minTxid: range.min, maxTxid: range.max, size: num(a.size) }),
          trusted
        )
      }
      break
    }
    case "replica sync: calc new pos":
      return ReplicaPositionFound.make({ ...where, position: position() }, trusted)
    case "signal received, litestream shutting down":
    case "subprocess exited, litestream shutting down":
      return ShuttingDown.make({}, trusted)
    case "litestream shut down":
      return Stopped.make({}, trusted)
  }
  if (r.level === "ERROR" && (a.replica !== undefined || a.db !== undefined)) {
    return ReplicaErrorLogged.make({ ...where, message: r.message, error: a.error ?? "" }, trusted)
  }
  return Other.make({ level: r.level, message: r.message, attributes: { ...a } }, trusted)
}

/**
 * Parses one line of litestream's output into an event; never fails.
 *
 * @since 0.1.0
 */
export const parse = (line: string): LitestreamEvent =>
  Option.match(parseRecord(line), {
    onNone: () => Unparsed.make({ line }, trusted),
    onSome: fromRecord
  })
