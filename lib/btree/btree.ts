/**
 * A copy-on-write B+tree over byte keys.
 *
 * An entry is its key bytes followed by its value bytes, copied into a
 * shared chunk (see `chunk.ts`); a leaf holds, in three parallel arrays, each
 * entry's buffer; word 0 of its key; and words 1 and 2 with its offset, key
 * length and value length (the words are the first 18 key bytes as three
 * numbers). There is no object per entry, which is what keeps a million
 * entries far under 300 bytes each.
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
import { INLINE_BYTES, compareAt, compareFrom, slice, word1, word2, type KeyWords } from './compare.js'
import { bytesOf, place, placedBuffer, placedOffset } from './chunk.js'

/** Default maximum entries in a leaf. */
export const LEAF_SIZE_DEFAULT = 64
/** Default maximum children of a branch. */
export const BRANCH_SIZE_DEFAULT = 64

let nextEpoch = 1

/**
 * Numbers per entry in {@link Leaf.ents}: words 1 and 2 of the key, then
 * the entry's offset, key length and value length.
 * @internal
 */
export const ENT = 5

/**
 * A leaf: entries in key order as parallel arrays. Arrays of numbers stay
 * unboxed in V8; a search reads the slices array alone until word 0 ties,
 * then one line of `ents`, which holds words 1 and 2, the key length, and
 * the offset and value length a read needs next. Each array is an object
 * and its elements, two dependent cache misses on a cold leaf, so the fields
 * that are read together share an array: measured here, getSync of random
 * keys over 100k entries was 3% to 14% faster with this one array than with
 * the words and the locations in two. A scan reads `bufs` and `ents`.
 * @internal
 */
export class Leaf {
  readonly isLeaf = true as const
  constructor (
    /** The buffer holding each entry's bytes (its key, then its value). */
    public bufs: ArrayBuffer[],
    /**
     * {@link ENT} numbers per entry: words 1 and 2 of its key, its offset,
     * key length and value length.
     */
    public ents: number[],
    /** Word 0 of each key: its first bytes as a number (see `slice`). */
    public slices: number[],
    public epoch: number
  ) {}

  get length (): number { return this.slices.length }

  /** Offset of entry `i` in its buffer. */
  off (i: number): number { return this.ents[ENT * i + 2]! }

  /** Key length of entry `i`. */
  klen (i: number): number { return this.ents[ENT * i + 3]! }

  /** Value length of entry `i`. */
  vlen (i: number): number { return this.ents[ENT * i + 4]! }

  /** The key of entry `i`, as a view of the stored bytes. */
  key (i: number): Uint8Array {
    return new Uint8Array(this.bufs[i]!, this.off(i), this.klen(i))
  }

  /** The value of entry `i`, as a view of the stored bytes. */
  value (i: number): Uint8Array {
    return new Uint8Array(this.bufs[i]!, this.off(i) + this.klen(i), this.vlen(i))
  }
}

/**
 * The per-entry arrays of a leaf with how many slots each entry takes, for
 * the rare code that moves entries between leaves.
 */
function columns (leaf: Leaf): Array<[unknown[], number]> {
  return [[leaf.bufs, 1], [leaf.ents, ENT], [leaf.slices, 1]]
}

/**
 * Opens slot `at` in every array of `leaf` and fills it. One loop moves all
 * three arrays: `splice` would be three builtin calls, each allocating the
 * (empty) array of removed elements, and inserts are the hottest write.
 */
function insertAt (leaf: Leaf, at: number, buf: ArrayBuffer, off: number, klen: number, vlen: number, w0: number, w1: number, w2: number): void {
  const { bufs, ents, slices } = leaf
  for (let j = slices.length; j > at; j--) {
    bufs[j] = bufs[j - 1]!
    slices[j] = slices[j - 1]!
    const to = ENT * j
    ents[to] = ents[to - ENT]!
    ents[to + 1] = ents[to - ENT + 1]!
    ents[to + 2] = ents[to - ENT + 2]!
    ents[to + 3] = ents[to - ENT + 3]!
    ents[to + 4] = ents[to - ENT + 4]!
  }
  bufs[at] = buf
  slices[at] = w0
  const e = ENT * at
  ents[e] = w1
  ents[e + 1] = w2
  ents[e + 2] = off
  ents[e + 3] = klen
  ents[e + 4] = vlen
}

