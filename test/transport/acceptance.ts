/**
 * The transport acceptance suite: what every {@link Transport} must do,
 * written once and run against each implementation through a factory (as
 * automerge-repo's runNetworkAdapterTests does). test/transport-ws.test.ts
 * and test/transport-sim.test.ts call it.
 *
 * @internal
 */

import type { Test } from 'tap'
import { MakoError } from '../../lib/errors.js'
import type { NodeId, Transport, TransportLimits } from '../../cluster/transport/index.js'
import { nodeId } from '../../cluster/transport/index.js'

/** What a factory builds: connected transports and ways to hurt them. @internal */
export interface TransportHarness {
  /** Transports of the nodes, every pair linked up. */
  readonly nodes: Transport[]
  /** Cuts the connection between two nodes as a network failure would; the link must come back by itself. */
  breakLink(a: NodeId, b: NodeId): void
  /** Waits `ms` milliseconds of the harness's time (virtual in the simulator). */
  sleep(ms: number): Promise<void>
  /** Tears everything down. */
  close(): Promise<void>
}

/** Builds a harness of `nodes` transports with the given limits. @internal */
export type TransportFactory = (options: { nodes: number, limits?: Partial<TransportLimits> }) => Promise<TransportHarness>

function code (err: unknown): string | undefined {
  return err instanceof MakoError ? err.code : undefined
}

async function rejectsWith (t: Test, promise: Promise<unknown>, expected: string, message: string): Promise<MakoError | undefined> {
  try {
    await promise
    t.fail(`${message}: resolved, expected ${expected}`)
    return undefined
  } catch (err) {
    t.equal(code(err), expected, message)
    return err instanceof MakoError ? err : undefined
  }
}

function throwsWith (t: Test, fn: () => unknown, expected: string, message: string): void {
  try {
    fn()
    t.fail(`${message}: did not throw, expected ${expected}`)
  } catch (err) {
    t.equal(code(err), expected, message)
  }
}

/** Resolves once `predicate` holds, checking every `step` ms of harness time, failing after `limit` ms. */
async function eventually (h: TransportHarness, predicate: () => boolean, what: string, limit = 5000, step = 5): Promise<void> {
  for (let waited = 0; !predicate(); waited += step) {
    if (waited >= limit) throw new Error(`Timed out waiting for ${what}`)
    await h.sleep(step)
  }
}

/**
 * Registers the suite's subtests on `t`.
 *
 * @param t The parent test.
 * @param factory Builds a fresh harness for each subtest.
 * @internal
 */
