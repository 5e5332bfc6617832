// The wire format and the frame dispatcher under bad input: every message
// type round trips, every truncation of every message type is refused,
// trailing bytes are refused, and more than 10,000 random and mutated frames
// neither crash the decoder nor a connection in any state.
import t from 'tap'
import { Packr } from 'msgpackr'
import { SeededRandom } from '../cluster/sim/index.js'
import {
  closeCodeFor, decodeEnvelope, decodeFrame, encodeEnvelope, encodeFrame, nonceLength, Tag, validateEnvelope, WireError,
  wireVersion
} from '../cluster/transport/index.js'
import type { Envelope } from '../cluster/transport/index.js'
import { FakeHost, memoryPair, serverConnection } from './transport/fake.js'
import { replayHint, testSeed } from './transport/seed.js'

const seed = testSeed()
t.comment(replayHint(seed, 'transport-codec.test.js'))
const hint = `(${replayHint(seed, 'transport-codec.test.js')})`

const nonce = new Uint8Array(nonceLength).fill(7)
const proofBytes = new Uint8Array(nonceLength).fill(9)

/** One sample of each envelope type, several for the session types. */
const samples: Array<[string, Envelope]> = [
  ['message', [Tag.message, { op: 'put', key: 'k', value: new Uint8Array([1, 2, 3]) }]],
  ['message (null)', [Tag.message, null]],
  ['message (string)', [Tag.message, 'x'.repeat(300)]],
  ['request', [Tag.request, 42, 10_000, ['get', 'k']]],
  ['request (big id)', [Tag.request, 2 ** 40, 0, { nested: [[1], [2, [3]]] }]],
  ['response', [Tag.response, 42, { ok: true, n: 1.5 }]],
  ['error', [Tag.error, 7, 'MAKO_SOMETHING', 'went wrong', true]],
  ['cancel', [Tag.cancel, 99]],
  ['challenge', [Tag.challenge, 1, 1, 'test', 'server', nonce]],
  ['hello', [Tag.hello, 1, 'test', 'client', nonce, proofBytes, [4 * 1024 * 1024, 1024]]],
  ['welcome', [Tag.welcome, proofBytes, [65_536, 16]]]
] as unknown as Array<[string, Envelope]>

const wireCodes = new Set(['MAKO_DECODE', 'MAKO_BAD_MESSAGE', 'MAKO_UNKNOWN_TYPE', 'MAKO_VERSION', 'MAKO_LIMIT'])

function normalise (value: unknown): unknown {
  if (value instanceof Uint8Array) return [...value]
  if (Array.isArray(value)) return value.map(normalise)
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalise(v)]))
  return value
}

t.test('every message type round trips', async (t) => {
  for (const [name, envelope] of samples) {
    const bytes = encodeEnvelope(envelope)
    t.strictSame(normalise(decodeEnvelope(bytes)), normalise(envelope), `${name} alone`)
    const frame = encodeFrame([bytes, bytes], bytes.length * 2)
    t.equal(frame[0], wireVersion, `${name}: the frame starts with the version`)
    t.strictSame(normalise(decodeFrame(frame, wireVersion, 16)), normalise([envelope, envelope]), `${name} twice in one frame`)
  }
})

t.test('every truncation of every message type is refused', async (t) => {
  let checked = 0
  let wrong = 0
  for (const [name, envelope] of samples) {
    const bytes = encodeEnvelope(envelope)
    const frame = encodeFrame([bytes], bytes.length)
    for (let cut = 0; cut < frame.length; cut++) {
      checked++
      try {
        decodeFrame(frame.subarray(0, cut), wireVersion, 16)
        wrong++
        t.fail(`${name} cut at ${cut} of ${frame.length} decoded`)
      } catch (err) {
        if (!(err instanceof WireError) || err.code !== 'MAKO_DECODE') {
          wrong++
          t.fail(`${name} cut at ${cut}: ${String(err)}`)
        }
      }
      if (cut < bytes.length) {
        try {
          decodeEnvelope(bytes.subarray(0, cut))
          wrong++
          t.fail(`${name} envelope cut at ${cut} decoded`)
        } catch (err) {
          if (!(err instanceof WireError) || err.code !== 'MAKO_DECODE') wrong++
        }
      }
    }
  }
  t.equal(wrong, 0, `all ${checked} truncated frames refused with MAKO_DECODE`)

  // Through a connection: a truncated handshake closes it with 4001.
  let closes = 0
  for (const [name, envelope] of samples) {
    const bytes = encodeEnvelope(envelope)
    const frame = encodeFrame([bytes], bytes.length)
    for (let cut = 0; cut < frame.length; cut++) {
      const { conn, socket } = serverConnection()
      conn.receiveFrame(frame.subarray(0, cut), true)
      if (socket.closed?.code === closeCodeFor('MAKO_DECODE') && socket.closed.reason === 'MAKO_DECODE') closes++
      else t.fail(`${name} cut at ${cut}: connection ${JSON.stringify(socket.closed)}`)
    }
  }
  t.ok(closes > 200, `${closes} truncated frames each closed their connection with 4001 MAKO_DECODE`)
})

