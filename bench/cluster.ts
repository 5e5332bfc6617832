/**
 * The Mako result, reproduced: speculative 2PC against classic 2PC over
 * Paxos, on 2 shards x 3 replicas run as `mako serve` processes on
 * loopback, with a delay injected on the links between replicas of a shard
 * (standing for datacenters apart), a cross-shard ratio, and contention
 * from Zipf-skewed key choice. Workloads: bank transfers, and a New-Order /
 * Payment subset of TPC-C (four warehouses per shard; a remote supply
 * warehouse or a remote customer makes a transaction cross-shard).
 *
 * Both commit modes run on the same cluster in the same run (the commit
 * mode is an option of each commit). Workers are closed loops: a worker
 * starts its next transaction when the last one is acknowledged
 * (speculatively for speculative commit; classic commit acknowledges after
 * replication, which is what it is). Throughput cells run 16 workers with
 * no pause; the light-load cells the latency bars are read from run 2
 * workers that think 10-30 ms after each commit (`--think-ms`, 20 by
 * default; 0 makes them closed loops too). A transaction that aborts on a
 * conflict is retried with backoff and counts once in the abort rate for
 * each failed attempt. Latencies are the commit's, from the call to
 * commit (the transaction's reads done) to its acknowledgement and to its
 * finality (the client's watermarks cover it): Mako runs a transaction's
 * reads in the leaders' own process, where our interactive client pays a
 * network round trip a read, a cost of the workload and the same in both
 * modes. An end-to-end figure (from the first attempt, reads and retries
 * included) is reported beside them.
 *
 * Run: `npm run bench:cluster [-- --quick] [--seconds S] [--workers N]
 * [--delays 0,10,50,100] [--cross 0,10,50,100] [--workloads bank,tpcc]
 * [--light-workers N] [--think-ms MS]`.
 * Writes bench/results/cluster.json and bench/results/cluster.svg.
 *
 * @module
 * @internal
 */

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { MakoError } from '../lib/errors.js'
import { connectClient } from '../cluster/node/connect.js'
import { withDelay } from '../cluster/transport/delay.js'
import type { NodeId } from '../cluster/transport/ids.js'
import { WsTransport } from '../cluster/transport/ws-transport.js'
import type { ClusterConnection } from '../cluster/node/connect.js'
import { defaultNodeTickMs } from '../cluster/node/node.js'
import type { ClusterClient, ClusterTransaction } from '../cluster/txn/client.js'
import { ServeCluster } from '../test/txn/serve-cluster.js'
import { formatRate, formatRatio, markdownTable } from './lib/markdown.js'
import { Prng } from './lib/prng.js'
import { machineInfo, resultsDir, writeResults } from './lib/results.js'
import { lineCharts } from './lib/svg.js'
import type { Panel, Series } from './lib/svg.js'
import { Zipf } from './lib/zipf.js'

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    seconds: { type: 'string' },
    warmup: { type: 'string' },
    workers: { type: 'string' },
    delays: { type: 'string' },
    cross: { type: 'string' },
    workloads: { type: 'string' },
    zipf: { type: 'string' },
    modes: { type: 'string' },
    'light-workers': { type: 'string' },
    'think-ms': { type: 'string' },
    'tick-ms': { type: 'string' },
    seed: { type: 'string' }
  }
})
const list = (s: string | undefined, dflt: number[]): number[] => s === undefined ? dflt : s.split(',').map(Number)
const quick = opts.quick ?? false
const SECONDS = Number(opts.seconds ?? (quick ? 2 : 5))
const WARMUP = Number(opts.warmup ?? (quick ? 0.5 : 1))
const WORKERS = Number(opts.workers ?? 16)
/** Workers of the light-load cells the latency bars are read from. */
const LIGHT_WORKERS = Number(opts['light-workers'] ?? 2)
/**
 * Think time of a light-load worker after each commit, in ms (jittered 0.5x
 * to 1.5x), as TPC-C's terminals think between transactions. Without it two
 * closed-loop workers offer 200-1,400 transactions/s, which with four
 * processes on two cores measured queueing for the CPU, not latency: TPC-C
 * final p50 was the round trip + 4-13 ms at 100 ms, and + 0-2 ms with 20 ms
 * of think time (about 80 transactions/s offered).
 */
