/**
 * A transaction-history checker for list-append workloads, in the manner of
 * Jepsen's Elle (Kingsbury & Alvaro, "Elle: Inferring Isolation Anomalies
 * from Experimental Observations", VLDB 2020).
 *
 * The workload: every key holds a list; a transaction appends values to
 * lists and reads whole lists. Each value is appended at most once per key,
 * so a read names the exact transactions whose appends it saw, and in which
 * order. From that the checker recovers, for every key, the order in which
 * appends were installed (the longest read; every other read must be a
 * prefix of it), then the dependencies between transactions (Adya's
 * direct serialization graph):
 *
 * - `ww`: T1 appended an element and T2 appended the next one;
 * - `wr`: T2 read a list whose last element T1 appended;
 * - `rw` (anti-dependency): T1 read a list and T2 appended the element that
 *   came next, or appended something no read ever saw (so after all of it);
 * - optionally `rt` (real time: T1 was acknowledged before T2 was
 *   invoked) and `process` (T1 was acknowledged and its process invoked T2
 *   after it).
 *
 * Two inferences go beyond reading the graph off the version order. A
 * committed append that no read ever saw still happened: it comes after
 * everything that was seen, so every reader of the whole observed list
 * precedes its writer (this is what catches an acknowledged append lost in
 * a failover). And a transaction's appends to one key enter the list
 * together and in its order; reads that show otherwise are reported.
 *
 * A cycle in that graph is an anomaly no serial order can explain. Cycles
 * are found with Tarjan's strongly connected components, then, inside each
 * component, a short cycle per class (the shortest through each of a few
 * candidate edges), in Elle's order: ww only (G0), ww and wr (G1c),
 * exactly one rw (G-single), any (G2). With real-time (or process) edges, a
 * cycle that needs one of them violates strict serializability (or strong
 * session serializability). Non-cycle anomalies are found directly: aborted reads
 * (G1a), intermediate reads (G1b), reads that contradict the transaction's
 * own appends (internal), duplicate elements, reads of values nobody
 * appended, and reads that no single append order explains.
 *
 * The checker is a pure function of the history: no I/O, no clock, no
 * randomness.
 *
 * @module
 */

import { MakoError } from '../../lib/errors.js'
import { buildCsr, closingEdges, EdgeList, PathFinder, PROC, RT, RW, tarjan, VIA, WR, WW } from './list-append-graph.js'
import type { Components } from './list-append-graph.js'
import { fmtAtom, fmtList, fmtTxn, txnName } from './list-append-explain.js'

/** A key of the list-append workload. */
export type ListAppendKey = string | number

/** A value appended to a list. Unique per key across the whole history. */
export type ListAppendValue = string | number

/**
 * One micro-operation of a transaction, in Elle's shape:
 * `['append', key, value]` appends `value` to the list at `key`;
 * `['r', key, list]` read the whole list at `key` as the transaction saw it
 * (`null` for a key never written, the same as `[]`).
 */
export type ListAppendMicroOp =
  | readonly ['append', ListAppendKey, ListAppendValue]
  | readonly ['r', ListAppendKey, ReadonlyArray<ListAppendValue> | null]

/**
 * How a transaction ended, as its client saw it:
 * `ok` committed and acknowledged (final); `fail` known not to have taken
 * effect; `info` unknown (timed out, connection lost): it may or may not
 * have taken effect, at any time after it was invoked.
 */
export type ListAppendOutcome = 'ok' | 'fail' | 'info'

/** One transaction of a history. */
export interface ListAppendTxn {
  /** The client process that ran it (for process order and reports). */
  readonly process: string | number
  /** When it was invoked, in any unit shared by the history. */
  readonly invoke: number
  /**
   * When its outcome came back. Ignored for `info` transactions (use
   * `Infinity`): an indeterminate transaction may still take effect later.
   */
  readonly complete: number
  /** How it ended. */
  readonly outcome: ListAppendOutcome
  /**
   * Its micro-operations, in order. Reads of `fail` and `info`
   * transactions are ignored: nobody can rely on what they returned.
   */
  readonly ops: ReadonlyArray<ListAppendMicroOp>
}

/**
 * The consistency model to check:
 * `serializable` forbids every data anomaly (G0 to G2 and the non-cycle
 * ones); `strong-session-serializable` also forbids cycles that need
 * process order; `strict-serializable` also forbids cycles that need real
 * time (a transaction acknowledged before another was invoked must come
 * first in the serial order).
 */
export type ListAppendConsistency = 'serializable' | 'strong-session-serializable' | 'strict-serializable'

/** Options of {@link checkListAppend}. */
export interface ListAppendOptions {
  /** The model whose anomalies make the history invalid. Default `strict-serializable`. */
  consistency?: ListAppendConsistency
  /**
   * Add real-time edges (T1 `ok` and completed before T2 was invoked).
   * Default: true for `strict-serializable`, which requires them.
   */
  realtime?: boolean
  /**
   * Add process-order edges (an `ok` transaction to the next one its
   * process invoked). Default: true for `strong-session-serializable`,
   * which requires them.
   */
  process?: boolean
  /** Most anomalies reported per type; the rest are counted in {@link ListAppendStats.omitted}. Default 32. */
  maxAnomaliesPerType?: number
  /**
   * Most edges inspected by the G-single search in one strongly connected
   * component: a reachability sweep of the component per 2,048 distinct
   * sources of rw edges, so O(edges × sources / 2048). When it runs out,
   * the component is still reported, under the class of the shortest cycle
   * through an rw edge (G2, or G-single if that cycle has one rw edge), and
   * {@link ListAppendStats.searchesExhausted} counts it. Default 1,000,000.
   */
  maxCycleSearchSteps?: number
  /** Most dependency edges the graph may hold; more throws `MAKO_CHECK_TOO_LARGE`. Default 20,000,000. */
  maxEdges?: number
}

/** Default of {@link ListAppendOptions.maxAnomaliesPerType}. */
export const defaultMaxAnomaliesPerType = 32

/** Default of {@link ListAppendOptions.maxCycleSearchSteps}. */
export const defaultMaxCycleSearchSteps = 1_000_000

/** Default of {@link ListAppendOptions.maxEdges}. */
export const defaultMaxEdges = 20_000_000

/**
 * The anomalies the checker reports:
 *
 * - `G0` write cycle: a cycle of `ww` edges only (appends of two
 *   transactions interleaved differently on two keys);
 * - `G1a` aborted read: a committed read saw an append of a `fail`
 *   transaction;
 * - `G1b` intermediate read: a read ended in an append that was not its
 *   writer's last append to that key in that transaction;
 * - `G1c` circular information flow: a cycle of `ww` and `wr` edges, at
 *   least one `wr`;
 * - `G-single` a cycle with exactly one `rw` edge (read skew, lost update);
 * - `G2` a cycle with two or more `rw` edges (write skew), reported for a
 *   component only when it holds no cycle of the classes above;
 * - `internal` a read that contradicts its own transaction's earlier
 *   operations;
 * - `duplicate-elements` a read list holding a value twice;
 * - `incompatible-order` two reads of a key of which neither is a prefix of
 *   the other, or reads that show a transaction's appends to a key out of
 *   its own order (or a later one without an earlier one);
 * - `unknown-value` a read of a value no transaction appended;
 * - `realtime` a cycle that needs a real-time edge: not strict serializable;
 * - `process-order` a cycle that needs a process-order edge: not strong
 *   session serializable.
 */
