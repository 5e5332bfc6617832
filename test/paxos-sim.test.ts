// Seeded simulation of a Paxos shard: 500 seeds per run of npm test, each
// with random faults (see test/sim/paxos-sim.ts); `npm run sim` runs 20,000.
// SEED=<n> replays a run of 500 seeds starting at n.
import t from 'tap'
import { runPaxosSim, SimFailure } from './sim/paxos-sim.js'
import { testSeed } from './transport/seed.js'

const base = testSeed() % 1_000_000_000

t.test('500 seeds with random faults: safety after every step, liveness and linearizability at the end', async (t) => {
  const failures: string[] = []
  const sizes = new Map<number, number>()
  let ops = 0
  let crashes = 0
  let elections = 0
  let maxLiveness = 0
  for (let seed = base; seed < base + 500; seed++) {
    try {
      const r = runPaxosSim({ seed, diskLoss: true })
      sizes.set(r.nodes, (sizes.get(r.nodes) ?? 0) + 1)
      ops += r.ops
      crashes += r.crashes
      elections += r.elections
      maxLiveness = Math.max(maxLiveness, r.livenessTicks)
    } catch (err) {
      if (!(err instanceof SimFailure)) throw err
      failures.push(`${err.message}\n${err.trace.slice(-40).join('\n')}\nreplay: SEED=${seed} or node dist/test/sim/run-sim.js --only paxos --from ${seed} --seeds 1`)
      if (failures.length >= 3) break
    }
  }
  t.same(failures, [], `seeds ${base}..${base + 499} (replay with SEED=${base} npx tap dist/test/paxos-sim.test.js)`)
  t.ok((sizes.get(1) ?? 0) > 0 && (sizes.get(3) ?? 0) > 0 && (sizes.get(5) ?? 0) > 0, `shards of 1, 3 and 5 replicas ran: ${JSON.stringify([...sizes])}`)
  t.ok(ops > 500 * 20, `clients completed ${ops} operations`)
  t.ok(crashes > 500, `${crashes} crashes injected, ${elections} leaders elected, liveness took at most ${maxLiveness} ticks`)
})

t.test('a seed replays exactly', async (t) => {
  const a = runPaxosSim({ seed: base + 7, diskLoss: true })
  const b = runPaxosSim({ seed: base + 7, diskLoss: true })
  t.same(a, b)
})

t.test('each size with disk loss and leases forced on and off', async (t) => {
  for (const nodes of [1, 3, 5]) {
    for (const lease of [false, true]) {
      for (let i = 0; i < 5; i++) {
        const seed = base + 1000 + nodes * 10 + i
        t.doesNotThrow(() => runPaxosSim({ seed, nodes, lease, diskLoss: true }), `nodes ${nodes} lease ${String(lease)} seed ${seed}`)
      }
    }
  }
})
