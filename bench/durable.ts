/**
 * Durability benchmark (issue 3): MakoLevel with a location against
 * classic-level (LevelDB) and rocksdb (the npm `rocksdb` package), on the
 * same seeded data, with `sync: false` and `sync: true` writes; and the
 * time to open a database of a million entries against the time
 * memory-level takes to load them.
 *
 * Run: `npx tsc -p . && node dist/bench/durable.js [--quick] [--only
 * <id>,...] [--passes <n>] [--seed <n>] [--no-memory] [--in-process]`.
 * `--only` takes contender ids (mako, mako-write, classic, rocksdb, memory) and row ids
 * (see ROWS, and `open`), in any mix; `--no-memory` skips the open row (it
 * starts child processes). Prints markdown tables and writes
 * `bench/results/durable.json` (a `--quick`, `--only` or `--in-process` run
 * writes `durable-<variant>.json`, so a smoke run never overwrites the full
 * results).
 *
 * Each contender runs in a worker process of its own (`durable-worker.ts`),
 * started before anything is measured and kept for the whole run, as an
 * application runs one database; this process only tells the workers what
 * to run, one at a time, and gathers their timings (see `durable-session.ts`
 * for why). `--in-process` runs them all here, as
 * the benchmark did before.
 *
 * Data: random 16-byte keys and 100-byte values as Buffers, keyEncoding and
 * valueEncoding 'buffer', made by each worker from the same seed. Every
 * contender gets a fresh temporary directory (a fresh database inside it
 * for every write row and repetition), removed afterwards. Contenders are
 * interleaved row by row within a pass, repetition by repetition, in an
 * order that rotates, so that load from other work on the machine falls on
 * all of them alike; each figure is the median of the passes, each ratio
 * the median of the per-pass ratios, and the spread of the passes is
 * reported. The OS's dirty pages are flushed (`sync`, untimed, by a helper
 * process: see `lib/flush.ts`) before each write run and each open, so
 * that an fsync does not pay for another contender's writes.
 *
 * @module
 * @internal
 */

