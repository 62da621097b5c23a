// Notes whether the program touches process.stdin: `node --require ./stdin-probe.cjs PROGRAM ...`
// appends "stdin" to the file named by EFFECT_LITESTREAM_STDIN_OUT when process.stdin is first
// read (Node makes its stream then: a file, pipe or TTY stream on file descriptor 0).
const fs = require("node:fs")
const out = process.env.EFFECT_LITESTREAM_STDIN_OUT
const own = Object.getOwnPropertyDescriptor(process, "stdin")
Object.defineProperty(process, "stdin", {
  configurable: true,
  enumerable: own.enumerable,
  get() {
    if (out) fs.appendFileSync(out, "stdin\n")
    const stdin = own.get.call(process)
    Object.defineProperty(process, "stdin", { value: stdin, configurable: true, enumerable: own.enumerable, writable: true })
    return stdin
  }
})
