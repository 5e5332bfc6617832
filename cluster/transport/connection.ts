/**
 * One WebSocket connection as a state machine without a socket: the
 * handshake, frame decoding and checking, batching of outgoing envelopes,
 * liveness bookkeeping. The WebSocket transport gives it a {@link FrameSocket};
 * the fuzz tests give it a fake one and feed it frames directly.
 *
 * States: `handshake` until the peer is authenticated, then `open` (it is the
 * {@link LinkWire} of one session), then `closed` for good.
 *
 * @module
 * @internal
 */

import type { MakoError } from '../../lib/errors.js'
import type { Clock, TimerHandle } from './clock.js'
import { decodeFrame, encodeEnvelope, encodeFrame, frameVersion, maxWireVersion, minWireVersion, Tag, WireError } from './codec.js'
import type { ChallengeEnvelope, Envelope, HelloEnvelope, SessionEnvelope, WelcomeEnvelope, WireLimits } from './codec.js'
import { closeCodeFor, TransportCodes, transportError } from './codes.js'
import { newNonce, proof, verifyProof } from './handshake.js'
import type { Transcript } from './handshake.js'
import type { ClusterId, NodeId } from './ids.js'
import type { LinkCore, LinkWire } from './link-core.js'
import type { TransportLimits } from './types.js'

/**
 * Limits of the WebSocket transport: the shared per-link limits and those of
 * connections, handshakes and liveness. Defaults in {@link defaultWsLimits}.
 */
export interface WsLimits extends TransportLimits {
  /** Inbound connections open at once, authenticated or not; more get HTTP 503. */
  maxConnections: number
  /** Inbound connections still in their handshake; more get HTTP 503. */
  maxPendingHandshakes: number
  /** Milliseconds from TCP accept (or dial) to an authenticated link. */
  handshakeTimeout: number
  /** Bytes a connection may send before it is authenticated. */
  maxHandshakeBytes: number
  /** Envelopes in one frame. */
  maxMessagesPerFrame: number
  /** Milliseconds between pings. */
  heartbeatInterval: number
  /** Milliseconds of silence (no frame, no pong) before a peer is declared dead. */
  heartbeatTimeout: number
  /** Milliseconds a link may hold unwritten bytes without progress before it is closed. */
  slowReaderTimeout: number
  /** First reconnect delay in milliseconds; it doubles per failed attempt. */
  reconnectBaseDelay: number
  /** Longest reconnect delay in milliseconds. */
  reconnectMaxDelay: number
  /** ws `maxFragments`: fragments in one message (ours send one). */
  maxFragments: number
  /** ws `maxBufferedChunks`: socket reads buffered for one message. */
  maxBufferedChunks: number
}

/** Defaults of {@link WsLimits}. */
export const defaultWsLimits: Readonly<Omit<WsLimits, keyof TransportLimits>> = Object.freeze({
  maxConnections: 256,
  maxPendingHandshakes: 32,
  handshakeTimeout: 5000,
  maxHandshakeBytes: 64 * 1024,
  maxMessagesPerFrame: 65_536,
  heartbeatInterval: 2000,
  heartbeatTimeout: 6000,
  slowReaderTimeout: 10_000,
  reconnectBaseDelay: 100,
  reconnectMaxDelay: 10_000,
  maxFragments: 16,
  maxBufferedChunks: 16_384
})

function isSessionEnvelope (envelope: Envelope): envelope is SessionEnvelope {
  return envelope[0] < Tag.challenge
}

/**
 * The little a connection needs from a WebSocket.
 *
 * @internal
 */
export interface FrameSocket {
  /** Sends one binary frame; `done` runs once it is written (or failed). */
  send(frame: Buffer, done: (err?: Error) => void): void
  /** Sends a ping. */
  ping(): void
  /** Closes with a close frame, or at once when `abrupt`. */
  close(code: number, reason: string, abrupt: boolean): void
}

/**
 * What a connection needs from its transport.
 *
 * @internal
 */
