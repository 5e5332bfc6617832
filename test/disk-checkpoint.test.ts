import t from 'tap'
import { readdirSync } from 'node:fs'
import { basename } from 'node:path'
import {
  loadNewestCheckpoint, listCheckpoints, readCheckpoint, writeCheckpoint, type CheckpointColumnFamily, type CheckpointPair
} from '../adapters/disk/checkpoint.js'
import { crc32cRange } from '../adapters/disk/crc32c.js'
import { MakoError } from '../lib/errors.js'
import { FaultyFs } from './disk/faulty-fs.js'
import { MemoryFs } from './disk/memory-fs.js'
import { tempDir } from './disk/tmp.js'
import { Random, testSeed } from './util/random.js'

const DIR = '/db/checkpoints'
type Entry = [number, Uint8Array, Uint8Array]

function randomFamilies (rng: Random, sizes: number[]): { families: CheckpointColumnFamily[], truth: Entry[] } {
  const truth: Entry[] = []
  const families = sizes.map((n, cf) => {
    const pairs: CheckpointPair[] = []
    for (let i = 0; i < n; i++) {
      const key = rng.bytes(rng.int(20))
      const value = rng.bytes(rng.int(8) === 0 ? 0 : rng.int(120))
      pairs.push([key, value])
      truth.push([cf, key, value])
    }
    return { name: cf === 0 ? 'default' : `cf-${cf}-ü`, entries: pairs }
  })
  return { families, truth }
}

async function readAll (path: string, fs: MemoryFs | undefined): Promise<{ entries: Entry[], error: unknown, headers: number }> {
  const entries: Entry[] = []
  let headers = 0
  let error: unknown
  try {
    await readCheckpoint(path, {
      onHeader: () => { headers++ },
      onEntry: (cf, key, value) => { entries.push([cf, key, value]) }
    }, fs === undefined ? {} : { fs })
  } catch (err) {
    error = err
  }
  return { entries, error, headers }
}

/** Index of the first entry of `got` that differs from `truth`, or -1 if `got` is a prefix of it. */
function firstWrong (got: Entry[], truth: Entry[]): number {
  for (let i = 0; i < got.length; i++) {
    const a = got[i] as Entry
    const b = truth[i]
    if (b === undefined || a[0] !== b[0] || Buffer.compare(a[1], b[1]) !== 0 || Buffer.compare(a[2], b[2]) !== 0) return i
  }
  return -1
}

t.test('round trip: column families, empty ones, empty keys and values, big values, sync and async sources', async (t) => {
  const dir = tempDir(t)
  const seed = testSeed()
  const rng = new Random(seed)
  const { families, truth } = randomFamilies(rng, [300, 0, 50])
  const big = new Uint8Array(200_000).fill(9)
  async function * asyncSource (): AsyncIterable<CheckpointPair> {
    yield [new Uint8Array(0), new Uint8Array(0)]
    yield [Uint8Array.of(1), big]
  }
  families.push({ name: 'async', entries: asyncSource() })
  truth.push([3, new Uint8Array(0), new Uint8Array(0)], [3, Uint8Array.of(1), big])

  const written = await writeCheckpoint(dir, 1234, families, { blockBytes: 1024 })
  t.equal(written.seq, 1234)
  t.equal(basename(written.path), '00000000000000001234.ckpt')
  t.equal(written.entries, truth.length)
  t.strictSame(written.counts, [300, 0, 50, 2])
  t.strictSame(readdirSync(dir), ['00000000000000001234.ckpt'], 'no temporary file left')

  let header: unknown
  const got: Entry[] = []
  const info = await readCheckpoint(written.path, {
    onHeader: (h) => { header = h },
    onEntry: (cf, key, value) => { got.push([cf, key, value]) }
  })
  t.strictSame(header, { seq: 1234, columnFamilies: ['default', 'cf-1-ü', 'cf-2-ü', 'async'] })
  t.equal(info.entries, truth.length)
  t.strictSame(info.counts, [300, 0, 50, 2])
  t.equal(info.bytes, written.bytes)
  t.equal(got.length, truth.length)
  t.equal(firstWrong(got, truth), -1, `every entry back, in order (seed ${seed})`)
})

t.test('the newest two are kept; older ones and leftover temporary files go once the new one is durable', async (t) => {
  const fs = new MemoryFs()
  const one = [{ name: 'default', entries: [[Uint8Array.of(1), Uint8Array.of(1)]] as CheckpointPair[] }]
  await writeCheckpoint(DIR, 10, one, { fs })
  await writeCheckpoint(DIR, 20, one, { fs })
  fs.seed(`${DIR}/00000000000000000025.ckpt.tmp`, Uint8Array.of(1, 2, 3)) // a crash mid-write
  const third = await writeCheckpoint(DIR, 30, one, { fs })
  t.strictSame(third.kept.map((r) => r.seq), [30, 20], 'kept, newest first')
  t.strictSame(third.removed.map((p) => basename(p)).sort(),
    ['00000000000000000010.ckpt', '00000000000000000025.ckpt.tmp'])
  t.strictSame((await listCheckpoints(DIR, { fs })).map((r) => r.seq), [30, 20])
  t.strictSame(await listCheckpoints('/nowhere', { fs }), [], 'a missing directory has none')
})