t.test('trailing bytes, wrong versions, unknown types and bad fields are refused', async (t) => {
  const one = encodeEnvelope([Tag.message, 1])
  const expect = (fn: () => unknown, code: string, what: string): void => {
    try {
      fn()
      t.fail(`${what}: accepted`)
    } catch (err) {
      t.equal((err as WireError).code, code, what)
    }
  }
  expect(() => decodeEnvelope(Buffer.concat([one, Buffer.from([0x00])])), 'MAKO_DECODE', 'a complete value then a stray byte')
  expect(() => decodeFrame(Buffer.concat([encodeFrame([one], one.length), Buffer.from([0x92, 0x00])]), 1, 16), 'MAKO_DECODE', 'a frame with a trailing partial value')
  expect(() => decodeFrame(Buffer.from([2, ...one]), 1, 16), 'MAKO_VERSION', 'a frame of another version')
  expect(() => decodeFrame(Buffer.alloc(0), 1, 16), 'MAKO_DECODE', 'an empty frame')
  expect(() => decodeFrame(Buffer.from([1]), 1, 16), 'MAKO_DECODE', 'a frame with only its version')
  const packr = new Packr({ useRecords: false })
  const raw = (value: unknown): Buffer => Buffer.concat([Buffer.from([1]), packr.pack(value)])
  expect(() => decodeFrame(raw([99, 1]), 1, 16), 'MAKO_UNKNOWN_TYPE', 'an unknown type tag')
  expect(() => decodeFrame(raw(['0', 1]), 1, 16), 'MAKO_BAD_MESSAGE', 'a string type tag')
  expect(() => decodeFrame(raw({ 0: 0 }), 1, 16), 'MAKO_BAD_MESSAGE', 'a map instead of an array')
  expect(() => decodeFrame(raw([]), 1, 16), 'MAKO_BAD_MESSAGE', 'an empty array')
  expect(() => decodeFrame(raw([0]), 1, 16), 'MAKO_BAD_MESSAGE', 'a message without its payload')
  expect(() => decodeFrame(raw([0, 1, 2]), 1, 16), 'MAKO_BAD_MESSAGE', 'a message with an extra field')
  expect(() => decodeFrame(raw([1, -1, 100, null]), 1, 16), 'MAKO_BAD_MESSAGE', 'a negative request id')
  expect(() => decodeFrame(raw([1, 1.5, 100, null]), 1, 16), 'MAKO_BAD_MESSAGE', 'a fractional request id')
  expect(() => decodeFrame(raw([1, 1, 1e12, null]), 1, 16), 'MAKO_BAD_MESSAGE', 'a timeout past a day')
  expect(() => decodeFrame(raw([3, 1, 'lowercase', 'm', true]), 1, 16), 'MAKO_BAD_MESSAGE', 'a malformed error code')
  expect(() => decodeFrame(raw([3, 1, 'MAKO_X', 'm'.repeat(5000), true]), 1, 16), 'MAKO_BAD_MESSAGE', 'an error message too long')
  expect(() => decodeFrame(raw([5, 1, 1, 'test', 'bad id!', nonce]), 1, 16), 'MAKO_BAD_MESSAGE', 'a malformed node id')
  expect(() => decodeFrame(raw([6, 1, 'test', 'c', nonce, new Uint8Array(3), [65_536, 1]]), 1, 16), 'MAKO_BAD_MESSAGE', 'a short proof')
  expect(() => decodeFrame(raw([7, proofBytes, [10, 1]]), 1, 16), 'MAKO_BAD_MESSAGE', 'a maxPayload below 1 KiB')
  const many = encodeFrame(Array.from({ length: 20 }, () => one), one.length * 20)
  expect(() => decodeFrame(many, 1, 16), 'MAKO_LIMIT', 'more messages than maxMessagesPerFrame')
  expect(() => decodeFrame(Buffer.concat([Buffer.from([1]), Buffer.alloc(200_000, 0x91)]), 1, 16), 'MAKO_DECODE', 'nesting deep enough to overflow the stack')
  const proto = decodeFrame(raw([0, JSON.parse('{"__proto__": {"polluted": true}}')]), 1, 16)
  t.equal(({} as Record<string, unknown>)['polluted'], undefined, '__proto__ in a payload pollutes nothing')
  t.ok(proto.length === 1, 'and the message still decodes')
  t.ok(validateEnvelope([Tag.cancel, 0]), 'validateEnvelope accepts a well-formed value')
})

