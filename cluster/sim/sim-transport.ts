/**
 * The simulated transport: the same link logic as the WebSocket transport
 * (ids, deadlines, cancellation, limits, statistics), with envelopes carried
 * by the simulator's network instead of sockets. Envelopes are encoded and
 * decoded with the real codec, so nodes never share objects and whatever
 * would not survive the wire does not survive the simulation either.
 *
 * @module
 * @internal
 */

import type { MakoError } from '../../lib/errors.js'
import type { Clock } from '../transport/clock.js'
import { TransportCodes, transportError } from '../transport/codes.js'
import type { NodeId } from '../transport/ids.js'
import type { LinkWire } from '../transport/link-core.js'
import { TransportBase } from '../transport/transport-base.js'
import type { TransportLimits } from '../transport/types.js'

/**
 * What a simulated transport needs from the simulator.
 *
 * @internal
 */
export interface SimNetworkHost {
  /** Carries one encoded envelope of `wire`'s session. */
  transmit(wire: SimWire, bytes: Uint8Array): void
  /** Ends `wire`'s session because of a protocol violation. */
  failSession(wire: SimWire, reason: MakoError): void
  /** The node closed its transport. */
  transportClosed(transport: SimTransport): void
}

/**
 * One side of one simulated session.
 *
 * @internal
 */
export class SimWire implements LinkWire {
  /** The node on this side. */
  readonly node: NodeId
  /** The node on the other side. */
  readonly peer: NodeId
  /** The session number of the node pair. */
  readonly session: number
  /** The transport of this side (dead once its node crashed). */
  readonly owner: SimTransport
  /** Bytes sent on this side and not yet delivered or dropped. */
  inFlightBytes = 0
  readonly #host: SimNetworkHost

  /** @internal */
  constructor (host: SimNetworkHost, owner: SimTransport, peer: NodeId, session: number) {
    this.#host = host
    this.owner = owner
    this.node = owner.nodeId
    this.peer = peer
    this.session = session
  }

  /** Hands the envelope to the simulated network. */
  write (bytes: Uint8Array): void {
    this.#host.transmit(this, bytes)
  }

  /** Bytes in the network from this side. */
  bufferedBytes (): number {
    return this.inFlightBytes
  }

  /** Ends the session, as a WebSocket close would. */
  fail (code: string, detail: string): void {
    this.#host.failSession(this, transportError(`${this.node} closed its link to ${this.peer}: ${detail}`, code))
  }
}

/**
 * A node's {@link Transport} inside the simulator.
 *
 * @internal
 */
export class SimTransport extends TransportBase {
  readonly #host: SimNetworkHost
  #alive = true

  /** @internal */
  constructor (host: SimNetworkHost, nodeId: NodeId, limits: Readonly<TransportLimits>, clock: Clock) {
    super(nodeId, limits, clock)
    this.#host = host
  }

  /** Whether this transport still carries traffic (not closed, node not crashed). @internal */
  get alive (): boolean {
    return this.#alive && this.closing === undefined
  }

  /**
   * The node crashed: this transport falls silent without telling anyone,
   * and its callers' promises never settle, as in a dead process.
   *
   * @internal
   */
  kill (): void {
    this.#alive = false
  }

  /** Closes every link; peers see `peerDown` with `MAKO_SHUTDOWN`. */
  close (): Promise<void> {
    if (this.closing === undefined) {
      this.closing = transportError(`Transport ${this.nodeId} closed`, TransportCodes.closed)
      this.shutdownLinks(this.closing)
      this.#host.transportClosed(this)
    }
    return Promise.resolve()
  }
}
