// The simulator itself: one seed gives the same run twice; network faults
// (delay, reorder, drop, duplicate, clog, partitions both ways and one
// way); crash and restart keeping only what was synced; virtual timers.
import t from 'tap'
import { randomNetwork, SeededRandom, Simulator } from '../cluster/sim/index.js'
import type { NodeEnv, SimulatorOptions } from '../cluster/sim/index.js'
import { EventQueue } from '../cluster/sim/event-queue.js'
import type { SimEvent } from '../cluster/sim/event-queue.js'
import { nodeId } from '../cluster/transport/index.js'
import type { NodeId } from '../cluster/transport/index.js'
import { MakoError } from '../lib/errors.js'
import { replayHint, testSeed } from './transport/seed.js'

const seed = testSeed()
const hint = replayHint(seed, 'transport-sim-faults.test.js')
t.comment(hint)

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * A small node for the determinism scenario: it appends every message it
 * gets to a log on disk, syncs every few milliseconds, counts what it
 * replayed from disk after a restart, and gossips to random peers.
 */
class Gossip {
  readonly received: string[] = []
  readonly recovered: number
  answered = 0

  constructor (readonly env: NodeEnv, readonly peers: NodeId[]) {
    const log = env.disk.read('log')
    this.recovered = log === undefined ? 0 : decoder.decode(log).split('\n').filter(Boolean).length
    env.transport.onMessage((from, payload) => {
      this.received.push(`${from}:${String(payload)}`)
      env.disk.append('log', encoder.encode(`${from}:${String(payload)}\n`))
    })
    env.transport.onRequest(async (payload) => {
      await env.disk.sync()
      return `ack ${String(payload)}`
    })
    const tick = (): void => {
      const peer = env.random.pick(this.peers.filter((p) => p !== env.id))
      env.transport.trySend(peer, `${env.id}-${env.incarnation}-${env.random.int(1000)}`)
      if (env.random.chance(0.3)) {
        env.transport.request(peer, env.random.int(100), { timeout: 50 }).then(() => { this.answered++ }, () => {})
      }
      if (env.random.chance(0.2)) void env.disk.sync()
      env.clock.setTimer(env.random.range(1, 10), tick)
    }
    env.clock.setTimer(env.random.range(0, 5), tick)
  }
}

async function scenario (runSeed: number | string, options: Partial<SimulatorOptions> = {}): Promise<{ hash: string, sim: Simulator }> {
  const workload = new SeededRandom(runSeed, 'scenario')
  const sim = new Simulator({ seed: runSeed, network: randomNetwork(workload), ...options })
  const ids = ['a', 'b', 'c', 'd'].map((id) => nodeId(id))
  for (const id of ids) sim.addNode(id, (env) => new Gossip(env, ids))
  const faults = sim.random('faults')
  for (let step = 0; step < 12; step++) {
    await sim.runFor(faults.range(20, 80))
    const victim = faults.pick(ids)
    switch (faults.int(5)) {
      case 0: if (sim.node(victim).alive) sim.crash(victim); else sim.restart(victim); break
      case 1: sim.partition(victim, undefined, { oneWay: faults.chance(0.5) }); break
      case 2: sim.heal(); break
      case 3: sim.clog(victim, faults.pick(ids.filter((id) => id !== victim))); break
      default: sim.disconnect(victim, faults.pick(ids.filter((id) => id !== victim)))
    }
  }
  sim.heal()
  for (const id of ids) {
    if (!sim.node(id).alive) sim.restart(id)
    for (const other of ids) if (other !== id) sim.unclog(id, other)
  }
  await sim.runFor(300)
  return { hash: sim.traceHash(), sim }
}

t.test('one seed gives the same run twice; another seed another run', async (t) => {
  const first = await scenario(seed)
  const second = await scenario(seed)
  t.equal(first.hash, second.hash, `same trace hash for seed ${seed} (${hint})`)
  t.strictSame(first.sim.stats(), second.sim.stats(), 'same counters')
  t.strictSame(first.sim.traceTail(), second.sim.traceTail(), 'same trace lines')
  const other = await scenario(seed + 1)
  t.not(other.hash, first.hash, 'a different seed gives a different run')
  const stats = first.sim.stats()
  t.ok(stats.messagesSent > 200 && stats.sessionsOpened >= 6, `the scenario did something: ${JSON.stringify(stats)}`)
})

async function pair (options: Partial<SimulatorOptions> = {}): Promise<{ sim: Simulator, a: NodeEnv, b: NodeEnv, got: unknown[] }> {
  const sim = new Simulator({ seed, ...options })
  const envs: NodeEnv[] = []
  const got: unknown[] = []
  sim.addNode('a', (env) => { envs[0] = env })
  sim.addNode('b', (env) => {
    envs[1] = env
    env.transport.onMessage((_from, payload) => { got.push(payload) })
  })
  await sim.runUntil(() => envs[0]?.transport.link(nodeId('b')).up === true, { maxTicks: 100 })
  const [a, b] = envs
  if (a === undefined || b === undefined) throw new Error('nodes')
  return { sim, a, b, got }
}

