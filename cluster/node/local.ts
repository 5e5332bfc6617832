/**
 * A whole cluster on one machine: one `mako serve` child process per node,
 * on loopback ports, with the configuration file and every node's data
 * under one directory. What `mako local` and `mako start` run, and a
 * quick way to try the cluster from a program or a test.
 *
 * The first run writes `<dataDir>/cluster.json` (a random secret, free
 * ports, the key space cut evenly into shards) and later runs on the same
 * directory reuse it, so the nodes come back on the same URLs with their
 * data.
 *
 * @example
 * ```ts
 * const local = await startLocalCluster({ dataDir: './data' })
 * const { client, close } = await connectClient({ config: local.config })
 * await client.transaction(async (tx) => { tx.put(key, value) })
 * await close()
 * await local.stop()
 * ```
 *
 * @module
 */

import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { MakoError } from '../../lib/errors.js'
import { loadConfig, parseConfig } from './config.js'
import type { ClusterConfig, ShardEntry } from './config.js'
import { defaultClusterId } from './remote.js'

/** Most nodes {@link startLocalCluster} runs. */
export const maxLocalNodes = 9
/** Most shards {@link startLocalCluster} cuts the key space into (one per hex digit). */
export const maxLocalShards = 16
/** Milliseconds every node has to print `ready` by default. */
export const defaultLocalStartMs = 20_000
/** Milliseconds a node has to stop after SIGTERM before SIGKILL, by default. */
export const defaultLocalStopMs = 5000
/** Most lines of standard error kept per node, for error messages. */
const maxKeptLines = 20

/** The name of the configuration file inside the data directory. */
export const localConfigFile = 'cluster.json'

/** A line a node printed. */
export interface LocalLine {
  /** The node's id. */
  node: string
  /** Where it printed it: `stdout` carries lines for programs (`ready`, `leader`), `stderr` messages for people. */
  stream: 'stdout' | 'stderr'
  /** The line, without its newline. */
  line: string
}

/** A node's announcement that it leads a shard (a `leader` line). */
export interface LocalLeader {
  /** The shard. */
  shard: number
  /** The node that leads it. */
  node: string
  /** Its epoch. */
  epoch: number
  /** When the line arrived, on `performance.now()`'s clock (ms). */
  at: number
}

/** Options of {@link startLocalCluster}. */
export interface LocalClusterOptions {
  /**
   * Nodes, 1 to {@link maxLocalNodes}; default 3 for a new cluster. For an
   * existing `cluster.json`, leave it out or give the count it has.
   */
  nodes?: number
  /**
   * Shards, 1 to {@link maxLocalShards}; default 2 for a new cluster. For
   * an existing `cluster.json`, leave it out or give the count it has.
   */
  shards?: number
  /** The directory of `cluster.json` and of each node's data (`<dataDir>/<node>`); default `./data`. */
  dataDir?: string
  /**
   * For a new cluster: node i (from 0) listens on `basePort + i`. Default:
   * free ports the system picks. Kept in the file; for an existing file,
   * leave it out or give the first port it has.
   */
  basePort?: number
  /** Called with every line a node prints (after the `ready` and `leader` lines are read). */
  onLine?: (line: LocalLine) => void
  /**
   * Called when a node's process exits by itself (not through
   * {@link LocalCluster.kill}, {@link LocalCluster.restart} or
   * {@link LocalCluster.stop}): a crash or a failed replica.
   */
  onExit?: (node: string, code: number | null, signal: NodeJS.Signals | null) => void
  /** Milliseconds every node has to print `ready`; default {@link defaultLocalStartMs}. */
  startTimeoutMs?: number
  /** Milliseconds a node has to stop after SIGTERM before SIGKILL; default {@link defaultLocalStopMs}. */
  stopTimeoutMs?: number
}

