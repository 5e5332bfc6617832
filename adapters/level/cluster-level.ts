/**
 * MakoLevel in cluster mode: the same abstract-level 3 database, with the
 * data in a cluster of shards. Every `put`, `del` and `batch` is a
 * distributed transaction (speculative two-phase commit over Multi-Paxos
 * shards); by default it resolves once it is final, replicated on a
 * majority of every shard it touched. `get` reads the newest version at the
 * shard leader and answers once that version is final; iterators and
 * snapshots read one consistent cut of every shard (a vector of the shards'
 * watermarks), in key order across shards.
 *
 * @module
 */

import { AbstractIterator, AbstractLevel, AbstractSnapshot } from 'abstract-level'
import type { AbstractDatabaseOptions } from 'abstract-level'
import { MakoError } from '../../lib/errors.js'
import { ClusterClient, KeySpace } from '../../cluster/txn/client.js'
import { ClusterNode } from '../../cluster/node/node.js'
import { connectRemote } from '../../cluster/node/remote.js'
import { loadConfig, parseConfig } from '../../cluster/node/config.js'
import type { ClusterConfig } from '../../cluster/node/config.js'
import type { ClusterTransaction, Durability, TransactionRunOptions } from '../../cluster/txn/client.js'
import type { KeyRange } from '../../cluster/txn/shard-map.js'
import type { Mark } from '../../cluster/txn/vector.js'

/** An embedded peer: this process runs a node of the cluster. */
export interface PeerOptions {
  /** The node's id in the configuration. */
  id: string
  /** The cluster configuration: parsed, a path to the JSON file, or the JSON as an object. */
  config: ClusterConfig | string | Record<string, unknown>
  /** The node's data directory; default `data/<id>`. */
  dataDir?: string
  /** Where to listen instead of the configured URL's host and port. */
  listen?: {
    /** The interface to bind, e.g. `0.0.0.0`. */
    host?: string
    /** The port to bind; 0 picks a free one. */
    port?: number
  }
  /** fsync the Paxos log before answering (default true). */
  sync?: boolean
}

/**
 * Options of a {@link ClusterLevel}: exactly one of `client` (a client you
 * made), `connect` (node URLs and the `secret`: a remote client) or
 * `peer` (run a node of the cluster in this process).
 */
export interface ClusterLevelOptions<K, V> extends AbstractDatabaseOptions<K, V> {
  /** A cluster client you made and close yourself. */
  client?: ClusterClient
  /** URLs of nodes (`ws://host:port`): connect to the cluster as a client when opened. */
  connect?: readonly string[] | string
  /** The cluster's shared secret, with `connect`. */
  secret?: string
  /** The cluster id, with `connect`; default `mako`. */
  cluster?: string
  /** Run a node of the cluster in this process and use it. */
  peer?: PeerOptions
  /** Store every key under this prefix, as a namespace inside the cluster. Default none. */
  prefix?: Uint8Array | string
  /**
   * When writes resolve. `final` (default): replicated with everything they
   * depend on. `speculative`: after two-phase commit; a failover before
   * replication may still roll them back.
   */
  durability?: Durability
}

/** Options of reads in cluster mode, beside abstract-level's own. */
export interface ClusterReadOptions {
  /**
   * `watermark`: the newest value that is already final at this client's
   * cut, from any replica, without waiting (it may be a little stale).
   * Default: the newest version at the shard leader, once it is final.
   */
  at?: 'watermark' | 'latest'
}

/** Options of writes in cluster mode, beside abstract-level's own. */
export interface ClusterWriteOptions {
  /**
   * When the write resolves; default the database's `durability`. With
   * `speculative`, **a leader failover before replication may still roll
   * the write back**.
   */
  durability?: Durability
}

interface ReadOptions extends ClusterReadOptions {
  keyEncoding?: string
  valueEncoding?: string
  snapshot?: ClusterSnapshot | null
}

