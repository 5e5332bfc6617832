/**
 * The part of a link that does not depend on how bytes move: request ids,
 * deadlines, cancellation, the in-flight limit and its wait queue, handler
 * dispatch, backpressure accounting and statistics. The WebSocket transport
 * and the simulator give it a {@link LinkWire} per session; everything else
 * is shared, so both pass the same acceptance suite for the same reasons.
 *
 * @module
 * @internal
 */

import { assert, MakoError } from '../../lib/errors.js'
import type { Clock, TimerHandle } from './clock.js'
import { DeadlineQueue } from './deadlines.js'
import { encodeEnvelope, Tag, WireError } from './codec.js'
import type { SessionEnvelope, WireLimits } from './codec.js'
import { TransportCodes, transportError } from './codes.js'
import type { NodeId } from './ids.js'
import { maxRequestTimeout } from './types.js'
import type {
  Link, LinkStats, MessageHandler, RequestContext, RequestHandler, RequestOptions, TransportLimits
} from './types.js'

/**
 * How a session moves encoded envelopes. One wire lives as long as one
 * session.
 *
 * @internal
 */
export interface LinkWire {
  /**
   * Queues one encoded envelope; it goes out after everything written before.
   *
   * @param bytes The envelope.
   */
  write(bytes: Uint8Array): void
  /** Bytes written to this wire and not yet handed to the network. */
  bufferedBytes(): number
  /**
   * Ends the session because the peer broke a rule.
   *
   * @param code The `MAKO_*` reason.
   * @param detail For people.
   */
  fail(code: string, detail: string): void
}

/**
 * What a link needs from the transport that owns it.
 *
 * @internal
 */
export interface LinkHost {
  /** This node. */
  readonly nodeId: NodeId
  /** Time and timers for deadlines. */
  readonly clock: Clock
  /** The node's own limits. */
  readonly limits: Readonly<TransportLimits>
  /** The current one-way message handler. */
  readonly messageHandler: MessageHandler | undefined
  /** The current request handler. */
  readonly requestHandler: RequestHandler | undefined
  /** @param peer The peer whose link came up. */
  linkUp(peer: NodeId): void
  /** @param peer The peer whose link went down. @param reason Why. */
  linkDown(peer: NodeId, reason: MakoError): void
  /** @param peer The peer. @param error What a handler threw. */
  handlerFailed(peer: NodeId, error: unknown): void
}

/** A request of ours, from `request()` until it settles. */
interface Outgoing {
  readonly id: number
  /** The encoded request while it waits for a slot; dropped once sent. */
  bytes: Uint8Array | undefined
  state: 'queued' | 'sent' | 'done'
  readonly resolve: (value: unknown) => void
  readonly reject: (reason: unknown) => void
  signal: AbortSignal | undefined
  onAbort: (() => void) | undefined
}

/**
 * A request from the peer being handled; also the handler's
 * {@link RequestContext}. The abort controller is made only when the
 * handler reads `signal`: most handlers answer at once and never do.
 *
 * @internal
 */
export class IncomingRequest implements RequestContext {
  /** @internal */
  done = false
  #controller: AbortController | undefined
  #timer: TimerHandle | undefined
  readonly #clock: Clock
  /** @internal */
  readonly id: number
  /** @internal */
  readonly session: number
  /** The authenticated peer that sent the request. */
  readonly from: NodeId
  /** Clock time after which the reply is dropped. */
  readonly deadline: number

  /** @internal */
  constructor (id: number, session: number, from: NodeId, deadline: number, clock: Clock) {
    this.id = id
    this.session = session
    this.from = from
    this.deadline = deadline
    this.#clock = clock
  }

