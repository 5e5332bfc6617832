// I/O errors and crashes. A fixed workload runs once to count its file-system
// calls; then once per call with that call failing (ENOSPC/EIO, or a short
// write followed by ENOSPC). After each run the log is reopened as the
// process would find it (every byte handed to the OS) and as a power loss
// would leave it (only what was synced, per test/disk/memory-fs.ts). Every
// time: no corruption, every acknowledged record present and intact (every
// synced one, after a power loss), nothing unacknowledged before an
// acknowledged one.
import t from 'tap'
import { statSync } from 'node:fs'
import { FileLog } from '../adapters/disk/log.js'
import { MakoError } from '../lib/errors.js'
import { FaultyFs } from './disk/faulty-fs.js'
import { MemoryFs } from './disk/memory-fs.js'
import { realFsMaps, tempDir } from './disk/tmp.js'
import { Random, testSeed } from './util/random.js'

const DIR = '/db/wal'
const SEGMENT_BYTES = 4096

function payloadFor (round: number, k: number): Uint8Array {
  const b = new Uint8Array(150 + ((round * 7 + k * 13) % 200))
  b.fill((round * 31 + k) & 0xff)
  b[0] = round
  b[1] = k
  return b
}

interface Run {
  /** The latest payload given each seq. */
  assigned: Map<number, Uint8Array>
  acked: Map<number, Uint8Array>
  /** Everything up to here was acknowledged as synced. */
  durableSeq: number
  codes: Set<string>
  failedOpen: boolean
  /** The log was in the failed state at the end (so it may hold written but rejected records). */
  failedAtEnd: boolean
}

/** Twelve rounds of four appends (the last of every other round with sync), a sync(), a dropPrefix, a close. */
async function workload (fs: FaultyFs, writeMode: 'mapped' | 'inline' | 'threadpool'): Promise<Run> {
  const run: Run = { assigned: new Map(), acked: new Map(), durableSeq: 0, codes: new Set(), failedOpen: false, failedAtEnd: false }
  const note = (err: unknown): void => { run.codes.add(err instanceof MakoError ? err.code : String(err)) }
  let log: FileLog
  try {
    log = await FileLog.open(DIR, { fs, segmentBytesMax: SEGMENT_BYTES, writeMode })
  } catch (err) {
    note(err)
    run.failedOpen = true
    return run
  }
  for (let round = 0; round < 12; round++) {
    const pending: Array<Promise<void>> = []
    for (let k = 0; k < 4; k++) {
      const payload = payloadFor(round, k)
      const sync = k === 3 && round % 2 === 0
      const p = log.append(payload, { sync })
      const seq = log.lastSeq
      run.assigned.set(seq, payload)
      pending.push(p.then((s) => {
        run.acked.set(s, payload)
        if (sync) run.durableSeq = Math.max(run.durableSeq, s)
      }, note))
    }
    if (round === 5) {
      const upto = log.lastSeq
      pending.push(log.sync().then(() => { run.durableSeq = Math.max(run.durableSeq, upto) }, note))
    }
    await Promise.all(pending)
    if (round === 8) await log.dropPrefix(log.lastSeq - 6).catch(note)
  }
  run.failedAtEnd = await log.sync().then(() => false, (err: unknown) => { note(err); return true })
  await log.close().catch(note)
  return run
}

/**
 * Reopens `fs` and checks the log against the run: records in sequence,
 * each the payload acknowledged for its seq (or, past the last acknowledged
 * one, the payload last appended with it), at least up to `mustHaveUpTo`,
 * and with `exact`, nothing past the last acknowledged record.
 */
