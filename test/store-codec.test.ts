// The log's batch encoding: encoding in place (as the log has it done, into
// its group buffer) gives the same bytes as the allocating encoder.
import t from 'tap'
import { Store, batchBytes, decodeBatch, encodeBatch, encodeBatchAt, type BatchOp } from '../lib/store/index.js'

const bytes = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill)

function batch (store: Store, puts: number, valueBytes: number): BatchOp[] {
  const family = store.defaultFamily
  const ops: BatchOp[] = []
  for (let i = 0; i < puts; i++) ops.push({ type: 'put', family, key: bytes(16, i & 0xff), value: bytes(valueBytes, (i * 7) & 0xff) })
  ops.push({ type: 'del', family, key: bytes(3, 9) })
  ops.push({ type: 'deleteRange', family, gte: bytes(1, 1), lt: bytes(1, 2) })
  return ops
}

t.test('encodeBatchAt writes batchBytes bytes, at any offset, the bytes of encodeBatch; they decode to the batch', async (t) => {
  const store = new Store()
  const family = store.defaultFamily
  const withFamilies: BatchOp[] = [
    { type: 'createFamily', id: 7, name: 'caf\u00e9' }, { type: 'clear', family }, { type: 'dropFamily', family }
  ]
  for (const [puts, valueBytes] of [[1, 100], [100, 100], [5000, 300], [2, 10]] as const) {
    const ops = [...batch(store, puts, valueBytes), ...(puts === 2 ? withFamilies : [])]
    const owned = encodeBatch(ops)
    t.equal(batchBytes(ops), owned.length, `${puts} puts of ${valueBytes} bytes: batchBytes is the encoding's length`)
    const into = new Uint8Array(owned.length + 10).fill(0xaa)
    t.equal(encodeBatchAt(ops, into, 3), 3 + owned.length, 'encodeBatchAt returns the offset after the batch')
    t.same(Buffer.from(into.subarray(3, 3 + owned.length)), Buffer.from(owned), 'the same bytes')
    t.ok(into.subarray(0, 3).every((b) => b === 0xaa) && into.subarray(3 + owned.length).every((b) => b === 0xaa),
      'nothing written outside')
    const back = decodeBatch(owned, store, 'test')
    t.equal(back.length, ops.length, 'every operation decodes')
    t.same(back.map((op) => op.type), ops.map((op) => op.type), 'in order')
  }
})
