/**
 * A cluster node: one process's part of a cluster. It listens on its URL
 * from the configuration, keeps a link to every other node, and hosts a
 * replica of every shard that names it (a Multi-Paxos replica on a durable
 * log each) and the node's transaction service, all over one WebSocket
 * transport split into channels.
 *
 * The data directory holds `LOCK` (one process at a time), `NODE.json`
 * (the node, cluster and shard map it was created for: starting another
 * node, or a changed shard map, on it is refused) and `shard-<n>/`, the
 * Paxos log of each hosted shard.
 *
 * @module
 */

import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { MakoError } from '../../lib/errors.js'
import { lockDirectory } from '../../adapters/disk/lock.js'
import type { DirectoryLock } from '../../adapters/disk/lock.js'
import { Listeners } from '../transport/emitter.js'
import { Channels } from '../transport/channels.js'
import { withDelay } from '../transport/delay.js'
import { systemClock } from '../transport/clock.js'
import type { NodeId } from '../transport/ids.js'
import { WsTransport } from '../transport/ws-transport.js'
import type { WsListenOptions } from '../transport/ws-transport.js'
import type { WsLimits } from '../transport/connection.js'
import { PaxosStorage } from '../paxos/storage.js'
import type { ReplicaEvent } from '../paxos/types.js'
import { hostShards } from '../txn/host.js'
import type { Hosted } from '../txn/host.js'
import type { ShardStatus } from '../txn/messages.js'
import type { TxnShard } from '../txn/shard.js'
import { position } from '../txn/vector.js'
import { ConfigError, configNode } from './config.js'
import type { ClusterConfig, NodeConfig } from './config.js'
import { DrainGate } from './drain.js'
import { collectNode } from '../metrics/collect.js'
import { serveMetrics } from '../metrics/prometheus.js'
import type { MetricsServer, MetricsServerOptions } from '../metrics/prometheus.js'

/** How long {@link ClusterNode.close} lets work under way finish, by default, in milliseconds. */
export const defaultDrainMs = 2000

/**
 * A node's Paxos tick when the configuration sets none, in milliseconds:
 * heartbeats every tick, elections after ten silent ticks (300 ms and
 * more). Processes on a busy machine stall for tens of milliseconds (GC,
 * fsync, a core shared by several nodes); a 100 ms election timeout
 * turned those stalls into leader changes, and every leader change rolls
 * back the speculative transactions above the old epoch's watermark. Not
 * on the commit path: slots are proposed at once and chosen on the acks.
 */
export const defaultNodeTickMs = 30

/**
 * Paxos slots a node's shard leader keeps proposed and not yet chosen. The
 * window must cover what is in flight over one replication round trip: at
 * 2,000 commits a second and 200 ms between replicas, 64 slots (the
 * replica's default) made transactions queue for a slot, 8 ms at the
 * median. Memory stays bounded by the pending-command limit.
 */
export const nodeMaxInflightSlots = 1024

/**
 * Reconnect backoff of cluster links: a restarted peer should be back in
 * its shards within a second, while the transport's own default backoff
 * (made for many peers) climbs to 10 s.
 */
export const clusterLinkLimits: Readonly<Partial<WsLimits>> = Object.freeze({ reconnectBaseDelay: 50, reconnectMaxDelay: 1000 })

/** The file in the data directory that says whose it is. */
const IDENTITY_FILE = 'NODE.json'

/** Positions above the watermark that a drain looks at for work not yet replicated. */
const DRAIN_SCAN = 256

/** Options of {@link ClusterNode.start}. */
export interface ClusterNodeOptions {
  /** The cluster configuration (see `loadConfig`). */
  config: ClusterConfig
  /** This node's id; one of the configuration's nodes. */
  nodeId: string
  /** The node's data directory; created if missing. */
  dataDir: string
  /**
   * fdatasync every Paxos log write before acknowledging it. Default true.
   * False keeps acknowledged writes safe from a process crash but not from
   * a power loss of a majority at once.
   */
  sync?: boolean
  /** Where to listen instead of the host and port of the node's URL (such as `0.0.0.0` behind NAT). */
  listen?: WsListenOptions
  /** Transport limits; default the transport's, with {@link clusterLinkLimits}. */
  limits?: Partial<WsLimits>
  /** Milliseconds {@link ClusterNode.close} waits for work under way. Default {@link defaultDrainMs}. */
  drainMs?: number
  /**
   * Serve the node's metrics in the Prometheus text format at
   * `http://host:port/metrics` (see {@link ClusterNode.metricsUrl}). Off
   * unless given; port 0 picks a free one. The endpoint has no
   * authentication: bind it to an interface only monitoring can reach.
   */
  metrics?: Omit<MetricsServerOptions, 'collect'>
}

