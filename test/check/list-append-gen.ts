/**
 * Seeded list-append histories for testing the checker: serial executions
 * of random transactions against a plain reference model (a map of
 * lists), given concurrent, overlapping times in which each transaction's
 * serialization point lies inside its interval, so the result is strict
 * serializable by construction. Then mutations, each of which plants one
 * known anomaly in such a history.
 * @internal
 */
import type { ListAppendAnomalyType, ListAppendConsistency, ListAppendMicroOp, ListAppendTxn } from '../../cluster/check/list-append.js'
import type { Random } from '../util/random.js'

/** Shape of a generated history. @internal */
export interface GenOptions {
  /** Transactions. */
  txns: number
  /** Keys in use at any time. */
  keys: number
  /** Client processes; each runs one transaction at a time. */
  processes: number
  /** Micro-operations per transaction: 1 to this. */
  maxOps: number
  /** Fraction of micro-operations that are reads. */
  readRatio: number
  /** Fraction of transactions that abort (no effect). */
  failRatio: number
  /** Fraction of transactions whose outcome is unknown (half of them take effect). */
  infoRatio: number
  /** A key is replaced by a fresh one after this many appends (as Elle's workload rotates keys). */
  maxAppendsPerKey: number
}

/** Defaults of {@link GenOptions}. @internal */
export const defaultGen: GenOptions = {
  txns: 200,
  keys: 6,
  processes: 5,
  maxOps: 4,
  readRatio: 0.5,
  failRatio: 0.05,
  infoRatio: 0.05,
  maxAppendsPerKey: 64
}

type MutableTxn = { process: number, invoke: number, complete: number, outcome: 'ok' | 'fail' | 'info', ops: ListAppendMicroOp[] }

/**
 * A valid history: strict serializable, and strong session serializable
 * (each process's transactions are sequential). Transactions are in
 * invocation order. Reads of empty lists come back as `null` or `[]`.
 * @internal
 */
export function generateHistory (rng: Random, options: Partial<GenOptions> = {}): ListAppendTxn[] {
  const o = { ...defaultGen, ...options }
  const clock = new Array<number>(o.processes).fill(0)
  const planned: Array<{ txn: MutableTxn, point: number }> = []
  for (let i = 0; i < o.txns; i++) {
    const p = rng.int(o.processes)
    const invoke = clock[p]! + 1 + rng.int(3)
    const duration = 1 + rng.int(20)
    const complete = invoke + duration
    clock[p] = complete
    const roll = rng.float()
    const outcome = roll < o.failRatio ? 'fail' : roll < o.failRatio + o.infoRatio ? 'info' : 'ok'
    // An indeterminate transaction may take effect after its client gave up.
    const point = invoke + rng.float() * duration * (outcome === 'info' ? 4 : 1)
    planned.push({ txn: { process: p, invoke, complete: outcome === 'info' && rng.int(2) === 0 ? Infinity : complete, outcome, ops: [] }, point })
  }
  // Execute in serialization order against the model.
  const byPoint = [...planned].sort((a, b) => a.point - b.point)
  const lists = new Map<number, number[]>()
  const active = Array.from({ length: o.keys }, (_, i) => i)
  const appendsTo = new Map<number, number>()
  let nextKey = o.keys
  let nextValue = 1
  for (const { txn } of byPoint) {
    const applies = txn.outcome === 'ok' || (txn.outcome === 'info' && rng.int(2) === 0)
    const staged = new Map<number, number[]>()
    const view = (k: number): number[] => staged.get(k) ?? lists.get(k) ?? []
    const n = 1 + rng.int(o.maxOps)
    for (let j = 0; j < n; j++) {
      const slot = rng.int(active.length)
      const k = active[slot]!
      if (rng.float() < o.readRatio) {
        const list = view(k)
        // Only committed reads are trustworthy; the others record nothing.
        txn.ops.push(['r', k, txn.outcome !== 'ok' ? null : list.length === 0 && rng.int(2) === 0 ? null : [...list]])
      } else {
        const v = nextValue++
        staged.set(k, [...view(k), v])
        txn.ops.push(['append', k, v])
        const count = (appendsTo.get(k) ?? 0) + 1
        appendsTo.set(k, count)
        if (count >= o.maxAppendsPerKey) active[slot] = nextKey++
      }
    }
    if (applies) for (const [k, list] of staged) lists.set(k, list)
  }
  return planned.map((x) => x.txn).sort((a, b) => a.invoke - b.invoke)
}