/** A running local cluster, from {@link startLocalCluster}. */
export interface LocalCluster {
  /** The configuration the nodes run. */
  readonly config: ClusterConfig
  /** The absolute path of its file (it holds the secret: share it as a secret). */
  readonly configPath: string
  /** The absolute data directory. */
  readonly dataDir: string
  /** Whether this run wrote the configuration (false: an existing one was reused). */
  readonly created: boolean
  /** The nodes' URLs, in the order of {@link ClusterConfig.nodeIds}. */
  readonly urls: readonly string[]
  /**
   * Each shard's leader as the nodes announced it: by shard, the
   * announcement of the highest epoch from a node that still runs;
   * undefined for a shard without one.
   */
  leaders(): Array<LocalLeader | undefined>
  /**
   * Waits for a node to announce that it leads `shard`.
   *
   * @param shard The shard.
   * @param options `after`: only an epoch above this one counts; `timeoutMs`: default 10,000.
   * @throws MakoError `MAKO_TIMEOUT` (transient) when none did in time.
   */
  waitForLeader(shard: number, options?: { after?: number, timeoutMs?: number }): Promise<LocalLeader>
  /** Whether a node's process runs. @param node The node's id. */
  running(node: string): boolean
  /**
   * Sends a signal to a node and waits for its process to exit (SIGKILL
   * after the stop bound if it has not).
   *
   * @param node The node's id.
   * @param signal Default `SIGKILL`, a crash.
   * @returns Its exit code, or null when a signal ended it.
   */
  kill(node: string, signal?: NodeJS.Signals): Promise<number | null>
  /**
   * Starts a node again on its data directory (stopping it first with
   * SIGTERM if it runs); resolves once it prints `ready`.
   *
   * @param node The node's id.
   * @throws MakoError `MAKO_NODE_START_FAILED` when it exits or stays silent.
   */
  restart(node: string): Promise<void>
  /**
   * Stops every node: SIGTERM (each finishes work under way), SIGKILL
   * after the stop bound. Idempotent.
   *
   * @returns Exit codes by node (null: ended by a signal).
   */
  stop(): Promise<Record<string, number | null>>
}

/**
 * The shards of a new local cluster: the key space cut at hex digits, so
 * keys that start with a hex digit (hashes, hex ids) spread evenly; with
 * two shards, keys below `"8"` are the first shard's. Every shard has
 * every node as a replica when the count is odd and at most 5; otherwise
 * three replicas (one when there are fewer than three nodes), placed in
 * turn.
 *
 * @param nodeIds The nodes.
 * @param shards How many shards, 1 to {@link maxLocalShards}.
 */
export function localShards (nodeIds: readonly string[], shards: number): ShardEntry[] {
  const hex = '0123456789abcdef'
  const n = nodeIds.length
  const all = n % 2 === 1 && n <= 5
  const per = all ? n : n >= 3 ? 3 : 1
  const out: ShardEntry[] = []
  for (let s = 0; s < shards; s++) {
    const start = s === 0 ? undefined : hex[Math.round((16 * s) / shards)]
    const end = s === shards - 1 ? undefined : hex[Math.round((16 * (s + 1)) / shards)]
    const replicas = Array.from({ length: per }, (_, i) => nodeIds[(s + i) % n]!)
    out.push({ ...(start !== undefined ? { start } : {}), ...(end !== undefined ? { end } : {}), replicas })
  }
  return out
}

/** Resolves when `port` can be bound on `host`, with false when it is in use. */
function portFree (host: string, port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const srv = createServer()
    srv.once('error', () => { resolvePort(false) })
    srv.listen({ host, port, exclusive: true }, () => { srv.close(() => { resolvePort(true) }) })
  })
}

/** A port the system picks on loopback, free when returned. */
function systemPort (): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      srv.close(() => { resolvePort(port) })
    })
  })
}

function checkCount (value: number | undefined, name: string, max: number): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 1 || value > max)) {
    throw new MakoError(`${name} must be a whole number from 1 to ${max} (got ${String(value)})`, 'MAKO_INVALID_ARGUMENT')
  }
}

