import t from 'tap'
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { crc32cRange } from '../adapters/disk/crc32c.js'
import { nodeFileSystem } from '../adapters/disk/fs.js'
import { FileLog, repairLog, type LogRecord } from '../adapters/disk/log.js'
import { mappingUnavailable } from '../adapters/disk/mapping.js'
import { MakoError } from '../lib/errors.js'
import { FaultyFs } from './disk/faulty-fs.js'
import { MemoryFs } from './disk/memory-fs.js'
import { realFsMaps, tempDir } from './disk/tmp.js'
import { Random, testSeed } from './util/random.js'

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const dec = (b: Uint8Array): string => new TextDecoder().decode(b)

async function readAll (log: FileLog, from = log.firstSeq): Promise<LogRecord[]> {
  const out: LogRecord[] = []
  for await (const r of log.read(from)) out.push(r)
  return out
}

function codeOf (err: unknown): string | undefined {
  return err instanceof MakoError ? err.code : undefined
}

// On Linux the native mapping must have built (npm install runs node-gyp):
// without it the default write path would go untested here.
const mappedIfBuilt = nodeFileSystem.mapping !== undefined ? ['mapped'] as const : [] as const
t.test('the native file mapping is there where it is used', async (t) => {
  if (process.platform !== 'linux') {
    t.equal(nodeFileSystem.mapping, undefined, `not used on ${process.platform}`)
    return
  }
  t.ok(nodeFileSystem.mapping !== undefined, `loaded (${mappingUnavailable() ?? 'ok'})`)
  const dir = tempDir(t)
  const log = await FileLog.open(dir)
  await log.append(enc('x'))
  t.equal(log.writeMode, 'mapped', 'and FileLog writes through it by default')
  await log.close()
})

t.test('round trip: appends come back in order, across reopen', async (t) => {
  const dir = tempDir(t)
  const seed = testSeed()
  const rng = new Random(seed)
  const payloads: Uint8Array[] = []
  for (let i = 0; i < 500; i++) payloads.push(rng.bytes(rng.int(300)))
  payloads.push(new Uint8Array(0))

  let log = await FileLog.open(dir, { segmentBytesMax: 8192 })
  t.equal(log.firstSeq, 1, 'a new log starts at 1')
  t.equal(log.lastSeq, 0)
  const seqs: number[] = []
  for (const p of payloads.slice(0, 100)) seqs.push(await log.append(p))
  seqs.push(...await Promise.all(payloads.slice(100).map((p, i) => log.append(p, { sync: i % 50 === 0 }))))
  t.strictSame(seqs, payloads.map((_, i) => i + 1), 'consecutive sequence numbers')
  t.equal(log.lastSeq, payloads.length)
  const live = await readAll(log)
  t.equal(live.length, payloads.length, 'read while open sees every acknowledged record')
  await log.close()

  log = await FileLog.open(dir, { segmentBytesMax: 8192 })
  t.equal(log.recovery.tornTail, undefined, 'a clean close leaves no torn tail')
  t.equal(log.recovery.records, payloads.length)
  const back = await readAll(log)
  t.equal(back.length, payloads.length)
  let same = true
  for (let i = 0; i < back.length; i++) {
    const r = back[i] as LogRecord
    if (r.seq !== i + 1 || Buffer.compare(r.payload, payloads[i] as Uint8Array) !== 0) same = false
  }
  t.ok(same, `every record equal after reopen (seed ${seed})`)
  t.strictSame((await readAll(log, 400)).map((r) => r.seq), back.slice(399).map((r) => r.seq), 'read from the middle')
  t.strictSame(await readAll(log, payloads.length + 1), [], 'read past the end is empty')
  t.equal(await log.append(enc('after')), payloads.length + 1, 'appending continues the numbering')
  await log.close()
})