/** A copy that mutations may change. @internal */
export function cloneHistory (h: ReadonlyArray<ListAppendTxn>): MutableTxn[] {
  return h.map((t) => ({
    process: t.process as number,
    invoke: t.invoke,
    complete: t.complete,
    outcome: t.outcome,
    ops: t.ops.map((op) => (op[0] === 'r' ? ['r', op[1], op[2] === null ? null : [...op[2]]] : [...op]) as ListAppendMicroOp)
  }))
}

/** What a mutation planted. @internal */
export interface Mutated {
  readonly history: ListAppendTxn[]
  /** The model to check under. */
  readonly consistency: ListAppendConsistency
  /** The anomaly types the checker must report: exactly these, or (`exact: false`) a non-empty subset of them. */
  readonly expect: readonly ListAppendAnomalyType[]
  readonly exact: boolean
  /** What was done, for failure messages. */
  readonly note: string
}

/** A mutation: plants an anomaly, or returns null when this history offers no place for it. @internal */
export type Mutation = (h: ReadonlyArray<ListAppendTxn>, rng: Random) => Mutated | null

interface ReadRef { txn: number, op: number, key: ListAppendMicroOp[1], list: Array<string | number> }

function okReads (h: ReadonlyArray<MutableTxn>): ReadRef[] {
  const out: ReadRef[] = []
  h.forEach((t, i) => {
    if (t.outcome !== 'ok') return
    t.ops.forEach((op, j) => {
      if (op[0] === 'r') out.push({ txn: i, op: j, key: op[1], list: op[2] === null ? [] : op[2] as Array<string | number> })
    })
  })
  return out
}

function appendsOf (t: MutableTxn, key: ListAppendMicroOp[1]): number {
  return t.ops.filter((op) => op[0] === 'append' && op[1] === key).length
}

function readsOf (t: MutableTxn, key: ListAppendMicroOp[1]): number {
  return t.ops.filter((op) => op[0] === 'r' && op[1] === key).length
}

function longestByKey (reads: ReadRef[]): Map<ListAppendMicroOp[1], number> {
  const m = new Map<ListAppendMicroOp[1], number>()
  for (const r of reads) m.set(r.key, Math.max(m.get(r.key) ?? 0, r.list.length))
  return m
}

/** Shuffled copy, for picking candidates in a seeded random order. */
function shuffled<T> (rng: Random, xs: T[]): T[] {
  const a = [...xs]
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    const tmp = a[i]!
    a[i] = a[j]!
    a[j] = tmp
  }
  return a
}

function setRead (h: MutableTxn[], r: ReadRef, list: Array<string | number>): void {
  h[r.txn]!.ops[r.op] = ['r', r.key, list]
}

let fresh = 0
/** A value or key no generated history uses. */
function freshName (what: string): string {
  return `${what}-${++fresh}`
}

