/**
 * Stable error codes of the transport and the WebSocket close code that goes
 * with each one that ends a link.
 *
 * @module
 */

import { MakoError } from '../../lib/errors.js'

/**
 * Every code the transport gives to a {@link MakoError} or to a closed link.
 * The close reason on the wire is the code itself, so the peer (and a person
 * reading a packet capture) sees why its link was closed.
 */
export const TransportCodes = {
  /** A send or request would pass a per-link limit; retry after `drained()`. */
  backpressure: 'MAKO_BACKPRESSURE',
  /** One encoded message is larger than `maxPayload` allows. */
  messageTooLarge: 'MAKO_MESSAGE_TOO_LARGE',
  /** A payload could not be encoded with msgpackr. */
  encode: 'MAKO_ENCODE',
  /** No live link to that peer. */
  peerUnavailable: 'MAKO_PEER_UNAVAILABLE',
  /** The link went down while a request was waiting for its response. */
  peerDown: 'MAKO_PEER_DOWN',
  /** A request's deadline passed before its response came. */
  timeout: 'MAKO_TIMEOUT',
  /** The caller aborted a request through its `AbortSignal`. */
  cancelled: 'MAKO_CANCELLED',
  /** The transport was closed. */
  closed: 'MAKO_CLOSED',
  /** The peer has no request handler. */
  noHandler: 'MAKO_NO_HANDLER',
  /** The peer's request handler threw something that is not a MakoError. */
  remoteError: 'MAKO_REMOTE_ERROR',
  /** Options given to the transport are invalid. */
  invalidConfig: 'MAKO_INVALID_CONFIG',
  /** An argument of a call is invalid (a negative timeout, a bad peer id). */
  invalidArgument: 'MAKO_INVALID_ARGUMENT',
  /** A frame is not valid msgpack, is truncated, empty, or has trailing bytes. */
  decode: 'MAKO_DECODE',
  /** A decoded message has a wrong shape, field type or size. */
  badMessage: 'MAKO_BAD_MESSAGE',
  /** A decoded message has a type tag this version does not define. */
  unknownType: 'MAKO_UNKNOWN_TYPE',
  /** No protocol version in common, or a frame of another version. */
  version: 'MAKO_VERSION',
  /** A message other than the handshake came before the handshake finished. */
  notAuthenticated: 'MAKO_NOT_AUTHENTICATED',
  /** A handshake proof did not verify: wrong secret or forged node id. */
  auth: 'MAKO_AUTH',
  /** The peer belongs to another cluster. */
  clusterMismatch: 'MAKO_CLUSTER_MISMATCH',
  /** The peer answering is not the node that was dialed. */
  peerMismatch: 'MAKO_PEER_MISMATCH',
  /** The peer authenticated but is not allowed to join. */
  unknownPeer: 'MAKO_UNKNOWN_PEER',
  /** The handshake did not finish within `handshakeTimeout`. */
  handshakeTimeout: 'MAKO_HANDSHAKE_TIMEOUT',
  /** A frame was larger than `maxPayload` (or ws refused its fragments). */
  frameTooLarge: 'MAKO_FRAME_TOO_LARGE',
  /** A per-link limit was broken by the peer. */
  limit: 'MAKO_LIMIT',
  /** Nothing heard from the peer within `heartbeatTimeout`. */
  peerTimeout: 'MAKO_PEER_TIMEOUT',
  /** The peer did not read what was sent to it within `slowReaderTimeout`. */
  slowReader: 'MAKO_SLOW_READER',
  /** Another connection to the same peer won. */
  duplicate: 'MAKO_DUPLICATE',
  /** Too many connections or handshakes in progress. */
  tooManyConnections: 'MAKO_TOO_MANY_CONNECTIONS',
  /** The peer is shutting down. */
  shutdown: 'MAKO_SHUTDOWN',
  /** A WebSocket-level protocol error (bad opcode, bad masking, ...). */
  websocket: 'MAKO_WEBSOCKET',
  /** The connection failed or was reset below the WebSocket layer. */
  connection: 'MAKO_CONNECTION'
} as const

/** One of the values of {@link TransportCodes}. */
export type TransportCode = typeof TransportCodes[keyof typeof TransportCodes]

/**
 * The WebSocket close code sent when a link is closed for a reason. Codes
 * 4000-4999 are the range RFC 6455 leaves to applications.
 */
export const closeCodes: Readonly<Record<string, number>> = {
  MAKO_DECODE: 4001,
  MAKO_BAD_MESSAGE: 4002,
  MAKO_UNKNOWN_TYPE: 4003,
  MAKO_VERSION: 4004,
  MAKO_NOT_AUTHENTICATED: 4005,
  MAKO_AUTH: 4006,
  MAKO_CLUSTER_MISMATCH: 4007,
  MAKO_PEER_MISMATCH: 4008,
  MAKO_UNKNOWN_PEER: 4009,
  MAKO_HANDSHAKE_TIMEOUT: 4010,
  MAKO_FRAME_TOO_LARGE: 4011,
  MAKO_LIMIT: 4012,
  MAKO_PEER_TIMEOUT: 4013,
  MAKO_SLOW_READER: 4014,
  MAKO_DUPLICATE: 4015,
  MAKO_TOO_MANY_CONNECTIONS: 4016,
  MAKO_SHUTDOWN: 4017,
  MAKO_CLOSED: 4018
}

/**
 * The close code for a reason, 4000 for any code not in {@link closeCodes}.
 *
 * @param code A `MAKO_*` code.
 */
export function closeCodeFor (code: string): number {
  return closeCodes[code] ?? 4000
}

/**
 * Codes after which a retry may succeed. Bad input and failed authentication
 * are not transient: the same bytes or the same secret will fail again.
 *
 * @internal
 */
const transientCodes = new Set<string>([
  'MAKO_BACKPRESSURE', 'MAKO_PEER_UNAVAILABLE', 'MAKO_PEER_DOWN', 'MAKO_TIMEOUT', 'MAKO_HANDSHAKE_TIMEOUT',
  'MAKO_PEER_TIMEOUT', 'MAKO_SLOW_READER', 'MAKO_DUPLICATE', 'MAKO_TOO_MANY_CONNECTIONS', 'MAKO_SHUTDOWN',
  'MAKO_CONNECTION', 'MAKO_CLOSED'
])

/**
 * Whether an error with this code may succeed on retry.
 *
 * @param code A `MAKO_*` code.
 */
export function isTransientCode (code: string): boolean {
  return transientCodes.has(code)
}

/**
 * A {@link MakoError} with the transient flag this module assigns to its code.
 *
 * @param message What went wrong, for people.
 * @param code A `MAKO_*` code.
 * @param cause The error that led to this one.
 * @internal
 */
export function transportError (message: string, code: string, cause?: unknown): MakoError {
  return new MakoError(message, code, cause === undefined ? { transient: isTransientCode(code) } : { cause, transient: isTransientCode(code) })
}
