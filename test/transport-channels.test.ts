// Channels: the transport acceptance suite over channel views (of the
// simulator's transport and of the WebSocket transport), then what channels
// add: isolation of channels on one transport, MAKO_UNKNOWN_CHANNEL,
// malformed tagged payloads, closing one channel, names, events, close.
import t from 'tap'
import type { Test } from 'tap'
import { Channels, maxChannelNameLength } from '../cluster/transport/index.js'
import type {
  Link, MessageHandler, NodeId, RequestHandler, RequestOptions, Transport, TransportEvents
} from '../cluster/transport/index.js'
import { MakoError } from '../lib/errors.js'
import { runTransportTests } from './transport/acceptance.js'
import type { TransportFactory, TransportHarness } from './transport/acceptance.js'
import { simFactory, wsFactory } from './transport/harness.js'
import { replayHint, testSeed } from './transport/seed.js'

const seed = testSeed()
t.comment(replayHint(seed, 'transport-channels.test.js'))

/**
 * A channel view as the acceptance suite's node: the suite's close() means
 * the node shuts down, which for a channel is its owner closing the shared
 * transport (a channel's own close() only detaches it; tested below).
 */
function asNode (channels: Channels, view: Transport): Transport {
  return {
    nodeId: view.nodeId,
    limits: view.limits,
    link: (peer: NodeId): Link => view.link(peer),
    peers: () => view.peers(),
    send: (peer: NodeId, payload: unknown) => { view.send(peer, payload) },
    trySend: (peer: NodeId, payload: unknown) => view.trySend(peer, payload),
    request: (peer: NodeId, payload: unknown, options?: RequestOptions) => view.request(peer, payload, options),
    onMessage: (handler: MessageHandler) => { view.onMessage(handler) },
    onRequest: (handler: RequestHandler) => { view.onRequest(handler) },
    on<E extends keyof TransportEvents>(event: E, listener: TransportEvents[E]) { return view.on(event, listener) },
    waitForPeer: (peer: NodeId, options?: RequestOptions) => view.waitForPeer(peer, options),
    close: () => channels.close()
  }
}

/** The suite's nodes are the `suite` channel of each node; a second, idle channel shares the transport. */
function channelFactory (inner: TransportFactory): TransportFactory {
  return async (options) => {
    const h = await inner(options)
    const owners = h.nodes.map((node) => new Channels(node))
    const nodes = owners.map((channels) => {
      channels.channel('idle').onMessage(() => { throw new Error('the idle channel got a message') })
      return asNode(channels, channels.channel('suite'))
    })
    return {
      nodes,
      breakLink: (a, b) => { h.breakLink(a, b) },
      sleep: (ms) => h.sleep(ms),
      close: async () => {
        await Promise.all(owners.map((channels) => channels.close()))
        await h.close()
      }
    }
  }
}

t.test('acceptance suite over channels of the simulated transport', async (t) => {
  runTransportTests(t, channelFactory(simFactory(seed)))
})

t.test('acceptance suite over channels of the WebSocket transport', async (t) => {
  runTransportTests(t, channelFactory(wsFactory))
})

function code (err: unknown): string | undefined {
  return err instanceof MakoError ? err.code : undefined
}

async function eventually (h: TransportHarness, predicate: () => boolean, what: string, limit = 5000): Promise<void> {
  for (let waited = 0; !predicate(); waited += 5) {
    if (waited >= limit) throw new Error(`Timed out waiting for ${what}`)
    await h.sleep(5)
  }
}

/** Two simulated nodes, each with a Channels over its transport. */
async function withPair (t: Test, name: string,
  body: (t: Test, h: TransportHarness, a: Channels, b: Channels) => Promise<void>): Promise<void> {
  const factory = simFactory(seed)
  await t.test(name, async (t) => {
    const h = await factory({ nodes: 2 })
    const [rawA, rawB] = h.nodes
    if (rawA === undefined || rawB === undefined) throw new Error('harness')
    const a = new Channels(rawA)
    const b = new Channels(rawB)
    try {
      await body(t, h, a, b)
    } finally {
      await a.close()
      await b.close()
      await h.close()
    }
  })
}

