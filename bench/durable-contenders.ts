/**
 * The persistent databases the durability benchmark compares, behind one
 * small promise interface: MakoLevel with a location and classic-level
 * (both abstract-level 3 databases, used through their own API), and the
 * npm `rocksdb` package (an abstract-leveldown 7 database with callbacks,
 * wrapped here in promises). Shared by `durable.ts` (speed rows) and
 * `durable-open.ts` (the child that writes and opens a million entries).
 *
 * @module
 * @internal
 */

import { createRequire } from 'node:module'
import type { AbstractBatchPutOperation, AbstractLevel, AbstractPutOptions, AbstractBatchOptions } from 'abstract-level'
import { ClassicLevel } from 'classic-level'
import type { MakoLevel as MakoLevelClass } from '../adapters/level/mako-level.js'
import { Prng, randomBuffers } from './lib/prng.js'

/** One put of a batch, as every contender takes it. @internal */
export type PutOp = { type: 'put', key: Buffer, value: Buffer }

/**
 * A database as the durability benchmark drives it. Writes take `sync`:
 * true waits until the write is on stable storage (fsync), false until the
 * OS has it. Counting methods return how many entries they saw, so the
 * benchmark can check them.
 *
 * @internal
 */
export interface DurableStore {
  put: (key: Buffer, value: Buffer, sync: boolean) => Promise<void>
  get: (key: Buffer) => Promise<Buffer | undefined>
  batch: (ops: PutOp[], sync: boolean) => Promise<void>
  /** Every entry through the database's own `for await` iteration. */
  iterateForAwait: () => Promise<number>
  /** Every entry through the fastest bulk iteration it has (see {@link DurableContender.bulkIteration}). */
  iterateBulk: () => Promise<number>
  /** Entries from `gte` on, at most `limit` of them: the number returned. */
  range: (gte: Buffer, limit: number) => Promise<number>
  close: () => Promise<void>
}

/** One contender of the durability benchmark. @internal */
export interface DurableContender {
  /** Short id for `--only` and JSON keys. */
  id: string
  /** Name in the table. */
  label: string
  /** How {@link DurableStore.iterateBulk} iterates, for the report. */
  bulkIteration: string
  /**
   * Load the database's module (done by {@link open} too; call it first
   * where module loading must not be timed).
   */
  load: () => Promise<void>
  /** Construct and open a database in `dir` (created if missing). */
  open: (dir: string) => Promise<DurableStore>
}

const bufferOptions = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const

// abstract-level's option types do not declare `sync`, which classic-level
// and MakoLevel both read; one constant object each, so no call allocates.
const SYNC_PUT = { sync: true } as AbstractPutOptions<Buffer, Buffer>
const SYNC_BATCH = { sync: true } as AbstractBatchOptions<Buffer, Buffer>

/** Entries per `nextv()` call in the bulk iteration of abstract-level databases. */
const NEXTV_SIZE = 1000

/**
 * An abstract-level 3 database through its own API. Writes without sync
 * pass no options, as most applications call them (sync: false is the
 * default of both databases).
 */
function levelStore (db: AbstractLevel<any, Buffer, Buffer>): DurableStore { // eslint-disable-line @typescript-eslint/no-explicit-any
  return {
    put: (key, value, sync) => sync ? db.put(key, value, SYNC_PUT) : db.put(key, value),
    get: (key) => db.get(key),
    batch: (ops, sync) => sync ? db.batch(ops as Array<AbstractBatchPutOperation<typeof db, Buffer, Buffer>>, SYNC_BATCH) : db.batch(ops as Array<AbstractBatchPutOperation<typeof db, Buffer, Buffer>>),
    iterateForAwait: async () => {
      let n = 0
      for await (const entry of db.iterator()) if (entry[1] !== undefined) n++
      return n
    },
    iterateBulk: async () => {
      let n = 0
      const it = db.iterator()
      try {
        for (;;) {
          const entries = await it.nextv(NEXTV_SIZE)
          if (entries.length === 0) break
          n += entries.length
        }
      } finally {
        await it.close()
      }
      return n
    },
    range: async (gte, limit) => (await db.iterator({ gte, limit }).all()).length,
    close: () => db.close()
  }
}

// The npm `rocksdb` package (abstract-leveldown 7) ships no types: the part
// of its API used here.
type Callback<T = void> = (err: Error | null | undefined, result?: T) => void
interface RocksIterator extends AsyncIterable<[Buffer, Buffer]> {
  next: (callback: (err: Error | null | undefined, key?: Buffer, value?: Buffer) => void) => void
  end: (callback: Callback) => void
}
interface RocksIteratorOptions {
  gte?: Buffer
  limit?: number
  /** Bytes the native side reads ahead per round trip (default 16 KiB). */
  highWaterMark?: number
}
interface RocksDb {
  open: (callback: Callback) => void
  close: (callback: Callback) => void
  put: (key: Buffer, value: Buffer, options: { sync: boolean }, callback: Callback) => void
  get: (key: Buffer, callback: Callback<Buffer>) => void
  batch: (ops: PutOp[], options: { sync: boolean }, callback: Callback) => void
  iterator: (options?: RocksIteratorOptions) => RocksIterator
}

const requireCjs = createRequire(import.meta.url)

/** The `rocksdb` factory, loaded on first use. */
let rocksdbFactory: ((location: string) => RocksDb) | undefined

/**
 * Read-ahead for the native bulk iteration: large enough that the binding's
 * own cap of 1000 entries per round trip applies, the same batch size as
 * the others' nextv(1000).
 */
const ROCKS_BULK_HIGH_WATER_MARK = 1024 * 1024

