/**
 * MakoLevel: the abstract-level 3 database over the engine's store.
 *
 * @module
 */

import { AbstractLevel, AbstractSnapshot, AbstractChainedBatch } from 'abstract-level'
import type { AbstractDatabaseOptions } from 'abstract-level'
import ModuleError from 'module-error'
import { find, foundAt, type BTreeOptions, type Node } from '../../lib/btree/index.js'
import { Store, type BatchOp, type Family, type StoreSnapshot } from '../../lib/store/index.js'
import { MakoError } from '../../lib/errors.js'
import { Durable, destroyDatabase, repairDatabase, type RepairReport } from './durable.js'
import type { FileSystem } from '../disk/fs.js'
import { formatOf, valueOf } from './encoding.js'
import { KEYS, MakoIterator, MakoKeyIterator, MakoValueIterator, RangeScan, type RangeOptions } from './iterator.js'

/**
 * Options of {@link MakoLevel}: those of abstract-level (`keyEncoding`,
 * `valueEncoding`), plus the engine's own.
 *
 * @typeParam K The type of keys after the default key encoding.
 * @typeParam V The type of values after the default value encoding.
 */
export interface MakoLevelOptions<K = string, V = string> extends AbstractDatabaseOptions<K, V> {
  /**
   * Accepted for compatibility with memory-level, where it picks how data
   * is kept. MakoLevel always keeps bytes and hands abstract-level Buffers or
   * Uint8Arrays as each call's encoding asks, so every value here behaves
   * the same. Anything but `'buffer'`, `'view'` or `'utf8'` is refused with
   * `LEVEL_ENCODING_NOT_SUPPORTED`, as memory-level refuses it.
   */
  storeEncoding?: 'buffer' | 'view' | 'utf8'
  /**
   * A directory to keep the database in (the first argument of the
   * constructor may name it instead). Without one, the database lives in
   * memory only, like memory-level.
   */
  location?: string
  /**
   * With a location: start a background checkpoint after this many bytes of
   * log (default 64 MiB). Recovery replays at most about this much.
   */
  checkpointLogBytes?: number
  /**
   * The file system under the log and checkpoints. For tests that inject
   * faults.
   * @internal
   */
  fileSystem?: FileSystem
  /** Maximum entries in a B+tree leaf (default 64). Mostly for tests. */
  leafSize?: number
  /** Maximum children of a B+tree branch (default 64). Mostly for tests. */
  branchSize?: number
}

// abstract-level hands private methods options with resolved encodings and
// an optional snapshot; these are the fields used here.
interface ReadOptions {
  keyEncoding?: string
  valueEncoding?: string
  snapshot?: MakoSnapshot | null
}

interface WriteOptions {
  sync?: boolean
}

interface OpenOptions {
  createIfMissing?: boolean
  errorIfExists?: boolean
}

interface WriteOperation {
  type: 'put' | 'del'
  key: Uint8Array
  value?: Uint8Array
}

interface ClearOptions extends RangeOptions {
  snapshot?: MakoSnapshot | null
}

const kStore = Symbol('store')

// abstract-level's type declarations lag its code: in 3.x the snapshot
// constructor takes the options given to _snapshot(), and the chained batch
// constructor takes `{ add: true }` to receive whole operations. These
// aliases declare the constructors as they are.
const SnapshotBase = AbstractSnapshot as unknown as new (options: unknown) => AbstractSnapshot
const ChainedBatchBase = AbstractChainedBatch as unknown as new (db: unknown, options: { add: boolean }) =>
  AbstractChainedBatch<MakoLevel<unknown, unknown>, unknown, unknown>

/**
 * An explicit snapshot: a consistent view of the database at the moment it
 * was taken, O(1) to take, holding old versions in memory until closed.
 */
export class MakoSnapshot extends SnapshotBase {
  /** @internal */
  readonly [kStore]: StoreSnapshot

  /** @internal */
  constructor (snapshot: StoreSnapshot, options: unknown) {
    super(options)
    this[kStore] = snapshot
  }

  /** @internal */
  async _close (): Promise<void> {
    this[kStore].release()
  }
}

/**
 * A chained batch: operations are gathered, then applied as one atomic
 * batch by `write()`.
 * @internal
 */
class MakoChainedBatch extends ChainedBatchBase {
  private ops: WriteOperation[] = []

  constructor (db: MakoLevel<unknown, unknown>) {
    // The add mode gives us each operation whole (encoded and prefixed).
    super(db, { add: true })
  }

  _add (op: WriteOperation): void {
    this.ops.push(op)
  }

  _clear (): void {
    this.ops = []
  }

  async _write (options: WriteOptions): Promise<void> {
    // Cast: the batch's db is the MakoLevel that made it.
    await (this.db as MakoLevel<unknown, unknown>)._batch(this.ops, options)
  }
}

/** The root of `family` in an explicit snapshot, which must still be open. */
function snapshotRoot (snapshot: MakoSnapshot, family: Family): Node {
  const view = snapshot[kStore]
  if (!view.open) {
    throw new ModuleError('Snapshot is not open: cannot use snapshot after close()', {
      code: 'LEVEL_SNAPSHOT_NOT_OPEN'
    })
  }
  return view.view(family).root
}

