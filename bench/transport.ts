/**
 * Peer-link benchmark: two processes on loopback. Small-message RPC round
 * trips per second and one-way messages per second with 1, 64 and 1024 in
 * flight, for the mako WebSocket transport with batching on and off, against
 * a baseline of plain `ws` sending one JSON message per frame.
 *
 * Run: `npx tsc -p . && node dist/bench/transport.js` (BENCH_MS sets the
 * length of one pass, default 1000; BENCH_PASSES the number of passes,
 * default and at least 3; BENCH_WINDOWS and BENCH_KINDS pick rows, for
 * example `BENCH_WINDOWS=1024 BENCH_KINDS=rpc`). Prints a markdown table and writes
 * bench/results/transport.json. Figures are medians of the passes. Besides
 * rates it reports CPU time (client plus server) per message, which holds
 * still when other processes load the machine and rates do not.
 *
 * @module
 * @internal
 */

import { fork } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { WebSocket, WebSocketServer } from 'ws'
import { nodeId, WsTransport } from '../cluster/transport/index.js'
import type { NodeId } from '../cluster/transport/index.js'

const secret = 'bench-secret-0123456789abcdef'
const passMs = Number(process.env['BENCH_MS'] ?? 1000)
const warmupMs = Math.min(300, passMs / 3)
const passes = Math.max(3, Number(process.env['BENCH_PASSES'] ?? 3))
const windows = (process.env['BENCH_WINDOWS'] ?? '1,64,1024').split(',').map(Number)
const kinds = (process.env['BENCH_KINDS'] ?? 'rpc,one-way').split(',') as Kind[]
// Profiling one mode: BENCH_ONLY=batched leaves the baseline out (and with it the ratios).
const modes: readonly Mode[] = process.env['BENCH_ONLY'] === 'batched'
  ? ['mako batched']
  : ['mako batched', 'mako unbatched', 'plain ws (JSON, 1 msg/frame)']
const payload = { op: 'get', key: 'user:00001234' }

type Mode = 'mako batched' | 'mako unbatched' | 'plain ws (JSON, 1 msg/frame)'
type Kind = 'rpc' | 'one-way'

interface ServerUrls { batched: string, unbatched: string, plain: string }

// ---------------------------------------------------------------- server

async function serve (): Promise<void> {
  const make = async (id: string, batching: boolean): Promise<string> => {
    const transport = new WsTransport({ nodeId: id, clusterId: 'bench', secret, batching })
    transport.onRequest((request) => request)
    // One-way messages are acknowledged once per turn with the running
    // count, so a sender can keep a window of unacknowledged messages.
    const counts = new Map<NodeId, number>()
    const scheduled = new Set<NodeId>()
    transport.onMessage((from) => {
      counts.set(from, (counts.get(from) ?? 0) + 1)
      if (scheduled.has(from)) return
      scheduled.add(from)
      setImmediate(() => {
        scheduled.delete(from)
        transport.trySend(from, counts.get(from) ?? 0)
      })
    })
    transport.on('peerDown', (peer) => { counts.delete(peer) })
    return transport.listen()
  }
  const plain = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false })
  plain.on('connection', (ws) => {
    ws.on('error', () => {})
    let count = 0
    let scheduled = false
    ws.on('message', (data) => {
      const message = JSON.parse(String(data)) as { id?: number, p: unknown }
      if (message.id !== undefined) {
        ws.send(JSON.stringify({ id: message.id, r: message.p }))
        return
      }
      count++
      if (!scheduled) {
        scheduled = true
        setImmediate(() => {
          scheduled = false
          ws.send(JSON.stringify({ ack: count }))
        })
      }
    })
  })
  await new Promise<void>((resolve) => { plain.on('listening', resolve) })
  const address = plain.address()
  const urls: ServerUrls = {
    batched: await make('bench-server-b', true),
    unbatched: await make('bench-server-n', false),
    plain: `ws://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/`
  }
  process.send?.(urls)
  // CPU time over a measuring window, for the client to divide by messages:
  // unlike rates, CPU per message holds still when other processes load
  // the machine.
  let mark = process.cpuUsage()
  process.on('message', (message) => {
    if (message === 'cpu-begin') {
      mark = process.cpuUsage()
    } else if (message === 'cpu-end') {
      const used = process.cpuUsage(mark)
      process.send?.({ cpuUs: used.user + used.system })
    }
  })
  process.on('disconnect', () => { process.exit(0) })
}

