// abstract-level's compliance suite against MakoLevel in cluster mode over
// real WebSocket links on loopback: a cluster of three nodes hosting two
// shards (keys below 'm' on shard 0), two of them ClusterNodes and the
// third an embedded peer (new MakoLevel({ peer })). The suite runs twice:
// through a remote client that knew only a URL and the secret
// (new MakoLevel({ connect, secret })), and through the embedded peer's own
// client. Each database the suite makes is a key space of its own.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClusterNode, parseConfig } from '../cluster/node/index.js'
import { MakoLevel } from '../adapters/level/mako-level.js'
import { ClusterLevel } from '../adapters/level/cluster-level.js'
import { freePort } from './paxos/cluster.js'
import { runComplianceSuite, type TapTest } from './compliance/tape-adapter.js'

const ids = ['n1', 'n2', 'n3']
const secret = 'remote-compliance-secret'
const nodes: Record<string, { url: string }> = {}
for (const id of ids) nodes[id] = { url: `ws://127.0.0.1:${await freePort()}` }
const config = parseConfig({ cluster: 'mako', secret, nodes, shards: [{ end: 'm', replicas: ids }, { start: 'm', replicas: ids }] })
const dir = mkdtempSync(join(tmpdir(), 'mako-remote-'))
const running: ClusterNode[] = []
for (const id of ['n1', 'n2']) running.push(await ClusterNode.start({ config, nodeId: id, dataDir: join(dir, id), sync: false, drainMs: 500 }))
const peer = new MakoLevel({ peer: { id: 'n3', config, dataDir: join(dir, 'n3'), sync: false } })
await peer.open()
const remote = new MakoLevel({ connect: [nodes['n1']!.url], secret })
await remote.open()
t.teardown(async () => {
  await remote.close()
  await peer.close()
  await Promise.all(running.map(async (n) => { await n.close() }))
  rmSync(dir, { recursive: true, force: true })
})

t.test('the cluster-mode forms of the constructor', async (t) => {
  t.ok(remote instanceof ClusterLevel, 'connect gives a cluster-mode database')
  t.ok(peer instanceof ClusterLevel, 'so does peer')
  t.ok((peer as unknown as ClusterLevel).node !== undefined, 'the peer runs its node in this process')
  await remote.put('hello', 'world')
  t.equal(await peer.get('hello'), 'world', 'a write through the remote client is read through the peer')
  t.equal(await peer.get('hello', { at: 'watermark' } as never), 'world', 'and at the watermark, from the peer\'s own replica')
  t.throws(() => new MakoLevel({ connect: ['ws://127.0.0.1:1'] }), { code: 'LEVEL_INVALID_VALUE' }, 'connect without the secret is refused')
  const wrong = new MakoLevel({ connect: [nodes['n1']!.url], secret: 'not-the-secret-at-all' })
  await t.rejects(wrong.open(), { code: 'LEVEL_DATABASE_NOT_OPEN' }, 'a wrong secret fails the open')
})

let n = 0
for (const [name, db] of [['remote client (URL and secret)', remote], ['embedded peer', peer]] as const) {
  const client = (db as unknown as ClusterLevel).client
  const stats = await runComplianceSuite(t as unknown as TapTest, (options) => new MakoLevel({ ...options, client, prefix: `c${++n}/` }), `MakoLevel in cluster mode, ${name}, over WebSocket`)
  t.equal(stats.failures, 0, `${name}: ${stats.tests} tests, ${stats.assertions} assertions, none failed`)
  t.ok(stats.assertions > 3000, `${name}: the whole suite ran`)
}
