/**
 * Embedded benchmark: MakoLevel against memory-level (buffer and utf8 store
 * encodings), classic-level and a do-nothing "floor" AbstractLevel, on the
 * same data in one process, through the same abstract-level API. A second
 * floor, "floor + fresh views", returns a new Buffer view for every key and
 * value: the ceiling for a store that keeps its bytes in its own memory
 * instead of keeping the caller's Buffer objects (memory-level keeps them,
 * about 100 bytes of header each); where it is below the bar, no such store
 * can meet the bar, and the table says so.
 *
 * Run: `npx tsc -p . && node dist/bench/embedded.js [--quick] [--only <id>,...]
 * [--isolate] [--passes <n>] [--seed <n>] [--no-memory]`. Prints a markdown
 * table and writes `bench/results/embedded.json` (a `--quick`, `--isolate`
 * or `--only` run writes `embedded-<variant>.json` instead, so a smoke run
 * never overwrites the full results). Contender ids: mako, memory-buffer,
 * memory-utf8, classic, floor, floor-views.
 *
 * Data: 16-byte keys and 100-byte values, Buffers with keyEncoding and
 * valueEncoding 'buffer', from a seeded generator (printable ASCII bytes, so
 * the same bytes can be given as strings to memory-level's utf8 store, which
 * cannot take Buffer input). Each row is the median of several passes; the
 * contenders' order rotates from pass to pass so none always runs first.
 *
 * By default all contenders share one process, so abstract-level's code sees
 * several database classes (polymorphic call sites cost everyone a little,
 * the floor store most). `--isolate` runs each pass of each contender in its
 * own process, as an application would run one database class.
 *
 * @module
 * @internal
 */

import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { contenders, makoLevelBroken, makoLevelUnavailable, type BenchDb, type Bytes, type Contender } from './embedded-contenders.js'
import { parseBenchArgs, type BenchArgs } from './lib/cli.js'
import { runJsonChild } from './lib/child.js'
import { formatBytes, formatRate, formatRatio, markdownTable } from './lib/markdown.js'
import { Prng, randomBuffers } from './lib/prng.js'
import { machineInfo, writeResults } from './lib/results.js'
import { collectGarbage, median, rate, time, type Timed } from './lib/stats.js'
import type { MemoryReport } from './memory-child.js'

const DEFAULT_SEED = 0x6d616b6f
/** Entries per range read. */
const RANGE_LIMIT = 100
const KEY_BYTES = 16
const VALUE_BYTES = 100
/** Most repetitions of a row within one sample. */
const MAX_REPEATS = 50
/** Longest a child process (memory, --isolate pass) may run before it is killed, in ms. */
const MAX_CHILD_MS = 10 * 60_000

interface Sizes {
  /** Entries written and read by most rows. */
  entries: number
  /** getMany calls (of `getManyKeys` keys each). */
  getManyCalls: number
  getManyKeys: number
  /** Range reads (of {@link RANGE_LIMIT} entries each). */
  ranges: number
  /** Entries loaded in each memory child. */
  memoryEntries: number
  passes: number
  /** A sample repeats a row until this much time was measured (ms). */
  minSampleMs: number
}

const FULL: Sizes = { entries: 100_000, getManyCalls: 1000, getManyKeys: 100, ranges: 1000, memoryEntries: 1_000_000, passes: 3, minSampleMs: 300 }
const QUICK: Sizes = { entries: 10_000, getManyCalls: 100, getManyKeys: 100, ranges: 100, memoryEntries: 100_000, passes: 1, minSampleMs: 0 }
const WARMUP: Sizes = { ...QUICK, entries: 2_000, getManyCalls: 20, ranges: 20 }

type PutOp = { type: 'put', key: Bytes, value: Bytes }

interface Dataset {
  keys: Bytes[]
  values: Bytes[]
  /** Distinct keys (the generator could in principle repeat one). */
  distinct: number
  batches100: PutOp[][]
  batches1000: PutOp[][]
  /** A random order of all key indexes, for gets. */
  getOrder: Uint32Array
  getManyKeys: Bytes[][]
  rangeStarts: Bytes[]
}

