/**
 * Several services on one transport. A node process has one node id and one
 * connection per peer, but hosts several protocol instances (a replica of
 * each Paxos shard it carries, the transaction service), each written against
 * a {@link Transport} of its own with one message and one request handler.
 * {@link Channels} gives each a named view of the shared transport: what a
 * view sends travels as `[name, payload]`, and what arrives is handed to the
 * view of that name.
 *
 * The tag costs one two-element array per message and the name's bytes on
 * the wire; the payload is not encoded twice, since msgpackr encodes the
 * array and the payload in one pass.
 *
 * @module
 */

import { MakoError } from '../../lib/errors.js'
import { TransportCodes, transportError } from './codes.js'
import { Listeners } from './emitter.js'
import type { NodeId } from './ids.js'
import type {
  Link, LinkStats, MessageHandler, RequestContext, RequestHandler, RequestOptions, Transport, TransportEvents,
  TransportLimits
} from './types.js'

/** The longest channel name accepted, in characters. */
export const maxChannelNameLength = 64

/**
 * Codes of the errors {@link Channels} adds to those of the transport
 * ({@link TransportCodes}).
 */
export const ChannelCodes = {
  /**
   * A request named a channel that is not open on the peer (never opened,
   * not yet opened, or closed). Transient: a service that is still starting
   * may open it soon.
   */
  unknownChannel: 'MAKO_UNKNOWN_CHANNEL'
} as const

/**
 * Counters of one {@link Channels}, for what no channel could be given.
 * All start at zero.
 */
export interface ChannelsStats {
  /** Channels open now. */
  open: number
  /** Messages for a channel not open here, dropped. */
  unknownChannelMessages: number
  /** Requests for a channel not open here, answered `MAKO_UNKNOWN_CHANNEL`. */
  unknownChannelRequests: number
  /** Messages that were not a `[name, payload]` pair, dropped. */
  malformedMessages: number
  /** Requests that were not a `[name, payload]` pair, answered `MAKO_BAD_MESSAGE`. */
  malformedRequests: number
}

/** What travels on the shared transport: a channel name and the channel's payload. */
type Tagged = [name: string, payload: unknown]

/**
 * Whether a payload from the wire is a tagged pair. A peer running other
 * code may send anything; this is the whole check, so it must not throw.
 */
function isTagged (payload: unknown): payload is Tagged {
  return Array.isArray(payload) && payload.length === 2 && typeof payload[0] === 'string'
}

/** A name from the wire, made safe to quote in an error message. */
function quote (name: string): string {
  return JSON.stringify(name.length > maxChannelNameLength ? `${name.slice(0, maxChannelNameLength)}...` : name)
}

/**
 * Named views of one {@link Transport}, so that several services share a
 * node id and its connections.
 *
 * A `Channels` takes over the transport's message and request handlers when
 * it is made: set handlers on the channels from then on, never on the
 * transport itself. It owns the transport: {@link Channels.close} closes it.
 *
 * Guarantees: each channel keeps the transport's per-link order among its
 * own messages, requests and responses (the channels of one link share it,
 * so a channel's traffic is also ordered with the others'); a busy channel
 * delays the others on the same link, since they share its buffers and
 * in-flight limits.
 *
 * @example
 * ```ts
 * const channels = new Channels(transport)
 * const shard1 = PaxosNode.start({ transport: channels.channel('paxos/1'), members, storage })
 * const txns = channels.channel('txn')
 * txns.onRequest((payload, ctx) => service.handle(payload, ctx))
 * ```
 */