export type ListAppendAnomalyType =
  | 'G0' | 'G1a' | 'G1b' | 'G1c' | 'G-single' | 'G2'
  | 'internal' | 'duplicate-elements' | 'incompatible-order' | 'unknown-value'
  | 'realtime' | 'process-order'

/** The kind of a dependency edge. */
export type ListAppendEdgeKind = 'ww' | 'wr' | 'rw' | 'rt' | 'process'

/** One step of a cycle: `from` must come before `to` in any serial order, and why. */
export interface ListAppendCycleStep {
  /** Index in the history of the earlier transaction. */
  readonly from: number
  /** Index in the history of the later transaction. */
  readonly to: number
  /** The kind of dependency. */
  readonly kind: ListAppendEdgeKind
  /** The key it was inferred from (data edges only). */
  readonly key?: ListAppendKey
  /** The observation that implies it, in a sentence. */
  readonly why: string
}

/** One anomaly found. */
export interface ListAppendAnomaly {
  /** Its class. */
  readonly type: ListAppendAnomalyType
  /** What was seen and why no correct database could show it, for people. */
  readonly explanation: string
  /** Indices in the history of the transactions involved (in cycle order for cycles). */
  readonly txns: readonly number[]
  /** The key involved, for anomalies about one key. */
  readonly key?: ListAppendKey
  /** For cycle anomalies: the cycle, one step per edge, back to the first transaction. */
  readonly cycle?: readonly ListAppendCycleStep[]
}

/** Counts from one run of {@link checkListAppend}. */
export interface ListAppendStats {
  /** Transactions in the history. */
  readonly txns: number
  /** Transactions acknowledged as committed. */
  readonly ok: number
  /** Transactions known aborted. */
  readonly fail: number
  /** Transactions of unknown outcome. */
  readonly info: number
  /** Distinct keys. */
  readonly keys: number
  /** Append micro-operations, all outcomes. */
  readonly appends: number
  /** Read micro-operations of `ok` transactions. */
  readonly reads: number
  /** Dependency edges by kind (real-time edges after transitive reduction). */
  readonly edges: Readonly<Record<ListAppendEdgeKind, number>>
  /** Strongly connected components of two or more transactions in the data graph (ww, wr, rw). */
  readonly cyclicComponents: number
  /** Transactions in the largest of them (0 when there is none). */
  readonly largestComponent: number
  /** Edges inspected by the cycle searches. */
  readonly searchSteps: number
  /** Cycle searches that ran out of {@link ListAppendOptions.maxCycleSearchSteps}. */
  readonly searchesExhausted: number
  /** Anomalies found per type, including those not reported. */
  readonly anomalyCounts: Readonly<Partial<Record<ListAppendAnomalyType, number>>>
  /** Anomalies found but not reported because of {@link ListAppendOptions.maxAnomaliesPerType}. */
  readonly omitted: number
}

/** What {@link checkListAppend} found. */
export interface ListAppendResult {
  /** True when no anomaly forbidden by the chosen consistency model was found. */
  readonly valid: boolean
  /** The anomalies found, non-cycle ones first, then cycles by class. */
  readonly anomalies: readonly ListAppendAnomaly[]
  /** The distinct types of the anomalies found, in the order of {@link ListAppendResult.anomalies}. */
  readonly anomalyTypes: readonly ListAppendAnomalyType[]
  /** Counts. */
  readonly stats: ListAppendStats
}

/** Anomalies that every model here forbids. */
const dataAnomalies: readonly ListAppendAnomalyType[] = [
  'G0', 'G1a', 'G1b', 'G1c', 'G-single', 'G2',
  'internal', 'duplicate-elements', 'incompatible-order', 'unknown-value'
]

const forbidden: Record<ListAppendConsistency, ReadonlySet<ListAppendAnomalyType>> = {
  serializable: new Set(dataAnomalies),
  'strong-session-serializable': new Set([...dataAnomalies, 'process-order']),
  'strict-serializable': new Set([...dataAnomalies, 'realtime'])
}

const cycleHeadline: Partial<Record<ListAppendAnomalyType, string>> = {
  G0: 'G0 (write cycle): the transactions\' appends are installed in contradictory orders on different keys',
  G1c: 'G1c (circular information flow): a cycle of write-write and write-read dependencies',
  'G-single': 'G-single (read skew / lost update): a cycle with exactly one anti-dependency; a transaction missed the effect of one it also depends on',
  G2: 'G2 (anti-dependency cycle): a cycle of two or more anti-dependencies, as in write skew',
  realtime: 'Not strict serializable: these transactions form a cycle once real-time order is respected (each transaction acknowledged before another was invoked must precede it)',
  'process-order': 'Not strong session serializable: these transactions form a cycle once each process\'s own order is respected'
}

/** Most steps of a cycle printed in an explanation. */
const maxPrintedSteps = 16

const OK = 0
const FAIL = 1
const INFO = 2

const DATA = WW | WR | RW | VIA

/**
 * Checks a list-append history for the anomalies of {@link ListAppendAnomalyType}.
 *
 * Cost: linear in the size of the history (transactions, micro-operations
 * and read elements) plus O(transactions × concurrency) real-time edges;
 * cycle searches are linear per component and class, except the G-single
 * search, which is bounded by `maxCycleSearchSteps`. A history of 10,000
 * transactions takes 50 to 150 ms on a 2-core machine once the code is
 * warm, and 0.2 to 0.5 s on a first call.
 *
 * Transactions are named in reports by their index in `history` (`T12`).
 *
 * @example
 * ```ts
 * const res = checkListAppend([
 *   { process: 1, invoke: 0, complete: 1, outcome: 'ok', ops: [['append', 'x', 1]] },
 *   { process: 2, invoke: 2, complete: 3, outcome: 'ok', ops: [['r', 'x', [1]]] }
 * ], { consistency: 'strict-serializable' })
 * res.valid // true
 * ```
 *
 * @param history The transactions, in any order.
 * @param options The model and which extra edges to use.
 * @throws MakoError `MAKO_CHECK_INVALID_HISTORY` for a malformed history
 *   (including a value appended twice to one key, which the workload must
 *   never do); `MAKO_CHECK_INVALID_OPTIONS`; `MAKO_CHECK_TOO_LARGE` past `maxEdges`.
 */