function makeDataset (seed: number, s: Sizes): Dataset {
  const prng = new Prng(seed)
  const keys = randomBuffers(prng, s.entries, KEY_BYTES, 'base64url')
  const values = randomBuffers(prng, s.entries, VALUE_BYTES, 'base64url')
  const pick = (): Buffer => keys[prng.below(keys.length)] as Buffer
  return withOps({
    keys,
    values,
    distinct: new Set(keys.map((k) => k.toString('latin1'))).size,
    batches100: [],
    batches1000: [],
    getOrder: prng.permutation(s.entries),
    getManyKeys: Array.from({ length: s.getManyCalls }, () => Array.from({ length: s.getManyKeys }, pick)),
    rangeStarts: Array.from({ length: s.ranges }, pick)
  })
}

/** Build the batch operations of a dataset from its keys and values. */
function withOps (d: Dataset): Dataset {
  const ops: PutOp[] = d.keys.map((key, i) => ({ type: 'put', key, value: d.values[i] as Bytes }))
  const chunk = (size: number): PutOp[][] => {
    const out: PutOp[][] = []
    for (let i = 0; i < ops.length; i += size) out.push(ops.slice(i, i + size))
    return out
  }
  return { ...d, batches100: chunk(100), batches1000: chunk(1000) }
}

/** The same dataset with every key and value as a string of the same bytes. */
function asStrings (d: Dataset): Dataset {
  const str = (b: Bytes): string => typeof b === 'string' ? b : b.toString('latin1')
  return withOps({
    ...d,
    keys: d.keys.map(str),
    values: d.values.map(str),
    getManyKeys: d.getManyKeys.map((ks) => ks.map(str)),
    rangeStarts: d.rangeStarts.map(str)
  })
}

/** What a row measured in one pass; `unsupported` where the contender lacks the feature. */
type RowResult = Timed | 'unsupported'

interface Row {
  id: string
  label: string
  unit: string
  /** 'fresh': a new empty database per pass; 'loaded': the pass's loaded one. */
  needs: 'fresh' | 'loaded'
  run: (db: BenchDb, data: Dataset, problems: string[]) => Promise<RowResult>
}