t.test('segments roll at segmentBytesMax and are named by their first seq', async (t) => {
  const dir = tempDir(t)
  const log = await FileLog.open(dir, { segmentBytesMax: 4096 })
  const payload = new Uint8Array(100).fill(1)
  for (let i = 0; i < 200; i++) await log.append(payload)
  await log.close()
  const names = readdirSync(dir).sort()
  t.ok(names.length >= 6, `${names.length} segments for 200 x 116 bytes in 4 KiB segments`)
  t.equal(names[0], '00000000000000000001.wal')
  for (const name of names) {
    t.ok(statSync(join(dir, name)).size <= 4096, `${name} within segmentBytesMax`)
  }
  // Each segment's name is one past the previous segment's last record.
  const reopened = await FileLog.open(dir, { segmentBytesMax: 4096 })
  const records = await readAll(reopened)
  t.equal(records.length, 200)
  const firsts = names.map((n) => Number(n.slice(0, 20)))
  for (const first of firsts) t.ok(records.some((r) => r.seq === first), `segment ${first} starts at a record`)
  await reopened.close()
})

t.test('a record larger than a segment gets a segment of its own', async (t) => {
  const dir = tempDir(t)
  const log = await FileLog.open(dir, { segmentBytesMax: 4096 })
  await log.append(enc('small'))
  const big = new Uint8Array(10000).fill(7)
  await log.append(big)
  await log.append(enc('after'))
  await log.close()
  const reopened = await FileLog.open(dir, { segmentBytesMax: 4096 })
  const records = await readAll(reopened)
  t.strictSame(records.map((r) => r.payload.length), [5, 10000, 5])
  t.equal(reopened.segmentFiles.length, 3, 'small | big | small')
  await reopened.close()
})

t.test('dropPrefix removes whole segments below the seq, never the last, and read() reports what is gone', async (t) => {
  const dir = tempDir(t)
  const log = await FileLog.open(dir, { segmentBytesMax: 4096 })
  for (let i = 0; i < 300; i++) await log.append(new Uint8Array(100))
  const before = log.segmentFiles.length
  await log.dropPrefix(150)
  t.ok(log.firstSeq <= 150, `firstSeq ${log.firstSeq} <= 150: nothing at or above 150 dropped`)
  t.ok(log.segmentFiles.length < before, 'some segments removed')
  const records = await readAll(log)
  t.equal(records[0]?.seq, log.firstSeq)
  t.equal(records.at(-1)?.seq, 300)
  await t.rejects(readAll(log, 1), { code: 'MAKO_LOG_COMPACTED' }, 'reading dropped records fails clearly')
  await log.dropPrefix(10_000)
  t.equal(log.segmentFiles.length, 1, 'the last segment is kept')
  await log.close()
  const reopened = await FileLog.open(dir, { segmentBytesMax: 4096 })
  t.equal(reopened.lastSeq, 300, 'numbering survives dropping everything but the last segment')
  t.equal(await reopened.append(enc('x')), 301)
  await reopened.close()
})

t.test('group commit: appends in one turn share one write and one fdatasync', async (t) => {
  const dir = tempDir(t)
  for (const writeMode of ['inline', 'threadpool'] as const) {
    const fs = new FaultyFs()
    const log = await FileLog.open(join(dir, writeMode), { fs, writeMode })
    const w0 = fs.count('write')
    const s0 = fs.count('fdatasync')
    await Promise.all(Array.from({ length: 1000 }, (_, i) => log.append(enc(`r${i}`))))
    t.equal(fs.count('write') - w0, 1, `${writeMode}: 1000 appends without sync: one write`)
    t.equal(fs.count('fdatasync') - s0, 0, `${writeMode}: and no fdatasync`)
    await Promise.all(Array.from({ length: 1000 }, (_, i) => log.append(enc(`s${i}`), { sync: i === 500 })))
    t.equal(fs.count('write') - w0, 2, `${writeMode}: 1000 appends, one with sync: one write`)
    t.equal(fs.count('fdatasync') - s0, 1, `${writeMode}: and one fdatasync`)

    // Appends made while a write is in flight wait and go together in the next one.
    const writesBefore = fs.count('write')
    const first = log.append(enc('first'), { sync: true })
    await new Promise((resolve) => setImmediate(resolve)) // the writer has taken 'first'
    const later: Array<Promise<number>> = []
    for (let i = 0; i < 5; i++) {
      later.push(log.append(enc(`later${i}`), { sync: true }))
      await Promise.resolve()
    }
    await Promise.all([first, ...later])
    t.equal(fs.count('write') - writesBefore, 2, `${writeMode}: the five later appends shared the second write`)
    await log.close()
  }
})