t.test('delays drawn from a distribution reorder messages unless fifo', async (t) => {
  for (const fifo of [true, false]) {
    const { sim, a, got } = await pair({ network: { delay: { mean: 10 }, fifo } })
    for (let i = 0; i < 300; i++) a.transport.send(nodeId('b'), i)
    await sim.runUntil(() => got.length === 300, { maxTicks: 10_000 })
    const inversions = got.filter((value, i) => i > 0 && (value as number) < (got[i - 1] as number)).length
    if (fifo) t.equal(inversions, 0, 'fifo: in order despite random delays')
    else t.ok(inversions > 20, `not fifo: reordered (${inversions} inversions)`)
    t.strictSame([...got].sort((x, y) => (x as number) - (y as number)), Array.from({ length: 300 }, (_, i) => i), 'each delivered once')
  }
})

t.test('messages are dropped and duplicated at the configured rates', async (t) => {
  const { sim, a, got } = await pair({ network: { drop: 0.2, duplicate: 0.3 } })
  const n = 2000
  for (let i = 0; i < n; i++) a.transport.send(nodeId('b'), i)
  await sim.runFor(100)
  const distinct = new Set(got).size
  const stats = sim.stats()
  t.ok(distinct > n * 0.72 && distinct < n * 0.88, `about 80% arrived (${distinct}) ${hint}`)
  t.ok(got.length - distinct > n * 0.8 * 0.22 && got.length - distinct < n * 0.8 * 0.38, `about 30% of those twice (${got.length - distinct})`)
  t.equal(stats.messagesDuplicated, got.length - distinct, 'duplicates counted')
  t.ok(stats.messagesDropped >= n - distinct, 'drops counted')
})

t.test('per-link faults override the network', async (t) => {
  const { sim, a, b, got } = await pair()
  const back: unknown[] = []
  a.transport.onMessage((_from, payload) => { back.push(payload) })
  sim.setLinkFaults('a', 'b', { drop: 1 })
  for (let i = 0; i < 50; i++) {
    a.transport.send(nodeId('b'), i)
    b.transport.send(nodeId('a'), i)
  }
  await sim.runFor(50)
  t.equal(got.length, 0, 'a to b loses everything')
  t.equal(back.length, 50, 'b to a is untouched')
  sim.setLinkFaults('a', 'b', undefined)
  a.transport.send(nodeId('b'), 'again')
  await sim.runFor(50)
  t.strictSame(got, ['again'], 'cleared')
})

t.test('a symmetric partition takes links down after detection; healing brings them back', async (t) => {
  const { sim, a, b, got } = await pair({ network: { failureDetectionDelay: 100 } })
  const events: string[] = []
  a.transport.on('peerDown', (peer, reason) => { events.push(`a down ${peer} ${reason.code} @${sim.now - cutAt}`) })
  b.transport.on('peerDown', (peer) => { events.push(`b down ${peer}`) })
  a.transport.on('peerUp', (peer) => { events.push(`a up ${peer}`) })
  const cutAt = sim.now
  sim.partition('a', 'b')
  a.transport.send(nodeId('b'), 'lost')
  await sim.runFor(99)
  t.strictSame(events, [], 'nothing noticed before failureDetectionDelay')
  await sim.runFor(10)
  t.strictSame(events, ['a down b MAKO_PEER_TIMEOUT @100', 'b down a'], 'both sides see the link go down')
  await sim.runFor(1000)
  t.notOk(a.transport.link(nodeId('b')).up, 'it stays down while partitioned')
  sim.heal()
  await sim.runUntil(() => a.transport.link(nodeId('b')).up, { maxTime: 100 })
  t.equal(events.at(-1), 'a up b', 'and comes back after healing')
  t.strictSame(got, [], 'the message sent into the partition was lost')
})

t.test('a one-way partition loses one direction only', async (t) => {
  const { sim, a, b, got } = await pair({ network: { partitionsBreakLinks: false } })
  const back: unknown[] = []
  a.transport.onMessage((_from, payload) => { back.push(payload) })
  sim.partition('a', 'b', { oneWay: true })
  for (let i = 0; i < 10; i++) {
    a.transport.send(nodeId('b'), i)
    b.transport.send(nodeId('a'), i)
  }
  await sim.runFor(2000)
  t.equal(got.length, 0, 'a to b is cut')
  t.equal(back.length, 10, 'b to a flows')
  t.ok(a.transport.link(nodeId('b')).up, 'with datagram semantics the session stays up')
})