/** Loads the configuration file there and checks it against what was asked, or makes a new one (written later, once its ports are known free). */
async function prepareConfig (options: LocalClusterOptions, configPath: string): Promise<{ config: ClusterConfig, json: unknown }> {
  if (existsSync(configPath)) {
    const config = await loadConfig(configPath)
    const mismatch = (what: string, asked: number, has: number): MakoError => new MakoError(
      `${configPath} describes a cluster of ${has} ${what}, not ${asked}: leave the option out to run it as it is, or give another data directory for a new cluster`,
      'MAKO_INVALID_CONFIG')
    if (options.nodes !== undefined && options.nodes !== config.nodeIds.length) throw mismatch('nodes', options.nodes, config.nodeIds.length)
    if (options.shards !== undefined && options.shards !== config.shards.length) throw mismatch('shards', options.shards, config.shards.length)
    const first = config.nodes[config.nodeIds[0]!]!.port
    if (options.basePort !== undefined && options.basePort !== first) {
      throw new MakoError(`${configPath} has its first node on port ${first}, not ${options.basePort}: leave the option out, or give another data directory for a new cluster`, 'MAKO_INVALID_CONFIG')
    }
    return { config, json: undefined }
  }
  const nodeCount = options.nodes ?? 3
  const shardCount = options.shards ?? 2
  const ids = Array.from({ length: nodeCount }, (_, i) => `n${i + 1}`)
  const ports: number[] = []
  if (options.basePort !== undefined) {
    for (let i = 0; i < nodeCount; i++) ports.push(options.basePort + i)
  } else {
    while (ports.length < nodeCount) {
      const port = await systemPort()
      if (!ports.includes(port)) ports.push(port)
    }
  }
  const json = {
    cluster: defaultClusterId,
    // Made once and kept in the file: every node and client of this
    // cluster proves it knows it.
    secret: randomBytes(24).toString('base64url'),
    nodes: Object.fromEntries(ids.map((id, i) => [id, { url: `ws://127.0.0.1:${ports[i]!}` }])),
    shards: localShards(ids, shardCount)
  }
  return { config: parseConfig(json), json }
}

/** The compiled `mako` command line, beside this module's tree. */
const makoBin = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'mako.js')

/** Every node process of every local cluster of this process, killed if the process exits first. */
const everyChild = new Set<ChildProcess>()
let exitHook = false

function track (child: ChildProcess): void {
  everyChild.add(child)
  child.once('exit', () => { everyChild.delete(child) })
  if (!exitHook) {
    exitHook = true
    // A parent that exits without stopping its cluster (an uncaught
    // error, process.exit) must not leave nodes holding ports and locks.
    process.once('exit', () => { for (const c of everyChild) c.kill('SIGKILL') })
  }
}

