// Column families, deleteRange and the maintenance calls: the RocksDB-style
// surface of MakoLevel, in memory and with a location.
import t from 'tap'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MakoLevel } from '../adapters/level/mako-level.js'
import { runComplianceSuite, type TapTest } from './compliance/tape-adapter.js'

function tempDir (t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'mako-cf-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

t.test('a column family handle is a full abstract-level database (the compliance suite)', async (t) => {
  const stats = await runComplianceSuite(t as unknown as TapTest, (options) => new MakoLevel().columnFamily('cf', options as object), 'column family handle')
  t.equal(stats.failures, 0, `${stats.tests} tests, ${stats.assertions} assertions`)
})

t.test('families are separate key spaces; batches across them are atomic', async (t) => {
  const db = new MakoLevel()
  const users = db.columnFamily('users', { valueEncoding: 'json' })
  await users.open()
  await db.put('k', 'default')
  await users.put('k', { name: 'ada' } as never)
  t.equal(await db.get('k'), 'default')
  t.same(await users.get('k'), { name: 'ada' })
  t.same(await db.listColumnFamilies(), ['default', 'users'])

  await db.batch([
    { type: 'put', key: 'a', value: '1' },
    { type: 'put', key: 'b', value: '{"n":2}', columnFamily: users } as never,
    { type: 'del', key: 'k', columnFamily: 'users' } as never
  ])
  t.equal(await db.get('a'), '1')
  t.same(await users.get('b'), { n: 2 })
  t.equal(await users.get('k'), undefined)

  // A batch naming a family that does not exist fails whole.
  await t.rejects(db.batch([
    { type: 'put', key: 'x', value: '1' },
    { type: 'put', key: 'y', value: '1', columnFamily: 'nope' } as never
  ]), { code: 'MAKO_COLUMN_FAMILY_NOT_FOUND' })
  t.equal(await db.get('x'), undefined, 'nothing of the failed batch was written')

  // Chained batches take the option too.
  await db.batch().put('c', '3').put('d', '"4"', { columnFamily: users } as never).write()
  t.same(await users.get('d'), '4')

  // One snapshot covers every family.
  const snapshot = db.snapshot()
  await db.put('a', 'changed')
  await users.put('b', { n: 99 } as never)
  t.equal(await db.get('a', { snapshot }), '1')
  t.same(await users.get('b', { snapshot }), { n: 2 })
  t.same(await users.iterator({ snapshot }).all(), [['b', { n: 2 }], ['d', '4']])
  await snapshot.close()

  // Sublevels work inside a family.
  const sub = users.sublevel<string, unknown>('s', { valueEncoding: 'json' })
  await sub.put('x', { deep: true })
  t.same(await sub.get('x'), { deep: true })
  await db.close()
  t.equal(users.status, 'closed', 'closing the database closes its handles')
})

t.test('create, drop, createIfMissing', async (t) => {
  const db = new MakoLevel()
  await db.open()
  await db.createColumnFamily('logs')
  await t.rejects(db.createColumnFamily('logs'), { code: 'MAKO_COLUMN_FAMILY_EXISTS' })
  const missing = db.columnFamily('ghost', { createIfMissing: false })
  await t.rejects(missing.open(), { cause: { code: 'MAKO_COLUMN_FAMILY_NOT_FOUND' } })
  const logs = db.columnFamily('logs')
  await logs.put('1', 'one')
  await db.dropColumnFamily('logs')
  t.same(await db.listColumnFamilies(), ['default'])
  await t.rejects(logs.put('2', 'two'), { code: 'MAKO_COLUMN_FAMILY_DROPPED' })
  await t.rejects(db.dropColumnFamily('default'), { code: 'LEVEL_INVALID_VALUE' })
  t.throws(() => db.columnFamily(''), { code: 'LEVEL_INVALID_VALUE' })
  // A new family of the same name starts empty.
  const again = db.columnFamily('logs')
  t.same(await again.iterator().all(), [])
  await db.close()
})

t.test('families persist across reopen; a dropped one is gone from disk after a checkpoint', async (t) => {
  const dir = tempDir(t)
  let db = new MakoLevel(dir)
  let a = db.columnFamily('a')
  const b = db.columnFamily('b')
  await a.put('k', 'in a')
  await b.put('k', 'in b')
  await db.batch([{ type: 'put', key: 'k', value: 'in default' }, { type: 'put', key: 'j', value: 'a too', columnFamily: a } as never])
  await db.close()

  db = new MakoLevel(dir)
  await db.open()
  t.same(await db.listColumnFamilies(), ['default', 'a', 'b'])
  a = db.columnFamily('a', { createIfMissing: false })
  t.same(await a.iterator().all(), [['j', 'a too'], ['k', 'in a']])
  t.equal(await db.columnFamily('b').get('k'), 'in b')
  t.equal(await db.get('k'), 'in default')
  await db.dropColumnFamily('b')
  await db.compactRange()
  await db.close()

  db = new MakoLevel(dir)
  await db.open()
  t.same(await db.listColumnFamilies(), ['default', 'a'], 'the drop persisted')
  t.equal(await db.columnFamily('b').get('k'), undefined, 'a family made anew under the old name is empty')
  await db.close()
})

t.test('deleteRange: alone, in a chained batch and in an array batch, atomic with the rest', async (t) => {
  const db = new MakoLevel()
  const keys = Array.from({ length: 20 }, (_, i) => `k${String(i).padStart(2, '0')}`)
  await db.batch(keys.map((key) => ({ type: 'put' as const, key, value: 'v' })))
  await db.deleteRange('k00', 'k05')
  t.same((await db.keys().all()).slice(0, 2), ['k05', 'k06'])
  await db.batch().deleteRange('k05', 'k10').put('z', 'last').write()
  t.same((await db.keys().all()).slice(0, 1), ['k10'])
  t.equal(await db.get('z'), 'last')
  await db.batch([
    { type: 'put', key: 'a', value: 'first' },
    { type: 'deleteRange', gte: 'k10', lt: 'k15' } as never,
    { type: 'del', key: 'k19' }
  ])
  t.same(await db.keys().all(), ['a', 'k15', 'k16', 'k17', 'k18', 'z'])
  const cf = db.columnFamily('cf')
  await cf.batch([{ type: 'put', key: 'x1', value: '1' }, { type: 'put', key: 'x2', value: '2' }])
  await db.deleteRange('x0', 'x9', { columnFamily: cf })
  t.same(await cf.keys().all(), [])
  t.same(await db.keys().all(), ['a', 'k15', 'k16', 'k17', 'k18', 'z'], 'other families untouched')
})

t.test('deleteRange survives reopen', async (t) => {
  const dir = tempDir(t)
  let db = new MakoLevel(dir, { checkpointLogBytes: 1 << 30 })
  await db.batch(Array.from({ length: 10 }, (_, i) => ({ type: 'put' as const, key: `k${i}`, value: 'v' })))
  await db.batch().deleteRange('k2', 'k8').write()
  await db.close()
  db = new MakoLevel(dir)
  t.same(await db.keys().all(), ['k0', 'k1', 'k8', 'k9'])
  await db.close()
})

t.test('getProperty, approximateSize, compactRange, checkpoint(dir), readOnly', async (t) => {
  const dir = tempDir(t)
  const db = new MakoLevel(join(dir, 'db'), { checkpointLogBytes: 1 << 30 })
  await db.batch(Array.from({ length: 100 }, (_, i) => ({ type: 'put' as const, key: `k${String(i).padStart(3, '0')}`, value: 'x'.repeat(10) })))
  t.equal(db.getProperty('rocksdb.estimate-num-keys'), '100')
  t.equal(db.getProperty('mako.estimate-live-data-size'), String(100 * (4 + 10)))
  t.ok(Number(db.getProperty('rocksdb.cur-size-all-mem-tables')) >= 1400)
  t.ok(Number(db.getProperty('mako.log-size')) > 1400, 'the log holds the batch')
  t.equal(db.getProperty('rocksdb.num-snapshots'), '0')
  const snap = db.snapshot()
  t.equal(db.getProperty('rocksdb.num-snapshots'), '1')
  await snap.close()
  t.equal(db.getProperty('rocksdb.num-snapshots'), '0')
  t.equal(db.getProperty('nonsense'), undefined)
  t.equal(await db.approximateSize('k000', 'k010'), 10 * 14)
  t.equal(await db.approximateSize('k050', 'z'), 50 * 14)

  // A checkpoint copy while writes go on is a database of its own.
  const copyDir = join(dir, 'copy')
  const copying = db.checkpoint(copyDir)
  await db.put('after', 'not in the copy')
  await copying
  await t.rejects(db.checkpoint(copyDir), { code: 'MAKO_DIRECTORY_NOT_EMPTY' })
  await db.compactRange()
  t.same(readdirSync(join(dir, 'db', 'checkpoints')).filter((f) => f.endsWith('.ckpt')).length, 1, 'compactRange wrote a checkpoint')
  await db.close()

  const copy = new MakoLevel(copyDir)
  const keys = await copy.keys().all()
  t.equal(keys.length, 100, 'the copy holds the 100 keys')
  t.notOk(keys.includes('after'), 'and not the write that came after it')
  await copy.close()

  const ro = new MakoLevel(join(dir, 'db'), { readOnly: true })
  t.equal(await ro.get('after'), 'not in the copy')
  await t.rejects(ro.put('x', 'y'), { code: 'MAKO_READ_ONLY' })
  await ro.close()
})
