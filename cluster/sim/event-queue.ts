/**
 * The simulator's one event queue: a binary min-heap ordered by virtual time,
 * then by sequence number, so events due at the same moment run in the order
 * they were scheduled and a run never depends on heap internals.
 *
 * @module
 * @internal
 */

/**
 * One scheduled event.
 *
 * @internal
 */
export interface SimEvent {
  /** Virtual time in milliseconds. */
  readonly time: number
  /** Tie-breaker: the order of scheduling. */
  readonly seq: number
  /** What the event is, for the trace. */
  readonly label: string
  /** Runs the event. */
  readonly run: () => void
  /** Set by cancel; a cancelled event is skipped when it comes up. */
  cancelled: boolean
}

function before (a: SimEvent, b: SimEvent): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq)
}

/**
 * A priority queue of events. Push and pop are O(log n).
 *
 * @internal
 */
export class EventQueue {
  readonly #heap: SimEvent[] = []

  /** Events queued, cancelled ones included. */
  get size (): number {
    return this.#heap.length
  }

  /** @param event The event to add. */
  push (event: SimEvent): void {
    const heap = this.#heap
    heap.push(event)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = heap[parent] as SimEvent
      if (!before(event, p)) break
      heap[i] = p
      i = parent
    }
    heap[i] = event
  }

  /** The earliest event, without removing it. */
  peek (): SimEvent | undefined {
    return this.#heap[0]
  }

  /** Removes and returns the earliest event. */
  pop (): SimEvent | undefined {
    const heap = this.#heap
    const top = heap[0]
    const last = heap.pop()
    if (top === undefined || last === undefined || heap.length === 0) return top
    let i = 0
    const n = heap.length
    for (;;) {
      const left = 2 * i + 1
      if (left >= n) break
      const right = left + 1
      let child = left
      if (right < n && before(heap[right] as SimEvent, heap[left] as SimEvent)) child = right
      const c = heap[child] as SimEvent
      if (!before(c, last)) break
      heap[i] = c
      i = child
    }
    heap[i] = last
    return top
  }
}