const THINK_MS = Number(opts['think-ms'] ?? 20)
const LIGHT_LABEL = `${LIGHT_WORKERS} workers, ${THINK_MS} ms think time`
const DELAYS = list(opts.delays, quick ? [0, 50] : [0, 10, 50, 100])
const CROSS = list(opts.cross, quick ? [10, 100] : [0, 10, 50, 100])
const WORKLOADS = (opts.workloads ?? 'bank,tpcc').split(',') as WorkloadName[]
const SKEW = Number(opts.zipf ?? 0.99)
const SEED = Number(opts.seed ?? 7)
type Mode = 'speculative' | 'classic'
const MODES = (opts.modes ?? 'speculative,classic').split(',') as Mode[]
type WorkloadName = 'bank' | 'tpcc'

const enc = new TextEncoder()
const dec = new TextDecoder()
const ids = ['n1', 'n2', 'n3']
/** Shard 0 holds keys below `p1` (partition 0), shard 1 the rest (partition 1). */
const part = (p: number): string => `p${p}`

// ---------------------------------------------------------------- workloads

/** A transaction's body and whether it spans both shards. */
type Body = (tx: ClusterTransaction) => Promise<void>

interface Workload {
  name: WorkloadName
  /** Puts of the initial data, partition by partition. */
  load: () => Array<[string, string]>
  /** The next transaction for a worker; `cross` is the percent of cross-shard ones. */
  next: (prng: Prng, cross: number) => Body
  /** Checks the data after a run; returns a problem or undefined. */
  check?: (client: ClusterClient) => Promise<string | undefined>
}

const num = (v: Uint8Array | null): number => v === null ? NaN : Number(dec.decode(v))
const get = async (tx: ClusterTransaction, k: string): Promise<Uint8Array | null> => await tx.get(enc.encode(k))
const put = (tx: ClusterTransaction, k: string, v: string): void => { tx.put(enc.encode(k), enc.encode(v)) }
const other = (p: number): number => 1 - p

/** Bank: accounts in both partitions, a transfer moves money between two. */
function bank (): Workload {
  const ACCOUNTS = 1000
  const BALANCE = 1000
  const key = (p: number, i: number): string => `${part(p)}/acct/${String(i).padStart(5, '0')}`
  const zipfs = new Map<Prng, Zipf>()
  const zipf = (prng: Prng): Zipf => {
    let z = zipfs.get(prng)
    if (z === undefined) zipfs.set(prng, z = new Zipf(ACCOUNTS, SKEW, prng))
    return z
  }
  return {
    name: 'bank',
    load: () => [0, 1].flatMap((p) => Array.from({ length: ACCOUNTS }, (_, i): [string, string] => [key(p, i), String(BALANCE)])),
    next: (prng, cross) => {
      const z = zipf(prng)
      const pa = prng.below(2)
      const pb = prng.below(100) < cross ? other(pa) : pa
      const a = z.next()
      let b = z.next()
      while (pb === pa && b === a) b = z.next()
      const want = 1 + prng.below(10)
      return async (tx) => {
        const [va, vb] = (await Promise.all([get(tx, key(pa, a)), get(tx, key(pb, b))])).map(num) as [number, number]
        const amount = Math.min(want, va)
        put(tx, key(pa, a), String(va - amount))
        put(tx, key(pb, b), String(vb + amount))
      }
    },
    check: async (client) => {
      // One consistent cut at the client's watermark: the total must be what was loaded.
      const cut = client.marks.cut()
      let sum = 0
      let count = 0
      for (const p of [0, 1]) {
        for await (const [, v] of client.rangeAtCut({ gte: enc.encode(`${part(p)}/acct/`), lt: enc.encode(`${part(p)}/acct0`) }, cut)) {
          const n = num(v)
          if (!(n >= 0)) return `a negative or unreadable balance: ${dec.decode(v)}`
          sum += n
          count++
        }
      }
      return count === 2 * ACCOUNTS && sum === 2 * ACCOUNTS * BALANCE ? undefined : `${count} accounts with total ${sum}, expected ${2 * ACCOUNTS} with ${2 * ACCOUNTS * BALANCE}`
    }
  }
}

