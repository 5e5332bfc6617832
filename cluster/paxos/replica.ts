/**
 * The Multi-Paxos replica: a pure, synchronous state machine in the manner
 * of etcd-io/raft's `RawNode`. It has no I/O, no timers and no randomness of
 * its own: the driver feeds it messages ({@link Replica.step}), ticks
 * ({@link Replica.tick}), client commands ({@link Replica.propose}) and reads
 * ({@link Replica.read}), and takes back batches of effects
 * ({@link Replica.ready}): records to persist, messages to send after they
 * are durable, chosen entries to apply, confirmed reads and events.
 *
 * ## Protocol in brief
 * - Every proposer uses its own ballots `(round, node)`. A follower that has
 *   heard no leader for a randomised timeout (drawn from the injected random
 *   source) runs phase 1 once, over every slot from its first unknown one
 *   on. With promises from a quorum it knows every value that may have been
 *   chosen: it re-proposes those, fills holes with no-ops, and proposes an
 *   `epoch` entry that opens its leadership (and names the last slot of the
 *   previous epochs). New commands go after it.
 * - Phase 2 is pipelined (up to `maxInflightSlots` slots out) and batched
 *   (up to `maxBatchCommands` commands a slot). The commit index rides on
 *   every accept and heartbeat; followers mark chosen what they accepted in
 *   the same ballot and fetch the rest (or a snapshot when it was compacted).
 * - The leader's own vote goes through the same path as everyone else's: it
 *   sends the accept to itself, and its acceptor answers only after the
 *   record is durable.
 * - Reads are linearizable by read index (a heartbeat round acknowledged by a
 *   quorum after the read arrived) or, with `leaseTicks`, by a leader lease.
 *
 * ## Epochs, for the layers above
 * A leader's ballot is its epoch. Its phase 1 closes the previous epochs at
 * `previousFinal` (the last slot any promiser reported); it decides every
 * slot up to there (re-proposing or filling with no-ops) and opens its
 * epoch with an `epoch` entry at `previousFinal + 1`, which every replica
 * applies in log order. Events report `leader`, `serving` (the epoch entry
 * is chosen) and `committed` (the contiguous chosen prefix: the watermark).
 * Messages of an older ballot than a replica's promise are refused.
 *
 * ## Lost disks
 * Detection: every disk gets a random id in a `meta` record when it is first
 * used. A replica that starts without one (an empty or replaced disk) does
 * not vote; it asks every peer (`recoverQuery`). If all peers answer that
 * they hold no value, this is a new shard and it starts normally. If any
 * peer holds a value, the disk was lost: the replica becomes *recovering*
 * (persisted, so a crash does not forget it). A recovering replica
 * - starts its promise at the highest promise reported by a majority of its
 *   peers, so it cannot accept a ballot below one its lost disk promised to
 *   a leader that completed phase 1 (that leader needed a majority, which
 *   intersects any majority of the other peers);
 * - accepts nothing, and its promises carry `rec: true` and do not count
 *   towards a phase 1 quorum, nor do its heartbeat answers confirm reads;
 * - learns chosen slots (commit notices, fetches, snapshots), and votes
 *   again once it has learned every slot up to the `previousFinal` of a
 *   leader whose ballot is above its floor: that leader's phase 1 ran
 *   without it, so every value its old disk may have helped choose is at
 *   or below that slot, and now on its new disk.
 * What this does not cover: a promise or vote the old disk sent that is
 * still in flight when the new one has finished asking. Over the WebSocket
 * transport, a restarted process talks on new sessions that replace the
 * old ones, so that window is the time a peer takes to process bytes the
 * dead process had already written. Losing a majority of disks loses data.
 *
 * @module
 */

import { MakoError, assert } from '../../lib/errors.js'
import { ballotString, compareBallots, maxBallot, sameBallot, zeroBallot } from './ballot.js'
import type { Ballot } from './ballot.js'
import { emptyDurableState } from './durable.js'
import type {
  AcceptMsg, AcceptedEntry, AcceptedMsg, Command, CommittedEntry, DurableState, EntriesMsg, FetchMsg, HeartbeatAckMsg,
  HeartbeatMsg, Outbound, PaxosMessage, PersistRecord, PrepareMsg, PromiseMsg, ReadConfirmed, Ready, RecoverInfoMsg,
  RecoverQueryMsg, Recovery, Refusal, ReplicaEvent, SlotValue, SnapshotMsg, Value
} from './types.js'
import { paxosWireVersion } from './types.js'

/** Options of a {@link Replica}. Ticks are the driver's unit of time. */
export interface ReplicaOptions {
  /** This replica's id; one of `members`. */
  id: string
  /** Every replica of the shard (2f+1 of them), the same list everywhere. */
  members: readonly string[]
  /** Uniform random numbers in [0, 1): the only randomness the replica uses (election timeouts, disk ids). */
  random: () => number
  /** Minimum election timeout in ticks; timeouts are drawn from [electionTicks, 2 * electionTicks). Default 10. */
  electionTicks?: number
  /** Ticks between leader heartbeats. Default 1. */
  heartbeatTicks?: number
  /**
   * Ticks before an unanswered accept, prepare or fetch is sent again.
   * Default 2. A leader waits longer for a peer whose measured round trip
   * is longer: see {@link Replica.retryAfter}.
   */
  retryTicks?: number
  /**
   * Leader lease length in ticks, 0 for none (the default). Must be below
   * `electionTicks`; see the safety argument at {@link Replica.read}.
   */
  leaseTicks?: number
  /** Most commands in one slot. Default 256. */
  maxBatchCommands?: number
  /** Most slots proposed and not yet chosen. Default 64. */
  maxInflightSlots?: number
  /** Most commands waiting for a slot; more are refused with `MAKO_BUSY`. Default 100,000. */
  maxPendingCommands?: number
  /** Most entries in one accept or entries message. Default 32. */
  maxEntriesPerMessage?: number
  /** Most bytes of commands in one slot (as `commandBytes` counts them); a larger command goes alone. Default 256 KiB. */
  maxBatchBytes?: number
  /** Most bytes of values in one accept or entries message (a larger value goes alone). Default 1 MiB. */
  maxMessageBytes?: number
  /** The size of a command in bytes, for the byte limits; default 64 for every command. */
  commandBytes?: (cmd: Command) => number
  /** Most reads waiting for confirmation; more are refused with `MAKO_BUSY`. Default 100,000. */
  maxPendingReads?: number
  /** Slots kept in memory below a snapshot, to serve lagging peers without one. Default 64. */
  keepSlots?: number
  /** What the disk held at start (see {@link foldRecords}); empty when absent. */
  durable?: DurableState
}

