/**
 * A seeded simulation of a whole cluster: three nodes, each hosting a
 * replica of both shards (real PaxosNode drivers, TxnMachine, TxnShard and
 * TxnService on the simulated network and disks), clients running a bank
 * or list-append workload as cross-shard transactions, and faults: lossy
 * and reordering links, partitions, crash and restart of nodes (leaders
 * among them, at any point of 2PC and replication), and coordinators that
 * die mid-commit.
 *
 * Checked: every read a client got back as final satisfies the workload's
 * invariant (bank: the total never changes, no balance is negative, in
 * transactions and in reads at the watermark); the list-append history is
 * strict serializable (our Elle-style checker); after the faults heal,
 * every shard serves again, no lock or prepared transaction is left, and
 * a final read agrees with the invariant.
 *
 * @module
 * @internal
 */

import { Simulator, SeededRandom } from '../../cluster/sim/index.js'
import type { NodeEnv, SimNode } from '../../cluster/sim/index.js'
import { Channels } from '../../cluster/transport/channels.js'
import { hostShards } from '../../cluster/txn/host.js'
import type { Hosted } from '../../cluster/txn/host.js'
import { ClusterClient } from '../../cluster/txn/client.js'
import { ShardMap } from '../../cluster/txn/shard-map.js'
import { MakoError } from '../../lib/errors.js'
import { checkListAppend } from '../../cluster/check/index.js'
import type { ListAppendMicroOp, ListAppendTxn } from '../../cluster/check/index.js'
import { SimDiskStorage } from '../paxos/sim-storage.js'

/** Options of one run. @internal */
export interface TxnSimOptions {
  /** The seed. */
  seed: number
  /** The workload. */
  workload: 'bank' | 'list-append'
  /** Inject faults. Default true. */
  faults?: boolean
  /** Classic 2PC instead of speculative. Default false. */
  classic?: boolean
  /** Virtual milliseconds of workload (with faults). Default 3000. */
  durationMs?: number
  /** Clients. Default 3. */
  clients?: number
}

/** What a run did. @internal */
export interface TxnSimResult {
  seed: number
  committed: number
  failed: number
  unknown: number
  rolledBack: number
  reads: number
  crashes: number
  clientCrashes: number
  events: number
}

const enc = new TextEncoder()
const dec = new TextDecoder()
const nodes = ['n1', 'n2', 'n3']
const bankKeys = ['b0', 'b1', 'b2', 'b3', 'x0', 'x1', 'x2', 'x3']
const listKeys = ['b0', 'b1', 'x0', 'x1']
const failCodes = new Set(['MAKO_TXN_CONFLICT', 'MAKO_STALE_EPOCH', 'MAKO_TXN_TOO_OLD', 'MAKO_TRANSACTION_ROLLED_BACK'])

/** The shard map of the simulated cluster: keys below 'm' on shard 0, the rest on shard 1. @internal */
export const simMap = new ShardMap([{ end: 'm', replicas: nodes }, { start: 'm', replicas: nodes }])

/**
 * Boots a node of the simulated cluster.
 *
 * @param env The node's environment.
 * @param classic Classic 2PC.
 * @internal
 */
export function bootNode (env: NodeEnv, classic = false): Promise<Hosted> {
  for (const m of nodes) if (m !== env.id) env.transport.link(m as never)
  const channels = new Channels(env.transport)
  return hostShards({
    nodeId: env.id,
    channel: (name) => channels.channel(name),
    map: simMap,
    storage: (s) => new SimDiskStorage(env.disk, `p${s}.log`),
    clock: env.clock,
    random: () => env.random.next(),
    classic,
    tickMs: 10,
    markMs: 2,
    retainMs: 1000,
    inDoubtMs: 1000
  })
}

interface ClientApp { env: NodeEnv, client: ClusterClient }

/**
 * Boots a client node.
 *
 * @param env The node's environment.
 * @internal
 */
export function bootClient (env: NodeEnv): ClientApp {
  for (const m of nodes) env.transport.link(m as never)
  const channels = new Channels(env.transport)
  const client = new ClusterClient({
    transport: channels.channel('txn'), map: simMap, clock: env.clock, random: () => env.random.next(),
    id: `${env.id}.${env.incarnation}`, timeout: 3000, attemptTimeout: 300, finalTimeout: 4000
  })
  void client.start()
  return { env, client }
}

