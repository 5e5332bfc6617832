/**
 * Starting, killing and restarting shard replicas as child processes on
 * loopback, for the real-process test and the replication benchmark.
 *
 * @module
 * @internal
 */

import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const script = join(dirname(fileURLToPath(import.meta.url)), 'replica-process.js')

/** A free TCP port on 127.0.0.1 (closed again before it is returned). @internal */
export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      srv.close(() => { resolve(port) })
    })
  })
}

/** Options of a process cluster. @internal */
export interface ProcessClusterOptions {
  /** Replica count. */
  size: number
  /** Parent directory for the replicas' data. */
  dir: string
  /** fsync on. */
  sync: boolean
  /** Shared secret. */
  secret: string
  /** Cluster id. */
  cluster: string
  /** Milliseconds per tick. */
  tickMs?: number
  /** Election ticks. */
  electionTicks?: number
  /** Applied slots between snapshots. */
  snapshotEvery?: number
}

/** Replicas as child processes. @internal */
export class ProcessCluster {
  readonly ids: string[]
  readonly urls: Record<string, string> = {}
  readonly #ports: Record<string, number> = {}
  readonly #procs = new Map<string, ChildProcess>()
  readonly #o: ProcessClusterOptions
  /** Lines printed by each replica (events), for reports. */
  readonly log: string[] = []

  private constructor (o: ProcessClusterOptions) {
    this.#o = o
    this.ids = Array.from({ length: o.size }, (_, i) => `n${i + 1}`)
  }

  /** Picks ports and starts every replica. @internal */
  static async start (o: ProcessClusterOptions): Promise<ProcessCluster> {
    const c = new ProcessCluster(o)
    for (const id of c.ids) {
      c.#ports[id] = await freePort()
      c.urls[id] = `ws://127.0.0.1:${c.#ports[id]}`
    }
    await Promise.all(c.ids.map(async (id) => { await c.startReplica(id) }))
    return c
  }

  /** Starts (or restarts) one replica; resolves when it listens. @internal */
  startReplica (id: string): Promise<void> {
    const cfg = {
      id, port: this.#ports[id], peers: this.urls, dir: join(this.#o.dir, id), sync: this.#o.sync, secret: this.#o.secret,
      cluster: this.#o.cluster, tickMs: this.#o.tickMs ?? 10, electionTicks: this.#o.electionTicks ?? 10,
      ...(this.#o.snapshotEvery !== undefined ? { snapshotEvery: this.#o.snapshotEvery } : {})
    }
    const child = spawn(process.execPath, [...(process.env['MAKO_REPLICA_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== ''), script, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.#procs.set(id, child)
    return new Promise((resolve, reject) => {
      let buf = ''
      const timer = setTimeout(() => { reject(new Error(`${id} did not start`)) }, 15_000)
      child.stdout.setEncoding('utf8')
      child.stdout.on('data', (chunk: string) => {
        buf += chunk
        let nl
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl)
          buf = buf.slice(nl + 1)
          if (line.startsWith('ready ')) {
            clearTimeout(timer)
            resolve()
          } else {
            this.log.push(`${id} ${line}`)
          }
        }
      })
      child.stderr.setEncoding('utf8')
      child.stderr.on('data', (chunk: string) => { this.log.push(`${id} stderr ${chunk.trim()}`) })
      child.once('exit', (code, sig) => {
        clearTimeout(timer)
        this.log.push(`${id} exit ${String(code)} ${String(sig)}`)
        reject(new Error(`${id} exited ${String(code)} ${String(sig)}`))
      })
    })
  }

  /** Whether a replica's process is running. @internal */
  running (id: string): boolean {
    const p = this.#procs.get(id)
    return p !== undefined && p.exitCode === null && p.signalCode === null
  }

  /** Kills a replica with a signal and waits for it to exit. @internal */
  async kill (id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.#procs.get(id)
    if (p === undefined || !this.running(id)) return
    const exited = new Promise<void>((resolve) => { p.once('exit', () => { resolve() }) })
    p.kill(signal)
    await exited
  }

  /** Stops every replica (SIGTERM, then SIGKILL after a grace period). @internal */
  async stop (): Promise<void> {
    await Promise.all(this.ids.map(async (id) => {
      if (!this.running(id)) return
      const t = setTimeout(() => { this.#procs.get(id)?.kill('SIGKILL') }, 3000)
      await this.kill(id, 'SIGTERM')
      clearTimeout(t)
    }))
  }
}