import { readdirSync, statSync, statfsSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { CONTENDERS, KEY_BYTES, VALUE_BYTES, type DurableContender } from './durable-contenders.js'
import { BARS, DEFAULT_SEED, FULL, QUICK, RANGE_LIMIT, ROWS, WRITERS, type Row, type Sizes } from './durable-rows.js'
import { ContenderDir, LocalRunner, WorkerRunner, type ContenderRunner, type DataKind, type SampleResult } from './durable-session.js'
import type { OpenChildReport } from './durable-open.js'
import { parseBenchArgs } from './lib/cli.js'
import { DirtyPageFlusher } from './lib/flush.js'
import { runJsonChild } from './lib/child.js'
import { formatBytes, formatRate, formatRatio, markdownTable } from './lib/markdown.js'
import { machineInfo, writeResults } from './lib/results.js'
import { median, rate, type Timed } from './lib/stats.js'

/** Most repetitions of a row within one sample. */
const MAX_REPEATS = 20
/** Longest a child process of the open row may run before it is killed, in ms. */
const MAX_CHILD_MS = 10 * 60_000
/** Free space needed in the temporary directory before starting. */
const MIN_FREE_BYTES = 2 * 1024 * 1024 * 1024
/** Idle time after the read databases are opened, so background compactions started by the reopen are done (ms). */
const SETTLE_MS = 1000
/** Longest the untimed `sync` before a write run may take (ms). */
const MAX_FLUSH_MS = 60_000
/** Passes further apart than this fraction of their median are listed as noisy. */
const NOISY_SPREAD = 0.25

interface Measured {
  /** Per row id: the rate of each pass. */
  rates: Record<string, number[]>
  /** Per row id: each pass's timed sample (operations and ms). */
  samples: Record<string, Timed[]>
  problems: string[]
}

/**
 * One sample of `row` for each contender, interleaved: in each round every
 * contender that has not yet timed `minSampleMs` of work runs the row once
 * (in a rotating order), for at most {@link MAX_REPEATS} rounds. So fast
 * contenders are not timed over a few milliseconds of noise, and the
 * contenders' runs alternate within a few hundred milliseconds of each
 * other, so that load from other work on the machine falls on all of them.
 * `once` runs the row once for a contender (opening and closing are not
 * timed); a contender that throws is reported to `fail` and left out.
 */
async function sampleInterleaved (cs: readonly DurableContender[], minSampleMs: number,
  once: (c: DurableContender) => Promise<Timed>, fail: (c: DurableContender, err: unknown) => void): Promise<Map<string, Timed>> {
  const totals = new Map<string, Timed>()
  const dropped = new Set<string>()
  for (let rep = 0; rep < MAX_REPEATS; rep++) {
    let ran = false
    for (const c of rotate(cs, rep)) {
      const t = totals.get(c.id)
      if (dropped.has(c.id) || (t !== undefined && t.ms >= minSampleMs)) continue
      ran = true
      try {
        const r = await once(c)
        totals.set(c.id, { ops: (t?.ops ?? 0) + r.ops, ms: (t?.ms ?? 0) + r.ms })
      } catch (err) {
        dropped.add(c.id)
        totals.delete(c.id)
        fail(c, err)
      }
    }
    if (!ran) break
  }
  return totals
}

/**
 * Writes the OS's dirty pages to disk (the `sync` command), untimed, before
 * a write run: an fdatasync on ext4 may have to flush other files' data
 * first, so without this a contender would pay for the previous one's
 * writes. Other processes on the machine can still leave dirty pages. It is
 * run by a helper process started before anything is measured (see
 * `lib/flush.ts`: spawning `sync` from here would fork this process, and
 * the copy-on-write faults that follow a fork fall on the next run).
 */
let flusher: DirtyPageFlusher | undefined
async function flushDirtyPages (): Promise<void> {
  await flusher?.flush()
}

/** Record one pass's sample of a row (`rates[row][pass]`, passes in order). */
function record (m: Measured, row: Row, t: Timed): void {
  ;(m.rates[row.id] ??= []).push(rate(t))
  ;(m.samples[row.id] ??= []).push(t)
}

/** `list` rotated left by `by`. */
function rotate<T> (list: readonly T[], by: number): T[] {
  return list.map((_, i) => list[(i + by) % list.length] as T)
}

/**
 * One pass of the speed rows over all contenders, interleaved (see
 * {@link sampleInterleaved}): every write row runs on a fresh database per
 * run; then each contender loads a database (batch(1000), closed and opened
 * again, so reads see it as an application does after a restart) and every
 * read row runs on it. Each contender's runs are made by its runner (its
 * worker process, by default).
 */
async function runPass (pass: number, all: readonly DurableContender[], rows: readonly Row[], data: DataKind,
  runners: ReadonlyMap<string, ContenderRunner>, measured: Map<string, Measured>, failed: Set<string>,
  minSampleMs: number): Promise<void> {
  const fail = (c: DurableContender, err: unknown, where: string): void => {
    // A contender that throws is a bug in it: report it, drop it from the
    // remaining rows and passes, and let the others finish.
    console.error(`${c.label} failed ${where}:`, err)
    measured.get(c.id)?.problems.push(`failed ${where}: ${(err as Error).message.split('\n')[0] ?? ''}`)
    failed.add(c.id)
  }
  const live = (): DurableContender[] => all.filter((c) => !failed.has(c.id))
  const runner = (c: DurableContender): ContenderRunner => runners.get(c.id) as ContenderRunner
  const sample = (c: DurableContender, r: SampleResult): Timed => {
    ;(measured.get(c.id) as Measured).problems.push(...r.problems)
    return r.timed
  }
  const reading = new Set<string>()
  try {
    for (const [r, row] of rows.entries()) {
      if (row.kind !== 'write') continue
      const samples = await sampleInterleaved(rotate(live(), pass + r), minSampleMs,
        async (c) => sample(c, await runner(c).write(row.id, data)),
        (c, err) => { fail(c, err, `in ${row.id}, pass ${pass + 1}`) })
      for (const [id, t] of samples) record(measured.get(id) as Measured, row, t)
    }
    const readRows = rows.filter((row) => row.kind === 'read')
    if (readRows.length === 0) return
    for (const c of live()) {
      try {
        reading.add(c.id)
        await runner(c).openRead(data)
      } catch (err) {
        fail(c, err, `loading the read database, pass ${pass + 1}`)
      }
    }
    await flushDirtyPages()
    await sleep(SETTLE_MS)
    for (const [r, row] of readRows.entries()) {
      const samples = await sampleInterleaved(rotate(live(), pass + r), minSampleMs,
        async (c) => sample(c, await runner(c).read(row.id, data)),
        (c, err) => { fail(c, err, `in ${row.id}, pass ${pass + 1}`) })
      for (const [id, t] of samples) record(measured.get(id) as Measured, row, t)
    }
  } finally {
    for (const id of reading) await runners.get(id)?.closeRead().catch(() => {})
  }
}

/** One pass of the open row's figures. */
interface OpenPass {
  /** Per persistent contender: writing the database (for information), then opening it. */
  stores: Record<string, { writeMs: number, closeMs: number, openMs: number, firstGetMs: number, bytesOnDisk: number }>
  /** memory-level loading the same entries. */
  memoryLoadMs?: number
}

async function openChild (args: string[]): Promise<OpenChildReport> {
  const script = fileURLToPath(new URL('./durable-open.js', import.meta.url))
  return await runJsonChild<OpenChildReport>(script, args, { maxDurationMs: MAX_CHILD_MS })
}

function bytesUnder (path: string): number {
  // Sizes of the files a database left, for the report.
  let total = 0
  const walk = (p: string): void => {
    for (const e of readdirSync(p, { withFileTypes: true })) {
      const q = join(p, e.name)
      if (e.isDirectory()) walk(q)
      else if (e.isFile()) total += statSync(q).size
    }
  }
  walk(path)
  return total
}

/**
 * The open row, one pass: each persistent contender writes the entries in a
 * child process and closes; then, in rotating order, each opens its
 * database in a fresh child, and memory-level loads the entries in one.
 */
async function runOpenPass (pass: number, all: readonly DurableContender[], withMemory: boolean, entries: number, seed: number,
  problems: string[]): Promise<OpenPass> {
  const result: OpenPass = { stores: {} }
  const dirs = new Map(all.map((c) => [c.id, new ContenderDir(c.id)]))
  try {
    const written = new Map<string, { writeMs: number, closeMs: number, location: string }>()
    for (const c of all) {
      const location = (dirs.get(c.id) as ContenderDir).fresh('open')
      try {
        const r = await openChild(['--mode', 'write', '--contender', c.id, '--dir', location, '--entries', String(entries), '--seed', String(seed)])
        if (r.mode !== 'write') throw new Error(`unexpected report ${JSON.stringify(r)}`)
        written.set(c.id, { writeMs: r.writeMs, closeMs: r.closeMs, location })
      } catch (err) {
        problems.push(`open row: ${c.label} failed to write ${entries} entries: ${(err as Error).message.split('\n')[0] ?? ''}`)
      }
    }
    const steps: Array<string | null> = [...all.map((c) => c.id), ...(withMemory ? [null] : [])]
    for (const id of rotate(steps, pass)) {
      // An open may sync a file or directory: it must not pay for the
      // other databases' writes still in the page cache.
      await flushDirtyPages()
      try {
        if (id === null) {
          const r = await openChild(['--mode', 'memory', '--entries', String(entries), '--seed', String(seed)])
          if (r.mode !== 'memory') throw new Error(`unexpected report ${JSON.stringify(r)}`)
          result.memoryLoadMs = r.loadMs
          console.log(`  open pass ${pass + 1}: memory-level loads ${formatRate(entries)} in ${r.loadMs.toFixed(0)} ms`)
          continue
        }
        const w = written.get(id)
        if (w === undefined) continue
        const r = await openChild(['--mode', 'open', '--contender', id, '--dir', w.location, '--seed', String(seed)])
        if (r.mode !== 'open') throw new Error(`unexpected report ${JSON.stringify(r)}`)
        result.stores[id] = { writeMs: w.writeMs, closeMs: w.closeMs, openMs: r.openMs, firstGetMs: r.firstGetMs, bytesOnDisk: bytesUnder(w.location) }
        console.log(`  open pass ${pass + 1}: ${id} opens in ${r.openMs.toFixed(0)} ms, first get ${r.firstGetMs.toFixed(1)} ms`)
      } catch (err) {
        problems.push(`open row: ${id ?? 'memory-level'} failed: ${(err as Error).message.split('\n')[0] ?? ''}`)
      }
    }
  } finally {
    for (const dir of dirs.values()) dir.remove()
  }
  return result
}

/** Free bytes in the temporary directory's file system. */
function diskFree (): number {
  const s = statfsSync(tmpdir())
  return s.bavail * s.bsize
}

async function main (): Promise<void> {
  const args = parseBenchArgs(process.argv.slice(2))
  if (args.isolate || args.worker !== undefined) throw new Error('--isolate is not supported by this benchmark: each contender already runs in a worker process of its own (--in-process to share one)')
  const sizes: Sizes = { ...(args.quick ? QUICK : FULL) }
  if (args.passes !== undefined) sizes.passes = Math.max(1, args.passes)
  const seed = args.seed ?? DEFAULT_SEED
  const loadAtStart = loadavg()

  // --only mixes contender ids and row ids.
  const contenderIds = [...CONTENDERS.map((c) => c.id), 'memory']
  const rowIds = [...ROWS.map((r) => r.id), 'open']
  const unknown = args.only.filter((id) => !contenderIds.includes(id) && !rowIds.includes(id))
  if (unknown.length > 0) throw new Error(`unknown --only id(s) ${unknown.join(', ')}; contenders: ${contenderIds.join(', ')}; rows: ${rowIds.join(', ')}`)
  const onlyContenders = args.only.filter((id) => contenderIds.includes(id))
  const onlyRows = args.only.filter((id) => rowIds.includes(id))
  const all = onlyContenders.length === 0 ? [...CONTENDERS] : CONTENDERS.filter((c) => onlyContenders.includes(c.id))
  const withMemory = args.memory && (onlyContenders.length === 0 || onlyContenders.includes('memory'))
  const rows = onlyRows.length === 0 ? ROWS : ROWS.filter((r) => onlyRows.includes(r.id))
  const withOpen = args.memory && (onlyRows.length === 0 || onlyRows.includes('open'))

  const freeAtStart = diskFree()
  if (freeAtStart < MIN_FREE_BYTES) throw new Error(`only ${formatBytes(freeAtStart)} free in ${tmpdir()}; the benchmark needs ${formatBytes(MIN_FREE_BYTES)}`)

  console.log(`durable benchmark: ${all.map((c) => c.label).join(', ')}${withMemory && withOpen ? ' (and memory-level for the open row)' : ''}`)
  console.log(`entries ${sizes.entries}, passes ${sizes.passes}, samples of at least ${sizes.minSampleMs} ms, seed ${seed}${args.quick ? ' (quick)' : ''}, load average ${loadAtStart.map((l) => l.toFixed(2)).join(' ')}, ${formatBytes(freeAtStart)} free in ${tmpdir()}`)

  // Started before the data is built and anything is measured: its own
  // fork is of a small process, and the faults after it fall on the warm-up.
  flusher = new DirtyPageFlusher(MAX_FLUSH_MS)
  const measured = new Map<string, Measured>(all.map((c) => [c.id, { rates: {}, samples: {}, problems: [] }]))
  const failed = new Set<string>()
  const openPasses: OpenPass[] = []
  const openProblems: string[] = []

  // Each contender's runner: a worker process of its own, started now,
  // while this process is small (each start forks it), or, with
  // --in-process, a session here (see durable-session.ts).
  const runners = new Map<string, ContenderRunner>()
  const speed = rows.length > 0 && all.length > 0
  for (const c of speed ? all : []) {
    const config = { contender: c.id, seed, sizes }
    runners.set(c.id, args.inProcess ? new LocalRunner(config, flushDirtyPages) : new WorkerRunner(config))
  }
  try {
    if (speed) {
      // The data first, in every worker at once, so no sample waits for it.
      await Promise.all([...runners.values()].map(async (r) => { if (r instanceof WorkerRunner) await r.prepare(['warm', 'main']) }))
      // Warm-up: let V8 compile every contender's paths before anything counts.
      const scratch = new Map(all.map((c) => [c.id, { rates: {}, samples: {}, problems: [] } satisfies Measured]))
      await runPass(0, all, rows, 'warm', runners, scratch, failed, 0)
      for (const [id, m] of scratch) measured.get(id)?.problems.push(...m.problems.map((p) => `warm-up: ${p}`))
    }
    for (let p = 0; p < sizes.passes && speed; p++) {
      const started = performance.now()
      await runPass(p, all, rows, 'main', runners, measured, failed, sizes.minSampleMs)
      console.log(`pass ${p + 1}/${sizes.passes} speed rows: ${((performance.now() - started) / 1000).toFixed(1)} s, load average ${loadavg()[0]?.toFixed(2) ?? '?'}`)
    }
  } finally {
    for (const r of runners.values()) await r.close().catch(() => {})
  }
  // The open row's passes come after every speed pass: each starts child
  // processes, which forks this one, and the copy-on-write faults after a
  // fork would fall on the next speed pass's first rows (see lib/flush.ts).
  for (let p = 0; p < sizes.passes && withOpen; p++) {
    const started = performance.now()
    openPasses.push(await runOpenPass(p, all, withMemory, sizes.openEntries, seed, openProblems))
    console.log(`pass ${p + 1}/${sizes.passes} open row: ${((performance.now() - started) / 1000).toFixed(1)} s`)
  }
  flusher?.close()
  const loadAtEnd = loadavg()

  // Speed table.
  const medianOf = (id: string, row: string): number | undefined => {
    const rates = measured.get(id)?.rates[row]
    return rates === undefined || rates.length === 0 ? undefined : median(rates)
  }
  // (max - min) / median over the passes: how far apart the passes were.
  const spreadOf = (values: readonly number[] | undefined): number | undefined => {
    if (values === undefined || values.length < 2) return undefined
    return (Math.max(...values) - Math.min(...values)) / median(values)
  }
  const has = (id: string): boolean => all.some((c) => c.id === id)
  const ratio = (a: number | undefined, b: number | undefined): number | undefined =>
    a !== undefined && b !== undefined && b > 0 ? a / b : undefined
  // The ratio of two contenders as the median of their per-pass ratios: the
  // two ran interleaved within each pass, so a pass's ratio cancels most of
  // the machine's load at that time, which medians of rates taken apart do not.
  const perPassRatios = (a: string, b: string, row: string): number[] => {
    const ra = measured.get(a)?.rates[row] ?? []
    const rb = measured.get(b)?.rates[row] ?? []
    const out: number[] = []
    for (let i = 0; i < Math.min(ra.length, rb.length); i++) out.push((ra[i] as number) / (rb[i] as number))
    return out
  }
  const pairedRatio = (a: string, b: string, row: string): number | undefined => {
    const r = perPassRatios(a, b, row)
    return r.length === 0 ? undefined : median(r)
  }
  const bars: Array<{ bar: string, needed: string, mako: string, met: boolean | null }> = []
  const header = ['Row', 'Unit', ...all.map((c) => c.label), 'Mako / classic', 'Mako / rocksdb', 'Bar', 'Met']
  const jsonRows: unknown[] = []
  const tableRows = rows.map((row) => {
    const mako = medianOf('mako', row.id)
    const classic = medianOf('classic', row.id)
    const rocks = medianOf('rocksdb', row.id)
    const bar = BARS[row.id]
    const overClassic = pairedRatio('mako', 'classic', row.id)
    const overRocks = pairedRatio('mako', 'rocksdb', row.id)
    const met = bar === undefined || overClassic === undefined ? undefined : overClassic >= bar.factor
    if (bar !== undefined) {
      bars.push({
        bar: `${row.label(sizes)} ${bar.text}`,
        needed: classic === undefined ? '-' : `${formatRate(classic * bar.factor)} ${row.unit}`,
        mako: mako === undefined ? '-' : `${formatRate(mako)} ${row.unit} (${formatRatio(overClassic ?? NaN)} classic)`,
        met: met ?? null
      })
    }
    jsonRows.push({
      id: row.id,
      label: row.label(sizes),
      unit: row.unit,
      results: Object.fromEntries(all.map((c) => [c.id, {
        median: medianOf(c.id, row.id) ?? null,
        passes: measured.get(c.id)?.rates[row.id] ?? [],
        samples: measured.get(c.id)?.samples[row.id] ?? [],
        spread: spreadOf(measured.get(c.id)?.rates[row.id]) ?? null
      }])),
      makoOverClassic: overClassic ?? null,
      makoOverClassicPerPass: perPassRatios('mako', 'classic', row.id),
      makoOverRocksdb: overRocks ?? null,
      makoOverRocksdbPerPass: perPassRatios('mako', 'rocksdb', row.id),
      ratioOfMedians: { classic: ratio(mako, classic) ?? null, rocksdb: ratio(mako, rocks) ?? null },
      bar: bar === undefined ? null : { rule: bar.text, factor: bar.factor, met: met ?? null }
    })
    return [
      row.label(sizes),
      row.unit,
      ...all.map((c) => { const v = medianOf(c.id, row.id); return v === undefined ? '-' : formatRate(v) }),
      overClassic === undefined ? '-' : formatRatio(overClassic),
      overRocks === undefined ? '-' : formatRatio(overRocks),
      bar?.text ?? '',
      bar === undefined ? '' : met === undefined ? (has('mako') && has('classic') ? '-' : 'not run') : met ? 'yes' : 'NO'
    ]
  })
  const align = header.map((_, i) => (i < 2 || i >= header.length - 2 ? 'left' : 'right') as 'left' | 'right')
  if (tableRows.length > 0) {
    console.log('')
    console.log(markdownTable(header, tableRows, align))
    console.log('')
    console.log(`Rates are medians of ${sizes.passes} pass(es), higher is better; ratios (and bars) are medians of the per-pass ratios, the contenders having run interleaved within each pass, ${args.inProcess ? 'all in one process' : 'each in a worker process of its own'}. Each pass repeats a row, alternating contenders, until each has timed at least ${sizes.minSampleMs} ms (a fresh database per repetition for writes). Writes with sync:false pass no options; sync:true passes { sync: true }. Before each write run the OS's dirty pages are flushed (sync, untimed). Reads run on a database loaded with batch(1000), closed and opened again (then ${SETTLE_MS} ms idle for background compactions). Range reads: iterator({ gte, limit: ${RANGE_LIMIT} }).all() (rocksdb: its iterator with next() until done). rocksdb bulk iteration: ${CONTENDERS.find((c) => c.id === 'rocksdb')?.bulkIteration ?? ''}.`)
    const spreadRows = rows.map((row) => [row.id, ...all.map((c) => {
      const s = spreadOf(measured.get(c.id)?.rates[row.id])
      return s === undefined ? '-' : `${(s * 100).toFixed(0)}%`
    })])
    console.log('')
    console.log('Spread of the passes, (max - min) / median:')
    console.log('')
    console.log(markdownTable(['Row', ...all.map((c) => c.label)], spreadRows, ['left', ...all.map(() => 'right' as const)]))
  }

  // Open table.
  const openMedian = (id: string, f: (s: OpenPass['stores'][string]) => number): number | undefined => {
    const v = openPasses.flatMap((p) => { const s = p.stores[id]; return s === undefined ? [] : [f(s)] })
    return v.length === 0 ? undefined : median(v)
  }
  const memoryLoads = openPasses.flatMap((p) => p.memoryLoadMs === undefined ? [] : [p.memoryLoadMs])
  const memoryLoad = memoryLoads.length === 0 ? undefined : median(memoryLoads)
  const makoOpen = openMedian('mako', (s) => s.openMs + s.firstGetMs)
  // memory-level's load time over a contender's open, per pass, then the median.
  const openRatiosOf = (id: string): number[] => openPasses.flatMap((p) => {
    const m = p.stores[id]
    return m === undefined || p.memoryLoadMs === undefined ? [] : [p.memoryLoadMs / (m.openMs + m.firstGetMs)]
  })
  const openRatioOf = (id: string): number | undefined => {
    const r = openRatiosOf(id)
    return r.length === 0 ? undefined : median(r)
  }
  const openRatios = openRatiosOf('mako')
  const openRatio = openRatioOf('mako')
  const openMet = openRatio === undefined ? undefined : openRatio >= 1
  if (withOpen && has('mako')) {
    bars.push({
      bar: `open ${formatRate(sizes.openEntries)} entries (+ first get) <= memory-level loading them`,
      needed: memoryLoad === undefined ? '-' : `<= ${memoryLoad.toFixed(0)} ms`,
      mako: makoOpen === undefined ? '-' : `${makoOpen.toFixed(0)} ms (memory-level load / this: ${formatRatio(openRatio ?? NaN)})`,
      met: openMet ?? null
    })
  }
  if (withOpen && openPasses.length > 0) {
    const ms = (v: number | undefined): string => v === undefined ? '-' : v >= 100 ? v.toFixed(0) : v.toFixed(1)
    const spreadMs = (id: string, f: (s: OpenPass['stores'][string]) => number): string => {
      const s = spreadOf(openPasses.flatMap((p) => { const x = p.stores[id]; return x === undefined ? [] : [f(x)] }))
      return s === undefined ? '-' : `${(s * 100).toFixed(0)}%`
    }
    const openRows = all.map((c) => {
      const total = openMedian(c.id, (s) => s.openMs + s.firstGetMs)
      return [
        c.label,
        ms(openMedian(c.id, (s) => s.openMs)),
        ms(openMedian(c.id, (s) => s.firstGetMs)),
        ms(total),
        spreadMs(c.id, (s) => s.openMs + s.firstGetMs),
        openRatioOf(c.id) === undefined ? '-' : formatRatio(openRatioOf(c.id) as number),
        ms(openMedian(c.id, (s) => s.writeMs + s.closeMs)),
        formatBytes(openMedian(c.id, (s) => s.bytesOnDisk) ?? NaN)
      ]
    })
    if (memoryLoad !== undefined) {
      openRows.push(['memory-level: load with batch(1000)', '-', '-', ms(memoryLoad), spreadOf(memoryLoads) === undefined ? '-' : `${((spreadOf(memoryLoads) as number) * 100).toFixed(0)}%`, '1.00x', '-', '-'])
    }
    console.log('')
    console.log(`Open a database of ${formatRate(sizes.openEntries)} entries (fresh process each; ms, lower is better; medians of ${openPasses.length}):`)
    console.log('')
    console.log(markdownTable(['Contender', 'open (new to open())', 'first get', 'open + first get', 'spread', 'memory-level load / this', 'write + close (info)', 'on disk'], openRows,
      ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right']))
    console.log('')
    console.log('Each database was written with batch(1000), sync:false, and closed in one child process, then opened in another; its files are in the OS page cache (just written). memory-level loads the same entries with batch(1000) from its constructor on, the data generated before the clock starts.')
  }

  if (bars.length > 0) {
    console.log('')
    console.log('Bars MakoLevel must meet:')
    console.log('')
    console.log(markdownTable(['Bar', 'Needed', 'MakoLevel', 'Met'], bars.map((b) => [b.bar, b.needed, b.mako, b.met === null ? '-' : b.met ? 'yes' : 'NO'])))
  }

  const noisy = rows.flatMap((row) => all.flatMap((c) => {
    const sp = spreadOf(measured.get(c.id)?.rates[row.id])
    return sp !== undefined && sp > NOISY_SPREAD ? [`${row.id}/${c.id} ${(sp * 100).toFixed(0)}%`] : []
  }))
  if (noisy.length > 0) {
    console.log(`\nPasses more than ${NOISY_SPREAD * 100}% apart (other load on the machine?): ${noisy.join(', ')}`)
  }
  console.log(`Load average at start ${loadAtStart.map((l) => l.toFixed(2)).join(' ')}, at end ${loadAtEnd.map((l) => l.toFixed(2)).join(' ')} (${String(machineInfo().cpuCount)} cores).`)
  const problems = [
    ...all.flatMap((c) => (measured.get(c.id)?.problems ?? []).map((p) => `${c.label}: ${p}`)),
    ...openProblems
  ]
  if (problems.length > 0) {
    console.log(['', 'PROBLEMS (results of these contenders are suspect):', ...[...new Set(problems)].map((p) => `- ${p}`)].join('\n'))
    process.exitCode = 1
  }

  // Smoke and partial runs get their own file, so they never overwrite the
  // full run's results.
  const variant = [args.quick ? 'quick' : '', args.inProcess ? 'in-process' : '', args.only.length > 0 ? `only-${args.only.join('+')}` : ''].filter((x) => x !== '').join('-')
  const path = writeResults(variant === '' ? 'durable' : `durable-${variant}`, {
    benchmark: 'durable',
    machine: { ...machineInfo(), diskFreeBytesAtStart: freeAtStart, diskFreeBytesAtEnd: diskFree(), tmpdir: tmpdir(), loadAverageAtStart: loadAtStart, loadAverageAtEnd: loadAtEnd },
    config: {
      ...sizes,
      seed,
      quick: args.quick,
      inProcess: args.inProcess,
      only: args.only,
      keyBytes: KEY_BYTES,
      valueBytes: VALUE_BYTES,
      writers: WRITERS,
      rangeLimit: RANGE_LIMIT,
      bulkIteration: Object.fromEntries(all.map((c) => [c.id, c.bulkIteration]))
    },
    contenders: all.map((c) => ({ id: c.id, label: c.label })),
    rows: jsonRows,
    open: withOpen
      ? {
          entries: sizes.openEntries,
          measured: 'ms from the constructor to open() done, then the first get, each in a fresh process; memory-level: ms to load the entries with batch(1000) from its constructor on',
          makoOpenPlusFirstGetMs: makoOpen ?? null,
          memoryLevelLoadMs: memoryLoad ?? null,
          memoryLoadOverMakoOpen: openRatio ?? null,
          memoryLoadOverMakoOpenPerPass: openRatios,
          met: openMet ?? null,
          passes: openPasses
        }
      : null,
    bars,
    problems
  })
  console.log(`\nwrote ${path}`)
}

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})