t.test('sync semantics: sync appends wait for fdatasync, in order; sync() syncs only when needed', async (t) => {
  const dir = tempDir(t)
  const fs = new FaultyFs()
  const log = await FileLog.open(dir, { fs })
  const resolved: number[] = []
  fs.gated.add('fdatasync')
  const a = log.append(enc('a')).then((s) => { resolved.push(s); return s })
  const b = log.append(enc('b'), { sync: true }).then((s) => { resolved.push(s); return s })
  const c = log.append(enc('c')).then((s) => { resolved.push(s); return s })
  for (let i = 0; i < 20 && fs.held === 0; i++) await new Promise((resolve) => setImmediate(resolve))
  t.equal(fs.held, 1, 'the group waits in fdatasync')
  t.strictSame(resolved, [], 'no append of the group resolves before its fdatasync')
  fs.gated.delete('fdatasync')
  fs.release()
  await Promise.all([a, b, c])
  t.strictSame(resolved, [1, 2, 3], 'they resolve in sequence order')

  const before = fs.count('fdatasync')
  await log.sync()
  t.equal(fs.count('fdatasync'), before, 'sync() on a synced log does nothing')
  await log.append(enc('d'))
  t.equal(fs.count('fdatasync'), before, 'a plain append does not sync')
  await log.sync()
  t.equal(fs.count('fdatasync'), before + 1, 'sync() after a plain append syncs once')
  await log.close()
})

t.test('an append resolves only after its bytes were handed to the OS', async (t) => {
  const dir = tempDir(t)
  const fs = new FaultyFs()
  const log = await FileLog.open(dir, { fs, writeMode: 'threadpool' })
  fs.gated.add('write')
  let done = false
  const p = log.append(enc('held')).then(() => { done = true })
  for (let i = 0; i < 20 && fs.held === 0; i++) await new Promise((resolve) => setImmediate(resolve))
  t.equal(fs.held, 1, 'the write is held')
  t.notOk(done, 'the append has not resolved')
  fs.gated.delete('write')
  fs.release()
  await p
  t.ok(done)
  await log.close()
})

t.test('appendTo: waiters are told in sequence order, right after the write, and may append again', async (t) => {
  const dir = tempDir(t)
  for (const writeMode of [...mappedIfBuilt, 'inline', 'threadpool'] as const) {
    const fs = new FaultyFs()
    const log = await FileLog.open(join(dir, writeMode), { fs, writeMode, segmentBytesMax: 4096 })
    const told: Array<{ seq: number, writes: number }> = []
    let again: Promise<number> | undefined
    const all = new Promise<void>((resolve, reject) => {
      let left = 200
      const waiter = {
        written: (seq: number) => {
          told.push({ seq, writes: fs.count('write') })
          // An append from inside the callback goes to the next group.
          if (seq === 1) again = log.append(enc('again'))
          if (--left === 0) resolve()
        },
        failed: reject
      }
      // Enough to cross a segment: the group is written in two parts.
      for (let i = 0; i < 200; i++) t.equal(log.appendTo(enc(`record ${i}`), i === 150, waiter), i + 1)
    })
    t.equal(told.length, 0, `${writeMode}: no waiter is told before appendTo returns`)
    await all
    t.strictSame(told.map((x) => x.seq), Array.from({ length: 200 }, (_, i) => i + 1), `${writeMode}: in sequence order`)
    t.ok(told.every((x) => x.writes > 0), `${writeMode}: each after a write`)
    t.equal(await again, 201, `${writeMode}: the append made from a callback follows the group`)
    t.throws(() => log.appendTo(new Uint8Array(64 * 1024 * 1024 + 1), false, { written: () => {}, failed: () => {} }),
      { code: 'MAKO_RECORD_TOO_LARGE' }, `${writeMode}: errors found at once are thrown, the waiter not told`)
    await log.close()
    t.throws(() => log.appendTo(enc('x'), false, { written: () => {}, failed: () => {} }), { code: 'MAKO_LOG_CLOSED' })
    const reopened = await FileLog.open(join(dir, writeMode), { segmentBytesMax: 4096 })
    t.equal((await readAll(reopened)).length, 201, `${writeMode}: every record is there after reopening`)
    await reopened.close()
  }
})

