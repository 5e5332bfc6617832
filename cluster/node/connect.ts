/**
 * A client's connection to a cluster: a WebSocket transport with a client
 * node id of its own, dialing every node of the configuration, and a
 * started {@link ClusterClient} on its transaction channel.
 *
 * @module
 */

import { randomBytes } from 'node:crypto'
import { MakoError } from '../../lib/errors.js'
import { Channels } from '../transport/channels.js'
import { isValidId } from '../transport/ids.js'
import type { NodeId } from '../transport/ids.js'
import type { Transport } from '../transport/types.js'
import { WsTransport } from '../transport/ws-transport.js'
import type { WsLimits } from '../transport/connection.js'
import { ClusterClient } from '../txn/client.js'
import type { ShardStatus, TxnReply } from '../txn/messages.js'
import type { Mark } from '../txn/vector.js'
import { ConfigError } from './config.js'
import type { ClusterConfig } from './config.js'
import { clusterLinkLimits } from './node.js'

/** Options of {@link connectClient}. */
export interface ConnectOptions {
  /** The cluster configuration. */
  config: ClusterConfig
  /** The client's node id; default `client-<random>`. Must not be a node of the cluster. */
  clientId?: string
  /** Milliseconds one request may take, leader changes included. Default 10,000 (the client's default). */
  timeout?: number
  /** Milliseconds one attempt at one replica may take. Default 1000 (the client's default). */
  attemptTimeout?: number
  /** Milliseconds a commit waits to become final. Default 30,000 (the client's default). */
  finalTimeout?: number
  /**
   * Milliseconds to wait for a link to at least one node before resolving;
   * 0 resolves at once (requests then wait for links themselves). Default 10,000.
   */
  connectTimeout?: number
  /** Transport limits; default the transport's, with the cluster's quicker reconnects. */
  limits?: Partial<WsLimits>
}

/** What a node reports about itself through the transaction channel. */
export interface RemoteNodeStatus {
  /** Each shard replica the node hosts. */
  shards: ShardStatus[]
  /** The node's marks (watermarks) of every shard, by shard. */
  marks: Mark[]
}

/** A client connected to a cluster, from {@link connectClient}. */
export interface ClusterConnection {
  /** The transaction client, started (subscribed to the nodes' watermarks). */
  readonly client: ClusterClient
  /** The client's transaction channel, for requests of its own. */
  readonly transport: Transport
  /**
   * A node's status: its shard replicas (role, leader, epoch, watermark,
   * commit index...) and its marks.
   *
   * @param nodeId A node of the configuration.
   * @param timeout Milliseconds; default 2000.
   * @throws MakoError from the transport when the node does not answer.
   */
  status(nodeId: string, timeout?: number): Promise<RemoteNodeStatus>
  /** Fails waiting commits and closes the transport. Idempotent. */
  close(): Promise<void>
}

/**
 * Connects a client to a cluster: dials every node of the configuration
 * and starts a {@link ClusterClient} over the links.
 *
 * @example
 * ```ts
 * const { client, close } = await connectClient({ config: await loadConfig('cluster.json') })
 * await client.transaction(async (tx) => { tx.put(key, value) })
 * await close()
 * ```
 *
 * @param options Configuration, client id and timeouts.
 * @throws ConfigError (`MAKO_INVALID_CONFIG`) for a client id that is not
 *   a valid id or names a node; MakoError `MAKO_UNAVAILABLE` (transient)
 *   when no node could be reached within `connectTimeout`.
 */
export async function connectClient (options: ConnectOptions): Promise<ClusterConnection> {
  const { config } = options
  const clientId = options.clientId ?? `client-${randomBytes(6).toString('hex')}`
  if (!isValidId(clientId)) throw new ConfigError('clientId', `${JSON.stringify(clientId)} is not a valid node id`)
  if (Object.prototype.hasOwnProperty.call(config.nodes, clientId)) throw new ConfigError('clientId', `${clientId} is a node of the cluster; a client needs an id of its own`)
  const ws = new WsTransport({ nodeId: clientId, clusterId: config.cluster, secret: config.secret, limits: { ...clusterLinkLimits, ...options.limits } })
  for (const id of config.nodeIds) ws.connect(id, config.nodes[id]!.url)
  const channels = new Channels(ws)
  const transport = channels.channel('txn')
  const client = new ClusterClient({
    transport,
    map: config.map,
    ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
    ...(options.attemptTimeout !== undefined ? { attemptTimeout: options.attemptTimeout } : {}),
    ...(options.finalTimeout !== undefined ? { finalTimeout: options.finalTimeout } : {})
  })
  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    if (closing === undefined) {
      client.close()
      closing = channels.close()
    }
    return closing
  }
  const connectTimeout = options.connectTimeout ?? 10_000
  if (connectTimeout > 0) {
    try {
      await Promise.any(config.nodeIds.map(async (id) => { await ws.waitForPeer(id as NodeId, { timeout: connectTimeout }) }))
    } catch (err) {
      await close()
      throw new MakoError(`No node of cluster ${config.cluster} answered within ${connectTimeout} ms (${config.nodeIds.map((id) => config.nodes[id]!.url).join(', ')})`, 'MAKO_UNAVAILABLE', { transient: true, cause: err })
    }
  }
  await client.start()
  return {
    client,
    transport,
    async status (nodeId: string, timeout = 2000): Promise<RemoteNodeStatus> {
      const res = await transport.request(nodeId as NodeId, { c: 'status' }, { timeout }) as TxnReply
      const marks: Mark[] = []
      for (const [shard, mark] of res.ms ?? []) marks[shard] = mark
      return { shards: [...res.st ?? []], marks }
    },
    close
  }
}
