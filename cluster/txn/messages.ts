/**
 * Requests and answers between coordinators (clients) and shard leaders,
 * and between participants resolving an in-doubt transaction. Each request
 * names its shard `s`; 2PC requests carry the shard epoch `e` the
 * coordinator saw first, and a leader of another epoch refuses them.
 *
 * @module
 */

import type { Mark, Vector } from './vector.js'
import type { Write } from './machine.js'
import type { KeyRange } from './shard-map.js'

/** A read recorded for validation: a key and the version seen (0: the base). */
export type ReadEntry = readonly [key: Uint8Array, ver: number]

/** Reads the newest version of a key (leader only). */
export interface ReadRequest {
  /** The request kind. */
  readonly c: 'read'
  /** The shard. */
  readonly s: number
  /** The key. */
  readonly k: Uint8Array
}

/** Locks a transaction's writes. */
export interface LockRequest {
  /** The request kind. */
  readonly c: 'lock'
  /** The shard. */
  readonly s: number
  /** The transaction id. */
  readonly id: string
  /** The shard epoch the coordinator saw (null at first contact). */
  readonly e: number | null
  /** Writes at this shard. */
  readonly w: readonly Write[]
  /** Every participant shard. */
  readonly parts: readonly number[]
  /** The primary participant (it decides in-doubt transactions). */
  readonly prim: number
  /** Classic 2PC for this transaction: locks held until replicated. */
  readonly cl?: boolean
  /** Reads to validate in the same step, when every key read here is written here too. */
  readonly r?: readonly ReadEntry[]
  /** The leader's clock at the first of those reads. */
  readonly t0?: number
}

/** Validates a transaction's reads; a shard holding its locks gives it a position. */
export interface ValidateRequest {
  /** The request kind. */
  readonly c: 'validate'
  /** The shard. */
  readonly s: number
  /** The transaction id. */
  readonly id: string
  /** The shard epoch the coordinator saw (null at first contact). */
  readonly e: number | null
  /** Reads at this shard, with the versions seen. */
  readonly r: readonly ReadEntry[]
  /** The leader's clock at the transaction's first read here. */
  readonly t0: number
  /** Every participant shard. */
  readonly parts: readonly number[]
  /** The primary participant (it decides in-doubt transactions). */
  readonly prim: number
}

/** Installs a prepared transaction. */
export interface InstallRequest {
  /** The request kind. */
  readonly c: 'install'
  /** The shard. */
  readonly s: number
  /** The transaction id. */
  readonly id: string
  /** The shard epoch the coordinator saw (null at first contact). */
  readonly e: number
  /** The transaction's vector. */
  readonly vec: Vector
}

/** Aborts a transaction: releases its locks, fills its position. */
export interface AbortRequest {
  /** The request kind. */
  readonly c: 'abort'
  /** The shard. */
  readonly s: number
  /** The transaction id. */
  readonly id: string
}

/** A transaction at one shard: lock, validate, position and install at once. */
export interface Commit1Request {
  /** The request kind. */
  readonly c: 'commit1'
  /** The shard. */
  readonly s: number
  /** The transaction id. */
  readonly id: string
  /** The shard epoch the coordinator saw (null at first contact). */
  readonly e: number | null
  /** Writes at this shard. */
  readonly w: readonly Write[]
  /** Reads at this shard, with the versions seen. */
  readonly r: readonly ReadEntry[]
  /** Merged vectors of everything read. */
  readonly rvec: Vector
  /** The leader's clock at the transaction's first read here. */
  readonly t0: number
  /** Classic 2PC for this transaction: locks held until replicated. */
  readonly cl?: boolean
}

/** Asks what a shard decided for a transaction (in-doubt resolution). */
export interface FateRequest {
  /** The request kind. */
  readonly c: 'fate'
  /** The shard. */
  readonly s: number
  /** The transaction id. */
  readonly id: string
}

/** Reads a key at a consistent cut. */
export interface CutGetRequest {
  /** The request kind. */
  readonly c: 'cutGet'
  /** The shard. */
  readonly s: number
  /** The key. */
  readonly k: Uint8Array
  /** The cut: marks of every shard. */
  readonly cut: readonly Mark[]
}

