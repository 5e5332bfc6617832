/**
 * A three-member etcd cluster on loopback for the replication benchmark:
 * installs Debian's `etcd-server` (etcd 3.4) with apt when the `etcd`
 * binary is missing, starts three members with their own temporary data
 * directories (`--unsafe-no-fsync` for the no-fsync rows), and stops and
 * removes them at the end.
 *
 * @module
 * @internal
 */

import { execFileSync, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../../test/paxos/cluster.js'

/** Where Debian puts the binary. @internal */
const candidates = ['/usr/bin/etcd', '/usr/local/bin/etcd']

/**
 * The etcd binary, installing Debian's `etcd-server` when it is missing
 * (`apt-get update && apt-get install -y etcd-server`; needs root).
 *
 * @internal
 */
export function ensureEtcd (): string {
  const found = candidates.find((p) => existsSync(p))
  if (found !== undefined) return found
  process.stderr.write('etcd not found: installing Debian\'s etcd-server with apt-get\n')
  execFileSync('bash', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server'], { stdio: 'inherit' })
  const installed = candidates.find((p) => existsSync(p))
  if (installed === undefined) throw new Error('etcd-server installed but no etcd binary found')
  return installed
}

/** A running three-member etcd cluster. @internal */
export class EtcdCluster {
  /** Client URLs of the members. */
  readonly endpoints: string[]
  readonly #procs: ChildProcess[]
  readonly #dir: string
  readonly #log: string[]

  private constructor (endpoints: string[], procs: ChildProcess[], dir: string, log: string[]) {
    this.endpoints = endpoints
    this.#procs = procs
    this.#dir = dir
    this.#log = log
  }

  /**
   * Starts three members on loopback and waits until they answer.
   *
   * @param options `fsync: false` passes `--unsafe-no-fsync`.
   * @internal
   */
  static async start (options: { fsync: boolean }): Promise<EtcdCluster> {
    const bin = ensureEtcd()
    const dir = mkdtempSync(join(tmpdir(), 'mako-etcd-'))
    const names = ['e1', 'e2', 'e3']
    const clientPorts: number[] = []
    const peerPorts: number[] = []
    for (let i = 0; i < 3; i++) {
      clientPorts.push(await freePort())
      peerPorts.push(await freePort())
    }
    const initial = names.map((n, i) => `${n}=http://127.0.0.1:${peerPorts[i]!}`).join(',')
    const log: string[] = []
    const procs = names.map((name, i) => {
      const args = [
        '--name', name,
        '--data-dir', join(dir, name),
        '--listen-client-urls', `http://127.0.0.1:${clientPorts[i]!}`,
        '--advertise-client-urls', `http://127.0.0.1:${clientPorts[i]!}`,
        '--listen-peer-urls', `http://127.0.0.1:${peerPorts[i]!}`,
        '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPorts[i]!}`,
        '--initial-cluster', initial,
        '--initial-cluster-state', 'new',
        '--initial-cluster-token', `mako-bench-${process.pid}`,
        '--log-level', 'error'
      ]
      if (!options.fsync) args.push('--unsafe-no-fsync')
      const p = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] })
      p.stderr?.setEncoding('utf8')
      p.stderr?.on('data', (d: string) => { log.push(`${name}: ${d.trim()}`); if (log.length > 200) log.shift() })
      return p
    })
    const endpoints = clientPorts.map((p) => `http://127.0.0.1:${p}`)
    const cluster = new EtcdCluster(endpoints, procs, dir, log)
    // Wait for a leader: every member's health endpoint says true.
    const deadline = Date.now() + 30_000
    for (const ep of endpoints) {
      for (;;) {
        try {
          const res = await fetch(`${ep}/health`)
          const body = await res.json() as { health?: string }
          if (body.health === 'true') break
        } catch {}
        if (Date.now() > deadline) {
          await cluster.stop()
          throw new Error(`etcd did not become healthy: ${log.slice(-5).join(' | ')}`)
        }
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
    return cluster
  }

  /** Stops the members and removes their data. @internal */
  async stop (): Promise<void> {
    await Promise.all(this.#procs.map(async (p) => {
      if (p.exitCode !== null || p.signalCode !== null) return
      const exited = new Promise<void>((resolve) => { p.once('exit', () => { resolve() }) })
      p.kill('SIGTERM')
      const t = setTimeout(() => { p.kill('SIGKILL') }, 5000)
      await exited
      clearTimeout(t)
    }))
    rmSync(this.#dir, { recursive: true, force: true })
  }
}