async function check (fs: MemoryFs, run: Run, mustHaveUpTo: number, exact = false): Promise<string | undefined> {
  let log: FileLog
  try {
    log = await FileLog.open(DIR, { fs, segmentBytesMax: SEGMENT_BYTES })
  } catch (err) {
    return `reopen failed: ${err instanceof MakoError ? err.code : ''} ${String(err)}`
  }
  const maxAcked = Math.max(0, ...run.acked.keys())
  let expect = log.firstSeq
  let problem: string | undefined
  try {
    for await (const r of log.read(log.firstSeq)) {
      if (r.seq !== expect) problem ??= `record ${r.seq} where ${expect} was expected`
      expect++
      const want = r.seq <= maxAcked ? run.acked.get(r.seq) : run.assigned.get(r.seq)
      if (want === undefined) problem ??= `record ${r.seq} was never ${r.seq <= maxAcked ? 'acknowledged' : 'appended'}`
      else if (Buffer.compare(r.payload, want) !== 0) problem ??= `record ${r.seq} has the wrong payload`
    }
  } catch (err) {
    problem ??= `read failed: ${String(err)}`
  }
  if (log.lastSeq < mustHaveUpTo) problem ??= `lost records: recovered to ${log.lastSeq}, needed ${mustHaveUpTo}`
  if (exact && log.lastSeq !== maxAcked) problem ??= `recovered to ${log.lastSeq}, but ${maxAcked} was the last acknowledged`
  await log.close()
  return problem
}

/** The first byte of every record's payload, from the log's first record on. */
async function firstBytes (log: FileLog): Promise<number[]> {
  const out: number[] = []
  for await (const r of log.read(1)) out.push(r.payload[0] as number)
  return out
}

for (const writeMode of ['mapped', 'inline', 'threadpool'] as const) {
  t.test(`${writeMode} writes: a failure at each file-system call never loses or invents an acknowledged record`, async (t) => {
    const seed = testSeed()
    const rng = new Random(seed)
    const clean = new FaultyFs(new MemoryFs())
    const cleanRun = await workload(clean, writeMode)
    t.equal(cleanRun.codes.size, 0, 'the workload runs clean without faults')
    t.equal(cleanRun.acked.size, 48)
    const total = clean.calls.length
    const problems: string[] = []
    let scenarios = 0
    let sawTransient = false
    let sawFailedState = false
    for (let k = 0; k < total; k++) {
      for (const shortWrite of [false, true]) {
        if (shortWrite && clean.calls[k]?.op !== 'write') continue
        scenarios++
        const mem = new MemoryFs()
        const fs = new FaultyFs(mem)
        fs.failAt = k
        fs.shortWrite = shortWrite
        const run = await workload(fs, writeMode)
        const what = `fault at call ${k} (${clean.calls[k]?.op}${shortWrite ? ', short write' : ''})`
        for (const code of run.codes) {
          if (code !== 'MAKO_IO_ERROR' && code !== 'MAKO_LOG_FAILED') problems.push(`${what}: rejected with ${code}`)
        }
        if (run.codes.has('MAKO_LOG_FAILED')) sawFailedState = true
        if (run.codes.has('MAKO_IO_ERROR') && !run.codes.has('MAKO_LOG_FAILED') &&
          [...run.acked.values()].some((p) => p[0] === 11)) {
          sawTransient = true // an append failed and the last round still succeeded
        }
        const maxAcked = Math.max(0, ...run.acked.keys())
        // A log that did not end failed truncated every rejected write: it
        // holds exactly the acknowledged records.
        const asFound = await check(mem, run, run.failedOpen ? 0 : maxAcked, !run.failedAtEnd)
        if (asFound !== undefined) problems.push(`${what}, reopened: ${asFound}`)
        for (let c = 0; c < 3; c++) {
          const afterLoss = await check(mem.crash(rng), run, run.durableSeq)
          if (afterLoss !== undefined) problems.push(`${what}, after a power loss: ${afterLoss}`)
        }
        if (problems.length > 5) break
      }
      if (problems.length > 5) break
    }
    t.ok(sawTransient, 'some failures were survived: later appends succeeded after a rejected one')
    t.ok(sawFailedState, 'some failures put the log in the failed state')
    t.strictSame(problems, [], `${scenarios} scenarios over ${total} calls (seed ${seed})`)
  })
}

