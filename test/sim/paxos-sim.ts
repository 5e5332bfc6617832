/**
 * A seeded simulation of one Paxos shard: pure replicas stepped on one event
 * queue in virtual time, with a durability model (records become durable
 * after a sync delay; a crash loses what was not, and the messages waiting
 * for it), a faulty network (loss up to 30%, duplication, reordering by
 * random delays, symmetric and one-way partitions, swizzle-clogging), crash
 * and restart of any minority at any time (the leader mid-phase-2 among
 * them), and clients running reads, writes and compare-and-set.
 *
 * Checked after every step: no slot has two values chosen (an oracle counts
 * durable votes per slot and ballot), every replica applies the chosen value
 * of each slot in order (so applied logs are prefixes of one another),
 * replicas at the same applied index have the same state hash. Checked at
 * the end (VOPR-style liveness phase): once faults heal, a leader serves and
 * every submitted command is answered within a bounded number of ticks, and
 * the clients' history is linearizable.
 *
 * Fault switches are drawn per seed, BUGGIFY-style: each kind of fault is
 * on for a run with some probability, so runs differ in kind, not only in
 * timing.
 *
 * @module
 * @internal
 */

import { SeededRandom } from '../../cluster/sim/random.js'
import { Replica } from '../../cluster/paxos/replica.js'
import { KvStateMachine, kvCommandBytes } from '../../cluster/paxos/kv.js'
import type { KvOp } from '../../cluster/paxos/kv.js'
import { applyRecord, emptyDurableState } from '../../cluster/paxos/durable.js'
import { ballotString } from '../../cluster/paxos/ballot.js'
import type { DurableState, PaxosMessage, Ready, Value } from '../../cluster/paxos/types.js'
import { checkLinearizable, kvModel } from '../../cluster/check/index.js'
import type { KvInput, KvOperation, KvOutput } from '../../cluster/check/index.js'

/** Options of one simulated run. @internal */
export interface PaxosSimOptions {
  /** The seed: every choice of the run derives from it. */
  seed: number
  /** Replicas (1, 3 or 5); drawn from the seed when absent. */
  nodes?: number
  /** Ticks of the fault phase (a tick is 10 virtual ms). Default 300. */
  faultTicks?: number
  /** Ticks the liveness phase may take. Default 400. */
  livenessTicks?: number
  /** Use leader leases for reads; drawn from the seed when absent. */
  lease?: boolean
  /** Let a crashed replica come back with an empty disk. Default false. */
  diskLoss?: boolean
  /** Check the clients' history for linearizability. Default true. */
  checkHistory?: boolean
  /** Clients. Default 3. */
  clients?: number
  /** Keys the clients use. Default 3. */
  keys?: number
}

/** What a run did. @internal */
export interface PaxosSimResult {
  /** The seed. */
  seed: number
  /** Replicas. */
  nodes: number
  /** Events processed. */
  events: number
  /** Client operations completed. */
  ops: number
  /** Slots chosen. */
  slots: number
  /** Crashes injected. */
  crashes: number
  /** Leaders elected. */
  elections: number
  /** Ticks the liveness phase took. */
  livenessTicks: number
  /** Fault switches on in this run. */
  faults: string[]
}

/** A failed run: the seed, what broke, and the end of the trace. @internal */
export class SimFailure extends Error {
  /**
   * @param seed The seed.
   * @param message What broke.
   * @param trace The last trace lines.
   */
  constructor (readonly seed: number, message: string, readonly trace: string[]) {
    super(`seed ${seed}: ${message}`)
    this.name = 'SimFailure'
  }
}

const TICK_MS = 10
const ELECTION_TICKS = 10
const enc = new TextEncoder()
const dec = new TextDecoder()

interface Ev { t: number, seq: number, run: () => void }

/** A binary min-heap of events by (time, seq). */
class Queue {
  #h: Ev[] = []
  get size (): number { return this.#h.length }
  push (e: Ev): void {
    const h = this.#h
    h.push(e)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (less(h[p]!, e)) break
      h[i] = h[p]!
      i = p
    }
    h[i] = e
  }

  pop (): Ev | undefined {
    const h = this.#h
    const top = h[0]
    const last = h.pop()
    if (top === undefined || last === undefined || h.length === 0) return top
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= h.length) break
      const r = l + 1
      const c = r < h.length && less(h[r]!, h[l]!) ? r : l
      if (less(last, h[c]!)) break
      h[i] = h[c]!
      i = c
    }
    h[i] = last
    return top
  }
}
function less (a: Ev, b: Ev): boolean { return a.t < b.t || (a.t === b.t && a.seq < b.seq) }