/**
 * TPC-C's New-Order and Payment, half and half, scaled down: four
 * warehouses per partition, 10 districts each, 300 customers a district,
 * 1000 items (item and stock rows in each partition). The warehouse and
 * district rows are TPC-C's own hot spots; items and customers are chosen
 * with the Zipf skew. Reads of a transaction go out together, as a
 * TPC-C client would send them.
 */
function tpcc (): Workload {
  const WAREHOUSES = 4
  const DISTRICTS = 10
  const CUSTOMERS = 300
  const ITEMS = 1000
  const pad = (n: number, w: number): string => String(n).padStart(w, '0')
  const P = (p: number, w: number): string => `${part(p)}/${w}`
  const W = (p: number, w: number): string => `${P(p, w)}/w`
  const D = (p: number, w: number, d: number): string => `${P(p, w)}/d/${pad(d, 2)}`
  const C = (p: number, w: number, d: number, c: number): string => `${P(p, w)}/c/${pad(d, 2)}/${pad(c, 4)}`
  const I = (p: number, i: number): string => `${part(p)}/i/${pad(i, 5)}`
  const S = (p: number, w: number, i: number): string => `${P(p, w)}/s/${pad(i, 5)}`
  const zipfs = new Map<Prng, { c: Zipf, i: Zipf }>()
  const zipf = (prng: Prng): { c: Zipf, i: Zipf } => {
    let z = zipfs.get(prng)
    if (z === undefined) zipfs.set(prng, z = { c: new Zipf(CUSTOMERS, SKEW, prng), i: new Zipf(ITEMS, SKEW, prng) })
    return z
  }
  let history = 0
  const fields = (v: Uint8Array | null): number[] => v === null ? [] : dec.decode(v).split(',').map(Number)
  return {
    name: 'tpcc',
    load: () => {
      const out: Array<[string, string]> = []
      for (const p of [0, 1]) {
        for (let i = 0; i < ITEMS; i++) out.push([I(p, i), String(1 + (i % 100))]) // price
        for (let w = 0; w < WAREHOUSES; w++) {
          out.push([W(p, w), '0,8']) // ytd, tax %
          for (let d = 0; d < DISTRICTS; d++) {
            out.push([D(p, w, d), '1,0,9']) // next order id, ytd, tax %
            for (let c = 0; c < CUSTOMERS; c++) out.push([C(p, w, d, c), '0,0']) // balance, payments
          }
          for (let i = 0; i < ITEMS; i++) out.push([S(p, w, i), '100,0,0,0']) // quantity, ytd, orders, remote orders
        }
      }
      return out
    },
    next: (prng, cross) => {
      const z = zipf(prng)
      const p = prng.below(2)
      const w = prng.below(WAREHOUSES)
      const d = prng.below(DISTRICTS)
      const remote = prng.below(100) < cross
      if (prng.below(2) === 0) {
        // New-Order: 5-15 distinct items; a cross-shard one takes one item
        // from a warehouse of the other partition.
        const c = z.c.next()
        const n = 5 + prng.below(11)
        const items = new Set<number>()
        while (items.size < n) items.add(z.i.next())
        const rw = prng.below(WAREHOUSES)
        const lines = [...items].map((i, k) => ({ i, sp: remote && k === 0 ? other(p) : p, sw: remote && k === 0 ? rw : w, qty: 1 + prng.below(10) }))
        return async (tx) => {
          const [wv, dv, , ...rest] = await Promise.all([
            get(tx, W(p, w)), get(tx, D(p, w, d)), get(tx, C(p, w, d, c)),
            ...lines.flatMap((l) => [get(tx, I(p, l.i)), get(tx, S(l.sp, l.sw, l.i))])
          ])
          const [, wtax = 0] = fields(wv ?? null)
          const [next = 1, dytd = 0, dtax = 0] = fields(dv ?? null)
          put(tx, D(p, w, d), `${next + 1},${dytd},${dtax}`)
          let total = 0
          for (const [k, line] of lines.entries()) {
            const [price = 0] = fields(rest[2 * k] ?? null)
            const [q = 0, ytd = 0, orders = 0, remotes = 0] = fields(rest[2 * k + 1] ?? null)
            const left = q - line.qty >= 10 ? q - line.qty : q - line.qty + 91
            const far = line.sp !== p || line.sw !== w ? 1 : 0
            put(tx, S(line.sp, line.sw, line.i), `${left},${ytd + line.qty},${orders + 1},${remotes + far}`)
            put(tx, `${P(p, w)}/ol/${pad(d, 2)}/${pad(next, 8)}/${pad(k, 2)}`, `${line.i},${line.sp}.${line.sw},${line.qty},${price * line.qty}`)
            total += price * line.qty
          }
          put(tx, `${P(p, w)}/o/${pad(d, 2)}/${pad(next, 8)}`, `${c},${lines.length},${Math.round(total * (1 + (wtax + dtax) / 100))}`)
          put(tx, `${P(p, w)}/no/${pad(d, 2)}/${pad(next, 8)}`, '')
        }
      }
      // Payment: the warehouse's and district's year-to-date, a customer's
      // balance (of a warehouse in the other partition for a cross-shard
      // one), a history row.
      const cp = remote ? other(p) : p
      const cw = remote ? prng.below(WAREHOUSES) : w
      const c = z.c.next()
      const amount = 1 + prng.below(5000)
      const h = `${P(p, w)}/h/${(++history).toString(36)}.${prng.nextUint32().toString(36)}`
      return async (tx) => {
        const [wv, dv, cv] = await Promise.all([get(tx, W(p, w)), get(tx, D(p, w, d)), get(tx, C(cp, cw, d, c))])
        const [ytd = 0, tax = 0] = fields(wv ?? null)
        const [next = 1, dytd = 0, dtax = 0] = fields(dv ?? null)
        const [balance = 0, payments = 0] = fields(cv ?? null)
        put(tx, W(p, w), `${ytd + amount},${tax}`)
        put(tx, D(p, w, d), `${next},${dytd + amount},${dtax}`)
        put(tx, C(cp, cw, d, c), `${balance - amount},${payments + 1}`)
        put(tx, h, `${cp}.${cw},${d},${c},${amount}`)
      }
    }
  }
}

