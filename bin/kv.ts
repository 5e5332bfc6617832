/**
 * `mako get | put | del | scan`: one read or write against a running
 * cluster, like RocksDB's `ldb`, with UTF-8 keys and values.
 *
 * Every command finds the cluster from a node's URL and the secret
 * (`--secret S`, or the `MAKO_SECRET` environment variable), or from the
 * cluster's configuration file (`--config FILE`, which also makes the URL
 * optional). Writes resolve once final: replicated on a majority of the
 * shard's replicas. Reads see every write acknowledged before they began.
 *
 * Standard output carries the data (a value; `key<TAB>value` lines for
 * scan); messages for people go to standard error. Exit codes: 0 done,
 * 1 failed (a missing key for get, an unreachable or refusing cluster),
 * 2 bad usage.
 *
 * The helpers that find and connect to a cluster are shared with
 * `mako status`.
 *
 * @module
 * @internal
 */

import { Socket } from 'node:net'
import { parseArgs } from 'node:util'
import type { ParseArgsConfig } from 'node:util'
import { MakoError } from '../lib/errors.js'
import { ClusterLevel } from '../adapters/level/cluster-level.js'
import { loadConfig } from '../cluster/node/config.js'
import type { ClusterConfig } from '../cluster/node/config.js'
import type { NodeId } from '../cluster/transport/ids.js'
import { connectClient } from '../cluster/node/connect.js'
import { defaultClusterId, describeCluster } from '../cluster/node/remote.js'
import type { RemoteConnection } from '../cluster/node/remote.js'

/** Default milliseconds a request may take, leader changes included. @internal */
export const defaultCliTimeoutMs = 10_000

