/**
 * @since 0.2.0
 */
export * as HostWatchdog from "./HostWatchdog.js"
/**
 * @since 0.1.0
 */
export * as LitestreamBinary from "./LitestreamBinary.js"
/**
 * @since 0.1.0
 */
export * as NodeLitestream from "./NodeLitestream.js"
/**
 * @since 0.3.0
 */
export * as NodeLz4Workers from "./NodeLz4Workers.js"
/**
 * @since 0.2.0
 */
export * as NodeReplicationLock from "./NodeReplicationLock.js"
/**
 * @since 0.1.0
 */
export * as NodeSqliteProbe from "./NodeSqliteProbe.js"