await withPair(t, 'two channels on one transport do not see each other\'s traffic', async (t, h, a, b) => {
  const [alphaA, betaA, alphaB, betaB] = [a.channel('alpha'), a.channel('beta'), b.channel('alpha'), b.channel('beta')]
  const got: string[] = []
  alphaB.onMessage((from, payload) => { got.push(`alpha<-${from}:${String(payload)}`) })
  betaB.onMessage((from, payload) => { got.push(`beta<-${from}:${String(payload)}`) })
  alphaB.onRequest((payload, context) => `alpha answers ${String(payload)} from ${context.from}`)
  betaB.onRequest((payload) => `beta answers ${String(payload)}`)
  alphaA.send(b.transport.nodeId, 1)
  betaA.send(b.transport.nodeId, 2)
  alphaA.link(b.transport.nodeId).send(3)
  t.ok(betaA.trySend(b.transport.nodeId, 4), 'trySend goes')
  t.equal(await alphaA.request(b.transport.nodeId, 'x'), `alpha answers x from ${a.transport.nodeId}`, 'alpha\'s request reached alpha')
  t.equal(await betaA.link(b.transport.nodeId).request('y'), 'beta answers y', 'beta\'s request reached beta')
  await eventually(h, () => got.length === 4, 'four messages')
  t.strictSame(got, [`alpha<-${a.transport.nodeId}:1`, `beta<-${a.transport.nodeId}:2`, `alpha<-${a.transport.nodeId}:3`, `beta<-${a.transport.nodeId}:4`],
    'each message reached its own channel only, in the order sent')
  t.strictSame(b.stats(), { open: 2, unknownChannelMessages: 0, unknownChannelRequests: 0, malformedMessages: 0, malformedRequests: 0 },
    'nothing went astray')
  t.strictSame(a.names(), ['alpha', 'beta'], 'names() lists the open channels')
  t.equal(alphaA.nodeId, a.transport.nodeId, 'a channel has the node id of its transport')
  t.equal(alphaA.limits, a.transport.limits, 'and its limits')
  t.strictSame(alphaA.peers(), [b.transport.nodeId], 'and its peers')
  t.equal(alphaA.link(b.transport.nodeId), alphaA.link(b.transport.nodeId), 'a channel\'s link object is stable')
  t.equal(alphaA.link(b.transport.nodeId).stats().messagesSent, 4, 'link stats are the shared link\'s: every channel counted')
})

await withPair(t, 'a request for a channel nobody opened rejects with MAKO_UNKNOWN_CHANNEL', async (t, h, a, b) => {
  const ghost = a.channel('ghost')
  const errors: unknown[] = []
  b.channel('real').on('handlerError', (_peer, err) => { errors.push(err) })
  let err: unknown
  try {
    await ghost.request(b.transport.nodeId, 'anyone?')
  } catch (e) {
    err = e
  }
  t.equal(code(err), 'MAKO_UNKNOWN_CHANNEL', 'the remote request rejects with MAKO_UNKNOWN_CHANNEL')
  t.equal((err as MakoError).transient, true, 'transient: the channel may be opened soon')
  t.match((err as MakoError).message, /"ghost"/, 'the message names the channel')
  ghost.send(b.transport.nodeId, 'hello?')
  await eventually(h, () => b.stats().unknownChannelMessages === 1, 'the message to be counted')
  t.equal(b.stats().unknownChannelRequests, 1, 'the request was counted')
  t.strictSame(errors, [], 'neither is a handler error')
  const opened = b.channel('ghost')
  opened.onRequest(() => 'here now')
  t.equal(await ghost.request(b.transport.nodeId, 'anyone?'), 'here now', 'once opened, it answers')
  const noHandler = a.channel('quiet')
  b.channel('quiet')
  await t.rejects(noHandler.request(b.transport.nodeId, 1), { code: 'MAKO_NO_HANDLER' }, 'an open channel without a request handler: MAKO_NO_HANDLER')
})

