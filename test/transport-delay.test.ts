// Injected link delay (withDelay), on the simulator's virtual clock with a
// network delay of exactly 1 ms, so every arrival time is exact: delays per
// peer, what a round trip costs, FIFO order among messages, requests and
// replies as delays change, zero delay passing straight through, deadlines,
// cancellation, link loss, bad delays, close; and the acceptance suite over
// a zero-delay view.
import t from 'tap'
import type { Test } from 'tap'
import { SeededRandom, Simulator } from '../cluster/sim/index.js'
import { withDelay } from '../cluster/transport/index.js'
import type { Clock, NodeId, Transport } from '../cluster/transport/index.js'
import { MakoError } from '../lib/errors.js'
import { runTransportTests } from './transport/acceptance.js'
import { simFactory } from './transport/harness.js'
import { replayHint, testSeed } from './transport/seed.js'

const seed = testSeed()
t.comment(replayHint(seed, 'transport-delay.test.js'))

/** The simulated network's own one-way delay. */
const net = 1

interface World {
  readonly sim: Simulator
  /** The nodes' own transports. */
  readonly nodes: Transport[]
  /** Each node's virtual clock. */
  readonly clocks: Clock[]
  sleep(ms: number): Promise<void>
}

let runs = 0

/** Runs `body` on `count` linked simulated nodes, then tears them down. */
function inWorld (name: string, count: number, body: (t: Test, w: World) => Promise<void>): void {
  t.test(name, async (t) => {
    const sim = new Simulator({ seed: `${seed}/${runs++}`, network: { delay: net } })
    const nodes: Transport[] = []
    const clocks: Clock[] = []
    for (let i = 0; i < count; i++) {
      sim.addNode(`n${i + 1}`, (env) => {
        nodes.push(env.transport)
        clocks.push(env.clock)
      })
    }
    const stop = sim.runInBackground()
    try {
      await Promise.all(nodes.flatMap((node) => nodes.filter((other) => other !== node).map((other) => node.waitForPeer(other.nodeId, { timeout: 5000 }))))
      await body(t, { sim, nodes, clocks, sleep: (ms) => new Promise((resolve) => { sim.schedule(ms, resolve, 'sleep') }) })
    } finally {
      await Promise.all(nodes.map((node) => node.close()))
      await stop()
    }
  })
}

function pair (w: World): [Transport, Transport, Clock, Clock] {
  const [a, b] = w.nodes
  const [clockA, clockB] = w.clocks
  if (a === undefined || b === undefined || clockA === undefined || clockB === undefined) throw new Error('world')
  return [a, b, clockA, clockB]
}

async function eventually (w: World, predicate: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !predicate(); waited++) {
    if (waited >= 5000) throw new Error(`Timed out waiting for ${what}`)
    await w.sleep(1)
  }
}

/** A virtual time span without the float noise of adding fractional times. */
function span (from: number, to: number): number {
  return Math.round((to - from) * 1e6) / 1e6
}

/** Resolves with the code a promise rejects with, or 'resolved'. */
function outcome (promise: Promise<unknown>): Promise<string> {
  return promise.then(() => 'resolved', (err: unknown) => err instanceof MakoError ? err.code : String(err))
}

/** A clock that counts the timers set through it. */
function counting (clock: Clock): Clock & { timers: number } {
  const counted = {
    timers: 0,
    now: () => clock.now(),
    setTimer: (ms: number, fn: () => void) => { counted.timers++; return clock.setTimer(ms, fn) },
    clearTimer: (handle: ReturnType<Clock['setTimer']>) => { clock.clearTimer(handle) }
  }
  return counted
}

inWorld('each peer gets its own delay, one way only', 3, async (t, w) => {
  const [a, b, c] = w.nodes
  if (a === undefined || b === undefined || c === undefined) throw new Error('world')
  const delays = new Map<NodeId, number>([[b.nodeId, 10], [c.nodeId, 50]])
  const delayed = withDelay(a, (peer) => delays.get(peer) ?? 0, w.clocks[0])
  const arrivals: Record<string, number> = {}
  const t0 = w.sim.now
  b.onMessage((_from, payload) => { arrivals[String(payload)] = span(t0, w.sim.now) })
  c.onMessage((_from, payload) => { arrivals[String(payload)] = span(t0, w.sim.now) })
  delayed.onMessage((_from, payload) => { arrivals[String(payload)] = span(t0, w.sim.now) })
  delayed.send(b.nodeId, 'to b')
  delayed.link(c.nodeId).send('to c')
  t.equal(delayed.trySend(b.nodeId, 'to b again'), true, 'trySend accepts')
  c.send(a.nodeId, 'from c')
  await eventually(w, () => Object.keys(arrivals).length === 4, 'four messages')
  t.strictSame(arrivals, { 'to b': 10 + net, 'to b again': 10 + net, 'to c': 50 + net, 'from c': net },
    'a to b waits 10 ms, a to c 50 ms; what a receives is not delayed')
})