function emptyLeaf (epoch: number): Leaf {
  return new Leaf([], [], [], epoch)
}

/**
 * A branch: `kids[i]` holds keys in `[keys[i-1], keys[i])`. Separators are
 * copies of key bytes, never references to entries, so a deleted entry is not
 * kept alive by a separator; their words are kept as in leaves.
 * @internal
 */
export class Branch {
  readonly isLeaf = false as const
  constructor (
    public keys: Uint8Array[],
    public slices: number[],
    public tails: number[],
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
 * Compares `key` (of length `klen`, words 1 and 2 given) with entry `i` of
 * `leaf`, whose word 0 equals the key's: the words settle it unless both
 * keys are longer than {@link INLINE_BYTES} and their first bytes tie; only
 * then are the stored bytes read. Kept apart from the searches so that
 * their loops stay small.
 *
 * @returns key - entry, as a sign.
 * @internal
 */
export function leafTie (leaf: Leaf, i: number, key: Uint8Array, klen: number, w1: number, w2: number): number {
  const ents = leaf.ents
  const e = ENT * i
  const t1 = ents[e]!
  if (t1 !== w1) return w1 < t1 ? -1 : 1
  const t2 = ents[e + 1]!
  if (t2 !== w2) return w2 < t2 ? -1 : 1
  const elen = ents[e + 3]!
  // The first min(klen, elen) bytes are equal when either key fits in the
  // words (zero padding cannot hide a difference below the shorter length).
  if (klen <= INLINE_BYTES || elen <= INLINE_BYTES) return klen - elen
  return compareAt(key, klen, bytesOf(leaf.bufs[i]!), ents[e + 2]!, elen, INLINE_BYTES)
}

/**
 * Compares `key` with entry `i` of `leaf` in full.
 *
 * @returns key - entry, as a sign.
 * @internal
 */
export function compareEntry (leaf: Leaf, i: number, key: KeyWords): number {
  const ms = leaf.slices[i]!
  if (ms !== key.w0) return key.w0 < ms ? -1 : 1
  return leafTie(leaf, i, key.key, key.length, key.w1, key.w2)
}

/**
 * Position of `key` in a leaf: its index if present, else `~insertionPoint`.
 * `w0`, `w1` and `w2` are the key's words.
 * @internal
 */
export function leafSearch (leaf: Leaf, key: Uint8Array, klen: number, w0: number, w1: number, w2: number): number {
  const slices = leaf.slices
  let lo = 0
  let hi = slices.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    const ms = slices[mid]!
    // Numbers first: word 0 settles almost every step without reading
    // another array. c is key - entry.
    const c = ms < w0 ? 1 : ms > w0 ? -1 : leafTie(leaf, mid, key, klen, w1, w2)
    if (c > 0) lo = mid + 1
    else if (c < 0) hi = mid
    else return mid
  }
  return ~lo
}

/** Separator `i` of `branch` against `key`, their words 0 equal: sep - key, as a sign. */
function branchTie (branch: Branch, i: number, key: Uint8Array, klen: number, w1: number, w2: number): number {
  const tails = branch.tails
  const t1 = tails[2 * i]!
  if (t1 !== w1) return t1 < w1 ? -1 : 1
  const t2 = tails[2 * i + 1]!
  if (t2 !== w2) return t2 < w2 ? -1 : 1
  const sep = branch.keys[i]!
  const slen = sep.length
  if (klen <= INLINE_BYTES || slen <= INLINE_BYTES) return slen - klen
  return compareFrom(sep, slen, key, klen, INLINE_BYTES)
}

/**
 * Index of the child of `branch` whose range holds `key`: the number of
 * separators at or below it.
 * @internal
 */
export function childIndex (branch: Branch, key: Uint8Array, klen: number, w0: number, w1: number, w2: number): number {
  const slices = branch.slices
  let lo = 0
  let hi = slices.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    const ms = slices[mid]!
    const c = ms !== w0 ? (ms < w0 ? -1 : 1) : branchTie(branch, mid, key, klen, w1, w2)
    if (c <= 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** Words 1 and 2 of the key stored at `off` in `bytes`, appended to `out`. */
function storedTails (bytes: Uint8Array, off: number, klen: number, out: number[]): void {
  out.push(word1(bytes, klen, off), word2(bytes, klen, off))
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
  private splitW1 = 0
  private splitW2 = 0
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
   * given as parallel arrays (buffer, offset, key and value length), in
   * O(n). Leaves are filled to 3/4 so the first writes after a load do not
   * split every leaf.
   */
  static fromSorted (bufs: ArrayBuffer[], offs: number[], klens: number[], vlens: number[], options: BTreeOptions = {}): BTree {
    const tree = new BTree(options)
    const n = offs.length
    if (n === 0) return tree
    const epoch = tree.epoch
    let level: Node[] = []
    let mins: Uint8Array[] = []
    for (const [from, to] of runs(n, Math.max(2, Math.floor(tree.leafSize * 3 / 4)))) {
      const leaf = new Leaf(bufs.slice(from, to), [], [], epoch)
      for (let j = from; j < to; j++) {
        const bytes = bytesOf(bufs[j]!)
        const off = offs[j]!
        const klen = klens[j]!
        leaf.slices.push(slice(bytes, klen, off))
        leaf.ents.push(word1(bytes, klen, off), word2(bytes, klen, off), off, klen, vlens[j]!)
      }
      level.push(leaf)
      mins.push(leaf.key(0).slice())
    }
    const fan = Math.max(2, Math.floor(tree.branchSize * 3 / 4))
    while (level.length > 1) {
      const up: Node[] = []
      const upMins: Uint8Array[] = []
      for (const [from, to] of runs(level.length, fan)) {
        const keys = mins.slice(from + 1, to)
        const tails: number[] = []
        for (const key of keys) storedTails(key, 0, key.length, tails)
        up.push(new Branch(keys, keys.map((key) => slice(key, key.length)), tails, level.slice(from, to), epoch))
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
    const root = this.insert(this.root, key, klen, slice(key, klen), word1(key, klen), word2(key, klen), value)
    if (this.splitNode !== null) {
      this.root = new Branch([this.splitKey!], [this.splitSlice], [this.splitW1, this.splitW2], [root, this.splitNode], this.epoch)
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
    const root = this.remove(this.root, key, klen, slice(key, klen), word1(key, klen), word2(key, klen))
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
    return new Leaf(node.bufs.slice(), node.ents.slice(), node.slices.slice(), this.epoch)
  }

  private branchFor (node: Branch): Branch {
    if (node.epoch === this.epoch) return node
    return new Branch(node.keys.slice(), node.slices.slice(), node.tails.slice(), node.kids.slice(), this.epoch)
  }

  private insert (node: Node, key: Uint8Array, klen: number, w0: number, w1: number, w2: number, value: Uint8Array): Node {
    if (node.isLeaf) {
      const i = leafSearch(node, key, klen, w0, w1, w2)
      const leaf = this.leafFor(node)
      place(key, value)
      const vlen = value.length
      if (i >= 0) {
        this.replaced = true
        this.bytes += vlen - leaf.ents[ENT * i + 4]!
        leaf.bufs[i] = placedBuffer
        leaf.ents[ENT * i + 2] = placedOffset
        leaf.ents[ENT * i + 4] = vlen
        return leaf
      }
      insertAt(leaf, ~i, placedBuffer, placedOffset, klen, vlen, w0, w1, w2)
      if (leaf.slices.length > this.leafSize) this.splitLeaf(leaf)
      return leaf
    }
    const ci = childIndex(node, key, klen, w0, w1, w2)
    const child = node.kids[ci]!
    const kid = this.insert(child, key, klen, w0, w1, w2, value)
    const right = this.splitNode
    if (kid === child && right === null) return node
    const branch = this.branchFor(node)
    branch.kids[ci] = kid
    if (right !== null) {
      branch.kids.splice(ci + 1, 0, right)
      branch.keys.splice(ci, 0, this.splitKey!)
      branch.slices.splice(ci, 0, this.splitSlice)
      branch.tails.splice(2 * ci, 0, this.splitW1, this.splitW2)
      this.splitNode = null
      this.splitKey = null
      if (branch.kids.length > this.branchSize) this.splitBranch(branch)
    }
    return branch
  }

  private splitLeaf (leaf: Leaf): void {
    const half = leaf.slices.length >>> 1
    const right = new Leaf(leaf.bufs.splice(half), leaf.ents.splice(ENT * half), leaf.slices.splice(half), this.epoch)
    this.splitNode = right
    this.splitKey = right.key(0).slice()
    this.splitSlice = right.slices[0]!
    this.splitW1 = right.ents[0]!
    this.splitW2 = right.ents[1]!
  }

  private splitBranch (branch: Branch): void {
    const half = branch.kids.length >>> 1
    const kids = branch.kids.splice(half)
    // The separator between the halves moves up; the right half keeps the
    // separators after it.
    const keys = branch.keys.splice(half - 1)
    const slices = branch.slices.splice(half - 1)
    const tails = branch.tails.splice(2 * (half - 1))
    this.splitKey = keys.shift()!
    this.splitSlice = slices.shift()!
    this.splitW1 = tails.shift()!
    this.splitW2 = tails.shift()!
    this.splitNode = new Branch(keys, slices, tails, kids, this.epoch)
  }

  /** Returns the node to put in the parent's place, or null if absent. */
  private remove (node: Node, key: Uint8Array, klen: number, w0: number, w1: number, w2: number): Node | null {
    if (node.isLeaf) {
      const i = leafSearch(node, key, klen, w0, w1, w2)
      if (i < 0) return null
      const leaf = this.leafFor(node)
      this.bytes -= leaf.klen(i) + leaf.vlen(i)
      for (const [column, stride] of columns(leaf)) column.splice(i * stride, stride)
      return leaf
    }
    const ci = childIndex(node, key, klen, w0, w1, w2)
    const kid = this.remove(node.kids[ci]!, key, klen, w0, w1, w2)
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
      const lc = columns(l)
      const rc = columns(r)
      if (l.length + r.length <= this.leafSize) {
        for (let c = 0; c < lc.length; c++) lc[c]![0].push(...rc[c]![0])
        branch.kids.splice(ri, 1)
        removeSeparator(branch, li)
        branch.kids[li] = l
        return
      }
      const want = (l.length + r.length) >>> 1
      if (l.length < want) {
        const n = want - l.length
        for (let c = 0; c < lc.length; c++) {
          const stride = lc[c]![1]
          lc[c]![0].push(...rc[c]![0].splice(0, n * stride))
        }
      } else {
        const n = l.length - want
        for (let c = 0; c < lc.length; c++) {
          const stride = lc[c]![1]
          rc[c]![0].unshift(...lc[c]![0].splice(want * stride, n * stride))
        }
      }
      branch.kids[li] = l
      branch.kids[ri] = r
      branch.keys[li] = r.key(0).slice()
      branch.slices[li] = r.slices[0]!
      branch.tails[2 * li] = r.ents[0]!
      branch.tails[2 * li + 1] = r.ents[1]!
      return
    }
    assert(!left.isLeaf && !right.isLeaf, 'siblings are at the same height')
    const l = this.branchFor(left)
    const r = this.branchFor(right)
    // The parent's separator between them comes down between their keys.
    const sep = branch.keys[li]!
    const sepSlice = branch.slices[li]!
    const sepW1 = branch.tails[2 * li]!
    const sepW2 = branch.tails[2 * li + 1]!
    if (l.kids.length + r.kids.length <= this.branchSize) {
      l.keys.push(sep, ...r.keys)
      l.slices.push(sepSlice, ...r.slices)
      l.tails.push(sepW1, sepW2, ...r.tails)
      l.kids.push(...r.kids)
      branch.kids.splice(ri, 1)
      removeSeparator(branch, li)
      branch.kids[li] = l
      return
    }
    const keys = [...l.keys, sep, ...r.keys]
    const slices = [...l.slices, sepSlice, ...r.slices]
    const tails = [...l.tails, sepW1, sepW2, ...r.tails]
    const kids = [...l.kids, ...r.kids]
    const half = kids.length >>> 1
    l.kids = kids.slice(0, half)
    l.keys = keys.slice(0, half - 1)
    l.slices = slices.slice(0, half - 1)
    l.tails = tails.slice(0, 2 * (half - 1))
    r.kids = kids.slice(half)
    r.keys = keys.slice(half)
    r.slices = slices.slice(half)
    r.tails = tails.slice(2 * half)
    branch.keys[li] = keys[half - 1]!
    branch.slices[li] = slices[half - 1]!
    branch.tails[2 * li] = tails[2 * (half - 1)]!
    branch.tails[2 * li + 1] = tails[2 * (half - 1) + 1]!
    branch.kids[li] = l
    branch.kids[ri] = r
  }
}

/** Drops separator `i` of `branch` with its words. */
function removeSeparator (branch: Branch, i: number): void {
  branch.keys.splice(i, 1)
  branch.slices.splice(i, 1)
  branch.tails.splice(2 * i, 2)
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
  const w0 = slice(key, klen)
  const w1 = word1(key, klen)
  const w2 = word2(key, klen)
  let node = root
  while (!node.isLeaf) node = node.kids[childIndex(node, key, klen, w0, w1, w2)]!
  const i = leafSearch(node, key, klen, w0, w1, w2)
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
 * subtrees, words matching their keys, node sizes within limits, all leaves
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
  const wordsMatch = (slices: number[], tails: number[], i: number, k: Uint8Array): boolean =>
    slices[i] === slice(k, k.length) && tails[2 * i] === word1(k, k.length) && tails[2 * i + 1] === word2(k, k.length)
  const visit = (node: Node, depth: number, lo: Uint8Array | null, hi: Uint8Array | null, isRoot: boolean): void => {
    if (node.isLeaf) {
      if (leafDepth === -1) leafDepth = depth
      assert(leafDepth === depth, 'leaves at one depth')
      assert(node.length <= leafSize, 'leaf within size')
      assert(isRoot || node.length > 0, 'non-root leaf not empty')
      for (const [column, stride] of columns(node)) assert(column.length === node.length * stride, 'leaf arrays aligned')
      for (let i = 0; i < node.length; i++) {
        assert(node.off(i) + node.klen(i) + node.vlen(i) <= node.bufs[i]!.byteLength, 'entry within its buffer')
        const k = node.key(i)
        assert(node.slices[i] === slice(k, k.length) && node.ents[ENT * i] === word1(k, k.length) && node.ents[ENT * i + 1] === word2(k, k.length), 'words match key')
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
    assert(node.keys.length === node.kids.length - 1 && node.slices.length === node.keys.length && node.tails.length === 2 * node.keys.length, 'branch arrays aligned')
    for (let i = 0; i < node.keys.length; i++) {
      const k = node.keys[i]!
      assert(wordsMatch(node.slices, node.tails, i, k), 'separator words match')
      if (i > 0) assert(compareFrom(node.keys[i - 1]!, node.keys[i - 1]!.length, k, k.length, 0) < 0, 'separators ascending')
    }
    for (let i = 0; i < node.kids.length; i++) {
      visit(node.kids[i]!, depth + 1, i === 0 ? lo : node.keys[i - 1]!, i === node.keys.length ? hi : node.keys[i]!, false)
    }
  }
  let bytes = 0
  const sum = (node: Node): void => {
    if (node.isLeaf) for (let i = 0; i < node.length; i++) bytes += node.klen(i) + node.vlen(i)
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
