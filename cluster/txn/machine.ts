/**
 * The state of one shard replica: the replicated log of transactions
 * applied as Paxos chooses it, and the versioned key-value state built
 * from it.
 *
 * Two layers:
 * - the **base**, a copy-on-write B+tree holding only final transactions
 *   (followers apply only what is final), folded in position order;
 * - the **overlay**, the transactions above the base in position order,
 *   with each key's versions: at a leader the speculatively installed
 *   ones (chosen or not yet), at a follower the chosen ones not yet final.
 *
 * A transaction leaves the overlay when it is dead (rolled back: its
 * versions vanish) or when it is final and has been for `retainMs` (its
 * versions move into the base). Keeping final versions a while lets reads
 * at a slightly older cut, and version checks of transactions still
 * running, see them.
 *
 * The log's entries, as Paxos commands: `txn` (a transaction's writes at
 * this shard, its position and vector), `abort` (a position whose
 * transaction was prepared here and then aborted: it fills the hole) and
 * `prep` (classic 2PC's replicated prepare record, which changes nothing).
 * The machine counts epoch entries (a new leadership) and closes the
 * previous epoch at its watermark: entries of that epoch above it are dead.
 *
 * @module
 */

import { pack, unpack } from 'msgpackr'
import { MakoError } from '../../lib/errors.js'
import { BTree, lookup } from '../../lib/btree/btree.js'
import { Cursor } from '../../lib/btree/cursor.js'
import type { Node } from '../../lib/btree/btree.js'
import { compareBytes } from '../../lib/btree/compare.js'
import type { Command, CommittedEntry } from '../paxos/types.js'
import type { StateMachine } from '../paxos/driver.js'
import { Fate, epochOf, isVector, mergeVectors, seqOf, vectorFate } from './vector.js'
import type { Mark, Vector } from './vector.js'
import type { KeyRange } from './shard-map.js'

/** A write: a key and its new value, null to delete. */
export type Write = readonly [key: Uint8Array, value: Uint8Array | null]

/** A log command of a transaction shard. */
export type TxnOp =
  | {
    /** A transaction's writes here. */
    readonly t: 'txn'
    /** Transaction id. */
    readonly id: string
    /** Its position at this shard. */
    readonly pos: number
    /** Its vector (its positions everywhere and its dependencies). */
    readonly vec: Vector
    /** Its writes at this shard. */
    readonly w: readonly Write[]
  }
  | {
    /** An aborted transaction's position. */
    readonly t: 'abort'
    /** The position. */
    readonly pos: number
  }
  | {
    /** Classic 2PC: a replicated prepare record. */
    readonly t: 'prep'
    /** Transaction id. */
    readonly id: string
  }

/**
 * Checks a decoded log command.
 *
 * @param op Anything.
 * @param shards The number of shards (for vectors).
 */
export function isTxnOp (op: unknown, shards: number): op is TxnOp {
  if (typeof op !== 'object' || op === null) return false
  const o = op as Record<string, unknown>
  switch (o['t']) {
    case 'txn': {
      if (typeof o['id'] !== 'string' || !Number.isSafeInteger(o['pos']) || !isVector(o['vec'], shards) || !Array.isArray(o['w'])) return false
      return (o['w'] as unknown[]).every((w) => Array.isArray(w) && w.length === 2 && w[0] instanceof Uint8Array && (w[1] === null || w[1] instanceof Uint8Array))
    }
    case 'abort': return Number.isSafeInteger(o['pos'])
    case 'prep': return typeof o['id'] === 'string'
    default: return false
  }
}

/**
 * Bytes of a command, for the replica's batch limits.
 *
 * @param cmd A command carrying a {@link TxnOp}.
 */
export function txnCommandBytes (cmd: Command): number {
  const op = cmd.op as Partial<Extract<TxnOp, { t: 'txn' }>>
  let n = 32 + cmd.id.length
  if (op.w !== undefined) for (const [k, v] of op.w) n += 8 + k.length + (v?.length ?? 0)
  if (op.vec !== undefined) n += op.vec.length * 9
  return n
}

/** One transaction in the overlay. */
export interface TxnRecord {
  /** Transaction id. */
  readonly id: string
  /** Position at this shard. */
  readonly pos: number
  /** Vector. */
  readonly vec: Vector
  /** Writes at this shard. */
  readonly w: readonly Write[]
  /** Whether the log has it (chosen). */
  chosen: boolean
  /** When it was seen final (local clock), or -1. */
  finalAt: number
}

