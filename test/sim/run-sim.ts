/**
 * The seed runner: `npm run sim` runs every simulation found in this folder
 * (`*.sim.js`, each exporting `simulation`) over many seeds.
 *
 * Flags: `--seeds N` (default 20,000), `--from S` (first seed, default 1),
 * `--only NAME` (one simulation), `--jobs J` (worker threads, default the
 * number of cores), `--stop-after K` (stop after K failures, default 10).
 * Exits 1 if any seed failed, printing each failing seed with how to replay
 * it (`--from SEED --seeds 1 --only NAME`).
 *
 * @module
 * @internal
 */

import { readdirSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import type { Simulation } from './simulation.js'

interface Job { file: string, from: number, count: number, stopAfter: number }
interface Report { name: string, seeds: number, failures: Array<{ seed: number, message: string }>, totals: Record<string, number>, maxes: Record<string, number> }

const here = dirname(fileURLToPath(import.meta.url))

async function load (file: string): Promise<Simulation> {
  const mod = await import(pathToFileURL(join(here, file)).href) as { simulation?: Simulation }
  if (mod.simulation === undefined) throw new Error(`${file} exports no simulation`)
  return mod.simulation
}

async function runJob (job: Job): Promise<Report> {
  const sim = await load(job.file)
  const report: Report = { name: sim.name, seeds: 0, failures: [], totals: {}, maxes: {} }
  for (let seed = job.from; seed < job.from + job.count; seed++) {
    report.seeds++
    try {
      const summary = await sim.run(seed)
      for (const [k, v] of Object.entries(summary)) {
        report.totals[k] = (report.totals[k] ?? 0) + v
        report.maxes[k] = Math.max(report.maxes[k] ?? 0, v)
      }
    } catch (err) {
      const e = err as Error & { trace?: string[] }
      report.failures.push({ seed, message: `${e.message}${e.trace !== undefined ? '\n    ' + e.trace.slice(-20).join('\n    ') : ''}` })
      if (report.failures.length >= job.stopAfter) break
    }
  }
  return report
}

function flag (args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`)
  if (i < 0) return fallback
  const v = Number(args[i + 1])
  if (!Number.isSafeInteger(v) || v < 0) throw new Error(`--${name} needs a whole number`)
  return v
}

async function main (): Promise<void> {
  const args = process.argv.slice(2)
  const seeds = flag(args, 'seeds', 20_000)
  const from = flag(args, 'from', 1)
  const jobs = Math.max(1, flag(args, 'jobs', availableParallelism()))
  const stopAfter = flag(args, 'stop-after', 10)
  const oi = args.indexOf('--only')
  const only = oi >= 0 ? args[oi + 1] : undefined
  const files = readdirSync(here).filter((f) => f.endsWith('.sim.js')).sort()
  let failed = 0
  for (const file of files) {
    const sim = await load(file)
    if (only !== undefined && sim.name !== only) continue
    const t0 = performance.now()
    const per = Math.ceil(seeds / jobs)
    const parts: Job[] = []
    for (let s = from; s < from + seeds; s += per) parts.push({ file, from: s, count: Math.min(per, from + seeds - s), stopAfter })
    const reports = await Promise.all(parts.map((job) => new Promise<Report>((resolve, reject) => {
      const w = new Worker(fileURLToPath(import.meta.url), { workerData: job })
      w.once('message', resolve)
      w.once('error', reject)
    })))
    const total: Report = { name: sim.name, seeds: 0, failures: [], totals: {}, maxes: {} }
    for (const r of reports) {
      total.seeds += r.seeds
      total.failures.push(...r.failures)
      for (const [k, v] of Object.entries(r.totals)) total.totals[k] = (total.totals[k] ?? 0) + v
      for (const [k, v] of Object.entries(r.maxes)) total.maxes[k] = Math.max(total.maxes[k] ?? 0, v)
    }
    const secs = (performance.now() - t0) / 1000
    const sums = Object.entries(total.totals).map(([k, v]) => `${k} ${v} (max ${total.maxes[k] ?? 0})`).join(', ')
    console.log(`${sim.name}: ${total.seeds} seeds from ${from} in ${secs.toFixed(1)} s, ${total.failures.length} failed; ${sums}`)
    for (const f of total.failures) {
      console.log(`  FAIL seed ${f.seed}: ${f.message}\n  replay: node dist/test/sim/run-sim.js --only ${sim.name} --from ${f.seed} --seeds 1`)
    }
    failed += total.failures.length
  }
  console.log(`${files.length > 0 ? 'sim' : 'no simulations found'}: ${seeds} seeds each, ${failed} failed`)
  process.exitCode = failed > 0 ? 1 : 0
}

if (isMainThread) {
  main().catch((err) => { console.error(err); process.exitCode = 1 })
} else {
  runJob(workerData as Job).then((r) => parentPort?.postMessage(r), (err) => { throw err })
}
