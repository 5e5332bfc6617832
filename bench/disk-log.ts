/**
 * The disk layer's speed: write-ahead log appends (with and without sync, 1
 * and 64 concurrent writers) against a log without group commit and against
 * classic-level's put (LevelDB's log plus memtable); CRC32C; and what
 * recovery costs for a million records (opening and reading the log,
 * writing and reading a checkpoint).
 *
 * `node dist/bench/disk-log.js [--quick] [--passes n]`. Prints markdown
 * tables; writes bench/results/disk-log.json (disk-log-quick.json with
 * --quick). Medians of the passes (3 by default).
 *
 * @module
 * @internal
 */

import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import * as fs from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as zlib from 'node:zlib'
import { ClassicLevel } from 'classic-level'
import { crc32c, crc32cBytewise } from '../adapters/disk/crc32c.js'
import { FileLog } from '../adapters/disk/log.js'
import { readCheckpoint, writeCheckpoint, type CheckpointPair } from '../adapters/disk/checkpoint.js'
import { parseBenchArgs } from './lib/cli.js'
import { formatRate, formatRatio, markdownTable } from './lib/markdown.js'
import { machineInfo, writeResults } from './lib/results.js'
import { median } from './lib/stats.js'

const args = parseBenchArgs(process.argv.slice(2))
const passes = args.passes ?? (args.quick ? 1 : 3)
const passMs = args.quick ? 150 : 600
const warmupMs = args.quick ? 50 : 150
const bulkCount = args.quick ? 100_000 : 1_000_000
const KEY_BYTES = 16
const VALUE_BYTES = 100
const payload = new Uint8Array(KEY_BYTES + VALUE_BYTES).fill(7)

function scratch (): string {
  return mkdtempSync(join(tmpdir(), 'mako-bench-disk-'))
}

/** Something that takes one record, durably or not. */
interface Appender {
  append: (sync: boolean) => Promise<unknown>
  close: () => Promise<void>
}

const contenders: Array<{ id: string, label: string, open: (dir: string) => Promise<Appender> }> = [
  {
    id: 'mako-inline',
    label: 'FileLog (inline writes)',
    open: async (dir) => {
      const log = await FileLog.open(dir, { writeMode: 'inline' })
      return { append: (sync) => log.append(payload, { sync }), close: () => log.close() }
    }
  },
  {
    id: 'mako-threadpool',
    label: 'FileLog (thread-pool writes)',
    open: async (dir) => {
      const log = await FileLog.open(dir, { writeMode: 'threadpool' })
      return { append: (sync) => log.append(payload, { sync }), close: () => log.close() }
    }
  },
  {
    id: 'naive',
    label: 'one write (+fdatasync) per append',
    open: async (dir) => {
      const fd = fs.openSync(join(dir, 'log'), 'w')
      let position = 0
      const write = (p: number): Promise<void> => new Promise((resolve, reject) => {
        fs.write(fd, payload, 0, payload.length, p, (err) => { if (err !== null) reject(err); else resolve() })
      })
      const fdatasync = (): Promise<void> => new Promise((resolve, reject) => {
        fs.fdatasync(fd, (err) => { if (err !== null) reject(err); else resolve() })
      })
      return {
        append: async (sync) => {
          const p = position
          position += payload.length
          await write(p)
          if (sync) await fdatasync()
        },
        close: async () => { fs.closeSync(fd) }
      }
    }
  },
  {
    id: 'classic-level',
    label: 'classic-level put',
    open: async (dir) => {
      const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' })
      await db.open()
      let n = 0
      const value = payload.subarray(KEY_BYTES)
      return {
        append: (sync) => {
          const key = new Uint8Array(KEY_BYTES)
          new DataView(key.buffer).setUint32(KEY_BYTES - 4, n++)
          return db.put(key, value, { sync })
        },
        close: () => db.close()
      }
    }
  }
]

