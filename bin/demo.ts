/**
 * `mako demo`: a short, visible tour of the embedded store. It loads keys
 * with a progress bar, reads them back, iterates, shows a snapshot keeping
 * its view while the data changes, and ends with a table of what it did and
 * how fast.
 *
 * @module
 * @internal
 */

import { randomBytes } from 'node:crypto'
import { MakoLevel } from '../adapters/level/mako-level.js'

/** Options of {@link runDemo}. @internal */
export interface DemoOptions {
  /** How many entries to load (default 200,000). */
  entries?: number
  /** Where to write; defaults to standard output. */
  out?: NodeJS.WritableStream & { isTTY?: boolean }
}

interface Row { step: string, count: number, ms: number, unit: string }

/**
 * Runs the demonstration and resolves with the rows of its table.
 * @internal
 */
export async function runDemo (options: DemoOptions = {}): Promise<Row[]> {
  const total = options.entries ?? 200_000
  const out = options.out ?? process.stdout
  const say = (line: string): void => { out.write(line + '\n') }
  const rows: Row[] = []
  const timed = async (step: string, unit: string, count: number, fn: () => Promise<void> | void): Promise<void> => {
    const start = performance.now()
    await fn()
    rows.push({ step, count, ms: performance.now() - start, unit })
  }

  say(`mako-level demo: an in-memory MakoLevel, ${total.toLocaleString('en-US')} entries of 16-byte keys and 100-byte values\n`)
  const db = new MakoLevel<Buffer, Buffer>({ keyEncoding: 'buffer', valueEncoding: 'buffer' })
  await db.open()

  const keys: Buffer[] = []
  for (let i = 0; i < total; i++) keys.push(randomBytes(16))
  const value = randomBytes(100)

  const bar = progressBar(out, 'loading', total)
  await timed('load, batches of 1,000', 'entries', total, async () => {
    for (let i = 0; i < total; i += 1000) {
      const batch = db.batch()
      for (let j = i; j < Math.min(total, i + 1000); j++) batch.put(keys[j]!, value)
      await batch.write()
      bar(Math.min(total, i + 1000))
    }
  })

  const reads = Math.min(total, 100_000)
  await timed('awaited get', 'reads', reads, async () => {
    for (let i = 0; i < reads; i++) await db.get(keys[i]!)
  })
  await timed('getSync', 'reads', reads, () => {
    for (let i = 0; i < reads; i++) db.getSync(keys[i]!)
  })

  let scanned = 0
  await timed('full scan, nextv(1000)', 'entries', total, async () => {
    const it = db.iterator()
    for (let batch = await it.nextv(1000); batch.length > 0; batch = await it.nextv(1000)) scanned += batch.length
    await it.close()
  })

  // A snapshot keeps its view while the database changes under it.
  const snapshot = db.snapshot()
  const changed = Math.min(total, 10_000)
  await timed('overwrite while a snapshot is open', 'puts', changed, async () => {
    for (let i = 0; i < changed; i++) await db.put(keys[i]!, Buffer.from('new'))
  })
  const before = await db.get(keys[0]!, { snapshot })
  const after = await db.get(keys[0]!)
  await snapshot.close()

  let ranged = 0
  const ranges = 1000
  await timed('range reads of 100 entries', 'ranges', ranges, async () => {
    for (let i = 0; i < ranges; i++) ranged += (await db.iterator({ gte: keys[i]!, limit: 100 }).all()).length
  })
  await db.close()

  say('')
  say(`scanned ${scanned.toLocaleString('en-US')} entries in key order; range reads returned ${ranged.toLocaleString('en-US')} entries`)
  say(`snapshot: the first key reads ${before?.length ?? 0} bytes through the snapshot and ${after?.length ?? 0} bytes now ('new')`)
  say('')
  say(table(rows))
  return rows
}

function progressBar (out: DemoOptions['out'] & object, label: string, total: number): (done: number) => void {
  const width = 30
  let lastShown = -1
  return (done) => {
    const tenths = Math.floor(done / total * 10)
    if (out.isTTY === true) {
      const filled = Math.round(done / total * width)
      out.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')}` + (done === total ? '\n' : ''))
    } else if (tenths !== lastShown) {
      // Without a terminal, a line per tenth instead of redrawing one line.
      lastShown = tenths
      out.write(`${label}: ${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')}\n`)
    }
  }
}

function rate (row: Row): string {
  const perSecond = row.count / (row.ms / 1000)
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)}M`
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(1)}k`
  return perSecond.toFixed(0)
}

function table (rows: Row[]): string {
  const lines = [['step', 'count', 'time', 'rate'], ...rows.map((r) => [
    r.step, r.count.toLocaleString('en-US'), `${r.ms.toFixed(1)} ms`, `${rate(r)} ${r.unit}/s`
  ])]
  const widths = lines[0]!.map((_, c) => Math.max(...lines.map((l) => l[c]!.length)))
  const fmt = (l: string[]): string => '| ' + l.map((cell, c) => c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)).join(' | ') + ' |'
  return [fmt(lines[0]!), '|' + widths.map((w, c) => c === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':').join('|') + '|', ...lines.slice(1).map(fmt)].join('\n')
}

/**
 * `mako demo [--entries N]`: runs {@link runDemo}.
 *
 * @param _command The command's name.
 * @param argv The arguments after it.
 * @internal
 */
export async function main (_command: string, argv: string[]): Promise<number> {
  const at = argv.indexOf('--entries')
  const entries = at >= 0 ? Number(argv[at + 1]) : undefined
  if (entries !== undefined && !(Number.isInteger(entries) && entries > 0)) {
    process.stderr.write('mako demo: --entries takes a positive whole number\n')
    return 2
  }
  await runDemo(entries === undefined ? {} : { entries })
  return 0
}
