/**
 * The interface protocol code programs against: a {@link Transport} to many
 * peers, one {@link Link} per peer. Protocol code never sees a socket; the
 * WebSocket transport and the simulator both implement these types and pass
 * the same acceptance suite.
 *
 * @module
 */

import type { MakoError } from '../../lib/errors.js'
import type { NodeId } from './ids.js'

/**
 * Limits every transport enforces per link. Each has a named default in
 * {@link defaultTransportLimits}; passing one raises or lowers it.
 */
export interface TransportLimits {
  /**
   * Largest encoded message, and largest frame, in bytes. A larger message is
   * refused at the sender with `MAKO_MESSAGE_TOO_LARGE`; a larger frame from a
   * peer closes its link with `MAKO_FRAME_TOO_LARGE`.
   */
  maxPayload: number
  /**
   * Requests sent on one link and not yet answered. It is also how many
   * requests from one peer this side runs at once: the handshake tells each
   * side the other's figure, and a request past it is answered at once with
   * `MAKO_BACKPRESSURE`.
   */
  maxInFlight: number
  /**
   * Requests that wait for a free in-flight slot on one link; one more is
   * refused with `MAKO_BACKPRESSURE`. Zero refuses as soon as the link is full.
   */
  maxQueuedRequests: number
  /**
   * Bytes accepted for one link but not yet written to the network. A send
   * that would pass it throws `MAKO_BACKPRESSURE` (wait for `drained()`).
   * Replies are never refused; a peer that lets twice this pile up is closed
   * as a slow reader.
   */
  maxBufferedBytes: number
  /** The deadline of a request that names none, in milliseconds. */
  requestTimeout: number
}

/** Defaults of {@link TransportLimits}. */
export const defaultTransportLimits: Readonly<TransportLimits> = Object.freeze({
  maxPayload: 4 * 1024 * 1024,
  maxInFlight: 1024,
  maxQueuedRequests: 4096,
  maxBufferedBytes: 16 * 1024 * 1024,
  requestTimeout: 10_000
})

/** The longest request deadline the wire format carries: one day, in milliseconds. */
export const maxRequestTimeout = 86_400_000

/** Options of one request. */
export interface RequestOptions {
  /**
   * Milliseconds until the request fails with `MAKO_TIMEOUT`; defaults to
   * {@link TransportLimits.requestTimeout}. The peer is told the deadline and
   * drops its reply once it has passed.
   */
  timeout?: number
  /** Aborting it fails the request with `MAKO_CANCELLED` and tells the peer. */
  signal?: AbortSignal
}

/** What a request handler is told besides the payload. */
export interface RequestContext {
  /** The authenticated peer that sent the request. */
  readonly from: NodeId
  /** Clock time (see {@link Clock.now}) after which the reply is dropped. */
  readonly deadline: number
  /**
   * Aborted when the requester cancels, the deadline passes or the link goes
   * down: long work should stop then, since nobody will read the reply.
   */
  readonly signal: AbortSignal
}

/**
 * Receives one-way messages. It runs synchronously as messages arrive, in
 * order; an exception is caught, counted and reported as `handlerError`.
 */
export type MessageHandler = (from: NodeId, payload: unknown) => void

/**
 * Answers requests. The value returned (or resolved) is the response; a
 * thrown {@link MakoError} reaches the requester with its code, message and
 * transient flag, any other exception as `MAKO_REMOTE_ERROR`.
 */
export type RequestHandler = (payload: unknown, context: RequestContext) => unknown

/** Events of a {@link Transport}, with their listeners' signatures. */
export interface TransportEvents {
  /** A link to `peer` came up (a new session): sends to it may succeed now. */
  peerUp: (peer: NodeId) => void
  /**
   * The link to `peer` went down. Requests waiting on it failed with
   * `MAKO_PEER_DOWN`; messages not yet delivered may be lost.
   */
  peerDown: (peer: NodeId, reason: MakoError) => void
  /** A message or request handler threw; the link stays up. */
  handlerError: (peer: NodeId, error: unknown) => void
}

/** Counters and gauges of one link; all counters start at zero. */
export interface LinkStats {
  /** Whether the link is up now. */
  up: boolean
  /** How many times the link came up. */
  sessions: number
  /** One-way messages sent and received. */
  messagesSent: number
  /** One-way messages received. */
  messagesReceived: number
  /** Requests sent (each counted once, when it went on the wire). */
  requestsSent: number
  /** Requests received. */
  requestsReceived: number
  /** Responses (and error responses) sent. */
  responsesSent: number
  /** Responses received for requests still waiting. */
  responsesReceived: number
  /** Encoded bytes handed to the network, and received. */
  bytesSent: number
  /** Encoded bytes received. */
  bytesReceived: number
  /** Frames written (one per batch) and read. */
  framesSent: number
  /** Frames read. */
  framesReceived: number
  /** Requests on the wire waiting for a response (gauge). */
  inFlight: number
  /** Requests waiting for an in-flight slot (gauge). */
  queuedRequests: number
  /** Requests from the peer being handled now (gauge). */
  handling: number
  /** Bytes accepted but not yet written to the network (gauge). */
  bufferedBytes: number
  /** Requests that failed with `MAKO_TIMEOUT`. */
  timeouts: number
  /** Requests cancelled by their caller. */
  cancelled: number
  /** Sends and requests refused with `MAKO_BACKPRESSURE`. */
  backpressure: number
  /** Requests from the peer answered `MAKO_BACKPRESSURE` for passing `maxInFlight`. */
  overloaded: number
  /** Responses that came after their request had given up. */
  lateResponses: number
  /** Replies dropped because their request's deadline had passed or it was cancelled. */
  expiredReplies: number
  /** `trySend` calls that returned false. */
  droppedSends: number
  /** Exceptions thrown by this node's handlers for this peer. */
  handlerErrors: number
  /** Times the link was closed, by `MAKO_*` reason (either side). */
  closes: Record<string, number>
}

