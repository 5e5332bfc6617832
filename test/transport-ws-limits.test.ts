// The WebSocket transport against misbehaving peers on real sockets: bad
// frames, forged ids, silent and flooding clients, slow readers, dead
// peers; and its reconnects, batching, duplicate links and TLS.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WebSocket } from 'ws'
import {
  decodeFrame, encodeEnvelope, encodeFrame, nodeId, reconnectDelay, Tag, WsTransport
} from '../cluster/transport/index.js'
import type { Envelope, WsLimits, WsTransportOptions } from '../cluster/transport/index.js'
import { proof } from '../cluster/transport/handshake.js'
import { MakoError } from '../lib/errors.js'
import { fastWsLimits, testSecret, wsCluster } from './transport/harness.js'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => { setTimeout(resolve, ms) })

async function until (predicate: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

function server (options: Partial<WsTransportOptions> = {}, limits: Partial<WsLimits> = {}): WsTransport {
  return new WsTransport({ nodeId: 'srv', clusterId: 'test', secret: testSecret, ...options, limits: { ...fastWsLimits, ...limits } })
}

/** A plain ws client, to speak to the server the way a broken or hostile peer would. */
interface Raw {
  ws: WebSocket
  closed: Promise<{ code: number, reason: string }>
  frames: Buffer[]
}

function raw (url: string, options: ConstructorParameters<typeof WebSocket>[2] = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options)
    const frames: Buffer[] = []
    const closed = new Promise<{ code: number, reason: string }>((resolve) => {
      ws.on('close', (code, reason) => { resolve({ code, reason: reason.toString() }) })
    })
    ws.on('message', (data) => { frames.push(data as Buffer) })
    ws.on('error', () => {})
    ws.once('open', () => { resolve({ ws, closed, frames }) })
    ws.once('unexpected-response', (_req, res) => { reject(new Error(`HTTP ${res.statusCode ?? 0}`)) })
    ws.once('error', reject)
  })
}

function frameOf (envelope: Envelope): Buffer {
  const bytes = encodeEnvelope(envelope)
  return encodeFrame([bytes], bytes.length)
}

/** Completes a real handshake from a raw client, as node `id`. */
async function authenticated (url: string, id: string, options: ConstructorParameters<typeof WebSocket>[2] = {}): Promise<Raw> {
  const client = await raw(url, options)
  await until(() => client.frames.length > 0, 'the challenge')
  const challenge = decodeFrame(client.frames.shift() as Buffer, 1, 1)[0]
  if (challenge?.[0] !== Tag.challenge) throw new Error('expected a challenge')
  const clientNonce = Buffer.alloc(32, 5)
  const mine = proof(Buffer.from(testSecret), 'client', { version: 1, cluster: challenge[3], client: nodeId(id), server: challenge[4], serverNonce: challenge[5], clientNonce })
  client.ws.send(frameOf([Tag.hello, 1, challenge[3], nodeId(id), clientNonce, mine, [65_536, 16]]))
  await until(() => client.frames.length > 0, 'the welcome')
  const welcome = decodeFrame(client.frames.shift() as Buffer, 1, 1)[0]
  if (welcome?.[0] !== Tag.welcome) throw new Error('expected a welcome')
  return client
}