/** What {@link ClusterNode.status} reports. */
export interface ClusterNodeStatus {
  /** This node. */
  node: string
  /** Its cluster. */
  cluster: string
  /** The URL it listens on. */
  url: string
  /** Peers (nodes and clients) with a link up now. */
  peers: string[]
  /** Whether it is draining (closing). */
  draining: boolean
  /** Each hosted shard replica: role, leader, epoch, watermark, commit index, locks... */
  shards: ShardStatus[]
}

/** Events of a {@link ClusterNode}. */
export interface ClusterNodeEvents {
  /** This node's replica of `shard` leads it now, and serves transactions in `epoch`. */
  leader: (shard: number, epoch: number) => void
  /** This node's replica of `shard` stopped leading it. */
  steppedDown: (shard: number) => void
  /** This node's replica of `shard` stopped because its storage failed; the node should be restarted. */
  replicaFailed: (shard: number, error: Error) => void
}

/** What the data directory says about itself. */
interface Identity {
  cluster: string
  node: string
  shards: unknown
}

function shardsFingerprint (config: ClusterConfig): unknown {
  return config.shards.map((s) => ({ start: s.start ?? null, end: s.end ?? null, replicas: s.replicas }))
}

/**
 * Checks that the data directory was made for this node, cluster and
 * shard map, or marks it so when it is new.
 */
async function claimDataDir (dir: string, config: ClusterConfig, nodeId: string): Promise<void> {
  const path = join(dir, IDENTITY_FILE)
  const mine: Identity = { cluster: config.cluster, node: nodeId, shards: shardsFingerprint(config) }
  let text: string | undefined
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new MakoError(`cannot read ${path}: ${(err as Error).message}`, 'MAKO_IO_ERROR', { cause: err })
  }
  if (text === undefined) {
    const tmp = `${path}.tmp`
    await writeFile(tmp, JSON.stringify(mine, null, 2) + '\n')
    await rename(tmp, path)
    return
  }
  let found: Partial<Identity>
  try {
    found = JSON.parse(text) as Partial<Identity>
  } catch (err) {
    throw new MakoError(`${path} is damaged: ${(err as Error).message}`, 'MAKO_CORRUPTION', { cause: err })
  }
  if (found.cluster !== mine.cluster || found.node !== mine.node) {
    throw new ConfigError('', `data directory ${dir} belongs to node ${String(found.node)} of cluster ${String(found.cluster)}, not to node ${nodeId} of cluster ${config.cluster}`)
  }
  if (JSON.stringify(found.shards) !== JSON.stringify(mine.shards)) {
    throw new ConfigError('shards', `differ from the shard map data directory ${dir} was created with (changing shard ranges or replicas is not supported yet): ${JSON.stringify(found.shards)}`)
  }
}

/**
 * One node of a cluster. Start it with {@link ClusterNode.start}; stop it
 * with {@link ClusterNode.close}.
 *
 * @example
 * ```ts
 * const config = await loadConfig('cluster.json')
 * const node = await ClusterNode.start({ config, nodeId: 'n1', dataDir: 'data/n1' })
 * node.on('leader', (shard, epoch) => { console.log(`leader ${shard} ${epoch}`) })
 * process.once('SIGTERM', () => { void node.close() })
 * ```
 */
export class ClusterNode {
  /** This node's id. */
  readonly nodeId: string
  /** The configuration it runs. */
  readonly config: ClusterConfig
  /** The URL it listens on (the configured one, or where `listen` put it). */
  readonly url: string
  /** Its data directory. */
  readonly dataDir: string
  /** Its replicas and transaction service. */
  readonly hosted: Hosted
  /** The URL of its metrics endpoint (`http://host:port/metrics`), or undefined when metrics are off. */
  readonly metricsUrl: string | undefined
  readonly #ws: WsTransport
  readonly #channels: Channels
  readonly #gate: DrainGate
  readonly #lock: DirectoryLock
  readonly #drainMs: number
  readonly #metrics: MetricsServer | undefined
  readonly #events = new Listeners<ClusterNodeEvents>()
  #closing: Promise<void> | undefined