export interface ConnectionHost {
  readonly nodeId: NodeId
  readonly clusterId: ClusterId
  readonly secret: Uint8Array
  readonly limits: Readonly<WsLimits>
  readonly clock: Clock
  readonly batching: boolean
  /** Returns a `MAKO_*` code to refuse an authenticated peer. */
  admit(conn: Connection, peer: NodeId): string | undefined
  /** Starts the connection's session on its peer's link. */
  attach(conn: Connection, peer: NodeId, peerLimits: WireLimits): LinkCore
  /** The connection closed; `reason.code` says why. */
  detached(conn: Connection, reason: MakoError, by: 'local' | 'remote'): void
}

/**
 * Bytes of queued envelopes at which a turn's batch leaves at once instead of
 * at the end of the turn, so the peer starts on the first part while this
 * side still produces the rest: with 1024 requests in flight, whole-turn
 * frames made the two processes take turns (one idle while the other worked)
 * and round trips per second rose 1.3-1.9x with 8-16 KiB frames
 * (bench/transport, `BENCH_WINDOWS=1024 BENCH_KINDS=rpc`).
 */
const eagerFlushBytes = 8 * 1024

/**
 * One WebSocket connection, client or server side.
 *
 * @internal
 */
export class Connection implements LinkWire {
  /** Who dialed: `client` dialed, `server` accepted. */
  readonly role: 'client' | 'server'
  /** The node a client dialed, if it knows. */
  readonly expectedPeer: NodeId | undefined
  /** Where the connection is in its life. */
  state: 'handshake' | 'open' | 'closed' = 'handshake'
  /** The authenticated peer, once known. */
  peer: NodeId | undefined
  /** The peer's link, once open. */
  link: LinkCore | undefined
  /** Clock time of the last frame or pong. */
  lastReceived: number
  /** Bytes received before authentication. */
  handshakeBytes = 0
  /** Why it closed, once closed. */
  closeReason: MakoError | undefined

  readonly #host: ConnectionHost
  readonly #socket: FrameSocket
  #version = minWireVersion
  #serverNonce: Uint8Array | undefined
  #clientNonce: Uint8Array | undefined
  #challengeNode: NodeId | undefined
  #handshakeTimer: TimerHandle | undefined
  #peerMaxPayload = 0
  // Batching: envelopes written during one turn of the event loop wait here
  // and leave as one frame from a setImmediate callback, or sooner once
  // they pass eagerFlushBytes.
  #queue: Uint8Array[] = []
  #queuedBytes = 0
  #flushScheduled = false
  #unflushedBytes = 0
  #lastProgress = 0
  // A pending ws-level error explains the close that follows it.
  #socketError: string | undefined

  /** @internal */
  constructor (host: ConnectionHost, socket: FrameSocket, role: 'client' | 'server', expectedPeer?: NodeId) {
    this.#host = host
    this.#socket = socket
    this.role = role
    this.expectedPeer = expectedPeer
    this.lastReceived = host.clock.now()
  }

