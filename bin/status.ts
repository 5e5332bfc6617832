/**
 * `mako status`: what a running cluster is doing, per shard (leader,
 * epoch, Paxos commit index, watermark and its lag, commits per second)
 * and per node (reachable or not), read from every node's status over the
 * client's links.
 *
 * On a terminal it redraws every `--interval` until SIGINT; with `--once`,
 * `--json` or when standard output is not a terminal it prints once and
 * exits. Commits per second come from two samples `--interval` apart, so a
 * single print takes one interval.
 *
 * @module
 * @internal
 */

import { parseArgs } from 'node:util'
import type { ClusterConfig } from '../cluster/node/config.js'
import type { RemoteConnection } from '../cluster/node/remote.js'
import type { ShardStatus } from '../cluster/txn/messages.js'
import { CONNECT_USAGE, connectOptions, openTarget } from './kv.js'
import type { ConnectValues } from './kv.js'

/** Default milliseconds between samples. @internal */
export const defaultStatusIntervalMs = 1000
/** Shortest interval between samples, in milliseconds: a redraw costs every node a request. @internal */
export const minStatusIntervalMs = 200
/** Longest interval between samples, in milliseconds. @internal */
export const maxStatusIntervalMs = 60_000

/** The usage of `mako status`. @internal */
export const STATUS_USAGE = `usage: mako status [URL...] (--secret S | --config FILE) [--once] [--interval MS] [--json]

Shows each shard of the cluster: its leader, epoch, Paxos commit index,
watermark (the replicated prefix of the epoch's transactions), the lag of the
watermark behind the positions given out, and commits per second; and each
node: reachable or not. URL is any node's ws:// URL; with --config it may be
left out.

On a terminal it redraws every interval until Ctrl-C; with --once, --json, or
when the output is not a terminal, it prints once (after one interval, to
measure commits per second) and exits.

options:
  --once          print once and exit
  --interval MS   milliseconds between samples (default ${defaultStatusIntervalMs}, ${minStatusIntervalMs} to ${maxStatusIntervalMs})
  --json          print one JSON object (implies --once)
${CONNECT_USAGE}
  -h, --help      this text

exit codes: 0 shown, 1 cluster unreachable, 2 bad usage
`

/** One node's answer to a status request, or why there was none. @internal */
export interface NodeSample {
  /** The node. */
  id: string
  /** Its URL. */
  url: string
  /** Its shard replicas; undefined when it did not answer. */
  shards: ShardStatus[] | undefined
  /** Why it did not answer. */
  error: string | undefined
}

/** Every node's status at one moment. @internal */
export interface ClusterSample {
  /** When, in ms of `performance.now()`. */
  at: number
  /** Each node of the configuration, in its order. */
  nodes: NodeSample[]
}

/** A replica of a shard in a {@link StatusReport}. @internal */
export interface ReplicaReport {
  /** Its node. */
  node: string
  /** Whether the node answered. */
  reachable: boolean
  /** Paxos role, when reachable. */
  role: string | null
  /** Whether it leads and serves transactions. */
  serving: boolean
  /** The shard epoch it knows. */
  epoch: number | null
  /** Its Paxos commit index (slots chosen, contiguous). */
  commitIndex: number | null
  /** Its watermark (a seq within its epoch). */
  watermark: number | null
}

/** A shard in a {@link StatusReport}. @internal */
export interface ShardReport {
  /** The shard. */
  shard: number
  /** Smallest key (UTF-8), null from the start of the key space. */
  start: string | null
  /** First key not in it, null to the end of the key space. */
  end: string | null
  /** The node that leads and serves it now, or null when none does (an election, or its leader unreachable). */
  leader: string | null
  /** The highest epoch a replica knows. */
  epoch: number | null
  /** The leader's Paxos commit index (else the highest a replica has). */
  commitIndex: number | null
  /** The leader's watermark: transactions of the epoch replicated. */
  watermark: number | null
  /** The leader's last position given to a transaction. */
  assigned: number | null
  /** Positions given out and not yet under the watermark. */
  watermarkLag: number | null
  /** Transactions installed per second between the last two samples; null with one sample or after a restart. */
  commitsPerSecond: number | null
  /** Each replica. */
  replicas: ReplicaReport[]
}

/** What `mako status` shows, and prints with `--json`. @internal */
export interface StatusReport {
  /** The cluster id. */
  cluster: string
  /** When the sample was taken. */
  time: string
  /** Milliseconds between the two samples commits per second come from; null with one. */
  intervalMs: number | null
  /** Each node. */
  nodes: Array<{ id: string, url: string, reachable: boolean, error: string | null }>
  /** Each shard, in key order. */
  shards: ShardReport[]
}

/**
 * Asks every node for its status, concurrently. A node that does not
 * answer within `timeout` is reported unreachable.
 *
 * @param conn The client's connection.
 * @param config The cluster's configuration.
 * @param timeout Milliseconds per node.
 * @internal
 */
