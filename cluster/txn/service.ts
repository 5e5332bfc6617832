/**
 * The transaction service of one node: answers coordinators' requests for
 * the shard replicas the node hosts, publishes the marks of the shards it
 * leads to every other node and to subscribed clients about every
 * `markMs`, learns everyone else's, and folds final transactions.
 *
 * @module
 */

import { MakoError } from '../../lib/errors.js'
import type { Clock, TimerHandle } from '../transport/clock.js'
import type { NodeId } from '../transport/ids.js'
import type { RequestContext, Transport } from '../transport/types.js'
import type { MarksMessage, TxnReply, TxnRequest } from './messages.js'
import { ShardRouter } from './router.js'
import type { KeyRange, ShardMap } from './shard-map.js'
import type { TxnShard } from './shard.js'
import { isMark, isVector } from './vector.js'
import type { Mark, MarkTable } from './vector.js'

/** Options of a {@link TxnService}. */
export interface TxnServiceOptions {
  /** The node's transaction channel. */
  transport: Transport
  /** The shard map. */
  map: ShardMap
  /** The node's marks of every shard. */
  marks: MarkTable
  /** Clock. */
  clock: Clock
  /** Milliseconds between mark broadcasts. Default 1. */
  markMs?: number
  /** The answer to `config` requests: the cluster's description for clients that know only a URL. */
  describe?: () => unknown
}

const bad: TxnReply = Object.freeze({ ok: false, code: 'MAKO_BAD_REQUEST' })

function isBytes (x: unknown): x is Uint8Array { return x instanceof Uint8Array }
function isWrites (x: unknown): boolean {
  return Array.isArray(x) && x.length <= 100_000 && x.every((w) => Array.isArray(w) && w.length === 2 && isBytes(w[0]) && (w[1] === null || isBytes(w[1])))
}
function isReads (x: unknown): boolean {
  return Array.isArray(x) && x.length <= 100_000 && x.every((r) => Array.isArray(r) && r.length === 2 && isBytes(r[0]) && Number.isSafeInteger(r[1]))
}
function isEpoch (x: unknown): boolean { return x === null || Number.isSafeInteger(x) }
function isId (x: unknown): x is string { return typeof x === 'string' && x.length > 0 && x.length <= 256 }
function isCut (x: unknown, shards: number): x is Mark[] { return Array.isArray(x) && x.length === shards && x.every(isMark) }

/**
 * A node's transaction service. See the module documentation.
 */
export class TxnService {
  /** Routes this node's own requests (in-doubt questions) to shard leaders. */
  readonly router: ShardRouter
  readonly #t: Transport
  readonly #map: ShardMap
  readonly #marks: MarkTable
  readonly #clock: Clock
  readonly #markMs: number
  readonly #describe: (() => unknown) | undefined
  readonly #shards = new Map<number, TxnShard>()
  readonly #subscribers = new Set<NodeId>()
  readonly #sent = new Map<number, string>()
  #timer: TimerHandle | undefined
  #closed = false
  #pushing = false

  /**
   * @param options Transport, map, marks and clock.
   */
  constructor (options: TxnServiceOptions) {
    this.#t = options.transport
    this.#map = options.map
    this.#marks = options.marks
    this.#clock = options.clock
    this.#markMs = options.markMs ?? 1
    this.#describe = options.describe
    this.router = new ShardRouter({
      transport: options.transport, map: options.map, marks: options.marks, clock: options.clock, attemptTimeout: 500, timeout: 5000,
      local: async (req) => await this.answer(req)
    })
    this.#t.onRequest(async (payload, ctx) => await this.#onRequest(payload, ctx))
    this.#t.onMessage((from, payload) => { this.#onMessage(from, payload) })
    this.#t.on('peerDown', (peer) => { this.#subscribers.delete(peer) })
    this.#marks.onChange((shard, closed) => {
      for (const s of this.#shards.values()) s.machine.fold(closed)
      // A replica's own mark moved (it applied chosen slots): tell the
      // others once the current turn's work is done rather than at the
      // next tick, so finality reaches clients a timer's lateness sooner.
      if (!this.#pushing && this.#shards.get(shard)?.serving === true) {
        this.#pushing = true
        queueMicrotask(() => {
          this.#pushing = false
          if (!this.#closed) this.#broadcast()
        })
      }
    })
    this.#timer = this.#clock.setTimer(this.#markMs, () => { this.#tick() })
  }

  /**
   * Hosts a shard replica.
   *
   * @param shard The replica's transaction logic.
   */
  add (shard: TxnShard): void {
    this.#shards.set(shard.shard, shard)
  }

  /** The transport (transaction channel) the service answers on. */
  get transport (): Transport {
    return this.#t
  }

  /**
   * Answers a request from this process itself (an embedded client, or
   * this node asking its own replicas), as if it had come over the network.
   *
   * @param req The request.
   */
  async answer (req: TxnRequest): Promise<TxnReply> {
    return await this.#onRequest(req, { from: this.#t.nodeId, deadline: Infinity, signal: new AbortController().signal })
  }

