/**
 * A cluster of `mako serve` processes on loopback, for the real-process
 * transaction tests: picks free ports, writes the configuration file,
 * starts, kills and restarts nodes on their data directories, and kills
 * every child when the test process exits, whatever happens.
 *
 * @module
 * @internal
 */

import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseConfig } from '../../cluster/node/config.js'
import type { ClusterConfig } from '../../cluster/node/config.js'
import { freePort } from '../paxos/cluster.js'

/** The compiled `mako` command line. @internal */
export const makoBin = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'mako.js')

/**
 * The command that runs `mako` with `args` in a child process: through
 * `env -u NODE_OPTIONS` where there is an `env`, because tap's process-info
 * hook adds itself to NODE_OPTIONS of every child this process spawns,
 * whatever environment is given, and costs each child most of a second at
 * start (and writes files under .tap/ of its working directory).
 * `env` execs node, so the child's pid is node's and signals reach it.
 * @internal
 */
export function makoCommand (args: string[]): [string, string[]] {
  const node = [process.execPath, makoBin, ...args]
  return existsSync('/usr/bin/env') ? ['/usr/bin/env', ['-u', 'NODE_OPTIONS', ...node]] : [node[0]!, node.slice(1)]
}

/** Every child of every cluster of this process, killed at exit. */
const children = new Set<ChildProcess>()
let exitHook = false

function track (child: ChildProcess): void {
  children.add(child)
  child.once('exit', () => { children.delete(child) })
  if (!exitHook) {
    exitHook = true
    process.once('exit', () => { for (const c of children) c.kill('SIGKILL') })
  }
}

/** Options of {@link ServeCluster.create}. @internal */
export interface ServeClusterOptions {
  /** Directory for the configuration file and the nodes' data. */
  dir: string
  /** Node ids. */
  ids: string[]
  /** The configuration without `cluster`, `secret` and `nodes` (those are filled in). */
  config: Record<string, unknown>
  /** Milliseconds a node may take to print `ready`. Default 15,000. */
  startTimeoutMs?: number
}

/** A `leader <shard> <epoch>` line a node printed. @internal */
export interface LeaderLine {
  node: string
  shard: number
  epoch: number
  at: number
}

/** `mako serve` processes. @internal */
export class ServeCluster {
  /** The configuration the nodes run. */
  readonly config: ClusterConfig
  /** Path of its file. */
  readonly configPath: string
  /** Every `leader` line printed, in arrival order. */
  readonly leaders: LeaderLine[] = []
  /** Standard error of every node, prefixed with its id (for failure reports). */
  readonly log: string[] = []
  readonly #dir: string
  readonly #procs = new Map<string, ChildProcess>()
  readonly #startTimeoutMs: number

  private constructor (options: ServeClusterOptions, config: ClusterConfig, configPath: string) {
    this.#dir = options.dir
    this.config = config
    this.configPath = configPath
    this.#startTimeoutMs = options.startTimeoutMs ?? 15_000
  }

  /** Picks free ports and writes the configuration file. @internal */
  static async create (options: ServeClusterOptions): Promise<ServeCluster> {
    const nodes: Record<string, { url: string }> = {}
    for (const id of options.ids) nodes[id] = { url: `ws://127.0.0.1:${await freePort()}` }
    const json = { cluster: 'serve-test', secret: 'serve-cluster-test-secret', nodes, ...options.config }
    const configPath = join(options.dir, 'cluster.json')
    writeFileSync(configPath, JSON.stringify(json, null, 2))
    return new ServeCluster(options, parseConfig(json), configPath)
  }

  /** A node's data directory. @internal */
  dataDir (id: string): string {
    return join(this.#dir, 'data', id)
  }

  /** Starts (or restarts) a node; resolves when it prints `ready`. @internal */
  start (id: string): Promise<void> {
    const [command, args] = makoCommand(['serve', '--config', this.configPath, '--node', id, '--data', this.dataDir(id)])
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    track(child)
    this.#procs.set(id, child)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        reject(new Error(`${id} did not print ready within ${this.#startTimeoutMs} ms`))
      }, this.#startTimeoutMs)
      createInterface({ input: child.stdout }).on('line', (line) => {
        const words = line.split(' ')
        if (words[0] === 'ready' && words[1] === id) {
          clearTimeout(timer)
          resolve()
        } else if (words[0] === 'leader' && words.length === 3) {
          this.leaders.push({ node: id, shard: Number(words[1]), epoch: Number(words[2]), at: performance.now() })
        } else {
          this.log.push(`${id} stdout ${line}`)
        }
      })
      child.stderr.setEncoding('utf8')
      child.stderr.on('data', (chunk: string) => { this.log.push(`${id} ${chunk.trimEnd()}`) })
      child.once('exit', (code, signal) => {
        clearTimeout(timer)
        this.log.push(`${id} exit ${String(code)} ${String(signal)}`)
        reject(new Error(`${id} exited (${String(code)} ${String(signal)}) before it was ready`))
      })
    })
  }

  /** Whether a node's process runs. @internal */
  running (id: string): boolean {
    const p = this.#procs.get(id)
    return p !== undefined && p.exitCode === null && p.signalCode === null
  }

  /** Sends a signal and waits (at most `ms`) for the process to exit; resolves with its exit code, or null after a signal. @internal */
  async kill (id: string, signal: NodeJS.Signals = 'SIGKILL', ms = 5000): Promise<number | null> {
    const p = this.#procs.get(id)
    if (p === undefined || !this.running(id)) return p?.exitCode ?? null
    const exited = new Promise<number | null>((resolve) => { p.once('exit', (code) => { resolve(code) }) })
    p.kill(signal)
    const timer = setTimeout(() => { p.kill('SIGKILL') }, ms)
    try {
      return await exited
    } finally {
      clearTimeout(timer)
    }
  }

  /** Stops every node: SIGTERM (a graceful close), SIGKILL after `graceMs`. @internal */
  async stop (graceMs = 3000): Promise<Array<number | null>> {
    return await Promise.all([...this.#procs.keys()].map(async (id) => await this.kill(id, 'SIGTERM', graceMs)))
  }
}
