/**
 * Realistic sample databases: rows of mixed text (log-like events with words, names, e-mail
 * addresses, timestamps, numbers, JSON tags), generated from a seeded PRNG, so the content is
 * neither all zeros nor pure noise, and LZ4 (litestream's compression) sees a realistic ratio.
 */
import Database from "better-sqlite3"
import * as fs from "node:fs"

const WORDS = (
  "the a of to and in is it you that he was for on are with as his they be at one have this from or had by " +
  "word but what some we can out other were all there when up use your how said an each she which do their " +
  "time if will way about many then them write would like so these her long make thing see him two has look " +
  "more day could go come did number sound no most people my over know water than call first who may down " +
  "side been now find any new work part take get place made live where after back little only round man year " +
  "came show every good me give our under name very through just form sentence great think say help low line " +
  "backup restore replica snapshot segment generation checkpoint database sqlite litestream bucket object " +
  "request response timeout retry error warning latency throughput invoice customer order payment shipment " +
  "account session token refresh cache index query transaction commit rollback migration schema column"
).split(" ")
const FIRST = "alice bob carol dave erin frank grace heidi ivan judy mallory niaj olivia peggy rupert sybil trent victor walter".split(" ")
const LAST = "smith jones brown taylor wilson davies evans thomas johnson roberts walker wright robinson thompson white".split(" ")
const DOMAINS = "example.com mail.test corp.example shop.test uni.example".split(" ")
const LEVELS = "debug info info info warn error".split(" ")
const TAGS = "web api worker cron billing auth search export import mobile".split(" ")

/** mulberry32: a small seeded PRNG, so every run builds the same database. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

export interface SampleDatabase {
  readonly path: string
  readonly bytes: number
  readonly rows: number
  readonly seconds: number
}

/**
 * Creates a WAL-mode database of about `targetBytes` (page_count * page_size), checkpointed and
 * closed (no -wal / -shm left), and returns its size and row count.
 */
export const createDatabase = (path: string, targetBytes: number, seed = 42): SampleDatabase => {
  const started = performance.now()
  fs.rmSync(path, { force: true })
  const db = new Database(path)
  db.pragma("journal_mode = WAL")
  db.pragma("synchronous = OFF")
  db.exec(`CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    level TEXT NOT NULL,
    user TEXT NOT NULL,
    email TEXT NOT NULL,
    amount REAL,
    tags TEXT NOT NULL,
    message TEXT NOT NULL
  )`)
  db.exec("CREATE INDEX events_user ON events (user)")
  const insert = db.prepare("INSERT INTO events (ts, level, user, email, amount, tags, message) VALUES (?, ?, ?, ?, ?, ?, ?)")
  const random = prng(seed)
  const pick = <A>(xs: ReadonlyArray<A>): A => xs[Math.floor(random() * xs.length)]!
  const pageSize = db.pragma("page_size", { simple: true }) as number
  const size = () => (db.pragma("page_count", { simple: true }) as number) * pageSize
  let rows = 0
  let time = Date.UTC(2026, 0, 1)
  const batch = db.transaction((n: number) => {
    for (let i = 0; i < n; i++) {
      time += Math.floor(random() * 5000)
      const first = pick(FIRST)
      const last = pick(LAST)
      const words: Array<string> = []
      const count = 8 + Math.floor(random() * 40)
      for (let w = 0; w < count; w++) words.push(pick(WORDS))
      if (random() < 0.3) words.push(`id=${Math.floor(random() * 1e9).toString(36)}`)
      insert.run(
        new Date(time).toISOString(),
        pick(LEVELS),
        `${first}.${last}${Math.floor(random() * 100)}`,
        `${first}.${last}@${pick(DOMAINS)}`,
        random() < 0.8 ? Math.round(random() * 1e6) / 100 : null,
        JSON.stringify([pick(TAGS), pick(TAGS)]),
        words.join(" ")
      )
    }
  })
  // Grow in batches, with smaller batches near the target so the size lands close to it.
  while (size() < targetBytes) {
    const left = targetBytes - size()
    batch(Math.max(50, Math.min(20_000, Math.floor(left / 400))))
    rows = (db.prepare("SELECT max(id) AS n FROM events").get() as { n: number }).n
  }
  db.pragma("wal_checkpoint(TRUNCATE)")
  db.close()
  return { path, bytes: fs.statSync(path).size, rows, seconds: (performance.now() - started) / 1000 }
}
