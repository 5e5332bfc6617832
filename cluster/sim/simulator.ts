/**
 * A deterministic simulator of a cluster, in the manner of FoundationDB's
 * simulation and TigerBeetle's VOPR: every node, its network links, its disk
 * and its timers run in one process on one event queue in virtual time, and
 * every chance event is drawn from streams seeded by one number. The same
 * seed gives the same run, event for event, which {@link Simulator.traceHash}
 * checks.
 *
 * Nodes are programmed against the same {@link Transport} and {@link Clock}
 * as in production; the simulator adds a seeded random source and a
 * {@link SimDisk} with explicit sync, and can delay, drop, duplicate,
 * reorder and clog messages, partition nodes (both ways or one way), and
 * crash and restart nodes, which keep only what they synced.
 *
 * @example
 * ```ts
 * const sim = new Simulator({ seed: 42, network: { drop: 0.05 } })
 * for (const id of ['a', 'b', 'c']) {
 *   sim.addNode(id, (env) => new Replica(env)) // env: transport, clock, random, disk
 * }
 * sim.partition('a', ['b', 'c'])
 * await sim.runFor(1000)
 * sim.heal()
 * await sim.runUntil(() => allAgree(sim), { maxTicks: 100_000 })
 * ```
 *
 * @module
 */

import { createHash } from 'node:crypto'
import type { Hash } from 'node:crypto'
import { MakoError } from '../../lib/errors.js'
import type { Clock, TimerHandle } from '../transport/clock.js'
import { decodeEnvelope, Tag, WireError } from '../transport/codec.js'
import type { SessionEnvelope } from '../transport/codec.js'
import { TransportCodes, transportError } from '../transport/codes.js'
import { nodeId as toNodeId } from '../transport/ids.js'
import type { NodeId } from '../transport/ids.js'
import { resolveTransportLimits } from '../transport/transport-base.js'
import type { Transport, TransportLimits } from '../transport/types.js'
import { defaultDiskOptions, DiskState, SimDisk } from './disk.js'
import type { DiskOptions } from './disk.js'
import { EventQueue } from './event-queue.js'
import type { SimEvent } from './event-queue.js'
import { drawDelay, SeededRandom } from './random.js'
import type { DelaySpec } from './random.js'
import { SimTransport, SimWire } from './sim-transport.js'
import type { SimNetworkHost } from './sim-transport.js'

/** How the simulated network behaves; per-link {@link LinkFaults} override the first four. */
export interface NetworkOptions {
  /** Delay of each message. A spread lets messages reorder unless `fifo`. */
  delay: DelaySpec
  /** Probability that a message is lost. */
  drop: number
  /** Probability that a message is delivered twice. */
  duplicate: number
  /**
   * Whether each link delivers in the order sent, as the WebSocket
   * transport does (default true). False lets delays reorder messages.
   */
  fifo: boolean
  /** Milliseconds until a link to a crashed or partitioned node is reported down. */
  failureDetectionDelay: number
  /** Delay before a link between two reachable live nodes comes (back) up. */
  reconnectDelay: DelaySpec
  /**
   * Whether a partition ends the sessions it cuts (after
   * `failureDetectionDelay`) and keeps them down until healed, as with TCP
   * (default). False keeps sessions up and only loses messages, as with
   * datagrams, so one-way partitions stay one-way.
   */
  partitionsBreakLinks: boolean
}

/** Defaults of {@link NetworkOptions}: a reliable, ordered, slightly jittery network. */
export const defaultNetworkOptions: Readonly<NetworkOptions> = Object.freeze({
  delay: { min: 0.5, max: 2 },
  drop: 0,
  duplicate: 0,
  fifo: true,
  failureDetectionDelay: 200,
  reconnectDelay: { min: 5, max: 20 },
  partitionsBreakLinks: true
})

/** Faults of one direction of one link, overriding the network's. */
export interface LinkFaults {
  /** Delay of each message on this link. */
  delay?: DelaySpec
  /** Probability of loss on this link. */
  drop?: number
  /** Probability of duplication on this link. */
  duplicate?: number
  /** Whether this link delivers in order. */
  fifo?: boolean
}

/** Options of a {@link Simulator}. */
export interface SimulatorOptions {
  /** The seed every random stream of the run derives from. */
  seed: number | string
  /** The network; see {@link defaultNetworkOptions}. */
  network?: Partial<NetworkOptions>
  /** Disks; see {@link defaultDiskOptions}. */
  disk?: Partial<DiskOptions>
  /** Limits of every node's transport. */
  limits?: Partial<TransportLimits>
  /** Trace lines kept for {@link Simulator.traceTail} (default 200). */
  traceLines?: number
}