t.test('appendEncoded: the source writes the payload in place; a source that writes another length is a bug', async (t) => {
  const dir = tempDir(t)
  const log = await FileLog.open(dir)
  const text = enc('written in place')
  const source = { writeRecord: (into: Uint8Array, at: number) => { into.set(text, at); return at + text.length } }
  let told = 0
  const done = new Promise<void>((resolve, reject) => {
    t.equal(log.appendEncoded(text.length, source, false, { written: (seq) => { told = seq; resolve() }, failed: reject }), 1)
  })
  await done
  t.equal(told, 1, 'the waiter is told')
  const liar = { writeRecord: (_into: Uint8Array, at: number) => at + 1 }
  t.throws(() => log.appendEncoded(5, liar, false, { written: () => {}, failed: () => {} }), { name: 'AssertionError' })
  t.equal(log.lastSeq, 1, 'nothing was appended for it')
  t.equal(await log.append(enc('next')), 2)
  await log.close()
  const reopened = await FileLog.open(dir)
  t.strictSame((await readAll(reopened)).map((r) => dec(r.payload)), ['written in place', 'next'])
  await reopened.close()
})

t.test('mapped: a log copied while open (a crash) ends in prepared zeros, a clean end; a half-copied record after them is a torn tail', async (t) => {
  if (!realFsMaps(t)) return
  const dir = tempDir(t)
  const log = await FileLog.open(join(dir, 'live'), { writeMode: 'mapped', segmentBytesMax: 1 << 20 })
  const payloads = Array.from({ length: 300 }, (_, i) => enc(`record ${i} `.repeat(1 + (i % 7))))
  for (const p of payloads) await log.append(p)
  const segment = log.segmentFiles.at(-1)!
  const recordsEnd = 24 + payloads.reduce((n, p) => n + 16 + p.length, 0)
  t.ok(statSync(segment).size > recordsEnd, 'while open, the file goes on past its last record')
  // What a reader of the file sees is what the mapping holds.
  const live = await readAll(log)
  t.equal(live.length, 300, 'read() of the open log sees every record')
  const image = readFileSync(segment)
  await log.close()

  const crashed = join(dir, 'crashed')
  mkdirSync(crashed)
  writeFileSync(join(crashed, segment.split('/').at(-1)!), image)
  const clean = await FileLog.open(crashed)
  t.equal(clean.recovery.tornTail, undefined, 'zeros after the last record: no torn tail')
  t.equal(clean.recovery.zeroTailBytes, image.length - recordsEnd, 'the zeros were cut and counted')
  t.strictSame((await readAll(clean)).map((r) => dec(r.payload)), payloads.map(dec), 'every record')
  await clean.close()

  const toRepair = join(dir, 'repair')
  mkdirSync(toRepair)
  writeFileSync(join(toRepair, segment.split('/').at(-1)!), image)
  t.strictSame(await repairLog(toRepair), { lastSeq: 300, dropped: undefined }, 'repairLog finds nothing to drop there either')
  t.equal(statSync(join(toRepair, segment.split('/').at(-1)!)).size, recordsEnd, 'and cuts the zeros')

  // The same image with the first 20 bytes of one more frame: a crash in the middle of a copy.
  const torn = Buffer.from(image)
  torn.set(image.subarray(24, 44), recordsEnd)
  const tornDir = join(dir, 'torn')
  mkdirSync(tornDir)
  writeFileSync(join(tornDir, segment.split('/').at(-1)!), torn)
  const reopened = await FileLog.open(tornDir)
  t.match(reopened.recovery.tornTail, { offset: recordsEnd, bytesDropped: image.length - recordsEnd }, 'a torn tail, at the end of the last record')
  t.equal(reopened.lastSeq, 300)
  await reopened.close()
})