export function checkListAppend (history: ReadonlyArray<ListAppendTxn>, options: ListAppendOptions = {}): ListAppendResult {
  const consistency = options.consistency ?? 'strict-serializable'
  if (!(consistency in forbidden)) {
    throw new MakoError(`unknown consistency model ${String(consistency)}`, 'MAKO_CHECK_INVALID_OPTIONS')
  }
  const realtime = options.realtime ?? consistency === 'strict-serializable'
  const process = options.process ?? consistency === 'strong-session-serializable'
  if (consistency === 'strict-serializable' && !realtime) {
    throw new MakoError('strict serializability cannot be checked without real-time edges', 'MAKO_CHECK_INVALID_OPTIONS')
  }
  if (consistency === 'strong-session-serializable' && !process) {
    throw new MakoError('strong session serializability cannot be checked without process-order edges', 'MAKO_CHECK_INVALID_OPTIONS')
  }
  const a = new Analysis(history, {
    realtime,
    process,
    maxAnomaliesPerType: positive(options.maxAnomaliesPerType, defaultMaxAnomaliesPerType, 'maxAnomaliesPerType'),
    maxCycleSearchSteps: positive(options.maxCycleSearchSteps, defaultMaxCycleSearchSteps, 'maxCycleSearchSteps'),
    maxEdges: positive(options.maxEdges, defaultMaxEdges, 'maxEdges')
  })
  a.run()
  const bad = forbidden[consistency]
  const types = [...new Set(a.anomalies.map((x) => x.type))]
  return {
    valid: !Object.keys(a.counts).some((t) => bad.has(t as ListAppendAnomalyType)),
    anomalies: a.anomalies,
    anomalyTypes: types,
    stats: a.stats()
  }
}

function positive (x: number | undefined, dflt: number, name: string): number {
  if (x === undefined) return dflt
  if (typeof x !== 'number' || !(x >= 0)) throw new MakoError(`${name} must be a non-negative number`, 'MAKO_CHECK_INVALID_OPTIONS')
  return x
}

interface Settings {
  readonly realtime: boolean
  readonly process: boolean
  readonly maxAnomaliesPerType: number
  readonly maxCycleSearchSteps: number
  readonly maxEdges: number
}

function invalid (i: number, what: string): MakoError {
  return new MakoError(`history[${i}]: ${what}`, 'MAKO_CHECK_INVALID_HISTORY')
}

function isAtom (x: unknown): x is string | number {
  return typeof x === 'string' || (typeof x === 'number' && !Number.isNaN(x))
}

/**
 * One run of the checker. Keys, elements (a value appended to or read from
 * a key) and reads are interned to dense integer ids so the hot loops work
 * on number arrays, not on maps of strings.
 * @internal
 */
class Analysis {
  readonly anomalies: ListAppendAnomaly[] = []
  readonly counts: Partial<Record<ListAppendAnomalyType, number>> = {}
  private omitted = 0

  private readonly n: number
  private readonly outcome: Uint8Array
  /** Committed for certain: `ok`, or `info` with an append someone read. */
  private readonly committed: Uint8Array

  private readonly keyIds = new Map<ListAppendKey, number>()
  private readonly keyNames: ListAppendKey[] = []
  /** Per key: value to element id. */
  private readonly keyElems: Array<Map<ListAppendValue, number>> = []
  /** Per key: the elements appended to it (any outcome), in history order. */
  private readonly keyAppends: number[][] = []

  private readonly elemKey: number[] = []
  private readonly elemValue: ListAppendValue[] = []
  /** The transaction that appended it; -1 when none did. */
  private readonly elemWriter: number[] = []
  /** 1 when it was its writer's last append to the key in that transaction. */
  private readonly elemFinal: number[] = []
  /** 1 when some `ok` read contains it. */
  private readonly elemSeen: number[] = []
  /** Position in its key's version order; -1 when not in it. */
  private readonly elemPos: number[] = []
  private readonly elemStamp: number[] = []

  private readonly readTxn: number[] = []
  private readonly readOp: number[] = []
  private readonly readKey: number[] = []
  /**
   * The read's elements, duplicates dropped: the first `readLen[r]` of this
   * array, which reads that agree with one another share.
   */
  private readonly readElems: number[][] = []
  private readonly readLen: number[] = []
  /**
   * How many leading elements of the read came from other transactions
   * (the read minus the reader's own earlier appends); -1 when the read
   * gives no edges (not the first read of the key in its transaction, or
   * inconsistent with the transaction's own appends, or with duplicates).
   */
  private readonly readExt: number[] = []
  /** 1 when the read is a prefix of its key's version order. */
  private readonly readCompat: number[] = []
  private readonly keyReads: number[][] = []
  /** Per key: the longest duplicate-free read so far, its values and element ids. */
  private readonly refValues: Array<ReadonlyArray<ListAppendValue>> = []
  private readonly refElems: number[][] = []
  /** Per key: how many times its reference read changed course (not only grew). */
  private readonly refGen: number[] = []
  /** Per element: its position in its key's reference read, or -1. */
  private readonly refIndex: number[] = []
  /** Per read: the reference generation it was a prefix of, or -1. */
  private readonly readPrefixOf: number[] = []
  /** `k * n + i` for each key k that transaction i appends to. */
  private readonly appendsTo = new Set<number>()
  /** Per key: the first position of its version order holding a value no live transaction appended. */
  private readonly orderFirstBad: number[] = []
  /** Per key: the version order, as element ids. */
  private readonly order: number[][] = []
  /** Per key: the read that gave the version order, or -1. */
  private readonly orderRead: number[] = []

  private appendCount = 0
  private readonly edges = new EdgeList()
  private readonly edgeCounts = { ww: 0, wr: 0, rw: 0, rt: 0, process: 0 }
  /** Virtual node id minus n to its key. */
  private readonly virtualKey: number[] = []
  private cyclicComponents = 0
  private largestComponent = 0
  private searchSteps = 0
  private searchesExhausted = 0

  constructor (private readonly history: ReadonlyArray<ListAppendTxn>, private readonly s: Settings) {
    if (!Array.isArray(history)) throw new MakoError('history must be an array of transactions', 'MAKO_CHECK_INVALID_HISTORY')
    this.n = history.length
    this.outcome = new Uint8Array(this.n)
    this.committed = new Uint8Array(this.n)
  }

  run (): void {
    this.index()
    this.scanReads()
    this.versionOrders()
    this.readChecks()
    this.appendOrderChecks()
    this.dataEdges()
    if (this.s.realtime) this.realtimeEdges()
    if (this.s.process) this.processEdges()
    this.cycles()
  }

  stats (): ListAppendStats {
    let ok = 0
    let fail = 0
    for (let i = 0; i < this.n; i++) {
      if (this.outcome[i] === OK) ok++
      else if (this.outcome[i] === FAIL) fail++
    }
    return {
      txns: this.n,
      ok,
      fail,
      info: this.n - ok - fail,
      keys: this.keyNames.length,
      appends: this.appendCount,
      reads: this.readTxn.length,
      edges: { ...this.edgeCounts },
      cyclicComponents: this.cyclicComponents,
      largestComponent: this.largestComponent,
      searchSteps: this.searchSteps,
      searchesExhausted: this.searchesExhausted,
      anomalyCounts: { ...this.counts },
      omitted: this.omitted
    }
  }

  private report (a: ListAppendAnomaly): void {
    const c = (this.counts[a.type] ?? 0) + 1
    this.counts[a.type] = c
    if (c > this.s.maxAnomaliesPerType) {
      this.omitted++
      return
    }
    this.anomalies.push(a)
  }

  private key (k: ListAppendKey): number {
    let id = this.keyIds.get(k)
    if (id === undefined) {
      id = this.keyNames.length
      this.keyIds.set(k, id)
      this.keyNames.push(k)
      this.keyElems.push(new Map())
      this.keyAppends.push([])
      this.keyReads.push([])
      this.refValues.push([])
      this.refElems.push([])
      this.refGen.push(0)
    }
    return id
  }