interface ClientOp {
  client: number
  seq: number
  input: KvInput
  call: number
  ret: number
  output: KvOutput | undefined
  attempt: number
  done: boolean
}

interface Node {
  id: string
  replica: Replica | undefined
  kv: KvStateMachine | undefined
  alive: boolean
  inc: number
  durable: DurableState
  diskFreeAt: number
  pendingOps: Map<string, ClientOp>
  pendingReads: Map<string, ClientOp>
  lastSnap: number
  pausedUntil: number
  stalledUntil: number
}

/**
 * Runs one seed. Throws {@link SimFailure} on a broken invariant, a
 * liveness failure or a non-linearizable history.
 *
 * @param options The seed and shape of the run.
 * @internal
 */
export function runPaxosSim (options: PaxosSimOptions): PaxosSimResult {
  const seed = options.seed
  const rnd = new SeededRandom(seed, 'paxos-sim')
  const netR = rnd.fork('net')
  const faultR = rnd.fork('faults')
  const clientR = rnd.fork('clients')
  const n = options.nodes ?? (rnd.chance(0.1) ? 1 : rnd.chance(0.67) ? 3 : 5)
  const f = Math.floor((n - 1) / 2)
  const quorum = f + 1
  const lease = options.lease ?? rnd.chance(0.5)
  const faultTicks = options.faultTicks ?? 300
  const livenessTicks = options.livenessTicks ?? 400
  const ids = Array.from({ length: n }, (_, i) => `r${i + 1}`)
  const trace: string[] = []
  const note = (line: string): void => {
    trace.push(`${now.toFixed(2)} ${line}`)
    if (trace.length > 400) trace.splice(0, 100)
  }
  const fail = (msg: string): never => { throw new SimFailure(seed, msg, trace.slice(-150)) }

  // BUGGIFY-style switches: which kinds of fault this run has.
  const sw = {
    drop: rnd.chance(0.6),
    dup: rnd.chance(0.4),
    partition: rnd.chance(0.5),
    oneWay: rnd.chance(0.4),
    clog: rnd.chance(0.3),
    crash: rnd.chance(0.7),
    leaderCrash: rnd.chance(0.5),
    // A process pause (a long GC, a stopped VM): its ticks stop too, which
    // breaks a lease's clock assumption, so only runs without leases pause.
    pause: !lease && rnd.chance(0.4),
    // A clock that stops while the process runs: harmless without leases
    // (read index trusts no clock), so it tempts a deposed leader to serve.
    clockStall: !lease && rnd.chance(0.4),
    diskLoss: options.diskLoss === true && rnd.chance(0.5)
  }
  const faults = Object.entries(sw).filter(([, on]) => on).map(([k]) => k)
  let drop = sw.drop ? rnd.range(0, 0.3) : 0
  let dup = sw.dup ? rnd.range(0, 0.2) : 0
  let delayMean = rnd.range(0.5, 15)

  const q = new Queue()
  let now = 0
  let seq = 0
  let events = 0
  const at = (t: number, run: () => void): void => { q.push({ t: Math.max(t, now), seq: seq++, run }) }

  // Oracle state.
  const votes = new Map<number, Map<string, { id: string, voters: Set<string> }>>()
  const chosen = new Map<number, string>()
  const applied = new Map<number, string>()
  const hashAt = new Map<number, string>()
  let elections = 0
  let crashes = 0

  const nodes = new Map<string, Node>()
  const blocked = new Set<string>()
  const clogged = new Map<string, Array<() => void>>()

  const vote = (node: string, slot: number, b: readonly [number, string], value: Value): void => {
    let bySlot = votes.get(slot)
    if (bySlot === undefined) {
      bySlot = new Map()
      votes.set(slot, bySlot)
    }
    const key = ballotString(b)
    let v = bySlot.get(key)
    if (v === undefined) {
      v = { id: value.id, voters: new Set() }
      bySlot.set(key, v)
    } else if (v.id !== value.id) {
      fail(`slot ${slot} ballot ${key}: two values proposed (${v.id}, ${value.id})`)
    }
    v.voters.add(node)
    if (v.voters.size >= quorum) {
      const c = chosen.get(slot)
      if (c === undefined) chosen.set(slot, value.id)
      else if (c !== value.id) fail(`slot ${slot}: chose ${c} and then ${value.id} (ballot ${key})`)
    }
  }

  const boot = (node: Node, wipe: boolean): void => {
    if (wipe) node.durable = emptyDurableState()
    node.inc++
    node.alive = true
    node.diskFreeAt = now
    node.pendingOps = new Map()
    node.pendingReads = new Map()
    node.lastSnap = node.durable.snapshot?.index ?? 0
    node.kv = new KvStateMachine()
    const r = rnd.fork(`${node.id}/${node.inc}`)
    node.replica = new Replica({
      id: node.id,
      members: ids,
      random: () => r.next(),
      electionTicks: ELECTION_TICKS,
      leaseTicks: lease ? ELECTION_TICKS - 2 : 0,
      keepSlots: 4,
      maxInflightSlots: 8,
      maxBatchCommands: 4,
      maxEntriesPerMessage: 8,
      maxBatchBytes: 120,
      maxMessageBytes: 200,
      commandBytes: kvCommandBytes,
      durable: node.durable
    })
    note(`boot ${node.id}#${node.inc}${wipe ? ' (empty disk)' : ''}`)
    const inc = node.inc
    const phase = r.range(0, TICK_MS)
    const tick = (): void => {
      if (node.inc !== inc || !node.alive) return
      if (node.pausedUntil > now || node.stalledUntil > now) {
        at(Math.max(node.pausedUntil, node.stalledUntil), tick)
        return
      }
      node.replica!.tick()
      drain(node)
      at(now + TICK_MS, tick)
    }
    at(now + phase, tick)
    drain(node)
  }

  const send = (from: string, to: string, msg: PaxosMessage): void => {
    if (from === to) {
      at(now, () => deliver(to, msg))
      return
    }
    if (blocked.has(`${from}>${to}`)) return
    if (netR.chance(drop)) return
    const copies = netR.chance(dup) ? 2 : 1
    for (let i = 0; i < copies; i++) {
      const launch = (): void => { at(now + 0.1 + netR.exponential(delayMean), () => deliver(to, msg)) }
      const held = clogged.get(`${from}>${to}`)
      if (held !== undefined) held.push(launch)
      else launch()
    }
  }

  const deliver = (to: string, msg: PaxosMessage): void => {
    const node = nodes.get(to)!
    if (!node.alive) return
    if (node.pausedUntil > now) {
      at(node.pausedUntil, () => deliver(to, msg))
      return
    }
    node.replica!.step(msg)
    drain(node)
  }

  const reply = (op: ClientOp, attempt: number, output: KvOutput | 'redirect', hint?: string): void => {
    at(now + 0.2 + clientR.range(0, 1), () => {
      if (op.done || (attempt !== op.attempt && op.input.f === 'read')) return
      if (output === 'redirect') {
        if (attempt === op.attempt) submit(op, hint)
        return
      }
      op.done = true
      op.ret = now
      op.output = output
      clientDone(op)
    })
  }

  const processReady = (node: Node, rd: Ready): void => {
    const kv = node.kv!
    if (rd.snapshot !== undefined) {
      kv.restore(rd.snapshot.data, rd.snapshot.index)
      checkHash(node)
    }
    for (const e of rd.committed) {
      const c = chosen.get(e.slot)
      if (c !== e.value.id) fail(`${node.id} applies slot ${e.slot} = ${e.value.id}, chosen is ${String(c)}`)
      const prev = applied.get(e.slot)
      if (prev === undefined) applied.set(e.slot, e.value.id)
      else if (prev !== e.value.id) fail(`${node.id} applies slot ${e.slot} = ${e.value.id}, others applied ${prev}`)
      if (e.value.k === 'epoch') note(`${node.id} applies epoch ${ballotString(e.value.epoch)} after ${e.value.previousFinal} at ${e.slot}`)
      const results = kv.apply(e)
      for (const [id, res] of results) {
        const op = node.pendingOps.get(id)
        if (op === undefined) continue
        node.pendingOps.delete(id)
        reply(op, op.attempt, op.input.f === 'cas' ? { ok: res.ok } : { ok: true })
      }
      checkHash(node)
    }
    for (const r of rd.reads) {
      const op = node.pendingReads.get(r.id)
      if (op === undefined) continue
      node.pendingReads.delete(r.id)
      if (kv.appliedIndex < r.index) fail(`${node.id} read at ${r.index} with only ${kv.appliedIndex} applied`)
      const v = kv.get(enc.encode(op.input.key))
      reply(op, Number(r.id.slice(r.id.lastIndexOf('.') + 1)), { value: v === undefined ? null : dec.decode(v) })
    }
    for (const r of rd.refused) {
      const op = node.pendingOps.get(r.id) ?? node.pendingReads.get(r.id)
      if (op === undefined) continue
      node.pendingOps.delete(r.id)
      node.pendingReads.delete(r.id)
      reply(op, op.attempt, 'redirect', r.leader)
    }
    for (const ev of rd.events) {
      if (ev.e === 'leader') {
        elections++
        note(`${node.id} leads ${ballotString(ev.epoch)} previousFinal ${ev.previousFinal}`)
      } else if (ev.e !== 'committed') {
        note(`${node.id} ${ev.e}`)
      }
    }
    if (kv.appliedIndex - node.lastSnap >= 16) {
      node.lastSnap = kv.appliedIndex
      node.replica!.compact(kv.appliedIndex, kv.snapshot())
    }
    if (rd.persist.length === 0 && rd.sendAfterPersist.length === 0) return
    const when = rd.persist.length > 0 ? Math.max(now, node.diskFreeAt) + netR.range(0.05, 2) : Math.max(now, node.diskFreeAt)
    node.diskFreeAt = when
    const inc = node.inc
    at(when, () => {
      if (node.inc !== inc || !node.alive) return
      for (const rec of rd.persist) {
        applyRecord(node.durable, rec)
        if (rec.r === 'accept' && !rec.chosen) vote(node.id, rec.slot, rec.b, rec.value)
      }
      for (const o of rd.sendAfterPersist) send(node.id, o.to, o.msg)
    })
  }

  const drain = (node: Node): void => {
    let guard = 0
    while (node.alive && node.replica!.hasReady()) {
      if (++guard > 1000) fail(`${node.id} keeps producing Readies`)
      processReady(node, node.replica!.ready())
    }
  }

  const checkHash = (node: Node): void => {
    const kv = node.kv!
    const h = hashAt.get(kv.appliedIndex)
    if (h === undefined) hashAt.set(kv.appliedIndex, kv.stateHash)
    else if (h !== kv.stateHash) fail(`${node.id} state hash ${kv.stateHash} at ${kv.appliedIndex}, others ${h}`)
  }

  // Clients: each runs one operation at a time, retrying it (same command
  // id) on timeouts and redirects until it is answered.
  const nClients = options.clients ?? 3
  const nKeys = options.keys ?? 3
  const history: ClientOp[] = []
  const leaderHint = new Map<number, string>()
  let issuing = true
  const readRatio = clientR.range(0.2, 0.85)
  let valueSeq = 0

  const submit = (op: ClientOp, hint?: string): void => {
    op.attempt++
    const attempt = op.attempt
    const target = hint !== undefined && clientR.chance(0.9) ? hint : leaderHint.get(op.client) ?? clientR.pick(ids)
    if (hint !== undefined) leaderHint.set(op.client, hint)
    else if (attempt > 1) leaderHint.delete(op.client)
    const arrive = (): void => {
      const node = nodes.get(target)!
      if (!node.alive || op.done) return
      if (node.pausedUntil > now) {
        // The request waits in the socket until the process resumes.
        at(node.pausedUntil, arrive)
        return
      }
      const r = node.replica!
      if (op.input.f === 'read') {
        const id = `c${op.client}#${op.seq}.${attempt}`
        const refusal = r.read(id)
        if (refusal !== undefined) reply(op, attempt, 'redirect', refusal.leader)
        else node.pendingReads.set(id, op)
      } else {
        const id = `c${op.client}#${op.seq}`
        const i = op.input
        const kop: KvOp = i.f === 'write'
          ? { t: 'put', k: enc.encode(i.key), v: enc.encode(i.value) }
          : { t: 'cas', k: enc.encode(i.key), expect: i.expect === null ? null : enc.encode(i.expect), v: enc.encode(i.value) }
        const refusal = r.propose({ id, op: kop })
        if (refusal !== undefined) reply(op, attempt, 'redirect', refusal.leader)
        else node.pendingOps.set(id, op)
      }
      drain(node)
    }
    at(now + 0.2 + clientR.range(0, 1), arrive)
    // Give up on this attempt after a while and try again (elsewhere).
    at(now + 300, () => { if (!op.done && op.attempt === attempt) submit(op) })
  }

  const nextOp = (client: number, opSeq: number): void => {
    if (!issuing) return
    const key = `k${clientR.int(nKeys)}`
    const roll = clientR.next()
    const value = `v${++valueSeq}`
    const input: KvInput = roll < readRatio
      ? { f: 'read', key }
      : roll < readRatio + (1 - readRatio) * 0.6
        ? { f: 'write', key, value }
        : { f: 'cas', key, expect: clientR.chance(0.2) ? null : `v${Math.max(1, valueSeq - 1 - clientR.int(3))}`, value }
    const op: ClientOp = { client, seq: opSeq, input, call: now, ret: Infinity, output: undefined, attempt: 0, done: false }
    history.push(op)
    submit(op)
  }
  const clientDone = (op: ClientOp): void => {
    at(now + clientR.range(0, 20), () => nextOp(op.client, op.seq + 1))
  }

  // Faults.
  const crashed = (): Node[] => [...nodes.values()].filter((x) => !x.alive)
  const crash = (node: Node): void => {
    if (!node.alive) return
    node.alive = false
    node.inc++
    crashes++
    note(`crash ${node.id}`)
  }
  const leaderNode = (): Node | undefined => {
    for (const x of nodes.values()) if (x.alive && x.replica!.status().role === 'leader') return x
    return undefined
  }
  const clogLink = (a: string, b: string): void => {
    if (!clogged.has(`${a}>${b}`)) clogged.set(`${a}>${b}`, [])
  }
  const unclogLink = (a: string, b: string): void => {
    const held = clogged.get(`${a}>${b}`)
    clogged.delete(`${a}>${b}`)
    for (const launch of held ?? []) launch()
  }

  const faultStep = (): void => {
    if (now >= faultTicks * TICK_MS) return
    const kinds: string[] = ['net']
    if (sw.crash) kinds.push('crash', 'restart')
    if (sw.leaderCrash) kinds.push('leaderCrash')
    if (sw.partition) kinds.push('partition', 'heal')
    if (sw.oneWay) kinds.push('oneWay', 'heal')
    if (sw.clog) kinds.push('clog')
    if (sw.pause) kinds.push('pause', 'leaderPause')
    if (sw.clockStall) kinds.push('leaderStall')
    const kind = faultR.pick(kinds)
    const down = crashed()
    switch (kind) {
      case 'net':
        if (sw.drop) drop = faultR.range(0, 0.3)
        if (sw.dup) dup = faultR.range(0, 0.2)
        delayMean = faultR.range(0.5, 15)
        break
      case 'crash':
        if (down.length < f) crash(faultR.pick([...nodes.values()].filter((x) => x.alive)))
        break
      case 'leaderCrash': {
        const l = leaderNode()
        if (l !== undefined && down.length < f) crash(l)
        break
      }
      case 'restart':
        if (down.length > 0) {
          // Lose a disk only while every other replica votes: two replicas
          // relearning at once in a group of three is two faults, beyond f.
          const target = faultR.pick(down)
          const others = [...nodes.values()].filter((x) => x !== target &&
            (x.durable.recovery !== null || x.durable.disk === undefined || (x.alive && x.replica!.status().recovering))).length
          boot(target, sw.diskLoss && others === 0 && faultR.chance(0.3))
        }
        break
      case 'partition': {
        const side = ids.filter(() => faultR.chance(0.5))
        note(`partition ${side.join(',')} | rest`)
        for (const a of side) for (const b of ids) if (!side.includes(b)) { blocked.add(`${a}>${b}`); blocked.add(`${b}>${a}`) }
        break
      }
      case 'oneWay': {
        const a = faultR.pick(ids)
        const b = faultR.pick(ids)
        if (a !== b) {
          note(`one-way ${a} -> ${b} cut`)
          blocked.add(`${a}>${b}`)
        }
        break
      }
      case 'pause':
      case 'leaderPause': {
        const x = kind === 'pause' ? faultR.pick([...nodes.values()]) : leaderNode()
        if (x !== undefined && x.alive) {
          x.pausedUntil = now + faultR.range(100, 600)
          note(`pause ${x.id} until ${x.pausedUntil.toFixed(1)}`)
        }
        break
      }
      case 'leaderStall': {
        // Stall the leader's clock and cut it off from its peers: only a
        // quorum check stops it from serving reads as leader.
        const x = leaderNode()
        if (x !== undefined) {
          x.stalledUntil = now + faultR.range(200, 1000)
          note(`stall ${x.id} until ${x.stalledUntil.toFixed(1)} and isolate it`)
          for (const b of ids) if (b !== x.id) { blocked.add(`${x.id}>${b}`); blocked.add(`${b}>${x.id}`) }
        }
        break
      }
      case 'heal':
        note('heal partitions')
        blocked.clear()
        break
      case 'clog': {
        // Swizzle-clog: stop the links of a random subset one node at a
        // time, then restart them in a random order.
        const subset = faultR.shuffle([...ids]).slice(0, 1 + faultR.int(n))
        note(`swizzle ${subset.join(',')}`)
        let t = now
        for (const x of subset) {
          t += faultR.range(5, 40)
          at(t, () => { for (const y of ids) if (y !== x) { clogLink(x, y); clogLink(y, x) } })
        }
        for (const x of faultR.shuffle([...subset])) {
          t += faultR.range(20, 150)
          at(t, () => { for (const y of ids) if (y !== x) { unclogLink(x, y); unclogLink(y, x) } })
        }
        break
      }
    }
    at(now + faultR.exponential(80), faultStep)
  }

  for (const id of ids) {
    const node: Node = {
      id, replica: undefined, kv: undefined, alive: false, inc: 0, durable: emptyDurableState(), diskFreeAt: 0,
      pendingOps: new Map(), pendingReads: new Map(), lastSnap: 0, pausedUntil: 0, stalledUntil: 0
    }
    nodes.set(id, node)
  }
  for (const node of nodes.values()) boot(node, false)
  for (let c = 0; c < nClients; c++) at(clientR.range(0, 50), () => nextOp(c, 1))
  at(faultR.exponential(80), faultStep)

  const faultEnd = faultTicks * TICK_MS
  const maxEvents = 3_000_000
  const run = (until: () => boolean, end: number): boolean => {
    for (;;) {
      if (until()) return true
      const e = q.pop()
      if (e === undefined) return false
      if (e.t > end) {
        q.push(e)
        now = end
        return until()
      }
      now = e.t
      e.run()
      if (++events > maxEvents) fail('too many events')
    }
  }
  run(() => false, faultEnd)

  // Liveness phase: heal everything, restart everyone, stop new work, and
  // require a serving leader, every command answered and every replica
  // caught up within the bound.
  note('heal all: liveness phase')
  issuing = false
  blocked.clear()
  for (const key of [...clogged.keys()]) {
    const [a, b] = key.split('>') as [string, string]
    unclogLink(a, b)
  }
  drop = 0
  dup = 0
  delayMean = 1
  for (const node of crashed()) boot(node, false)
  const liveStart = now
  const settled = (): boolean => {
    if (!history.every((op) => op.done)) return false
    const l = leaderNode()
    if (l === undefined || !l.replica!.status().serving) return false
    const commit = l.replica!.status().commitIndex
    for (const x of nodes.values()) if (x.kv!.appliedIndex !== commit) return false
    return true
  }
  if (!run(settled, liveStart + livenessTicks * TICK_MS)) {
    const states = [...nodes.values()].map((x) => `${x.replica!.toString()}${x.replica!.status().recovering ? ' recovering' : ''}`).join(', ')
    const open = history.filter((op) => !op.done).length
    fail(`no convergence within ${livenessTicks} ticks after healing: ${open} operations open; ${states}`)
  }
  const livenessUsed = Math.ceil((now - liveStart) / TICK_MS)

  if (options.checkHistory !== false) {
    const ops: KvOperation[] = history.map((op) => ({ client: op.client, input: op.input, output: op.output, call: op.call, ret: op.ret }))
    const res = checkLinearizable(kvModel, ops, { maxSteps: 2_000_000 })
    if (res.result === 'illegal') fail(`history not linearizable: ${res.detail ?? ''}`)
  }
  return {
    seed,
    nodes: n,
    events,
    ops: history.filter((op) => op.done).length,
    slots: chosen.size,
    crashes,
    elections,
    livenessTicks: livenessUsed,
    faults
  }
}
