/**
 * @since 0.1.0
 */
export * as LitestreamCommand from "./LitestreamCommand.js"
/**
 * @since 0.1.0
 */
export * as LitestreamConfig from "./LitestreamConfig.js"
/**
 * @since 0.1.0
 */
export * as LitestreamError from "./LitestreamError.js"
/**
 * @since 0.1.0
 */
export * as LitestreamEvent from "./LitestreamEvent.js"
/**
 * @since 0.1.0
 */
export * as ReplicaListing from "./ReplicaListing.js"
/**
 * @since 0.1.0
 */
export * as ReplicaUrl from "./ReplicaUrl.js"
/**
 * @since 0.1.0
 */
export * as Replicate from "./Replicate.js"
/**
 * @since 0.1.0
 */
export * as Replication from "./Replication.js"
/**
 * @since 0.2.0
 */
export * as ReplicationLock from "./ReplicationLock.js"
/**
 * @since 0.1.0
 */
export * as Restore from "./Restore.js"
/**
 * @since 0.2.0
 */
export * as SqliteProbe from "./SqliteProbe.js"
/**
 * @since 0.1.0
 */
export * as Verify from "./Verify.js"
