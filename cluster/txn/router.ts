/**
 * Finds shard leaders: sends a request to the replica believed to lead a
 * shard, follows redirects, tries the other replicas when one is down or
 * silent, all within a deadline.
 *
 * @module
 */

import { MakoError } from '../../lib/errors.js'
import type { Clock } from '../transport/clock.js'
import type { NodeId } from '../transport/ids.js'
import type { Transport } from '../transport/types.js'
import type { TxnReply, TxnRequest } from './messages.js'
import type { ShardMap } from './shard-map.js'
import type { MarkTable } from './vector.js'

/** Options of a {@link ShardRouter}. */
export interface ShardRouterOptions {
  /** The transport (the transaction channel). */
  transport: Transport
  /** The shard map. */
  map: ShardMap
  /** Marks to update from piggybacked marks. */
  marks: MarkTable
  /** Clock. */
  clock: Clock
  /** Milliseconds one attempt may take. Default 1000. */
  attemptTimeout?: number
  /** Milliseconds a call may take in all. Default 10,000. */
  timeout?: number
  /** Answers requests addressed to this node itself (a node cannot send to itself). */
  local?: (req: TxnRequest) => Promise<TxnReply>
}

/**
 * Routes requests to shard leaders.
 */
export class ShardRouter {
  readonly #t: Transport
  readonly #map: ShardMap
  readonly #marks: MarkTable
  readonly #clock: Clock
  readonly #attempt: number
  readonly #timeout: number
  readonly #leader: Array<string | undefined>
  readonly #next: number[]
  readonly #local: ((req: TxnRequest) => Promise<TxnReply>) | undefined

  /**
   * @param options Transport, map, marks, clock and timeouts.
   */
  constructor (options: ShardRouterOptions) {
    this.#t = options.transport
    this.#map = options.map
    this.#marks = options.marks
    this.#clock = options.clock
    this.#attempt = options.attemptTimeout ?? 1000
    this.#timeout = options.timeout ?? 10_000
    this.#leader = options.map.shards.map(() => undefined)
    this.#next = options.map.shards.map(() => 0)
    this.#local = options.local
  }

  /**
   * The leader of a shard as last seen.
   *
   * @param shard The shard.
   */
  leaderOf (shard: number): string | undefined {
    return this.#leader[shard]
  }

  #sleep (ms: number): Promise<void> {
    return new Promise((resolve) => { this.#clock.setTimer(ms, resolve) })
  }

  /**
   * Sends a request to the leader of its shard; answers that are not
   * redirects come back as they are (ok or not).
   *
   * @param req The request (its `s` names the shard).
   * @param timeout Milliseconds in all; default the router's.
   * @throws MakoError `MAKO_UNAVAILABLE` (transient) when no leader answered in time.
   */
  async call (req: TxnRequest & { s: number }, timeout = this.#timeout): Promise<TxnReply> {
    const shard = this.#map.shards[req.s]
    if (shard === undefined) throw new MakoError(`No shard ${req.s}`, 'MAKO_NO_SHARD')
    const deadline = this.#clock.now() + timeout
    let delay = 2
    let last: unknown
    for (let attempt = 0; ; attempt++) {
      const left = deadline - this.#clock.now()
      if (left <= 0) break
      let target = this.#leader[req.s]
      if (target === undefined) {
        target = shard.replicas[this.#next[req.s]! % shard.replicas.length]!
        this.#next[req.s]!++
      }
      let res: TxnReply
      try {
        res = target === this.#t.nodeId && this.#local !== undefined
          ? await this.#local(req)
          : await this.#t.request(target as NodeId, req, { timeout: Math.min(left, this.#attempt) }) as TxnReply
      } catch (err) {
        last = err
        if (this.#leader[req.s] === target) this.#leader[req.s] = undefined
        if (attempt >= shard.replicas.length - 1) {
          await this.#sleep(Math.min(delay, Math.max(0, deadline - this.#clock.now())))
          delay = Math.min(delay * 2, 100)
        }
        continue
      }
      if (typeof res !== 'object' || res === null) throw new MakoError('Bad reply from a shard', 'MAKO_BAD_REPLY')
      if (res.m !== undefined) this.#marks.update(req.s, res.m)
      if (res.redirect !== undefined) {
        const hint = res.redirect
        this.#leader[req.s] = hint !== null && hint !== target && shard.replicas.includes(hint) ? hint : undefined
        if (this.#leader[req.s] === undefined) {
          await this.#sleep(Math.min(delay, Math.max(0, deadline - this.#clock.now())))
          delay = Math.min(delay * 2, 100)
        }
        continue
      }
      this.#leader[req.s] = target
      return res
    }
    throw new MakoError(`No leader of shard ${req.s} answered in ${timeout} ms`, 'MAKO_UNAVAILABLE', { transient: true, cause: last })
  }
}