const ROWS: Row[] = [
  {
    id: 'put',
    label: 'put (awaited, one at a time)',
    unit: 'ops/s',
    needs: 'fresh',
    run: async (db, d) => await time(async () => {
      const { keys, values } = d
      for (let i = 0; i < keys.length; i++) await db.put(keys[i] as Bytes, values[i] as Bytes)
      return keys.length
    })
  },
  {
    id: 'batch100',
    label: 'batch of 100 puts (array form)',
    unit: 'ops/s',
    needs: 'fresh',
    run: async (db, d) => await time(async () => {
      let n = 0
      for (const b of d.batches100) { await db.batch(b); n += b.length }
      return n
    })
  },
  {
    id: 'batch1000',
    label: 'batch of 1000 puts (array form)',
    unit: 'ops/s',
    needs: 'fresh',
    run: async (db, d) => await time(async () => {
      let n = 0
      for (const b of d.batches1000) { await db.batch(b); n += b.length }
      return n
    })
  },
  {
    id: 'get',
    label: 'get (awaited, random existing keys)',
    unit: 'ops/s',
    needs: 'loaded',
    run: async (db, d, problems) => {
      let misses = 0
      const t = await time(async () => {
        const { keys, getOrder } = d
        for (let i = 0; i < getOrder.length; i++) {
          if (await db.get(keys[getOrder[i] as number] as Bytes) === undefined) misses++
        }
        return getOrder.length
      })
      if (misses > 0) problems.push(`get: ${misses} existing keys not found`)
      return t
    }
  },
  {
    id: 'getSync',
    label: 'getSync (random existing keys)',
    unit: 'ops/s',
    needs: 'loaded',
    run: async (db, d, problems) => {
      if ((db.supports as { getSync?: boolean }).getSync !== true) return 'unsupported'
      let misses = 0
      const t = await time(() => {
        const { keys, getOrder } = d
        for (let i = 0; i < getOrder.length; i++) {
          if (db.getSync(keys[getOrder[i] as number] as Bytes) === undefined) misses++
        }
        return getOrder.length
      })
      if (misses > 0) problems.push(`getSync: ${misses} existing keys not found`)
      return t
    }
  },
  {
    id: 'getMany',
    label: 'getMany of 100 random keys',
    unit: 'keys/s',
    needs: 'loaded',
    run: async (db, d, problems) => {
      let misses = 0
      const t = await time(async () => {
        let n = 0
        for (const ks of d.getManyKeys) {
          const vs = await db.getMany(ks)
          for (const v of vs) if (v === undefined) misses++
          n += ks.length
        }
        return n
      })
      if (misses > 0) problems.push(`getMany: ${misses} existing keys not found`)
      return t
    }
  },
  {
    id: 'iterate',
    label: 'full iteration, for await (next())',
    unit: 'entries/s',
    needs: 'loaded',
    run: async (db, d, problems) => {
      let n = 0
      const t = await time(async () => {
        for await (const entry of db.iterator()) if (entry[1] !== undefined) n++
        return n
      })
      if (n !== d.distinct) problems.push(`iterate: ${n} entries, expected ${d.distinct}`)
      return t
    }
  },
  {
    id: 'nextv',
    label: 'full iteration, nextv(1000)',
    unit: 'entries/s',
    needs: 'loaded',
    run: async (db, d, problems) => {
      let n = 0
      const t = await time(async () => {
        const it = db.iterator()
        try {
          for (;;) {
            const entries = await it.nextv(1000)
            if (entries.length === 0) break
            n += entries.length
          }
        } finally {
          await it.close()
        }
        return n
      })
      if (n !== d.distinct) problems.push(`nextv: ${n} entries, expected ${d.distinct}`)
      return t
    }
  },
  {
    id: 'range',
    label: 'range read: iterator({ gte, limit: 100 }).all()',
    unit: 'ranges/s',
    needs: 'loaded',
    run: async (db, d, problems) => {
      let entries = 0
      let over = 0
      const t = await time(async () => {
        for (const gte of d.rangeStarts) {
          const got = await db.iterator({ gte, limit: RANGE_LIMIT }).all()
          if (got.length > RANGE_LIMIT) over++
          entries += got.length
        }
        return d.rangeStarts.length
      })
      if (over > 0) problems.push(`range: ${over} ranges returned more than the limit`)
      if (entries === 0) problems.push('range: no entries returned')
      return t
    }
  }
]

interface Measured {
  /** Per row id: rates of each pass (ops per second in the row's unit). */
  rates: Record<string, number[]>
  unsupported: Set<string>
  problems: string[]
}

/**
 * One sample of a row: the row run as many times as it takes to fill
 * `minSampleMs` of timed work (at most {@link MAX_REPEATS} times), so that
 * fast contenders are not timed over a few milliseconds of noise. Rows that
 * need a fresh database get one per repetition.
 */
async function sample (row: Row, c: Contender, loaded: BenchDb | undefined, data: Dataset, problems: string[], minSampleMs: number): Promise<RowResult> {
  let ops = 0
  let ms = 0
  for (let rep = 0; rep < MAX_REPEATS && (rep === 0 || ms < minSampleMs); rep++) {
    let r: RowResult
    if (loaded !== undefined) {
      collectGarbage()
      r = await row.run(loaded, data, problems)
    } else {
      const { db, dispose } = await c.open()
      try {
        collectGarbage()
        r = await row.run(db, data, problems)
      } finally {
        await dispose()
      }
    }
    if (r === 'unsupported') return r
    ops += r.ops
    ms += r.ms
  }
  return { ops, ms }
}

async function runPass (c: Contender, data: Dataset, m: Measured, minSampleMs: number): Promise<void> {
  for (const row of ROWS.filter((r) => r.needs === 'fresh')) {
    record(m, row, await sample(row, c, undefined, data, m.problems, minSampleMs))
  }
  const { db, dispose } = await c.open()
  try {
    for (const b of data.batches1000) await db.batch(b)
    for (const row of ROWS.filter((r) => r.needs === 'loaded')) {
      record(m, row, await sample(row, c, db, data, m.problems, minSampleMs))
    }
  } finally {
    await dispose()
  }
}

