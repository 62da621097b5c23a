/**
 * @since 0.3.0
 */
export * as Crc64 from "./format/Crc64.js"
/**
 * @since 0.2.0
 */
export * as LitestreamV3 from "./format/LitestreamV3.js"
/**
 * @since 0.3.0
 */
export * as LitestreamV5 from "./format/LitestreamV5.js"
/**
 * @since 0.3.0
 */
export * as Ltx from "./format/Ltx.js"
/**
 * @since 0.2.0
 */
export * as Lz4 from "./format/Lz4.js"
/**
 * @since 0.2.0
 */
export * as SqliteWal from "./format/SqliteWal.js"
/**
 * @since 0.2.0
 */
export * as XxHash32 from "./format/XxHash32.js"
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
 * @since 0.2.0
 */
export * as LitestreamVersion from "./LitestreamVersion.js"
/**
 * @since 0.2.0
 */
export * as NativeReplicaListing from "./NativeReplicaListing.js"
/**
 * @since 0.2.0
 */
export * as NativeRestore from "./NativeRestore.js"
/**
 * @since 0.3.0
 */
export * as LtxReplica from "./LtxReplica.js"
/**
 * @since 0.3.0
 */
export * as Lz4BlockDecoder from "./Lz4BlockDecoder.js"
/**
 * @since 0.3.0
 */
export * as ReplicaCheck from "./ReplicaCheck.js"
/**
 * @since 0.3.0
 */
export * as ReplicaFormat from "./ReplicaFormat.js"
/**
 * @since 0.1.0
 */
export * as ReplicaListing from "./ReplicaListing.js"
/**
 * @since 0.2.0
 */
export * as ReplicaStore from "./ReplicaStore.js"
/**
 * @since 0.2.0
 */
export * as ReplicaStoreError from "./ReplicaStoreError.js"
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
 * @since 0.3.0
 */
export * as ReplicationHealth from "./ReplicationHealth.js"
/**
 * @since 0.3.0
 */
export * as ReplicationHeartbeat from "./ReplicationHeartbeat.js"
/**
 * @since 0.3.0
 */
export * as ReplicationHttp from "./ReplicationHttp.js"
/**
 * @since 0.3.0
 */
export * as ReplicationMetrics from "./ReplicationMetrics.js"
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
