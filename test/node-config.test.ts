// The cluster configuration file: what a valid one resolves to, and each
// mistake refused with MAKO_INVALID_CONFIG, naming the field at fault.
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, configNode, loadConfig, maxConfigBytes, parseConfig } from '../cluster/node/config.js'

const enc = new TextEncoder()
const secret = 'a-secret-of-enough-length'

/** A valid configuration; each case below changes one thing. */
function base (): Record<string, unknown> {
  return {
    cluster: 'demo',
    secret,
    nodes: {
      n1: { url: 'ws://127.0.0.1:7001' },
      n2: { url: 'ws://127.0.0.1:7002' },
      n3: { url: 'ws://127.0.0.1:7003' }
    },
    shards: [
      { end: 'm', replicas: ['n1', 'n2', 'n3'] },
      { start: 'm', replicas: ['n1', 'n2', 'n3'] }
    ]
  }
}

function withField (path: Array<string | number>, value: unknown): Record<string, unknown> {
  const json = base()
  let obj = json as Record<string | number, unknown>
  for (const key of path.slice(0, -1)) obj = obj[key] as Record<string | number, unknown>
  const last = path[path.length - 1]!
  if (value === undefined) delete obj[last]
  else obj[last] = value
  return json
}

t.test('a valid configuration resolves, frozen, with its defaults', async (t) => {
  const config = parseConfig(base())
  t.equal(config.cluster, 'demo')
  t.equal(config.secret, secret)
  t.strictSame(config.nodeIds, ['n1', 'n2', 'n3'])
  t.strictSame({ ...config.nodes['n2'] }, { id: 'n2', url: 'ws://127.0.0.1:7002', host: '127.0.0.1', port: 7002 })
  t.equal(config.commit, 'speculative')
  t.strictSame({ ...config.delays }, {})
  t.equal(config.tickMs, undefined)
  t.equal(config.markMs, undefined)
  t.equal(config.map.size, 2)
  t.equal(config.map.shardOf(enc.encode('a')), 0)
  t.equal(config.map.shardOf(enc.encode('m')), 1)
  t.equal(config.map.shardOf(enc.encode('zz')), 1)
  t.strictSame(config.map.nodes, ['n1', 'n2', 'n3'])
  t.ok(Object.isFrozen(config) && Object.isFrozen(config.nodes) && Object.isFrozen(config.nodes['n1']) && Object.isFrozen(config.shards) &&
    Object.isFrozen(config.shards[0]) && Object.isFrozen(config.shards[0]!.replicas) && Object.isFrozen(config.delays), 'frozen all the way down')
  t.equal(configNode(config, 'n3').port, 7003)
  t.throws(() => configNode(config, 'n9'), { code: 'MAKO_INVALID_CONFIG', field: 'nodes', message: /no node "n9" in the configuration \(nodes: n1, n2, n3\)/ })
  t.throws(() => configNode(config, 'toString'), { code: 'MAKO_INVALID_CONFIG' }, 'an inherited property is not a node')
})

t.test('every optional field', async (t) => {
  const json = {
    ...base(),
    nodes: {
      a: { url: 'ws://[::1]:7001/' },
      b: { url: 'ws://localhost:7001' },
      c: { url: 'ws://127.0.0.1:7001/peers' },
      d: { url: 'ws://127.0.0.1:7002' },
      e: { url: 'ws://127.0.0.1:7003' }
    },
    shards: [
      { end: 'g', replicas: ['a'] },
      { start: 'm', end: 'ñ', replicas: ['a', 'b', 'c', 'd', 'e'] },
      { start: 'ñ', replicas: ['c', 'd', 'e'] }
    ],
    commit: 'classic',
    delays: { a: { b: 10, c: 0 }, e: { a: 2.5 } },
    tickMs: 5,
    markMs: 2
  }
  const config = parseConfig(json)
  t.equal(config.nodes['a']!.host, '::1', 'IPv6 brackets are stripped for listening')
  t.equal(config.nodes['a']!.url, 'ws://[::1]:7001/', 'the url is kept as written')
  t.equal(config.commit, 'classic')
  t.strictSame({ ...config.delays['a'] }, { b: 10, c: 0 })
  t.equal(config.delays['e']!['a'], 2.5)
  t.equal(config.delays['b'], undefined)
  t.equal(config.tickMs, 5)
  t.equal(config.markMs, 2)
  t.equal(config.map.shardOf(enc.encode('b')), 0)
  t.throws(() => config.map.shardOf(enc.encode('h')), { code: 'MAKO_NO_SHARD' }, 'a gap between shards is allowed; its keys belong to nobody')
  t.equal(config.map.shardOf(enc.encode('n')), 1)
  t.equal(config.map.shardOf(enc.encode('ñ')), 2, 'boundaries are UTF-8 keys')
  t.strictSame(config.shards[0], { end: 'g', replicas: ['a'] }, 'one replica is allowed (no replication)')
})