t.test('the handshake authenticates both sides in memory', async (t) => {
  const ok = memoryPair()
  ok.pump()
  t.equal(ok.client.state, 'open', 'client open')
  t.equal(ok.server.state, 'open', 'server open')
  t.equal(ok.server.peer, 'client', 'the server knows who dialed')
  t.equal(ok.client.peer, 'server', 'the client knows whom it reached')
  for (const frame of ok.clientSocket.sent) t.notOk(frame.includes(Buffer.from('test-secret')), 'the secret never goes on the wire')

  const wrong = memoryPair({ clientSecret: 'another-secret-0123456789' })
  wrong.pump()
  t.equal(wrong.serverSocket.closed?.reason, 'MAKO_AUTH', 'a wrong secret is refused by the server')
  t.equal(wrong.serverSocket.closed?.code, 4006, 'with close code 4006')

  const rogue = memoryPair({ serverSecret: 'another-secret-0123456789' })
  rogue.pump()
  t.ok(rogue.clientSocket.closed?.reason === 'MAKO_AUTH' || rogue.serverSocket.closed?.reason === 'MAKO_AUTH', 'a server without the secret is refused')

  const mismatch = memoryPair({ expected: 'someone-else' })
  mismatch.pump()
  t.equal(mismatch.clientSocket.closed?.reason, 'MAKO_PEER_MISMATCH', 'a client refuses a server that is not the node it dialed')

  const impostor = memoryPair({ clientId: 'server' })
  impostor.pump()
  t.ok(impostor.clientSocket.closed !== undefined || impostor.serverSocket.closed !== undefined, 'a client claiming the server id is refused')

  // A hello whose proof was made for another node id: the proof binds the id.
  const { conn, socket, host } = serverConnection()
  const challenge = decodeFrame(socket.sent[0] as Buffer, 1, 1)[0]
  if (challenge?.[0] !== Tag.challenge) throw new Error('no challenge')
  const { proof } = await import('../cluster/transport/handshake.js')
  const clientNonce = new Uint8Array(nonceLength).fill(3)
  const forgedProof: Uint8Array = proof(host.secret, 'client', {
    version: 1, cluster: host.clusterId, client: 'honest' as never, server: host.nodeId, serverNonce: challenge[5], clientNonce
  })
  const hello = encodeEnvelope([Tag.hello, 1, host.clusterId, 'forged', clientNonce, forgedProof, [65_536, 8]] as unknown as Envelope)
  conn.receiveFrame(encodeFrame([hello], hello.length), true)
  t.equal(socket.closed?.reason, 'MAKO_AUTH', 'a proof made for another node id does not let a peer speak for it')

  const early = serverConnection()
  const message = encodeEnvelope([Tag.message, 'hi'])
  early.conn.receiveFrame(encodeFrame([message], message.length), true)
  t.equal(early.socket.closed?.reason, 'MAKO_NOT_AUTHENTICATED', 'a message before the handshake is refused')
  t.equal(early.host.messages, 0, 'and never reaches the handler')

  const text = serverConnection()
  text.conn.receiveFrame(Buffer.from('hello'), false)
  t.equal(text.socket.closed?.reason, 'MAKO_DECODE', 'a text frame is refused')

  const slow = serverConnection()
  slow.host.clock.advance(slow.host.limits.handshakeTimeout + 1)
  t.equal(slow.socket.closed?.reason, 'MAKO_HANDSHAKE_TIMEOUT', 'a silent peer is closed at the handshake deadline')

  const otherCluster = serverConnection()
  const badHello = encodeEnvelope([Tag.hello, 1, 'other', 'c', clientNonce, forgedProof, [65_536, 8]] as unknown as Envelope)
  otherCluster.conn.receiveFrame(encodeFrame([badHello], badHello.length), true)
  t.equal(otherCluster.socket.closed?.reason, 'MAKO_CLUSTER_MISMATCH', 'a peer of another cluster is refused')

  const future = serverConnection()
  const v9 = encodeEnvelope([Tag.hello, 9, 'test', 'c', clientNonce, forgedProof, [65_536, 8]] as unknown as Envelope)
  future.conn.receiveFrame(encodeFrame([v9], v9.length), true)
  t.equal(future.socket.closed?.reason, 'MAKO_VERSION', 'a hello with an unsupported version is refused')
})

