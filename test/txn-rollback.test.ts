// Failover rollback, step by step, in the simulator: a shard leader is cut
// off after transactions installed speculatively there; a new leader
// closes the old epoch at its final watermark; the speculative
// transactions above it (and one that read them) are rolled back, their
// clients get MAKO_TRANSACTION_ROLLED_BACK, a later one built on them is
// refused, and what was final before stays.
import t from 'tap'
import type { Hosted } from '../cluster/txn/host.js'
import { Fate, epochOf, mergeVectors, seqOf } from '../cluster/txn/vector.js'
import { simClientCluster, simMap } from './txn/sim-cluster.js'

const enc = new TextEncoder()
const dec = new TextDecoder()
const k = (s: string): Uint8Array => enc.encode(s)

t.test('speculative transactions above the old epoch final watermark roll back, final ones stay', async (t) => {
  const { sim, client, stop } = await simClientCluster(42)
  t.teardown(stop)
  const hosts = async (): Promise<Array<[string, Hosted]>> => await Promise.all(simMap.nodes.map(async (n) => [n, await sim.node<Promise<Hosted>>(n).app] as [string, Hosted]))
  const leaderOf = async (shard: number): Promise<string | undefined> => (await hosts()).find(([n, h]) => sim.node(n).alive && h.shards.get(shard)?.serving === true)?.[0]

  // Something final first: it must survive whatever happens later.
  await client.transaction(async (tx) => { tx.put(k('b0'), k('final')); tx.put(k('x0'), k('final')) })
  const l0 = (await leaderOf(0))!
  t.ok(l0 !== undefined, `shard 0 is led by ${l0}`)
  const epochBefore = client.marks.get(0).e

  // Cut the shard 0 leader off from its followers (the client still reaches it).
  for (const n of simMap.nodes) if (n !== l0) sim.partition(l0, n)
  const speculative = client.begin()
  speculative.put(k('b0'), k('speculative'))
  speculative.put(k('x0'), k('speculative'))
  const vec = await speculative.commit({ durability: 'speculative' })
  t.equal(client.marks.fate(vec), Fate.Pending, 'acknowledged speculatively, not final')
  // A transaction that reads the speculative version depends on it.
  const reader = client.begin()
  const seen = await reader.get(k('b0'))
  reader.put(k('x1'), seen ?? k('none'))
  const readerVec = await reader.commit({ durability: 'speculative' })
  t.equal(dec.decode(seen!), 'speculative', 'a speculative reader saw it')
  const waits = [client.waitFinal(vec), client.waitFinal(readerVec)].map(async (p) => await p.then(() => 'final', (err: { code?: string }) => err.code))

  // The followers elect a new leader of shard 0; it closes the old epoch.
  const [a, b] = await Promise.all(waits)
  t.equal(a, 'MAKO_TRANSACTION_ROLLED_BACK', 'the speculative transaction is rolled back')
  t.equal(b, 'MAKO_TRANSACTION_ROLLED_BACK', 'and so is the one that read it')
  const mark = client.marks.get(0)
  t.ok(mark.e > epochBefore, `shard 0 moved to epoch ${mark.e}`)
  let pos0 = 0
  for (let i = 0; i < vec.length; i += 2) if (vec[i] === 0) pos0 = vec[i + 1]!
  const oldEpoch = epochOf(pos0)
  let closedAt = -1
  for (let i = 0; i < mark.c.length; i += 2) if (mark.c[i] === oldEpoch) closedAt = mark.c[i + 1]!
  t.ok(closedAt >= 0 && closedAt < seqOf(pos0), `epoch ${oldEpoch} closed at seq ${closedAt}, below the transaction's seq ${seqOf(pos0)}`)
  sim.heal()
  const after = await client.transaction(async (tx) => [await tx.get(k('b0')), await tx.get(k('x0')), await tx.get(k('x1'))])
  t.same(after.map((v) => v === null ? null : dec.decode(v)), ['final', 'final', null], 'every shard shows the final values, nothing of the rolled-back ones')
  const cut = client.marks.cut()
  t.equal(dec.decode((await client.getAtCut(k('x0'), cut))!), 'final', 'a read at the watermark agrees')
  // A coordinator can still bring a vector holding the rolled-back
  // position: its reads were validated at a shard that had not heard of the
  // failover yet. A leader that knows refuses to install it (else every
  // later transaction on its keys would inherit the death) and fills its
  // position with an abort.
  const s1 = (await hosts()).map(([, h]) => h.shards.get(1)!).find((s) => s.serving)!
  const e1 = s1.mark().e
  t.ok((await s1.lock('late', e1, [[k('x2'), k('late')]], 1)).ok, 'a late transaction locks x2')
  const v = await s1.validate('late', e1, [], 0)
  t.ok(v.ok && v.pos !== undefined, 'and gets its position')
  const inst = await s1.install('late', e1, mergeVectors(readerVec, [1, v.pos!]))
  t.same([inst.ok, inst.code], [false, 'MAKO_TRANSACTION_ROLLED_BACK'], 'a vector with the rolled-back position is refused')
  t.equal(s1.machine.latest(k('x2')).value, null, 'and leaves no version behind')
  t.equal(s1.fate('late').fate, 'aborted', 'it is aborted there')
  t.equal(s1.status().aborts['dead'], 1, 'counted as refused for a dead vector')
  t.ok((await s1.lock('next', e1, [[k('x2'), k('next')]], 1)).ok, 'its lock is released')
  s1.abort('next')
  // Every replica of shard 1 agrees once folded: the rolled-back transaction never reaches a base.
  await sim.runFor(0)
  const rolledBack = (await hosts()).flatMap(([, h]) => [...h.shards.values()].map((s) => s.status().rolledBack)).reduce((x, y) => x + y, 0)
  t.ok(rolledBack >= 1, `replicas dropped the rolled-back versions (${rolledBack})`)
  const st = (await hosts()).map(([, h]) => h.shards.get(0)!.status())
  t.ok(st.some((s) => s.serving && s.epoch === mark.e), 'the new leader serves the new epoch')
  client.close()
})
