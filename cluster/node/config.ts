/**
 * The cluster configuration file: which nodes make the cluster and where
 * they listen, how the key space is cut into shards and which nodes hold
 * each shard's replicas, and the protocol's tuning. Every node and client
 * of a cluster reads the same file.
 *
 * ```json
 * {
 *   "cluster": "demo",
 *   "secret": "at least sixteen characters",
 *   "nodes": {
 *     "n1": { "url": "ws://127.0.0.1:7001" },
 *     "n2": { "url": "ws://127.0.0.1:7002" },
 *     "n3": { "url": "ws://127.0.0.1:7003" }
 *   },
 *   "shards": [
 *     { "end": "m", "replicas": ["n1", "n2", "n3"] },
 *     { "start": "m", "replicas": ["n1", "n2", "n3"] }
 *   ],
 *   "commit": "speculative",
 *   "delays": { "n1": { "n2": 10, "n3": 50 } },
 *   "tickMs": 10,
 *   "markMs": 1
 * }
 * ```
 *
 * {@link parseConfig} checks everything a node would otherwise trip over
 * later, far from the cause, and names the field at fault: unknown fields
 * (a typo is not silently ignored), node ids, URLs (ws: with a port, no two
 * nodes on one address), shard ranges in key order without overlap, replica
 * lists of known nodes with an odd count, delays between known nodes.
 *
 * @module
 */

import { readFile } from 'node:fs/promises'
import { MakoError } from '../../lib/errors.js'
import { compareBytes } from '../../lib/btree/compare.js'
import { minSecretLength } from '../transport/handshake.js'
import { isValidId, maxIdLength } from '../transport/ids.js'
import { ShardMap } from '../txn/shard-map.js'

/** Largest configuration file {@link loadConfig} reads, in bytes. */
export const maxConfigBytes = 1024 * 1024
/** Most nodes in one configuration. */
export const maxConfigNodes = 1024
/** Most shards in one configuration. */
export const maxConfigShards = 4096
/** Longest shard boundary key, in UTF-8 bytes. */
export const maxBoundaryBytes = 1024
/** Largest one-way delay in `delays`, in milliseconds: more is surely a mistake. */
export const maxDelayMs = 10_000
/** Largest `tickMs` and `markMs`, in milliseconds. */
export const maxIntervalMs = 1000

/** How shards commit transactions; see `CommitOptions.commit` in the transaction client. */
export type CommitMode = 'speculative' | 'classic'

/** One node of the cluster, resolved. */
export interface NodeConfig {
  /** The node's id. */
  readonly id: string
  /** The URL peers and clients dial, as written in the file. */
  readonly url: string
  /** The host to listen on: the URL's host name, without IPv6 brackets. */
  readonly host: string
  /** The port to listen on. */
  readonly port: number
}

/** One shard as the file gives it: UTF-8 key bounds and replica node ids. */
export interface ShardEntry {
  /** Smallest key owned (inclusive); absent: from the start of the key space. */
  readonly start?: string
  /** First key not owned (exclusive); absent: to the end of the key space. */
  readonly end?: string
  /** Node ids of the replicas; an odd count. */
  readonly replicas: readonly string[]
}

/**
 * A validated cluster configuration, frozen. Produced by
 * {@link parseConfig} and {@link loadConfig} only.
 */
export interface ClusterConfig {
  /** The cluster id: peers of another cluster are refused. */
  readonly cluster: string
  /** The shared secret that authenticates nodes and clients. Never print it. */
  readonly secret: string
  /** The nodes by id. */
  readonly nodes: Readonly<Record<string, NodeConfig>>
  /** The node ids, in the file's order. */
  readonly nodeIds: readonly string[]
  /** The shards as the file gives them, in key order. */
  readonly shards: readonly ShardEntry[]
  /** The shard map built from {@link ClusterConfig.shards}. */
  readonly map: ShardMap
  /** How transactions commit: `speculative` (the default) or `classic`. */
  readonly commit: CommitMode
  /** Injected one-way delays in milliseconds, `delays[from][to]`, on the links between replicas of a shard (Paxos), standing for datacenters apart; empty when none. */
  readonly delays: Readonly<Record<string, Readonly<Record<string, number>>>>
  /** Milliseconds per Paxos tick (heartbeats every tick, elections after ten); undefined for the default, {@link defaultNodeTickMs}. */
  readonly tickMs: number | undefined
  /** Milliseconds between watermark broadcasts; undefined for the default. */
  readonly markMs: number | undefined
}