  /** Starts the handshake: the server speaks first, both start the deadline. */
  start (): void {
    const { clock, limits } = this.#host
    this.#handshakeTimer = clock.setTimer(limits.handshakeTimeout, () => {
      this.#handshakeTimer = undefined
      if (this.state === 'handshake') this.fail(TransportCodes.handshakeTimeout, 'handshake not finished in time')
    })
    if (this.role === 'server') {
      this.#serverNonce = newNonce()
      this.#sendNow([Tag.challenge, minWireVersion, maxWireVersion, this.#host.clusterId, this.#host.nodeId, this.#serverNonce])
    }
  }

  /** The peer's node when it dialed us or we dialed it. @internal */
  get dialer (): NodeId | undefined {
    return this.role === 'client' ? this.#host.nodeId : this.peer
  }

  /**
   * Handles one WebSocket message.
   *
   * @param data The frame's bytes.
   * @param isBinary False for a text frame, which this protocol never sends.
   */
  receiveFrame (data: Uint8Array, isBinary: boolean): void {
    if (this.state === 'closed') return
    this.lastReceived = this.#host.clock.now()
    const link = this.state === 'open' ? this.link : undefined
    if (link !== undefined) {
      link.counters.framesReceived++
      link.counters.bytesReceived += data.length
    }
    let envelopes: Envelope[]
    try {
      if (!isBinary) throw new WireError('Text frame', TransportCodes.decode)
      const version = frameVersion(data)
      const expected = this.state === 'open' ? this.#version : version
      if (version < minWireVersion || version > maxWireVersion || version !== expected) {
        throw new WireError(`Frame of unsupported wire version ${version}`, TransportCodes.version)
      }
      envelopes = decodeFrame(data, version, this.state === 'open' ? this.#host.limits.maxMessagesPerFrame : 1)
    } catch (err) {
      this.#failWith(err)
      return
    }
    try {
      for (const envelope of envelopes) {
        // A handler may have closed this connection while the frame was read.
        const state = this.state as Connection['state']
        if (state === 'closed') return
        if (state === 'handshake') {
          this.#handshake(envelope)
        } else if (!isSessionEnvelope(envelope)) {
          throw new WireError('Handshake message after the handshake', TransportCodes.badMessage)
        } else {
          this.link?.receive(envelope)
        }
      }
    } catch (err) {
      this.#failWith(err)
    }
  }

  #failWith (err: unknown): void {
    if (err instanceof WireError) this.fail(err.code, err.message)
    else this.fail(TransportCodes.badMessage, err instanceof Error ? err.message : String(err))
  }

  #handshake (envelope: Envelope): void {
    switch (envelope[0]) {
      case Tag.challenge:
        if (this.role !== 'client' || this.#clientNonce !== undefined) throw new WireError('Unexpected challenge', TransportCodes.badMessage)
        this.#onChallenge(envelope)
        return
      case Tag.hello:
        if (this.role !== 'server') throw new WireError('Unexpected hello', TransportCodes.badMessage)
        this.#onHello(envelope)
        return
      case Tag.welcome:
        if (this.role !== 'client' || this.#clientNonce === undefined) throw new WireError('Unexpected welcome', TransportCodes.badMessage)
        this.#onWelcome(envelope)
        return
      default:
        throw new WireError('Message before the handshake finished', TransportCodes.notAuthenticated)
    }
  }

  #ownLimits (): WireLimits {
    return [this.#host.limits.maxPayload, this.#host.limits.maxInFlight]
  }

  #onChallenge (envelope: ChallengeEnvelope): void {
    const [, minVersion, maxVersion, cluster, node, serverNonce] = envelope
    const version = Math.min(maxVersion, maxWireVersion)
    if (version < Math.max(minVersion, minWireVersion)) {
      throw new WireError(`No common wire version (peer ${minVersion}-${maxVersion})`, TransportCodes.version)
    }
    if (cluster !== this.#host.clusterId) throw new WireError(`Peer is in cluster ${cluster}`, TransportCodes.clusterMismatch)
    if (node === this.#host.nodeId || (this.expectedPeer !== undefined && node !== this.expectedPeer)) {
      throw new WireError(`Dialed ${this.expectedPeer ?? '?'} but ${node} answered`, TransportCodes.peerMismatch)
    }
    this.#version = version
    this.#challengeNode = node
    this.#serverNonce = serverNonce
    this.#clientNonce = newNonce()
    const transcript = this.#transcript(this.#host.nodeId, node)
    this.#sendNow([Tag.hello, version, this.#host.clusterId, this.#host.nodeId, this.#clientNonce,
      proof(this.#host.secret, 'client', transcript), this.#ownLimits()])
  }

  #onHello (envelope: HelloEnvelope): void {
    const [, version, cluster, node, clientNonce, clientProof, limits] = envelope
    if (version < minWireVersion || version > maxWireVersion) throw new WireError(`Unsupported wire version ${version}`, TransportCodes.version)
    if (cluster !== this.#host.clusterId) throw new WireError(`Peer is in cluster ${cluster}`, TransportCodes.clusterMismatch)
    if (node === this.#host.nodeId) throw new WireError('Peer claims our own node id', TransportCodes.auth)
    this.#version = version
    this.#clientNonce = clientNonce
    const transcript = this.#transcript(node, this.#host.nodeId)
    if (!verifyProof(this.#host.secret, 'client', transcript, clientProof)) {
      throw new WireError(`Bad proof for node ${node}`, TransportCodes.auth)
    }
    const refusal = this.#host.admit(this, node)
    if (refusal !== undefined) throw new WireError(`Peer ${node} refused`, refusal)
    this.#sendNow([Tag.welcome, proof(this.#host.secret, 'server', transcript), this.#ownLimits()])
    this.#open(node, limits)
  }

  #onWelcome (envelope: WelcomeEnvelope): void {
    const [, serverProof, limits] = envelope
    const node = this.#challengeNode
    if (node === undefined) throw new WireError('Welcome before challenge', TransportCodes.badMessage)
    if (!verifyProof(this.#host.secret, 'server', this.#transcript(this.#host.nodeId, node), serverProof)) {
      throw new WireError(`Bad proof from node ${node}`, TransportCodes.auth)
    }
    const refusal = this.#host.admit(this, node)
    if (refusal !== undefined) throw new WireError(`Peer ${node} refused`, refusal)
    this.#open(node, limits)
  }

  #transcript (client: NodeId, server: NodeId): Transcript {
    if (this.#serverNonce === undefined || this.#clientNonce === undefined) {
      throw new WireError('Handshake out of order', TransportCodes.badMessage)
    }
    return { version: this.#version, cluster: this.#host.clusterId, client, server, serverNonce: this.#serverNonce, clientNonce: this.#clientNonce }
  }

  #open (peer: NodeId, limits: WireLimits): void {
    if (this.#handshakeTimer !== undefined) {
      this.#host.clock.clearTimer(this.#handshakeTimer)
      this.#handshakeTimer = undefined
    }
    this.peer = peer
    this.#peerMaxPayload = limits[0]
    this.state = 'open'
    this.#lastProgress = this.#host.clock.now()
    this.link = this.#host.attach(this, peer, limits)
  }

  /** Sends a handshake envelope now, outside any batch. */
  #sendNow (envelope: Envelope): void {
    const bytes = encodeEnvelope(envelope)
    this.#sendFrame(encodeFrame([bytes], bytes.length, minWireVersion))
  }

  #sendFrame (frame: Buffer): void {
    if (this.#unflushedBytes === 0) this.#lastProgress = this.#host.clock.now()
    this.#unflushedBytes += frame.length
    const link = this.link
    if (link !== undefined) {
      link.counters.framesSent++
      link.counters.bytesSent += frame.length
    }
    this.#socket.send(frame, () => {
      this.#unflushedBytes -= frame.length
      this.#lastProgress = this.#host.clock.now()
      if (this.link?.isCurrent(this) === true) this.link.notifyDrain()
    })
  }

  /** Queues one envelope of the session; see {@link LinkWire.write}. */
  write (bytes: Uint8Array): void {
    if (this.state !== 'open') return
    if (!this.#host.batching) {
      this.#sendFrame(encodeFrame([bytes], bytes.length, this.#version))
      return
    }
    this.#queue.push(bytes)
    this.#queuedBytes += bytes.length
    if (this.#queuedBytes >= eagerFlushBytes) {
      this.#sendQueued()
      return
    }
    if (!this.#flushScheduled) {
      this.#flushScheduled = true
      setImmediate(this.#flush)
    }
  }

  /** Sends what is left of this turn's queue. */
  readonly #flush = (): void => {
    this.#flushScheduled = false
    this.#sendQueued()
  }

  /** Sends what is queued, as few frames as `maxPayload` allows. */
  #sendQueued (): void {
    if (this.state !== 'open' || this.#queue.length === 0) return
    const queue = this.#queue
    this.#queue = []
    this.#queuedBytes = 0
    const maxFrame = Math.min(this.#host.limits.maxPayload, this.#peerMaxPayload)
    let start = 0
    let size = 0
    for (let i = 0; i < queue.length; i++) {
      const length = (queue[i] as Uint8Array).length
      if (i > start && size + length + 1 > maxFrame) {
        this.#sendFrame(encodeFrame(queue.slice(start, i), size, this.#version))
        start = i
        size = 0
      }
      size += length
    }
    this.#sendFrame(start === 0 ? encodeFrame(queue, size, this.#version) : encodeFrame(queue.slice(start), size, this.#version))
  }

  /** Bytes queued or handed to the socket and not yet written. */
  bufferedBytes (): number {
    return this.#queuedBytes + this.#unflushedBytes
  }

  /**
   * Runs the liveness checks; the transport calls it every heartbeat interval.
   *
   * @param now The clock's time.
   */
  heartbeat (now: number): void {
    if (this.state !== 'open') return
    const limits = this.#host.limits
    if (now - this.lastReceived > limits.heartbeatTimeout) {
      this.fail(TransportCodes.peerTimeout, `nothing heard for ${Math.round(now - this.lastReceived)} ms`)
    } else if (this.#unflushedBytes > 0 && now - this.#lastProgress > limits.slowReaderTimeout) {
      this.fail(TransportCodes.slowReader, `${this.#unflushedBytes} bytes unwritten for ${Math.round(now - this.#lastProgress)} ms`)
    } else {
      this.#socket.ping()
    }
  }

  /** Records a pong (or any sign of life). */
  alive (): void {
    this.lastReceived = this.#host.clock.now()
  }

  /**
   * Records a ws-level error; the close that follows is explained by it.
   *
   * @param code A `MAKO_*` code.
   */
  socketError (code: string): void {
    this.#socketError ??= code
  }

  /**
   * Closes the connection because of `code`: the peer gets a close frame
   * whose reason is the code, and the session (if any) ends.
   *
   * @param code A `MAKO_*` code.
   * @param detail For people.
   */
  fail (code: string, detail: string): void {
    if (this.state === 'closed') return
    const abrupt = code === TransportCodes.peerTimeout || code === TransportCodes.slowReader
    this.#socket.close(closeCodeFor(code), code, abrupt)
    this.#end(transportError(`${this.peer ?? 'unauthenticated peer'}: ${detail}`, code), 'local')
  }

  /**
   * The socket closed (the peer closed it, or the network failed).
   *
   * @param code The WebSocket close code.
   * @param reason The close reason the peer gave.
   */
  socketClosed (code: number, reason: string): void {
    if (this.state === 'closed') return
    let mako = /^MAKO_[A-Z0-9_]{1,60}$/.exec(reason)?.[0]
    if (mako === undefined) {
      if (this.#socketError !== undefined) mako = this.#socketError
      else if (code === 1009) mako = TransportCodes.frameTooLarge
      else if (code === 1000 || code === 1001) mako = TransportCodes.shutdown
      else mako = TransportCodes.connection
    }
    const by = this.#socketError !== undefined ? 'local' : 'remote'
    this.#end(transportError(`${this.peer ?? 'unauthenticated peer'} closed the connection (${code} ${mako})`, mako), by)
  }

  #end (reason: MakoError, by: 'local' | 'remote'): void {
    this.state = 'closed'
    this.closeReason = reason
    if (this.#handshakeTimer !== undefined) {
      this.#host.clock.clearTimer(this.#handshakeTimer)
      this.#handshakeTimer = undefined
    }
    this.#queue = []
    this.#queuedBytes = 0
    if (this.link?.isCurrent(this) === true) this.link.closeSession(reason)
    this.#host.detached(this, reason, by)
  }
}