await withPair(t, 'malformed tagged payloads are dropped or refused and the link survives', async (t, h, a, b) => {
  const errors: unknown[] = []
  const got: unknown[] = []
  const channel = b.channel('c')
  channel.on('handlerError', (_peer, err) => { errors.push(err) })
  channel.onMessage((_from, payload) => { got.push(payload) })
  channel.onRequest((payload) => payload)
  const raw = a.transport
  const peer = b.transport.nodeId
  const junk: unknown[] = ['c', 7, null, {}, [], ['c'], ['c', 1, 2], [1, 'x'], [null, 'x'], { 0: 'c', 1: 'x', length: 2 },
    new Uint8Array([1, 2]), ['x'.repeat(100_000), 1]]
  for (const payload of junk) raw.send(peer, payload)
  for (const payload of junk.slice(0, 5)) {
    await t.rejects(raw.request(peer, payload), { code: 'MAKO_BAD_MESSAGE' }, `a malformed request is refused: ${JSON.stringify(payload)}`)
  }
  raw.send(peer, ['c', 'after'])
  await eventually(h, () => got.length === 1, 'the good message')
  const stats = b.stats()
  t.equal(stats.malformedMessages, junk.length - 1, 'every malformed message was counted (the long name is well formed)')
  t.equal(stats.unknownChannelMessages, 1, 'the message for a 100,000-character name found no channel')
  t.equal(stats.malformedRequests, 5, 'every malformed request was counted')
  t.strictSame(got, ['after'], 'the channel got only the good message')
  t.strictSame(errors, [], 'no handler error')
  t.ok(raw.link(peer).up, 'the link is still up')
  t.equal(await a.channel('c').request(peer, 'still works'), 'still works', 'requests still work')
})

await withPair(t, 'closing one channel leaves the other working', async (t, h, a, b) => {
  const peerB = b.transport.nodeId
  const peerA = a.transport.nodeId
  const oneA = a.channel('one')
  const twoA = a.channel('two')
  const oneB = b.channel('one')
  const twoB = b.channel('two')
  const got: string[] = []
  oneB.onMessage((_from, payload) => { got.push(`one:${String(payload)}`) })
  twoB.onMessage((_from, payload) => { got.push(`two:${String(payload)}`) })
  oneB.onRequest((payload) => payload)
  twoB.onRequest((payload) => payload)
  oneA.onRequest(() => new Promise(() => {}))
  const hanging = oneB.request(peerA, 'hang', { timeout: 10_000 }).then(() => 'resolved', code)
  await h.sleep(5)
  let downs = 0
  oneB.on('peerDown', () => { downs++ })
  await oneB.close()
  t.equal(await hanging, 'MAKO_CLOSED', 'closing a channel fails its waiting requests with MAKO_CLOSED')
  t.throws(() => { oneB.send(peerA, 1) }, { code: 'MAKO_CLOSED' }, 'send on a closed channel throws MAKO_CLOSED')
  t.throws(() => { oneB.link(peerA).send(1) }, { code: 'MAKO_CLOSED' }, 'and so does its link')
  t.equal(oneB.trySend(peerA, 1), false, 'trySend returns false')
  await t.rejects(oneB.request(peerA, 1), { code: 'MAKO_CLOSED' }, 'request rejects with MAKO_CLOSED')
  await t.rejects(oneB.link(peerA).drained(), { code: 'MAKO_CLOSED' }, 'drained rejects with MAKO_CLOSED')
  await t.rejects(oneB.waitForPeer(peerA), { code: 'MAKO_CLOSED' }, 'waitForPeer rejects with MAKO_CLOSED')
  t.strictSame(oneB.peers(), [], 'a closed channel has no peers')
  t.equal(oneB.link(peerA).up, false, 'and no link up')
  t.strictSame(b.names(), ['two'], 'only the other channel is open')

  await t.rejects(oneA.request(peerB, 'x'), { code: 'MAKO_UNKNOWN_CHANNEL' }, 'a request to the closed channel: MAKO_UNKNOWN_CHANNEL')
  oneA.send(peerB, 'lost')
  twoA.send(peerB, 'kept')
  t.equal(await twoA.request(peerB, 'echo'), 'echo', 'the other channel answers requests')
  await eventually(h, () => got.length === 1, 'the message on the other channel')
  t.strictSame(got, ['two:kept'], 'the message to the closed channel was dropped, the other delivered')
  t.equal(b.stats().unknownChannelMessages, 1, 'and counted')
  t.ok(b.transport.link(peerA).up, 'the shared link is still up')

  h.breakLink(peerA, peerB)
  await b.transport.waitForPeer(peerA, { timeout: 5000 })
  t.equal(downs, 0, 'a closed channel hears no more events')

  const again = b.channel('one')
  again.onRequest((payload) => `again ${String(payload)}`)
  t.equal(await oneA.request(peerB, 'x'), 'again x', 'a closed name can be opened again')
})

