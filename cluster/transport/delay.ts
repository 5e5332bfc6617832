/**
 * Injected one-way network delay, for benchmarks that stand in for
 * datacenters far apart (0, 10, 50, 100 ms) and for tests. {@link withDelay}
 * wraps a {@link Transport} so that everything its node sends to a peer
 * leaves that many milliseconds later: one-way messages, requests, and the
 * replies of its request handler.
 *
 * What a round trip costs: each wrapper delays its own node's outbound
 * direction, so a request from A to B waits `dA(B)` in A's wrapper on the
 * way out and its reply `dB(A)` in B's wrapper on the way back. With both
 * ends wrapped and the same delay `d` both ways, a round trip costs `2d`
 * plus the network's own time; with only A wrapped it costs `dA(B)`. Build
 * a benchmark's cluster by wrapping every node with its row of the delay
 * matrix.
 *
 * @module
 */

import { MakoError } from '../../lib/errors.js'
import { systemClock } from './clock.js'
import type { Clock, TimerHandle } from './clock.js'
import { TransportCodes, transportError } from './codes.js'
import type { NodeId } from './ids.js'
import { maxRequestTimeout } from './types.js'
import type {
  Link, LinkStats, MessageHandler, RequestContext, RequestHandler, RequestOptions, Transport, TransportEvents,
  TransportLimits
} from './types.js'

/**
 * Messages, requests and replies that may wait in the delay of one peer at
 * once. One more is refused with `MAKO_BACKPRESSURE`, as a full send buffer
 * would refuse it.
 */
export const maxDelayedMessages = 65_536

/**
 * A view of `transport` that delays what it sends to each peer by
 * `delayMs(peer)` milliseconds (at least; timers may fire late), keeping
 * per-peer FIFO order among messages, requests and replies. `delayMs` is
 * asked at every send, so a delay may change during a run; order is kept
 * across the change (a shorter delay waits for what was sent before it).
 *
 * A delay of 0 for a peer with nothing waiting passes the call straight
 * through: no timer, no allocation.
 *
 * Semantics next to the transport's:
 * - A call fails at once for what is known at the call: a link that is down
 *   or a closed transport (the transport's own error), a full delay queue
 *   (`MAKO_BACKPRESSURE`), a bad request timeout.
 * - A message that waits is handed to the transport with `trySend` when its
 *   delay is over. If it cannot go then (the send buffer is full, it is too
 *   large, it does not encode) it is lost, as a network loses what is in
 *   flight; the link's `droppedSends` counts the first case only.
 * - A request's timeout counts from the call: it leaves with what remains
 *   of it, and fails with `MAKO_TIMEOUT` without leaving when its delay is
 *   longer than its timeout. Aborting its signal while it waits fails it
 *   with `MAKO_CANCELLED` and it never leaves. Those two are not counted in
 *   the link's statistics.
 * - A reply waits in the same queue as the messages to the requester, from
 *   when the handler's answer is ready; the transport drops it, as any late
 *   reply, if the requester's deadline passes meanwhile. (An answer still
 *   pending when the delay to its requester first turns from 0 to more may
 *   go before what was delayed meanwhile: the one gap in FIFO order, which
 *   keeps zero delay free of any wrapping.)
 * - When the link to a peer goes down, what waits for it is lost: its
 *   requests fail with `MAKO_PEER_DOWN` and nothing is carried into the next
 *   session.
 * - Incoming messages and requests are not delayed: the sender's wrapper
 *   delays them.
 *
 * `close()` fails what waits with `MAKO_CLOSED` and closes `transport`.
 * Link statistics are the transport's own.
 *
 * @example
 * ```ts
 * // This node is in datacenter `here`; oneWayMs[x][y] is the delay from x to y.
 * // Wrap below Channels, so that every channel of the node is delayed.
 * const channels = new Channels(withDelay(ws, (peer) => oneWayMs[here][datacenterOf(peer)]))
 * ```
 *
 * @param transport The transport to wrap; its handlers are set through the view.
 * @param delayMs The one-way delay to a peer in milliseconds: finite and not
 *   negative, else the call fails with `MAKO_INVALID_CONFIG`.
 * @param clock Time and timers; the simulator's virtual clock in simulations.
 *   Defaults to {@link systemClock}.
 */
