/**
 * One row of the durability benchmark under V8's CPU profiler, for finding
 * where a contender's time goes. Only the timed part of each run is
 * profiled (the profiler is started and stopped around it through
 * `node:inspector`), so opening, loading, closing and checkpoints on close
 * do not blur the picture, as they do with `node --cpu-prof` over the whole
 * benchmark.
 *
 * Run: `npx tsc -p . && node dist/bench/durable-profile.js --row <id>
 * [--contender mako] [--reps 3] [--quick] [--seed <n>] [--out <dir>]`.
 * Prints each run's rate and the functions with the most self time over all
 * runs; writes one `.cpuprofile` per run to `--out` (default
 * `<tmpdir>/mako-durable-profiles`), which Chrome DevTools opens.
 *
 * @module
 * @internal
 */

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CONTENDERS, type DurableStore } from './durable-contenders.js'
import { batches, DEFAULT_SEED, FULL, makeDataset, QUICK, ROWS } from './durable-rows.js'
import { formatRate, markdownTable } from './lib/markdown.js'
import { collectGarbage, rate } from './lib/stats.js'

/** The parts of a V8 CPU profile used here. */
interface CpuProfile {
  nodes: Array<{ id: number, callFrame: { functionName: string, url: string, lineNumber: number }, children?: number[] }>
  samples: number[]
  timeDeltas: number[]
}

/** Most runs profiled in one call. */
const MAX_REPS = 50
/** Functions listed in the summary. */
const TOP = 30

function usage (): never {
  throw new Error(`usage: durable-profile --row <${ROWS.map((r) => r.id).join('|')}> [--contender <${CONTENDERS.map((c) => c.id).join('|')}>] [--reps <n>] [--quick] [--seed <n>] [--out <dir>]`)
}

/**
 * Self time per function over `profiles`, in microseconds, leaving out
 * samples taken inside `node:inspector` (stopping the profiler).
 */
function selfTimes (profiles: readonly CpuProfile[]): { total: number, byFunction: Map<string, number> } {
  const byFunction = new Map<string, number>()
  let total = 0
  for (const p of profiles) {
    const nodes = new Map(p.nodes.map((n) => [n.id, n]))
    const parent = new Map<number, number>()
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
    const inInspector = (id: number): boolean => {
      for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
        if (nodes.get(x)?.callFrame.url === 'node:inspector') return true
      }
      return false
    }
    for (let i = 0; i < p.samples.length; i++) {
      const id = p.samples[i] as number
      const dt = p.timeDeltas[i] ?? 0
      if (inInspector(id)) continue
      const f = nodes.get(id)?.callFrame
      if (f === undefined) continue
      const file = f.url.split('/').pop() ?? ''
      const name = `${f.functionName === '' ? '(anonymous)' : f.functionName}${file === '' ? '' : ` ${file}:${f.lineNumber + 1}`}`
      byFunction.set(name, (byFunction.get(name) ?? 0) + dt)
      total += dt
    }
  }
  return { total, byFunction }
}

async function main (): Promise<void> {
  const argv = process.argv.slice(2)
  const opts = new Map<string, string>()
  let quick = false
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string
    if (a === '--quick') quick = true
    else if (['--row', '--contender', '--reps', '--seed', '--out'].includes(a) && argv[i + 1] !== undefined) opts.set(a, argv[++i] as string)
    else usage()
  }
  const row = ROWS.find((r) => r.id === opts.get('--row'))
  const contender = CONTENDERS.find((c) => c.id === (opts.get('--contender') ?? 'mako'))
  const reps = Number(opts.get('--reps') ?? 3)
  const seed = Number(opts.get('--seed') ?? DEFAULT_SEED)
  if (row === undefined || contender === undefined || !Number.isInteger(reps) || reps < 1 || reps > MAX_REPS || !Number.isInteger(seed)) usage()
  const out = opts.get('--out') ?? join(tmpdir(), 'mako-durable-profiles')
  mkdirSync(out, { recursive: true })

  const data = makeDataset(seed, quick ? QUICK : FULL)
  const dir = mkdtempSync(join(tmpdir(), `mako-bench-durable-profile-${contender.id}-`))
  const session = new Session()
  session.connect()
  let readDb: DurableStore | undefined
  let n = 0
  try {
    await session.post('Profiler.enable')
    await session.post('Profiler.setSamplingInterval', { interval: 100 })
    if (row.kind === 'read') {
      const loading = await contender.open(join(dir, 'read'))
      for (const b of batches(data, 1000, data.sizes.entries)) await loading.batch(b, false)
      await loading.close()
      readDb = await contender.open(join(dir, 'read'))
    }
    const runOnce = async (profile: boolean): Promise<{ rate: number, profile?: CpuProfile }> => {
      const location = join(dir, `run-${n++}`)
      const db = readDb ?? await contender.open(location)
      const problems: string[] = []
      try {
        collectGarbage()
        if (profile) await session.post('Profiler.start')
        const t = await row.run(db, data, problems)
        const p = profile ? (await session.post('Profiler.stop')).profile as unknown as CpuProfile : undefined
        if (problems.length > 0) throw new Error(problems.join('; '))
        return p === undefined ? { rate: rate(t) } : { rate: rate(t), profile: p }
      } finally {
        if (readDb === undefined) {
          await db.close()
          rmSync(location, { recursive: true, force: true })
        }
      }
    }
    // One untimed run first, so the profile shows optimised code.
    await runOnce(false)
    const profiles: CpuProfile[] = []
    for (let r = 0; r < reps; r++) {
      const res = await runOnce(true)
      if (res.profile === undefined) throw new Error('no profile')
      profiles.push(res.profile)
      const file = join(out, `durable-${row.id}-${contender.id}-${r}.cpuprofile`)
      writeFileSync(file, JSON.stringify(res.profile))
      console.log(`${row.id} ${contender.label} run ${r + 1}/${reps}: ${formatRate(res.rate)} ${row.unit} (${file})`)
    }
    const { total, byFunction } = selfTimes(profiles)
    const top = [...byFunction.entries()].sort((a, b) => b[1] - a[1]).slice(0, TOP)
    console.log('')
    console.log(`Self time over ${reps} profiled run(s) of ${row.label(data.sizes)}, ${contender.label}: ${(total / 1000).toFixed(0)} ms sampled`)
    console.log('')
    console.log(markdownTable(['Function', 'ms', 'share'], top.map(([name, us]) => [name, (us / 1000).toFixed(1), `${((us / total) * 100).toFixed(1)}%`]), ['left', 'right', 'right']))
  } finally {
    await readDb?.close().catch(() => {})
    session.disconnect()
    rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})
