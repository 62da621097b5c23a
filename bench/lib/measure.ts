/**
 * Repetitions of several variants, interleaved (the order rotates every repetition), with each
 * run's time or error kept per variant.
 */
import { rotate } from "./stats.ts"

const firstLines = (error: unknown, n: number) =>
  error instanceof Error ? error.message.split("\n").slice(0, n).join(" ") : String(error)

export class Samples<K extends string> {
  private readonly times = new Map<K, Array<number>>()
  private readonly errors = new Map<K, Array<string>>()
  /** untimed runs (warm-ups, setup), per variant: ok and failed */
  private readonly untimed = new Map<K, { ok: number; failed: number }>()

  /** per variant, repetition → seconds: for ratios paired within a repetition */
  private readonly byRep = new Map<K, Map<number, number>>()

  add(key: K, seconds: number, rep = -1): void {
    this.times.set(key, [...this.of(key), seconds])
    const reps = this.byRep.get(key) ?? new Map<number, number>()
    reps.set(rep, seconds)
    this.byRep.set(key, reps)
  }

  /**
   * The ratios a / b of the runs of one repetition (run back to back, so under about the same
   * load), for every repetition in which both succeeded.
   */
  pairedRatios(a: K, b: K): Array<number> {
    const as = this.byRep.get(a) ?? new Map<number, number>()
    const bs = this.byRep.get(b) ?? new Map<number, number>()
    return [...as.entries()].filter(([rep]) => rep >= 0 && bs.has(rep)).map(([rep, x]) => x / bs.get(rep)!)
  }

  fail(key: K, error: unknown): void {
    this.errors.set(key, [...(this.errors.get(key) ?? []), firstLines(error, 4)])
  }

  /** an untimed run (warm-up, setup): counted in `calls`, its error listed, not in the medians */
  untimedRun(key: K, error?: unknown, what = "untimed"): void {
    const u = this.untimed.get(key) ?? { ok: 0, failed: 0 }
    if (error === undefined) u.ok++
    else {
      u.failed++
      this.errors.set(key, [...(this.errors.get(key) ?? []), `(${what}) ${firstLines(error, 4)}`])
    }
    this.untimed.set(key, u)
  }

  of(key: K): ReadonlyArray<number> {
    return this.times.get(key) ?? []
  }

  /** failed timed runs of `key` */
  failures(key: K): number {
    return (this.errors.get(key)?.length ?? 0) - (this.untimed.get(key)?.failed ?? 0)
  }

  /** every run of `key`, timed or not: how many failed, of how many */
  calls(key: K): { failed: number; total: number } {
    const failed = this.errors.get(key)?.length ?? 0
    return { failed, total: this.of(key).length + failed + (this.untimed.get(key)?.ok ?? 0) }
  }

  allErrors(): Array<string> {
    return [...this.errors.entries()].flatMap(([k, es]) => es.map((e) => `${k}: ${e}`))
  }
}

/**
 * Runs `reps` repetitions; in each, every variant once, in an order rotated by the repetition.
 * A failed run is recorded and the others go on. The variants listed in `warmup` first run once,
 * untimed (as repetition -1).
 */
export const interleaved = async <K extends string>(
  samples: Samples<K>,
  reps: number,
  variants: ReadonlyArray<K>,
  run: (variant: K, rep: number) => Promise<number>,
  log: (message: string) => void,
  label: string,
  options: { readonly warmup?: ReadonlyArray<K> } = {}
): Promise<void> => {
  // One untimed run of these variants first: modules loaded, code compiled, caches warm.
  for (const variant of options.warmup ?? []) {
    await run(variant, -1).then(
      () => samples.untimedRun(variant),
      (e) => {
        samples.untimedRun(variant, e, "warm-up")
        log(`  ${label} warm-up ${variant}: FAILED ${firstLines(e, 1)}`)
      }
    )
  }
  for (let rep = 0; rep < reps; rep++) {
    for (const variant of rotate(variants, rep)) {
      try {
        const seconds = await run(variant, rep)
        samples.add(variant, seconds, rep)
        log(`  ${label} rep ${rep + 1}/${reps} ${variant}: ${seconds.toFixed(3)} s`)
      } catch (e) {
        samples.fail(variant, e)
        log(`  ${label} rep ${rep + 1}/${reps} ${variant}: FAILED ${firstLines(e, 1)}`)
      }
    }
  }
}

/** Adds up `calls` of several sample sets. */
export const sumCalls = (calls: ReadonlyArray<{ failed: number; total: number }>) =>
  calls.reduce((a, c) => ({ failed: a.failed + c.failed, total: a.total + c.total }), { failed: 0, total: 0 })
