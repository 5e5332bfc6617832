// Torn tails and corruption: the log is damaged at every byte offset of its
// last records (truncated there, or that byte flipped), then reopened. The
// outcome must be exactly what the rule in adapters/disk/log.ts says: a
// valid prefix with the tail reported, or MAKO_CORRUPTION naming the file
// and offset. Never a wrong record.
import t from 'tap'
import { basename } from 'node:path'
import { FileLog, repairLog, type TornTail } from '../adapters/disk/log.js'
import { encodeSegmentHeader } from '../adapters/disk/log-format.js'
import { MakoError } from '../lib/errors.js'
import { MemoryFs } from './disk/memory-fs.js'
import { Random, testSeed } from './util/random.js'

const SEGMENT_BYTES = 4096
const HEADER = 24
const FRAME = 16

// The damaged copies are reopened thousands of times: in memory (see
// test/disk/memory-fs.ts), where a reopen costs microseconds. The other log
// tests run on the real file system.
const DIR = '/wal'

interface Fixture {
  payloads: Uint8Array[] // payloads[i] has seq i + 1
  files: Map<string, Uint8Array>
  names: string[]
}

async function buildFixture (rng: Random): Promise<Fixture> {
  const fs = new MemoryFs()
  const log = await FileLog.open(DIR, { fs, segmentBytesMax: SEGMENT_BYTES })
  const payloads: Uint8Array[] = []
  // Three segments, the last with 8 records (about 1 KiB of its 4 KiB).
  let inLast = 0
  while (log.segmentFiles.length < 3 || inLast < 8) {
    const p = rng.bytes(rng.int(5) === 0 ? 0 : rng.int(250))
    payloads.push(p)
    await log.append(p)
    if (log.segmentFiles.length >= 3) inLast++
  }
  await log.close()
  const names = fs.list().map((p) => basename(p))
  const files = new Map(names.map((n) => [n, fs.file(`${DIR}/${n}`) as Uint8Array]))
  return { payloads, files, names }
}

/** Offsets of each record frame in a segment, from the payload sizes. */
function frames (fx: Fixture, name: string): Array<{ seq: number, start: number, end: number }> {
  const first = Number(name.slice(0, 20))
  const size = (fx.files.get(name) as Uint8Array).length
  const out: Array<{ seq: number, start: number, end: number }> = []
  let off = HEADER
  for (let seq = first; off < size; seq++) {
    const end = off + FRAME + (fx.payloads[seq - 1] as Uint8Array).length
    out.push({ seq, start: off, end })
    off = end
  }
  return out
}

type Outcome =
  | { kind: 'ok', lastSeq: number, torn: TornTail | undefined, wrong: string | undefined }
  | { kind: 'error', code: string | undefined, message: string }

/** Writes the fixture with `name` replaced by `bytes`, opens it, reads everything back, checks every record. */
function damagedCopy (fx: Fixture, name: string, bytes: Uint8Array, extra?: [string, Uint8Array]): MemoryFs {
  const fs = new MemoryFs()
  for (const [n, b] of fx.files) fs.seed(`${DIR}/${n}`, n === name ? bytes : b)
  if (extra !== undefined) fs.seed(`${DIR}/${extra[0]}`, extra[1])
  return fs
}

