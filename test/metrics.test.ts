// Prometheus metrics: the text format (escaping, histograms, type
// conflicts) and a node's samples served over HTTP after real
// transactions on the simulated cluster.
import t from 'tap'
import { MetricsBuilder, collectNode, serveMetrics } from '../cluster/metrics/index.js'
import { Simulator } from '../cluster/sim/index.js'
import { Channels } from '../cluster/transport/channels.js'
import { ClusterClient } from '../cluster/txn/client.js'
import type { Hosted } from '../cluster/txn/host.js'
import { bootNode, simMap } from './txn/sim-cluster.js'

const enc = new TextEncoder()

t.test('text format', async (t) => {
  const m = new MetricsBuilder()
  m.counter('x_total', 'A count.', 3, { peer: 'a"b\\c\nd' })
  m.gauge('y', 'A gauge\nwith a newline.', 1.5)
  m.histogram('lat_seconds', 'Latency.', [0.1, 1], [2, 3, 1], 4.5, { node: 'n1' })
  const text = m.render()
  t.match(text, /# TYPE x_total counter\nx_total\{peer="a\\"b\\\\c\\nd"\} 3\n/, 'label values escaped')
  t.match(text, /# HELP y A gauge\\nwith a newline\.\n/, 'help escaped')
  t.match(text, /lat_seconds_bucket\{node="n1",le="0.1"\} 2\nlat_seconds_bucket\{node="n1",le="1"\} 5\nlat_seconds_bucket\{node="n1",le="\+Inf"\} 6\nlat_seconds_sum\{node="n1"\} 4.5\nlat_seconds_count\{node="n1"\} 6\n/, 'histogram buckets are cumulative')
  t.throws(() => m.gauge('x_total', 'again', 1), { code: 'MAKO_INVALID_ARGUMENT' }, 'one name, one type')
  t.throws(() => m.gauge('bad name', 'x', 1), { code: 'MAKO_INVALID_ARGUMENT' })
})

t.test('a node serves its samples over HTTP', async (t) => {
  const sim = new Simulator({ seed: 3 })
  for (const id of simMap.nodes) sim.addNode(id, (env) => bootNode(env))
  const app = sim.addNode('app', (env) => {
    for (const n of simMap.nodes) env.transport.link(n as never)
    return new ClusterClient({ transport: new Channels(env.transport).channel('txn'), map: simMap, clock: env.clock })
  })
  const stop = sim.runInBackground()
  t.teardown(stop)
  const client = app.app
  await client.start()
  for (let i = 0; i < 5; i++) await client.transaction(async (tx) => { tx.put(enc.encode(`a${i}`), enc.encode('1')); tx.put(enc.encode(`x${i}`), enc.encode('1')) })
  const hosted = await sim.node<Promise<Hosted>>('n1').app
  const server = await serveMetrics({
    port: 0,
    collect: (m) => collectNode(m, { node: 'n1', shards: () => hosted.service.shards.map((s) => s.status()), transport: sim.node('n1').transport!, client: () => client.stats() })
  })
  t.teardown(async () => { await server.close() })
  const res = await fetch(server.url)
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type') ?? '', /text\/plain; version=0.0.4/)
  const body = await res.text()
  t.match(body, /mako_shard_watermark\{node="n1",shard="0"\} \d+/, 'watermark per shard')
  t.match(body, /mako_paxos_commit_index\{node="n1",shard="1"\} [1-9]/, 'Paxos slots')
  t.match(body, /mako_txn_commits_total\{node="n1"\} 5/, 'commits counted')
  t.match(body, /mako_txn_commit_seconds_count\{node="n1"\} 5/, 'latency histogram')
  t.match(body, /mako_link_up\{node="n1",peer="n2"\} 1/, 'links')
  t.equal((await fetch(server.url.replace('/metrics', '/other'))).status, 404, 'only /metrics')

  // A transaction whose read changed before it committed is refused, and
  // the leader of that shard counts it by reason.
  const tx = client.begin()
  await tx.get(enc.encode('a0'))
  await client.transaction(async (other) => { other.put(enc.encode('a0'), enc.encode('2')) })
  tx.put(enc.encode('a0'), enc.encode('3'))
  await t.rejects(tx.commit(), { code: 'MAKO_TXN_CONFLICT' }, 'the stale read is refused')
  let leader: string | undefined
  let statuses: Array<ReturnType<Hosted['service']['shards'][number]['status']>> = []
  for (const n of simMap.nodes) {
    const h = await sim.node<Promise<Hosted>>(n).app
    if (h.shards.get(0)?.serving === true) {
      leader = n
      statuses = h.service.shards.map((s) => s.status())
    }
  }
  t.ok(leader !== undefined, `shard 0 is led by ${String(leader)}`)
  const mb = new MetricsBuilder()
  collectNode(mb, { node: leader!, shards: () => statuses })
  t.match(mb.render(), new RegExp(`mako_shard_aborts_total\\{node="${leader!}",shard="0",reason="read-changed"\\} 1\n`), 'aborts by reason')
  client.close()
})
