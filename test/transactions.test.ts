// Optimistic transactions: the basics, then a seeded model test (many
// transactions interleaved at their awaits; every committed history must
// equal the serial history in commit order), and a bank.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MakoLevel } from '../adapters/level/mako-level.js'
import type { Transaction } from '../adapters/level/transaction.js'
import { Random, testSeed } from './util/random.js'

const seed = testSeed()
t.comment(`seed ${seed} (replay with SEED=${seed})`)

function tempDir (t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'mako-tx-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

const pause = (rng: Random): Promise<void> => rng.int(3) === 0
  ? new Promise((resolve) => setImmediate(resolve))
  : Promise.resolve()

t.test('reads see own writes; commit applies atomically; rollback discards', async (t) => {
  const db = new MakoLevel()
  await db.put('a', '1')
  const tx = db.beginTransaction()
  t.equal(await tx.get('a'), '1')
  tx.put('a', '2')
  tx.put('b', '3')
  tx.del('c')
  t.equal(await tx.get('a'), '2', 'a write is read back')
  t.equal(await db.get('a'), '1', 'nothing is visible before commit')
  const seen: Array<[string, string]> = []
  for await (const entry of tx.iterator()) seen.push(entry)
  t.same(seen, [['a', '2'], ['b', '3']], 'the iterator lays the writes over the snapshot')
  await tx.commit()
  t.same(await db.iterator().all(), [['a', '2'], ['b', '3']])
  t.throws(() => tx.put('x', 'y'), { code: 'MAKO_TRANSACTION_NOT_OPEN' })

  const rolled = db.beginTransaction()
  rolled.put('z', 'never')
  rolled.rollback()
  t.equal(await db.get('z'), undefined)
  t.equal(rolled.state, 'rolled back')
})

t.test('a conflicting write makes commit fail with MAKO_TRANSACTION_CONFLICT', async (t) => {
  const db = new MakoLevel()
  await db.put('x', '0')
  const tx = db.beginTransaction()
  const x = Number(await tx.get('x'))
  tx.put('x', String(x + 1))
  await db.put('x', '10')
  await t.rejects(tx.commit(), { code: 'MAKO_TRANSACTION_CONFLICT', transient: true })
  t.equal(await db.get('x'), '10', 'the lost update did not happen')

  // A key that did not exist when read, written since: also a conflict.
  const tx2 = db.beginTransaction()
  t.equal(await tx2.get('new'), undefined)
  tx2.put('other', '1')
  await db.put('new', 'here')
  await t.rejects(tx2.commit(), { code: 'MAKO_TRANSACTION_CONFLICT' })
})

t.test('a range read sees phantoms: a key added to the range since is a conflict', async (t) => {
  const db = new MakoLevel()
  await db.batch([{ type: 'put', key: 'job1', value: 'a' }, { type: 'put', key: 'job2', value: 'b' }])
  const tx = db.beginTransaction()
  let count = 0
  for await (const _ of tx.iterator({ gte: 'job', lt: 'jog' })) count++
  t.equal(count, 2)
  tx.put('count', String(count))
  await db.put('job3', 'c')
  await t.rejects(tx.commit(), { code: 'MAKO_TRANSACTION_CONFLICT' })
  // A write outside the range does not conflict.
  const tx2 = db.beginTransaction()
  for await (const _ of tx2.iterator({ gte: 'job', lt: 'jog' })) count++
  tx2.put('count', 'x')
  await db.put('zzz', 'outside')
  await tx2.commit()
  t.equal(await db.get('count'), 'x')
})

t.test('db.transaction() retries on conflict, then gives up', async (t) => {
  const db = new MakoLevel()
  await db.put('n', '0')
  // Ten increments racing: every one lands, thanks to retries.
  await Promise.all(Array.from({ length: 10 }, async () => await db.transaction(async (tx) => {
    const n = Number(await tx.get('n'))
    await new Promise((resolve) => setImmediate(resolve))
    tx.put('n', String(n + 1))
  })))
  t.equal(await db.get('n'), '10')
  let runs = 0
  await t.rejects(db.transaction(async (tx) => {
    runs++
    await tx.get('n')
    await db.put('n', String(runs)) // always conflicts with itself
    tx.put('n', 'never')
  }, { retries: 3 }), { code: 'MAKO_TRANSACTION_CONFLICT' })
  t.equal(runs, 4, 'the first run and three retries')
})

t.test('transactions span column families atomically', async (t) => {
  const db = new MakoLevel()
  const stock = db.columnFamily('stock')
  await stock.put('apples', '5')
  await db.transaction(async (tx) => {
    const n = Number(await tx.get('apples', { columnFamily: stock }))
    tx.put('apples', String(n - 1), { columnFamily: stock })
    tx.put('order-1', 'apples')
  })
  t.equal(await stock.get('apples'), '4')
  t.equal(await db.get('order-1'), 'apples')
})

// ---- The model test ---------------------------------------------------

type Read = { kind: 'get', key: string, value: string | undefined } | { kind: 'range', gte: string, lt: string, entries: Array<[string, string]> }
interface Committed { name: string, reads: Read[], writes: Array<[string, string | null]> }

/**
 * Replays committed transactions in commit order on a plain Map and returns
 * the first read that differs from what that serial history would have
 * shown, or null: a committed history equals the serial one in commit order.
 */
export function checkSerial (initial: Map<string, string>, history: Committed[]): string | null {
  const model = new Map(initial)
  for (const tx of history) {
    for (const r of tx.reads) {
      if (r.kind === 'get') {
        if (model.get(r.key) !== r.value) return `${tx.name} read ${r.key}=${String(r.value)}, serially it is ${String(model.get(r.key))}`
      } else {
        const want = [...model.entries()].filter(([k]) => k >= r.gte && k < r.lt).sort((a, b) => (a[0] < b[0] ? -1 : 1))
        if (JSON.stringify(want) !== JSON.stringify(r.entries)) return `${tx.name} read range [${r.gte}, ${r.lt}) as ${JSON.stringify(r.entries)}, serially ${JSON.stringify(want)}`
      }
    }
    for (const [k, v] of tx.writes) { if (v === null) model.delete(k); else model.set(k, v) }
  }
  return null
}

t.test('the serial-history checker catches a lost update and a phantom', async (t) => {
  const initial = new Map([['x', '0']])
  t.equal(checkSerial(initial, [
    { name: 'T1', reads: [{ kind: 'get', key: 'x', value: '0' }], writes: [['x', '1']] },
    { name: 'T2', reads: [{ kind: 'get', key: 'x', value: '1' }], writes: [['x', '2']] }
  ]), null, 'a serial history passes')
  t.match(checkSerial(initial, [
    { name: 'T1', reads: [{ kind: 'get', key: 'x', value: '0' }], writes: [['x', '1']] },
    { name: 'T2', reads: [{ kind: 'get', key: 'x', value: '0' }], writes: [['x', '1']] }
  ]), /T2 read x=0/, 'a lost update is caught')
  t.match(checkSerial(initial, [
    { name: 'T1', reads: [{ kind: 'range', gte: 'a', lt: 'z', entries: [['x', '0']] }], writes: [['y', 'new']] },
    { name: 'T2', reads: [{ kind: 'range', gte: 'a', lt: 'z', entries: [['x', '0']] }], writes: [['n', '1']] }
  ]), /T2 read range/, 'a phantom is caught')
})

async function modelRun (t: TapLike, db: MakoLevel, rng: Random): Promise<{ committed: number, conflicts: number }> {
  const keys = ['a', 'b', 'c', 'd', 'e', 'f']
  const initial = new Map(keys.map((k) => [k, '0']))
  await db.batch(keys.map((key) => ({ type: 'put' as const, key, value: '0' })))
  const order: Array<Committed & { ok: boolean }> = []
  let conflicts = 0
  let next = 0

  const one = async (n: number): Promise<void> => {
    const r = new Random(rng.u32())
    const name = `T${n}`
    const tx: Transaction = db.beginTransaction()
    const reads: Read[] = []
    const writes = new Map<string, string | null>()
    for (let step = 0, steps = 1 + r.int(5); step < steps; step++) {
      await pause(r)
      const op = r.int(10)
      if (op < 4) {
        const key = r.pick(keys)
        const value = await tx.get(key)
        // Reads of its own writes are not reads of the database.
        if (!writes.has(key)) reads.push({ kind: 'get', key, value })
      } else if (op < 6) {
        const lo = r.pick(keys)
        const hi = String.fromCharCode(lo.charCodeAt(0) + 1 + r.int(3))
        const entries: Array<[string, string]> = []
        for await (const e of tx.iterator({ gte: lo, lt: hi })) entries.push(e)
        if (![...writes.keys()].some((k) => k >= lo && k < hi)) reads.push({ kind: 'range', gte: lo, lt: hi, entries })
      } else if (op < 9) {
        const key = r.pick(keys)
        const value = `${name}.${step}`
        tx.put(key, value)
        writes.set(key, value)
      } else {
        const key = r.pick(keys)
        tx.del(key)
        writes.set(key, null)
      }
    }
    await pause(r)
    // The commit order is the order of commit() calls: validation and the
    // append to the log happen in the call itself, before it awaits
    // anything, while completions may resolve in another order.
    const entry = { name, reads, writes: [...writes], ok: false }
    order.push(entry)
    try {
      await tx.commit()
      entry.ok = true
    } catch (err) {
      if ((err as { code?: string }).code !== 'MAKO_TRANSACTION_CONFLICT') throw err
      conflicts++
    }
  }
  const workers = Array.from({ length: 12 }, async () => { while (next < 300) await one(next++) })
  // Plain writes race with the transactions too; they commit as one-op
  // transactions with no reads.
  const plain = (async () => {
    for (let i = 0; i < 60; i++) {
      await pause(rng)
      const key = rng.pick(keys)
      const value = `P${i}`
      const entry = { name: `P${i}`, reads: [], writes: [[key, value] as [string, string]], ok: false }
      order.push(entry)
      await db.put(key, value)
      entry.ok = true
    }
  })()
  await Promise.all([...workers, plain])
  const history = order.filter((e) => e.ok)
  const problem = checkSerial(initial, history)
  t.equal(problem, null, `committed history is serial in commit order (seed ${seed})`)
  // And the database ends where the serial history does.
  const model = new Map(initial)
  for (const tx of history) for (const [k, v] of tx.writes) { if (v === null) model.delete(k); else model.set(k, v) }
  t.same(await db.iterator().all(), [...model.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)), 'final state matches')
  return { committed: history.length, conflicts }
}

