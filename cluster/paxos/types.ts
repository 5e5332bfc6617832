/**
 * The data of the Multi-Paxos replica: log values, wire messages, durable
 * records and the {@link Ready} batch of effects the replica hands its driver.
 *
 * @module
 */

import type { Ballot } from './ballot.js'

/** Version of the Paxos message format; every message carries it as `v`. */
export const paxosWireVersion = 1

/**
 * One client command inside a slot. `id` is unique per command (client id
 * plus a sequence number), so a retried command is applied once; `op` is
 * opaque to the replica (the state machine reads it).
 */
export interface Command {
  /** Unique id, for idempotent retries and for answering the client. */
  readonly id: string
  /** What to do; the state machine's business. */
  readonly op: unknown
}

/**
 * What one slot of the log holds. Every value has an `id` unique across the
 * cluster's history (made by the leader that first proposed it, kept when a
 * later leader re-proposes it), which makes "the same value" cheap to check.
 *
 * - `noop`: a hole filled by a new leader.
 * - `epoch`: the first slot of a leadership: `epoch` is the leader's ballot
 *   and `previousFinal` the last slot of the previous epochs, every one of
 *   them decided by the time this entry is chosen.
 * - `batch`: client commands, many per slot.
 */
export type Value =
  | {
    /** Kind: a no-op. */
    readonly k: 'noop'
    /** Unique id. */
    readonly id: string
  }
  | {
    /** Kind: the start of an epoch. */
    readonly k: 'epoch'
    /** Unique id. */
    readonly id: string
    /** The new leader's ballot. */
    readonly epoch: Ballot
    /** The last slot of earlier epochs. */
    readonly previousFinal: number
  }
  | {
    /** Kind: client commands. */
    readonly k: 'batch'
    /** Unique id. */
    readonly id: string
    /** The commands, applied in order. */
    readonly cmds: readonly Command[]
  }

/** An accepted entry carried by phase 1: `[slot, ballot, value, chosen]`. */
export type AcceptedEntry = readonly [slot: number, ballot: Ballot, value: Value, chosen: boolean]

/** A slot and its value: `[slot, value]`. */
export type SlotValue = readonly [slot: number, value: Value]

/** Fields every message has. */
interface Header {
  /** Format version, {@link paxosWireVersion}. */
  readonly v: number
  /**
   * Membership configuration id. Membership is static for now (always 0);
   * a replica ignores messages of another configuration, which leaves room
   * for membership changes later.
   */
  readonly cfg: number
  /** Sender. */
  readonly from: string
}

/** Phase 1a: a candidate asks for promises for every slot from `fromSlot` on. */
export interface PrepareMsg extends Header {
  /** Tag. */
  readonly t: 'prepare'
  /** The candidate's ballot. */
  readonly b: Ballot
  /** First slot the candidate does not know to be chosen. */
  readonly fromSlot: number
}

/** Phase 1b: a promise (or a refusal naming the higher promise). */
export interface PromiseMsg extends Header {
  /** Tag. */
  readonly t: 'promise'
  /** The ballot answered. */
  readonly b: Ballot
  /** Whether the promise was made. */
  readonly ok: boolean
  /** The acceptor's promise now (higher than `b` when refused). */
  readonly promised: Ballot
  /** Accepted entries at or above the candidate's `fromSlot`. */
  readonly acc: readonly AcceptedEntry[]
  /** The acceptor's contiguous chosen prefix. */
  readonly commit: number
  /** The acceptor's first slot still in its log (earlier ones are in its snapshot). */
  readonly first: number
  /**
   * Whether the acceptor is recovering from a lost disk: its promise holds
   * but does not count towards a phase 1 quorum.
   */
  readonly rec: boolean
  /** Id of the acceptor's disk (a new disk gets a new id). */
  readonly disk: string
}

/** Phase 2a, batched and pipelined: values for slots, with a commit notice. */
export interface AcceptMsg extends Header {
  /** Tag. */
  readonly t: 'accept'
  /** The leader's ballot. */
  readonly b: Ballot
  /** Slots and values. */
  readonly entries: readonly SlotValue[]
  /** The leader's commit index (piggybacked commit notice). */
  readonly commit: number
  /** Last slot the leader's phase 1 found (see {@link HeartbeatMsg.p1}). */
  readonly p1: number
}

/** Phase 2b: which slots were accepted (or a refusal naming the higher promise). */
export interface AcceptedMsg extends Header {
  /** Tag. */
  readonly t: 'accepted'
  /** The ballot answered. */
  readonly b: Ballot
  /** Whether accepted. */
  readonly ok: boolean
  /** The acceptor's promise now. */
  readonly promised: Ballot
  /** Slots accepted. */
  readonly slots: readonly number[]
  /** The acceptor's commit index. */
  readonly commit: number
}

