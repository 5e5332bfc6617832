// Scenario tests of the pure Multi-Paxos replica, on a small synchronous
// harness: messages are delivered in order unless a filter drops them,
// records are durable as soon as a Ready is taken.
import t from 'tap'
import { Replica, applyRecord, emptyDurableState, validateMessage, encodeRecord, decodeRecord } from '../cluster/paxos/index.js'
import type { DurableState, PaxosMessage, Ready, ReplicaEvent, ReplicaOptions, Value } from '../cluster/paxos/index.js'
import { SeededRandom } from '../cluster/sim/random.js'

type Filter = (from: string, to: string, msg: PaxosMessage) => boolean

class Harness {
  readonly ids: string[]
  readonly reps = new Map<string, Replica>()
  readonly disks = new Map<string, DurableState>()
  readonly alive = new Set<string>()
  readonly applied = new Map<string, Array<{ slot: number, value: Value }>>()
  readonly events = new Map<string, ReplicaEvent[]>()
  readonly readies = new Map<string, Ready[]>()
  readonly reads = new Map<string, string[]>()
  queue: Array<{ from: string, to: string, msg: PaxosMessage }> = []
  filter: Filter = () => true
  /** Ticks a message from one replica to another spends on the way (0: delivered in the same pump). */
  delay: (from: string, to: string) => number = () => 0
  #held: Array<{ at: number, m: { from: string, to: string, msg: PaxosMessage } }> = []
  #now = 0
  readonly #opts: Partial<ReplicaOptions>
  readonly #rnd: SeededRandom

  constructor (n: number, opts: Partial<ReplicaOptions> = {}, seed = 1) {
    this.ids = Array.from({ length: n }, (_, i) => `n${i + 1}`)
    this.#opts = opts
    this.#rnd = new SeededRandom(seed, 'harness')
    for (const id of this.ids) {
      this.disks.set(id, emptyDurableState())
      this.boot(id)
    }
  }

