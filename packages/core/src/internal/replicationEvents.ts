/**
 * The event fan-out of a running replication: each line of litestream's log becomes a record
 * (with its database's sync state after it) for the internal waiters, and a typed event for
 * `events`, the status and Effect's logger.
 * @internal
 */
import * as Effect from "effect/Effect"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as LitestreamEvent from "../LitestreamEvent.js"
import * as SyncState from "./syncState.js"

const LEVELS = {
  DEBUG: LogLevel.Debug,
  INFO: LogLevel.Info,
  WARN: LogLevel.Warning,
  ERROR: LogLevel.Error
} as const

/**
 * Forwards one litestream log record to Effect's logger, with the event as annotations.
 * @internal
 */
export const log = (record: LitestreamEvent.LogRecord, event: LitestreamEvent.LitestreamEvent) =>
  Effect.logWithLevel(LEVELS[record.level], record.message).pipe(
    Effect.annotateLogs({ ...record.attributes, "litestream.event": event._tag })
  )

/**
 * One record of litestream's log, with the sync state of its database after it.
 * @internal
 */
export interface Observed {
  readonly record: LitestreamEvent.LogRecord
  readonly db: string | undefined
  readonly sync: SyncState.DbSync | undefined
}

/** @internal */
export interface FanOut {
  /** the sync state of each database, as of the last record */
  readonly syncs: Map<string, SyncState.DbSync>
  /** the last 20 lines users could see: why litestream exited */
  readonly tail: ReadonlyArray<string>
  /** handles one line: parsed, reduced, published, logged; `handle` sees every record and event first */
  readonly onLine: (line: string) => Effect.Effect<void>
  /** from now on, events are no longer kept for late subscribers of `events` */
  readonly endStartup: Effect.Effect<void>
  /** the start-up events, then every event from the moment the stream runs */
  readonly events: Stream.Stream<LitestreamEvent.LitestreamEvent>
  /** the records from now on, for a waiter (`syncAfter`) */
  readonly subscribeRecords: Effect.Effect<Queue.Dequeue<Observed>, never, Scope.Scope>
  /** waits until the sync state of every database satisfies `ok`, woken by each record */
  readonly waitUntil: (ok: (s: SyncState.DbSync) => boolean) => Effect.Effect<void>
}

/**
 * The fan-out over `paths`, its pubsubs shut down with the current scope. `handle` is the
 * status part: it sees each record (when the line parsed) and each event, visible or not.
 * @internal
 */
export const make = (options: {
  readonly paths: ReadonlyArray<string>
  readonly userDebug: boolean
  readonly handle: (observed: Option.Option<Observed>, event: LitestreamEvent.LitestreamEvent) => Effect.Effect<void>
}) =>
  Effect.gen(function*() {
    const { handle, paths, userDebug } = options
    const events = yield* Effect.acquireRelease(PubSub.unbounded<LitestreamEvent.LitestreamEvent>(), PubSub.shutdown)
    const records = yield* Effect.acquireRelease(PubSub.unbounded<Observed>(), PubSub.shutdown)
    const syncs = new Map<string, SyncState.DbSync>(paths.map((p) => [p, SyncState.initial]))
    const startup: Array<LitestreamEvent.LitestreamEvent> = []
    const tail: Array<string> = []
    let startingUp = true

    const onLine = (line: string) =>
      Effect.suspend(() => {
        const record = LitestreamEvent.parseRecord(line)
        const event = Option.match(record, {
          onNone: () => LitestreamEvent.Unparsed.make({ line }),
          onSome: LitestreamEvent.fromRecord
        })
        const observed = Option.map(record, (r): Observed => {
          const db = r.attributes.db
          const before = db === undefined ? undefined : syncs.get(db)
          if (db === undefined || before === undefined) return { record: r, db, sync: undefined }
          const after = SyncState.reduce(before, r)
          syncs.set(db, after)
          return { record: r, db, sync: after }
        })
        const visible = Option.match(record, { onNone: () => true, onSome: (r) => r.level !== "DEBUG" || userDebug })
        if (visible) {
          tail.push(line)
          if (tail.length > 20) tail.shift()
        }
        if (visible && startingUp) startup.push(event)
        return Effect.all([
          handle(observed, event),
          Option.match(observed, { onNone: () => Effect.void, onSome: (o) => PubSub.publish(records, o) }),
          visible ? PubSub.publish(events, event) : Effect.void,
          !visible
            ? Effect.void
            : Option.match(record, { onNone: () => Effect.logDebug(line), onSome: (r) => log(r, event) })
        ], { discard: true })
      })

    const waitUntil = (ok: (s: SyncState.DbSync) => boolean) =>
      Effect.scoped(Effect.gen(function*() {
        const subscription = yield* PubSub.subscribe(records)
        while (!paths.every((p) => ok(syncs.get(p)!))) yield* Queue.take(subscription)
      }))

    return {
      syncs,
      tail,
      onLine,
      endStartup: Effect.sync(() => {
        startingUp = false
      }),
      // subscribed first, then the start-up events: a slow consumer of those loses nothing after
      events: Stream.unwrapScoped(Effect.map(
        PubSub.subscribe(events),
        (subscription) => Stream.concat(Stream.fromIterable(startup.slice()), Stream.fromQueue(subscription))
      )),
      subscribeRecords: PubSub.subscribe(records),
      waitUntil
    } satisfies FanOut
  })
