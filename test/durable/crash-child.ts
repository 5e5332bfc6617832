// The writer the crash tests kill: it opens the database at argv[2], goes on
// from the batch after the last one the database holds, and prints
// "ack <n>" after each batch is acknowledged. Batch n puts keys b<n>-0 ..
// b<n>-<size-1> and sets "last" to n, all in one batch, so after a crash a
// batch is either whole or absent. Every few batches it deletes an old
// batch's keys, also atomically. Small checkpoint thresholds make
// checkpoints (and log segment drops) happen between kills. Odd-numbered
// keys of a batch go to the column family "side", so a batch spans two
// families and must still be whole after a crash. One batch in four pads its
// values ("<n>:<size>:ppp..."), so that many of those records are over 8 KiB
// and a mapped log writes them with a write call rather than a copy: a kill
// can land in either path.
import { MakoLevel } from '../../adapters/level/mako-level.js'

const dir = process.argv[2]!
const seed = Number(process.argv[3] ?? 1)
const db = new MakoLevel<string, string>(dir, { checkpointLogBytes: 64 * 1024 })
await db.open()
const side = db.columnFamily('side')
await side.open()
let n = Number(await db.get('last') ?? 0) + 1
let x = seed >>> 0
const rand = (m: number): number => { x = (Math.imul(x, 1664525) + 1013904223) >>> 0; return x % m }

for (;;) {
  const size = 1 + rand(40)
  const pad = rand(4) === 0 ? ':' + 'p'.repeat(500) : ''
  type Op = { type: 'put', key: string, value: string, columnFamily?: unknown } | { type: 'del', key: string, columnFamily?: unknown }
  const ops: Op[] = []
  for (let i = 0; i < size; i++) {
    ops.push(i % 2 === 1
      ? { type: 'put', key: `b${n}-${i}`, value: `${n}:${size}${pad}`, columnFamily: side }
      : { type: 'put', key: `b${n}-${i}`, value: `${n}:${size}${pad}` })
  }
  ops.push({ type: 'put', key: 'last', value: String(n) })
  if (n % 7 === 0 && n > 10) {
    // Delete a whole older batch (every key it could have had).
    for (let i = 0; i < 40; i++) ops.push(i % 2 === 1 ? { type: 'del', key: `b${n - 10}-${i}`, columnFamily: side } : { type: 'del', key: `b${n - 10}-${i}` })
  }
  // abstract-level's option types have no `sync`; MakoLevel reads it as classic-level does.
  await db.batch(ops as never, { sync: rand(10) === 0 } as Record<string, unknown>)
  process.stdout.write(`ack ${n}\n`)
  n++
}
