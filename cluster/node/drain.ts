/**
 * Draining a node before it stops: the transaction channel is wrapped so
 * that, once draining starts, requests that begin new work (a transaction's
 * reads, locks, single-shard commits) are turned away, while those that
 * finish work already under way (validation, install, abort, fate) and
 * everything else (marks, status, reads at a cut) go on. A client turned
 * away sees what a follower says, "not the leader, leader unknown", and its
 * router backs off and tries again, by then at the shard's next leader.
 *
 * @module
 * @internal
 */

import type { NodeId } from '../transport/ids.js'
import type { Link, MessageHandler, RequestHandler, RequestOptions, Transport, TransportEvents, TransportLimits } from '../transport/types.js'

/** Requests that start new work at a shard leader. */
const startsWork = new Set(['read', 'lock', 'commit1'])

/** What a replica that does not lead answers (see `TxnShard`). */
const notServing = Object.freeze({ ok: false, redirect: null })

/**
 * A transport view that turns new transactions away while draining.
 *
 * @internal
 */
export class DrainGate implements Transport {
  readonly nodeId: NodeId
  readonly limits: Readonly<TransportLimits>
  /** Whether new work is turned away. */
  draining = false
  /** Requests turned away so far. */
  turnedAway = 0
  readonly #inner: Transport

  /** @param inner The transaction channel. */
  constructor (inner: Transport) {
    this.#inner = inner
    this.nodeId = inner.nodeId
    this.limits = inner.limits
  }

  link (peer: NodeId): Link { return this.#inner.link(peer) }
  peers (): NodeId[] { return this.#inner.peers() }
  send (peer: NodeId, payload: unknown): void { this.#inner.send(peer, payload) }
  trySend (peer: NodeId, payload: unknown): boolean { return this.#inner.trySend(peer, payload) }
  request (peer: NodeId, payload: unknown, options?: RequestOptions): Promise<unknown> { return this.#inner.request(peer, payload, options) }
  onMessage (handler: MessageHandler): void { this.#inner.onMessage(handler) }
  on<E extends keyof TransportEvents>(event: E, listener: TransportEvents[E]): () => void { return this.#inner.on(event, listener) }
  waitForPeer (peer: NodeId, options?: RequestOptions): Promise<void> { return this.#inner.waitForPeer(peer, options) }
  close (): Promise<void> { return this.#inner.close() }

  onRequest (handler: RequestHandler): void {
    this.#inner.onRequest((payload, context) => {
      if (this.draining && startsWork.has((payload as { c?: unknown } | null)?.c as string)) {
        this.turnedAway++
        return notServing
      }
      return handler(payload, context)
    })
  }
}
