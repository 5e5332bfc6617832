/**
 * The replicated key-value state machine: applies chosen slots to an
 * embedded {@link Store}, answers each command once, and keeps a state hash
 * so replicas at the same applied index can be compared cheaply.
 *
 * Commands are idempotent by id: an id of the form `client#seq` is applied
 * at most once. Each client session remembers the answers to its last
 * {@link kvSessionWindow} sequence numbers, so a client may have that many
 * commands in flight, in any order, and a retry gets the first answer
 * again; a sequence number older than the window gets `MAKO_DUPLICATE`.
 * Other ids are applied every time they appear.
 *
 * @module
 */

import { pack, unpack } from 'msgpackr'
import { MakoError } from '../../lib/errors.js'
import { Cursor, lookup } from '../../lib/btree/index.js'
import { Store } from '../../lib/store/index.js'
import type { Command, CommittedEntry } from './types.js'

/** A key-value command. Keys and values are bytes. */
export type KvOp =
  | {
    /** Writes `v` at `k`. */
    readonly t: 'put'
    /** The key. */
    readonly k: Uint8Array
    /** The value. */
    readonly v: Uint8Array
  }
  | {
    /** Deletes `k`. */
    readonly t: 'del'
    /** The key. */
    readonly k: Uint8Array
  }
  | {
    /** Compare-and-set: writes `v` when the current value equals `expect` (null: absent). */
    readonly t: 'cas'
    /** The key. */
    readonly k: Uint8Array
    /** The value expected, or null for an absent key. */
    readonly expect: Uint8Array | null
    /** The new value. */
    readonly v: Uint8Array
  }
  | {
    /** A read through the log (slow but simple linearizable read). */
    readonly t: 'get'
    /** The key. */
    readonly k: Uint8Array
  }

/** The answer to one command. */
export interface KvResult {
  /** Whether it took effect (false for a failed compare-and-set). */
  readonly ok: boolean
  /** The value (for get and cas: the value before the command), null when absent. */
  readonly value?: Uint8Array | null
  /** An error code, such as `MAKO_BAD_COMMAND` or `MAKO_DUPLICATE`. */
  readonly code?: string
}

/** The answer of a put or delete, shared: sessions keep many of them. */
const OK: KvResult = Object.freeze({ ok: true })

/** Most client sessions remembered for idempotency; the oldest are forgotten first. */
export const maxKvSessions = 100_000

/** Sequence numbers per client session whose answers are remembered (commands a client may have in flight). */
export const kvSessionWindow = 1024

interface Session {
  /** The highest sequence number applied. */
  max: number
  /** Answers by sequence number, for sequence numbers above `max - kvSessionWindow`. */
  results: Map<number, KvResult>
}

/** Two 32-bit FNV-1a lanes over key and value; summed over entries they make an order-free state hash. */
function pairHash (key: Uint8Array, value: Uint8Array): [number, number] {
  let a = 0x811c9dc5
  let b = 0x01000193 ^ 0x5bd1e995
  for (let i = 0; i < key.length; i++) {
    a = Math.imul(a ^ key[i]!, 0x01000193)
    b = Math.imul(b ^ key[i]!, 0x5bd1e995)
  }
  a = Math.imul(a ^ 0xff, 0x01000193)
  b = Math.imul(b ^ 0xff, 0x5bd1e995)
  for (let i = 0; i < value.length; i++) {
    a = Math.imul(a ^ value[i]!, 0x01000193)
    b = Math.imul(b ^ value[i]!, 0x5bd1e995)
  }
  b ^= b >>> 15
  return [a >>> 0, b >>> 0]
}