t.test('a failed inline write tells the waiters of its group and of every append queued behind it', async (t) => {
  const dir = tempDir(t)
  const fs = new FaultyFs()
  const log = await FileLog.open(dir, { fs, writeMode: 'inline' })
  await log.append(enc('before'))
  fs.failAt = fs.calls.length // the next call: the next group's write
  fs.failCode = 'EIO'
  const failed: string[] = []
  let told: () => void = () => {}
  const both = new Promise<void>((resolve) => { told = resolve })
  const note = (what: string): void => { if (failed.push(what) === 2) told() }
  const waiter = { written: () => { note('written') }, failed: (err: unknown) => { note(codeOf(err) ?? '?') } }
  log.appendTo(enc('a'), false, waiter)
  log.appendTo(enc('b'), false, waiter)
  await both
  t.strictSame(failed, ['MAKO_IO_ERROR', 'MAKO_IO_ERROR'], 'both told of the failure')
  t.equal(log.lastSeq, 1, 'their sequence numbers are given out again')
  t.equal(await log.append(enc('after')), 2, 'the log goes on')
  await log.close()
})

t.test('limits, bad input and closed logs reject with stable codes', async (t) => {
  const dir = tempDir(t)
  const log = await FileLog.open(dir, { maxRecordBytes: 100, maxPendingBytes: 1000 })
  await t.rejects(log.append(new Uint8Array(101)), { code: 'MAKO_RECORD_TOO_LARGE' })
  await t.rejects(log.append('text' as unknown as Uint8Array), { code: 'MAKO_INVALID_ARGUMENT' })
  const burst = Array.from({ length: 20 }, () => log.append(new Uint8Array(100)).then(() => 'ok', (e: unknown) => codeOf(e)))
  const results = await Promise.all(burst)
  t.ok(results.includes('MAKO_LOG_BUSY'), 'more than maxPendingBytes queued in one turn: MAKO_LOG_BUSY')
  t.ok(results.includes('ok'), 'the first ones are accepted')
  const lastSeq = log.lastSeq
  t.equal(results.filter((r) => r === 'ok').length, lastSeq, 'rejected appends take no sequence number')
  await log.close()
  await t.rejects(log.append(enc('x')), { code: 'MAKO_LOG_CLOSED' })
  await t.rejects(log.sync(), { code: 'MAKO_LOG_CLOSED' })
  await log.close() // a second close is harmless
  await t.rejects(FileLog.open(dir, { segmentBytesMax: 10 }), { code: 'MAKO_INVALID_ARGUMENT' })
})

