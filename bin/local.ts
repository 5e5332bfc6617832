/**
 * `mako local`: a whole cluster on this machine, one `mako serve` child
 * process per node on loopback, until SIGINT or SIGTERM.
 *
 * Standard output carries lines for programs: `config <file>`, then
 * `ready <node> <url>` for each node once all listen, `leader <shard>
 * <node> <epoch>` as nodes take the lead, and `stopped` at the end.
 * People's messages (how to connect, leader changes, node messages) go
 * to standard error.
 *
 * @module
 * @internal
 */

import { parseArgs } from 'node:util'
import { MakoError } from '../lib/errors.js'
import { maxLocalNodes, maxLocalShards, startLocalCluster } from '../cluster/node/local.js'
import type { LocalCluster, LocalClusterOptions } from '../cluster/node/local.js'

/** The usage of `mako local`. @internal */
export const LOCAL_USAGE = `usage: mako local [--nodes 3] [--shards 2] [--data ./data] [--base-port P]

Runs a whole cluster on this machine: one "mako serve" process per node, on
loopback ports, until SIGINT (Ctrl-C) or SIGTERM, which stop every node
gracefully. The first run writes DIR/cluster.json (a random secret, the
ports, the shards); later runs on the same DIR reuse it, and the data.

options:
  --nodes N       nodes, 1 to ${maxLocalNodes} (default 3; a new cluster only)
  --shards N      shards, 1 to ${maxLocalShards}, cut at hex digits (default 2; a new cluster only)
  --data DIR      configuration and data of every node (default ./data)
  --base-port P   node i listens on port P+i (default: free ports; a new cluster only)

prints "config FILE", "ready NODE URL" per node, "leader SHARD NODE EPOCH"
and "stopped" on standard output; how to connect on standard error. Exits
2 on a bad command line (or one that does not fit DIR/cluster.json), 1 when
the cluster cannot start.
`

/** Where `mako local` writes, and the process it answers signals for. @internal */
export interface LocalIo {
  /** Lines for programs. */
  stdout: NodeJS.WritableStream
  /** Messages for people. */
  stderr: NodeJS.WritableStream
  /** Where SIGINT, SIGTERM and SIGHUP arrive. */
  signals: NodeJS.EventEmitter
}

/** A whole number of at least `min` from a flag's text, or undefined when absent. */
function wholeFlag (value: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined
  const n = /^\d+$/.test(value) ? Number(value) : NaN
  if (!(n >= min && n <= max)) throw new MakoError(`${flag} takes a whole number from ${min} to ${max} (got ${JSON.stringify(value)})`, 'MAKO_INVALID_ARGUMENT')
  return n
}

/**
 * Parses the command line of `mako local`.
 *
 * @param argv The arguments after `local`.
 * @returns The options, or `help` when usage was asked for.
 * @throws MakoError `MAKO_INVALID_ARGUMENT` for a bad command line.
 * @internal
 */
export function parseLocalArgs (argv: string[]): LocalClusterOptions | 'help' {
  let values: { nodes?: string | undefined, shards?: string | undefined, data?: string | undefined, 'base-port'?: string | undefined, help?: boolean | undefined }
  try {
    values = parseArgs({
      args: argv,
      options: {
        nodes: { type: 'string' },
        shards: { type: 'string' },
        data: { type: 'string' },
        'base-port': { type: 'string' },
        help: { type: 'boolean', short: 'h' }
      },
      strict: true,
      allowPositionals: false
    }).values
  } catch (err) {
    throw new MakoError((err as Error).message, 'MAKO_INVALID_ARGUMENT', { cause: err })
  }
  if (values.help === true) return 'help'
  const nodes = wholeFlag(values.nodes, '--nodes', 1, maxLocalNodes)
  const shards = wholeFlag(values.shards, '--shards', 1, maxLocalShards)
  const basePort = wholeFlag(values['base-port'], '--base-port', 1, 65536 - (nodes ?? 3))
  if (values.data === '') throw new MakoError('--data takes a directory', 'MAKO_INVALID_ARGUMENT')
  return {
    ...(nodes !== undefined ? { nodes } : {}),
    ...(shards !== undefined ? { shards } : {}),
    ...(basePort !== undefined ? { basePort } : {}),
    ...(values.data !== undefined ? { dataDir: values.data } : {})
  }
}

/** A shard's key range in people's words. */
function describeRange (start: string | undefined, end: string | undefined): string {
  if (start === undefined && end === undefined) return 'every key'
  if (start === undefined) return `keys below ${JSON.stringify(end)}`
  if (end === undefined) return `keys from ${JSON.stringify(start)}`
  return `keys from ${JSON.stringify(start)} below ${JSON.stringify(end)}`
}

/**
 * How to connect to a running local cluster: its nodes, the file with the
 * secret, commands and a snippet to copy.
 *
 * @param local The cluster.
 * @internal
 */
