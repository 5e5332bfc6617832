/**
 * A linearizability checker in the manner of Wing & Gong, with Lowe's
 * memoisation, as Porcupine does it: a depth-first search for an order of
 * the operations that respects real time (an operation that returned before
 * another was called comes first) and that a sequential model accepts.
 * Histories are partitioned first (by key, for key-value stores): each
 * part is checked alone, which keeps the search small.
 *
 * Operations that never returned (timed out, the client gave up) have
 * `ret: Infinity`: they may have taken effect at any time after their call,
 * or never; the model must accept them with `output: undefined`.
 *
 * @module
 */

/** One operation of a history. */
export interface Operation<I, O> {
  /** Who ran it (for reports). */
  readonly client: string | number
  /** What was asked. */
  readonly input: I
  /** What came back; undefined when it never returned. */
  readonly output: O | undefined
  /** When it was called. */
  readonly call: number
  /** When it returned; `Infinity` when it never did. */
  readonly ret: number
}

/** A sequential specification. */
export interface Model<S, I, O> {
  /** The initial state. */
  init (): S
  /**
   * Applies an operation: whether the output is possible from `state`, and
   * the state after. `output` is undefined for an operation that never
   * returned: accept it, with the state its effect would leave.
   */
  step (state: S, input: I, output: O | undefined): [ok: boolean, next: S]
  /** A string equal for equal states (for memoisation). */
  key (state: S): string
  /** Splits a history into independent parts (default: one part). */
  partition? (ops: ReadonlyArray<Operation<I, O>>): Array<Array<Operation<I, O>>>
  /** Describes an operation, for reports. */
  describe? (op: Operation<I, O>): string
}

/** What {@link checkLinearizable} found. */
export interface CheckResult {
  /** `ok`: linearizable; `illegal`: not; `unknown`: the search ran out of budget. */
  readonly result: 'ok' | 'illegal' | 'unknown'
  /** For `illegal`: the part (index) that failed, and its operations described. */
  readonly part?: number
  /** For `illegal`: the longest linearizable prefix found, then the operations that could not follow it. */
  readonly detail?: string
  /** Search steps taken, over all parts. */
  readonly steps: number
}

/** Options of {@link checkLinearizable}. */
export interface CheckOptions {
  /** Most search steps for one part before giving up with `unknown`. Default 5,000,000. */
  maxSteps?: number
}

/** Default of {@link CheckOptions.maxSteps}. */
export const defaultMaxCheckSteps = 5_000_000

interface Entry {
  op: number
  isCall: boolean
  time: number
  prev: Entry | null
  next: Entry | null
  match: Entry | null
}

/**
 * Checks that a history is linearizable with respect to a model.
 *
 * Cost: exponential in the worst case (the problem is NP-complete), but the
 * memoised search is fast for histories with little concurrency per part.
 *
 * @param model The sequential specification.
 * @param history The operations, in any order.
 * @param options Search budget.
 */
export function checkLinearizable<S, I, O> (model: Model<S, I, O>, history: ReadonlyArray<Operation<I, O>>, options: CheckOptions = {}): CheckResult {
  const parts = model.partition !== undefined ? model.partition(history) : [[...history]]
  let steps = 0
  let unknown = false
  for (let i = 0; i < parts.length; i++) {
    const r = checkPart(model, parts[i] as Array<Operation<I, O>>, options.maxSteps ?? defaultMaxCheckSteps)
    steps += r.steps
    if (r.result === 'illegal') return { result: 'illegal', part: i, detail: r.detail ?? '', steps }
    if (r.result === 'unknown') unknown = true
  }
  return { result: unknown ? 'unknown' : 'ok', steps }
}

function checkPart<S, I, O> (model: Model<S, I, O>, ops: Array<Operation<I, O>>, maxSteps: number): CheckResult & { detail?: string } {
  const n = ops.length
  if (n === 0) return { result: 'ok', steps: 0 }
  // Entries sorted by time; at equal times calls come before returns, so
  // operations that touch at an instant count as concurrent.
  const entries: Entry[] = []
  for (let i = 0; i < n; i++) {
    const op = ops[i] as Operation<I, O>
    const call: Entry = { op: i, isCall: true, time: op.call, prev: null, next: null, match: null }
    const ret: Entry = { op: i, isCall: false, time: op.ret, prev: null, next: null, match: null }
    call.match = ret
    entries.push(call, ret)
  }
  entries.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.op - b.op : a.isCall ? -1 : 1))
  const head: Entry = { op: -1, isCall: false, time: -Infinity, prev: null, next: null, match: null }
  let prev = head
  for (const e of entries) {
    prev.next = e
    e.prev = prev
    prev = e
  }
  const words = Math.ceil(n / 32)
  const bits = new Uint32Array(words)
  const cache = new Set<string>()
  const stack: Array<{ entry: Entry, state: S }> = []
  let state = model.init()
  let entry: Entry | null = head.next
  let steps = 0
  let best = 0
  let bestOrder: number[] = []

  const lift = (e: Entry): void => {
    e.prev!.next = e.next
    if (e.next !== null) e.next.prev = e.prev
    const m = e.match!
    m.prev!.next = m.next
    if (m.next !== null) m.next.prev = m.prev
  }
  const unlift = (e: Entry): void => {
    const m = e.match!
    m.prev!.next = m
    if (m.next !== null) m.next.prev = m
    e.prev!.next = e
    if (e.next !== null) e.next.prev = e
  }

  while (head.next !== null) {
    if (++steps > maxSteps) return { result: 'unknown', steps }
    const e = entry as Entry
    if (e.isCall) {
      const op = ops[e.op] as Operation<I, O>
      const [ok, next] = model.step(state, op.input, op.output)
      if (ok) {
        bits[e.op >> 5]! |= 1 << (e.op & 31)
        const key = `${bits.join(',')}|${model.key(next)}`
        if (!cache.has(key)) {
          cache.add(key)
          stack.push({ entry: e, state })
          state = next
          lift(e)
          if (stack.length > best) {
            best = stack.length
            bestOrder = stack.map((s) => s.entry.op)
          }
          entry = head.next
          continue
        }
        bits[e.op >> 5]! &= ~(1 << (e.op & 31))
      }
      entry = e.next
    } else {
      // A return whose operation is not linearized yet: backtrack.
      const top = stack.pop()
      if (top === undefined) {
        return { result: 'illegal', steps, detail: describeFailure(model, ops, bestOrder) }
      }
      state = top.state
      bits[top.entry.op >> 5]! &= ~(1 << (top.entry.op & 31))
      unlift(top.entry)
      entry = top.entry.next
    }
  }
  return { result: 'ok', steps }
}

function describeFailure<S, I, O> (model: Model<S, I, O>, ops: Array<Operation<I, O>>, order: number[]): string {
  const show = (op: Operation<I, O>): string =>
    model.describe !== undefined ? model.describe(op) : `${String(op.client)} ${JSON.stringify(op.input)} -> ${JSON.stringify(op.output)} [${op.call}, ${op.ret}]`
  const done = new Set(order)
  const prefix = order.map((i) => show(ops[i] as Operation<I, O>))
  const rest = ops.map((op, i) => ({ op, i })).filter((x) => !done.has(x.i)).sort((a, b) => a.op.call - b.op.call).slice(0, 5)
  return `linearized: ${prefix.slice(-8).join('; ')} | then none of: ${rest.map((x) => show(x.op)).join('; ')}`
}
