// Crash safety: 20 SIGKILLs at random moments while a child process writes
// batches; after each, every acknowledged batch is present and none is
// partial. `npm run soak` runs 500.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { crashRounds } from './durable/crash-harness.js'
import { testSeed } from './util/random.js'

t.test('no acknowledged write is lost and no batch is partial across 20 kills', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mako-crash-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const seed = testSeed()
  t.comment(`seed ${seed}`)
  let lastRecovered = 0
  await crashRounds(dir, 20, seed, (i, round) => {
    if (round.problems.length > 0) t.fail(`round ${i} (seed ${seed}): ${round.problems.slice(0, 5).join('; ')}`)
    lastRecovered = round.recoveredLast
  })
  t.ok(lastRecovered > 20, `the writer made progress across rounds (${lastRecovered} batches)`)
})
