/**
 * Child process of the embedded benchmark: loads N entries into one contender
 * and reports how much memory the process grew by, per entry. One fresh
 * process per contender, so nothing else lives in the heap.
 *
 * Run: `node --expose-gc dist/bench/memory-child.js --contender <id>
 * --entries <n> [--seed <n>]`; prints one JSON line ({@link MemoryReport}).
 *
 * What counts: `heapUsed + external`. Node's `external` already includes
 * `arrayBuffers` (the bytes of every Buffer), so adding `arrayBuffers` again
 * would count those bytes twice. memory-level keeps the caller's Buffers, so
 * its key and value bytes sit in `arrayBuffers`; a store that copies bytes
 * into its own arrays shows them in the same place or on the heap. Keys and
 * values are generated inside the measured window, a batch at a time, and
 * only what the database keeps survives the final collection. `rss` growth is
 * reported too: it is the only figure that sees native stores such as
 * classic-level, and it includes freed-but-kept pages.
 *
 * @module
 * @internal
 */

import { contenders, makoLevelUnavailable, type Bytes } from './embedded-contenders.js'
import { Prng, randomBuffers } from './lib/prng.js'
import { collectGarbage } from './lib/stats.js'

/** Memory growth of one contender after loading `entries` entries. @internal */
export interface MemoryReport {
  contender: string
  entries: number
  /** (heapUsed + external) growth / entries. */
  bytesPerEntry: number
  /** rss growth / entries. */
  rssPerEntry: number
  /** Growth of each `process.memoryUsage()` field, bytes. */
  delta: { rss: number, heapUsed: number, heapTotal: number, external: number, arrayBuffers: number }
  /** Load speed (batches of 1000), for information. */
  loadOpsPerSecond: number
}

const BATCH = 1000

function settle (): NodeJS.MemoryUsage {
  // Several passes: weak callbacks and finalizers free more on later ones.
  for (let i = 0; i < 4; i++) collectGarbage()
  return process.memoryUsage()
}

async function main (): Promise<void> {
  const argv = process.argv.slice(2)
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(name)
    return i === -1 ? undefined : argv[i + 1]
  }
  const id = arg('--contender')
  const entries = Number(arg('--entries') ?? 1_000_000)
  const seed = Number(arg('--seed') ?? 1)
  if (id === undefined || !Number.isInteger(entries) || entries <= 0) {
    throw new Error('usage: memory-child --contender <id> --entries <n> [--seed <n>]')
  }
  const contender = (await contenders({ withMako: id === 'mako' })).find((c) => c.id === id)
  if (contender === undefined) throw new Error(`unknown or unavailable contender '${id}'${id === 'mako' ? `: ${String(makoLevelUnavailable)}` : ''}`)

  const { db, dispose } = await contender.open()
  const prng = new Prng(seed)
  const before = settle()
  const started = performance.now()
  // Contenders given strings get the same bytes as strings (see
  // embedded-contenders.ts); the Buffers they came from become garbage.
  const form = contender.input === 'string'
    ? (b: Buffer): Bytes => b.toString('latin1')
    : (b: Buffer): Bytes => b
  let lastKey: Bytes | undefined
  for (let done = 0; done < entries; done += BATCH) {
    const size = Math.min(BATCH, entries - done)
    const keys = randomBuffers(prng, size, 16, 'base64url').map(form)
    const values = randomBuffers(prng, size, 100, 'base64url').map(form)
    await db.batch(keys.map((key, i) => ({ type: 'put' as const, key, value: values[i] as Bytes })))
    lastKey = keys[size - 1]
  }
  const loadMs = performance.now() - started
  const after = settle()

  // Use the database after measuring, so it is certainly alive until then,
  // and check the load happened.
  if (lastKey === undefined || await db.get(lastKey) === undefined) throw new Error('last key written is not found')

  const d = {
    rss: after.rss - before.rss,
    heapUsed: after.heapUsed - before.heapUsed,
    heapTotal: after.heapTotal - before.heapTotal,
    external: after.external - before.external,
    arrayBuffers: after.arrayBuffers - before.arrayBuffers
  }
  const report: MemoryReport = {
    contender: id,
    entries,
    bytesPerEntry: (d.heapUsed + d.external) / entries,
    rssPerEntry: d.rss / entries,
    delta: d,
    loadOpsPerSecond: entries / (loadMs / 1000)
  }
  // Report first: closing is not measured, and a close that never settles
  // must not cost the figures (the parent still sees the exit code).
  process.stdout.write(JSON.stringify(report) + '\n')
  await dispose()
}

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})