/** Leader heartbeat: commit notice, read-index round and lease renewal. */
export interface HeartbeatMsg extends Header {
  /** Tag. */
  readonly t: 'heartbeat'
  /** The leader's ballot. */
  readonly b: Ballot
  /** The leader's commit index. */
  readonly commit: number
  /** Round number, echoed in the answer: confirms reads and the lease. */
  readonly ctx: number
  /**
   * The last slot the leader's phase 1 found: a recovering replica that has
   * learned every slot up to here may vote again.
   */
  readonly p1: number
}

/** Answer to a heartbeat. */
export interface HeartbeatAckMsg extends Header {
  /** Tag. */
  readonly t: 'heartbeatAck'
  /** The ballot answered. */
  readonly b: Ballot
  /** Whether the sender still follows that ballot. */
  readonly ok: boolean
  /** The sender's promise now. */
  readonly promised: Ballot
  /** The round echoed. */
  readonly ctx: number
  /** The sender's commit index, so the leader sees who lags. */
  readonly commit: number
}

/** A lagging replica asks for chosen entries from `next` on. */
export interface FetchMsg extends Header {
  /** Tag. */
  readonly t: 'fetch'
  /** First slot wanted. */
  readonly next: number
}

/** Chosen entries (answer to a fetch). */
export interface EntriesMsg extends Header {
  /** Tag. */
  readonly t: 'entries'
  /** Chosen slots and values, consecutive. */
  readonly entries: readonly SlotValue[]
  /** The sender's commit index. */
  readonly commit: number
}

/** A state machine snapshot, for a replica that needs slots already compacted. */
export interface SnapshotMsg extends Header {
  /** Tag. */
  readonly t: 'snapshot'
  /** Last slot the snapshot includes. */
  readonly index: number
  /** The state machine's bytes. */
  readonly data: Uint8Array
  /** The sender's commit index. */
  readonly commit: number
}

/** A replica that lost its disk asks its peers what they have promised. */
export interface RecoverQueryMsg extends Header {
  /** Tag. */
  readonly t: 'recoverQuery'
  /** The asker's new disk id. */
  readonly disk: string
}

/** Answer to a recovery query. */
export interface RecoverInfoMsg extends Header {
  /** Tag. */
  readonly t: 'recoverInfo'
  /** The disk id asked about, echoed. */
  readonly disk: string
  /** The highest ballot the sender has promised or seen. */
  readonly promised: Ballot
  /** Whether the sender holds no value at all, neither accepted nor chosen (promises aside). */
  readonly empty: boolean
  /** The sender's commit index. */
  readonly commit: number
}

/** Every Paxos message. */
export type PaxosMessage =
  | PrepareMsg | PromiseMsg | AcceptMsg | AcceptedMsg | HeartbeatMsg | HeartbeatAckMsg
  | FetchMsg | EntriesMsg | SnapshotMsg | RecoverQueryMsg | RecoverInfoMsg

/** A message to send, and to whom (possibly the replica itself). */
export interface Outbound {
  /** Recipient. */
  readonly to: string
  /** The message. */
  readonly msg: PaxosMessage
}

/**
 * A durable record. The driver writes them in order and makes them durable
 * before it sends the messages of the same {@link Ready}.
 *
 * - `promise`: the acceptor's promise.
 * - `accept`: an accepted value for a slot (`chosen` when it is known chosen).
 * - `commit`: every slot up to `index` is chosen with the value last recorded for it.
 * - `snapshot`: the state machine up to `index` is `data`; earlier records may go.
 * - `meta`: the disk's identity and recovery state (see {@link Recovery}).
 */
export type PersistRecord =
  | {
    /** Kind. */
    readonly r: 'promise'
    /** The ballot promised. */
    readonly b: Ballot
  }
  | {
    /** Kind. */
    readonly r: 'accept'
    /** The slot. */
    readonly slot: number
    /** The ballot it was accepted in (the zero ballot when learned as chosen). */
    readonly b: Ballot
    /** The value. */
    readonly value: Value
    /** Whether it is known chosen. */
    readonly chosen: boolean
  }
  | {
    /** Kind. */
    readonly r: 'commit'
    /** Every slot up to here is chosen. */
    readonly index: number
  }
  | {
    /** Kind. */
    readonly r: 'snapshot'
    /** The last slot the snapshot includes. */
    readonly index: number
    /** The state machine's bytes. */
    readonly data: Uint8Array
  }
  | {
    /** Kind. */
    readonly r: 'meta'
    /** The disk's id, drawn when the disk was first used. */
    readonly disk: string
    /** Recovery state; null when the replica votes normally. */
    readonly recovery: Recovery | null
  }

/**
 * The state of a replica that came back with an empty disk although its
 * cluster existed: it may not vote until it has relearned the log.
 */
