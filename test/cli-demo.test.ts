// `mako demo` (the tour of the embedded store) works end to end: in-process
// for its table, and as a real process for its exit codes.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Writable } from 'node:stream'
import { runDemo } from '../bin/demo.js'

t.test('the demo loads, reads, scans and reports', async (t) => {
  let text = ''
  const out = new Writable({ write (chunk: Buffer, _enc, done) { text += chunk.toString(); done() } })
  const rows = await runDemo({ entries: 5000, out })
  t.same(rows.map((r) => r.step), [
    'load, batches of 1,000', 'awaited get', 'getSync', 'full scan, nextv(1000)',
    'overwrite while a snapshot is open', 'range reads of 100 entries'
  ])
  t.match(text, /scanned 5,000 entries in key order/)
  t.match(text, /reads 100 bytes through the snapshot and 3 bytes now/)
  t.match(text, /loading: 5,000\/5,000/)
})

t.test('the command line answers help, rejects bad input', async (t) => {
  const bin = fileURLToPath(new URL('../bin/mako.js', import.meta.url))
  const help = spawnSync(process.execPath, [bin, 'help'], { encoding: 'utf8', timeout: 30_000 })
  t.equal(help.status, 0)
  t.match(help.stdout, /usage: mako/)
  const bad = spawnSync(process.execPath, [bin, 'frobnicate'], { encoding: 'utf8', timeout: 30_000 })
  t.equal(bad.status, 2)
  t.match(bad.stderr, /unknown command 'frobnicate'/)
  const badN = spawnSync(process.execPath, [bin, 'demo', '--entries', 'lots'], { encoding: 'utf8', timeout: 30_000 })
  t.equal(badN.status, 2)
  t.match(badN.stderr, /--entries takes a positive whole number/)
  const run = spawnSync(process.execPath, [bin, 'demo', '--entries', '3000'], { encoding: 'utf8', timeout: 60_000 })
  t.equal(run.status, 0)
  t.match(run.stdout, /range reads of 100 entries/)
})