// Valid frames to mutate: every sample, alone and in pairs.
function seedFrames (): Buffer[] {
  const frames: Buffer[] = []
  for (const [, envelope] of samples) {
    const bytes = encodeEnvelope(envelope)
    frames.push(encodeFrame([bytes], bytes.length))
  }
  const a = encodeEnvelope([Tag.message, { k: 1 }])
  const b = encodeEnvelope([Tag.request, 3, 100, 'x'])
  frames.push(encodeFrame([a, b, a], a.length * 2 + b.length))
  return frames
}

const interesting = [0x00, 0x01, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xc0, 0xc1, 0xc4, 0xc7, 0xcb, 0xd4, 0xd5, 0xd6, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff]

function mutate (rng: SeededRandom, frame: Buffer, others: Buffer[]): Buffer {
  let out = Buffer.from(frame)
  const rounds = 1 + rng.int(3)
  for (let r = 0; r < rounds; r++) {
    const at = out.length === 0 ? 0 : rng.int(out.length)
    switch (rng.int(8)) {
      case 0: if (out.length > 0) out[at] = (out[at] as number) ^ (1 << rng.int(8)); break
      case 1: if (out.length > 0) out[at] = rng.pick(interesting); break
      case 2: if (out.length > 0) out[at] = rng.int(256); break
      case 3: out = Buffer.concat([out.subarray(0, at), Buffer.from(Array.from({ length: 1 + rng.int(4) }, () => rng.pick(interesting))), out.subarray(at)]); break
      case 4: out = Buffer.concat([out.subarray(0, at), out.subarray(Math.min(out.length, at + 1 + rng.int(8)))]); break
      case 5: out = out.subarray(0, at); break
      case 6: out = Buffer.concat([out, rng.pick(others).subarray(1)]); break
      default: out = Buffer.concat([out, out.subarray(rng.int(Math.max(1, out.length)))])
    }
  }
  return out
}

function randomValue (rng: SeededRandom, depth: number): unknown {
  switch (rng.int(depth > 2 ? 6 : 9)) {
    case 0: return rng.int(12) - 2
    case 1: return rng.pick([-1, 0, 2 ** 53, 1.5, NaN, 2 ** 32, -(2 ** 40)])
    case 2: return rng.pick(['', 'MAKO_X', 'test', 'server', 'n1', 'x'.repeat(rng.int(70))])
    case 3: return rng.chance(0.5)
    case 4: return null
    case 5: return new Uint8Array(rng.pick([0, 3, 32, 33]))
    case 6: return { [rng.pick(['a', '__proto__', '0'])]: randomValue(rng, depth + 1) }
    default: {
      const tag = rng.int(10)
      return [tag, ...Array.from({ length: rng.int(8) }, () => randomValue(rng, depth + 1))]
    }
  }
}

const packr = new Packr({ useRecords: false })

function randomFrame (rng: SeededRandom, others: Buffer[]): Buffer {
  switch (rng.int(4)) {
    case 0: return Buffer.from(Array.from({ length: rng.int(48) }, () => rng.int(256)))
    case 1: return Buffer.concat([Buffer.from([1]), Buffer.from(Array.from({ length: rng.int(48) }, () => rng.pick(interesting)))])
    case 2: return Buffer.concat([Buffer.from([rng.chance(0.9) ? 1 : rng.int(4)]), packr.pack(randomValue(rng, 0))])
    default: return mutate(rng, rng.pick(others), others)
  }
}

t.test('the decoder survives random and mutated frames', async (t) => {
  const rng = new SeededRandom(seed, 'decoder')
  const frames = seedFrames()
  const outcomes: Record<string, number> = {}
  let bad = 0
  const count = 12_000
  for (let i = 0; i < count; i++) {
    const frame = i % 2 === 0 ? randomFrame(rng, frames) : mutate(rng, rng.pick(frames), frames)
    try {
      const envelopes = decodeFrame(frame, wireVersion, 64)
      for (const envelope of envelopes) validateEnvelope(envelope)
      outcomes['accepted'] = (outcomes['accepted'] ?? 0) + 1
    } catch (err) {
      if (err instanceof WireError && wireCodes.has(err.code)) {
        outcomes[err.code] = (outcomes[err.code] ?? 0) + 1
      } else {
        bad++
        if (bad < 5) t.fail(`frame ${frame.toString('hex')} threw ${String(err)} ${hint}`)
      }
    }
  }
  t.equal(bad, 0, `${count} frames: each accepted or refused with a wire code ${hint}`)
  t.ok((outcomes['accepted'] ?? 0) > 100 && (outcomes['MAKO_DECODE'] ?? 0) > 100 && (outcomes['MAKO_BAD_MESSAGE'] ?? 0) > 100,
    `a mix of outcomes: ${JSON.stringify(outcomes)}`)
})