/**
 * A configuration that cannot be used: code `MAKO_INVALID_CONFIG`, with
 * the field at fault (such as `shards[1].replicas` or `nodes.n2.url`).
 */
export class ConfigError extends MakoError {
  /** The field at fault, as a path into the file; empty for the whole file. */
  readonly field: string
  /** What is wrong, without the file and the field. */
  readonly problem: string

  /**
   * @param field The field at fault.
   * @param problem What is wrong with it, for people.
   * @param options The error that revealed it, and the file it is in.
   */
  constructor (field: string, problem: string, options: { cause?: unknown, file?: string } = {}) {
    const where = [options.file, field].filter((x) => x !== undefined && x !== '').join(': ')
    super(where === '' ? problem : `${where}: ${problem}`, 'MAKO_INVALID_CONFIG', options.cause === undefined ? {} : { cause: options.cause })
    this.name = 'ConfigError'
    this.field = field
    this.problem = problem
  }
}

const topFields = new Set(['cluster', 'secret', 'nodes', 'shards', 'commit', 'delays', 'tickMs', 'markMs'])
const nodeFields = new Set(['url'])
const shardFields = new Set(['start', 'end', 'replicas'])
const enc = new TextEncoder()

function isObject (x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}

/** A value from the file, short enough to quote in a message. */
function show (x: unknown): string {
  const s = JSON.stringify(x) ?? String(x)
  return s.length > 60 ? `${s.slice(0, 57)}...` : s
}

/** A key of the file as a path segment: `nodes.n1`, or `nodes["odd key"]`. */
function member (parent: string, key: string): string {
  return /^[A-Za-z0-9_]+$/.test(key) ? `${parent}.${key}` : `${parent}[${JSON.stringify(key)}]`
}

function noUnknownFields (obj: Record<string, unknown>, known: Set<string>, field: string): void {
  for (const key of Object.keys(obj)) {
    if (!known.has(key)) {
      const where = field === '' ? key : member(field, key)
      throw new ConfigError(where, `unknown field (known fields${field === '' ? '' : ` of ${field}`}: ${[...known].join(', ')})`)
    }
  }
}

function checkId (value: unknown, field: string, what: string): string {
  if (!isValidId(value)) {
    throw new ConfigError(field, `${show(value)} is not a valid ${what} id (1 to ${maxIdLength} letters, digits and ._:- starting with a letter or digit)`)
  }
  return value
}

function checkUrl (value: unknown, field: string): { url: string, host: string, port: number } {
  if (typeof value !== 'string' || value.length === 0) throw new ConfigError(field, 'missing: give the ws:// URL the node listens on, such as "ws://127.0.0.1:7001"')
  let parsed: URL
  try {
    parsed = new URL(value)
  } catch (err) {
    throw new ConfigError(field, `${show(value)} is not a URL`, { cause: err })
  }
  if (parsed.protocol === 'wss:') {
    throw new ConfigError(field, `${show(value)}: wss: needs TLS certificates, which the configuration file does not carry yet; use ws:`)
  }
  if (parsed.protocol !== 'ws:') throw new ConfigError(field, `${show(value)} must be a ws:// URL`)
  if (parsed.username !== '' || parsed.password !== '') throw new ConfigError(field, `${show(value)} must not hold credentials (the cluster secret authenticates nodes)`)
  if (parsed.search !== '' || parsed.hash !== '') throw new ConfigError(field, `${show(value)} must not have a query or a fragment`)
  if (parsed.hostname === '') throw new ConfigError(field, `${show(value)} has no host`)
  if (parsed.port === '') throw new ConfigError(field, `${show(value)} has no port (write it out, such as ws://127.0.0.1:7001)`)
  const port = Number(parsed.port)
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ConfigError(field, `${show(value)} has a bad port`)
  const host = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname
  return { url: value, host, port }
}

