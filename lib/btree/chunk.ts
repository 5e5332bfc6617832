/**
 * Where entry bytes live. Every entry (key bytes then value bytes) is copied
 * into a shared chunk, as Node's Buffer pool does for small buffers, and a
 * leaf records each entry as (buffer, offset, key length, value length) in
 * parallel arrays. No object is made per entry: a typed array costs about
 * 90 bytes of header, more than most keys and values.
 *
 * Chunks are written once, front to back, and never rewritten, so an
 * entry's (buffer, offset) names the write that made it for as long as the
 * entry lives. Copying also means a caller that reuses its buffers after a
 * write cannot change what is stored. A chunk stays alive while any entry in
 * it does; chunks are small (8 KiB) so that overwriting or deleting most
 * entries cannot pin much more memory than the entries still live, and an
 * entry above a quarter of a chunk gets a buffer of its own.
 *
 * Entries go to one chunk in the order they are written, not to a chunk per
 * leaf: measured here, appending each entry next to its leaf's others made
 * puts a third slower (every write lands on a cold line of one of thousands
 * of partly filled chunks) and scans no faster (a scan's cost is in the
 * leaf's arrays and the views it makes, which never read the entry bytes).
 *
 * @module
 * @internal
 */

/** Bytes per shared chunk. @internal */
export const CHUNK_BYTES = 8192
const BIG_BYTES = CHUNK_BYTES >>> 2

let current = new Uint8Array(CHUNK_BYTES)
let currentBuffer = current.buffer as ArrayBuffer
let used = 0

/** The buffer of the last {@link place} call. @internal */
export let placedBuffer: ArrayBuffer = currentBuffer
/** The offset of the last {@link place} call. @internal */
export let placedOffset = 0

/**
 * Copies `key` then `value` into chunk space; the location is left in
 * {@link placedBuffer} and {@link placedOffset} (no result object, since
 * this runs once per write).
 * @internal
 */
export function place (key: Uint8Array, value: Uint8Array): void {
  const klen = key.length
  const n = klen + value.length
  let bytes: Uint8Array
  if (n > BIG_BYTES) {
    bytes = new Uint8Array(n)
    placedBuffer = bytes.buffer as ArrayBuffer
    placedOffset = 0
  } else {
    if (used + n > CHUNK_BYTES) {
      current = new Uint8Array(CHUNK_BYTES)
      currentBuffer = current.buffer as ArrayBuffer
      used = 0
    }
    bytes = current
    placedBuffer = currentBuffer
    placedOffset = used
    used += n
  }
  copyBytes(bytes, key, placedOffset)
  copyBytes(bytes, value, placedOffset + klen)
}

/**
 * Copies `from` into `to` at `at`. Short copies go by hand:
 * TypedArray.prototype.set is a call into a builtin with a fixed cost of
 * tens of nanoseconds, more than copying a typical 16-byte key itself.
 * @internal
 */
export function copyBytes (to: Uint8Array, from: Uint8Array, at: number): void {
  const n = from.length
  if (n > 32) {
    to.set(from, at)
    return
  }
  for (let i = 0; i < n; i++) to[at + i] = from[i]!
}

let viewedBuffer: ArrayBuffer | null = null
let viewedBytes = new Uint8Array(0)

/**
 * A byte view of a whole chunk buffer, for the rare comparison that must
 * read stored key bytes (keys that tie on their first 18 bytes); the last
 * one is kept, since consecutive calls mostly ask for the same chunk.
 * @internal
 */
export function bytesOf (buffer: ArrayBuffer): Uint8Array {
  if (buffer !== viewedBuffer) {
    viewedBuffer = buffer
    viewedBytes = new Uint8Array(buffer)
  }
  return viewedBytes
}
