/**
 * Hosting: the replicas of every shard a node holds, each a Paxos replica
 * running a {@link TxnMachine} with its {@link TxnShard} logic, and the
 * node's {@link TxnService}, all on channels of the node's one transport.
 *
 * @module
 */

import type { Clock } from '../transport/clock.js'
import type { Transport } from '../transport/types.js'
import { PaxosNode } from '../paxos/driver.js'
import type { ReplicaOptions } from '../paxos/replica.js'
import type { ReplicaStorage } from '../paxos/storage.js'
import { TxnMachine, isTxnOp, txnCommandBytes } from './machine.js'
import { TxnService } from './service.js'
import { TxnShard } from './shard.js'
import type { ShardMap } from './shard-map.js'
import { MarkTable } from './vector.js'

/** Options of {@link hostShards}. */
export interface HostOptions {
  /** This node's id (as in the shard map). */
  nodeId: string
  /** A channel of the node's transport, by name (see `Channels`). */
  channel: (name: string) => Transport
  /** The shard map. */
  map: ShardMap
  /** Opens the storage of this node's replica of a shard. */
  storage: (shard: number) => ReplicaStorage | Promise<ReplicaStorage>
  /** Clock. */
  clock: Clock
  /** Random numbers in [0, 1). */
  random: () => number
  /** Classic 2PC (locks held until replicated). Default false. */
  classic?: boolean
  /** Milliseconds per Paxos tick. Default 10. */
  tickMs?: number
  /** Paxos tuning. */
  replica?: Omit<ReplicaOptions, 'id' | 'members' | 'random' | 'durable'>
  /** Milliseconds between mark broadcasts. Default 1. */
  markMs?: number
  /** Milliseconds final transactions stay in the overlay. Default 2000. */
  retainMs?: number
  /** Milliseconds a prepared transaction waits for its coordinator. Default 1000. */
  inDoubtMs?: number
  /** Applied slots between snapshots. Default 10,000. */
  snapshotEvery?: number
  /** What the service answers to `config` requests (the cluster's description for clients). */
  describe?: () => unknown
}

/** What {@link hostShards} started. */
export interface Hosted {
  /** The node's transaction service. */
  readonly service: TxnService
  /** The node's replicas, by shard. */
  readonly shards: ReadonlyMap<number, TxnShard>
  /** The node's marks of every shard. */
  readonly marks: MarkTable
  /** Stops the service and the replicas (and closes their storage). */
  close(): Promise<void>
}

/**
 * Starts this node's replicas of every shard that names it, and its
 * transaction service.
 *
 * @param options Node, transport channels, map, storage and tuning.
 */
export async function hostShards (options: HostOptions): Promise<Hosted> {
  const map = options.map
  const marks = new MarkTable(map.size)
  const service = new TxnService({
    transport: options.channel('txn'),
    map,
    marks,
    clock: options.clock,
    ...(options.markMs !== undefined ? { markMs: options.markMs } : {}),
    ...(options.describe !== undefined ? { describe: options.describe } : {})
  })
  const shards = new Map<number, TxnShard>()
  const retainMs = options.retainMs ?? 2000
  const inDoubtMs = options.inDoubtMs ?? 1000
  try {
    await startReplicas()
  } catch (err) {
    // Nothing half-started: stop what did start.
    service.close()
    await Promise.all([...shards.values()].map(async (s) => { await s.node.close().catch(() => {}) }))
    throw err
  }
  async function startReplicas (): Promise<void> {
    for (const s of map.shards) {
      if (!s.replicas.includes(options.nodeId)) continue
      const machine = new TxnMachine({ shard: s.id, shards: map.size, marks: () => marks.all, retainMs, now: () => options.clock.now() })
      const node = PaxosNode.start({
        transport: options.channel(`p${s.id}`),
        members: s.replicas,
        storage: await options.storage(s.id),
        clock: options.clock,
        random: options.random,
        tickMs: options.tickMs ?? 10,
        replica: { commandBytes: txnCommandBytes, ...options.replica },
        ...(options.snapshotEvery !== undefined ? { snapshotEvery: options.snapshotEvery } : {}),
        machine,
        isOp: (op) => isTxnOp(op, map.size)
      })
      const shard = new TxnShard({
        shard: s.id,
        node,
        machine,
        marks,
        clock: options.clock,
        classic: options.classic ?? false,
        inDoubtMs,
        maxTxnMs: Math.min(inDoubtMs, retainMs / 2),
        askPrimary: async (prim, id) => await service.router.call({ c: 'fate', s: prim, id }, inDoubtMs)
      })
      shards.set(s.id, shard)
      service.add(shard)
    }
  }
  return {
    service,
    shards,
    marks,
    async close () {
      service.close()
      await Promise.all([...shards.values()].map(async (s) => { await s.node.close() }))
    }
  }
}
