/**
 * The driver: binds a pure {@link Replica} to a {@link Transport}, its
 * {@link PaxosStorage} and real timers, and runs the replicated
 * {@link KvStateMachine} on top, so a shard replica is usable. Clients send
 * requests (`submit`, `read`) to any replica; one that does not lead answers
 * with a redirect to the leader it knows (see {@link PaxosClient}).
 *
 * Order of effects, per {@link Ready}: records are appended to the log at
 * once (the log keeps their order); the Ready's messages leave only when
 * those records, and every earlier Ready's, are durable; chosen entries are
 * applied at once (the state machine is rebuilt from the log at restart).
 *
 * @module
 */

import { randomInt } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { MakoError } from '../../lib/errors.js'
import { systemClock } from '../transport/clock.js'
import type { Clock, TimerHandle } from '../transport/clock.js'
import type { NodeId } from '../transport/ids.js'
import type { RequestContext, Transport } from '../transport/types.js'
import { validateMessage } from './codec.js'
import { isKvOp, kvCommandBytes, KvStateMachine } from './kv.js'
import type { KvOp, KvResult } from './kv.js'
import { Replica } from './replica.js'
import type { ReplicaOptions, ReplicaStatus } from './replica.js'
import type { ReplicaStorage } from './storage.js'
import type { CommittedEntry, Outbound, Ready, ReplicaEvent } from './types.js'

/**
 * What a {@link PaxosNode} replicates: a deterministic state machine fed
 * the chosen slots in order. {@link KvStateMachine} is the default; the
 * transaction shards bring their own.
 */
export interface StateMachine {
  /** Last slot applied. */
  readonly appliedIndex: number
  /** A hash of the state, equal on replicas at the same applied index. */
  readonly stateHash: string
  /**
   * Applies one chosen slot (slots come in order, each once) and returns
   * each command's answer by command id.
   *
   * @param entry The chosen slot.
   */
  apply(entry: CommittedEntry): Map<string, unknown>
  /** The whole state, for log compaction and lagging replicas. */
  snapshot(): Uint8Array
  /**
   * Replaces the state with a snapshot.
   *
   * @param data What {@link StateMachine.snapshot} returned.
   * @param index The last slot it includes.
   */
  restore(data: Uint8Array, index: number): void
  /**
   * Reads a key, for the driver's linearizable `read` requests; machines
   * without keys leave it out and such reads are refused.
   *
   * @param key The key.
   */
  get?(key: Uint8Array): Uint8Array | undefined
}

/** Options of {@link PaxosNode.start}. */
export interface PaxosNodeOptions {
  /** The node's transport; its node id is the replica id. */
  transport: Transport
  /** Every replica of the shard, this one included. */
  members: readonly string[]
  /** The replica's opened storage ({@link PaxosStorage}, or a simulated disk in tests). */
  storage: ReplicaStorage
  /** Clock for ticks; default the system clock. */
  clock?: Clock
  /** Random numbers in [0, 1) for election timeouts; default from `crypto`. */
  random?: () => number
  /** Milliseconds per tick. Default 10 (election timeouts of 100-200 ms with the default 10 ticks). */
  tickMs?: number
  /** Replica tuning (election and heartbeat ticks, lease, batch and pipeline limits); `commandBytes` defaults to {@link kvCommandBytes}. */
  replica?: Omit<ReplicaOptions, 'id' | 'members' | 'random' | 'durable'>
  /** Applied slots between state machine snapshots (log compaction). Default 10,000. */
  snapshotEvery?: number
  /** Requests from clients waiting at once; more are refused with `MAKO_BUSY`. Default 100,000. */
  maxWaiting?: number
  /** The replicated state machine; default a new {@link KvStateMachine}. */
  machine?: StateMachine
  /** Checks a submitted command's op; default {@link isKvOp} (with the default machine) or any op. */
  isOp?: (op: unknown) => boolean
}

