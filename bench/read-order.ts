/**
 * Point reads in insertion order against a random permutation, MakoLevel
 * and memory-level: the embedded benchmark reads in random order, where a
 * get is bound by memory latency, and insertion order shows what the tree
 * costs when its entries' chunks are still in cache.
 *
 * Run: `npx tsc -p . && node dist/bench/read-order.js` (best of 8 passes of
 * 100k getSync calls over 100k entries).
 *
 * @module
 * @internal
 */

import { MemoryLevel } from 'memory-level'
import { MakoLevel } from '../adapters/level/mako-level.js'
import { formatRate, formatRatio, markdownTable } from './lib/markdown.js'
import { Prng, randomBuffers } from './lib/prng.js'
import { machineInfo, writeResults } from './lib/results.js'
import { now } from './lib/stats.js'

const N = 100_000
const prng = new Prng(7)
const keys = randomBuffers(prng, N, 16)
const value = randomBuffers(prng, 1, 100)[0]!
const shuffled = Array.from({ length: N }, (_, i) => i)
for (let i = N - 1; i > 0; i--) {
  const j = prng.nextUint32() % (i + 1)
  const t = shuffled[i]!
  shuffled[i] = shuffled[j]!
  shuffled[j] = t
}
const inOrder = Array.from({ length: N }, (_, i) => i)

type Db = { getSync: (k: Buffer) => unknown, batch: (ops: unknown[]) => Promise<void>, open: () => Promise<void> }
const contenders: Array<[string, () => Db]> = [
  ['MakoLevel', () => new MakoLevel<Buffer, Buffer>({ keyEncoding: 'buffer', valueEncoding: 'buffer' }) as unknown as Db],
  ['memory-level (buffer)', () => new MemoryLevel<Buffer, Buffer>({ keyEncoding: 'buffer', valueEncoding: 'buffer' }) as unknown as Db]
]

const results: Record<string, Record<string, number>> = {}
for (const [name, make] of contenders) {
  const db = make()
  await db.open()
  for (let i = 0; i < N; i += 1000) await db.batch(keys.slice(i, i + 1000).map((key) => ({ type: 'put', key, value })))
  results[name] = {}
  for (const [order, perm] of [['insertion order', inOrder], ['random order', shuffled]] as const) {
    let best = 0
    for (let pass = 0; pass < 8; pass++) {
      const start = now()
      for (let i = 0; i < N; i++) db.getSync(keys[perm[i]!]!)
      best = Math.max(best, N / ((now() - start) / 1000))
    }
    results[name]![order] = best
  }
}
const rows = ['insertion order', 'random order'].map((order) => {
  const mako = results['MakoLevel']![order]!
  const mem = results['memory-level (buffer)']![order]!
  return [order, formatRate(mako), formatRate(mem), formatRatio(mako / mem)]
})
console.log(markdownTable(['getSync, 100k entries', 'MakoLevel', 'memory-level (buffer)', 'ratio'], rows, ['left', 'right', 'right', 'right']))
console.log(`wrote ${writeResults('read-order', { machine: machineInfo(), entries: N, passes: 8, statistic: 'best of passes', results })}`)
