/**
 * Small list-append histories, each built to contain one anomaly (or none),
 * with the anomaly types the checker must report for it: scenario tests as
 * data. Transaction i of a history is `T{i}` in the checker's reports.
 * @internal
 */
import type { ListAppendConsistency, ListAppendAnomalyType, ListAppendMicroOp, ListAppendTxn } from '../../cluster/check/list-append.js'

/** One scenario. @internal */
export interface ListAppendCase {
  readonly name: string
  readonly why: string
  readonly consistency: ListAppendConsistency
  readonly history: ListAppendTxn[]
  /** Exactly the anomaly types expected, in report order; empty for a valid history. */
  readonly expect: ListAppendAnomalyType[]
  /** Whether the history is valid under `consistency` (default: `expect` is empty). */
  readonly valid?: boolean
}

type Op = ListAppendMicroOp

/** A committed transaction. @internal */
export const ok = (process: number, invoke: number, complete: number, ...ops: Op[]): ListAppendTxn =>
  ({ process, invoke, complete, outcome: 'ok', ops })
/** An aborted transaction. @internal */
export const fail = (process: number, invoke: number, complete: number, ...ops: Op[]): ListAppendTxn =>
  ({ process, invoke, complete, outcome: 'fail', ops })
/** A transaction of unknown outcome. @internal */
export const info = (process: number, invoke: number, ...ops: Op[]): ListAppendTxn =>
  ({ process, invoke, complete: Infinity, outcome: 'info', ops })
/** `['append', key, value]`. @internal */
export const ap = (key: string, value: number): Op => ['append', key, value]
/** `['r', key, list]`. @internal */
export const rd = (key: string, list: number[] | null): Op => ['r', key, list]

