/**
 * The dependency graph of the list-append checker: an edge list with a kind
 * bit per edge, a compressed adjacency (CSR) over it, Tarjan's strongly
 * connected components and a breadth-first shortest-path search, each
 * filtered by a mask of edge kinds so that one graph serves every anomaly
 * class (ww only, ww + wr, everything, with real-time edges...).
 *
 * Everything here is iterative: histories of tens of thousands of
 * transactions make chains deeper than the JavaScript call stack.
 *
 * @module
 * @internal
 */

/** Write-write: the source's append precedes the destination's in the version order. @internal */
export const WW = 1
/** Write-read: the destination read the source's append. @internal */
export const WR = 2
/** Read-write (anti-dependency): the destination appended after what the source read. @internal */
export const RW = 4
/** Real time: the source completed before the destination was invoked. @internal */
export const RT = 8
/** Process order: the same process ran the source, then the destination. @internal */
export const PROC = 16
/**
 * Out of a virtual node: it stands for "after everything observed on a key"
 * and leads to the appends nobody read; it takes the kind of the edge that
 * entered the node, so every mask includes it.
 * @internal
 */
export const VIA = 32

/**
 * Edges as parallel typed arrays that double when full: appending costs no
 * allocation per edge, and the searches read flat memory. `a` and `b` carry
 * what the explanation needs (element or read ids).
 * @internal
 */
export class EdgeList {
  src = new Int32Array(1024)
  dst = new Int32Array(1024)
  kind = new Uint8Array(1024)
  a = new Int32Array(1024)
  b = new Int32Array(1024)
  /** Number of edges. */
  length = 0

  /** Appends an edge and returns its id. */
  add (src: number, dst: number, kind: number, a: number, b: number): number {
    const i = this.length
    if (i === this.src.length) this.grow()
    this.src[i] = src
    this.dst[i] = dst
    this.kind[i] = kind
    this.a[i] = a
    this.b[i] = b
    this.length = i + 1
    return i
  }

  private grow (): void {
    const size = this.src.length * 2
    const more = <T extends Int32Array | Uint8Array>(old: T, fresh: T): T => {
      fresh.set(old)
      return fresh
    }
    this.src = more(this.src, new Int32Array(size))
    this.dst = more(this.dst, new Int32Array(size))
    this.kind = more(this.kind, new Uint8Array(size))
    this.a = more(this.a, new Int32Array(size))
    this.b = more(this.b, new Int32Array(size))
  }
}

/**
 * Compressed sparse rows: the out-edges of node `v` are
 * `edge[start[v]] .. edge[start[v + 1] - 1]` (edge ids).
 * @internal
 */
export interface Csr {
  readonly nodes: number
  readonly start: Int32Array
  readonly edge: Int32Array
}

/** Builds the adjacency of `nodes` nodes over `edges` (counting sort by source). @internal */
export function buildCsr (nodes: number, edges: EdgeList): Csr {
  const m = edges.length
  const start = new Int32Array(nodes + 1)
  for (let e = 0; e < m; e++) start[edges.src[e]! + 1]!++
  for (let v = 0; v < nodes; v++) start[v + 1]! += start[v]!
  const fill = start.slice(0, nodes)
  const edge = new Int32Array(m)
  for (let e = 0; e < m; e++) edge[fill[edges.src[e]!]!++] = e
  return { nodes, start, edge }
}

/** Strongly connected components: `comp[v]` is the component of node `v`. @internal */
export interface Components {
  readonly comp: Int32Array
  readonly size: Int32Array
  readonly count: number
}

/**
 * Tarjan's algorithm over the edges whose kind intersects `mask`, without
 * recursion (an explicit call stack of node and next-edge cursor).
 * Cost: O(nodes + edges).
 * @internal
 */
export function tarjan (g: Csr, edges: EdgeList, mask: number): Components {
  const n = g.nodes
  const index = new Int32Array(n).fill(-1)
  const low = new Int32Array(n)
  const comp = new Int32Array(n).fill(-1)
  const onStack = new Uint8Array(n)
  const stack = new Int32Array(n)
  const callNode = new Int32Array(n)
  const callEdge = new Int32Array(n)
  const sizes: number[] = []
  const { start, edge } = g
  const kind = edges.kind
  const dst = edges.dst
  let sp = 0
  let next = 0
  for (let root = 0; root < n; root++) {
    if (index[root] !== -1) continue
    let cp = 0
    callNode[cp] = root
    callEdge[cp] = start[root]!
    cp++
    index[root] = low[root] = next++
    stack[sp++] = root
    onStack[root] = 1
    while (cp > 0) {
      const v = callNode[cp - 1]!
      let ei = callEdge[cp - 1]!
      const end = start[v + 1]!
      let descended = false
      while (ei < end) {
        const e = edge[ei++]!
        if ((kind[e]! & mask) === 0) continue
        const w = dst[e]!
        if (index[w] === -1) {
          callEdge[cp - 1] = ei
          index[w] = low[w] = next++
          stack[sp++] = w
          onStack[w] = 1
          callNode[cp] = w
          callEdge[cp] = start[w]!
          cp++
          descended = true
          break
        }
        if (onStack[w] === 1 && index[w]! < low[v]!) low[v] = index[w]!
      }
      if (descended) continue
      if (low[v] === index[v]) {
        const c = sizes.length
        let size = 0
        let w: number
        do {
          w = stack[--sp]!
          onStack[w] = 0
          comp[w] = c
          size++
        } while (w !== v)
        sizes.push(size)
      }
      cp--
      if (cp > 0) {
        const u = callNode[cp - 1]!
        if (low[v]! < low[u]!) low[u] = low[v]!
      }
    }
  }
  return { comp, size: Int32Array.from(sizes), count: sizes.length }
}