  private element (k: number, v: ListAppendValue): number {
    const elems = this.keyElems[k]!
    let e = elems.get(v)
    if (e === undefined) {
      e = this.elemKey.length
      elems.set(v, e)
      this.elemKey.push(k)
      this.elemValue.push(v)
      this.elemWriter.push(-1)
      this.elemFinal.push(1)
      this.elemSeen.push(0)
      this.elemPos.push(-1)
      this.elemStamp.push(-1)
      this.refIndex.push(-1)
    }
    return e
  }

  /** Validates the history and interns every append: who wrote each element, and whether it was the writer's last to that key. */
  private index (): void {
    const last = new Map<number, number>()
    for (let i = 0; i < this.n; i++) {
      const txn = this.history[i]
      if (txn === null || typeof txn !== 'object') throw invalid(i, 'not a transaction object')
      const code = txn.outcome === 'ok' ? OK : txn.outcome === 'fail' ? FAIL : txn.outcome === 'info' ? INFO : -1
      if (code === -1) throw invalid(i, `outcome must be 'ok', 'fail' or 'info', not ${String(txn.outcome)}`)
      this.outcome[i] = code
      if (code === OK) this.committed[i] = 1
      if (typeof txn.invoke !== 'number' || !Number.isFinite(txn.invoke)) throw invalid(i, 'invoke must be a finite number')
      if (code !== INFO && (typeof txn.complete !== 'number' || !Number.isFinite(txn.complete) || txn.complete < txn.invoke)) {
        throw invalid(i, 'complete must be a finite number, not before invoke')
      }
      if (!isAtom(txn.process)) throw invalid(i, 'process must be a string or a number')
      if (!Array.isArray(txn.ops)) throw invalid(i, 'ops must be an array of micro-operations')
      last.clear()
      for (let j = 0; j < txn.ops.length; j++) {
        const op = txn.ops[j]
        if (!Array.isArray(op) || op.length !== 3 || !isAtom(op[1])) throw invalid(i, `ops[${j}] must be ['append', key, value] or ['r', key, list]`)
        if (op[0] === 'append') {
          if (!isAtom(op[2])) throw invalid(i, `ops[${j}] appends a value that is not a string or a number`)
          const k = this.key(op[1])
          const e = this.element(k, op[2])
          const w = this.elemWriter[e]!
          if (w !== -1) {
            throw invalid(i, `appends ${fmtAtom(op[2])} to key ${fmtAtom(op[1])}, which ${w === i ? 'it' : `history[${w}]`} already appended: a list-append workload must append each value once per key`)
          }
          this.elemWriter[e] = i
          this.appendsTo.add(k * this.n + i)
          this.keyAppends[k]!.push(e)
          this.appendCount++
          const prev = last.get(k)
          if (prev !== undefined) this.elemFinal[prev] = 0
          last.set(k, e)
        } else if (op[0] === 'r') {
          const list = op[2]
          // The list's values are validated where they are first looked at.
          if (list !== null && !Array.isArray(list)) throw invalid(i, `ops[${j}] reads something that is not null or a list`)
          this.key(op[1])
        } else {
          throw invalid(i, `ops[${j}] must be ['append', key, value] or ['r', key, list]`)
        }
      }
    }
  }

  /**
   * Interns the reads of committed transactions and checks each against
   * its own transaction: duplicates, and the internal consistency of reads
   * with the transaction's earlier appends and reads of the same key.
   */
  private scanReads (): void {
    const known = new Map<number, ReadonlyArray<ListAppendValue>>()
    const pending = new Map<number, ListAppendValue[]>()
    for (let i = 0; i < this.n; i++) {
      if (this.outcome[i] !== OK) continue
      const txn = this.history[i]!
      known.clear()
      pending.clear()
      for (let j = 0; j < txn.ops.length; j++) {
        const op = txn.ops[j]!
        const k = this.keyIds.get(op[1])!
        if (op[0] === 'append') {
          let p = pending.get(k)
          if (p === undefined) pending.set(k, p = [])
          p.push(op[2])
          continue
        }
        const raw = op[2] ?? []
        const r = this.readTxn.length
        const dups: ListAppendValue[] = []
        // Reads of a key are mostly prefixes of one another. The part of
        // this one that agrees with the longest read so far (the reference)
        // takes its element ids from it in one copy: those are known,
        // distinct and already seen. Only the rest is looked up value by
        // value. This is the hot loop for histories of long lists.
        // A read that agrees with the reference all along shares its array
        // (reads only use their own length of it), so the common case
        // allocates nothing. Values equal to the reference's were validated
        // when the reference was read.
        const refV = this.refValues[k]!
        const refE = this.refElems[k]!
        const agreeMax = Math.min(raw.length, refV.length)
        let agree = 0
        while (agree < agreeMax && raw[agree] === refV[agree]) agree++
        let own = 0
        if (this.appendsTo.has(k * this.n + i)) for (let p = 0; p < agree; p++) if (this.elemWriter[refE[p]!] === i) own++
        let tail: number[] | null = null
        for (let p = agree; p < raw.length; p++) {
          const v = raw[p]
          if (!isAtom(v)) throw invalid(i, `ops[${j}] reads a list holding something other than strings and numbers`)
          const e = this.element(k, v)
          this.elemSeen[e] = 1
          if (this.elemWriter[e] === i) own++
          const inRef = this.refIndex[e]!
          if ((inRef >= 0 && inRef < agree) || this.elemStamp[e] === r) {
            dups.push(v)
            continue
          }
          this.elemStamp[e] = r
          if (tail === null) tail = []
          tail.push(e)
        }
        let elems = refE
        let prefixOf = -1
        if (tail === null) {
          prefixOf = this.refGen[k]!
        } else if (dups.length === 0 && agree === refE.length) {
          // It extends the reference: grow that in place.
          for (const e of tail) {
            this.refIndex[e] = refE.length
            refE.push(e)
          }
          this.refValues[k] = raw
          prefixOf = this.refGen[k]!
        } else {
          elems = refE.slice(0, agree)
          for (const e of tail) elems.push(e)
          if (dups.length === 0 && raw.length > refV.length) {
            // A longer read that changes course becomes the reference; reads
            // that agreed with the old one are compared with the order later.
            for (let p = agree; p < refE.length; p++) this.refIndex[refE[p]!] = -1
            this.refGen[k]!++
            for (let p = agree; p < elems.length; p++) this.refIndex[elems[p]!] = p
            this.refValues[k] = raw
            this.refElems[k] = elems
            prefixOf = this.refGen[k]!
          }
        }
        const length = raw.length - dups.length
        this.readPrefixOf.push(prefixOf)
        this.readTxn.push(i)
        this.readOp.push(j)
        this.readKey.push(k)
        this.readElems.push(elems)
        this.readLen.push(length)
        this.readCompat.push(0)
        this.keyReads[k]!.push(r)
        if (dups.length > 0) {
          const writers = [...new Set(dups.map((v) => this.elemWriter[this.keyElems[k]!.get(v)!]!).filter((w) => w >= 0))]
          this.report({
            type: 'duplicate-elements',
            key: op[1],
            txns: [i, ...writers.filter((w) => w !== i)],
            explanation: `Duplicate elements: ${txnName(i)} read key ${fmtAtom(op[1])} = ${fmtList(raw)}, in which ${dups.map(fmtAtom).join(', ')} appear${dups.length === 1 ? 's' : ''} more than once; every value is appended once, so the list holds a duplicate.\nLet: ${fmtTxn(i, txn)}`
          })
        }
        const before = known.get(k)
        const mine = pending.get(k) ?? []
        const first = before === undefined
        let problem: string | null = null
        if (!first) {
          const expected = before.concat(mine)
          if (!sameList(expected, raw)) problem = `its own earlier read and appends say it must be ${fmtList(expected)}`
        } else if (!endsWith(raw, mine)) {
          problem = `it must end with its own earlier appends ${fmtList(mine)}`
        } else if (own !== mine.length) {
          problem = 'it contains an element that the transaction only appends later'
        }
        if (problem !== null) {
          this.report({
            type: 'internal',
            key: op[1],
            txns: [i],
            explanation: `Internal inconsistency: ${txnName(i)} read key ${fmtAtom(op[1])} = ${fmtList(raw)}, but ${problem}.\nLet: ${fmtTxn(i, txn)}`
          })
        }
        this.readExt.push(first && problem === null && dups.length === 0 ? length - mine.length : -1)
        known.set(k, raw)
        pending.set(k, [])
      }
    }
  }

