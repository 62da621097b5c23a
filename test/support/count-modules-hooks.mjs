// The loader hooks of count-modules.mjs.
import { appendFileSync } from "node:fs"

const out = process.env.EFFECT_LITESTREAM_MODULES_OUT

export async function load(url, context, nextLoad) {
  if (out) appendFileSync(out, `${url}\n`)
  return nextLoad(url, context)
}