interface BatchOp {
  type: 'put' | 'del'
  key: Uint8Array
  value?: Uint8Array
}

interface IteratorOptions extends KeyRange {
  reverse?: boolean
  limit?: number
  keyEncoding?: string
  valueEncoding?: string
  snapshot?: ClusterSnapshot | null
}

const SnapshotBase = AbstractSnapshot as unknown as new (options: unknown) => AbstractSnapshot

/** An explicit snapshot: one consistent cut of every shard. */
export class ClusterSnapshot extends SnapshotBase {
  /** The cut: every shard's mark when the snapshot was taken. */
  readonly cut: readonly Mark[]

  /** @internal */
  constructor (cut: readonly Mark[], options: unknown) {
    super(options)
    this.cut = cut
  }

  /** @internal */
  async _close (): Promise<void> {}
}

function out (v: Uint8Array, encoding: string | undefined): Uint8Array {
  return encoding === 'buffer' ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : v
}

const enc = new TextEncoder()

/**
 * The cluster-mode database. See the module documentation.
 */
export class ClusterLevel<K = string, V = string> extends AbstractLevel<Uint8Array, K, V> {
  #client: ClusterClient | undefined
  #space: KeySpace | undefined
  readonly #durability: Durability
  readonly #prefix: Uint8Array | undefined
  readonly #connect: (() => Promise<{ client: ClusterClient, close: () => Promise<void> }>) | undefined
  #closeConnection: (() => Promise<void>) | undefined
  #node: ClusterNode | undefined

