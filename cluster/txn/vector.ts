/**
 * Positions, vector timestamps and watermarks: how a transaction's fate is
 * decided from facts every shard publishes.
 *
 * A **position** is where a transaction sits in one shard's log:
 * `epoch * 2^32 + seq`, where `epoch` counts the leaderships of that shard
 * (the epoch entries chosen in its Paxos log) and `seq` numbers the
 * transactions a leader prepared in its epoch, from 1, without gaps.
 *
 * A **vector** lists the positions a transaction depends on: its own
 * position at every shard it wrote, and the vectors of every version it
 * read or overwrote. It is a flat array of `[shard, position]` pairs, sorted,
 * with at most one position per shard and epoch (a dependency on an old
 * epoch is kept beside one on a newer epoch: the old one may be rolled back).
 *
 * A **mark** is what a shard publishes about its log: the current epoch, the
 * highest `seq` of that epoch below which every position is replicated (the
 * watermark), and for each closed epoch its final `seq`. A position is
 * *final* when it is at or below its epoch's watermark or final seq,
 * *dead* when its epoch closed below it, and *pending* otherwise; a vector
 * is dead when one of its positions is, final when all are.
 *
 * @module
 */

/** 2^32: positions are `epoch * EPOCH + seq`. */
export const EPOCH = 2 ** 32

/**
 * Builds a position.
 *
 * @param epoch The shard's epoch number (from 1).
 * @param seq The transaction's number in that epoch (from 1).
 */
export function position (epoch: number, seq: number): number {
  return epoch * EPOCH + seq
}

/**
 * The epoch of a position.
 *
 * @param pos A position.
 */
export function epochOf (pos: number): number {
  return Math.floor(pos / EPOCH)
}

/**
 * The sequence number of a position within its epoch.
 *
 * @param pos A position.
 */
export function seqOf (pos: number): number {
  return pos % EPOCH
}

/** A vector timestamp: flat `[shard, position, shard, position, ...]`, sorted by shard then position. */
export type Vector = readonly number[]

/** The empty vector: depends on nothing. */
export const emptyVector: Vector = Object.freeze([]) as Vector

/**
 * Merges two vectors: for each shard and epoch the higher position.
 * O(length of both).
 *
 * @param a A vector.
 * @param b Another vector.
 */
export function mergeVectors (a: Vector, b: Vector): Vector {
  if (b.length === 0) return a
  if (a.length === 0) return b
  const out: number[] = []
  let i = 0
  let j = 0
  while (i < a.length || j < b.length) {
    let s: number
    let p: number
    if (j >= b.length || (i < a.length && (a[i]! < b[j]! || (a[i] === b[j] && a[i + 1]! <= b[j + 1]!)))) {
      s = a[i]!
      p = a[i + 1]!
      i += 2
    } else {
      s = b[j]!
      p = b[j + 1]!
      j += 2
    }
    const n = out.length
    if (n > 0 && out[n - 2] === s) {
      const last = out[n - 1]!
      if (epochOf(last) === epochOf(p)) {
        if (p > last) out[n - 1] = p
        continue
      }
    }
    out.push(s, p)
  }
  return out
}

/**
 * A vector with one more position.
 *
 * @param v A vector.
 * @param shard The shard.
 * @param pos The position there.
 */
export function withPosition (v: Vector, shard: number, pos: number): Vector {
  return mergeVectors(v, [shard, pos])
}

/**
 * The position a vector holds for a shard (the highest, if several epochs), or 0.
 *
 * @param v A vector.
 * @param shard The shard.
 */
export function positionAt (v: Vector, shard: number): number {
  let p = 0
  for (let i = 0; i < v.length; i += 2) if (v[i] === shard && v[i + 1]! > p) p = v[i + 1]!
  return p
}

/**
 * Whether a value is a well-formed vector (for messages from the network):
 * pairs of a shard id and a position, sorted.
 *
 * @param x Anything.
 * @param shards The number of shards.
 */
export function isVector (x: unknown, shards: number): x is Vector {
  if (!Array.isArray(x) || x.length % 2 !== 0 || x.length > 2 * 1024) return false
  for (let i = 0; i < x.length; i += 2) {
    const s = x[i] as unknown
    const p = x[i + 1] as unknown
    if (!Number.isInteger(s) || (s as number) < 0 || (s as number) >= shards) return false
    if (!Number.isSafeInteger(p) || (p as number) <= 0) return false
    // Sorted by shard then position (merges rely on it).
    if (i > 0 && (x[i - 2] > (s as number) || (x[i - 2] === s && x[i - 1] >= (p as number)))) return false
  }
  return true
}

/**
 * What a shard publishes about its log (see the module documentation).
 * Every field only grows, so marks from different sources merge.
 */
