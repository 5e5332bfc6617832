/**
 * The coordinator: runs transactions against the shard leaders of a
 * cluster. Reads go to leaders and record the versions seen; writes are
 * buffered; commit is speculative two-phase commit:
 *
 * 1. one shard: `commit1` (lock, validate, position and install at once);
 * 2. several: `lock` the writes at every shard that writes, then
 *    `validate` the reads everywhere (a shard that writes gives the
 *    transaction its position there), then `install` at the primary (the
 *    lowest shard that writes: its answer is the decision) and then at the
 *    others. Nothing waits for replication.
 *
 * The transaction's vector is the merge of what it read and overwrote and
 * its own positions. By default the commit resolves when the vector is
 * final under the marks the shards publish; `durability: 'speculative'`
 * resolves after 2PC. A failover may roll back a speculative transaction;
 * then the waiting commit rejects with `MAKO_TRANSACTION_ROLLED_BACK`.
 *
 * @module
 */

import { MakoError } from '../../lib/errors.js'
import { systemClock } from '../transport/clock.js'
import type { Clock, TimerHandle } from '../transport/clock.js'
import type { NodeId } from '../transport/ids.js'
import type { Transport } from '../transport/types.js'
import { compareBytes } from '../../lib/btree/compare.js'
import { keyString } from './machine.js'
import type { Write } from './machine.js'
import type { ReadEntry, TxnReply, TxnRequest } from './messages.js'
import { ShardRouter } from './router.js'
import type { KeyRange, ShardMap } from './shard-map.js'
import { Fate, MarkTable, emptyVector, isMark, mergeVectors } from './vector.js'
import type { Mark, Vector } from './vector.js'

/**
 * When a write resolves. `final` (the default): replicated on a majority of
 * every shard it touched, and everything it depends on too. `speculative`:
 * as soon as two-phase commit is done; **a leader failover before
 * replication may still roll it back** (the transaction then never
 * happened; readers that did not ask for speculation never saw it).
 */
export type Durability = 'final' | 'speculative'

/** Longest a read waits for a locked key before failing with `MAKO_LOCKED` (transient). */
export const maxLockedReadMs = 5000

/** Longest pause between asks for a locked key, in milliseconds. */
export const lockedReadPauseMs = 8

/** Options of a commit. */
export interface CommitOptions {
  /** When to resolve; see {@link Durability}. Default `final`. */
  durability?: Durability
  /**
   * `speculative` (default): Mako's speculative 2PC, locks released when
   * the writes are installed. `classic`: 2PC over Paxos, the baseline Mako
   * is measured against: the prepare is replicated before the vote, and
   * locks are held until the transaction's log entry is replicated.
   */
  commit?: 'speculative' | 'classic'
}

/** Options of {@link ClusterClient.transaction}. */
export interface TransactionRunOptions extends CommitOptions {
  /** Attempts before giving up on conflicts and rollbacks. Default 30. */
  attempts?: number
}

/** Options of a {@link ClusterClient}. */
export interface ClusterClientOptions {
  /** The client's transport (its transaction channel). */
  transport: Transport
  /** The cluster's shard map. */
  map: ShardMap
  /** Clock. Default the system clock. */
  clock?: Clock
  /** A prefix for transaction ids, unique per client. Default the transport's node id. */
  id?: string
  /** Milliseconds a request may take, redirects and retries included. Default 10,000. */
  timeout?: number
  /** Milliseconds one attempt at one replica may take. Default 1000. */
  attemptTimeout?: number
  /** Milliseconds a commit waits for finality before `MAKO_TIMEOUT`. Default 30,000. */
  finalTimeout?: number
  /** Random numbers in [0, 1) for backoff jitter. Default `Math.random`. */
  random?: () => number
  /**
   * For a client inside a node (an embedded peer): the node's own marks,
   * kept current by its transaction service, instead of subscribing to
   * broadcasts; the client then registers no handler on `transport`.
   */
  marks?: MarkTable
  /**
   * For a client inside a node: answers requests addressed to this node
   * without the network. Cut reads (`at: 'watermark'`, iterators,
   * snapshots) go to the node's own replica first.
   */
  local?: (req: TxnRequest) => Promise<TxnReply>
}

