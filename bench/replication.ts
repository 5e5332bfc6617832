/**
 * Replication benchmark: commands committed per second and p50/p99 commit
 * latency of a three-replica shard (separate processes on loopback
 * WebSocket) with 1, 16 and 256 clients outstanding, fsync on and off,
 * against a three-member etcd cluster on loopback (Debian's etcd-server 3.4,
 * `--unsafe-no-fsync` for the off rows) driven by the `etcd3` npm client,
 * in the same run. Each client writes a 16-byte key and a 100-byte value
 * and waits for the answer before its next write. Both systems run side by
 * side and passes alternate between them; medians of the passes.
 *
 * Run: `node dist/bench/replication.js [--quick] [--passes N] [--seconds S] [--only mako|etcd]`.
 * Writes bench/results/replication.json.
 *
 * @module
 * @internal
 */

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Etcd3 } from 'etcd3'
import { WsTransport } from '../cluster/transport/index.js'
import { PaxosClient } from '../cluster/paxos/index.js'
import { ProcessCluster } from '../test/paxos/cluster.js'
import { EtcdCluster } from './etcd/etcd-cluster.js'
import { formatRate, formatRatio, markdownTable } from './lib/markdown.js'
import { machineInfo, writeResults } from './lib/results.js'
import { median } from './lib/stats.js'

interface Row {
  system: 'mako' | 'etcd'
  fsync: boolean
  clients: number
  opsPerSec: number
  p50Ms: number
  p99Ms: number
  passes: Array<{ opsPerSec: number, p50Ms: number, p99Ms: number }>
}

const args = process.argv.slice(2)
const quick = args.includes('--quick')
const argNum = (name: string, fallback: number): number => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : fallback
}
const passes = argNum('passes', quick ? 1 : 3)
const seconds = argNum('seconds', quick ? 1 : 3)
const onlyIdx = args.indexOf('--only')
const only = onlyIdx >= 0 ? args[onlyIdx + 1] : undefined
const clientCounts = [1, 16, 256]
const value = new Uint8Array(100).fill(0x61)

function keyOf (i: number): Uint8Array {
  return new TextEncoder().encode(`key-${String(i % 1_000_000).padStart(12, '0')}`)
}

function percentile (sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number
}

/** Runs `clients` closed loops of `put` for `seconds` after a warm-up; returns rate and latencies. */
async function measure (clients: number, put: (client: number, i: number) => Promise<void>): Promise<{ opsPerSec: number, p50Ms: number, p99Ms: number }> {
  let counting = false
  let stop = false
  const lat: number[] = []
  let seq = 0
  const loop = async (c: number): Promise<void> => {
    while (!stop) {
      const t0 = performance.now()
      await put(c, seq++)
      if (counting) lat.push(performance.now() - t0)
    }
  }
  const loops = Array.from({ length: clients }, async (_, c) => { await loop(c) })
  await new Promise((resolve) => setTimeout(resolve, 500))
  counting = true
  const start = performance.now()
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
  counting = false
  const elapsed = performance.now() - start
  const n = lat.length
  stop = true
  await Promise.all(loops)
  const sorted = Float64Array.from(lat).sort()
  return { opsPerSec: (n * 1000) / elapsed, p50Ms: percentile(sorted, 0.5), p99Ms: percentile(sorted, 0.99) }
}

/** A running system under test: a put, and a way to stop it. */
interface Contender {
  put: (client: number, i: number) => Promise<void>
  stop: () => Promise<void>
}