function sameBytes (a: Uint8Array | null | undefined, b: Uint8Array | null | undefined): boolean {
  if (a === undefined || a === null) return b === undefined || b === null
  if (b === undefined || b === null || a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function isBytes (x: unknown): x is Uint8Array {
  return x instanceof Uint8Array
}

/**
 * The size of a command carrying a {@link KvOp}, in bytes, for the
 * replica's batch and message limits: its id, key and values, plus a
 * little for the framing.
 *
 * @param cmd A command.
 */
export function kvCommandBytes (cmd: Command): number {
  const op = cmd.op as Partial<Record<'k' | 'v' | 'expect', Uint8Array | null>>
  return 24 + cmd.id.length + (op.k?.length ?? 0) + (op.v?.length ?? 0) + (op.expect?.length ?? 0)
}

/**
 * Checks that a decoded op is a well-formed {@link KvOp}.
 *
 * @param op Anything.
 */
export function isKvOp (op: unknown): op is KvOp {
  if (typeof op !== 'object' || op === null) return false
  const o = op as Record<string, unknown>
  switch (o['t']) {
    case 'put': return isBytes(o['k']) && isBytes(o['v'])
    case 'del': case 'get': return isBytes(o['k'])
    case 'cas': return isBytes(o['k']) && isBytes(o['v']) && (o['expect'] === null || isBytes(o['expect']))
    default: return false
  }
}

/**
 * The key-value state machine of one shard replica.
 */
export class KvStateMachine {
  #store = new Store()
  #applied = 0
  #h1 = 0
  #h2 = 0
  #sessions = new Map<string, Session>()

  /** Last slot applied. */
  get appliedIndex (): number {
    return this.#applied
  }

  /** Entries held. */
  get size (): number {
    return this.#store.defaultFamily.tree.size
  }

  /** A hash of every key and value: equal states give equal hashes, in any order of writes. O(1). */
  get stateHash (): string {
    return `${this.#h1.toString(16).padStart(8, '0')}${this.#h2.toString(16).padStart(8, '0')}`
  }

  /**
   * Reads a key from the applied state (for reads confirmed by read index or lease).
   *
   * @param key The key.
   */
  get (key: Uint8Array): Uint8Array | undefined {
    const v = lookup(this.#store.defaultFamily.tree.root, key)
    return v === undefined ? undefined : v.slice()
  }

  /**
   * Applies one chosen slot and returns each command's answer by id. Slots
   * must come in order, each once.
   *
   * @param entry The chosen slot.
   */
  apply (entry: CommittedEntry): Map<string, KvResult> {
    if (entry.slot !== this.#applied + 1) throw new MakoError(`Slot ${entry.slot} applied after ${this.#applied}`, 'MAKO_ASSERTION')
    this.#applied = entry.slot
    const results = new Map<string, KvResult>()
    if (entry.value.k !== 'batch') return results
    for (const cmd of entry.value.cmds) results.set(cmd.id, this.#applyCommand(cmd))
    return results
  }

  #applyCommand (cmd: Command): KvResult {
    const hash = cmd.id.lastIndexOf('#')
    let client: string | undefined
    let seq = 0
    if (hash > 0) {
      client = cmd.id.slice(0, hash)
      seq = Number(cmd.id.slice(hash + 1))
      if (!Number.isSafeInteger(seq)) client = undefined
    }
    if (client !== undefined) {
      let s = this.#sessions.get(client)
      if (s !== undefined) {
        const done = s.results.get(seq)
        if (done !== undefined) return done
        if (seq <= s.max - kvSessionWindow) return { ok: false, code: 'MAKO_DUPLICATE' }
        // Most recently used last, so the oldest session goes first.
        this.#sessions.delete(client)
      } else {
        s = { max: 0, results: new Map() }
      }
      this.#sessions.set(client, s)
      if (this.#sessions.size > maxKvSessions) this.#sessions.delete(this.#sessions.keys().next().value as string)
      const result = this.#exec(cmd.op)
      s.results.set(seq, result)
      if (seq > s.max) {
        s.max = seq
        // Oldest first (mostly in order): stop at the first one still in the window.
        for (const old of s.results.keys()) {
          if (old > seq - kvSessionWindow) break
          s.results.delete(old)
        }
      }
      return result
    }
    return this.#exec(cmd.op)
  }

  #exec (op: unknown): KvResult {
    if (!isKvOp(op)) return { ok: false, code: 'MAKO_BAD_COMMAND' }
    const tree = this.#store.defaultFamily.tree
    const old = lookup(tree.root, op.k)
    switch (op.t) {
      case 'get':
        return { ok: true, value: old === undefined ? null : old.slice() }
      case 'put':
        this.#put(op.k, op.v, old)
        return OK
      case 'del':
        if (old !== undefined) {
          this.#unhash(op.k, old)
          this.#store.del(this.#store.defaultFamily, op.k)
        }
        return OK
      case 'cas': {
        const before = old === undefined ? null : old.slice()
        if (!sameBytes(old, op.expect)) return { ok: false, value: before }
        this.#put(op.k, op.v, old)
        return { ok: true, value: before }
      }
    }
  }

  #put (k: Uint8Array, v: Uint8Array, old: Uint8Array | undefined): void {
    if (old !== undefined) this.#unhash(k, old)
    const [a, b] = pairHash(k, v)
    this.#h1 = (this.#h1 + a) >>> 0
    this.#h2 = (this.#h2 + b) >>> 0
    // The tree copies both into its own chunks; the key is copied here too
    // because a split may keep it as a separator, and it may be a view into
    // a large receive buffer.
    this.#store.put(this.#store.defaultFamily, k.slice(), v)
  }

  #unhash (k: Uint8Array, v: Uint8Array): void {
    const [a, b] = pairHash(k, v)
    this.#h1 = (this.#h1 - a) >>> 0
    this.#h2 = (this.#h2 - b) >>> 0
  }

  /** The whole state (entries and sessions) as bytes, for a snapshot. O(entries). */
  snapshot (): Uint8Array {
    const keys: Uint8Array[] = []
    const values: Uint8Array[] = []
    const cursor = new Cursor(this.#store.defaultFamily.tree.freeze().root)
    for (cursor.first(); cursor.valid; cursor.next()) {
      keys.push(cursor.key().slice())
      values.push(cursor.value().slice())
    }
    const sessions: Array<[string, number, Array<[number, KvResult]>]> = []
    for (const [client, s] of this.#sessions) sessions.push([client, s.max, [...s.results]])
    return pack({ applied: this.#applied, keys, values, sessions })
  }

  /**
   * Replaces the whole state with a snapshot's.
   *
   * @param data Bytes from {@link KvStateMachine.snapshot}.
   * @param index The slot the snapshot was taken at.
   */
  restore (data: Uint8Array, index: number): void {
    const s = unpack(data) as { applied: number, keys: Uint8Array[], values: Uint8Array[], sessions: Array<[string, number, Array<[number, KvResult]>]> }
    if (s.applied !== index) throw new MakoError(`Snapshot of slot ${s.applied} installed as ${index}`, 'MAKO_CORRUPTION')
    this.#store = new Store()
    this.#h1 = 0
    this.#h2 = 0
    for (let i = 0; i < s.keys.length; i++) this.#put(s.keys[i] as Uint8Array, s.values[i] as Uint8Array, undefined)
    this.#sessions = new Map()
    for (const [client, max, results] of s.sessions) this.#sessions.set(client, { max, results: new Map(results) })
    this.#applied = index
  }
}