/** A request a client sends to a replica. */
export type PaxosRequest =
  | {
    /** Run a command through the log. */
    readonly c: 'submit'
    /** The command's unique id (`client#seq` for idempotent retries). */
    readonly id: string
    /** The command. */
    readonly op: KvOp
  }
  | {
    /** A linearizable read. */
    readonly c: 'read'
    /** The key. */
    readonly key: Uint8Array
  }
  | {
    /** The replica's status. */
    readonly c: 'status'
  }

/** What {@link PaxosNode.status} reports: the replica's status and the state machine's. */
export interface PaxosNodeStatus extends ReplicaStatus {
  /** Slots applied to the state machine. */
  applied: number
  /** The state machine's hash. */
  stateHash: string
}

/** A replica's answer: a result, or a redirect to the leader (null: unknown yet). */
export type PaxosResponse =
  | {
    /** The command's result. */
    readonly result: KvResult
  }
  | {
    /** The value read, null when absent. */
    readonly value: Uint8Array | null
  }
  | {
    /** Not the leader: the leader as far as this replica knows. */
    readonly redirect: string | null
  }
  | {
    /** The replica's status. */
    readonly status: PaxosNodeStatus
  }

interface Waiter {
  resolve: (r: unknown) => void
  reject: (e: MakoError) => void
}

interface ReadWaiter {
  key: Uint8Array
  resolve: (v: Uint8Array | null) => void
  reject: (e: MakoError) => void
}

class Redirect extends Error {
  constructor (readonly leader: string | null) { super('redirect') }
}

/**
 * One replica of a shard, running. Emits `event` with each
 * {@link ReplicaEvent}, `sendError` when a message could not be encoded or
 * was too large for the transport, and `error` (then closes) when its
 * storage fails.
 */
export class PaxosNode extends EventEmitter {
  /** The pure replica (for status; do not step it from outside). */
  readonly replica: Replica
  /** The state machine (read-only use). */
  readonly machine: StateMachine
  readonly #isOp: (op: unknown) => boolean
  readonly #t: Transport
  readonly #storage: ReplicaStorage
  readonly #clock: Clock
  readonly #tickMs: number
  readonly #snapshotEvery: number
  readonly #maxWaiting: number
  readonly #waiting = new Map<string, Waiter[]>()
  readonly #reads = new Map<string, ReadWaiter>()
  #readSeq = 0
  #timer: TimerHandle | undefined
  #scheduled = false
  #inProcess = false
  #closed = false
  #sendChain: Promise<void> = Promise.resolve()
  #persisting = 0
  #lastSnapshot = 0
  #lastTickAt = 0
  readonly #lease: boolean
  #failed: MakoError | undefined

  private constructor (options: PaxosNodeOptions, replica: Replica) {
    super()
    this.replica = replica
    this.machine = options.machine ?? new KvStateMachine()
    this.#isOp = options.isOp ?? (options.machine === undefined ? isKvOp : () => true)
    this.#t = options.transport
    this.#storage = options.storage
    this.#clock = options.clock ?? systemClock
    this.#tickMs = options.tickMs ?? 10
    this.#snapshotEvery = options.snapshotEvery ?? 10_000
    this.#maxWaiting = options.maxWaiting ?? 100_000
    this.#lease = (options.replica?.leaseTicks ?? 0) > 0
  }

