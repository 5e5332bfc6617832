/**
 * `mako serve`: runs one node of a cluster until SIGINT or SIGTERM.
 *
 * Standard output carries lines for programs: `ready <node> <url>` once the
 * node listens, then `leader <shard> <epoch>` each time one of its replicas
 * becomes its shard's leader, and `metrics <url>` before `ready` when
 * `--metrics HOST:PORT` turned on the Prometheus endpoint. People's
 * messages go to standard error.
 *
 * @module
 * @internal
 */

import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { MakoError } from '../lib/errors.js'
import { ConfigError, configNode, loadConfig } from '../cluster/node/config.js'
import { ClusterNode } from '../cluster/node/node.js'

/** The usage of `mako serve`. @internal */
export const SERVE_USAGE = `usage: mako serve --config FILE --node ID [--data DIR] [--sync] [--metrics HOST:PORT]

Runs node ID of the cluster that FILE describes, until SIGINT or SIGTERM
(which let work under way finish, then stop; a second signal stops at once).

options:
  --config FILE   the cluster configuration (JSON: cluster, secret, nodes, shards)
  --node ID       which node of FILE this process is
  --data DIR      the node's data directory (default ./data/ID); created if missing
  --sync          fdatasync every log write before acknowledging it: survives
                  a power loss, not only a crash of the process (slower)
  --metrics HOST:PORT
                  serve Prometheus metrics at http://HOST:PORT/metrics (per
                  shard: leader, epoch, watermark and its lag, Paxos commit
                  index, transactions installed and rolled back; per link to
                  each other node: up, messages, bytes, timeouts). PORT alone
                  binds 127.0.0.1; port 0 picks a free one. Off by default;
                  no authentication, so bind an interface only monitoring reaches

prints "metrics URL" (with --metrics), then "ready ID URL" once listening,
and "leader SHARD EPOCH" when this node becomes a shard's leader; exits 2 on a bad command line or configuration,
1 when the node cannot start or a replica fails.
`

/** Where `mako serve` writes, and the process it answers signals for. @internal */
export interface ServeIo {
  /** Lines for programs. */
  stdout: NodeJS.WritableStream
  /** Messages for people. */
  stderr: NodeJS.WritableStream
  /** Where SIGINT and SIGTERM arrive. */
  signals: NodeJS.EventEmitter
}

/**
 * Runs `mako serve` with its arguments; resolves with the exit code once
 * the node has stopped (or failed to start).
 *
 * @param argv The arguments after `serve`.
 * @param io Streams and signals; default the process's.
 * @internal
 */
