// Reads of one transaction issued at once (Promise.all of gets, as a
// TPC-C New-Order reads its items and stock) are every one recorded and
// validated: a write to any of them between the read and the commit makes
// the commit fail with a conflict.
import t from 'tap'
import { simClientCluster } from './txn/sim-cluster.js'

const enc = new TextEncoder()
const k = (s: string): Uint8Array => enc.encode(s)

t.test('every one of concurrent reads is validated at commit', async (t) => {
  const { client, stop } = await simClientCluster(7)
  t.teardown(stop)
  // Keys on both shards (the map cuts at 'm').
  const keys = ['b1', 'b2', 'b3', 'x1', 'x2', 'x3']
  await client.transaction(async (tx) => { for (const key of keys) tx.put(k(key), k('0')) })
  for (const victim of keys) {
    const tx = client.begin()
    const values = await Promise.all(keys.map(async (key) => await tx.get(k(key))))
    t.equal(values.filter((v) => v !== null).length, keys.length, 'all read')
    await client.transaction(async (other) => { other.put(k(victim), k('changed')) })
    tx.put(k('b9'), k('written after reading all'))
    tx.put(k('x9'), k('written after reading all'))
    await t.rejects(tx.commit(), { code: 'MAKO_TXN_CONFLICT' }, `a write to ${victim} after the concurrent reads is a conflict`)
  }
  client.close()
})