/** Appends per second from `writers` concurrent loops over one pass. */
async function appendPass (open: (dir: string) => Promise<Appender>, writers: number, sync: boolean): Promise<number> {
  const dir = scratch()
  try {
    const a = await open(dir)
    let measuring = false
    let stop = false
    let done = 0
    const loop = async (): Promise<void> => {
      while (!stop) {
        await a.append(sync)
        if (measuring) done++
      }
    }
    const loops = Array.from({ length: writers }, () => loop())
    await new Promise((resolve) => setTimeout(resolve, warmupMs))
    measuring = true
    const started = performance.now()
    await new Promise((resolve) => setTimeout(resolve, passMs))
    measuring = false
    const elapsed = performance.now() - started
    stop = true
    await Promise.all(loops)
    await a.close()
    return done / elapsed * 1000
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function crcRate (fn: (b: Uint8Array) => number, size: number): number {
  const buf = new Uint8Array(size)
  for (let i = 0; i < size; i++) buf[i] = (i * 31) & 0xff
  const iterations = Math.max(1, Math.floor((args.quick ? 8 : 64) * 1024 * 1024 / size))
  let x = 0
  for (let i = 0; i < iterations / 10; i++) x ^= fn(buf)
  const started = performance.now()
  for (let i = 0; i < iterations; i++) x ^= fn(buf)
  const ms = performance.now() - started
  if (x === 0.5) console.log('') // keeps x alive
  return iterations * size / ms * 1000
}

interface BulkFigures {
  logWriteMs: number
  logOpenMs: number
  logReadMs: number
  logBytes: number
  checkpointWriteMs: number
  checkpointReadMs: number
  checkpointBytes: number
  rawReadMs: number
}

/** A million records into a log and a million entries into a checkpoint; reopen and read both. */
async function bulkPass (): Promise<BulkFigures> {
  const dir = scratch()
  try {
    const logDir = join(dir, 'wal')
    let started = performance.now()
    let log = await FileLog.open(logDir)
    for (let i = 0; i < bulkCount; i += 1000) {
      const group: Array<Promise<number>> = []
      for (let j = 0; j < 1000 && i + j < bulkCount; j++) group.push(log.append(payload))
      await Promise.all(group)
    }
    await log.close()
    const logWriteMs = performance.now() - started
    started = performance.now()
    log = await FileLog.open(logDir)
    const logOpenMs = performance.now() - started
    started = performance.now()
    let n = 0
    for await (const r of log.read(log.firstSeq)) n += r.payload.length > 0 ? 1 : 0
    const logReadMs = performance.now() - started
    const logBytes = log.segmentFiles.reduce((sum, f) => sum + fs.statSync(f).size, 0)
    await log.close()
    if (n !== bulkCount) throw new Error(`read ${n} of ${bulkCount} records`)

    const ckDir = join(dir, 'checkpoints')
    const value = payload.subarray(KEY_BYTES)
    const key = new Uint8Array(KEY_BYTES)
    const pair: CheckpointPair = [key, value]
    function * entries (): Iterable<CheckpointPair> {
      for (let i = 0; i < bulkCount; i++) {
        key[12] = i >>> 24
        key[13] = i >>> 16
        key[14] = i >>> 8
        key[15] = i
        yield pair
      }
    }
    started = performance.now()
    const written = await writeCheckpoint(ckDir, bulkCount, [{ name: 'default', entries: entries() }])
    const checkpointWriteMs = performance.now() - started
    started = performance.now()
    let m = 0
    await readCheckpoint(written.path, { onEntry: (_cf, k) => { m += k.length } })
    const checkpointReadMs = performance.now() - started
    if (m !== bulkCount * KEY_BYTES) throw new Error('checkpoint read back short')
    started = performance.now()
    const raw = readFileSync(written.path)
    const rawReadMs = performance.now() - started
    if (raw.length !== written.bytes) throw new Error('size mismatch')
    return {
      logWriteMs, logOpenMs, logReadMs, logBytes, checkpointWriteMs, checkpointReadMs,
      checkpointBytes: written.bytes, rawReadMs
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const rows: Array<{ writers: number, sync: boolean }> = [
  { writers: 1, sync: false }, { writers: 64, sync: false }, { writers: 1, sync: true }, { writers: 64, sync: true }
]

const appendResults: Record<string, Record<string, { passes: number[], median: number }>> = {}
for (const row of rows) {
  const rowId = `${row.writers}w-${row.sync ? 'sync' : 'nosync'}`
  appendResults[rowId] = {}
  for (const c of contenders) {
    const values: number[] = []
    for (let p = 0; p < passes; p++) values.push(await appendPass(c.open, row.writers, row.sync))
    ;(appendResults[rowId] as Record<string, { passes: number[], median: number }>)[c.id] = { passes: values, median: median(values) }
    process.stderr.write('.')
  }
}
process.stderr.write('\n')

const crcSizes = [116, 65536]
const nodeCrc32 = (zlib as unknown as { crc32?: (b: Uint8Array) => number }).crc32
const crcResults: Record<string, Record<string, number>> = {}
for (const size of crcSizes) {
  const r: Record<string, number> = {}
  r['sliced'] = median(Array.from({ length: passes }, () => crcRate(crc32c, size)))
  r['bytewise'] = median(Array.from({ length: passes }, () => crcRate(crc32cBytewise, size)))
  if (nodeCrc32 !== undefined) r['zlib.crc32'] = median(Array.from({ length: passes }, () => crcRate(nodeCrc32, size)))
  crcResults[String(size)] = r
}

const bulkPasses: BulkFigures[] = []
for (let p = 0; p < passes; p++) bulkPasses.push(await bulkPass())
const bulk = Object.fromEntries(Object.keys(bulkPasses[0] as BulkFigures).map((k) =>
  [k, median(bulkPasses.map((b) => b[k as keyof BulkFigures]))])) as unknown as BulkFigures

const appendTable = markdownTable(
  ['writers', 'sync', ...contenders.map((c) => c.label), 'inline / classic-level', 'inline / one write per append'],
  rows.map((row) => {
    const r = appendResults[`${row.writers}w-${row.sync ? 'sync' : 'nosync'}`] as Record<string, { median: number }>
    const get = (id: string): number => (r[id] as { median: number }).median
    return [String(row.writers), row.sync ? 'yes' : 'no', ...contenders.map((c) => `${formatRate(get(c.id))}/s`),
      formatRatio(get('mako-inline') / get('classic-level')), formatRatio(get('mako-inline') / get('naive'))]
  }),
  ['right', 'left', 'right', 'right', 'right', 'right', 'right', 'right']
)
const crcTable = markdownTable(
  ['bytes', 'CRC32C sliced', 'CRC32C one table', ...(nodeCrc32 === undefined ? [] : ['zlib.crc32 (CRC32, native)']), 'sliced / one table'],
  crcSizes.map((size) => {
    const r = crcResults[String(size)] as Record<string, number>
    return [String(size), `${((r['sliced'] ?? 0) / 1e6).toFixed(0)} MB/s`, `${((r['bytewise'] ?? 0) / 1e6).toFixed(0)} MB/s`,
      ...(nodeCrc32 === undefined ? [] : [`${((r['zlib.crc32'] ?? 0) / 1e6).toFixed(0)} MB/s`]),
      formatRatio((r['sliced'] ?? 0) / (r['bytewise'] ?? 1))]
  }),
  ['right', 'right', 'right', 'right', 'right']
)
const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(0)} MiB`
const bulkTable = markdownTable(
  ['step', `${formatRate(bulkCount)} records / entries`, 'size', 'per second'],
  [
    ['log: append (groups of 1000, no sync) and close', `${bulk.logWriteMs.toFixed(0)} ms`, mb(bulk.logBytes), `${formatRate(bulkCount / bulk.logWriteMs * 1000)}/s`],
    ['log: open (read and verify every segment)', `${bulk.logOpenMs.toFixed(0)} ms`, '', `${formatRate(bulkCount / bulk.logOpenMs * 1000)}/s`],
    ['log: read every record', `${bulk.logReadMs.toFixed(0)} ms`, '', `${formatRate(bulkCount / bulk.logReadMs * 1000)}/s`],
    ['checkpoint: write (fdatasync, rename, dir sync)', `${bulk.checkpointWriteMs.toFixed(0)} ms`, mb(bulk.checkpointBytes), `${formatRate(bulkCount / bulk.checkpointWriteMs * 1000)}/s`],
    ['checkpoint: read and verify every entry', `${bulk.checkpointReadMs.toFixed(0)} ms`, '', `${formatRate(bulkCount / bulk.checkpointReadMs * 1000)}/s`],
    ['fs.readFileSync of the same checkpoint (floor)', `${bulk.rawReadMs.toFixed(0)} ms`, '', `checkpoint read = ${formatRatio(bulk.checkpointReadMs / bulk.rawReadMs)} the floor`]
  ],
  ['left', 'right', 'right', 'right']
)

console.log(`## Write-ahead log appends (${payload.length}-byte records; median of ${passes} passes of ${passMs} ms)\n`)
console.log(appendTable)
console.log(`\n## CRC32C throughput (median of ${passes})\n`)
console.log(crcTable)
console.log(`\n## Recovery costs (${KEY_BYTES}-byte keys, ${VALUE_BYTES}-byte values; median of ${passes})\n`)
console.log(bulkTable)
const path = writeResults(args.quick ? 'disk-log-quick' : 'disk-log', {
  machine: machineInfo(), passes, passMs, recordBytes: payload.length, bulkCount,
  appends: appendResults, crc: crcResults, bulk, bulkPasses
})
console.log(`\nResults: ${path}`)