export async function runServe (argv: string[], io: ServeIo = { stdout: process.stdout, stderr: process.stderr, signals: process }): Promise<number> {
  const fail = (message: string, code: number): number => {
    io.stderr.write(`mako serve: ${message.replace(/\s*\n\s*/g, ' ')}\n`)
    return code
  }
  let values: { config?: string | undefined, node?: string | undefined, data?: string | undefined, sync?: boolean | undefined, metrics?: string | undefined, help?: boolean | undefined }
  try {
    values = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        node: { type: 'string' },
        data: { type: 'string' },
        sync: { type: 'boolean' },
        metrics: { type: 'string' },
        help: { type: 'boolean', short: 'h' }
      },
      strict: true,
      allowPositionals: false
    }).values
  } catch (err) {
    return fail(`${(err as Error).message} (mako serve --help for usage)`, 2)
  }
  if (values.help === true) {
    io.stdout.write(SERVE_USAGE)
    return 0
  }
  if (values.config === undefined) return fail('--config FILE is required (mako serve --help for usage)', 2)
  if (values.node === undefined) return fail('--node ID is required (mako serve --help for usage)', 2)
  const nodeId = values.node
  let metrics: { host: string, port: number } | undefined
  if (values.metrics !== undefined) {
    metrics = parseHostPort(values.metrics)
    if (metrics === undefined) return fail(`--metrics takes HOST:PORT or PORT, such as 127.0.0.1:9464 ([::1]:9464 for IPv6), not ${JSON.stringify(values.metrics)}`, 2)
  }
  let node: ClusterNode
  try {
    const config = await loadConfig(values.config)
    try {
      configNode(config, nodeId)
    } catch (err) {
      // The node is missing from the file: say which file.
      if (err instanceof ConfigError) throw new ConfigError(err.field, err.problem, { file: values.config })
      throw err
    }
    node = await ClusterNode.start({
      config,
      nodeId,
      dataDir: resolve(values.data ?? `data/${nodeId}`),
      sync: values.sync === true,
      ...(metrics !== undefined ? { metrics } : {})
    })
  } catch (err) {
    if (err instanceof MakoError) return fail(err.message, err.code === 'MAKO_INVALID_CONFIG' ? 2 : 1)
    throw err
  }
  const stopped = new Promise<number>((resolveStopped) => {
    let code = 0
    let stopping = false
    const stop = (why: string, exitCode: number): void => {
      if (stopping) return
      stopping = true
      code = exitCode
      io.stderr.write(`mako serve: ${nodeId} ${why}; finishing work under way\n`)
      node.close().then(() => {
        io.stderr.write(`mako serve: ${nodeId} stopped\n`)
      }, (err: unknown) => {
        io.stderr.write(`mako serve: ${nodeId} did not stop cleanly: ${(err as Error).message}\n`)
        code = 1
      }).finally(() => {
        io.signals.off('SIGINT', onSignal)
        io.signals.off('SIGTERM', onSignal)
        resolveStopped(code)
      })
    }
    const onSignal = (signal: string): void => {
      if (stopping) {
        // A second signal: the operator will not wait.
        io.stderr.write(`mako serve: ${nodeId} ${signal} again, stopping at once\n`)
        process.exit(130)
      }
      stop(`got ${signal}`, 0)
    }
    io.signals.on('SIGINT', onSignal)
    io.signals.on('SIGTERM', onSignal)
    node.on('leader', (shard, epoch) => { io.stdout.write(`leader ${shard} ${epoch}\n`) })
    node.on('steppedDown', (shard) => { io.stderr.write(`mako serve: ${nodeId} no longer leads shard ${shard}\n`) })
    node.on('replicaFailed', (shard, err) => {
      io.stderr.write(`mako serve: ${nodeId}'s replica of shard ${shard} failed: ${err.message}\n`)
      stop('has a failed replica', 1)
    })
  })
  const hosted = [...node.hosted.shards.keys()]
  io.stderr.write(`mako serve: node ${nodeId} of cluster ${node.config.cluster} on ${node.url}, data in ${node.dataDir}${values.sync === true ? ' (fsync on)' : ''}, replicas of shard${hosted.length === 1 ? '' : 's'} ${hosted.join(', ') || 'none'}\n`)
  if (node.metricsUrl !== undefined) io.stdout.write(`metrics ${node.metricsUrl}\n`)
  io.stdout.write(`ready ${nodeId} ${node.url}\n`)
  return await stopped
}

/**
 * Parses `HOST:PORT`, `[IPv6]:PORT` or `PORT` (on 127.0.0.1); undefined
 * when it is none of these.
 *
 * @param text What the command line gave.
 * @internal
 */
export function parseHostPort (text: string): { host: string, port: number } | undefined {
  const m = /^(?:(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):)?(\d{1,5})$/.exec(text)
  if (m === null) return undefined
  const port = Number(m[3])
  if (port > 65535) return undefined
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port }
}

/**
 * `mako serve`: runs {@link runServe} on the process's streams and signals.
 *
 * @param _command The command's name.
 * @param argv The arguments after it.
 * @internal
 */
export async function main (_command: string, argv: string[]): Promise<number> {
  return await runServe(argv)
}