// The assertions the shared runs use (tap's own types are overloaded).
interface TapLike {
  equal: (...args: any[]) => unknown // eslint-disable-line @typescript-eslint/no-explicit-any
  same: (...args: any[]) => unknown // eslint-disable-line @typescript-eslint/no-explicit-any
  ok: (...args: any[]) => unknown // eslint-disable-line @typescript-eslint/no-explicit-any
}

t.test('model: interleaved transactions commit a serial history (in memory)', async (t) => {
  const db = new MakoLevel({ leafSize: 4, branchSize: 4 })
  const { committed, conflicts } = await modelRun(t, db, new Random(seed))
  t.ok(committed > 100 && conflicts > 0, `${committed} committed, ${conflicts} conflicts`)
})

t.test('model: interleaved transactions commit a serial history (with a location)', async (t) => {
  const db = new MakoLevel(tempDir(t), { leafSize: 4, branchSize: 4 })
  const { committed, conflicts } = await modelRun(t, db, new Random(seed ^ 0x9e3779b9))
  t.ok(committed > 100 && conflicts > 0, `${committed} committed, ${conflicts} conflicts`)
  await db.close()
})

// ---- The bank ---------------------------------------------------------

async function bank (t: TapLike, db: MakoLevel, rng: Random): Promise<void> {
  const accounts = Array.from({ length: 100 }, (_, i) => `acct${String(i).padStart(3, '0')}`)
  await db.batch(accounts.map((key) => ({ type: 'put' as const, key, value: '100' })))
  const total = 100 * 100
  let transfers = 0
  let skipped = 0
  let done = false
  const auditFailures: string[] = []

  // An auditor sums every balance through snapshots while transfers run.
  const auditor = (async () => {
    let audits = 0
    while (!done || audits < 3) {
      const snapshot = db.snapshot()
      let sum = 0
      for (const [, v] of await db.iterator({ snapshot }).all()) {
        sum += Number(v)
        if (Number(v) < 0) auditFailures.push(`negative balance ${v}`)
      }
      await snapshot.close()
      if (sum !== total) auditFailures.push(`snapshot total ${sum}`)
      audits++
      await new Promise((resolve) => setImmediate(resolve))
    }
    return audits
  })()

  let next = 0
  const workers = Array.from({ length: 50 }, async () => {
    const r = new Random(rng.u32())
    while (next < 1000) {
      next++
      const from = r.pick(accounts)
      let to = r.pick(accounts)
      while (to === from) to = r.pick(accounts)
      const amount = 1 + r.int(30)
      // The function may run more than once (retries): it only decides,
      // and what it decided is counted once the transaction is done.
      const moved = await db.transaction(async (tx) => {
        const a = Number(await tx.get(from))
        await pause(r)
        const b = Number(await tx.get(to))
        if (a < amount) return false
        tx.put(from, String(a - amount))
        tx.put(to, String(b + amount))
        return true
      }, { retries: 1000 })
      if (moved) transfers++
      else skipped++
    }
  })
  await Promise.all(workers)
  done = true
  const audits = await auditor
  const balances = (await db.iterator().all()).map(([, v]) => Number(v))
  t.equal(balances.reduce((a, b) => a + b, 0), total, 'the total never changed')
  t.ok(balances.every((b) => b >= 0), 'no balance is negative')
  t.same(auditFailures, [], `${audits} snapshot audits all saw the total`)
  t.equal(transfers + skipped, 1000, `${transfers} transfers made, ${skipped} refused for want of funds`)
}