async function reopen (fx: Fixture, name: string, bytes: Uint8Array, extra?: [string, Uint8Array]): Promise<Outcome> {
  const fs = damagedCopy(fx, name, bytes, extra)
  let torn: TornTail | undefined
  let log: FileLog
  try {
    log = await FileLog.open(DIR, { fs, segmentBytesMax: SEGMENT_BYTES, onTornTail: (tt) => { torn = tt } })
  } catch (err) {
    if (!(err instanceof MakoError)) throw err
    return { kind: 'error', code: err.code, message: err.message }
  }
  let wrong: string | undefined
  let expect = 1
  for await (const r of log.read(1)) {
    const want = fx.payloads[r.seq - 1]
    if (r.seq !== expect || want === undefined || Buffer.compare(r.payload, want) !== 0) {
      wrong ??= `record ${r.seq} (expected seq ${expect}) differs`
    }
    expect++
  }
  if (expect - 1 !== log.lastSeq) wrong ??= `read ${expect - 1} records, lastSeq ${log.lastSeq}`
  // The recovered log must take appends again, and keep them.
  const lastSeq = log.lastSeq
  const seq = await log.append(Uint8Array.of(1, 2, 3), { sync: true })
  await log.close()
  if (seq !== lastSeq + 1) wrong ??= `append after recovery got seq ${seq}`
  const again = await FileLog.open(DIR, { fs, segmentBytesMax: SEGMENT_BYTES })
  if (again.recovery.tornTail !== undefined) wrong ??= 'a second reopen found a torn tail'
  if (again.lastSeq !== lastSeq + 1) wrong ??= 'the append after recovery was lost'
  await again.close()
  return { kind: 'ok', lastSeq, torn, wrong }
}

/** The record index (into frames) holding byte `offset`, or -1 for the header. */
function recordAt (fr: Array<{ start: number, end: number }>, offset: number): number {
  return fr.findIndex((f) => offset >= f.start && offset < f.end)
}

t.test('truncating the last segment at every offset of its last records recovers the valid prefix', async (t) => {
  const seed = testSeed()
  const fx = await buildFixture(new Random(seed))
  const name = fx.names.at(-1) as string
  const bytes = fx.files.get(name) as Uint8Array
  const fr = frames(fx, name)
  t.ok(fr.length >= 4, `the last segment holds ${fr.length} records`)
  const from = (fr.at(-4) as { start: number }).start
  const offsets = [...Array.from({ length: HEADER + 1 }, (_, i) => i), ...Array.from({ length: bytes.length - from + 1 }, (_, i) => from + i)]
  const problems: string[] = []
  for (const o of offsets) {
    const out = await reopen(fx, name, bytes.subarray(0, o))
    const complete = fr.filter((f) => f.end <= o)
    const wantLast = complete.length > 0 ? (complete.at(-1) as { seq: number }).seq : (fr[0] as { seq: number }).seq - 1
    const boundary = o === HEADER || fr.some((f) => f.end === o)
    if (out.kind !== 'ok') {
      problems.push(`cut at ${o}: ${out.code} ${out.message}`)
    } else if (out.wrong !== undefined) {
      problems.push(`cut at ${o}: ${out.wrong}`)
    } else if (out.lastSeq !== wantLast) {
      problems.push(`cut at ${o}: recovered up to ${out.lastSeq}, expected ${wantLast}`)
    } else if (boundary !== (out.torn === undefined)) {
      problems.push(`cut at ${o}: torn tail ${out.torn === undefined ? 'not ' : ''}reported`)
    } else if (out.torn !== undefined && (!out.torn.file.endsWith(name) || out.torn.offset !== (complete.at(-1)?.end ?? 0))) {
      problems.push(`cut at ${o}: torn tail reported at ${out.torn.file}:${out.torn.offset}`)
    }
    if (problems.length > 5) break
  }
  t.strictSame(problems, [], `${offsets.length} truncations (seed ${seed})`)
})

