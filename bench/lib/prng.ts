/**
 * A small seeded pseudo-random generator for benchmarks: the same seed gives
 * every contender the same keys, values and access order.
 *
 * @module
 * @internal
 */

/**
 * sfc32 (Chris Doty-Humphrey's Small Fast Counter), 32-bit state words.
 * Good statistical quality for benchmark data and cheap to run.
 *
 * @internal
 */
export class Prng {
  private a: number
  private b: number
  private c: number
  private d: number

  /** @param seed Any 32-bit integer; the same seed replays the same sequence. */
  constructor (seed: number) {
    this.a = 0x9e3779b9
    this.b = 0x243f6a88
    this.c = 0xb7e15162
    this.d = seed >>> 0
    // Mix the seed in before the first output is used.
    for (let i = 0; i < 16; i++) this.nextUint32()
  }

  /** The next unsigned 32-bit integer. */
  nextUint32 (): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0
    this.d = (this.d + 1) >>> 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) >>> 0
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0
    this.c = (this.c + t) >>> 0
    return t
  }

  /** An integer in [0, n), n at most 2^32. */
  below (n: number): number {
    return Math.floor((this.nextUint32() / 0x1_0000_0000) * n)
  }

  /** Fill `target` with random bytes. */
  fill (target: Uint8Array): Uint8Array {
    let i = 0
    for (; i + 4 <= target.length; i += 4) {
      const x = this.nextUint32()
      target[i] = x & 0xff
      target[i + 1] = (x >>> 8) & 0xff
      target[i + 2] = (x >>> 16) & 0xff
      target[i + 3] = x >>> 24
    }
    if (i < target.length) {
      let x = this.nextUint32()
      for (; i < target.length; i++) {
        target[i] = x & 0xff
        x >>>= 8
      }
    }
    return target
  }

  /** A permutation of 0..n-1 (Fisher-Yates). */
  permutation (n: number): Uint32Array {
    const out = new Uint32Array(n)
    for (let i = 0; i < n; i++) out[i] = i
    for (let i = n - 1; i > 0; i--) {
      const j = this.below(i + 1)
      const tmp = out[i] as number
      out[i] = out[j] as number
      out[j] = tmp
    }
    return out
  }
}

const BASE64URL = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_', 'latin1')

/**
 * `count` random Buffers of `size` bytes each, sliced from one backing
 * buffer: one allocation instead of `count`, as a network read or a file
 * read would hand them to a database.
 *
 * With `alphabet: 'base64url'` every byte is one of 64 printable ASCII
 * characters (6 random bits per byte), so the bytes are valid UTF-8 and
 * survive a string store encoding unchanged; 16 such bytes still carry 96
 * random bits. `'bytes'` gives uniformly random bytes.
 *
 * @internal
 */
export function randomBuffers (prng: Prng, count: number, size: number, alphabet: 'bytes' | 'base64url' = 'bytes'): Buffer[] {
  const slab = prng.fill(Buffer.allocUnsafeSlow(count * size)) as Buffer
  if (alphabet === 'base64url') {
    for (let i = 0; i < slab.length; i++) slab[i] = BASE64URL[(slab[i] as number) & 63] as number
  }
  const out = new Array<Buffer>(count)
  for (let i = 0; i < count; i++) out[i] = slab.subarray(i * size, (i + 1) * size)
  return out
}
