// Reads tap's output and prints its totals as one plain line:
// "N passed, N failed". tap ends a non-TTY run with "# { total, pass, fail }".
import { readFileSync } from 'node:fs'

const text = readFileSync(process.argv[2] ?? 0, 'utf8').replace(/\x1b\[[0-9;]*m/g, '')
const lines = text.split('\n').filter((line) => /^# \{ total: \d+/.test(line))
const last = lines.at(-1)
if (last === undefined) {
  console.log('0 passed, 1 failed')
  process.exitCode = 1
} else {
  const field = (name) => Number((new RegExp(`${name}: (\\d+)`).exec(last) ?? [])[1] ?? 0)
  const total = field('total')
  const pass = field('pass')
  const skip = field('skip')
  const todo = field('todo')
  const failed = Math.max(0, total - pass - skip - todo)
  console.log(`${pass} passed, ${failed} failed` + (skip > 0 ? `, ${skip} skipped` : ''))
}