/** What a node's code gets from the simulator: all its contact with the world. */
export interface NodeEnv {
  /** The node's id. */
  readonly id: NodeId
  /** 1 at first boot, one more after each restart. */
  readonly incarnation: number
  /** The node's transport. */
  readonly transport: Transport
  /** Virtual time and timers. Timers of a crashed incarnation never fire. */
  readonly clock: Clock
  /** A random stream of this node and incarnation. */
  readonly random: SeededRandom
  /** The node's disk: survives crashes up to its last sync. */
  readonly disk: SimDisk
  /**
   * Adds a line to the run's trace (and its hash): what the node decided,
   * for a failing run's story.
   *
   * @param note One line.
   */
  trace(note: string): void
}

/** Bounds of a run. */
export interface RunOptions {
  /** Most events to process (one event is one tick). Default 1,000,000. */
  maxTicks?: number
  /** Most virtual milliseconds to advance. Default unbounded. */
  maxTime?: number
}

/** How far a run went. */
export interface RunResult {
  /** Events processed by this call. */
  ticks: number
  /** Virtual time at the end. */
  time: number
}

/** Counters of a simulation. */
export interface SimStats {
  /** Events processed. */
  ticks: number
  /** Envelopes handed to the network. */
  messagesSent: number
  /** Envelopes delivered to a node. */
  messagesDelivered: number
  /** Envelopes lost: random loss, partitions, dead or closed sessions. */
  messagesDropped: number
  /** Extra copies delivered. */
  messagesDuplicated: number
  /** Sessions opened and closed. */
  sessionsOpened: number
  /** Sessions closed. */
  sessionsClosed: number
  /** Node crashes. */
  crashes: number
  /** Node restarts. */
  restarts: number
}

/** A node's boot function: builds the node's code from its environment. */
export type NodeBoot<T> = (env: NodeEnv) => T

interface NodeRuntime {
  readonly id: NodeId
  readonly boot: NodeBoot<unknown>
  readonly disk: DiskState
  incarnation: number
  alive: boolean
  transport: SimTransport | undefined
  app: unknown
  lastSyncAt: number
}

interface Direction {
  blocked: boolean
  clogged: boolean
  held: InFlight[]
  lastArrival: number
  faults: LinkFaults | undefined
}

interface InFlight {
  readonly wire: SimWire
  readonly bytes: Uint8Array
  /** Whether this copy is the one the sender's buffered bytes count. */
  readonly counted: boolean
}

interface Pair {
  readonly a: NodeId
  readonly b: NodeId
  up: boolean
  session: number
  wires: Map<NodeId, SimWire> | undefined
  connectEvent: SimEvent | undefined
  detectEvent: SimEvent | undefined
}

/** A node of the simulation, for tests to look at. */
export class SimNode<T> {
  readonly #rt: NodeRuntime
  readonly #diskView: SimDisk

  /** @internal */
  constructor (rt: NodeRuntime) {
    this.#rt = rt
    this.#diskView = new SimDisk(rt.disk, () => true, () => {
      throw new MakoError('Inspect a node disk; sync it from the node', 'MAKO_INVALID_ARGUMENT')
    })
  }

  /** The node's id. */
  get id (): NodeId {
    return this.#rt.id
  }

  /** Whether the node is running. */
  get alive (): boolean {
    return this.#rt.alive
  }

  /** 1 at first boot, one more after each restart. */
  get incarnation (): number {
    return this.#rt.incarnation
  }

  /** What the boot function returned for the current incarnation. */
  get app (): T {
    return this.#rt.app as T
  }

  /** The current incarnation's transport. */
  get transport (): Transport | undefined {
    return this.#rt.transport
  }

  /** The node's files as they are now (synced or not), for inspection. */
  get disk (): Pick<SimDisk, 'list' | 'read' | 'size'> {
    return this.#diskView
  }
}

const yieldToLoop = (): Promise<void> => new Promise((resolve) => { setImmediate(resolve) })

function checkProbability (name: string, value: number | undefined): void {
  if (value !== undefined && !(value >= 0 && value <= 1)) {
    throw new MakoError(`${name} must be a probability from 0 to 1`, TransportCodes.invalidConfig)
  }
}

function asList (ids: string | readonly string[]): NodeId[] {
  return (typeof ids === 'string' ? [ids] : ids).map((id) => toNodeId(id))
}

