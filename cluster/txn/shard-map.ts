/**
 * The shard map: the key space cut into ranges, each owned by one shard
 * (a Multi-Paxos group whose replicas live on named nodes). Static in the
 * configuration for now.
 *
 * @module
 */

import { MakoError } from '../../lib/errors.js'
import { compareBytes as compare } from '../../lib/btree/compare.js'

/** One shard as configured. */
export interface ShardConfig {
  /** Smallest key owned (inclusive); absent: from the start of the key space. */
  readonly start?: Uint8Array | string | undefined
  /** First key not owned (exclusive); absent: to the end of the key space. */
  readonly end?: Uint8Array | string | undefined
  /** Node ids of the shard's replicas (2f+1 of them). */
  readonly replicas: readonly string[]
}

/** One shard, resolved. */
export interface Shard {
  /** Its id: its index in the map. */
  readonly id: number
  /** Smallest key owned, or null for the start of the key space. */
  readonly start: Uint8Array | null
  /** First key not owned, or null for the end of the key space. */
  readonly end: Uint8Array | null
  /** Node ids of its replicas. */
  readonly replicas: readonly string[]
}

/** A key range as iterators give it; each bound optional. */
export interface KeyRange {
  /** Keys greater than this. */
  gt?: Uint8Array | undefined
  /** Keys greater than or equal to this. */
  gte?: Uint8Array | undefined
  /** Keys less than this. */
  lt?: Uint8Array | undefined
  /** Keys less than or equal to this. */
  lte?: Uint8Array | undefined
}

const enc = new TextEncoder()

function bound (x: Uint8Array | string | undefined): Uint8Array | null {
  if (x === undefined) return null
  return typeof x === 'string' ? enc.encode(x) : x
}

/**
 * Range partitioning of the key space over shards. Shards are kept in key
 * order; keys in a gap between shards belong to nobody and are refused
 * with `MAKO_NO_SHARD`.
 */
export class ShardMap {
  /** The shards in key order (a shard's id is its index). */
  readonly shards: readonly Shard[]
  /** Every node named as a replica, sorted. */
  readonly nodes: readonly string[]

  /**
   * @param config The shards, in key order.
   * @throws MakoError `MAKO_INVALID_CONFIG` for no shard, overlapping or
   *   unordered ranges, or a replica list that is empty or repeats a node.
   */
  constructor (config: readonly ShardConfig[]) {
    if (!Array.isArray(config) || config.length === 0) throw new MakoError('A shard map needs at least one shard', 'MAKO_INVALID_CONFIG')
    const shards: Shard[] = []
    const nodes = new Set<string>()
    for (const [id, c] of config.entries()) {
      const start = bound(c.start)
      const end = bound(c.end)
      if (start !== null && end !== null && compare(start, end) >= 0) {
        throw new MakoError(`Shard ${id}: start must be below end`, 'MAKO_INVALID_CONFIG')
      }
      const prev = shards[id - 1]
      if (prev !== undefined && (prev.end === null || start === null || compare(prev.end, start) > 0)) {
        throw new MakoError(`Shard ${id} overlaps shard ${id - 1} (shards must be in key order, without overlap)`, 'MAKO_INVALID_CONFIG')
      }
      if (!Array.isArray(c.replicas) || c.replicas.length === 0) throw new MakoError(`Shard ${id} has no replicas`, 'MAKO_INVALID_CONFIG')
      if (new Set(c.replicas).size !== c.replicas.length) throw new MakoError(`Shard ${id} names a replica twice`, 'MAKO_INVALID_CONFIG')
      for (const r of c.replicas) {
        if (typeof r !== 'string' || r.length === 0) throw new MakoError(`Shard ${id}: replica ids must be non-empty strings`, 'MAKO_INVALID_CONFIG')
        nodes.add(r)
      }
      shards.push(Object.freeze({ id, start, end, replicas: Object.freeze([...c.replicas]) }))
    }
    this.shards = Object.freeze(shards)
    this.nodes = Object.freeze([...nodes].sort())
  }

  /**
   * An even split of the key space by the first byte, for tests and local
   * clusters: shard i owns keys from byte `256 * i / n`.
   *
   * @param count Shards.
   * @param replicas Node ids of each shard's replicas.
   */
  static even (count: number, replicas: readonly string[]): ShardMap {
    const config: ShardConfig[] = []
    for (let i = 0; i < count; i++) {
      const lo = Math.floor(256 * i / count)
      const hi = Math.floor(256 * (i + 1) / count)
      config.push({
        ...(i > 0 ? { start: Uint8Array.of(lo) } : {}),
        ...(i < count - 1 ? { end: Uint8Array.of(hi) } : {}),
        replicas
      })
    }
    return new ShardMap(config)
  }

  /** The number of shards. */
  get size (): number {
    return this.shards.length
  }

  /**
   * The shard that owns a key. O(log shards).
   *
   * @param key The key.
   * @throws MakoError `MAKO_NO_SHARD` when the key falls in a gap.
   */
  shardOf (key: Uint8Array): number {
    const shards = this.shards
    let lo = 0
    let hi = shards.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      const s = shards[mid]!
      if (s.start === null || compare(s.start, key) <= 0) lo = mid
      else hi = mid - 1
    }
    const s = shards[lo]!
    if ((s.start !== null && compare(key, s.start) < 0) || (s.end !== null && compare(key, s.end) >= 0)) {
      throw new MakoError('No shard owns this key', 'MAKO_NO_SHARD')
    }
    return lo
  }

  /**
   * The shards a key range touches, in key order.
   *
   * @param range The range.
   */
  shardsIn (range: KeyRange): number[] {
    const lo = range.gte ?? range.gt
    const hi = range.lte ?? range.lt
    const out: number[] = []
    for (const s of this.shards) {
      if (hi !== undefined && s.start !== null) {
        const c = compare(s.start, hi)
        if (c > 0 || (c === 0 && range.lte === undefined)) continue
      }
      if (lo !== undefined && s.end !== null && compare(s.end, lo) <= 0) continue
      out.push(s.id)
    }
    return out
  }

  /** The configuration, for messages and files. */
  toConfig (): ShardConfig[] {
    return this.shards.map((s) => ({
      ...(s.start !== null ? { start: s.start } : {}),
      ...(s.end !== null ? { end: s.end } : {}),
      replicas: s.replicas
    }))
  }
}
