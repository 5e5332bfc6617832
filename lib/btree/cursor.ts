/**
 * Cursors over a frozen tree root. A cursor keeps its path from the root
 * (copy-on-write leaves have no sibling links: a link would have to be
 * copied with every neighbour), so a step to the next leaf climbs to the
 * nearest branch with a next child and descends its edge; that is O(1)
 * amortised over a scan.
 *
 * A cursor must only be given a root that no longer changes (from
 * {@link BTree.freeze}): it holds positions, not keys.
 *
 * @module
 * @internal
 */

import { slice, word1, word2 } from './compare.js'
import { childIndex, leafSearch, type Branch, type Leaf, type Node } from './btree.js'

/** Where a seek lands relative to its key. @internal */
export type SeekMode = 'ge' | 'gt' | 'le' | 'lt'

/**
 * A position in a frozen tree, moved with {@link Cursor.next} and
 * {@link Cursor.prev}. Invalid (past either end) when `leaf` is null.
 * @internal
 */
export class Cursor {
  private readonly path: Branch[] = []
  private readonly idx: number[] = []
  /** The current leaf, or null when the cursor is past either end. */
  leaf: Leaf | null = null
  /** Index of the current entry in {@link Cursor.leaf}. */
  pos = 0

  constructor (private readonly root: Node) {}

  /** True while the cursor is on an entry. */
  get valid (): boolean { return this.leaf !== null }

  /** The current key, as a view of the stored bytes. Only while valid. */
  key (): Uint8Array { return this.leaf!.key(this.pos) }

  /** The current value, as a view of the stored bytes. Only while valid. */
  value (): Uint8Array { return this.leaf!.value(this.pos) }

  /** Moves to the smallest key. */
  first (): void {
    this.path.length = 0
    this.idx.length = 0
    this.edge(this.root, false)
  }

  /** Moves to the largest key. */
  last (): void {
    this.path.length = 0
    this.idx.length = 0
    this.edge(this.root, true)
  }

  /**
   * Moves to the first key `>=` (`ge`) or `>` (`gt`) `key`, or to the last
   * key `<=` (`le`) or `<` (`lt`) it.
   */
  seek (key: Uint8Array, mode: SeekMode): void {
    const klen = key.length
    const w0 = slice(key, klen)
    const w1 = word1(key, klen)
    const w2 = word2(key, klen)
    this.path.length = 0
    this.idx.length = 0
    let node = this.root
    while (!node.isLeaf) {
      const ci = childIndex(node, key, klen, w0, w1, w2)
      this.path.push(node)
      this.idx.push(ci)
      node = node.kids[ci]!
    }
    this.leaf = node
    const i = leafSearch(node, key, klen, w0, w1, w2)
    // The leaf may hold no key on the wanted side (separators are not
    // tightened on delete): stepping once then reaches the neighbour leaf.
    switch (mode) {
      case 'ge': this.pos = i >= 0 ? i : ~i; this.settleForward(); break
      case 'gt': this.pos = i >= 0 ? i + 1 : ~i; this.settleForward(); break
      case 'le': this.pos = i >= 0 ? i : ~i - 1; this.settleBackward(); break
      case 'lt': this.pos = i >= 0 ? i - 1 : ~i - 1; this.settleBackward(); break
    }
  }

  /** Moves to the next key, or past the end. */
  next (): void {
    const leaf = this.leaf
    if (leaf === null) return
    if (++this.pos < leaf.length) return
    this.climb(false)
  }

  /** Moves to the previous key, or past the start. */
  prev (): void {
    if (this.leaf === null) return
    if (--this.pos >= 0) return
    this.climb(true)
  }

  private settleForward (): void {
    if (this.pos >= this.leaf!.length) this.climb(false)
  }

  private settleBackward (): void {
    if (this.pos < 0) this.climb(true)
  }

  /** Leaves the current leaf for its neighbour on one side. */
  private climb (back: boolean): void {
    const path = this.path
    const idx = this.idx
    let d = path.length - 1
    while (d >= 0 && (back ? idx[d] === 0 : idx[d] === path[d]!.kids.length - 1)) d--
    if (d < 0) {
      this.leaf = null
      return
    }
    const ci = idx[d]! + (back ? -1 : 1)
    idx[d] = ci
    path.length = d + 1
    idx.length = d + 1
    this.edge(path[d]!.kids[ci]!, back)
  }

  /** Descends from `node` along its left (or right) edge. */
  private edge (node: Node, right: boolean): void {
    while (!node.isLeaf) {
      const ci = right ? node.kids.length - 1 : 0
      this.path.push(node)
      this.idx.push(ci)
      node = node.kids[ci]!
    }
    if (node.length === 0) {
      this.leaf = null
      return
    }
    this.leaf = node
    this.pos = right ? node.length - 1 : 0
  }
}