export function withDelay (transport: Transport, delayMs: (peer: NodeId) => number, clock: Clock = systemClock): Transport {
  return new DelayTransport(transport, delayMs, clock)
}

/** What waits in a delay queue. */
const Kind = { message: 0, request: 1, reply: 2 } as const
type Kind = typeof Kind[keyof typeof Kind]

/**
 * One item of a delay queue. One class with every field (rather than a
 * union of shapes) keeps the queue's array and the release switch
 * monomorphic for V8.
 */
class Delayed {
  due = 0
  readonly kind: Kind
  /** The message, the request's payload, or the reply's value or error. */
  readonly payload: unknown
  /** For a reply: whether it resolves (else rejects with `payload`). */
  readonly ok: boolean
  readonly resolve: (value: unknown) => void
  readonly reject: (reason: unknown) => void
  /** For a request: clock time of its deadline. */
  deadline = 0
  signal: AbortSignal | undefined = undefined
  onAbort: (() => void) | undefined = undefined
  timer: TimerHandle | undefined = undefined
  /** For a request: it failed while waiting and is skipped. */
  done = false

  constructor (kind: Kind, payload: unknown, ok: boolean, resolve: (value: unknown) => void, reject: (reason: unknown) => void) {
    this.kind = kind
    this.payload = payload
    this.ok = ok
    this.resolve = resolve
    this.reject = reject
  }
}

const ignore = (): void => {}

/** The items waiting for one peer, in the order they were sent (so by `due`). */
class PeerQueue {
  readonly peer: NodeId
  items: Array<Delayed | undefined> = []
  head = 0
  /** Due time of the last item queued: a later item is never due earlier. */
  lastDue = -Infinity
  timer: TimerHandle | undefined = undefined
  timerAt = 0
  /** A drain continues in a microtask (see DelayTransport.#drain). */
  hop = false
  /** The timer callback, made once per peer rather than once per arming. */
  fire: () => void = ignore

  constructor (peer: NodeId) {
    this.peer = peer
  }

  get size (): number {
    return this.items.length - this.head
  }
}

function isThenable (value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
}

/**
 * The view {@link withDelay} returns.
 *
 * @internal
 */
class DelayTransport implements Transport {
  readonly nodeId: NodeId
  readonly limits: Readonly<TransportLimits>
  readonly #transport: Transport
  readonly #delayMs: (peer: NodeId) => number
  readonly #clock: Clock
  readonly #queues = new Map<NodeId, PeerQueue>()
  readonly #links = new Map<NodeId, DelayLink>()
  readonly #offPeerDown: () => void
  #closed: MakoError | undefined

