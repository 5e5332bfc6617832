/**
 * Distributed transactions across shards, as the Mako system commits them:
 * speculative two-phase commit over Multi-Paxos shards, vector timestamps
 * and watermarks, failover rollback; and the classic 2PC-over-Paxos
 * baseline.
 *
 * - {@link ShardMap}: range partitioning of the key space.
 * - {@link TxnMachine}: a shard replica's replicated state (log, versions).
 * - {@link TxnShard}: the 2PC participant at a shard leader.
 * - {@link TxnService} and {@link hostShards}: a node's replicas and service.
 * - {@link ClusterClient}: the coordinator, used by `ClusterLevel`.
 * - Vectors and marks ({@link vectorFate}): how a transaction's fate is decided.
 *
 * @module
 */

export { ShardMap } from './shard-map.js'
export type { Shard, ShardConfig, KeyRange } from './shard-map.js'
export { EPOCH, Fate, MarkTable, emptyVector, epochOf, isMark, isVector, mergeVectors, newerMark, noMark, position, positionAt, positionFate, seqOf, vectorFate, withPosition } from './vector.js'
export type { Mark, Vector } from './vector.js'
export { CutTooOld, TxnMachine, isTxnOp, txnCommandBytes } from './machine.js'
export type { TxnMachineOptions, TxnOp, TxnRecord, Version, Write } from './machine.js'
export { TxnShard } from './shard.js'
export type { TxnShardOptions } from './shard.js'
export { TxnService } from './service.js'
export type { TxnServiceOptions } from './service.js'
export { ShardRouter } from './router.js'
export type { ShardRouterOptions } from './router.js'
export { hostShards } from './host.js'
export type { HostOptions, Hosted } from './host.js'
export { ClusterClient, ClusterTransaction, KeySpace, latencyBuckets } from './client.js'
export type { ClientStats, ClusterClientOptions, CommitOptions, Durability, TransactionRunOptions } from './client.js'
export type {
  AbortRequest, Commit1Request, CutGetRequest, CutRangeRequest, FateRequest, InstallRequest, LockRequest, MarksMessage, NodeRequest,
  ReadEntry, ReadRequest, ShardStatus, TxnReply, TxnRequest, ValidateRequest
} from './messages.js'
