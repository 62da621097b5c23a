#!/usr/bin/env node
/**
 * Bundles the command-line program for its `bin`: dist/effect-litestream.mjs, and beside it the
 * parts only some runs need, in dist/effect-litestream/ (loaded by `import()` when needed). Built
 * from the compiled dist/bin.js (`tsc -b` first: `pnpm build` does both).
 *
 * Unbundled, a start loads about 660 modules (effect, @effect/cli, fast-check through effect's
 * Arbitrary, ...), each resolved, read and compiled. Bundled, tree-shaken and minified, a start
 * reads a few files; `--version` only the first, small one; the HTTP client (undici, a third of
 * all the code) only `restore --native`. better-sqlite3 (a native addon) stays outside, imported
 * where it is used; @flydotio/litestream is only resolved, never imported.
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

// a rebuild must not leave chunks of an older one behind
fs.rmSync(path.join(dist, name), { recursive: true, force: true })
const result = await esbuild.build({
  entryPoints: { [name]: path.join(dist, "bin.js") },
  outdir: dist,
  chunkNames: `${name}/[name]-[hash]`,
  outExtension: { ".js": ".mjs" },
  bundle: true,
  splitting: true,
  minify: true,
  platform: "node",
  format: "esm",
  target: "node20",
  // the program's version, known at build time: no package.json to find at run time
  define: { EFFECT_LITESTREAM_VERSION: JSON.stringify(pkg.version) },
  external: ["better-sqlite3"],
  // CommonJS dependencies bundled into an ES module still call require() for Node's own modules
  banner: { js: "import{createRequire as __cr}from\"node:module\";const require=__cr(import.meta.url);" },
  legalComments: "none",
  logLevel: "warning",
  metafile
})
fs.chmodSync(path.join(dist, `${name}.mjs`), 0o755)
if (metafile) {
  fs.writeFileSync(path.join(dist, `${name}.meta.json`), JSON.stringify(result.metafile))
  console.log(await esbuild.analyzeMetafile(result.metafile))
}
