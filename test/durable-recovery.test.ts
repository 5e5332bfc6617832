// A persistent MakoLevel across reopen, a damaged log tail, a damaged
// checkpoint, a full disk, and a second owner: it recovers a valid prefix or
// fails with a clear code, and never serves wrong data.
import t from 'tap'
import { spawn } from 'node:child_process'
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MakoLevel } from '../adapters/level/mako-level.js'
import { nodeFileSystem } from '../adapters/disk/fs.js'
import { FaultyFs } from './disk/faulty-fs.js'

function tempDir (t: Tap.Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'mako-recovery-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

declare namespace Tap { type Test = { teardown: (fn: () => void) => void } }

/** Batch i puts k<i>-0..k<i>-4 with value i, and sets "last" to i. */
function batch (i: number): Array<{ type: 'put', key: string, value: string }> {
  const ops = Array.from({ length: 5 }, (_, j) => ({ type: 'put' as const, key: `k${String(i).padStart(4, '0')}-${j}`, value: String(i) }))
  ops.push({ type: 'put', key: 'last', value: String(i) })
  return ops
}

/** Checks the database holds exactly batches 1..n for some n, and returns n. */
async function prefixLength (db: MakoLevel): Promise<number> {
  const entries = await db.iterator().all()
  const last = Number(entries.find(([k]) => k === 'last')?.[1] ?? 0)
  const keys = entries.filter(([k]) => k !== 'last')
  if (keys.length !== last * 5) throw new Error(`expected ${last * 5} keys for batches 1..${last}, found ${keys.length}`)
  for (const [k, v] of keys) {
    const i = Number(k.slice(1, 5))
    if (i < 1 || i > last || v !== String(i)) throw new Error(`wrong entry ${k}=${v} in a prefix of ${last} batches`)
  }
  return last
}

function walSegment (dir: string): string {
  const files = readdirSync(join(dir, 'wal')).filter((f) => !f.startsWith('.')).sort()
  return join(dir, 'wal', files.at(-1)!)
}

/**
 * Where the records of a segment end: past the 24-byte header, each record
 * is a 16-byte frame header, whose u32 at 4 is its payload's length, and the
 * payload. A mapped log's file goes on from there with the zeros it prepared.
 */
function recordsEnd (bytes: Buffer): number {
  let end = 24
  while (end + 16 <= bytes.length && bytes.readUInt32LE(end + 4) > 0) end += 16 + bytes.readUInt32LE(end + 4)
  return end
}

/**
 * Copies the open database at `dir` as a crash would leave it, with the
 * last log segment cut at its last record (the zeros after it are a clean
 * end, tested on their own), so damage done to its end hits records.
 */
function crashImage (t: Tap.Test, dir: string): string {
  const crashed = tempDir(t)
  cpSync(dir, crashed, { recursive: true, filter: (src) => !src.endsWith('LOCK') })
  const seg = walSegment(crashed)
  const bytes = readFileSync(seg)
  writeFileSync(seg, bytes.subarray(0, recordsEnd(bytes)))
  return crashed
}

t.test('data survives close and reopen, many times over', async (t) => {
  const dir = tempDir(t)
  for (let round = 0; round < 5; round++) {
    const db = new MakoLevel(dir, { checkpointLogBytes: 2048 })
    await db.open()
    t.equal(await prefixLength(db), round * 20, `round ${round} starts with what the last left`)
    for (let i = round * 20 + 1; i <= round * 20 + 20; i++) await db.batch(batch(i))
    await db.close()
  }
  const db = new MakoLevel(dir)
  t.equal(await prefixLength(db), 100)
  await db.close()
})

t.test('a second open of the same location fails with LEVEL_LOCKED, here and from another process', async (t) => {
  const dir = tempDir(t)
  const first = new MakoLevel(dir)
  await first.open()
  const second = new MakoLevel(dir)
  await t.rejects(second.open(), { code: 'LEVEL_DATABASE_NOT_OPEN', cause: { code: 'LEVEL_LOCKED' } })
  // Another process sees the lock too.
  const script = `import('${new URL('../adapters/level/mako-level.js', import.meta.url).href}').then(async ({ MakoLevel }) => {
    const db = new MakoLevel(${JSON.stringify(dir)})
    try { await db.open(); console.log('opened') } catch (err) { console.log(err.cause?.code ?? err.code) }
  })`
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
    let text = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { text += d })
    child.on('error', reject)
    child.on('close', () => resolve(text.trim()))
  })
  t.equal(out, 'LEVEL_LOCKED', 'the other process is refused')
  await first.close()
  await second.open()
  t.pass('once closed, the location opens again')
  await second.close()
})

