/**
 * Seeds for the transport tests: `SEED` from the environment replays a run,
 * otherwise each run draws a fresh one (and prints it).
 *
 * @internal
 */

/** The seed for this test run. @internal */
export function testSeed (): number {
  const env = process.env['SEED']
  if (env !== undefined && env !== '') return Number(env) >>> 0
  return (Date.now() ^ (process.pid << 10) ^ Math.floor(Math.random() * 0x7fffffff)) >>> 0
}

/** How to replay a seeded test file. @internal */
export function replayHint (seed: number, file: string): string {
  return `seed ${seed}: replay with SEED=${seed} npx tap dist/test/${file}`
}