/**
 * One peer as seen from this node. The object is stable: it survives the
 * link going down and up again.
 *
 * Ordering: within one session (from `peerUp` to `peerDown`) messages,
 * requests and responses sent on a link are delivered at most once and in
 * the order they were sent. When a session ends, what was not yet delivered
 * may be lost; nothing is re-sent by the transport.
 */
export interface Link {
  /** The peer. */
  readonly peer: NodeId
  /** Whether a session is up now. */
  readonly up: boolean
  /**
   * Sends a one-way message. O(size of the payload).
   *
   * @param payload Any value msgpackr encodes (plain data, Uint8Array, ...).
   * @throws MakoError `MAKO_PEER_UNAVAILABLE` (link down) and
   *   `MAKO_BACKPRESSURE` (buffer full), both transient;
   *   `MAKO_MESSAGE_TOO_LARGE` and `MAKO_ENCODE` for a payload that can never go.
   */
  send(payload: unknown): void
  /**
   * Like {@link Link.send}, but returns false instead of throwing when the
   * link is down or full (counted in `droppedSends`). Suits protocols that
   * retransmit anyway.
   *
   * @param payload Any value msgpackr encodes.
   */
  trySend(payload: unknown): boolean
  /**
   * Sends a request and resolves with the peer's response. When
   * `maxInFlight` requests are out, it waits (its deadline running) for a
   * slot, or fails with `MAKO_BACKPRESSURE` when `maxQueuedRequests` already wait.
   *
   * @param payload Any value msgpackr encodes.
   * @param options Deadline and cancellation.
   */
  request(payload: unknown, options?: RequestOptions): Promise<unknown>
  /**
   * Resolves when the buffered bytes are at most half of
   * `maxBufferedBytes`, at once if they are already. Rejects with
   * `MAKO_PEER_DOWN` if the link goes down first.
   */
  drained(): Promise<void>
  /** A snapshot of this link's counters. */
  stats(): LinkStats
}

/** A node's view of the cluster network. */
export interface Transport {
  /** This node. */
  readonly nodeId: NodeId
  /** The limits in force (defaults merged with options). */
  readonly limits: Readonly<TransportLimits>
  /**
   * The link to a peer, created on first use (down until a session starts).
   *
   * @param peer The peer.
   */
  link(peer: NodeId): Link
  /** Peers with a link up now, in the order their links came up. */
  peers(): NodeId[]
  /**
   * Sends a one-way message; see {@link Link.send}.
   *
   * @param peer The peer.
   * @param payload Any value msgpackr encodes.
   */
  send(peer: NodeId, payload: unknown): void
  /**
   * Sends if it can; see {@link Link.trySend}.
   *
   * @param peer The peer.
   * @param payload Any value msgpackr encodes.
   */
  trySend(peer: NodeId, payload: unknown): boolean
  /**
   * Sends a request; see {@link Link.request}.
   *
   * @param peer The peer.
   * @param payload Any value msgpackr encodes.
   * @param options Deadline and cancellation.
   */
  request(peer: NodeId, payload: unknown, options?: RequestOptions): Promise<unknown>
  /**
   * Sets the handler of one-way messages (replacing the previous one).
   *
   * @param handler Called for each message, in arrival order.
   */
  onMessage(handler: MessageHandler): void
  /**
   * Sets the handler of requests (replacing the previous one).
   *
   * @param handler Returns or resolves the response.
   */
  onRequest(handler: RequestHandler): void
  /**
   * Subscribes to an event; returns a function that unsubscribes.
   *
   * @param event The event's name.
   * @param listener Called with the event's arguments.
   */
  on<E extends keyof TransportEvents>(event: E, listener: TransportEvents[E]): () => void
  /**
   * Resolves when the link to `peer` is up (at once if it is).
   *
   * @param peer The peer.
   * @param options `timeout` (default `requestTimeout`) and `signal`.
   */
  waitForPeer(peer: NodeId, options?: RequestOptions): Promise<void>
  /**
   * Closes every link and stops accepting and dialing. Waiting requests fail
   * with `MAKO_CLOSED`; peers see `peerDown` with `MAKO_SHUTDOWN`.
   */
  close(): Promise<void>
}
