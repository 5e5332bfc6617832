// Speculative 2PC over Multi-Paxos shards in the deterministic simulator:
// bank transfers and list-append transactions across two shards of three
// replicas, with lossy links, partitions, node crashes (leaders among
// them) and coordinator crashes. See test/txn/sim-cluster.ts for what is
// checked. `npm run sim` runs many more seeds.
import t from 'tap'
import { runTxnSim, TxnSimFailure } from './txn/sim-cluster.js'
import { testSeed } from './transport/seed.js'

const base = testSeed() % 1_000_000_000
const seeds = Number(process.env['TXN_SEEDS'] ?? 4)

for (const workload of ['bank', 'list-append'] as const) {
  t.test(`${workload}: ${seeds} seeds with faults`, async (t) => {
    let committed = 0
    for (let i = 0; i < seeds; i++) {
      const seed = base + i
      try {
        const r = await runTxnSim({ seed, workload })
        committed += r.committed
        t.comment(JSON.stringify(r))
      } catch (err) {
        if (err instanceof TxnSimFailure) t.fail(`${err.message}\n${err.trace.slice(-40).join('\n')}`)
        else throw err
        return
      }
    }
    t.ok(committed > 0, `${committed} transactions committed`)
  })
}