  constructor (transport: Transport, delayMs: (peer: NodeId) => number, clock: Clock) {
    this.#transport = transport
    this.#delayMs = delayMs
    this.#clock = clock
    this.nodeId = transport.nodeId
    this.limits = transport.limits
    // Subscribed before any listener of the caller's, so that requests
    // waiting here have failed when the caller hears of peerDown, as the
    // transport's own waiting requests have.
    this.#offPeerDown = transport.on('peerDown', (peer, reason) => {
      const queue = this.#queues.get(peer)
      if (queue !== undefined) {
        this.#flush(queue, transportError(`The link to ${peer} went down (${reason.code})`, TransportCodes.peerDown, reason))
      }
    })
  }

  link (peer: NodeId): Link {
    let link = this.#links.get(peer)
    if (link === undefined) {
      link = new DelayLink(this, this.#transport.link(peer))
      this.#links.set(peer, link)
    }
    return link
  }

  peers (): NodeId[] {
    return this.#transport.peers()
  }

  send (peer: NodeId, payload: unknown): void {
    const delay = this.#delay(peer)
    const queue = this.#queueFor(peer, delay)
    if (queue === undefined) {
      this.#transport.send(peer, payload)
      return
    }
    this.#checkRoom(queue)
    this.#enqueue(queue, new Delayed(Kind.message, payload, true, ignore, ignore), delay)
  }

  trySend (peer: NodeId, payload: unknown): boolean {
    const delay = this.#delay(peer)
    const queue = this.#queueFor(peer, delay)
    if (queue === undefined) return this.#transport.trySend(peer, payload)
    if (queue.size >= maxDelayedMessages) return false
    this.#enqueue(queue, new Delayed(Kind.message, payload, true, ignore, ignore), delay)
    return true
  }

  request (peer: NodeId, payload: unknown, options?: RequestOptions): Promise<unknown> {
    let delay: number
    let queue: PeerQueue | undefined
    try {
      delay = this.#delay(peer)
      queue = options?.signal?.aborted === true ? undefined : this.#queueFor(peer, delay)
    } catch (err) {
      return Promise.reject(err)
    }
    // A request that cannot go (pre-aborted, link down) or has no delay is
    // the transport's to handle, with its errors and counters.
    if (queue === undefined) return this.#transport.request(peer, payload, options)
    const timeout = options?.timeout ?? this.limits.requestTimeout
    if (typeof timeout !== 'number' || !(timeout >= 0) || timeout > maxRequestTimeout) {
      return Promise.reject(new MakoError(`Request timeout must be 0 to ${maxRequestTimeout} ms`, TransportCodes.invalidArgument))
    }
    try {
      this.#checkRoom(queue)
    } catch (err) {
      return Promise.reject(err)
    }
    const waiting = queue
    return new Promise((resolve, reject) => {
      const item = new Delayed(Kind.request, payload, true, resolve, reject)
      const now = this.#clock.now()
      item.deadline = now + timeout
      this.#enqueue(waiting, item, delay)
      if (item.due >= item.deadline) {
        // It would leave after its deadline: it fails at the deadline, as
        // it would had it left and found no answer.
        item.timer = this.#clock.setTimer(item.deadline - now, () => {
          item.timer = undefined
          this.#fail(item, transportError(`Request to ${peer} timed out`, TransportCodes.timeout))
        })
      }
      const signal = options?.signal
      if (signal !== undefined) {
        item.signal = signal
        item.onAbort = () => {
          this.#fail(item, new MakoError(`Request to ${peer} cancelled`, TransportCodes.cancelled, { cause: signal.reason }))
        }
        signal.addEventListener('abort', item.onAbort, { once: true })
      }
    })
  }

  onMessage (handler: MessageHandler): void {
    this.#transport.onMessage(handler)
  }

  onRequest (handler: RequestHandler): void {
    this.#transport.onRequest((payload, context) => this.#handle(handler, payload, context))
  }

  on<E extends keyof TransportEvents>(event: E, listener: TransportEvents[E]): () => void {
    return this.#transport.on(event, listener)
  }

  waitForPeer (peer: NodeId, options?: RequestOptions): Promise<void> {
    return this.#transport.waitForPeer(peer, options)
  }

  close (): Promise<void> {
    if (this.#closed === undefined) {
      this.#closed = transportError(`Transport ${this.nodeId} closed`, TransportCodes.closed)
      for (const queue of this.#queues.values()) this.#flush(queue, this.#closed)
      this.#offPeerDown()
    }
    return this.#transport.close()
  }

  /**
   * Runs the handler and holds its reply for the requester's delay. The
   * promise returned is the one the transport waits on, made here rather
   * than chained to the handler's: the transport writes the reply in the
   * microtask its resolution queues, which #drain relies on for order.
   *
   * Whether to hold a reply is decided once the handler has returned, so
   * that what the handler itself sent is seen. A reply still to come (a
   * promise) goes straight through only while nothing was ever delayed to
   * the peer and its delay is 0: the one gap in FIFO order, when a peer's
   * delay first turns from 0 to more while such a reply is pending.
   */
  #handle (handler: RequestHandler, payload: unknown, context: RequestContext): unknown {
    const peer = context.from
    let result: unknown
    try {
      result = handler(payload, context)
    } catch (err) {
      if (this.#queueFor(peer, this.#delay(peer)) === undefined) throw err
      return new Promise((resolve, reject) => { this.#reply(peer, false, err, resolve, reject) })
    }
    if (isThenable(result)) {
      if (!this.#queues.has(peer) && this.#delay(peer) === 0) return result
      const pending = result
      return new Promise((resolve, reject) => {
        pending.then((value) => { this.#reply(peer, true, value, resolve, reject) }, (err: unknown) => { this.#reply(peer, false, err, resolve, reject) })
      })
    }
    if (this.#queueFor(peer, this.#delay(peer)) === undefined) return result
    return new Promise((resolve, reject) => { this.#reply(peer, true, result, resolve, reject) })
  }

  /** Queues a reply that is ready now; with no delay left it settles at once. */
  #reply (peer: NodeId, ok: boolean, value: unknown, resolve: (value: unknown) => void, reject: (reason: unknown) => void): void {
    let delay: number
    let queue: PeerQueue | undefined
    try {
      delay = this.#delay(peer)
      queue = this.#queueFor(peer, delay)
    } catch (err) {
      reject(err)
      return
    }
    if (queue === undefined) {
      if (ok) resolve(value)
      else reject(value)
      return
    }
    // Replies are never refused for a full queue: the requester waits for
    // them, and its in-flight limit bounds them.
    this.#enqueue(queue, new Delayed(Kind.reply, value, ok, resolve, reject), delay)
  }

  /** The delay to `peer`, checked. */
  #delay (peer: NodeId): number {
    const delay = this.#delayMs(peer)
    if (typeof delay !== 'number' || !(delay >= 0) || delay === Infinity) {
      throw new MakoError(`The delay to ${peer} must be a finite number of milliseconds, not ${String(delay)}`, TransportCodes.invalidConfig)
    }
    return delay
  }

  /**
   * The queue a call to `peer` goes through, or undefined when it goes
   * straight to the transport: no delay and nothing waiting, or a closed
   * transport or a link that is down, for the transport to refuse.
   */
  #queueFor (peer: NodeId, delay: number): PeerQueue | undefined {
    let queue = this.#queues.get(peer)
    if (delay === 0 && (queue === undefined || queue.size === 0)) return undefined
    if (this.#closed !== undefined || !this.#transport.link(peer).up) return undefined
    if (queue === undefined) {
      const created = new PeerQueue(peer)
      created.fire = () => {
        created.timer = undefined
        this.#drain(created, Math.max(this.#clock.now(), created.timerAt))
      }
      this.#queues.set(peer, created)
      queue = created
    }
    return queue
  }

  #checkRoom (queue: PeerQueue): void {
    if (queue.size >= maxDelayedMessages) {
      throw transportError(`${maxDelayedMessages} messages already wait in the delay to ${queue.peer}`, TransportCodes.backpressure)
    }
  }

  #enqueue (queue: PeerQueue, item: Delayed, delay: number): void {
    const now = this.#clock.now()
    item.due = Math.max(now + delay, queue.lastDue)
    queue.lastDue = item.due
    queue.items.push(item)
    // A queue with items has its timer armed for its head, or a drain in a
    // microtask; an empty one has neither.
    if (queue.timer === undefined && !queue.hop) this.#arm(queue, item.due, now)
  }

  #arm (queue: PeerQueue, at: number, now: number): void {
    if (queue.timer !== undefined) this.#clock.clearTimer(queue.timer)
    queue.timerAt = at
    queue.timer = this.#clock.setTimer(at - now, queue.fire)
  }

  /**
   * Releases every item due by `now`, in order. After a reply it stops and
   * goes on in a microtask: the reply is written by the transport in the
   * microtask its promise's resolution queued, which runs first, so a
   * message released after the reply also goes after it.
   */
  #drain (queue: PeerQueue, now: number): void {
    queue.hop = false
    if (queue.timer !== undefined) {
      this.#clock.clearTimer(queue.timer)
      queue.timer = undefined
    }
    while (queue.head < queue.items.length) {
      const item = queue.items[queue.head] as Delayed
      if (item.due > now) break
      queue.items[queue.head++] = undefined
      if (this.#release(queue.peer, item) && (queue.items[queue.head]?.due ?? Infinity) <= now) {
        queue.hop = true
        queueMicrotask(() => { this.#drain(queue, now) })
        return
      }
    }
    if (queue.head === queue.items.length) {
      queue.items = []
      queue.head = 0
      return
    }
    if (queue.head > 1024 && queue.head * 2 > queue.items.length) {
      queue.items = queue.items.slice(queue.head)
      queue.head = 0
    }
    this.#arm(queue, (queue.items[queue.head] as Delayed).due, this.#clock.now())
  }

  /** Hands one item to the transport; true for a reply. */
  #release (peer: NodeId, item: Delayed): boolean {
    switch (item.kind) {
      case Kind.message:
        try {
          this.#transport.trySend(peer, item.payload)
        } catch {
          // Too large or not encodable: lost, as documented on withDelay.
        }
        return false
      case Kind.request: {
        if (item.done) return false
        this.#settle(item)
        const remaining = item.deadline - this.#clock.now()
        if (remaining <= 0) {
          item.reject(transportError(`Request to ${peer} timed out`, TransportCodes.timeout))
          return false
        }
        const options: RequestOptions = item.signal === undefined ? { timeout: remaining } : { timeout: remaining, signal: item.signal }
        this.#transport.request(peer, item.payload, options).then(item.resolve, item.reject)
        return false
      }
      case Kind.reply:
        if (item.ok) item.resolve(item.payload)
        else item.reject(item.payload)
        return true
    }
  }

  /** Takes a waiting request off its timer and signal. */
  #settle (item: Delayed): void {
    item.done = true
    if (item.timer !== undefined) {
      this.#clock.clearTimer(item.timer)
      item.timer = undefined
    }
    if (item.onAbort !== undefined) {
      item.signal?.removeEventListener('abort', item.onAbort)
      item.onAbort = undefined
    }
  }

  /** Fails a request that waits; it stays in its queue, skipped. */
  #fail (item: Delayed, reason: MakoError): void {
    if (item.done) return
    this.#settle(item)
    item.reject(reason)
  }

  /**
   * Empties a queue: messages are lost, requests fail with `reason`,
   * replies are handed over (the transport drops them, their session being
   * over).
   */
  #flush (queue: PeerQueue, reason: MakoError): void {
    const items = queue.items
    const head = queue.head
    queue.items = []
    queue.head = 0
    queue.lastDue = -Infinity
    if (queue.timer !== undefined) {
      this.#clock.clearTimer(queue.timer)
      queue.timer = undefined
    }
    for (let i = head; i < items.length; i++) {
      const item = items[i]
      if (item === undefined) continue
      if (item.kind === Kind.request) this.#fail(item, reason)
      else if (item.kind === Kind.reply) this.#release(queue.peer, item)
    }
  }
}

/**
 * A peer's link through the delay: calls go through the transport view, so
 * they wait in the same queue.
 *
 * @internal
 */
class DelayLink implements Link {
  readonly peer: NodeId
  readonly #view: DelayTransport
  readonly #link: Link

  constructor (view: DelayTransport, link: Link) {
    this.#view = view
    this.#link = link
    this.peer = link.peer
  }

  get up (): boolean {
    return this.#link.up
  }

  send (payload: unknown): void {
    this.#view.send(this.peer, payload)
  }

  trySend (payload: unknown): boolean {
    return this.#view.trySend(this.peer, payload)
  }

  request (payload: unknown, options?: RequestOptions): Promise<unknown> {
    return this.#view.request(this.peer, payload, options)
  }

  /** The transport's buffer only: what waits in the delay is not counted. */
  drained (): Promise<void> {
    return this.#link.drained()
  }

  /** The transport's counters for this link. */
  stats (): LinkStats {
    return this.#link.stats()
  }
}
