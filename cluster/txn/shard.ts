/**
 * A shard replica's part in transactions: at the leader, the 2PC
 * participant (locks, validation, positions, speculative install, ordered
 * appends to the Paxos log, in-doubt resolution); at every replica, cut
 * reads and the fold of final transactions into the base.
 *
 * Positions are assigned when a transaction validates here, and its log
 * entry (or an `abort` entry) is proposed in position order, so the
 * watermark is simply the contiguous prefix of the epoch that the log holds.
 * A prepared transaction waits for its coordinator at most `inDoubtMs`;
 * then the primary participant (the lowest shard that writes) aborts it,
 * and any other participant asks the primary, which alone decides: the
 * coordinator installs at the primary before anywhere else.
 *
 * @module
 */

import { MakoError } from '../../lib/errors.js'
import type { Clock, TimerHandle } from '../transport/clock.js'
import type { PaxosNode } from '../paxos/driver.js'
import type { ReplicaEvent } from '../paxos/types.js'
import { keyString } from './machine.js'
import type { TxnMachine, TxnOp, TxnRecord, Write } from './machine.js'
import type { ReadEntry, ShardStatus, TxnReply } from './messages.js'
import { mergeVectors, position, withPosition } from './vector.js'
import type { Mark, MarkTable, Vector } from './vector.js'

/** Options of a {@link TxnShard}. */
export interface TxnShardOptions {
  /** The shard. */
  shard: number
  /** Its Paxos replica here, running a {@link TxnMachine}. */
  node: PaxosNode
  /** The machine the replica runs. */
  machine: TxnMachine
  /** The node's marks of every shard. */
  marks: MarkTable
  /** Clock. */
  clock: Clock
  /** Classic 2PC: hold locks until replicated (the baseline). Default false. */
  classic?: boolean
  /** Milliseconds a prepared transaction waits for its coordinator. Default 1000. */
  inDoubtMs?: number
  /** Longest a transaction may run, first read to validation, in milliseconds. Default 1000 (below the machine's retention). */
  maxTxnMs?: number
  /** Asks the primary shard's leader for a transaction's fate. */
  askPrimary: (prim: number, id: string) => Promise<TxnReply>
}

interface Prep {
  readonly id: string
  readonly keys: string[]
  readonly w: readonly Write[]
  readonly prim: number
  readonly since: number
  /** Classic 2PC for this transaction: locks held until replicated. */
  readonly classic: boolean
  pos: number
}

interface Tomb {
  readonly fate: 'installed' | 'aborted'
  readonly vec: Vector | undefined
  readonly at: number
}

const TOMB_MS = 30_000

/**
 * One shard replica's transaction logic on a node.
 */
export class TxnShard {
  /** The shard. */
  readonly shard: number
  /** Its Paxos replica here. */
  readonly node: PaxosNode
  /** The replicated state. */
  readonly machine: TxnMachine
  readonly #marks: MarkTable
  readonly #clock: Clock
  readonly #classic: boolean
  readonly #inDoubtMs: number
  readonly #maxTxnMs: number
  readonly #askPrimary: (prim: number, id: string) => Promise<TxnReply>
  /** Epoch this replica serves as leader, 0 when it does not. */
  #epoch = 0
  #nextSeq = 1
  #nextAppend = 1
  #appendQ = new Map<number, { op: TxnOp, done?: (ok: boolean) => void }>()
  #locks = new Map<string, string>()
  #preps = new Map<string, Prep>()
  #tombs = new Map<string, Tomb>()
  #timer: TimerHandle | undefined
  #closed = false
  #stats = { installed: 0, rolledBack: 0, resolved: 0 }
  readonly #aborts: Record<string, number> = {}

