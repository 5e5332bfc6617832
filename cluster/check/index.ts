/**
 * Checkers for histories recorded by tests and simulations: a
 * linearizability checker (Wing-Gong search with memoisation, partitioned)
 * and the models it checks against.
 *
 * @module
 */

export { checkLinearizable, defaultMaxCheckSteps } from './linearizability.js'
export type { CheckOptions, CheckResult, Model, Operation } from './linearizability.js'
export { kvModel } from './kv-model.js'
export type { KvInput, KvOperation, KvOutput } from './kv-model.js'
