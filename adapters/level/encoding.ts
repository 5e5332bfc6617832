/**
 * The byte formats MakoLevel hands to abstract-level. Entries are stored as
 * one `Uint8Array` (key bytes then value bytes); reads return views of it
 * in the format the caller's encoding asked for, without copying.
 *
 * @module
 * @internal
 */

/** A format abstract-level may ask for: Node's Buffer or a plain Uint8Array. @internal */
export type StoreFormat = 'buffer' | 'view'

/**
 * The key of an entry as a view in `format`.
 * @internal
 */
export function keyOf (entry: Uint8Array, klen: number, format: StoreFormat): Uint8Array {
  return format === 'view'
    ? new Uint8Array(entry.buffer, entry.byteOffset, klen)
    : Buffer.from(entry.buffer, entry.byteOffset, klen)
}

/**
 * The value of an entry as a view in `format`.
 * @internal
 */
export function valueOf (entry: Uint8Array, klen: number, format: StoreFormat): Uint8Array {
  return format === 'view'
    ? new Uint8Array(entry.buffer, entry.byteOffset + klen, entry.length - klen)
    : Buffer.from(entry.buffer, entry.byteOffset + klen, entry.length - klen)
}

/**
 * The format for an encoding name that abstract-level passed to a private
 * method (it passes the format's name, already resolved).
 * @internal
 */
export function formatOf (encoding: unknown): StoreFormat {
  return encoding === 'view' ? 'view' : 'buffer'
}