  /**
   * Recovers each key's version order: the longest read of it. Every read
   * returns the whole list, so every read must be a prefix of it.
   */
  private versionOrders (): void {
    for (let k = 0; k < this.keyNames.length; k++) {
      const reads = this.keyReads[k]!
      let longest = -1
      for (const r of reads) if (longest === -1 || this.readLen[r]! > this.readLen[longest]!) longest = r
      const shared = longest === -1 ? [] : this.readElems[longest]!
      const order = longest === -1 || shared.length === this.readLen[longest] ? shared : shared.slice(0, this.readLen[longest])
      this.order.push(order)
      this.orderRead.push(longest)
      let firstBad = order.length
      for (let p = 0; p < order.length; p++) {
        const e = order[p]!
        this.elemPos[e] = p
        const w = this.elemWriter[e]!
        if (w === -1 || this.outcome[w] === FAIL) firstBad = Math.min(firstBad, p)
        else if (this.outcome[w] === INFO) this.committed[w] = 1
      }
      this.orderFirstBad.push(firstBad)
      const bad: number[] = []
      // When the order is the reference read, a read that was a prefix of
      // it since it last changed course is a prefix of it now.
      const gen = order === this.refElems[k] ? this.refGen[k]! : -2
      for (const r of reads) {
        if (this.readPrefixOf[r] === gen) {
          this.readCompat[r] = 1
          continue
        }
        const elems = this.readElems[r]!
        let ok = true
        for (let p = 0; p < this.readLen[r]!; p++) {
          if (elems[p] !== order[p]) {
            ok = false
            break
          }
        }
        if (ok) this.readCompat[r] = 1
        else bad.push(r)
      }
      if (bad.length > 0) {
        const shown = bad.slice(0, 3)
        const lines = shown.map((r) => `${txnName(this.readTxn[r]!)} read ${this.fmtRead(r)}`)
        const more = bad.length > shown.length ? ` (and ${bad.length - shown.length} more reads)` : ''
        const who = [this.readTxn[longest]!, ...shown.map((r) => this.readTxn[r]!)]
        this.report({
          type: 'incompatible-order',
          key: this.keyNames[k]!,
          txns: [...new Set(who)],
          explanation: `Incompatible orders of key ${fmtAtom(this.keyNames[k]!)}: ${txnName(this.readTxn[longest]!)} read ${this.fmtRead(longest)}, but ${lines.join('; ')}${more}. Each read returns the whole list, so of any two reads one must be a prefix of the other; no single order of appends explains these.\nLet: ${[...new Set(who)].map((t) => fmtTxn(t, this.history[t]!)).join('; ')}`
        })
      }
    }
  }

  /** Aborted reads (G1a), values nobody appended, and intermediate reads (G1b). */
  private readChecks (): void {
    for (let r = 0; r < this.readTxn.length; r++) {
      const t = this.readTxn[r]!
      const elems = this.readElems[r]!
      const length = this.readLen[r]!
      const aborted: number[] = []
      const unknown: number[] = []
      // A prefix of the version order before its first bad value is clean,
      // and its info writers are already known committed.
      const clean = this.readCompat[r] === 1 && length <= this.orderFirstBad[this.readKey[r]!]!
      if (!clean) for (let p = 0; p < length; p++) {
        const e = elems[p]!
        const w = this.elemWriter[e]!
        if (w === -1) unknown.push(e)
        else if (this.outcome[w] === FAIL) aborted.push(e)
        else if (this.outcome[w] === INFO) this.committed[w] = 1
      }
      const keyName = this.keyNames[this.readKey[r]!]!
      if (unknown.length > 0) {
        this.report({
          type: 'unknown-value',
          key: keyName,
          txns: [t],
          explanation: `Unknown value: ${txnName(t)} read ${this.fmtRead(r)}, containing ${unknown.map((e) => fmtAtom(this.elemValue[e]!)).join(', ')}, which no transaction in the history appended.\nLet: ${fmtTxn(t, this.history[t]!)}`
        })
      }
      if (aborted.length > 0) {
        const writers = [...new Set(aborted.map((e) => this.elemWriter[e]!))]
        this.report({
          type: 'G1a',
          key: keyName,
          txns: [t, ...writers],
          explanation: `G1a (aborted read): ${txnName(t)} read ${this.fmtRead(r)}, containing ${aborted.map((e) => `${fmtAtom(this.elemValue[e]!)} (appended by ${txnName(this.elemWriter[e]!)})`).join(', ')}; ${writers.map(txnName).join(', ')} failed, so ${writers.length === 1 ? 'its appends' : 'their appends'} must never be seen.\nLet: ${[t, ...writers].map((x) => fmtTxn(x, this.history[x]!)).join('; ')}`
        })
      }
      const ext = this.readExt[r]!
      if (ext > 0) {
        const e = elems[ext - 1]!
        const w = this.elemWriter[e]!
        if (w >= 0 && w !== t && this.outcome[w] !== FAIL && this.elemFinal[e] === 0) {
          const later = this.keyAppends[this.readKey[r]!]!.filter((x) => this.elemWriter[x] === w && x !== e)
          this.report({
            type: 'G1b',
            key: keyName,
            txns: [t, w],
            explanation: `G1b (intermediate read): ${txnName(t)} read ${this.fmtRead(r)}, ending in ${fmtAtom(this.elemValue[e]!)}, which ${txnName(w)} appended but then appended ${later.map((x) => fmtAtom(this.elemValue[x]!)).join(', ')} to the same key in the same transaction: ${txnName(t)} saw the middle of ${txnName(w)}.\nLet: ${fmtTxn(t, this.history[t]!)}; ${fmtTxn(w, this.history[w]!)}`
          })
        }
      }
    }
  }

