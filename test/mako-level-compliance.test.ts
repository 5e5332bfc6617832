// abstract-level's compliance suite against the in-memory MakoLevel, with
// each memory-level store encoding it accepts, and with the smallest tree
// fanout so splits, merges and multi-leaf scans happen in every test.
import t from 'tap'
import { MakoLevel } from '../adapters/level/mako-level.js'
import { runComplianceSuite, type TapTest } from './compliance/tape-adapter.js'

const tap = t as unknown as TapTest

const variants = [
  ['default', {}],
  ['storeEncoding view, fanout 4', { storeEncoding: 'view', leafSize: 4, branchSize: 4 }]
] as const

for (const [name, extra] of variants) {
  const stats = await runComplianceSuite(tap, (options) => new MakoLevel({ ...options, ...extra }), `MakoLevel (${name})`)
  t.equal(stats.failures, 0, `MakoLevel ${name}: ${stats.tests} tests, ${stats.assertions} assertions, none failed`)
  t.ok(stats.assertions > 4000, `MakoLevel ${name}: the whole suite ran (${stats.assertions} assertions)`)
}
