/**
 * Transactions benchmark: what an optimistic read-modify-write transaction
 * costs against the plain get-then-put it replaces, uncontended and under a
 * Zipf-skewed hot set (commits, retries, aborts), in memory and with a
 * location.
 *
 * Run: `npm run bench:transactions [-- --quick] [--passes n] [--seed n]`.
 * The bar: an uncontended transaction costs no more than 2x a plain get
 * followed by a put (a rate ratio of at least 0.5).
 *
 * @module
 * @internal
 */

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MakoLevel } from '../adapters/level/mako-level.js'
import { parseBenchArgs } from './lib/cli.js'
import { formatRate, formatRatio, markdownTable } from './lib/markdown.js'
import { Prng } from './lib/prng.js'
import { machineInfo, writeResults } from './lib/results.js'
import { collectGarbage, median, now } from './lib/stats.js'
import { Zipf } from './lib/zipf.js'

const args = parseBenchArgs(process.argv.slice(2))
const passes = args.passes ?? (args.quick ? 1 : 3)
const seed = args.seed ?? 42
const OPS = args.quick ? 5_000 : 50_000
const KEYS = 10_000
const HOT_KEYS = 1_000
const WORKERS = 32

const key = (i: number): string => `key${String(i).padStart(6, '0')}`

interface Row { name: string, unit: string, mode: string, rates: number[], extra: Record<string, number[]> }

async function fresh (mode: string): Promise<{ db: MakoLevel, done: () => Promise<void> }> {
  const dir = mode === 'disk' ? mkdtempSync(join(tmpdir(), 'mako-bench-tx-')) : undefined
  const db = dir === undefined ? new MakoLevel() : new MakoLevel(dir)
  await db.batch(Array.from({ length: KEYS }, (_, i) => ({ type: 'put' as const, key: key(i), value: '0' })))
  return {
    db,
    done: async () => {
      await db.close()
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
    }
  }
}

async function uncontendedPlain (db: MakoLevel, prng: Prng): Promise<number> {
  const start = now()
  for (let i = 0; i < OPS; i++) {
    const k = key(prng.nextUint32() % KEYS)
    const v = Number(await db.get(k))
    await db.put(k, String(v + 1))
  }
  return OPS / ((now() - start) / 1000)
}

async function uncontendedTx (db: MakoLevel, prng: Prng): Promise<number> {
  const start = now()
  for (let i = 0; i < OPS; i++) {
    const k = key(prng.nextUint32() % KEYS)
    await db.transaction(async (tx) => {
      const v = Number(await tx.get(k))
      tx.put(k, String(v + 1))
    })
  }
  return OPS / ((now() - start) / 1000)
}

async function uncontendedExplicit (db: MakoLevel, prng: Prng): Promise<number> {
  const start = now()
  for (let i = 0; i < OPS; i++) {
    const k = key(prng.nextUint32() % KEYS)
    const tx = db.beginTransaction()
    const v = Number(await tx.get(k))
    tx.put(k, String(v + 1))
    await tx.commit()
  }
  return OPS / ((now() - start) / 1000)
}

interface Contended { rate: number, commits: number, retries: number, aborts: number }

async function contendedTx (db: MakoLevel, prng: Prng): Promise<Contended> {
  const zipf = new Zipf(HOT_KEYS, 0.99, prng)
  let commits = 0
  let runs = 0
  let aborts = 0
  let issued = 0
  const start = now()
  await Promise.all(Array.from({ length: WORKERS }, async () => {
    while (issued < OPS) {
      issued++
      const k = key(zipf.next())
      try {
        await db.transaction(async (tx) => {
          runs++
          const v = Number(await tx.get(k))
          // Let other workers in between the read and the commit, as a real
          // application awaiting something would.
          await new Promise((resolve) => setImmediate(resolve))
          tx.put(k, String(v + 1))
        })
        commits++
      } catch (err) {
        if ((err as { code?: string }).code !== 'MAKO_TRANSACTION_CONFLICT') throw err
        aborts++
      }
    }
  }))
  return { rate: commits / ((now() - start) / 1000), commits, retries: runs - commits - aborts, aborts }
}