t.test('bank: 1,000 concurrent transfers between 100 accounts (in memory)', async (t) => {
  await bank(t, new MakoLevel(), new Random(seed + 1))
})

t.test('bank: 1,000 concurrent transfers between 100 accounts (with a location)', async (t) => {
  const db = new MakoLevel(tempDir(t))
  await bank(t, db, new Random(seed + 2))
  await db.close()
})

t.test('reads come from the snapshot of the first read, whatever is written after it', async (t) => {
  const db = new MakoLevel({ leafSize: 4, branchSize: 4 })
  await db.batch(Array.from({ length: 50 }, (_, i) => ({ type: 'put' as const, key: `k${String(i).padStart(2, '0')}`, value: 'old' })))
  const tx = db.beginTransaction()
  t.equal(await tx.get('k00'), 'old', 'the first read takes the snapshot')
  // Writes after it, in place and splitting leaves: the snapshot must hold.
  await db.batch(Array.from({ length: 50 }, (_, i) => ({ type: 'put' as const, key: `k${String(i).padStart(2, '0')}`, value: 'new' })))
  await db.put('k00a', 'inserted')
  await db.del('k49')
  t.equal(await tx.get('k25'), 'old', 'a later read sees the snapshot')
  t.equal(await tx.get('k49'), 'old', 'a key deleted since is still there for it')
  const seen: string[] = []
  for await (const [k, v] of tx.iterator({ gte: 'k00', lt: 'k01' })) seen.push(`${k}=${v}`)
  t.same(seen, ['k00=old'], 'and its range reads too')
  await t.rejects(tx.commit(), { code: 'MAKO_TRANSACTION_CONFLICT' })

  // An iterator cannot outlive its transaction.
  const tx2 = db.beginTransaction()
  const it = tx2.iterator()
  await it.next()
  tx2.rollback()
  await t.rejects(it.next(), { code: 'MAKO_TRANSACTION_NOT_OPEN' })
})
