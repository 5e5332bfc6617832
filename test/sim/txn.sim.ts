/**
 * The distributed-transaction simulation for the seed runner: each seed
 * runs the whole cluster (two shards of three replicas) with faults, the
 * bank or the list-append workload, speculative or (one seed in ten)
 * classic commit. See test/txn/sim-cluster.ts.
 *
 * @module
 * @internal
 */

import { runTxnSim } from '../txn/sim-cluster.js'
import type { Simulation } from './simulation.js'

/** The transaction simulation. @internal */
export const simulation: Simulation = {
  name: 'txn',
  async run (seed) {
    const r = await runTxnSim({ seed, workload: seed % 2 === 0 ? 'bank' : 'list-append', classic: seed % 10 === 3 })
    return { events: r.events, committed: r.committed, failed: r.failed, unknown: r.unknown, rolledBack: r.rolledBack, crashes: r.crashes, clientCrashes: r.clientCrashes }
  }
}
