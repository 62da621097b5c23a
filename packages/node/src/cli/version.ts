/**
 * The program's version: set by the bundler (scripts/bundle.mjs) as a constant; unbundled, read
 * from the package.json next to `dist/`.
 *
 * @since 0.1.0
 */
import { createRequire } from "node:module"

declare const EFFECT_LITESTREAM_VERSION: string | undefined

/**
 * @since 0.1.0
 */
export const version: string = typeof EFFECT_LITESTREAM_VERSION === "string" ? EFFECT_LITESTREAM_VERSION : (() => {
  try {
    return (createRequire(import.meta.url)("../../package.json") as { version: string }).version
  } catch {
    return "unknown"
  }
})()