await withPair(t, 'channel names are checked', async (t, _h, a) => {
  t.throws(() => a.channel(''), { code: 'MAKO_INVALID_ARGUMENT' }, 'empty')
  t.throws(() => a.channel('x'.repeat(maxChannelNameLength + 1)), { code: 'MAKO_INVALID_ARGUMENT' }, 'too long')
  t.throws(() => a.channel(7 as unknown as string), { code: 'MAKO_INVALID_ARGUMENT' }, 'not a string')
  t.ok(a.channel('x'.repeat(maxChannelNameLength)), 'the longest name is accepted')
  t.ok(a.channel('paxos/shard-1 ✓'), 'any characters')
  a.channel('taken')
  t.throws(() => a.channel('taken'), { code: 'MAKO_INVALID_ARGUMENT' }, 'a name open already')
})

await withPair(t, 'events reach every channel; Channels.close closes the transport', async (t, h, a, b) => {
  const peerA = a.transport.nodeId
  const peerB = b.transport.nodeId
  const seen: string[] = []
  for (const name of ['one', 'two']) {
    const channel = b.channel(name)
    channel.on('peerDown', (peer, reason) => { seen.push(`${name} down ${peer} ${reason.code}`) })
    channel.on('peerUp', (peer) => { seen.push(`${name} up ${peer}`) })
    channel.on('handlerError', (peer, err) => { seen.push(`${name} error ${peer} ${(err as Error).message}`) })
  }
  const throwing = b.channel('throws')
  throwing.onMessage(() => { throw new Error('boom') })
  throwing.on('peerUp', () => { throw new Error('listener boom') })
  a.channel('throws').send(peerB, 1)
  await eventually(h, () => seen.length === 2, 'the handler error')
  t.strictSame(seen.splice(0), [`one error ${peerA} boom`, `two error ${peerA} boom`], 'a handler error is reported to every channel')
  t.equal(b.transport.link(peerA).stats().handlerErrors, 1, 'and counted once by the transport')
  h.breakLink(peerA, peerB)
  await eventually(h, () => seen.length >= 2, 'peerDown')
  await b.transport.waitForPeer(peerA, { timeout: 5000 })
  t.match(seen, [`one down ${peerA} `, `two down ${peerA} `, `one up ${peerA}`, `two up ${peerA}`], 'peerDown and peerUp reach every channel')
  t.equal(seen.length, 4, 'once each')
  const one = b.channel('three')
  const hanging = one.request(peerA, 'x', { timeout: 10_000 }).then(() => 'resolved', code)
  await b.close()
  t.equal(await hanging, 'MAKO_CLOSED', 'Channels.close fails waiting requests with MAKO_CLOSED')
  t.ok(seen.includes(`one down ${peerA} MAKO_CLOSED`), 'the channels heard their links go down')
  t.strictSame(b.transport.peers(), [], 'the transport is closed')
  t.throws(() => { one.send(peerA, 1) }, { code: 'MAKO_CLOSED' }, 'its channels are closed')
  t.throws(() => b.channel('late'), { code: 'MAKO_CLOSED' }, 'no channel opens after close')
  await b.close()
  t.pass('close is idempotent')
})