  /** The replicas hosted. */
  get shards (): TxnShard[] {
    return [...this.#shards.values()]
  }

  /** Stops broadcasting and the replicas' timers (not the replicas or the transport). */
  close (): void {
    this.#closed = true
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer)
    for (const s of this.#shards.values()) s.close()
  }

  #tick (): void {
    if (this.#closed) return
    this.#timer = this.#clock.setTimer(this.#markMs, () => { this.#tick() })
    // Retention is counted in time: fold even when no mark moved.
    for (const s of this.#shards.values()) s.machine.fold(false)
    this.#broadcast()
  }

  /** Sends the marks of the shards this node leads that moved since last sent. */
  #broadcast (): void {
    const m: Array<[number, Mark]> = []
    for (const s of this.#shards.values()) {
      if (!s.serving) continue
      const mark = s.mark()
      const sig = `${mark.e}.${mark.w}.${mark.c.length}`
      if (this.#sent.get(s.shard) === sig) continue
      this.#sent.set(s.shard, sig)
      m.push([s.shard, mark])
    }
    if (m.length === 0) return
    const msg: MarksMessage = { c: 'marks', m }
    for (const node of this.#map.nodes) if (node !== this.#t.nodeId) this.#t.trySend(node as NodeId, msg)
    for (const c of this.#subscribers) this.#t.trySend(c, msg)
  }

  #onMessage (_from: NodeId, payload: unknown): void {
    const msg = payload as MarksMessage
    if (typeof msg !== 'object' || msg === null || msg.c !== 'marks' || !Array.isArray(msg.m)) return
    for (const pair of msg.m) {
      if (!Array.isArray(pair) || pair.length !== 2 || !Number.isInteger(pair[0]) || !isMark(pair[1])) continue
      if (pair[0] < 0 || pair[0] >= this.#map.size) continue
      this.#marks.update(pair[0], pair[1])
    }
  }

  async #onRequest (payload: unknown, ctx: RequestContext): Promise<TxnReply> {
    if (this.#closed) throw new MakoError('Service closed', 'MAKO_CLOSED', { transient: true })
    const req = payload as TxnRequest
    if (typeof req !== 'object' || req === null || typeof req.c !== 'string') return bad
    if (req.c === 'marks') return { ok: true, ms: this.#marks.all.map((m, i) => [i, m] as const) }
    if (req.c === 'subscribe') {
      this.#subscribers.add(ctx.from)
      this.#sent.clear()
      return { ok: true, ms: this.#marks.all.map((m, i) => [i, m] as const) }
    }
    if (req.c === 'config') return this.#describe === undefined ? { ok: false, code: 'MAKO_NO_CONFIG' } : { ok: true, config: this.#describe() }
    if (req.c === 'status') return { ok: true, st: this.shards.map((s) => s.status()), ms: this.#marks.all.map((m, i) => [i, m] as const) }
    const shard = this.#shards.get((req as { s: number }).s)
    if (shard === undefined) return { ok: false, redirect: null, code: 'MAKO_NOT_HOSTED' }
    const n = this.#map.size
    switch (req.c) {
      case 'read':
        if (!isBytes(req.k)) return bad
        return shard.read(req.k)
      case 'lock':
        if (!isId(req.id) || !isEpoch(req.e) || !isWrites(req.w) || !Number.isInteger(req.prim)) return bad
        if (req.r !== undefined && (!isReads(req.r) || !Number.isFinite(req.t0))) return bad
        return await shard.lock(req.id, req.e, req.w, req.prim, req.cl === true, req.r, req.t0 ?? 0)
      case 'validate':
        if (!isId(req.id) || !isEpoch(req.e) || !isReads(req.r) || !Number.isFinite(req.t0)) return bad
        return await shard.validate(req.id, req.e, req.r, req.t0)
      case 'install':
        if (!isId(req.id) || !Number.isSafeInteger(req.e) || !isVector(req.vec, n)) return bad
        return await shard.install(req.id, req.e, req.vec)
      case 'abort':
        if (!isId(req.id)) return bad
        return shard.abort(req.id)
      case 'commit1':
        if (!isId(req.id) || !isEpoch(req.e) || !isWrites(req.w) || !isReads(req.r) || !isVector(req.rvec, n) || !Number.isFinite(req.t0)) return bad
        return await shard.commit1(req.id, req.e, req.w, req.r, req.rvec, req.t0, req.cl === true)
      case 'fate':
        if (!isId(req.id)) return bad
        return shard.fate(req.id)
      case 'cutGet':
        if (!isBytes(req.k) || !isCut(req.cut, n)) return bad
        return this.#cut(() => ({ ok: true, v: shard.machine.atCut(req.k, req.cut) }))
      case 'cutRange': {
        if (typeof req.range !== 'object' || req.range === null || !isCut(req.cut, n) || !Number.isSafeInteger(req.limit) || req.limit <= 0) return bad
        const range: KeyRange = {}
        for (const name of ['gt', 'gte', 'lt', 'lte'] as const) {
          const b = (req.range as Record<string, unknown>)[name]
          if (b === undefined || b === null) continue
          if (!isBytes(b)) return bad
          range[name] = b
        }
        return this.#cut(() => {
          const kv: Uint8Array[] = []
          for (const [k, v] of shard.machine.rangeAtCut(range, req.cut, req.reverse === true, Math.min(req.limit, 10_000))) kv.push(k, v)
          return { ok: true, kv }
        })
      }
      default:
        return bad
    }
  }

  #cut (fn: () => TxnReply): TxnReply {
    try {
      return fn()
    } catch (err) {
      if (err instanceof MakoError && (err.code === 'MAKO_CUT_TOO_OLD' || err.code === 'MAKO_REPLICA_BEHIND')) return { ok: false, code: err.code, ms: this.#marks.all.map((m, i) => [i, m] as const) }
      throw err
    }
  }
}