function checkInterval (value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > maxIntervalMs) {
    throw new ConfigError(field, `${show(value)} must be a whole number of milliseconds from 1 to ${maxIntervalMs}`)
  }
  return value as number
}

function checkBoundary (value: unknown, field: string): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value.length === 0) throw new ConfigError(field, `${show(value)} must be a non-empty string (the key, UTF-8); leave the field out for an open end`)
  if (enc.encode(value).length > maxBoundaryBytes) throw new ConfigError(field, `longer than ${maxBoundaryBytes} bytes`)
  return value
}

function checkNodes (value: unknown): { nodes: Record<string, NodeConfig>, ids: string[] } {
  if (value === undefined) throw new ConfigError('nodes', 'missing: name every node and its url, such as { "n1": { "url": "ws://127.0.0.1:7001" } }')
  if (!isObject(value)) throw new ConfigError('nodes', 'must be an object of node id to { "url": ... }')
  const ids = Object.keys(value)
  if (ids.length === 0) throw new ConfigError('nodes', 'names no node')
  if (ids.length > maxConfigNodes) throw new ConfigError('nodes', `more than ${maxConfigNodes} nodes`)
  const nodes: Record<string, NodeConfig> = Object.create(null) as Record<string, NodeConfig>
  const byAddress = new Map<string, string>()
  for (const id of ids) {
    const field = member('nodes', id)
    checkId(id, field, 'node')
    const entry = value[id]
    if (!isObject(entry)) throw new ConfigError(field, 'must be an object such as { "url": "ws://127.0.0.1:7001" }')
    noUnknownFields(entry, nodeFields, field)
    const { url, host, port } = checkUrl(entry['url'], `${field}.url`)
    const address = `${host.toLowerCase()}:${port}`
    const other = byAddress.get(address)
    if (other !== undefined) throw new ConfigError(`${field}.url`, `${show(url)} is the address of node ${other} too: each node needs its own host and port`)
    byAddress.set(address, id)
    nodes[id] = Object.freeze({ id, url, host, port })
  }
  return { nodes, ids }
}