// ---------------------------------------------------------------- measuring

interface Cell {
  workload: WorkloadName
  mode: Mode
  delayMs: number
  crossPct: number
  /** `throughput`: {@link WORKERS} closed-loop workers; `light`: {@link LIGHT_WORKERS} with {@link THINK_MS} of think time, for latency without queueing. */
  load: 'throughput' | 'light'
  workers: number
  seconds: number
  commits: number
  /** Failed attempts (conflicts, locks, rollbacks), each retried. */
  aborts: number
  tps: number
  abortRate: number
  ackP50: number
  ackP99: number
  finalP50: number
  finalP99: number
  /** Median latency to final end to end: from the transaction's first attempt, its reads and retries after conflicts included. */
  finalP50WithRetries: number
  /** Commits acknowledged (speculatively) that a failover rolled back. */
  rolledBack: number
  /** Errors by code that were not conflicts. */
  errors: Record<string, number>
}

const pct = (sorted: number[], p: number): number => sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

async function runCell (client: ClusterClient, wl: Workload, mode: Mode, delayMs: number, crossPct: number, load: Cell['load'] = 'throughput', warmup = WARMUP, seconds = SECONDS): Promise<Cell> {
  const workers = load === 'throughput' ? WORKERS : LIGHT_WORKERS
  const ack: number[] = []
  const fin: number[] = []
  const finAll: number[] = []
  const errors: Record<string, number> = {}
  const finals = new Set<Promise<void>>()
  let commits = 0
  let aborts = 0
  let rolledBack = 0
  let measuring = false
  let stop = false
  const worker = async (w: number): Promise<void> => {
    const prng = new Prng(SEED * 7919 + w * 104_729 + delayMs * 31 + crossPct)
    while (!stop) {
      const body = wl.next(prng, crossPct)
      const t0 = performance.now()
      for (let attempt = 0; !stop; attempt++) {
        const tx = client.begin()
        try {
          await body(tx)
          const t1 = performance.now()
          const vec = await tx.commit({ durability: 'speculative', commit: mode })
          if (measuring) {
            commits++
            ack.push(performance.now() - t1)
            const f = client.waitFinal(vec).then(() => {
              const at = performance.now()
              fin.push(at - t1)
              finAll.push(at - t0)
            }, (err: unknown) => {
              const code = err instanceof MakoError ? err.code : 'error'
              if (code === 'MAKO_TRANSACTION_ROLLED_BACK') rolledBack++
              else errors[`final ${code}`] = (errors[`final ${code}`] ?? 0) + 1
            })
            finals.add(f)
            void f.finally(() => finals.delete(f))
          }
          if (load === 'light' && THINK_MS > 0) await sleep(THINK_MS * (0.5 + prng.below(1000) / 1000))
          break
        } catch (err) {
          const code = err instanceof MakoError ? err.code : 'error'
          if (!(err instanceof MakoError) || err.transient !== true) {
            errors[code] = (errors[code] ?? 0) + 1
            await sleep(10)
            break
          }
          if (measuring) aborts++
          await sleep(Math.min(2 ** attempt, 50) * (0.5 + prng.below(1000) / 1000))
        }
      }
    }
  }
  const running = Array.from({ length: workers }, async (_, w) => { await worker(w) })
  await sleep(warmup * 1000)
  measuring = true
  const started = performance.now()
  await sleep(seconds * 1000)
  measuring = false
  const elapsed = (performance.now() - started) / 1000
  stop = true
  await Promise.all(running)
  // Finality of what was measured: bounded by the client's final timeout.
  await Promise.all([...finals])
  ack.sort((a, b) => a - b)
  fin.sort((a, b) => a - b)
  finAll.sort((a, b) => a - b)
  return {
    workload: wl.name,
    mode,
    delayMs,
    crossPct,
    load,
    workers,
    seconds: elapsed,
    commits,
    aborts,
    tps: commits / elapsed,
    abortRate: commits + aborts === 0 ? 0 : aborts / (commits + aborts),
    ackP50: pct(ack, 0.5),
    ackP99: pct(ack, 0.99),
    finalP50: pct(fin, 0.5),
    finalP99: pct(fin, 0.99),
    finalP50WithRetries: pct(finAll, 0.5),
    rolledBack,
    errors
  }
}

