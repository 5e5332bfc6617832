/**
 * The copy-on-write B+tree over byte keys: the engine's index.
 *
 * @module
 * @internal
 */
export { BTree, Leaf, Branch, find, foundAt, lookup, checkValid, leafSearch, leafTie, compareEntry, childIndex, word1, word2, LEAF_SIZE_DEFAULT, BRANCH_SIZE_DEFAULT } from './btree.js'
export type { Node, Frozen, BTreeOptions } from './btree.js'
export { Cursor } from './cursor.js'
export type { SeekMode } from './cursor.js'
export { compareBytes, compareFrom, compareAt, slice, KeyWords, SLICE_BYTES, INLINE_BYTES } from './compare.js'
export { CHUNK_BYTES, place, placedBuffer, placedOffset, bytesOf } from './chunk.js'