  boot (id: string, wipe = false): void {
    if (wipe) this.disks.set(id, emptyDurableState())
    const r = this.#rnd.fork(id + String(this.reps.size))
    this.reps.set(id, new Replica({ electionTicks: 10, ...this.#opts, id, members: this.ids, random: () => r.next(), durable: this.disks.get(id)! }))
    this.alive.add(id)
    this.applied.set(id, [])
    this.events.set(id, [])
    this.readies.set(id, [])
    this.reads.set(id, [])
  }

  crash (id: string): void {
    this.alive.delete(id)
  }

  rep (id: string): Replica {
    return this.reps.get(id)!
  }

  pump (): void {
    for (let guard = 0; guard < 100_000; guard++) {
      let busy = false
      for (const id of this.alive) {
        const r = this.rep(id)
        while (r.hasReady()) {
          busy = true
          const rd = r.ready()
          this.readies.get(id)!.push(rd)
          for (const rec of rd.persist) applyRecord(this.disks.get(id)!, rec)
          for (const e of rd.committed) this.applied.get(id)!.push(e)
          this.events.get(id)!.push(...rd.events)
          this.reads.get(id)!.push(...rd.reads.map((x) => `${x.id}@${x.index}`))
          for (const o of rd.sendAfterPersist) this.queue.push({ from: id, to: o.to, msg: o.msg })
        }
      }
      const q = this.queue
      this.queue = []
      for (const m of q) {
        if (!this.alive.has(m.to) || !this.alive.has(m.from)) continue
        if (m.from !== m.to && !this.filter(m.from, m.to, m.msg)) continue
        const d = m.from === m.to ? 0 : this.delay(m.from, m.to)
        if (d > 0) {
          this.#held.push({ at: this.#now + d, m })
          continue
        }
        busy = true
        this.rep(m.to).step(m.msg)
      }
      if (!busy) return
    }
    throw new Error('harness did not settle')
  }

  tick (k = 1): void {
    for (let i = 0; i < k; i++) {
      this.#now++
      const due = this.#held.filter((h) => h.at <= this.#now)
      this.#held = this.#held.filter((h) => h.at > this.#now)
      // Delivered before the tick: a delayed message is not delayed again.
      for (const { m } of due) if (this.alive.has(m.to)) this.rep(m.to).step(m.msg)
      for (const id of this.alive) this.rep(id).tick()
      this.pump()
    }
  }

  leader (): string | undefined {
    return [...this.alive].find((id) => this.rep(id).status().role === 'leader')
  }

  untilLeader (max = 200): string {
    for (let i = 0; i < max; i++) {
      const l = this.leader()
      if (l !== undefined && this.rep(l).status().serving) return l
      this.tick()
    }
    throw new Error('no leader')
  }
}

const cmd = (id: string): { id: string, op: unknown } => ({ id, op: id })
const cmdIds = (v: Value): string[] => v.k === 'batch' ? v.cmds.map((c) => c.id) : [v.k]

t.test('one replica elects itself, opens its epoch at slot 1 and commits batches', async (t) => {
  const h = new Harness(1)
  const l = h.untilLeader()
  t.equal(l, 'n1')
  const ev = h.events.get('n1')!
  t.match(ev.find((e) => e.e === 'leader'), { e: 'leader', previousFinal: 0, epochSlot: 1 })
  t.ok(ev.some((e) => e.e === 'serving'))
  for (let i = 0; i < 10; i++) t.equal(h.rep(l).propose(cmd(`c#${i}`)), undefined)
  h.pump()
  const applied = h.applied.get('n1')!
  t.equal(applied[0]?.value.k, 'epoch')
  t.same(applied.slice(1).flatMap((e) => cmdIds(e.value)), Array.from({ length: 10 }, (_, i) => `c#${i}`))
  t.equal(applied.length, 2, 'ten commands proposed in one step share one slot')
})

for (const n of [3, 5]) {
  t.test(`${n} replicas: one leader, every replica applies the same log; committed events give the watermark`, async (t) => {
    const h = new Harness(n)
    const l = h.untilLeader()
    t.equal(h.ids.filter((id) => h.rep(id).status().role === 'leader').length, 1)
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 7; i++) h.rep(l).propose(cmd(`r${round}#${i}`))
      h.pump()
    }
    h.tick(3)
    const logs = h.ids.map((id) => h.applied.get(id)!.map((e) => e.value.id))
    for (const log of logs) t.same(log, logs[0])
    t.equal(logs[0]!.length, 6, 'epoch entry plus five batches')
    for (const id of h.ids) {
      const last = h.events.get(id)!.filter((e) => e.e === 'committed').pop()
      t.same(last, { e: 'committed', index: 6 })
    }
  })
}

t.test('an acceptor persists before it answers: its accepted message rides in the Ready that persists the value', async (t) => {
  const h = new Harness(3)
  const l = h.untilLeader()
  h.rep(l).propose(cmd('x#1'))
  h.pump()
  let checked = 0
  for (const id of h.ids) {
    for (const rd of h.readies.get(id)!) {
      for (const o of rd.sendAfterPersist) {
        if (o.msg.t !== 'accepted' || !o.msg.ok) continue
        for (const slot of o.msg.slots) {
          const inThis = rd.persist.some((p) => p.r === 'accept' && p.slot === slot)
          const before = h.disks.get(id)!.accepted.has(slot)
          t.ok(inThis || before, `${id} slot ${slot} persisted with or before its answer`)
          checked++
        }
      }
      for (const o of rd.sendAfterPersist) {
        if (o.msg.t === 'promise' && o.msg.ok) t.ok(h.disks.get(id)!.promised[0] >= o.msg.b[0], 'promise durable')
      }
    }
  }
  t.ok(checked > 0)
})

t.test('leader crash mid-phase-2: the new leader re-proposes what may be chosen, fills holes with no-ops, then opens its epoch', async (t) => {
  const h = new Harness(3)
  const l = h.untilLeader()
  h.tick(2)
  const base = h.rep(l).status().commitIndex
  const [b, c] = h.ids.filter((id) => id !== l) as [string, string]
  // Two slots go out; only the second reaches b, nothing reaches c.
  h.filter = (from, to, msg) => {
    if (from !== l || msg.t !== 'accept') return true
    if (to === c) return false
    return msg.entries.every(([slot]) => slot !== base + 1)
  }
  h.rep(l).propose(cmd('first#1'))
  h.pump()
  h.rep(l).propose(cmd('second#1'))
  h.pump()
  h.crash(l)
  h.filter = () => true
  // Make b the next leader: c's clock is held back.
  for (let i = 0; i < 100 && h.leader() === undefined; i++) {
    h.rep(b).tick()
    if (i % 3 === 0) h.rep(c).tick()
    h.pump()
  }
  const nl = h.leader()
  t.equal(nl, b)
  h.tick(5)
  const ev = h.events.get(b)!.find((e) => e.e === 'leader')
  t.match(ev, { e: 'leader', previousFinal: base + 2, epochSlot: base + 3 }, 'the previous epoch ends at the last slot phase 1 found')
  const applied = h.applied.get(b)!
  t.equal(applied.find((e) => e.slot === base + 1)?.value.k, 'noop', 'the hole is a no-op')
  t.same(cmdIds(applied.find((e) => e.slot === base + 2)!.value), ['second#1'], 'the accepted value is re-proposed')
  t.equal(applied.find((e) => e.slot === base + 3)?.value.k, 'epoch')
  t.same(h.applied.get(c)!.map((e) => e.value.id), applied.map((e) => e.value.id))
})

t.test('messages of an old epoch are refused', async (t) => {
  const h = new Harness(3)
  const l = h.untilLeader()
  const old = h.rep(l).status().epoch!
  h.crash(l)
  const nl = h.untilLeader()
  t.not(nl, l)
  const follower = h.ids.find((id) => id !== l && id !== nl)!
  const stale: PaxosMessage = { t: 'accept', v: 1, cfg: 0, from: l, b: old, entries: [[99, { k: 'noop', id: 'stale' }]], commit: 0, p1: 0 }
  h.rep(follower).step(stale)
  const rd = h.rep(follower).ready()
  const answer = rd.sendAfterPersist.find((o) => o.msg.t === 'accepted')
  t.match(answer?.msg, { t: 'accepted', ok: false })
  t.notOk(rd.persist.some((p) => p.r === 'accept'), 'nothing persisted for it')
})

t.test('read index: a read is confirmed only after a quorum answers a heartbeat sent after it', async (t) => {
  const h = new Harness(3)
  const l = h.untilLeader()
  h.rep(l).propose(cmd('w#1'))
  h.pump()
  let cut = true
  h.filter = (from, to) => !(cut && (from === l || to === l))
  t.equal(h.rep(l).read('q1'), undefined)
  h.pump()
  t.same(h.reads.get(l), [], 'not confirmed while the leader is cut off')
  cut = false
  h.tick(1)
  t.same(h.reads.get(l), [`q1@${h.rep(l).status().commitIndex}`])
  t.match(h.rep(h.ids.find((x) => x !== l)!).read('q2'), { code: 'MAKO_NOT_LEADER', leader: l }, 'a follower redirects')
})

t.test('accepts are resent after a peer\'s measured round trip, not every retryTicks', async (t) => {
  const h = new Harness(3, { retryTicks: 2, electionTicks: 20 })
  const l = h.untilLeader()
  const [fast, slow] = h.ids.filter((id) => id !== l) as [string, string]
  // 4 ticks each way to and from the slow peer: a round trip of 8 ticks.
  h.delay = (from, to) => from === slow || to === slow ? 4 : 0
  h.tick(60)
  const leader = h.rep(l)
  t.equal(leader.retryAfter(fast), 2, 'a peer that answers within the tick: retryTicks')
  const slowRetry = leader.retryAfter(slow)
  t.ok(slowRetry >= 9 && slowRetry <= 40, `the slow peer: its round trip and some (${slowRetry} ticks)`)

  const acceptsTo = (peer: string, from: number): number => h.readies.get(l)!.slice(from)
    .flatMap((rd) => rd.sendAfterPersist).filter((o) => o.to === peer && o.msg.t === 'accept').length
  const mark = h.readies.get(l)!.length
  leader.propose(cmd('x#1'))
  h.pump()
  t.equal(h.rep(l).status().commitIndex, h.applied.get(l)!.at(-1)!.slot, 'chosen with the fast peer at once')
  h.tick(8)
  t.equal(acceptsTo(slow, mark), 1, 'sent once to the slow peer, whose answer takes 8 ticks')
  h.tick(6)
  t.ok(h.applied.get(slow)!.some((e) => cmdIds(e.value).includes('x#1')), 'the slow peer applied it')

  // With the fast peer down, a slot needs the slow one: an accept lost on
  // the way to it is sent again once its retry time has passed, not before.
  h.crash(fast)
  let drop = true
  h.filter = (from, to, msg) => !(drop && from === l && to === slow && msg.t === 'accept')
  const mark2 = h.readies.get(l)!.length
  leader.propose(cmd('x#2'))
  h.pump()
  drop = false
  h.tick(slowRetry - 1)
  t.equal(acceptsTo(slow, mark2), 1, `not resent within ${slowRetry - 1} ticks`)
  h.tick(2)
  t.equal(acceptsTo(slow, mark2), 2, `resent once its retry time passed (now ${leader.retryAfter(slow)} ticks, role ${leader.status().role})`)
  h.tick(12)
  t.ok([l, slow].every((id) => h.applied.get(id)!.some((e) => cmdIds(e.value).includes('x#2'))), 'then chosen and applied')
})

t.test('lease: a leader holding a lease answers reads at once; it stops when the lease runs out', async (t) => {
  const h = new Harness(3, { leaseTicks: 8 })
  const l = h.untilLeader()
  h.tick(2)
  h.rep(l).read('fast')
  t.ok(h.rep(l).hasReady())
  h.pump()
  t.equal(h.reads.get(l)!.length, 1, 'confirmed without a heartbeat round')
  // Cut the leader off: acks stop, and after the lease the read waits.
  h.filter = (from, to) => from !== l && to !== l
  for (let i = 0; i < 9; i++) { h.rep(l).tick(); h.pump() }
  h.rep(l).read('slow')
  h.pump()
  t.equal(h.reads.get(l)!.length, 1, 'no read by lease once it expired')
})

t.test('a replica that fell behind a compaction catches up from a snapshot', async (t) => {
  const h = new Harness(3, { keepSlots: 2 })
  const l = h.untilLeader()
  const lag = h.ids.find((id) => id !== l)!
  h.filter = (from, to) => from !== lag && to !== lag
  for (let i = 0; i < 20; i++) {
    h.rep(l).propose(cmd(`s#${i}`))
    h.pump()
  }
  const st = h.rep(l).status()
  h.rep(l).compact(st.appliedIndex, new Uint8Array([1, 2, 3]))
  h.pump()
  t.ok(h.rep(l).status().firstSlot > 2, 'the leader compacted its log')
  h.filter = () => true
  h.tick(5)
  t.ok(h.events.get(lag)!.some((e) => e.e === 'snapshotInstalled'), 'snapshot installed')
  t.equal(h.rep(lag).status().commitIndex, h.rep(l).status().commitIndex)
  t.equal(h.disks.get(lag)!.snapshot?.index, st.appliedIndex, 'and persisted')
})

t.test('restart: a replica rebuilds from its records and rejoins', async (t) => {
  const h = new Harness(3)
  const l = h.untilLeader()
  for (let i = 0; i < 5; i++) { h.rep(l).propose(cmd(`p#${i}`)); h.pump() }
  h.tick(2)
  const f = h.ids.find((id) => id !== l)!
  const before = h.rep(f).status()
  // Records survive encoding, as in the log.
  h.crash(f)
  h.boot(f)
  const after = h.rep(f).status()
  t.ok(after.commitIndex <= before.commitIndex, 'the commit mark on disk may lag (it is not synced on its own)')
  t.same(after.promised, before.promised)
  t.equal(after.disk, before.disk)
  t.equal(after.role, 'follower')
  h.tick(3)
  t.equal(h.rep(f).status().commitIndex, before.commitIndex, 'relearned from the leader')
  t.same(h.applied.get(f)!.map((e) => e.value.id), h.applied.get(l)!.map((e) => e.value.id), 'the log is applied again from the start')
  for (const rec of [{ r: 'promise', b: [3, 'n1'] }, { r: 'commit', index: 4 }] as const) t.same(decodeRecord(encodeRecord(rec)), rec)
})

t.test('lost disk: detected by the missing disk identity; the replica relearns the log before it votes', async (t) => {
  const h = new Harness(3)
  const l = h.untilLeader()
  for (let i = 0; i < 5; i++) { h.rep(l).propose(cmd(`d#${i}`)); h.pump() }
  h.tick(2)
  const lost = h.ids.find((id) => id !== l)!
  const other = h.ids.find((id) => id !== l && id !== lost)!
  const oldDisk = h.rep(lost).status().disk
  h.crash(lost)
  h.boot(lost, true)
  t.equal(h.rep(lost).status().role, 'init', 'an empty disk first asks its peers')
  h.tick(3)
  const st = h.rep(lost).status()
  t.ok(st.recovering, 'peers hold values: the disk was lost')
  t.not(st.disk, oldDisk, 'a new disk id')
  t.ok(st.promised[0] >= h.rep(l).status().epoch![0], 'its promise starts at the highest a majority reported')
  // With the leader gone, the recovering replica and one voter cannot elect anyone.
  h.crash(l)
  h.tick(60)
  t.equal(h.leader(), undefined, 'a recovering replica does not count towards a phase 1 quorum')
  t.notOk(h.readies.get(lost)!.some((rd) => rd.sendAfterPersist.some((o) => o.msg.t === 'promise' && o.msg.ok && !o.msg.rec)), 'its promises say it is recovering')
  // The old leader comes back with its disk: a leader is elected without the
  // recovering replica, which relearns the log and then votes again.
  h.boot(l)
  const nl = h.untilLeader(400)
  t.not(nl, lost)
  h.tick(5)
  t.notOk(h.rep(lost).status().recovering, 'recovered')
  t.ok(h.events.get(lost)!.some((e) => e.e === 'recovered'))
  t.same(h.applied.get(lost)!.map((e) => e.value.id), h.applied.get(other)!.map((e) => e.value.id).slice(0, h.applied.get(lost)!.length))
})

t.test('a brand-new shard starts only when every member has answered that it is empty', async (t) => {
  const h = new Harness(3)
  h.crash('n3')
  h.tick(50)
  t.equal(h.leader(), undefined)
  t.equal(h.rep('n1').status().role, 'init')
  h.boot('n3')
  h.untilLeader()
  t.pass('elected once all three answered')
})

t.test('messages are validated field by field', async (t) => {
  const good: PaxosMessage[] = [
    { t: 'prepare', v: 1, cfg: 0, from: 'a', b: [1, 'a'], fromSlot: 1 },
    { t: 'accept', v: 1, cfg: 0, from: 'a', b: [1, 'a'], entries: [[1, { k: 'batch', id: 'x', cmds: [{ id: 'c#1', op: 1 }] }]], commit: 0, p1: 0 },
    { t: 'promise', v: 1, cfg: 0, from: 'a', b: [1, 'a'], ok: true, promised: [1, 'a'], acc: [[1, [1, 'a'], { k: 'noop', id: 'n' }, false]], commit: 0, first: 1, rec: false, disk: 'd' },
    { t: 'heartbeat', v: 1, cfg: 0, from: 'a', b: [1, 'a'], commit: 3, ctx: 2, p1: 0 },
    { t: 'snapshot', v: 1, cfg: 0, from: 'a', index: 3, data: new Uint8Array(2), commit: 3 }
  ]
  for (const m of good) {
    t.equal(validateMessage(m), m)
    for (const key of Object.keys(m)) {
      const broken = { ...m } as Record<string, unknown>
      delete broken[key]
      t.throws(() => validateMessage(broken), { code: 'MAKO_BAD_MESSAGE' }, `${m.t} without ${key}`)
    }
  }
  t.throws(() => validateMessage({ ...good[0], v: 2 }), { code: 'MAKO_BAD_MESSAGE' })
  t.throws(() => validateMessage({ ...good[0], b: [1.5, 'a'] }), { code: 'MAKO_BAD_MESSAGE' })
  t.throws(() => validateMessage(null), { code: 'MAKO_BAD_MESSAGE' })
})

t.test('slots and messages respect the byte limits', async (t) => {
  const h = new Harness(3, { maxBatchBytes: 1000, maxMessageBytes: 2500, commandBytes: (c) => (c.op as { size: number }).size })
  const l = h.untilLeader()
  for (let i = 0; i < 10; i++) h.rep(l).propose({ id: `big#${i}`, op: { size: 400 } })
  h.rep(l).propose({ id: 'huge#1', op: { size: 5000 } })
  h.pump()
  const slots = h.applied.get(l)!.filter((e) => e.value.k === 'batch').map((e) => cmdIds(e.value).length)
  t.same(slots, [2, 2, 2, 2, 2, 1], 'two 400-byte commands a slot; a command over the limit goes alone')
  for (const rd of h.readies.get(l)!) {
    for (const o of rd.sendAfterPersist) {
      if (o.msg.t !== 'accept') continue
      const size = o.msg.entries.reduce((a, [, v]) => a + (v.k === 'batch' ? v.cmds.reduce((b, c) => b + (c.op as { size: number }).size, 0) : 64), 0)
      t.ok(o.msg.entries.length === 1 || size <= 2500, `accept of ${o.msg.entries.length} entries, ${size} bytes`)
    }
  }
})