export function connectGuide (local: LocalCluster): string {
  const { config, configPath } = local
  const url = local.urls[0]!
  const shards = config.shards.map((s, i) => `  shard ${i}: ${describeRange(s.start, s.end)}, replicas ${s.replicas.join(' ')}`)
  const nodes = config.nodeIds.map((id, i) => `  ${id}  ${local.urls[i]!}`)
  return [
    `mako local: ${config.nodeIds.length} node${config.nodeIds.length === 1 ? '' : 's'} and ${config.shards.length} shard${config.shards.length === 1 ? '' : 's'} up, data in ${local.dataDir} (${local.created ? 'a new cluster' : 'the cluster found there'})`,
    '',
    ...nodes,
    ...shards,
    '',
    `The secret is in ${configPath} (every node and client needs it: keep the file private).`,
    '',
    'From another terminal:',
    `  mako status ${url} --config ${configPath}`,
    `  mako put ${url} hello world --config ${configPath}`,
    `  mako get ${url} hello --config ${configPath}`,
    '',
    'From JavaScript:',
    "  import { readFileSync } from 'node:fs'",
    "  import { MakoLevel } from 'mako-level'",
    `  const { secret } = JSON.parse(readFileSync(${JSON.stringify(configPath)}, 'utf8'))`,
    `  const db = new MakoLevel({ connect: ${JSON.stringify(local.urls).replace(/","/g, '", "')}, secret })`,
    "  await db.put('hello', 'world')",
    '',
    `Ctrl-C stops every node; the data stays in ${local.dataDir} for the next run.`,
    ''
  ].join('\n')
}

/**
 * Runs `mako local` with its arguments; resolves with the exit code once
 * the cluster has stopped (or failed to start).
 *
 * @param argv The arguments after `local`.
 * @param io Streams and signals; default the process's.
 * @internal
 */
export async function runLocal (argv: string[], io: LocalIo = { stdout: process.stdout, stderr: process.stderr, signals: process }): Promise<number> {
  const say = (message: string): void => { io.stderr.write(`mako local: ${message}\n`) }
  let options: LocalClusterOptions | 'help'
  try {
    options = parseLocalArgs(argv)
  } catch (err) {
    say(`${(err as Error).message} (mako local --help for usage)`)
    return 2
  }
  if (options === 'help') {
    io.stdout.write(LOCAL_USAGE)
    return 0
  }

  // A signal while the nodes start: exit at once; the nodes already
  // started are killed on the way out (startLocalCluster's exit hook).
  const early = (signal: string): void => {
    say(`${signal} while starting; stopping`)
    process.exit(130)
  }
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
  for (const s of signals) io.signals.on(s, early)
  let up = false
  let local: LocalCluster
  try {
    local = await startLocalCluster({
      ...options,
      onLine: ({ node, stream, line }) => {
        // Once the guide is out, the nodes' own messages follow it.
        if (up && stream === 'stderr') io.stderr.write(`[${node}] ${line}\n`)
      },
      onExit: (node, code, signal) => {
        say(`node ${node} exited by itself (${signal ?? `code ${String(code)}`}); the others keep running`)
      }
    })
  } catch (err) {
    for (const s of signals) io.signals.off(s, early)
    if (err instanceof MakoError) {
      say(err.message)
      return err.code === 'MAKO_INVALID_ARGUMENT' || err.code === 'MAKO_INVALID_CONFIG' ? 2 : 1
    }
    throw err
  }
  for (const s of signals) io.signals.off(s, early)

  io.stdout.write(`config ${local.configPath}\n`)
  local.config.nodeIds.forEach((id, i) => { io.stdout.write(`ready ${id} ${local.urls[i]!}\n`) })
  io.stderr.write(connectGuide(local))
  up = true

  // Leader announcements: already made ones first, then as they come.
  let shown = 0
  const showLeaders = (): void => {
    for (const l of local.leaders()) {
      if (l === undefined || l.at <= shown) continue
      io.stdout.write(`leader ${l.shard} ${l.node} ${l.epoch}\n`)
    }
    shown = Math.max(shown, ...local.leaders().map((l) => l?.at ?? 0))
  }
  showLeaders()
  const watch = setInterval(showLeaders, 100)

  return await new Promise<number>((resolveExit) => {
    const onSignal = (signal: string): void => {
      if (stopping) {
        // A second signal: the operator will not wait.
        say(`${signal} again; killing every node`)
        for (const id of local.config.nodeIds) void local.kill(id, 'SIGKILL')
        return
      }
      stopping = true
      say(`${signal}: stopping every node`)
      clearInterval(watch)
      local.stop().then((codes) => {
        const bad = Object.entries(codes).filter(([, code]) => code !== 0)
        if (bad.length > 0) say(`not stopped cleanly: ${bad.map(([id, code]) => `${id} (${code === null ? 'killed' : `code ${code}`})`).join(', ')}`)
        else say('every node stopped')
        io.stdout.write('stopped\n')
        for (const s of signals) io.signals.off(s, onSignal)
        resolveExit(bad.length > 0 ? 1 : 0)
      }, (err: unknown) => {
        say(`could not stop: ${(err as Error).message}`)
        resolveExit(1)
      })
    }
    let stopping = false
    for (const s of signals) io.signals.on(s, onSignal)
  })
}

/**
 * `mako local`: runs {@link runLocal} on the process's streams and signals.
 *
 * @param _command The command's name.
 * @param argv The arguments after it.
 * @internal
 */
export async function main (_command: string, argv: string[]): Promise<number> {
  return await runLocal(argv)
}
