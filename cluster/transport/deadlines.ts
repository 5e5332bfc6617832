/**
 * Request deadlines without a timer per request. A Node timer per request
 * (set, then cleared when the response comes) cost more than half the time
 * of a small round trip at 1024 in flight: each Timeout object outlives a
 * young-generation collection and is promoted before it is cleared.
 *
 * Requests with the same timeout expire in the order they were made, so each
 * distinct timeout gets a FIFO lane, and one clock timer is armed for the
 * earliest head. A request that settles is only marked; it leaves its lane
 * when it reaches the head, or when the lane is compacted, which happens
 * when dead entries outnumber live ones, so memory stays O(live requests).
 *
 * @module
 * @internal
 */

import type { Clock, TimerHandle } from './clock.js'

/** One lane: entries and deadlines in parallel arrays, with a moving head. */
interface Lane<T> {
  entries: T[]
  deadlines: number[]
  head: number
  compactAt: number
}

const minCompact = 1024

/**
 * Deadlines of many entries, one timer.
 *
 * @internal
 */
export class DeadlineQueue<T> {
  readonly #clock: Clock
  readonly #live: (entry: T) => boolean
  readonly #expire: (entry: T) => void
  readonly #lanes = new Map<number, Lane<T>>()
  #timer: TimerHandle | undefined
  #timerAt = Infinity

  /**
   * @param clock Time and the one timer.
   * @param live Whether an entry still waits (settled entries are skipped).
   * @param expire Called for each live entry whose deadline passed, in deadline order per lane.
   */
  constructor (clock: Clock, live: (entry: T) => boolean, expire: (entry: T) => void) {
    this.#clock = clock
    this.#live = live
    this.#expire = expire
  }

  /**
   * Adds an entry that expires `timeout` ms from now. O(1) amortized.
   *
   * @param entry The entry.
   * @param timeout Milliseconds from now.
   */
  add (entry: T, timeout: number): void {
    const deadline = this.#clock.now() + timeout
    let lane = this.#lanes.get(timeout)
    if (lane === undefined) {
      lane = { entries: [], deadlines: [], head: 0, compactAt: minCompact }
      this.#lanes.set(timeout, lane)
    }
    lane.entries.push(entry)
    lane.deadlines.push(deadline)
    if (lane.entries.length - lane.head >= lane.compactAt) this.#compact(lane)
    if (deadline < this.#timerAt) this.#arm(deadline)
  }

  /** Entries held, settled ones not yet dropped included (for tests). */
  get held (): number {
    let count = 0
    for (const lane of this.#lanes.values()) count += lane.entries.length - lane.head
    return count
  }

  /** Drops every entry and the timer. */
  clear (): void {
    this.#lanes.clear()
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer)
    this.#timer = undefined
    this.#timerAt = Infinity
  }

  #compact (lane: Lane<T>): void {
    const entries: T[] = []
    const deadlines: number[] = []
    for (let i = lane.head; i < lane.entries.length; i++) {
      const entry = lane.entries[i] as T
      if (this.#live(entry)) {
        entries.push(entry)
        deadlines.push(lane.deadlines[i] as number)
      }
    }
    lane.entries = entries
    lane.deadlines = deadlines
    lane.head = 0
    lane.compactAt = Math.max(minCompact, 2 * entries.length)
  }

  #arm (at: number): void {
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer)
    this.#timerAt = at
    this.#timer = this.#clock.setTimer(Math.max(0, at - this.#clock.now()), this.#fire)
  }

  readonly #fire = (): void => {
    this.#timer = undefined
    this.#timerAt = Infinity
    const now = this.#clock.now()
    const expired: T[] = []
    let next = Infinity
    for (const [timeout, lane] of this.#lanes) {
      while (lane.head < lane.entries.length) {
        const entry = lane.entries[lane.head] as T
        const deadline = lane.deadlines[lane.head] as number
        if (this.#live(entry)) {
          if (deadline > now) {
            next = Math.min(next, deadline)
            break
          }
          expired.push(entry)
        }
        lane.entries[lane.head] = undefined as T
        lane.head++
      }
      if (lane.head === lane.entries.length) {
        this.#lanes.delete(timeout)
      } else if (lane.head > minCompact && lane.head * 2 > lane.entries.length) {
        lane.entries = lane.entries.slice(lane.head)
        lane.deadlines = lane.deadlines.slice(lane.head)
        lane.head = 0
      }
    }
    if (next < Infinity) this.#arm(next)
    for (const entry of expired) this.#expire(entry)
  }
}
