// abstract-level's compliance suite against MakoLevel in cluster mode: a
// cluster of three nodes, each hosting a replica of both shards (keys
// below 'm' on shard 0, the rest on shard 1), on the simulated network in
// this process, with every write a distributed transaction and reads at
// leaders or at consistent cuts. Each database the suite creates is its
// own key space (a prefix) in the one cluster.
import t from 'tap'
import { Simulator } from '../cluster/sim/index.js'
import { Channels } from '../cluster/transport/channels.js'
import { ClusterClient } from '../cluster/txn/client.js'
import { ClusterLevel } from '../adapters/level/cluster-level.js'
import { bootNode, simMap } from './txn/sim-cluster.js'
import { runComplianceSuite, type TapTest } from './compliance/tape-adapter.js'

const sim = new Simulator({ seed: 7 })
for (const id of simMap.nodes) sim.addNode(id, (env) => bootNode(env))
const clientNode = sim.addNode('app', (env) => {
  for (const m of simMap.nodes) env.transport.link(m as never)
  return new ClusterClient({ transport: new Channels(env.transport).channel('txn'), map: simMap, clock: env.clock, random: () => env.random.next() })
})
const stop = sim.runInBackground()
const client = clientNode.app
await client.start()

let n = 0
const stats = await runComplianceSuite(t as unknown as TapTest, (options) => new ClusterLevel({ ...options, client, prefix: `db${++n}/` }), 'MakoLevel in cluster mode (2 shards x 3 replicas, simulated network)')
t.equal(stats.failures, 0, `cluster mode: ${stats.tests} tests, ${stats.assertions} assertions, none failed`)
t.ok(stats.assertions > 3000, `the whole suite ran (${stats.assertions} assertions)`)
client.close()
await stop()