/** Defaults of the numeric {@link ReplicaOptions}. */
export const defaultReplicaOptions = Object.freeze({
  /** See {@link ReplicaOptions.electionTicks}. */
  electionTicks: 10,
  /** See {@link ReplicaOptions.heartbeatTicks}. */
  heartbeatTicks: 1,
  /** See {@link ReplicaOptions.retryTicks}. */
  retryTicks: 2,
  /** See {@link ReplicaOptions.leaseTicks}. */
  leaseTicks: 0,
  /** See {@link ReplicaOptions.maxBatchCommands}. */
  maxBatchCommands: 256,
  /** See {@link ReplicaOptions.maxInflightSlots}. */
  maxInflightSlots: 64,
  /** See {@link ReplicaOptions.maxPendingCommands}. */
  maxPendingCommands: 100_000,
  /** See {@link ReplicaOptions.maxEntriesPerMessage}. */
  maxEntriesPerMessage: 32,
  /** See {@link ReplicaOptions.maxBatchBytes}. */
  maxBatchBytes: 256 * 1024,
  /** See {@link ReplicaOptions.maxMessageBytes}. */
  maxMessageBytes: 1024 * 1024,
  /** See {@link ReplicaOptions.maxPendingReads}. */
  maxPendingReads: 100_000,
  /** See {@link ReplicaOptions.keepSlots}. */
  keepSlots: 64
})

/** A replica's role. `init`: a new disk, asking peers whether the cluster already exists. */
export type Role = 'init' | 'follower' | 'candidate' | 'leader'

/** What {@link Replica.status} reports. */
export interface ReplicaStatus {
  /** This replica. */
  id: string
  /** Its role. */
  role: Role
  /** The leader as far as it knows. */
  leader: string | undefined
  /** Its promise. */
  promised: Ballot
  /** Contiguous chosen prefix. */
  commitIndex: number
  /** Slots handed to the state machine. */
  appliedIndex: number
  /** First slot held in memory. */
  firstSlot: number
  /** Whether it is recovering from a lost disk (and may not vote). */
  recovering: boolean
  /** As leader: whether its epoch entry is chosen. */
  serving: boolean
  /** As leader: its epoch. */
  epoch: Ballot | undefined
  /** The disk id. */
  disk: string | undefined
}

/** A slot in the replica's log. */
interface Slot {
  b: Ballot
  value: Value
  chosen: boolean
}

interface InflightSlot {
  value: Value
  acks: Set<string>
  /** When the accepts first went out. */
  sentAt: number
  /** When each member was last sent the accept again, once any was. */
  resentAt: Map<string, number> | undefined
}

interface PendingRead {
  id: string
  ctx: number
  index: number
}

interface LeaderState {
  b: Ballot
  previousFinal: number
  epochSlot: number
  serving: boolean
  nextSlot: number
  inflight: Map<number, InflightSlot>
  pending: Command[]
  pendingHead: number
  lastAck: Map<string, number>
  ackedCtx: Map<string, number>
  ctx: number
  confirmedCtx: number
  ctxSentAt: Map<number, number>
  /** Per peer: smoothed heartbeat round trip and its mean deviation, in ticks (RFC 6298). */
  rtt: Map<string, { srtt: number, rttvar: number }>
  reads: PendingRead[]
  leaseUntil: number
  hbNow: boolean
}

interface CandidateState {
  b: Ballot
  fromSlot: number
  promises: Map<string, PromiseMsg>
  sentAt: number
}

interface InitState {
  disk: string
  answers: Map<string, RecoverInfoMsg>
  sentAt: number
}

const NEVER = -1e15

/** Folds one round-trip sample into a peer's estimate, as RFC 6298 does (gains 1/8 and 1/4). */
function sampleRtt (rtt: Map<string, { srtt: number, rttvar: number }>, peer: string, sample: number): void {
  const est = rtt.get(peer)
  if (est === undefined) {
    rtt.set(peer, { srtt: sample, rttvar: sample / 2 })
    return
  }
  est.rttvar = 0.75 * est.rttvar + 0.25 * Math.abs(est.srtt - sample)
  est.srtt = 0.875 * est.srtt + 0.125 * sample
}

/**
 * A Multi-Paxos replica of one shard. See the module documentation.
 *
 * Usage by a driver, in a loop: feed inputs (`step`, `tick`, `propose`,
 * `read`, `compact`), then take `ready()` and carry it out in the order its
 * documentation gives. Every method is synchronous and O(work it reports),
 * except where noted.
 */
export class Replica {
  /** This replica's id. */
  readonly id: string
  /** The shard's members. */
  readonly members: readonly string[]
  /** Votes needed: a majority of `members`. */
  readonly quorum: number
  readonly #peers: string[]
  readonly #random: () => number
  readonly #commandBytes: (cmd: Command) => number
  readonly #valueBytes = new WeakMap<Value, number>()
  readonly #o: { readonly [K in keyof typeof defaultReplicaOptions]: number }

  // Acceptor state (durable through records).
  #promised: Ballot
  #log = new Map<number, Slot>()
  #firstSlot: number
  #snapshot: { index: number, data: Uint8Array } | undefined
  #disk: string | undefined
  #recovery: Recovery | null

  // Learner state.
  #commit: number
  #applied: number
  #knownCommit: number
  #peerCommit = new Map<string, number>()
  #lastFetchAt = NEVER
  #persistedCommit: number
  #reportedCommit: number

  // Roles.
  #role: Role
  #leader: string | undefined
  #maxRound: number
  #lead: LeaderState | undefined
  #cand: CandidateState | undefined
  #init: InitState | undefined

  // Time.
  #now = 0
  #electionElapsed = 0
  #timeout: number
  #lastHeardLeader = NEVER
  #bootTick = 0

  // Outbox of the next Ready.
  #persist: PersistRecord[] = []
  #send: Outbound[] = []
  #acceptOut = new Map<string, SlotValue[]>()
  #installSnapshot: { index: number, data: Uint8Array } | undefined
  #reads: ReadConfirmed[] = []
  #refused: Refusal[] = []
  #events: ReplicaEvent[] = []

