/**
 * Child process of the durability benchmark, for the "open a database of a
 * million entries" row. Each step runs in a fresh process, so an open
 * starts with an empty heap and cold module-level caches (the files
 * themselves are in the OS page cache: they were just written).
 *
 * Run: `node dist/bench/durable-open.js --mode <mode> ...`; prints one JSON
 * line ({@link OpenChildReport}).
 * - `--mode write --contender <id> --dir <d> --entries <n> --seed <n>`:
 *   write the entries with batch(1000), sync: false, then close.
 * - `--mode open --contender <id> --dir <d> --seed <n>`: time from the
 *   constructor to `open()` done, then the first get of a key known to be
 *   there.
 * - `--mode memory --entries <n> --seed <n>`: time memory-level loading
 *   the same entries with batch(1000), from its constructor on (the data is
 *   generated before the clock starts).
 *
 * @module
 * @internal
 */

import { MemoryLevel } from 'memory-level'
import { CONTENDERS, openData, OPEN_BATCH, type PutOp } from './durable-contenders.js'
import { now } from './lib/stats.js'

/** What one step reports, in ms. @internal */
export type OpenChildReport =
  | { mode: 'write', contender: string, entries: number, writeMs: number, closeMs: number }
  | { mode: 'open', contender: string, openMs: number, firstGetMs: number }
  | { mode: 'memory', entries: number, loadMs: number }

function report (r: OpenChildReport): void {
  process.stdout.write(JSON.stringify(r) + '\n')
}

async function main (): Promise<void> {
  const argv = process.argv.slice(2)
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(name)
    return i === -1 ? undefined : argv[i + 1]
  }
  const mode = arg('--mode')
  const seed = Number(arg('--seed') ?? 1)
  const entries = Number(arg('--entries') ?? 0)
  const dir = arg('--dir')
  const id = arg('--contender')
  const contender = CONTENDERS.find((c) => c.id === id)

  if (mode === 'write' && contender !== undefined && dir !== undefined && entries > 0) {
    const db = await contender.open(dir)
    const started = now()
    for (const ops of openData(seed, entries)) await db.batch(ops, false)
    const written = now()
    await db.close()
    report({ mode, contender: contender.id, entries, writeMs: written - started, closeMs: now() - written })
    return
  }

  if (mode === 'open' && contender !== undefined && dir !== undefined) {
    // The first key written; generated before the clock starts.
    const first = openData(seed, OPEN_BATCH).next().value?.[0]?.key
    if (first === undefined) throw new Error('no first key')
    await contender.load()
    const started = now()
    const db = await contender.open(dir)
    const opened = now()
    const value = await db.get(first)
    const got = now()
    if (value === undefined) throw new Error(`${contender.id}: the first key written is not found after open`)
    // Report first: closing is not measured.
    report({ mode, contender: contender.id, openMs: opened - started, firstGetMs: got - opened })
    await db.close()
    return
  }

  if (mode === 'memory' && entries > 0) {
    const batches: Array<PutOp[] | undefined> = [...openData(seed, entries)]
    const first = batches[0]?.[0]
    if (first === undefined) throw new Error('no first key')
    const started = now()
    const db = new MemoryLevel<Buffer, Buffer>({ keyEncoding: 'buffer', valueEncoding: 'buffer', storeEncoding: 'buffer' })
    await db.open()
    for (let i = 0; i < batches.length; i++) {
      await db.batch(batches[i] as PutOp[])
      // Each batch's operation objects become garbage once loaded, as they
      // would when read from a file a batch at a time: only what
      // memory-level keeps stays on the heap its collector scans.
      batches[i] = undefined
    }
    const loadMs = now() - started
    if (await db.get(first.key) === undefined) throw new Error('memory-level: the first key written is not found')
    report({ mode, entries, loadMs })
    await db.close()
    return
  }

  throw new Error('usage: durable-open --mode write|open|memory [--contender <id>] [--dir <d>] [--entries <n>] [--seed <n>]')
}

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})
