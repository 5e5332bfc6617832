// abstract-level's compliance suite against MakoLevel with a location: the
// write-ahead log and checkpoints underneath, permanence on, each database
// in a fresh directory.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MakoLevel } from '../adapters/level/mako-level.js'
import { runComplianceSuite, type TapTest } from './compliance/tape-adapter.js'

const tap = t as unknown as TapTest
const root = mkdtempSync(join(tmpdir(), 'mako-compliance-'))
t.teardown(() => { rmSync(root, { recursive: true, force: true }) })
let n = 0

const stats = await runComplianceSuite(tap, (options) => new MakoLevel(join(root, String(n++)), { ...options }), 'MakoLevel with a location')
t.equal(stats.failures, 0, `persistent MakoLevel: ${stats.tests} tests, ${stats.assertions} assertions, none failed`)
t.ok(stats.assertions > 4000, `the whole suite ran (${stats.assertions} assertions)`)
