/**
 * MakoLevel: the abstract-level 3 database over the engine's store.
 *
 * @module
 */

import { AbstractLevel, AbstractSnapshot, AbstractChainedBatch } from 'abstract-level'
import type { AbstractDatabaseOptions } from 'abstract-level'
import ModuleError from 'module-error'
import { mkdir, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { find, foundAt, type BTreeOptions, type Node } from '../../lib/btree/index.js'
import { DEFAULT_FAMILY, Store, type BatchOp, type Family, type StoreSnapshot } from '../../lib/store/index.js'
import { ClusterLevel } from './cluster-level.js'
import type { PeerOptions } from './cluster-level.js'
import type { ClusterClient, Durability } from '../../cluster/txn/client.js'
import { MakoError } from '../../lib/errors.js'
import { Durable, checkpointSlots, destroyDatabase, repairDatabase, type RepairReport } from './durable.js'
import { writeCheckpoint } from '../disk/checkpoint.js'
import { Transaction, type TransactionHost, type EncodingOptions } from './transaction.js'
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
   * Cluster mode, remote client: URLs of nodes of a cluster
   * (`ws://host:port`), with `secret`. The database is then a
   * {@link ClusterLevel}: the same abstract-level API, every write a
   * distributed transaction. RocksDB-style extras (column families,
   * `deleteRange`, checkpoints) are embedded-only.
   */
  connect?: readonly string[] | string
  /** The cluster's shared secret, with `connect`. */
  secret?: string
  /** The cluster id, with `connect`; default `mako`. */
  cluster?: string
  /**
   * Cluster mode, embedded peer: this process runs a node of the cluster
   * (`{ id, config, dataDir?, listen? }`) and the database uses it; its
   * reads `{ at: 'watermark' }` are served by its own replica. See
   * {@link ClusterLevel}.
   */
  peer?: PeerOptions
  /** Cluster mode with a {@link ClusterClient} you made. */
  client?: ClusterClient
  /** Cluster mode: store every key under this prefix (a namespace in the cluster). */
  prefix?: string | Uint8Array
  /**
   * Cluster mode: when writes resolve. `final` (default) or `speculative`
   * (after two-phase commit; a failover may still roll it back).
   */
  durability?: Durability
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
  /**
   * With a location: how the write-ahead log writes. `'mapped'` (the
   * default on Linux when the native addon built) copies records into a
   * shared mapping of the log file, with no system call per write;
   * `'inline'` (the default elsewhere) makes a `write` call on the main
   * thread; `'threadpool'` makes it on libuv's thread pool, so a stalled
   * disk never blocks the event loop. Each hands every write to the OS
   * before its promise resolves. See `FileLogOptions.writeMode`.
   */
  logWriteMode?: 'mapped' | 'inline' | 'threadpool'
  /**
   * With a location: open for reading only. Writes reject with
   * `MAKO_READ_ONLY` and closing writes no checkpoint. The directory is
   * still locked while open (one owner at a time), and a torn log tail is
   * still cut off on open, as recovery must.
   */
  readOnly?: boolean
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
  type: 'put' | 'del' | 'deleteRange'
  key: Uint8Array
  value?: Uint8Array
  /** For deleteRange: the end of `[key, lt)`. */
  lt?: Uint8Array
  /** A column family handle or name (default: the database's own). */
  columnFamily?: unknown
}

/**
 * Options of {@link MakoLevel.columnFamily}: those of an abstract-level
 * database (encodings, and anything hooks may read), and `createIfMissing`.
 */
export interface ColumnFamilyOptions<K, V> extends AbstractDatabaseOptions<K, V> {
  /** Create the family if it does not exist (default true). */
  createIfMissing?: boolean
}

/** Options of {@link MakoLevel.transaction}. */
export interface RunTransactionOptions {
  /** How many times to run the function again after a conflict (default 16). */
  retries?: number
  /** Commit with `sync: true`. */
  sync?: boolean
}

