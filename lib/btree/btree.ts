/**
 * A copy-on-write B+tree over byte keys.
 *
 * An entry is its key bytes followed by its value bytes, copied into a
 * shared {@link Chunk}; a leaf holds, in parallel arrays, each entry's chunk,
 * offset, key length, value length and key slice. There is no object per
 * entry, which is what keeps a million entries far under 300 bytes each.
 *
 * Snapshots are O(1): {@link BTree.freeze} hands out the current root and
 * moves the tree to a new epoch. A node belongs to the epoch that made it and
 * is written in place only by that epoch; a write that reaches a node of an
 * older epoch copies it first, so every path touched after a snapshot is
 * copied once and a frozen root never changes. Without open snapshots, writes
 * are in place and allocate nothing but the entry.
 *
 * Complexity: get, set and delete are O(log n) node visits, each with a
 * binary search over at most `leafSize` or `branchSize` slots; a cursor step
 * is O(1) amortised.
 *
 * @module
 * @internal
 */

import { assert } from '../errors.js'
import { SLICE_BYTES, compareAt, compareFrom, slice } from './compare.js'
import { Chunk, place, placedChunk, placedOffset } from './chunk.js'

/** Default maximum entries in a leaf. */
export const LEAF_SIZE_DEFAULT = 64
/** Default maximum children of a branch. */
export const BRANCH_SIZE_DEFAULT = 64

let nextEpoch = 1

/**
 * A leaf: entries in key order as parallel arrays (arrays of small numbers
 * stay unboxed in V8, and a search reads the slices array alone).
 * @internal
 */
export class Leaf {
  readonly isLeaf = true as const
  constructor (
    /** The chunk holding each entry's bytes. */
    public chunks: Chunk[],
    /** Offset of each entry in its chunk. */
    public offs: number[],
    /** Key length of each entry; its key is `chunk.bytes[off, off + klen)`. */
    public klens: number[],
    /** Value length of each entry; its value follows its key. */
    public vlens: number[],
    /** The first key bytes of each entry as a number (see `slice`). */
    public slices: number[],
    public epoch: number
  ) {}

  get length (): number { return this.offs.length }

  /** The parallel arrays, for the rare code that moves entries between leaves. */
  columns (): unknown[][] {
    return [this.chunks, this.offs, this.klens, this.vlens, this.slices]
  }

  /** The key of entry `i`, as a view of the stored bytes. */
  key (i: number): Uint8Array {
    return new Uint8Array(this.chunks[i]!.buffer, this.offs[i]!, this.klens[i]!)
  }

  /** The value of entry `i`, as a view of the stored bytes. */
  value (i: number): Uint8Array {
    return new Uint8Array(this.chunks[i]!.buffer, this.offs[i]! + this.klens[i]!, this.vlens[i]!)
  }
}

function emptyLeaf (epoch: number): Leaf {
  return new Leaf([], [], [], [], [], epoch)
}

/**
 * A branch: `kids[i]` holds keys in `[keys[i-1], keys[i])`. Separators are
 * copies of key bytes, never references to entries, so a deleted entry is not
 * kept alive by a separator.
 * @internal
 */
export class Branch {
  readonly isLeaf = false as const
  constructor (
    public keys: Uint8Array[],
    public slices: number[],
    public kids: Node[],
    public epoch: number
  ) {}

  get length (): number { return this.kids.length }
}

/** A tree node. @internal */
export type Node = Leaf | Branch

/** Node size limits. @internal */
export interface BTreeOptions {
  /** Maximum entries in a leaf (at least 4). */
  leafSize?: number
  /** Maximum children of a branch (at least 4). */
  branchSize?: number
}

/**
 * An immutable view of a tree at one moment: its root and size. Reading it
 * is safe while the tree goes on changing.
 * @internal
 */
export interface Frozen {
  readonly root: Node
  readonly size: number
}

/**
 * Position of `key` in a leaf: its index if present, else `~insertionPoint`.
 * @internal
 */