async function load (client: ClusterClient, entries: Array<[string, string]>): Promise<void> {
  const CHUNK = 200
  const chunks: Array<Array<[string, string]>> = []
  // Each chunk within one partition: a single-shard transaction.
  for (const p of [0, 1]) {
    const mine = entries.filter(([k]) => k.startsWith(`${part(p)}/`))
    for (let i = 0; i < mine.length; i += CHUNK) chunks.push(mine.slice(i, i + CHUNK))
  }
  let next = 0
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < chunks.length) {
      const chunk = chunks[next++]!
      await client.transaction(async (tx) => { for (const [k, v] of chunk) put(tx, k, v) }, { durability: 'final' })
    }
  }))
}

/**
 * The round trip the injected delay gives in practice, as a replica sees
 * it: two WebSocket transports in this process, each wrapped to delay what
 * it sends by `delayMs` (as the nodes wrap their Paxos links), a small
 * request and its reply, median of sequential pings. Above 2 x delay by
 * the transport's own time and timers firing late.
 */
async function probeRoundTrip (delayMs: number, pings = 40): Promise<number> {
  const secret = 'bench-cluster-probe-secret'
  const a = new WsTransport({ nodeId: 'probe-a' as NodeId, clusterId: 'probe', secret })
  const b = new WsTransport({ nodeId: 'probe-b' as NodeId, clusterId: 'probe', secret })
  try {
    const url = await b.listen({ host: '127.0.0.1', port: 0 })
    const da = withDelay(a, () => delayMs)
    const db = withDelay(b, () => delayMs)
    db.onRequest(async (payload) => payload)
    a.connect('probe-b' as NodeId, url)
    await a.waitForPeer('probe-b' as NodeId, { timeout: 10_000 })
    const times: number[] = []
    for (let i = 0; i < pings; i++) {
      const t0 = performance.now()
      await da.request('probe-b' as NodeId, { i }, { timeout: 10_000 })
      times.push(performance.now() - t0)
    }
    times.sort((x, y) => x - y)
    return pct(times, 0.5)
  } finally {
    await Promise.all([a.close(), b.close()])
  }
}