t.test('a torn or damaged log tail: a valid prefix or MAKO_CORRUPTION, never wrong data', async (t) => {
  const dir = tempDir(t)
  const db = new MakoLevel(dir, { checkpointLogBytes: 1 << 30 })
  await db.open()
  for (let i = 1; i <= 12; i++) await db.batch(batch(i))
  // The directory as a crash would leave it: the log holds every batch, no
  // checkpoint since open. Copied while open, since closing checkpoints.
  const crashed = tempDir(t)
  cpSync(dir, crashed, { recursive: true, filter: (src) => !src.endsWith('LOCK') })
  await db.close()

  const segment = walSegment(crashed)
  const asCopied = readFileSync(segment)
  // A mapped log's file goes on past its last record with the zeros it
  // prepared. Reopened as it is, that is a clean end: every batch is there.
  const end = recordsEnd(asCopied)
  const zerosCopy = tempDir(t)
  cpSync(crashed, zerosCopy, { recursive: true })
  const withZeros = new MakoLevel(zerosCopy)
  await withZeros.open()
  t.equal(await prefixLength(withZeros), 12, `a log ending in ${asCopied.length - end} bytes of prepared zeros: all 12 batches`)
  await withZeros.close()
  // The damage below is done to the records alone, as the write path left them.
  const original = asCopied.subarray(0, end)
  writeFileSync(segment, original)
  // The last two records take the last ~2/12 of the segment's bytes.
  const from = Math.floor(original.length * 0.8)
  let prefixes = 0
  let errors = 0
  const outcomes = new Set<string>()
  for (let offset = from; offset < original.length; offset++) {
    for (const damage of ['truncate', 'flip'] as const) {
      const copy = join(crashed, '..', `${crashed.split('/').at(-1)!}-case`)
      rmSync(copy, { recursive: true, force: true })
      cpSync(crashed, copy, { recursive: true })
      const seg = walSegment(copy)
      if (damage === 'truncate') truncateSync(seg, offset)
      else {
        const bytes = Buffer.from(original)
        bytes[offset] = bytes[offset]! ^ 0x5a
        writeFileSync(seg, bytes)
      }
      const reopened = new MakoLevel(copy)
      try {
        await reopened.open()
        const n = await prefixLength(reopened)
        if (n > 12) throw new Error(`recovered ${n} batches of 12`)
        prefixes++
        outcomes.add(`prefix ${n}`)
        await reopened.close()
      } catch (err) {
        const e = err as { code?: string, cause?: { code?: string }, message: string }
        const code = e.cause?.code ?? e.code ?? 'no code'
        if (code !== 'MAKO_CORRUPTION') t.fail(`${damage} at ${offset}: ${e.message} (${code})`)
        errors++
        outcomes.add(code)
        await reopened.close().catch(() => {})
      }
    }
  }
  t.ok(prefixes > 0, `${prefixes} damaged copies recovered a valid prefix`)
  // Damage in the last record is a torn tail (11 batches left); damage in
  // the one before, with a valid record after it, is corruption.
  t.ok(outcomes.has('prefix 11') && outcomes.has('MAKO_CORRUPTION'), `outcomes seen: ${[...outcomes].join(', ')}`)
  t.comment(`${prefixes} prefixes, ${errors} MAKO_CORRUPTION`)
})

t.test('a torn tail is reported in an event', async (t) => {
  const dir = tempDir(t)
  const db = new MakoLevel(dir, { checkpointLogBytes: 1 << 30 })
  await db.open()
  for (let i = 1; i <= 3; i++) await db.batch(batch(i))
  const crashed = crashImage(t, dir)
  await db.close()
  const seg = walSegment(crashed)
  truncateSync(seg, statSync(seg).size - 3)
  const reopened = new MakoLevel(crashed)
  const events: unknown[] = []
  reopened.on('torn-tail', (tail) => events.push(tail))
  await reopened.open()
  t.equal(events.length, 1, 'one torn-tail event')
  t.match(events[0], { file: /wal/, offset: Number, bytesDropped: Number })
  t.equal(await prefixLength(reopened), 2, 'the two whole batches remain')
  await reopened.close()
})

t.test('a damaged checkpoint: the older one and the log, or MAKO_CORRUPTION, never wrong data', async (t) => {
  const dir = tempDir(t)
  let db = new MakoLevel(dir)
  await db.open()
  for (let i = 1; i <= 4; i++) await db.batch(batch(i))
  await db.close() // checkpoint at 4
  db = new MakoLevel(dir)
  await db.open()
  for (let i = 5; i <= 8; i++) await db.batch(batch(i))
  await db.close() // checkpoint at 8; the log after 4 is kept for the older one
  const checkpoints = readdirSync(join(dir, 'checkpoints')).filter((f) => f.endsWith('.ckpt')).sort()
  t.equal(checkpoints.length, 2, 'two checkpoints kept')
  const original = readFileSync(join(dir, 'checkpoints', checkpoints.at(-1)!))
  const copy = tempDir(t)
  let full = 0
  for (let offset = 0; offset < original.length; offset++) {
    // A fresh copy each time: opening and closing writes new checkpoints.
    rmSync(copy, { recursive: true, force: true })
    cpSync(dir, copy, { recursive: true })
    const bytes = Buffer.from(original)
    bytes[offset] = bytes[offset]! ^ 0xff
    writeFileSync(join(copy, 'checkpoints', checkpoints.at(-1)!), bytes)
    const reopened = new MakoLevel(copy)
    let reported = 0
    reopened.on('corrupt-checkpoint', () => { reported++ })
    try {
      await reopened.open()
      const n = await prefixLength(reopened)
      if (n !== 8) t.fail(`flip at ${offset}: recovered ${n} batches, not 8`)
      else if (reported !== 1) t.fail(`flip at ${offset}: the damaged checkpoint was not reported in an event`)
      else full++
      await reopened.close()
    } catch (err) {
      const e = err as { cause?: { message?: string }, message: string }
      t.fail(`flip at ${offset}: ${e.message} ${e.cause?.message ?? ''}`)
      await reopened.close().catch(() => {})
    }
  }
  t.ok(full > 0, `${full} flips recovered all 8 batches from the older checkpoint and the log`)
})

