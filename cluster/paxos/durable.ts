/**
 * Folding durable records back into the state a replica restarts from. The
 * file storage and the simulator's disk both replay through here, so the
 * replica sees the same thing after a crash whichever keeps its records.
 *
 * @module
 */

import { compareBallots, zeroBallot } from './ballot.js'
import type { DurableState, PersistRecord } from './types.js'

/** A state with nothing in it: what an empty disk gives. */
export function emptyDurableState (): DurableState {
  return { disk: undefined, recovery: null, promised: zeroBallot, accepted: new Map(), commit: 0, snapshot: undefined }
}

/**
 * Applies one record to a durable state, in place. Records must come in the
 * order they were written. O(1), except `snapshot`, which drops the entries
 * it covers (O(entries dropped)).
 *
 * @param state The state to change.
 * @param rec The record.
 */
export function applyRecord (state: DurableState, rec: PersistRecord): void {
  switch (rec.r) {
    case 'promise':
      if (compareBallots(rec.b, state.promised) > 0) state.promised = rec.b
      break
    case 'accept': {
      if (state.snapshot !== undefined && rec.slot <= state.snapshot.index) break
      const old = state.accepted.get(rec.slot)
      // A chosen value never changes: a later record for the slot can only
      // repeat it (from a new leader's re-proposal), so keep the flag.
      state.accepted.set(rec.slot, { b: rec.b, value: rec.value, chosen: rec.chosen || (old?.chosen ?? false) })
      break
    }
    case 'commit':
      if (rec.index > state.commit) state.commit = rec.index
      break
    case 'snapshot':
      if (state.snapshot !== undefined && rec.index <= state.snapshot.index) break
      state.snapshot = { index: rec.index, data: rec.data }
      for (const slot of [...state.accepted.keys()]) if (slot <= rec.index) state.accepted.delete(slot)
      if (state.commit < rec.index) state.commit = rec.index
      break
    case 'meta':
      state.disk = rec.disk
      state.recovery = rec.recovery
      break
  }
}

/**
 * Builds a durable state from records, in order.
 *
 * @param records Every record, oldest first.
 */
export function foldRecords (records: Iterable<PersistRecord>): DurableState {
  const state = emptyDurableState()
  for (const rec of records) applyRecord(state, rec)
  return state
}
