/**
 * The deterministic simulator: a whole cluster in one process on one event
 * queue in virtual time, driven by one seed. Nodes get the same
 * `Transport` interface as in production (see `cluster/transport`),
 * a virtual `Clock`, a {@link SeededRandom} stream and a {@link SimDisk}
 * with explicit sync; the simulator delays, drops, duplicates, reorders and
 * clogs messages, partitions nodes, and crashes and restarts them.
 *
 * @module
 */

export { Simulator, SimNode, defaultNetworkOptions, randomNetwork } from './simulator.js'
export type {
  LinkFaults, NetworkOptions, NodeBoot, NodeEnv, RunOptions, RunResult, SimStats, SimulatorOptions
} from './simulator.js'
export { SeededRandom, drawDelay } from './random.js'
export type { DelaySpec } from './random.js'
export { SimDisk, defaultDiskOptions } from './disk.js'
export type { DiskOptions } from './disk.js'
