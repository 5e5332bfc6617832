/**
 * Optimistic transactions, the Silo way (and RocksDB's
 * OptimisticTransactionDB): reads come from a snapshot taken at the first
 * read and are recorded with the version they saw; ranges read through an
 * iterator are recorded too, so phantoms are caught; writes are buffered
 * and read back inside the transaction. Commit validates every record
 * against the database as it is now (and against batches already in the
 * log but not yet applied), then applies the writes as one atomic batch
 * across column families. A conflict rejects with
 * `MAKO_TRANSACTION_CONFLICT` (transient: run the transaction again).
 *
 * Versions need no counters: every write copies its entry to a new place
 * (chunks are only ever appended to), so an entry's (buffer, offset)
 * identifies the write that made it, and an unchanged location means an
 * unchanged key.
 *
 * @module
 */

import { MakoError } from '../../lib/errors.js'
import { compareBytes, find, foundAt, type Node } from '../../lib/btree/index.js'
import type { BatchOp, Family, Store, StoreSnapshot } from '../../lib/store/index.js'
import { ENTRIES, RangeScan, withinRange, type RangeOptions } from './iterator.js'

/**
 * What a transaction needs from its database: MakoLevel implements it.
 * @internal
 */
export interface TransactionHost {
  /** The store as it is now. */
  store (): Store
  /** Batches logged and not yet applied, oldest first. */
  pending (): ReadonlyArray<readonly BatchOp[]>
  /** The family an operation names (a handle, a name, or undefined for this database's own). */
  familyOf (columnFamily: unknown): Family
  /** Encodes a key or value with the database's encodings (or the options'). */
  encodeKey (key: unknown, options: EncodingOptions | undefined): Uint8Array
  encodeValue (value: unknown, options: EncodingOptions | undefined): Uint8Array
  decodeKey (key: Uint8Array, options: EncodingOptions | undefined): unknown
  decodeValue (value: Uint8Array, options: EncodingOptions | undefined): unknown
  /** Applies a batch atomically (through the log when there is one). */
  commit (ops: BatchOp[], sync: boolean): Promise<unknown> | undefined
  /** Throws if the database is not open. */
  assertOpen (): void
}

/** Encoding options of a transaction's operations. */
export interface EncodingOptions {
  /** The key encoding, if not the database's. */
  keyEncoding?: string
  /** The value encoding, if not the database's. */
  valueEncoding?: string
}

/** Options of a transaction's reads and writes. */
export interface TransactionOptions extends EncodingOptions {
  /**
   * The column family: a handle from `db.columnFamily()` or its name.
   * Default: the database the transaction was begun on.
   */
  columnFamily?: unknown
}

/** Options of {@link Transaction.iterator}. */
export interface TransactionIteratorOptions<K> extends TransactionOptions {
  /** Range bounds, as for `db.iterator()`. */
  gt?: K
  /** Range bounds, as for `db.iterator()`. */
  gte?: K
  /** Range bounds, as for `db.iterator()`. */
  lt?: K
  /** Range bounds, as for `db.iterator()`. */
  lte?: K
  /** Walk from the last key down. */
  reverse?: boolean
  /** At most this many entries (-1 or absent for all). */
  limit?: number
}

/** Options of {@link Transaction.commit}. */
export interface CommitOptions {
  /** Wait for the write-ahead log to reach stable storage. */
  sync?: boolean
}

interface ReadRecord {
  family: Family
  key: Uint8Array
  /** The buffer of the entry read, null if the key was absent. */
  buf: ArrayBuffer | null
  off: number
}

interface RangeRecord {
  family: Family
  range: RangeOptions
  root: Node
}

interface WriteRecord {
  family: Family
  key: Uint8Array
  value: Uint8Array | null
}

/** Where a transaction is in its life. */
export type TransactionState = 'open' | 'committing' | 'committed' | 'rolled back'

function keyString (family: Family, key: Uint8Array): string {
  return `${family.id}:${Buffer.from(key.buffer, key.byteOffset, key.length).toString('latin1')}`
}

/**
 * One optimistic transaction. Begun by `db.beginTransaction()` (or run by
 * `db.transaction(fn)`, which retries on conflict).
 *
 * Complexity: a read costs one tree lookup more than a plain read (to
 * record its version); commit validates each recorded read in O(log n) and
 * each recorded range in O(entries in it).
 *
 * @typeParam K The database's key type.
 * @typeParam V The database's value type.
 */
