// The pieces of the transaction layer on their own: the shard map, vectors
// and marks, key spaces, and the shard state machine (epochs, watermark,
// fold, rollback, cut reads, snapshots).
import t from 'tap'
import { ShardMap } from '../cluster/txn/shard-map.js'
import { Fate, MarkTable, isVector, mergeVectors, position, positionFate, vectorFate } from '../cluster/txn/vector.js'
import type { Mark } from '../cluster/txn/vector.js'
import { KeySpace } from '../cluster/txn/client.js'
import { TxnMachine } from '../cluster/txn/machine.js'
import type { TxnOp } from '../cluster/txn/machine.js'
import type { CommittedEntry } from '../cluster/paxos/types.js'

const enc = new TextEncoder()
const dec = new TextDecoder()
const k = (s: string): Uint8Array => enc.encode(s)
const replicas = ['n1', 'n2', 'n3']

t.test('shard map', async (t) => {
  const map = new ShardMap([{ end: 'g', replicas }, { start: 'h', end: 'p', replicas }, { start: 'p', replicas }])
  t.equal(map.shardOf(k('a')), 0)
  t.equal(map.shardOf(k('')), 0)
  t.equal(map.shardOf(k('h')), 1)
  t.equal(map.shardOf(k('ozzz')), 1)
  t.equal(map.shardOf(k('p')), 2)
  t.equal(map.shardOf(Uint8Array.of(0xff, 0xff)), 2)
  t.throws(() => map.shardOf(k('gz')), { code: 'MAKO_NO_SHARD' }, 'a key in the gap between shards is refused')
  t.same(map.shardsIn({}), [0, 1, 2])
  t.same(map.shardsIn({ gte: k('i'), lt: k('p') }), [1])
  t.same(map.shardsIn({ gte: k('i'), lte: k('p') }), [1, 2])
  t.same(map.shardsIn({ lt: k('h') }), [0])
  t.same(map.nodes, replicas)
  t.throws(() => new ShardMap([]), { code: 'MAKO_INVALID_CONFIG' })
  t.throws(() => new ShardMap([{ end: 'm', replicas }, { start: 'l', replicas }]), { code: 'MAKO_INVALID_CONFIG' }, 'overlap')
  t.throws(() => new ShardMap([{ start: 'm', end: 'a', replicas }]), { code: 'MAKO_INVALID_CONFIG' }, 'start above end')
  t.throws(() => new ShardMap([{ replicas: [] }]), { code: 'MAKO_INVALID_CONFIG' }, 'no replicas')
  t.throws(() => new ShardMap([{ replicas: ['a', 'a', 'b'] }]), { code: 'MAKO_INVALID_CONFIG' }, 'a replica twice')
  const even = ShardMap.even(4, replicas)
  t.same([0x00, 0x40, 0x80, 0xc0, 0xff].map((b) => even.shardOf(Uint8Array.of(b))), [0, 1, 2, 3, 3])
})

t.test('vectors and marks', async (t) => {
  const v = mergeVectors([0, position(1, 5)], [0, position(1, 7), 1, position(2, 3)])
  t.same(v, [0, position(1, 7), 1, position(2, 3)], 'the higher position per shard and epoch')
  const both = mergeVectors([0, position(1, 9)], [0, position(2, 1)])
  t.same(both, [0, position(1, 9), 0, position(2, 1)], 'positions of two epochs of one shard are both kept')
  const m: Mark = { e: 2, w: 4, c: [1, 6] }
  t.equal(positionFate(position(1, 6), m), Fate.Final, 'at the closed final watermark: final')
  t.equal(positionFate(position(1, 7), m), Fate.Dead, 'above it: dead')
  t.equal(positionFate(position(2, 4), m), Fate.Final, 'at the watermark: final')
  t.equal(positionFate(position(2, 5), m), Fate.Pending, 'above it: pending')
  t.equal(positionFate(position(3, 1), m), Fate.Pending, 'a later epoch: pending')
  t.ok(isVector(both, 1) && !isVector([1, 5, 0, 5], 2) && !isVector([0, 5, 0, 5], 1), 'vectors from the network must be sorted')
  t.equal(vectorFate(both, [m]), Fate.Dead, 'one dead position makes the vector dead')
  t.equal(vectorFate([0, position(1, 2), 0, position(2, 3)], [m]), Fate.Final)
  const table = new MarkTable(2)
  const seen: Array<[number, boolean]> = []
  table.onChange((s, closed) => seen.push([s, closed]))
  t.ok(table.update(0, { e: 1, w: 3, c: [] }))
  t.notOk(table.update(0, { e: 1, w: 2, c: [] }), 'an older mark tells nothing')
  t.ok(table.update(0, { e: 2, w: 0, c: [1, 3] }))
  t.same(seen, [[0, false], [0, true]], 'listeners hear of closed epochs')
})

