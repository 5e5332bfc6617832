/**
 * Times the list-append checker on generated histories: valid ones of
 * several shapes, then the same with an anomaly planted. Run with
 * `node dist/test/check/list-append-timing.js [txns] [seed]`; prints a
 * markdown table (medians of 3 passes).
 * @internal
 */
import { performance } from 'node:perf_hooks'
import { checkListAppend } from '../../cluster/check/list-append.js'
import type { ListAppendTxn } from '../../cluster/check/list-append.js'
import { Random } from '../util/random.js'
import { generateHistory, mutations } from './list-append-gen.js'
import type { GenOptions } from './list-append-gen.js'

const txns = Number(process.argv[2] ?? 10_000)
const seed = Number(process.argv[3] ?? 1)

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

function time (h: ListAppendTxn[]): { ms: number, cpu: number, first: number, types: string, edges: number, elements: number } {
  const runs: number[] = []
  const cpus: number[] = []
  let types = ''
  let edges = 0
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now()
    const c0 = process.cpuUsage()
    const res = checkListAppend(h, { consistency: 'strict-serializable' })
    const c = process.cpuUsage(c0)
    runs.push(performance.now() - t0)
    cpus.push((c.user + c.system) / 1000)
    types = res.anomalyTypes.join(' ') || 'none'
    const e = res.stats.edges
    edges = e.ww + e.wr + e.rw + e.rt + e.process
  }
  const elements = h.reduce((n, t) => n + t.ops.reduce((m, op) => m + (op[0] === 'r' && op[2] !== null ? op[2].length : 0), 0), 0)
  return { ms: median(runs), cpu: median(cpus), first: runs[0]!, types, edges, elements }
}

const shapes: Array<[string, Partial<GenOptions>]> = [
  ['10 processes, 20 keys, 64 appends/key', { processes: 10, keys: 20, maxAppendsPerKey: 64 }],
  ['30 processes, 5 keys, 256 appends/key', { processes: 30, keys: 5, maxAppendsPerKey: 256 }],
  ['10 processes, 5 keys, no key rotation', { processes: 10, keys: 5, maxAppendsPerKey: Infinity }]
]
// CPU time is what the checker costs; wall time also counts other work on
// a shared machine. The first pass includes compiling the code.
console.log(`| history (${txns} transactions) | anomaly planted | found | read elements | edges | first pass ms | median ms | median CPU ms |`)
console.log('|---|---|---|---:|---:|---:|---:|---:|')
for (const [name, shape] of shapes) {
  const h = generateHistory(new Random(seed), { txns, ...shape })
  const rows: Array<[string, ListAppendTxn[]]> = [['none', h]]
  for (const m of ['readSkew', 'reorderRealtime', 'loseAcknowledgedAppend', 'swapTail']) {
    const mutated = mutations[m]!(h, new Random(seed))
    if (mutated !== null) rows.push([m, mutated.history])
  }
  for (const [planted, hist] of rows) {
    const r = time(hist)
    console.log(`| ${name} | ${planted} | ${r.types} | ${r.elements} | ${r.edges} | ${r.first.toFixed(0)} | ${r.ms.toFixed(0)} | ${r.cpu.toFixed(0)} |`)
  }
}