export async function sampleCluster (conn: RemoteConnection, config: ClusterConfig, timeout: number): Promise<ClusterSample> {
  const nodes = await Promise.all(config.nodeIds.map(async (id): Promise<NodeSample> => {
    const url = config.nodes[id]!.url
    try {
      return { id, url, shards: (await conn.status(id, timeout)).shards, error: undefined }
    } catch (err) {
      return { id, url, shards: undefined, error: err instanceof Error ? err.message : String(err) }
    }
  }))
  return { at: performance.now(), nodes }
}

/** Transactions installed at a shard's replicas that answered, since they started. */
function installed (sample: ClusterSample, shard: number): Map<string, number> {
  const out = new Map<string, number>()
  for (const n of sample.nodes) {
    const st = n.shards?.find((s) => s.shard === shard)
    if (st !== undefined) out.set(n.id, st.installed)
  }
  return out
}

/**
 * The report of a sample, with rates against the one before. O(nodes × shards).
 *
 * @param config The cluster's configuration.
 * @param cur The newest sample.
 * @param prev The sample before, for commits per second.
 * @internal
 */
export function summarize (config: ClusterConfig, cur: ClusterSample, prev?: ClusterSample): StatusReport {
  const elapsed = prev === undefined ? null : cur.at - prev.at
  const shards = config.shards.map((entry, shard): ShardReport => {
    const replicas: ReplicaReport[] = []
    let leader: ShardStatus | undefined
    let leaderNode: string | null = null
    let epoch: number | null = null
    let maxCommit: number | null = null
    for (const node of entry.replicas) {
      const st = cur.nodes.find((n) => n.id === node)?.shards?.find((s) => s.shard === shard)
      replicas.push({
        node,
        reachable: st !== undefined,
        role: st?.role ?? null,
        serving: st?.serving ?? false,
        epoch: st?.epoch ?? null,
        commitIndex: st?.commitIndex ?? null,
        watermark: st?.watermark ?? null
      })
      if (st === undefined) continue
      epoch = Math.max(epoch ?? 0, st.epoch)
      maxCommit = Math.max(maxCommit ?? 0, st.commitIndex)
      // Two replicas may both believe they serve for a moment across a
      // failover; the one in the newer epoch is the leader.
      if (st.serving && (leader === undefined || st.epoch > leader.epoch)) {
        leader = st
        leaderNode = node
      }
    }
    // Commits per second: transactions installed, summed over the
    // replicas that answered both times (only a leader installs, and each
    // counts from its start, so a restart in between gives no rate).
    let commitsPerSecond: number | null = null
    if (prev !== undefined && elapsed !== null && elapsed > 0) {
      const before = installed(prev, shard)
      const now = installed(cur, shard)
      let delta = 0
      let seen = 0
      for (const [node, n] of now) {
        const b = before.get(node)
        if (b === undefined) continue
        if (n < b) { delta = NaN; break }
        delta += n - b
        seen++
      }
      if (seen > 0 && !Number.isNaN(delta)) commitsPerSecond = Math.round(delta * 1000 / elapsed * 10) / 10
    }
    return {
      shard,
      start: entry.start ?? null,
      end: entry.end ?? null,
      leader: leaderNode,
      epoch,
      commitIndex: leader?.commitIndex ?? maxCommit,
      watermark: leader?.watermark ?? null,
      assigned: leader?.assigned ?? null,
      watermarkLag: leader === undefined ? null : Math.max(0, leader.assigned - leader.watermark),
      commitsPerSecond,
      replicas
    }
  })
  return {
    cluster: config.cluster,
    time: new Date().toISOString(),
    intervalMs: elapsed === null ? null : Math.round(elapsed),
    nodes: cur.nodes.map((n) => ({ id: n.id, url: n.url, reachable: n.shards !== undefined, error: n.error ?? null })),
    shards
  }
}

/** Lays rows out in columns, left-aligned, two spaces apart. */
function table (rows: string[][]): string {
  const widths: number[] = []
  for (const row of rows) for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length)
  return rows.map((row) => row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i]!)).join('  ')).join('\n') + '\n'
}

const dash = (x: number | null): string => x === null ? '-' : String(x)

/**
 * The report as text for people.
 *
 * @param r The report.
 * @internal
 */
export function renderStatus (r: StatusReport): string {
  const up = r.nodes.filter((n) => n.reachable).length
  let out = `cluster ${r.cluster}: ${up}/${r.nodes.length} nodes reachable, ${r.shards.filter((s) => s.leader !== null).length}/${r.shards.length} shards led   ${r.time}\n\n`
  out += table([
    ['NODE', 'URL', 'STATE'],
    ...r.nodes.map((n) => {
      const leads = r.shards.filter((s) => s.leader === n.id).map((s) => s.shard)
      const state = n.reachable ? `up${leads.length > 0 ? `, leads ${leads.join(', ')}` : ''}` : `unreachable (${n.error ?? 'no answer'})`
      return [n.id, n.url, state]
    })
  ])
  out += '\n'
  const show = (k: string | null, open: string): string => k === null ? open : JSON.stringify(k)
  out += table([
    ['SHARD', 'RANGE', 'LEADER', 'EPOCH', 'COMMIT', 'WATERMARK', 'ASSIGNED', 'LAG', 'COMMITS/S', 'REPLICAS (commit index)'],
    ...r.shards.map((s) => [
      String(s.shard),
      `[${show(s.start, '-inf')}, ${show(s.end, '+inf')})`,
      s.leader ?? 'none',
      dash(s.epoch),
      dash(s.commitIndex),
      dash(s.watermark),
      dash(s.assigned),
      dash(s.watermarkLag),
      s.commitsPerSecond === null ? '-' : s.commitsPerSecond.toFixed(1),
      s.replicas.map((p) => `${p.node}${p.serving ? '*' : ''} ${p.reachable ? dash(p.commitIndex) : 'down'}`).join(', ')
    ])
  ])
  return out
}

