// abstract-level's compliance suite against memory-level, once per store
// encoding. memory-level is the reference implementation of abstract-level 3:
// this proves the tap adapter (every assertion passes under it), and the same
// adapter then runs the suite against MakoLevel.
import t from 'tap'
import { MemoryLevel } from 'memory-level'
import { runComplianceSuite, type TapTest } from './compliance/tape-adapter.js'

const tap = t as unknown as TapTest

for (const storeEncoding of ['buffer', 'view', 'utf8'] as const) {
  const stats = await runComplianceSuite(tap, (options) => new MemoryLevel({ ...options, storeEncoding }), `memory-level (storeEncoding ${storeEncoding})`)
  t.equal(stats.failures, 0, `memory-level ${storeEncoding}: ${stats.tests} tests, ${stats.assertions} assertions, none failed`)
  t.ok(stats.assertions > 4000, `memory-level ${storeEncoding}: the whole suite ran (${stats.assertions} assertions)`)
}