  /** @param options Identity, members, random source, limits and the durable state to start from. */
  constructor (options: ReplicaOptions) {
    const o: { -readonly [K in keyof typeof defaultReplicaOptions]: number } = { ...defaultReplicaOptions }
    for (const key of Object.keys(defaultReplicaOptions) as Array<keyof typeof defaultReplicaOptions>) {
      const value = options[key]
      if (value !== undefined) {
        if (!Number.isSafeInteger(value) || value < 0) throw new MakoError(`${key} must be a non-negative integer`, 'MAKO_INVALID_ARGUMENT')
        o[key] = value
      }
    }
    if (o.electionTicks < 2 || o.heartbeatTicks < 1 || o.heartbeatTicks >= o.electionTicks) {
      throw new MakoError('Need electionTicks >= 2 and 1 <= heartbeatTicks < electionTicks', 'MAKO_INVALID_ARGUMENT')
    }
    if (o.leaseTicks >= o.electionTicks) throw new MakoError('leaseTicks must be below electionTicks', 'MAKO_INVALID_ARGUMENT')
    if (o.retryTicks < 1 || o.maxBatchCommands < 1 || o.maxInflightSlots < 1 || o.maxEntriesPerMessage < 1) {
      throw new MakoError('retryTicks, maxBatchCommands, maxInflightSlots and maxEntriesPerMessage must be at least 1', 'MAKO_INVALID_ARGUMENT')
    }
    const members = [...new Set(options.members)]
    if (members.length !== options.members.length || members.length === 0 || !members.includes(options.id)) {
      throw new MakoError('members must be distinct and include id', 'MAKO_INVALID_ARGUMENT')
    }
    this.#o = o
    this.id = options.id
    this.members = members
    this.quorum = Math.floor(members.length / 2) + 1
    this.#peers = members.filter((m) => m !== options.id)
    this.#random = options.random
    this.#commandBytes = options.commandBytes ?? (() => 64)

    const d = options.durable ?? emptyDurableState()
    this.#promised = d.promised
    this.#maxRound = d.promised[0]
    this.#snapshot = d.snapshot
    this.#firstSlot = (d.snapshot?.index ?? 0) + 1
    this.#disk = d.disk
    this.#recovery = d.recovery
    for (const [slot, s] of d.accepted) {
      if (slot < this.#firstSlot) continue
      this.#log.set(slot, { b: s.b, value: s.value, chosen: s.chosen })
      if (s.b[0] > this.#maxRound) this.#maxRound = s.b[0]
    }
    // The commit record may run ahead of the records it covers (a leader
    // learns a slot is chosen before its own accept is durable): trust it
    // only as far as the slots are present.
    let commit = this.#firstSlot - 1
    while (commit < d.commit && this.#log.has(commit + 1)) {
      commit++
      ;(this.#log.get(commit) as Slot).chosen = true
    }
    while (this.#log.get(commit + 1)?.chosen === true) commit++
    this.#commit = commit
    this.#persistedCommit = commit
    this.#reportedCommit = this.#firstSlot - 1
    this.#knownCommit = commit
    this.#applied = this.#firstSlot - 1
    if (d.snapshot !== undefined) this.#installSnapshot = d.snapshot

    this.#timeout = this.#drawTimeout()
    if (this.#disk === undefined) {
      this.#role = 'init'
      this.#init = { disk: this.#newDiskId(), answers: new Map(), sentAt: NEVER }
      this.#initProgress()
    } else {
      this.#role = 'follower'
    }
  }

  // ---------------------------------------------------------------- inputs

  /**
   * Advances time by one tick: election and heartbeat timers, resends,
   * check-quorum, lease expiry.
   */
  tick (): void {
    this.#now++
    switch (this.#role) {
      case 'init':
        this.#initProgress()
        break
      case 'follower':
        this.#electionElapsed++
        if (this.#recovery === null && this.#electionElapsed >= this.#timeout) this.#campaign()
        else this.#maybeFetch(undefined)
        break
      case 'candidate': {
        const cand = this.#cand as CandidateState
        this.#electionElapsed++
        if (this.#electionElapsed >= this.#timeout) {
          this.#campaign()
        } else if (this.#now - cand.sentAt >= this.#o.retryTicks) {
          cand.sentAt = this.#now
          for (const m of this.members) {
            if (!cand.promises.has(m)) this.#out(m, { t: 'prepare', ...this.#hdr(), b: cand.b, fromSlot: cand.fromSlot })
          }
        }
        break
      }
      case 'leader':
        this.#leaderTick()
        break
    }
  }

  /**
   * Handles one message from a peer (or from itself). Malformed messages
   * must be rejected by the caller ({@link validateMessage}); messages of
   * another configuration or from non-members are ignored here.
   *
   * @param msg The message.
   */
  step (msg: PaxosMessage): void {
    if (msg.cfg !== 0 || msg.v !== paxosWireVersion || !this.members.includes(msg.from)) return
    switch (msg.t) {
      case 'prepare': this.#onPrepare(msg); break
      case 'promise': this.#onPromise(msg); break
      case 'accept': this.#onAccept(msg); break
      case 'accepted': this.#onAccepted(msg); break
      case 'heartbeat': this.#onHeartbeat(msg); break
      case 'heartbeatAck': this.#onHeartbeatAck(msg); break
      case 'fetch': this.#onFetch(msg); break
      case 'entries': this.#onEntries(msg); break
      case 'snapshot': this.#onSnapshot(msg); break
      case 'recoverQuery': this.#onRecoverQuery(msg); break
      case 'recoverInfo': this.#onRecoverInfo(msg); break
    }
  }

  /**
   * Offers a client command. The leader queues it for the next slot; any
   * other replica refuses it with `MAKO_NOT_LEADER` and its leader hint
   * (the driver redirects the client). The command is answered when its
   * slot is applied; if leadership is lost first it may or may not be
   * chosen (clients retry with the same id, which the state machine applies
   * once).
   *
   * @param cmd The command.
   * @returns A refusal, or undefined when queued.
   */
  propose (cmd: Command): Refusal | undefined {
    const lead = this.#lead
    if (this.#role !== 'leader' || lead === undefined) return { id: cmd.id, code: 'MAKO_NOT_LEADER', leader: this.#leader }
    if (lead.pending.length - lead.pendingHead >= this.#o.maxPendingCommands) return { id: cmd.id, code: 'MAKO_BUSY', leader: this.id }
    lead.pending.push(cmd)
    return undefined
  }

  /**
   * Asks for a linearizable read. The read is confirmed in a later
   * {@link Ready} with the commit index it must see; the driver serves it
   * from the state machine once that index is applied.
   *
   * Without a lease the leader confirms a read after a heartbeat round that
   * started after the read arrived has been acknowledged by a quorum (read
   * index): no other leader can have chosen anything the read would miss.
   *
   * With `leaseTicks` the leader answers at once while it holds a lease.
   * Safety argument: the lease of heartbeat round k runs from the tick the
   * leader sent it, for `leaseTicks` of the leader's ticks, once a quorum Q
   * acknowledged it. Each member of Q received round k after it was sent,
   * and refuses to promise any other candidate until `electionTicks` of its
   * own ticks after the last time it heard the leader (and, after a
   * restart, which forgets that time, until `electionTicks` after booting).
   * Any new leader needs a promise from a member of Q, so none exists
   * before `electionTicks` have passed at Q since the send. With
   * `leaseTicks < electionTicks` and tick rates that differ by less than
   * the ratio between them (clock drift bound), the lease ends first, so a
   * lease read never misses a write another leader chose. The leader only
   * reads by lease once its epoch entry is chosen (it knows every earlier
   * slot). Leases are not safe for mutual exclusion outside this process.
   *
   * @param id The caller's id for the read.
   * @returns A refusal, or undefined when the read is pending.
   */
  read (id: string): Refusal | undefined {
    const lead = this.#lead
    if (this.#role !== 'leader' || lead === undefined) return { id, code: 'MAKO_NOT_LEADER', leader: this.#leader }
    if (lead.serving && this.#o.leaseTicks > 0 && this.#now < lead.leaseUntil) {
      this.#reads.push({ id, index: this.#commit })
      return undefined
    }
    if (lead.reads.length >= this.#o.maxPendingReads) return { id, code: 'MAKO_BUSY', leader: this.id }
    lead.reads.push({ id, ctx: lead.ctx + 1, index: lead.serving ? this.#commit : -1 })
    lead.hbNow = true
    return undefined
  }

  /**
   * Records a state machine snapshot taken at `index` (at most the applied
   * index) and compacts the log below it, keeping `keepSlots` slots in
   * memory for lagging peers. The snapshot is persisted; records it covers
   * may then be dropped by the storage.
   *
   * @param index The last slot the snapshot includes.
   * @param data The state machine's bytes.
   */
  compact (index: number, data: Uint8Array): void {
    assert(index <= this.#applied, 'snapshot beyond the applied index')
    if (this.#snapshot !== undefined && index <= this.#snapshot.index) return
    this.#snapshot = { index, data }
    this.#persist.push({ r: 'snapshot', index, data })
    const keepFrom = index - this.#o.keepSlots + 1
    for (let s = this.#firstSlot; s < keepFrom; s++) this.#log.delete(s)
    if (keepFrom > this.#firstSlot) this.#firstSlot = keepFrom
  }

  // ---------------------------------------------------------------- output

  /** Whether {@link Replica.ready} would return anything. */
  hasReady (): boolean {
    const lead = this.#lead
    return this.#persist.length > 0 || this.#send.length > 0 || this.#acceptOut.size > 0 || this.#commit > this.#applied ||
      this.#installSnapshot !== undefined || this.#reads.length > 0 || this.#refused.length > 0 || this.#events.length > 0 ||
      (lead !== undefined && (lead.hbNow || (lead.pending.length > lead.pendingHead && lead.inflight.size < this.#o.maxInflightSlots)))
  }

  /**
   * Takes the effects accumulated since the last call. See {@link Ready} for
   * the order in which the driver must carry them out.
   */
  ready (): Ready {
    const lead = this.#lead
    if (lead !== undefined) {
      this.#flushProposals(lead)
      if (lead.hbNow) this.#heartbeat(lead)
    }
    if (lead !== undefined) {
      for (const [to, entries] of this.#acceptOut) {
        for (const part of this.#split(entries)) {
          this.#send.push({ to, msg: { t: 'accept', ...this.#hdr(), b: lead.b, entries: part, commit: this.#commit, p1: lead.previousFinal } })
        }
      }
    }
    this.#acceptOut.clear()
    const committed: CommittedEntry[] = []
    if (this.#installSnapshot !== undefined) this.#applied = Math.max(this.#applied, this.#installSnapshot.index)
    while (this.#applied < this.#commit) {
      const slot = this.#applied + 1
      const s = this.#log.get(slot)
      assert(s !== undefined && s.chosen, `slot ${slot} applied but not chosen`)
      committed.push({ slot, value: s.value })
      this.#applied = slot
    }
    if (this.#commit > this.#reportedCommit) {
      this.#reportedCommit = this.#commit
      this.#events.push({ e: 'committed', index: this.#commit })
    }
    // The commit index needs no sync of its own: ride along with records
    // that are written anyway, or go every 256 slots.
    if (this.#commit > this.#persistedCommit && (this.#persist.length > 0 || this.#commit - this.#persistedCommit >= 256)) {
      this.#persist.push({ r: 'commit', index: this.#commit })
      this.#persistedCommit = this.#commit
    }
    const rd: Ready = {
      persist: this.#persist,
      sendAfterPersist: this.#send,
      snapshot: this.#installSnapshot,
      committed,
      reads: this.#reads,
      refused: this.#refused,
      events: this.#events
    }
    this.#persist = []
    this.#send = []
    this.#installSnapshot = undefined
    this.#reads = []
    this.#refused = []
    this.#events = []
    return rd
  }

  /** Where the replica stands. */
  status (): ReplicaStatus {
    return {
      id: this.id,
      role: this.#role,
      leader: this.#leader,
      promised: this.#promised,
      commitIndex: this.#commit,
      appliedIndex: this.#applied,
      firstSlot: this.#firstSlot,
      recovering: this.#recovery !== null,
      serving: this.#lead?.serving ?? false,
      epoch: this.#lead?.b,
      disk: this.#disk
    }
  }

  /** The leader's commands waiting for a slot plus those in flight, for backpressure. */
  get pendingCommands (): number {
    const lead = this.#lead
    return lead === undefined ? 0 : lead.pending.length - lead.pendingHead
  }

  /**
   * The chosen value of a slot, if this replica still holds it.
   *
   * @param slot A slot.
   */
  chosenValue (slot: number): Value | undefined {
    const s = this.#log.get(slot)
    return s?.chosen === true ? s.value : undefined
  }

  // ------------------------------------------------------------- internals

  #hdr (): { v: number, cfg: number, from: string } {
    return { v: paxosWireVersion, cfg: 0, from: this.id }
  }

  #out (to: string, msg: PaxosMessage): void {
    this.#send.push({ to, msg })
  }

  #drawTimeout (): number {
    const e = this.#o.electionTicks
    return e + Math.floor(this.#random() * e)
  }

  #newDiskId (): string {
    let s = ''
    for (let i = 0; i < 3; i++) s += Math.floor(this.#random() * 0x10000).toString(16).padStart(4, '0')
    return s
  }

  #setPromise (b: Ballot): void {
    if (compareBallots(b, this.#promised) <= 0) return
    this.#promised = b
    if (b[0] > this.#maxRound) this.#maxRound = b[0]
    this.#persist.push({ r: 'promise', b })
  }

  /** Whether this replica holds no value at all (promises aside). */
  #isEmpty (): boolean {
    return this.#log.size === 0 && this.#snapshot === undefined && this.#commit === 0
  }

  // --- init: a new disk asks whether the cluster exists

  #initProgress (): void {
    const init = this.#init as InitState
    const answers = [...init.answers.values()]
    const nonEmpty = answers.some((a) => !a.empty)
    let floor: Ballot = zeroBallot
    let commit = 0
    for (const a of answers) {
      floor = maxBallot(floor, a.promised)
      commit = Math.max(commit, a.commit)
    }
    if (!nonEmpty && answers.length === this.#peers.length) {
      // No peer holds any value: nothing was ever chosen, a new cluster.
      // (All disks lost at once is indistinguishable from this, and
      // unrecoverable anyway.) Promises may exist: start above them.
      this.#disk = init.disk
      this.#recovery = null
      this.#persist.push({ r: 'meta', disk: init.disk, recovery: null })
      this.#setPromise(floor)
      this.#becomeFollower(undefined)
      this.#init = undefined
      return
    }
    if (nonEmpty && answers.length >= this.quorum) {
      // The cluster holds values and this disk is new: it was lost. Start
      // the promise at the highest promise a majority of peers reports (see
      // Recovery.floor) and do not vote until the log is relearned.
      this.#disk = init.disk
      this.#recovery = { floor, floorKnown: true }
      this.#persist.push({ r: 'meta', disk: init.disk, recovery: this.#recovery })
      this.#setPromise(floor)
      this.#knownCommit = Math.max(this.#knownCommit, commit)
      this.#becomeFollower(undefined)
      this.#init = undefined
      return
    }
    if (this.#now - init.sentAt >= this.#o.retryTicks) {
      init.sentAt = this.#now
      for (const p of this.#peers) {
        if (!init.answers.has(p)) this.#out(p, { t: 'recoverQuery', ...this.#hdr(), disk: init.disk })
      }
    }
  }

  #onRecoverQuery (m: RecoverQueryMsg): void {
    let seen = this.#promised
    for (const s of this.#log.values()) seen = maxBallot(seen, s.b)
    this.#out(m.from, {
      t: 'recoverInfo', ...this.#hdr(), disk: m.disk, promised: seen, empty: this.#role === 'init' || this.#isEmpty(), commit: this.#commit
    })
  }

  #onRecoverInfo (m: RecoverInfoMsg): void {
    if (this.#role !== 'init') return
    const init = this.#init as InitState
    if (m.disk !== init.disk) return
    init.answers.set(m.from, m)
    this.#initProgress()
  }

  /** A recovering replica votes again once it holds every slot a leader elected without it found. */
  #maybeHeal (b: Ballot, p1: number): void {
    const rec = this.#recovery
    if (rec === null || !rec.floorKnown || compareBallots(b, rec.floor) <= 0 || this.#commit < p1) return
    this.#recovery = null
    this.#persist.push({ r: 'meta', disk: this.#disk as string, recovery: null })
    this.#events.push({ e: 'recovered' })
  }

  // --- elections

  #becomeFollower (leader: string | undefined): void {
    if (this.#role === 'leader') this.#stepDownLeader()
    this.#role = 'follower'
    this.#cand = undefined
    this.#leader = leader
    this.#electionElapsed = 0
    this.#timeout = this.#drawTimeout()
  }

  #stepDownLeader (): void {
    const lead = this.#lead
    if (lead === undefined) return
    this.#lead = undefined
    this.#acceptOut.clear()
    for (const r of lead.reads) this.#refused.push({ id: r.id, code: 'MAKO_NOT_LEADER', leader: undefined })
    for (let i = lead.pendingHead; i < lead.pending.length; i++) this.#refused.push({ id: (lead.pending[i] as Command).id, code: 'MAKO_NOT_LEADER', leader: undefined })
    this.#events.push({ e: 'steppedDown', epoch: lead.b })
  }

  /** Notes a message from the leader of ballot `b`: follow it, and restart the election timer. */
  #heardLeader (b: Ballot): void {
    const leader = b[1]
    if (leader === this.id) return
    if (this.#role !== 'follower' || this.#leader !== leader) this.#becomeFollower(leader)
    this.#electionElapsed = 0
    this.#lastHeardLeader = this.#now
  }

  #campaign (): void {
    const round = Math.max(this.#maxRound, this.#promised[0]) + 1
    const b: Ballot = [round, this.id]
    if (this.#role === 'leader') this.#stepDownLeader()
    this.#role = 'candidate'
    this.#leader = undefined
    this.#setPromise(b)
    this.#cand = { b, fromSlot: this.#commit + 1, promises: new Map(), sentAt: this.#now }
    this.#electionElapsed = 0
    this.#timeout = this.#drawTimeout()
    for (const m of this.members) this.#out(m, { t: 'prepare', ...this.#hdr(), b, fromSlot: this.#commit + 1 })
  }

  #onPrepare (m: PrepareMsg): void {
    if (this.#role === 'init') return
    if (m.from !== this.id) {
      // Stickiness (and the lease's other half): while a leader is heard, or
      // right after a restart that forgot when it was last heard, promise
      // no one else. A live leader that lost its quorum steps down by
      // check-quorum, so this cannot block elections for good.
      const e = this.#o.electionTicks
      const heard = this.#role === 'leader' || (this.#leader !== undefined && this.#now - this.#lastHeardLeader < e)
      if (heard || this.#now - this.#bootTick < e) {
        this.#out(m.from, this.#promiseMsg(m.b, false, m.fromSlot))
        return
      }
    }
    if (compareBallots(m.b, this.#promised) < 0) {
      this.#out(m.from, this.#promiseMsg(m.b, false, m.fromSlot))
      return
    }
    if (m.from !== this.id && this.#role !== 'follower') this.#becomeFollower(undefined)
    if (m.from !== this.id) this.#electionElapsed = 0
    this.#setPromise(m.b)
    this.#out(m.from, this.#promiseMsg(m.b, true, m.fromSlot))
  }

  #promiseMsg (b: Ballot, ok: boolean, fromSlot: number): PromiseMsg {
    const acc: AcceptedEntry[] = []
    if (ok) {
      // Slots at or below this acceptor's commit index are chosen: the
      // candidate fetches those it lacks, so only the open ones travel here.
      const from = Math.max(fromSlot, this.#commit + 1, this.#firstSlot)
      for (const [slot, s] of this.#log) if (slot >= from) acc.push([slot, s.b, s.value, s.chosen])
    }
    return {
      t: 'promise', ...this.#hdr(), b, ok, promised: this.#promised, acc, commit: this.#commit, first: this.#firstSlot,
      rec: this.#recovery !== null, disk: this.#disk ?? ''
    }
  }

  #onPromise (m: PromiseMsg): void {
    this.#noteCommit(m.from, m.commit)
    if (m.promised[0] > this.#maxRound) this.#maxRound = m.promised[0]
    const cand = this.#cand
    if (this.#role !== 'candidate' || cand === undefined || !sameBallot(m.b, cand.b)) return
    if (!m.ok) {
      if (compareBallots(m.promised, cand.b) > 0) this.#becomeFollower(undefined)
      return
    }
    if (m.rec) return
    cand.promises.set(m.from, m)
    if (cand.promises.size >= this.quorum) this.#becomeLeader(cand)
  }

  #becomeLeader (cand: CandidateState): void {
    const b = cand.b
    // Merge what the quorum accepted: per slot the value of the highest
    // ballot; a value someone knows chosen wins outright.
    const merged = new Map<number, { b: Ballot, value: Value, chosen: boolean }>()
    let maxCommit = this.#commit
    let fetchFrom: string | undefined
    for (const p of cand.promises.values()) {
      if (p.commit > maxCommit) {
        maxCommit = p.commit
        fetchFrom = p.from
      }
      for (const [slot, eb, value, chosen] of p.acc) {
        if (slot <= this.#commit) continue
        const cur = merged.get(slot)
        if (cur === undefined || (chosen && !cur.chosen) || (!cur.chosen && compareBallots(eb, cur.b) > 0)) {
          merged.set(slot, { b: eb, value, chosen })
        }
      }
    }
    let p1Max = maxCommit
    for (const slot of merged.keys()) if (slot > p1Max) p1Max = slot
    this.#role = 'leader'
    this.#cand = undefined
    this.#leader = this.id
    const lastAck = new Map<string, number>()
    for (const peer of this.#peers) lastAck.set(peer, this.#now)
    const lead: LeaderState = {
      b,
      previousFinal: p1Max,
      epochSlot: p1Max + 1,
      serving: false,
      nextSlot: p1Max + 2,
      inflight: new Map(),
      pending: [],
      pendingHead: 0,
      lastAck,
      ackedCtx: new Map(),
      ctx: 0,
      confirmedCtx: 0,
      ctxSentAt: new Map(),
      rtt: new Map(),
      reads: [],
      leaseUntil: NEVER,
      hbNow: true
    }
    this.#lead = lead
    this.#knownCommit = Math.max(this.#knownCommit, maxCommit)
    for (let slot = this.#commit + 1; slot <= p1Max; slot++) {
      const got = merged.get(slot)
      if (got?.chosen === true) {
        this.#learnChosen(slot, got.value)
      } else if (slot <= maxCommit) {
        // Chosen (some promiser committed it) but its value did not travel
        // in phase 1: fetch it below, never propose over it.
      } else {
        this.#proposeSlot(lead, slot, got?.value ?? { k: 'noop', id: `n${b[0]}.${b[1]}.${slot}` })
      }
    }
    this.#proposeSlot(lead, lead.epochSlot, { k: 'epoch', id: `e${b[0]}.${b[1]}`, epoch: b, previousFinal: p1Max })
    this.#advanceCommit()
    if (fetchFrom !== undefined && this.#commit < maxCommit) this.#fetch(fetchFrom)
    this.#events.push({ e: 'leader', epoch: b, previousFinal: p1Max, epochSlot: lead.epochSlot })
  }

  // --- phase 2

  #proposeSlot (lead: LeaderState, slot: number, value: Value): void {
    lead.inflight.set(slot, { value, acks: new Set(), sentAt: this.#now, resentAt: undefined })
    for (const m of this.members) this.#queueAccept(m, slot, value)
  }

  #queueAccept (to: string, slot: number, value: Value): void {
    let list = this.#acceptOut.get(to)
    if (list === undefined) {
      list = []
      this.#acceptOut.set(to, list)
    }
    list.push([slot, value])
  }

  #flushProposals (lead: LeaderState): void {
    const max = this.#o.maxBatchCommands
    const maxBytes = this.#o.maxBatchBytes
    const pending = lead.pending
    while (pending.length > lead.pendingHead && lead.inflight.size < this.#o.maxInflightSlots) {
      // Cut the next slot at the count or byte limit (one command at least).
      let end = lead.pendingHead
      let bytes = 0
      while (end < pending.length && end - lead.pendingHead < max) {
        const size = this.#commandBytes(pending[end] as Command)
        if (end > lead.pendingHead && bytes + size > maxBytes) break
        bytes += size
        end++
      }
      const cmds = lead.pendingHead === 0 && end === pending.length ? pending : pending.slice(lead.pendingHead, end)
      lead.pendingHead = end
      const slot = lead.nextSlot++
      const value: Value = { k: 'batch', id: `b${lead.b[0]}.${lead.b[1]}.${slot}`, cmds }
      this.#valueBytes.set(value, bytes)
      this.#proposeSlot(lead, slot, value)
    }
    if (lead.pendingHead === pending.length) {
      lead.pending = []
      lead.pendingHead = 0
    } else if (lead.pendingHead > 4096 && lead.pendingHead * 2 > pending.length) {
      lead.pending = pending.slice(lead.pendingHead)
      lead.pendingHead = 0
    }
  }

  /** A value's size in bytes for the message limits (commands as `commandBytes` counts them). */
  #sizeOf (value: Value): number {
    if (value.k !== 'batch') return 64
    let size = this.#valueBytes.get(value)
    if (size === undefined) {
      size = 0
      for (const c of value.cmds) size += this.#commandBytes(c)
      this.#valueBytes.set(value, size)
    }
    return size
  }

  /** Splits entries into runs within the count and byte limits of one message. */
  #split (entries: SlotValue[]): SlotValue[][] {
    const per = this.#o.maxEntriesPerMessage
    const maxBytes = this.#o.maxMessageBytes
    const out: SlotValue[][] = []
    let run: SlotValue[] = []
    let bytes = 0
    for (const e of entries) {
      const size = this.#sizeOf(e[1])
      if (run.length > 0 && (run.length >= per || bytes + size > maxBytes)) {
        out.push(run)
        run = []
        bytes = 0
      }
      run.push(e)
      bytes += size
    }
    if (run.length > 0) out.push(run)
    return out
  }

  #onAccept (m: AcceptMsg): void {
    if (this.#role === 'init') return
    if (compareBallots(m.b, this.#promised) < 0) {
      this.#out(m.from, { t: 'accepted', ...this.#hdr(), b: m.b, ok: false, promised: this.#promised, slots: [], commit: this.#commit })
      return
    }
    this.#setPromise(m.b)
    this.#heardLeader(m.b)
    this.#noteCommit(m.from, m.commit)
    if (this.#recovery === null) {
      const slots: number[] = []
      for (const [slot, value] of m.entries) {
        const cur = this.#log.get(slot)
        if (slot < this.#firstSlot || cur?.chosen === true) {
          // Already chosen here; by Paxos the leader proposes the same value.
          slots.push(slot)
          continue
        }
        if (cur === undefined || !sameBallot(cur.b, m.b)) {
          this.#log.set(slot, { b: m.b, value, chosen: false })
          this.#persist.push({ r: 'accept', slot, b: m.b, value, chosen: false })
        }
        slots.push(slot)
      }
      this.#out(m.from, { t: 'accepted', ...this.#hdr(), b: m.b, ok: true, promised: this.#promised, slots, commit: this.#commit })
    }
    this.#commitNotice(m.b, m.commit, m.from)
    this.#maybeHeal(m.b, m.p1)
  }

  /**
   * What every answer to the leader's accepts and heartbeats does first:
   * counts the sender's commit position, ignores an answer to another
   * ballot, steps down on a refusal that carries a higher promise, and
   * notes when the sender last answered. Returns the leadership to credit,
   * or undefined when nothing more is to be done with the answer.
   */
  #leaderAnswer (m: AcceptedMsg | HeartbeatAckMsg): LeaderState | undefined {
    this.#noteCommit(m.from, m.commit)
    const lead = this.#lead
    if (lead === undefined || !sameBallot(m.b, lead.b)) return undefined
    if (!m.ok) {
      if (compareBallots(m.promised, lead.b) > 0) {
        if (m.promised[0] > this.#maxRound) this.#maxRound = m.promised[0]
        this.#becomeFollower(undefined)
      }
      return undefined
    }
    lead.lastAck.set(m.from, this.#now)
    return lead
  }

  #onAccepted (m: AcceptedMsg): void {
    const lead = this.#leaderAnswer(m)
    if (lead === undefined) return
    let any = false
    for (const slot of m.slots) {
      const inf = lead.inflight.get(slot)
      if (inf === undefined) continue
      inf.acks.add(m.from)
      if (inf.acks.size >= this.quorum) {
        lead.inflight.delete(slot)
        const cur = this.#log.get(slot)
        if (cur === undefined || !cur.chosen) this.#log.set(slot, { b: lead.b, value: inf.value, chosen: true })
        any = true
      }
    }
    if (any) this.#advanceCommit()
  }

  #advanceCommit (): void {
    const before = this.#commit
    while (this.#log.get(this.#commit + 1)?.chosen === true) this.#commit++
    if (this.#commit === before) return
    if (this.#commit > this.#knownCommit) this.#knownCommit = this.#commit
    const lead = this.#lead
    if (lead !== undefined && !lead.serving && this.#commit >= lead.epochSlot) {
      lead.serving = true
      for (const r of lead.reads) if (r.index < 0) r.index = this.#commit
      this.#events.push({ e: 'serving', epoch: lead.b, previousFinal: lead.previousFinal })
      this.#confirmReads(lead)
    }
  }

  /** Marks slots up to `commit` chosen where this replica accepted them in ballot `b`; fetches the rest. */
  #commitNotice (b: Ballot, commit: number, from: string): void {
    if (commit <= this.#commit) return
    // Bounded walk: a far-behind replica catches up by fetching, not here.
    const end = Math.min(commit, this.#commit + 4 * this.#o.maxEntriesPerMessage)
    for (let slot = this.#commit + 1; slot <= end; slot++) {
      const s = this.#log.get(slot)
      if (s !== undefined && !s.chosen && sameBallot(s.b, b)) s.chosen = true
    }
    this.#advanceCommit()
    if (this.#commit < commit) this.#maybeFetch(from)
  }

  #learnChosen (slot: number, value: Value): void {
    if (slot < this.#firstSlot) return
    const cur = this.#log.get(slot)
    if (cur?.chosen === true) return
    const b = cur !== undefined && cur.value.id === value.id ? cur.b : zeroBallot
    this.#log.set(slot, { b, value, chosen: true })
    this.#persist.push({ r: 'accept', slot, b, value, chosen: true })
    const lead = this.#lead
    if (lead !== undefined) lead.inflight.delete(slot)
  }

  // --- heartbeats, reads, lease

  #leaderTick (): void {
    const lead = this.#lead as LeaderState
    // Check-quorum: a leader that has not heard a quorum within an election
    // timeout steps down, so a one-way partition cannot keep followers
    // loyal to a leader that cannot commit.
    let heard = 1
    for (const peer of this.#peers) if (this.#now - (lead.lastAck.get(peer) ?? NEVER) <= this.#o.electionTicks) heard++
    if (heard < this.quorum) {
      this.#becomeFollower(undefined)
      return
    }
    if (this.#now % this.#o.heartbeatTicks === 0) lead.hbNow = true
    // Resend accepts not acknowledged in time, to whoever has not answered.
    // In time is the peer's round trip with room for its variation: resending
    // sooner only repeats large accepts down a slow link (with 100 ms each
    // way and 30 ms ticks, every slot went three more times to each follower).
    const members = this.members
    const wait = members.map((m) => this.retryAfter(m))
    for (const [slot, inf] of lead.inflight) {
      if (this.#now - inf.sentAt < this.#o.retryTicks) continue
      for (let i = 0; i < members.length; i++) {
        const m = members[i]!
        if (inf.acks.has(m) || this.#now - (inf.resentAt?.get(m) ?? inf.sentAt) < wait[i]!) continue
        this.#queueAccept(m, slot, inf.value)
        ;(inf.resentAt ??= new Map()).set(m, this.#now)
      }
    }
    this.#maybeFetch(undefined)
  }

  #heartbeat (lead: LeaderState): void {
    lead.hbNow = false
    lead.ctx++
    lead.ctxSentAt.set(lead.ctx, this.#now)
    if (lead.ctxSentAt.size > 4 * this.#o.electionTicks + 16) {
      for (const k of lead.ctxSentAt.keys()) {
        if (k < lead.ctx - 2 * this.#o.electionTicks - 8) lead.ctxSentAt.delete(k)
        else break
      }
    }
    for (const p of this.#peers) {
      this.#out(p, { t: 'heartbeat', ...this.#hdr(), b: lead.b, commit: this.#commit, ctx: lead.ctx, p1: lead.previousFinal })
    }
    // A single-member shard is its own quorum.
    if (this.quorum === 1) this.#onQuorumCtx(lead, lead.ctx)
  }

  #onHeartbeat (m: HeartbeatMsg): void {
    if (this.#role === 'init') return
    if (compareBallots(m.b, this.#promised) < 0) {
      this.#out(m.from, { t: 'heartbeatAck', ...this.#hdr(), b: m.b, ok: false, promised: this.#promised, ctx: m.ctx, commit: this.#commit })
      return
    }
    this.#setPromise(m.b)
    this.#heardLeader(m.b)
    this.#noteCommit(m.from, m.commit)
    this.#commitNotice(m.b, m.commit, m.from)
    this.#maybeHeal(m.b, m.p1)
    // A recovering replica's acknowledgement must not confirm reads or a
    // lease: it is not in the quorums of new leaders. Round 0 confirms nothing.
    const ctx = this.#recovery === null ? m.ctx : 0
    this.#out(m.from, { t: 'heartbeatAck', ...this.#hdr(), b: m.b, ok: true, promised: this.#promised, ctx, commit: this.#commit })
  }

  /**
   * Ticks the leader waits for a peer's answer to an accept before sending
   * it again: the retransmission timeout of RFC 6298 (smoothed round trip
   * plus four mean deviations, one tick more for the tick's rounding) over
   * heartbeat round trips, at least `retryTicks` and at most twice
   * `electionTicks`. `retryTicks` until a round trip was measured, and on a
   * replica that does not lead.
   *
   * @param peer A member.
   */
  retryAfter (peer: string): number {
    const est = this.#lead?.rtt.get(peer)
    if (est === undefined) return this.#o.retryTicks
    const rto = Math.ceil(est.srtt + 4 * est.rttvar) + 1
    return Math.min(Math.max(this.#o.retryTicks, rto), 2 * this.#o.electionTicks)
  }

  #onHeartbeatAck (m: HeartbeatAckMsg): void {
    const lead = this.#leaderAnswer(m)
    if (lead === undefined) return
    if (m.ctx > (lead.ackedCtx.get(m.from) ?? 0)) {
      const sentAt = lead.ctxSentAt.get(m.ctx)
      if (sentAt !== undefined) sampleRtt(lead.rtt, m.from, this.#now - sentAt)
      lead.ackedCtx.set(m.from, m.ctx)
      // The highest round a quorum (counting the leader) has acknowledged.
      const acked = [...lead.ackedCtx.values()].sort((a, b) => b - a)
      // acked holds peers only: the quorum's weakest member besides the leader.
      const q = acked[this.quorum - 2]
      if (q !== undefined) this.#onQuorumCtx(lead, q)
    }
  }

  #onQuorumCtx (lead: LeaderState, ctx: number): void {
    const sentAt = lead.ctxSentAt.get(ctx)
    if (sentAt !== undefined && this.#o.leaseTicks > 0) lead.leaseUntil = Math.max(lead.leaseUntil, sentAt + this.#o.leaseTicks)
    if (ctx > lead.confirmedCtx) lead.confirmedCtx = ctx
    this.#confirmReads(lead)
  }

  #confirmReads (lead: LeaderState): void {
    if (!lead.serving || lead.reads.length === 0) return
    const confirmed = lead.confirmedCtx
    let keep = 0
    for (const r of lead.reads) {
      if (r.ctx <= confirmed && r.index >= 0) this.#reads.push({ id: r.id, index: r.index })
      else lead.reads[keep++] = r
    }
    lead.reads.length = keep
  }

  // --- catch-up

  #noteCommit (peer: string, commit: number): void {
    if (commit > (this.#peerCommit.get(peer) ?? 0)) this.#peerCommit.set(peer, commit)
    if (commit > this.#knownCommit) this.#knownCommit = commit
  }

  #maybeFetch (preferred: string | undefined): void {
    if (this.#commit >= this.#knownCommit || this.#now - this.#lastFetchAt < this.#o.retryTicks) return
    // Ask the preferred peer first, then rotate among those known to be ahead.
    const ahead = this.#peers.filter((p) => (this.#peerCommit.get(p) ?? 0) > this.#commit)
    let target = preferred
    if (target === undefined || target === this.id || !ahead.includes(target)) {
      if (ahead.length === 0) return
      target = ahead[Math.floor(this.#random() * ahead.length)] as string
    }
    this.#fetch(target)
  }

  #fetch (peer: string): void {
    this.#lastFetchAt = this.#now
    this.#out(peer, { t: 'fetch', ...this.#hdr(), next: this.#commit + 1 })
  }

  #onFetch (m: FetchMsg): void {
    if (m.next < this.#firstSlot) {
      if (this.#snapshot !== undefined && this.#snapshot.index >= m.next) {
        this.#out(m.from, { t: 'snapshot', ...this.#hdr(), index: this.#snapshot.index, data: this.#snapshot.data, commit: this.#commit })
      }
      return
    }
    const entries: SlotValue[] = []
    let bytes = 0
    for (let slot = m.next; slot <= this.#commit && entries.length < this.#o.maxEntriesPerMessage; slot++) {
      const s = this.#log.get(slot)
      if (s === undefined || !s.chosen) break
      bytes += this.#sizeOf(s.value)
      if (entries.length > 0 && bytes > this.#o.maxMessageBytes) break
      entries.push([slot, s.value])
    }
    if (entries.length > 0) this.#out(m.from, { t: 'entries', ...this.#hdr(), entries, commit: this.#commit })
  }

  #onEntries (m: EntriesMsg): void {
    if (this.#role === 'init') return
    this.#noteCommit(m.from, m.commit)
    for (const [slot, value] of m.entries) if (slot > this.#commit) this.#learnChosen(slot, value)
    this.#advanceCommit()
    if (this.#commit < this.#knownCommit) {
      this.#lastFetchAt = NEVER
      this.#maybeFetch(m.from)
    }
  }

  #onSnapshot (m: SnapshotMsg): void {
    if (this.#role === 'init') return
    this.#noteCommit(m.from, m.commit)
    if (m.index <= this.#commit) return
    this.#snapshot = { index: m.index, data: m.data }
    this.#persist.push({ r: 'snapshot', index: m.index, data: m.data })
    for (const slot of [...this.#log.keys()]) if (slot <= m.index) this.#log.delete(slot)
    this.#firstSlot = m.index + 1
    this.#commit = m.index
    this.#installSnapshot = { index: m.index, data: m.data }
    const lead = this.#lead
    if (lead !== undefined) for (const slot of [...lead.inflight.keys()]) if (slot <= m.index) lead.inflight.delete(slot)
    this.#events.push({ e: 'snapshotInstalled', index: m.index })
    this.#advanceCommit()
    if (this.#commit < this.#knownCommit) {
      this.#lastFetchAt = NEVER
      this.#maybeFetch(m.from)
    }
  }

  /** @internal For traces. */
  toString (): string {
    return `${this.id}:${this.#role}@${ballotString(this.#promised)} c${this.#commit} a${this.#applied}`
  }
}