export interface Mark {
  /** The current epoch (0 before the first leader). */
  readonly e: number
  /** Watermark: every seq of epoch `e` up to here is replicated. */
  readonly w: number
  /** Closed epochs: flat `[epoch, final seq, ...]`, ascending. */
  readonly c: readonly number[]
}

/** The mark of a shard nobody has heard of. */
export const noMark: Mark = Object.freeze({ e: 0, w: 0, c: Object.freeze([]) as readonly number[] })

/**
 * The newer of two marks of one shard (they never disagree on facts).
 *
 * @param a A mark.
 * @param b Another mark of the same shard.
 */
export function newerMark (a: Mark, b: Mark): Mark {
  if (b.e > a.e || (b.e === a.e && b.w > a.w)) return b.c.length >= a.c.length ? b : { e: b.e, w: b.w, c: a.c }
  return a
}

/**
 * Whether a value is a well-formed mark.
 *
 * @param x Anything.
 */
export function isMark (x: unknown): x is Mark {
  if (typeof x !== 'object' || x === null) return false
  const m = x as Record<string, unknown>
  if (!Number.isSafeInteger(m['e']) || !Number.isSafeInteger(m['w']) || !Array.isArray(m['c'])) return false
  const c = m['c'] as unknown[]
  if (c.length % 2 !== 0 || c.length > 2 * 100_000) return false
  return c.every((n) => Number.isSafeInteger(n) && (n as number) >= 0)
}

/**
 * The fates of a position or vector: `Pending` (not decided yet), `Final`
 * (replicated, with everything it depends on), `Dead` (rolled back by a
 * failover: it never happened).
 */
export const Fate = Object.freeze({
  /** Not decided yet. */
  Pending: 0,
  /** Replicated, with everything it depends on. */
  Final: 1,
  /** Rolled back by a failover. */
  Dead: 2
} as const)

/** A fate: one of the values of {@link Fate}. */
export type Fate = typeof Fate[keyof typeof Fate]

function closedFinal (m: Mark, epoch: number): number {
  const c = m.c
  // Closed epochs are few (one per failover); a linear scan from the end.
  for (let i = c.length - 2; i >= 0; i -= 2) {
    if (c[i] === epoch) return c[i + 1]!
    if (c[i]! < epoch) break
  }
  return 0
}

/**
 * The fate of one position under a shard's mark.
 *
 * @param pos The position.
 * @param m The shard's mark.
 */
export function positionFate (pos: number, m: Mark): Fate {
  const e = epochOf(pos)
  const n = seqOf(pos)
  if (e < m.e) return n <= closedFinal(m, e) ? Fate.Final : Fate.Dead
  if (e === m.e && n <= m.w) return Fate.Final
  return Fate.Pending
}

/**
 * The fate of a vector under the marks of every shard.
 *
 * @param v The vector.
 * @param marks Marks by shard id (missing: nothing known).
 */
export function vectorFate (v: Vector, marks: readonly Mark[]): Fate {
  let fate: Fate = Fate.Final
  for (let i = 0; i < v.length; i += 2) {
    const f = positionFate(v[i + 1]!, marks[v[i]!] ?? noMark)
    if (f === Fate.Dead) return Fate.Dead
    if (f === Fate.Pending) fate = Fate.Pending
  }
  return fate
}

/**
 * Every shard's newest known mark, merged from every source (the shard's
 * own log, pushes from leaders, replies). Listeners hear of each change.
 */
export class MarkTable {
  readonly #marks: Mark[]
  readonly #listeners = new Set<(shard: number, closed: boolean) => void>()

  /**
   * @param shards The number of shards.
   */
  constructor (readonly shards: number) {
    this.#marks = Array.from({ length: shards }, () => noMark)
  }

  /** Marks by shard id (do not modify). */
  get all (): readonly Mark[] {
    return this.#marks
  }

  /**
   * One shard's mark.
   *
   * @param shard The shard.
   */
  get (shard: number): Mark {
    return this.#marks[shard] ?? noMark
  }

  /**
   * Merges a mark heard from anywhere. Returns whether it told something new.
   *
   * @param shard The shard.
   * @param m Its mark.
   */
  update (shard: number, m: Mark): boolean {
    const old = this.#marks[shard]
    if (old === undefined) return false
    const next = newerMark(old, m)
    if (next === old) return false
    this.#marks[shard] = next
    const closed = next.c.length > old.c.length
    for (const l of this.#listeners) l(shard, closed)
    return true
  }

  /**
   * Listens for changes; `closed` is true when an epoch closed (rollbacks may follow).
   *
   * @param listener Called after each change.
   * @returns A function that stops listening.
   */
  onChange (listener: (shard: number, closed: boolean) => void): () => void {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  /**
   * The fate of a vector under the marks known now.
   *
   * @param v The vector.
   */
  fate (v: Vector): Fate {
    return vectorFate(v, this.#marks)
  }

  /** A copy of every mark: a consistent cut to read at. */
  cut (): Mark[] {
    return this.#marks.slice()
  }
}