/**
 * A key space inside a cluster: every key is stored under `prefix`, and
 * routed to a shard by the key without it. Databases of one cluster with
 * different prefixes never see each other's keys (the tests give each
 * database of the compliance suite its own).
 */
export class KeySpace {
  /** The shard map. */
  readonly map: ShardMap
  /** The prefix of every stored key. */
  readonly prefix: Uint8Array
  readonly #end: Uint8Array | undefined

  /**
   * @param map The shard map (applied to keys without the prefix).
   * @param prefix The prefix; default none.
   */
  constructor (map: ShardMap, prefix: Uint8Array = new Uint8Array(0)) {
    this.map = map
    this.prefix = prefix
    this.#end = prefix.length === 0 ? undefined : successor(prefix)
  }

  /**
   * The shard of a key.
   *
   * @param key A key without the prefix.
   */
  shardOf (key: Uint8Array): number {
    return this.map.shardOf(key)
  }

  /**
   * The stored key.
   *
   * @param key A key without the prefix.
   */
  full (key: Uint8Array): Uint8Array {
    if (this.prefix.length === 0) return key
    const out = new Uint8Array(this.prefix.length + key.length)
    out.set(this.prefix, 0)
    out.set(key, this.prefix.length)
    return out
  }

  /**
   * A stored key without the prefix.
   *
   * @param full A stored key.
   */
  strip (full: Uint8Array): Uint8Array {
    return this.prefix.length === 0 ? full : full.subarray(this.prefix.length)
  }

  /**
   * The stored-key range of a shard's part of a range, or undefined when
   * the shard holds none of it.
   *
   * @param shard The shard.
   * @param range A range of keys without the prefix.
   */
  shardRange (shard: number, range: KeyRange): KeyRange | undefined {
    const sh = this.map.shards[shard]
    if (sh === undefined) return undefined
    const r: KeyRange = {}
    const lo = range.gt ?? range.gte
    if (sh.start !== null && (lo === undefined || compareBytes(sh.start, lo) > 0)) r.gte = this.full(sh.start)
    else if (range.gt !== undefined) r.gt = this.full(range.gt)
    else if (range.gte !== undefined) r.gte = this.full(range.gte)
    else if (this.prefix.length > 0) r.gte = this.prefix
    const hi = range.lt ?? range.lte
    if (sh.end !== null && (hi === undefined || compareBytes(sh.end, hi) <= 0)) r.lt = this.full(sh.end)
    else if (range.lt !== undefined) r.lt = this.full(range.lt)
    else if (range.lte !== undefined) r.lte = this.full(range.lte)
    else if (this.#end !== undefined) r.lt = this.#end
    return r
  }
}

/** The smallest byte string above every string that starts with `p`, or undefined (all 0xff). */
function successor (p: Uint8Array): Uint8Array | undefined {
  let i = p.length - 1
  while (i >= 0 && p[i] === 0xff) i--
  if (i < 0) return undefined
  const out = p.slice(0, i + 1)
  out[i]!++
  return out
}

/** A transaction's failure that is safe to retry. */
function transient (message: string, code: string): MakoError {
  return new MakoError(message, code, { transient: true })
}

interface ShardReads {
  e: number | null
  t0: number
  reads: Map<string, ReadEntry>
}

interface Waiter {
  vec: Vector
  resolve: () => void
  reject: (err: MakoError) => void
  timer: TimerHandle
}

/**
 * An interactive transaction: reads at the leaders, buffered writes,
 * commit with speculative 2PC. Get one from {@link ClusterClient.begin}.
 */
export class ClusterTransaction {
  /** The transaction's id (client id and a counter). */
  readonly id: string
  readonly #c: ClusterClient
  readonly #space: KeySpace
  readonly #reads = new Map<number, ShardReads>()
  readonly #writes = new Map<number, Map<string, Write>>()
  #vec: Vector = emptyVector
  #done = false

  /** @internal */
  constructor (client: ClusterClient, id: string, space: KeySpace) {
    this.#c = client
    this.id = id
    this.#space = space
  }

