import { SeededRandom } from '../../cluster/sim/random.js'

/**
 * The seeded random source of the tests: the simulator's generator (one
 * implementation in the project), with the few helpers the tests use. One
 * seed replays a whole run.
 * @internal
 */
export class Random extends SeededRandom {
  /** @param seed The test's seed (see {@link testSeed}). */
  constructor (seed: number) {
    super(seed, 'test')
  }

  /** A uniform 32-bit unsigned integer. */
  u32 (): number { return this.uint32() }

  /** A uniform float in [0, 1). */
  float (): number { return this.next() }

  /** `n` random bytes. */
  bytes (n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = this.uint32() & 0xff
    return out
  }
}

/** The seed for a test: `SEED` from the environment, else a fresh one. @internal */
export function testSeed (): number {
  const env = process.env['SEED']
  return env !== undefined ? Number(env) : (Date.now() ^ (process.pid << 8)) >>> 0
}
