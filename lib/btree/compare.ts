/**
 * Byte-key comparison, the hot path of every tree operation.
 *
 * Keys are compared as unsigned bytes, shortest first on a common prefix (the
 * order of LevelDB, RocksDB and abstract-level's byte encodings). As in
 * Masstree, the first bytes of a key are kept as numbers ("words" of
 * {@link SLICE_BYTES} bytes each, {@link INLINE_WORDS} of them), so a search
 * compares numbers and touches the key bytes only when a key's first
 * {@link INLINE_BYTES} bytes tie and both keys are longer than that.
 *
 * @module
 * @internal
 */

/** How many bytes a word holds: 6 bytes fit a double exactly. */
export const SLICE_BYTES = 6
/** Words kept per key in the tree: the first and two more. */
export const INLINE_WORDS = 3
/**
 * Leading key bytes the words hold (18): keys up to this long compare and
 * match without reading their bytes.
 */
export const INLINE_BYTES = SLICE_BYTES * INLINE_WORDS

/**
 * The {@link SLICE_BYTES} bytes of `key` from `offset` on as a number,
 * big-endian, padded with zero bytes; `length` is how many bytes of `key`
 * there are from `offset` on (zero or less gives 0).
 *
 * Words order keys soundly: if `slice(a) < slice(b)` then `a < b`. Equal
 * words say nothing (zero padding makes `ab` and `ab\0` tie), so a tie goes
 * on to the next word and then to the lengths or the bytes.
 *
 * @internal
 */
export function slice (key: Uint8Array, length: number, offset = 0): number {
  // Unrolled on purpose: a loop here costs a branch per byte and keeps V8
  // from folding the multiplications into constants.
  const b0 = length > 0 ? key[offset]! : 0
  const b1 = length > 1 ? key[offset + 1]! : 0
  const b2 = length > 2 ? key[offset + 2]! : 0
  const b3 = length > 3 ? key[offset + 3]! : 0
  const b4 = length > 4 ? key[offset + 4]! : 0
  const b5 = length > 5 ? key[offset + 5]! : 0
  // The high part stays below 2^24 and the low part below 2^24, so the sum is
  // below 2^48 and exact in a double.
  return (b0 * 0x10000 + b1 * 0x100 + b2) * 0x1000000 + (b3 * 0x10000 + b4 * 0x100 + b5)
}

/** Word 1 (bytes 6 to 11) of the `klen`-byte key at `offset` in `key`. @internal */
export function word1 (key: Uint8Array, klen: number, offset = 0): number {
  return slice(key, klen - SLICE_BYTES, offset + SLICE_BYTES)
}

/** Word 2 (bytes 12 to 17) of the `klen`-byte key at `offset` in `key`. @internal */
export function word2 (key: Uint8Array, klen: number, offset = 0): number {
  return slice(key, klen - 2 * SLICE_BYTES, offset + 2 * SLICE_BYTES)
}

/**
 * Compares `a[0..alen)` with `b[0..blen)` as unsigned bytes, starting at
 * byte `from` (the caller knows the bytes before it are equal).
 *
 * @returns a negative number, zero or a positive number.
 * @internal
 */
export function compareFrom (a: Uint8Array, alen: number, b: Uint8Array, blen: number, from: number): number {
  const n = alen < blen ? alen : blen
  for (let i = from; i < n; i++) {
    const d = a[i]! - b[i]!
    if (d !== 0) return d
  }
  return alen - blen
}

/**
 * Compares `a[0..alen)` with `b[boff..boff+blen)` as unsigned bytes, from
 * byte `from` on: a key against an entry stored at an offset in a chunk.
 *
 * @returns a negative number, zero or a positive number.
 * @internal
 */
export function compareAt (a: Uint8Array, alen: number, b: Uint8Array, boff: number, blen: number, from: number): number {
  const n = alen < blen ? alen : blen
  for (let i = from; i < n; i++) {
    const d = a[i]! - b[boff + i]!
    if (d !== 0) return d
  }
  return alen - blen
}

/**
 * Compares two whole keys as unsigned bytes.
 *
 * @returns a negative number, zero or a positive number.
 * @internal
 */
export function compareBytes (a: Uint8Array, b: Uint8Array): number {
  return compareFrom(a, a.length, b, b.length, 0)
}

/**
 * A key with its words worked out once, for code that compares one key with
 * many entries (range bounds, seeks, deletes of ranges).
 * @internal
 */
export class KeyWords {
  readonly length: number
  readonly w0: number
  readonly w1: number
  readonly w2: number
  constructor (readonly key: Uint8Array) {
    const n = key.length
    this.length = n
    this.w0 = slice(key, n)
    this.w1 = word1(key, n)
    this.w2 = word2(key, n)
  }
}
