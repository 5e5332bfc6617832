/**
 * The Paxos shard simulation for the seed runner: every seed with random
 * faults, including disk loss.
 *
 * @module
 * @internal
 */

import { runPaxosSim } from './paxos-sim.js'
import type { Simulation } from './simulation.js'

/** The Paxos shard simulation. @internal */
export const simulation: Simulation = {
  name: 'paxos',
  run (seed) {
    const r = runPaxosSim({ seed, diskLoss: true })
    return { events: r.events, ops: r.ops, slots: r.slots, crashes: r.crashes, elections: r.elections, livenessTicks: r.livenessTicks }
  }
}
