// `node --require bench/lib/cpu-usage.cjs PROGRAM ...` writes, as the process exits, its CPU time
// (process.cpuUsage: user + system, every thread of this process, not its children) in
// milliseconds to the file named by EFFECT_LITESTREAM_CPU_OUT.
const fs = require("node:fs")
const out = process.env.EFFECT_LITESTREAM_CPU_OUT
if (out) {
  process.once("exit", () => {
    const { user, system } = process.cpuUsage()
    fs.writeFileSync(out, String((user + system) / 1000))
  })
}
