/**
 * Peer links: the {@link Transport} and {@link Link} interface that protocol
 * code (Multi-Paxos, 2PC) uses, and its WebSocket implementation,
 * {@link WsTransport}. The simulator in `cluster/sim` implements the same
 * interface.
 *
 * @module
 */

export type { ClusterId, NodeId } from './ids.js'
export { clusterId, isValidId, maxIdLength, nodeId } from './ids.js'
export type { Clock, TimerHandle } from './clock.js'
export { systemClock } from './clock.js'
export { closeCodeFor, closeCodes, isTransientCode, TransportCodes } from './codes.js'
export type { TransportCode } from './codes.js'
export type {
  Link, LinkStats, MessageHandler, RequestContext, RequestHandler, RequestOptions, Transport, TransportEvents,
  TransportLimits
} from './types.js'
export { defaultTransportLimits, maxRequestTimeout } from './types.js'
export {
  decodeEnvelope, decodeFrame, encodeEnvelope, encodeFrame, maxErrorMessageLength, maxWireVersion, minWireVersion,
  nonceLength, Tag, validateEnvelope, WireError, wireVersion
} from './codec.js'
export type {
  CancelEnvelope, ChallengeEnvelope, Envelope, ErrorEnvelope, HandshakeEnvelope, HelloEnvelope, MessageEnvelope,
  RequestEnvelope, ResponseEnvelope, SessionEnvelope, WelcomeEnvelope, WireLimits
} from './codec.js'
export { minSecretLength } from './handshake.js'
export { reconnectDelay } from './backoff.js'
export { defaultWsLimits } from './connection.js'
export type { WsLimits } from './connection.js'
export { WsTransport } from './ws-transport.js'
export type { WsListenOptions, WsTlsOptions, WsTransportOptions, WsTransportStats } from './ws-transport.js'
export { ChannelCodes, Channels, maxChannelNameLength } from './channels.js'
export type { ChannelsStats } from './channels.js'
export { maxDelayedMessages, withDelay } from './delay.js'
