/**
 * Timing and summary statistics for benchmarks.
 *
 * @module
 * @internal
 */

import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/** The median of `values` (mean of the middle two for an even count). @internal */
export function median (values: readonly number[]): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  if (sorted.length % 2 === 1) return sorted[mid] as number
  return ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/** Milliseconds from a monotonic clock. @internal */
export function now (): number {
  return performance.now()
}

/** The result of one timed run. @internal */
export interface Timed {
  /** Operations (or entries, keys, ranges: the row's unit) done. */
  ops: number
  /** Elapsed wall time in ms. */
  ms: number
}

/** Operations per second of a timed run. @internal */
export function rate (t: Timed): number {
  return t.ms > 0 ? (t.ops * 1000) / t.ms : Infinity
}

/**
 * Time `fn`, which reports how many operations it did.
 *
 * @internal
 */
export async function time (fn: () => Promise<number> | number): Promise<Timed> {
  const start = now()
  const ops = await fn()
  return { ops, ms: now() - start }
}

let gcFn: (() => void) | undefined

/**
 * A full garbage collection, so one row's garbage is not collected during the
 * next row's timing. Works without `--expose-gc` on the command line: the
 * flag is switched on at run time and `gc` is taken from a fresh context,
 * where V8 installs it.
 *
 * @internal
 */
export function collectGarbage (): void {
  if (gcFn === undefined) {
    const existing = (globalThis as { gc?: () => void }).gc
    if (typeof existing === 'function') {
      gcFn = existing
    } else {
      setFlagsFromString('--expose-gc')
      gcFn = runInNewContext('gc') as () => void
    }
  }
  gcFn()
}