function record (m: Measured, row: Row, r: RowResult): void {
  if (r === 'unsupported') {
    m.unsupported.add(row.id)
    return
  }
  ;(m.rates[row.id] ??= []).push(rate(r))
}

/** Run the memory child for one contender and parse its report. */
async function measureMemory (id: string, entries: number, seed: number): Promise<MemoryReport> {
  const script = fileURLToPath(new URL('./memory-child.js', import.meta.url))
  return await runJsonChild<MemoryReport>(script, ['--contender', id, '--entries', String(entries), '--seed', String(seed)], {
    nodeArgs: ['--expose-gc'],
    maxDurationMs: MAX_CHILD_MS
  })
}

/** What an `--isolate` worker reports for its pass. */
interface WorkerReport {
  rates: Record<string, number[]>
  unsupported: string[]
  problems: string[]
}

/** Run one pass of one contender in a fresh process (`--isolate`). */
async function runIsolatedPass (c: Contender, args: BenchArgs, seed: number, m: Measured): Promise<void> {
  const script = fileURLToPath(import.meta.url)
  const childArgs = ['--worker', c.id, '--seed', String(seed), '--passes', '1', ...(args.quick ? ['--quick'] : [])]
  const r = await runJsonChild<WorkerReport>(script, childArgs, { maxDurationMs: MAX_CHILD_MS })
  for (const [row, rates] of Object.entries(r.rates)) (m.rates[row] ??= []).push(...rates)
  for (const row of r.unsupported) m.unsupported.add(row)
  m.problems.push(...r.problems)
}

/** `--worker <id>`: warm up, run one pass, print the rates as JSON. */
async function worker (id: string, sizes: Sizes, seed: number): Promise<void> {
  const c = (await contenders({ withMako: id === 'mako' })).find((x) => x.id === id)
  if (c === undefined) throw new Error(`unknown or unavailable contender '${id}'${id === 'mako' ? `: ${String(makoLevelUnavailable)}` : ''}`)
  const pick = (d: Dataset): Dataset => c.input === 'string' ? asStrings(d) : d
  await runPass(c, pick(makeDataset(seed + 1, WARMUP)), { rates: {}, unsupported: new Set(), problems: [] }, 0)
  const m: Measured = { rates: {}, unsupported: new Set(), problems: [] }
  await runPass(c, pick(makeDataset(seed, sizes)), m, sizes.minSampleMs)
  const report: WorkerReport = { rates: m.rates, unsupported: [...m.unsupported], problems: m.problems }
  process.stdout.write(JSON.stringify(report) + '\n')
}

/** The bar MakoLevel must meet on a speed row (see the project brief). */
interface Bar {
  /** The figure MakoLevel needs, in the row's unit; undefined without peers. */
  needed: number | undefined
  /** How `needed` was derived. */
  rule: string
  met: boolean | undefined
  /**
   * False when the floor with fresh views, measured, is itself below
   * `needed`: then no store that makes views can meet the bar.
   */
  reachable: boolean | undefined
}

function speedBar (mako: number | undefined, mem: number | undefined, floor: number | undefined, floorViews: number | undefined): Bar {
  if (mem === undefined) return { needed: undefined, rule: 'memory-level (buffer) not measured', met: undefined, reachable: undefined }
  const twiceMem = 2 * mem
  // Either condition meets the bar; where the floor itself is below 2x
  // memory-level, 70% of the floor is the lower, reachable target.
  const useFloor = floor !== undefined && floor < twiceMem
  const needed = useFloor ? 0.7 * (floor as number) : twiceMem
  const rule = useFloor ? '>= 70% of floor (floor < 2x memory-level)' : '>= 2x memory-level (buffer)'
  return { needed, rule, met: mako === undefined ? undefined : mako >= needed, reachable: floorViews === undefined ? undefined : floorViews >= needed }
}

const MAX_BYTES_PER_ENTRY = 300
/** Passes further apart than this fraction of their median are listed as noisy. */
const NOISY_SPREAD = 0.25