  /**
   * A committed transaction's appends to one key enter the list together
   * and in its own order, so the reads must show them as a run in that
   * order, with any never-read ones after the read ones. (A run broken by
   * another transaction's append is a ww cycle, G0, found later.)
   */
  private appendOrderChecks (): void {
    for (let k = 0; k < this.keyNames.length; k++) {
      const appends = this.keyAppends[k]!
      for (let i = 0; i < appends.length;) {
        const w = this.elemWriter[appends[i]!]!
        let j = i + 1
        while (j < appends.length && this.elemWriter[appends[j]!] === w) j++
        if (j - i >= 2 && this.committed[w] === 1) this.checkRun(k, w, appends.slice(i, j))
        i = j
      }
    }
  }

  private checkRun (k: number, w: number, run: number[]): void {
    let problem: string | null = null
    let prev = -1
    let gone = -1
    for (const e of run) {
      const p = this.elemPos[e]!
      if (p === -1) {
        if (gone === -1) gone = e
        continue
      }
      if (gone !== -1) {
        problem = `the reads show ${fmtAtom(this.elemValue[e]!)} without ${fmtAtom(this.elemValue[gone]!)} before it (no read saw ${fmtAtom(this.elemValue[gone]!)})`
        break
      }
      if (prev !== -1 && p < this.elemPos[prev]!) {
        problem = `the reads put ${fmtAtom(this.elemValue[e]!)} before ${fmtAtom(this.elemValue[prev]!)}`
        break
      }
      prev = e
    }
    if (problem === null) return
    const keyName = this.keyNames[k]!
    const longest = this.orderRead[k]!
    const who = longest === -1 ? [w] : [w, this.readTxn[longest]!]
    this.report({
      type: 'incompatible-order',
      key: keyName,
      txns: [...new Set(who)],
      explanation: `Incompatible orders of key ${fmtAtom(keyName)}: ${txnName(w)} appended ${run.map((e) => fmtAtom(this.elemValue[e]!)).join(', ')} in that order, but ${problem}${longest === -1 ? '' : `: ${txnName(this.readTxn[longest]!)} read ${this.fmtRead(longest)}`}. A transaction's appends to a key enter the list together, in its order.\nLet: ${[...new Set(who)].map((t) => fmtTxn(t, this.history[t]!)).join('; ')}`
    })
  }

  private addEdge (src: number, dst: number, kind: number, a: number, b: number): void {
    if (this.edges.length >= this.s.maxEdges) {
      throw new MakoError(`the dependency graph needs more than maxEdges (${this.s.maxEdges}) edges`, 'MAKO_CHECK_TOO_LARGE')
    }
    this.edges.add(src, dst, kind, a, b)
    if (kind === WW) this.edgeCounts.ww++
    else if (kind === WR) this.edgeCounts.wr++
    else if (kind === RW) this.edgeCounts.rw++
    else if (kind === RT) this.edgeCounts.rt++
    else if (kind === PROC) this.edgeCounts.process++
  }

  /** A writer whose appends count: not aborted (aborted reads are G1a, not edges). */
  private live (w: number): boolean {
    return w >= 0 && this.outcome[w] !== FAIL
  }

  /**
   * The ww, wr and rw edges. Elements appended by committed transactions
   * that no read saw come after everything that was seen (every read is a
   * prefix of the final list); a virtual node per key stands for "after the
   * observed order" so that k readers and m unseen appends cost k + m edges,
   * not k × m.
   */
  private dataEdges (): void {
    for (let k = 0; k < this.keyNames.length; k++) {
      const order = this.order[k]!
      // ww: consecutive elements of the version order.
      for (let p = 1; p < order.length; p++) {
        const w1 = this.elemWriter[order[p - 1]!]!
        const w2 = this.elemWriter[order[p]!]!
        if (w1 !== w2 && this.live(w1) && this.live(w2)) this.addEdge(w1, w2, WW, order[p - 1]!, order[p]!)
      }
    }
    const fullReaders: number[][] = this.keyNames.map(() => [])
    for (let r = 0; r < this.readTxn.length; r++) {
      const ext = this.readExt[r]!
      if (ext < 0) continue
      const t = this.readTxn[r]!
      const elems = this.readElems[r]!
      const k = this.readKey[r]!
      const lastWriter = ext > 0 ? this.elemWriter[elems[ext - 1]!]! : -1
      // wr: the writer of the last element from another transaction.
      if (lastWriter !== t && this.live(lastWriter)) this.addEdge(lastWriter, t, WR, elems[ext - 1]!, r)
      if (this.readCompat[r] !== 1) continue
      const order = this.order[k]!
      if (ext < order.length) {
        // rw: the writer of the element that came next. When it is the
        // writer of the last element read, the read saw the middle of a
        // transaction: that is G1b, reported as such, not as a cycle.
        const next = order[ext]!
        const w = this.elemWriter[next]!
        if (w !== t && w !== lastWriter && this.live(w)) this.addEdge(t, w, RW, r, next)
      } else {
        fullReaders[k]!.push(r)
      }
    }
    this.unseenAppendEdges(fullReaders)
  }

  private unseenAppendEdges (fullReaders: number[][]): void {
    const isUnseen = new Int32Array(this.n).fill(-1)
    for (let k = 0; k < this.keyNames.length; k++) {
      // The committed transactions with appends to k that nobody read,
      // with the first such element of each.
      const unseen: Array<[txn: number, elem: number]> = []
      for (const e of this.keyAppends[k]!) {
        const w = this.elemWriter[e]!
        if (this.elemSeen[e] === 1 || this.committed[w] !== 1 || isUnseen[w] === k) continue
        isUnseen[w] = k
        unseen.push([w, e])
      }
      if (unseen.length === 0) continue
      const order = this.order[k]!
      let virtual = -1
      const hub = (): number => {
        if (virtual === -1) {
          virtual = this.n + this.virtualKey.length
          this.virtualKey.push(k)
        }
        return virtual
      }
      const lastElem = order.length > 0 ? order[order.length - 1]! : -1
      const y = lastElem >= 0 ? this.elemWriter[lastElem]! : -1
      if (this.live(y)) {
        if (isUnseen[y] === k) {
          // The last observed element's writer also appended unseen
          // elements: its own must not be ordered after itself.
          for (const [w, e] of unseen) if (w !== y) this.addEdge(y, w, WW, lastElem, e)
        } else {
          this.addEdge(y, hub(), WW, lastElem, -1)
        }
      }
      for (const r of fullReaders[k]!) {
        const t = this.readTxn[r]!
        const ext = this.readExt[r]!
        const lastWriter = ext > 0 ? this.elemWriter[this.readElems[r]![ext - 1]!]! : -1
        if (isUnseen[t] === k || (lastWriter >= 0 && isUnseen[lastWriter] === k)) {
          // Direct edges, skipping the reader itself (it appended after
          // reading) and the writer whose middle it read (G1b).
          for (const [w, e] of unseen) if (w !== t && w !== lastWriter) this.addEdge(t, w, RW, r, e)
        } else {
          this.addEdge(t, hub(), RW, r, -1)
        }
      }
      if (virtual !== -1) for (const [w, e] of unseen) this.addEdge(virtual, w, VIA, -1, e)
    }
  }