t.test('bad frames close their connection with a code; the server lives on', async (t) => {
  // The handshake deadline is far off, so a slow machine cannot turn an
  // expected close into a handshake timeout; silence is tested apart.
  const srv = server({}, { maxPayload: 8 * 1024, maxBufferedBytes: 64 * 1024, handshakeTimeout: 20_000 })
  const url = await srv.listen()
  t.teardown(() => srv.close())
  const cases: Array<[string, (ws: WebSocket) => void, number, string]> = [
    ['malformed msgpack', (ws) => { ws.send(Buffer.from([1, 0xd4, 0x33, 0x00])) }, 4001, 'MAKO_DECODE'],
    ['a value that is not a message', (ws) => { ws.send(Buffer.from([1, 0xc1])) }, 4002, 'MAKO_BAD_MESSAGE'],
    ['a truncated value', (ws) => { ws.send(frameOf([Tag.message, 'hello']).subarray(0, 5)) }, 4001, 'MAKO_DECODE'],
    ['a text frame', (ws) => { ws.send('hello') }, 4001, 'MAKO_DECODE'],
    ['an unknown type', (ws) => { ws.send(Buffer.concat([Buffer.from([1]), encodeEnvelope([Tag.message, 1]).fill(0x63, 1, 2)])) }, 4003, 'MAKO_UNKNOWN_TYPE'],
    ['another wire version', (ws) => { ws.send(Buffer.from([7, 0x92, 0, 1])) }, 4004, 'MAKO_VERSION'],
    ['a message before the handshake', (ws) => { ws.send(frameOf([Tag.message, 'hi'])) }, 4005, 'MAKO_NOT_AUTHENTICATED'],
    ['a hello with a forged proof', (ws) => { ws.send(frameOf([Tag.hello, 1, 'test', 'intruder', Buffer.alloc(32), Buffer.alloc(32), [65_536, 8]] as unknown as Envelope)) }, 4006, 'MAKO_AUTH'],
    ['a hello of another cluster', (ws) => { ws.send(frameOf([Tag.hello, 1, 'prod', 'intruder', Buffer.alloc(32), Buffer.alloc(32), [65_536, 8]] as unknown as Envelope)) }, 4007, 'MAKO_CLUSTER_MISMATCH'],
    ['an oversized frame', (ws) => { ws.send(Buffer.alloc(20 * 1024, 1)) }, 1009, 'MAKO_FRAME_TOO_LARGE']
  ]
  for (const [what, act, code, reason] of cases) {
    const client = await raw(url)
    act(client.ws)
    const closed = await client.closed
    t.equal(closed.code, code, `${what}: close code ${code}`)
    if (code !== 1009) t.equal(closed.reason, reason, `${what}: reason ${reason}`)
    await until(() => (srv.transportStats().closes[reason] ?? 0) > 0, `${reason} counted`)
    t.ok((srv.transportStats().closes[reason] ?? 0) >= 1, `${what}: counted as ${reason}`)
  }
  t.equal(srv.transportStats().connections, 0, 'no connection left open')
  const quick = server({}, { handshakeTimeout: 300 })
  const quickUrl = await quick.listen()
  t.teardown(() => quick.close())
  const silent = await raw(quickUrl)
  const silence = await silent.closed
  t.equal(silence.code, 4010, 'silence: close code 4010')
  t.equal(silence.reason, 'MAKO_HANDSHAKE_TIMEOUT', 'silence: reason MAKO_HANDSHAKE_TIMEOUT')
  t.equal(quick.transportStats().closes['MAKO_HANDSHAKE_TIMEOUT'], 1, 'silence: counted')
  const peer = new WsTransport({ nodeId: 'ok', clusterId: 'test', secret: testSecret, limits: fastWsLimits })
  t.teardown(() => peer.close())
  peer.connect('srv', url)
  await peer.waitForPeer(nodeId('srv'), { timeout: 3000 })
  t.pass('a good peer still gets in')
})

t.test('an authenticated peer that sends garbage is closed and counted on its link', async (t) => {
  const srv = server()
  const url = await srv.listen()
  t.teardown(() => srv.close())
  const client = await authenticated(url, 'p1')
  await until(() => srv.link(nodeId('p1')).up, 'the link')
  client.ws.send(Buffer.from([1, 0x92, 0x00]))
  const closed = await client.closed
  t.equal(closed.code, 4001, 'closed with 4001')
  await until(() => !srv.link(nodeId('p1')).up, 'the link to go down')
  t.equal(srv.link(nodeId('p1')).stats().closes['MAKO_DECODE'], 1, 'the link counted MAKO_DECODE')

  const second = await authenticated(url, 'p1')
  await until(() => srv.link(nodeId('p1')).up, 'the link again')
  second.ws.send(frameOf([Tag.response, 999, 'never asked']))
  t.equal((await second.closed).reason, 'MAKO_BAD_MESSAGE', 'a response to nothing closes the link')
})