/** A version as a read returns it. */
export interface Version {
  /** The value, null when the key is absent. */
  readonly value: Uint8Array | null
  /** Position of the transaction that wrote it; 0 for the base. */
  readonly ver: number
  /** Its vector (empty for the base: final). */
  readonly vec: Vector
}

/** The versions of one key in the overlay, oldest first. */
interface Chain {
  readonly key: Uint8Array
  readonly recs: TxnRecord[]
}

const BASE: Version = Object.freeze({ value: null, ver: 0, vec: Object.freeze([]) as Vector })

/**
 * Key of the per-key version index.
 *
 * @param k Key bytes.
 * @internal
 */
export function keyString (k: Uint8Array): string {
  return Buffer.from(k.buffer, k.byteOffset, k.length).toString('latin1')
}

/** Raised by cut reads when the base has moved past the cut. */
export class CutTooOld extends MakoError {
  constructor () {
    super('The cut is older than this replica keeps; read again at a newer cut', 'MAKO_CUT_TOO_OLD', { transient: true })
  }
}

/** Options of a {@link TxnMachine}. */
export interface TxnMachineOptions {
  /** This shard's id. */
  shard: number
  /** The number of shards. */
  shards: number
  /** The marks of every shard (this one's included), read to decide fates. */
  marks: () => readonly Mark[]
  /** Milliseconds a final transaction stays in the overlay. Default 2000. */
  retainMs?: number
  /** Local clock, milliseconds. */
  now: () => number
}

/**
 * The replicated state of one transaction shard. See the module
 * documentation. Driven by its Paxos replica's driver (apply, snapshot,
 * restore) and by the shard's leader logic (install, reads, fold).
 */
export class TxnMachine implements StateMachine {
  /** The shard. */
  readonly shard: number
  readonly #shards: number
  readonly #marks: () => readonly Mark[]
  readonly #retainMs: number
  readonly #now: () => number
  #applied = 0
  /** Epoch entries applied: the current epoch's number. */
  #epoch = 0
  /** Watermark in the current epoch. */
  #w = 0
  /** Seqs of the current epoch above the watermark that the log holds. */
  #have = new Set<number>()
  /** Closed epochs, flat `[epoch, final]`. */
  #closed: number[] = []
  #base = new BTree()
  /** Max vector of what the base holds. */
  #baseVec: Vector = []
  #overlay: TxnRecord[] = []
  /** Leading overlay records already stamped final (see {@link TxnMachine.fold}). */
  #stamped = 0
  #byKey = new Map<string, Chain>()
  #byPos = new Map<number, TxnRecord>()
  #h = 0x811c9dc5
  /** Transactions the log holds, by id, with their vectors (recent ones: for in-doubt questions). */
  #ids = new Map<string, { vec: Vector, at: number }>()
  /** Called after the machine's own mark changed (apply of an entry or epoch). */
  onMark: (() => void) | undefined
  /** Called when a transaction's versions vanish (rolled back). */
  onRollback: ((rec: TxnRecord) => void) | undefined

  /**
   * @param options Shard, marks and clock.
   */
  constructor (options: TxnMachineOptions) {
    this.shard = options.shard
    this.#shards = options.shards
    this.#marks = options.marks
    this.#retainMs = options.retainMs ?? 2000
    this.#now = options.now
  }