export class Transaction<K = string, V = string> {
  #state: TransactionState = 'open'
  #snapshot: StoreSnapshot | null = null
  readonly #reads: ReadRecord[] = []
  readonly #ranges: RangeRecord[] = []
  readonly #writes = new Map<string, WriteRecord>()

  /** @internal */
  constructor (private readonly host: TransactionHost) {}

  /** `'open'` until committed or rolled back. */
  get state (): TransactionState { return this.#state }

  #assertOpen (): void {
    if (this.#state !== 'open') {
      throw new MakoError(`the transaction is ${this.#state}`, 'MAKO_TRANSACTION_NOT_OPEN')
    }
    this.host.assertOpen()
  }

  // The snapshot is taken at the first read, so a transaction that starts
  // with writes reads the newest data it can. It is lazy: frozen only if
  // the store changes while the transaction is open.
  #view (): StoreSnapshot {
    this.#snapshot ??= this.host.store().lazySnapshot()
    return this.#snapshot
  }

  /**
   * Reads a key: the transaction's own write if it made one, else the value
   * in its snapshot (recorded, and checked again at commit).
   */
  async get (key: K, options?: TransactionOptions): Promise<V | undefined> {
    this.#assertOpen()
    const family = this.host.familyOf(options?.columnFamily)
    const k = this.host.encodeKey(key, options)
    const own = this.#writes.get(keyString(family, k))
    if (own !== undefined) {
      return own.value === null ? undefined : this.host.decodeValue(own.value, options) as V
    }
    const leaf = find(this.#view().view(family).root, k)
    if (leaf === null) {
      this.#reads.push({ family, key: k, buf: null, off: 0 })
      return undefined
    }
    const i = foundAt
    this.#reads.push({ family, key: k, buf: leaf.bufs[i]!, off: leaf.off(i) })
    return this.host.decodeValue(leaf.value(i), options) as V
  }

  /** Buffers a put: seen by this transaction's reads, written at commit. */
  put (key: K, value: V, options?: TransactionOptions): void {
    this.#assertOpen()
    const family = this.host.familyOf(options?.columnFamily)
    const k = this.host.encodeKey(key, options)
    // Copied: the caller may reuse its buffers before commit.
    this.#writes.set(keyString(family, k), { family, key: k.slice(), value: this.host.encodeValue(value, options).slice() })
  }

  /** Buffers a delete. */
  del (key: K, options?: TransactionOptions): void {
    this.#assertOpen()
    const family = this.host.familyOf(options?.columnFamily)
    const k = this.host.encodeKey(key, options)
    this.#writes.set(keyString(family, k), { family, key: k.slice(), value: null })
  }

  /**
   * The entries of a range as this transaction sees them: its snapshot with
   * its own writes laid over. The range is recorded, so a key another
   * transaction adds to it or removes from it before this one commits is a
   * conflict (no phantoms).
   */
  async * iterator (options: TransactionIteratorOptions<K> = {}): AsyncGenerator<[K, V]> {
    this.#assertOpen()
    const family = this.host.familyOf(options.columnFamily)
    const range: RangeOptions = {}
    for (const bound of ['gt', 'gte', 'lt', 'lte'] as const) {
      const b = options[bound]
      if (b !== undefined) range[bound] = this.host.encodeKey(b, options)
    }
    if (options.reverse === true) range.reverse = true
    const root = this.#view().view(family).root
    this.#ranges.push({ family, range, root })

    // The transaction's own writes in the range, in walk order.
    const own = [...this.#writes.values()]
      .filter((w) => w.family === family && withinRange(w.key, range))
      .sort((a, b) => compareBytes(a.key, b.key) * (range.reverse === true ? -1 : 1))
    const scan = new RangeScan(root, range)
    const limit = options.limit === undefined || options.limit < 0 ? Infinity : options.limit
    const sign = range.reverse === true ? -1 : 1
    let o = 0
    let emitted = 0
    let batch: Array<[Uint8Array, Uint8Array]> = []
    let b = 0
    while (emitted < limit) {
      // The snapshot goes with the transaction: a walk cannot outlive it.
      this.#assertOpen()
      if (b === batch.length) {
        batch = await scan.collect(256, ENTRIES, 'view', 'view') as Array<[Uint8Array, Uint8Array]>
        b = 0
      }
      const stored = batch[b]
      const mine = own[o]
      let key: Uint8Array
      let value: Uint8Array | null
      if (stored === undefined && mine === undefined) break
      const d = stored === undefined ? 1 : mine === undefined ? -1 : compareBytes(stored[0], mine.key) * sign
      if (d < 0) {
        key = stored![0]; value = stored![1]; b++
      } else {
        key = mine!.key; value = mine!.value; o++
        if (d === 0) b++
      }
      if (value === null) continue
      emitted++
      yield [this.host.decodeKey(key, options) as K, this.host.decodeValue(value, options) as V]
    }
  }

  /**
   * Validates and applies the transaction. Rejects with
   * `MAKO_TRANSACTION_CONFLICT` (transient) if anything it read has changed
   * since it read it; then nothing of it is written.
   */
  async commit (options: CommitOptions = {}): Promise<void> {
    this.#assertOpen()
    this.#state = 'committing'
    try {
      const ops: BatchOp[] = []
      for (const w of this.#writes.values()) {
        if (!w.family.live) throw new MakoError(`column family ${w.family.name} was dropped`, 'MAKO_COLUMN_FAMILY_DROPPED')
        ops.push(w.value === null ? { type: 'del', family: w.family, key: w.key } : { type: 'put', family: w.family, key: w.key, value: w.value })
      }
      // Validation and the append that follows it run in one synchronous
      // step, so no other write can come between them.
      const conflict = this.#validate()
      if (conflict !== null) {
        throw new MakoError(`transaction conflict: ${conflict}`, 'MAKO_TRANSACTION_CONFLICT', { transient: true })
      }
      // Validated: the snapshot is no longer needed, and releasing it before
      // the writes apply spares a lazy snapshot its freeze.
      this.#release()
      if (ops.length > 0) await this.host.commit(ops, options.sync === true)
      this.#state = 'committed'
    } catch (err) {
      this.#state = 'rolled back'
      throw err
    } finally {
      this.#release()
    }
  }

  /** Discards the transaction's writes and releases its snapshot. */
  rollback (): void {
    if (this.#state === 'open') this.#state = 'rolled back'
    this.#release()
  }

  #release (): void {
    this.#snapshot?.release()
    this.#snapshot = null
  }

  /** Null if every record still holds, else what changed. */
  #validate (): string | null {
    for (const r of this.#reads) {
      if (!r.family.live) return `column family ${r.family.name} was dropped`
      const leaf = find(r.family.tree.root, r.key)
      const same = leaf === null ? r.buf === null : leaf.bufs[foundAt] === r.buf && leaf.off(foundAt) === r.off
      if (!same) return 'a key it read was written since'
    }
    for (const r of this.#ranges) {
      if (!r.family.live) return `column family ${r.family.name} was dropped`
      // The live root: validation is synchronous, nothing changes under it.
      if (!sameRange(r.root, r.family.tree.root, r.range)) return 'a range it read has changed'
    }
    const pending = this.host.pending()
    if (pending.length > 0 && (this.#reads.length > 0 || this.#ranges.length > 0)) {
      const keys = new Set(this.#reads.map((r) => keyString(r.family, r.key)))
      for (const batch of pending) {
        for (const op of batch) {
          if (op.type === 'createFamily') continue
          const family = op.family
          if (op.type === 'put' || op.type === 'del') {
            if (keys.has(keyString(family, op.key))) return 'a key it read is being written'
            for (const r of this.#ranges) if (r.family === family && withinRange(op.key, r.range)) return 'a range it read is being written'
          } else if (this.#reads.some((r) => r.family === family) || this.#ranges.some((r) => r.family === family)) {
            return 'a range delete or clear is being written where it read'
          }
        }
      }
    }
    return null
  }
}

/** True when both roots hold the very same entries (same writes) in `range`. */
function sameRange (a: Node, b: Node, range: RangeOptions): boolean {
  if (a === b) return true
  const x = new RangeScan(a, range)
  const y = new RangeScan(b, range)
  for (;;) {
    const vx = x.valid
    const vy = y.valid
    if (!vx || !vy) return vx === vy
    const lx = x.cursor.leaf!
    const ly = y.cursor.leaf!
    const px = x.cursor.pos
    const py = y.cursor.pos
    if (lx.bufs[px] !== ly.bufs[py] || lx.off(px) !== ly.off(py)) return false
    x.advance()
    y.advance()
  }
}