/**
 * A simulated cluster (three nodes, the two shards of {@link simMap}) and
 * one started client on node `app`, running in the background: what the
 * step-by-step tests begin with. Stop it with `stop` (a tap teardown).
 *
 * @param seed The simulator's seed.
 * @internal
 */
export async function simClientCluster (seed: number): Promise<{ sim: Simulator, client: ClusterClient, stop: () => void }> {
  const sim = new Simulator({ seed })
  for (const id of nodes) sim.addNode(id, (env) => bootNode(env))
  const app = sim.addNode('app', (env) => {
    for (const m of nodes) env.transport.link(m as never)
    return new ClusterClient({ transport: new Channels(env.transport).channel('txn'), map: simMap, clock: env.clock, random: () => env.random.next(), timeout: 2000, attemptTimeout: 200 })
  })
  const stop = sim.runInBackground()
  await app.app.start()
  return { sim, client: app.app, stop }
}

/** A failed run. @internal */
export class TxnSimFailure extends Error {
  constructor (readonly seed: number, message: string, readonly trace: string[]) {
    super(`seed ${seed}: ${message}`)
  }
}

/**
 * Runs one seeded simulation. Throws {@link TxnSimFailure} when a check fails.
 *
 * @param options Seed, workload and knobs.
 * @internal
 */
