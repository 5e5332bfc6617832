/**
 * Runs many seeds of the cluster simulation as one tap test, printing a
 * failing seed with how to replay it.
 *
 * @module
 * @internal
 */

import type { Test } from 'tap'
import { runTxnSim, TxnSimFailure } from './sim-cluster.js'
import type { TxnSimOptions } from './sim-cluster.js'
import { testSeed } from '../transport/seed.js'

/**
 * Runs `count` seeds of a workload (one in ten with classic commit).
 *
 * @param t The tap test.
 * @param workload The workload.
 * @param count Seeds (the environment's TXN_SEEDS overrides it).
 * @param file The test file, for the replay hint.
 * @internal
 */
export async function runSeeds (t: Test, workload: TxnSimOptions['workload'], count: number, file: string): Promise<void> {
  const base = testSeed() % 1_000_000_000
  const seeds = Number(process.env['TXN_SEEDS'] ?? count)
  const totals = { committed: 0, failed: 0, unknown: 0, rolledBack: 0, crashes: 0, clientCrashes: 0, reads: 0 }
  for (let i = 0; i < seeds; i++) {
    const seed = base + i
    try {
      const r = await runTxnSim({ seed, workload, classic: seed % 10 === 3 })
      for (const k of Object.keys(totals) as Array<keyof typeof totals>) totals[k] += r[k]
    } catch (err) {
      // Any error fails the run with its seed: an unexpected throw (not a
      // failed check) is a bug too, and without the seed it cannot be replayed.
      const trace = err instanceof TxnSimFailure ? `\n${err.trace.slice(-30).join('\n')}` : `\n${(err as Error).stack ?? String(err)}`
      t.fail(`${(err as Error).message} (SEED=${seed} TXN_SEEDS=1 npx tap dist/test/${file})${trace}`)
      return
    }
  }
  t.comment(`${seeds} seeds from ${base}: ${JSON.stringify(totals)}`)
  t.ok(totals.committed > seeds, `${seeds} seeds passed every check; ${totals.committed} transactions committed through ${totals.crashes} node crashes and ${totals.clientCrashes} coordinator crashes`)
}