interface DelayRun { delayMs: number, rttMs: number, cells: Cell[], leaderChanges: number, checks: Record<string, string> }

async function runDelay (delayMs: number, workloads: Workload[]): Promise<DelayRun> {
  const dir = mkdtempSync(join(tmpdir(), 'mako-bench-cluster-'))
  const delays: Record<string, Record<string, number>> = {}
  for (const a of ids) delays[a] = Object.fromEntries(ids.filter((b) => b !== a).map((b) => [b, delayMs]))
  const cluster = await ServeCluster.create({
    dir,
    ids,
    config: {
      shards: [{ end: part(1), replicas: ids }, { start: part(1), replicas: ids }],
      markMs: 1,
      // Paxos ticks scaled to the link, as a deployment across datacenters
      // would set them: heartbeats and retries no more often than a one-way
      // trip, elections after ten of them. (Not on the commit path: slots
      // are proposed at once and chosen on the acks.)
      tickMs: opts['tick-ms'] !== undefined ? Number(opts['tick-ms']) : Math.max(defaultNodeTickMs, delayMs),
      ...(delayMs > 0 ? { delays } : {})
    },
    startTimeoutMs: 30_000
  })
  let conn: ClusterConnection | undefined
  try {
    await Promise.all(ids.map(async (id) => { await cluster.start(id) }))
    conn = await connectClient({ config: cluster.config, timeout: 20_000, finalTimeout: 30_000, connectTimeout: 10_000 })
    const client = conn.client
    for (const wl of workloads) await load(client, wl.load())
    // Warm-up, not measured: JIT, connections and the shards' first epochs.
    for (const wl of workloads) await runCell(client, wl, 'speculative', delayMs, 50, 'throughput', WARMUP + 2, 0)
    const leadersAtStart = cluster.leaders.length
    const cells: Cell[] = []
    const checks: Record<string, string> = {}
    for (const wl of workloads) {
      for (const cross of CROSS) {
        for (const mode of MODES) {
          const cell = await runCell(client, wl, mode, delayMs, cross)
          cells.push(cell)
          process.stderr.write(`  ${wl.name} ${mode} delay ${delayMs} ms cross ${cross}%: ${cell.tps.toFixed(0)} tps, aborts ${(cell.abortRate * 100).toFixed(1)}%, ack p50 ${cell.ackP50.toFixed(1)} ms, final p50 ${cell.finalP50.toFixed(1)} ms\n`)
        }
      }
      // Latency without queueing: a few workers, every cross ratio.
      for (const cross of CROSS) {
        const cell = await runCell(client, wl, 'speculative', delayMs, cross, 'light')
        cells.push(cell)
        process.stderr.write(`  ${wl.name} speculative, ${LIGHT_LABEL}, delay ${delayMs} ms cross ${cross}%: ack p50 ${cell.ackP50.toFixed(1)} ms, final p50 ${cell.finalP50.toFixed(1)} ms\n`)
      }
      if (wl.check !== undefined) {
        // Let the watermarks cover the last writes, then check one cut.
        await sleep(4 * delayMs + 50)
        checks[wl.name] = (await wl.check(client)) ?? 'ok'
      }
    }
    return { delayMs, rttMs: await probeRoundTrip(delayMs), cells, leaderChanges: cluster.leaders.length - leadersAtStart, checks }
  } catch (err) {
    process.stderr.write(`${cluster.log.slice(-20).join('\n')}\n`)
    throw err
  } finally {
    await conn?.close()
    await cluster.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------- report

const ms = (v: number): string => Number.isFinite(v) ? v < 10 ? v.toFixed(1) : v.toFixed(0) : '-'

async function main (): Promise<void> {
  const started = Date.now()
  const makers: Record<WorkloadName, () => Workload> = { bank, tpcc }
  const workloads = WORKLOADS.map((n) => {
    const make = makers[n]
    if (make === undefined) throw new Error(`unknown workload ${n} (bank, tpcc)`)
    return make()
  })
  console.log(`bench/cluster: 2 shards x 3 replicas (mako serve processes), ${WORKERS} closed-loop workers, Zipf s=${SKEW}, ${SECONDS} s a cell after ${WARMUP} s warm-up`)
  const runs: DelayRun[] = []
  for (const d of DELAYS) {
    process.stderr.write(`delay ${d} ms on replication links\n`)
    runs.push(await runDelay(d, workloads))
  }
  const cells = runs.flatMap((r) => r.cells)
  const find = (wl: WorkloadName, mode: Mode, d: number, x: number, load: Cell['load'] = 'throughput'): Cell | undefined =>
    cells.find((c) => c.workload === wl && c.mode === mode && c.delayMs === d && c.crossPct === x && c.load === load)
  const heavy = cells.filter((c) => c.load === 'throughput')
  const light = cells.filter((c) => c.load === 'light')

  const header = ['workload', 'delay', 'cross', 'mode', 'commits/s', 'abort rate', 'ack p50', 'ack p99', 'final p50', 'final p99', 'final p50 end to end', 'spec/classic']
  const align: Array<'left' | 'right'> = ['left', 'right', 'right', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right']
  const row = (c: Cell): string[] => {
    const classic = find(c.workload, 'classic', c.delayMs, c.crossPct)
    return [c.workload, `${c.delayMs} ms`, `${c.crossPct}%`, c.mode, formatRate(c.tps), `${(c.abortRate * 100).toFixed(1)}%`,
      ms(c.ackP50), ms(c.ackP99), ms(c.finalP50), ms(c.finalP99), ms(c.finalP50WithRetries),
      c.mode === 'speculative' && c.load === 'throughput' && classic !== undefined && classic.tps > 0 ? formatRatio(c.tps / classic.tps) : '']
  }
  console.log(`\nThroughput: ${WORKERS} workers\n`)
  console.log(markdownTable(header, heavy.map(row), align))
  console.log(`\nLatency at light load: ${LIGHT_LABEL}, speculative commit\n`)
  console.log(markdownTable(header, light.map(row), align))
  console.log('\nLatencies in ms of the commit, from the call to commit (the reads done) of the attempt that committed: ack = acknowledgement (speculative: after 2PC; classic: after replication); final = covered by the watermarks at the client. "End to end" counts from the start of the first attempt: the client\'s reads over the network and retries after conflicts included.')

  // The bars: throughput from the loaded cells, latency from the light ones
  // (and the loaded figures shown beside them).
  const bars: Array<{ bar: string, value: string, met: boolean }> = []
  const at50 = heavy.filter((c) => c.mode === 'speculative' && c.delayMs === 50).map((c) => ({ c, classic: find(c.workload, 'classic', 50, c.crossPct) }))
  if (at50.length > 0) {
    const ratios = at50.map(({ c, classic }) => classic === undefined || classic.tps === 0 ? Infinity : c.tps / classic.tps)
    const worst = Math.min(...ratios)
    bars.push({ bar: 'speculative/classic throughput at 50 ms, Zipf contention, every workload and cross ratio >= 5x', value: `min ${formatRatio(worst)} (max ${formatRatio(Math.max(...ratios))})`, met: worst >= 5 })
  }
  for (const d of DELAYS) {
    const here = light.filter((c) => c.delayMs === d)
    const loaded = heavy.filter((c) => c.delayMs === d && c.mode === 'speculative')
    const worst = (cs: Cell[], f: (c: Cell) => number): number => cs.length === 0 ? NaN : Math.max(...cs.map(f))
    const finalWorst = worst(here, (c) => c.finalP50)
    const rtt = runs.find((r) => r.delayMs === d)?.rttMs ?? 2 * d
    bars.push({ bar: `final p50 <= one replication round trip + 5 ms at ${d} ms (${ms(rtt)} + 5 ms)`, value: `max ${ms(finalWorst)} ms (loaded: ${ms(worst(loaded, (c) => c.finalP50))})`, met: finalWorst <= rtt + 5 })
    const ackWorst = worst(here, (c) => c.ackP50)
    bars.push({ bar: `speculative ack p50 < 5 ms at ${d} ms`, value: `max ${ms(ackWorst)} ms (loaded: ${ms(worst(loaded, (c) => c.ackP50))})`, met: ackWorst < 5 })
  }
  console.log()
  console.log(markdownTable(['bar', 'measured', 'met'], bars.map((b) => [b.bar, b.value, b.met ? 'yes' : 'NO']), ['left', 'right', 'left']))
  for (const r of runs) {
    console.log(`delay ${r.delayMs} ms: measured round trip on a delayed link ${ms(r.rttMs)} ms, invariant checks ${JSON.stringify(r.checks)}, leader changes during the run ${r.leaderChanges}, rolled back ${r.cells.reduce((s, c) => s + c.rolledBack, 0)}, other errors ${JSON.stringify(Object.assign({}, ...r.cells.map((c) => c.errors)))}`)
  }

  // The chart: throughput and latency against the injected delay.
  const colors = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd']
  const xs = DELAYS.map((d) => `${d} ms`)
  const panels: Panel[] = []
  for (const wl of workloads) {
    const series: Series[] = []
    CROSS.forEach((x, i) => {
      for (const mode of MODES) {
        series.push({ label: `${mode} ${x}% cross`, color: colors[i % colors.length]!, dashed: mode === 'classic', points: DELAYS.map((d) => find(wl.name, mode, d, x)?.tps ?? null) })
      }
    })
    panels.push({ title: `${wl.name}: committed transactions/s`, xLabel: 'injected one-way delay between replicas', yLabel: 'commits/s (log)', x: xs, logY: true, series })
  }
  for (const wl of workloads) {
    const series: Series[] = []
    CROSS.forEach((x, i) => {
      series.push({ label: `final p50, ${x}% cross`, color: colors[i % colors.length]!, points: DELAYS.map((d) => find(wl.name, 'speculative', d, x, 'light')?.finalP50 ?? null) })
      series.push({ label: `ack p50, ${x}% cross`, color: colors[i % colors.length]!, dashed: true, points: DELAYS.map((d) => find(wl.name, 'speculative', d, x, 'light')?.ackP50 ?? null) })
    })
    panels.push({ title: `${wl.name}: speculative latency, ${LIGHT_LABEL} (ms)`, xLabel: 'injected one-way delay between replicas', yLabel: 'ms', x: xs, series, reference: { label: 'measured round trip + 5 ms', points: DELAYS.map((d) => (runs.find((r) => r.delayMs === d)?.rttMs ?? 2 * d) + 5) } })
  }
  mkdirSync(resultsDir(), { recursive: true })
  const svgPath = join(resultsDir(), 'cluster.svg')
  writeFileSync(svgPath, lineCharts('mako-level: speculative vs classic 2PC, 2 shards x 3 replicas', panels))
  const jsonPath = writeResults('cluster', {
    machine: machineInfo(),
    settings: { workers: WORKERS, lightWorkers: LIGHT_WORKERS, thinkMs: THINK_MS, seconds: SECONDS, warmup: WARMUP, delays: DELAYS, cross: CROSS, zipf: SKEW, seed: SEED, workloads: WORKLOADS },
    cells,
    bars,
    runs: runs.map((r) => ({ delayMs: r.delayMs, rttMs: r.rttMs, checks: r.checks, leaderChanges: r.leaderChanges })),
    elapsedSeconds: (Date.now() - started) / 1000
  })
  console.log(`\nwrote ${jsonPath} and ${svgPath}`)
  if (runs.some((r) => Object.values(r.checks).some((v) => v !== 'ok'))) process.exitCode = 1
}

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})