async function main (): Promise<void> {
  const args = parseBenchArgs(process.argv.slice(2))
  const sizes: Sizes = { ...(args.quick ? QUICK : FULL) }
  if (args.passes !== undefined) sizes.passes = Math.max(1, args.passes)
  const seed = args.seed ?? DEFAULT_SEED
  const loadAtStart = loadavg()
  if (args.worker !== undefined) {
    await worker(args.worker, sizes, seed)
    return
  }

  // MakoLevel is loaded only when it is to run.
  let all = await contenders({ withMako: args.only.length === 0 || args.only.includes('mako') })
  if (makoLevelUnavailable !== undefined) console.log(`MakoLevel: not measured: ${makoLevelUnavailable}`)
  if (makoLevelBroken) process.exitCode = 1
  if (args.only.length > 0) {
    const unknown = args.only.filter((id) => !all.some((c) => c.id === id) && !(id === 'mako' && makoLevelUnavailable !== undefined))
    if (unknown.length > 0) throw new Error(`unknown contender(s) ${unknown.join(', ')}; known: ${all.map((c) => c.id).join(', ')}`)
    all = all.filter((c) => args.only.includes(c.id))
  }
  if (all.length === 0) throw new Error('no contender to run')

  console.log(`embedded benchmark: ${all.map((c) => c.label).join(', ')}${args.isolate ? ' (each pass of each contender in its own process)' : ' (one process)'}`)
  console.log(`entries ${sizes.entries}, passes ${sizes.passes}, samples of at least ${sizes.minSampleMs} ms, seed ${seed}${args.quick ? ' (quick)' : ''}, load average ${loadAtStart.map((l) => l.toFixed(2)).join(' ')}`)

  // Built on first use: an --isolate run builds its data in the workers.
  let bufferData: Dataset | undefined
  let stringData: Dataset | undefined
  const dataFor = (c: Contender): Dataset => {
    bufferData ??= makeDataset(seed, sizes)
    if (c.input === 'buffer') return bufferData
    stringData ??= asStrings(bufferData)
    return stringData
  }
  const measured = new Map<string, Measured>(all.map((c) => [c.id, { rates: {}, unsupported: new Set(), problems: [] }]))

  const failed = new Set<string>()
  // Warm-up: let V8 compile every contender's paths before anything counts
  // (an --isolate worker warms up in its own process).
  if (!args.isolate) {
    const warm = makeDataset(seed + 1, WARMUP)
    const warmStrings = asStrings(warm)
    for (const c of all) {
      try {
        await runPass(c, c.input === 'string' ? warmStrings : warm, { rates: {}, unsupported: new Set(), problems: [] }, 0)
      } catch (err) {
        console.error(`${c.label} failed in the warm-up:`, err)
        measured.get(c.id)?.problems.push(`failed in the warm-up: ${(err as Error).message.split('\n')[0] ?? ''}`)
        failed.add(c.id)
      }
    }
  }

  for (let p = 0; p < sizes.passes; p++) {
    // Rotate the order so that no contender always runs first (or last).
    const order = all.map((_, i) => all[(i + p) % all.length] as Contender)
    for (const c of order) {
      if (failed.has(c.id)) continue
      const started = performance.now()
      const m = measured.get(c.id) as Measured
      try {
        if (args.isolate) await runIsolatedPass(c, args, seed, m)
        else await runPass(c, dataFor(c), m, sizes.minSampleMs)
      } catch (err) {
        // A contender that throws is a bug in it: report it, drop it from the
        // remaining passes, and let the others finish.
        console.error(`${c.label} failed:`, err)
        m.problems.push(`failed in pass ${p + 1}: ${(err as Error).message.split('\n')[0] ?? ''}`)
        failed.add(c.id)
        continue
      }
      console.log(`pass ${p + 1}/${sizes.passes} ${c.label}: ${((performance.now() - started) / 1000).toFixed(1)} s`)
    }
  }

  const memory = new Map<string, MemoryReport | { error: string }>()
  if (args.memory) {
    for (const c of all.filter((x) => !failed.has(x.id))) {
      try {
        memory.set(c.id, await measureMemory(c.id, sizes.memoryEntries, seed))
      } catch (err) {
        memory.set(c.id, { error: (err as Error).message })
        process.exitCode = 1
      }
      const r = memory.get(c.id)
      console.log(`memory ${c.label}: ${r !== undefined && 'bytesPerEntry' in r ? `${r.bytesPerEntry.toFixed(0)} B/entry` : JSON.stringify(r)}`)
    }
  }

  // Tables.
  const medianOf = (id: string, row: string): number | undefined => {
    const rates = measured.get(id)?.rates[row]
    return rates === undefined || rates.length === 0 ? undefined : median(rates)
  }
  // (max - min) / median over the passes: how far apart the passes were.
  const spreadOf = (id: string, row: string): number | undefined => {
    const rates = measured.get(id)?.rates[row]
    if (rates === undefined || rates.length < 2) return undefined
    return (Math.max(...rates) - Math.min(...rates)) / median(rates)
  }
  const has = (id: string): boolean => all.some((c) => c.id === id)
  const header = ['Row', 'Unit', ...all.map((c) => c.label), 'MakoLevel needs', 'Mako / mem(buffer)', 'Mako / floor', 'Bar met']
  const jsonRows: unknown[] = []
  const tableRows = ROWS.map((row) => {
    const cells = all.map((c) => {
      const v = medianOf(c.id, row.id)
      return v === undefined ? (measured.get(c.id)?.unsupported.has(row.id) === true ? 'n/a' : '-') : formatRate(v)
    })
    const mako = medianOf('mako', row.id)
    const mem = medianOf('memory-buffer', row.id)
    const floor = medianOf('floor', row.id)
    const bar = speedBar(mako, mem, floor, medianOf('floor-views', row.id))
    jsonRows.push({
      id: row.id,
      label: row.label,
      unit: row.unit,
      results: Object.fromEntries(all.map((c) => [c.id, {
        median: medianOf(c.id, row.id) ?? null,
        passes: measured.get(c.id)?.rates[row.id] ?? [],
        spread: spreadOf(c.id, row.id) ?? null,
        // The fastest pass: the one least disturbed by other work on a shared
        // machine (for information; the table and the bar use medians).
        best: Math.max(...(measured.get(c.id)?.rates[row.id] ?? [NaN])),
        unsupported: measured.get(c.id)?.unsupported.has(row.id) ?? false
      }])),
      makoOverMemoryBuffer: mako !== undefined && mem !== undefined ? mako / mem : null,
      makoOverFloor: mako !== undefined && floor !== undefined ? mako / floor : null,
      bar: { needed: bar.needed ?? null, rule: bar.rule, met: bar.met ?? null, reachableWithFreshViews: bar.reachable ?? null }
    })
    return [
      row.label,
      row.unit,
      ...cells,
      bar.needed === undefined ? '-' : `${formatRate(bar.needed)} (${bar.rule.startsWith('>= 70%') ? '70% floor' : '2x mem'})`,
      mako !== undefined && mem !== undefined ? formatRatio(mako / mem) : '-',
      mako !== undefined && floor !== undefined ? formatRatio(mako / floor) : '-',
      bar.met === undefined ? (has('mako') ? '-' : 'not run') : bar.met ? 'yes' : bar.reachable === false ? 'NO (above floor + views)' : 'NO'
    ]
  })

  // Memory row: bytes per entry counted as heapUsed + external (external
  // already includes arrayBuffers, where Buffers' bytes live).
  const memCell = (id: string): number | undefined => {
    const r = memory.get(id)
    return r !== undefined && 'bytesPerEntry' in r ? r.bytesPerEntry : undefined
  }
  if (args.memory) {
    const mako = memCell('mako')
    const mem = memCell('memory-buffer')
    const floor = memCell('floor')
    tableRows.push([
      `memory after ${formatRate(sizes.memoryEntries)} entries (heap + external)`,
      'B/entry',
      ...all.map((c) => { const v = memCell(c.id); return v === undefined ? 'error' : v.toFixed(0) }),
      `<= ${MAX_BYTES_PER_ENTRY}`,
      mako !== undefined && mem !== undefined ? formatRatio(mako / mem) : '-',
      mako !== undefined && floor !== undefined && floor > 0 ? formatRatio(mako / floor) : '-',
      mako === undefined ? (has('mako') ? '-' : 'not run') : mako <= MAX_BYTES_PER_ENTRY ? 'yes' : 'NO'
    ])
    tableRows.push([
      'memory: rss growth (for information)',
      'B/entry',
      ...all.map((c) => { const r = memory.get(c.id); return r !== undefined && 'rssPerEntry' in r ? r.rssPerEntry.toFixed(0) : 'error' }),
      '', '', '', ''
    ])
  }

  const align = header.map((_, i) => (i < 2 ? 'left' : 'right') as 'left' | 'right')
  console.log('')
  console.log(markdownTable(header, tableRows, align))
  console.log('')
  console.log('Rates are medians of the passes (each pass repeats a row until it has timed at least ' + String(sizes.minSampleMs) + ' ms); higher is better except memory. "MakoLevel needs": 2x memory-level (buffer), or 70% of the floor where the floor is below 2x memory-level; memory at most 300 B/entry.')
  if (has('floor-views')) console.log('"floor + fresh views" returns a new Buffer view per key and value (the fastest way Node makes one): the most any store can do that keeps its bytes in its own memory; "NO (above floor + views)" marks a bar that even it does not reach.')
  console.log('Range reads use iterator({ gte, limit: 100 }).all(). Memory: a fresh child process per contender (node --expose-gc), gc before and after loading in batches of 1000; heap + external (which includes arrayBuffers) growth per entry; classic-level keeps its data in native memory and on disk, so only its rss growth means anything.')
  if (args.memory) {
    const detail = all.map((c) => {
      const r = memory.get(c.id)
      if (r === undefined || !('bytesPerEntry' in r)) return `- ${c.label}: ${r === undefined ? 'not run' : r.error}`
      return `- ${c.label}: heapUsed ${formatBytes(r.delta.heapUsed)}, external ${formatBytes(r.delta.external)} (arrayBuffers ${formatBytes(r.delta.arrayBuffers)}), rss ${formatBytes(r.delta.rss)}, load ${formatRate(r.loadOpsPerSecond)} ops/s`
    })
    console.log(['', `Memory growth for ${sizes.memoryEntries} entries:`, ...detail].join('\n'))
  }
  const noisy = ROWS.flatMap((row) => all.flatMap((c) => {
    const sp = spreadOf(c.id, row.id)
    return sp !== undefined && sp > NOISY_SPREAD ? [`${row.id}/${c.id} ${(sp * 100).toFixed(0)}%`] : []
  }))
  if (noisy.length > 0) {
    console.log(`\nPasses more than ${NOISY_SPREAD * 100}% apart ((max - min) / median; other load on the machine?): ${noisy.join(', ')}`)
  }
  const problems = all.flatMap((c) => (measured.get(c.id)?.problems ?? []).map((p) => `${c.label}: ${p}`))
  if (problems.length > 0) {
    console.log(['', 'PROBLEMS (results of these contenders are suspect):', ...[...new Set(problems)].map((p) => `- ${p}`)].join('\n'))
    process.exitCode = 1
  }

  // Smoke and partial runs get their own file, so they never overwrite the
  // full run's results.
  const variant = [args.quick ? 'quick' : '', args.isolate ? 'isolated' : '', args.only.length > 0 ? `only-${args.only.join('+')}` : '']
    .filter((x) => x !== '').join('-')
  const path = writeResults(variant === '' ? 'embedded' : `embedded-${variant}`, {
    benchmark: 'embedded',
    machine: machineInfo(),
    config: { ...sizes, seed, quick: args.quick, isolate: args.isolate, loadAverageAtStart: loadAtStart, only: args.only, keyBytes: KEY_BYTES, valueBytes: VALUE_BYTES, rangeRead: 'iterator({ gte, limit: 100 }).all()' },
    contenders: all.map((c) => ({ id: c.id, label: c.label })),
    makoLevelUnavailable: makoLevelUnavailable ?? null,
    rows: jsonRows,
    memory: {
      entries: sizes.memoryEntries,
      counted: 'heapUsed + external (external includes arrayBuffers)',
      maxBytesPerEntry: MAX_BYTES_PER_ENTRY,
      results: Object.fromEntries([...memory.entries()])
    },
    problems
  })
  console.log(`\nwrote ${path}`)
}

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})
