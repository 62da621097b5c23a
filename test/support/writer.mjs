// A writer in a process of its own, as an application beside the backup: it opens the test
// database once, commits one row per transaction every WRITER_INTERVAL_MS for WRITER_DURATION_MS,
// closes it, and prints what it committed as one JSON line: { first, last, errors }. A commit
// counts only once the transaction returned.
import Database from "better-sqlite3"

const path = process.env.WRITER_DB
const duration = Number(process.env.WRITER_DURATION_MS ?? 1000)
const interval = Number(process.env.WRITER_INTERVAL_MS ?? 5)
const db = new Database(path, { timeout: 5000 })
db.pragma("journal_mode = WAL")
const { max } = db.prepare("SELECT COALESCE(MAX(id), 0) AS max FROM items").get()
const insert = db.prepare("INSERT INTO items (id, name, payload) VALUES (?, ?, ?)")
let last = max
const errors = []
process.stdout.write("ready\n")
const end = Date.now() + duration
const tick = () => {
  try {
    insert.run(last + 1, `row-${last + 1}`, "written by writer.mjs")
    last += 1
  } catch (e) {
    errors.push(String(e && e.message))
  }
  if (Date.now() < end) setTimeout(tick, interval)
  else {
    db.close()
    process.stdout.write(JSON.stringify({ first: max + 1, last, errors }) + "\n")
  }
}
tick()