  private constructor (init: {
    nodeId: string, config: ClusterConfig, url: string, dataDir: string, hosted: Hosted,
    ws: WsTransport, channels: Channels, gate: DrainGate, lock: DirectoryLock, drainMs: number,
    metrics: MetricsServer | undefined
  }) {
    this.nodeId = init.nodeId
    this.config = init.config
    this.url = init.url
    this.dataDir = init.dataDir
    this.hosted = init.hosted
    this.#ws = init.ws
    this.#channels = init.channels
    this.#gate = init.gate
    this.#lock = init.lock
    this.#drainMs = init.drainMs
    this.#metrics = init.metrics
    this.metricsUrl = init.metrics?.url
    for (const shard of this.hosted.shards.values()) this.#watch(shard)
  }

  /**
   * Starts a node: locks and checks its data directory, opens the Paxos
   * log of every shard it hosts, listens, dials every other node, and
   * starts its replicas and transaction service. Resolves once it listens;
   * its replicas then find their leaders on their own.
   *
   * @param options Configuration, node id, data directory and tuning.
   * @throws ConfigError (`MAKO_INVALID_CONFIG`) for a node id not in the
   *   configuration or a data directory made for another node or shard
   *   map; MakoError `LEVEL_LOCKED` when another process runs on the data
   *   directory; `MAKO_IO_ERROR` when the directory, the port or the
   *   metrics port cannot be used.
   */
  static async start (options: ClusterNodeOptions): Promise<ClusterNode> {
    const { config, nodeId, dataDir } = options
    const me: NodeConfig = configNode(config, nodeId)
    const drainMs = options.drainMs ?? defaultDrainMs
    if (!Number.isFinite(drainMs) || drainMs < 0) throw new MakoError('drainMs must be a number of milliseconds, at least 0', 'MAKO_INVALID_ARGUMENT')
    try {
      await mkdir(dataDir, { recursive: true })
    } catch (err) {
      throw new MakoError(`cannot create data directory ${dataDir}: ${(err as Error).message}`, 'MAKO_IO_ERROR', { cause: err })
    }
    const lock = await lockDirectory(dataDir)
    const storages = new Map<number, PaxosStorage>()
    let ws: WsTransport | undefined
    let hosted: Hosted | undefined
    let metrics: MetricsServer | undefined
    try {
      await claimDataDir(dataDir, config, nodeId)
      // Every log is opened (and replayed) before anything starts, so a
      // damaged one stops the node before it has said a word to anyone.
      for (const shard of config.map.shards) {
        if (!shard.replicas.includes(nodeId)) continue
        storages.set(shard.id, await PaxosStorage.open(join(dataDir, `shard-${shard.id}`), { sync: options.sync ?? true }))
      }
      ws = new WsTransport({ nodeId, clusterId: config.cluster, secret: config.secret, limits: { ...clusterLinkLimits, ...options.limits } })
      const host = options.listen?.host ?? me.host
      const port = options.listen?.port ?? me.port
      let url: string
      try {
        url = await ws.listen({ host, port })
      } catch (err) {
        throw new MakoError(`cannot listen on ${host}:${port}: ${(err as Error).message}`, 'MAKO_IO_ERROR', { cause: err })
      }
      // The configured URL is what peers dial; it is also ours unless
      // listen moved us (port 0, another interface).
      if (options.listen === undefined) url = me.url
      for (const peer of config.nodeIds) if (peer !== nodeId) ws.connect(peer, config.nodes[peer]!.url)
      // Injected delays stand for datacenters apart: they slow the links
      // between replicas of a shard (the Paxos channels), not the 2PC
      // between shard leaders and clients, as in Mako's deployment where a
      // transaction's shards and client share a datacenter.
      const row = config.delays[nodeId]
      const channels = new Channels(ws)
      let gate: DrainGate | undefined
      hosted = await hostShards({
        nodeId,
        channel: (name) => {
          const channel = channels.channel(name)
          if (name !== 'txn') return row === undefined ? channel : withDelay(channel, (peer: NodeId) => row[peer] ?? 0)
          gate = new DrainGate(channel)
          return gate
        },
        map: config.map,
        storage: (shard) => storages.get(shard)!,
        clock: systemClock,
        random: Math.random,
        classic: config.commit === 'classic',
        tickMs: config.tickMs ?? defaultNodeTickMs,
        replica: { maxInflightSlots: nodeMaxInflightSlots },
        ...(config.markMs !== undefined ? { markMs: config.markMs } : {}),
        // What a client given only a URL learns: the cluster without its secret.
        describe: () => ({ cluster: config.cluster, nodes: Object.fromEntries(config.nodeIds.map((id) => [id, { url: config.nodes[id]!.url }])), shards: config.shards })
      })
      if (gate === undefined) throw new MakoError('the transaction service opened no txn channel', 'MAKO_ASSERTION')
      if (options.metrics !== undefined) metrics = await startMetrics(options.metrics, nodeId, hosted, ws, config)
      return new ClusterNode({ nodeId, config, url, dataDir, hosted, ws, channels, gate, lock, drainMs, metrics })
    } catch (err) {
      await hosted?.close().catch(() => {})
      await ws?.close().catch(() => {})
      await Promise.all([...storages.values()].map(async (s) => { await s.close().catch(() => {}) }))
      await lock.release().catch(() => {})
      throw err
    }
  }

