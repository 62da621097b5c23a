/**
 * A replica object's LZ4 frames, decoded as they arrive: shared by the native restore and the
 * replica check. A fault names the object.
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Lz4 from "../format/Lz4.js"
import { ReplicaCorrupt } from "../LitestreamError.js"
import * as ReplicaStore from "../ReplicaStore.js"

/** The `ReplicaCorrupt` of an LZ4 fault (or anything else thrown while decoding) in `key`. @internal */
export const corrupt = (replica: string, key: string) => (e: unknown): ReplicaCorrupt =>
  new ReplicaCorrupt({
    replica,
    key,
    fault: e instanceof Lz4.Lz4Error ? e.reason : "Lz4",
    detail: e instanceof Error ? e.message : String(e)
  })

/**
 * The decoded blocks of `key`, in this thread. Each block's buffer is reused for the next: use
 * (or copy) it before pulling the next one.
 * @internal
 */
export const decodedInThread = (store: ReplicaStore.Service, key: string) =>
  Stream.unwrapScoped(Effect.map(Effect.acquireRelease(takeOutputs, giveOutputs), (outputs) => {
    const fault = corrupt(store.replica, key)
    const decoder = new Lz4.FrameDecoder({ reuseOutput: true, outputs })
    // push copies what it keeps of a chunk (a block that spans chunks): the store may reuse it
    return ReplicaStore.readTransient(store, key).pipe(
      Stream.mapConcatEffect((chunk) => Effect.try({ try: () => decoder.push(chunk), catch: fault })),
      Stream.concat(Stream.fromEffect(Effect.try({ try: () => decoder.end(), catch: fault })).pipe(Stream.drain))
    )
  }))

// Output buffers (4 MB: litestream's block size) handed from one object's decoding to the next:
// a restore decodes its snapshot and WAL segments one after the other, and each would otherwise
// make 4 MB of fresh memory. Kept for the process (one set at a time is the usual case).
const spareOutputs: Array<Array<Uint8Array>> = []
const takeOutputs = Effect.sync(() => spareOutputs.pop() ?? [])
const giveOutputs = (outputs: Array<Uint8Array>) =>
  Effect.sync(() => {
    if (spareOutputs.length < 2) spareOutputs.push(outputs)
  })
