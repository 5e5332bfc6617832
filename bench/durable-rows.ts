/**
 * The speed rows of the durability benchmark and their data, shared by
 * `durable.ts` (the benchmark) and `durable-profile.ts` (one row under the
 * CPU profiler).
 *
 * @module
 * @internal
 */

import { KEY_BYTES, VALUE_BYTES, type DurableStore, type PutOp } from './durable-contenders.js'
import { formatRate } from './lib/markdown.js'
import { Prng, randomBuffers } from './lib/prng.js'
import { now, time, type Timed } from './lib/stats.js'

/** Seed of the data when `--seed` is not given. @internal */
export const DEFAULT_SEED = 0x6d616b6f
/** Entries per range read. @internal */
export const RANGE_LIMIT = 100
/** Concurrent writers of the concurrent put rows. @internal */
export const WRITERS = 64

/** How much each row does, and how often. @internal */
export interface Sizes {
  /** Entries of the sync: false write rows and of the read database. */
  entries: number
  /** Awaited sync: true puts (one at a time). */
  syncPuts: number
  /** sync: true puts by {@link WRITERS} concurrent writers, in all. */
  syncConcurrentPuts: number
  /** Entries written by the sync: true batch rows. */
  syncBatchEntries: number
  /** Random gets. */
  gets: number
  /** Range reads of {@link RANGE_LIMIT} entries. */
  ranges: number
  /** Entries of the open row's database. */
  openEntries: number
  passes: number
  /** A sample repeats a row until this much time was measured (ms). */
  minSampleMs: number
}

/** Sizes of a full run. @internal */
export const FULL: Sizes = { entries: 100_000, syncPuts: 2000, syncConcurrentPuts: 6400, syncBatchEntries: 20_000, gets: 100_000, ranges: 1000, openEntries: 1_000_000, passes: 3, minSampleMs: 300 }
/** Sizes of a `--quick` smoke run. @internal */
export const QUICK: Sizes = { entries: 10_000, syncPuts: 200, syncConcurrentPuts: 640, syncBatchEntries: 2000, gets: 10_000, ranges: 100, openEntries: 100_000, passes: 1, minSampleMs: 0 }
/** Sizes of the untimed warm-up pass. @internal */
export const WARMUP: Sizes = { ...QUICK, entries: 2000, syncPuts: 20, syncConcurrentPuts: 128, syncBatchEntries: 1000, gets: 2000, ranges: 20 }

/** The seeded data every contender is given. @internal */
export interface Dataset {
  keys: Buffer[]
  values: Buffer[]
  /** Distinct keys (the generator could in principle repeat one). */
  distinct: number
  ops: PutOp[]
  /** A random order of key indexes, for gets. */
  getOrder: Uint32Array
  rangeStarts: Buffer[]
  sizes: Sizes
}

/** The data of one run: the same seed gives every contender the same bytes and order. @internal */
export function makeDataset (seed: number, s: Sizes): Dataset {
  const prng = new Prng(seed)
  const keys = randomBuffers(prng, s.entries, KEY_BYTES)
  const values = randomBuffers(prng, s.entries, VALUE_BYTES)
  const perm = prng.permutation(s.entries)
  const getOrder = new Uint32Array(s.gets)
  for (let i = 0; i < s.gets; i++) getOrder[i] = perm[i % s.entries] as number
  return {
    keys,
    values,
    distinct: new Set(keys.map((k) => k.toString('latin1'))).size,
    ops: keys.map((key, i): PutOp => ({ type: 'put', key, value: values[i] as Buffer })),
    getOrder,
    rangeStarts: Array.from({ length: s.ranges }, () => keys[prng.below(keys.length)] as Buffer),
    sizes: s
  }
}

/** `ops` cut into batches of `size`, the first `count` entries only. */
function batchesOf (ops: readonly PutOp[], size: number, count: number): PutOp[][] {
  const out: PutOp[][] = []
  const end = Math.min(count, ops.length)
  for (let i = 0; i < end; i += size) out.push(ops.slice(i, Math.min(i + size, end)))
  return out
}

