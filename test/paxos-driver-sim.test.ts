// The real driver (PaxosNode, PaxosClient, codec, storage order) on the
// deterministic simulator of cluster/sim: simulated WebSocket sessions and
// a disk that keeps only synced data, with a random network (loss up to
// 30%, duplication, reordering), crashes and restarts of one replica at a
// time (often the leader) and partitions. Then the faults heal: the shard
// must converge and the clients' history must be linearizable.
import t from 'tap'
import { Simulator, SeededRandom, randomNetwork } from '../cluster/sim/index.js'
import type { NodeEnv } from '../cluster/sim/index.js'
import { PaxosClient, PaxosNode } from '../cluster/paxos/index.js'
import type { PaxosResponse } from '../cluster/paxos/index.js'
import { checkLinearizable, kvModel } from '../cluster/check/index.js'
import type { KvInput, KvOperation, KvOutput } from '../cluster/check/index.js'
import { SimDiskStorage } from './paxos/sim-storage.js'
import { testSeed } from './transport/seed.js'

const base = testSeed() % 1_000_000_000
const SEEDS = 12
const enc = new TextEncoder()
const dec = new TextDecoder()
const members = ['r1', 'r2', 'r3']

async function runSeed (seed: number): Promise<{ ops: number, crashes: number }> {
  const netR = new SeededRandom(seed, 'driver-sim-net')
  const sim = new Simulator({ seed, network: { ...randomNetwork(netR), partitionsBreakLinks: netR.chance(0.5) } })
  const boot = (env: NodeEnv): PaxosNode => {
    for (const m of members) if (m !== env.id) env.transport.link(m as never)
    return PaxosNode.start({
      transport: env.transport, members, storage: new SimDiskStorage(env.disk), clock: env.clock,
      random: () => env.random.next(), tickMs: 10
    })
  }
  for (const id of members) sim.addNode(id, boot)
  const clientNode = sim.addNode('client', (env) => env)
  const cenv = clientNode.app
  const random = sim.random('workload')
  const history: KvOperation[] = []
  let stop = false
  let crashes = 0
  const worker = async (c: number): Promise<void> => {
    const client = new PaxosClient({ transport: cenv.transport, replicas: members, clientId: `c${c}`, clock: cenv.clock, attemptTimeout: 300, timeout: 3000 })
    let n = 0
    while (!stop) {
      const key = `k${random.int(3)}`
      const roll = random.next()
      const value = `v${c}.${++n}`
      const input: KvInput = roll < 0.4 ? { f: 'read', key } : roll < 0.8 ? { f: 'write', key, value } : { f: 'cas', key, expect: null, value }
      const call = sim.now
      let output: KvOutput | undefined
      try {
        if (input.f === 'read') {
          const v = await client.get(enc.encode(key))
          output = { value: v === null ? null : dec.decode(v) }
        } else if (input.f === 'write') {
          await client.submit({ t: 'put', k: enc.encode(key), v: enc.encode(input.value) })
          output = { ok: true }
        } else {
          const r = await client.submit({ t: 'cas', k: enc.encode(key), expect: null, v: enc.encode(input.value) })
          output = { ok: r.ok }
        }
      } catch {
        output = undefined
      }
      history.push({ client: c, input, output, call, ret: output === undefined ? Infinity : sim.now })
    }
  }
  const stopSim = sim.runInBackground()
  const workers = [0, 1, 2].map(async (c) => { await worker(c) })
  // Faults: a crash (often the leader), a partition, a restart, for 3 virtual seconds.
  const faultR = sim.random('faults')
  const wait = (ms: number): Promise<void> => new Promise((resolve) => { cenv.clock.setTimer(ms, resolve) })
  let down: string | undefined
  for (let i = 0; i < 12; i++) {
    await wait(100 + faultR.int(200))
    const roll = faultR.next()
    if (down === undefined && roll < 0.4) {
      const leader = members.find((m) => sim.node<PaxosNode>(m).alive && sim.node<PaxosNode>(m).app.status().role === 'leader')
      down = leader !== undefined && faultR.chance(0.7) ? leader : faultR.pick(members)
      sim.crash(down)
      crashes++
    } else if (down !== undefined && roll < 0.7) {
      sim.restart(down)
      down = undefined
    } else if (roll < 0.85) {
      sim.partition(faultR.pick(members), undefined, { oneWay: faultR.chance(0.5) })
    } else {
      sim.heal()
    }
  }
  sim.heal()
  sim.setNetwork({ drop: 0, duplicate: 0 })
  if (down !== undefined) sim.restart(down)
  await wait(1500)
  stop = true
  await Promise.all(workers)
  // Converge.
  let ok = false
  for (let i = 0; i < 200 && !ok; i++) {
    await wait(20)
    const st = members.map((m) => sim.node<PaxosNode>(m).app.status())
    ok = st.every((s) => s.applied === st[0]!.applied && s.stateHash === st[0]!.stateHash) && st.some((s) => s.serving)
  }
  const statuses = await Promise.all(members.map(async (m) => {
    try { return await cenv.transport.request(m as never, { c: 'status' }, { timeout: 1000 }) as PaxosResponse } catch { return undefined }
  }))
  await stopSim()
  if (!ok) throw new Error(`seed ${seed}: replicas did not converge: ${JSON.stringify(statuses)}`)
  const res = checkLinearizable(kvModel, history)
  if (res.result !== 'ok') throw new Error(`seed ${seed}: history ${res.result}: ${res.detail ?? ''}`)
  return { ops: history.filter((op) => op.output !== undefined).length, crashes }
}

t.test(`the driver under the simulator: ${SEEDS} seeds`, { timeout: 120_000 }, async (t) => {
  let ops = 0
  let crashes = 0
  for (let seed = base; seed < base + SEEDS; seed++) {
    const r = await runSeed(seed)
    ops += r.ops
    crashes += r.crashes
  }
  t.ok(ops > SEEDS * 10, `${ops} operations answered, ${crashes} crashes, seeds ${base}..${base + SEEDS - 1} (replay: SEED=${base})`)
})