t.test('a peer speaks only for the node id it authenticated as', async (t) => {
  const srv = server({ allowPeer: (peer) => peer.startsWith('member-') })
  const url = await srv.listen()
  t.teardown(() => srv.close())
  const outsider = await raw(url)
  await until(() => outsider.frames.length > 0, 'the challenge')
  const challenge = decodeFrame(outsider.frames[0] as Buffer, 1, 1)[0]
  if (challenge?.[0] !== Tag.challenge) throw new Error('expected a challenge')
  const clientNonce = Buffer.alloc(32, 1)
  // A proof made for member-1, sent claiming member-2: the ids are in the transcript.
  const stolen = proof(Buffer.from(testSecret), 'client', { version: 1, cluster: challenge[3], client: nodeId('member-1'), server: challenge[4], serverNonce: challenge[5], clientNonce })
  outsider.ws.send(frameOf([Tag.hello, 1, challenge[3], nodeId('member-2'), clientNonce, stolen, [65_536, 8]]))
  t.equal((await outsider.closed).reason, 'MAKO_AUTH', 'a proof for one id does not work for another')

  const stranger = await raw(url)
  await until(() => stranger.frames.length > 0, 'the challenge')
  const c2 = decodeFrame(stranger.frames[0] as Buffer, 1, 1)[0]
  if (c2?.[0] !== Tag.challenge) throw new Error('expected a challenge')
  const good = proof(Buffer.from(testSecret), 'client', { version: 1, cluster: c2[3], client: nodeId('stranger'), server: c2[4], serverNonce: c2[5], clientNonce })
  stranger.ws.send(frameOf([Tag.hello, 1, c2[3], nodeId('stranger'), clientNonce, good, [65_536, 8]]))
  t.equal((await stranger.closed).reason, 'MAKO_UNKNOWN_PEER', 'a node outside allowPeer is refused even with the secret')

  const wrongSecret = new WsTransport({ nodeId: 'member-9', clusterId: 'test', secret: 'not-the-cluster-secret', limits: fastWsLimits })
  t.teardown(() => wrongSecret.close())
  wrongSecret.connect('srv', url)
  await sleep(200)
  t.notOk(wrongSecret.link(nodeId('srv')).up, 'a node without the secret never links up')
  t.ok((srv.transportStats().closes['MAKO_AUTH'] ?? 0) >= 2, 'its attempts are counted as MAKO_AUTH')
})

t.test('a flood of connections is refused at the upgrade and the server recovers', async (t) => {
  // A handshake deadline longer than the test, so no slot frees up by itself
  // while the flood runs, however slow the machine.
  const srv = server({}, { maxPendingHandshakes: 8, maxConnections: 16, handshakeTimeout: 30_000 })
  const url = await srv.listen()
  t.teardown(() => srv.close())
  const attempts = await Promise.allSettled(Array.from({ length: 40 }, () => raw(url)))
  const opened = attempts.flatMap((a) => a.status === 'fulfilled' ? [a.value] : [])
  t.equal(opened.length, 8, 'maxPendingHandshakes got in')
  t.equal(srv.transportStats().rejected['MAKO_TOO_MANY_CONNECTIONS'], 32, 'the rest were refused at the upgrade and counted')
  t.equal(srv.transportStats().pendingHandshakes, 8, 'eight handshakes pending')
  for (const client of opened) client.ws.terminate()
  await until(() => srv.transportStats().pendingHandshakes === 0, 'the flood to go away', 3000)
  const peer = new WsTransport({ nodeId: 'late', clusterId: 'test', secret: testSecret, limits: fastWsLimits })
  t.teardown(() => peer.close())
  peer.connect('srv', url)
  await peer.waitForPeer(nodeId('srv'), { timeout: 3000 })
  t.pass('a legitimate peer gets in once the flood is gone')
})

t.test('bytes streamed before authentication are limited', async (t) => {
  const srv = server({}, { maxHandshakeBytes: 16 * 1024 })
  const url = await srv.listen()
  t.teardown(() => srv.close())
  const client = await raw(url)
  client.ws.send(Buffer.alloc(200 * 1024, 0x90), { fin: false })
  const closed = await client.closed
  t.ok(closed.code === 4012 || closed.code === 1006, `closed before the frame completed (${closed.code})`)
  await until(() => (srv.transportStats().closes['MAKO_LIMIT'] ?? 0) === 1, 'MAKO_LIMIT counted')
  t.pass('counted as MAKO_LIMIT')
})

t.test('a dead peer is found by heartbeats and terminated', async (t) => {
  const srv = server({}, { heartbeatInterval: 50, heartbeatTimeout: 200 })
  const url = await srv.listen()
  t.teardown(() => srv.close())
  const downs: string[] = []
  srv.on('peerDown', (peer, reason) => { downs.push(`${peer}:${reason.code}`) })
  const client = await authenticated(url, 'mute', { autoPong: false })
  await until(() => srv.link(nodeId('mute')).up, 'the link')
  const started = Date.now()
  await client.closed
  const took = Date.now() - started
  t.strictSame(downs, ['mute:MAKO_PEER_TIMEOUT'], 'declared dead for silence')
  t.ok(took >= 150 && took < 5000, `after about heartbeatTimeout (${took} ms)`)
})

