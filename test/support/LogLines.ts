/**
 * Real log lines of litestream v0.3.13, verbatim, in its three formats: plain text
 * (`litestream replicate DB URL`, stderr), logfmt (`-config`, stdout) and JSON
 * (`logging: {type: json, stderr: true, level: debug}`). Shared by the unit tests of the
 * parser (LitestreamEvent) and of the services that read litestream's output (Replicate, Restore).
 */

/** Plain text: `litestream replicate DB URL`, on stderr. */
export const plain = {
  version: String.raw`2026/11/25 17:19:55 INFO litestream version=v0.3.13`,
  initialized: String.raw`2026/11/25 17:19:55 INFO initialized db path=/tmp/probe/d/db.sqlite`,
  replicating: String
    .raw`2026/11/25 17:19:55 INFO replicating to name=s3 type=s3 sync-interval=1s bucket=backups path=db region=us-east-1 endpoint=http://localhost:39531`,
  generation: String
    .raw`2026/11/25 17:19:56 INFO sync: new generation db=/tmp/probe/d/db.sqlite generation=46ba75524e5005af reason="no generation exists"`,
  snapshot: String
    .raw`2026/11/25 17:19:56 INFO snapshot written db=/tmp/probe/d/db.sqlite replica=s3 position=46ba75524e5005af/00000000:16512 elapsed=16.006805ms sz=353`,
  signal: String.raw`2026/11/25 17:19:56 INFO signal received, litestream shutting down`,
  monitorError: String
    .raw`2026/11/25 17:19:56 ERROR monitor error db=/tmp/probe/d/db.sqlite replica=s3 error="cannot determine replica position: max wal segment: RequestCanceled: request context canceled\ncaused by: context canceled"`,
  wal: String
    .raw`2026/11/25 17:19:56 INFO wal segment written db=/tmp/probe/d/db.sqlite replica=s3 position=46ba75524e5005af/00000000:0 elapsed=2.115534ms sz=16512`,
  shutDown: String.raw`2026/11/25 17:19:56 INFO litestream shut down`,
  noBackups: String.raw`2026/11/25 17:21:03 ERROR failed to run error="no matching backups found"`,
  noBucket: String
    .raw`2026/11/25 17:21:03 ERROR failed to run error="cannot fetch generations: NoSuchBucket: The specified bucket does not exist: nobucket\n\tstatus code: 404, request id: DB25896AD0B14810, host id: fauxqs"`
}

/** logfmt: `litestream replicate -config FILE`, on stdout. */
export const logfmt = {
  version: String.raw`time=2026-11-25T17:23:38.455Z level=INFO msg=litestream version=v0.3.13`,
  initialized: String.raw`time=2026-11-25T17:23:38.455Z level=INFO msg="initialized db" path=/tmp/probe/f/db.sqlite`,
  replicating: String
    .raw`time=2026-11-25T17:23:38.455Z level=INFO msg="replicating to" name=file type=file sync-interval=100ms path=/tmp/probe/f/rep`,
  signal: String.raw`time=2026-11-25T17:23:39.904Z level=INFO msg="signal received, litestream shutting down"`
}

/** JSON: `logging: {type: json, stderr: true, level: debug}`. */
export const json = {
  version: String.raw`{"time":"2026-11-25T17:23:36.94920104Z","level":"INFO","msg":"litestream","version":"v0.3.13"}`,
  generation: String
    .raw`{"time":"2026-11-25T17:23:37.057997364Z","level":"INFO","msg":"sync: new generation","db":"/tmp/probe/f/db.sqlite","generation":"b59d6f08a3825659","reason":"no generation exists"}`,
  snapshot: String
    .raw`{"time":"2026-11-25T17:23:37.070862677Z","level":"INFO","msg":"snapshot written","db":"/tmp/probe/f/db.sqlite","replica":"file","position":"b59d6f08a3825659/00000000:16512","elapsed":"10.689475ms","sz":353}`,
  wal: String
    .raw`{"time":"2026-11-25T17:23:37.07261384Z","level":"INFO","msg":"wal segment written","db":"/tmp/probe/f/db.sqlite","replica":"file","position":"b59d6f08a3825659/00000000:0","elapsed":"1.427188ms","sz":16512}`,
  calcNewPos: String
    .raw`{"time":"2026-11-25T17:24:19.429704184Z","level":"DEBUG","msg":"replica sync: calc new pos","db":"/tmp/probe/f/db.sqlite","replica":"file","position":"b59d6f08a3825659/00000000:16512"}`,
  sync: String.raw`{"time":"2026-11-25T17:24:19.421323531Z","level":"DEBUG","msg":"sync","db":"/tmp/probe/f/db.sqlite","info":{}}`,
  shutDown: String.raw`{"time":"2026-11-25T17:24:20.062986482Z","level":"INFO","msg":"litestream shut down"}`
}
