/**
 * The WebSocket transport: `ws` sockets carrying msgpackr-encoded envelopes,
 * batched per event-loop turn, with an HMAC-authenticated handshake, optional
 * TLS, heartbeats, reconnects with backoff, and limits on everything.
 *
 * @module
 */

import { createServer as createHttpServer } from 'node:http'
import type { IncomingMessage, Server as HttpServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { WebSocket, WebSocketServer } from 'ws'
import { MakoError } from '../../lib/errors.js'
import { reconnectDelay } from './backoff.js'
import { systemClock } from './clock.js'
import type { Clock, TimerHandle } from './clock.js'
import type { WireLimits } from './codec.js'
import { TransportCodes, transportError } from './codes.js'
import { Connection, defaultWsLimits } from './connection.js'
import type { ConnectionHost, FrameSocket, WsLimits } from './connection.js'
import { secretBytes } from './handshake.js'
import { clusterId as toClusterId, nodeId as toNodeId } from './ids.js'
import type { ClusterId, NodeId } from './ids.js'
import type { LinkCore } from './link-core.js'
import { resolveTransportLimits, TransportBase } from './transport-base.js'

/** TLS material: a server's certificate and key, and what a client trusts. */
export interface WsTlsOptions {
  /** PEM certificate chain this node presents when it listens. */
  cert?: string | Buffer
  /** PEM private key of `cert`. */
  key?: string | Buffer
  /** PEM certificates trusted when dialing (for a private CA or a self-signed peer). */
  ca?: string | Buffer | Array<string | Buffer>
  /** Whether a client checks the server's certificate; default true. */
  rejectUnauthorized?: boolean
}

/** Options of {@link WsTransport}. */
export interface WsTransportOptions {
  /** This node's id. */
  nodeId: string
  /** The cluster's id; peers of other clusters are refused. */
  clusterId: string
  /** The shared cluster secret, at least 16 bytes. It never goes on the wire. */
  secret: string | Uint8Array
  /** Limits; see {@link WsLimits} for the defaults. */
  limits?: Partial<WsLimits>
  /**
   * Whether messages queued in one turn of the event loop leave as one
   * frame (default true). False sends a frame per message.
   */
  batching?: boolean
  /** TLS: with `cert` and `key`, `listen` serves `wss`; `ca` is trusted when dialing. */
  tls?: WsTlsOptions
  /** Which authenticated nodes may join; default all that know the secret. */
  allowPeer?: (peer: NodeId) => boolean
  /** Source of reconnect jitter, in [0, 1); default `Math.random`. */
  random?: () => number
  /** Clock for deadlines and heartbeats; default the system clock. */
  clock?: Clock
}

/** Where {@link WsTransport.listen} listens. */
export interface WsListenOptions {
  /** TCP port; 0 (the default) picks a free one. */
  port?: number
  /** Interface to bind; default `127.0.0.1`. */
  host?: string
}

/** Counters of a {@link WsTransport} as a whole (links have their own). */
export interface WsTransportStats {
  /** Connections open now, in handshake or authenticated, both directions. */
  connections: number
  /** Inbound connections still in their handshake. */
  pendingHandshakes: number
  /** Inbound connections accepted at the HTTP upgrade. */
  accepted: number
  /** Inbound connections refused before the WebSocket upgrade, by reason. */
  rejected: Record<string, number>
  /** Connections that closed, by `MAKO_*` reason, handshakes included. */
  closes: Record<string, number>
  /** Outbound connection attempts. */
  dials: number
}

/** Checks a peer URL: parseable, `ws:` or `wss:`. */
function checkPeerUrl (url: string): void {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch (err) {
    throw new MakoError(`Bad peer URL: ${url}`, TransportCodes.invalidArgument, { cause: err })
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    throw new MakoError(`Peer URL must be ws: or wss:, got ${parsed.protocol}`, TransportCodes.invalidArgument)
  }
}

/** One live connection and its socket. */
interface Live {
  readonly conn: Connection
  readonly ws: WebSocket
  readonly inbound: boolean
  readonly closed: Promise<void>
}

/** A peer this node keeps dialing. */
interface Dial {
  readonly peer: NodeId
  readonly url: string
  attempt: number
  timer: TimerHandle | undefined
  live: Live | undefined
}

function zeroMask (mask: Buffer): void {
  mask.fill(0)
}

function bump (record: Record<string, number>, key: string): void {
  record[key] = (record[key] ?? 0) + 1
}

function wsErrorCode (err: unknown): string {
  const code = (err as { code?: unknown })?.code
  if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') return TransportCodes.frameTooLarge
  if (code === 'WS_ERR_TOO_MANY_BUFFERED_PARTS') return TransportCodes.limit
  if (typeof code === 'string' && code.startsWith('WS_ERR_')) return TransportCodes.websocket
  return TransportCodes.connection
}

/**
 * A {@link Transport} over WebSockets.
 *
 * A node listens (optionally) and dials the peers it is told to; each link
 * has at most one connection. When two nodes dial each other at once, the
 * connection dialed by the smaller node id wins and the other is closed with
 * `MAKO_DUPLICATE` (the link may flap once): dial from one side where you can.
 *
 * @example
 * ```ts
 * const a = new WsTransport({ nodeId: 'a', clusterId: 'c', secret })
 * const b = new WsTransport({ nodeId: 'b', clusterId: 'c', secret })
 * const url = await b.listen()
 * b.onRequest((payload) => ({ echo: payload }))
 * a.connect(nodeId('b'), url)
 * await a.waitForPeer(nodeId('b'))
 * await a.request(nodeId('b'), 'hi') // { echo: 'hi' }
 * ```
 */
export class WsTransport extends TransportBase {
  /** The cluster this node belongs to. */
  readonly clusterId: ClusterId
  /** The limits in force. */
  declare readonly limits: Readonly<WsLimits>
  /** Whether messages of one turn leave as one frame. */
  readonly batching: boolean
  // What connections call; kept off the public surface.
  readonly #connectionHost: ConnectionHost
  readonly #tls: WsTlsOptions | undefined
  readonly #allowPeer: ((peer: NodeId) => boolean) | undefined
  readonly #random: () => number
  #server: HttpServer | undefined
  #wss: WebSocketServer | undefined
  #url: string | undefined
  readonly #live = new Set<Live>()
  readonly #active = new Map<NodeId, Connection>()
  readonly #dials = new Map<NodeId, Dial>()
  // Releases the pending-handshake slot of an inbound connection, once.
  readonly #releases = new Map<Connection, () => void>()
  #inbound = 0
  #pendingHandshakes = 0
  #heartbeatTimer: TimerHandle | undefined
  #closed: Promise<void> | undefined
  readonly #stats: WsTransportStats = { connections: 0, pendingHandshakes: 0, accepted: 0, rejected: {}, closes: {}, dials: 0 }

  /**
   * @param options Identity, secret, limits and TLS.
   * @throws MakoError `MAKO_INVALID_ID` or `MAKO_INVALID_CONFIG` for bad options.
   */
  constructor (options: WsTransportOptions) {
    const id = toNodeId(options.nodeId)
    const limits = WsTransport.resolveLimits(options.limits)
    super(id, limits, options.clock ?? systemClock)
    this.clusterId = toClusterId(options.clusterId)
    this.batching = options.batching ?? true
    this.#connectionHost = {
      nodeId: this.nodeId,
      clusterId: this.clusterId,
      secret: secretBytes(options.secret),
      limits: this.limits,
      clock: this.clock,
      batching: this.batching,
      admit: (conn, peer) => this.#admit(conn, peer),
      attach: (conn, peer, peerLimits) => this.#attach(conn, peer, peerLimits),
      detached: (conn, reason) => { this.#detached(conn, reason) }
    }
    this.#tls = options.tls
    this.#allowPeer = options.allowPeer
    this.#random = options.random ?? Math.random
    this.#scheduleHeartbeat()
  }

  /**
   * Merges WebSocket limits with their defaults and checks them.
   *
   * @param limits Limits given by the caller.
   * @throws MakoError `MAKO_INVALID_CONFIG` for a limit out of range.
   */
  static resolveLimits (limits: Partial<WsLimits> = {}): Readonly<WsLimits> {
    const base = resolveTransportLimits(limits)
    const merged: WsLimits = { ...defaultWsLimits, ...base }
    for (const key of Object.keys(defaultWsLimits) as Array<keyof typeof defaultWsLimits>) {
      const value = limits[key]
      if (value !== undefined) merged[key] = value
      if (!Number.isInteger(merged[key]) || merged[key] < 1) {
        throw new MakoError(`${key} must be a positive integer`, TransportCodes.invalidConfig)
      }
    }
    if (merged.heartbeatTimeout <= merged.heartbeatInterval) {
      throw new MakoError('heartbeatTimeout must exceed heartbeatInterval', TransportCodes.invalidConfig)
    }
    return Object.freeze(merged)
  }

  /** The URL peers dial, once listening. */
  get url (): string | undefined {
    return this.#url
  }

  /**
   * Starts accepting peers. Resolves with the URL to give to peers.
   *
   * @param options Port and interface; default a free port on 127.0.0.1.
   */
  async listen (options: WsListenOptions = {}): Promise<string> {
    if (this.closing !== undefined) throw this.closing
    if (this.#server !== undefined) throw new MakoError('Already listening', TransportCodes.invalidArgument)
    const host = options.host ?? '127.0.0.1'
    const limits = this.limits
    const timeouts = {
      // Node waits 60 s for request headers by default; an unauthenticated
      // socket gets no more than the handshake deadline.
      headersTimeout: limits.handshakeTimeout,
      requestTimeout: limits.handshakeTimeout + 1000,
      connectionsCheckingInterval: Math.min(1000, limits.handshakeTimeout),
      keepAliveTimeout: 1000
    }
    const tls = this.#tls
    const secure = tls?.cert !== undefined && tls.key !== undefined
    const server: HttpServer = secure
      ? createHttpsServer({ ...timeouts, cert: tls.cert, key: tls.key }) as unknown as HttpServer
      : createHttpServer(timeouts)
    server.maxConnections = limits.maxConnections
    server.on('request', (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain', connection: 'close' })
      res.end('This port speaks the mako-level peer protocol over WebSocket\n')
    })
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => { this.#onUpgrade(req, socket, head) })
    server.on('clientError', (_err, socket: Duplex) => { socket.destroy() })
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: limits.maxPayload,
      maxFragments: limits.maxFragments,
      maxBufferedChunks: limits.maxBufferedChunks,
      perMessageDeflate: false,
      clientTracking: false,
      skipUTF8Validation: true
    })
    this.#server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject)
        resolve()
      })
    })
    server.on('error', () => {})
    const address = server.address()
    const port = typeof address === 'object' && address !== null ? address.port : options.port
    const shownHost = host.includes(':') ? `[${host}]` : host
    this.#url = `${secure ? 'wss' : 'ws'}://${shownHost}:${port}/`
    return this.#url
  }

  #reject (socket: Duplex, code: string): void {
    bump(this.#stats.rejected, code)
    socket.on('error', () => {})
    socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
    socket.destroy()
  }

  #onUpgrade (req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {})
    const wss = this.#wss
    if (this.closing !== undefined || wss === undefined) {
      this.#reject(socket, TransportCodes.shutdown)
      return
    }
    if (this.#inbound >= this.limits.maxConnections || this.#pendingHandshakes >= this.limits.maxPendingHandshakes) {
      this.#reject(socket, TransportCodes.tooManyConnections)
      return
    }
    // Reserve the slots now: the upgrade may complete later, and the socket
    // may die before it does; 'close' always returns them.
    this.#inbound++
    this.#pendingHandshakes++
    let pending = true
    const release = (): void => {
      if (pending) {
        pending = false
        this.#pendingHandshakes--
      }
    }
    socket.once('close', () => {
      release()
      this.#inbound--
    })
    ;(socket as Socket).setNoDelay?.(true)
    wss.handleUpgrade(req, socket, head, (ws) => {
      this.#stats.accepted++
      const live = this.#adopt(ws, true, undefined, release)
      // Count raw bytes until authenticated: a peer that streams data at an
      // unauthenticated socket is closed long before maxPayload.
      const onData = (chunk: Buffer): void => {
        const conn = live.conn
        if (conn.state !== 'handshake') {
          socket.off('data', onData)
          return
        }
        conn.handshakeBytes += chunk.length
        if (conn.handshakeBytes > this.limits.maxHandshakeBytes) conn.fail(TransportCodes.limit, 'too many bytes before authentication')
      }
      socket.on('data', onData)
      live.conn.start()
    })
  }

  /** Wraps a ws socket in a Connection and wires their events. */
  #adopt (ws: WebSocket, inbound: boolean, expectedPeer: NodeId | undefined, onAuthenticated?: () => void): Live {
    const frameSocket: FrameSocket = {
      send: (frame, done) => {
        if (ws.readyState !== WebSocket.OPEN) {
          done(new Error('socket not open'))
          return
        }
        ws.send(frame, { binary: true }, done)
      },
      ping: () => {
        if (ws.readyState === WebSocket.OPEN) ws.ping()
      },
      close: (code, reason, abrupt) => {
        if (abrupt || ws.readyState === WebSocket.CONNECTING) {
          ws.terminate()
          return
        }
        if (ws.readyState === WebSocket.OPEN) ws.close(code, reason)
        // A peer that never answers our close frame is cut off.
        setTimeout(() => { ws.terminate() }, 1000).unref()
      }
    }
    const conn = new Connection(this.#connectionHost, frameSocket, inbound ? 'server' : 'client', expectedPeer)
    let onClosed: () => void = () => {}
    const closed = new Promise<void>((resolve) => { onClosed = resolve })
    const live: Live = { conn, ws, inbound, closed }
    this.#live.add(live)
    this.#stats.connections++
    if (onAuthenticated !== undefined) this.#releases.set(conn, onAuthenticated)
    ws.on('error', (err) => { conn.socketError(wsErrorCode(err)) })
    ws.on('message', (data, isBinary) => { conn.receiveFrame(data as Buffer, isBinary) })
    ws.on('pong', () => { conn.alive() })
    ws.on('close', (code, reason) => {
      this.#live.delete(live)
      this.#stats.connections--
      conn.socketClosed(code, reason.toString('latin1'))
      onClosed()
    })
    return live
  }

  /**
   * Keeps a connection to `peer` at `url`: dials now, and again with
   * exponential backoff and jitter whenever the link is down, until
   * {@link WsTransport.disconnect} or {@link WsTransport.close}.
   *
   * @param peer The node expected at `url`; another node answering is refused.
   * @param url A `ws://` or `wss://` URL from the peer's `listen`.
   */
  connect (peer: NodeId | string, url: string): void {
    if (this.closing !== undefined) throw this.closing
    const id = toNodeId(peer)
    if (id === this.nodeId) throw new MakoError('A node cannot dial itself', TransportCodes.invalidArgument)
    checkPeerUrl(url)
    const existing = this.#dials.get(id)
    if (existing !== undefined) {
      if (existing.url === url) return
      this.disconnect(id)
    }
    const dial: Dial = { peer: id, url, attempt: 0, timer: undefined, live: undefined }
    this.#dials.set(id, dial)
    this.link(id)
    this.#dial(dial)
  }

  /**
   * Stops dialing `peer` and closes its link if it is up.
   *
   * @param peer The peer.
   */
  disconnect (peer: NodeId | string): void {
    const id = toNodeId(peer)
    const dial = this.#dials.get(id)
    if (dial !== undefined) {
      this.#dials.delete(id)
      if (dial.timer !== undefined) this.clock.clearTimer(dial.timer)
      dial.live?.conn.fail(TransportCodes.shutdown, 'disconnected')
    }
    this.#active.get(id)?.fail(TransportCodes.shutdown, 'disconnected')
  }

  #dial (dial: Dial): void {
    dial.timer = undefined
    if (this.closing !== undefined || this.#dials.get(dial.peer) !== dial) return
    if (this.#active.get(dial.peer)?.state === 'open') return
    this.#stats.dials++
    const ws = this.#socket(dial.url)
    const live = this.#adopt(ws, false, dial.peer)
    dial.live = live
    ws.on('open', () => {
      ;(ws as unknown as { _socket?: Socket })._socket?.setNoDelay?.(true)
      live.conn.start()
    })
  }

  /** A client WebSocket to a peer's URL, with the transport's limits. */
  #socket (url: string): WebSocket {
    const tls = this.#tls
    const limits = this.limits
    return new WebSocket(url, {
      maxPayload: limits.maxPayload,
      maxFragments: limits.maxFragments,
      maxBufferedChunks: limits.maxBufferedChunks,
      perMessageDeflate: false,
      skipUTF8Validation: true,
      followRedirects: false,
      handshakeTimeout: limits.handshakeTimeout,
      // RFC 6455 masks client frames so that a hostile script in a browser
      // cannot shape bytes seen by proxies; between cluster peers there is
      // no browser, and a zero mask lets ws skip an XOR pass and a copy of
      // every frame on both sides.
      generateMask: zeroMask,
      ...(tls?.ca !== undefined ? { ca: tls.ca } : {}),
      ...(tls?.rejectUnauthorized !== undefined ? { rejectUnauthorized: tls.rejectUnauthorized } : {})
    })
  }

  /**
   * Dials a URL without knowing which node answers, learns the node's id
   * from the authenticated handshake, and from then on keeps the link as
   * {@link WsTransport.connect} does. For clients given only URLs.
   *
   * @param url A `ws://` or `wss://` URL of a node.
   * @param timeout Milliseconds for the connection and handshake; default the handshake timeout.
   * @returns The node's id.
   * @throws MakoError `MAKO_PEER_UNAVAILABLE` when no node authenticated in time.
   */
  async identify (url: string, timeout = this.limits.handshakeTimeout): Promise<NodeId> {
    if (this.closing !== undefined) throw this.closing
    checkPeerUrl(url)
    this.#stats.dials++
    const ws = this.#socket(url)
    return await new Promise<NodeId>((resolve, reject) => {
      let done = false
      // eslint-disable-next-line prefer-const
      let live: Live
      const timer = this.clock.setTimer(timeout, () => {
        if (!done) live.conn.fail(TransportCodes.handshakeTimeout, 'no node identified in time')
      })
      live = this.#adopt(ws, false, undefined, () => {
        done = true
        this.clock.clearTimer(timer)
        // Called as the connection is attached (or fails): look once the
        // attach has finished.
        queueMicrotask(() => {
          const peer = live.conn.peer
          if (peer === undefined || this.#active.get(peer) !== live.conn) {
            reject(new MakoError(`No node authenticated at ${url}`, TransportCodes.peerUnavailable, { transient: true }))
            return
          }
          if (!this.#dials.has(peer)) this.#dials.set(peer, { peer, url, attempt: 0, timer: undefined, live })
          resolve(peer)
        })
      })
      ws.on('open', () => {
        ;(ws as unknown as { _socket?: Socket })._socket?.setNoDelay?.(true)
        live.conn.start()
      })
    })
  }

  #scheduleReconnect (dial: Dial): void {
    if (this.closing !== undefined || this.#dials.get(dial.peer) !== dial) return
    if (dial.timer !== undefined || dial.live !== undefined) return
    const delay = reconnectDelay(dial.attempt, this.limits.reconnectBaseDelay, this.limits.reconnectMaxDelay, this.#random)
    dial.attempt++
    dial.timer = this.clock.setTimer(delay, () => { this.#dial(dial) })
  }

  #admit (conn: Connection, peer: NodeId): string | undefined {
    if (this.closing !== undefined) return TransportCodes.shutdown
    if (this.#allowPeer !== undefined && !this.#allowPeer(peer)) return TransportCodes.unknownPeer
    const current = this.#active.get(peer)
    if (current === undefined || current === conn || current.state !== 'open') return undefined
    // Two connections for one pair. A second one from the same dialer means
    // it gave up on the first: the new one wins. Otherwise both sides keep
    // the one dialed by the smaller id, so they agree without talking.
    const dialerOf = (c: Connection): NodeId => c.role === 'client' ? this.nodeId : peer
    if (dialerOf(conn) === dialerOf(current)) return undefined
    const winner = this.nodeId < peer ? this.nodeId : peer
    return dialerOf(conn) === winner ? undefined : TransportCodes.duplicate
  }

  #attach (conn: Connection, peer: NodeId, peerLimits: WireLimits): LinkCore {
    this.#release(conn)
    const old = this.#active.get(peer)
    this.#active.set(peer, conn)
    if (old !== undefined && old !== conn) old.fail(TransportCodes.duplicate, 'replaced by a newer connection')
    const dial = this.#dials.get(peer)
    if (dial !== undefined && dial.live?.conn === conn) dial.attempt = 0
    const link = this.linkCore(peer)
    link.open(conn, peerLimits)
    return link
  }

  #detached (conn: Connection, reason: MakoError): void {
    bump(this.#stats.closes, reason.code)
    this.#release(conn)
    const peer = conn.peer ?? conn.expectedPeer
    if (conn.peer !== undefined && this.#active.get(conn.peer) === conn) this.#active.delete(conn.peer)
    if (peer === undefined) return
    const dial = this.#dials.get(peer)
    if (dial === undefined) return
    if (dial.live?.conn === conn) dial.live = undefined
    if (this.#active.get(peer)?.state !== 'open') this.#scheduleReconnect(dial)
  }

  #release (conn: Connection): void {
    const release = this.#releases.get(conn)
    if (release === undefined) return
    this.#releases.delete(conn)
    release()
  }

  #scheduleHeartbeat (): void {
    this.#heartbeatTimer = this.clock.setTimer(this.limits.heartbeatInterval, () => {
      const now = this.clock.now()
      for (const live of [...this.#live]) live.conn.heartbeat(now)
      if (this.closing === undefined) this.#scheduleHeartbeat()
    })
  }

  /** Counters of the transport as a whole. */
  transportStats (): WsTransportStats {
    return {
      ...this.#stats,
      connections: this.#live.size,
      pendingHandshakes: this.#pendingHandshakes,
      rejected: { ...this.#stats.rejected },
      closes: { ...this.#stats.closes }
    }
  }

  /**
   * Cuts the connection to `peer` as a network failure would, without a
   * close frame; the transport reconnects as it would after a real one.
   * For tests.
   *
   * @internal
   */
  dropConnection (peer: NodeId): void {
    const conn = this.#active.get(peer)
    if (conn === undefined) return
    for (const live of this.#live) {
      if (live.conn === conn) live.ws.terminate()
    }
  }

  /** Closes every connection and the server; see {@link Transport.close}. */
  close (): Promise<void> {
    if (this.#closed !== undefined) return this.#closed
    this.closing = transportError(`Transport ${this.nodeId} closed`, TransportCodes.closed)
    if (this.#heartbeatTimer !== undefined) this.clock.clearTimer(this.#heartbeatTimer)
    for (const dial of this.#dials.values()) {
      if (dial.timer !== undefined) this.clock.clearTimer(dial.timer)
    }
    this.#dials.clear()
    this.shutdownLinks(this.closing)
    const waits: Array<Promise<void>> = []
    for (const live of [...this.#live]) {
      waits.push(live.closed)
      live.conn.fail(TransportCodes.shutdown, 'shutting down')
      if (live.conn.state === 'closed' && live.ws.readyState === WebSocket.CONNECTING) live.ws.terminate()
    }
    const server = this.#server
    const wss = this.#wss
    this.#closed = (async () => {
      wss?.close()
      if (server !== undefined) {
        waits.push(new Promise((resolve) => { server.close(() => { resolve() }) }))
        server.closeAllConnections()
      }
      // Peers get a moment to answer our close frames; the sockets are
      // terminated after a second regardless (see the FrameSocket close).
      await Promise.all(waits)
    })()
    return this.#closed
  }
}