t.test('a full disk rejects the group with MAKO_IO_ERROR, transient; the log goes on once there is space', async (t) => {
  const dir = tempDir(t)
  const fs = new FaultyFs()
  const log = await FileLog.open(dir, { fs, writeMode: 'inline' })
  await log.append(Uint8Array.of(1))
  fs.failAt = fs.calls.length // the next call: the group's write
  const a = log.append(Uint8Array.of(2))
  const b = log.append(Uint8Array.of(3), { sync: true })
  const errA = await a.catch((e: unknown) => e)
  const errB = await b.catch((e: unknown) => e)
  t.ok(fs.fired)
  t.match(errA, { code: 'MAKO_IO_ERROR', transient: true }, 'the first append of the group')
  t.match(errB, { code: 'MAKO_IO_ERROR', transient: true }, 'and the second')
  t.match((errA as Error).message, /ENOSPC/, 'the message says why')
  t.equal((errA as { cause?: { code?: string } }).cause?.code, 'ENOSPC', 'the cause is attached')
  t.equal(log.lastSeq, 1, 'their sequence numbers are given back')
  t.equal(await log.append(Uint8Array.of(4), { sync: true }), 2, 'the next append succeeds')
  await log.close()
  const reopened = await FileLog.open(dir)
  const seen: number[][] = []
  for await (const r of reopened.read(1)) seen.push([r.seq, ...r.payload])
  t.strictSame(seen, [[1, 1], [2, 4]], 'the rejected records are not in the log')
  await reopened.close()
})

t.test('a short write is cut back: a rejected record never reappears after a later acknowledged one', async (t) => {
  const dir = tempDir(t)
  const fs = new FaultyFs()
  const log = await FileLog.open(dir, { fs, writeMode: 'inline' })
  await log.append(Uint8Array.of(1))
  // Two small records and a large one: half of the group's write holds the
  // two small ones whole. Then ENOSPC.
  fs.failAt = fs.calls.length
  fs.shortWrite = true
  const group = [log.append(new Uint8Array(10).fill(2)), log.append(new Uint8Array(10).fill(3)), log.append(new Uint8Array(200))]
  for (const p of group) await t.rejects(p, { code: 'MAKO_IO_ERROR' })
  // The same length as the first rejected record, at the same place.
  t.equal(await log.append(new Uint8Array(10).fill(4)), 2)
  await log.close()
  const reopened = await FileLog.open(dir)
  const seen = await firstBytes(reopened)
  t.strictSame(seen, [1, 4], 'the record rejected as seq 3 is not behind the acknowledged seq 2')
  t.equal(reopened.recovery.tornTail, undefined, 'and nothing half-written was left behind')
  await reopened.close()
})

t.test('a failed fdatasync fails the log: later appends reject with MAKO_LOG_FAILED until reopened', async (t) => {
  const dir = tempDir(t)
  const fs = new FaultyFs()
  fs.failCode = 'EIO'
  const log = await FileLog.open(dir, { fs, writeMode: 'inline' })
  await log.append(Uint8Array.of(1), { sync: true })
  fs.failAt = fs.calls.length + 1 // write, then fdatasync
  await t.rejects(log.append(Uint8Array.of(2), { sync: true }), { code: 'MAKO_IO_ERROR' })
  t.equal(fs.calls[fs.failAt]?.op, 'fdatasync')
  await t.rejects(log.append(Uint8Array.of(3)), { code: 'MAKO_LOG_FAILED' })
  await t.rejects(log.sync(), { code: 'MAKO_LOG_FAILED' })
  await log.close()
  const reopened = await FileLog.open(dir)
  t.ok(reopened.lastSeq === 1 || reopened.lastSeq === 2, 'the unacknowledged record may or may not be there')
  t.equal(await reopened.append(Uint8Array.of(4)), reopened.lastSeq, 'the reopened log takes appends')
  await reopened.close()
})