t.test('key spaces', async (t) => {
  const map = new ShardMap([{ end: 'm', replicas }, { start: 'm', replicas }])
  const space = new KeySpace(map, k('db1/'))
  t.equal(dec.decode(space.full(k('a'))), 'db1/a')
  t.equal(dec.decode(space.strip(k('db1/a'))), 'a')
  const r0 = space.shardRange(0, {})!
  t.same([dec.decode(r0.gte!), dec.decode(r0.lt!)], ['db1/', 'db1/m'], 'shard 0 of the space')
  const r1 = space.shardRange(1, { gt: k('c') })!
  t.same([dec.decode(r1.gte!), dec.decode(r1.lt!)], ['db1/m', 'db10'], 'shard 1 from its start to the end of the space')
  const r2 = space.shardRange(0, { gt: k('c'), lte: k('e') })!
  t.same([dec.decode(r2.gt!), dec.decode(r2.lte!)], ['db1/c', 'db1/e'])
})

function machine (marks: Mark[], now = { t: 0 }): TxnMachine {
  return new TxnMachine({ shard: 0, shards: 2, marks: () => marks, retainMs: 10, now: () => now.t })
}

function epochEntry (slot: number): CommittedEntry {
  return { slot, value: { k: 'epoch', id: `e${slot}`, epoch: [slot, 'n1'], previousFinal: slot - 1 } }
}

function batch (slot: number, ops: TxnOp[]): CommittedEntry {
  return { slot, value: { k: 'batch', id: `b${slot}`, cmds: ops.map((op, i) => ({ id: `c${slot}.${i}`, op })) } }
}

t.test('the shard machine', async (t) => {
  const marks: Mark[] = [{ e: 0, w: 0, c: [] }, { e: 1, w: 0, c: [] }]
  const now = { t: 0 }
  const m = machine(marks, now)
  m.onMark = () => { marks[0] = m.mark() }
  m.apply(epochEntry(1))
  t.equal(m.epoch, 1)
  const p = (n: number): number => position(1, n)
  // seq 2 arrives before 1: the watermark waits for the hole.
  m.apply(batch(2, [{ t: 'txn', id: 'T2', pos: p(2), vec: [0, p(2)], w: [[k('a'), k('2')]] }]))
  t.equal(m.mark().w, 0, 'a hole at seq 1 holds the watermark')
  m.apply(batch(3, [{ t: 'abort', pos: p(1) }, { t: 'txn', id: 'T3', pos: p(3), vec: [0, p(3), 1, position(1, 5)], w: [[k('b'), k('3')], [k('a'), null]] }]))
  t.equal(m.mark().w, 3, 'the abort fills the hole')
  t.equal(dec.decode(m.latest(k('b')).value!), '3', 'the newest version, speculative')
  t.equal(m.latest(k('a')).value, null, 'a delete is a version too')
  const cut = [m.mark(), { e: 1, w: 4, c: [] }]
  t.equal(dec.decode(m.atCut(k('a'), cut)!), '2', 'at the cut T3 is not final (shard 1 is behind), T2 is')
  m.fold()
  now.t = 100
  m.fold()
  t.equal(m.baseSize, 1, 'T2 moved into the base after the retention time')
  t.equal(m.overlaySize, 1, 'T3 waits for shard 1')
  t.throws(() => m.atCut(k('a'), [{ e: 1, w: 1, c: [] }, cut[1]!]), { code: 'MAKO_CUT_TOO_OLD' }, 'a cut older than the base is refused')
  t.throws(() => m.atCut(k('a'), [{ e: 1, w: 9, c: [] }, cut[1]!]), { code: 'MAKO_REPLICA_BEHIND' }, 'a cut this replica has not reached is refused')
  const snap = m.snapshot()
  // Shard 1 fails over below T3's position there: T3 is rolled back.
  let rolled = 0
  m.onRollback = () => { rolled++ }
  marks[1] = { e: 2, w: 0, c: [1, 4] }
  m.fold(true)
  t.equal(rolled, 1, 'T3 rolled back')
  t.equal(dec.decode(m.latest(k('a')).value!), '2', 'and its versions vanished')
  const copy = machine(marks, now)
  copy.restore(snap, m.appliedIndex)
  t.equal(copy.stateHash, m.stateHash, 'a snapshot restores the same log position and hash')
  copy.fold(true)
  t.equal(dec.decode(copy.latest(k('a')).value!), '2', 'the restored copy reaches the same state')
  t.same(m.rangeAtCut({}, [m.mark(), marks[1]!], false, 10).map(([a, b]) => [dec.decode(a), dec.decode(b)]), [['a', '2']], 'a range at the cut')
  // A new epoch closes the old one at its watermark.
  m.apply(epochEntry(4))
  t.same(m.mark(), { e: 2, w: 0, c: [1, 3] })
})
