/**
 * Text for the list-append checker's reports: keys, values, lists and
 * transactions rendered short enough to read in a test failure, however
 * long the lists in the history grow.
 *
 * @module
 * @internal
 */

import type { ListAppendKey, ListAppendMicroOp, ListAppendTxn, ListAppendValue } from './list-append.js'

/** Most elements of a list printed in full; longer lists keep their head and tail. @internal */
export const maxPrintedElements = 10

/** Most micro-operations of a transaction printed. @internal */
export const maxPrintedOps = 8

/** A key or value: strings quoted (so `"1"` and `1` differ), numbers bare. @internal */
export function fmtAtom (x: ListAppendKey | ListAppendValue): string {
  return typeof x === 'string' ? JSON.stringify(x) : String(x)
}

/** A list, eliding the middle of long ones: `[1, 2, 3, …12 more…, 16, 17]`. @internal */
export function fmtList (list: ReadonlyArray<ListAppendValue> | null): string {
  if (list === null) return 'null'
  if (list.length <= maxPrintedElements) return `[${list.map(fmtAtom).join(', ')}]`
  const head = list.slice(0, 3).map(fmtAtom)
  const tail = list.slice(list.length - 5).map(fmtAtom)
  return `[${head.join(', ')}, …${list.length - 8} more…, ${tail.join(', ')}]`
}

/** One micro-operation: `append "x" 5` or `r "x" [1, 5]`. @internal */
export function fmtOp (op: ListAppendMicroOp): string {
  return op[0] === 'append' ? `append ${fmtAtom(op[1])} ${fmtAtom(op[2])}` : `r ${fmtAtom(op[1])} ${fmtList(op[2])}`
}

/** A transaction's name in reports: its index in the history. @internal */
export function txnName (i: number): string {
  return `T${i}`
}

/** A transaction in full, for the "Let:" part of a report. @internal */
export function fmtTxn (i: number, txn: ListAppendTxn): string {
  const ops = txn.ops.slice(0, maxPrintedOps).map(fmtOp)
  if (txn.ops.length > maxPrintedOps) ops.push(`…${txn.ops.length - maxPrintedOps} more`)
  const when = txn.outcome === 'info' ? `invoked ${txn.invoke}` : `invoked ${txn.invoke}, completed ${txn.complete}`
  return `${txnName(i)} = {process ${fmtAtom(txn.process)}, ${txn.outcome}, ${when}: ${ops.join('; ')}}`
}
