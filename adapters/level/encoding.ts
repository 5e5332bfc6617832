/**
 * The byte formats MakoLevel hands to abstract-level. Entries are stored as
 * one `Uint8Array` (key bytes then value bytes); reads return views of it
 * in the format the caller's encoding asked for, without copying.
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

/** A format abstract-level may ask for: Node's Buffer or a plain Uint8Array. @internal */
export type StoreFormat = 'buffer' | 'view'

/**
 * The key of an entry as a view in `format`.
 * @internal
 */
export function keyOf (entry: Uint8Array, klen: number, format: StoreFormat): Uint8Array {
  return format === 'view'
    ? new Uint8Array(entry.buffer, entry.byteOffset, klen)
    : new NodeBuffer(entry.buffer, entry.byteOffset, klen)
}

/**
 * The value of an entry as a view in `format`.
 * @internal
 */
export function valueOf (entry: Uint8Array, klen: number, format: StoreFormat): Uint8Array {
  return format === 'view'
    ? new Uint8Array(entry.buffer, entry.byteOffset + klen, entry.length - klen)
    : new NodeBuffer(entry.buffer, entry.byteOffset + klen, entry.length - klen)
}

/**
 * The format for an encoding name that abstract-level passed to a private
 * method (it passes the format's name, already resolved).
 * @internal
 */
export function formatOf (encoding: unknown): StoreFormat {
  return encoding === 'view' ? 'view' : 'buffer'
}
