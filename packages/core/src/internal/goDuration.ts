/**
 * Go's `time.Duration.String()` for a whole number of nanoseconds, and the truncation
 * litestream's `generations` applies before printing a lag: the listings print what
 * litestream prints.
 * @internal
 */

const trimmed = (whole: bigint, frac: bigint, digits: number): string => {
  if (frac === 0n) return whole.toString()
  return `${whole}.${frac.toString().padStart(digits, "0").replace(/0+$/, "")}`
}

/** @internal */
export const format = (nanos: bigint): string => {
  if (nanos === 0n) return "0s"
  const sign = nanos < 0n ? "-" : ""
  const n = nanos < 0n ? -nanos : nanos
  if (n < 1000n) return `${sign}${n}ns`
  if (n < 1_000_000n) return `${sign}${trimmed(n / 1000n, n % 1000n, 3)}µs`
  if (n < 1_000_000_000n) return `${sign}${trimmed(n / 1_000_000n, n % 1_000_000n, 6)}ms`
  const hours = n / 3_600_000_000_000n
  const minutes = (n / 60_000_000_000n) % 60n
  const seconds = trimmed((n / 1_000_000_000n) % 60n, n % 1_000_000_000n, 9)
  return `${sign}${hours > 0n ? `${hours}h` : ""}${hours > 0n || minutes > 0n ? `${minutes}m` : ""}${seconds}s`
}

/** litestream v0.3.13 `truncateDuration`: coarser the longer the lag. @internal */
export const truncate = (nanos: bigint): bigint => {
  const abs = nanos < 0n ? -nanos : nanos
  const unit = abs > 10_000_000_000n
    ? 1_000_000_000n
    : abs > 1_000_000_000n
    ? 100_000_000n
    : abs > 1_000_000n
    ? 1_000_000n
    : abs > 1000n
    ? 1000n
    : 1n
  // Go's Truncate rounds toward zero
  return (nanos / unit) * unit
}