function checkShards (value: unknown, nodes: Record<string, NodeConfig>): ShardEntry[] {
  if (value === undefined) throw new ConfigError('shards', 'missing: give at least one shard, such as [{ "replicas": ["n1", "n2", "n3"] }]')
  if (!Array.isArray(value)) throw new ConfigError('shards', 'must be an array of { start?, end?, replicas }')
  if (value.length === 0) throw new ConfigError('shards', 'names no shard')
  if (value.length > maxConfigShards) throw new ConfigError('shards', `more than ${maxConfigShards} shards`)
  const shards: ShardEntry[] = []
  let prevEnd: Uint8Array | null | undefined
  for (const [i, entry] of (value as unknown[]).entries()) {
    const field = `shards[${i}]`
    if (!isObject(entry)) throw new ConfigError(field, 'must be an object { start?, end?, replicas }')
    noUnknownFields(entry, shardFields, field)
    const start = checkBoundary(entry['start'], `${field}.start`)
    const end = checkBoundary(entry['end'], `${field}.end`)
    const startBytes = start === undefined ? null : enc.encode(start)
    const endBytes = end === undefined ? null : enc.encode(end)
    if (startBytes !== null && endBytes !== null && compareBytes(startBytes, endBytes) >= 0) {
      throw new ConfigError(field, `start ${show(start)} must be below end ${show(end)}`)
    }
    if (i > 0) {
      // Shards are listed in key order: this one must begin at or after
      // the end of the one before (a gap between them is allowed: its keys
      // belong to no shard and are refused).
      if (prevEnd === null) throw new ConfigError(field, `overlaps shards[${i - 1}], which runs to the end of the key space (shards must be in key order, without overlap)`)
      if (startBytes === null) throw new ConfigError(`${field}.start`, `missing: shards[${i - 1}] already owns the start of the key space (shards must be in key order, without overlap)`)
      if (compareBytes(prevEnd!, startBytes) > 0) {
        throw new ConfigError(`${field}.start`, `${show(start)} is below the end of shards[${i - 1}] (shards must be in key order, without overlap)`)
      }
    }
    prevEnd = endBytes
    const replicas = entry['replicas']
    const rfield = `${field}.replicas`
    if (replicas === undefined) throw new ConfigError(rfield, 'missing: list the node ids that hold this shard, such as ["n1", "n2", "n3"]')
    if (!Array.isArray(replicas)) throw new ConfigError(rfield, 'must be an array of node ids')
    if (replicas.length === 0) throw new ConfigError(rfield, 'a shard needs at least one replica (three survive a failure)')
    if (replicas.length % 2 === 0) {
      const n = replicas.length
      throw new ConfigError(rfield, n === 2
        ? '2 replicas cannot form a majority that survives a failure (a majority of 2 is both); use an odd count: 1 (no replication), 3 (survives 1 failure) or 5 (survives 2)'
        : `${n} replicas survive no more failures than ${n - 1} do (a majority of ${n} is ${n / 2 + 1}); use an odd count such as ${n - 1} or ${n + 1}`)
    }
    const seen = new Set<string>()
    for (const [j, r] of (replicas as unknown[]).entries()) {
      if (typeof r !== 'string') throw new ConfigError(`${rfield}[${j}]`, `${show(r)} is not a node id`)
      if (nodes[r] === undefined) throw new ConfigError(`${rfield}[${j}]`, `unknown node ${show(r)} (nodes: ${Object.keys(nodes).join(', ')})`)
      if (seen.has(r)) throw new ConfigError(`${rfield}[${j}]`, `names node ${r} twice`)
      seen.add(r)
    }
    shards.push(Object.freeze({
      ...(start !== undefined ? { start } : {}),
      ...(end !== undefined ? { end } : {}),
      replicas: Object.freeze([...replicas as string[]])
    }))
  }
  return shards
}

function checkDelays (value: unknown, nodes: Record<string, NodeConfig>): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = Object.create(null) as Record<string, Record<string, number>>
  if (value === undefined) return out
  if (!isObject(value)) throw new ConfigError('delays', 'must be an object { "<from>": { "<to>": <one-way ms> } }')
  for (const [from, row] of Object.entries(value)) {
    const field = member('delays', from)
    if (nodes[from] === undefined) throw new ConfigError(field, `unknown node ${show(from)} (nodes: ${Object.keys(nodes).join(', ')})`)
    if (!isObject(row)) throw new ConfigError(field, 'must be an object { "<to>": <one-way ms> }')
    const resolved: Record<string, number> = Object.create(null) as Record<string, number>
    for (const [to, ms] of Object.entries(row)) {
      const f = member(field, to)
      if (nodes[to] === undefined) throw new ConfigError(f, `unknown node ${show(to)} (nodes: ${Object.keys(nodes).join(', ')})`)
      if (to === from) throw new ConfigError(f, 'a node does not send to itself')
      if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > maxDelayMs) {
        throw new ConfigError(f, `${show(ms)} must be a number of milliseconds from 0 to ${maxDelayMs}`)
      }
      resolved[to] = ms
    }
    out[from] = Object.freeze(resolved)
  }
  return out
}