  /** Aborted on cancel, deadline or link loss. */
  get signal (): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController()
      if (this.done) {
        this.#controller.abort(transportError('The request is over', TransportCodes.cancelled))
      } else {
        const wait = this.deadline - this.#clock.now()
        this.#timer = this.#clock.setTimer(Math.max(0, wait), () => {
          this.#timer = undefined
          this.#controller?.abort(transportError('The request deadline passed', TransportCodes.timeout))
        })
      }
    }
    return this.#controller.signal
  }

  /** @internal */
  finish (reason: MakoError | undefined): void {
    this.done = true
    if (this.#timer !== undefined) {
      this.#clock.clearTimer(this.#timer)
      this.#timer = undefined
    }
    if (reason !== undefined && this.#controller !== undefined && !this.#controller.signal.aborted) {
      this.#controller.abort(reason)
    }
  }
}

function isThenable (value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
}

function emptyStats (): LinkStats {
  return {
    up: false,
    sessions: 0,
    messagesSent: 0,
    messagesReceived: 0,
    requestsSent: 0,
    requestsReceived: 0,
    responsesSent: 0,
    responsesReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    framesSent: 0,
    framesReceived: 0,
    inFlight: 0,
    queuedRequests: 0,
    handling: 0,
    bufferedBytes: 0,
    timeouts: 0,
    cancelled: 0,
    backpressure: 0,
    overloaded: 0,
    lateResponses: 0,
    expiredReplies: 0,
    droppedSends: 0,
    handlerErrors: 0,
    closes: {}
  }
}

/**
 * One peer's link: the shared logic behind {@link Link}.
 *
 * @internal
 */
export class LinkCore implements Link {
  /** The peer. */
  readonly peer: NodeId
  /** Counters the wires update directly (bytes and frames). @internal */
  readonly counters: LinkStats = emptyStats()
  readonly #host: LinkHost
  #wire: LinkWire | undefined
  #session = 0
  #closed: MakoError | undefined
  #nextId = 0
  #peerMaxPayload = 0
  #peerMaxInFlight = 0
  readonly #pending = new Map<number, Outgoing>()
  // A queue with a moving head: requests that time out while queued are
  // marked done and skipped, so removal from the middle is O(1).
  #waiting: Outgoing[] = []
  #waitingHead = 0
  #waitingCount = 0
  #queuedBytes = 0
  readonly #incoming = new Map<number, IncomingRequest>()
  #drainWaiters: Array<{ resolve: () => void, reject: (err: unknown) => void }> = []
  readonly #deadlines: DeadlineQueue<Outgoing>

  /** @internal */
  constructor (peer: NodeId, host: LinkHost) {
    this.peer = peer
    this.#host = host
    this.#deadlines = new DeadlineQueue<Outgoing>(host.clock, (entry) => entry.state !== 'done', (entry) => { this.#giveUp(entry, 'timeout') })
  }

  /** Whether a session is up. */
  get up (): boolean {
    return this.#wire !== undefined
  }

  /** The number of the current (or last) session, from 1. @internal */
  get session (): number {
    return this.#session
  }

