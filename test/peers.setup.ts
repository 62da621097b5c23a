/**
 * vitest global setup: installs the PyPI test peers (litestream 0.5.17, litestream-vfs 0.5.17)
 * into `.peers/` once, before any test file runs. See test/support/Peers.ts.
 */
import { installPeers } from "./support/Peers.js"

export default function setup(): void {
  for (const note of installPeers()) console.warn(`[peers] ${note}`)
}
