/**
 * Where entry bytes live. Every entry (key bytes then value bytes) is copied
 * into a shared chunk, as Node's Buffer pool does for small buffers, and a
 * leaf records each entry as (chunk, offset, key length, value length) in
 * parallel arrays. No object is made per entry: a typed array costs about
 * 90 bytes of header, more than most keys and values, and reading its
 * `buffer` and `byteOffset` costs more than making the view a reader gets.
 *
 * Copying also means a caller that reuses its buffers after a write cannot
 * change what is stored. A chunk stays alive while any entry in it does;
 * chunks are small (8 KiB) so that overwriting or deleting most entries
 * cannot pin much more memory than the entries still live, and an entry
 * above a quarter of a chunk gets a chunk of its own.
 *
 * @module
 * @internal
 */

/** Bytes per shared chunk. @internal */
export const CHUNK_BYTES = 8192
const BIG_BYTES = CHUNK_BYTES >>> 2

/**
 * A block of entry bytes: the view for reading bytes and its ArrayBuffer for
 * making views, both kept so neither has to be read off the other.
 * @internal
 */
export class Chunk {
  readonly buffer: ArrayBuffer
  constructor (readonly bytes: Uint8Array) {
    this.buffer = bytes.buffer as ArrayBuffer
  }
}

let current = new Chunk(new Uint8Array(CHUNK_BYTES))
let used = 0

/** The chunk of the last {@link place} call. @internal */
export let placedChunk: Chunk = current
/** The offset of the last {@link place} call. @internal */
export let placedOffset = 0

/**
 * Copies `key` then `value` into chunk space; the location is left in
 * {@link placedChunk} and {@link placedOffset} (no result object, since
 * this runs once per write).
 * @internal
 */
export function place (key: Uint8Array, value: Uint8Array): void {
  const klen = key.length
  const n = klen + value.length
  if (n > BIG_BYTES) {
    placedChunk = new Chunk(new Uint8Array(n))
    placedOffset = 0
  } else {
    if (used + n > CHUNK_BYTES) {
      current = new Chunk(new Uint8Array(CHUNK_BYTES))
      used = 0
    }
    placedChunk = current
    placedOffset = used
    used += n
  }
  const bytes = placedChunk.bytes
  bytes.set(key, placedOffset)
  bytes.set(value, placedOffset + klen)
}