t.test('flipping any byte of the last records: the last one is a torn tail, an earlier one is MAKO_CORRUPTION', async (t) => {
  const seed = testSeed()
  const fx = await buildFixture(new Random(seed))
  const name = fx.names.at(-1) as string
  const bytes = fx.files.get(name) as Uint8Array
  const fr = frames(fx, name)
  const from = (fr.at(-4) as { start: number }).start
  const offsets = [...Array.from({ length: HEADER }, (_, i) => i), ...Array.from({ length: bytes.length - from }, (_, i) => from + i)]
  const problems: string[] = []
  let corrupt = 0
  let torn = 0
  for (const mask of [0xff, 0x01]) {
    for (const o of offsets) {
      const damaged = bytes.slice()
      damaged[o] = (damaged[o] as number) ^ mask
      const out = await reopen(fx, name, damaged)
      const j = recordAt(fr, o)
      const where = `flip ${mask} at ${o} (record ${j})`
      if (j === fr.length - 1) {
        const f = fr[j] as { seq: number, start: number }
        torn++
        if (out.kind !== 'ok') problems.push(`${where}: ${out.code} ${out.message}`)
        else if (out.wrong !== undefined) problems.push(`${where}: ${out.wrong}`)
        else if (out.lastSeq !== f.seq - 1 || out.torn?.offset !== f.start) {
          problems.push(`${where}: recovered to ${out.lastSeq}, torn at ${out.torn?.offset}`)
        }
      } else {
        // The header (j = -1) or a record with valid records after it.
        corrupt++
        const at = j === -1 ? 0 : (fr[j] as { start: number }).start
        if (out.kind !== 'error' || out.code !== 'MAKO_CORRUPTION') {
          problems.push(`${where}: expected MAKO_CORRUPTION, got ${out.kind === 'ok' ? `recovery to ${out.lastSeq}` : out.code}`)
        } else if (!out.message.includes(name) || !out.message.includes(`offset ${at}`)) {
          problems.push(`${where}: message does not name ${name} and offset ${at}: ${out.message}`)
        }
      }
      if (problems.length > 5) break
    }
  }
  t.ok(torn > 0 && corrupt > 0, `${torn} torn tails, ${corrupt} corruptions`)
  t.strictSame(problems, [], `${offsets.length * 2} flips (seed ${seed})`)
})

t.test('damage in a segment before the last is always MAKO_CORRUPTION', async (t) => {
  const seed = testSeed()
  const fx = await buildFixture(new Random(seed))
  const name = fx.names[0] as string
  const bytes = fx.files.get(name) as Uint8Array
  const fr = frames(fx, name)
  const from = (fr.at(-2) as { start: number }).start
  const problems: string[] = []
  const cases: Array<[string, Uint8Array]> = []
  for (let o = from; o < bytes.length; o++) {
    const damaged = bytes.slice()
    damaged[o] = (damaged[o] as number) ^ 0x40
    cases.push([`flip at ${o}`, damaged])
  }
  for (let o = from + 1; o < bytes.length; o += 7) cases.push([`cut at ${o}`, bytes.subarray(0, o)])
  for (const [what, damaged] of cases) {
    const out = await reopen(fx, name, damaged)
    if (out.kind !== 'error' || out.code !== 'MAKO_CORRUPTION' || !out.message.includes(name)) {
      problems.push(`${what}: ${out.kind === 'ok' ? `recovered to ${out.lastSeq}` : `${out.code} ${out.message}`}`)
    }
    if (problems.length > 5) break
  }
  t.strictSame(problems, [], `${cases.length} damaged copies of ${name} (seed ${seed})`)
})

t.test('a new last segment torn while being created (header only, or less) recovers', async (t) => {
  const seed = testSeed()
  const fx = await buildFixture(new Random(seed))
  const last = fx.names.at(-1) as string
  const next = String(fx.payloads.length + 1).padStart(20, '0') + '.wal'
  const header = encodeSegmentHeader(fx.payloads.length + 1)
  const problems: string[] = []
  const cases: Array<[string, Uint8Array]> = []
  for (let o = 0; o <= HEADER; o++) cases.push([`header cut at ${o}`, header.subarray(0, o)])
  for (let o = 0; o < HEADER; o++) {
    const damaged = header.slice()
    damaged[o] = (damaged[o] as number) ^ 0xff
    cases.push([`header flip at ${o}`, damaged])
  }
  cases.push(['header and zeros', Uint8Array.from([...header, ...new Uint8Array(100)])])
  for (const [what, b] of cases) {
    const out = await reopen(fx, last, fx.files.get(last) as Uint8Array, [next, b])
    if (out.kind !== 'ok' || out.wrong !== undefined || out.lastSeq !== fx.payloads.length) {
      problems.push(`${what}: ${out.kind === 'ok' ? `recovered to ${out.lastSeq} ${out.wrong ?? ''}` : `${out.code} ${out.message}`}`)
    }
  }
  t.strictSame(problems, [], `${cases.length} torn new segments (seed ${seed})`)
})

