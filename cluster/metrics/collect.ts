/**
 * What a node reports to Prometheus: per shard replica (role, epoch,
 * watermark and its lag, Paxos commit index, locks, prepared, installed,
 * rolled back, in-doubt resolutions), per link (up, messages, bytes,
 * timeouts), and, where the process also coordinates transactions, its
 * commits, aborts by reason and commit latency.
 *
 * @module
 */

import type { NodeId } from '../transport/ids.js'
import type { Transport } from '../transport/types.js'
import type { ShardStatus } from '../txn/messages.js'
import { latencyBuckets } from '../txn/client.js'
import type { ClientStats } from '../txn/client.js'
import type { MetricsBuilder } from './prometheus.js'

/** What {@link collectNode} reads. */
export interface NodeSources {
  /** The node's id. */
  node: string
  /** Status of each shard replica on the node. */
  shards: () => readonly ShardStatus[]
  /** The node's transport (for link statistics). */
  transport?: Transport
  /**
   * The peers whose links to report; default those with a link up now.
   * A node passes the other nodes of its cluster, so that a link down
   * reads 0 rather than vanishing, and clients (a new id each) do not
   * grow the number of series without bound.
   */
  peers?: () => readonly string[]
  /** Statistics of a coordinator in the same process. */
  client?: () => ClientStats
}

/**
 * Adds a node's samples to a scrape.
 *
 * @param m The scrape.
 * @param src What to read.
 */
export function collectNode (m: MetricsBuilder, src: NodeSources): void {
  for (const s of src.shards()) {
    const l = { node: src.node, shard: s.shard }
    m.gauge('mako_shard_leader', 'Whether this replica leads its shard and serves transactions (1) or not (0).', s.serving ? 1 : 0, l)
    m.gauge('mako_shard_epoch', 'The shard epoch this replica knows (epoch entries in its log).', s.epoch, l)
    m.gauge('mako_shard_watermark', 'Watermark: the replicated prefix of the epoch, in transaction positions.', s.watermark, l)
    m.gauge('mako_shard_watermark_lag', 'At the leader: positions given to transactions and not yet under the watermark.', Math.max(0, s.assigned - s.watermark), l)
    m.gauge('mako_paxos_commit_index', 'Paxos slots chosen (contiguous).', s.commitIndex, l)
    m.gauge('mako_shard_locks', 'Keys locked by transactions in two-phase commit.', s.locks, l)
    m.gauge('mako_shard_prepared', 'Transactions prepared here and waiting for a decision.', s.prepared, l)
    m.gauge('mako_shard_overlay', 'Transactions above the base (speculative, or final and retained).', s.overlay, l)
    m.counter('mako_txn_installed_total', 'Transactions installed at this replica as leader.', s.installed, l)
    m.counter('mako_txn_rolled_back_total', 'Transactions rolled back here by a failover.', s.rolledBack, l)
    m.counter('mako_txn_in_doubt_resolved_total', 'Prepared transactions resolved without their coordinator.', s.resolved, l)
    for (const [reason, n] of Object.entries(s.aborts)) {
      // Not mako_txn_aborts_total: that family is the coordinator's, by error code.
      m.counter('mako_shard_aborts_total', 'Transactions refused or aborted at this replica as leader, by reason (write-locked, read-locked, read-changed, too-old, coordinator-lost, dead).', n, { ...l, reason })
    }
  }
  if (src.transport !== undefined) {
    for (const peer of src.peers?.() ?? src.transport.peers()) {
      const st = src.transport.link(peer as NodeId).stats()
      const l = { node: src.node, peer }
      m.gauge('mako_link_up', 'Whether the link to a peer is up.', st.up ? 1 : 0, l)
      m.counter('mako_link_messages_sent_total', 'Messages sent on the link.', st.messagesSent, l)
      m.counter('mako_link_messages_received_total', 'Messages received on the link.', st.messagesReceived, l)
      m.counter('mako_link_bytes_sent_total', 'Bytes sent on the link.', st.bytesSent, l)
      m.counter('mako_link_bytes_received_total', 'Bytes received on the link.', st.bytesReceived, l)
      m.counter('mako_link_timeouts_total', 'Requests on the link that timed out.', st.timeouts, l)
      m.gauge('mako_link_in_flight', 'Requests in flight on the link.', st.inFlight, l)
    }
  }
  if (src.client !== undefined) {
    const c = src.client()
    const l = { node: src.node }
    m.counter('mako_txn_commits_total', 'Transactions this process committed as coordinator.', c.committed, l)
    for (const [reason, n] of Object.entries(c.aborted)) m.counter('mako_txn_aborts_total', 'Transactions that failed, by reason (error code).', n, { ...l, reason })
    m.histogram('mako_txn_commit_seconds', 'Commit latency (to the durability asked for) of committed transactions.', latencyBuckets.map((b) => b / 1000), c.latency, c.latencySum / 1000, l)
  }
}
