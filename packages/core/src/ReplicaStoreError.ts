/**
 * The typed errors of `ReplicaStore`, the library's own read-only access to a replica. A store
 * that cannot be reached or refuses the credentials fails with `ReplicaUnreachable` or
 * `ReplicaAccessDenied` of `LitestreamError`, as the litestream-based layers do; what only the
 * native read side can say is here. None of them holds a secret.
 *
 * @since 0.2.0
 */
import * as Data from "effect/Data"
import type { ReplicaAccessDenied, ReplicaUnreachable } from "./LitestreamError.js"

/**
 * An object the reader asked for is not in the replica (S3 `NoSuchKey`, or no such file).
 *
 * @since 0.2.0
 */
export class ReplicaObjectNotFound extends Data.TaggedError("ReplicaObjectNotFound")<{
  readonly replica: string
  /** the key, relative to the replica's root */
  readonly key: string
}> {
  override get message(): string {
    return `The object "${this.key}" is not in the replica ${this.replica}. Fix: check REPLICA_URL; if the replica was being pruned or written meanwhile, list it again.`
  }
}

/**
 * Any other failure to list or read the replica: an unexpected HTTP status (with S3's error
 * code), a response that is not what S3 sends, a file that cannot be read.
 *
 * @since 0.2.0
 */
export class ReplicaStoreFailed extends Data.TaggedError("ReplicaStoreFailed")<{
  readonly replica: string
  readonly operation: "list" | "read"
  /** the key or prefix, relative to the replica's root */
  readonly key: string
  /** the HTTP status, for S3 */
  readonly status: number | undefined
  /** S3's error code (`SlowDown`, `InternalError`, ...), when the response carried one */
  readonly code: string | undefined
  readonly detail: string
}> {
  override get message(): string {
    const what = this.operation === "list"
      ? `list ${this.key === "" ? "the replica" : `"${this.key}" in the replica`}`
      : `read "${this.key}" from the replica`
    const status = this.status === undefined
      ? ""
      : ` (HTTP ${this.status}${this.code === undefined ? "" : `, ${this.code}`})`
    return `Could not ${what} ${this.replica}: ${this.detail}${status}`
  }
}

/**
 * The native read side reads `file://` and `s3://` replicas only; `gs://`, `abs://` and
 * `sftp://` are read by litestream.
 *
 * @since 0.2.0
 */
export class NativeReadUnsupported extends Data.TaggedError("NativeReadUnsupported")<{
  readonly replica: string
  readonly scheme: string
}> {
  override get message(): string {
    return `The native read side supports file:// and s3:// replicas, not ${this.scheme}:// (${this.replica}). Fix: use the litestream-based layers for this replica (NodeLitestream.layer or layerEnv of @effect-litestream/node: Restore and ReplicaListing through the litestream binary).`
  }
}

/**
 * Errors of `ReplicaStore.list` and `ReplicaStore.read`.
 *
 * @since 0.2.0
 */
export type ReplicaStoreError =
  | ReplicaUnreachable
  | ReplicaAccessDenied
  | ReplicaObjectNotFound
  | ReplicaStoreFailed