t.test('a peer that stops reading is closed as a slow reader', async (t) => {
  const srv = server({}, { slowReaderTimeout: 300, heartbeatInterval: 50, heartbeatTimeout: 100_000, maxBufferedBytes: 8 * 1024 * 1024 })
  const url = await srv.listen()
  t.teardown(() => srv.close())
  const client = await authenticated(url, 'sloth')
  await until(() => srv.link(nodeId('sloth')).up, 'the link')
  ;(client.ws as unknown as { _socket: { pause: () => void } })._socket.pause()
  const chunk = new Uint8Array(60 * 1024)
  const started = Date.now()
  while (srv.link(nodeId('sloth')).up && Date.now() - started < 10_000) {
    while (srv.trySend(nodeId('sloth'), chunk)) { /* fill the buffer */ }
    await sleep(10)
  }
  t.notOk(srv.link(nodeId('sloth')).up, 'the link was closed')
  t.equal(srv.link(nodeId('sloth')).stats().closes['MAKO_SLOW_READER'], 1, 'as MAKO_SLOW_READER')
  t.ok(srv.link(nodeId('sloth')).stats().droppedSends > 0, 'senders were pushed back meanwhile')
  client.ws.terminate()
})

t.test('reconnects back off exponentially with jitter, then succeed', async (t) => {
  const delays = Array.from({ length: 12 }, (_, attempt) => reconnectDelay(attempt, 100, 5000, () => 0.999))
  t.ok(delays.every((d, i) => i === 0 || d >= (delays[i - 1] as number)), 'the cap grows with attempts')
  t.ok((delays.at(-1) as number) <= 5000, 'up to the maximum')
  t.equal(reconnectDelay(3, 100, 5000, () => 0), 400, 'jitter keeps at least half the cap')
  t.ok(reconnectDelay(3, 100, 5000, () => 0.5) > 400 && reconnectDelay(3, 100, 5000, () => 0.5) < 800, 'and adds a random part')

  const probe = server()
  const url = await probe.listen()
  const port = Number(new URL(url).port)
  await probe.close()
  const dialer = new WsTransport({ nodeId: 'dialer', clusterId: 'test', secret: testSecret, limits: { ...fastWsLimits, reconnectBaseDelay: 20, reconnectMaxDelay: 160 } })
  t.teardown(() => dialer.close())
  dialer.connect('srv', url)
  await sleep(700)
  const dials = dialer.transportStats().dials
  t.ok(dials >= 3 && dials <= 20, `it kept dialing, less and less often (${dials} dials in 700 ms)`)
  const revived = server()
  t.teardown(() => revived.close())
  await revived.listen({ port })
  await dialer.waitForPeer(nodeId('srv'), { timeout: 3000 })
  t.pass('and linked up once the peer came back')
})

t.test('messages of one turn leave in one frame; without batching, one frame each', async (t) => {
  for (const batching of [true, false]) {
    const [a, b] = await wsCluster(2, { batching })
    if (a === undefined || b === undefined) throw new Error('cluster')
    let got = 0
    b.onMessage(() => { got++ })
    const before = a.link(b.nodeId).stats().framesSent
    for (let i = 0; i < 1000; i++) a.send(b.nodeId, { i })
    await until(() => got === 1000, 'all messages')
    const frames = a.link(b.nodeId).stats().framesSent - before
    if (batching) t.ok(frames <= 2, `batching: 1000 messages in ${frames} frame(s)`)
    else t.equal(frames, 1000, 'no batching: one frame per message')
    await Promise.all([a.close(), b.close()])
  }
})

t.test('a long turn sends its batch in parts of about 8 KiB, in order', async (t) => {
  const [a, b] = await wsCluster(2)
  if (a === undefined || b === undefined) throw new Error('cluster')
  t.teardown(() => Promise.all([a.close(), b.close()]))
  const seen: number[] = []
  b.onMessage((_from, payload) => { seen.push((payload as { i: number }).i) })
  const stats = a.link(b.nodeId).stats()
  for (let i = 0; i < 4000; i++) a.send(b.nodeId, { i, pad: 'x'.repeat(20) })
  // Parts left during the loop, before the turn ended.
  const during = a.link(b.nodeId).stats().framesSent - stats.framesSent
  const bytes = a.link(b.nodeId).stats().bytesSent - stats.bytesSent
  await until(() => seen.length === 4000, 'all messages')
  const frames = a.link(b.nodeId).stats().framesSent - stats.framesSent
  t.ok(during >= 10, `${during} frames left while the turn still ran (${bytes} bytes)`)
  t.ok(frames <= during + 1, `the rest left in one frame at the end of the turn (${frames} in all)`)
  t.same(seen, Array.from({ length: 4000 }, (_, i) => i), 'in the order sent')
})