for (const [wrapped, rtt] of [['requester', 20 + 2 * net], ['responder', 20 + 2 * net], ['both', 40 + 2 * net]] as const) {
  inWorld(`a round trip with the ${wrapped} wrapped costs ${rtt} ms`, 2, async (t, w) => {
    const [rawA, rawB, clockA, clockB] = pair(w)
    const a = wrapped === 'responder' ? rawA : withDelay(rawA, () => 20, clockA)
    const b = wrapped === 'requester' ? rawB : withDelay(rawB, () => 20, clockB)
    b.onRequest((payload) => `pong ${String(payload)}`)
    const t0 = w.sim.now
    t.equal(await a.request(b.nodeId, 1), 'pong 1', 'answered')
    t.equal(span(t0, w.sim.now), rtt, `round trip: ${rtt} ms`)
    const t1 = w.sim.now
    b.onRequest(async (payload) => { await w.sleep(5); return `later ${String(payload)}` })
    t.equal(await a.request(b.nodeId, 2), 'later 2', 'an async answer too')
    t.equal(span(t1, w.sim.now), rtt + 5, 'the reply waits from when it is ready')
  })
}

inWorld('FIFO per peer among messages, requests and replies while delays change', 2, async (t, w) => {
  const [rawA, rawB, clockA, clockB] = pair(w)
  const random = new SeededRandom(`${seed}`, 'delays')
  const delay = (): number => random.pick([0, 0, 1, 5, 10, 30, 50])
  const a = withDelay(rawA, delay, clockA)
  const b = withDelay(rawB, delay, clockB)
  const atB: string[] = []
  const atA: string[] = []
  b.onMessage((_from, payload) => { atB.push(String(payload)) })
  b.onRequest((payload, context) => {
    atB.push(`request ${String(payload)}`)
    // A message sent before the reply is ready must arrive before it.
    b.send(context.from, `before reply ${String(payload)}`)
    if ((payload as number) % 3 === 0) return w.sleep(random.int(20)).then(() => payload)
    return payload
  })
  a.onMessage((_from, payload) => { atA.push(String(payload)) })
  const sent: string[] = []
  const answers: Array<Promise<unknown>> = []
  for (let i = 0; i < 300; i++) {
    if (random.chance(0.4)) {
      sent.push(`request ${i}`)
      answers.push(a.request(b.nodeId, i).then((value) => { atA.push(`reply ${String(value)}`) }))
    } else {
      sent.push(`message ${i}`)
      if (random.chance(0.5)) a.send(b.nodeId, `message ${i}`)
      else a.link(b.nodeId).trySend(`message ${i}`)
    }
    if (random.chance(0.1)) await w.sleep(random.int(15))
  }
  await Promise.all(answers)
  await eventually(w, () => atB.length === sent.length, 'everything sent')
  t.strictSame(atB, sent, 'messages and requests arrived in the order sent')
  const replies = atA.filter((line) => line.startsWith('reply '))
  t.equal(replies.length, answers.length, 'every request was answered')
  const overtaken = atA.filter((line, i) => line.startsWith('reply ') && !(atA.indexOf(`before ${line}`) >= 0 && atA.indexOf(`before ${line}`) < i))
  t.strictSame(overtaken, [], 'no reply overtook the message sent before it')
})

inWorld('a reply and a message released at the same instant keep their order', 2, async (t, w) => {
  const [rawA, rawB, , clockB] = pair(w)
  const b = withDelay(rawB, () => 10, clockB)
  const atA: string[] = []
  rawA.onMessage((_from, payload) => { atA.push(String(payload)) })
  b.onRequest((payload, context) => {
    // Sent after the reply was queued, in the same instant: same due time.
    queueMicrotask(() => { b.send(context.from, `after ${String(payload)}`) })
    return payload
  })
  await Promise.all([1, 2, 3].map((n) => rawA.request(b.nodeId, n).then((value) => { atA.push(`reply ${String(value)}`) })))
  await eventually(w, () => atA.length === 6, 'three messages')
  t.strictSame(atA, ['reply 1', 'after 1', 'reply 2', 'after 2', 'reply 3', 'after 3'], 'each reply went before the message sent after it')
})

inWorld('zero delay passes straight through, without a timer', 2, async (t, w) => {
  const [rawA, rawB, clockA, clockB] = pair(w)
  const timersA = counting(clockA)
  const timersB = counting(clockB)
  const a = withDelay(rawA, () => 0, timersA)
  const b = withDelay(rawB, () => 0, timersB)
  const arrivals: number[] = []
  const t0 = w.sim.now
  b.onMessage(() => { arrivals.push(span(t0, w.sim.now)) })
  b.onRequest((payload) => payload)
  a.send(b.nodeId, 1)
  a.trySend(b.nodeId, 2)
  t.equal(await a.request(b.nodeId, 3), 3, 'a request is answered')
  t.equal(span(t0, w.sim.now), 2 * net, 'in the network\'s round trip only')
  await eventually(w, () => arrivals.length === 2, 'both messages')
  t.strictSame(arrivals, [net, net], 'messages take the network\'s delay only')
  t.equal(timersA.timers + timersB.timers, 0, 'no timer was set')
  t.equal(a.link(b.nodeId).stats().messagesSent, 2, 'link stats are the transport\'s')
})

