import t from 'tap'
import { fork, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { LOCK_FILE, lockDirectory } from '../adapters/disk/lock.js'
import { tempDir } from './disk/tmp.js'

const CHILD = fileURLToPath(new URL('./disk/lock-child.js', import.meta.url))
/** A pid no process has: above Linux's pid_max (2^22) and every other platform's. */
const DEAD_PID = 2 ** 30

function isDead (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return false
  } catch (err) {
    return (err as { code?: string }).code === 'ESRCH'
  }
}

/** A child process that tries to lock `dir`; `first` resolves to its first report. */
function child (dir: string): { proc: ChildProcess, first: Promise<string>, next: () => Promise<string> } {
  // Without the test runner's loader hooks (in execArgv and NODE_OPTIONS),
  // which would make each child take a second to start.
  const env = { ...process.env }
  delete env['NODE_OPTIONS']
  const proc = fork(CHILD, [dir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [], env })
  const queue: string[] = []
  const waiters: Array<(s: string) => void> = []
  proc.on('message', (msg: { result: string }) => {
    const w = waiters.shift()
    if (w !== undefined) w(msg.result)
    else queue.push(msg.result)
  })
  proc.on('exit', (code, signal) => {
    for (const w of waiters.splice(0)) w(`exited ${code ?? signal}`)
  })
  const next = (): Promise<string> => {
    const q = queue.shift()
    if (q !== undefined) return Promise.resolve(q)
    return new Promise((resolve) => waiters.push(resolve))
  }
  return { proc, first: next(), next }
}

function exited (proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => proc.once('exit', () => resolve()))
}

t.test('in one process: a second lock of the same directory, by any path, fails with LEVEL_LOCKED', async (t) => {
  const dir = tempDir(t)
  const link = join(dir, '..', `${join(dir).split('/').pop() as string}-link`)
  symlinkSync(dir, link)
  t.teardown(() => { unlinkSync(link) })
  const lock = await lockDirectory(dir)
  t.ok(existsSync(join(dir, LOCK_FILE)), 'a LOCK file exists')
  await t.rejects(lockDirectory(dir), { code: 'LEVEL_LOCKED' })
  await t.rejects(lockDirectory(join(dir, '.')), { code: 'LEVEL_LOCKED' }, 'another spelling')
  await t.rejects(lockDirectory(link), { code: 'LEVEL_LOCKED' }, 'through a symlink')
  await lock.release()
  t.notOk(existsSync(join(dir, LOCK_FILE)), 'release removes it')
  await lock.release() // twice is harmless
  const again = await lockDirectory(dir)
  await again.release()
})

t.test('two locks started in the same tick: exactly one wins', async (t) => {
  const dir = tempDir(t)
  const results = await Promise.allSettled([lockDirectory(dir), lockDirectory(dir), lockDirectory(dir)])
  t.equal(results.filter((r) => r.status === 'fulfilled').length, 1)
  for (const r of results) {
    if (r.status === 'rejected') t.match(r.reason, { code: 'LEVEL_LOCKED' })
    else await r.value.release()
  }
})

t.test('a missing directory is an I/O error, not a lock', async (t) => {
  const dir = tempDir(t)
  await t.rejects(lockDirectory(join(dir, 'nope')), { code: 'MAKO_IO_ERROR' })
})

t.test('across processes: held here, refused there; held there, refused here; released, taken', async (t) => {
  const dir = tempDir(t)
  const mine = await lockDirectory(dir)
  const c1 = child(dir)
  t.equal(await c1.first, 'LEVEL_LOCKED', 'another process cannot lock what this one holds')
  await exited(c1.proc)
  await mine.release()

  const c2 = child(dir)
  t.equal(await c2.first, 'locked', 'the other process locks it once released')
  await t.rejects(lockDirectory(dir), { code: 'LEVEL_LOCKED' }, 'and this one cannot')
  c2.proc.send('release')
  t.equal(await c2.next(), 'released')
  await exited(c2.proc)
  const back = await lockDirectory(dir)
  await back.release()
})

t.test('a lock left by a killed process is stale and taken over', async (t) => {
  const dir = tempDir(t)
  const c = child(dir)
  t.equal(await c.first, 'locked')
  c.proc.kill('SIGKILL')
  await exited(c.proc)
  t.ok(existsSync(join(dir, LOCK_FILE)), 'the LOCK file is left behind')
  const lock = await lockDirectory(dir)
  t.pass('taken over')
  await lock.release()
})

t.test('stale lock files: a dead pid, a reused pid, an old unreadable file; but not a young one or a foreign host', async (t) => {
  const dir = tempDir(t)
  const lockPath = join(dir, LOCK_FILE)
  t.ok(isDead(DEAD_PID), `no process ${DEAD_PID}`)
  const write = (o: object): void => writeFileSync(lockPath, JSON.stringify({ token: 'x', host: hostname(), ...o }))

  write({ pid: DEAD_PID })
  await (await lockDirectory(dir)).release()
  t.pass('dead pid: taken over')

  if (existsSync('/proc/self/stat')) {
    write({ pid: process.ppid, start: '1' }) // alive, but started at another time
    await (await lockDirectory(dir)).release()
    t.pass('reused pid (start time differs): taken over')
  }

  write({ pid: process.ppid }) // alive, no start time to compare
  await t.rejects(lockDirectory(dir), { code: 'LEVEL_LOCKED' }, 'a live pid holds it')

  write({ pid: DEAD_PID, host: 'elsewhere.example' })
  await t.rejects(lockDirectory(dir), { code: 'LEVEL_LOCKED' }, 'a lock from another host is never judged stale')

  writeFileSync(lockPath, '')
  await t.rejects(lockDirectory(dir), { code: 'LEVEL_LOCKED' }, 'a young empty lock file is being written: held')
  const old = (Date.now() - 60_000) / 1000
  utimesSync(lockPath, old, old)
  await (await lockDirectory(dir)).release()
  t.pass('an old empty lock file: taken over')
})

t.test('several processes racing for the same stale lock: exactly one wins', async (t) => {
  const dir = tempDir(t)
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: DEAD_PID, token: 'stale', host: hostname() }))
  const racers = Array.from({ length: 3 }, () => child(dir))
  const results = await Promise.all(racers.map((r) => r.first))
  t.equal(results.filter((r) => r === 'locked').length, 1, `one winner: ${results.join(', ')}`)
  t.equal(results.filter((r) => r === 'LEVEL_LOCKED').length, 2, 'the others are refused')
  for (const [i, r] of racers.entries()) {
    if (results[i] === 'locked') {
      r.proc.send('release')
      await r.next()
    }
    await exited(r.proc)
  }
})
