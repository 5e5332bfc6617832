/**
 * What every {@link Transport} shares: the links by peer, the handlers, the
 * events and the calls that only forward to a link. Implementations add how
 * sessions start and end.
 *
 * @module
 * @internal
 */

import { MakoError } from '../../lib/errors.js'
import type { Clock } from './clock.js'
import { TransportCodes, transportError } from './codes.js'
import { Listeners } from './emitter.js'
import { isValidId } from './ids.js'
import type { NodeId } from './ids.js'
import { LinkCore } from './link-core.js'
import type { LinkHost } from './link-core.js'
import { defaultTransportLimits, maxRequestTimeout } from './types.js'
import type {
  Link, MessageHandler, RequestHandler, RequestOptions, Transport, TransportEvents, TransportLimits
} from './types.js'

/**
 * Merges limits with the defaults and checks them.
 *
 * @param limits Limits given by the caller.
 * @throws MakoError `MAKO_INVALID_CONFIG` for a limit out of range.
 * @internal
 */
export function resolveTransportLimits (limits: Partial<TransportLimits> = {}): Readonly<TransportLimits> {
  const merged: TransportLimits = { ...defaultTransportLimits }
  for (const [key, value] of Object.entries(limits) as Array<[keyof TransportLimits, number | undefined]>) {
    if (value !== undefined) merged[key] = value
  }
  const positiveInteger = (name: keyof TransportLimits, min: number, max: number): void => {
    const value = merged[name]
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new MakoError(`${name} must be an integer from ${min} to ${max}`, TransportCodes.invalidConfig)
    }
  }
  positiveInteger('maxPayload', 1024, 2 ** 31)
  positiveInteger('maxInFlight', 1, 2 ** 24)
  positiveInteger('maxQueuedRequests', 0, 2 ** 30)
  positiveInteger('maxBufferedBytes', 1024, 2 ** 40)
  positiveInteger('requestTimeout', 0, maxRequestTimeout)
  if (merged.maxPayload > merged.maxBufferedBytes) {
    throw new MakoError('maxPayload must not exceed maxBufferedBytes', TransportCodes.invalidConfig)
  }
  return Object.freeze(merged)
}

/**
 * The shared half of a transport.
 *
 * @internal
 */
export abstract class TransportBase implements Transport, LinkHost {
  /** This node. */
  readonly nodeId: NodeId
  /** The limits in force. */
  readonly limits: Readonly<TransportLimits>
  /** Time and timers for deadlines. @internal */
  readonly clock: Clock
  /** @internal */
  messageHandler: MessageHandler | undefined
  /** @internal */
  requestHandler: RequestHandler | undefined
  /** @internal */
  protected readonly links = new Map<NodeId, LinkCore>()
  // Insertion order of a Set is the order links came up, which peers() promises.
  readonly #upPeers = new Set<NodeId>()
  readonly #events = new Listeners<TransportEvents>()
  /** Pending {@link waitForPeer} calls, ended by close. */
  readonly #waits = new Set<(err?: unknown) => void>()
  /** Set once close() starts. @internal */
  protected closing: MakoError | undefined

  /** @internal */
  constructor (nodeId: NodeId, limits: Readonly<TransportLimits>, clock: Clock) {
    this.nodeId = nodeId
    this.limits = limits
    this.clock = clock
  }

  /** The link to `peer`, created on first use. */
  link (peer: NodeId): Link {
    return this.linkCore(peer)
  }

  /**
   * The link to `peer` with its internal half, created on first use.
   *
   * @internal
   */
  linkCore (peer: NodeId): LinkCore {
    let link = this.links.get(peer)
    if (link === undefined) {
      if (!isValidId(peer)) throw new MakoError(`Invalid peer id: ${String(peer).slice(0, 80)}`, TransportCodes.invalidArgument)
      link = new LinkCore(peer, this)
      if (this.closing !== undefined) link.shutdown(this.closing)
      this.links.set(peer, link)
    }
    return link
  }

  /** Peers with a link up now, in the order their links came up. */
  peers (): NodeId[] {
    return [...this.#upPeers]
  }

  /** Sends a one-way message. */
  send (peer: NodeId, payload: unknown): void {
    this.linkCore(peer).send(payload)
  }

  /** Sends if it can. */
  trySend (peer: NodeId, payload: unknown): boolean {
    return this.linkCore(peer).trySend(payload)
  }

  /** Sends a request. */
  request (peer: NodeId, payload: unknown, options?: RequestOptions): Promise<unknown> {
    return this.linkCore(peer).request(payload, options)
  }

  /** Sets the one-way message handler. */
  onMessage (handler: MessageHandler): void {
    this.messageHandler = handler
  }

  /** Sets the request handler. */
  onRequest (handler: RequestHandler): void {
    this.requestHandler = handler
  }

  /** Subscribes to an event. */
  on<E extends keyof TransportEvents>(event: E, listener: TransportEvents[E]): () => void {
    return this.#events.on(event, listener)
  }

  /** Resolves when the link to `peer` is up. */
  waitForPeer (peer: NodeId, options: RequestOptions = {}): Promise<void> {
    if (this.closing !== undefined) return Promise.reject(this.closing)
    if (this.link(peer).up) return Promise.resolve()
    const timeout = options.timeout ?? this.limits.requestTimeout
    return new Promise((resolve, reject) => {
      const done = (err?: unknown): void => {
        this.#waits.delete(done)
        off()
        this.clock.clearTimer(timer)
        options.signal?.removeEventListener('abort', onAbort)
        if (err === undefined) resolve()
        else reject(err)
      }
      const off = this.on('peerUp', (up) => { if (up === peer) done() })
      // Closing the transport ends the wait at once, not at its timeout.
      this.#waits.add(done)
      const timer = this.clock.setTimer(timeout, () => { done(transportError(`${peer} did not come up in time`, TransportCodes.timeout)) })
      const onAbort = (): void => { done(new MakoError('Wait cancelled', TransportCodes.cancelled)) }
      options.signal?.addEventListener('abort', onAbort, { once: true })
      if (options.signal?.aborted === true) onAbort()
    })
  }

  /** @internal */
  linkUp (peer: NodeId): void {
    this.#upPeers.add(peer)
    this.#report(peer, this.#events.emit('peerUp', peer))
  }

  /** @internal */
  linkDown (peer: NodeId, reason: MakoError): void {
    this.#upPeers.delete(peer)
    this.#report(peer, this.#events.emit('peerDown', peer, reason))
  }

  /** @internal */
  handlerFailed (peer: NodeId, error: unknown): void {
    // Errors of handlerError listeners themselves are dropped: reporting them
    // through the same event could loop.
    this.#events.emit('handlerError', peer, error)
  }

  #report (peer: NodeId, errors: unknown[]): void {
    for (const err of errors) this.handlerFailed(peer, err)
  }

  /**
   * Shuts every link: later calls fail with `reason`.
   *
   * @internal
   */
  protected shutdownLinks (reason: MakoError): void {
    for (const link of this.links.values()) link.shutdown(reason)
    for (const done of [...this.#waits]) done(reason)
  }

  /** Closes the transport. */
  abstract close (): Promise<void>
}