  /**
   * @param options Shard, replica, marks and tuning.
   */
  constructor (options: TxnShardOptions) {
    this.shard = options.shard
    this.node = options.node
    this.machine = options.machine
    this.#marks = options.marks
    this.#clock = options.clock
    this.#classic = options.classic ?? false
    this.#inDoubtMs = options.inDoubtMs ?? 1000
    this.#maxTxnMs = options.maxTxnMs ?? 1000
    this.#askPrimary = options.askPrimary
    this.machine.onMark = () => { this.#marks.update(this.shard, this.machine.mark()) }
    this.machine.onRollback = () => { this.#stats.rolledBack++ }
    this.#marks.update(this.shard, this.machine.mark())
    this.node.on('event', (ev: ReplicaEvent) => { this.#onEvent(ev) })
    // A replica whose storage failed has stopped: it serves nothing more.
    this.node.on('error', () => { this.#stopServing() })
    this.#timer = this.#clock.setTimer(Math.max(1, this.#inDoubtMs / 4), () => { this.#sweep() })
    if (this.node.status().serving) this.#startServing()
  }

  /** Whether this replica leads its shard and serves transactions. */
  get serving (): boolean {
    return this.#epoch > 0 && this.#epoch === this.machine.epoch && this.node.status().role === 'leader'
  }

  /** The shard's mark as this replica's log says. */
  mark (): Mark {
    return this.machine.mark()
  }

  /** Status for `mako status` and tests. */
  status (): ShardStatus {
    const st = this.node.status()
    const m = this.machine.mark()
    return {
      shard: this.shard,
      role: st.role,
      leader: st.leader,
      serving: this.serving,
      epoch: m.e,
      watermark: m.w,
      assigned: this.serving ? this.#nextSeq - 1 : m.w,
      commitIndex: st.commitIndex,
      overlay: this.machine.overlaySize,
      baseKeys: this.machine.baseSize,
      locks: this.#locks.size,
      prepared: this.#preps.size,
      oldestPrepared: [...this.#preps.values()].map((p) => `${p.id}@${p.pos}/prim${p.prim}/${this.#clock.now() - p.since}ms`).slice(0, 3).join(' '),
      ...this.#stats,
      aborts: { ...this.#aborts }
    }
  }

  #onEvent (ev: ReplicaEvent): void {
    if (ev.e === 'serving') this.#startServing()
    else if (ev.e === 'steppedDown') this.#stopServing()
  }

  #startServing (): void {
    this.#reset()
    this.#epoch = this.machine.epoch
  }

  #stopServing (): void {
    this.#reset()
    this.#epoch = 0
  }

  #reset (): void {
    // Locks and prepared transactions live only in the leader's memory
    // for its epoch: a new epoch starts without them, and coordinators of
    // the old one are refused (their epoch is stale).
    for (const a of this.#appendQ.values()) a.done?.(false)
    this.#appendQ.clear()
    this.#locks.clear()
    this.#preps.clear()
    this.#nextSeq = 1
    this.#nextAppend = 1
  }

  /** Stops the in-doubt timer. */
  close (): void {
    this.#closed = true
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer)
    this.#reset()
  }

  /** A refusal when this replica does not serve, or serves another epoch. */
  #refuse (e: number | null | undefined): TxnReply | undefined {
    if (!this.serving) return { ok: false, redirect: this.node.status().leader ?? null }
    if (e !== null && e !== undefined && e !== this.#epoch) return { ok: false, code: 'MAKO_STALE_EPOCH', e: this.#epoch, m: this.mark() }
    return undefined
  }

  /**
   * Reads the newest version of a key (the leader only).
   *
   * @param k The key.
   */
  read (k: Uint8Array): TxnReply {
    const r = this.#refuse(undefined)
    if (r !== undefined) return r
    // A key locked by a transaction in two-phase commit is about to change:
    // that transaction may already be ordered (by its validation at another
    // shard) before transactions acknowledged to others, so reading the
    // version it replaces could break real-time order. The reader waits.
    if (this.#locks.has(keyString(k))) return { ok: false, code: 'MAKO_LOCKED', m: this.mark() }
    const v = this.machine.latest(k)
    return { ok: true, v: v.value, ver: v.ver, vec: v.vec, e: this.#epoch, t: this.#clock.now(), m: this.mark() }
  }

  /**
   * Locks a transaction's writes here; no waiting: a key locked by another
   * transaction is a conflict.
   *
   * @param id Transaction id.
   * @param e Epoch the coordinator saw (null: first contact).
   * @param w Writes here.
   * @param prim The primary participant.
   * @param classic Classic 2PC for this transaction (also when the shard runs classic).
   * @param reads Reads to validate at once, when every key read here is also
   *   written here: the locks then protect the reads, so the transaction is
   *   validated and given its position in this same step (no separate
   *   validation round; see the coordinator).
   * @param t0 The leader's clock at the first of those reads.
   */
  async lock (id: string, e: number | null, w: readonly Write[], prim: number, classic = false, reads?: readonly ReadEntry[], t0 = 0): Promise<TxnReply> {
    const locked = this.#lock(id, e, w, prim, classic)
    if (!locked.ok || reads === undefined) return locked
    const mine = new Set(this.#preps.get(id)?.keys)
    if (!reads.every(([k]) => mine.has(keyString(k)))) return { ok: false, code: 'MAKO_BAD_REQUEST' }
    const v = await this.validate(id, e, reads, t0)
    return v.ok ? { ...locked, ...(v.pos !== undefined ? { pos: v.pos } : {}) } : v
  }

  #lock (id: string, e: number | null, w: readonly Write[], prim: number, classic: boolean): TxnReply {
    const r = this.#refuse(e)
    if (r !== undefined) return r
    if (this.#tombs.get(id)?.fate === 'aborted') return { ok: false, code: 'aborted' }
    if (!this.#preps.has(id)) {
      const keys = w.map(([k]) => keyString(k))
      for (const ks of keys) {
        const owner = this.#locks.get(ks)
        if (owner !== undefined && owner !== id) return this.#refused('write-locked')
      }
      for (const ks of keys) this.#locks.set(ks, id)
      this.#preps.set(id, { id, keys, w, prim, since: this.#clock.now(), classic: classic || this.#classic, pos: 0 })
    }
    let vec: Vector = []
    for (const [k] of w) vec = mergeVectors(vec, this.machine.latest(k).vec)
    return { ok: true, e: this.#epoch, vec, m: this.mark() }
  }

  #readsValid (id: string, r: readonly ReadEntry[], t0: number): string | undefined {
    if (r.length > 0 && this.#clock.now() - t0 > this.#maxTxnMs) return this.#count('too-old', 'MAKO_TXN_TOO_OLD')
    for (const [k, ver] of r) {
      const owner = this.#locks.get(keyString(k))
      if (owner !== undefined && owner !== id) return this.#count('read-locked', 'conflict')
      if (this.machine.latest(k).ver !== ver) return this.#count('read-changed', 'conflict')
    }
    return undefined
  }

  /** Counts an abort by its reason; returns the reply code. */
  #count (reason: string, code: string): string {
    this.#aborts[reason] = (this.#aborts[reason] ?? 0) + 1
    return code
  }

  /** A conflict refusal, counted by its reason. */
  #refused (reason: string): TxnReply {
    return { ok: false, code: this.#count(reason, 'conflict'), m: this.mark() }
  }

  /**
   * Validates a transaction's reads here and, where it holds locks, gives
   * it its position.
   *
   * @param id Transaction id.
   * @param e Epoch the coordinator saw.
   * @param r Reads here, with the versions seen.
   * @param t0 The leader's clock at the transaction's first read here.
   */
  async validate (id: string, e: number | null, r: readonly ReadEntry[], t0: number): Promise<TxnReply> {
    const refusal = this.#refuse(e)
    if (refusal !== undefined) return refusal
    if (this.#tombs.get(id)?.fate === 'aborted') return { ok: false, code: 'aborted' }
    const prep = this.#preps.get(id)
    if (prep !== undefined && prep.pos !== 0) return { ok: true, e: this.#epoch, pos: prep.pos, m: this.mark() }
    const why = this.#readsValid(id, r, t0)
    if (why !== undefined) {
      if (prep !== undefined) this.#abortPrep(prep)
      return { ok: false, code: why, m: this.mark() }
    }
    if (prep === undefined) return { ok: true, e: this.#epoch, m: this.mark() }
    prep.pos = position(this.#epoch, this.#nextSeq++)
    if (prep.classic) {
      // Classic 2PC: the prepare is replicated before the vote is sent.
      const epoch = this.#epoch
      try {
        await this.node.submit(`p:${id}:${prep.pos}`, { t: 'prep', id })
      } catch (err) {
        if (this.#epoch === epoch) this.#abortPrep(prep)
        return { ok: false, code: err instanceof MakoError ? err.code : 'MAKO_UNAVAILABLE' }
      }
    }
    return { ok: true, e: this.#epoch, pos: prep.pos, m: this.mark() }
  }

  /**
   * Installs a prepared transaction: its writes become visible (speculative
   * mode) and its entry goes to the log; locks are released. In classic
   * mode the locks are held and the answer waits until the entry is chosen.
   *
   * @param id Transaction id.
   * @param e Epoch the coordinator saw.
   * @param vec The transaction's vector.
   */
  async install (id: string, e: number, vec: Vector): Promise<TxnReply> {
    const refusal = this.#refuse(e)
    if (refusal !== undefined) return refusal
    const prep = this.#preps.get(id)
    if (prep === undefined) {
      const tomb = this.#tombs.get(id)
      return tomb?.fate === 'installed' ? { ok: true, m: this.mark() } : { ok: false, code: tomb?.fate ?? 'unknown', m: this.mark() }
    }
    if (prep.pos === 0) return { ok: false, code: 'MAKO_BAD_REQUEST' }
    return await this.#install(prep, vec)
  }

  async #install (prep: Prep, vec: Vector): Promise<TxnReply> {
    // A vector that depends on a rolled-back position is dead for good:
    // installing it would hand its versions (and the death) to every
    // later transaction on these keys. Its position is filled with an abort.
    if (this.machine.dead(vec)) {
      this.#abortPrep(prep)
      return { ok: false, code: this.#count('dead', 'MAKO_TRANSACTION_ROLLED_BACK'), m: this.mark() }
    }
    const rec: TxnRecord = { id: prep.id, pos: prep.pos, vec, w: prep.w, chosen: false, finalAt: -1 }
    this.#preps.delete(prep.id)
    this.#tombs.set(prep.id, { fate: 'installed', vec, at: this.#clock.now() })
    this.#stats.installed++
    const op: TxnOp = { t: 'txn', id: prep.id, pos: prep.pos, vec, w: prep.w }
    if (!prep.classic) {
      this.machine.install(rec)
      this.#unlock(prep)
      this.#append(prep.pos, op)
      return { ok: true, m: this.mark() }
    }
    const chosen = await new Promise<boolean>((resolve) => { this.#append(prep.pos, op, resolve) })
    this.#unlock(prep)
    return chosen ? { ok: true, m: this.mark() } : { ok: false, code: 'MAKO_UNAVAILABLE' }
  }

  /**
   * Aborts a transaction here: releases its locks, fills its position.
   *
   * @param id Transaction id.
   */
  abort (id: string): TxnReply {
    if (!this.serving) return { ok: false, redirect: this.node.status().leader ?? null }
    const prep = this.#preps.get(id)
    if (prep !== undefined) this.#abortPrep(prep)
    else if (!this.#tombs.has(id)) this.#tombs.set(id, { fate: 'aborted', vec: undefined, at: this.#clock.now() })
    return { ok: true }
  }

  #abortPrep (prep: Prep): void {
    this.#preps.delete(prep.id)
    this.#unlock(prep)
    this.#tombs.set(prep.id, { fate: 'aborted', vec: undefined, at: this.#clock.now() })
    if (prep.pos !== 0) this.#append(prep.pos, { t: 'abort', pos: prep.pos })
  }

  #unlock (prep: Prep): void {
    for (const ks of prep.keys) if (this.#locks.get(ks) === prep.id) this.#locks.delete(ks)
  }

  /**
   * A transaction at one shard only: lock, validate, position and install
   * in one step.
   *
   * @param id Transaction id.
   * @param e Epoch the coordinator saw (null: first contact).
   * @param w Writes.
   * @param r Reads with the versions seen.
   * @param rvec Merged vectors of everything read.
   * @param t0 The leader's clock at the first read.
   * @param classic Classic 2PC for this transaction (also when the shard runs classic).
   */
  async commit1 (id: string, e: number | null, w: readonly Write[], r: readonly ReadEntry[], rvec: Vector, t0: number, classic = false): Promise<TxnReply> {
    const refusal = this.#refuse(e)
    if (refusal !== undefined) return refusal
    const tomb = this.#tombs.get(id)
    if (tomb !== undefined) return tomb.fate === 'installed' ? { ok: true, vec: tomb.vec!, m: this.mark() } : { ok: false, code: 'aborted' }
    const why = this.#readsValid(id, r, r.length > 0 ? t0 : this.#clock.now())
    if (why !== undefined) return { ok: false, code: why, m: this.mark() }
    const keys = w.map(([k]) => keyString(k))
    for (const ks of keys) {
      const owner = this.#locks.get(ks)
      if (owner !== undefined && owner !== id) return this.#refused('write-locked')
    }
    let vec = rvec
    for (const [k] of w) vec = mergeVectors(vec, this.machine.latest(k).vec)
    if (w.length === 0) return { ok: true, vec, m: this.mark() }
    const pos = position(this.#epoch, this.#nextSeq++)
    vec = withPosition(vec, this.shard, pos)
    for (const ks of keys) this.#locks.set(ks, id)
    const prep: Prep = { id, keys, w, prim: this.shard, since: this.#clock.now(), classic: classic || this.#classic, pos }
    this.#preps.set(id, prep)
    const res = await this.#install(prep, vec)
    return res.ok ? { ...res, pos, vec } : res
  }

  /**
   * What this replica knows of a transaction's fate. At the primary, a
   * transaction it has never seen is aborted now, so a late install fails.
   *
   * @param id Transaction id.
   */
  fate (id: string): TxnReply {
    if (!this.serving) return { ok: false, redirect: this.node.status().leader ?? null }
    const tomb = this.#tombs.get(id)
    if (tomb !== undefined) return { ok: true, fate: tomb.fate, ...(tomb.vec !== undefined ? { vec: tomb.vec } : {}) }
    if (this.#preps.has(id)) return { ok: true, fate: 'prepared' }
    // A leader of a later epoch knows the old epochs' log: a transaction
    // installed there and replicated is decided, whatever this leader saw.
    const logged = this.machine.logged(id)
    if (logged !== undefined) return { ok: true, fate: 'installed', vec: logged }
    this.#tombs.set(id, { fate: 'aborted', vec: undefined, at: this.#clock.now() })
    return { ok: true, fate: 'aborted' }
  }

  /** Proposes log entries in position order, as their transactions are decided. */
  #append (pos: number, op: TxnOp, done?: (ok: boolean) => void): void {
    const seq = pos % 2 ** 32
    this.#appendQ.set(seq, done === undefined ? { op } : { op, done })
    for (;;) {
      const a = this.#appendQ.get(this.#nextAppend)
      if (a === undefined) break
      this.#appendQ.delete(this.#nextAppend)
      this.#nextAppend++
      const id = a.op.t === 'txn' ? `t:${a.op.pos}` : a.op.t === 'abort' ? `a:${a.op.pos}` : `p:${a.op.id}`
      this.node.submit(id, a.op).then(() => a.done?.(true), () => a.done?.(false))
    }
  }

  /** Periodic: resolve in-doubt transactions, forget old tombstones. */
  #sweep (): void {
    if (this.#closed) return
    this.#timer = this.#clock.setTimer(Math.max(1, this.#inDoubtMs / 4), () => { this.#sweep() })
    const now = this.#clock.now()
    for (const [id, t] of this.#tombs) {
      if (now - t.at > TOMB_MS) this.#tombs.delete(id)
      else break
    }
    this.machine.forgetIds(TOMB_MS)
    if (!this.serving) return
    for (const prep of [...this.#preps.values()]) {
      if (now - prep.since < this.#inDoubtMs) continue
      if (prep.prim === this.shard) {
        // The primary decides: its coordinator is late, so abort.
        this.#count('coordinator-lost', 'aborted')
        this.#abortPrep(prep)
        this.#stats.resolved++
        continue
      }
      const epoch = this.#epoch
      this.#askPrimary(prep.prim, prep.id).then(async (res) => {
        if (this.#epoch !== epoch || this.#preps.get(prep.id) !== prep) return
        if (res.fate === 'installed' && res.vec !== undefined && prep.pos !== 0) {
          this.#stats.resolved++
          await this.#install(prep, res.vec)
        } else if (res.fate === 'aborted') {
          this.#stats.resolved++
          this.#abortPrep(prep)
        }
      }, () => {})
    }
  }
}