t.test('connections in every state survive random and mutated frames', async (t) => {
  const rng = new SeededRandom(seed, 'dispatcher')
  const frames = seedFrames()
  const closes: Record<string, number> = {}
  let survived = 0
  let bad = 0
  const perState = 4000
  const states = ['server handshake', 'client handshake', 'open session'] as const
  for (const state of states) {
    let fresh = true
    let current = makeConnection(state)
    for (let i = 0; i < perState; i++) {
      if (!fresh && current.conn.state === 'closed') current = makeConnection(state)
      fresh = false
      const frame = rng.chance(0.5) ? randomFrame(rng, frames) : mutate(rng, rng.pick(frames), frames)
      try {
        current.conn.receiveFrame(frame, rng.chance(0.98))
      } catch (err) {
        bad++
        if (bad < 5) t.fail(`${state}: receiveFrame threw ${String(err)} on ${frame.toString('hex')} ${hint}`)
        continue
      }
      const closed = current.socket.closed
      if (current.conn.state === 'closed') {
        if (closed === undefined || closed.code < 4000 || closed.code > 4999 || !/^MAKO_[A-Z_]+$/.test(closed.reason)) {
          bad++
          if (bad < 5) t.fail(`${state}: closed without a MAKO close code: ${JSON.stringify(closed)} ${hint}`)
        } else {
          closes[closed.reason] = (closes[closed.reason] ?? 0) + 1
          if (current.host.detachedReasons.at(-1)?.code !== closed.reason) {
            bad++
            if (bad < 5) t.fail(`${state}: the close was not recorded with its reason ${hint}`)
          }
        }
      } else {
        survived++
      }
    }
  }
  t.equal(bad, 0, `${perState * states.length} frames: no exception escaped and every close had a 4xxx code and MAKO_* reason ${hint}`)
  t.ok(survived > 50, `some frames were valid and handled (${survived})`)
  t.ok(Object.keys(closes).length >= 5, `closes by reason: ${JSON.stringify(closes)}`)
})

function makeConnection (state: 'server handshake' | 'client handshake' | 'open session'): ReturnType<typeof serverConnection> {
  if (state === 'server handshake') return serverConnection()
  if (state === 'client handshake') {
    const pair = memoryPair()
    // Deliver nothing: the client waits for its challenge.
    return { conn: pair.client, socket: pair.clientSocket, host: pair.clientHost }
  }
  const pair = memoryPair()
  pair.pump()
  if (pair.server.state !== 'open') throw new Error('handshake failed')
  return { conn: pair.server, socket: pair.serverSocket, host: pair.serverHost }
}

t.test('a peer that breaks limits in a session is closed with a code', async (t) => {
  const pair = memoryPair()
  pair.pump()
  const host = pair.serverHost as FakeHost
  const response = encodeEnvelope([Tag.response, 12345, 'never asked'])
  pair.server.receiveFrame(encodeFrame([response], response.length), true)
  t.equal(pair.serverSocket.closed?.reason, 'MAKO_BAD_MESSAGE', 'a response to a request never sent closes the link')

  const again = memoryPair()
  again.pump()
  const hello = encodeEnvelope([Tag.hello, 1, 'test', 'client', nonce, proofBytes, [65_536, 8]] as unknown as Envelope)
  again.server.receiveFrame(encodeFrame([hello], hello.length), true)
  t.equal(again.serverSocket.closed?.reason, 'MAKO_BAD_MESSAGE', 'a second hello in a session closes the link')
  t.ok(host.detachedReasons.length >= 1, 'the close was reported to the transport')

  const flood = memoryPair()
  flood.pump()
  const message = encodeEnvelope([Tag.message, 1])
  const count = flood.serverHost.limits.maxMessagesPerFrame + 1
  flood.server.receiveFrame(encodeFrame(Array.from({ length: count }, () => message), message.length * count), true)
  t.equal(flood.serverSocket.closed?.reason, 'MAKO_LIMIT', 'more messages in a frame than allowed closes the link')
  t.equal(flood.serverHost.messages, 0, 'and none of them was handled')
})