export interface Recovery {
  /**
   * The floor: the highest promise found at a majority of peers. The
   * replica's own promise starts here, so it cannot break a promise its lost
   * disk had made and a quorum had counted.
   */
  readonly floor: Ballot
  /** Whether the floor was established (a majority of peers answered). */
  readonly floorKnown: boolean
}

/** A chosen slot handed to the state machine, in slot order, each once. */
export interface CommittedEntry {
  /** The slot. */
  readonly slot: number
  /** Its value. */
  readonly value: Value
}

/** Things that happened, for the layers above (2PC watermarks, metrics). */
export type ReplicaEvent =
  | {
    /** This replica's contiguous chosen prefix now reaches `index` (the watermark). */
    readonly e: 'committed'
    /** The commit index. */
    readonly index: number
  }
  | {
    /**
     * This replica became leader of `epoch`. Slots up to `previousFinal`
     * belong to earlier epochs; the entry at `epochSlot` opens the new one.
     */
    readonly e: 'leader'
    /** The leader's ballot. */
    readonly epoch: Ballot
    /** The last slot phase 1 found: the previous epochs end here. */
    readonly previousFinal: number
    /** The slot of the epoch entry. */
    readonly epochSlot: number
  }
  | {
    /** The leader's epoch entry is chosen: it serves reads now, and every earlier slot is decided. */
    readonly e: 'serving'
    /** The leader's ballot. */
    readonly epoch: Ballot
    /** The old epochs' final position, now decided. */
    readonly previousFinal: number
  }
  | {
    /** This replica stopped leading (a higher ballot, or no quorum heard). */
    readonly e: 'steppedDown'
    /** The epoch it led. */
    readonly epoch: Ballot
  }
  | {
    /** The replica installed a snapshot. */
    readonly e: 'snapshotInstalled'
    /** The last slot the snapshot includes. */
    readonly index: number
  }
  | {
    /** The replica finished recovering from a lost disk and votes again. */
    readonly e: 'recovered'
  }

/** A confirmed linearizable read: serve it from the state machine once `index` is applied. */
export interface ReadConfirmed {
  /** The caller's read id. */
  readonly id: string
  /** The commit index the read must see. */
  readonly index: number
}

/** A read or proposal that this replica cannot serve. */
export interface Refusal {
  /** The caller's id (read id or command id). */
  readonly id: string
  /** Why: not the leader (redirect), or too much queued (retry later). */
  readonly code: 'MAKO_NOT_LEADER' | 'MAKO_BUSY'
  /** The leader as far as this replica knows. */
  readonly leader: string | undefined
}

/**
 * One batch of effects, in the order the driver must carry them out:
 * 1. write `persist` to stable storage (all of it, in order, synced);
 * 2. only then send `sendAfterPersist` (a message to the replica itself is
 *    stepped back into it);
 * 3. install `snapshot` if present, then apply `committed` in order;
 * 4. serve `reads` once their index is applied; answer `refused`.
 *
 * Readies must be carried out in the order they were taken: messages of a
 * later Ready may depend on records of an earlier one.
 */
export interface Ready {
  /** Records to make durable first. */
  readonly persist: PersistRecord[]
  /** Messages to send once `persist` (and every earlier Ready's) is durable. */
  readonly sendAfterPersist: Outbound[]
  /** A snapshot to install into the state machine before `committed`. */
  readonly snapshot: SnapshotData | undefined
  /** Chosen entries to apply, in slot order. */
  readonly committed: CommittedEntry[]
  /** Reads confirmed. */
  readonly reads: ReadConfirmed[]
  /** Reads and proposals refused (leadership lost). */
  readonly refused: Refusal[]
  /** Events. */
  readonly events: ReplicaEvent[]
}

/** A state machine snapshot and the slot it was taken at. */
export interface SnapshotData {
  /** The last slot the snapshot includes. */
  readonly index: number
  /** The state machine's bytes. */
  readonly data: Uint8Array
}

/** An accepted value as kept on disk. */
export interface AcceptedSlot {
  /** The ballot it was accepted in. */
  b: Ballot
  /** The value. */
  value: Value
  /** Whether it is known chosen. */
  chosen: boolean
}

/** The durable state a replica restarts from (built by folding {@link PersistRecord}s). */
export interface DurableState {
  /** The disk's id; undefined for an empty disk. */
  disk: string | undefined
  /** Recovery state; null when the replica votes normally. */
  recovery: Recovery | null
  /** The acceptor's promise. */
  promised: Ballot
  /** Accepted values by slot. */
  accepted: Map<number, AcceptedSlot>
  /** Contiguous chosen prefix known durable. */
  commit: number
  /** The latest snapshot. */
  snapshot: SnapshotData | undefined
}