  /**
   * Starts a session on `wire`. The peer's limits come from its handshake.
   *
   * @internal
   */
  open (wire: LinkWire, peerLimits: WireLimits): void {
    if (this.#closed !== undefined) {
      wire.fail(TransportCodes.shutdown, 'transport closed')
      return
    }
    if (this.#wire !== undefined) this.closeSession(transportError('Replaced by a new session', TransportCodes.duplicate))
    this.#wire = wire
    this.#session++
    this.counters.sessions++
    this.#peerMaxPayload = peerLimits[0]
    this.#peerMaxInFlight = peerLimits[1]
    this.#host.linkUp(this.peer)
    this.#pump()
  }

  /**
   * Whether `wire` carries the current session.
   *
   * @internal
   */
  isCurrent (wire: LinkWire): boolean {
    return this.#wire === wire
  }

  /**
   * Ends the current session: waiting requests fail with `MAKO_PEER_DOWN`,
   * handlers of the peer's requests see their signal abort, `peerDown` is
   * emitted. Does nothing if no session is up.
   *
   * @param reason Why the session ended; its code is counted in `closes`.
   * @internal
   */
  closeSession (reason: MakoError): void {
    if (this.#wire === undefined) return
    this.#wire = undefined
    this.counters.closes[reason.code] = (this.counters.closes[reason.code] ?? 0) + 1
    const down = this.#closed ?? transportError(`The link to ${this.peer} went down (${reason.code})`, TransportCodes.peerDown, reason)
    this.#failAllOutgoing(down)
    for (const entry of this.#incoming.values()) entry.finish(reason)
    this.#incoming.clear()
    const waiters = this.#drainWaiters
    this.#drainWaiters = []
    for (const waiter of waiters) waiter.reject(down)
    this.#host.linkDown(this.peer, reason)
  }

  /**
   * Closes the link for good: later calls fail with `MAKO_CLOSED`.
   *
   * @internal
   */
  shutdown (reason: MakoError): void {
    this.#closed = reason
    this.closeSession(reason)
    this.#failAllOutgoing(reason)
  }

  #failAllOutgoing (error: MakoError): void {
    const all = [...this.#pending.values()]
    this.#pending.clear()
    for (let i = this.#waitingHead; i < this.#waiting.length; i++) {
      const entry = this.#waiting[i]
      if (entry !== undefined && entry.state === 'queued') all.push(entry)
    }
    this.#deadlines.clear()
    // Settling a queued entry takes it off the wait counters, so the
    // counters are checked, not reset, once every entry is settled.
    const rejects = all.map((entry) => this.#settle(entry))
    assert(this.#waitingCount === 0 && this.#queuedBytes === 0, 'every waiting request was counted once')
    this.#waiting = []
    this.#waitingHead = 0
    for (const reject of rejects) reject?.(error)
  }

  #unavailable (): MakoError {
    return this.#closed ?? transportError(`No link to ${this.peer}`, TransportCodes.peerUnavailable)
  }

  /** The largest envelope this session carries: one byte of each frame is its version. */
  #maxMessageBytes (): number {
    return Math.min(this.#host.limits.maxPayload, this.#peerMaxPayload) - 1
  }

  /** Bytes accepted and not yet on the network, queued requests included. */
  #buffered (wire: LinkWire): number {
    return wire.bufferedBytes() + this.#queuedBytes
  }

  #tooLarge (size: number): MakoError {
    return new MakoError(`Message of ${size} bytes exceeds the ${this.#maxMessageBytes()} allowed on the link to ${this.peer}`,
      TransportCodes.messageTooLarge)
  }

  #backpressure (what: string): MakoError {
    this.counters.backpressure++
    return transportError(`${what} on the link to ${this.peer}`, TransportCodes.backpressure)
  }

  /** Sends a one-way message; see {@link Link.send}. */
  send (payload: unknown): void {
    const wire = this.#wire
    if (wire === undefined) throw this.#unavailable()
    const bytes = encodeEnvelope([Tag.message, payload])
    if (bytes.length > this.#maxMessageBytes()) throw this.#tooLarge(bytes.length)
    if (this.#buffered(wire) + bytes.length > this.#host.limits.maxBufferedBytes) throw this.#backpressure('Send buffer full')
    this.counters.messagesSent++
    wire.write(bytes)
  }

  /** Sends if it can; see {@link Link.trySend}. */
  trySend (payload: unknown): boolean {
    const wire = this.#wire
    if (wire === undefined) {
      this.counters.droppedSends++
      return false
    }
    const bytes = encodeEnvelope([Tag.message, payload])
    if (bytes.length > this.#maxMessageBytes()) throw this.#tooLarge(bytes.length)
    if (this.#buffered(wire) + bytes.length > this.#host.limits.maxBufferedBytes) {
      this.counters.droppedSends++
      return false
    }
    this.counters.messagesSent++
    wire.write(bytes)
    return true
  }

  /** Sends a request; see {@link Link.request}. */
  request (payload: unknown, options?: RequestOptions): Promise<unknown> {
    const wire = this.#wire
    if (wire === undefined) return Promise.reject(this.#unavailable())
    const signal = options?.signal
    if (signal?.aborted === true) {
      this.counters.cancelled++
      return Promise.reject(new MakoError('Request cancelled before it was sent', TransportCodes.cancelled, { cause: signal.reason }))
    }
    const timeout = options?.timeout ?? this.#host.limits.requestTimeout
    if (typeof timeout !== 'number' || !(timeout >= 0) || timeout > maxRequestTimeout) {
      return Promise.reject(new MakoError(`Request timeout must be 0 to ${maxRequestTimeout} ms`, TransportCodes.invalidArgument))
    }
    const id = this.#nextId++
    let bytes: Uint8Array
    try {
      bytes = encodeEnvelope([Tag.request, id, Math.ceil(timeout), payload])
    } catch (err) {
      return Promise.reject(err)
    }
    if (bytes.length > this.#maxMessageBytes()) return Promise.reject(this.#tooLarge(bytes.length))
    const limits = this.#host.limits
    const slotFree = this.#pending.size < Math.min(limits.maxInFlight, this.#peerMaxInFlight) && this.#waitingCount === 0
    if (!slotFree && this.#waitingCount >= limits.maxQueuedRequests) {
      return Promise.reject(this.#backpressure(`${limits.maxQueuedRequests} requests already wait`))
    }
    if (this.#buffered(wire) + bytes.length > limits.maxBufferedBytes) return Promise.reject(this.#backpressure('Send buffer full'))

    return new Promise((resolve, reject) => {
      const entry: Outgoing = { id, bytes, state: 'queued', resolve, reject, signal, onAbort: undefined }
      this.#deadlines.add(entry, timeout)
      if (signal !== undefined) {
        entry.onAbort = () => { this.#giveUp(entry, 'cancel') }
        signal.addEventListener('abort', entry.onAbort, { once: true })
      }
      if (slotFree) {
        this.#dispatch(entry, wire)
      } else {
        this.#waiting.push(entry)
        this.#waitingCount++
        this.#queuedBytes += bytes.length
      }
    })
  }

  #dispatch (entry: Outgoing, wire: LinkWire): void {
    const bytes = entry.bytes
    entry.bytes = undefined
    entry.state = 'sent'
    this.#pending.set(entry.id, entry)
    this.counters.requestsSent++
    if (bytes !== undefined) wire.write(bytes)
  }

  /** Sends requests that wait while slots are free. */
  #pump (): void {
    const wire = this.#wire
    if (wire === undefined) return
    const limit = Math.min(this.#host.limits.maxInFlight, this.#peerMaxInFlight)
    while (this.#waitingCount > 0 && this.#pending.size < limit) {
      assert(this.#waitingHead < this.#waiting.length, 'the wait count matches the wait queue')
      const entry = this.#waiting[this.#waitingHead]
      this.#waiting[this.#waitingHead++] = undefined as unknown as Outgoing
      if (entry === undefined || entry.state !== 'queued') continue
      this.#waitingCount--
      this.#queuedBytes -= entry.bytes?.length ?? 0
      this.#dispatch(entry, wire)
    }
    this.#compactWaiting()
  }

  #compactWaiting (): void {
    if (this.#waitingHead > 1024 && this.#waitingHead * 2 > this.#waiting.length) {
      this.#waiting = this.#waiting.slice(this.#waitingHead)
      this.#waitingHead = 0
    } else if (this.#waitingCount === 0 && this.#waitingHead > 0) {
      this.#waiting = []
      this.#waitingHead = 0
    }
  }

  /**
   * Marks a request settled and undoes its timer and abort listener;
   * returns its `reject` (or undefined if it had settled already).
   */
  #settle (entry: Outgoing): ((reason: unknown) => void) | undefined {
    if (entry.state === 'done') return undefined
    if (entry.state === 'queued') {
      this.#waitingCount--
      this.#queuedBytes -= entry.bytes?.length ?? 0
      entry.bytes = undefined
    }
    entry.state = 'done'
    if (entry.onAbort !== undefined) {
      entry.signal?.removeEventListener('abort', entry.onAbort)
      entry.onAbort = undefined
    }
    return entry.reject
  }

  #giveUp (entry: Outgoing, why: 'timeout' | 'cancel'): void {
    const wasSent = entry.state === 'sent'
    const reject = this.#settle(entry)
    if (reject === undefined) return
    if (wasSent) {
      this.#pending.delete(entry.id)
      // Tell the peer so it can stop work nobody will read. Cancels are tiny
      // and bounded by requests sent, so they bypass the buffer limit.
      this.#wire?.write(encodeEnvelope([Tag.cancel, entry.id]))
      this.#pump()
    } else {
      this.#compactWaiting()
    }
    if (why === 'timeout') {
      this.counters.timeouts++
      reject(transportError(`Request to ${this.peer} timed out`, TransportCodes.timeout))
    } else {
      this.counters.cancelled++
      reject(new MakoError(`Request to ${this.peer} cancelled`, TransportCodes.cancelled, { cause: entry.signal?.reason }))
    }
  }

  /** Resolves when the buffer is at most half full; see {@link Link.drained}. */
  drained (): Promise<void> {
    const wire = this.#wire
    if (wire === undefined) return Promise.reject(this.#unavailable())
    if (this.#buffered(wire) <= this.#host.limits.maxBufferedBytes / 2) return Promise.resolve()
    return new Promise((resolve, reject) => { this.#drainWaiters.push({ resolve, reject }) })
  }

  /**
   * The wire calls this when its buffered bytes went down.
   *
   * @internal
   */
  notifyDrain (): void {
    const wire = this.#wire
    if (wire === undefined || this.#drainWaiters.length === 0) return
    if (this.#buffered(wire) > this.#host.limits.maxBufferedBytes / 2) return
    const waiters = this.#drainWaiters
    this.#drainWaiters = []
    for (const waiter of waiters) waiter.resolve()
  }

  /**
   * Acts on one envelope of the current session.
   *
   * @param envelope A validated envelope.
   * @throws WireError when the peer broke the protocol; the caller ends the session.
   * @internal
   */
  receive (envelope: SessionEnvelope): void {
    switch (envelope[0]) {
      case Tag.message: {
        this.counters.messagesReceived++
        const handler = this.#host.messageHandler
        if (handler === undefined) return
        try {
          handler(this.peer, envelope[1])
        } catch (err) {
          this.counters.handlerErrors++
          this.#host.handlerFailed(this.peer, err)
        }
        return
      }
      case Tag.request:
        this.#receiveRequest(envelope[1], envelope[2], envelope[3])
        return
      case Tag.response: {
        const entry = this.#responseFor(envelope[1])
        if (entry === undefined) return
        this.counters.responsesReceived++
        this.#settle(entry)
        this.#pump()
        entry.resolve(envelope[2])
        return
      }
      case Tag.error: {
        const entry = this.#responseFor(envelope[1])
        if (entry === undefined) return
        this.counters.responsesReceived++
        const reject = this.#settle(entry)
        this.#pump()
        reject?.(new MakoError(envelope[3], envelope[2], { transient: envelope[4] }))
        return
      }
      case Tag.cancel: {
        const entry = this.#incoming.get(envelope[1])
        if (entry === undefined) return
        this.#incoming.delete(entry.id)
        entry.finish(new MakoError('The requester cancelled', TransportCodes.cancelled))
      }
    }
  }

  #responseFor (id: number): Outgoing | undefined {
    const entry = this.#pending.get(id)
    if (entry !== undefined) {
      this.#pending.delete(id)
      return entry
    }
    if (id >= this.#nextId) throw new WireError(`Response to request ${id}, which was never sent`, TransportCodes.badMessage)
    this.counters.lateResponses++
    return undefined
  }

  #receiveRequest (id: number, timeout: number, payload: unknown): void {
    this.counters.requestsReceived++
    // A duplicate id can only come from a network that duplicates (the
    // simulator, when asked to): the first copy is being handled already.
    if (this.#incoming.has(id)) return
    if (this.#incoming.size >= this.#host.limits.maxInFlight) {
      this.counters.overloaded++
      this.#writeReply(encodeEnvelope([Tag.error, id, TransportCodes.backpressure, `More than ${this.#host.limits.maxInFlight} requests in flight`, true]))
      return
    }
    const handler = this.#host.requestHandler
    if (handler === undefined) {
      this.#writeReply(encodeEnvelope([Tag.error, id, TransportCodes.noHandler, `${this.#host.nodeId} has no request handler`, false]))
      return
    }
    const clock = this.#host.clock
    const entry = new IncomingRequest(id, this.#session, this.peer, clock.now() + timeout, clock)
    let result: unknown
    try {
      result = handler(payload, entry)
    } catch (err) {
      this.#replyError(entry, err)
      return
    }
    if (isThenable(result)) {
      // Only a request still being handled can be cancelled, counted or
      // duplicated, so only those enter the map (a sync reply would add and
      // remove its entry at once, which profiled at 14 % of a busy server).
      this.#incoming.set(id, entry)
      result.then((value) => { this.#reply(entry, value) }, (err: unknown) => { this.#replyError(entry, err) })
    } else {
      this.#reply(entry, result)
    }
  }

  /** Whether a reply to `entry` should still go out; finishes the entry. */
  #claim (entry: IncomingRequest): boolean {
    if (entry.done) {
      this.counters.expiredReplies++
      return false
    }
    this.#incoming.delete(entry.id)
    entry.finish(undefined)
    if (entry.session !== this.#session || this.#wire === undefined) return false
    if (this.#host.clock.now() > entry.deadline) {
      this.counters.expiredReplies++
      return false
    }
    return true
  }

  #reply (entry: IncomingRequest, value: unknown): void {
    if (!this.#claim(entry)) return
    let bytes: Uint8Array
    try {
      bytes = encodeEnvelope([Tag.response, entry.id, value])
    } catch (err) {
      this.#writeReply(encodeEnvelope([Tag.error, entry.id, TransportCodes.encode, 'The response could not be encoded', false]))
      this.counters.handlerErrors++
      this.#host.handlerFailed(this.peer, err)
      return
    }
    if (bytes.length > this.#maxMessageBytes()) {
      this.#writeReply(encodeEnvelope([Tag.error, entry.id, TransportCodes.messageTooLarge, `The response of ${bytes.length} bytes is too large`, false]))
      return
    }
    this.#writeReply(bytes)
  }

  #replyError (entry: IncomingRequest, err: unknown): void {
    if (!this.#claim(entry)) return
    let code: string = TransportCodes.remoteError
    let message = 'The request handler failed'
    let transient = false
    if (err instanceof MakoError && /^[A-Z][A-Z0-9_]{0,63}$/.test(err.code)) {
      code = err.code
      message = err.message.slice(0, 2048)
      transient = err.transient
    } else {
      this.counters.handlerErrors++
      this.#host.handlerFailed(this.peer, err)
    }
    this.#writeReply(encodeEnvelope([Tag.error, entry.id, code, message, transient]))
  }

  /**
   * Replies are never refused for a full buffer (the peer is waiting for
   * them and bounds them by its in-flight limit), but a peer that lets twice
   * the limit pile up is not reading and is closed.
   */
  #writeReply (bytes: Uint8Array): void {
    const wire = this.#wire
    if (wire === undefined) return
    if (this.#buffered(wire) + bytes.length > 2 * this.#host.limits.maxBufferedBytes) {
      wire.fail(TransportCodes.slowReader, 'replies piled up unread')
      return
    }
    this.counters.responsesSent++
    wire.write(bytes)
  }

  /** A snapshot of this link's counters; see {@link Link.stats}. */
  stats (): LinkStats {
    const wire = this.#wire
    return {
      ...this.counters,
      closes: { ...this.counters.closes },
      up: wire !== undefined,
      inFlight: this.#pending.size,
      queuedRequests: this.#waitingCount,
      handling: this.#incoming.size,
      bufferedBytes: wire === undefined ? 0 : this.#buffered(wire)
    }
  }
}
