/**
 * Entry allocation. Every entry (key bytes then value bytes) is copied into
 * a slice of a shared chunk, as Node's Buffer pool does for small buffers:
 * one ArrayBuffer per chunk instead of one backing store per entry saves the
 * backing store's own header and allocation, and copying means a caller that
 * reuses its buffers after a write cannot change what is stored.
 *
 * A chunk stays alive while any entry in it does. Chunks are small (8 KiB)
 * so that overwriting or deleting most entries cannot pin much more memory
 * than the entries still live; entries above a quarter of a chunk get their
 * own buffer.
 *
 * @module
 * @internal
 */

/** Bytes per shared chunk. @internal */
export const CHUNK_BYTES = 8192
const BIG_BYTES = CHUNK_BYTES >>> 2

let chunk = new Uint8Array(CHUNK_BYTES)
let used = 0

/**
 * A new entry holding `key` then `value`, copied.
 * @internal
 */
export function makeEntry (key: Uint8Array, value: Uint8Array): Uint8Array {
  const klen = key.length
  const n = klen + value.length
  let entry: Uint8Array
  if (n > BIG_BYTES) {
    entry = new Uint8Array(n)
  } else {
    if (used + n > CHUNK_BYTES) {
      chunk = new Uint8Array(CHUNK_BYTES)
      used = 0
    }
    entry = chunk.subarray(used, used + n)
    used += n
  }
  entry.set(key, 0)
  entry.set(value, klen)
  return entry
}