const SYNC_TRUE = { sync: true }
const SYNC_FALSE = { sync: false }

function settle<T> (resolve: (v: T) => void, reject: (e: Error) => void): Callback<T> {
  return (err, result) => {
    if (err != null) reject(err)
    else resolve(result as T)
  }
}

/** Count what a callback iterator yields, calling `next` as fast as it answers. */
function drain (it: RocksIterator): Promise<number> {
  return new Promise((resolve, reject) => {
    let n = 0
    const step = (err: Error | null | undefined, key?: Buffer): void => {
      if (err != null) {
        it.end(() => { reject(err) })
        return
      }
      if (key === undefined) {
        it.end(settle(() => { resolve(n) }, reject))
        return
      }
      n++
      // The iterator answers from its read-ahead cache on a later tick
      // (process.nextTick), so this recursion does not grow the stack.
      it.next(step)
    }
    it.next(step)
  })
}

function loadRocksdb (): (location: string) => RocksDb {
  rocksdbFactory ??= requireCjs('rocksdb') as (location: string) => RocksDb
  return rocksdbFactory
}

async function openRocks (dir: string): Promise<DurableStore> {
  const db = loadRocksdb()(dir)
  await new Promise<void>((resolve, reject) => { db.open(settle(resolve, reject)) })
  return {
    put: (key, value, sync) => new Promise((resolve, reject) => {
      db.put(key, value, sync ? SYNC_TRUE : SYNC_FALSE, settle(resolve, reject))
    }),
    get: (key) => new Promise((resolve, reject) => {
      db.get(key, (err, value) => {
        if (err == null) resolve(value)
        else if (/NotFound/i.test(err.message)) resolve(undefined)
        else reject(err)
      })
    }),
    batch: (ops, sync) => new Promise((resolve, reject) => {
      db.batch(ops, sync ? SYNC_TRUE : SYNC_FALSE, settle(resolve, reject))
    }),
    iterateForAwait: async () => {
      // abstract-leveldown 7's own async iterator: one promise per entry.
      let n = 0
      for await (const entry of db.iterator()) if (entry[1] !== undefined) n++
      return n
    },
    iterateBulk: () => drain(db.iterator({ highWaterMark: ROCKS_BULK_HIGH_WATER_MARK })),
    range: (gte, limit) => drain(db.iterator({ gte, limit })),
    close: () => new Promise((resolve, reject) => { db.close(settle(resolve, reject)) })
  }
}

let makoModule: Promise<{ MakoLevel: typeof MakoLevelClass }> | undefined
function loadMakoLevel (): Promise<{ MakoLevel: typeof MakoLevelClass }> {
  makoModule ??= import('../adapters/level/mako-level.js')
  return makoModule
}

async function openLevel (db: AbstractLevel<any, Buffer, Buffer>): Promise<DurableStore> { // eslint-disable-line @typescript-eslint/no-explicit-any
  await db.open()
  return levelStore(db)
}

/**
 * All persistent contenders, in table order.
 *
 * @internal
 */
export const CONTENDERS: readonly DurableContender[] = [
  {
    id: 'mako',
    label: 'MakoLevel',
    bulkIteration: `nextv(${NEXTV_SIZE})`,
    load: async () => { await loadMakoLevel() },
    open: async (dir) => {
      // Loaded on first use, so that the other contenders still run while
      // MakoLevel's module fails to load (it is then reported as failed).
      const { MakoLevel } = await loadMakoLevel()
      return await openLevel(new MakoLevel<Buffer, Buffer>(dir, { ...bufferOptions }))
    }
  },
  {
    // The same database with the log making a write call per group instead
    // of copying into its file mapping: what the mapping buys, in the same run.
    id: 'mako-write',
    label: 'MakoLevel (write calls)',
    bulkIteration: `nextv(${NEXTV_SIZE})`,
    load: async () => { await loadMakoLevel() },
    open: async (dir) => {
      const { MakoLevel } = await loadMakoLevel()
      return await openLevel(new MakoLevel<Buffer, Buffer>(dir, { ...bufferOptions, logWriteMode: 'inline' }))
    }
  },
  {
    id: 'classic',
    label: 'classic-level',
    bulkIteration: `nextv(${NEXTV_SIZE})`,
    load: async () => {},
    open: async (dir) => await openLevel(new ClassicLevel<Buffer, Buffer>(dir, { ...bufferOptions }))
  },
  {
    id: 'rocksdb',
    label: 'rocksdb',
    bulkIteration: 'native iterator, next(callback) in a tight loop, read-ahead of up to 1000 entries per native call (no nextv)',
    load: async () => { loadRocksdb() },
    open: openRocks
  }
]

/** Bytes per key and per value, in every row. @internal */
export const KEY_BYTES = 16
/** @internal */
export const VALUE_BYTES = 100

/** Entries per batch when loading the "open a million entries" databases. @internal */
export const OPEN_BATCH = 1000

/**
 * The data of the "open a million entries" row, one batch at a time: each
 * batch is the next {@link OPEN_BATCH} keys, then as many values, of one
 * seeded stream, so every process that replays the seed writes (or looks
 * up) the same entries.
 *
 * @internal
 */
export function * openData (seed: number, entries: number): Generator<PutOp[]> {
  const prng = new Prng(seed)
  for (let done = 0; done < entries; done += OPEN_BATCH) {
    const size = Math.min(OPEN_BATCH, entries - done)
    const keys = randomBuffers(prng, size, KEY_BYTES)
    const values = randomBuffers(prng, size, VALUE_BYTES)
    yield keys.map((key, i): PutOp => ({ type: 'put', key, value: values[i] as Buffer }))
  }
}
