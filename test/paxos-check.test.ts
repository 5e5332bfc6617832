// The linearizability checker: it accepts linearizable histories and
// catches a stale read and a lost write in histories built to contain them.
import t from 'tap'
import { checkLinearizable, kvModel } from '../cluster/check/index.js'
import type { KvOperation } from '../cluster/check/index.js'

const w = (client: number, key: string, value: string, call: number, ret: number): KvOperation =>
  ({ client, input: { f: 'write', key, value }, output: ret === Infinity ? undefined : { ok: true }, call, ret })
const r = (client: number, key: string, value: string | null, call: number, ret: number): KvOperation =>
  ({ client, input: { f: 'read', key }, output: { value }, call, ret })
const cas = (client: number, key: string, expect: string | null, value: string, ok: boolean | undefined, call: number, ret: number): KvOperation =>
  ({ client, input: { f: 'cas', key, expect, value }, output: ok === undefined ? undefined : { ok }, call, ret })

t.test('linearizable histories pass', async (t) => {
  t.equal(checkLinearizable(kvModel, []).result, 'ok')
  t.equal(checkLinearizable(kvModel, [w(1, 'x', 'a', 0, 10), r(2, 'x', 'a', 11, 12)]).result, 'ok')
  // Concurrent write and read: the read may see either value.
  t.equal(checkLinearizable(kvModel, [w(1, 'x', 'a', 0, 10), r(2, 'x', null, 5, 6)]).result, 'ok')
  t.equal(checkLinearizable(kvModel, [w(1, 'x', 'a', 0, 10), r(2, 'x', 'a', 5, 6)]).result, 'ok')
  // A write that never returned may have happened, or not.
  t.equal(checkLinearizable(kvModel, [w(1, 'x', 'a', 0, Infinity), r(2, 'x', 'a', 5, 6), r(2, 'x', 'a', 7, 8)]).result, 'ok')
  t.equal(checkLinearizable(kvModel, [w(1, 'x', 'a', 0, Infinity), r(2, 'x', null, 5, 6)]).result, 'ok')
  // Compare-and-set.
  t.equal(checkLinearizable(kvModel, [
    w(1, 'x', 'a', 0, 1), cas(2, 'x', 'a', 'b', true, 2, 3), cas(3, 'x', 'a', 'c', false, 4, 5), r(1, 'x', 'b', 6, 7)
  ]).result, 'ok')
  // Keys are independent.
  t.equal(checkLinearizable(kvModel, [w(1, 'x', 'a', 0, 1), w(1, 'y', 'b', 2, 3), r(2, 'x', 'a', 4, 5), r(2, 'y', 'b', 4, 5)]).result, 'ok')
})

t.test('a stale read is caught', async (t) => {
  // x=a, then x=b completes; a read that starts afterwards still sees a.
  const res = checkLinearizable(kvModel, [w(1, 'x', 'a', 0, 1), w(1, 'x', 'b', 2, 3), r(2, 'x', 'a', 4, 5)])
  t.equal(res.result, 'illegal')
  t.match(res.detail ?? '', /read\(x\)=a/)
})

t.test('a lost write is caught', async (t) => {
  // An acknowledged write of b disappears: later reads see the older a.
  const res = checkLinearizable(kvModel, [
    w(1, 'x', 'a', 0, 1), w(2, 'x', 'b', 2, 3), r(3, 'x', 'b', 4, 5), r(3, 'x', 'a', 6, 7)
  ])
  t.equal(res.result, 'illegal')
  // Also when nobody saw b before it was lost.
  t.equal(checkLinearizable(kvModel, [w(1, 'x', 'a', 0, 1), w(2, 'x', 'b', 2, 3), r(3, 'x', 'a', 4, 5)]).result, 'illegal')
  // And a compare-and-set that succeeded on a value that was overwritten first.
  t.equal(checkLinearizable(kvModel, [
    w(1, 'x', 'a', 0, 1), w(2, 'x', 'b', 2, 3), cas(3, 'x', 'a', 'c', true, 4, 5)
  ]).result, 'illegal')
})

t.test('a larger concurrent history is searched within budget', async (t) => {
  // Ten clients each write their own value then read the key, all overlapping.
  const ops: KvOperation[] = []
  for (let c = 0; c < 10; c++) ops.push(w(c, 'x', `v${c}`, c, 100 + c))
  for (let c = 0; c < 10; c++) ops.push(r(c, 'x', 'v9', 200 + c, 300))
  const res = checkLinearizable(kvModel, ops)
  t.equal(res.result, 'ok')
  ops.push(r(11, 'x', 'v3', 400, 401))
  t.equal(checkLinearizable(kvModel, ops).result, 'illegal')
  t.equal(checkLinearizable(kvModel, ops, { maxSteps: 3 }).result, 'unknown')
})