/** One node's process and what it printed. */
interface NodeProc {
  child: ChildProcess
  /** Last lines of standard error. */
  tail: string[]
  /** Set while the cluster itself stops or kills it. */
  expected: boolean
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

/**
 * Starts a cluster of `mako serve` child processes on loopback: writes
 * (or reuses) `<dataDir>/cluster.json`, starts one node per entry with
 * its data in `<dataDir>/<node>`, and resolves once every node prints
 * `ready`. If any node fails to start, the nodes already started are
 * killed before the promise rejects: nothing is left running.
 *
 * Node processes run in their own process groups, so a Ctrl-C at the
 * terminal reaches only the parent, which stops them with
 * {@link LocalCluster.stop}; should the parent exit without doing so,
 * they are killed on its `exit` event.
 *
 * @param options Nodes, shards, directory, ports, and callbacks.
 * @throws MakoError `MAKO_INVALID_ARGUMENT` for bad counts or ports,
 *   `MAKO_INVALID_CONFIG` for an existing file that does not match the
 *   options or does not parse, `MAKO_PORT_IN_USE` when a node's port is
 *   taken, `MAKO_NODE_START_FAILED` when a node exits before it is ready
 *   or is not ready within `startTimeoutMs` (its last lines of standard
 *   error in the message).
 */
export async function startLocalCluster (options: LocalClusterOptions = {}): Promise<LocalCluster> {
  checkCount(options.nodes, 'nodes', maxLocalNodes)
  checkCount(options.shards, 'shards', maxLocalShards)
  if (options.basePort !== undefined && (!Number.isInteger(options.basePort) || options.basePort < 1 || options.basePort + (options.nodes ?? 3) - 1 > 65535)) {
    throw new MakoError(`basePort must be a port from 1 to ${65536 - (options.nodes ?? 3)} (got ${String(options.basePort)})`, 'MAKO_INVALID_ARGUMENT')
  }
  const dataDir = resolve(options.dataDir ?? 'data')
  const configPath = join(dataDir, localConfigFile)
  const { config, json } = await prepareConfig(options, configPath)
  const created = json !== undefined
  const startMs = options.startTimeoutMs ?? defaultLocalStartMs
  const stopMs = options.stopTimeoutMs ?? defaultLocalStopMs
  const ids = config.nodeIds
  const busy: string[] = []
  for (const id of ids) {
    const { host, port } = config.nodes[id]!
    if (!await portFree(host, port)) busy.push(`${id}'s port ${port}`)
  }
  if (busy.length > 0) {
    throw new MakoError(created
      ? `${busy.join(', ')} ${busy.length === 1 ? 'is' : 'are'} in use: stop what listens there, or choose another base port`
      : `${busy.join(', ')} ${busy.length === 1 ? 'is' : 'are'} in use (ports kept in ${configPath}): stop what listens there, or give another data directory for a new cluster`, 'MAKO_PORT_IN_USE')
  }
  // What a failed first start removes, so that the next run starts afresh.
  const made = created ? [configPath, ...ids.map((id) => join(dataDir, id)).filter((dir) => !existsSync(dir))] : []
  if (created) {
    mkdirSync(dataDir, { recursive: true })
    // Only the owner reads it: it holds the secret.
    writeFileSync(configPath, JSON.stringify(json, null, 2) + '\n', { mode: 0o600, flag: 'wx' })
  }

  const procs = new Map<string, NodeProc>()
  const announced: LocalLeader[] = []
  const leaderWaiters = new Set<() => void>()
  let stopping: Promise<Record<string, number | null>> | undefined

  const running = (id: string): boolean => {
    const p = procs.get(id)
    return p !== undefined && p.child.exitCode === null && p.child.signalCode === null
  }

  /** Spawns a node; resolves once it prints `ready`, rejects (after killing it) when it exits or stays silent. */
  const spawnNode = (id: string): Promise<void> => {
    const child = spawn(process.execPath, [makoBin, 'serve', '--config', configPath, '--node', id, '--data', join(dataDir, id)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: a terminal's Ctrl-C goes to the parent
      // only, which stops the node with one SIGTERM. (`mako serve` takes a
      // second signal as "stop at once", so the node must not get both.)
      detached: true
    })
    track(child)
    const proc: NodeProc = {
      child,
      tail: [],
      expected: false,
      exited: new Promise((resolveExit) => { child.once('exit', (code, signal) => { resolveExit({ code, signal }) }) })
    }
    procs.set(id, proc)
    return new Promise<void>((resolveReady, rejectReady) => {
      let ready = false
      const fail = (why: string): void => {
        if (ready) return
        ready = true
        clearTimeout(timer)
        const tail = proc.tail.slice(-3).join(' | ')
        rejectReady(new MakoError(`node ${id} ${why}${tail === '' ? '' : `: ${tail}`}`, 'MAKO_NODE_START_FAILED'))
      }
      const timer = setTimeout(() => {
        fail(`did not print ready within ${startMs} ms`)
        proc.expected = true
        child.kill('SIGKILL')
      }, startMs)
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const words = line.split(' ')
        if (words[0] === 'ready' && words[1] === id && !ready) {
          ready = true
          clearTimeout(timer)
          resolveReady()
        } else if (words[0] === 'leader' && words.length === 3) {
          announced.push({ shard: Number(words[1]), node: id, epoch: Number(words[2]), at: performance.now() })
          for (const w of leaderWaiters) w()
        }
        options.onLine?.({ node: id, stream: 'stdout', line })
      })
      createInterface({ input: child.stderr! }).on('line', (line) => {
        proc.tail.push(line)
        if (proc.tail.length > maxKeptLines) proc.tail.shift()
        options.onLine?.({ node: id, stream: 'stderr', line })
      })
      child.once('error', (err) => { fail(`could not be started: ${err.message}`) })
      child.once('exit', (code, signal) => {
        fail(`exited (${signal ?? `code ${String(code)}`}) before it was ready`)
        if (!proc.expected) options.onExit?.(id, code, signal)
        for (const w of leaderWaiters) w()
      })
    })
  }

  const kill = async (id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> => {
    const p = procs.get(id)
    if (p === undefined) throw new MakoError(`no node ${JSON.stringify(id)} in this cluster (nodes: ${ids.join(', ')})`, 'MAKO_INVALID_ARGUMENT')
    if (running(id)) {
      p.expected = true
      p.child.kill(signal)
      // Bounded: a node that ignores the signal is killed.
      const timer = setTimeout(() => { p.child.kill('SIGKILL') }, stopMs)
      try {
        await p.exited
      } finally {
        clearTimeout(timer)
      }
    }
    return p.child.exitCode
  }

  const stop = (): Promise<Record<string, number | null>> => {
    stopping ??= (async () => {
      const codes = await Promise.all(ids.map(async (id) => await kill(id, 'SIGTERM')))
      return Object.fromEntries(ids.map((id, i) => [id, codes[i] ?? null]))
    })()
    return stopping
  }

  const started = await Promise.allSettled(ids.map(spawnNode))
  const failed = started.flatMap((r) => r.status === 'rejected' ? [r.reason as Error] : [])
  if (failed.length > 0) {
    // Nothing left half-way: every node started is killed.
    await Promise.all(ids.map(async (id) => await kill(id, 'SIGKILL')))
    for (const path of made) rmSync(path, { recursive: true, force: true })
    throw failed[0]!
  }

  const leaders = (): Array<LocalLeader | undefined> => {
    const out: Array<LocalLeader | undefined> = config.shards.map(() => undefined)
    for (const l of announced) {
      if (!running(l.node)) continue
      const cur = out[l.shard]
      if (cur === undefined || l.epoch >= cur.epoch) out[l.shard] = l
    }
    return out
  }

  return {
    config,
    configPath,
    dataDir,
    created,
    urls: ids.map((id) => config.nodes[id]!.url),
    leaders,
    async waitForLeader (shard: number, waitOptions: { after?: number, timeoutMs?: number } = {}): Promise<LocalLeader> {
      const after = waitOptions.after ?? -1
      const timeoutMs = waitOptions.timeoutMs ?? 10_000
      return await new Promise<LocalLeader>((resolveLeader, reject) => {
        const check = (): void => {
          const l = leaders()[shard]
          if (l === undefined || l.epoch <= after) return
          done()
          resolveLeader(l)
        }
        const timer = setTimeout(() => {
          done()
          reject(new MakoError(`no node announced it leads shard ${shard}${after >= 0 ? ` in an epoch above ${after}` : ''} within ${timeoutMs} ms`, 'MAKO_TIMEOUT', { transient: true }))
        }, timeoutMs)
        const done = (): void => { clearTimeout(timer); leaderWaiters.delete(check) }
        leaderWaiters.add(check)
        check()
      })
    },
    running,
    kill,
    async restart (id: string): Promise<void> {
      if (running(id)) await kill(id, 'SIGTERM')
      else if (!procs.has(id)) throw new MakoError(`no node ${JSON.stringify(id)} in this cluster (nodes: ${ids.join(', ')})`, 'MAKO_INVALID_ARGUMENT')
      if (stopping !== undefined) throw new MakoError('the cluster is stopping', 'MAKO_CLOSED')
      await spawnNode(id)
    },
    stop
  }
}