/**
 * A random, VOPR-style network for a seed: loss up to 30%, duplication up to
 * 20%, exponential delays, sometimes reordering. Meant for protocol tests
 * that must hold under any network; it breaks the transport's in-order
 * promise on purpose when `fifo` comes out false.
 *
 * @param random A stream to draw the profile from.
 */
export function randomNetwork (random: SeededRandom): Partial<NetworkOptions> {
  return {
    drop: random.chance(0.6) ? random.range(0, 0.3) : 0,
    duplicate: random.chance(0.4) ? random.range(0, 0.2) : 0,
    delay: { mean: random.range(0.5, 20), min: 0.1 },
    fifo: random.chance(0.5)
  }
}

/**
 * The simulator. See the module documentation for an example.
 */
export class Simulator {
  /** The run's seed. */
  readonly seed: number | string
  readonly #queue = new EventQueue()
  readonly #nodes = new Map<NodeId, NodeRuntime>()
  readonly #pairs = new Map<string, Pair>()
  readonly #directions = new Map<string, Direction>()
  readonly #network: NetworkOptions
  readonly #disk: DiskOptions
  readonly #limits: Readonly<TransportLimits>
  readonly #netRandom: SeededRandom
  readonly #diskRandom: SeededRandom
  readonly #hash: Hash = createHash('sha256')
  readonly #traceLines: number
  readonly #trace: string[] = []
  readonly #stats: SimStats = {
    ticks: 0, messagesSent: 0, messagesDelivered: 0, messagesDropped: 0, messagesDuplicated: 0,
    sessionsOpened: 0, sessionsClosed: 0, crashes: 0, restarts: 0
  }

  #now = 0
  #seq = 0
  #wake: (() => void) | undefined
  // What the simulated transports call; kept off the public surface.
  readonly #host: SimNetworkHost = {
    transmit: (wire, bytes) => { this.#transmit(wire, bytes) },
    failSession: (wire, reason) => { this.#failSession(wire, reason) },
    transportClosed: (transport) => { this.#transportClosed(transport) }
  }

  /** @param options The seed, and network, disk and limit options. */
  constructor (options: SimulatorOptions) {
    if (options === undefined || (typeof options.seed !== 'number' && typeof options.seed !== 'string')) {
      throw new MakoError('A simulator needs a seed', TransportCodes.invalidConfig)
    }
    this.seed = options.seed
    this.#network = { ...defaultNetworkOptions }
    this.setNetwork(options.network ?? {})
    this.#disk = { ...defaultDiskOptions, ...options.disk }
    this.#limits = resolveTransportLimits(options.limits)
    this.#netRandom = new SeededRandom(this.seed, 'network')
    this.#diskRandom = new SeededRandom(this.seed, 'disk')
    this.#traceLines = options.traceLines ?? 200
    this.#record(`seed ${String(this.seed)}`)
  }

  /** Virtual time in milliseconds. */
  get now (): number {
    return this.#now
  }

  /**
   * A named random stream of this run, for workloads and fault schedules.
   * The same name gives the same stream; streams do not disturb each other.
   *
   * @param name The stream's name, such as `"workload"`.
   */
  random (name: string): SeededRandom {
    return new SeededRandom(this.seed, `user/${name}`)
  }

  /**
   * Changes network options for all links from now on.
   *
   * @param options Options to change.
   */
  setNetwork (options: Partial<NetworkOptions>): void {
    checkProbability('drop', options.drop)
    checkProbability('duplicate', options.duplicate)
    for (const [key, value] of Object.entries(options) as Array<[keyof NetworkOptions, unknown]>) {
      if (value !== undefined) (this.#network as unknown as Record<string, unknown>)[key] = value
    }
    if (this.#traceLines !== undefined) this.#record(`network ${JSON.stringify({ ...options, delay: undefined, reconnectDelay: undefined })}`)
  }

  /**
   * Sets (or with `undefined`, clears) the faults of the link from `from` to `to`.
   *
   * @param from The sending node.
   * @param to The receiving node.
   * @param faults Overrides of the network's options.
   */
  setLinkFaults (from: string, to: string, faults: LinkFaults | undefined): void {
    checkProbability('drop', faults?.drop)
    checkProbability('duplicate', faults?.duplicate)
    this.#direction(toNodeId(from), toNodeId(to)).faults = faults
    this.#record(`faults ${from}>${to} ${JSON.stringify({ ...faults, delay: undefined })}`)
  }

  /**
   * Adds a node and boots it now. It links up with every other live node
   * after the reconnect delay.
   *
   * @param id The node's id.
   * @param boot Builds the node's code from its environment; called again
   *   (with a new environment, same disk) at each restart.
   */
  addNode<T>(id: string, boot: NodeBoot<T>): SimNode<T> {
    const nid = toNodeId(id)
    if (this.#nodes.has(nid)) throw new MakoError(`Node ${nid} exists`, TransportCodes.invalidArgument)
    const rt: NodeRuntime = { id: nid, boot, disk: new DiskState(), incarnation: 0, alive: false, transport: undefined, app: undefined, lastSyncAt: 0 }
    for (const other of this.#nodes.keys()) {
      const [a, b] = other < nid ? [other, nid] : [nid, other]
      this.#pairs.set(`${a} ${b}`, { a, b, up: false, session: 0, wires: undefined, connectEvent: undefined, detectEvent: undefined })
    }
    this.#nodes.set(nid, rt)
    this.#record(`add ${nid}`)
    this.#boot(rt)
    return new SimNode<T>(rt)
  }

  /**
   * The node with that id.
   *
   * @param id A node's id.
   */
  node<T = unknown>(id: string): SimNode<T> {
    const rt = this.#nodes.get(id as NodeId)
    if (rt === undefined) throw new MakoError(`No node ${id}`, TransportCodes.invalidArgument)
    return new SimNode<T>(rt)
  }

  /** Ids of all nodes, live or not, in the order they were added. */
  nodes (): NodeId[] {
    return [...this.#nodes.keys()]
  }

  #boot (rt: NodeRuntime): void {
    rt.incarnation++
    rt.alive = true
    const incarnation = rt.incarnation
    const alive = (): boolean => rt.alive && rt.incarnation === incarnation
    const clock: Clock = {
      now: () => this.#now,
      setTimer: (delayMs, callback) => this.#schedule(delayMs, `timer ${rt.id}`, () => { if (alive()) callback() }) as unknown as TimerHandle,
      clearTimer: (handle) => { (handle as unknown as SimEvent).cancelled = true }
    }
    const transport = new SimTransport(this.#host, rt.id, this.#limits, clock)
    const disk = new SimDisk(rt.disk, alive, (complete) => {
      const at = Math.max(this.#now + drawDelay(this.#disk.syncDelay, this.#diskRandom), rt.lastSyncAt)
      rt.lastSyncAt = at
      this.#scheduleAt(at, `sync ${rt.id}`, () => { if (alive()) complete() })
    })
    const env: NodeEnv = {
      id: rt.id,
      incarnation,
      transport,
      clock,
      random: new SeededRandom(this.seed, `node/${rt.id}/${incarnation}`),
      disk,
      trace: (note) => { this.#record(`note ${rt.id} ${note}`) }
    }
    rt.transport = transport
    rt.app = rt.boot(env)
    for (const pair of this.#pairsOf(rt.id)) this.#maybeConnect(pair)
  }

  /**
   * Crashes a node: its code stops at once (timers, syncs and promises of
   * this incarnation never complete), its disk loses what was not synced,
   * and its peers see `peerDown` after `failureDetectionDelay`.
   *
   * @param id The node.
   */
  crash (id: string): void {
    const rt = this.#runtime(id)
    if (!rt.alive) return
    rt.alive = false
    rt.transport?.kill()
    this.#stats.crashes++
    this.#record(`crash ${rt.id}`)
    rt.disk.crash(this.#diskRandom, this.#disk.tornWrites)
    for (const pair of this.#pairsOf(rt.id)) {
      if (pair.connectEvent !== undefined) {
        pair.connectEvent.cancelled = true
        pair.connectEvent = undefined
      }
      if (pair.up) this.#detectLater(pair)
    }
  }

  /**
   * Boots a crashed node again: a new incarnation over the same disk.
   *
   * @param id The node.
   */
  restart (id: string): void {
    const rt = this.#runtime(id)
    if (rt.alive) throw new MakoError(`Node ${id} is running`, TransportCodes.invalidArgument)
    this.#stats.restarts++
    this.#record(`restart ${rt.id}`)
    this.#boot(rt)
  }

  /**
   * Cuts the network between two groups: messages from `a` to `b` (and back,
   * unless `oneWay`) are lost. Without `b`, cuts `a` off from every other node.
   *
   * @param a A node or group.
   * @param b The other group; default everyone else.
   * @param options `oneWay: true` cuts only `a` to `b`.
   */
  partition (a: string | readonly string[], b?: string | readonly string[], options: { oneWay?: boolean } = {}): void {
    const left = asList(a)
    const right = b === undefined ? this.nodes().filter((id) => !left.includes(id)) : asList(b)
    this.#record(`partition ${left.join(',')} ${options.oneWay === true ? '->' : '<->'} ${right.join(',')}`)
    for (const x of left) {
      for (const y of right) {
        if (x === y) continue
        this.#direction(x, y).blocked = true
        if (options.oneWay !== true) this.#direction(y, x).blocked = true
        const pair = this.#pair(x, y)
        if (pair?.up === true && this.#network.partitionsBreakLinks) this.#detectLater(pair)
      }
    }
  }

  /**
   * Removes partitions: between two groups, or all of them without arguments.
   *
   * @param a A node or group.
   * @param b The other group; default everyone else.
   */
  heal (a?: string | readonly string[], b?: string | readonly string[]): void {
    if (a === undefined) {
      this.#record('heal all')
      for (const dir of this.#directions.values()) dir.blocked = false
    } else {
      const left = asList(a)
      const right = b === undefined ? this.nodes().filter((id) => !left.includes(id)) : asList(b)
      this.#record(`heal ${left.join(',')} ${right.join(',')}`)
      for (const x of left) {
        for (const y of right) {
          if (x === y) continue
          this.#direction(x, y).blocked = false
          this.#direction(y, x).blocked = false
        }
      }
    }
    for (const pair of this.#pairs.values()) this.#maybeConnect(pair)
  }

  /**
   * Holds every message from `a` to `b` (and back, unless `oneWay`) until
   * {@link Simulator.unclog}; nothing is lost and sessions stay up.
   *
   * @param a A node.
   * @param b Another node.
   * @param options `oneWay: true` clogs only `a` to `b`.
   */
  clog (a: string, b: string, options: { oneWay?: boolean } = {}): void {
    this.#record(`clog ${a} ${options.oneWay === true ? '->' : '<->'} ${b}`)
    this.#direction(toNodeId(a), toNodeId(b)).clogged = true
    if (options.oneWay !== true) this.#direction(toNodeId(b), toNodeId(a)).clogged = true
  }

  /**
   * Releases what {@link Simulator.clog} held (in order, with fresh delays).
   *
   * @param a A node.
   * @param b Another node.
   */
  unclog (a: string, b: string): void {
    this.#record(`unclog ${a} ${b}`)
    for (const [x, y] of [[a, b], [b, a]] as const) {
      const dir = this.#direction(toNodeId(x), toNodeId(y))
      dir.clogged = false
      const held = dir.held
      dir.held = []
      for (const item of held) this.#launch(dir, item)
    }
  }

  /**
   * Resets the connection between two nodes, as a network failure would:
   * both see `peerDown` now, and the link comes back after the reconnect delay.
   *
   * @param a A node.
   * @param b Another node.
   */
  disconnect (a: string, b: string): void {
    const pair = this.#pair(toNodeId(a), toNodeId(b))
    if (pair === undefined) return
    this.#record(`disconnect ${pair.a} ${pair.b}`)
    this.#closeSession(pair, transportError(`Connection between ${a} and ${b} reset`, TransportCodes.connection))
  }

  /**
   * Runs `callback` `delayMs` virtual milliseconds from now, between events:
   * the place for a workload or a fault schedule.
   *
   * @param delayMs Delay in virtual milliseconds.
   * @param callback What to do.
   * @param label A name for the trace.
   */
  schedule (delayMs: number, callback: () => void, label = 'scheduled'): void {
    this.#schedule(delayMs, `user ${label}`, callback)
  }

  /**
   * Processes the next event, if any. Synchronous: promise continuations of
   * node code run only when the caller yields to the event loop, which
   * {@link Simulator.runUntil} does after every event.
   *
   * @returns False when no event is left.
   */
  step (): boolean {
    for (;;) {
      const event = this.#queue.pop()
      if (event === undefined) return false
      if (event.cancelled) continue
      this.#now = event.time
      this.#stats.ticks++
      this.#record(event.label)
      event.run()
      return true
    }
  }

  #nextLive (): SimEvent | undefined {
    for (;;) {
      const event = this.#queue.peek()
      if (event === undefined || !event.cancelled) return event
      this.#queue.pop()
    }
  }

  /**
   * Runs events until `predicate` holds (checked before each event, after
   * the node code's promise continuations ran).
   *
   * @param predicate What to wait for.
   * @param options Bounds; default 1,000,000 ticks.
   * @throws MakoError `MAKO_SIM_STALLED` (with the seed) when the bounds are
   *   reached or no event is left; `MAKO_SIM_FAILURE` (with the seed, and the
   *   node's exception as `cause`) when node code throws from an event.
   */
  async runUntil (predicate: () => boolean, options: RunOptions = {}): Promise<RunResult> {
    const maxTicks = options.maxTicks ?? 1_000_000
    const endTime = this.#now + (options.maxTime ?? Infinity)
    const startTicks = this.#stats.ticks
    await yieldToLoop()
    for (;;) {
      if (predicate()) return { ticks: this.#stats.ticks - startTicks, time: this.#now }
      if (this.#stats.ticks - startTicks >= maxTicks) throw this.#stalled(`predicate still false after ${maxTicks} ticks`)
      const next = this.#nextLive()
      if (next === undefined) throw this.#stalled('predicate still false and no event left')
      if (next.time > endTime) throw this.#stalled(`predicate still false after ${options.maxTime ?? 0} ms`)
      this.#checkedStep()
      await yieldToLoop()
    }
  }

  /**
   * Runs every event due in the next `ms` virtual milliseconds, then moves
   * the clock to the end of that span.
   *
   * @param ms Virtual milliseconds.
   * @param options `maxTicks` bound; default 1,000,000.
   */
  async runFor (ms: number, options: Pick<RunOptions, 'maxTicks'> = {}): Promise<RunResult> {
    const maxTicks = options.maxTicks ?? 1_000_000
    const end = this.#now + ms
    const startTicks = this.#stats.ticks
    await yieldToLoop()
    for (;;) {
      const next = this.#nextLive()
      if (next === undefined || next.time > end) break
      if (this.#stats.ticks - startTicks >= maxTicks) throw this.#stalled(`runFor(${ms}) exceeded ${maxTicks} ticks`)
      this.#checkedStep()
      await yieldToLoop()
    }
    this.#now = Math.max(this.#now, end)
    return { ticks: this.#stats.ticks - startTicks, time: this.#now }
  }

  /**
   * Processes events whenever there are any, yielding to the event loop
   * after each, so async test code can drive nodes as if time were real
   * (virtual time jumps ahead whenever nothing else is happening). Returns
   * a function that stops it.
   */
  runInBackground (): () => Promise<void> {
    let stopped = false
    const loop = (async () => {
      while (!stopped) {
        if (this.#nextLive() === undefined) {
          await new Promise<void>((resolve) => { this.#wake = resolve })
          this.#wake = undefined
          continue
        }
        this.step()
        await yieldToLoop()
      }
    })()
    return async () => {
      stopped = true
      this.#wake?.()
      await loop
    }
  }

  /** One step; an exception from node code comes out with the seed that replays it. */
  #checkedStep (): void {
    try {
      this.step()
    } catch (err) {
      const what = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
      throw new MakoError(`Node code threw at t=${this.#now} ms, tick ${this.#stats.ticks} (${what}). ${this.replayHint()}`,
        'MAKO_SIM_FAILURE', { cause: err })
    }
  }

  #stalled (why: string): MakoError {
    return new MakoError(`Simulation stalled: ${why}, at t=${this.#now} ms, tick ${this.#stats.ticks}. ${this.replayHint()}`, 'MAKO_SIM_STALLED')
  }

  /** How to replay this run: its seed, for a failure message. */
  replayHint (): string {
    return `Seed ${JSON.stringify(this.seed)}: replay with new Simulator({ seed: ${JSON.stringify(this.seed)} }) or SEED=${String(this.seed)} in the environment of the test`
  }

  /** SHA-256 of every event so far (time, kind, nodes, message bytes): equal for equal runs. */
  traceHash (): string {
    return this.#hash.copy().digest('hex')
  }

  /** The last trace lines (see `traceLines`), oldest first. */
  traceTail (): string[] {
    return [...this.#trace]
  }

  /** A snapshot of the counters. */
  stats (): SimStats {
    return { ...this.#stats }
  }

  #record (line: string): void {
    const text = `${this.#now} ${line}`
    this.#hash.update(text)
    this.#hash.update('\n')
    if (this.#traceLines > 0) {
      this.#trace.push(text)
      if (this.#trace.length > this.#traceLines) this.#trace.shift()
    }
  }

  #schedule (delayMs: number, label: string, run: () => void): SimEvent {
    return this.#scheduleAt(this.#now + Math.max(0, delayMs), label, run)
  }

  #scheduleAt (time: number, label: string, run: () => void): SimEvent {
    const event: SimEvent = { time: Math.max(time, this.#now), seq: this.#seq++, label, run, cancelled: false }
    this.#queue.push(event)
    this.#wake?.()
    return event
  }

  #runtime (id: string): NodeRuntime {
    const rt = this.#nodes.get(id as NodeId)
    if (rt === undefined) throw new MakoError(`No node ${id}`, TransportCodes.invalidArgument)
    return rt
  }

  #pair (x: NodeId, y: NodeId): Pair | undefined {
    return this.#pairs.get(x < y ? `${x} ${y}` : `${y} ${x}`)
  }

  #pairsOf (id: NodeId): Pair[] {
    const out: Pair[] = []
    for (const pair of this.#pairs.values()) if (pair.a === id || pair.b === id) out.push(pair)
    return out
  }

  #direction (from: NodeId, to: NodeId): Direction {
    const key = `${from}>${to}`
    let dir = this.#directions.get(key)
    if (dir === undefined) {
      dir = { blocked: false, clogged: false, held: [], lastArrival: 0, faults: undefined }
      this.#directions.set(key, dir)
    }
    return dir
  }

  #canConnect (pair: Pair): boolean {
    const a = this.#nodes.get(pair.a)
    const b = this.#nodes.get(pair.b)
    if (a?.alive !== true || b?.alive !== true) return false
    if (a.transport?.alive !== true || b.transport?.alive !== true) return false
    if (!this.#network.partitionsBreakLinks) return true
    return !this.#direction(pair.a, pair.b).blocked && !this.#direction(pair.b, pair.a).blocked
  }

  /** Whether the pair's session is between the nodes' current incarnations. */
  #sessionCurrent (pair: Pair): boolean {
    if (!pair.up || pair.wires === undefined) return false
    for (const wire of pair.wires.values()) if (!wire.owner.alive) return false
    return true
  }

  #maybeConnect (pair: Pair): void {
    if (pair.connectEvent !== undefined || this.#sessionCurrent(pair) || !this.#canConnect(pair)) return
    pair.connectEvent = this.#schedule(drawDelay(this.#network.reconnectDelay, this.#netRandom), `connect ${pair.a} ${pair.b}`, () => {
      pair.connectEvent = undefined
      if (!this.#canConnect(pair) || this.#sessionCurrent(pair)) return
      // A session with a node's previous incarnation ends when the new one
      // connects, as a WebSocket from a restarted node replaces the old.
      if (pair.up) this.#closeSession(pair, transportError('The peer restarted', TransportCodes.connection), false)
      this.#openSession(pair)
    })
  }

  #openSession (pair: Pair): void {
    const a = this.#nodes.get(pair.a)?.transport
    const b = this.#nodes.get(pair.b)?.transport
    if (a === undefined || b === undefined) return
    pair.session++
    pair.up = true
    this.#stats.sessionsOpened++
    const wa = new SimWire(this.#host, a, pair.b, pair.session)
    const wb = new SimWire(this.#host, b, pair.a, pair.session)
    pair.wires = new Map([[pair.a, wa], [pair.b, wb]])
    this.#record(`up ${pair.a} ${pair.b} #${pair.session}`)
    a.linkCore(pair.b).open(wa, [b.limits.maxPayload, b.limits.maxInFlight])
    b.linkCore(pair.a).open(wb, [a.limits.maxPayload, a.limits.maxInFlight])
  }

  #closeSession (pair: Pair, reason: MakoError, reconnect = true): void {
    if (!pair.up) return
    pair.up = false
    if (pair.detectEvent !== undefined) {
      pair.detectEvent.cancelled = true
      pair.detectEvent = undefined
    }
    this.#stats.sessionsClosed++
    this.#record(`down ${pair.a} ${pair.b} #${pair.session} ${reason.code}`)
    const wires = pair.wires
    pair.wires = undefined
    for (const wire of wires?.values() ?? []) {
      if (!wire.owner.alive) continue
      const link = wire.owner.linkCore(wire.peer)
      if (link.isCurrent(wire)) link.closeSession(reason)
    }
    if (reconnect) this.#maybeConnect(pair)
  }

  #detectLater (pair: Pair): void {
    if (pair.detectEvent !== undefined) return
    pair.detectEvent = this.#schedule(this.#network.failureDetectionDelay, `detect ${pair.a} ${pair.b}`, () => {
      pair.detectEvent = undefined
      if (!this.#sessionCurrent(pair) || !this.#canConnect(pair)) {
        this.#closeSession(pair, transportError('Peer unreachable', TransportCodes.peerTimeout))
      }
    })
  }

  #faults (dir: Direction): Required<LinkFaults> {
    const net = this.#network
    const own = dir.faults
    if (own === undefined) return net
    return {
      delay: own.delay ?? net.delay,
      drop: own.drop ?? net.drop,
      duplicate: own.duplicate ?? net.duplicate,
      fifo: own.fifo ?? net.fifo
    }
  }

  #transmit (wire: SimWire, bytes: Uint8Array): void {
    if (!wire.owner.alive) return
    const pair = this.#pair(wire.node, wire.peer)
    if (pair === undefined || !pair.up || pair.session !== wire.session) return
    const link = wire.owner.linkCore(wire.peer)
    link.counters.framesSent++
    link.counters.bytesSent += bytes.length
    this.#stats.messagesSent++
    const dir = this.#direction(wire.node, wire.peer)
    const faults = this.#faults(dir)
    if (dir.blocked) {
      this.#stats.messagesDropped++
      this.#record(`lost ${wire.node}>${wire.peer} partition`)
      return
    }
    if (this.#netRandom.chance(faults.drop)) {
      this.#stats.messagesDropped++
      this.#record(`lost ${wire.node}>${wire.peer} drop`)
      return
    }
    wire.inFlightBytes += bytes.length
    const copies: InFlight[] = [{ wire, bytes, counted: true }]
    if (this.#netRandom.chance(faults.duplicate)) {
      this.#stats.messagesDuplicated++
      copies.push({ wire, bytes, counted: false })
    }
    for (const item of copies) {
      if (dir.clogged) dir.held.push(item)
      else this.#launch(dir, item, faults)
    }
  }

  #launch (dir: Direction, item: InFlight, faults = this.#faults(dir)): void {
    let at = this.#now + drawDelay(faults.delay, this.#netRandom)
    if (faults.fifo) {
      at = Math.max(at, dir.lastArrival)
      dir.lastArrival = at
    }
    const { wire, bytes } = item
    this.#scheduleAt(at, `deliver ${wire.node}>${wire.peer} #${wire.session} ${bytes.length}`, () => { this.#deliver(item) })
  }

  #deliver (item: InFlight): void {
    const { wire, bytes } = item
    this.#hash.update(bytes)
    if (item.counted) {
      wire.inFlightBytes -= bytes.length
      if (wire.owner.alive) {
        const link = wire.owner.linkCore(wire.peer)
        if (link.isCurrent(wire)) link.notifyDrain()
      }
    }
    const pair = this.#pair(wire.node, wire.peer)
    const receiver = pair?.wires?.get(wire.peer)
    if (pair === undefined || !pair.up || pair.session !== wire.session || receiver === undefined || !receiver.owner.alive) {
      this.#stats.messagesDropped++
      return
    }
    const link = receiver.owner.linkCore(wire.node)
    if (!link.isCurrent(receiver)) {
      this.#stats.messagesDropped++
      return
    }
    this.#stats.messagesDelivered++
    link.counters.framesReceived++
    link.counters.bytesReceived += bytes.length
    let envelope: SessionEnvelope
    try {
      // A private copy per delivery: byte arrays in a payload are views
      // into the buffer they were decoded from (and Buffer#slice would not copy).
      const decoded = decodeEnvelope(Uint8Array.prototype.slice.call(bytes))
      if (decoded[0] >= Tag.challenge) throw new WireError('Handshake message in a session', TransportCodes.badMessage)
      envelope = decoded as SessionEnvelope
      link.receive(envelope)
    } catch (err) {
      if (!(err instanceof WireError)) throw err
      this.#failSession(receiver, transportError(`${receiver.node}: ${err.message}`, err.code))
    }
  }

  #failSession (wire: SimWire, reason: MakoError): void {
    const pair = this.#pair(wire.node, wire.peer)
    if (pair === undefined || !pair.up || pair.session !== wire.session) return
    this.#closeSession(pair, reason)
  }

  #transportClosed (transport: SimTransport): void {
    this.#record(`close ${transport.nodeId}`)
    for (const pair of this.#pairsOf(transport.nodeId)) {
      if (pair.wires?.get(transport.nodeId)?.owner === transport) {
        this.#closeSession(pair, transportError(`${transport.nodeId} is shutting down`, TransportCodes.shutdown), false)
      }
    }
  }
}