async function startMako (fsync: boolean): Promise<Contender> {
  const dir = mkdtempSync(join(tmpdir(), 'mako-bench-repl-'))
  const secret = 'replication-benchmark-secret-0123456789'
  const cluster = await ProcessCluster.start({ size: 3, dir, sync: fsync, secret, cluster: 'bench', snapshotEvery: 50_000 })
  const transport = new WsTransport({ nodeId: 'bench-client', clusterId: 'bench', secret, limits: { reconnectBaseDelay: 20, reconnectMaxDelay: 200 } })
  const stop = async (): Promise<void> => {
    await transport.close()
    await cluster.stop()
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    for (const id of cluster.ids) transport.connect(id, cluster.urls[id]!)
    const clients = Array.from({ length: 256 }, (_, c) => new PaxosClient({ transport, replicas: cluster.ids, clientId: `b${c}`, timeout: 60_000 }))
    await clients[0]!.submit({ t: 'put', k: keyOf(0), v: value })
    await Promise.all(clients.map(async (cl) => { await cl.submit({ t: 'put', k: keyOf(1), v: value }) }))
    return { put: async (c, i) => { await clients[c]!.submit({ t: 'put', k: keyOf(i), v: value }) }, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

async function startEtcd (fsync: boolean): Promise<Contender> {
  const cluster = await EtcdCluster.start({ fsync })
  const client = new Etcd3({ hosts: cluster.endpoints })
  const stop = async (): Promise<void> => {
    client.close()
    await cluster.stop()
  }
  try {
    const buf = Buffer.from(value)
    await client.put('warm').value(buf)
    return { put: async (_c, i) => { await client.put(Buffer.from(keyOf(i))).value(buf) }, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

/**
 * Both systems run side by side, and each pass measures one, then the
 * other, at each client count: a shared machine's load changes over
 * minutes, so interleaving keeps the comparison fair.
 */
async function benchBoth (fsync: boolean): Promise<Row[]> {
  const names = (['mako', 'etcd'] as const).filter((n) => only === undefined || only === n)
  const running = new Map<'mako' | 'etcd', Contender>()
  try {
    for (const n of names) running.set(n, n === 'mako' ? await startMako(fsync) : await startEtcd(fsync))
    const runs = new Map<string, Array<{ opsPerSec: number, p50Ms: number, p99Ms: number }>>()
    for (const clients of clientCounts) {
      for (let p = 0; p < passes; p++) {
        for (const n of names) {
          const r = await measure(clients, running.get(n)!.put)
          const key = `${n} ${clients}`
          runs.set(key, [...(runs.get(key) ?? []), r])
          process.stderr.write(`${n} fsync=${String(fsync)} clients=${clients} pass ${p + 1}: ${formatRate(r.opsPerSec)}/s p50 ${r.p50Ms.toFixed(2)} ms\n`)
        }
      }
    }
    const rows: Row[] = []
    for (const n of names) for (const clients of clientCounts) rows.push(summarize(n, fsync, clients, runs.get(`${n} ${clients}`) ?? []))
    return rows
  } finally {
    for (const c of running.values()) await c.stop()
  }
}

function summarize (system: 'mako' | 'etcd', fsync: boolean, clients: number, runs: Array<{ opsPerSec: number, p50Ms: number, p99Ms: number }>): Row {
  return {
    system,
    fsync,
    clients,
    opsPerSec: median(runs.map((r) => r.opsPerSec)),
    p50Ms: median(runs.map((r) => r.p50Ms)),
    p99Ms: median(runs.map((r) => r.p99Ms)),
    passes: runs
  }
}

async function main (): Promise<void> {
  const rows: Row[] = []
  for (const fsync of [true, false]) rows.push(...await benchBoth(fsync))
  const table = markdownTable(
    ['system', 'fsync', 'clients', 'commits/s', 'p50 ms', 'p99 ms', 'vs etcd commits/s', 'vs etcd p50'],
    rows.map((r) => {
      const peer = rows.find((x) => x.system === 'etcd' && x.fsync === r.fsync && x.clients === r.clients)
      return [
        r.system, r.fsync ? 'on' : 'off', String(r.clients), formatRate(r.opsPerSec), r.p50Ms.toFixed(2), r.p99Ms.toFixed(2),
        r.system === 'mako' && peer !== undefined ? formatRatio(r.opsPerSec / peer.opsPerSec) : '',
        r.system === 'mako' && peer !== undefined ? formatRatio(r.p50Ms / peer.p50Ms) : ''
      ]
    }),
    ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right']
  )
  console.log(`\n## Replication: 3 replicas on loopback, put of 16-byte key + 100-byte value (median of ${passes} passes of ${seconds} s)\n`)
  console.log(table)
  const path = writeResults('replication', { machine: machineInfo(), passes, seconds, rows })
  console.log(`\nwrote ${path}`)
}

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})
