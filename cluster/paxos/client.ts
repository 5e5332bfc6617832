/**
 * A client of one replicated shard: sends commands and reads to the leader,
 * follows redirects, and retries through leader changes with the same
 * command id, so a retried command is applied once.
 *
 * @module
 */

import { MakoError } from '../../lib/errors.js'
import { systemClock } from '../transport/clock.js'
import type { Clock } from '../transport/clock.js'
import type { NodeId } from '../transport/ids.js'
import type { Transport } from '../transport/types.js'
import type { PaxosRequest, PaxosResponse } from './driver.js'
import type { KvOp, KvResult } from './kv.js'

/** Options of a {@link PaxosClient}. */
export interface PaxosClientOptions {
  /** The client's transport, linked to the replicas. */
  transport: Transport
  /** The shard's replicas. */
  replicas: readonly string[]
  /** This client's id, unique among clients (it prefixes command ids). Default the transport's node id. */
  clientId?: string
  /** Deadline of one attempt, in ms. Default 1,000. */
  attemptTimeout?: number
  /** Deadline of a whole operation, in ms; past it the operation fails with `MAKO_TIMEOUT` (outcome unknown). Default 30,000. */
  timeout?: number
  /** Clock for deadlines and retry pauses; default the system clock (the simulator passes its own). */
  clock?: Clock
}

/**
 * A shard client. Operations may run concurrently.
 */
export class PaxosClient {
  readonly #t: Transport
  readonly #replicas: readonly string[]
  readonly #clientId: string
  readonly #attemptTimeout: number
  readonly #timeout: number
  readonly #clock: Clock
  #seq = 0
  #leader: string | undefined
  #next = 0

  /** @param options Transport, replicas and deadlines. */
  constructor (options: PaxosClientOptions) {
    if (options.replicas.length === 0) throw new MakoError('A client needs replicas', 'MAKO_INVALID_ARGUMENT')
    this.#t = options.transport
    this.#replicas = options.replicas
    this.#clientId = options.clientId ?? options.transport.nodeId
    this.#attemptTimeout = options.attemptTimeout ?? 1000
    this.#timeout = options.timeout ?? 30_000
    this.#clock = options.clock ?? systemClock
  }

  #sleep (ms: number): Promise<void> {
    return new Promise((resolve) => { this.#clock.setTimer(ms, resolve) })
  }

  /** The leader this client last found. */
  get leader (): string | undefined {
    return this.#leader
  }

  /**
   * Runs a command through the log. Resolves with its result once applied.
   *
   * @param op The command.
   * @throws MakoError `MAKO_TIMEOUT` (transient) when no replica applied it in time: it may still be applied later.
   */
  async submit (op: KvOp): Promise<KvResult> {
    const id = `${this.#clientId}#${++this.#seq}`
    const res = await this.#call({ c: 'submit', id, op })
    return (res as { result: KvResult }).result
  }

  /**
   * A linearizable read of a key at the leader.
   *
   * @param key The key.
   */
  async get (key: Uint8Array): Promise<Uint8Array | null> {
    const res = await this.#call({ c: 'read', key })
    return (res as { value: Uint8Array | null }).value
  }

  async #call (req: PaxosRequest): Promise<PaxosResponse> {
    const deadline = this.#clock.now() + this.#timeout
    let lastErr: unknown
    for (let attempt = 0; this.#clock.now() < deadline; attempt++) {
      const target = this.#leader ?? (this.#replicas[this.#next++ % this.#replicas.length] as string)
      try {
        const res = await this.#t.request(target as NodeId, req, { timeout: this.#attemptTimeout }) as PaxosResponse
        if ('redirect' in res) {
          this.#leader = res.redirect ?? undefined
          if (res.redirect === null || res.redirect === target) await this.#sleep(Math.min(50, 5 + attempt * 5))
          continue
        }
        this.#leader = target
        return res
      } catch (err) {
        lastErr = err
        this.#leader = undefined
        const transient = err instanceof MakoError && err.transient
        if (!transient && err instanceof MakoError && err.code === 'MAKO_BAD_REQUEST') throw err
        await this.#sleep(Math.min(100, 5 + attempt * 5))
      }
    }
    throw new MakoError('Shard did not answer in time; the command may still be applied', 'MAKO_TIMEOUT', { transient: true, cause: lastErr })
  }
}
