/**
 * Connecting to a cluster from nothing but a node's URL and the secret:
 * dial the URL, learn the node's id from the authenticated handshake, ask
 * it for the cluster's description (node URLs and shard map, never the
 * secret), then connect as {@link connectClient} does.
 *
 * @module
 */

import { randomBytes } from 'node:crypto'
import { MakoError } from '../../lib/errors.js'
import { Channels } from '../transport/channels.js'
import { WsTransport } from '../transport/ws-transport.js'
import type { TxnReply } from '../txn/messages.js'
import { parseConfig } from './config.js'
import type { ClusterConfig } from './config.js'
import { connectClient } from './connect.js'
import type { ClusterConnection, ConnectOptions } from './connect.js'
import { clusterLinkLimits } from './node.js'

/** The cluster id that `mako local` and the remote client use unless told otherwise. */
export const defaultClusterId = 'mako'

/** Options of {@link connectRemote} and {@link describeCluster}. */
export interface RemoteOptions extends Omit<ConnectOptions, 'config'> {
  /** URLs of one or more nodes (`ws://host:port`); the first that answers is asked. */
  urls: readonly string[]
  /** The cluster's shared secret. */
  secret: string
  /** The cluster id; default {@link defaultClusterId}. */
  cluster?: string
}

/**
 * Asks a node, found by URL, for the cluster's configuration (with the
 * secret given, which the node never sends).
 *
 * @param options URLs, secret, cluster id.
 * @throws MakoError `MAKO_UNAVAILABLE` (transient) when no URL answered.
 */
export async function describeCluster (options: RemoteOptions): Promise<ClusterConfig> {
  if (!Array.isArray(options.urls) || options.urls.length === 0) throw new MakoError('Give at least one node URL', 'MAKO_INVALID_CONFIG')
  const cluster = options.cluster ?? defaultClusterId
  const ws = new WsTransport({ nodeId: `probe-${randomBytes(6).toString('hex')}`, clusterId: cluster, secret: options.secret, limits: { ...clusterLinkLimits, ...options.limits } })
  const channels = new Channels(ws)
  const txn = channels.channel('txn')
  const errors: string[] = []
  // Every URL at once, the first answer wins: a node that is down must
  // not cost its connect timeout before the next one is tried.
  const ask = async (url: string): Promise<ClusterConfig> => {
    try {
      const node = await ws.identify(url, options.connectTimeout ?? 5000)
      const res = await txn.request(node, { c: 'config' }, { timeout: 5000 }) as TxnReply
      if (res?.ok !== true || typeof res.config !== 'object' || res.config === null) throw new MakoError('the node did not describe its cluster', 'MAKO_NO_CONFIG')
      return parseConfig({ ...(res.config as Record<string, unknown>), secret: options.secret })
    } catch (err) {
      errors.push(`${url}: ${err instanceof Error ? err.message : String(err)}`)
      throw err
    }
  }
  try {
    return await Promise.any(options.urls.map(ask))
  } catch {
    throw new MakoError(`No node of cluster ${cluster} answered (${errors.join('; ')})`, 'MAKO_UNAVAILABLE', { transient: true })
  } finally {
    await channels.close()
  }
}

/** A client's connection made from URLs: the connection and the configuration the cluster described. */
export interface RemoteConnection extends ClusterConnection {
  /** The cluster's configuration as a node described it (with the caller's secret). */
  config: ClusterConfig
}

/**
 * Connects a client to a cluster given node URLs and the secret.
 *
 * @example
 * ```ts
 * const { client, close } = await connectRemote({ urls: ['ws://127.0.0.1:7001'], secret })
 * ```
 *
 * @param options URLs, secret, cluster id, client id and timeouts.
 */
export async function connectRemote (options: RemoteOptions): Promise<RemoteConnection> {
  const config = await describeCluster(options)
  const { urls: _urls, secret: _secret, cluster: _cluster, ...rest } = options
  const conn = await connectClient({ ...rest, config })
  return Object.assign(conn, { config })
}