export function runTransportTests (t: Test, factory: TransportFactory): void {
  const withHarness = (name: string, options: { nodes: number, limits?: Partial<TransportLimits> },
    body: (t: Test, h: TransportHarness, nodes: Transport[]) => Promise<void>): void => {
    t.test(name, async (t) => {
      const h = await factory(options)
      try {
        await body(t, h, h.nodes)
      } finally {
        await h.close()
      }
    })
  }

  withHarness('every pair of nodes is linked', { nodes: 3 }, async (t, _h, [a, b, c]) => {
    if (a === undefined || b === undefined || c === undefined) throw new Error('harness')
    t.same(new Set(a.peers()), new Set([b.nodeId, c.nodeId]), 'a sees b and c')
    t.same(new Set(c.peers()), new Set([a.nodeId, b.nodeId]), 'c sees a and b')
    t.ok(a.link(b.nodeId).up, 'link a-b is up')
    t.ok(a.link(b.nodeId).stats().sessions >= 1, 'a session was counted')
  })

  withHarness('one-way messages arrive once and in order on each link', { nodes: 3 }, async (t, h, [a, b, c]) => {
    if (a === undefined || b === undefined || c === undefined) throw new Error('harness')
    const got = new Map<NodeId, number[]>()
    b.onMessage((from, payload) => {
      let list = got.get(from)
      if (list === undefined) got.set(from, list = [])
      list.push((payload as { seq: number }).seq)
    })
    const perSender = 1500
    for (let burst = 0; burst < perSender / 100; burst++) {
      for (let i = 0; i < 100; i++) {
        a.send(b.nodeId, { seq: burst * 100 + i, pad: 'x'.repeat(i % 7) })
        c.send(b.nodeId, { seq: burst * 100 + i })
      }
      if (burst % 3 === 0) await h.sleep(1)
    }
    await eventually(h, () => (got.get(a.nodeId)?.length ?? 0) >= perSender && (got.get(c.nodeId)?.length ?? 0) >= perSender, 'all messages')
    await h.sleep(20)
    const expected = Array.from({ length: perSender }, (_, i) => i)
    t.strictSame(got.get(a.nodeId), expected, 'messages from a: each once, in order')
    t.strictSame(got.get(c.nodeId), expected, 'messages from c: each once, in order')
    t.equal(a.link(b.nodeId).stats().messagesSent, perSender, 'a counted its sends')
    t.equal(b.link(a.nodeId).stats().messagesReceived, perSender, 'b counted what it received from a')
  })

  withHarness('payloads survive the trip unchanged', { nodes: 2 }, async (t, h, [a, b]) => {
    if (a === undefined || b === undefined) throw new Error('harness')
    const values: unknown[] = [
      null, true, false, 0, -1, 255, 65_536, -(2 ** 31), 2 ** 40, 1.5, -0.25, '', 'ü ✓ 日本', 'x'.repeat(100_000),
      [], {}, [1, [2, [3, { deep: [null] }]]], { key: 'k', value: new Uint8Array([0, 1, 254, 255]) },
      new Uint8Array(0), { __proto__x: 1, constructor: 'c' }
    ]
    const got: unknown[] = []
    b.onMessage((_from, payload) => { got.push(payload) })
    for (const value of values) a.send(b.nodeId, value)
    await eventually(h, () => got.length === values.length, 'all payloads')
    for (let i = 0; i < values.length; i++) {
      const sent = values[i]
      const received = got[i]
      if (sent instanceof Uint8Array || (typeof sent === 'object' && sent !== null && 'value' in sent)) {
        t.same(received, sent, `payload ${i}`)
      } else {
        t.strictSame(received, sent, `payload ${i}`)
      }
    }
  })

  withHarness('requests are answered by id, out of order and concurrently', { nodes: 2 }, async (t, h, [a, b]) => {
    if (a === undefined || b === undefined) throw new Error('harness')
    const from = new Set<string>()
    b.onRequest((payload, context) => {
      from.add(context.from)
      if (payload === 'sync') return 'answered synchronously'
      const n = (payload as { n: number }).n
      return h.sleep((n * 7) % 13).then(() => ({ double: n * 2 }))
    })
    const count = 300
    const answers = await Promise.all(Array.from({ length: count }, (_, n) => a.request(b.nodeId, { n })))
    t.strictSame(answers, Array.from({ length: count }, (_, n) => ({ double: n * 2 })), 'each request got its own answer')
    t.strictSame([...from], [a.nodeId], 'the context names the authenticated requester')
    t.equal(await a.request(b.nodeId, 'sync'), 'answered synchronously', 'a synchronous answer works too')
    const stats = a.link(b.nodeId).stats()
    t.equal(stats.requestsSent, count + 1, 'requests counted')
    t.equal(stats.responsesReceived, count + 1, 'responses counted')
    t.equal(stats.inFlight, 0, 'nothing left in flight')
    t.equal(b.link(a.nodeId).stats().handling, 0, 'nothing left being handled')
  })

  withHarness('handler errors reach the requester with their code', { nodes: 2 }, async (t, _h, [a, b]) => {
    if (a === undefined || b === undefined) throw new Error('harness')
    await rejectsWith(t, a.request(b.nodeId, 1), 'MAKO_NO_HANDLER', 'no handler')
    const reported: unknown[] = []
    b.on('handlerError', (_peer, err) => { reported.push(err) })
    b.onRequest((payload) => {
      if (payload === 'mako') throw new MakoError('busy now', 'MAKO_APP_BUSY', { transient: true })
      if (payload === 'async') return Promise.reject(new MakoError('later', 'MAKO_APP_LATER'))
      throw new TypeError('a bug in the handler')
    })
    const busy = await rejectsWith(t, a.request(b.nodeId, 'mako'), 'MAKO_APP_BUSY', 'a MakoError keeps its code')
    t.equal(busy?.message, 'busy now', 'and its message')
    t.equal(busy?.transient, true, 'and its transient flag')
    const later = await rejectsWith(t, a.request(b.nodeId, 'async'), 'MAKO_APP_LATER', 'a rejected promise too')
    t.equal(later?.transient, false, 'not transient')
    await rejectsWith(t, a.request(b.nodeId, 'bug'), 'MAKO_REMOTE_ERROR', 'any other error is MAKO_REMOTE_ERROR')
    t.equal(reported.length, 1, 'the bug was reported on the handling side')
    t.ok(a.link(b.nodeId).up, 'the link is still up')
  })

  withHarness('a request fails at its deadline and the handler is told', { nodes: 2 }, async (t, h, [a, b]) => {
    if (a === undefined || b === undefined) throw new Error('harness')
    let aborted: unknown
    b.onRequest((_payload, context) => new Promise((resolve) => {
      context.signal.addEventListener('abort', () => { aborted = context.signal.reason })
      setTimeoutIn(h, 300, () => { resolve('too late') })
    }))
    const err = await rejectsWith(t, a.request(b.nodeId, 'slow', { timeout: 40 }), 'MAKO_TIMEOUT', 'deadline passed')
    t.equal(err?.transient, true, 'a timeout is transient')
    await eventually(h, () => aborted !== undefined, 'the handler signal')
    t.ok(aborted instanceof MakoError, 'the handler signal aborted')
    await h.sleep(350)
    const stats = a.link(b.nodeId).stats()
    t.equal(stats.timeouts, 1, 'timeout counted')
    t.equal(stats.inFlight, 0, 'the slot was freed')
    t.equal(b.link(a.nodeId).stats().expiredReplies, 1, 'the late reply was dropped by the handler side')
    t.ok(a.link(b.nodeId).up, 'the link is still up')
  })

  withHarness('a request can be cancelled', { nodes: 2 }, async (t, h, [a, b]) => {
    if (a === undefined || b === undefined) throw new Error('harness')
    let seen = 0
    let aborted = 0
    b.onRequest((_payload, context) => new Promise(() => {
      seen++
      context.signal.addEventListener('abort', () => { aborted++ })
    }))
    const before = new AbortController()
    before.abort()
    await rejectsWith(t, a.request(b.nodeId, 1, { signal: before.signal }), 'MAKO_CANCELLED', 'an aborted signal fails at once')
    const controller = new AbortController()
    const pending = a.request(b.nodeId, 2, { signal: controller.signal })
    await eventually(h, () => seen === 1, 'the request to arrive')
    controller.abort()
    await rejectsWith(t, pending, 'MAKO_CANCELLED', 'aborting fails the request')
    await eventually(h, () => aborted === 1, 'the handler signal')
    t.equal(seen, 1, 'the pre-aborted request was never sent')
    t.equal(a.link(b.nodeId).stats().cancelled, 2, 'both counted')
    t.equal(b.link(a.nodeId).stats().handling, 0, 'the handler side let go of it')
  })

  withHarness('in-flight requests are limited; more wait, then are refused', { nodes: 2, limits: { maxInFlight: 4, maxQueuedRequests: 3 } },
    async (t, h, [a, b]) => {
      if (a === undefined || b === undefined) throw new Error('harness')
      const held: Array<() => void> = []
      let concurrent = 0
      let most = 0
      b.onRequest((payload) => new Promise((resolve) => {
        concurrent++
        most = Math.max(most, concurrent)
        held.push(() => { concurrent--; resolve(payload) })
      }))
      const requests = Array.from({ length: 7 }, (_, i) => a.request(b.nodeId, i, { timeout: 10_000 }))
      await rejectsWith(t, a.request(b.nodeId, 'one too many'), 'MAKO_BACKPRESSURE', 'past in-flight plus queue: refused')
      await eventually(h, () => held.length === 4, 'four requests at the handler')
      await h.sleep(20)
      t.equal(held.length, 4, 'no more than maxInFlight reach the handler')
      let stats = a.link(b.nodeId).stats()
      t.equal(stats.inFlight, 4, 'four in flight')
      t.equal(stats.queuedRequests, 3, 'three wait')
      t.equal(stats.backpressure, 1, 'the refusal counted')
      for (let round = 0; round < 10 && held.length > 0; round++) {
        for (const release of held.splice(0)) release()
        await h.sleep(10)
      }
      t.strictSame(await Promise.all(requests), [0, 1, 2, 3, 4, 5, 6], 'every accepted request was answered')
      t.equal(most, 4, 'the handler never ran more than four at once')
      stats = a.link(b.nodeId).stats()
      t.equal(stats.inFlight + stats.queuedRequests, 0, 'all slots free again')
    })

  withHarness('a link lost with requests waiting for a slot fails them all, then works as before',
    { nodes: 2, limits: { maxInFlight: 2, maxQueuedRequests: 5 } }, async (t, h, [a, b]) => {
      if (a === undefined || b === undefined) throw new Error('harness')
      let hold = true
      b.onRequest((payload) => hold ? new Promise(() => {}) : payload)
      const first = Array.from({ length: 6 }, (_, i) => a.request(b.nodeId, i, { timeout: 10_000 }).then(() => 'ok', (err: unknown) => code(err)))
      await eventually(h, () => b.link(a.nodeId).stats().handling === 2, 'two requests at the handler')
      t.equal(a.link(b.nodeId).stats().queuedRequests, 4, 'four wait for a slot')
      h.breakLink(a.nodeId, b.nodeId)
      t.strictSame(await Promise.all(first), Array(6).fill('MAKO_PEER_DOWN'), 'all six fail with MAKO_PEER_DOWN')
      let stats = a.link(b.nodeId).stats()
      t.equal(stats.inFlight + stats.queuedRequests + stats.bufferedBytes, 0, 'nothing is left counted')
      await a.waitForPeer(b.nodeId, { timeout: 5000 })
      await b.waitForPeer(a.nodeId, { timeout: 5000 })
      hold = false
      t.strictSame(await Promise.all(Array.from({ length: 7 }, (_, i) => a.request(b.nodeId, i))), [0, 1, 2, 3, 4, 5, 6],
        'the next requests (more than in flight plus queue over time) are all answered')
      stats = a.link(b.nodeId).stats()
      t.equal(stats.inFlight + stats.queuedRequests, 0, 'and the counters are back to zero')
    })

  withHarness('messages larger than maxPayload are refused at the sender', { nodes: 2, limits: { maxPayload: 64 * 1024 } },
    async (t, h, [a, b]) => {
      if (a === undefined || b === undefined) throw new Error('harness')
      const got: unknown[] = []
      b.onMessage((_from, payload) => { got.push(payload) })
      b.onRequest((payload) => typeof payload === 'number' ? new Uint8Array(payload) : payload)
      const big = new Uint8Array(70 * 1024)
      throwsWith(t, () => { a.send(b.nodeId, big) }, 'MAKO_MESSAGE_TOO_LARGE', 'send refuses it')
      await rejectsWith(t, a.request(b.nodeId, big), 'MAKO_MESSAGE_TOO_LARGE', 'request refuses it')
      await rejectsWith(t, a.request(b.nodeId, 70 * 1024), 'MAKO_MESSAGE_TOO_LARGE', 'a response too large becomes an error')
      t.equal((await a.request(b.nodeId, 1000) as Uint8Array).length, 1000, 'a response that fits goes')
      a.send(b.nodeId, 'small')
      await eventually(h, () => got.length === 1, 'the small message')
      t.strictSame(got, ['small'], 'the link still works')
    })

  withHarness('a full send buffer pushes back until drained', { nodes: 2, limits: { maxBufferedBytes: 256 * 1024, maxPayload: 64 * 1024 } },
    async (t, h, [a, b]) => {
      if (a === undefined || b === undefined) throw new Error('harness')
      let received = 0
      b.onMessage(() => { received++ })
      const chunk = new Uint8Array(10 * 1024)
      let sent = 0
      let refused: unknown
      for (; sent < 100; sent++) {
        try {
          a.send(b.nodeId, chunk)
        } catch (err) {
          refused = err
          break
        }
      }
      t.equal(code(refused), 'MAKO_BACKPRESSURE', 'send throws MAKO_BACKPRESSURE once the buffer is full')
      t.ok(sent >= 20 && sent <= 26, `about 256 KiB went into the buffer (${sent} sends)`)
      t.equal((refused as MakoError | undefined)?.transient, true, 'backpressure is transient')
      t.equal(a.trySend(b.nodeId, chunk), false, 'trySend says no instead')
      t.ok(a.link(b.nodeId).stats().bufferedBytes > 128 * 1024, 'buffered bytes are reported')
      await a.link(b.nodeId).drained()
      t.ok(a.link(b.nodeId).stats().bufferedBytes <= 128 * 1024, 'drained() waits for half the limit')
      a.send(b.nodeId, chunk)
      await eventually(h, () => received === sent + 1, 'every accepted message')
      t.equal(received, sent + 1, 'nothing accepted was lost')
      t.equal(a.link(b.nodeId).stats().droppedSends, 1, 'the trySend counted')
    })

  withHarness('a broken link fails waiting requests, then comes back', { nodes: 2 }, async (t, h, [a, b]) => {
    if (a === undefined || b === undefined) throw new Error('harness')
    const downs: string[] = []
    a.on('peerDown', (peer, reason) => { downs.push(`a:${peer}:${reason.code}`) })
    b.on('peerDown', (peer) => { downs.push(`b:${peer}`) })
    let ups = 0
    a.on('peerUp', () => { ups++ })
    b.onRequest((payload) => payload === 'hang' ? new Promise(() => {}) : payload)
    const hanging = a.request(b.nodeId, 'hang', { timeout: 10_000 })
    await h.sleep(10)
    h.breakLink(a.nodeId, b.nodeId)
    const err = await rejectsWith(t, hanging, 'MAKO_PEER_DOWN', 'the waiting request failed')
    t.equal(err?.transient, true, 'and may be retried')
    await eventually(h, () => downs.length === 2, 'both sides to see the link go')
    t.ok(downs.some((d) => d.startsWith(`a:${b.nodeId}:`)) && downs.includes(`b:${a.nodeId}`), 'both sides saw peerDown')
    await a.waitForPeer(b.nodeId, { timeout: 5000 })
    await b.waitForPeer(a.nodeId, { timeout: 5000 })
    t.equal(ups, 1, 'a saw the link come back')
    t.equal(await a.request(b.nodeId, 'again'), 'again', 'requests work again')
    t.ok(a.link(b.nodeId).stats().sessions >= 2, 'a second session counted')
    t.equal(Object.values(a.link(b.nodeId).stats().closes).reduce((x, y) => x + y, 0), 1, 'one close counted')
  })

  withHarness('a peer without a link is unavailable', { nodes: 2 }, async (t, _h, [a]) => {
    if (a === undefined) throw new Error('harness')
    const nobody = nodeId('nobody')
    throwsWith(t, () => { a.send(nobody, 1) }, 'MAKO_PEER_UNAVAILABLE', 'send throws')
    t.equal(a.trySend(nobody, 1), false, 'trySend returns false')
    await rejectsWith(t, a.request(nobody, 1), 'MAKO_PEER_UNAVAILABLE', 'request rejects')
    await rejectsWith(t, a.waitForPeer(nobody, { timeout: 30 }), 'MAKO_TIMEOUT', 'waitForPeer times out')
    t.notOk(a.peers().includes(nobody), 'not among the peers')
  })

  withHarness('a throwing message handler does not break the link', { nodes: 2 }, async (t, h, [a, b]) => {
    if (a === undefined || b === undefined) throw new Error('harness')
    const got: unknown[] = []
    const errors: unknown[] = []
    b.on('handlerError', (_peer, err) => { errors.push(err) })
    b.onMessage((_from, payload) => {
      if (payload === 'boom') throw new Error('boom')
      got.push(payload)
    })
    a.send(b.nodeId, 'boom')
    a.send(b.nodeId, 'after')
    await eventually(h, () => got.length === 1, 'the next message')
    t.strictSame(got, ['after'], 'the next message arrived')
    t.equal(errors.length, 1, 'the exception was reported')
    t.equal(b.link(a.nodeId).stats().handlerErrors, 1, 'and counted')
  })

  withHarness('close fails what waits and tells the peers', { nodes: 2 }, async (t, h, [a, b]) => {
    if (a === undefined || b === undefined) throw new Error('harness')
    let downReason: MakoError | undefined
    b.on('peerDown', (_peer, reason) => { downReason = reason })
    b.onRequest(() => new Promise(() => {}))
    const hanging = a.request(b.nodeId, 'x', { timeout: 10_000 })
    await h.sleep(5)
    const closing = a.close()
    await rejectsWith(t, hanging, 'MAKO_CLOSED', 'a waiting request fails with MAKO_CLOSED')
    await closing
    throwsWith(t, () => { a.send(b.nodeId, 1) }, 'MAKO_CLOSED', 'send after close throws MAKO_CLOSED')
    await eventually(h, () => downReason !== undefined, 'the peer to notice')
    t.equal(downReason?.code, 'MAKO_SHUTDOWN', 'the peer saw MAKO_SHUTDOWN')
    t.same(a.peers(), [], 'no peers after close')
  })
}

/** A timer in harness time that does not block the test. */
function setTimeoutIn (h: TransportHarness, ms: number, fn: () => void): void {
  h.sleep(ms).then(fn, () => {})
}