t.test('a gap between segments is MAKO_CORRUPTION', async (t) => {
  const fx = await buildFixture(new Random(testSeed()))
  const fs = damagedCopy(fx, '', new Uint8Array(0))
  await fs.unlink(`${DIR}/${fx.names[1] as string}`)
  await t.rejects(FileLog.open(DIR, { fs, segmentBytesMax: SEGMENT_BYTES }), { code: 'MAKO_CORRUPTION' })
})

t.test('repairLog keeps the valid prefix before mid-log corruption and reports what it dropped', async (t) => {
  const seed = testSeed()
  const fx = await buildFixture(new Random(seed))
  const name = fx.names[1] as string
  const fr = frames(fx, name)
  const victim = fr[Math.floor(fr.length / 2)] as { seq: number, start: number, end: number }
  const damaged = (fx.files.get(name) as Uint8Array).slice()
  damaged[victim.start + 8] = (damaged[victim.start + 8] as number) ^ 1 // its seq field
  const fs = damagedCopy(fx, name, damaged)
  await t.rejects(FileLog.open(DIR, { fs, segmentBytesMax: SEGMENT_BYTES }), { code: 'MAKO_CORRUPTION' })

  const report = await repairLog(DIR, { fs })
  t.equal(report.lastSeq, victim.seq - 1, 'keeps everything before the damaged record')
  t.ok(report.dropped?.file.endsWith(name), 'names the damaged segment')
  t.equal(report.dropped?.offset, victim.start, 'and the offset of the damage')
  t.strictSame(report.dropped?.files.map((f) => f.slice(-24)), fx.names.slice(2), 'later segments removed')
  t.ok((report.dropped?.bytes ?? 0) > 0)

  const log = await FileLog.open(DIR, { fs, segmentBytesMax: SEGMENT_BYTES })
  t.equal(log.lastSeq, victim.seq - 1)
  let n = 0
  let same = true
  for await (const r of log.read(1)) {
    n++
    if (Buffer.compare(r.payload, fx.payloads[r.seq - 1] as Uint8Array) !== 0) same = false
  }
  t.equal(n, victim.seq - 1)
  t.ok(same, 'the kept records are intact')
  t.equal(await log.append(Uint8Array.of(9)), victim.seq, 'numbering continues from the kept prefix')
  await log.close()
  t.equal((await repairLog(DIR, { fs })).dropped, undefined, 'repairing a sound log changes nothing')
})

t.test('records with valid checksums but out of sequence are caught', async (t) => {
  const fx = await buildFixture(new Random(testSeed()))
  const name = fx.names.at(-1) as string
  const bytes = fx.files.get(name) as Uint8Array
  const fr = frames(fx, name)
  const mid = fr[3] as { seq: number, start: number, end: number }
  const last = fr.at(-1) as { seq: number, start: number, end: number }

  // A record cut out of the middle: the next one's seq skips ahead.
  const missing = Uint8Array.from([...bytes.subarray(0, mid.start), ...bytes.subarray(mid.end)])
  const out1 = await reopen(fx, name, missing)
  t.equal(out1.kind === 'error' ? out1.code : 'recovered', 'MAKO_CORRUPTION', 'a skipped seq followed by valid records')

  // The last record written twice: the copy repeats a seq, at the tail.
  const doubled = Uint8Array.from([...bytes, ...bytes.subarray(last.start, last.end)])
  const out2 = await reopen(fx, name, doubled)
  t.equal(out2.kind === 'ok' ? out2.lastSeq : out2.code, last.seq, 'a repeated record at the tail is dropped')
  t.equal(out2.kind === 'ok' ? out2.torn?.offset : -1, last.end, 'as a torn tail at its offset')
  t.equal(out2.kind === 'ok' ? out2.wrong : 'error', undefined)
})