/** The mutations, by the anomaly they plant. @internal */
export const mutations: Record<string, Mutation> = {
  /** A writer whose append was read is marked failed: G1a. */
  abortSeenWriter (src, rng) {
    const h = cloneHistory(src)
    // Who read each value: a writer's reads of its own appends do not
    // count, since a failed transaction's reads are ignored.
    const readers = new Map<string, Set<number>>()
    for (const r of okReads(h)) for (const v of r.list) {
      const id = `${String(r.key)}|${String(v)}`
      let s = readers.get(id)
      if (s === undefined) readers.set(id, s = new Set())
      s.add(r.txn)
    }
    const seenByOthers = (i: number, op: ListAppendMicroOp): boolean =>
      [...readers.get(`${String(op[1])}|${String(op[2])}`) ?? []].some((x) => x !== i)
    const writers = h.map((t, i) => ({ t, i })).filter(({ t, i }) => t.outcome === 'ok' && t.ops.some((op) => op[0] === 'append' && seenByOthers(i, op)))
    if (writers.length === 0) return null
    const w = rng.pick(writers)
    w.t.outcome = 'fail'
    return { history: h, consistency: 'strict-serializable', expect: ['G1a'], exact: true, note: `T${w.i} marked failed` }
  },

  /** The writer of the last element a read saw appends once more, afterwards: the read saw its middle, G1b. */
  extraFinalAppend (src, rng) {
    const h = cloneHistory(src)
    const reads = okReads(h)
    const longest = longestByKey(reads)
    for (const r of shuffled(rng, reads)) {
      const last = r.list[r.list.length - 1]
      if (last === undefined || r.list.length !== longest.get(r.key) || appendsOf(h[r.txn]!, r.key) > 0) continue
      const w = h.findIndex((t) => t.outcome === 'ok' && t.ops.some((op) => op[0] === 'append' && op[1] === r.key && op[2] === last))
      if (w === -1 || w === r.txn) continue
      h[w]!.ops.push(['append', r.key, freshName('v')])
      return { history: h, consistency: 'strict-serializable', expect: ['G1b'], exact: true, note: `T${w} appends again to ${String(r.key)} after the ${String(last)} that T${r.txn} read` }
    }
    return null
  },

  /** A transaction reads a key a second time and sees less than the first time: internal. */
  rereadShorter (src, rng) {
    const h = cloneHistory(src)
    const r = shuffled(rng, okReads(h)).find((x) => x.list.length > 0)
    if (r === undefined) return null
    h[r.txn]!.ops.splice(r.op + 1, 0, ['r', r.key, r.list.slice(0, -1)])
    return { history: h, consistency: 'strict-serializable', expect: ['internal'], exact: true, note: `T${r.txn} re-reads ${String(r.key)} shorter` }
  },

  /** A read holds one of its elements twice: duplicate-elements. */
  duplicateElement (src, rng) {
    const h = cloneHistory(src)
    // The transaction's only read of the key, and no appends of its own
    // to it: otherwise the duplicate also contradicts those (internal).
    const r = shuffled(rng, okReads(h)).find((x) => x.list.length > 0 && appendsOf(h[x.txn]!, x.key) === 0 && readsOf(h[x.txn]!, x.key) === 1)
    if (r === undefined) return null
    setRead(h, r, [...r.list, r.list[rng.int(r.list.length)]!])
    return { history: h, consistency: 'strict-serializable', expect: ['duplicate-elements'], exact: true, note: `T${r.txn}'s read of ${String(r.key)} holds a duplicate` }
  },

  /** A read that is not the longest gets its last two elements swapped: incompatible-order. */
  swapTail (src, rng) {
    const h = cloneHistory(src)
    const reads = okReads(h)
    const longest = longestByKey(reads)
    const writer = (key: ListAppendMicroOp[1], v: string | number): number =>
      h.findIndex((t) => t.ops.some((op) => op[0] === 'append' && op[1] === key && op[2] === v))
    // Two writers' elements: swapping two of one writer's would also end
    // the read in the middle of that writer (G1b).
    const r = shuffled(rng, reads).find((x) => x.list.length >= 2 && x.list.length < longest.get(x.key)! &&
      appendsOf(h[x.txn]!, x.key) === 0 && readsOf(h[x.txn]!, x.key) === 1 &&
      writer(x.key, x.list[x.list.length - 1]!) !== writer(x.key, x.list[x.list.length - 2]!))
    if (r === undefined) return null
    const l = [...r.list]
    const n = l.length
    ;[l[n - 2], l[n - 1]] = [l[n - 1]!, l[n - 2]!]
    setRead(h, r, l)
    return { history: h, consistency: 'strict-serializable', expect: ['incompatible-order'], exact: true, note: `T${r.txn}'s read of ${String(r.key)} has its tail swapped` }
  },

  /**
   * Read skew: R saw W's appends to two keys; its read of the second is cut
   * just before W's append. R -rw-> W, and W -ww/wr...-> R through the
   * first key: G-single.
   */
  readSkew (src, rng) {
    const h = cloneHistory(src)
    const reads = okReads(h)
    const seenBy = new Map<string, number>()
    for (const r of reads) for (const v of r.list) seenBy.set(`${String(r.key)}|${String(v)}`, (seenBy.get(`${String(r.key)}|${String(v)}`) ?? 0) + 1)
    for (const r2 of shuffled(rng, reads)) {
      const rt = h[r2.txn]!
      if (appendsOf(rt, r2.key) > 0 || readsOf(rt, r2.key) !== 1) continue
      for (let p = 0; p < r2.list.length; p++) {
        const v2 = r2.list[p]!
        const w = h.findIndex((t) => t.ops.some((op) => op[0] === 'append' && op[1] === r2.key && op[2] === v2))
        const wt = h[w]!
        // v2 must be W's first append to the key, and seen by another read too.
        const firstOfW = wt.ops.find((op) => op[0] === 'append' && op[1] === r2.key)
        if (w === r2.txn || wt.outcome !== 'ok' || firstOfW?.[2] !== v2 || (seenBy.get(`${String(r2.key)}|${String(v2)}`) ?? 0) < 2) continue
        // R must also have seen an append of W to another key.
        const r1 = reads.find((x) => x.txn === r2.txn && x.key !== r2.key && appendsOf(rt, x.key) === 0 &&
          x.list.some((v) => wt.ops.some((op) => op[0] === 'append' && op[1] === x.key && op[2] === v)))
        if (r1 === undefined) continue
        setRead(h, r2, r2.list.slice(0, p))
        return { history: h, consistency: 'serializable', expect: ['G-single'], exact: true, note: `T${r2.txn}'s read of ${String(r2.key)} cut before T${w}'s ${String(v2)}, though it saw T${w} on ${String(r1.key)}` }
      }
    }
    return null
  },

  /** A read that saw W's append is moved in time to end before W began: real-time cycle. */
  reorderRealtime (src, rng) {
    const h = cloneHistory(src)
    for (const r of shuffled(rng, okReads(h))) {
      const v = r.list[r.list.length - 1]
      if (v === undefined) continue
      const w = h.findIndex((t) => t.outcome === 'ok' && t.ops.some((op) => op[0] === 'append' && op[1] === r.key && op[2] === v))
      if (w === -1 || w === r.txn) continue
      const rt = h[r.txn]!
      const span = rt.complete - rt.invoke
      rt.complete = h[w]!.invoke - 1
      rt.invoke = rt.complete - span
      return { history: h, consistency: 'strict-serializable', expect: ['realtime'], exact: true, note: `T${r.txn} moved to end before T${w}, whose ${String(v)} it read` }
    }
    return null
  },

  /**
   * An acknowledged append vanishes from every read (a speculative write
   * rolled back after a failover): some later read misses it.
   */
  loseAcknowledgedAppend (src, rng) {
    const h = cloneHistory(src)
    const reads = okReads(h)
    for (const w of shuffled(rng, h.map((_, i) => i))) {
      const wt = h[w]!
      if (wt.outcome !== 'ok') continue
      const appends = wt.ops.filter((op) => op[0] === 'append')
      for (const op of appends) {
        const later = reads.filter((r) => r.txn !== w && h[r.txn]!.invoke > wt.complete && r.list.includes(op[2] as number))
        if (later.length === 0) continue
        for (const r of reads) if (r.key === op[1] && r.list.includes(op[2] as number)) setRead(h, r, r.list.filter((x) => x !== op[2]))
        return { history: h, consistency: 'strict-serializable', expect: ['realtime', 'G0', 'G1b', 'G1c', 'G-single', 'G2', 'internal', 'incompatible-order'], exact: false, note: `T${w}'s ${String(op[2])} on ${String(op[1])} removed from every read` }
      }
    }
    return null
  },

  /** Fresh transactions in write skew: G2. */
  insertWriteSkew (src, rng) {
    const h = cloneHistory(src)
    const [x, y] = [freshName('k'), freshName('k')]
    const t0 = h.length === 0 ? 0 : h[rng.int(h.length)]!.invoke
    h.push(
      { process: 1001, invoke: t0, complete: t0 + 10, outcome: 'ok', ops: [['r', y, null], ['append', x, 1]] },
      { process: 1002, invoke: t0 + 1, complete: t0 + 11, outcome: 'ok', ops: [['r', x, []], ['append', y, 1]] },
      { process: 1003, invoke: t0 + 20, complete: t0 + 21, outcome: 'ok', ops: [['r', x, [1]], ['r', y, [1]]] }
    )
    return { history: h, consistency: 'strict-serializable', expect: ['G2'], exact: true, note: `write skew on fresh keys at ${t0}` }
  },

  /** Fresh transactions whose appends interleave differently on two keys: G0. */
  insertWriteCycle (src, rng) {
    const h = cloneHistory(src)
    const [x, y] = [freshName('k'), freshName('k')]
    const t0 = h.length === 0 ? 0 : h[rng.int(h.length)]!.invoke
    h.push(
      { process: 1001, invoke: t0, complete: t0 + 10, outcome: 'ok', ops: [['append', x, 1], ['append', y, 2]] },
      { process: 1002, invoke: t0 + 1, complete: t0 + 11, outcome: 'ok', ops: [['append', y, 1], ['append', x, 2]] },
      { process: 1003, invoke: t0 + 20, complete: t0 + 21, outcome: 'ok', ops: [['r', x, [1, 2]], ['r', y, [1, 2]]] }
    )
    return { history: h, consistency: 'strict-serializable', expect: ['G0'], exact: true, note: `write cycle on fresh keys at ${t0}` }
  },

  /** Fresh transactions that each read the other's append: G1c. */
  insertReadCycle (src, rng) {
    const h = cloneHistory(src)
    const [x, y] = [freshName('k'), freshName('k')]
    const t0 = h.length === 0 ? 0 : h[rng.int(h.length)]!.invoke
    h.push(
      { process: 1001, invoke: t0, complete: t0 + 10, outcome: 'ok', ops: [['append', x, 1], ['r', y, [1]]] },
      { process: 1002, invoke: t0 + 1, complete: t0 + 11, outcome: 'ok', ops: [['append', y, 1], ['r', x, [1]]] }
    )
    return { history: h, consistency: 'strict-serializable', expect: ['G1c'], exact: true, note: `read cycle on fresh keys at ${t0}` }
  }
}

