/**
 * A small seeded random source for tests (sfc32, seeded by splitmix32):
 * one seed replays a whole run.
 * @internal
 */
export class Random {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor (readonly seed: number) {
    // splitmix32 spreads a small seed over the whole state.
    let s = seed >>> 0
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0
      let z = s
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
      return (z ^ (z >>> 16)) >>> 0
    }
    this.a = next(); this.b = next(); this.c = next(); this.d = next() | 1
  }

  /** A uniform 32-bit unsigned integer (sfc32). */
  u32 (): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0
    this.d = (this.d + 1) >>> 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) >>> 0
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0
    this.c = (this.c + t) >>> 0
    return t
  }

  /** A uniform integer in [0, n). */
  int (n: number): number { return Math.floor(this.u32() / 0x100000000 * n) }

  /** A uniform float in [0, 1). */
  float (): number { return this.u32() / 0x100000000 }

  /** `n` random bytes. */
  bytes (n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff
    return out
  }

  /** One element of a non-empty array. */
  pick<T> (items: readonly T[]): T { return items[this.int(items.length)]! }
}

/** The seed for a test: `SEED` from the environment, else a fresh one. @internal */
export function testSeed (): number {
  const env = process.env['SEED']
  return env !== undefined ? Number(env) : (Date.now() ^ (process.pid << 8)) >>> 0
}