t.test('large batches are split at maxPayload', async (t) => {
  // 4 KiB frames hold two 1.5 KB messages, and the batch of about 8 KiB
  // that leaves during the turn must be split.
  const [a, b] = await wsCluster(2, { limits: { maxPayload: 4 * 1024 } })
  if (a === undefined || b === undefined) throw new Error('cluster')
  t.teardown(() => Promise.all([a.close(), b.close()]))
  let got = 0
  b.onMessage(() => { got++ })
  const before = a.link(b.nodeId).stats().framesSent
  for (let i = 0; i < 40; i++) a.send(b.nodeId, new Uint8Array(1500))
  await until(() => got === 40, 'all messages')
  const frames = a.link(b.nodeId).stats().framesSent - before
  t.ok(frames >= 20, `60 KB went in frames of at most 4 KiB (${frames})`)
})

t.test('two nodes dialing each other end with one connection', async (t) => {
  const a = new WsTransport({ nodeId: 'a', clusterId: 'test', secret: testSecret, limits: fastWsLimits })
  const b = new WsTransport({ nodeId: 'b', clusterId: 'test', secret: testSecret, limits: fastWsLimits })
  t.teardown(() => Promise.all([a.close(), b.close()]))
  const [ua, ub] = await Promise.all([a.listen(), b.listen()])
  a.connect('b', ub)
  b.connect('a', ua)
  await Promise.all([a.waitForPeer(nodeId('b')), b.waitForPeer(nodeId('a'))])
  await until(() => a.transportStats().connections === 1 && b.transportStats().connections === 1, 'one connection each')
  t.pass('each side keeps one connection')
  t.ok(a.link(nodeId('b')).up && b.link(nodeId('a')).up, 'both links are up')
  b.onRequest((x) => x)
  t.equal(await a.request(nodeId('b'), 'ping'), 'ping', 'and they talk')
})

t.test('a restarted peer replaces its old connection', async (t) => {
  const srv = server()
  const url = await srv.listen()
  t.teardown(() => srv.close())
  const events: string[] = []
  srv.on('peerUp', (peer) => { events.push(`up:${peer}`) })
  srv.on('peerDown', (peer, reason) => { events.push(`down:${peer}:${reason.code}`) })
  const first = await authenticated(url, 'phoenix')
  await until(() => events.length === 1, 'first up')
  // The old process is gone without a word; a new one with the same id dials.
  ;(first.ws as unknown as { _socket: { pause: () => void } })._socket.pause()
  const second = await authenticated(url, 'phoenix')
  await until(() => events.length === 3, 'the replacement')
  t.strictSame(events, ['up:phoenix', 'down:phoenix:MAKO_DUPLICATE', 'up:phoenix'], 'the old session ended, the new one began')
  first.ws.terminate()
  second.ws.terminate()
})

t.test('options are checked', async (t) => {
  const bad = (options: Partial<WsTransportOptions>, what: string): void => {
    try {
      const transport = new WsTransport({ nodeId: 'x', clusterId: 'test', secret: testSecret, ...options })
      void transport.close()
      t.fail(`${what}: accepted`)
    } catch (err) {
      t.ok(err instanceof MakoError && (err.code === 'MAKO_INVALID_CONFIG' || err.code === 'MAKO_INVALID_ID'), what)
    }
  }
  bad({ secret: 'short' }, 'a short secret')
  bad({ nodeId: 'bad id' }, 'a malformed node id')
  bad({ limits: { maxPayload: 10 } }, 'a tiny maxPayload')
  bad({ limits: { maxPayload: 2 ** 20, maxBufferedBytes: 2 ** 19 } }, 'maxPayload above maxBufferedBytes')
  bad({ limits: { heartbeatInterval: 1000, heartbeatTimeout: 500 } }, 'a heartbeat timeout shorter than the interval')
  const ok = new WsTransport({ nodeId: 'x', clusterId: 'test', secret: testSecret })
  t.equal(ok.limits.maxPayload, 4 * 1024 * 1024, 'maxPayload defaults to 4 MiB, not ws 100 MiB')
  t.equal(ok.limits.maxFragments, 16, 'ws maxFragments is set')
  t.ok(ok.limits.maxBufferedChunks > 0, 'ws maxBufferedChunks is set')
  await ok.close()
})