/**
 * Breadth-first searches that reuse their arrays: a generation stamp marks
 * the nodes seen by the current search, so a search costs what it visits,
 * not O(nodes) to clear.
 * @internal
 */
export class PathFinder {
  private readonly seen: Int32Array
  private readonly via: Int32Array
  private readonly queue: Int32Array
  private stamp = 0
  /** Edges inspected over all searches. */
  steps = 0

  constructor (private readonly g: Csr, private readonly edges: EdgeList) {
    this.seen = new Int32Array(g.nodes)
    this.via = new Int32Array(g.nodes)
    this.queue = new Int32Array(g.nodes)
  }

  /**
   * The shortest path from `from` to `to` over edges whose kind intersects
   * `mask`, staying inside component `c` of `comp`: its edge ids, or null
   * when there is none.
   */
  path (from: number, to: number, mask: number, comp: Int32Array, c: number): number[] | null {
    if (from === to) return []
    const stamp = ++this.stamp
    const { seen, via, queue } = this
    const { start, edge } = this.g
    const kind = this.edges.kind
    const dst = this.edges.dst
    let head = 0
    let tail = 0
    queue[tail++] = from
    seen[from] = stamp
    while (head < tail) {
      const v = queue[head++]!
      const end = start[v + 1]!
      this.steps += end - start[v]!
      for (let ei = start[v]!; ei < end; ei++) {
        const e = edge[ei]!
        if ((kind[e]! & mask) === 0) continue
        const w = dst[e]!
        if (seen[w] === stamp || comp[w] !== c) continue
        seen[w] = stamp
        via[w] = e
        if (w === to) {
          const path: number[] = []
          let x = to
          while (x !== from) {
            const pe = via[x]!
            path.push(pe)
            x = this.edges.src[pe]!
          }
          return path.reverse()
        }
        queue[tail++] = w
      }
    }
    return null
  }
}

/**
 * Which candidate edges `a → b` close a cycle through edges of `mask`, that
 * is, `b` reaches `a` by such edges, for the nodes of one component `c` of
 * an outer graph (the G-single question: an rw edge closed by ww and wr
 * edges). Exact, unlike a search from each candidate in turn.
 *
 * `inner` must be the strongly connected components under `mask`, as
 * {@link tarjan} numbers them: an edge between two components always leads
 * to a lower number, so one sweep in increasing order computes, for every
 * component, the set of targets it reaches, as bitsets of up to 2,048
 * targets per pass. Cost: O((nodes + edges of c) × ⌈targets / 2048⌉).
 *
 * @returns Up to `want` closing candidates, the edges inspected, and
 *   whether `budget` ran out first.
 * @internal
 */
export function closingEdges (
  g: Csr, edges: EdgeList, mask: number, inner: Components, outer: Int32Array, c: number,
  nodes: number[], candidates: number[], want: number, budget: number
): { found: number[], steps: number, exhausted: boolean } {
  const comp = inner.comp
  // The inner components within c, in increasing number, with their nodes.
  const sorted = [...nodes].sort((x, y) => comp[x]! - comp[y]!)
  const local = new Map<number, number>()
  const firstNode: number[] = []
  for (let i = 0; i < sorted.length; i++) {
    const ic = comp[sorted[i]!]!
    if (!local.has(ic)) {
      local.set(ic, firstNode.length)
      firstNode.push(i)
    }
  }
  const comps = firstNode.length
  firstNode.push(sorted.length)
  // Targets: the inner components of the candidates' sources.
  const targetOf = new Map<number, number>()
  for (const e of candidates) {
    const ic = comp[edges.src[e]!]!
    if (!targetOf.has(ic)) targetOf.set(ic, targetOf.size)
  }
  const targets = targetOf.size
  const words = Math.min(64, Math.ceil(targets / 32))
  const bits = new Int32Array(comps * words)
  const found: number[] = []
  let steps = 0
  const { start, edge } = g
  for (let base = 0; base < targets; base += words * 32) {
    bits.fill(0)
    for (const [ic, t] of targetOf) {
      if (t < base || t >= base + words * 32) continue
      const bit = t - base
      bits[local.get(ic)! * words + (bit >> 5)]! |= 1 << (bit & 31)
    }
    for (let x = 0; x < comps; x++) {
      const row = x * words
      for (let i = firstNode[x]!; i < firstNode[x + 1]!; i++) {
        const v = sorted[i]!
        const end = start[v + 1]!
        for (let ei = start[v]!; ei < end; ei++) {
          const e = edge[ei]!
          if (++steps > budget) return { found, steps, exhausted: true }
          if ((edges.kind[e]! & mask) === 0) continue
          const w = edges.dst[e]!
          if (outer[w] !== c) continue
          const y = local.get(comp[w]!)!
          if (y === x) continue
          const other = y * words
          for (let k = 0; k < words; k++) bits[row + k]! |= bits[other + k]!
        }
      }
    }
    for (const e of candidates) {
      const t = targetOf.get(comp[edges.src[e]!]!)! - base
      if (t < 0 || t >= words * 32) continue
      const y = local.get(comp[edges.dst[e]!]!)!
      if ((bits[y * words + (t >> 5)]! & (1 << (t & 31))) !== 0) {
        found.push(e)
        if (found.length >= want) return { found, steps, exhausted: false }
      }
    }
  }
  return { found, steps, exhausted: false }
}