/**
 * An embedded key-value database: an abstract-level 3 database on a
 * copy-on-write B+tree, a drop-in replacement for memory-level.
 *
 * Reads are served from memory, synchronously underneath (`getSync` works),
 * and every iterator reads an O(1) snapshot taken when it was created, so
 * writing while iterating is safe and well defined.
 *
 * Values returned by reads are views of the stored bytes, as memory-level
 * returns its stored buffers: do not modify them.
 *
 * @example
 * ```ts
 * import { MakoLevel } from 'mako-level'
 * const db = new MakoLevel()
 * await db.put('a', '1')
 * console.log(await db.get('a')) // '1'
 * ```
 *
 * @typeParam K The type of keys after the default key encoding.
 * @typeParam V The type of values after the default value encoding.
 */
export class MakoLevel<K = string, V = string> extends AbstractLevel<Buffer | Uint8Array, K, V> {
  /** @internal */
  [kStore]: Store
  #family: Family
  readonly #treeOptions: BTreeOptions
  readonly #checkpointLogBytes: number | undefined
  readonly #fileSystem: FileSystem | undefined
  #durable: Durable | null = null

  /** The directory the database is kept in, or undefined in memory. */
  readonly location: string | undefined

  /**
   * @param location A directory to keep the database in; omit it (or pass
   * options first) for an in-memory database.
   * @param options See {@link MakoLevelOptions}.
   */
  constructor (location?: string | MakoLevelOptions<K, V>, options?: MakoLevelOptions<K, V>) {
    const opts: MakoLevelOptions<K, V> = (typeof location === 'object' && location !== null ? location : options) ?? {}
    const where = typeof location === 'string' ? location : opts.location
    if (where !== undefined && (typeof where !== 'string' || where === '')) {
      throw new MakoError('The location must be a non-empty string', 'LEVEL_INVALID_VALUE')
    }
    const { storeEncoding, leafSize, branchSize, location: _location, checkpointLogBytes, fileSystem, ...forward } = opts
    if (storeEncoding !== undefined && !['buffer', 'view', 'utf8'].includes(storeEncoding)) {
      throw new ModuleError("The storeEncoding option must be 'buffer', 'view' or 'utf8'", {
        code: 'LEVEL_ENCODING_NOT_SUPPORTED'
      })
    }
    super({
      seek: true,
      explicitSnapshots: true,
      implicitSnapshots: true,
      permanence: where !== undefined,
      createIfMissing: where !== undefined,
      errorIfExists: where !== undefined,
      has: true,
      getSync: true,
      encodings: { buffer: true, view: true },
      signals: { iterators: true },
      events: { 'torn-tail': where !== undefined }
    } as never, forward as never)
    this.location = where
    this.#checkpointLogBytes = checkpointLogBytes
    this.#fileSystem = fileSystem
    const treeOptions: BTreeOptions = {}
    if (leafSize !== undefined) treeOptions.leafSize = leafSize
    if (branchSize !== undefined) treeOptions.branchSize = branchSize
    this.#treeOptions = treeOptions
    this[kStore] = new Store(treeOptions)
    this.#family = this[kStore].defaultFamily
  }

