/**
 * vitest global setup: builds the packages and the CLI's bundle once, before any test file
 * runs (see test/support/Build.ts).
 */
import { ensureBuilt } from "./support/Build.js"

export default async function setup(): Promise<void> {
  await ensureBuilt()
}