t.test('a clogged link holds messages and loses nothing', async (t) => {
  const { sim, a, got } = await pair()
  sim.clog('a', 'b')
  for (let i = 0; i < 20; i++) a.transport.send(nodeId('b'), i)
  await sim.runFor(500)
  t.equal(got.length, 0, 'held while clogged')
  t.ok(a.transport.link(nodeId('b')).stats().bufferedBytes > 0, 'and counted as buffered by the sender')
  sim.unclog('a', 'b')
  await sim.runFor(50)
  t.strictSame(got, Array.from({ length: 20 }, (_, i) => i), 'all delivered, in order, after unclogging')
})

t.test('a crashed node keeps only what it synced', async (t) => {
  const sim = new Simulator({ seed, disk: { syncDelay: 1 } })
  const boots: Array<{ incarnation: number, log: string | undefined, meta: string | undefined }> = []
  const envs: NodeEnv[] = []
  let zombieTimerFired = false
  let zombieSynced = false
  sim.addNode('a', (env) => {
    envs.push(env)
    const log = env.disk.read('log')
    const meta = env.disk.read('meta')
    boots.push({ incarnation: env.incarnation, log: log && decoder.decode(log), meta: meta && decoder.decode(meta) })
  })
  const peerEvents: string[] = []
  sim.addNode('b', (env) => {
    env.transport.on('peerDown', (peer) => { peerEvents.push(`down ${peer}`) })
    env.transport.on('peerUp', (peer) => { peerEvents.push(`up ${peer}`) })
  })
  await sim.runFor(50)
  const first = envs[0] as NodeEnv
  first.disk.append('log', encoder.encode('one;'))
  first.disk.write('meta', encoder.encode('v1'))
  let synced = false
  void first.disk.sync().then(() => { synced = true })
  await sim.runUntil(() => synced, { maxTicks: 10 })
  first.disk.append('log', encoder.encode('two;'))
  first.disk.write('meta', encoder.encode('v2'))
  first.disk.delete('missing')
  void first.disk.sync().then(() => { zombieSynced = true })
  first.clock.setTimer(5, () => { zombieTimerFired = true })
  t.equal(decoder.decode(sim.node('a').disk.read('log')), 'one;two;', 'unsynced writes are visible before the crash')
  sim.crash('a')
  await sim.runFor(300)
  t.notOk(zombieTimerFired, 'timers of the crashed incarnation never fire')
  t.notOk(zombieSynced, 'its pending sync never completes')
  t.equal(decoder.decode(sim.node('a').disk.read('log')), 'one;', 'the log lost its unsynced append')
  t.equal(decoder.decode(sim.node('a').disk.read('meta')), 'v1', 'the file lost its unsynced rewrite')
  t.strictSame(peerEvents, ['up a', 'down a'], 'the peer saw it go')
  sim.restart('a')
  await sim.runFor(100)
  t.strictSame(boots.at(-1), { incarnation: 2, log: 'one;', meta: 'v1' }, 'the new incarnation boots from the synced disk')
  t.strictSame(peerEvents, ['up a', 'down a', 'up a'], 'and links up again')
  t.equal(sim.node('a').incarnation, 2, 'incarnation counted')
  first.disk.append('log', encoder.encode('zombie'))
  t.equal(decoder.decode(sim.node('a').disk.read('log')), 'one;', 'the old incarnation can no longer write')
})

t.test('torn writes keep a random prefix of unsynced appends', async (t) => {
  const lengths = new Set<number>()
  for (let run = 0; run < 30; run++) {
    const sim = new Simulator({ seed: `${seed}/${run}`, disk: { tornWrites: true, syncDelay: 0 } })
    let env: NodeEnv | undefined
    sim.addNode('a', (e) => { env = e })
    if (env === undefined) throw new Error('boot')
    env.disk.append('log', encoder.encode('synced|'))
    let synced = false
    void env.disk.sync().then(() => { synced = true })
    await sim.runUntil(() => synced, { maxTicks: 10 })
    env.disk.append('log', encoder.encode('0123456789'))
    sim.crash('a')
    const log = decoder.decode(sim.node('a').disk.read('log'))
    t.ok(log.startsWith('synced|') && '0123456789'.startsWith(log.slice(7)), `run ${run}: a prefix survived (${log})`)
    lengths.add(log.length)
  }
  t.ok(lengths.size > 3, `different runs tore at different places (${[...lengths].sort((x, y) => x - y).join(',')})`)
})