/** Reads a range at a consistent cut. */
export interface CutRangeRequest {
  /** The request kind. */
  readonly c: 'cutRange'
  /** The shard. */
  readonly s: number
  /** The key range. */
  readonly range: KeyRange
  /** The cut: marks of every shard. */
  readonly cut: readonly Mark[]
  /** Descending order. */
  readonly reverse: boolean
  /** Most entries. */
  readonly limit: number
}

/** Requests about the node: its marks, a subscription to its mark broadcasts, its status, the cluster's description. */
export interface NodeRequest {
  /** The request kind. */
  readonly c: 'marks' | 'subscribe' | 'status' | 'config'
}

/** Every request a node's transaction service answers. */
export type TxnRequest = ReadRequest | LockRequest | ValidateRequest | InstallRequest | AbortRequest | Commit1Request | FateRequest | CutGetRequest | CutRangeRequest | NodeRequest

/** What a shard replica reports in `status`. */
export interface ShardStatus {
  /** The shard. */
  shard: number
  /** Paxos role here. */
  role: string
  /** The leader as far as this replica knows. */
  leader: string | undefined
  /** Whether this replica leads and serves transactions. */
  serving: boolean
  /** The shard's epoch number here. */
  epoch: number
  /** Watermark: a seq within `epoch` (it starts again from 0 in each new epoch; compare marks, not watermarks, across failovers). */
  watermark: number
  /** At the leader: the last seq given to a transaction (the watermark lags it by `assigned - watermark`); elsewhere the watermark. */
  assigned: number
  /** Paxos commit index. */
  commitIndex: number
  /** Transactions in the overlay (speculative or retained). */
  overlay: number
  /** Keys in the base. */
  baseKeys: number
  /** Locks held. */
  locks: number
  /** Prepared transactions waiting for a decision. */
  prepared: number
  /** The oldest prepared transactions (id, position, primary, age), for diagnostics. */
  oldestPrepared: string
  /** Transactions installed (since start). */
  installed: number
  /** Transactions rolled back here (since start). */
  rolledBack: number
  /** In-doubt transactions resolved by asking the primary. */
  resolved: number
  /**
   * Transactions this replica refused or aborted as leader, by reason
   * (since start): `write-locked` (a key to write is locked by another),
   * `read-locked` and `read-changed` (validation), `too-old` (reads older
   * than the limit), `coordinator-lost` (aborted by the primary after its
   * coordinator went silent), `dead` (its vector holds a position that a
   * failover rolled back).
   */
  aborts: Record<string, number>
}

/** The answer to a request: `ok` with fields, a redirect, or an error code. */
export interface TxnReply {
  /** Whether it succeeded. */
  readonly ok: boolean
  /** A redirect: this replica does not lead; the leader as it knows (null: unknown). */
  readonly redirect?: string | null
  /** Why not ok: `conflict`, `aborted`, `unknown`, `MAKO_STALE_EPOCH`, `MAKO_TXN_TOO_OLD`, `MAKO_CUT_TOO_OLD`, `MAKO_BAD_REQUEST`... */
  readonly code?: string
  /** The shard's mark, piggybacked. */
  readonly m?: Mark
  /** The shard's epoch at the leader. */
  readonly e?: number
  /** A read's value (null: absent). */
  readonly v?: Uint8Array | null
  /** A read's version. */
  readonly ver?: number
  /** A vector: of a version read, of overwritten versions (lock), or of the transaction (commit1, fate). */
  readonly vec?: Vector
  /** The leader's clock at a read (for the transaction's age). */
  readonly t?: number
  /** A position assigned (validate, commit1). */
  readonly pos?: number
  /** A fate answer: `installed`, `aborted`, `prepared`. */
  readonly fate?: string
  /** Range entries, flat key, value. */
  readonly kv?: readonly Uint8Array[]
  /** Marks of every shard (`marks`). */
  readonly ms?: ReadonlyArray<readonly [number, Mark]>
  /** Status of every shard replica on the node (`status`). */
  readonly st?: readonly ShardStatus[]
  /** The cluster's description (`config`): id, node URLs, shards; never the secret. */
  readonly config?: unknown
}

/** A one-way message a service sends: marks of shards it leads. */
export interface MarksMessage {
  /** Tag. */
  readonly c: 'marks'
  /** Shard and mark pairs. */
  readonly m: ReadonlyArray<readonly [number, Mark]>
}
