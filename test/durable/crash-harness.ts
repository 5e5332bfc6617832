/**
 * Kill-and-recover rounds against a persistent MakoLevel: a child process
 * writes batches and reports each acknowledgement; the harness kills it with
 * SIGKILL at a random moment, reopens the database and checks that every
 * acknowledged batch is present and that no batch is partial.
 * @internal
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { MakoLevel } from '../../adapters/level/mako-level.js'

const child = fileURLToPath(new URL('./crash-child.js', import.meta.url))

/** What one round saw. @internal */
export interface Round {
  acked: number
  recoveredLast: number
  batches: number
  problems: string[]
}

function rng (seed: number): () => number {
  let x = seed >>> 0
  return () => { x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0; return x / 0x100000000 }
}

/** Runs the writer until killed after `ms`; resolves with the highest acknowledged batch. */
function runAndKill (dir: string, seed: number, ms: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [child, dir, String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] })
    let acked = 0
    let buffered = ''
    let stderr = ''
    let started = false
    proc.stdout.setEncoding('utf8').on('data', (d: string) => {
      buffered += d
      const lines = buffered.split('\n')
      buffered = lines.pop()!
      for (const line of lines) if (line.startsWith('ack ')) acked = Math.max(acked, Number(line.slice(4)))
      if (!started) {
        // The clock starts at the first acknowledgement, so slow process
        // start-up never turns a round into a kill before any write.
        started = true
        setTimeout(() => proc.kill('SIGKILL'), ms)
      }
    })
    proc.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    const guard = setTimeout(() => proc.kill('SIGKILL'), 30_000)
    proc.on('error', reject)
    proc.on('close', (code, signal) => {
      clearTimeout(guard)
      if (signal !== 'SIGKILL') reject(new Error(`writer exited by itself (code ${code}): ${stderr}`))
      else resolve(acked)
    })
  })
}

/** Opens the database and checks every batch up to `acked` is whole and present. */
async function verify (dir: string, acked: number): Promise<Omit<Round, 'acked'>> {
  const problems: string[] = []
  const db = new MakoLevel<string, string>(dir)
  await db.open()
  const last = Number(await db.get('last') ?? 0)
  if (last < acked) problems.push(`batch ${acked} was acknowledged but the database ends at ${last}`)
  // Group keys by batch and check each batch is whole.
  const seen = new Map<number, { size: number, count: number }>()
  const side = db.columnFamily('side')
  const entries = [...await db.iterator({ gte: 'b', lt: 'c' }).all(), ...await side.iterator({ gte: 'b', lt: 'c' }).all()]
  for (const [key, value] of entries) {
    const n = Number(key.slice(1, key.indexOf('-')))
    const size = Number(value.split(':')[1])
    const s = seen.get(n) ?? { size, count: 0 }
    s.count++
    seen.set(n, s)
  }
  for (const [n, s] of seen) {
    if (s.count !== s.size) problems.push(`batch ${n} is partial: ${s.count} of ${s.size} keys`)
    if (n > last) problems.push(`batch ${n} is present but "last" is ${last}`)
  }
  for (let n = Math.max(1, last - 200); n <= last; n++) {
    // Batches are deleted only as n - 10 by batch n (n % 7 === 0).
    const deleted = (n + 10) % 7 === 0 && n + 10 <= last && n + 10 > 10
    if (!deleted && !seen.has(n)) problems.push(`batch ${n} (at or below last ${last}) is missing`)
  }
  await db.close()
  return { recoveredLast: last, batches: seen.size, problems }
}

/**
 * Runs `rounds` kill-and-recover rounds in `dir`, calling `onRound` after
 * each. Seeded: the same seed gives the same kill delays.
 * @internal
 */
export async function crashRounds (dir: string, rounds: number, seed: number, onRound: (i: number, round: Round) => void): Promise<void> {
  const random = rng(seed)
  let ackedEver = 0
  for (let i = 0; i < rounds; i++) {
    const acked = await runAndKill(dir, seed + i, 5 + Math.floor(random() * 150))
    ackedEver = Math.max(ackedEver, acked)
    const round = await verify(dir, ackedEver)
    onRound(i, { acked: ackedEver, ...round })
  }
}