t.test('writing yields to the event loop', async (t) => {
  const fs = new MemoryFs() // its writes resolve at once: only the writer's own yields let timers in
  const pairs: CheckpointPair[] = Array.from({ length: 20_000 }, (_, i) => [Uint8Array.of(i >> 8, i & 0xff), new Uint8Array(8)])
  let ticks = 0
  let stop = false
  const tick = (): void => { ticks++; if (!stop) setImmediate(tick) }
  setImmediate(tick)
  await writeCheckpoint(DIR, 1, [{ name: 'default', entries: pairs }], { fs, yieldEveryEntries: 1000 })
  stop = true
  t.ok(ticks >= 15, `${ticks} turns of the event loop ran during a write of 20,000 entries`)
})

t.test('a second concurrent checkpoint of the same directory is refused; bad entries are rejected', async (t) => {
  const fs = new MemoryFs()
  async function * slow (): AsyncIterable<CheckpointPair> {
    await new Promise((resolve) => setTimeout(resolve, 20))
    yield [Uint8Array.of(1), Uint8Array.of(2)]
  }
  const first = writeCheckpoint(DIR, 1, [{ name: 'default', entries: slow() }], { fs })
  await t.rejects(writeCheckpoint(DIR, 2, [{ name: 'default', entries: [] }], { fs }), { code: 'MAKO_CHECKPOINT_BUSY' })
  await first
  await t.rejects(writeCheckpoint(DIR, 3, [{ name: 'default', entries: [['k', 'v'] as unknown as CheckpointPair] }], { fs }),
    { code: 'MAKO_INVALID_ARGUMENT' })
  t.strictSame(fs.list().map((p) => basename(p)), ['00000000000000000001.ckpt'], 'the failed one left no file')
  await t.rejects(writeCheckpoint(DIR, -1, [], { fs }), { code: 'MAKO_INVALID_ARGUMENT' })
})

t.test('every truncation and every flipped byte is detected; what was delivered before is never wrong', async (t) => {
  const seed = testSeed()
  const rng = new Random(seed)
  const fs = new MemoryFs()
  const { families, truth } = randomFamilies(rng, [12, 0, 8])
  const written = await writeCheckpoint(DIR, 77, families, { fs, blockBytes: 150 })
  const bytes = fs.file(written.path) as Uint8Array
  t.ok(bytes.length > 600, `${bytes.length} bytes in several blocks`)
  const problems: string[] = []
  const check = async (what: string, damaged: Uint8Array): Promise<void> => {
    const copy = new MemoryFs()
    copy.seed(written.path, damaged)
    const { entries, error } = await readAll(written.path, copy)
    if (!(error instanceof MakoError) || error.code !== 'MAKO_CORRUPTION') {
      problems.push(`${what}: ${error === undefined ? 'loaded' : String(error)}`)
    } else if (!error.message.includes(written.path)) {
      problems.push(`${what}: the error does not name the file`)
    }
    const wrong = firstWrong(entries, truth)
    if (wrong >= 0) problems.push(`${what}: entry ${wrong} delivered wrong`)
  }
  for (let o = 0; o < bytes.length && problems.length < 5; o++) await check(`cut at ${o}`, bytes.subarray(0, o))
  for (const mask of [0xff, 0x01]) {
    for (let o = 0; o < bytes.length && problems.length < 5; o++) {
      const damaged = bytes.slice()
      damaged[o] = (damaged[o] as number) ^ mask
      await check(`flip ${mask} at ${o}`, damaged)
    }
  }
  await check('a byte appended', Uint8Array.from([...bytes, 0]))
  t.strictSame(problems, [], `${bytes.length * 3 + 1} damaged copies (seed ${seed})`)
})

t.test('a checkpoint of a newer format is refused as such, not as damage', async (t) => {
  const fs = new MemoryFs()
  const written = await writeCheckpoint(DIR, 5, [{ name: 'default', entries: [] }], { fs })
  const bytes = (fs.file(written.path) as Uint8Array).slice()
  bytes[8] = 2 // version 2, with a CRC to match
  const length = new DataView(bytes.buffer).getUint32(12, true)
  new DataView(bytes.buffer).setUint32(4, crc32cRange(bytes, 8, 16 + length), true)
  fs.seed(written.path, bytes)
  const { error } = await readAll(written.path, fs)
  t.match(error, { code: 'MAKO_UNSUPPORTED_FORMAT' })
})

