/**
 * Factories of the acceptance suite for the two transports.
 *
 * @internal
 */

import { Simulator } from '../../cluster/sim/index.js'
import { nodeId, WsTransport } from '../../cluster/transport/index.js'
import type { NodeId, Transport, WsLimits, WsTransportOptions } from '../../cluster/transport/index.js'
import type { TransportFactory, TransportHarness } from './acceptance.js'

/** A secret for tests only. @internal */
export const testSecret = 'test-secret-0123456789abcdef'

/** Limits that keep the WebSocket tests fast. @internal */
export const fastWsLimits: Partial<WsLimits> = {
  // Generous next to the intervals: a loaded test machine can stall a
  // process for hundreds of milliseconds, and a missed heartbeat drops the link.
  heartbeatInterval: 200,
  heartbeatTimeout: 3000,
  reconnectBaseDelay: 20,
  reconnectMaxDelay: 200,
  handshakeTimeout: 5000
}

/**
 * Makes and links `count` WebSocket transports on 127.0.0.1: node i dials
 * node j for i < j.
 *
 * @internal
 */
export async function wsCluster (count: number, options: Partial<WsTransportOptions> = {}): Promise<WsTransport[]> {
  const nodes: WsTransport[] = []
  const urls: string[] = []
  for (let i = 0; i < count; i++) {
    const node = new WsTransport({
      nodeId: `n${i + 1}`,
      clusterId: 'test',
      secret: testSecret,
      ...options,
      limits: { ...fastWsLimits, ...options.limits }
    })
    nodes.push(node)
    urls.push(await node.listen())
  }
  for (let i = 0; i < count; i++) {
    for (let j = i + 1; j < count; j++) (nodes[i] as WsTransport).connect(nodeId(`n${j + 1}`), urls[j] as string)
  }
  await Promise.all(nodes.flatMap((node) => nodes.filter((other) => other !== node).map((other) => node.waitForPeer(other.nodeId, { timeout: 5000 }))))
  return nodes
}

/** The acceptance suite's factory for {@link WsTransport}. @internal */
export const wsFactory: TransportFactory = async ({ nodes: count, limits }) => {
  const nodes = await wsCluster(count, limits === undefined ? {} : { limits })
  const harness: TransportHarness = {
    nodes,
    breakLink: (a: NodeId, b: NodeId) => {
      for (const node of nodes) {
        if (node.nodeId === a) node.dropConnection(b)
      }
    },
    sleep: (ms) => new Promise((resolve) => { setTimeout(resolve, ms) }),
    close: async () => { await Promise.all(nodes.map((node) => node.close())) }
  }
  return harness
}

/**
 * The acceptance suite's factory for the simulator, with a seed per harness
 * derived from `seed`.
 *
 * @internal
 */
export function simFactory (seed: number): TransportFactory {
  let runs = 0
  return async ({ nodes: count, limits }) => {
    const sim = new Simulator({ seed: `${seed}/${runs++}`, ...(limits === undefined ? {} : { limits }) })
    const nodes: Transport[] = []
    for (let i = 0; i < count; i++) {
      sim.addNode(`n${i + 1}`, (env) => { nodes.push(env.transport) })
    }
    const stop = sim.runInBackground()
    await Promise.all(nodes.flatMap((node) => nodes.filter((other) => other !== node).map((other) => node.waitForPeer(other.nodeId, { timeout: 5000 }))))
    return {
      nodes,
      breakLink: (a: NodeId, b: NodeId) => { sim.disconnect(a, b) },
      sleep: (ms) => new Promise((resolve) => { sim.schedule(ms, resolve, 'sleep') }),
      close: async () => {
        await Promise.all(nodes.map((node) => node.close()))
        await stop()
      }
    }
  }
}