/** The scenarios. @internal */
export const listAppendCases: ListAppendCase[] = [
  {
    name: 'valid serial history',
    why: 'appends and reads in one serial order, in real time',
    consistency: 'strict-serializable',
    history: [
      ok(1, 0, 1, ap('x', 1), ap('y', 1)),
      ok(2, 2, 3, rd('x', [1]), ap('x', 2)),
      ok(1, 4, 5, rd('x', [1, 2]), rd('y', [1]), rd('z', null)),
      ok(2, 4, 5, rd('x', [1, 2]), ap('x', 3), rd('x', [1, 2, 3]), ap('y', 2))
    ],
    expect: []
  },
  {
    name: 'valid concurrent history with unknown and failed outcomes',
    why: 'an info append that was seen committed; an info append never seen; a failed append never seen; reads of failed and info transactions are ignored',
    consistency: 'strict-serializable',
    history: [
      ok(1, 0, 10, rd('x', null)),
      info(2, 1, ap('x', 1), rd('x', [42])),
      fail(3, 2, 3, ap('x', 2), rd('y', [7, 7])),
      ok(3, 11, 12, rd('x', [1])),
      info(4, 13, ap('x', 3))
    ],
    expect: []
  },
  {
    name: 'an indeterminate transaction may take effect after its client gave up',
    why: 'T0 timed out at 1 and its append was only seen at 4, after T1 read nothing at 2; an info transaction never precedes anything in real time',
    consistency: 'strict-serializable',
    history: [
      { process: 1, invoke: 0, complete: 1, outcome: 'info', ops: [ap('x', 1)] },
      ok(2, 2, 3, rd('x', [])),
      ok(2, 4, 5, rd('x', [1]))
    ],
    expect: []
  },
  {
    name: 'G0',
    why: 'T0 and T1 both append to x and y; x says T0 first, y says T1 first',
    consistency: 'strict-serializable',
    history: [
      ok(1, 0, 10, ap('x', 1), ap('y', 2)),
      ok(2, 0, 10, ap('x', 2), ap('y', 1)),
      ok(3, 20, 21, rd('x', [1, 2]), rd('y', [1, 2]))
    ],
    expect: ['G0']
  },
  {
    name: 'G1a',
    why: 'T1 read the append of T0, which failed',
    consistency: 'strict-serializable',
    history: [
      fail(1, 0, 1, ap('x', 1)),
      ok(2, 2, 3, rd('x', [1]))
    ],
    expect: ['G1a']
  },
  {
    name: 'G1b',
    why: 'T0 appended 1 then 2 to x; T1, concurrent, read [1]: the middle of T0',
    consistency: 'strict-serializable',
    history: [
      ok(1, 0, 10, ap('x', 1), ap('x', 2)),
      ok(2, 5, 15, rd('x', [1])),
      ok(3, 20, 21, rd('x', [1, 2]))
    ],
    expect: ['G1b']
  },
  {
    name: 'G1b, the final append never read',
    why: 'as G1b, but nobody read 2: it still comes after what was seen',
    consistency: 'strict-serializable',
    history: [
      ok(1, 0, 10, ap('x', 1), ap('x', 2)),
      ok(2, 5, 15, rd('x', [1]))
    ],
    expect: ['G1b']
  },
  {
    name: 'G1c',
    why: 'T0 read T1\'s append to y and T1 read T0\'s append to x',
    consistency: 'strict-serializable',
    history: [
      ok(1, 0, 10, ap('x', 1), rd('y', [1])),
      ok(2, 0, 10, ap('y', 1), rd('x', [1]))
    ],
    expect: ['G1c']
  },
  {
    name: 'G-single, read skew',
    why: 'T1 saw T0\'s append to y but not its append to x',
    consistency: 'strict-serializable',
    history: [
      ok(1, 0, 10, ap('x', 1), ap('y', 1)),
      ok(2, 0, 10, rd('x', []), rd('y', [1])),
      ok(3, 20, 21, rd('x', [1]))
    ],
    expect: ['G-single']
  },
  {
    name: 'G-single, read skew against an append nobody read',
    why: 'as above, without the later read of x: T0\'s append to x committed, so it follows T1\'s empty read',
    consistency: 'strict-serializable',
    history: [
      ok(1, 0, 10, ap('x', 1), ap('y', 1)),
      ok(2, 0, 10, rd('x', []), rd('y', [1]))
    ],
    expect: ['G-single']
  },
  {
    name: 'G-single, lost update',
    why: 'T0 and T1 both read x empty and appended; T1\'s append came after T0\'s, which it did not see',
    consistency: 'strict-serializable',
    history: [
      ok(1, 0, 10, rd('x', []), ap('x', 1)),
      ok(2, 0, 10, rd('x', []), ap('x', 2)),
      ok(3, 20, 21, rd('x', [1, 2]))
    ],
    expect: ['G-single']
  },
  {
    name: 'G2, write skew',
    why: 'T0 read y empty and appended to x; T1 read x empty and appended to y',
    consistency: 'strict-serializable',
    history: [
      ok(1, 0, 10, rd('y', []), ap('x', 1)),
      ok(2, 0, 10, rd('x', []), ap('y', 1)),
      ok(3, 20, 21, rd('x', [1]), rd('y', [1]))
    ],
    expect: ['G2']
  },
  {
    name: 'internal',
    why: 'T0 appended 1 to x, then read x without it',
    consistency: 'strict-serializable',
    history: [
      ok(1, 0, 1, ap('x', 1), rd('x', []))
    ],
    expect: ['internal']
  },
  {
    name: 'internal, a read that changes without a write',
    why: 'T1 read x twice with no append of its own between, and saw two lists',
    consistency: 'strict-serializable',
    history: [
      ok(1, 0, 10, ap('x', 1)),
      ok(2, 0, 10, rd('x', []), rd('x', [1]))
    ],
    expect: ['internal']
  },
  {
    name: 'duplicate-elements',
    why: 'T1 read 1 twice in x, appended once',
    consistency: 'strict-serializable',
    history: [
      ok(1, 0, 1, ap('x', 1)),
      ok(2, 2, 3, rd('x', [1, 1]))
    ],
    expect: ['duplicate-elements']
  },
  {
    name: 'incompatible-order',
    why: 'T2 read x as [1, 2] and T3 as [2, 1]',
    consistency: 'strict-serializable',
    history: [
      ok(1, 0, 10, ap('x', 1)),
      ok(2, 0, 10, ap('x', 2)),
      ok(3, 20, 21, rd('x', [1, 2])),
      ok(4, 20, 21, rd('x', [2, 1]))
    ],
    expect: ['incompatible-order']
  },
  {
    name: 'unknown-value',
    why: 'T0 read 7, which nobody appended',
    consistency: 'strict-serializable',
    history: [
      ok(1, 0, 1, rd('x', [7]))
    ],
    expect: ['unknown-value']
  },
  {
    name: 'stale read, serializable',
    why: 'T1 began after T0 was acknowledged and did not see its append: fine for serializability (T1 goes first)',
    consistency: 'serializable',
    history: [
      ok(1, 0, 1, ap('x', 1)),
      ok(2, 2, 3, rd('x', [])),
      ok(3, 4, 5, rd('x', [1]))
    ],
    expect: []
  },
  {
    name: 'realtime, stale read',
    why: 'the same history under strict serializability: T0 -rt-> T1 -rw-> T0',
    consistency: 'strict-serializable',
    history: [
      ok(1, 0, 1, ap('x', 1)),
      ok(2, 2, 3, rd('x', [])),
      ok(3, 4, 5, rd('x', [1]))
    ],
    expect: ['realtime']
  },
  {
    name: 'realtime, an acknowledged append lost',
    why: 'T0\'s acknowledged append of 1 never shows up: the later T1 appended 2 and T2 read only [2] (a speculative write rolled back after a failover looks like this)',
    consistency: 'strict-serializable',
    history: [
      ok(1, 0, 1, ap('x', 1)),
      ok(2, 2, 3, ap('x', 2)),
      ok(3, 4, 5, rd('x', [2]))
    ],
    expect: ['realtime']
  },
  {
    name: 'realtime edges on, serializable model',
    why: 'a real-time cycle is reported when asked for, but serializability allows it',
    consistency: 'serializable',
    history: [
      ok(1, 0, 1, ap('x', 1)),
      ok(2, 2, 3, rd('x', []))
    ],
    expect: ['realtime'],
    valid: true
  },
  {
    name: 'process-order',
    why: 'process 1 appended to x, then read x without it; the transactions overlap nobody else, but real time is not checked',
    consistency: 'strong-session-serializable',
    history: [
      ok(1, 0, 1, ap('x', 1)),
      ok(1, 2, 3, rd('x', [])),
      ok(2, 4, 5, rd('x', [1]))
    ],
    expect: ['process-order']
  }
]