// ---------------------------------------------------------------- client

interface Pass { messagesPerSecond: number, cpuUsPerMessage: number, p50?: number, p99?: number }

/** Measures client and server CPU time over a window. */
const meter = {
  child: undefined as ChildProcess | undefined,
  clientMark: process.cpuUsage(),
  begin (): void {
    this.child?.send('cpu-begin')
    this.clientMark = process.cpuUsage()
  },
  async end (): Promise<number> {
    const client = process.cpuUsage(this.clientMark)
    const child = this.child
    if (child === undefined) return client.user + client.system
    const server = await new Promise<number>((resolve) => {
      const onMessage = (message: unknown): void => {
        if (typeof message === 'object' && message !== null && 'cpuUs' in message) {
          child.off('message', onMessage)
          resolve((message as { cpuUs: number }).cpuUs)
        }
      }
      child.on('message', onMessage)
      child.send('cpu-end')
    })
    return client.user + client.system + server
  }
}

/** A growable list of latencies in milliseconds. */
class Latencies {
  #data = new Float64Array(1 << 16)
  #length = 0
  add (ms: number): void {
    if (this.#length === this.#data.length) {
      const bigger = new Float64Array(this.#data.length * 2)
      bigger.set(this.#data)
      this.#data = bigger
    }
    this.#data[this.#length++] = ms
  }

  percentile (p: number): number {
    const sorted = this.#data.slice(0, this.#length).sort()
    return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN
  }
}

/** Runs `window` concurrent loops of `once` until time is up; counts completions after the warmup. */
async function timed (window: number, once: () => Promise<unknown>, latencies?: Latencies): Promise<Pass> {
  let measuring = false
  let done = 0
  let stop = false
  const loop = async (): Promise<void> => {
    while (!stop) {
      const started = performance.now()
      await once()
      if (measuring) {
        done++
        latencies?.add(performance.now() - started)
      }
    }
  }
  const loops = Array.from({ length: window }, () => loop())
  await new Promise((resolve) => { setTimeout(resolve, warmupMs) })
  measuring = true
  meter.begin()
  const started = performance.now()
  await new Promise((resolve) => { setTimeout(resolve, passMs) })
  measuring = false
  const elapsed = performance.now() - started
  const cpuUs = await meter.end()
  stop = true
  await Promise.all(loops)
  return {
    messagesPerSecond: done / elapsed * 1000,
    cpuUsPerMessage: cpuUs / Math.max(1, done),
    ...(latencies === undefined ? {} : { p50: latencies.percentile(0.5), p99: latencies.percentile(0.99) })
  }
}

async function makoRpc (client: WsTransport, server: NodeId, window: number): Promise<Pass> {
  return await timed(window, () => client.request(server, payload), new Latencies())
}

/**
 * One-way sending with a window: the server acknowledges the running count
 * of messages it got once per turn; the sender keeps at most `window`
 * unacknowledged. Counts run on across passes (one connection per client).
 */
class Window {
  sent = 0
  acked = 0
  counted = 0
  measuring = false
  wake: (() => void) | undefined
  ack (count: number): void {
    if (this.measuring) this.counted += count - this.acked
    this.acked = count
    this.wake?.()
  }
}

async function windowed (state: Window, window: number, sendOne: () => boolean): Promise<Pass> {
  let stop = false
  state.counted = 0
  const pump = async (): Promise<void> => {
    while (!stop) {
      while (state.sent - state.acked < window && sendOne()) state.sent++
      await new Promise<void>((resolve) => { state.wake = resolve })
    }
  }
  const running = pump()
  await new Promise((resolve) => { setTimeout(resolve, warmupMs) })
  state.measuring = true
  meter.begin()
  const started = performance.now()
  await new Promise((resolve) => { setTimeout(resolve, passMs) })
  state.measuring = false
  const elapsed = performance.now() - started
  const cpuUs = await meter.end()
  stop = true
  state.wake?.()
  await running
  // Let the last window drain so the next pass starts from an empty pipe.
  const end = Date.now() + 2000
  while (state.acked < state.sent && Date.now() < end) await new Promise((resolve) => { setTimeout(resolve, 5) })
  return { messagesPerSecond: state.counted / elapsed * 1000, cpuUsPerMessage: cpuUs / Math.max(1, state.counted) }
}

const makoWindows = new Map<WsTransport, Window>()

async function makoOneWay (client: WsTransport, server: NodeId, window: number): Promise<Pass> {
  let state = makoWindows.get(client)
  if (state === undefined) {
    const created = new Window()
    client.onMessage((_from, count) => { created.ack(count as number) })
    makoWindows.set(client, state = created)
  }
  return windowed(state, window, () => client.trySend(server, payload))
}

async function plainClient (url: string): Promise<WebSocket> {
  const ws = new WebSocket(url, { perMessageDeflate: false })
  ws.on('error', () => {})
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  return ws
}

async function plainRpc (url: string, window: number): Promise<Pass> {
  const ws = await plainClient(url)
  const waiting = new Map<number, () => void>()
  let nextId = 0
  ws.on('message', (data) => {
    const message = JSON.parse(String(data)) as { id: number }
    const resolve = waiting.get(message.id)
    waiting.delete(message.id)
    resolve?.()
  })
  const result = await timed(window, () => new Promise<void>((resolve) => {
    const id = nextId++
    waiting.set(id, resolve)
    ws.send(JSON.stringify({ id, p: payload }))
  }), new Latencies())
  ws.close()
  return result
}

async function plainOneWay (url: string, window: number): Promise<Pass> {
  const ws = await plainClient(url)
  const state = new Window()
  ws.on('message', (data) => { state.ack((JSON.parse(String(data)) as { ack: number }).ack) })
  const text = JSON.stringify({ p: payload })
  const result = await windowed(state, window, () => {
    ws.send(text)
    return true
  })
  ws.close()
  return result
}

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? NaN
}

interface Row {
  kind: Kind
  mode: Mode
  inFlight: number
  messagesPerSecond: number
  passes: number[]
  p50Ms?: number
  p99Ms?: number
  vsPlain?: number
  cpuUsPerMessage: number
  cpuVsPlain: number
}

async function main (): Promise<void> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--server'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const urls = await new Promise<ServerUrls>((resolve) => { child.once('message', (m) => { resolve(m as ServerUrls) }) })
  meter.child = child
  const clients: Record<'batched' | 'unbatched', WsTransport> = {
    batched: new WsTransport({ nodeId: 'bench-client-b', clusterId: 'bench', secret, batching: true }),
    unbatched: new WsTransport({ nodeId: 'bench-client-n', clusterId: 'bench', secret, batching: false })
  }
  const servers = { batched: nodeId('bench-server-b'), unbatched: nodeId('bench-server-n') }
  clients.batched.connect(servers.batched, urls.batched)
  clients.unbatched.connect(servers.unbatched, urls.unbatched)
  await clients.batched.waitForPeer(servers.batched)
  await clients.unbatched.waitForPeer(servers.unbatched)