export async function runTxnSim (options: TxnSimOptions): Promise<TxnSimResult> {
  const { seed, workload } = options
  const faults = options.faults ?? true
  const netR = new SeededRandom(seed, 'txn-sim-net')
  // WebSocket-like links (in order, no duplicates), sometimes lossy and
  // slow; the Paxos simulations cover the harsher VOPR-style networks.
  const sim = new Simulator({
    seed,
    network: faults
      ? { drop: netR.chance(0.3) ? netR.range(0, 0.05) : 0, delay: { mean: netR.range(0.5, 5), min: 0.1 }, fifo: true, partitionsBreakLinks: netR.chance(0.5) }
      : {}
  })
  const fail = (why: string): never => { throw new TxnSimFailure(seed, `${why}. ${sim.replayHint()}`, sim.traceTail()) }
  for (const id of nodes) sim.addNode(id, (env) => bootNode(env, options.classic ?? false))
  const clientCount = options.clients ?? 3
  const clients: Array<SimNode<ClientApp>> = []
  for (let i = 0; i < clientCount; i++) clients.push(sim.addNode(`c${i}`, bootClient))
  const stopSim = sim.runInBackground()
  const result: TxnSimResult = { seed, committed: 0, failed: 0, unknown: 0, rolledBack: 0, reads: 0, crashes: 0, clientCrashes: 0, events: 0 }
  const history: ListAppendTxn[] = []
  const wait = (ms: number): Promise<void> => new Promise((resolve) => { clients[0]!.app.env.clock.setTimer(ms, resolve) })
  try {
    // Set up the data (before the faults start).
    const c0 = clients[0]!.app.client
    if (workload === 'bank') {
      await c0.transaction(async (tx) => { for (const k of bankKeys) tx.put(enc.encode(k), enc.encode('100')) }, { attempts: 1000 })
    }
    let stop = false
    let nextValue = 0
    const random = sim.random('workload')
    const bankWorker = async (node: SimNode<ClientApp>): Promise<void> => {
      while (!stop && node.alive) {
        const { client } = node.app
        const roll = random.next()
        try {
          if (roll < 0.2) {
            const tx = client.begin()
            const values: number[] = []
            for (const k of bankKeys) values.push(Number(dec.decode((await tx.get(enc.encode(k)))!)))
            await tx.commit()
            checkBank(values, 'a read-only transaction')
            result.reads++
          } else if (roll < 0.3) {
            const values: number[] = []
            const cut = client.marks.cut()
            for await (const [, v] of client.rangeAtCut({}, cut)) values.push(Number(dec.decode(v)))
            if (values.length > 0) checkBank(values, 'a read at the watermark')
            result.reads++
          } else {
            const a = bankKeys[random.int(bankKeys.length)]!
            let b = bankKeys[random.int(bankKeys.length)]!
            if (a === b) b = bankKeys[(bankKeys.indexOf(a) + 1) % bankKeys.length]!
            const amount = 1 + random.int(30)
            const tx = client.begin()
            const va = Number(dec.decode((await tx.get(enc.encode(a)))!))
            const vb = Number(dec.decode((await tx.get(enc.encode(b)))!))
            if (va >= amount) {
              tx.put(enc.encode(a), enc.encode(String(va - amount)))
              tx.put(enc.encode(b), enc.encode(String(vb + amount)))
            }
            // Some transactions commit the classic way, mixed with the rest.
            await tx.commit(random.chance(0.1) ? { commit: 'classic' } : {})
            result.committed++
          }
        } catch (err) {
          if (err instanceof TxnSimFailure) throw err
          count(err)
          await wait(1 + random.int(5))
        }
      }
    }
    const checkBank = (values: number[], where: string): void => {
      const sum = values.reduce((x, y) => x + y, 0)
      if (values.length !== bankKeys.length) fail(`${where} saw ${values.length} accounts`)
      if (sum !== 100 * bankKeys.length) fail(`${where} saw a total of ${sum}: ${values.join(' ')}`)
      if (values.some((v) => !(v >= 0))) fail(`${where} saw a negative balance: ${values.join(' ')}`)
    }
    const count = (err: unknown): void => {
      if (err instanceof MakoError && err.code === 'MAKO_TRANSACTION_ROLLED_BACK') {
        // Only a failover rolls back: some shard must have closed an epoch.
        result.rolledBack++
        if (!clients.some((c) => c.alive && c.app.client.marks.all.some((m) => m.c.length > 0))) fail('a transaction was rolled back although no epoch was ever closed')
      }
      if (err instanceof MakoError && failCodes.has(err.code)) result.failed++
      else if (err instanceof MakoError) result.unknown++
      else throw err
    }
    const listWorker = async (node: SimNode<ClientApp>, p: number): Promise<void> => {
      while (!stop && node.alive) {
        const { client } = node.app
        const n = 1 + random.int(3)
        const plan: Array<['append', string, number] | ['r', string]> = []
        for (let i = 0; i < n; i++) {
          const k = listKeys[random.int(listKeys.length)]!
          plan.push(random.chance(0.5) ? ['append', k, ++nextValue] : ['r', k])
        }
        const invoke = sim.now
        const ops: ListAppendMicroOp[] = []
        let outcome: ListAppendTxn['outcome'] = 'ok'
        // Recorded as indeterminate at once: a client that crashes never
        // learns the outcome, and its appends may still take effect.
        const at = history.length
        history.push({ process: p, invoke, complete: Infinity, outcome: 'info', ops: plan.map((x) => x[0] === 'append' ? x : ['r', x[1], null]) })
        try {
          const tx = client.begin()
          const own = new Map<string, number[]>()
          for (const step of plan) {
            let list = own.get(step[1])
            if (list === undefined) {
              const v = await tx.get(enc.encode(step[1]))
              list = v === null || v.length === 0 ? [] : dec.decode(v).split(',').map(Number)
            }
            if (step[0] === 'append') {
              list = [...list, step[2]]
              tx.put(enc.encode(step[1]), enc.encode(list.join(',')))
              ops.push(['append', step[1], step[2]])
            } else {
              ops.push(['r', step[1], list])
            }
            own.set(step[1], list)
          }
          await tx.commit(random.chance(0.1) ? { commit: 'classic' } : {})
          result.committed++
        } catch (err) {
          count(err)
          outcome = err instanceof MakoError && failCodes.has(err.code) ? 'fail' : 'info'
        }
        if (outcome !== 'info') history[at] = { process: p, invoke, complete: sim.now, outcome, ops: outcome === 'ok' ? ops : history[at]!.ops }
        if (outcome !== 'ok') await wait(1 + random.int(5))
      }
    }
    // One worker per client incarnation: a crashed incarnation's awaits
    // never settle (its timers never fire), so only live ones are awaited.
    const workers: Array<{ node: SimNode<ClientApp>, inc: number, done: Promise<void> }> = []
    const startWorker = (node: SimNode<ClientApp>, i: number): void => {
      const inc = node.incarnation
      workers.push({ node, inc, done: workload === 'bank' ? bankWorker(node) : listWorker(node, i * 1000 + inc) })
    }
    clients.forEach(startWorker)
    // Faults.
    const faultR = sim.random('faults')
    const end = sim.now + (options.durationMs ?? 3000)
    let down: string | undefined
    while (sim.now < end) {
      await wait(100 + faultR.int(300))
      if (!faults) continue
      const roll = faultR.next()
      if (down !== undefined && roll < 0.5) {
        sim.restart(down)
        down = undefined
      } else if (down === undefined && roll < 0.4) {
        // Often a leader: find a node that leads some shard.
        const leaders = nodes.filter((n) => sim.node<Promise<Hosted>>(n).alive)
        down = faultR.pick(leaders)
        sim.crash(down)
        result.crashes++
      } else if (roll < 0.55) {
        const a = faultR.pick(nodes)
        const b = faultR.pick([...nodes.filter((n) => n !== a), ...clients.map((c) => c.id)])
        sim.partition(a, b, { oneWay: faultR.chance(0.3) })
      } else if (roll < 0.6 && clientCount > 1) {
        // A coordinator dies (maybe mid-commit) and comes back as a new client.
        const c = clients[clientCount - 1]!
        if (c.alive) {
          sim.crash(c.id)
          result.clientCrashes++
          sim.schedule(50 + faultR.int(200), () => { if (!c.alive && !stop) { sim.restart(c.id); startWorker(c, clientCount - 1) } })
        }
      } else {
        sim.heal()
      }
    }
    // Heal, then the liveness phase.
    sim.heal()
    if (down !== undefined) sim.restart(down)
    stop = true
    for (const c of clients) if (!c.alive) sim.restart(c.id)
    const current = workers.filter((w) => w.node.alive && w.node.incarnation === w.inc).map(async (w) => { await w.done })
    await Promise.race([Promise.all(current), wait(20_000).then(async () => {
      const hosts = await Promise.all(nodes.map(async (n) => await sim.node<Promise<Hosted>>(n).app))
      const st = hosts.flatMap((h) => h.service.shards.map((s) => s.status()))
      fail(`workers did not finish within 20 s of virtual time: ${JSON.stringify(st)}; clients: ${JSON.stringify(clients.map((c) => c.app.client.debug()))}`)
    })])
    // Every shard serves, no lock or prepared transaction is left.
    const deadline = sim.now + 10_000
    for (;;) {
      const hosts = await Promise.all(nodes.map(async (n) => await sim.node<Promise<Hosted>>(n).app))
      const st = hosts.flatMap((h) => h.service.shards.map((s) => s.status()))
      const serving = new Set(st.filter((s) => s.serving).map((s) => s.shard))
      const busy = st.filter((s) => s.serving && (s.locks > 0 || s.prepared > 0))
      if (serving.size === simMap.size && busy.length === 0) break
      if (sim.now > deadline) fail(`not settled 10 s after healing: ${JSON.stringify(st)}`)
      await wait(50)
    }
    const client = clients[0]!.app.client
    const final = await client.transaction(async (tx) => {
      const out = new Map<string, string | null>()
      for (const k of workload === 'bank' ? bankKeys : listKeys) {
        const v = await tx.get(enc.encode(k))
        out.set(k, v === null ? null : dec.decode(v))
      }
      return out
    })
    if (workload === 'bank') checkBank([...final.values()].map(Number), 'the final read')
    else {
      history.push({ process: -1, invoke: sim.now, complete: sim.now, outcome: 'ok', ops: [...final].map(([k, v]) => ['r', k, v === null || v === '' ? [] : v.split(',').map(Number)] as const) })
      const check = checkListAppend(history, { consistency: 'strict-serializable' })
      if (!check.valid) fail(`list-append anomalies: ${check.anomalyTypes.join(', ')}: ${check.anomalies.slice(0, 3).map((a) => a.explanation).join(' | ')}`)
    }
  } finally {
    await stopSim()
    result.events = sim.stats().ticks
  }
  return result
}
