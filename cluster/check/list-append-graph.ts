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
 * Edges as parallel growable arrays: plain number arrays stay packed SMIs
 * in V8, which is faster to append to than objects and lighter on memory.
 * `a` and `b` carry what the explanation needs (element or read ids).
 * @internal
 */
export class EdgeList {
  readonly src: number[] = []
  readonly dst: number[] = []
  readonly kind: number[] = []
  readonly a: number[] = []
  readonly b: number[] = []

  /** Number of edges. */
  get length (): number { return this.src.length }

  /** Appends an edge and returns its id. */
  add (src: number, dst: number, kind: number, a: number, b: number): number {
    this.src.push(src)
    this.dst.push(dst)
    this.kind.push(kind)
    this.a.push(a)
    this.b.push(b)
    return this.src.length - 1
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
   * `mask`, staying inside component `c` of `comp`; its edge ids, or null
   * when there is none or when `budget` edge inspections run out (then
   * `exhausted` is set).
   */
  path (from: number, to: number, mask: number, comp: Int32Array, c: number, budget: number): { path: number[] | null, exhausted: boolean } {
    if (from === to) return { path: [], exhausted: false }
    const stamp = ++this.stamp
    const { seen, via, queue } = this
    const { start, edge } = this.g
    const kind = this.edges.kind
    const dst = this.edges.dst
    let head = 0
    let tail = 0
    let spent = 0
    queue[tail++] = from
    seen[from] = stamp
    while (head < tail) {
      const v = queue[head++]!
      const end = start[v + 1]!
      for (let ei = start[v]!; ei < end; ei++) {
        const e = edge[ei]!
        if (++spent > budget) {
          this.steps += spent
          return { path: null, exhausted: true }
        }
        if ((kind[e]! & mask) === 0) continue
        const w = dst[e]!
        if (seen[w] === stamp || comp[w] !== c) continue
        seen[w] = stamp
        via[w] = e
        if (w === to) {
          this.steps += spent
          const path: number[] = []
          let x = to
          while (x !== from) {
            const pe = via[x]!
            path.push(pe)
            x = this.edges.src[pe]!
          }
          return { path: path.reverse(), exhausted: false }
        }
        queue[tail++] = w
      }
    }
    this.steps += spent
    return { path: null, exhausted: false }
  }
}
