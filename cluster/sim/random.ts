/**
 * Seeded random numbers. Every source of chance in a simulation (network,
 * disk, each node, the workload) is its own stream derived from the run's
 * seed and a name, so adding a draw to one stream does not shift the others
 * and a run is reproduced from the seed alone.
 *
 * @module
 */

import { createHash } from 'node:crypto'

/**
 * A 32-bit seed from any seed and a stream name (SHA-256, first words).
 *
 * @internal
 */
function deriveState (seed: number | string, name: string): [number, number, number, number] {
  const digest = createHash('sha256').update(`mako-sim:${String(seed)}:${name}`).digest()
  const words: [number, number, number, number] = [
    digest.readUInt32LE(0), digest.readUInt32LE(4), digest.readUInt32LE(8), digest.readUInt32LE(12)
  ]
  // xoshiro128** must not start from all zeros.
  if ((words[0] | words[1] | words[2] | words[3]) === 0) words[0] = 1
  return words
}

/**
 * A seeded stream of random numbers (xoshiro128**): fast, small state, and
 * the same sequence on every platform.
 */
export class SeededRandom {
  /** The run seed this stream derives from. */
  readonly seed: number | string
  /** The stream's name. */
  readonly name: string
  #a: number
  #b: number
  #c: number
  #d: number

  /**
   * @param seed The run's seed.
   * @param name The stream's name; different names give independent streams.
   */
  constructor (seed: number | string, name = 'root') {
    this.seed = seed
    this.name = name
    ;[this.#a, this.#b, this.#c, this.#d] = deriveState(seed, name)
  }

  /**
   * An independent stream named `name` under this one.
   *
   * @param name The child's name.
   */
  fork (name: string): SeededRandom {
    return new SeededRandom(this.seed, `${this.name}/${name}`)
  }

  /** A uniform 32-bit unsigned integer. */
  uint32 (): number {
    const result = Math.imul(rotl(Math.imul(this.#b, 5), 7), 9) >>> 0
    const t = this.#b << 9
    this.#c ^= this.#a
    this.#d ^= this.#b
    this.#b ^= this.#c
    this.#a ^= this.#d
    this.#c ^= t
    this.#d = rotl(this.#d, 11)
    return result
  }

  /** A uniform number in [0, 1), with 53 random bits. */
  next (): number {
    return ((this.uint32() >>> 5) * 67108864 + (this.uint32() >>> 6)) / 9007199254740992
  }

  /**
   * A uniform integer in [0, n).
   *
   * @param n The exclusive bound, at least 1.
   */
  int (n: number): number {
    return Math.floor(this.next() * n)
  }

  /**
   * A uniform integer in [min, max], both included.
   *
   * @param min The smallest value.
   * @param max The largest value.
   */
  intBetween (min: number, max: number): number {
    return min + this.int(max - min + 1)
  }

  /**
   * A uniform number in [min, max).
   *
   * @param min The smallest value.
   * @param max The bound.
   */
  range (min: number, max: number): number {
    return min + this.next() * (max - min)
  }

  /**
   * True with probability `p`.
   *
   * @param p A probability in [0, 1].
   */
  chance (p: number): boolean {
    return p > 0 && this.next() < p
  }

  /**
   * An exponentially distributed number with the given mean.
   *
   * @param mean The mean.
   */
  exponential (mean: number): number {
    return -mean * Math.log(1 - this.next())
  }

  /**
   * One element chosen uniformly.
   *
   * @param items A non-empty array.
   */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty array')
    return items[this.int(items.length)] as T
  }

  /**
   * Shuffles `items` in place (Fisher-Yates) and returns it.
   *
   * @param items The array.
   */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const tmp = items[i] as T
      items[i] = items[j] as T
      items[j] = tmp
    }
    return items
  }
}

function rotl (x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}

/**
 * A distribution of delays in milliseconds: a fixed number, a uniform range
 * `{ min, max }`, an exponential `{ mean, min? }` (a long tail, so messages
 * reorder), or a function of a random stream.
 */
export type DelaySpec =
  | number
  | {
    /** The shortest delay. */
    readonly min: number
    /** The bound of the delay. */
    readonly max: number
  }
  | {
    /** The mean of the exponential part. */
    readonly mean: number
    /** A constant added to it; default 0. */
    readonly min?: number
  }
  | ((random: SeededRandom) => number)

/**
 * Draws one delay from a distribution.
 *
 * @param spec The distribution.
 * @param random The stream to draw from.
 */
export function drawDelay (spec: DelaySpec, random: SeededRandom): number {
  if (typeof spec === 'number') return spec
  if (typeof spec === 'function') return Math.max(0, spec(random))
  if ('mean' in spec) return (spec.min ?? 0) + random.exponential(spec.mean)
  return random.range(spec.min, spec.max)
}