  /**
   * Applies a batch: in memory at once, or through the write-ahead log with
   * a location (resolving once the OS has it, or the disk with `sync`).
   */
  #commit (ops: BatchOp[], sync: boolean): Promise<unknown> | undefined {
    if (this.#durable === null) {
      this[kStore].apply(ops)
      return undefined
    }
    return this.#durable.commit(ops, sync)
  }

  /** The root to read for `options`: the snapshot's, or the live tree's now. */
  #root (options: ReadOptions): Node {
    const snapshot = options.snapshot
    return snapshot != null ? snapshotRoot(snapshot, this.#family) : this.#family.tree.root
  }

  /**
   * Removes the database at `location` (its log, checkpoints and lock, then
   * the directory if nothing else is in it), as classic-level's `destroy`.
   * Rejects with `LEVEL_LOCKED` while the database is open.
   */
  static async destroy (location: string): Promise<void> {
    await destroyDatabase(location)
  }

  /**
   * Repairs the database at `location` so that it opens again: keeps the
   * write-ahead log's valid prefix (records after the first damaged byte
   * are dropped, as they cannot be applied without the ones before them)
   * and removes checkpoints that fail their checks. Resolves with what it
   * found and dropped. Rejects with `LEVEL_LOCKED` while the database is
   * open.
   */
  static async repair (location: string): Promise<RepairReport> {
    return await repairDatabase(location)
  }

  /** @internal */
  async _open (options: OpenOptions): Promise<void> {
    if (this.location === undefined) return
    // Each open reads the directory afresh into a new store.
    const store = new Store(this.#treeOptions)
    this.#durable = await Durable.open(this.location, store, {
      createIfMissing: options.createIfMissing !== false,
      errorIfExists: options.errorIfExists === true,
      ...(this.#checkpointLogBytes !== undefined ? { checkpointLogBytes: this.#checkpointLogBytes } : {}),
      ...(this.#fileSystem !== undefined ? { fs: this.#fileSystem } : {}),
      onTornTail: (tail) => { this.emit('torn-tail', tail) }
    })
    this[kStore] = store
    this.#family = store.defaultFamily
  }

  /** @internal */
  async _close (): Promise<void> {
    const durable = this.#durable
    if (durable === null) return
    this.#durable = null
    await durable.close()
  }

  /** @internal */
  async _get (key: Uint8Array, options: ReadOptions): Promise<Uint8Array | undefined> {
    return this._getSync(key, options)
  }

  /** @internal */
  _getSync (key: Uint8Array, options: ReadOptions): Uint8Array | undefined {
    const leaf = find(this.#root(options), key)
    return leaf === null ? undefined : valueOf(leaf, foundAt, formatOf(options.valueEncoding))
  }

  /** @internal */
  async _getMany (keys: Uint8Array[], options: ReadOptions): Promise<Array<Uint8Array | undefined>> {
    // One root for all keys: getMany reads one consistent view.
    const root = this.#root(options)
    const format = formatOf(options.valueEncoding)
    const out = new Array<Uint8Array | undefined>(keys.length)
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!
      const leaf = find(root, key)
      out[i] = leaf === null ? undefined : valueOf(leaf, foundAt, format)
    }
    return out
  }

  /** @internal */
  async _has (key: Uint8Array, options: ReadOptions): Promise<boolean> {
    return find(this.#root(options), key) !== null
  }

  /** @internal */
  async _hasMany (keys: Uint8Array[], options: ReadOptions): Promise<boolean[]> {
    const root = this.#root(options)
    return keys.map((key) => find(root, key) !== null)
  }

  /** @internal */
  async _put (key: Uint8Array, value: Uint8Array, options: WriteOptions): Promise<void> {
    if (this.#durable === null) this[kStore].put(this.#family, key, value)
    else await this.#durable.commit([{ type: 'put', family: this.#family, key, value }], options.sync === true)
  }

  /** @internal */
  async _del (key: Uint8Array, options: WriteOptions): Promise<void> {
    if (this.#durable === null) this[kStore].del(this.#family, key)
    else await this.#durable.commit([{ type: 'del', family: this.#family, key }], options.sync === true)
  }

  /** @internal */
  async _batch (operations: WriteOperation[], options: WriteOptions = {}): Promise<void> {
    const family = this.#family
    const ops = new Array<BatchOp>(operations.length)
    for (let i = 0; i < operations.length; i++) {
      const op = operations[i]!
      ops[i] = op.type === 'put'
        ? { type: 'put', family, key: op.key, value: op.value! }
        : { type: 'del', family, key: op.key }
    }
    await this.#commit(ops, options.sync === true)
  }

  /** @internal */
  _chainedBatch (): MakoChainedBatch {
    return new MakoChainedBatch(this as MakoLevel<unknown, unknown>)
  }

  /** @internal */
  async _clear (options: ClearOptions): Promise<void> {
    const family = this.#family
    const whole = options.gt === undefined && options.gte === undefined &&
      options.lt === undefined && options.lte === undefined &&
      (options.limit === undefined || options.limit === -1) && options.snapshot == null
    if (whole) {
      await this.#commit([{ type: 'clear', family }], false)
      return
    }
    // Find the keys in the snapshot (or the tree now), then delete them from
    // the live tree as one batch.
    const root = options.snapshot != null ? snapshotRoot(options.snapshot, family) : family.tree.freeze().root
    const limit = options.limit === undefined || options.limit < 0 ? Infinity : options.limit
    const keys = await new RangeScan(root, options).collect(limit, KEYS, 'view', 'view') as Uint8Array[]
    if (keys.length > 0) await this.#commit(keys.map((key): BatchOp => ({ type: 'del', family, key })), false)
  }

  /** @internal */
  _iterator (options: RangeOptions & ReadOptions): MakoIterator {
    return new MakoIterator(this, this.#scanRoot(options), options)
  }

  /** @internal */
  _keys (options: RangeOptions & ReadOptions): MakoKeyIterator {
    return new MakoKeyIterator(this, this.#scanRoot(options), options)
  }

  /** @internal */
  _values (options: RangeOptions & ReadOptions): MakoValueIterator {
    return new MakoValueIterator(this, this.#scanRoot(options), options)
  }

  // An iterator without an explicit snapshot gets an implicit one: the tree
  // is frozen at creation (O(1)), and later writes copy what they touch.
  #scanRoot (options: ReadOptions): Node {
    const snapshot = options.snapshot
    return snapshot != null ? snapshotRoot(snapshot, this.#family) : this.#family.tree.freeze().root
  }

  /** @internal */
  _snapshot (options: unknown): MakoSnapshot {
    return new MakoSnapshot(this[kStore].snapshot(), options)
  }
}