t.test('loadNewestCheckpoint falls back past a damaged newest one, and names every file when none is valid', async (t) => {
  const fs = new MemoryFs()
  const fam = (v: number): CheckpointColumnFamily[] => [{ name: 'default', entries: [[Uint8Array.of(v), Uint8Array.of(v)]] }]
  t.equal(await loadNewestCheckpoint(DIR, { fs, onEntry: () => {} }), undefined, 'none: undefined')
  await writeCheckpoint(DIR, 10, fam(10), { fs })
  const newest = await writeCheckpoint(DIR, 20, fam(20), { fs })
  const damaged = (fs.file(newest.path) as Uint8Array).slice()
  damaged[damaged.length - 10] = (damaged[damaged.length - 10] as number) ^ 1
  fs.seed(newest.path, damaged)

  const events: string[] = []
  const info = await loadNewestCheckpoint(DIR, {
    fs,
    onHeader: (h) => events.push(`header ${h.seq}`),
    onEntry: (_cf, key) => events.push(`entry ${key[0] as number}`),
    onCorrupt: (path, err) => events.push(`corrupt ${basename(path)} ${err.code}`)
  })
  t.equal(info?.seq, 10, 'the older one is loaded')
  t.strictSame(events, [
    'header 20', 'entry 20', 'corrupt 00000000000000000020.ckpt MAKO_CORRUPTION', 'header 10', 'entry 10'
  ], 'the damaged one reported, and a new header before starting over')

  const older = `${DIR}/00000000000000000010.ckpt`
  fs.seed(older, (fs.file(older) as Uint8Array).subarray(0, 30))
  const err = await loadNewestCheckpoint(DIR, { fs, onEntry: () => {} }).catch((e: unknown) => e)
  t.match(err, { code: 'MAKO_CORRUPTION' })
  t.match((err as Error).message, /00000000000000000020\.ckpt.*00000000000000000010\.ckpt/, 'names both files')
})

t.test('a failure at each file-system call of a write leaves the previous checkpoint, or the new one, whole', async (t) => {
  const seed = testSeed()
  const rng = new Random(seed)
  const old = randomFamilies(rng, [30])
  const next = randomFamilies(rng, [60, 10])
  const base = new MemoryFs()
  await writeCheckpoint(DIR, 5, old.families, { fs: base })
  await writeCheckpoint(DIR, 10, old.families, { fs: base })
  const files = base.list().map((p) => [p, base.file(p) as Uint8Array] as const)
  // Small blocks and writes, so a fault can land between any two; the
  // checkpoint at 5 is pruned after the new one is in place.
  const options = { blockBytes: 200, writeBufferBytes: 512 }

  const fresh = (): MemoryFs => { const m = new MemoryFs(); for (const [p, b] of files) m.seed(p, b); return m }
  const counting = new FaultyFs(fresh())
  await writeCheckpoint(DIR, 20, next.families, { fs: counting, ...options })
  t.ok(counting.count('write') >= 4 && counting.count('unlink') === 1, `${counting.count('write')} writes and a prune`)
  const total = counting.calls.length
  const problems: string[] = []
  for (let k = 0; k < total; k++) {
    const mem = fresh()
    const fs = new FaultyFs(mem)
    fs.failAt = k
    const what = `fault at call ${k} (${counting.calls[k]?.op})`
    const err = await writeCheckpoint(DIR, 20, next.families, { fs, ...options }).then(() => undefined, (e: unknown) => e)
    if (err !== undefined && !(err instanceof MakoError && err.code === 'MAKO_IO_ERROR')) problems.push(`${what}: ${String(err)}`)
    // As the process finds it, and after a power loss.
    for (const view of [mem, mem.crash(rng)]) {
      const entries: Entry[] = []
      let header = -1
      const info = await loadNewestCheckpoint(DIR, {
        fs: view,
        onHeader: (h) => { header = h.seq; entries.length = 0 },
        onEntry: (cf, key, value) => entries.push([cf, key, value])
      }).catch((e: unknown) => e)
      if (info instanceof Error || info === undefined) {
        problems.push(`${what}: no checkpoint loads: ${String(info)}`)
        continue
      }
      const truth = header === 20 ? next.truth : old.truth
      if (entries.length !== truth.length || firstWrong(entries, truth) !== -1) problems.push(`${what}: checkpoint ${header} differs`)
      if (err === undefined && view === mem && header !== 20) problems.push(`${what}: succeeded but the new one is not there`)
    }
    if (problems.length > 5) break
  }
  t.strictSame(problems, [], `${total} fault points (seed ${seed})`)
})

t.test("an error thrown by the caller's entry source goes out as it came, and leaves no file", async (t) => {
  const fs = new MemoryFs()
  function * failing (): Iterable<CheckpointPair> {
    yield [Uint8Array.of(1), Uint8Array.of(1)]
    throw new RangeError('snapshot released')
  }
  await t.rejects(writeCheckpoint(DIR, 1, [{ name: 'default', entries: failing() }], { fs }), RangeError)
  t.strictSame(fs.list(), [])
})
