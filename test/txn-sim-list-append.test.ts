// Speculative (and, one seed in ten, classic) 2PC over Multi-Paxos shards in
// the deterministic simulator: the list-append workload across two shards of three
// replicas with lossy links, partitions, node crashes (leaders among them)
// and coordinator crashes. See test/txn/sim-cluster.ts for every check;
// `npm run sim` runs 10,000 seeds.
import t from 'tap'
import { runSeeds } from './txn/sim-seeds.js'

await runSeeds(t, 'list-append', 150, 'txn-sim-list-append.test.js')