  const rows: Row[] = []
  for (const kind of kinds) {
    for (const inFlight of windows) {
      const byMode = new Map<Mode, Pass[]>()
      // Pass -1 warms every mode up and is thrown away: V8 grows its young
      // generation and compiles the hot paths over the first second or two,
      // and the first measured pass ran up to 40 % slower than the last.
      for (let pass = -1; pass < passes; pass++) {
        // Interleave the modes within a pass so that drift in the machine's
        // load affects all of them alike.
        for (const mode of modes) {
          let result: Pass
          if (mode === 'plain ws (JSON, 1 msg/frame)') {
            result = kind === 'rpc' ? await plainRpc(urls.plain, inFlight) : await plainOneWay(urls.plain, inFlight)
          } else {
            const which = mode === 'mako batched' ? 'batched' : 'unbatched'
            result = kind === 'rpc'
              ? await makoRpc(clients[which], servers[which], inFlight)
              : await makoOneWay(clients[which], servers[which], inFlight)
          }
          if (pass >= 0) byMode.set(mode, [...(byMode.get(mode) ?? []), result])
        }
      }
      const plainRate = median((byMode.get('plain ws (JSON, 1 msg/frame)') ?? []).map((p) => p.messagesPerSecond))
      const plainCpu = median((byMode.get('plain ws (JSON, 1 msg/frame)') ?? []).map((p) => p.cpuUsPerMessage))
      for (const [mode, results] of byMode) {
        const rates = results.map((p) => p.messagesPerSecond)
        const rate = median(rates)
        const mid = results.find((p) => p.messagesPerSecond === rate)
        rows.push({
          kind,
          mode,
          inFlight,
          messagesPerSecond: Math.round(rate),
          passes: rates.map(Math.round),
          ...(mid?.p50 === undefined ? {} : { p50Ms: Number(mid.p50.toFixed(3)) }),
          ...(mid?.p99 === undefined ? {} : { p99Ms: Number(mid.p99.toFixed(3)) }),
          vsPlain: Number((rate / plainRate).toFixed(2)),
          cpuUsPerMessage: Number(median(results.map((p) => p.cpuUsPerMessage)).toFixed(2)),
          cpuVsPlain: Number((plainCpu / median(results.map((p) => p.cpuUsPerMessage))).toFixed(2))
        })
        process.stderr.write(`${kind} ${mode} ${inFlight}: ${Math.round(rate)}/s\n`)
      }
    }
  }
  await Promise.all([clients.batched.close(), clients.unbatched.close()])
  child.disconnect()

