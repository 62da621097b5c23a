/** Medians, spreads and ratios of repeated measurements, and their formatting. */

export const median = (xs: ReadonlyArray<number>): number => {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

export const min = (xs: ReadonlyArray<number>): number => Math.min(...xs)
export const max = (xs: ReadonlyArray<number>): number => Math.max(...xs)

/** seconds with three significant decimals, e.g. `0.284 s`, `12.5 s` */
export const seconds = (s: number): string =>
  !Number.isFinite(s) ? "n/a" : s < 10 ? `${s.toFixed(3)} s` : s < 100 ? `${s.toFixed(2)} s` : `${s.toFixed(1)} s`

/** `median (min–max)` of a list of seconds */
export const spread = (xs: ReadonlyArray<number>): string =>
  xs.length === 0 ? "n/a" : `${seconds(median(xs))} (${seconds(min(xs))}–${seconds(max(xs))})`

export const ratio = (a: number, b: number): string => (!Number.isFinite(a / b) ? "n/a" : `${(a / b).toFixed(2)}x`)

/** percentage difference of a over b, signed: `+3.1%` */
export const percent = (a: number, b: number): string => {
  const p = (a / b - 1) * 100
  return !Number.isFinite(p) ? "n/a" : `${p >= 0 ? "+" : ""}${p.toFixed(1)}%`
}

export const mib = (bytes: number): string =>
  !Number.isFinite(bytes) ? "n/a" : bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(2)} GiB` : `${(bytes / 1024 ** 2).toFixed(1)} MiB`

/** Rotates `variants` by `rep`, so that no variant always runs first (or right after another). */
export const rotate = <A>(variants: ReadonlyArray<A>, rep: number): Array<A> => {
  const k = rep % variants.length
  return [...variants.slice(k), ...variants.slice(0, k)]
}

/** `min–max` of a list of seconds */
export const range = (xs: ReadonlyArray<number>): string =>
  xs.length === 0 ? "n/a" : `${seconds(min(xs))}–${seconds(max(xs))}`

/** a ratio as a signed percentage over 1: `1.031` → `+3.1%` */
export const ratioPercent = (r: number): string =>
  !Number.isFinite(r) ? "n/a" : `${r >= 1 ? "+" : ""}${((r - 1) * 100).toFixed(1)}%`

/** the nearest-rank percentile `p` (0-100) of `xs` */
export const percentile = (xs: ReadonlyArray<number>, p: number): number => {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!
}

/** milliseconds, e.g. `84 ms`, `1.23 s` */
export const millis = (ms: number): string =>
  !Number.isFinite(ms) ? "n/a" : ms < 1000 ? `${ms.toFixed(0)} ms` : seconds(ms / 1000)
