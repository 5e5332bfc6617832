/**
 * The byte formats MakoLevel hands to abstract-level. Entries are stored in
 * shared chunks (see lib/btree/chunk); reads return views of the stored
 * bytes in the format the caller's encoding asked for, without copying.
 *
 * @module
 * @internal
 */

// Node's own Buffer class is FastBuffer, and it is Buffer[Symbol.species] (so
// that subarray() makes Buffers). Constructing it directly over an existing
// ArrayBuffer makes a genuine Buffer in about 19 ns where Buffer.from() takes
// about 49 ns (argument checks and dispatch). Every read and every iterated
// entry makes one or two of these, so the difference is most of a scan's cost.
type ViewConstructor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => Uint8Array
const species = (Buffer as unknown as Record<symbol, unknown>)[Symbol.species]
/** Node's FastBuffer: `new NodeBuffer(arrayBuffer, offset, length)` is a Buffer. @internal */
export const NodeBuffer: ViewConstructor = typeof species === 'function' && (species as { prototype: unknown }).prototype === Buffer.prototype
  ? species as ViewConstructor
  : class { constructor (b: ArrayBufferLike, o: number, n: number) { return Buffer.from(b, o, n) } } as unknown as ViewConstructor

import type { Leaf } from '../../lib/btree/index.js'

/** A format abstract-level may ask for: Node's Buffer or a plain Uint8Array. @internal */
export type StoreFormat = 'buffer' | 'view'

/**
 * The key of entry `i` of `leaf` as a view in `format`.
 * @internal
 */
export function keyOf (leaf: Leaf, i: number, format: StoreFormat): Uint8Array {
  const buffer = leaf.bufs[i]!
  const off = leaf.off(i)
  const klen = leaf.klen(i)
  return format === 'view' ? new Uint8Array(buffer, off, klen) : new NodeBuffer(buffer, off, klen)
}

/**
 * The value of entry `i` of `leaf` as a view in `format`.
 * @internal
 */
export function valueOf (leaf: Leaf, i: number, format: StoreFormat): Uint8Array {
  const buffer = leaf.bufs[i]!
  const off = leaf.off(i) + leaf.klen(i)
  const vlen = leaf.vlen(i)
  return format === 'view' ? new Uint8Array(buffer, off, vlen) : new NodeBuffer(buffer, off, vlen)
}

/**
 * The format for an encoding name that abstract-level passed to a private
 * method (it passes the format's name, already resolved).
 * @internal
 */
export function formatOf (encoding: unknown): StoreFormat {
  return encoding === 'view' ? 'view' : 'buffer'
}
