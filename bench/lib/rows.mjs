// Log-like sample rows (words, names, e-mail addresses, timestamps, numbers, JSON tags) from a
// seeded PRNG: the sample databases are built from them, and the continuous-replication probe
// writes them. Plain JavaScript, so that the probe runs without a TypeScript loader.

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

/** mulberry32: a small seeded PRNG, so every run builds the same rows. */
export const prng = (seed) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

export const SCHEMA = `CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  ts TEXT NOT NULL,
  level TEXT NOT NULL,
  user TEXT NOT NULL,
  email TEXT NOT NULL,
  amount REAL,
  tags TEXT NOT NULL,
  message TEXT NOT NULL
);
CREATE INDEX events_user ON events (user);`

export const INSERT = "INSERT INTO events (ts, level, user, email, amount, tags, message) VALUES (?, ?, ?, ?, ?, ?, ?)"

/** A generator of rows for `INSERT`, from `seed`, with timestamps from 2026-01-01 on. */
export const rows = (seed) => {
  const random = prng(seed)
  const pick = (xs) => xs[Math.floor(random() * xs.length)]
  let time = Date.UTC(2026, 0, 1)
  return () => {
    time += Math.floor(random() * 5000)
    const first = pick(FIRST)
    const last = pick(LAST)
    const words = []
    const count = 8 + Math.floor(random() * 40)
    for (let w = 0; w < count; w++) words.push(pick(WORDS))
    if (random() < 0.3) words.push(`id=${Math.floor(random() * 1e9).toString(36)}`)
    return [
      new Date(time).toISOString(),
      pick(LEVELS),
      `${first}.${last}${Math.floor(random() * 100)}`,
      `${first}.${last}@${pick(DOMAINS)}`,
      random() < 0.8 ? Math.round(random() * 1e6) / 100 : null,
      JSON.stringify([pick(TAGS), pick(TAGS)]),
      words.join(" ")
    ]
  }
}