/** Options of {@link MakoLevel.deleteRange}. */
export interface DeleteRangeOptions extends EncodingOptions {
  /** A column family handle or name (default: this database's own). */
  columnFamily?: unknown
  /** Wait for the write-ahead log to reach stable storage. */
  sync?: boolean
}

/** Internal: makes a MakoLevel a handle of a column family of another. */
const kHandle = Symbol('handle')

interface HandleInit {
  root: MakoLevel<unknown, unknown>
  name: string
  createIfMissing: boolean
}

interface ClearOptions extends RangeOptions {
  snapshot?: MakoSnapshot | null
}

const kStore = Symbol('store')
/**
 * What `_put`, `_del` and `_batch` return for a write that is done when they
 * return (in memory): one settled promise for all, rather than an async
 * function's fresh one.
 */
const DONE: Promise<void> = Promise.resolve()

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
  private ranges = 0

  constructor (db: MakoLevel<unknown, unknown>) {
    // The add mode gives us each operation whole (encoded and prefixed).
    super(db, { add: true })
  }

  _add (op: WriteOperation): void {
    this.ops.push(op)
  }

  /**
   * Deletes every key in `[gte, lt)` as part of this batch, atomically with
   * its other operations (RocksDB's DeleteRange).
   */
  deleteRange (gte: unknown, lt: unknown, options: DeleteRangeOptions = {}): this {
    const enc = keyEncodingOf(this.db, options.keyEncoding)
    this.ops.push({ type: 'deleteRange', key: toBytes(enc.encode(gte)), lt: toBytes(enc.encode(lt)), columnFamily: options.columnFamily })
    this.ranges++
    return this
  }

  _clear (): void {
    this.ops = []
    this.ranges = 0
  }

  /** Operations queued, range deletes included. */
  override get length (): number {
    return super.length + this.ranges
  }

  /**
   * Commits the batch. abstract-level's write() skips a batch it counts as
   * empty, and it does not count range deletes (they are ours): a batch of
   * range deletes alone is written here.
   */
  override async write (options?: WriteOptions): Promise<void> {
    if (super.length > 0 || this.ranges === 0) return await super.write(options as never)
    try {
      await (this.db as MakoLevel<unknown, unknown>)._batch(this.ops, options ?? {})
    } finally {
      await this.close()
    }
  }

  async _write (options: WriteOptions): Promise<void> {
    // Cast: the batch's db is the MakoLevel that made it.
    await (this.db as MakoLevel<unknown, unknown>)._batch(this.ops, options)
  }
}

/** An abstract-level encoding, as far as this file uses one. */
interface Encoding {
  format: string
  encode: (data: unknown) => unknown
  decode: (data: never) => unknown
}

// abstract-level's keyEncoding()/valueEncoding() overloads do not take
// `string | undefined`; these call them with whatever the options hold.
function keyEncodingOf (db: unknown, name: string | undefined): Encoding {
  return (db as { keyEncoding: (e?: string) => Encoding }).keyEncoding(name)
}
function valueEncodingOf (db: unknown, name: string | undefined): Encoding {
  return (db as { valueEncoding: (e?: string) => Encoding }).valueEncoding(name)
}

/** Bytes from what an encoding produced (a utf8 format gives a string). */
function toBytes (encoded: unknown): Uint8Array {
  if (encoded instanceof Uint8Array) return encoded
  if (typeof encoded === 'string') return Buffer.from(encoded, 'utf8')
  throw new MakoError('an encoding produced neither bytes nor a string', 'LEVEL_ENCODING_NOT_SUPPORTED')
}

/** Decodes stored bytes with an abstract-level encoding of any format. */
function decodeWith (encoding: Encoding, bytes: Uint8Array): unknown {
  const data = encoding.format === 'view'
    ? bytes
    : encoding.format === 'buffer'
      ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8')
  return encoding.decode(data as never)
}