/** Where `mako status` writes, its environment and where SIGINT arrives. @internal */
export interface StatusIo {
  /** The report. */
  stdout: NodeJS.WritableStream & { isTTY?: boolean }
  /** Messages for people. */
  stderr: NodeJS.WritableStream
  /** The environment (`MAKO_SECRET`). */
  env: NodeJS.ProcessEnv
  /** Where SIGINT and SIGTERM arrive. */
  signals: NodeJS.EventEmitter
}

/**
 * Runs `mako status`; resolves with the exit code.
 *
 * @param argv The arguments after `status`.
 * @param io Streams, environment and signals; default the process's.
 * @internal
 */
export async function runStatus (argv: string[], io: StatusIo = { stdout: process.stdout, stderr: process.stderr, env: process.env, signals: process }): Promise<number> {
  const fail = (message: string, code: number): number => {
    io.stderr.write(`mako status: ${message}\n`)
    return code
  }
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...connectOptions, once: { type: 'boolean' }, json: { type: 'boolean' }, interval: { type: 'string' } },
      strict: true,
      allowPositionals: true
    })
  } catch (err) {
    return fail(`${(err as Error).message} (mako status --help for usage)`, 2)
  }
  const values = parsed.values as ConnectValues & { help?: boolean, once?: boolean, json?: boolean, interval?: string }
  if (values.help === true) {
    io.stdout.write(STATUS_USAGE)
    return 0
  }
  let interval = defaultStatusIntervalMs
  if (values.interval !== undefined) {
    interval = Number(values.interval)
    if (!/^\d+$/.test(values.interval) || interval < minStatusIntervalMs || interval > maxStatusIntervalMs) {
      return fail(`--interval takes a whole number of milliseconds from ${minStatusIntervalMs} to ${maxStatusIntervalMs}, not ${JSON.stringify(values.interval)}`, 2)
    }
  }
  const conn = await openTarget(values, parsed.positionals, io.env, 'mako status --help', fail)
  if (typeof conn === 'number') return conn
  const config = conn.config
  // A node that does not answer within the interval is shown unreachable,
  // so that one down node does not stall the redraw.
  const nodeTimeout = Math.min(interval, 2000)
  const live = values.once !== true && values.json !== true && io.stdout.isTTY === true
  let stop: () => void = () => {}
  const stopped = new Promise<void>((resolve) => { stop = resolve })
  const onSignal = (): void => { stop() }
  const wait = async (ms: number): Promise<boolean> => {
    let timer: NodeJS.Timeout | undefined
    const slept = new Promise<boolean>((resolve) => { timer = setTimeout(() => { resolve(true) }, ms) })
    const out = await Promise.race([slept, stopped.then(() => false)])
    clearTimeout(timer)
    return out
  }
  io.signals.on('SIGINT', onSignal)
  io.signals.on('SIGTERM', onSignal)
  try {
    let prev = await sampleCluster(conn, config, nodeTimeout)
    if (!live) {
      if (!await wait(interval)) return 130
      const report = summarize(config, await sampleCluster(conn, config, nodeTimeout), prev)
      io.stdout.write(values.json === true ? JSON.stringify(report) + '\n' : renderStatus(report))
      return report.nodes.some((n) => n.reachable) ? 0 : fail(`no node of cluster ${config.cluster} answered a status request`, 1)
    }
    // Live: home, clear, draw; the first frame at once, without rates.
    io.stdout.write(`\x1b[H\x1b[2J${renderStatus(summarize(config, prev))}`)
    for (;;) {
      if (!await wait(interval)) break
      const cur = await sampleCluster(conn, config, nodeTimeout)
      io.stdout.write(`\x1b[H\x1b[2J${renderStatus(summarize(config, cur, prev))}\n(every ${interval} ms; Ctrl-C to stop)\n`)
      prev = cur
    }
    return 0
  } finally {
    io.signals.off('SIGINT', onSignal)
    io.signals.off('SIGTERM', onSignal)
    await conn.close()
  }
}

/**
 * `mako status`: runs {@link runStatus} on the process's streams and signals.
 *
 * @param _command The command's name.
 * @param argv The arguments after it.
 * @internal
 */
export async function main (_command: string, argv: string[]): Promise<number> {
  return await runStatus(argv)
}
