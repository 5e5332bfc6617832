/**
 * What a seeded simulation offers the seed runner (`npm run sim`): a name
 * and a function that runs one seed and throws on failure. A simulation
 * lives in `test/sim/<name>.sim.ts` and exports `simulation`; the runner
 * finds every such file, so a new protocol adds its own without touching
 * the runner.
 *
 * @module
 * @internal
 */

/** One simulation. @internal */
export interface Simulation {
  /** Its name, for `--only`. */
  readonly name: string
  /** Runs one seed; throws (with the seed in the message) on a failure. Returns a summary to aggregate. */
  run (seed: number): Record<string, number> | Promise<Record<string, number>>
}