/** Column family names: non-empty UTF-8 of at most 1024 bytes. */
function checkFamilyName (name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0 || Buffer.byteLength(name) > 1024) {
    throw new MakoError('a column family name must be a non-empty string of at most 1024 bytes', 'LEVEL_INVALID_VALUE')
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
  // The database that owns the store: this one, or for a column family
  // handle, the database it was made from. Shared state lives there.
  // (Definitely assigned by the constructor unless it returns a cluster-mode database.)
  readonly #root!: MakoLevel<unknown, unknown>
  readonly #handle!: HandleInit | null
  #family!: Family
  #store!: Store
  #durable: Durable | null = null
  readonly #handles = new Set<MakoLevel<unknown, unknown>>()
  readonly #creating = new Map<string, Promise<Family>>()
  readonly #treeOptions!: BTreeOptions
  readonly #checkpointLogBytes: number | undefined
  readonly #fileSystem: FileSystem | undefined
  readonly #logWriteMode: MakoLevelOptions<K, V>['logWriteMode']
  readonly #readOnly!: boolean

  /** The directory the database is kept in, or undefined in memory. */
  readonly location: string | undefined

  /**
   * @param location A directory to keep the database in; omit it (or pass
   * options first) for an in-memory database.
   * @param options See {@link MakoLevelOptions}.
   */
  constructor (location?: string | MakoLevelOptions<K, V>, options?: MakoLevelOptions<K, V>) {
    const opts: MakoLevelOptions<K, V> = (typeof location === 'object' && location !== null ? location : options) ?? {}
    if (opts.connect !== undefined || opts.peer !== undefined || opts.client !== undefined) {
      // Cluster mode: the same abstract-level database, over a cluster.
      const { storeEncoding: _s, leafSize: _l, branchSize: _b, location: _loc, checkpointLogBytes: _c, fileSystem: _f, logWriteMode: _w, readOnly: _r, ...cluster } = opts
      return new ClusterLevel<K, V>(cluster) as unknown as MakoLevel<K, V>
    }
    const where = typeof location === 'string' ? location : opts.location
    if (where !== undefined && (typeof where !== 'string' || where === '')) {
      throw new MakoError('The location must be a non-empty string', 'LEVEL_INVALID_VALUE')
    }
    const { storeEncoding, leafSize, branchSize, location: _location, checkpointLogBytes, fileSystem, logWriteMode, readOnly, ...rest } = opts
    const { [kHandle]: handle, ...forward } = rest as typeof rest & { [kHandle]?: HandleInit }
    if (storeEncoding !== undefined && !['buffer', 'view', 'utf8'].includes(storeEncoding)) {
      throw new ModuleError("The storeEncoding option must be 'buffer', 'view' or 'utf8'", {
        code: 'LEVEL_ENCODING_NOT_SUPPORTED'
      })
    }
    super({
      seek: true,
      explicitSnapshots: true,
      implicitSnapshots: true,
      permanence: where !== undefined || handle?.root.location !== undefined,
      createIfMissing: where !== undefined,
      errorIfExists: where !== undefined,
      has: true,
      getSync: true,
      encodings: { buffer: true, view: true },
      signals: { iterators: true },
      events: { 'torn-tail': where !== undefined, 'corrupt-checkpoint': where !== undefined }
    } as never, forward as never)
    this.location = where
    this.#checkpointLogBytes = checkpointLogBytes
    this.#fileSystem = fileSystem
    this.#logWriteMode = logWriteMode
    const treeOptions: BTreeOptions = {}
    if (leafSize !== undefined) treeOptions.leafSize = leafSize
    if (branchSize !== undefined) treeOptions.branchSize = branchSize
    this.#treeOptions = treeOptions
    this.#readOnly = readOnly === true
    this.#handle = handle ?? null
    this.#root = handle?.root ?? this as MakoLevel<unknown, unknown>
    this.#store = handle !== undefined ? handle.root.#store : new Store(treeOptions)
    this.#family = this.#store.defaultFamily
  }

  /**
   * Applies a batch: in memory at once, or through the write-ahead log with
   * a location (resolving once the OS has it, or the disk with `sync`).
   */
  #commit (ops: BatchOp[], sync: boolean): Promise<unknown> | undefined {
    const root = this.#root
    if (root.#readOnly) throw readOnlyError()
    for (const op of ops) {
      if ('family' in op && !op.family.live) {
        throw new MakoError(`column family ${op.family.name} was dropped`, 'MAKO_COLUMN_FAMILY_DROPPED')
      }
    }
    if (root.#durable === null) {
      root.#store.apply(ops)
      return undefined
    }
    return root.#durable.commit(ops, sync)
  }

  /**
   * {@link MakoLevel.#commit} as a promise that always settles: the durable
   * commit's own promise, returned as it is rather than awaited inside an
   * async `_put`, `_del` or `_batch`. abstract-level awaits what those
   * return; an async function in between would add a promise and a
   * microtask to every durable write.
   */
  #commitPromise (ops: BatchOp[], sync: boolean): Promise<void> {
    let done: Promise<unknown> | undefined
    try {
      done = this.#commit(ops, sync)
    } catch (err) {
      return Promise.reject(err)
    }
    // The durable commit resolves to the batch's sequence number, which
    // abstract-level ignores.
    return done === undefined ? DONE : done as Promise<void>
  }

  /** The root to read for `options`: the snapshot's, or the live tree's now. */
  #readRoot (options: ReadOptions): Node {
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
    const handle = this.#handle
    if (handle !== null) {
      // A column family handle opens with its database, and finds (or
      // makes) its family in the store that database has now.
      const root = handle.root
      if (root.status !== 'open') await root.open()
      let family = root.#store.family(handle.name)
      if (family === undefined) {
        if (!handle.createIfMissing) {
          throw new MakoError(`column family ${handle.name} does not exist (createIfMissing is false)`, 'MAKO_COLUMN_FAMILY_NOT_FOUND')
        }
        family = await root.#createFamily(handle.name)
      }
      this.#store = root.#store
      this.#family = family
      root.#handles.add(this as MakoLevel<unknown, unknown>)
      return
    }
    if (this.location === undefined) return
    // Each open reads the directory afresh into a new store.
    const store = new Store(this.#treeOptions)
    this.#durable = await Durable.open(this.location, store, {
      createIfMissing: options.createIfMissing !== false,
      errorIfExists: options.errorIfExists === true,
      readOnly: this.#readOnly,
      ...(this.#checkpointLogBytes !== undefined ? { checkpointLogBytes: this.#checkpointLogBytes } : {}),
      ...(this.#fileSystem !== undefined ? { fs: this.#fileSystem } : {}),
      ...(this.#logWriteMode !== undefined ? { writeMode: this.#logWriteMode } : {}),
      onTornTail: (tail) => { this.emit('torn-tail', tail) },
      onCorruptCheckpoint: (path, error) => { this.emit('corrupt-checkpoint', { path, error }) }
    })
    this.#store = store
    this.#family = store.defaultFamily
  }

  /** @internal */
  async _close (): Promise<void> {
    if (this.#handle !== null) {
      this.#root.#handles.delete(this as MakoLevel<unknown, unknown>)
      return
    }
    // Handles first: they read and write this database's store.
    await Promise.all([...this.#handles].map(async (handle) => { await handle.close() }))
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
    const leaf = find(this.#readRoot(options), key)
    return leaf === null ? undefined : valueOf(leaf, foundAt, formatOf(options.valueEncoding))
  }

  /** @internal */
  async _getMany (keys: Uint8Array[], options: ReadOptions): Promise<Array<Uint8Array | undefined>> {
    // One root for all keys: getMany reads one consistent view.
    const root = this.#readRoot(options)
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
    return find(this.#readRoot(options), key) !== null
  }

  /** @internal */
  async _hasMany (keys: Uint8Array[], options: ReadOptions): Promise<boolean[]> {
    const root = this.#readRoot(options)
    return keys.map((key) => find(root, key) !== null)
  }

  /** @internal */
  _put (key: Uint8Array, value: Uint8Array, options: WriteOptions): Promise<void> {
    const root = this.#root
    // The hot path of an in-memory put: no batch array, one check.
    if (root.#durable === null && !root.#readOnly && this.#family.live) {
      root.#store.put(this.#family, key, value)
      return DONE
    }
    return this.#commitPromise([{ type: 'put', family: this.#family, key, value }], options.sync === true)
  }

  /** @internal */
  _del (key: Uint8Array, options: WriteOptions): Promise<void> {
    const root = this.#root
    if (root.#durable === null && !root.#readOnly && this.#family.live) {
      root.#store.del(this.#family, key)
      return DONE
    }
    return this.#commitPromise([{ type: 'del', family: this.#family, key }], options.sync === true)
  }

  /** @internal */
  _batch (operations: WriteOperation[], options: WriteOptions = {}): Promise<void> {
    const ops = new Array<BatchOp>(operations.length)
    try {
      for (let i = 0; i < operations.length; i++) {
        const op = operations[i]!
        const family = this.#familyOf(op.columnFamily)
        ops[i] = op.type === 'put'
          ? { type: 'put', family, key: op.key, value: op.value! }
          : op.type === 'del'
            ? { type: 'del', family, key: op.key }
            : { type: 'deleteRange', family, gte: op.key, lt: op.lt! }
      }
    } catch (err) {
      // An unknown column family: a rejection, as from an async method.
      return Promise.reject(err)
    }
    return this.#commitPromise(ops, options.sync === true)
  }

  /**
   * The family an operation names: a column family handle of this
   * database, a family's name, or (undefined) this database's own.
   */
  #familyOf (columnFamily: unknown): Family {
    if (columnFamily === undefined || columnFamily === null) return this.#family
    const root = this.#root
    if (columnFamily instanceof MakoLevel) {
      if (columnFamily.#root !== root) {
        throw new MakoError('the column family handle belongs to another database', 'LEVEL_INVALID_VALUE')
      }
      if (columnFamily.status !== 'open') {
        throw new ModuleError('the column family handle is not open', { code: 'LEVEL_DATABASE_NOT_OPEN' })
      }
      return columnFamily.#family
    }
    if (typeof columnFamily === 'string') {
      const family = root.#store.family(columnFamily)
      if (family === undefined) throw new MakoError(`column family ${columnFamily} does not exist`, 'MAKO_COLUMN_FAMILY_NOT_FOUND')
      return family
    }
    throw new MakoError('columnFamily must be a handle from db.columnFamily() or a name', 'LEVEL_INVALID_VALUE')
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
    return new MakoSnapshot(this.#store.snapshot(), options)
  }

  // ---- Column families ------------------------------------------------

  /**
   * A handle on the column family `name`: itself a full abstract-level
   * database (get, put, del, batch, iterators, clear, sublevels, encodings,
   * snapshots), over a key space of its own that shares this database's
   * sequence, log and snapshots. It opens with this database (creating the
   * family unless `createIfMissing` is false) and is closed when this
   * database closes.
   *
   * @example
   * ```ts
   * const users = db.columnFamily('users', { valueEncoding: 'json' })
   * await users.put('ada', { born: 1815 })
   * await db.batch([{ type: 'put', key: 'n', value: '1' },
   *   { type: 'put', key: 'grace', value: '{"born":1906}', columnFamily: users }])
   * ```
   */
  columnFamily<CK = string, CV = string> (name: string, options: ColumnFamilyOptions<CK, CV> = {}): MakoLevel<CK, CV> {
    checkFamilyName(name)
    const { createIfMissing, ...forward } = options
    const init: HandleInit = { root: this.#root, name, createIfMissing: createIfMissing !== false }
    return new MakoLevel<CK, CV>({ ...forward, [kHandle]: init } as MakoLevelOptions<CK, CV>)
  }

  /**
   * Creates the column family `name` (durably, with a location). Resolves
   * when it exists; rejects with `MAKO_COLUMN_FAMILY_EXISTS` if it did.
   */
  async createColumnFamily (name: string): Promise<void> {
    checkFamilyName(name)
    await this.#whenOpen()
    if (this.#root.#store.family(name) !== undefined) {
      throw new MakoError(`column family ${name} exists`, 'MAKO_COLUMN_FAMILY_EXISTS')
    }
    await this.#root.#createFamily(name)
  }

  /**
   * Drops the column family `name`: writes to it reject from then on with
   * `MAKO_COLUMN_FAMILY_DROPPED`, and its data is gone from disk after the
   * next checkpoint. The default family cannot be dropped.
   */
  async dropColumnFamily (name: string): Promise<void> {
    await this.#whenOpen()
    if (name === DEFAULT_FAMILY) throw new MakoError('the default column family cannot be dropped', 'LEVEL_INVALID_VALUE')
    const family = this.#root.#store.family(name)
    if (family === undefined) throw new MakoError(`column family ${name} does not exist`, 'MAKO_COLUMN_FAMILY_NOT_FOUND')
    await this.#commit([{ type: 'dropFamily', family }], false)
  }

  /** The names of the column families, `default` first. */
  async listColumnFamilies (): Promise<string[]> {
    await this.#whenOpen()
    return this.#root.#store.families().map((f) => f.name)
  }

  // One creation per name at a time: a second caller waits for the first.
  async #createFamily (name: string): Promise<Family> {
    const running = this.#creating.get(name)
    if (running !== undefined) return await running
    const creation = (async () => {
      const id = this.#store.reserveFamilyId()
      await this.#commit([{ type: 'createFamily', id, name }], false)
      return this.#store.family(name)!
    })()
    this.#creating.set(name, creation)
    try {
      return await creation
    } finally {
      this.#creating.delete(name)
    }
  }

  async #whenOpen (): Promise<void> {
    if (this.status === 'opening') await this.open()
    this.#assertOpen()
  }

  #assertOpen (): void {
    if (this.status !== 'open') {
      throw new ModuleError('Database is not open', { code: 'LEVEL_DATABASE_NOT_OPEN' })
    }
  }

  // ---- Range deletes ----------------------------------------------------

  /**
   * Deletes every key in `[gte, lt)`, atomically (RocksDB's DeleteRange).
   * Inside a batch: `db.batch().deleteRange(gte, lt)`, or an operation
   * `{ type: 'deleteRange', gte, lt }` in `db.batch([...])`.
   *
   * Complexity: O(k log n) for k deleted keys.
   */
  async deleteRange (gte: K, lt: K, options: DeleteRangeOptions = {}): Promise<void> {
    await this.#whenOpen()
    const enc = keyEncodingOf(this, options.keyEncoding)
    await this.#commit([{
      type: 'deleteRange', family: this.#familyOf(options.columnFamily), gte: toBytes(enc.encode(gte)), lt: toBytes(enc.encode(lt))
    }], options.sync === true)
  }

  /**
   * abstract-level's `batch()`, which also takes `{ type: 'deleteRange',
   * gte, lt }` operations (and `columnFamily` on any operation). With no
   * arguments it returns a chained batch that has `deleteRange()` too.
   */
  override batch (...args: any[]): any { // eslint-disable-line @typescript-eslint/no-explicit-any
    const operations = args[0]
    if (!Array.isArray(operations) || !operations.some((op) => op?.type === 'deleteRange')) {
      return (AbstractLevel.prototype.batch as (...a: unknown[]) => unknown).apply(this, args)
    }
    // Through a chained batch, so hooks and events see the puts and deletes.
    const chained = (AbstractLevel.prototype.batch as unknown as () => MakoChainedBatch).call(this)
    for (const op of operations) {
      const { type, key, value, gte, lt, ...options } = op as Record<string, unknown>
      if (type === 'deleteRange') chained.deleteRange(gte, lt, options)
      else if (type === 'put') chained.put(key, value, options)
      else chained.del(key, options)
    }
    return chained.write(args[1] as never)
  }

  // ---- Transactions -----------------------------------------------------

  /**
   * Begins an optimistic transaction: reads from a snapshot taken at its
   * first read, writes buffered until `commit()`, which validates what it
   * read and rejects with `MAKO_TRANSACTION_CONFLICT` if any of it changed.
   * Prefer {@link MakoLevel.transaction}, which retries.
   */
  beginTransaction (): Transaction<K, V> {
    this.#assertOpen()
    return new Transaction<K, V>(this.#host())
  }

  /**
   * Runs `fn` in an optimistic transaction and commits it; on a conflict,
   * runs it again (up to `retries` times, default 16), then rejects with
   * `MAKO_TRANSACTION_CONFLICT` (transient). `fn` may run more than once,
   * so it must be safe to re-run: keep its effects inside the transaction.
   *
   * @example
   * ```ts
   * await db.transaction(async (tx) => {
   *   const n = Number(await tx.get('counter') ?? 0)
   *   tx.put('counter', String(n + 1))
   * })
   * ```
   */
  async transaction<R> (fn: (tx: Transaction<K, V>) => Promise<R> | R, options: RunTransactionOptions = {}): Promise<R> {
    if (this.status !== 'open') await this.#whenOpen()
    const retries = options.retries ?? 16
    for (let attempt = 0; ; attempt++) {
      const tx = new Transaction<K, V>(this.#host())
      try {
        const result = await fn(tx)
        if (tx.state === 'open') await tx.commit(options.sync === true ? { sync: true } : {})
        return result
      } catch (err) {
        tx.rollback()
        if ((err as MakoError).code !== 'MAKO_TRANSACTION_CONFLICT' || attempt >= retries) throw err
        // Back off a little, more after each conflict, with jitter, so
        // transactions that collided do not collide again in lockstep.
        const ms = attempt < 2 ? 0 : Math.random() * Math.min(50, 2 ** attempt)
        await new Promise((resolve) => setTimeout(resolve, ms))
      }
    }
  }

  // One host per database: every transaction of it shares the same functions.
  #hostCache: TransactionHost | null = null

  #host (): TransactionHost {
    this.#hostCache ??= this.#makeHost()
    return this.#hostCache
  }

  #makeHost (): TransactionHost {
    const db = this as MakoLevel<unknown, unknown>
    // abstract-level's own key and value checks (undocumented in its types),
    // so a transaction refuses what put() refuses, with the same errors.
    const checks = db as unknown as { _assertValidKey: (k: unknown) => void, _assertValidValue: (v: unknown) => void }
    return {
      store: () => db.#root.#store,
      pending: () => db.#root.#durable?.pending ?? [],
      familyOf: (cf) => db.#familyOf(cf),
      encodeKey: (key, o) => { checks._assertValidKey(key); return toBytes(keyEncodingOf(db, o?.keyEncoding).encode(key)) },
      encodeValue: (value, o) => { checks._assertValidValue(value); return toBytes(valueEncodingOf(db, o?.valueEncoding).encode(value)) },
      decodeKey: (key, o) => decodeWith(keyEncodingOf(db, o?.keyEncoding), key),
      decodeValue: (value, o) => decodeWith(valueEncodingOf(db, o?.valueEncoding), value),
      commit: (ops, sync) => db.#commit(ops, sync),
      assertOpen: () => { db.#assertOpen() }
    }
  }

  // ---- Maintenance, as RocksDB and classic-level name it ------------------

  /**
   * A property of the database, as RocksDB's `GetProperty`; names may start
   * with `rocksdb.` or `mako.`. Undefined for an unknown name.
   *
   * - `estimate-num-keys`: keys in this column family (exact here).
   * - `estimate-live-data-size`: key and value bytes in this family.
   * - `cur-size-all-mem-tables`: an estimate of the memory all families'
   *   entries take (their bytes plus about 60 bytes of index each).
   * - `num-snapshots`: explicit snapshots open.
   * - `num-column-families`: column families.
   * - `log-size`: bytes written to the write-ahead log since it was opened
   *   (0 in memory).
   * - `sequence`: the sequence number of the last write.
   */
  getProperty (name: string): string | undefined {
    this.#assertOpen()
    const store = this.#root.#store
    const tree = this.#family.tree
    switch (name.replace(/^(rocksdb|mako)\./, '')) {
      case 'estimate-num-keys': return String(tree.size)
      case 'estimate-live-data-size': return String(tree.bytes)
      case 'cur-size-all-mem-tables': {
        let bytes = 0
        for (const f of store.families()) bytes += f.tree.bytes + 60 * f.tree.size
        return String(bytes)
      }
      case 'num-snapshots': return String(store.snapshotCount)
      case 'num-column-families': return String(store.families().length)
      case 'log-size': return String(this.#root.#durable?.logBytes ?? 0)
      case 'sequence': return String(store.sequence)
      default: return undefined
    }
  }

  /**
   * The key and value bytes stored in `[start, end)` of this column family.
   * Exact here; O(entries in the range).
   */
  async approximateSize (start: K, end: K, options: EncodingOptions = {}): Promise<number> {
    await this.#whenOpen()
    const enc = keyEncodingOf(this, options.keyEncoding)
    const gte = toBytes(enc.encode(start))
    const lt = toBytes(enc.encode(end))
    const scan = new RangeScan(this.#family.tree.freeze().root, { gte, lt })
    let bytes = 0
    for (let n = scan.span(4096); n > 0; n = scan.span(4096)) {
      const leaf = scan.spanLeaf!
      for (let i = scan.spanFrom, j = 0; j < n; j++, i++) bytes += leaf.klen(i) + leaf.vlen(i)
      if (n === 4096) await new Promise(setImmediate)
    }
    return bytes
  }

  /**
   * With a location: writes a checkpoint of the whole database and drops
   * the write-ahead log it covers, so that reopening replays nothing. The
   * range is accepted for compatibility and not needed: there are no
   * levels to compact. In memory: nothing to do.
   */
  async compactRange (_start?: K, _end?: K): Promise<void> {
    await this.#whenOpen()
    if (this.#root.#readOnly) throw readOnlyError()
    await this.#root.#durable?.checkpoint()
  }

  /**
   * Writes a consistent copy of the whole database (every column family, as
   * of one moment) into the new directory `dir`, which can then be opened
   * as a database of its own. Writes go on meanwhile: the copy reads an
   * O(1) snapshot. Works for in-memory databases too.
   */
  async checkpoint (dir: string): Promise<void> {
    await this.#whenOpen()
    // The copy is of the database as it is when this is called.
    const snapshot = this.#root.#store.snapshot()
    try {
      let entries: string[] = []
      try { entries = await readdir(dir) } catch (err) { if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err }
      if (entries.length > 0) throw new MakoError(`checkpoint directory ${dir} is not empty`, 'MAKO_DIRECTORY_NOT_EMPTY')
      await mkdir(dir, { recursive: true })
      await writeCheckpoint(join(dir, 'checkpoints'), snapshot.sequence, checkpointSlots(snapshot))
    } finally {
      snapshot.release()
    }
  }
}

function readOnlyError (): MakoError {
  return new MakoError('the database was opened with readOnly: true', 'MAKO_READ_ONLY')
}