/**
 * Checks a configuration (the parsed JSON of the file) and resolves it.
 * O(nodes + shards + delays).
 *
 * @param json The parsed file.
 * @returns The configuration, frozen, with its {@link ShardMap}.
 * @throws ConfigError (`MAKO_INVALID_CONFIG`) naming the field at fault.
 */
export function parseConfig (json: unknown): ClusterConfig {
  if (!isObject(json)) throw new ConfigError('', 'the configuration must be a JSON object')
  noUnknownFields(json, topFields, '')
  if (json['cluster'] === undefined) throw new ConfigError('cluster', 'missing: name the cluster, such as "demo"')
  const cluster = checkId(json['cluster'], 'cluster', 'cluster')
  const secret = json['secret']
  if (secret === undefined || secret === '') throw new ConfigError('secret', `missing: every node and client proves it knows this shared secret (at least ${minSecretLength} bytes)`)
  if (typeof secret !== 'string') throw new ConfigError('secret', 'must be a string')
  if (Buffer.byteLength(secret, 'utf8') < minSecretLength) throw new ConfigError('secret', `too short: at least ${minSecretLength} bytes`)
  const { nodes, ids } = checkNodes(json['nodes'])
  const shards = checkShards(json['shards'], nodes)
  let map: ShardMap
  try {
    map = new ShardMap(shards)
  } catch (err) {
    // The checks above cover what ShardMap refuses; this keeps its word
    // should it learn to refuse more.
    throw new ConfigError('shards', err instanceof Error ? err.message : String(err), { cause: err })
  }
  const commit = json['commit'] ?? 'speculative'
  if (commit !== 'speculative' && commit !== 'classic') throw new ConfigError('commit', `${show(commit)} must be "speculative" or "classic"`)
  const delays = checkDelays(json['delays'], nodes)
  const tickMs = checkInterval(json['tickMs'], 'tickMs')
  const markMs = checkInterval(json['markMs'], 'markMs')
  return Object.freeze({
    cluster,
    secret,
    nodes: Object.freeze(nodes),
    nodeIds: Object.freeze(ids),
    shards: Object.freeze(shards),
    map,
    commit,
    delays: Object.freeze(delays),
    tickMs,
    markMs
  })
}

/**
 * Reads and checks a configuration file.
 *
 * @param path The JSON file.
 * @returns The configuration, frozen.
 * @throws ConfigError (`MAKO_INVALID_CONFIG`) for a file that is not JSON,
 *   too large, or fails {@link parseConfig}, its message starting with the
 *   path; MakoError `MAKO_IO_ERROR` when the file cannot be read.
 */
export async function loadConfig (path: string): Promise<ClusterConfig> {
  let text: string
  try {
    const bytes = await readFile(path)
    if (bytes.length > maxConfigBytes) throw new ConfigError('', `larger than ${maxConfigBytes} bytes`, { file: path })
    text = bytes.toString('utf8')
  } catch (err) {
    if (err instanceof ConfigError) throw err
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message
    throw new MakoError(`${path}: cannot read the configuration: ${reason}`, 'MAKO_IO_ERROR', { cause: err })
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new ConfigError('', `not valid JSON: ${(err as Error).message}`, { cause: err, file: path })
  }
  try {
    return parseConfig(json)
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(err.field, err.problem, { cause: err.cause, file: path })
    throw err
  }
}

/**
 * A node of the configuration, for starting it.
 *
 * @param config The configuration.
 * @param nodeId The node's id.
 * @throws ConfigError (`MAKO_INVALID_CONFIG`, field `nodes`) when the
 *   configuration has no such node.
 */
export function configNode (config: ClusterConfig, nodeId: string): NodeConfig {
  const node = Object.prototype.hasOwnProperty.call(config.nodes, nodeId) ? config.nodes[nodeId] : undefined
  if (node === undefined) throw new ConfigError('nodes', `no node ${show(nodeId)} in the configuration (nodes: ${config.nodeIds.join(', ')})`)
  return node
}