export function leafSearch (leaf: Leaf, key: Uint8Array, klen: number, s: number): number {
  const slices = leaf.slices
  let lo = 0
  let hi = slices.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    const ms = slices[mid]!
    // Numbers first: the slice settles almost every step without touching
    // the entry's bytes (two less pointer chases per step). c is key - entry.
    const c = ms < s ? 1 : ms > s ? -1 : compareAt(key, klen, leaf.chunks[mid]!.bytes, leaf.offs[mid]!, leaf.klens[mid]!, SLICE_BYTES)
    if (c > 0) lo = mid + 1
    else if (c < 0) hi = mid
    else return mid
  }
  return ~lo
}

/**
 * Index of the child of `branch` whose range holds `key`: the number of
 * separators at or below it.
 * @internal
 */
export function childIndex (branch: Branch, key: Uint8Array, klen: number, s: number): number {
  const slices = branch.slices
  let lo = 0
  let hi = slices.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    const ms = slices[mid]!
    let c: number
    if (ms !== s) c = ms < s ? -1 : 1
    else {
      const sep = branch.keys[mid]!
      c = compareFrom(sep, sep.length, key, klen, SLICE_BYTES)
    }
    if (c <= 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * The tree. Not safe to share across writers; the store serialises writes.
 * @internal
 */
export class BTree {
  root: Node
  size = 0
  /** Key and value bytes of all entries (for size estimates). */
  bytes = 0
  epoch: number
  readonly leafSize: number
  readonly branchSize: number
  // Out-parameters of the recursive insert, kept on the instance so a split
  // allocates no result object (inserts are the hottest write path).
  private splitNode: Node | null = null
  private splitKey: Uint8Array | null = null
  private splitSlice = 0
  private replaced = false
  // The view handed out by the last freeze(), while nothing has changed
  // since: freezing again then needs no new epoch, so a read-mostly load
  // that opens many iterators copies no paths at all.
  private frozen: Frozen | null = null

  constructor (options: BTreeOptions = {}) {
    this.leafSize = options.leafSize ?? LEAF_SIZE_DEFAULT
    this.branchSize = options.branchSize ?? BRANCH_SIZE_DEFAULT
    assert(this.leafSize >= 4 && this.branchSize >= 4, 'node sizes must be at least 4')
    this.epoch = nextEpoch++
    this.root = emptyLeaf(this.epoch)
  }

  /**
   * Builds a tree from entries already in strictly ascending key order,
   * given as parallel arrays, in O(n). Leaves are filled to 3/4 so the first
   * writes after a load do not split every leaf.
   */
  static fromSorted (chunks: Chunk[], offs: number[], klens: number[], vlens: number[], options: BTreeOptions = {}): BTree {
    const tree = new BTree(options)
    const n = offs.length
    if (n === 0) return tree
    const epoch = tree.epoch
    let level: Node[] = []
    let mins: Uint8Array[] = []
    for (const [from, to] of runs(n, Math.max(2, Math.floor(tree.leafSize * 3 / 4)))) {
      const leaf = new Leaf(chunks.slice(from, to), offs.slice(from, to), klens.slice(from, to), vlens.slice(from, to), [], epoch)
      for (let j = 0; j < leaf.offs.length; j++) leaf.slices.push(slice(leaf.chunks[j]!.bytes, leaf.klens[j]!, leaf.offs[j]!))
      level.push(leaf)
      mins.push(leaf.key(0).slice())
    }
    const fan = Math.max(2, Math.floor(tree.branchSize * 3 / 4))
    while (level.length > 1) {
      const up: Node[] = []
      const upMins: Uint8Array[] = []
      for (const [from, to] of runs(level.length, fan)) {
        const keys = mins.slice(from + 1, to)
        up.push(new Branch(keys, keys.map((key) => slice(key, key.length)), level.slice(from, to), epoch))
        upMins.push(mins[from]!)
      }
      level = up
      mins = upMins
    }
    tree.root = level[0]!
    tree.size = n
    for (let i = 0; i < n; i++) tree.bytes += klens[i]! + vlens[i]!
    return tree
  }

  /**
   * The current root and size, frozen: later writes copy what they touch.
   * O(1).
   */
  freeze (): Frozen {
    if (this.frozen !== null) return this.frozen
    this.epoch = nextEpoch++
    this.frozen = { root: this.root, size: this.size }
    return this.frozen
  }

  /** Removes every entry, in O(1). Frozen views keep what they had. */
  clear (): void {
    this.frozen = null
    this.epoch = nextEpoch++
    this.root = emptyLeaf(this.epoch)
    this.size = 0
    this.bytes = 0
  }

  /**
   * Inserts or replaces the entry for `key`; key and value bytes are copied.
   *
   * @returns true if it replaced an entry, false if the key is new.
   */
  set (key: Uint8Array, value: Uint8Array): boolean {
    const klen = key.length
    this.replaced = false
    this.frozen = null
    place(key, value)
    const root = this.insert(this.root, key, klen, slice(key, klen), placedChunk, placedOffset, value.length)
    if (this.splitNode !== null) {
      this.root = new Branch([this.splitKey!], [this.splitSlice], [root, this.splitNode], this.epoch)
      this.splitNode = null
      this.splitKey = null
    } else {
      this.root = root
    }
    if (!this.replaced) {
      this.size++
      this.bytes += klen + value.length
    }
    return this.replaced
  }

  /**
   * Removes the entry for `key`.
   *
   * @returns true if there was one.
   */
  delete (key: Uint8Array): boolean {
    const klen = key.length
    const root = this.remove(this.root, key, klen, slice(key, klen))
    if (root === null) return false
    this.frozen = null
    // A branch left with one child gives its place to that child, so the
    // tree shrinks from the top as it grew.
    this.root = !root.isLeaf && root.kids.length === 1 ? root.kids[0]! : root
    this.size--
    return true
  }

  private leafFor (node: Leaf): Leaf {
    if (node.epoch === this.epoch) return node
    return new Leaf(node.chunks.slice(), node.offs.slice(), node.klens.slice(), node.vlens.slice(), node.slices.slice(), this.epoch)
  }

  private branchFor (node: Branch): Branch {
    if (node.epoch === this.epoch) return node
    return new Branch(node.keys.slice(), node.slices.slice(), node.kids.slice(), this.epoch)
  }

  private insert (node: Node, key: Uint8Array, klen: number, s: number, chunk: Chunk, off: number, vlen: number): Node {
    if (node.isLeaf) {
      const i = leafSearch(node, key, klen, s)
      const leaf = this.leafFor(node)
      if (i >= 0) {
        this.replaced = true
        this.bytes += vlen - leaf.vlens[i]!
        leaf.chunks[i] = chunk
        leaf.offs[i] = off
        leaf.vlens[i] = vlen
        return leaf
      }
      const at = ~i
      leaf.chunks.splice(at, 0, chunk)
      leaf.offs.splice(at, 0, off)
      leaf.klens.splice(at, 0, klen)
      leaf.vlens.splice(at, 0, vlen)
      leaf.slices.splice(at, 0, s)
      if (leaf.offs.length > this.leafSize) this.splitLeaf(leaf)
      return leaf
    }
    const ci = childIndex(node, key, klen, s)
    const child = node.kids[ci]!
    const kid = this.insert(child, key, klen, s, chunk, off, vlen)
    const right = this.splitNode
    if (kid === child && right === null) return node
    const branch = this.branchFor(node)
    branch.kids[ci] = kid
    if (right !== null) {
      branch.kids.splice(ci + 1, 0, right)
      branch.keys.splice(ci, 0, this.splitKey!)
      branch.slices.splice(ci, 0, this.splitSlice)
      this.splitNode = null
      this.splitKey = null
      if (branch.kids.length > this.branchSize) this.splitBranch(branch)
    }
    return branch
  }

  private splitLeaf (leaf: Leaf): void {
    const half = leaf.offs.length >>> 1
    const right = new Leaf(leaf.chunks.splice(half), leaf.offs.splice(half), leaf.klens.splice(half), leaf.vlens.splice(half), leaf.slices.splice(half), this.epoch)
    this.splitNode = right
    this.splitKey = right.key(0).slice()
    this.splitSlice = right.slices[0]!
  }

  private splitBranch (branch: Branch): void {
    const half = branch.kids.length >>> 1
    const kids = branch.kids.splice(half)
    // The separator between the halves moves up; the right half keeps the
    // separators after it.
    const keys = branch.keys.splice(half - 1)
    const slices = branch.slices.splice(half - 1)
    this.splitKey = keys.shift()!
    this.splitSlice = slices.shift()!
    this.splitNode = new Branch(keys, slices, kids, this.epoch)
  }

  /** Returns the node to put in the parent's place, or null if absent. */
  private remove (node: Node, key: Uint8Array, klen: number, s: number): Node | null {
    if (node.isLeaf) {
      const i = leafSearch(node, key, klen, s)
      if (i < 0) return null
      const leaf = this.leafFor(node)
      this.bytes -= leaf.klens[i]! + leaf.vlens[i]!
      for (const column of leaf.columns()) column.splice(i, 1)
      return leaf
    }
    const ci = childIndex(node, key, klen, s)
    const kid = this.remove(node.kids[ci]!, key, klen, s)
    if (kid === null) return null
    const branch = this.branchFor(node)
    branch.kids[ci] = kid
    // A branch needs two children to stay a branch, a leaf one entry.
    const min = kid.isLeaf ? Math.max(1, this.leafSize >>> 2) : Math.max(2, this.branchSize >>> 2)
    if (kid.length < min && branch.kids.length > 1) this.rebalance(branch, ci)
    return branch
  }

  /**
   * Refills the underfull child `ci` of `branch` from a neighbour: merge when
   * both fit in one node, otherwise move entries across to even them out.
   */
  private rebalance (branch: Branch, ci: number): void {
    const li = ci > 0 ? ci - 1 : ci
    const ri = li + 1
    const left = branch.kids[li]!
    const right = branch.kids[ri]!
    if (left.isLeaf && right.isLeaf) {
      const l = this.leafFor(left)
      const r = this.leafFor(right)
      const lc = l.columns()
      const rc = r.columns()
      if (l.length + r.length <= this.leafSize) {
        for (let c = 0; c < lc.length; c++) lc[c]!.push(...rc[c]!)
        branch.kids.splice(ri, 1)
        branch.keys.splice(li, 1)
        branch.slices.splice(li, 1)
        branch.kids[li] = l
        return
      }
      const want = (l.length + r.length) >>> 1
      if (l.length < want) {
        const n = want - l.length
        for (let c = 0; c < lc.length; c++) lc[c]!.push(...rc[c]!.splice(0, n))
      } else {
        const n = l.length - want
        for (let c = 0; c < lc.length; c++) rc[c]!.unshift(...lc[c]!.splice(want, n))
      }
      branch.kids[li] = l
      branch.kids[ri] = r
      branch.keys[li] = r.key(0).slice()
      branch.slices[li] = r.slices[0]!
      return
    }
    assert(!left.isLeaf && !right.isLeaf, 'siblings are at the same height')
    const l = this.branchFor(left)
    const r = this.branchFor(right)
    // The parent's separator between them comes down between their keys.
    const sep = branch.keys[li]!
    const sepSlice = branch.slices[li]!
    if (l.kids.length + r.kids.length <= this.branchSize) {
      l.keys.push(sep, ...r.keys)
      l.slices.push(sepSlice, ...r.slices)
      l.kids.push(...r.kids)
      branch.kids.splice(ri, 1)
      branch.keys.splice(li, 1)
      branch.slices.splice(li, 1)
      branch.kids[li] = l
      return
    }
    const keys = [...l.keys, sep, ...r.keys]
    const slices = [...l.slices, sepSlice, ...r.slices]
    const kids = [...l.kids, ...r.kids]
    const half = kids.length >>> 1
    l.kids = kids.slice(0, half)
    l.keys = keys.slice(0, half - 1)
    l.slices = slices.slice(0, half - 1)
    r.kids = kids.slice(half)
    r.keys = keys.slice(half)
    r.slices = slices.slice(half)
    branch.keys[li] = keys[half - 1]!
    branch.slices[li] = slices[half - 1]!
    branch.kids[li] = l
    branch.kids[ri] = r
  }
}

/**
 * Splits `n` items into runs of `per`, except that a last run under half of
 * `per` is merged with the one before and the two are split evenly.
 */
function runs (n: number, per: number): Array<[number, number]> {
  const out: Array<[number, number]> = []
  for (let from = 0; from < n;) {
    let to = Math.min(n, from + per)
    if (n - to > 0 && n - to < per / 2) to = Math.ceil((from + n) / 2)
    out.push([from, to])
    from = to
  }
  return out
}

/** Position of the entry {@link find} found in its leaf. @internal */
export let foundAt = 0

/**
 * The leaf holding `key` under `root` (its position left in
 * {@link foundAt}), or null. Reads only, so it works on live and frozen
 * roots alike; no result object, since every get makes this call.
 * @internal
 */
export function find (root: Node, key: Uint8Array): Leaf | null {
  const klen = key.length
  const s = slice(key, klen)
  let node = root
  while (!node.isLeaf) node = node.kids[childIndex(node, key, klen, s)]!
  const i = leafSearch(node, key, klen, s)
  if (i < 0) return null
  foundAt = i
  return node
}

/**
 * The value stored for `key` under `root` as a view, or undefined.
 * @internal
 */
export function lookup (root: Node, key: Uint8Array): Uint8Array | undefined {
  const leaf = find(root, key)
  return leaf === null ? undefined : leaf.value(foundAt)
}

/**
 * Checks every structural invariant in O(n) and returns the entry count:
 * keys strictly ascending across the whole tree, separators bounding their
 * subtrees, slices matching their keys, node sizes within limits, all leaves
 * at one depth. Throws an {@link AssertionError} naming the first violation.
 * @internal
 */
export function checkValid (tree: BTree | Frozen, leafSize = LEAF_SIZE_DEFAULT, branchSize = BRANCH_SIZE_DEFAULT): number {
  if (tree instanceof BTree) {
    leafSize = tree.leafSize
    branchSize = tree.branchSize
  }
  let prev: Uint8Array | null = null
  let leafDepth = -1
  let count = 0
  const visit = (node: Node, depth: number, lo: Uint8Array | null, hi: Uint8Array | null, isRoot: boolean): void => {
    if (node.isLeaf) {
      if (leafDepth === -1) leafDepth = depth
      assert(leafDepth === depth, 'leaves at one depth')
      assert(node.length <= leafSize, 'leaf within size')
      assert(isRoot || node.length > 0, 'non-root leaf not empty')
      for (const column of node.columns()) assert(column.length === node.length, 'leaf arrays aligned')
      for (let i = 0; i < node.length; i++) {
        const chunk = node.chunks[i]!
        assert(node.offs[i]! + node.klens[i]! + node.vlens[i]! <= chunk.bytes.length, 'entry within its chunk')
        const k = node.key(i)
        assert(node.slices[i] === slice(k, k.length), 'slice matches key')
        if (prev !== null) assert(compareFrom(prev, prev.length, k, k.length, 0) < 0, 'keys strictly ascending')
        if (lo !== null) assert(compareFrom(lo, lo.length, k, k.length, 0) <= 0, 'key at or above its separator')
        if (hi !== null) assert(compareFrom(k, k.length, hi, hi.length, 0) < 0, 'key below the next separator')
        prev = k
        count++
      }
      return
    }
    assert(node.kids.length <= branchSize, 'branch within size')
    assert(node.kids.length >= 2, 'branch has two children or more')
    assert(node.keys.length === node.kids.length - 1 && node.slices.length === node.keys.length, 'branch arrays aligned')
    for (let i = 0; i < node.keys.length; i++) {
      const k = node.keys[i]!
      assert(node.slices[i] === slice(k, k.length), 'separator slice matches')
      if (i > 0) assert(compareFrom(node.keys[i - 1]!, node.keys[i - 1]!.length, k, k.length, 0) < 0, 'separators ascending')
    }
    for (let i = 0; i < node.kids.length; i++) {
      visit(node.kids[i]!, depth + 1, i === 0 ? lo : node.keys[i - 1]!, i === node.keys.length ? hi : node.keys[i]!, false)
    }
  }
  let bytes = 0
  const sum = (node: Node): void => {
    if (node.isLeaf) for (let i = 0; i < node.length; i++) bytes += node.klens[i]! + node.vlens[i]!
    else node.kids.forEach(sum)
  }
  visit(tree.root, 0, null, null, true)
  assert(count === tree.size, `size ${tree.size} matches ${count} entries`)
  if (tree instanceof BTree) {
    sum(tree.root)
    assert(bytes === tree.bytes, `byte count ${tree.bytes} matches ${bytes}`)
  }
  return count
}
