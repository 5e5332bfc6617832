/**
 * A brute-force oracle for small list-append histories: a search for a
 * serial order of the transactions that a plain map of lists accepts. It
 * knows nothing of dependency graphs, so it checks the checker's theory as
 * well as its code. Exponential: for a dozen transactions at most.
 * @internal
 */
import type { ListAppendTxn } from '../../cluster/check/list-append.js'

/** Which orders the serial order must respect. @internal */
export interface OracleOptions {
  /** A transaction acknowledged (`ok`) before another was invoked comes first. */
  realtime: boolean
  /** A process's `ok` transaction comes before the ones it invoked later. */
  process: boolean
}

/**
 * Whether some serial order explains the history: every `ok` transaction
 * placed once, each `info` transaction placed once or never, `fail` ones
 * never; each `ok` read equal to the list at that point (own appends
 * included); `info` reads ignored.
 * @internal
 */
export function serialOrderExists (history: ReadonlyArray<ListAppendTxn>, options: OracleOptions): boolean {
  const n = history.length
  if (n > 30) throw new Error('the oracle is for small histories')
  const order = history.map((t, i) => ({ t, i })).sort((a, b) => a.t.invoke - b.t.invoke || a.i - b.i)
  const preds = new Array<number>(n).fill(0)
  let mustPlace = 0
  for (let b = 0; b < n; b++) {
    const tb = history[b]!
    if (tb.outcome === 'ok') mustPlace |= 1 << b
    for (let a = 0; a < n; a++) {
      const ta = history[a]!
      if (a === b || ta.outcome !== 'ok' || tb.outcome === 'fail') continue
      if (options.realtime && ta.complete < tb.invoke) preds[b]! |= 1 << a
      if (options.process && ta.process === tb.process) {
        const pa = order.findIndex((x) => x.i === a)
        const pb = order.findIndex((x) => x.i === b)
        if (pa < pb) preds[b]! |= 1 << a
      }
    }
  }
  const seen = new Set<string>()
  const run = (t: ListAppendTxn, state: Map<string | number, Array<string | number>>): Map<string | number, Array<string | number>> | null => {
    const next = new Map(state)
    for (const op of t.ops) {
      const cur = next.get(op[1]) ?? []
      if (op[0] === 'append') {
        next.set(op[1], [...cur, op[2]])
      } else if (t.outcome === 'ok') {
        const read = op[2] ?? []
        if (read.length !== cur.length || read.some((v, i) => v !== cur[i])) return null
      }
    }
    return next
  }
  const search = (placed: number, state: Map<string | number, Array<string | number>>): boolean => {
    if ((placed & mustPlace) === mustPlace) return true
    const key = `${placed}|${JSON.stringify([...state].sort((a, b) => String(a[0]).localeCompare(String(b[0]))))}`
    if (seen.has(key)) return false
    seen.add(key)
    for (let i = 0; i < n; i++) {
      const t = history[i]!
      if (t.outcome === 'fail' || (placed & (1 << i)) !== 0 || (preds[i]! & ~placed) !== 0) continue
      const next = run(t, state)
      if (next !== null && search(placed | (1 << i), next)) return true
    }
    return false
  }
  return search(0, new Map())
}