const batchCache = new WeakMap<Dataset, Map<string, PutOp[][]>>()

/**
 * The first `count` operations of `d` in batches of `size`, cut once per
 * dataset and size, outside the timed code.
 * @internal
 */
export function batches (d: Dataset, size: number, count: number): PutOp[][] {
  let m = batchCache.get(d)
  if (m === undefined) batchCache.set(d, m = new Map())
  const key = `${size}/${count}`
  let b = m.get(key)
  if (b === undefined) m.set(key, b = batchesOf(d.ops, size, count))
  return b
}

/** One row of the table: what it measures and how. @internal */
export interface Row {
  id: string
  label: (s: Sizes) => string
  unit: string
  /** 'write': a fresh database per repetition; 'read': the pass's loaded one. */
  kind: 'write' | 'read'
  run: (db: DurableStore, d: Dataset, problems: string[]) => Promise<Timed>
}

/** Longest one run of a row may take before it is abandoned as a failure (ms). @internal */
export const MAX_RUN_MS = 5 * 60_000

/**
 * Throws once a run is past its deadline; checked every 256 operations, so
 * the clock is read rarely enough not to show in the figures.
 */
function checkDeadline (i: number, deadline: number): void {
  if ((i & 255) === 0 && now() > deadline) {
    throw new Error(`a run took longer than ${MAX_RUN_MS} ms (stopped after ${i} operations)`)
  }
}

async function awaitedPuts (db: DurableStore, d: Dataset, count: number, sync: boolean): Promise<Timed> {
  const deadline = now() + MAX_RUN_MS
  return await time(async () => {
    const { keys, values } = d
    for (let i = 0; i < count; i++) {
      checkDeadline(i, deadline)
      await db.put(keys[i] as Buffer, values[i] as Buffer, sync)
    }
    return count
  })
}

async function concurrentPuts (db: DurableStore, d: Dataset, count: number, sync: boolean): Promise<Timed> {
  const deadline = now() + MAX_RUN_MS
  return await time(async () => {
    const { keys, values } = d
    // Writer w puts keys w, w + 64, w + 128, ..., each awaiting its own put.
    const writer = async (w: number): Promise<void> => {
      for (let i = w, n = 0; i < count; i += WRITERS, n++) {
        checkDeadline(n, deadline)
        await db.put(keys[i] as Buffer, values[i] as Buffer, sync)
      }
    }
    await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)))
    return count
  })
}

async function batchWrites (db: DurableStore, d: Dataset, size: number, count: number, sync: boolean): Promise<Timed> {
  const bs = batches(d, size, count)
  const deadline = now() + MAX_RUN_MS
  return await time(async () => {
    let n = 0
    for (let i = 0; i < bs.length; i++) {
      checkDeadline(i, deadline)
      const b = bs[i] as PutOp[]
      await db.batch(b, sync)
      n += b.length
    }
    return n
  })
}