inWorld('a request\'s timeout counts from the call', 2, async (t, w) => {
  const [rawA, rawB, clockA] = pair(w)
  const a = withDelay(rawA, () => 50, clockA)
  let handled = 0
  rawB.onRequest(() => { handled++; return new Promise(() => {}) })
  let t0 = w.sim.now
  t.equal(await outcome(a.request(rawB.nodeId, 'x', { timeout: 30 })), 'MAKO_TIMEOUT', 'a timeout shorter than the delay fails')
  t.equal(span(t0, w.sim.now), 30, 'at its deadline')
  await w.sleep(100)
  t.equal(handled, 0, 'and the request never left')
  t0 = w.sim.now
  t.equal(await outcome(a.request(rawB.nodeId, 'y', { timeout: 120 })), 'MAKO_TIMEOUT', 'a longer one leaves, and times out')
  t.equal(span(t0, w.sim.now), 120, 'at its deadline, counted from the call')
  t.equal(handled, 1, 'it reached the handler')
  t.equal(await outcome(a.request(rawB.nodeId, 'z', { timeout: -1 })), 'MAKO_INVALID_ARGUMENT', 'a bad timeout is refused')
})

inWorld('a request can be cancelled while it waits', 2, async (t, w) => {
  const [rawA, rawB, clockA] = pair(w)
  const a = withDelay(rawA, () => 50, clockA)
  let handled = 0
  rawB.onRequest((payload) => { handled++; return payload })
  const controller = new AbortController()
  const t0 = w.sim.now
  const pending = outcome(a.request(rawB.nodeId, 'x', { signal: controller.signal }))
  await w.sleep(10)
  controller.abort()
  t.equal(await pending, 'MAKO_CANCELLED', 'aborting fails it')
  t.equal(span(t0, w.sim.now), 10, 'at once')
  const aborted = new AbortController()
  aborted.abort()
  t.equal(await outcome(a.request(rawB.nodeId, 'y', { signal: aborted.signal })), 'MAKO_CANCELLED', 'an aborted signal fails at once')
  const controller2 = new AbortController()
  t.equal(await a.request(rawB.nodeId, 'z', { signal: controller2.signal }), 'z', 'a signal that is not aborted does no harm')
  controller2.abort()
  await w.sleep(100)
  t.equal(handled, 1, 'only the last request reached the handler')
})

inWorld('what waits when the link goes down is lost', 2, async (t, w) => {
  const [rawA, rawB, clockA] = pair(w)
  const a = withDelay(rawA, () => 50, clockA)
  const got: unknown[] = []
  rawB.onMessage((_from, payload) => { got.push(payload) })
  rawB.onRequest((payload) => payload)
  const request = outcome(a.request(rawB.nodeId, 'x'))
  a.send(rawB.nodeId, 'lost')
  await w.sleep(10)
  w.sim.disconnect(rawA.nodeId, rawB.nodeId)
  t.equal(await request, 'MAKO_PEER_DOWN', 'a waiting request fails with MAKO_PEER_DOWN')
  await a.waitForPeer(rawB.nodeId, { timeout: 5000 })
  a.send(rawB.nodeId, 'after')
  await eventually(w, () => got.length > 0, 'the next message')
  await w.sleep(100)
  t.strictSame(got, ['after'], 'the message that waited was not carried into the next session')
})

inWorld('bad delays are refused; close fails what waits', 2, async (t, w) => {
  const [rawA, rawB, clockA] = pair(w)
  let delay = -1
  const a = withDelay(rawA, () => delay, clockA)
  t.throws(() => { a.send(rawB.nodeId, 1) }, { code: 'MAKO_INVALID_CONFIG' }, 'a negative delay')
  delay = Number.NaN
  t.throws(() => { a.trySend(rawB.nodeId, 1) }, { code: 'MAKO_INVALID_CONFIG' }, 'NaN')
  delay = Infinity
  await t.rejects(a.request(rawB.nodeId, 1), { code: 'MAKO_INVALID_CONFIG' }, 'Infinity')
  delay = 50
  rawB.onRequest((payload) => payload)
  const waiting = outcome(a.request(rawB.nodeId, 'x'))
  a.send(rawB.nodeId, 'y')
  await a.close()
  t.equal(await waiting, 'MAKO_CLOSED', 'a waiting request fails with MAKO_CLOSED')
  t.throws(() => { a.send(rawB.nodeId, 1) }, { code: 'MAKO_CLOSED' }, 'the transport is closed')
  t.strictSame(rawA.peers(), [], 'underneath too')
})

t.test('acceptance suite over a zero-delay view of the simulated transport', async (t) => {
  const inner = simFactory(seed)
  runTransportTests(t, async (options) => {
    const h = await inner(options)
    return { ...h, nodes: h.nodes.map((node) => withDelay(node, () => 0)) }
  })
})