  /**
   * Real-time edges, transitively reduced: a sweep in time order keeps the
   * completed `ok` transactions not yet known to precede another completed
   * one (pairwise concurrent, so at most the concurrency of the history);
   * each invocation gets an edge from each of them. The closure of these
   * edges is the whole real-time order, at O(n × concurrency) edges.
   * `info` transactions never complete: they follow, never precede.
   */
  private realtimeEdges (): void {
    const events: number[] = []
    for (let i = 0; i < this.n; i++) {
      if (this.outcome[i] === FAIL) continue
      events.push(i * 2)
      if (this.outcome[i] === OK) events.push(i * 2 + 1)
    }
    const time = (ev: number): number => (ev & 1) === 0 ? this.history[ev >> 1]!.invoke : this.history[ev >> 1]!.complete
    // At equal times invocations come first: touching intervals overlap.
    events.sort((a, b) => time(a) - time(b) || (a & 1) - (b & 1) || a - b)
    let frontier: number[] = []
    for (const ev of events) {
      const t = ev >> 1
      if ((ev & 1) === 0) {
        for (const f of frontier) this.addEdge(f, t, RT, -1, -1)
      } else {
        const inv = this.history[t]!.invoke
        frontier = frontier.filter((f) => !(this.history[f]!.complete < inv))
        frontier.push(t)
      }
    }
  }

  /** Process-order edges: from each process's latest `ok` transaction to the next one it invoked. */
  private processEdges (): void {
    const byProcess = new Map<string | number, number[]>()
    for (let i = 0; i < this.n; i++) {
      if (this.outcome[i] === FAIL) continue
      const p = this.history[i]!.process
      let list = byProcess.get(p)
      if (list === undefined) byProcess.set(p, list = [])
      list.push(i)
    }
    for (const list of byProcess.values()) {
      list.sort((a, b) => this.history[a]!.invoke - this.history[b]!.invoke || a - b)
      let lastOk = -1
      for (const t of list) {
        if (lastOk >= 0) this.addEdge(lastOk, t, PROC, -1, -1)
        if (this.outcome[t] === OK) lastOk = t
      }
    }
  }

  /** Finds and reports the cycles, class by class. */
  private cycles (): void {
    const nodes = this.n + this.virtualKey.length
    const g = buildCsr(nodes, this.edges)
    const finder = new PathFinder(g, this.edges)
    const { src, dst, kind } = this.edges
    const m = this.edges.length
    const data = tarjan(g, this.edges, DATA)
    const txnsIn = new Int32Array(data.count)
    for (let v = 0; v < this.n; v++) txnsIn[data.comp[v]!]!++
    for (let c = 0; c < data.count; c++) {
      if (txnsIn[c]! >= 2) {
        this.cyclicComponents++
        if (txnsIn[c]! > this.largestComponent) this.largestComponent = txnsIn[c]!
      }
    }
    if (this.cyclicComponents === 0 && !this.s.realtime && !this.s.process) return
    const lower = new Uint8Array(data.count)
    const budget = this.s.maxCycleSearchSteps
    // The shortest of the cycles through the first `tries` candidate edges
    // (each a path back from the edge's end to its start). Every candidate
    // here lies on a cycle within the component, so each search succeeds;
    // each costs O(edges of the component).
    const search = (candidates: number[], mask: number, comps: Components, c: number, tries: number): number[] | null => {
      let best: number[] | null = null
      for (let i = 0; i < candidates.length && i < tries; i++) {
        const e = candidates[i]!
        const path = finder.path(dst[e]!, src[e]!, mask, comps.comp, c)
        if (path !== null && (best === null || path.length + 1 < best.length)) best = [e, ...path]
      }
      return best
    }
    // The edges of the given kinds with both ends in one component, by component.
    const internalEdges = (comps: Components, want: number): number[][] => {
      const byComp: number[][] = Array.from({ length: comps.count }, () => [])
      for (let e = 0; e < m; e++) {
        if ((kind[e]! & want) === 0) continue
        const c = comps.comp[src[e]!]!
        if (c === comps.comp[dst[e]!]) byComp[c]!.push(e)
      }
      return byComp
    }

    if (this.cyclicComponents > 0) {
      // G0: cycles of ww edges (and the virtual "after what was seen" hop).
      const ww = tarjan(g, this.edges, WW | VIA)
      const wwIn = internalEdges(ww, WW)
      for (let c = 0; c < ww.count; c++) {
        if (wwIn[c]!.length === 0) continue
        const cycle = search(wwIn[c]!, WW | VIA, ww, c, 8)
        if (cycle !== null) {
          lower[data.comp[src[cycle[0]!]!]!] = 1
          this.reportCycle(cycle)
        }
      }
      // G1c: a cycle of ww and wr through at least one wr edge.
      const wwr = tarjan(g, this.edges, WW | WR | VIA)
      const wrIn = internalEdges(wwr, WR)
      for (let c = 0; c < wwr.count; c++) {
        if (wrIn[c]!.length === 0) continue
        const cycle = search(wrIn[c]!, WW | WR | VIA, wwr, c, 8)
        if (cycle !== null) {
          lower[data.comp[src[cycle[0]!]!]!] = 1
          this.reportCycle(cycle)
        }
      }
      // G-single: an rw edge closed by a path of ww and wr. Edges whose
      // ends share a ww+wr component close for certain; otherwise compute
      // which rw edges close, over the ww+wr components of this one.
      const rwIn = internalEdges(data, RW)
      const nodesOf = this.nodesByComponent(data, txnsIn)
      for (let c = 0; c < data.count; c++) {
        const rws = rwIn[c]!
        if (txnsIn[c]! < 2 || rws.length === 0) continue
        let cycle: number[] | null = null
        const sure = rws.filter((e) => wwr.comp[src[e]!] === wwr.comp[dst[e]!])
        if (sure.length > 0) {
          const cw = wwr.comp[src[sure[0]!]!]!
          cycle = search(sure.filter((e) => wwr.comp[src[e]!] === cw), WW | WR | VIA, wwr, cw, 8)
        } else {
          const closing = closingEdges(g, this.edges, WW | WR | VIA, wwr, data.comp, c, nodesOf.get(c)!, rws, 8, budget)
          finder.steps += closing.steps
          if (closing.exhausted) this.searchesExhausted++
          cycle = search(closing.found, WW | WR | VIA, data, c, 8)
        }
        if (cycle !== null) {
          this.reportCycle(cycle)
          continue
        }
        // G2: the shortest cycle through an rw edge, for a component with no
        // cycle of a lower class (one that has one is reported for that).
        // Should the G-single search have run out of budget, this cycle may
        // have a single rw edge; it is then reported as G-single.
        if (lower[c] === 1) continue
        cycle = search(rws, DATA, data, c, 8)
        if (cycle !== null) this.reportCycle(cycle)
      }
    }
    this.searchSteps = finder.steps

    // Cycles that need a real-time (or process-order) edge: components of
    // the graph with those edges that join different data components.
    const extra = (bit: number): void => {
      const comps = tarjan(g, this.edges, DATA | bit)
      const done = new Uint8Array(comps.count)
      for (let e = 0; e < m; e++) {
        if (kind[e] !== bit) continue
        const c = comps.comp[src[e]!]!
        if (done[c] === 1 || c !== comps.comp[dst[e]!] || data.comp[src[e]!] === data.comp[dst[e]!]) continue
        done[c] = 1
        const cycle = search([e], DATA | bit, comps, c, 1)
        if (cycle !== null) this.reportCycle(cycle)
      }
    }
    if (this.s.process) extra(PROC)
    if (this.s.realtime) extra(RT)
    this.searchSteps = finder.steps
  }