/**
 * Appends (awaited) records of `size` bytes filled with `fill` while one
 * more still fits within `prepared` bytes from a segment end of `end`;
 * returns the new end and how many were appended.
 */
async function fillPrepared (log: FileLog, end: number, prepared: number, size: number, fill: number): Promise<{ end: number, count: number }> {
  let count = 0
  while (end + 16 + size <= prepared) {
    await log.append(new Uint8Array(size).fill(fill))
    end += 16 + size
    count++
  }
  return { end, count }
}

t.test('mapped: a full disk fails the write that prepares the segment; the group is rejected, transient, and the log goes on', async (t) => {
  if (!realFsMaps(t)) return
  const dir = tempDir(t)
  const fs = new FaultyFs()
  const log = await FileLog.open(dir, { fs, writeMode: 'mapped' })
  await log.append(Uint8Array.of(1))
  const prepared = statSync(log.segmentFiles[0]!).size
  t.ok(prepared >= 64 * 1024, `the first group prepared ${prepared} bytes of zeros ahead`)
  const writes = fs.count('write')
  for (let i = 0; i < 100; i++) await log.append(Uint8Array.of(9))
  const filled = await fillPrepared(log, 24 + 101 * 17, prepared, 4000, 5)
  t.equal(fs.count('write'), writes, `${100 + filled.count} more appends within the prepared bytes: no write call`)
  // A record that no longer fits in what is prepared: the next call is the zeros for it.
  fs.failAt = fs.calls.length
  const a = log.append(new Uint8Array(4000).fill(2))
  const b = log.append(Uint8Array.of(3), { sync: true })
  const errA = await a.catch((e: unknown) => e)
  const errB = await b.catch((e: unknown) => e)
  t.equal(fs.calls[fs.failAt]?.op, 'write', 'the failing call was the write of zeros')
  t.match(errA, { code: 'MAKO_IO_ERROR', transient: true }, 'the first append of the group')
  t.match(errB, { code: 'MAKO_IO_ERROR', transient: true }, 'and the second')
  t.equal((errA as { cause?: { code?: string } }).cause?.code, 'ENOSPC', 'the cause is attached')
  const kept = 101 + filled.count
  t.equal(log.lastSeq, kept, 'their sequence numbers are given back')
  t.equal(await log.append(Uint8Array.of(4), { sync: true }), kept + 1, 'the next append succeeds')
  await log.close()
  t.equal(statSync(log.segmentFiles[0]!).size, filled.end + 17, 'close cut the prepared zeros: the file ends at its last record')
  const reopened = await FileLog.open(dir)
  const seen = await firstBytes(reopened)
  t.strictSame(seen, [1, ...Array<number>(100).fill(9), ...Array<number>(filled.count).fill(5), 4], 'the rejected records are not in the log')
  t.equal(reopened.recovery.zeroTailBytes, 0, 'and no zeros were left behind')
  await reopened.close()
})

t.test('mapped: a mapping that fails rejects the group and the log goes on', async (t) => {
  if (!realFsMaps(t)) return
  const dir = tempDir(t)
  const fs = new FaultyFs()
  const log = await FileLog.open(dir, { fs, writeMode: 'mapped' })
  await log.append(Uint8Array.of(1))
  const filled = await fillPrepared(log, 24 + 17, statSync(log.segmentFiles[0]!).size, 4000, 5)
  fs.failAt = fs.calls.length + 1 // the zeros for the next record, then its mapping
  await t.rejects(log.append(new Uint8Array(4000).fill(2)), { code: 'MAKO_IO_ERROR', cause: { code: 'ENOMEM' } })
  t.equal(fs.calls[fs.failAt]?.op, 'mapping', 'the failing call was the mapping')
  t.equal(await log.append(new Uint8Array(4000).fill(3)), filled.count + 2, 'the same append again succeeds')
  await log.close()
  const reopened = await FileLog.open(dir)
  const seen = await firstBytes(reopened)
  t.strictSame(seen, [1, ...Array<number>(filled.count).fill(5), 3])
  await reopened.close()
})