  /** The merged vector of everything read so far. */
  get readVector (): Vector { return this.#vec }

  /**
   * Reads a key at its shard's leader (or from this transaction's own writes).
   *
   * @param key The key.
   * @returns The value, or null when absent.
   */
  async get (key: Uint8Array): Promise<Uint8Array | null> {
    this.#open()
    const s = this.#space.shardOf(key)
    key = this.#space.full(key)
    const ks = keyString(key)
    const own = this.#writes.get(s)?.get(ks)
    if (own !== undefined) return own[1]
    let res = await this.#c.router.call({ c: 'read', s, k: key })
    // A locked key is being committed: its lock lasts a 2PC round or two
    // (a replication round trip in classic mode), so ask again soon, with
    // the pause capped, not doubled without end: a reader of a hot key
    // that backs off for long waits past many commits it could have read.
    const since = this.#c.now()
    for (let wait = 1; !res.ok && res.code === 'MAKO_LOCKED' && this.#c.now() - since < maxLockedReadMs; wait = Math.min(wait * 2, lockedReadPauseMs)) {
      await this.#c.sleep(wait * (0.5 + this.#c.jitter()))
      res = await this.#c.router.call({ c: 'read', s, k: key })
    }
    if (!res.ok) throw transient(`Read refused by shard ${s}: ${res.code ?? 'unknown'}`, res.code ?? 'MAKO_UNAVAILABLE')
    this.#open()
    // Looked up after the answer, not before: reads may run concurrently
    // (Promise.all of gets), and every one of them must be recorded.
    const e = res.e ?? null
    const t = res.t ?? 0
    const sr = this.#reads.get(s)
    const seen = sr?.reads.get(ks)
    if (sr !== undefined && sr.e !== null && e !== sr.e) throw transient(`Shard ${s} changed leader during the transaction`, 'MAKO_STALE_EPOCH')
    if (seen !== undefined && seen[1] !== res.ver) throw transient('A key read twice changed in between', 'MAKO_TXN_CONFLICT')
    if (sr === undefined) this.#reads.set(s, { e, t0: t, reads: new Map([[ks, [key, res.ver ?? 0]]]) })
    else {
      if (sr.e === null) sr.e = e
      // The age limit counts from the earliest read here.
      if (t < sr.t0) sr.t0 = t
      sr.reads.set(ks, [key, res.ver ?? 0])
    }
    this.#vec = mergeVectors(this.#vec, res.vec ?? emptyVector)
    return res.v ?? null
  }

  /**
   * Buffers a write.
   *
   * @param key The key.
   * @param value The value.
   */
  put (key: Uint8Array, value: Uint8Array): void {
    this.#write(key, value)
  }

  /**
   * Buffers a delete.
   *
   * @param key The key.
   */
  del (key: Uint8Array): void {
    this.#write(key, null)
  }

  #write (key: Uint8Array, value: Uint8Array | null): void {
    this.#open()
    const s = this.#space.shardOf(key)
    key = this.#space.full(key)
    let m = this.#writes.get(s)
    if (m === undefined) { m = new Map(); this.#writes.set(s, m) }
    m.set(keyString(key), [key, value])
  }

  #open (): void {
    if (this.#done) throw new MakoError('Transaction already committed or aborted', 'MAKO_TXN_DONE')
  }

  /**
   * Commits. Rejects with a transient error on a conflict
   * (`MAKO_TXN_CONFLICT`), a leader change (`MAKO_STALE_EPOCH`), a rollback
   * (`MAKO_TRANSACTION_ROLLED_BACK`) or no leader (`MAKO_UNAVAILABLE`).
   *
   * @param options Durability.
   * @returns The transaction's vector.
   */
  async commit (options: CommitOptions = {}): Promise<Vector> {
    this.#open()
    this.#done = true
    const started = this.#c.now()
    try {
      const vec = await this.#commit(options)
      this.#c.record(undefined, this.#c.now() - started)
      return vec
    } catch (err) {
      this.#c.record(err instanceof MakoError ? err.code : 'error', this.#c.now() - started)
      throw err
    }
  }

  async #commit (options: CommitOptions): Promise<Vector> {
    const c = this.#c
    const writeShards = [...this.#writes.keys()].sort((a, b) => a - b)
    const parts = [...new Set([...writeShards, ...this.#reads.keys()])].sort((a, b) => a - b)
    let vec: Vector
    if (writeShards.length === 0) {
      // Read-only: several reads are validated (no locks); one needs nothing.
      let count = 0
      for (const sr of this.#reads.values()) count += sr.reads.size
      if (count > 1) {
        const results = await Promise.all(parts.map(async (s) => {
          const sr = this.#reads.get(s)!
          return await c.router.call({ c: 'validate', s, id: this.id, e: sr.e, r: [...sr.reads.values()], t0: sr.t0, parts, prim: -1 })
        }))
        for (const res of results) if (!res.ok) throw refusal(res)
      }
      vec = this.#vec
    } else if (parts.length === 1) {
      const s = parts[0]!
      const sr = this.#reads.get(s)
      const res = await c.router.call({
        c: 'commit1', s, id: this.id, e: sr?.e ?? null, w: [...this.#writes.get(s)!.values()], r: sr === undefined ? [] : [...sr.reads.values()], rvec: this.#vec, t0: sr?.t0 ?? 0,
        ...(options.commit === 'classic' ? { cl: true } : {})
      }).catch((err: unknown) => err instanceof Error ? err : new Error(String(err)))
      if (res instanceof Error || !res.ok) {
        // A refusal before anything happened is a plain failure; an answer
        // lost, or a leader change (an earlier attempt may have installed
        // it), is settled by asking the shard what its log holds.
        if (!(res instanceof Error) && res.code !== 'MAKO_STALE_EPOCH' && res.code !== undefined) throw refusal(res)
        const decided = await this.#decision(s)
        if (decided.fate !== 'installed') throw transient('Transaction aborted', 'MAKO_TXN_CONFLICT')
        vec = decided.vec
      } else {
        vec = res.vec ?? this.#vec
      }
    } else {
      vec = await this.#twoPhase(writeShards, parts, options.commit === 'classic')
    }
    if ((options.durability ?? 'final') === 'final') await c.waitFinal(vec)
    return vec
  }

  async #twoPhase (writeShards: number[], parts: number[], classic: boolean): Promise<Vector> {
    const c = this.#c
    const prim = writeShards[0]!
    const epochs = new Map<number, number | null>()
    for (const s of parts) epochs.set(s, this.#reads.get(s)?.e ?? null)
    const locked: number[] = []
    const abortAll = async (): Promise<void> => {
      await Promise.all(locked.map(async (s) => { await c.router.call({ c: 'abort', s, id: this.id }, 2000).catch(() => {}) }))
    }
    let vec = this.#vec
    // Phase 1: lock every write set. Where every key read at a shard is
    // also written there, the locks protect the reads: that shard
    // validates them and gives the position in the same step.
    const positions = new Map<number, number>()
    const covered = new Set<number>()
    for (const s of writeShards) {
      const reads = this.#reads.get(s)?.reads
      const writes = this.#writes.get(s)!
      if (reads === undefined || [...reads.keys()].every((k) => writes.has(k))) covered.add(s)
    }
    const locks = await Promise.allSettled(writeShards.map(async (s) => {
      const sr = this.#reads.get(s)
      const res = await c.router.call({
        c: 'lock', s, id: this.id, e: epochs.get(s) ?? null, w: [...this.#writes.get(s)!.values()], parts, prim,
        ...(classic ? { cl: true } : {}),
        ...(covered.has(s) ? { r: sr === undefined ? [] : [...sr.reads.values()], t0: sr?.t0 ?? 0 } : {})
      })
      if (res.ok) {
        locked.push(s)
        epochs.set(s, res.e ?? null)
        if (res.pos !== undefined) positions.set(s, res.pos)
      }
      return res
    }))
    for (const l of locks) {
      if (l.status === 'rejected' || !l.value.ok) {
        await abortAll()
        throw l.status === 'rejected' ? l.reason : refusal(l.value)
      }
      vec = mergeVectors(vec, l.value.vec ?? emptyVector)
    }
    // Phase 2: validate the other reads (after every lock is held), and
    // get the positions not given yet.
    const rest = parts.filter((s) => !covered.has(s))
    const checks = await Promise.allSettled(rest.map(async (s) => {
      const sr = this.#reads.get(s)
      return await c.router.call({ c: 'validate', s, id: this.id, e: epochs.get(s) ?? null, r: sr === undefined ? [] : [...sr.reads.values()], t0: sr?.t0 ?? 0, parts, prim })
    }))
    for (const [i, ch] of checks.entries()) {
      if (ch.status === 'rejected' || !ch.value.ok) {
        await abortAll()
        throw ch.status === 'rejected' ? ch.reason : refusal(ch.value)
      }
      if (ch.value.pos !== undefined) positions.set(rest[i]!, ch.value.pos)
    }
    for (const [s, pos] of positions) vec = mergeVectors(vec, [s, pos])
    // Phase 3: install at the primary (the decision), then everywhere else.
    const first = await c.router.call({ c: 'install', s: prim, id: this.id, e: epochs.get(prim)!, vec }).catch((err: unknown) => err)
    if (first instanceof Error || !(first as TxnReply).ok) {
      // Not installed by this answer; an earlier attempt may have been, at
      // a leader since replaced: the primary's decision settles it.
      const decided = await this.#decision(prim)
      if (decided.fate !== 'installed') {
        await abortAll()
        throw transient('Transaction aborted: its primary did not install it', 'MAKO_TXN_CONFLICT')
      }
    }
    await Promise.all(writeShards.slice(1).map(async (s) => {
      // A participant that lost its leader cannot install: the transaction
      // is then rolled back by the failover, which the marks will show.
      await c.router.call({ c: 'install', s, id: this.id, e: epochs.get(s)!, vec }).catch(() => undefined)
    }))
    return vec
  }

  /**
   * A shard's decision on this transaction (its primary's, or the only
   * shard's), when an answer was lost or refused after a leader change.
   */
  async #decision (shard: number): Promise<{ fate: 'installed', vec: Vector } | { fate: 'aborted' }> {
    const c = this.#c
    for (let i = 0; i < 20; i++) {
      const res = await c.router.call({ c: 'fate', s: shard, id: this.id }).catch(() => undefined)
      if (res?.fate === 'installed' && res.vec !== undefined) return { fate: 'installed', vec: res.vec }
      if (res?.fate === 'aborted') return { fate: 'aborted' }
      await c.sleep(50)
    }
    throw new MakoError('The fate of the transaction is unknown: its shard did not answer', 'MAKO_TXN_UNKNOWN')
  }
}

function refusal (res: TxnReply): MakoError {
  switch (res.code) {
    case 'conflict': return transient('Transaction conflict', 'MAKO_TXN_CONFLICT')
    case 'aborted': case 'unknown': return transient('Transaction aborted by a participant', 'MAKO_TXN_CONFLICT')
    case 'MAKO_STALE_EPOCH': return transient('A shard changed leader during the transaction', 'MAKO_STALE_EPOCH')
    case 'MAKO_TXN_TOO_OLD': return transient('Transaction ran too long', 'MAKO_TXN_TOO_OLD')
    case 'MAKO_TRANSACTION_ROLLED_BACK': return rolledBack()
    case undefined: return transient('Transaction refused', 'MAKO_UNAVAILABLE')
    default: return new MakoError(`Transaction refused: ${res.code}`, res.code, { transient: res.code !== 'MAKO_BAD_REQUEST' })
  }
}

/** Bounds (ms, upper, inclusive) of the commit latency histogram of {@link ClientStats}. */
export const latencyBuckets: readonly number[] = Object.freeze([1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000])

/** What a {@link ClusterClient} has done, for metrics. */
export interface ClientStats {
  /** Transactions committed. */
  committed: number
  /** Transactions that failed, by error code (`MAKO_TXN_CONFLICT`, `MAKO_TRANSACTION_ROLLED_BACK`, ...). */
  aborted: Record<string, number>
  /** Commit latency of committed transactions: counts per bucket of {@link latencyBuckets} (the last one: above every bound). */
  latency: number[]
  /** Sum of the commit latencies of committed transactions, ms. */
  latencySum: number
}

/**
 * A client of a cluster: transactions, reads, and marks (watermarks) of
 * every shard, pushed by the leaders it subscribes to.
 */
export class ClusterClient {
  /** The shard map. */
  readonly map: ShardMap
  /** Marks of every shard as this client knows them. */
  readonly marks: MarkTable
  /** Leader routing. */
  readonly router: ShardRouter
  readonly #t: Transport
  readonly #clock: Clock
  readonly #id: string
  readonly #finalTimeout: number
  readonly #random: () => number
  readonly #waiters = new Set<Waiter>()
  readonly #local: ((req: TxnRequest) => Promise<TxnReply>) | undefined
  readonly #subscribes: boolean
  #seq = 0
  readonly #stats: ClientStats = { committed: 0, aborted: {}, latency: latencyBuckets.map(() => 0).concat(0), latencySum: 0 }
  #poll: TimerHandle | undefined
  #closed = false

  /**
   * @param options Transport, map and tuning.
   */
  constructor (options: ClusterClientOptions) {
    this.map = options.map
    this.#t = options.transport
    this.#clock = options.clock ?? systemClock
    this.#id = options.id ?? `${options.transport.nodeId}~${Math.floor((options.random ?? Math.random)() * 2 ** 32).toString(36)}`
    this.#finalTimeout = options.finalTimeout ?? 30_000
    this.#random = options.random ?? Math.random
    this.marks = options.marks ?? new MarkTable(options.map.size)
    this.space = new KeySpace(options.map)
    this.#local = options.local
    this.router = new ShardRouter({
      transport: options.transport, map: options.map, marks: this.marks, clock: this.#clock,
      attemptTimeout: options.attemptTimeout ?? 1000, timeout: options.timeout ?? 10_000,
      ...(options.local !== undefined ? { local: options.local } : {})
    })
    this.#subscribes = options.marks === undefined
    if (this.#subscribes) {
      this.#t.onMessage((_from, payload) => { this.#onMessage(payload) })
      this.#t.on('peerUp', (peer) => { void this.#subscribe(peer) })
    }
    this.marks.onChange(() => { this.#check() })
  }

  /** Subscribes to every node's mark broadcasts (call once; later reconnections resubscribe). */
  async start (): Promise<void> {
    if (!this.#subscribes) return
    await Promise.all(this.map.nodes.map(async (n) => { await this.#subscribe(n as NodeId) }))
  }

  async #subscribe (node: NodeId): Promise<void> {
    if (this.#closed || !this.map.nodes.includes(node)) return
    try {
      const res = await this.#t.request(node, { c: 'subscribe' }, { timeout: 2000 }) as TxnReply
      this.#takeMarks(res.ms)
    } catch {
      // The node is down; peerUp resubscribes when it is back.
    }
  }

  #takeMarks (ms: unknown): void {
    if (!Array.isArray(ms)) return
    for (const pair of ms) {
      if (Array.isArray(pair) && pair.length === 2 && Number.isInteger(pair[0]) && pair[0] >= 0 && pair[0] < this.map.size && isMark(pair[1])) {
        this.marks.update(pair[0], pair[1] as Mark)
      }
    }
  }

  #onMessage (payload: unknown): void {
    const msg = payload as { c?: unknown, m?: unknown }
    if (typeof msg === 'object' && msg !== null && msg.c === 'marks') this.#takeMarks(msg.m)
  }

  /** The key space without a prefix. */
  readonly space: KeySpace

  /**
   * Starts a transaction.
   *
   * @param space Its key space; default the client's.
   */
  begin (space: KeySpace = this.space): ClusterTransaction {
    return new ClusterTransaction(this, `${this.#id}.${(++this.#seq).toString(36)}`, space)
  }

  /**
   * Runs `fn` in a transaction and commits, retrying the whole function
   * (never only its writes) on transient failures, with backoff.
   *
   * @param fn The transaction's body.
   * @param options Durability and attempts.
   */
  async transaction<T>(fn: (tx: ClusterTransaction) => Promise<T>, options: TransactionRunOptions & { space?: KeySpace } = {}): Promise<T> {
    const attempts = options.attempts ?? 30
    let delay = 1
    for (let i = 1; ; i++) {
      const tx = this.begin(options.space)
      try {
        const result = await fn(tx)
        await tx.commit(options)
        return result
      } catch (err) {
        if (!(err instanceof MakoError) || err.transient !== true || i >= attempts || this.#closed) throw err
        await this.sleep(delay * (0.5 + this.#random()))
        delay = Math.min(delay * 2, 100)
      }
    }
  }

  /**
   * Reads a key. Default: the newest version at the leader, answered once
   * it is final. `at: 'watermark'`: the newest final value at the client's
   * cut, from any replica, without waiting.
   *
   * @param key The key.
   * @param options Where to read.
   */
  async get (key: Uint8Array, options: { at?: 'watermark' | 'latest', space?: KeySpace } = {}): Promise<Uint8Array | null> {
    if (options.at === 'watermark') return await this.getAtCut(key, this.marks.cut(), options.space)
    return await this.transaction(async (tx) => await tx.get(key), { durability: 'final', ...(options.space !== undefined ? { space: options.space } : {}) })
  }

  /**
   * Reads a key at a cut (from any replica that has applied it).
   *
   * @param key The key.
   * @param cut Marks of every shard.
   * @param space The key space; default the client's.
   */
  async getAtCut (key: Uint8Array, cut: readonly Mark[], space: KeySpace = this.space): Promise<Uint8Array | null> {
    const s = space.shardOf(key)
    const req = { c: 'cutGet', s, k: space.full(key), cut } as const
    const res = await this.#localFirst(req) ?? await this.router.call(req)
    if (!res.ok) {
      this.#takeMarks(res.ms)
      throw transient(`Cut read refused: ${res.code ?? ''}`, res.code ?? 'MAKO_UNAVAILABLE')
    }
    return res.v ?? null
  }

  /**
   * Entries of a range at a cut, page by page, across shards in key order.
   *
   * @param range The range.
   * @param cut Marks of every shard.
   * @param reverse Descending order.
   * @param limit Most entries in all (-1: no limit).
   * @param space The key space; default the client's. Keys come back without its prefix.
   */
  async * rangeAtCut (range: KeyRange, cut: readonly Mark[], reverse = false, limit = -1, space: KeySpace = this.space): AsyncGenerator<[Uint8Array, Uint8Array]> {
    const shards = this.map.shardsIn(range)
    if (reverse) shards.reverse()
    let left = limit < 0 ? Infinity : limit
    for (const s of shards) {
      const whole = space.shardRange(s, range)
      if (whole === undefined) continue
      let r: KeyRange = { ...whole }
      while (left > 0) {
        const page = Math.min(left, 1000)
        const req = { c: 'cutRange', s, range: r, cut, reverse, limit: page } as const
        const res = await this.#localFirst(req) ?? await this.router.call(req)
        if (!res.ok) {
          this.#takeMarks(res.ms)
          throw transient(`Range read refused: ${res.code ?? ''}`, res.code ?? 'MAKO_UNAVAILABLE')
        }
        const kv = res.kv ?? []
        for (let i = 0; i + 1 < kv.length; i += 2) yield [space.strip(kv[i]!), kv[i + 1]!]
        left -= kv.length / 2
        if (kv.length / 2 < page) break
        const lastKey = kv[kv.length - 2]!
        r = { ...whole }
        if (reverse) { delete r.lte; r.lt = lastKey } else { delete r.gte; r.gt = lastKey }
      }
    }
  }

  /** A cut read at this node's own replica (embedded peers): its answer, or undefined to ask the leader. */
  async #localFirst (req: TxnRequest): Promise<TxnReply | undefined> {
    if (this.#local === undefined) return undefined
    const res = await this.#local(req).catch(() => undefined)
    return res?.ok === true ? res : undefined
  }

  /**
   * Resolves when a vector is final; rejects with
   * `MAKO_TRANSACTION_ROLLED_BACK` when a failover rolled it back, or
   * `MAKO_TIMEOUT` after the client's `finalTimeout`.
   *
   * @param vec The vector.
   */
  async waitFinal (vec: Vector): Promise<void> {
    const fate = this.marks.fate(vec)
    if (fate === Fate.Final) return
    if (fate === Fate.Dead) throw rolledBack()
    await new Promise<void>((resolve, reject) => {
      const w: Waiter = {
        vec,
        resolve,
        reject,
        timer: this.#clock.setTimer(this.#finalTimeout, () => {
          this.#waiters.delete(w)
          reject(new MakoError('Transaction not final in time', 'MAKO_TIMEOUT', { transient: true }))
        })
      }
      this.#waiters.add(w)
      this.#schedulePoll()
    })
  }

  #check (): void {
    for (const w of this.#waiters) {
      const fate = this.marks.fate(w.vec)
      if (fate === Fate.Pending) continue
      this.#waiters.delete(w)
      this.#clock.clearTimer(w.timer)
      if (fate === Fate.Final) w.resolve()
      else w.reject(rolledBack())
    }
  }

  /** While commits wait, ask for marks now and then too (pushes may be lost). */
  #schedulePoll (): void {
    if (this.#poll !== undefined || this.#closed) return
    this.#poll = this.#clock.setTimer(20, () => {
      this.#poll = undefined
      if (this.#waiters.size === 0 || this.#closed) return
      const pending = new Set<number>()
      for (const w of this.#waiters) for (let i = 0; i < w.vec.length; i += 2) pending.add(w.vec[i]!)
      for (const s of pending) {
        void this.router.call({ c: 'marks', s } as never, 1000).then((res) => { this.#takeMarks(res.ms) }, () => {})
      }
      this.#schedulePoll()
    })
  }

  /**
   * Waits on the client's clock.
   *
   * @param ms Milliseconds.
   * @internal
   */
  sleep (ms: number): Promise<void> {
    return new Promise((resolve) => { this.#clock.setTimer(ms, resolve) })
  }

  /** The client's clock, ms. @internal */
  now (): number {
    return this.#clock.now()
  }

  /** A random number in [0, 1) from the client's source, for backoff jitter. @internal */
  jitter (): number {
    return this.#random()
  }

  /**
   * Counts a commit's outcome.
   *
   * @param code The error code, undefined when committed.
   * @param ms How long the commit took.
   * @internal
   */
  record (code: string | undefined, ms: number): void {
    const s = this.#stats
    if (code !== undefined) {
      s.aborted[code] = (s.aborted[code] ?? 0) + 1
      return
    }
    s.committed++
    s.latencySum += ms
    let i = 0
    while (i < latencyBuckets.length && ms > latencyBuckets[i]!) i++
    s.latency[i]!++
  }

  /** Counters of commits, aborts by reason and commit latency (a copy). */
  stats (): ClientStats {
    const s = this.#stats
    return { committed: s.committed, aborted: { ...s.aborted }, latency: s.latency.slice(), latencySum: s.latencySum }
  }

  /** What the client waits for, for diagnostics. @internal */
  debug (): unknown {
    return { waiters: [...this.#waiters].map((w) => [w.vec, this.marks.fate(w.vec)]), marks: this.marks.all }
  }

  /** Fails waiting commits and stops polling (the transport is the caller's). */
  close (): void {
    this.#closed = true
    if (this.#poll !== undefined) this.#clock.clearTimer(this.#poll)
    for (const w of this.#waiters) {
      this.#clock.clearTimer(w.timer)
      w.reject(new MakoError('Client closed', 'MAKO_CLOSED', { transient: true }))
    }
    this.#waiters.clear()
  }
}

function rolledBack (): MakoError {
  return new MakoError('The transaction was rolled back by a failover before it was final; it is safe to retry', 'MAKO_TRANSACTION_ROLLED_BACK', { transient: true })
}