/** The speed rows, in table order. @internal */
export const ROWS: Row[] = [
  {
    id: 'put',
    label: (s) => `put, awaited one at a time, sync:false (${formatRate(s.entries)})`,
    unit: 'ops/s',
    kind: 'write',
    run: async (db, d) => await awaitedPuts(db, d, d.sizes.entries, false)
  },
  {
    id: 'put-sync',
    label: (s) => `put, awaited one at a time, sync:true (${formatRate(s.syncPuts)})`,
    unit: 'ops/s',
    kind: 'write',
    run: async (db, d) => await awaitedPuts(db, d, d.sizes.syncPuts, true)
  },
  {
    id: 'put64',
    label: (s) => `put, ${WRITERS} concurrent writers, sync:false (${formatRate(s.entries)})`,
    unit: 'ops/s',
    kind: 'write',
    run: async (db, d) => await concurrentPuts(db, d, d.sizes.entries, false)
  },
  {
    id: 'put64-sync',
    label: (s) => `put, ${WRITERS} concurrent writers, sync:true (${formatRate(s.syncConcurrentPuts)})`,
    unit: 'ops/s',
    kind: 'write',
    run: async (db, d) => await concurrentPuts(db, d, d.sizes.syncConcurrentPuts, true)
  },
  {
    id: 'batch100',
    label: (s) => `batch of 100 puts, sync:false (${formatRate(s.entries)})`,
    unit: 'ops/s',
    kind: 'write',
    run: async (db, d) => await batchWrites(db, d, 100, d.sizes.entries, false)
  },
  {
    id: 'batch100-sync',
    label: (s) => `batch of 100 puts, sync:true (${formatRate(s.syncBatchEntries)})`,
    unit: 'ops/s',
    kind: 'write',
    run: async (db, d) => await batchWrites(db, d, 100, d.sizes.syncBatchEntries, true)
  },
  {
    id: 'batch1000',
    label: (s) => `batch of 1000 puts, sync:false (${formatRate(s.entries)})`,
    unit: 'ops/s',
    kind: 'write',
    run: async (db, d) => await batchWrites(db, d, 1000, d.sizes.entries, false)
  },
  {
    id: 'batch1000-sync',
    label: (s) => `batch of 1000 puts, sync:true (${formatRate(s.entries)})`,
    unit: 'ops/s',
    kind: 'write',
    run: async (db, d) => await batchWrites(db, d, 1000, d.sizes.entries, true)
  },
  {
    id: 'get',
    label: (s) => `get, awaited, random existing keys (${formatRate(s.gets)})`,
    unit: 'ops/s',
    kind: 'read',
    run: async (db, d, problems) => {
      let misses = 0
      const deadline = now() + MAX_RUN_MS
      const t = await time(async () => {
        const { keys, getOrder } = d
        for (let i = 0; i < getOrder.length; i++) {
          checkDeadline(i, deadline)
          if (await db.get(keys[getOrder[i] as number] as Buffer) === undefined) misses++
        }
        return getOrder.length
      })
      if (misses > 0) problems.push(`get: ${misses} existing keys not found`)
      return t
    }
  },
  {
    id: 'iterate',
    label: (s) => `full iteration, for await (${formatRate(s.entries)})`,
    unit: 'entries/s',
    kind: 'read',
    run: async (db, d, problems) => {
      const t = await time(() => db.iterateForAwait())
      if (t.ops !== d.distinct) problems.push(`iterate: ${t.ops} entries, expected ${d.distinct}`)
      return t
    }
  },
  {
    id: 'iterate-bulk',
    label: (s) => `full iteration, nextv(1000) (rocksdb: native loop) (${formatRate(s.entries)})`,
    unit: 'entries/s',
    kind: 'read',
    run: async (db, d, problems) => {
      const t = await time(() => db.iterateBulk())
      if (t.ops !== d.distinct) problems.push(`iterate-bulk: ${t.ops} entries, expected ${d.distinct}`)
      return t
    }
  },
  {
    id: 'range',
    label: (s) => `range read of ${RANGE_LIMIT} entries from a random key (${formatRate(s.ranges)})`,
    unit: 'ranges/s',
    kind: 'read',
    run: async (db, d, problems) => {
      let entries = 0
      let over = 0
      const deadline = now() + MAX_RUN_MS
      const t = await time(async () => {
        for (let i = 0; i < d.rangeStarts.length; i++) {
          checkDeadline(i, deadline)
          const n = await db.range(d.rangeStarts[i] as Buffer, RANGE_LIMIT)
          if (n > RANGE_LIMIT) over++
          entries += n
        }
        return d.rangeStarts.length
      })
      if (over > 0) problems.push(`range: ${over} ranges returned more than the limit`)
      // Each start is an existing key, so a range returns at least that one.
      if (entries < d.rangeStarts.length) problems.push(`range: only ${entries} entries from ${d.rangeStarts.length} ranges`)
      return t
    }
  }
]

/** The bars MakoLevel must meet (issue 3), as multiples of classic-level's figure. @internal */
export const BARS: Record<string, { factor: number, text: string }> = {
  put: { factor: 5, text: '>= 5x classic' },
  get: { factor: 20, text: '>= 20x classic' },
  batch1000: { factor: 1, text: '>= 1x classic' },
  'put64-sync': { factor: 3, text: '>= 3x classic' }
}