  /** Last slot applied. */
  get appliedIndex (): number { return this.#applied }

  /** A hash of the log applied (positions and ids, in order): equal on replicas at the same index. */
  get stateHash (): string { return `${this.#epoch}.${this.#w}.${(this.#h >>> 0).toString(16)}` }

  /** The current epoch number (epoch entries applied). */
  get epoch (): number { return this.#epoch }

  /** This shard's mark as its own log says. */
  mark (): Mark {
    return { e: this.#epoch, w: this.#w, c: this.#closed.slice() }
  }

  /** Transactions in the overlay. */
  get overlaySize (): number { return this.#overlay.length }

  /** Keys in the base. */
  get baseSize (): number { return this.#base.size }

  /**
   * Applies one chosen slot.
   *
   * @param entry The slot.
   */
  apply (entry: CommittedEntry): Map<string, unknown> {
    if (entry.slot !== this.#applied + 1) throw new MakoError(`Slot ${entry.slot} applied after ${this.#applied}`, 'MAKO_ASSERTION')
    this.#applied = entry.slot
    const results = new Map<string, unknown>()
    const v = entry.value
    if (v.k === 'epoch') {
      if (this.#epoch > 0) this.#closed.push(this.#epoch, this.#w)
      this.#epoch++
      this.#w = 0
      this.#have.clear()
      this.#hash(`e${this.#epoch}`)
      this.#rollbackDead()
      this.onMark?.()
      return results
    }
    if (v.k !== 'batch') return results
    let moved = false
    for (const cmd of v.cmds) {
      results.set(cmd.id, true)
      const op = cmd.op
      if (!isTxnOp(op, this.#shards)) continue
      if (op.t === 'prep') continue
      // A position of another epoch cannot be in this part of the log (a
      // leader proposes only after its epoch entry, and its slots come
      // before the next epoch entry); ignore it rather than trust it.
      if (epochOf(op.pos) !== this.#epoch) continue
      const n = seqOf(op.pos)
      if (n <= this.#w || this.#have.has(n)) continue
      this.#hash(`${op.pos}:${op.t === 'txn' ? op.id : '-'}`)
      this.#have.add(n)
      while (this.#have.delete(this.#w + 1)) { this.#w++; moved = true }
      if (op.t === 'txn') {
        this.#ids.set(op.id, { vec: op.vec, at: this.#now() })
        const known = this.#byPos.get(op.pos)
        if (known !== undefined) known.chosen = true
        else this.#insert({ id: op.id, pos: op.pos, vec: op.vec, w: op.w, chosen: true, finalAt: -1 })
      }
    }
    if (moved) this.onMark?.()
    return results
  }

  #hash (s: string): void {
    let h = this.#h
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
    this.#h = h
  }

  /**
   * Installs a transaction speculatively (at the leader, before its log
   * entry is chosen): its versions are visible at once.
   *
   * @param rec The transaction.
   */
  install (rec: TxnRecord): void {
    if (this.#byPos.has(rec.pos)) return
    this.#insert(rec)
  }

  #insert (rec: TxnRecord): void {
    const o = this.#overlay
    let i = o.length
    while (i > 0 && o[i - 1]!.pos > rec.pos) i--
    o.splice(i, 0, rec)
    if (i < this.#stamped) this.#stamped = i
    this.#byPos.set(rec.pos, rec)
    for (const [k] of rec.w) {
      const ks = keyString(k)
      let chain = this.#byKey.get(ks)
      if (chain === undefined) { chain = { key: k, recs: [] }; this.#byKey.set(ks, chain) }
      const recs = chain.recs
      let j = recs.length
      while (j > 0 && recs[j - 1]!.pos > rec.pos) j--
      recs.splice(j, 0, rec)
    }
  }

  #remove (rec: TxnRecord): void {
    this.#byPos.delete(rec.pos)
    for (const [k] of rec.w) {
      const ks = keyString(k)
      const chain = this.#byKey.get(ks)
      if (chain === undefined) continue
      const j = chain.recs.indexOf(rec)
      if (j >= 0) chain.recs.splice(j, 1)
      if (chain.recs.length === 0) this.#byKey.delete(ks)
    }
  }

  /**
   * Drops every dead transaction from the overlay (after an epoch closed
   * somewhere). O(overlay).
   */
  #rollbackDead (): void {
    const marks = this.#marksWithOwn()
    const keep: TxnRecord[] = []
    for (const rec of this.#overlay) {
      if (vectorFate(rec.vec, marks) === Fate.Dead) {
        this.#remove(rec)
        this.onRollback?.(rec)
      } else {
        keep.push(rec)
      }
    }
    this.#overlay = keep
    this.#stamped = 0
  }

  /**
   * Whether a vector is already dead here: it holds a position that a
   * closed epoch (of any shard, as far as this replica knows) rolled back.
   * Death is final, so a leader refuses such a transaction rather than
   * install versions that every later transaction on those keys would
   * inherit, and that would stay readable until folded away.
   *
   * @param vec The vector.
   */
  dead (vec: Vector): boolean {
    return vectorFate(vec, this.#marksWithOwn()) === Fate.Dead
  }

  /** Marks of every shard, with this shard's own as its log says (merged). */
  #marksWithOwn (): readonly Mark[] {
    const marks = this.#marks()
    const own = marks[this.shard]
    if (own !== undefined && (own.e > this.#epoch || (own.e === this.#epoch && own.w >= this.#w))) return marks
    const copy = marks.slice()
    copy[this.shard] = this.mark()
    return copy
  }

  /**
   * Moves what is final (and old enough) from the overlay into the base,
   * in position order, and drops what is dead. Call when marks change.
   *
   * @param closed Whether an epoch closed somewhere (then every overlay
   *   entry is checked for death, not only the head).
   */
  fold (closed = false): void {
    if (closed) this.#rollbackDead()
    const marks = this.#marksWithOwn()
    const now = this.#now()
    const o = this.#overlay
    let head = 0
    while (head < o.length) {
      const rec = o[head]!
      const fate = vectorFate(rec.vec, marks)
      if (fate === Fate.Dead) {
        this.#remove(rec)
        this.onRollback?.(rec)
        head++
        continue
      }
      if (fate !== Fate.Final || !rec.chosen) break
      if (rec.finalAt < 0) rec.finalAt = now
      if (now - rec.finalAt < this.#retainMs) break
      for (const [k, v] of rec.w) {
        if (v === null) this.#base.delete(k)
        else this.#base.set(k, v)
      }
      this.#baseVec = mergeVectors(this.#baseVec, rec.vec)
      this.#remove(rec)
      head++
    }
    if (head > 0) this.#overlay = o.slice(head)
    // Stamp finality on the rest for the retention clock. The stamped
    // records are a prefix of the overlay; only the ones after it are
    // looked at, so a fold costs what became final, not what is retained.
    this.#stamped = Math.max(0, this.#stamped - head)
    const ov = this.#overlay
    while (this.#stamped < ov.length) {
      const rec = ov[this.#stamped]!
      if (rec.finalAt < 0) {
        if (vectorFate(rec.vec, marks) !== Fate.Final) break
        rec.finalAt = now
      }
      this.#stamped++
    }
  }

  /**
   * The newest version of a key (speculative ones included).
   *
   * @param key The key.
   */
  latest (key: Uint8Array): Version {
    const chain = this.#byKey.get(keyString(key))?.recs
    if (chain !== undefined && chain.length > 0) {
      const rec = chain[chain.length - 1]!
      return { value: valueIn(rec, key), ver: rec.pos, vec: rec.vec }
    }
    const v = lookup(this.#base.root, key)
    return v === undefined ? BASE : { value: v.slice(), ver: 0, vec: BASE.vec }
  }

  /**
   * The value of a key at a consistent cut: the newest version whose
   * vector is final under the cut's marks.
   *
   * @param key The key.
   * @param cut Marks of every shard.
   * @throws CutTooOld when the base holds something the cut does not see.
   */
  atCut (key: Uint8Array, cut: readonly Mark[]): Uint8Array | null {
    this.#checkCut(cut)
    const chain = this.#byKey.get(keyString(key))?.recs
    if (chain !== undefined) {
      for (let i = chain.length - 1; i >= 0; i--) {
        const rec = chain[i]!
        if (vectorFate(rec.vec, cut) === Fate.Final) return valueIn(rec, key)
      }
    }
    const v = lookup(this.#base.root, key)
    return v === undefined ? null : v.slice()
  }

  #checkCut (cut: readonly Mark[]): void {
    const own = cut[this.shard]
    if (own !== undefined && (own.e > this.#epoch || (own.e === this.#epoch && own.w > this.#w))) {
      throw new MakoError('This replica has not applied the log up to the cut yet', 'MAKO_REPLICA_BEHIND', { transient: true })
    }
    if (this.#baseVec.length > 0 && vectorFate(this.#baseVec, cut) !== Fate.Final) throw new CutTooOld()
  }

  /**
   * Entries of a key range at a consistent cut, in key order (or reverse),
   * at most `limit` of them. O(overlay keys + entries returned).
   *
   * @param range The range.
   * @param cut Marks of every shard.
   * @param reverse Descending order.
   * @param limit Most entries.
   * @throws CutTooOld when the base holds something the cut does not see.
   */
  rangeAtCut (range: KeyRange, cut: readonly Mark[], reverse: boolean, limit: number): Array<[Uint8Array, Uint8Array]> {
    this.#checkCut(cut)
    // The overlay's keys in range, with their value at the cut (null: deleted there; undefined: no visible version).
    const over: Array<[Uint8Array, Uint8Array | null]> = []
    for (const { key, recs } of this.#byKey.values()) {
      if (!inRange(key, range)) continue
      for (let i = recs.length - 1; i >= 0; i--) {
        const rec = recs[i]!
        if (vectorFate(rec.vec, cut) === Fate.Final) { over.push([key, valueIn(rec, key)]); break }
      }
    }
    over.sort((a, b) => reverse ? compareBytes(b[0], a[0]) : compareBytes(a[0], b[0]))
    const out: Array<[Uint8Array, Uint8Array]> = []
    const cursor = new Cursor(this.#base.freeze().root as Node)
    seekStart(cursor, range, reverse)
    let oi = 0
    while (out.length < limit) {
      const baseKey = cursor.valid ? cursor.key() : undefined
      const baseOk = baseKey !== undefined && inRange(baseKey, range)
      const ov = over[oi]
      if (!baseOk && ov === undefined) break
      const c = !baseOk ? 1 : ov === undefined ? -1 : (reverse ? -1 : 1) * compareBytes(baseKey, ov[0])
      if (c < 0) {
        out.push([baseKey!.slice(), cursor.value().slice()])
        reverse ? cursor.prev() : cursor.next()
      } else {
        if (c === 0) reverse ? cursor.prev() : cursor.next()
        if (ov![1] !== null) out.push([ov![0], ov![1]])
        oi++
      }
    }
    return out
  }

  /**
   * The vector of a transaction the log holds (seen in the last `keepIdsMs`), or undefined.
   *
   * @param id Transaction id.
   */
  logged (id: string): Vector | undefined {
    return this.#ids.get(id)?.vec
  }

  /**
   * Forgets logged transaction ids older than `ms`.
   *
   * @param ms Milliseconds.
   */
  forgetIds (ms: number): void {
    const now = this.#now()
    for (const [id, x] of this.#ids) {
      if (now - x.at <= ms) break
      this.#ids.delete(id)
    }
  }

  /**
   * A transaction in the overlay by position.
   *
   * @param pos The position.
   */
  record (pos: number): TxnRecord | undefined {
    return this.#byPos.get(pos)
  }

  /** The whole state (log position, epochs, base and overlay). */
  snapshot (): Uint8Array {
    const base: Uint8Array[] = []
    const c = new Cursor(this.#base.freeze().root as Node)
    for (c.first(); c.valid; c.next()) base.push(c.key().slice(), c.value().slice())
    const overlay = this.#overlay.filter((r) => r.chosen).map((r) => [r.id, r.pos, r.vec, r.w])
    return pack({ a: this.#applied, e: this.#epoch, w: this.#w, have: [...this.#have], c: this.#closed, bv: this.#baseVec, base, overlay, h: this.#h })
  }

  /**
   * Replaces the state with a snapshot.
   *
   * @param data From {@link TxnMachine.snapshot}.
   * @param index The last slot it includes.
   */
  restore (data: Uint8Array, index: number): void {
    const s = unpack(data) as {
      a: number, e: number, w: number, have: number[], c: number[], bv: number[], base: Uint8Array[],
      overlay: Array<[string, number, number[], Write[]]>, h: number
    }
    this.#applied = index
    this.#epoch = s.e
    this.#w = s.w
    this.#have = new Set(s.have)
    this.#closed = s.c
    this.#baseVec = s.bv
    this.#h = s.h
    this.#base = new BTree()
    for (let i = 0; i + 1 < s.base.length; i += 2) this.#base.set(s.base[i]!, s.base[i + 1]!)
    this.#overlay = []
    this.#stamped = 0
    this.#byKey.clear()
    this.#byPos.clear()
    for (const [id, pos, vec, w] of s.overlay) this.#insert({ id, pos, vec, w, chosen: true, finalAt: -1 })
    this.onMark?.()
  }
}

function valueIn (rec: TxnRecord, key: Uint8Array): Uint8Array | null {
  for (let i = rec.w.length - 1; i >= 0; i--) {
    const [k, v] = rec.w[i]!
    if (k.length === key.length && compareBytes(k, key) === 0) return v
  }
  return null
}

function inRange (key: Uint8Array, r: KeyRange): boolean {
  if (r.gt !== undefined && compareBytes(key, r.gt) <= 0) return false
  if (r.gte !== undefined && compareBytes(key, r.gte) < 0) return false
  if (r.lt !== undefined && compareBytes(key, r.lt) >= 0) return false
  if (r.lte !== undefined && compareBytes(key, r.lte) > 0) return false
  return true
}

function seekStart (cursor: Cursor, r: KeyRange, reverse: boolean): void {
  if (!reverse) {
    if (r.gt !== undefined) cursor.seek(r.gt, 'gt')
    else if (r.gte !== undefined) cursor.seek(r.gte, 'ge')
    else cursor.first()
  } else {
    if (r.lt !== undefined) cursor.seek(r.lt, 'lt')
    else if (r.lte !== undefined) cursor.seek(r.lte, 'le')
    else cursor.last()
  }
}