  /**
   * Starts a replica from its storage and joins the shard.
   *
   * @param options Transport, members, storage and tuning.
   */
  static start (options: PaxosNodeOptions): PaxosNode {
    const random = options.random ?? (() => randomInt(0, 2 ** 32) / 2 ** 32)
    const durable = options.storage.recovered()
    const replica = new Replica({
      commandBytes: kvCommandBytes, ...options.replica, id: options.transport.nodeId, members: options.members, random, durable
    })
    const node = new PaxosNode(options, replica)
    node.#lastSnapshot = durable.snapshot?.index ?? 0
    options.transport.onMessage((from, payload) => { node.#onMessage(from, payload) })
    options.transport.onRequest(async (payload, ctx) => await node.#onRequest(payload, ctx))
    node.#lastTickAt = node.#clock.now()
    node.#timer = node.#clock.setTimer(node.#tickMs, () => { node.#tick() })
    node.#process()
    return node
  }

  /** The replica's status plus the state machine's applied index and hash. */
  status (): PaxosNodeStatus {
    return { ...this.replica.status(), applied: this.machine.appliedIndex, stateHash: this.machine.stateHash }
  }

  /** The default key-value state machine; throws when the node runs another machine. */
  get kv (): KvStateMachine {
    if (!(this.machine instanceof KvStateMachine)) throw new MakoError('This replica runs another state machine', 'MAKO_INVALID_STATE')
    return this.machine
  }

  /**
   * Submits a command here. Resolves with its result once applied; rejects
   * with `MAKO_NOT_LEADER` (transient, `leader` hint on the error) when this
   * replica does not lead.
   *
   * @param id A unique command id (`client#seq` makes retries idempotent).
   * @param op The command.
   */
  submit (id: string, op: KvOp): Promise<KvResult>
  submit (id: string, op: unknown): Promise<unknown>
  submit (id: string, op: unknown): Promise<unknown> {
    return this.#submit(id, op).catch((err: unknown) => {
      if (err instanceof Redirect) throw notLeader(err.leader)
      throw err
    })
  }

  /**
   * A linearizable read here (read index, or the lease when enabled).
   * Rejects with `MAKO_NOT_LEADER` when this replica does not lead.
   *
   * @param key The key.
   */
  read (key: Uint8Array): Promise<Uint8Array | null> {
    return this.#read(key).catch((err: unknown) => {
      if (err instanceof Redirect) throw notLeader(err.leader)
      throw err
    })
  }

  /** Stops ticking, fails waiting requests, and closes the storage (not the transport). */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer)
    const err = new MakoError('Replica closed', 'MAKO_CLOSED', { transient: true })
    for (const list of this.#waiting.values()) for (const w of list) w.reject(err)
    for (const r of this.#reads.values()) r.reject(err)
    this.#waiting.clear()
    this.#reads.clear()
    await this.#sendChain.catch(() => {})
    await this.#storage.close()
  }

  #tick (): void {
    if (this.#closed) return
    this.#timer = this.#clock.setTimer(this.#tickMs, () => { this.#tick() })
    if (!this.#lease) {
      // Without a lease nothing depends on ticks keeping up with real time:
      // a stalled event loop only makes timeouts longer, which is what a
      // busy machine needs (no election storms).
      this.replica.tick()
      this.#process()
      return
    }
    // With a lease, ticks follow the clock, not the timer: after a stall (a
    // long GC, a busy event loop) the replica is told every tick that
    // passed before it handles what arrived meanwhile (timers run before
    // I/O callbacks), so a lease counted in ticks cannot outlast real time.
    const now = this.#clock.now()
    const due = Math.floor((now - this.#lastTickAt) / this.#tickMs)
    if (due <= 0) return
    this.#lastTickAt += due * this.#tickMs
    for (let i = Math.min(due, 1000); i > 0; i--) this.replica.tick()
    this.#process()
  }

  #onMessage (_from: string, payload: unknown): void {
    if (this.#closed) return
    // A bad message is dropped: the sender is a peer with a bug or another
    // version, and Paxos tolerates lost messages.
    let msg
    try {
      msg = validateMessage(payload)
    } catch {
      return
    }
    this.replica.step(msg)
    // Phase 2 on an idle replica is handled at once (one turn of the event
    // loop less on the commit path); under load, messages that arrive in
    // one turn are handled together, which is where records group.
    if ((msg.t === 'accept' || msg.t === 'accepted') && !this.#scheduled && this.#persisting === 0) this.#process()
    else this.#schedule()
  }

  async #onRequest (payload: unknown, ctx: RequestContext): Promise<PaxosResponse> {
    const req = payload as PaxosRequest
    if (typeof req !== 'object' || req === null) throw new MakoError('Bad request', 'MAKO_BAD_REQUEST')
    try {
      switch (req.c) {
        case 'submit':
          if (typeof req.id !== 'string' || req.id.length === 0 || req.id.length > 1024 || !this.#isOp(req.op)) {
            throw new MakoError('Bad submit request', 'MAKO_BAD_REQUEST')
          }
          return { result: await this.#submit(req.id, req.op, ctx.signal) as KvResult }
        case 'read':
          if (this.machine.get === undefined) throw new MakoError('This replica has no key reads', 'MAKO_BAD_REQUEST')
          if (!(req.key instanceof Uint8Array)) throw new MakoError('Bad read request', 'MAKO_BAD_REQUEST')
          return { value: await this.#read(req.key, ctx.signal) }
        case 'status':
          return { status: this.status() }
        default:
          throw new MakoError('Unknown request', 'MAKO_BAD_REQUEST')
      }
    } catch (err) {
      if (err instanceof Redirect) return { redirect: err.leader }
      throw err
    }
  }

  #submit (id: string, op: unknown, signal?: AbortSignal): Promise<unknown> {
    if (this.#closed) return Promise.reject(new MakoError('Replica closed', 'MAKO_CLOSED', { transient: true }))
    if (this.#failed !== undefined) return Promise.reject(this.#failed)
    if (this.#waiting.size >= this.#maxWaiting) return Promise.reject(new MakoError('Too many requests waiting', 'MAKO_BUSY', { transient: true }))
    const st = this.replica.status()
    if (st.role !== 'leader') return Promise.reject(new Redirect(st.leader ?? null))
    return new Promise<unknown>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject }
      const list = this.#waiting.get(id)
      if (list !== undefined) {
        // A retry of a command still in flight: answer both when it applies.
        list.push(waiter)
      } else {
        const refusal = this.replica.propose({ id, op })
        if (refusal !== undefined) {
          reject(refusal.code === 'MAKO_BUSY' ? new MakoError('Leader queue full', 'MAKO_BUSY', { transient: true }) : new Redirect(refusal.leader ?? null))
          return
        }
        this.#waiting.set(id, [waiter])
        // An idle leader proposes at once; under load, commands arriving
        // in the same turn of the event loop share the next slot.
        if (!this.#scheduled && this.replica.pendingCommands === 1 && this.#waiting.size === 1) this.#process()
      }
      signal?.addEventListener('abort', () => {
        const l = this.#waiting.get(id)
        if (l === undefined) return
        const i = l.indexOf(waiter)
        if (i >= 0) l.splice(i, 1)
        if (l.length === 0) this.#waiting.delete(id)
      }, { once: true })
      this.#schedule()
    })
  }

  #read (key: Uint8Array, signal?: AbortSignal): Promise<Uint8Array | null> {
    if (this.#closed) return Promise.reject(new MakoError('Replica closed', 'MAKO_CLOSED', { transient: true }))
    if (this.#reads.size >= this.#maxWaiting) return Promise.reject(new MakoError('Too many reads waiting', 'MAKO_BUSY', { transient: true }))
    const id = `r${++this.#readSeq}`
    const refusal = this.replica.read(id)
    if (refusal !== undefined) {
      return Promise.reject(refusal.code === 'MAKO_BUSY' ? new MakoError('Too many reads waiting', 'MAKO_BUSY', { transient: true }) : new Redirect(refusal.leader ?? null))
    }
    return new Promise((resolve, reject) => {
      this.#reads.set(id, { key, resolve, reject })
      signal?.addEventListener('abort', () => { this.#reads.delete(id) }, { once: true })
      this.#schedule()
    })
  }

  #schedule (): void {
    if (this.#scheduled) return
    this.#scheduled = true
    // Everything that arrives in one turn of the event loop goes into one
    // Ready: that is where commands batch into slots and records group.
    setImmediate(() => {
      this.#scheduled = false
      this.#process()
    })
  }

  #process (): void {
    if (this.#closed || this.#inProcess) return
    this.#inProcess = true
    try {
      let guard = 0
      while (this.replica.hasReady() && guard++ < 64) this.#handle(this.replica.ready())
    } finally {
      this.#inProcess = false
    }
    if (this.replica.hasReady()) this.#schedule()
  }

  #handle (rd: Ready): void {
    if (rd.snapshot !== undefined && rd.snapshot.index > this.machine.appliedIndex) {
      this.machine.restore(rd.snapshot.data, rd.snapshot.index)
      this.#lastSnapshot = rd.snapshot.index
    }
    for (const e of rd.committed) {
      if (e.slot <= this.machine.appliedIndex) continue
      const results = this.machine.apply(e)
      for (const [id, res] of results) {
        const list = this.#waiting.get(id)
        if (list === undefined) continue
        this.#waiting.delete(id)
        for (const w of list) w.resolve(res)
      }
    }
    for (const r of rd.reads) {
      const w = this.#reads.get(r.id)
      if (w === undefined) continue
      this.#reads.delete(r.id)
      // The index was applied above (reads are confirmed at or below the commit index).
      w.resolve(this.machine.get?.(w.key) ?? null)
    }
    for (const r of rd.refused) {
      const list = this.#waiting.get(r.id)
      if (list !== undefined) {
        this.#waiting.delete(r.id)
        for (const w of list) w.reject(new Redirect(r.leader ?? null) as unknown as MakoError)
      }
      const rw = this.#reads.get(r.id)
      if (rw !== undefined) {
        this.#reads.delete(r.id)
        rw.reject(new Redirect(r.leader ?? null) as unknown as MakoError)
      }
    }
    for (const ev of rd.events) this.emit('event', ev satisfies ReplicaEvent)
    if (this.machine.appliedIndex - this.#lastSnapshot >= this.#snapshotEvery) {
      this.#lastSnapshot = this.machine.appliedIndex
      this.replica.compact(this.machine.appliedIndex, this.machine.snapshot())
    }
    this.#persistThenSend(rd)
  }

  #persistThenSend (rd: Ready): void {
    const msgs = rd.sendAfterPersist
    if (rd.persist.length === 0 && this.#persisting === 0) {
      this.#send(msgs)
      return
    }
    // Records go to the log now, in order; messages wait for them and for
    // every earlier Ready's records.
    const durable = this.#storage.write(rd.persist)
    this.#persisting++
    this.#sendChain = this.#sendChain.then(async () => {
      try {
        await durable
      } finally {
        this.#persisting--
      }
      this.#send(msgs)
    }).catch((err: unknown) => {
      // A replica that cannot persist must not answer anyone: stop it.
      this.#failed = err instanceof MakoError ? err : new MakoError('Paxos storage failed', 'MAKO_IO_ERROR', { cause: err })
      this.emit('error', this.#failed)
      void this.close()
    })
  }

  #send (msgs: readonly Outbound[]): void {
    if (this.#closed) return
    let self = false
    for (const o of msgs) {
      if (o.to === this.#t.nodeId) {
        this.replica.step(o.msg)
        self = true
      } else {
        try {
          this.#t.trySend(o.to as NodeId, o.msg)
        } catch (err) {
          // A message that can never go (larger than the transport's
          // maxPayload, say: a huge snapshot) is lost like any other; the
          // replica retries, and the error is reported.
          this.emit('sendError', err)
        }
      }
    }
    // The replica's answer to itself (its own vote) is handled at once,
    // not a turn of the event loop later: it is on the commit path.
    if (self) this.#process()
  }
}

function notLeader (leader: string | null): MakoError {
  const err = new MakoError(`Not the leader${leader !== null ? `; try ${leader}` : ''}`, 'MAKO_NOT_LEADER', { transient: true })
  ;(err as MakoError & { leader: string | null }).leader = leader
  return err
}