async function contendedPlain (db: MakoLevel, prng: Prng): Promise<number> {
  const zipf = new Zipf(HOT_KEYS, 0.99, prng)
  let issued = 0
  const start = now()
  await Promise.all(Array.from({ length: WORKERS }, async () => {
    while (issued < OPS) {
      issued++
      const k = key(zipf.next())
      const v = Number(await db.get(k))
      await new Promise((resolve) => setImmediate(resolve))
      await db.put(k, String(v + 1)) // loses updates: the reference, not a peer
    }
  }))
  return OPS / ((now() - start) / 1000)
}

async function main (): Promise<void> {
  const rows: Row[] = []
  const row = (name: string, unit: string, mode: string): Row => {
    let r = rows.find((x) => x.name === name && x.mode === mode)
    if (r === undefined) { r = { name, unit, mode, rates: [], extra: {} }; rows.push(r) }
    return r
  }
  for (let pass = 0; pass < passes; pass++) {
    for (const mode of ['memory', 'disk']) {
      const prng = new Prng(seed + pass)
      const cases: Array<[string, string, (db: MakoLevel) => Promise<number | Contended>]> = [
        ['plain get + put (uncontended)', 'ops/s', async (db) => await uncontendedPlain(db, prng)],
        ['db.transaction(get, put) (uncontended)', 'txns/s', async (db) => await uncontendedTx(db, prng)],
        ['beginTransaction/commit (uncontended)', 'txns/s', async (db) => await uncontendedExplicit(db, prng)],
        [`plain get + put, ${WORKERS} workers, Zipf hot set (loses updates)`, 'ops/s', async (db) => await contendedPlain(db, prng)],
        [`db.transaction, ${WORKERS} workers, Zipf hot set`, 'commits/s', async (db) => await contendedTx(db, prng)]
      ]
      for (const [name, unit, run] of cases) {
        const { db, done } = await fresh(mode)
        collectGarbage()
        const result = await run(db)
        await done()
        const r = row(name, unit, mode)
        if (typeof result === 'number') r.rates.push(result)
        else {
          r.rates.push(result.rate)
          for (const k of ['commits', 'retries', 'aborts'] as const) (r.extra[k] ??= []).push(result[k])
        }
      }
    }
  }

  const header = ['Row', 'Storage', 'Rate', 'Unit', 'vs plain get + put', 'Commits', 'Retries', 'Aborts']
  const table: string[][] = []
  const out: Record<string, unknown>[] = []
  for (const r of rows) {
    const rate = median(r.rates)
    const plainName = r.name.includes('workers') ? `plain get + put, ${WORKERS} workers, Zipf hot set (loses updates)` : 'plain get + put (uncontended)'
    const plain = median(rows.find((x) => x.name === plainName && x.mode === r.mode)!.rates)
    const ratio = r.name.startsWith('plain') ? undefined : rate / plain
    const ex = (k: string): string => r.extra[k] !== undefined ? String(median(r.extra[k]!)) : ''
    table.push([r.name, r.mode, formatRate(rate), r.unit, ratio === undefined ? '' : formatRatio(ratio), ex('commits'), ex('retries'), ex('aborts')])
    out.push({ name: r.name, storage: r.mode, unit: r.unit, median: rate, passes: r.rates, ratioToPlain: ratio, extra: r.extra })
  }
  console.log(markdownTable(header, table, ['left', 'left', 'right', 'left', 'right', 'right', 'right', 'right']))
  const bar = rows.filter((r) => r.name.includes('(uncontended)') && !r.name.startsWith('plain')).map((r) => {
    const plain = median(rows.find((x) => x.name === 'plain get + put (uncontended)' && x.mode === r.mode)!.rates)
    return { row: r.name, storage: r.mode, ratio: median(r.rates) / plain, met: median(r.rates) / plain >= 0.5 }
  })
  console.log('')
  for (const b of bar) console.log(`bar (uncontended transaction at least 0.5x the plain rate): ${b.row}, ${b.storage}: ${formatRatio(b.ratio)} ${b.met ? 'met' : 'NOT met'}`)
  console.log(`${passes} pass(es), medians; ${OPS} operations per row over ${KEYS} keys (hot set: ${HOT_KEYS} keys, Zipf s=0.99, ${WORKERS} workers).`)
  const file = writeResults(args.quick ? 'transactions-quick' : 'transactions', { machine: machineInfo(), passes, seed, ops: OPS, rows: out, bar })
  console.log(`wrote ${file}`)
}

await main()
