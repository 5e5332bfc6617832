/**
 * Checkers for histories recorded by tests and simulations: a
 * linearizability checker (Wing-Gong search with memoisation, partitioned)
 * and the models it checks against, and a list-append transaction checker
 * in the manner of Elle (G0, G1a, G1b, G1c, G-single, G2, strict
 * serializability).
 *
 * @module
 */

export { checkLinearizable, defaultMaxCheckSteps } from './linearizability.js'
export type { CheckOptions, CheckResult, Model, Operation } from './linearizability.js'
export { kvModel } from './kv-model.js'
export type { KvInput, KvOperation, KvOutput } from './kv-model.js'
export { checkListAppend, defaultMaxAnomaliesPerType, defaultMaxCycleSearchSteps, defaultMaxEdges } from './list-append.js'
export type {
  ListAppendAnomaly, ListAppendAnomalyType, ListAppendConsistency, ListAppendCycleStep, ListAppendEdgeKind, ListAppendKey,
  ListAppendMicroOp, ListAppendOptions, ListAppendOutcome, ListAppendResult, ListAppendStats, ListAppendTxn, ListAppendValue
} from './list-append.js'
