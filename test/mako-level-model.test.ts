// MakoLevel against a plain sorted-array model, through the public API:
// random writes, range clears, snapshots, and iterators with random ranges,
// directions, limits, nextv sizes and seeks, at the smallest fanout so every
// scan crosses many leaves. The compliance suite checks the API's contract on
// small data; this checks the engine's answers on larger, random data.
import t from 'tap'
import { MakoLevel } from '../adapters/level/mako-level.js'
import { Random, testSeed } from './util/random.js'

type Model = Map<string, string>

function sortedEntries (model: Model): Array<[string, string]> {
  return [...model.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
}

interface Range { gt?: string, gte?: string, lt?: string, lte?: string, reverse?: boolean, limit?: number }

function inRange (k: string, r: Range): boolean {
  if (r.gt !== undefined && !(k > r.gt)) return false
  if (r.gte !== undefined && !(k >= r.gte)) return false
  if (r.lt !== undefined && !(k < r.lt)) return false
  if (r.lte !== undefined && !(k <= r.lte)) return false
  return true
}

function expected (model: Model, r: Range): Array<[string, string]> {
  let out = sortedEntries(model).filter(([k]) => inRange(k, r))
  if (r.reverse === true) out.reverse()
  if (r.limit !== undefined && r.limit >= 0) out = out.slice(0, r.limit)
  return out
}

function randomKey (rng: Random): string {
  // Short keys over a tiny alphabet: many shared prefixes and collisions.
  let k = ''
  const n = 1 + rng.int(5)
  for (let i = 0; i < n; i++) k += 'abcd'[rng.int(4)]
  return k
}

function randomRange (rng: Random): Range {
  const r: Range = {}
  const lo = randomKey(rng)
  const hi = randomKey(rng)
  const x = rng.int(3)
  if (x === 1) r.gt = lo
  if (x === 2) r.gte = lo
  const y = rng.int(3)
  if (y === 1) r.lt = hi
  if (y === 2) r.lte = hi
  if (rng.int(2) === 0) r.reverse = true
  if (rng.int(3) === 0) r.limit = rng.int(30)
  return r
}

const seed = testSeed()
t.comment(`seed ${seed} (replay with SEED=${seed})`)

t.test('MakoLevel agrees with a sorted-array model', async (t) => {
  const rng = new Random(seed)
  const db = new MakoLevel({ leafSize: 4, branchSize: 4 })
  await db.open()
  const model: Model = new Map()
  const snaps: Array<{ snapshot: ReturnType<typeof db.snapshot>, model: Model }> = []
  const where = (step: number): string => `step ${step}, seed ${seed}`
  let checks = 0
  for (let step = 0; step < 4000; step++) {
    const r = rng.float()
    if (r < 0.35) {
      const k = randomKey(rng)
      const v = String(step)
      await db.put(k, v)
      model.set(k, v)
    } else if (r < 0.45) {
      const k = randomKey(rng)
      await db.del(k)
      model.delete(k)
    } else if (r < 0.55) {
      const ops = Array.from({ length: 1 + rng.int(20) }, () => rng.int(3) === 0
        ? { type: 'del' as const, key: randomKey(rng) }
        : { type: 'put' as const, key: randomKey(rng), value: `b${step}` })
      await db.batch(ops)
      for (const op of ops) { if (op.type === 'put') model.set(op.key, op.value); else model.delete(op.key) }
    } else if (r < 0.58) {
      const range = randomRange(rng)
      await db.clear(range)
      for (const [k] of expected(model, range)) model.delete(k)
    } else if (r < 0.62) {
      snaps.push({ snapshot: db.snapshot(), model: new Map(model) })
      if (snaps.length > 3) await snaps.shift()!.snapshot.close()
    } else {
      // A read: from now, or from an open snapshot.
      const snap = snaps.length > 0 && rng.int(3) === 0 ? rng.pick(snaps) : null
      const m = snap?.model ?? model
      const range = randomRange(rng)
      const options = snap === null ? range : { ...range, snapshot: snap.snapshot }
      const want = expected(m, range)
      const how = rng.int(4)
      let got: Array<[string, string]>
      if (how === 0) {
        got = await db.iterator(options).all()
      } else if (how === 1) {
        got = []
        const it = db.iterator(options)
        const size = 1 + rng.int(7)
        for (let batch = await it.nextv(size); batch.length > 0; batch = await it.nextv(size)) got.push(...batch)
        await it.close()
      } else if (how === 2) {
        got = []
        for await (const e of db.iterator(options)) got.push(e)
      } else {
        // Seek to a random target, then read the rest.
        const it = db.iterator({ ...options, limit: -1 })
        const target = randomKey(rng)
        it.seek(target)
        got = await it.all()
        const all = expected(m, { ...range, limit: -1 })
        // A target outside the range ends the iterator (abstract-level's rule).
        const after = !inRange(target, range) ? [] : all.filter(([k]) => (range.reverse === true ? k <= target : k >= target))
        t.strictSame(got, after, `seek ${target} ${JSON.stringify(range)} at ${where(step)}`)
        checks++
        continue
      }
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        t.strictSame(got, want, `${JSON.stringify(range)} read ${how} at ${where(step)}`)
      }
      checks++
      if (rng.int(4) === 0) {
        const k = randomKey(rng)
        const v = snap === null ? await db.get(k) : await db.get(k, { snapshot: snap.snapshot })
        if (v !== m.get(k)) t.equal(v, m.get(k), `get ${k} at ${where(step)}`)
      }
    }
  }
  for (const s of snaps) await s.snapshot.close()
  t.ok(checks > 1000, `${checks} reads compared`)
  t.strictSame(await db.iterator().all(), sortedEntries(model), 'final contents')
  await db.close()
})

t.test('writes during iteration are not seen by it', async (t) => {
  const db = new MakoLevel({ leafSize: 4, branchSize: 4 })
  await db.batch(Array.from({ length: 200 }, (_, i) => ({ type: 'put' as const, key: `k${String(i).padStart(3, '0')}`, value: 'old' })))
  const it = db.iterator()
  const first = await it.nextv(10)
  await db.batch(Array.from({ length: 200 }, (_, i) => ({ type: 'put' as const, key: `k${String(i).padStart(3, '0')}`, value: 'new' })))
  await db.clear({ gte: 'k100' })
  await db.put('k0000', 'inserted')
  const rest = await it.all()
  t.equal(first.length + rest.length, 200)
  t.ok([...first, ...rest].every(([, v]) => v === 'old'), 'every value from the iterator\'s snapshot')
  t.equal((await db.iterator().all()).length, 101, 'the database itself changed')
})
