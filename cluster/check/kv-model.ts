/**
 * The sequential model of a key-value store of registers, for the
 * linearizability checker: reads, writes and compare-and-set on string
 * values, partitioned by key (keys are independent, so each is checked
 * alone).
 *
 * @module
 */

import type { Model, Operation } from './linearizability.js'

/** An operation on one key. `null` stands for an absent key. */
export type KvInput =
  | {
    /** Read the key. */
    readonly f: 'read'
    /** The key. */
    readonly key: string
  }
  | {
    /** Write the key. */
    readonly f: 'write'
    /** The key. */
    readonly key: string
    /** The value written. */
    readonly value: string
  }
  | {
    /** Compare-and-set. */
    readonly f: 'cas'
    /** The key. */
    readonly key: string
    /** The value expected (null: absent). */
    readonly expect: string | null
    /** The value written when it matches. */
    readonly value: string
  }

/** What came back: the value read, or whether a compare-and-set took effect. */
export type KvOutput =
  | {
    /** The value read (null: absent). */
    readonly value: string | null
  }
  | {
    /** Whether the write or compare-and-set took effect. */
    readonly ok: boolean
  }

/** A history operation on the key-value model. */
export type KvOperation = Operation<KvInput, KvOutput>

/** The key-value register model. */
export const kvModel: Model<string | null, KvInput, KvOutput> = {
  init: () => null,
  step (state, input, output) {
    switch (input.f) {
      case 'read':
        if (output === undefined) return [true, state]
        return ['value' in output && output.value === state, state]
      case 'write':
        return [true, input.value]
      case 'cas':
        if (output === undefined) return [true, state === input.expect ? input.value : state]
        if ('ok' in output && output.ok) return [state === input.expect, input.value]
        return [state !== input.expect, state]
    }
  },
  key: (state) => state === null ? '\u0000' : state,
  partition (ops) {
    const byKey = new Map<string, Array<Operation<KvInput, KvOutput>>>()
    for (const op of ops) {
      let list = byKey.get(op.input.key)
      if (list === undefined) {
        list = []
        byKey.set(op.input.key, list)
      }
      list.push(op)
    }
    return [...byKey.values()]
  },
  describe (op) {
    const i = op.input
    const what = i.f === 'read' ? `read(${i.key})` : i.f === 'write' ? `write(${i.key}=${i.value})` : `cas(${i.key}: ${String(i.expect)}->${i.value})`
    const out = op.output === undefined ? '?' : 'value' in op.output ? String(op.output.value) : String(op.output.ok)
    return `c${String(op.client)} ${what}=${out} [${op.call}, ${op.ret === Infinity ? 'inf' : op.ret}]`
  }
}