/** The options every cluster command takes, for `parseArgs`. @internal */
export const connectOptions = {
  secret: { type: 'string' },
  config: { type: 'string' },
  cluster: { type: 'string' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' }
} as const satisfies NonNullable<ParseArgsConfig['options']>

/** How the connection options read in usage texts. @internal */
export const CONNECT_USAGE = `  --secret S      the cluster's shared secret (default: $MAKO_SECRET)
  --config FILE   the cluster's configuration file: its secret, cluster id
                  and node URLs (then URL may be left out)
  --cluster ID    the cluster id (default: the file's, else "${defaultClusterId}")
  --timeout MS    how long a request may take, failovers included
                  (default ${defaultCliTimeoutMs})`

/** What the connection options gave, as `parseArgs` returns them. @internal */
export interface ConnectValues {
  secret?: string | undefined
  config?: string | undefined
  cluster?: string | undefined
  timeout?: string | undefined
}

/** A cluster to connect to, resolved from the command line. @internal */
export interface Target {
  /** Node URLs to ask first. */
  urls: string[]
  /** The secret. */
  secret: string
  /** The cluster id. */
  cluster: string
  /** Request timeout, ms. */
  timeout: number
  /** The configuration file's contents, with --config. */
  config: ClusterConfig | undefined
}

/**
 * A bad command line (exit 2), as opposed to a failure (exit 1).
 * @internal
 */
export class UsageError extends MakoError {
  /** @param message What is wrong with the command line. */
  constructor (message: string) {
    super(message, 'MAKO_INVALID_ARGUMENT')
    this.name = 'UsageError'
  }
}

/**
 * Resolves the URLs, secret, cluster id and timeout of a command.
 *
 * @param values The parsed connection options.
 * @param urls URLs given on the command line.
 * @param env The environment (for `MAKO_SECRET`).
 * @throws UsageError for a bad or missing option; ConfigError or
 *   MakoError (`MAKO_IO_ERROR`) for a configuration file that cannot be used.
 * @internal
 */
export async function resolveTarget (values: ConnectValues, urls: string[], env: NodeJS.ProcessEnv): Promise<Target> {
  let timeout = defaultCliTimeoutMs
  if (values.timeout !== undefined) {
    timeout = Number(values.timeout)
    if (!/^\d+$/.test(values.timeout) || timeout < 1) throw new UsageError(`--timeout takes a positive whole number of milliseconds, not ${JSON.stringify(values.timeout)}`)
  }
  for (const url of urls) {
    if (!/^wss?:\/\/[^/\s]+\/?$/.test(url)) throw new UsageError(`${JSON.stringify(url)} is not a node URL such as ws://127.0.0.1:7001`)
  }
  if (values.secret !== undefined && values.config !== undefined) throw new UsageError('give --secret or --config, not both')
  let config: ClusterConfig | undefined
  if (values.config !== undefined) config = await loadConfig(values.config)
  const secret = values.secret ?? config?.secret ?? env['MAKO_SECRET']
  if (secret === undefined || secret === '') throw new UsageError('give the cluster secret: --secret S, --config FILE or the MAKO_SECRET environment variable')
  if (urls.length === 0) {
    if (config === undefined) throw new UsageError('give a node URL such as ws://127.0.0.1:7001 (or --config FILE)')
    urls = config.nodeIds.map((id) => config.nodes[id]!.url)
  }
  return { urls, secret, cluster: values.cluster ?? config?.cluster ?? defaultClusterId, timeout, config }
}

/** Whether something accepts TCP connections at a ws:// URL's address. */
async function listens (url: string, ms: number): Promise<boolean> {
  let host: string
  let port: number
  try {
    const u = new URL(url)
    host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname
    port = Number(u.port === '' ? (u.protocol === 'wss:' ? 443 : 80) : u.port)
  } catch {
    return false
  }
  return await new Promise<boolean>((resolve) => {
    const socket = new Socket()
    const done = (ok: boolean): void => { socket.destroy(); resolve(ok) }
    socket.setTimeout(ms, () => { done(false) })
    socket.once('error', () => { done(false) })
    socket.connect(port, host, () => { done(true) })
  })
}

/**
 * Connects to the cluster a command names. A cluster that cannot be
 * reached is explained per URL: nothing listening there, or a server that
 * did not accept the secret and cluster id given.
 *
 * @param target Where and how.
 * @throws MakoError `MAKO_UNAVAILABLE` with a message for people.
 * @internal
 */
export async function connectTarget (target: Target): Promise<RemoteConnection> {
  let config: ClusterConfig
  try {
    config = await describeCluster({ urls: target.urls, secret: target.secret, cluster: target.cluster, connectTimeout: Math.min(target.timeout, 5000) })
  } catch (err) {
    if (!(err instanceof MakoError) || err.code !== 'MAKO_UNAVAILABLE') throw err
    throw new MakoError(await explainUnreachable(target), 'MAKO_UNAVAILABLE', { transient: true, cause: err })
  }
  // connectClient's own wait for links is not used: it leaves the waits
  // for the links after the first running after close, which would hold
  // a short command's exit for seconds. The waits here are cancelled.
  const conn = await connectClient({ config, timeout: target.timeout, finalTimeout: target.timeout, connectTimeout: 0 })
  const abort = new AbortController()
  const waits = config.nodeIds.map(async (id) => { await conn.transport.waitForPeer(id as NodeId, { timeout: linkWaitMs, signal: abort.signal }) })
  try {
    await Promise.any(waits)
    // A little longer for the others, so that a node that is down costs
    // little, and reads get marks from every node that is up.
    await Promise.race([Promise.allSettled(waits), new Promise((resolve) => { setTimeout(resolve, linkWaitMs / 5).unref() })])
  } catch (err) {
    await conn.close()
    throw new MakoError(`cannot reach cluster ${target.cluster}: no node of ${config.nodeIds.join(', ')} linked within ${linkWaitMs} ms`, 'MAKO_UNAVAILABLE', { transient: true, cause: err })
  } finally {
    abort.abort()
    await Promise.allSettled(waits)
  }
  // Subscribed again now that the links are up, for every node's marks.
  await conn.client.start()
  return Object.assign(conn, { config })
}

/**
 * The command line's target, connected: {@link resolveTarget} then
 * {@link connectTarget}, with their failures written through `fail` as
 * the exit code a command returns (2 for bad usage or configuration, 1 for
 * a cluster that cannot be reached).
 *
 * @param values The parsed flags.
 * @param urls URLs from the command line.
 * @param env Environment (for `MAKO_SECRET`).
 * @param usage Where to read the usage, for the message: e.g. `mako get --help`.
 * @param fail Writes a message and returns the exit code.
 * @returns The connection, or the exit code when there is none.
 * @internal
 */
export async function openTarget (values: ConnectValues, urls: string[], env: NodeJS.ProcessEnv, usage: string, fail: (message: string, code: number) => number): Promise<RemoteConnection | number> {
  let target: Target
  try {
    target = await resolveTarget(values, urls, env)
  } catch (err) {
    if (err instanceof UsageError) return fail(`${err.message} (${usage} for usage)`, 2)
    if (err instanceof MakoError) return fail(err.message, err.code === 'MAKO_INVALID_CONFIG' ? 2 : 1)
    throw err
  }
  try {
    return await connectTarget(target)
  } catch (err) {
    if (err instanceof MakoError) return fail(err.message, 1)
    throw err
  }
}

/** Milliseconds a command waits for its links to the cluster's nodes. */
const linkWaitMs = 5000

/**
 * Why no URL of a target answered, for people: per URL, whether anything
 * listens there (then the secret or the cluster id is likely wrong).
 *
 * @param target The target that failed.
 * @internal
 */
export async function explainUnreachable (target: Target): Promise<string> {
  const why = await Promise.all(target.urls.map(async (url) => await listens(url, 2000)
    ? `${url} answers but did not accept the secret and cluster id "${target.cluster}" (wrong --secret or --cluster?)`
    : `nothing listens at ${url}`))
  return `cannot reach cluster ${target.cluster}: ${why.join('; ')}`
}

/** The usage of each command. @internal */
export const KV_USAGE: Readonly<Record<string, string>> = {
  get: `usage: mako get URL KEY [options]

Prints the value of KEY (UTF-8) and a newline. A missing key: a message on
standard error and exit code 1.
`,
  put: `usage: mako put URL KEY VALUE [options]

Sets KEY to VALUE (both UTF-8); returns once the write is final
(replicated on a majority of the shard's replicas).
`,
  del: `usage: mako del URL KEY [options]

Deletes KEY (a missing key is not an error); returns once final.
`,
  scan: `usage: mako scan URL [--gte K] [--gt K] [--lt K] [--lte K] [--limit N] [--reverse] [options]

Prints "KEY<TAB>VALUE" lines in key order (descending with --reverse), from
one consistent cut of every shard. With no bound, the whole key space.

  --gte K, --gt K   lower bound, inclusive or exclusive
  --lte K, --lt K   upper bound, inclusive or exclusive
  --limit N         at most N entries
  --reverse         descending key order
`
}

function usage (command: string): string {
  return `${KV_USAGE[command] ?? ''}
URL is a node's ws:// URL; with --config it may be left out (the file's
nodes are used). A KEY or VALUE starting with - goes after --, with the
options before it: mako get URL --secret S -- -k

options:
${CONNECT_USAGE}
  -h, --help      this text

exit codes: 0 done, 1 failed (missing key, cluster unreachable), 2 bad usage
`
}

/** Where a kv command writes, and its environment. @internal */
export interface KvIo {
  /** Data. */
  stdout: NodeJS.WritableStream
  /** Messages for people. */
  stderr: NodeJS.WritableStream
  /** The environment (`MAKO_SECRET`). */
  env: NodeJS.ProcessEnv
}

/** How many positionals after the URL each command takes. */
const arity: Readonly<Record<string, number>> = { get: 1, put: 2, del: 1, scan: 0 }

/** Writes, waiting for a full stream to drain. Resolves false when the reader went away. */
async function writeOut (out: NodeJS.WritableStream, text: string): Promise<boolean> {
  if ((out as { destroyed?: boolean }).destroyed === true) return false
  if (out.write(text)) return true
  return await new Promise<boolean>((resolve) => {
    const done = (ok: boolean): void => { out.off('drain', onDrain); out.off('error', onError); out.off('close', onClose); resolve(ok) }
    const onDrain = (): void => { done(true) }
    const onError = (): void => { done(false) }
    const onClose = (): void => { done(false) }
    out.once('drain', onDrain)
    out.once('error', onError)
    out.once('close', onClose)
  })
}

/**
 * Runs `mako get|put|del|scan`; resolves with the exit code.
 *
 * @param command `get`, `put`, `del` or `scan`.
 * @param argv The arguments after it.
 * @param io Streams and environment; default the process's.
 * @internal
 */
export async function runKv (command: string, argv: string[], io: KvIo = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  const fail = (message: string, code: number): number => {
    io.stderr.write(`mako ${command}: ${message}\n`)
    return code
  }
  const n = arity[command]
  if (n === undefined) return fail('not a key-value command', 2)
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        ...connectOptions,
        ...(command === 'scan'
          ? {
              gte: { type: 'string' },
              gt: { type: 'string' },
              lte: { type: 'string' },
              lt: { type: 'string' },
              limit: { type: 'string' },
              reverse: { type: 'boolean' }
            } as const
          : {})
      },
      strict: true,
      allowPositionals: true
    })
  } catch (err) {
    return fail(`${(err as Error).message} (mako ${command} --help for usage)`, 2)
  }
  const values = parsed.values as ConnectValues & { help?: boolean, gte?: string, gt?: string, lte?: string, lt?: string, limit?: string, reverse?: boolean }
  if (values.help === true) {
    io.stdout.write(usage(command))
    return 0
  }
  const positionals = parsed.positionals
  // The URL may be left out with --config: the count of arguments tells.
  const withUrl = positionals.length === n + 1
  if (!withUrl && !(values.config !== undefined && positionals.length === n)) {
    const want = `${values.config !== undefined ? '[URL]' : 'URL'}${{ get: ' KEY', put: ' KEY VALUE', del: ' KEY', scan: '' }[command]!}`
    return fail(`takes ${want}, got ${positionals.length} argument${positionals.length === 1 ? '' : 's'} (mako ${command} --help for usage)`, 2)
  }
  const [url, ...args] = withUrl ? positionals : [undefined, ...positionals]
  let limit = -1
  if (values.limit !== undefined) {
    limit = Number(values.limit)
    if (!/^\d+$/.test(values.limit)) return fail(`--limit takes a whole number, not ${JSON.stringify(values.limit)}`, 2)
  }
  const conn = await openTarget(values, url === undefined ? [] : [url], io.env, `mako ${command} --help`, fail)
  if (typeof conn === 'number') return conn
  const db = new ClusterLevel<string, string>({ client: conn.client })
  try {
    await db.open()
    const key = args[0]!
    switch (command) {
      case 'get': {
        const value = await db.get(key)
        if (value === undefined) return fail(`key not found: ${JSON.stringify(key)}`, 1)
        await writeOut(io.stdout, `${value}\n`)
        return 0
      }
      case 'put':
        await db.put(key, args[1]!)
        return 0
      case 'del':
        await db.del(key)
        return 0
      default: {
        const range: Record<string, string> = {}
        for (const b of ['gte', 'gt', 'lte', 'lt'] as const) if (values[b] !== undefined) range[b] = values[b]
        for (let attempt = 1; ; attempt++) {
          let printed = 0
          try {
            for await (const [k, v] of db.iterator({ ...range, limit, reverse: values.reverse === true })) {
              printed++
              // A reader that went away (mako scan | head) ends the scan quietly.
              if (!await writeOut(io.stdout, `${k}\t${v}\n`)) return 0
            }
            return 0
          } catch (err) {
            // A cut older than a shard keeps (after a failover) is refused
            // with the shard's newer mark, which the client has taken: a
            // new scan reads a newer cut. Only before any output, which
            // must come from one cut.
            if (printed > 0 || attempt >= 3 || (err as { code?: unknown }).code !== 'MAKO_CUT_TOO_OLD') throw err
          }
        }
      }
    }
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code
    if (err instanceof Error && typeof code === 'string') {
      const cause = err.cause instanceof Error ? `: ${err.cause.message}` : ''
      return fail(`${err.message}${cause} (${code})`, 1)
    }
    throw err
  } finally {
    await db.close().catch(() => {})
    await conn.close()
  }
}

/**
 * `mako get|put|del|scan`: runs {@link runKv} on the process's streams.
 *
 * @param command The command's name.
 * @param argv The arguments after it.
 * @internal
 */
export async function main (command: string, argv: string[]): Promise<number> {
  // A closed pipe (mako scan | head) is not a failure of the scan.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => { if (err.code !== 'EPIPE') throw err })
  return await runKv(command, argv)
}