  #watch (shard: TxnShard): void {
    shard.node.on('event', (ev: ReplicaEvent) => {
      // TxnShard listened first, so it serves the new epoch by now.
      if (ev.e === 'serving') this.#emit('leader', shard.shard, shard.machine.epoch)
      else if (ev.e === 'steppedDown') this.#emit('steppedDown', shard.shard)
    })
    shard.node.on('error', (err: Error) => { this.#emit('replicaFailed', shard.shard, err) })
  }

  #emit<E extends keyof ClusterNodeEvents>(event: E, ...args: Parameters<ClusterNodeEvents[E]>): void {
    // A listener's exception must not reach the replica that emitted.
    for (const err of this.#events.emit(event, ...args)) queueMicrotask(() => { throw err })
  }

  /**
   * Subscribes to an event; returns a function that unsubscribes.
   *
   * @param event `leader`, `steppedDown` or `replicaFailed`.
   * @param listener Called with the event's arguments.
   */
  on<E extends keyof ClusterNodeEvents>(event: E, listener: ClusterNodeEvents[E]): () => void {
    return this.#events.on(event, listener)
  }

  /** The node and each hosted shard replica, now. O(shards hosted). */
  status (): ClusterNodeStatus {
    return {
      node: this.nodeId,
      cluster: this.config.cluster,
      url: this.url,
      peers: this.#ws.peers(),
      draining: this.#gate.draining,
      shards: [...this.hosted.shards.values()].map((s) => s.status())
    }
  }

  /**
   * Whether nothing is under way at the shards this node leads: no locks,
   * no prepared transactions, and nothing installed that its log has not
   * replicated yet (so that stopping now rolls nothing back).
   */
  #quiet (): boolean {
    for (const shard of this.hosted.shards.values()) {
      if (!shard.serving) continue
      const st = shard.status()
      if (st.locks > 0 || st.prepared > 0) return false
      const mark = shard.machine.mark()
      for (let seq = mark.w + 1; seq <= mark.w + DRAIN_SCAN; seq++) {
        if (shard.machine.record(position(mark.e, seq)) !== undefined) return false
      }
    }
    return true
  }

  /**
   * Stops the node gracefully: turns new transactions away, lets those
   * under way at the shards it leads finish and replicate (at most
   * `drainMs`), then stops the transaction service and the replicas,
   * closes their logs and the transport, and unlocks the data directory.
   * Idempotent.
   */
  close (): Promise<void> {
    if (this.#closing === undefined) this.#closing = this.#close()
    return this.#closing
  }

  async #close (): Promise<void> {
    this.#gate.draining = true
    const deadline = performance.now() + this.#drainMs
    while (!this.#quiet() && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5))
    // One more round of watermark broadcasts, so that waiting clients hear
    // of the last replicated positions from this leader rather than from
    // the next one, after an election.
    if (this.#drainMs > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(this.#drainMs, 2 * (this.config.markMs ?? 1) + 10)))
    try {
      await this.#metrics?.close()
      await this.hosted.close()
    } finally {
      await this.#channels.close()
      await this.#lock.release()
    }
  }
}

/**
 * Starts a node's metrics endpoint: each scrape reads its replicas' status
 * and the links to the other nodes of the cluster.
 */
async function startMetrics (options: Omit<MetricsServerOptions, 'collect'>, nodeId: string, hosted: Hosted, ws: WsTransport, config: ClusterConfig): Promise<MetricsServer> {
  const { port } = options
  const host = options.host ?? '127.0.0.1'
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new MakoError(`metrics port ${String(port)} must be a whole number from 0 to 65535`, 'MAKO_INVALID_ARGUMENT')
  const peers = config.nodeIds.filter((id) => id !== nodeId)
  try {
    return await serveMetrics({
      host,
      port,
      collect: (m) => { collectNode(m, { node: nodeId, shards: () => [...hosted.shards.values()].map((s) => s.status()), transport: ws, peers: () => peers }) }
    })
  } catch (err) {
    throw new MakoError(`cannot serve metrics on ${host}:${port}: ${(err as Error).message}`, 'MAKO_IO_ERROR', { cause: err })
  }
}