// [what, the configuration, the field at fault, what the message says]
const refused: Array<[string, unknown, string, RegExp]> = [
  ['not an object', [], '', /must be a JSON object/],
  ['an unknown field', { ...base(), shard: [] }, 'shard', /unknown field \(known fields: cluster, secret, nodes, shards/],
  ['no cluster id', withField(['cluster'], undefined), 'cluster', /missing/],
  ['a bad cluster id', withField(['cluster'], 'my cluster'), 'cluster', /"my cluster" is not a valid cluster id/],
  ['no secret', withField(['secret'], undefined), 'secret', /missing: every node and client proves it knows this shared secret \(at least 16 bytes\)/],
  ['an empty secret', withField(['secret'], ''), 'secret', /missing/],
  ['a short secret', withField(['secret'], 'short'), 'secret', /too short: at least 16 bytes/],
  ['a secret that is not a string', withField(['secret'], 1234567890123456789), 'secret', /must be a string/],
  ['no nodes', withField(['nodes'], undefined), 'nodes', /missing/],
  ['nodes as an array', withField(['nodes'], ['n1']), 'nodes', /must be an object/],
  ['no node at all', withField(['nodes'], {}), 'nodes', /names no node/],
  ['a bad node id', withField(['nodes', 'n 4'], { url: 'ws://127.0.0.1:7004' }), 'nodes["n 4"]', /"n 4" is not a valid node id/],
  ['a node id __proto__', JSON.parse('{"cluster":"c","secret":"a-secret-of-enough-length","nodes":{"__proto__":{"url":"ws://h:1"}},"shards":[{"replicas":["__proto__"]}]}'), 'nodes.__proto__', /not a valid node id/],
  ['a node that is not an object', withField(['nodes', 'n1'], 'ws://127.0.0.1:7001'), 'nodes.n1', /must be an object/],
  ['an unknown field of a node', withField(['nodes', 'n1', 'port'], 7001), 'nodes.n1.port', /unknown field \(known fields of nodes.n1: url\)/],
  ['a missing url', withField(['nodes', 'n2', 'url'], undefined), 'nodes.n2.url', /missing/],
  ['a bad url', withField(['nodes', 'n2', 'url'], 'not a url'), 'nodes.n2.url', /"not a url" is not a URL/],
  ['an http url', withField(['nodes', 'n2', 'url'], 'http://127.0.0.1:7002'), 'nodes.n2.url', /must be a ws:\/\/ URL/],
  ['a wss url', withField(['nodes', 'n2', 'url'], 'wss://127.0.0.1:7002'), 'nodes.n2.url', /wss: needs TLS certificates/],
  ['a url without a port', withField(['nodes', 'n2', 'url'], 'ws://127.0.0.1'), 'nodes.n2.url', /has no port/],
  ['a url with port 0', withField(['nodes', 'n2', 'url'], 'ws://127.0.0.1:0'), 'nodes.n2.url', /bad port/],
  ['a url with credentials', withField(['nodes', 'n2', 'url'], 'ws://u:p@127.0.0.1:7002'), 'nodes.n2.url', /must not hold credentials/],
  ['a url with a query', withField(['nodes', 'n2', 'url'], 'ws://127.0.0.1:7002/?x=1'), 'nodes.n2.url', /query or a fragment/],
  ['a duplicate url', withField(['nodes', 'n3', 'url'], 'ws://127.0.0.1:7001/'), 'nodes.n3.url', /is the address of node n1 too/],
  ['one address spelled twice', { ...base(), nodes: { n1: { url: 'ws://127.0.0.1:7001' }, n2: { url: 'ws://localhost:7003' }, n3: { url: 'ws://LocalHost:7003/x' } } }, 'nodes.n3.url', /is the address of node n2 too/],
  ['no shards', withField(['shards'], undefined), 'shards', /missing/],
  ['shards as an object', withField(['shards'], { replicas: ['n1'] }), 'shards', /must be an array/],
  ['no shard at all', withField(['shards'], []), 'shards', /names no shard/],
  ['a shard that is not an object', withField(['shards', 1], ['n1']), 'shards[1]', /must be an object/],
  ['an unknown field of a shard', withField(['shards', 0, 'replica'], ['n1']), 'shards[0].replica', /unknown field/],
  ['an empty start', withField(['shards', 1, 'start'], ''), 'shards[1].start', /non-empty string/],
  ['a start that is not a string', withField(['shards', 1, 'start'], 5), 'shards[1].start', /non-empty string/],
  ['start not below end', withField(['shards', 0, 'start'], 'z'), 'shards[0]', /start "z" must be below end "m"/],
  ['overlapping shards', withField(['shards', 1, 'start'], 'k'), 'shards[1].start', /"k" is below the end of shards\[0\] \(shards must be in key order, without overlap\)/],
  ['shards out of order', withField(['shards'], [{ start: 'm', replicas: ['n1'] }, { end: 'm', replicas: ['n1'] }]), 'shards[1]', /overlaps shards\[0\], which runs to the end of the key space/],
  ['two shards from the start', withField(['shards', 1, 'start'], undefined), 'shards[1].start', /shards\[0\] already owns the start of the key space/],
  ['no replicas', withField(['shards', 0, 'replicas'], undefined), 'shards[0].replicas', /missing/],
  ['replicas not an array', withField(['shards', 0, 'replicas'], 'n1'), 'shards[0].replicas', /must be an array of node ids/],
  ['zero replicas', withField(['shards', 0, 'replicas'], []), 'shards[0].replicas', /at least one replica/],
  ['two replicas', withField(['shards', 1, 'replicas'], ['n1', 'n2']), 'shards[1].replicas', /2 replicas cannot form a majority that survives a failure/],
  ['four replicas', { ...withField(['nodes', 'n4'], { url: 'ws://127.0.0.1:7004' }), shards: [{ replicas: ['n1', 'n2', 'n3', 'n4'] }] }, 'shards[0].replicas', /4 replicas survive no more failures than 3 do \(a majority of 4 is 3\); use an odd count/],
  ['an unknown replica', withField(['shards', 1, 'replicas'], ['n1', 'n2', 'n9']), 'shards[1].replicas[2]', /unknown node "n9" \(nodes: n1, n2, n3\)/],
  ['a replica named twice', withField(['shards', 1, 'replicas'], ['n1', 'n2', 'n1']), 'shards[1].replicas[2]', /names node n1 twice/],
  ['a replica that is not a string', withField(['shards', 1, 'replicas'], ['n1', 2, 'n3']), 'shards[1].replicas[1]', /2 is not a node id/],
  ['a bad commit mode', { ...base(), commit: 'fast' }, 'commit', /"fast" must be "speculative" or "classic"/],
  ['delays as an array', { ...base(), delays: [] }, 'delays', /must be an object/],
  ['a delay from an unknown node', { ...base(), delays: { n9: { n1: 1 } } }, 'delays.n9', /unknown node "n9"/],
  ['a delay row that is not an object', { ...base(), delays: { n1: 5 } }, 'delays.n1', /must be an object/],
  ['a delay to an unknown node', { ...base(), delays: { n1: { n9: 1 } } }, 'delays.n1.n9', /unknown node "n9"/],
  ['a delay to itself', { ...base(), delays: { n1: { n1: 1 } } }, 'delays.n1.n1', /does not send to itself/],
  ['a negative delay', { ...base(), delays: { n1: { n2: -1 } } }, 'delays.n1.n2', /from 0 to 10000/],
  ['a delay too long', { ...base(), delays: { n1: { n2: 10_001 } } }, 'delays.n1.n2', /from 0 to 10000/],
  ['a delay that is not a number', { ...base(), delays: { n1: { n2: '5' } } }, 'delays.n1.n2', /milliseconds/],
  ['tickMs 0', { ...base(), tickMs: 0 }, 'tickMs', /whole number of milliseconds from 1 to 1000/],
  ['tickMs fractional', { ...base(), tickMs: 1.5 }, 'tickMs', /whole number/],
  ['markMs too large', { ...base(), markMs: 5000 }, 'markMs', /from 1 to 1000/]
]

t.test('mistakes are refused, naming the field', async (t) => {
  for (const [what, json, field, message] of refused) {
    let err: unknown
    try {
      parseConfig(json)
    } catch (e) {
      err = e
    }
    t.ok(err instanceof ConfigError, `${what}: refused`)
    if (!(err instanceof ConfigError)) continue
    t.equal(err.code, 'MAKO_INVALID_CONFIG', `${what}: code`)
    t.equal(err.field, field, `${what}: field`)
    t.match(err.message, message, `${what}: message`)
    t.ok(field === '' || err.message.startsWith(`${field}: `), `${what}: the message starts with the field`)
    t.notOk(err.message.includes(secret), `${what}: the secret is never quoted`)
  }
})

t.test('loadConfig reads a file and says which', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mako-config-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const good = join(dir, 'good.json')
  writeFileSync(good, JSON.stringify(base(), null, 2))
  const config = await loadConfig(good)
  t.equal(config.map.size, 2)

  const bad = join(dir, 'bad.json')
  writeFileSync(bad, JSON.stringify(withField(['shards', 1, 'replicas'], ['n1', 'n2'])))
  await t.rejects(loadConfig(bad), { code: 'MAKO_INVALID_CONFIG', field: 'shards[1].replicas', message: new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: shards\\[1\\]\\.replicas: 2 replicas cannot form a majority`) })

  const notJson = join(dir, 'not.json')
  writeFileSync(notJson, '{ "cluster": ')
  await t.rejects(loadConfig(notJson), { code: 'MAKO_INVALID_CONFIG', field: '', message: /not\.json: not valid JSON/ })

  await t.rejects(loadConfig(join(dir, 'missing.json')), { code: 'MAKO_IO_ERROR', message: /missing\.json: cannot read the configuration: no such file/ })

  const huge = join(dir, 'huge.json')
  writeFileSync(huge, ' '.repeat(maxConfigBytes + 1))
  await t.rejects(loadConfig(huge), { code: 'MAKO_INVALID_CONFIG', message: /larger than 1048576 bytes/ })
})