  const bar = rows.filter((r) => r.inFlight === 1024 && r.mode === 'mako batched').map((r) => ({ kind: r.kind, ratio: r.vsPlain ?? 0 }))
  const lines = [
    `## Peer links: ${passes} passes of ${passMs} ms, medians; Node ${process.version}, ${cpus().length} CPUs, client and server in two processes on loopback`,
    '',
    '| kind | transport | in flight | messages/s | vs plain ws | p50 ms | p99 ms | CPU µs/msg | CPU: plain ÷ this | passes (msg/s) |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---|',
    ...rows.map((r) => `| ${r.kind} | ${r.mode} | ${r.inFlight} | ${r.messagesPerSecond.toLocaleString('en-US')} | ${r.vsPlain ?? ''}x | ${r.p50Ms ?? ''} | ${r.p99Ms ?? ''} | ${r.cpuUsPerMessage} | ${r.cpuVsPlain}x | ${r.passes.join(', ')} |`),
    '',
    'CPU µs/msg is client plus server CPU time over the measuring window divided by the messages (or round trips) completed; above 1x in the next column, this transport spends less CPU per message than plain ws.',
    ...bar.map((b) => `Bar (1024 in flight, ${b.kind}): batching gives ${b.ratio}x the plain ws baseline; needed at least 5x: ${b.ratio >= 5 ? 'met' : 'NOT met'}.`)
  ]
  console.log(lines.join('\n'))
  const out = fileURLToPath(new URL('../../bench/results/', import.meta.url))
  mkdirSync(out, { recursive: true })
  writeFileSync(`${out}transport.json`, JSON.stringify({
    benchmark: 'transport',
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    passes,
    passMs,
    payload,
    rows,
    bar
  }, null, 2) + '\n')
}

if (process.argv.includes('--server')) {
  await serve()
} else {
  await main()
}
