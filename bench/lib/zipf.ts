/**
 * Zipf-skewed choice of ranks, for contended workloads.
 *
 * @module
 * @internal
 */

import type { Prng } from './prng.js'

/**
 * Draws ranks 0..n-1 with probability proportional to 1/(rank+1)^s: rank 0
 * is the hottest. O(n) to build, O(log n) a draw (binary search of the CDF).
 * @internal
 */
export class Zipf {
  private readonly cdf: Float64Array

  /**
   * @param n How many ranks.
   * @param s The skew: 0 is uniform, 0.99 is YCSB's and TPC-like hot sets.
   * @param prng Where the draws come from.
   */
  constructor (n: number, s: number, private readonly prng: Prng) {
    this.cdf = new Float64Array(n)
    let sum = 0
    for (let i = 0; i < n; i++) { sum += 1 / Math.pow(i + 1, s); this.cdf[i] = sum }
    for (let i = 0; i < n; i++) this.cdf[i]! /= sum
  }

  /** The next rank. */
  next (): number {
    const u = this.prng.nextUint32() / 0x100000000
    let lo = 0
    let hi = this.cdf.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.cdf[mid]! < u) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}
