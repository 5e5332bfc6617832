// Request deadlines share one timer: they fire on time, in order, skip what
// settled, and keep memory proportional to what still waits.
import t from 'tap'
import { DeadlineQueue } from '../cluster/transport/deadlines.js'
import { ManualClock } from './transport/fake.js'

interface Entry { name: string, done: boolean }

function queue (clock: ManualClock, expired: string[]): DeadlineQueue<Entry> {
  return new DeadlineQueue<Entry>(clock, (e) => !e.done, (e) => {
    e.done = true
    expired.push(`${e.name}@${clock.now()}`)
  })
}

t.test('entries expire at their deadlines, across timeouts', async (t) => {
  const clock = new ManualClock()
  const expired: string[] = []
  const q = queue(clock, expired)
  q.add({ name: 'a', done: false }, 100)
  clock.advance(10)
  q.add({ name: 'b', done: false }, 30)
  q.add({ name: 'c', done: false }, 100)
  t.equal(clock.timers.size, 1, 'one timer for all of them')
  for (let i = 0; i < 12; i++) clock.advance(10)
  t.strictSame(expired, ['b@40', 'a@100', 'c@110'], 'each at its own deadline')
  t.equal(clock.timers.size, 0, 'no timer left once nothing waits')
})

t.test('settled entries never expire and do not pile up', async (t) => {
  const clock = new ManualClock()
  const expired: string[] = []
  const q = queue(clock, expired)
  const stuck = { name: 'stuck', done: false }
  q.add(stuck, 1000)
  for (let i = 0; i < 100_000; i++) {
    const entry = { name: `e${i}`, done: false }
    q.add(entry, 1000)
    entry.done = true
  }
  t.ok(q.held < 3000, `memory stays bounded: ${q.held} entries held for 1 waiting behind 100,000 settled`)
  clock.advance(1000)
  t.strictSame(expired, ['stuck@1000'], 'only the entry still waiting expired')
  q.add({ name: 'late', done: false }, 5)
  q.clear()
  clock.advance(10)
  t.strictSame(expired, ['stuck@1000'], 'clear drops everything')
})
