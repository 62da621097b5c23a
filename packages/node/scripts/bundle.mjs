#!/usr/bin/env node
/**
 * Bundles the command-line program for its `bin`, from the compiled dist/ (`tsc -b` first:
 * `pnpm build` does both), into two files:
 *
 * - dist/effect-litestream.cjs, the entry (from src/binBundle.ts): a few hundred bytes that answer
 *   `--version` alone, else run the program. CommonJS: an ES module entry makes Node 20 start its
 *   ES module loader first (10-25 ms of every start here, `--version` included);
 * - dist/effect-litestream.program.cjs, the program (from src/cli/Cli.ts): everything, minified,
 *   in one CommonJS file that the entry compiles with a V8 code cache (src/cli/CompileCache.ts):
 *   the cache is what makes a start cheap, and it needs a script, not ES modules, on Node 20.
 *
 * Unbundled, a start resolves, reads and compiles about 660 modules (effect, @effect/cli,
 * fast-check through effect's Arbitrary, ...). What only some runs need stays behind `import()`,
 * which esbuild keeps lazy inside the file: the HTTP client (undici, a third of the code) runs
 * only for `restore --native`. better-sqlite3 (a native addon) stays outside, required where it
 * is used; @flydotio/litestream is only resolved, never imported.
 */
import * as esbuild from "esbuild"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"))
const dist = path.join(root, "dist")
const name = "effect-litestream"
const metafile = process.argv.includes("--metafile")

// what older builds left: ES module chunks, then an ES module entry
fs.rmSync(path.join(dist, name), { recursive: true, force: true })
fs.rmSync(path.join(dist, `${name}.mjs`), { force: true })

const common = {
  bundle: true,
  minify: true,
  platform: "node",
  target: "node20",
  // the program's version, known at build time: no package.json to find at run time
  define: { EFFECT_LITESTREAM_VERSION: JSON.stringify(pkg.version) },
  legalComments: "none",
  logLevel: "warning",
  metafile
}

// The program runs as a script (vm.Script), where import() has no loader: an import() of what
// stays outside the bundle becomes a module of the bundle that require()s it, evaluated when the
// import() runs, as before.
const EXTERNAL = ["better-sqlite3"]
const requireExternals = {
  name: "require-externals",
  setup(build) {
    const filter = new RegExp(`^(${EXTERNAL.join("|")})$`)
    build.onResolve({ filter }, (args) =>
      args.kind === "dynamic-import" ? { path: args.path, namespace: "require-external" } : { path: args.path, external: true })
    build.onLoad({ filter: /.*/, namespace: "require-external" }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)})`,
      loader: "js",
      resolveDir: dist
    }))
  }
}

const [entry, program] = await Promise.all([
  esbuild.build({
    ...common,
    entryPoints: [path.join(dist, "binBundle.js")],
    outfile: path.join(dist, `${name}.cjs`),
    format: "cjs",
    define: { ...common.define, "import.meta.url": "__effectLitestreamUrl" },
    banner: { js: "var __effectLitestreamUrl=require(\"node:url\").pathToFileURL(__filename).href;" }
  }),
  esbuild.build({
    ...common,
    entryPoints: [path.join(dist, "cli/Cli.js")],
    outfile: path.join(dist, `${name}.program.cjs`),
    format: "cjs",
    define: { ...common.define, "import.meta.url": "__effectLitestreamUrl" },
    banner: { js: "var __effectLitestreamUrl=require(\"node:url\").pathToFileURL(__filename).href;" },
    plugins: [requireExternals]
  })
])
fs.chmodSync(path.join(dist, `${name}.cjs`), 0o755)
// ASCII only, so that the entry can read the program as latin1, faster than UTF-8: esbuild
// escapes non-ASCII everywhere but in regular expressions (one, in effect's Duration), where
// \uXXXX means the same character (a pair of them a character beyond U+FFFF, with or without /u)
const programFile = path.join(dist, `${name}.program.cjs`)
fs.writeFileSync(
  programFile,
  fs.readFileSync(programFile, "utf8").replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
)
if (metafile) {
  fs.writeFileSync(path.join(dist, `${name}.meta.json`), JSON.stringify(program.metafile))
  console.log(await esbuild.analyzeMetafile(entry.metafile))
  console.log(await esbuild.analyzeMetafile(program.metafile))
}