for (const logWriteMode of ['inline', ...(nodeFileSystem.mapping !== undefined ? ['mapped'] as const : [])] as const) {
  t.test(`a full disk rejects the write and leaves the database consistent (${logWriteMode} log writes)`, async (t) => {
    const dir = tempDir(t)
    const fs = new FaultyFs()
    const db = new MakoLevel<string, string>(dir, { fileSystem: fs, checkpointLogBytes: 1 << 30, logWriteMode })
    await db.open()
    await db.put('a', '1')
    // The next write call fails with ENOSPC: with inline writes, the next
    // record's own; with mapped writes, the zeros prepared once the records
    // (4 KB each, so copied into the mapping) have filled what was ready.
    fs.failAt = fs.calls.length
    fs.failCode = 'ENOSPC'
    const keyAt = (i: number): string => `b${String(i).padStart(3, '0')}`
    const acked: string[] = []
    let failure: unknown
    for (let i = 0; i < 100 && failure === undefined; i++) {
      const key = keyAt(i)
      await db.put(key, '2'.repeat(4000)).then(() => { acked.push(key) }, (err: unknown) => { failure = err })
    }
    t.match(failure, { code: 'MAKO_IO_ERROR', transient: true }, `a put was rejected, after ${acked.length} acknowledged`)
    t.equal(fs.calls[fs.failAt]?.op, 'write', 'the failure was a write call')
    if (logWriteMode === 'mapped') t.ok(acked.length >= 10, 'mapped: the puts before it were copied into the prepared bytes')
    else t.equal(acked.length, 0, 'inline: the first put after it')
    t.equal(await db.get(keyAt(acked.length)), undefined, 'the failed write is not visible')
    t.equal(await db.get('a'), '1', 'earlier data is intact')
    await db.put('c', '3')
    t.equal(await db.get('c'), '3', 'writes succeed again once there is space')
    await db.close()
    const reopened = new MakoLevel<string, string>(dir)
    await reopened.open()
    t.same(await reopened.keys().all(), ['a', ...acked, 'c'], 'after reopen: exactly the acknowledged writes')
    await reopened.close()
  })
}

t.test('repair() keeps the valid prefix of a log damaged in the middle', async (t) => {
  const dir = tempDir(t)
  const db = new MakoLevel(dir, { checkpointLogBytes: 1 << 30 })
  await db.open()
  for (let i = 1; i <= 10; i++) await db.batch(batch(i))
  const crashed = crashImage(t, dir)
  await db.close()
  const seg = walSegment(crashed)
  const bytes = readFileSync(seg)
  const at = Math.floor(bytes.length / 2)
  bytes[at] = bytes[at]! ^ 0xff
  writeFileSync(seg, bytes)
  await t.rejects(new MakoLevel(crashed).open(), { cause: { code: 'MAKO_CORRUPTION' } }, 'open refuses a log damaged in the middle')
  const report = await MakoLevel.repair(crashed)
  t.ok(report.log.dropped !== undefined, 'the report says what was dropped')
  t.ok(report.log.lastSeq >= 1 && report.log.lastSeq < 10, `kept records 1..${report.log.lastSeq}`)
  const repaired = new MakoLevel(crashed)
  await repaired.open()
  t.equal(await prefixLength(repaired), report.log.lastSeq, 'the database holds exactly the kept batches')
  await repaired.close()
})

t.test('destroy() removes a closed database and refuses an open one', async (t) => {
  const parent = tempDir(t)
  const dir = join(parent, 'db')
  const db = new MakoLevel(dir)
  await db.open()
  await db.put('a', 'b')
  await t.rejects(MakoLevel.destroy(dir), { code: 'LEVEL_LOCKED' })
  await db.close()
  await MakoLevel.destroy(dir)
  t.same(readdirSync(parent), [], 'the directory is gone')
  await MakoLevel.destroy(dir)
  t.pass('destroying what is not there is fine')
})