  /**
   * @param options One of a client, node URLs with the secret, or an
   *   embedded peer; a prefix; durability; and abstract-level options.
   */
  constructor (options: ClusterLevelOptions<K, V>) {
    const { client, connect, secret, cluster, peer, prefix, durability, ...forward } = options
    const modes = [client, connect, peer].filter((x) => x !== undefined).length
    if (modes !== 1) throw new MakoError('Give exactly one of client, connect (with secret) or peer', 'LEVEL_INVALID_VALUE')
    if (client !== undefined && !(client instanceof ClusterClient)) throw new MakoError('client must be a ClusterClient', 'LEVEL_INVALID_VALUE')
    if (connect !== undefined && (typeof secret !== 'string' || secret.length === 0)) throw new MakoError('connect needs the cluster secret', 'LEVEL_INVALID_VALUE')
    super({
      seek: true,
      explicitSnapshots: true,
      implicitSnapshots: true,
      permanence: true,
      has: true,
      encodings: { buffer: true, view: true }
    } as never, forward as never)
    this.#prefix = typeof prefix === 'string' ? enc.encode(prefix) : prefix
    this.#durability = durability ?? 'final'
    if (client !== undefined) {
      this.#setClient(client)
    } else if (connect !== undefined) {
      const urls = typeof connect === 'string' ? [connect] : [...connect]
      this.#connect = async () => await connectRemote({ urls, secret: secret!, ...(cluster !== undefined ? { cluster } : {}) })
    } else {
      const p = peer!
      this.#connect = async () => {
        const config = typeof p.config === 'string' ? await loadConfig(p.config) : isParsed(p.config) ? p.config : parseConfig(p.config)
        const node = await ClusterNode.start({
          config,
          nodeId: p.id,
          dataDir: p.dataDir ?? `data/${p.id}`,
          ...(p.listen !== undefined ? { listen: p.listen } : {}),
          ...(p.sync !== undefined ? { sync: p.sync } : {})
        })
        this.#node = node
        const service = node.hosted.service
        const c = new ClusterClient({ transport: service.transport, map: config.map, marks: node.hosted.marks, local: async (req) => await service.answer(req), id: `${p.id}~app` })
        return { client: c, close: async () => { c.close(); await node.close() } }
      }
    }
  }

  #setClient (client: ClusterClient): void {
    this.#client = client
    this.#space = new KeySpace(client.map, this.#prefix)
  }

  /** The cluster client (once open). */
  get client (): ClusterClient {
    if (this.#client === undefined) throw new MakoError('Database is not open', 'LEVEL_DATABASE_NOT_OPEN')
    return this.#client
  }

  /** The node this database runs in its process (embedded peer), once open; else undefined. */
  get node (): ClusterNode | undefined {
    return this.#node
  }

  get #keys (): KeySpace {
    if (this.#space === undefined) throw new MakoError('Database is not open', 'LEVEL_DATABASE_NOT_OPEN')
    return this.#space
  }

  /** @internal */
  async _open (): Promise<void> {
    if (this.#client !== undefined || this.#connect === undefined) return
    const { client, close } = await this.#connect()
    this.#setClient(client)
    this.#closeConnection = close
  }

  /** @internal */
  async _close (): Promise<void> {
    const close = this.#closeConnection
    if (close === undefined) return
    this.#closeConnection = undefined
    this.#client = undefined
    this.#space = undefined
    this.#node = undefined
    await close()
  }

  /** The cut a read without a snapshot uses: the newest marks this client knows. */
  #cut (snapshot: ClusterSnapshot | null | undefined): readonly Mark[] {
    return snapshot?.cut ?? this.client.marks.cut()
  }

  /** @internal */
  async _get (key: Uint8Array, options: ReadOptions): Promise<Uint8Array | undefined> {
    const v = options.snapshot != null || options.at === 'watermark'
      ? await this.client.getAtCut(key, this.#cut(options.snapshot), this.#keys)
      : await this.client.get(key, { space: this.#keys })
    return v === null ? undefined : out(v, options.valueEncoding)
  }

  /** @internal */
  async _getMany (keys: Uint8Array[], options: ReadOptions): Promise<Array<Uint8Array | undefined>> {
    if (options.snapshot != null || options.at === 'watermark') {
      // One cut for every key, taken now.
      const cut = this.#cut(options.snapshot)
      return await Promise.all(keys.map(async (k) => {
        const v = await this.client.getAtCut(k, cut, this.#keys)
        return v === null ? undefined : out(v, options.valueEncoding)
      }))
    }
    // One read-only transaction: the values come from one serializable moment.
    const values = await this.client.transaction(async (tx) => await Promise.all(keys.map(async (k) => await tx.get(k))), { space: this.#keys })
    return values.map((v) => v === null ? undefined : out(v, options.valueEncoding))
  }

  /** @internal */
  async _has (key: Uint8Array, options: ReadOptions): Promise<boolean> {
    return (await this._get(key, options)) !== undefined
  }

  /** @internal */
  async _hasMany (keys: Uint8Array[], options: ReadOptions): Promise<boolean[]> {
    return (await this._getMany(keys, options)).map((v) => v !== undefined)
  }

  /** @internal */
  async _put (key: Uint8Array, value: Uint8Array, options: ClusterWriteOptions): Promise<void> {
    await this._batch([{ type: 'put', key, value }], options)
  }

  /** @internal */
  async _del (key: Uint8Array, options: ClusterWriteOptions): Promise<void> {
    await this._batch([{ type: 'del', key }], options)
  }

  /** @internal */
  async _batch (ops: BatchOp[], options: ClusterWriteOptions = {}): Promise<void> {
    // A blind batch is safe to run again after a conflict or a rollback.
    await this.client.transaction(async (tx) => {
      for (const op of ops) {
        if (op.type === 'put') tx.put(op.key, op.value!)
        else tx.del(op.key)
      }
    }, { durability: options.durability ?? this.#durability, space: this.#keys })
  }

  /**
   * Runs `fn` as one interactive transaction across shards, retrying it
   * whole on conflicts and rollbacks. Keys and values here are bytes.
   *
   * @param fn The transaction's body.
   * @param options Durability and attempts.
   */
  async transaction<T>(fn: (tx: ClusterTransaction) => Promise<T>, options: TransactionRunOptions = {}): Promise<T> {
    return await this.client.transaction(fn, { durability: this.#durability, ...options, space: this.#keys })
  }

  /** @internal */
  async _clear (options: IteratorOptions): Promise<void> {
    // Not atomic: the keys of the range at one cut, deleted in batches.
    const cut = this.#cut(options.snapshot)
    let batch: Uint8Array[] = []
    const flush = async (): Promise<void> => {
      const keys = batch
      batch = []
      await this.client.transaction(async (tx) => { for (const k of keys) tx.del(k) }, { durability: this.#durability, space: this.#keys })
    }
    for await (const [k] of this.client.rangeAtCut(rangeOf(options), cut, options.reverse === true, options.limit ?? -1, this.#keys)) {
      batch.push(k.slice())
      if (batch.length >= 1000) await flush()
    }
    if (batch.length > 0) await flush()
  }

  /** @internal */
  _iterator (options: IteratorOptions): ClusterIterator<K, V> {
    return new ClusterIterator(this, options, this.#cut(options.snapshot), this.#keys)
  }

  /** @internal */
  _snapshot (options: unknown): ClusterSnapshot {
    return new ClusterSnapshot(this.client.marks.cut(), options)
  }
}

/** The range of iterator options; as in abstract-level, `gte` wins over `gt` and `lte` over `lt`. */
function isParsed (c: object): c is ClusterConfig {
  return 'map' in c && 'nodeIds' in c
}

function rangeOf (o: IteratorOptions): KeyRange {
  const r: KeyRange = {}
  if (o.gte != null) r.gte = o.gte
  else if (o.gt != null) r.gt = o.gt
  if (o.lte != null) r.lte = o.lte
  else if (o.lt != null) r.lt = o.lt
  return r
}

/**
 * An iterator over one consistent cut, fetched page by page.
 * @internal
 */
export class ClusterIterator<K, V> extends AbstractIterator<ClusterLevel<K, V>, Uint8Array, Uint8Array> {
  readonly #options: IteratorOptions
  readonly #cut: readonly Mark[]
  readonly #space: KeySpace
  #range: KeyRange
  #source: AsyncGenerator<[Uint8Array, Uint8Array]> | undefined

  constructor (db: ClusterLevel<K, V>, options: IteratorOptions, cut: readonly Mark[], space: KeySpace) {
    super(db, options as never)
    this.#options = options
    this.#cut = cut
    this.#space = space
    this.#range = rangeOf(options)
  }

  #open (): AsyncGenerator<[Uint8Array, Uint8Array]> {
    const limit = this.#options.limit ?? -1
    this.#source ??= this.db.client.rangeAtCut(this.#range, this.#cut, this.#options.reverse === true, limit, this.#space)
    return this.#source
  }

  async _next (): Promise<[Uint8Array, Uint8Array] | undefined> {
    const r = await this.#open().next()
    if (r.done === true) return undefined
    const [k, v] = r.value
    return [out(k, this.#options.keyEncoding), out(v, this.#options.valueEncoding)]
  }

  _seek (target: Uint8Array): void {
    void this.#source?.return(undefined)
    this.#source = undefined
    const r = rangeOf(this.#options)
    if (this.#options.reverse === true) {
      const hi = r.lt ?? r.lte
      if (hi === undefined || compare(target, hi) < 0 || (r.lte !== undefined && compare(target, hi) === 0)) { delete r.lt; r.lte = target }
    } else {
      const lo = r.gt ?? r.gte
      if (lo === undefined || compare(target, lo) > 0 || (r.gte !== undefined && compare(target, lo) === 0)) { delete r.gt; r.gte = target }
    }
    this.#range = r
  }

  async _close (): Promise<void> {
    await this.#source?.return(undefined)
  }
}

function compare (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return a.length - b.length
}