t.test('mapped: a group over 8 KiB is one write call, and small groups after it are copied again', async (t) => {
  if (!realFsMaps(t)) return
  const dir = tempDir(t)
  const fs = new FaultyFs()
  const log = await FileLog.open(dir, { fs, writeMode: 'mapped' })
  await log.append(Uint8Array.of(1))
  const prepared = statSync(log.segmentFiles[0]!).size
  let writes = fs.count('write')
  const maps = fs.count('mapping')
  // Within the prepared zeros: one write call over them, the mapping kept.
  t.equal(await log.append(new Uint8Array(20_000).fill(2)), 2)
  t.equal(fs.count('write'), writes + 1, 'a 20 KB record within the prepared bytes: one write call')
  t.equal(statSync(log.segmentFiles[0]!).size, prepared, 'over the zeros: the file did not grow')
  t.equal(await log.append(Uint8Array.of(3)), 3)
  t.equal(fs.count('mapping'), maps, 'the next small record is copied through the same mapping')
  // Past them: the file grows by the write, and the next small record prepares and maps again.
  writes = fs.count('write')
  t.equal(await log.append(new Uint8Array(prepared).fill(4)), 4)
  t.equal(fs.count('write'), writes + 1, 'a record past the prepared bytes: one write call')
  t.equal(fs.count('mapping'), maps, 'and no mapping')
  t.equal(await log.append(Uint8Array.of(5)), 5)
  t.equal(fs.count('mapping'), maps + 1, 'a small record after it maps the file again')
  const live = await firstBytes(log)
  t.strictSame(live, [1, 2, 3, 4, 5], 'the open log reads back every record')
  await log.close()
  const reopened = await FileLog.open(dir)
  const seen: Array<[number, number | undefined]> = []
  for await (const r of reopened.read(1)) seen.push([r.payload.length, r.payload[0]])
  t.strictSame(seen, [[1, 1], [20_000, 2], [1, 3], [prepared, 4], [1, 5]], 'and so does the reopened log')
  t.equal(reopened.recovery.zeroTailBytes, 0, 'close cut the zeros')
  await reopened.close()
})

t.test('power loss at random moments: every synced record survives, recovery never reports corruption', async (t) => {
  const seed = testSeed()
  const rng = new Random(seed)
  const mem = new MemoryFs()
  const log = await FileLog.open(DIR, { fs: mem, segmentBytesMax: SEGMENT_BYTES })
  const run: Run = { assigned: new Map(), acked: new Map(), durableSeq: 0, codes: new Set(), failedOpen: false, failedAtEnd: false }
  const snapshots: Array<{ fs: MemoryFs, durableSeq: number }> = []
  for (let step = 0; step < 400; step++) {
    const n = 1 + rng.int(6)
    const pending: Array<Promise<void>> = []
    for (let i = 0; i < n; i++) {
      const payload = rng.bytes(rng.int(400))
      const sync = rng.int(4) === 0
      const p = log.append(payload, { sync })
      run.assigned.set(log.lastSeq, payload)
      pending.push(p.then((s) => {
        run.acked.set(s, payload)
        if (sync) run.durableSeq = Math.max(run.durableSeq, s)
      }))
    }
    // A crash while the group may still be in flight: what is durable now is
    // what was acknowledged as synced before this moment.
    if (rng.int(8) === 0) snapshots.push({ fs: mem.crash(rng), durableSeq: run.durableSeq })
    await Promise.all(pending)
    if (rng.int(50) === 0) await log.dropPrefix(log.lastSeq - rng.int(30))
  }
  await log.close()
  const problems: string[] = []
  for (const [i, s] of snapshots.entries()) {
    const problem = await check(s.fs, run, s.durableSeq)
    if (problem !== undefined) problems.push(`snapshot ${i}: ${problem}`)
  }
  t.ok(snapshots.length > 20, `${snapshots.length} crash points`)
  t.strictSame(problems, [], `seed ${seed}`)
})
