import t from 'tap'
import { BTree, Cursor, checkValid, compareBytes, lookup, place, placedBuffer, placedOffset, type Frozen, type SeekMode } from '../lib/btree/index.js'
import { Random, testSeed } from './util/random.js'

// The reference model: a plain sorted array of [key, value] pairs.
type Pair = [Uint8Array, Uint8Array]

function same (a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b
  return compareBytes(a, b) === 0
}

function modelIndex (model: Pair[], key: Uint8Array): number {
  let lo = 0
  let hi = model.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (compareBytes(model[mid]![0], key) < 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

const ALPHABET = [0, 1, 2, 97, 98, 255]

function randomKey (rng: Random): Uint8Array {
  const n = rng.int(10)
  const key = new Uint8Array(n)
  for (let i = 0; i < n; i++) key[i] = rng.pick(ALPHABET)
  return key
}

// Keys that tie on their first 18 bytes (the bytes the tree keeps as
// numbers) and go on past them, so that comparisons must read stored bytes:
// a shared stem of 16 to 20 bytes, then a short random tail.
const STEM = Uint8Array.from({ length: 20 }, (_, i) => (i * 37) & 0xff)

function longKey (rng: Random): Uint8Array {
  const stem = 16 + rng.int(5)
  const tail = randomKey(rng).subarray(0, rng.int(6))
  const key = new Uint8Array(stem + tail.length)
  key.set(STEM.subarray(0, stem))
  key.set(tail, stem)
  return key
}

function makeValue (rng: Random): Uint8Array {
  return rng.bytes(rng.int(4))
}

// Walks a cursor from a seek and compares with the model's answer.
function scan (root: Frozen['root'], model: Pair[], key: Uint8Array | null, mode: SeekMode, steps: number): string | null {
  const c = new Cursor(root)
  let i: number
  const forward = mode === 'ge' || mode === 'gt'
  if (key === null) {
    if (forward) { c.first(); i = 0 } else { c.last(); i = model.length - 1 }
  } else {
    c.seek(key, mode)
    const at = modelIndex(model, key)
    const exact = at < model.length && compareBytes(model[at]![0], key) === 0
    if (mode === 'ge') i = at
    else if (mode === 'gt') i = exact ? at + 1 : at
    else if (mode === 'le') i = exact ? at : at - 1
    else i = at - 1
  }
  for (let s = 0; s < steps; s++) {
    const expected = model[i]
    if (expected === undefined) return c.valid ? `cursor valid past the end at step ${s}` : null
    if (!c.valid) return `cursor ended early at step ${s}`
    if (!same(c.key(), expected[0])) return `wrong key at step ${s}`
    if (!same(c.value(), expected[1])) return `wrong value at step ${s}`
    if (forward) { c.next(); i++ } else { c.prev(); i-- }
  }
  return null
}

function runModel (seed: number, options: { leafSize?: number, branchSize?: number }, ops: number, makeKey: (rng: Random) => Uint8Array = randomKey): void {
  const rng = new Random(seed)
  const tree = new BTree(options)
  let model: Pair[] = []
  const snapshots: Array<{ frozen: Frozen, model: Pair[] }> = []
  const fail = (step: number, what: string): never => {
    throw new Error(`${what} (seed ${seed}, step ${step}, replay with SEED=${seed})`)
  }
  for (let step = 0; step < ops; step++) {
    const r = rng.float()
    const key = makeKey(rng)
    const at = modelIndex(model, key)
    const present = at < model.length && compareBytes(model[at]![0], key) === 0
    if (r < 0.45) {
      const value = makeValue(rng)
      const replaced = tree.set(key, value)
      if (replaced !== present) fail(step, 'set says replaced when the key was absent, or not when present')
      if (present) model[at] = [key, value]
      else model.splice(at, 0, [key, value])
    } else if (r < 0.75) {
      const removed = tree.delete(key)
      if (removed !== present) fail(step, 'delete disagrees with the model on presence')
      if (present) model.splice(at, 1)
    } else if (r < 0.85) {
      const got = lookup(tree.root, key)
      if (!same(got, present ? model[at]![1] : undefined)) fail(step, 'get disagrees with the model')
    } else if (r < 0.95) {
      const mode = rng.pick<SeekMode>(['ge', 'gt', 'le', 'lt'])
      const problem = scan(tree.freeze().root, model, rng.int(8) === 0 ? null : key, mode, rng.int(40))
      if (problem !== null) fail(step, `${mode} scan: ${problem}`)
    } else if (r < 0.98) {
      snapshots.push({ frozen: tree.freeze(), model: model.slice() })
      if (snapshots.length > 4) snapshots.shift()
    } else if (rng.int(20) === 0) {
      tree.clear()
      model = []
    }
    try {
      checkValid(tree)
    } catch (err) {
      fail(step, `checkValid: ${(err as Error).message}`)
    }
    if (tree.size !== model.length) fail(step, 'size disagrees with the model')
    // Old snapshots never change, whatever happens to the tree after them.
    if (step % 97 === 0) {
      for (const snap of snapshots) {
        checkValid(snap.frozen, tree.leafSize, tree.branchSize)
        const problem = scan(snap.frozen.root, snap.model, null, 'ge', snap.model.length + 1)
        if (problem !== null) fail(step, `snapshot changed: ${problem}`)
        for (const [k, v] of snap.model) if (!same(lookup(snap.frozen.root, k), v)) fail(step, 'snapshot lookup changed')
      }
    }
  }
}


const seed = testSeed()
t.comment(`seed ${seed} (replay with SEED=${seed})`)

for (const [name, options] of [['fanout 4', { leafSize: 4, branchSize: 4 }], ['fanout 8', { leafSize: 8, branchSize: 8 }], ['default fanout', {}]] as const) {
  t.test(`matches a sorted-array model under 100,000 random operations, ${name}`, async (t) => {
    runModel(seed, options, 100_000)
    t.pass('no divergence')
  })
}

t.test('matches the model with keys that tie past their first 18 bytes, fanout 4 and default', async (t) => {
  runModel(seed, { leafSize: 4, branchSize: 4 }, 30_000, longKey)
  runModel(seed ^ 0x2545f491, {}, 30_000, longKey)
  t.pass('no divergence')
})

t.test('fromSorted builds a valid tree of every size', async (t) => {
  for (const leafSize of [4, 5, 8, 64]) {
    for (let n = 0; n < 300; n += n < 20 ? 1 : 37) {
      const keys: Uint8Array[] = []
      const bufs: ArrayBuffer[] = []
      const offs: number[] = []
      for (let i = 0; i < n; i++) {
        const k = new Uint8Array([i >> 8, i & 0xff])
        place(k, new Uint8Array([i & 0xff]))
        keys.push(k)
        bufs.push(placedBuffer)
        offs.push(placedOffset)
      }
      const tree = BTree.fromSorted(bufs, offs, keys.map(() => 2), keys.map(() => 1), { leafSize, branchSize: leafSize })
      t.equal(checkValid(tree), n)
      for (let i = 0; i < n; i += 7) t.ok(same(lookup(tree.root, keys[i]!), new Uint8Array([i & 0xff])), `value ${i}`)
      // And it stays valid under writes after the load.
      for (let i = 0; i < n; i += 3) tree.delete(keys[i]!)
      for (let i = 0; i < 50; i++) { const k = new Uint8Array([9, i]); tree.set(k, k) }
      checkValid(tree)
    }
  }
})

t.test('large random keys agree with a Map and sort like Buffer.compare', async (t) => {
  const rng = new Random(seed ^ 0x5bd1e995)
  const tree = new BTree()
  const map = new Map<string, Uint8Array>()
  for (let i = 0; i < 50_000; i++) {
    const k = rng.bytes(16)
    tree.set(k, k)
    map.set(Buffer.from(k).toString('hex'), k)
  }
  t.equal(checkValid(tree), map.size)
  const sorted = [...map.values()].sort((a, b) => Buffer.compare(a, b))
  const c = new Cursor(tree.freeze().root)
  c.first()
  let i = 0
  let ok = true
  for (; c.valid; c.next(), i++) if (!same(c.key(), sorted[i])) ok = false
  t.ok(ok, 'in Buffer.compare order')
  t.equal(i, sorted.length)
})
