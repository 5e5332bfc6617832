// The log's batch encoding: the shared-scratch encoder gives the same bytes
// as the allocating one, for small batches and for ones past its scratch.
import t from 'tap'
import { Store, decodeBatch, encodeBatch, encodeBatchTransient, type BatchOp } from '../lib/store/index.js'

const bytes = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill)

function batch (store: Store, puts: number, valueBytes: number): BatchOp[] {
  const family = store.defaultFamily
  const ops: BatchOp[] = []
  for (let i = 0; i < puts; i++) ops.push({ type: 'put', family, key: bytes(16, i & 0xff), value: bytes(valueBytes, (i * 7) & 0xff) })
  ops.push({ type: 'del', family, key: bytes(3, 9) })
  ops.push({ type: 'deleteRange', family, gte: bytes(1, 1), lt: bytes(1, 2) })
  return ops
}

t.test('encodeBatchTransient gives encodeBatch\'s bytes, and they decode to the batch', async (t) => {
  const store = new Store()
  // 1 put (under the first scratch), 100 puts of 100 bytes (grows it), and
  // 5,000 puts of 300 bytes (past the scratch it keeps: a fresh array).
  for (const [puts, valueBytes] of [[1, 100], [100, 100], [5000, 300], [2, 10]] as const) {
    const ops = batch(store, puts, valueBytes)
    const owned = encodeBatch(ops)
    const shared = encodeBatchTransient(ops)
    t.same(Buffer.from(shared), Buffer.from(owned), `${puts} puts of ${valueBytes} bytes: the same bytes`)
    const back = decodeBatch(shared.slice(), store, 'test')
    t.equal(back.length, ops.length, 'every operation decodes')
    t.same(back.map((op) => op.type), ops.map((op) => op.type), 'in order')
  }
})

t.test('the shared bytes are overwritten by the next call, the owned ones are not', async (t) => {
  const store = new Store()
  const first = batch(store, 3, 20)
  const owned = encodeBatch(first)
  const shared = encodeBatchTransient(first)
  const copy = Buffer.from(shared)
  encodeBatchTransient(batch(store, 3, 21).map((op) => op.type === 'put' ? { ...op, value: bytes(20, 0xee) } : op))
  t.notSame(Buffer.from(shared), copy, 'a transient encoding is valid only until the next call')
  t.same(Buffer.from(owned), copy, 'encodeBatch\'s array is the caller\'s')
})