  /** The nodes of each component of two or more transactions. */
  private nodesByComponent (comps: Components, txnsIn: Int32Array): Map<number, number[]> {
    const out = new Map<number, number[]>()
    for (let v = 0; v < comps.comp.length; v++) {
      const c = comps.comp[v]!
      if (txnsIn[c]! < 2) continue
      let list = out.get(c)
      if (list === undefined) out.set(c, list = [])
      list.push(v)
    }
    return out
  }

  /** Classifies a cycle (edge ids) by the kinds of its edges and reports it. */
  private reportCycle (cycle: number[]): void {
    const steps = this.cycleSteps(cycle)
    let rw = 0
    let wr = 0
    let rt = 0
    let proc = 0
    for (const s of steps) {
      if (s.kind === 'rw') rw++
      else if (s.kind === 'wr') wr++
      else if (s.kind === 'rt') rt++
      else if (s.kind === 'process') proc++
    }
    const type: ListAppendAnomalyType = rt > 0 ? 'realtime' : proc > 0 ? 'process-order' : rw === 0 ? (wr === 0 ? 'G0' : 'G1c') : rw === 1 ? 'G-single' : 'G2'
    const txns = steps.map((s) => s.from)
    // Long cycles (a chain of appends to one key) print their ends; the
    // whole cycle is in `cycle`.
    const shown = steps.length <= maxPrintedSteps ? steps : [...steps.slice(0, maxPrintedSteps - 4), ...steps.slice(-4)]
    const cut = steps.length - shown.length
    const chainOf = (xs: ListAppendCycleStep[]): string => xs.map((s) => `${txnName(s.from)} -${s.kind}->`).join(' ')
    const chain = cut === 0
      ? `${chainOf(steps)} ${txnName(steps[0]!.from)}`
      : `${chainOf(shown.slice(0, maxPrintedSteps - 4))} … ${cut} more steps … ${chainOf(shown.slice(-4))} ${txnName(steps[0]!.from)}`
    const lines = shown.map((s) => `  ${txnName(s.from)} -${s.kind}-> ${txnName(s.to)}: ${s.why}`)
    if (cut > 0) lines.splice(maxPrintedSteps - 4, 0, `  … ${cut} more steps …`)
    const named = [...new Set(shown.flatMap((s) => [s.from, s.to]))]
    this.report({
      type,
      txns,
      cycle: steps,
      explanation: `${cycleHeadline[type]!} (${steps.length} transactions):\n  ${chain}\n${lines.join('\n')}\nLet: ${named.map((t) => fmtTxn(t, this.history[t]!)).join('; ')}`
    })
  }

  /** Turns edge ids into steps, merging each hop through a virtual node into one step. */
  private cycleSteps (cycle: number[]): ListAppendCycleStep[] {
    const { src, dst, kind, a, b } = this.edges
    // Start the printed cycle at a real transaction.
    let start = 0
    while (src[cycle[start]!]! >= this.n) start++
    const edges = [...cycle.slice(start), ...cycle.slice(0, start)]
    const steps: ListAppendCycleStep[] = []
    for (let i = 0; i < edges.length; i++) {
      const e = edges[i]!
      const from = src[e]!
      let to = dst[e]!
      let unseenElem = -1
      if (to >= this.n) {
        const via = edges[++i]!
        to = dst[via]!
        unseenElem = b[via]!
      }
      const k = kind[e]!
      const t = txnName(to)
      const f = txnName(from)
      if (k === RT) {
        steps.push({ from, to, kind: 'rt', why: `${f} completed (at ${this.history[from]!.complete}) before ${t} was invoked (at ${this.history[to]!.invoke})` })
      } else if (k === PROC) {
        steps.push({ from, to, kind: 'process', why: `process ${fmtAtom(this.history[from]!.process)} invoked ${t} after ${f}, which committed` })
      } else if (k === WW) {
        const e1 = a[e]!
        const e2 = unseenElem >= 0 ? unseenElem : b[e]!
        const keyName = this.keyNames[this.elemKey[e1]!]!
        const why = this.elemSeen[e2] === 1
          ? `on key ${fmtAtom(keyName)}, ${t} appended ${fmtAtom(this.elemValue[e2]!)} right after ${f}'s ${fmtAtom(this.elemValue[e1]!)}`
          : `on key ${fmtAtom(keyName)}, ${f}'s ${fmtAtom(this.elemValue[e1]!)} is the last element any read saw, and ${t} committed an append of ${fmtAtom(this.elemValue[e2]!)} that no read saw, so it came later`
        steps.push({ from, to, kind: 'ww', key: keyName, why })
      } else if (k === WR) {
        const e1 = a[e]!
        const keyName = this.keyNames[this.elemKey[e1]!]!
        steps.push({ from, to, kind: 'wr', key: keyName, why: `${t} read ${this.fmtRead(b[e]!)}, ending in ${fmtAtom(this.elemValue[e1]!)}, which ${f} appended` })
      } else {
        const r = a[e]!
        const e2 = unseenElem >= 0 ? unseenElem : b[e]!
        const keyName = this.keyNames[this.readKey[r]!]!
        const ext = this.readExt[r]!
        let why: string
        if (this.elemSeen[e2] !== 1) {
          why = `${f} read ${this.fmtRead(r)}, all that any read saw of it, and ${t} committed an append of ${fmtAtom(this.elemValue[e2]!)} that no read saw, so it came later`
        } else if (ext === 0) {
          why = `${f} read ${this.fmtRead(r)}, without ${fmtAtom(this.elemValue[e2]!)}, the first element, which ${t} appended`
        } else {
          const lastSeen = this.readElems[r]![ext - 1]!
          why = `${f} read ${this.fmtRead(r)}, and ${t} appended ${fmtAtom(this.elemValue[e2]!)} right after ${fmtAtom(this.elemValue[lastSeen]!)}`
        }
        steps.push({ from, to, kind: 'rw', key: keyName, why })
      }
    }
    return steps
  }

  private fmtRead (r: number): string {
    const op = this.history[this.readTxn[r]!]!.ops[this.readOp[r]!]!
    return `key ${fmtAtom(op[1])} = ${fmtList(op[2] as ReadonlyArray<ListAppendValue> | null ?? [])}`
  }
}

function sameList (a: ReadonlyArray<ListAppendValue>, b: ReadonlyArray<ListAppendValue>): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function endsWith (list: ReadonlyArray<ListAppendValue>, suffix: ReadonlyArray<ListAppendValue>): boolean {
  if (suffix.length > list.length) return false
  const off = list.length - suffix.length
  for (let i = 0; i < suffix.length; i++) if (list[off + i] !== suffix[i]) return false
  return true
}
