/**
 * mako-level: an embedded, replicated key-value store for Node.js.
 *
 * @packageDocumentation
 */
export { MakoError, AssertionError, assert } from './lib/errors.js'
export type { MakoErrorOptions } from './lib/errors.js'
export { MakoLevel, MakoSnapshot } from './adapters/level/mako-level.js'
export type { MakoLevelOptions } from './adapters/level/mako-level.js'
export type { RepairReport } from './adapters/level/durable.js'
export type { LogRepair, TornTail } from './adapters/disk/log.js'
