/**
 * Connections without sockets, for the decoder and dispatcher tests: a fake
 * socket records frames and closes, a fake host accepts every peer, and
 * {@link memoryPair} runs a real handshake between two connections in memory.
 *
 * @internal
 */

import { Connection } from '../../cluster/transport/connection.js'
import type { ConnectionHost, FrameSocket } from '../../cluster/transport/connection.js'
import { LinkCore } from '../../cluster/transport/link-core.js'
import type { LinkHost } from '../../cluster/transport/link-core.js'
import { clusterId, nodeId, WsTransport } from '../../cluster/transport/index.js'
import type { Clock, NodeId, TimerHandle, WireLimits, WsLimits } from '../../cluster/transport/index.js'
import type { MakoError } from '../../lib/errors.js'
import { testSecret } from './harness.js'

/** A clock whose timers fire only when told. @internal */
export class ManualClock implements Clock {
  time = 0
  readonly timers = new Map<number, { at: number, fn: () => void }>()
  #next = 0
  now (): number { return this.time }
  setTimer (delayMs: number, fn: () => void): TimerHandle {
    const id = this.#next++
    this.timers.set(id, { at: this.time + delayMs, fn })
    return id as unknown as TimerHandle
  }

  clearTimer (handle: TimerHandle): void { this.timers.delete(handle as unknown as number) }
  /** Moves time forward and fires what is due, in order. */
  advance (ms: number): void {
    this.time += ms
    for (const [id, timer] of [...this.timers].sort((x, y) => x[1].at - y[1].at)) {
      if (timer.at <= this.time && this.timers.delete(id)) timer.fn()
    }
  }
}

/** A socket that records what it is asked to do. @internal */
export class FakeSocket implements FrameSocket {
  readonly sent: Buffer[] = []
  closed: { code: number, reason: string, abrupt: boolean } | undefined
  pings = 0
  /** Where sent frames go, if anywhere. */
  peer: ((frame: Buffer) => void) | undefined
  send (frame: Buffer, done: (err?: Error) => void): void {
    this.sent.push(frame)
    this.peer?.(frame)
    done()
  }

  ping (): void { this.pings++ }
  close (code: number, reason: string, abrupt: boolean): void { this.closed ??= { code, reason, abrupt } }
}

/** A host that admits every peer and links it to a real LinkCore that echoes requests. @internal */
export class FakeHost implements ConnectionHost, LinkHost {
  readonly nodeId: NodeId
  readonly clusterId = clusterId('test')
  readonly secret: Uint8Array
  readonly limits: Readonly<WsLimits>
  readonly clock: ManualClock
  readonly batching = false
  readonly links = new Map<NodeId, LinkCore>()
  readonly detachedReasons: MakoError[] = []
  messages = 0
  handlerErrors = 0
  readonly messageHandler = (): void => { this.messages++ }
  readonly requestHandler = (payload: unknown): unknown => payload

  constructor (id: string, options: { secret?: string, limits?: Partial<WsLimits>, clock?: ManualClock } = {}) {
    this.nodeId = nodeId(id)
    this.secret = Buffer.from(options.secret ?? testSecret)
    this.limits = WsTransport.resolveLimits(options.limits)
    this.clock = options.clock ?? new ManualClock()
  }

  admit (): string | undefined { return undefined }
  attach (conn: Connection, peer: NodeId, peerLimits: WireLimits): LinkCore {
    let link = this.links.get(peer)
    if (link === undefined) this.links.set(peer, link = new LinkCore(peer, this))
    link.open(conn, peerLimits)
    return link
  }

  detached (_conn: Connection, reason: MakoError): void { this.detachedReasons.push(reason) }
  linkUp (): void {}
  linkDown (): void {}
  handlerFailed (): void { this.handlerErrors++ }
}

/** A server-side connection that has sent its challenge and waits for a hello. @internal */
export function serverConnection (host = new FakeHost('server')): { conn: Connection, socket: FakeSocket, host: FakeHost } {
  const socket = new FakeSocket()
  const conn = new Connection(host, socket, 'server')
  conn.start()
  return { conn, socket, host }
}

/**
 * Two connections, client and server, wired back to back through fake
 * sockets; frames are delivered when `pump()` is called.
 *
 * @internal
 */
export function memoryPair (options: { clientSecret?: string, serverSecret?: string, clientId?: string, expected?: string } = {}): {
  client: Connection, server: Connection, clientSocket: FakeSocket, serverSocket: FakeSocket, clientHost: FakeHost, serverHost: FakeHost, pump: () => void
} {
  const clock = new ManualClock()
  const clientHost = new FakeHost(options.clientId ?? 'client', { clock, ...(options.clientSecret === undefined ? {} : { secret: options.clientSecret }) })
  const serverHost = new FakeHost('server', { clock, ...(options.serverSecret === undefined ? {} : { secret: options.serverSecret }) })
  const clientSocket = new FakeSocket()
  const serverSocket = new FakeSocket()
  const client = new Connection(clientHost, clientSocket, 'client', nodeId(options.expected ?? 'server'))
  const server = new Connection(serverHost, serverSocket, 'server')
  const toClient: Buffer[] = []
  const toServer: Buffer[] = []
  serverSocket.peer = (frame) => { toClient.push(frame) }
  clientSocket.peer = (frame) => { toServer.push(frame) }
  const pump = (): void => {
    for (let rounds = 0; rounds < 100 && (toClient.length > 0 || toServer.length > 0); rounds++) {
      for (const frame of toClient.splice(0)) client.receiveFrame(frame, true)
      for (const frame of toServer.splice(0)) server.receiveFrame(frame, true)
    }
  }
  client.start()
  server.start()
  return { client, server, clientSocket, serverSocket, clientHost, serverHost, pump }
}
