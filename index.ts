/**
 * mako-level: an embedded, replicated key-value store for Node.js.
 *
 * `MakoLevel` is an abstract-level 3 database on a copy-on-write B+tree: in
 * memory, or durable in a directory (write-ahead log and checkpoints), with
 * RocksDB-style column families, snapshots, range deletes and optimistic
 * transactions.
 *
 * @packageDocumentation
 */
export { MakoError, AssertionError, assert } from './lib/errors.js'
export type { MakoErrorOptions } from './lib/errors.js'
export { MakoLevel, MakoSnapshot } from './adapters/level/mako-level.js'
export type {
  MakoLevelOptions, ColumnFamilyOptions, RunTransactionOptions, DeleteRangeOptions
} from './adapters/level/mako-level.js'
export { Transaction } from './adapters/level/transaction.js'
export type {
  TransactionOptions, TransactionIteratorOptions, CommitOptions, EncodingOptions, TransactionState
} from './adapters/level/transaction.js'
export type { RepairReport } from './adapters/level/durable.js'
export { ClusterLevel, ClusterSnapshot } from './adapters/level/cluster-level.js'
export type { ClusterLevelOptions, ClusterWriteOptions, ClusterReadOptions, PeerOptions } from './adapters/level/cluster-level.js'
export type { LogRepair, TornTail } from './adapters/disk/log.js'

/**
 * Peer links: the `Transport`/`Link` interface the protocol code uses, its
 * WebSocket implementation (ws + msgpackr: batching, backpressure,
 * heartbeats, HMAC-authenticated handshake, TLS) and the wire codec.
 */
export * as transport from './cluster/transport/index.js'
/**
 * The deterministic network and disk simulator the protocols are tested
 * under: one seed replays a whole run.
 */
export * as sim from './cluster/sim/index.js'
/**
 * Multi-Paxos replication of one shard: the replica as a pure state
 * machine, its driver on the transport and the write-ahead log, the
 * replicated key-value state machine and its client.
 */
export * as paxos from './cluster/paxos/index.js'
/** History checkers: linearizability (Wing-Gong) and list-append (Elle-style). */
export * as check from './cluster/check/index.js'
export * as txn from './cluster/txn/index.js'
export * as metrics from './cluster/metrics/index.js'
export * as node from './cluster/node/index.js'
