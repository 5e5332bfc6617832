// Three replicas as separate processes on loopback WebSocket, fsync on. The
// leader is killed with SIGKILL again and again while clients run reads,
// writes and compare-and-set; afterwards: no acknowledged write lost, the
// history linearizable, replicas converged, and the time until a new leader
// served a write after each kill is reported (and bounded).
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WsTransport } from '../cluster/transport/index.js'
import { PaxosClient } from '../cluster/paxos/index.js'
import type { PaxosResponse } from '../cluster/paxos/index.js'
import { checkLinearizable, kvModel } from '../cluster/check/index.js'
import type { KvInput, KvOperation, KvOutput } from '../cluster/check/index.js'
import { ProcessCluster } from './paxos/cluster.js'
import { testSeed } from './transport/seed.js'
import { SeededRandom } from '../cluster/sim/random.js'

const seed = testSeed()
const KILLS = 5
const FAILOVER_BOUND_MS = 5000
const enc = new TextEncoder()
const dec = new TextDecoder()
const sleep = (ms: number): Promise<void> => new Promise((resolve) => { setTimeout(resolve, ms) })

t.test('SIGKILL the leader repeatedly while clients write', { timeout: 90_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mako-paxos-'))
  const secret = 'paxos-process-test-secret-0123456789'
  const cluster = await ProcessCluster.start({ size: 3, dir, sync: true, secret, cluster: 'ptest' })
  const transport = new WsTransport({ nodeId: 'clients', clusterId: 'ptest', secret, limits: { reconnectBaseDelay: 20, reconnectMaxDelay: 200 } })
  t.teardown(async () => {
    await cluster.stop()
    await transport.close()
    rmSync(dir, { recursive: true, force: true })
  })
  for (const id of cluster.ids) transport.connect(id, cluster.urls[id]!)
  const random = new SeededRandom(seed, 'process-test')
  const history: KvOperation[] = []
  const acknowledged = new Map<string, string>()
  let stop = false
  let valueSeq = 0

  const worker = async (c: number): Promise<void> => {
    const client = new PaxosClient({ transport, replicas: cluster.ids, clientId: `w${c}`, attemptTimeout: 500, timeout: 8000 })
    while (!stop) {
      const key = `k${random.int(4)}`
      const roll = random.next()
      const value = `v${++valueSeq}`
      const input: KvInput = roll < 0.35
        ? { f: 'read', key }
        : roll < 0.8 ? { f: 'write', key, value } : { f: 'cas', key, expect: `v${Math.max(1, valueSeq - 1 - random.int(4))}`, value }
      const call = performance.now()
      let output: KvOutput | undefined
      try {
        if (input.f === 'read') {
          const v = await client.get(enc.encode(key))
          output = { value: v === null ? null : dec.decode(v) }
        } else if (input.f === 'write') {
          await client.submit({ t: 'put', k: enc.encode(key), v: enc.encode(input.value) })
          output = { ok: true }
          acknowledged.set(input.value, key)
        } else {
          const r = await client.submit({ t: 'cas', k: enc.encode(key), expect: enc.encode(input.expect ?? ''), v: enc.encode(input.value) })
          output = { ok: r.ok }
        }
      } catch {
        output = undefined
      }
      history.push({ client: c, input, output, call, ret: output === undefined ? Infinity : performance.now() })
    }
  }

  const leaderNow = async (): Promise<string | undefined> => {
    for (const id of cluster.ids) {
      if (!cluster.running(id)) continue
      try {
        const res = await transport.request(id as never, { c: 'status' }, { timeout: 300 }) as PaxosResponse
        if ('status' in res && res.status.role === 'leader' && res.status.serving) return id
      } catch {}
    }
    return undefined
  }

  const probe = new PaxosClient({ transport, replicas: cluster.ids, clientId: 'probe', attemptTimeout: 300, timeout: 20_000 })
  await probe.submit({ t: 'put', k: enc.encode('probe'), v: enc.encode('0') })
  const workers = Array.from({ length: 4 }, async (_, c) => { await worker(c) })
  const failovers: number[] = []
  for (let k = 0; k < KILLS; k++) {
    await sleep(600 + random.int(500))
    let leader: string | undefined
    for (let i = 0; i < 50 && leader === undefined; i++) {
      leader = await leaderNow()
      if (leader === undefined) await sleep(50)
    }
    t.ok(leader !== undefined, `a leader serves before kill ${k + 1}`)
    if (leader === undefined) break
    const killedAt = performance.now()
    await cluster.kill(leader, 'SIGKILL')
    // The time until the shard answers a write again: a new leader serves.
    await probe.submit({ t: 'put', k: enc.encode('probe'), v: enc.encode(String(k + 1)) })
    failovers.push(performance.now() - killedAt)
    await sleep(200 + random.int(400))
    await cluster.startReplica(leader)
  }
  stop = true
  await Promise.all(workers)

  // Converge, then read every key: part of the history too.
  let statuses: Array<{ applied: number, stateHash: string }> = []
  for (let i = 0; i < 100; i++) {
    statuses = []
    for (const id of cluster.ids) {
      try {
        const res = await transport.request(id as never, { c: 'status' }, { timeout: 500 }) as PaxosResponse
        if ('status' in res) statuses.push(res.status)
      } catch {}
    }
    if (statuses.length === 3 && statuses.every((s) => s.applied === statuses[0]!.applied && s.stateHash === statuses[0]!.stateHash)) break
    await sleep(50)
  }
  t.equal(statuses.length, 3, 'all three replicas answer')
  t.ok(statuses.every((s) => s.applied === statuses[0]!.applied && s.stateHash === statuses[0]!.stateHash), `replicas converged: ${JSON.stringify(statuses.map((s) => [s.applied, s.stateHash]))}`)
  const reader = new PaxosClient({ transport, replicas: cluster.ids, clientId: 'final' })
  for (let k = 0; k < 4; k++) {
    const call = performance.now()
    const v = await reader.get(enc.encode(`k${k}`))
    history.push({ client: 99, input: { f: 'read', key: `k${k}` }, output: { value: v === null ? null : dec.decode(v) }, call, ret: performance.now() })
  }

  const done = history.filter((op) => op.output !== undefined).length
  t.ok(done > 100, `${done} operations completed (${history.length - done} timed out) across ${failovers.length} leader kills`)
  t.ok(acknowledged.size > 20, `${acknowledged.size} writes acknowledged`)
  const res = checkLinearizable(kvModel, history)
  t.equal(res.result, 'ok', `history linearizable (no acknowledged write lost, no stale read): ${res.detail ?? ''} seed ${seed}`)
  const worst = Math.max(...failovers)
  t.comment(`failover after SIGKILL of the leader (kill to first write answered), ms: ${failovers.map((x) => x.toFixed(0)).join(', ')}; worst ${worst.toFixed(0)}`)
  t.ok(worst < FAILOVER_BOUND_MS, `a new leader served within ${FAILOVER_BOUND_MS} ms every time (worst ${worst.toFixed(0)} ms)`)
})