export class Channels {
  /** The shared transport. */
  readonly transport: Transport
  readonly #open = new Map<string, ChannelTransport>()
  readonly #stats = {
    unknownChannelMessages: 0,
    unknownChannelRequests: 0,
    malformedMessages: 0,
    malformedRequests: 0
  }

  readonly #unsubscribe: Array<() => void>
  #closing: Promise<void> | undefined

  /**
   * Takes over `transport`'s handlers and subscribes to its events.
   *
   * @param transport The transport the channels share. Its message and
   *   request handlers are replaced; it is closed by {@link Channels.close}.
   */
  constructor (transport: Transport) {
    this.transport = transport
    transport.onMessage(this.#onMessage)
    transport.onRequest(this.#onRequest)
    this.#unsubscribe = [
      transport.on('peerUp', (peer) => { for (const channel of this.#channels()) channel.forward('peerUp', peer) }),
      transport.on('peerDown', (peer, reason) => { for (const channel of this.#channels()) channel.forward('peerDown', peer, reason) }),
      // The transport reports a handler's exception without saying which
      // channel's handler threw (a rejected promise reaches it without
      // passing through here), so every channel hears of it.
      transport.on('handlerError', (peer, error) => { for (const channel of this.#channels()) channel.forward('handlerError', peer, error) })
    ]
  }

  /**
   * Opens a channel: a {@link Transport} with the shared transport's node id,
   * limits and links, and handlers, events and a `close()` of its own.
   *
   * The name may be opened again once its channel is closed (a service that
   * restarts inside the process).
   *
   * @param name 1 to {@link maxChannelNameLength} characters; the same name
   *   must be used on every node.
   * @throws MakoError `MAKO_INVALID_ARGUMENT` for a bad name or one that is
   *   open already; `MAKO_CLOSED` after {@link Channels.close}.
   */
  channel (name: string): Transport {
    if (typeof name !== 'string' || name.length === 0 || name.length > maxChannelNameLength) {
      throw new MakoError(`A channel name must be a string of 1 to ${maxChannelNameLength} characters`, TransportCodes.invalidArgument)
    }
    if (this.#closing !== undefined) throw transportError('The channels are closed', TransportCodes.closed)
    if (this.#open.has(name)) throw new MakoError(`Channel ${quote(name)} is open already`, TransportCodes.invalidArgument)
    const channel = new ChannelTransport(name, this.transport, (closed) => {
      if (this.#open.get(name) === closed) this.#open.delete(name)
    })
    this.#open.set(name, channel)
    return channel
  }

  /** Names of the open channels, in the order they were opened. */
  names (): string[] {
    return [...this.#open.keys()]
  }

  /** A snapshot of the counters. */
  stats (): ChannelsStats {
    return { open: this.#open.size, ...this.#stats }
  }

  /**
   * Closes the shared transport (its links go down, which every channel
   * hears as `peerDown`), then every channel. Idempotent.
   */
  close (): Promise<void> {
    if (this.#closing === undefined) {
      // The transport is asked first, so that the channels see their links
      // go down and their waiting requests fail with the transport's reason.
      const closed = this.transport.close()
      for (const channel of this.#channels()) channel.detach()
      for (const off of this.#unsubscribe) off()
      this.#closing = closed
    }
    return this.#closing
  }

  /** The open channels, copied: a listener may close one while they are walked. */
  #channels (): ChannelTransport[] {
    return [...this.#open.values()]
  }

  // Hot path: one array check and one map lookup per message.
  readonly #onMessage = (from: NodeId, payload: unknown): void => {
    if (!isTagged(payload)) {
      this.#stats.malformedMessages++
      return
    }
    const channel = this.#open.get(payload[0])
    if (channel === undefined) {
      this.#stats.unknownChannelMessages++
      return
    }
    // A throw goes on to the transport, which counts it and reports it as
    // handlerError, as it would for a handler of its own.
    channel.messageHandler?.(from, payload[1])
  }

  // The handler's result goes back to the transport as it is, promise or
  // not: wrapping it would cost a promise per request.
  readonly #onRequest = (payload: unknown, context: RequestContext): unknown => {
    if (!isTagged(payload)) {
      this.#stats.malformedRequests++
      throw new MakoError('The request is not a [channel, payload] pair', TransportCodes.badMessage)
    }
    const name = payload[0]
    const channel = this.#open.get(name)
    if (channel === undefined) {
      this.#stats.unknownChannelRequests++
      throw new MakoError(`${this.transport.nodeId} has no channel ${quote(name)}`, ChannelCodes.unknownChannel, { transient: true })
    }
    const handler = channel.requestHandler
    if (handler === undefined) {
      throw new MakoError(`${this.transport.nodeId} has no request handler on channel ${quote(name)}`, TransportCodes.noHandler)
    }
    return handler(payload[1], context)
  }
}

/**
 * One channel: forwards to the shared transport with its name attached.
 *
 * @internal
 */
class ChannelTransport implements Transport {
  readonly nodeId: NodeId
  readonly limits: Readonly<TransportLimits>
  /** @internal */
  messageHandler: MessageHandler | undefined
  /** @internal */
  requestHandler: RequestHandler | undefined
  /** @internal */
  closed: MakoError | undefined
  readonly #name: string
  readonly #transport: Transport
  readonly #onClose: (channel: ChannelTransport) => void
  readonly #events = new Listeners<TransportEvents>()
  readonly #links = new Map<NodeId, ChannelLink>()
  // The reject functions of requests not yet settled, so that close() can
  // fail them. A Set keeps add and delete O(1).
  readonly #waiting = new Set<(reason: unknown) => void>()

  constructor (name: string, transport: Transport, onClose: (channel: ChannelTransport) => void) {
    this.#name = name
    this.#transport = transport
    this.#onClose = onClose
    this.nodeId = transport.nodeId
    this.limits = transport.limits
  }

  link (peer: NodeId): Link {
    let link = this.#links.get(peer)
    if (link === undefined) {
      link = new ChannelLink(this, this.#transport.link(peer))
      this.#links.set(peer, link)
    }
    return link
  }

  peers (): NodeId[] {
    return this.closed === undefined ? this.#transport.peers() : []
  }

  send (peer: NodeId, payload: unknown): void {
    if (this.closed !== undefined) throw this.closed
    this.#transport.send(peer, this.tag(payload))
  }

  trySend (peer: NodeId, payload: unknown): boolean {
    if (this.closed !== undefined) return false
    return this.#transport.trySend(peer, this.tag(payload))
  }

  request (peer: NodeId, payload: unknown, options?: RequestOptions): Promise<unknown> {
    if (this.closed !== undefined) return Promise.reject(this.closed)
    return this.track(this.#transport.request(peer, this.tag(payload), options))
  }

  onMessage (handler: MessageHandler): void {
    if (this.closed === undefined) this.messageHandler = handler
  }

  onRequest (handler: RequestHandler): void {
    if (this.closed === undefined) this.requestHandler = handler
  }

  on<E extends keyof TransportEvents>(event: E, listener: TransportEvents[E]): () => void {
    return this.#events.on(event, listener)
  }

  waitForPeer (peer: NodeId, options?: RequestOptions): Promise<void> {
    if (this.closed !== undefined) return Promise.reject(this.closed)
    return this.#transport.waitForPeer(peer, options)
  }

  /**
   * Detaches this channel only: its handlers are dropped, its waiting
   * requests fail with `MAKO_CLOSED` (the shared transport still waits for
   * their responses, and drops them), and what peers send to it from now on
   * is dropped, or answered `MAKO_UNKNOWN_CHANNEL`. The shared transport
   * stays open; {@link Channels.close} closes it.
   */
  close (): Promise<void> {
    this.detach()
    return Promise.resolve()
  }

  /** @internal */
  tag (payload: unknown): Tagged {
    return [this.#name, payload]
  }

  /** @internal */
  track (pending: Promise<unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.#waiting.add(reject)
      pending.then((value) => {
        this.#waiting.delete(reject)
        resolve(value)
      }, (err: unknown) => {
        this.#waiting.delete(reject)
        reject(err)
      })
    })
  }

  /** @internal */
  forward<E extends keyof TransportEvents>(event: E, ...args: Parameters<TransportEvents[E]>): void {
    if (this.closed !== undefined) return
    const errors = this.#events.emit(event, ...args)
    // As the transport does: a listener that throws is reported as a
    // handler error, except a handlerError listener, which could loop.
    if (event === 'handlerError') return
    for (const err of errors) this.#events.emit('handlerError', args[0] as NodeId, err)
  }

  /** @internal */
  detach (): void {
    if (this.closed !== undefined) return
    this.closed = transportError(`Channel ${quote(this.#name)} of ${this.nodeId} closed`, TransportCodes.closed)
    this.messageHandler = undefined
    this.requestHandler = undefined
    this.#onClose(this)
    const waiting = [...this.#waiting]
    this.#waiting.clear()
    for (const reject of waiting) reject(this.closed)
  }
}

/**
 * One channel's view of one link.
 *
 * @internal
 */
class ChannelLink implements Link {
  readonly peer: NodeId
  readonly #channel: ChannelTransport
  readonly #link: Link

  constructor (channel: ChannelTransport, link: Link) {
    this.#channel = channel
    this.#link = link
    this.peer = link.peer
  }

  get up (): boolean {
    return this.#channel.closed === undefined && this.#link.up
  }

  send (payload: unknown): void {
    if (this.#channel.closed !== undefined) throw this.#channel.closed
    this.#link.send(this.#channel.tag(payload))
  }

  trySend (payload: unknown): boolean {
    if (this.#channel.closed !== undefined) return false
    return this.#link.trySend(this.#channel.tag(payload))
  }

  request (payload: unknown, options?: RequestOptions): Promise<unknown> {
    if (this.#channel.closed !== undefined) return Promise.reject(this.#channel.closed)
    return this.#channel.track(this.#link.request(this.#channel.tag(payload), options))
  }

  drained (): Promise<void> {
    if (this.#channel.closed !== undefined) return Promise.reject(this.#channel.closed)
    return this.#link.drained()
  }

  /** The shared link's counters: every channel's traffic on it, and the tags' bytes. */
  stats (): LinkStats {
    return this.#link.stats()
  }
}
