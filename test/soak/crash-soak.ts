// `npm run soak`: the crash test at length (500 kills by default; --rounds N).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { crashRounds } from '../durable/crash-harness.js'

const at = process.argv.indexOf('--rounds')
const rounds = at >= 0 ? Number(process.argv[at + 1]) : 500
const seed = Number(process.env['SEED'] ?? Date.now() % 1_000_000)
const dir = mkdtempSync(join(tmpdir(), 'mako-soak-'))
let failures = 0
const started = Date.now()
try {
  await crashRounds(dir, rounds, seed, (i, round) => {
    if (round.problems.length > 0) {
      failures++
      console.log(`round ${i}: ${round.problems.join('; ')}`)
    }
    if ((i + 1) % 25 === 0 || i + 1 === rounds) {
      console.log(`${i + 1}/${rounds} kills, ${round.recoveredLast} batches recovered, ${failures} rounds with problems`)
    }
  })
} finally {
  rmSync(dir, { recursive: true, force: true })
}
console.log(`seed ${seed}: ${rounds} kills in ${((Date.now() - started) / 1000).toFixed(0)} s, ${failures} with lost or partial batches`)
console.log(`${rounds - failures} passed, ${failures} failed`)
process.exitCode = failures === 0 ? 0 : 1
