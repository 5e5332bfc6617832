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

/** Every request a shard's transaction service answers. */
export type TxnRequest =
  | { readonly c: 'read', readonly s: number, readonly k: Uint8Array }
  | { readonly c: 'lock', readonly s: number, readonly id: string, readonly e: number | null, readonly w: readonly Write[], readonly parts: readonly number[], readonly prim: number }
  | { readonly c: 'validate', readonly s: number, readonly id: string, readonly e: number | null, readonly r: readonly ReadEntry[], readonly t0: number, readonly parts: readonly number[], readonly prim: number }
  | { readonly c: 'install', readonly s: number, readonly id: string, readonly e: number, readonly vec: Vector }
  | { readonly c: 'abort', readonly s: number, readonly id: string }
  | { readonly c: 'commit1', readonly s: number, readonly id: string, readonly e: number | null, readonly w: readonly Write[], readonly r: readonly ReadEntry[], readonly rvec: Vector, readonly t0: number }
  | { readonly c: 'fate', readonly s: number, readonly id: string }
  | { readonly c: 'cutGet', readonly s: number, readonly k: Uint8Array, readonly cut: readonly Mark[] }
  | { readonly c: 'cutRange', readonly s: number, readonly range: KeyRange, readonly cut: readonly Mark[], readonly reverse: boolean, readonly limit: number }
  | { readonly c: 'marks' }
  | { readonly c: 'subscribe' }
  | { readonly c: 'status' }

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
  /** Watermark (seq in the epoch) here. */
  watermark: number
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
}

/** A one-way message a service sends: marks of shards it leads. */
export interface MarksMessage {
  /** Tag. */
  readonly c: 'marks'
  /** Shard and mark pairs. */
  readonly m: ReadonlyArray<readonly [number, Mark]>
}