t.test('close writes what was accepted before it', async (t) => {
  const dir = tempDir(t)
  const log = await FileLog.open(dir)
  const appends = Array.from({ length: 10 }, (_, i) => log.append(enc(`x${i}`)))
  const closed = log.close()
  await t.rejects(log.append(enc('late')), { code: 'MAKO_LOG_CLOSED' }, 'an append after close() is refused')
  t.strictSame(await Promise.all(appends), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
  await closed
  const reopened = await FileLog.open(dir)
  t.strictSame((await readAll(reopened)).map((r) => dec(r.payload)), appends.map((_, i) => `x${i}`))
  await reopened.close()
})

t.test('startSeq numbers a new log; an existing log keeps its own numbering', async (t) => {
  const dir = tempDir(t)
  const log = await FileLog.open(dir, { startSeq: 1000 })
  t.equal(log.firstSeq, 1000)
  t.equal(await log.append(enc('a')), 1000)
  await log.close()
  const again = await FileLog.open(dir, { startSeq: 5 })
  t.equal(again.firstSeq, 1000)
  t.equal(await again.append(enc('b')), 1001)
  await again.close()
})

t.test('breaking out of read() closes its file; payloads stay valid', async (t) => {
  const dir = tempDir(t)
  const fs = new FaultyFs()
  const log = await FileLog.open(dir, { fs })
  for (let i = 0; i < 10; i++) await log.append(enc(`p${i}`))
  const kept: Uint8Array[] = []
  for await (const r of log.read(1)) {
    kept.push(r.payload)
    if (r.seq === 3) break
  }
  t.equal(fs.count('open'), fs.count('close') + 1, 'only the segment being written is still open')
  for await (const r of log.read(4)) kept.push(r.payload)
  t.strictSame(kept.map(dec), Array.from({ length: 10 }, (_, i) => `p${i}`))
  await log.close()
})

t.test('a segment of a newer format is refused as such, not treated as a torn tail', async (t) => {
  const fs = new MemoryFs()
  const log = await FileLog.open('/wal', { fs })
  await log.append(enc('x'))
  await log.close()
  const path = '/wal/00000000000000000001.wal'
  const bytes = (fs.file(path) as Uint8Array).slice()
  bytes[4] = 2 // version 2, with a header CRC to match
  new DataView(bytes.buffer).setUint32(20, crc32cRange(bytes, 0, 20), true)
  fs.seed(path, bytes)
  await t.rejects(FileLog.open('/wal', { fs }), { code: 'MAKO_UNSUPPORTED_FORMAT' })
  await t.rejects(repairLog('/wal', { fs }), { code: 'MAKO_UNSUPPORTED_FORMAT' })
  t.strictSame(fs.file(path), bytes, 'and left alone')
})

t.test('a writer that awaits each append does not starve timers (inline writes, or a file system that answers at once)', async (t) => {
  for (const writeMode of ['inline', 'threadpool'] as const) {
    const log = await FileLog.open('/wal', { fs: new MemoryFs(), writeMode })
    let appends = 0
    let timerFired = false
    const timer = new Promise<void>((resolve) => setTimeout(() => { timerFired = true; resolve() }, 5))
    const payload = new Uint8Array(16)
    // Bounded: if the writer starved the event loop this would run to the end first.
    while (!timerFired && appends < 100_000) {
      await log.append(payload)
      appends++
    }
    await timer
    t.ok(appends < 100_000, `${writeMode}: the timer fired after ${appends} appends`)
    await log.close()
  }
})

t.test('a log that ends before startSeq - 1 (its tail lost, a checkpoint past it) continues at startSeq', async (t) => {
  const fs = new MemoryFs()
  let log = await FileLog.open('/wal', { fs, segmentBytesMax: 4096 })
  for (let i = 0; i < 100; i++) await log.append(new Uint8Array(100))
  await log.close()
  t.ok(fs.list().length > 1, 'several segments')

  log = await FileLog.open('/wal', { fs, segmentBytesMax: 4096, startSeq: 101 })
  t.equal(log.recovery.restarted, undefined, 'a log that reaches startSeq - 1 is kept')
  t.equal(log.lastSeq, 100)
  await log.close()

  log = await FileLog.open('/wal', { fs, segmentBytesMax: 4096, startSeq: 150 })
  t.strictSame(log.recovery.restarted, { lastSeq: 100, startSeq: 150 })
  t.equal(log.firstSeq, 150)
  t.equal(await log.append(enc('next')), 150, 'no sequence number is handed out twice')
  await log.close()
  t.strictSame(fs.list(), ['/wal/00000000000000000150.wal'], 'the covered segments are gone')
  log = await FileLog.open('/wal', { fs, segmentBytesMax: 4096, startSeq: 150 })
  t.strictSame((await readAll(log)).map((r) => dec(r.payload)), ['next'])
  await log.close()
})