t.test('virtual time: timers in order, runFor exact, runUntil bounded and names its seed', async (t) => {
  const sim = new Simulator({ seed })
  const fired: string[] = []
  let env: NodeEnv | undefined
  sim.addNode('a', (e) => { env = e })
  if (env === undefined) throw new Error('boot')
  const clock = env.clock
  clock.setTimer(10, () => { fired.push(`x@${clock.now()}`) })
  clock.setTimer(5, () => { fired.push(`y@${clock.now()}`) })
  clock.setTimer(10, () => { fired.push(`z@${clock.now()}`) })
  const cancelled = clock.setTimer(7, () => { fired.push('cancelled') })
  clock.clearTimer(cancelled)
  await sim.runFor(20)
  t.strictSame(fired, ['y@5', 'x@10', 'z@10'], 'by time, then in the order set; cleared ones never')
  t.equal(sim.now, 20, 'runFor ends exactly at its end')
  const every = (): void => { clock.setTimer(1, every) }
  every()
  try {
    await sim.runUntil(() => false, { maxTicks: 50 })
    t.fail('should have stalled')
  } catch (err) {
    t.equal((err as MakoError).code, 'MAKO_SIM_STALLED', 'a run that never gets there stalls')
    t.match((err as Error).message, `Seed ${JSON.stringify(seed)}`, 'and its message carries the seed')
    t.match((err as Error).message, `SEED=${seed}`, 'and how to replay it')
  }
  const idle = new Simulator({ seed })
  await t.rejects(idle.runUntil(() => false), { code: 'MAKO_SIM_STALLED' }, 'an idle simulation stalls at once')
  const buggy = new Simulator({ seed })
  buggy.addNode('a', (e) => { e.clock.setTimer(3, () => { throw new RangeError('invariant broken') }) })
  try {
    await buggy.runFor(10)
    t.fail('the exception should come out')
  } catch (err) {
    t.equal((err as MakoError).code, 'MAKO_SIM_FAILURE', 'an exception in node code fails the run')
    t.match((err as Error).message, `SEED=${seed}`, 'with the seed that replays it')
    t.ok((err as Error).cause instanceof RangeError, 'and the original exception as its cause')
  }
})

t.test('nodes never share objects', async (t) => {
  const { sim, a, b, got } = await pair({ network: { duplicate: 1 } })
  const payload = { list: [1, 2], bytes: new Uint8Array([1, 2, 3]) }
  a.transport.send(nodeId('b'), payload)
  await sim.runFor(20)
  t.equal(got.length, 2, 'delivered twice')
  const [one, two] = got as Array<{ list: number[], bytes: Uint8Array }>
  if (one === undefined || two === undefined) throw new Error('missing')
  one.list.push(3)
  ;(one.bytes as Uint8Array)[0] = 99
  t.strictSame(payload.list, [1, 2], 'the sender\'s object is untouched')
  t.equal(payload.bytes[0], 1, 'and its bytes')
  t.strictSame(two.list, [1, 2], 'the duplicate is a separate object')
  t.equal(two.bytes[0], 1, 'with separate bytes')
  void b
})

t.test('seeded random streams', async (t) => {
  const x = new SeededRandom(seed, 'x')
  const again = new SeededRandom(seed, 'x')
  const y = new SeededRandom(seed, 'y')
  const xs = Array.from({ length: 100 }, () => x.next())
  t.strictSame(Array.from({ length: 100 }, () => again.next()), xs, 'same seed and name: same numbers')
  t.notSame(Array.from({ length: 100 }, () => y.next()), xs, 'another name: other numbers')
  t.ok(xs.every((v) => v >= 0 && v < 1), 'next() is in [0, 1)')
  const ints = Array.from({ length: 1000 }, () => x.int(6))
  t.ok(ints.every((v) => Number.isInteger(v) && v >= 0 && v < 6) && new Set(ints).size === 6, 'int(n) covers [0, n)')
  const mean = Array.from({ length: 5000 }, () => x.exponential(10)).reduce((s, v) => s + v, 0) / 5000
  t.ok(mean > 9 && mean < 11, `exponential has its mean (${mean.toFixed(2)})`)
  t.strictSame(x.shuffle([1, 2, 3, 4, 5]).sort(), [1, 2, 3, 4, 5], 'shuffle permutes')
  t.strictSame(x.fork('child').next(), new SeededRandom(seed, 'x/child').next(), 'fork derives by name')
})

t.test('the event queue orders by time, then by sequence', async (t) => {
  const rng = new SeededRandom(seed, 'queue')
  const queue = new EventQueue()
  const events: SimEvent[] = []
  for (let seq = 0; seq < 2000; seq++) {
    const event: SimEvent = { time: rng.int(50), seq, label: '', run: () => {}, cancelled: false }
    events.push(event)
    queue.push(event)
  }
  const out: SimEvent[] = []
  for (let e = queue.pop(); e !== undefined; e = queue.pop()) out.push(e)
  const expected = [...events].sort((p, q) => p.time - q.time || p.seq - q.seq)
  t.ok(out.length === expected.length && out.every((e, i) => e === expected[i]), `popped in (time, seq) order ${hint}`)
})