t.test('TLS with certificates: wss', async (t) => {
  let dir: string
  try {
    dir = mkdtempSync(join(tmpdir(), 'mako-tls-'))
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' })
  } catch {
    t.comment('openssl is not available to make a test certificate: skipped')
    return
  }
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const cert = readFileSync(join(dir, 'cert.pem'))
  const key = readFileSync(join(dir, 'key.pem'))
  const srv = server({ tls: { cert, key } })
  const url = await srv.listen()
  t.teardown(() => srv.close())
  t.ok(url.startsWith('wss://'), `listens on ${url}`)
  srv.onRequest((x) => x)
  const trusting = new WsTransport({ nodeId: 'trusting', clusterId: 'test', secret: testSecret, tls: { ca: cert }, limits: fastWsLimits })
  t.teardown(() => trusting.close())
  trusting.connect('srv', url)
  await trusting.waitForPeer(nodeId('srv'), { timeout: 3000 })
  t.equal(await trusting.request(nodeId('srv'), 'over tls'), 'over tls', 'a client trusting the certificate talks over wss')
  const doubting = new WsTransport({ nodeId: 'doubting', clusterId: 'test', secret: testSecret, limits: fastWsLimits })
  t.teardown(() => doubting.close())
  doubting.connect('srv', url)
  await sleep(300)
  t.notOk(doubting.link(nodeId('srv')).up, 'a client that does not trust it never links up')
  const plain = await raw(url.replace('wss:', 'ws:')).then(() => 'open', (err: unknown) => String(err))
  t.not(plain, 'open', 'plain ws to a TLS port does not open')
})

t.test('links survive connections dropped under load, with both sides dialing', async (t) => {
  const limits = { ...fastWsLimits, heartbeatInterval: 50, heartbeatTimeout: 200, reconnectBaseDelay: 5, reconnectMaxDelay: 50 }
  const nodes = Array.from({ length: 4 }, (_, i) => new WsTransport({ nodeId: `n${i}`, clusterId: 'test', secret: testSecret, limits }))
  t.teardown(() => Promise.all(nodes.map((n) => n.close())))
  const urls = await Promise.all(nodes.map((n) => n.listen()))
  nodes.forEach((a, i) => { nodes.forEach((_b, j) => { if (i !== j) a.connect(`n${j}`, urls[j] as string) }) })
  for (const n of nodes) {
    n.onRequest((p) => p)
    n.onMessage(() => {})
  }
  const outcomes: Record<string, number> = {}
  const pending: Array<Promise<void>> = []
  const end = Date.now() + 1500
  let step = 0
  while (Date.now() < end) {
    const a = nodes[step % 4] as WsTransport
    const b = nodeId(`n${(step + 1 + (step >> 2) % 3) % 4}`)
    a.trySend(b, step)
    pending.push(a.request(b, step, { timeout: 300 }).then(() => { outcomes['ok'] = (outcomes['ok'] ?? 0) + 1 },
      (err: MakoError) => { outcomes[err.code] = (outcomes[err.code] ?? 0) + 1 }))
    if (step % 500 === 0) (nodes[(step >> 3) % 4] as WsTransport).dropConnection(nodeId(`n${(step >> 5) % 4}`))
    if (step % 50 === 0) await sleep(1)
    step++
  }
  await Promise.all(pending)
  t.ok((outcomes['ok'] ?? 0) > 100, `requests kept succeeding: ${JSON.stringify(outcomes)}`)
  t.ok(Object.keys(outcomes).every((code) => ['ok', 'MAKO_PEER_DOWN', 'MAKO_PEER_UNAVAILABLE', 'MAKO_TIMEOUT'].includes(code)), 'failures were only transient link failures')
  for (const a of nodes) for (const b of nodes) if (a !== b) await a.waitForPeer(b.nodeId, { timeout: 3000 })
  await until(() => nodes.every((n) => n.transportStats().connections === 3), 'one connection per pair')
  t.pass('one connection per pair in the end')
  for (const a of nodes) for (const b of nodes) if (a !== b) t.equal(await a.request(b.nodeId, 'last'), 'last', `${a.nodeId} reaches ${b.nodeId}`)
})
