/**
 * The copy-on-write B+tree over byte keys: the engine's index.
 *
 * @module
 * @internal
 */
export { BTree, ENT, Leaf, Branch, find, foundAt, lookup, checkValid, leafSearch, compareEntry, childIndex, LEAF_SIZE_DEFAULT, BRANCH_SIZE_DEFAULT } from './btree.js'
export type { Node, Frozen, BTreeOptions } from './btree.js'
export { Cursor } from './cursor.js'
export type { SeekMode } from './cursor.js'
export { compareBytes, compareFrom, compareAt, slice, word1, word2, KeyWords, SLICE_BYTES } from './compare.js'
export { CHUNK_BYTES, place, placedBuffer, placedOffset, copyBytes } from './chunk.js'
