/**
 * The engine's data model: column families sharing one sequence, atomic
 * batches and snapshots.
 *
 * @module
 * @internal
 */
export { Store, StoreSnapshot, Family, DEFAULT_FAMILY, deleteRange } from './store.js'
export { encodeBatch, encodeBatchAt, batchBytes, decodeBatch, BATCH_VERSION } from './codec.js'
export type { BatchOp } from './store.js'