/**
 * Small undirected damage for differential tests against the brute-force
 * oracle: swap, cut, extend or reverse reads, flip outcomes, swap times,
 * drop micro-operations. The result may or may not still be valid.
 * @internal
 */
export function damage (src: ReadonlyArray<ListAppendTxn>, rng: Random): { history: ListAppendTxn[], note: string } {
  const h = cloneHistory(src)
  const reads = okReads(h)
  const notes: string[] = []
  const count = 1 + rng.int(2)
  for (let i = 0; i < count; i++) {
    const what = rng.int(8)
    if (what === 0 && reads.length >= 2) {
      const a = rng.pick(reads)
      const sameKey = reads.filter((r) => r.key === a.key && r !== a)
      const b = sameKey.length > 0 && rng.int(5) > 0 ? rng.pick(sameKey) : rng.pick(reads)
      if (a === b) continue
      setRead(h, a, b.list)
      setRead(h, b, a.list)
      ;[a.list, b.list] = [b.list, a.list]
      notes.push(`swap reads T${a.txn}.${a.op} T${b.txn}.${b.op}`)
    } else if (what === 1 && reads.length > 0) {
      const r = rng.pick(reads)
      if (r.list.length === 0) continue
      r.list = r.list.slice(0, -1)
      setRead(h, r, r.list)
      notes.push(`cut T${r.txn}.${r.op}`)
    } else if (what === 2 && reads.length > 0) {
      const r = rng.pick(reads)
      const vals = h.flatMap((t) => t.ops.filter((op) => op[0] === 'append' && op[1] === r.key).map((op) => op[2] as number))
      if (vals.length === 0) continue
      r.list = [...r.list, rng.pick(vals)]
      setRead(h, r, r.list)
      notes.push(`extend T${r.txn}.${r.op}`)
    } else if (what === 3 && reads.length > 0) {
      const r = rng.pick(reads)
      r.list = [...r.list].reverse()
      setRead(h, r, r.list)
      notes.push(`reverse T${r.txn}.${r.op}`)
    } else if (what === 4 && h.length > 0) {
      const i = rng.int(h.length)
      const t = h[i]!
      t.outcome = rng.pick(['ok', 'fail', 'info'] as const)
      if (t.outcome !== 'info' && t.complete === Infinity) t.complete = t.invoke + 5
      notes.push(`T${i} now ${t.outcome}`)
    } else if (what === 5 && h.length >= 2) {
      const i = rng.int(h.length)
      const j = rng.int(h.length)
      const a = h[i]!
      const b = h[j]!
      if (a.complete === Infinity || b.complete === Infinity) continue
      ;[a.invoke, a.complete, b.invoke, b.complete] = [b.invoke, b.complete, a.invoke, a.complete]
      notes.push(`swap times T${i} T${j}`)
    } else if (what === 6 && h.length > 0) {
      const i = rng.int(h.length)
      const t = h[i]!
      if (t.ops.length === 0) continue
      t.ops.splice(rng.int(t.ops.length), 1)
      notes.push(`drop an op of T${i}`)
      // Read references past this point are stale.
      break
    } else if (what === 7 && h.length > 0) {
      // Another process's id: process order changes.
      const i = rng.int(h.length)
      h[i]!.process = rng.int(3)
      notes.push(`T${i} moved to process ${h[i]!.process}`)
    }
  }
  return { history: h, note: notes.join('; ') }
}
