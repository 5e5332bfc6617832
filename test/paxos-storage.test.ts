// Paxos storage on the write-ahead log: records come back in order after a
// reopen, a snapshot compacts the log without losing the live records, and
// a malformed record is reported as corruption.
import t from 'tap'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PaxosStorage, Replica, decodeRecord, encodeRecord } from '../cluster/paxos/index.js'
import type { PersistRecord, Value } from '../cluster/paxos/index.js'

const batch = (slot: number, size = 1): Value => ({ k: 'batch', id: `b${slot}`, cmds: [{ id: `c#${slot}`, op: new Uint8Array(size) }] })

t.test('records survive a reopen in order; the replica restarts from them', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mako-pxst-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  let s = await PaxosStorage.open(dir, { sync: true })
  t.same(s.recovered().disk, undefined, 'an empty directory has no disk identity: the replica will ask its peers')
  await s.write([{ r: 'meta', disk: 'd1', recovery: null }, { r: 'promise', b: [2, 'a'] }])
  await s.write([
    { r: 'accept', slot: 1, b: [2, 'a'], value: batch(1), chosen: false },
    { r: 'accept', slot: 2, b: [2, 'a'], value: batch(2), chosen: false },
    { r: 'accept', slot: 1, b: [3, 'b'], value: batch(1), chosen: true },
    { r: 'commit', index: 2 },
    { r: 'promise', b: [1, 'z'] }
  ])
  await s.close()
  s = await PaxosStorage.open(dir)
  const st = s.recovered()
  t.equal(st.disk, 'd1')
  t.same(st.promised, [2, 'a'], 'a promise never goes down')
  t.equal(st.commit, 2)
  t.same(st.accepted.get(1), { b: [3, 'b'], value: batch(1), chosen: true })
  const r = new Replica({ id: 'a', members: ['a', 'b', 'c'], random: () => 0.5, durable: st })
  t.equal(r.status().commitIndex, 2)
  t.equal(r.status().role, 'follower')
  await s.close()
})

t.test('a snapshot compacts the log and keeps what is live', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mako-pxst-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  let s = await PaxosStorage.open(dir, { sync: false, segmentBytesMax: 4096 })
  await s.write([{ r: 'meta', disk: 'd2', recovery: null }, { r: 'promise', b: [5, 'c'] }])
  for (let slot = 1; slot <= 200; slot++) await s.write([{ r: 'accept', slot, b: [5, 'c'], value: batch(slot, 64), chosen: slot <= 190 }])
  await s.write([{ r: 'commit', index: 190 }])
  const before = readdirSync(dir).length
  await s.write([{ r: 'snapshot', index: 190, data: new Uint8Array([9, 9, 9]) }])
  await s.close()
  const after = readdirSync(dir).length
  t.ok(after < before, `segments dropped (${before} -> ${after})`)
  s = await PaxosStorage.open(dir)
  const st = s.recovered()
  t.equal(st.snapshot?.index, 190)
  t.same([...st.accepted.keys()].sort((a, b) => a - b), Array.from({ length: 10 }, (_, i) => 191 + i), 'slots above the snapshot kept')
  t.same(st.promised, [5, 'c'])
  t.equal(st.disk, 'd2')
  t.equal(st.commit, 190)
  await s.close()
})

t.test('records round-trip and malformed ones are corruption', async (t) => {
  const recs: PersistRecord[] = [
    { r: 'promise', b: [1, 'x'] },
    { r: 'accept', slot: 3, b: [1, 'x'], value: { k: 'epoch', id: 'e', epoch: [1, 'x'], previousFinal: 2 }, chosen: false },
    { r: 'commit', index: 3 },
    { r: 'snapshot', index: 3, data: new Uint8Array([1]) },
    { r: 'meta', disk: 'abc', recovery: { floor: [4, 'y'], floorKnown: true } }
  ]
  for (const rec of recs) t.same(decodeRecord(encodeRecord(rec)), rec, rec.r)
  t.throws(() => decodeRecord(new Uint8Array([0xc1])), { code: 'MAKO_CORRUPTION' })
  t.throws(() => decodeRecord(encodeRecord({ r: 'accept', slot: -1 } as unknown as PersistRecord)), { code: 'MAKO_CORRUPTION' })
})

t.test('the state machine applies each client command once, in any order within the window', async (t) => {
  const { KvStateMachine, kvSessionWindow } = await import('../cluster/paxos/index.js')
  const kv = new KvStateMachine()
  const enc = new TextEncoder()
  const put = (id: string, v: string): { id: string, op: unknown } => ({ id, op: { t: 'put', k: enc.encode('k'), v: enc.encode(v) } })
  const cas = (id: string, expect: string, v: string): { id: string, op: unknown } => ({ id, op: { t: 'cas', k: enc.encode('k'), expect: enc.encode(expect), v: enc.encode(v) } })
  let slot = 0
  const apply = (...cmds: Array<{ id: string, op: unknown }>): Map<string, unknown> => kv.apply({ slot: ++slot, value: { k: 'batch', id: `s${slot}`, cmds } })
  apply(put('c#2', 'b'))
  apply(put('c#1', 'a'))
  t.equal(new TextDecoder().decode(kv.get(enc.encode('k'))), 'a', 'an earlier sequence number arriving later is applied')
  const first = apply(cas('c#3', 'a', 'x')).get('c#3')
  const again = apply(cas('c#3', 'a', 'x')).get('c#3')
  t.same(again, first, 'a retry gets the first answer')
  t.equal(new TextDecoder().decode(kv.get(enc.encode('k'))), 'x')
  apply(put(`c#${3 + kvSessionWindow + 1}`, 'y'))
  t.match(apply(put('c#2', 'z')).get('c#2'), { ok: false, code: 'MAKO_DUPLICATE' }, 'too old to tell: refused')
  const h = kv.stateHash
  const copy = new KvStateMachine()
  copy.restore(kv.snapshot(), kv.appliedIndex)
  t.equal(copy.stateHash, h, 'a snapshot restores the same state')
  const last = `c#${3 + kvSessionWindow + 1}`
  t.same(copy.apply({ slot: slot + 1, value: { k: 'batch', id: 'r', cmds: [put(last, 'w')] } }).get(last), { ok: true }, 'and the sessions')
  t.equal(copy.stateHash, h, 'the retry changed nothing')
})
