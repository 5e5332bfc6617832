/**
 * A directory lock, so a database directory is opened by one owner at a
 * time: a second open of the same location, from this process or another,
 * fails with `LEVEL_LOCKED`.
 *
 * Node has no `flock`, so the lock is a file, `LOCK`, created with `O_EXCL`
 * and holding the owner's pid, its start time (from `/proc` where there is
 * one), its host name and a random token. Within a process a set of held
 * directories (by real path) answers first, synchronously, so two opens in
 * the same tick cannot both pass.
 *
 * A `LOCK` whose owner is gone (a crash, `kill -9`) is stale and taken over:
 * the owner is gone when `process.kill(pid, 0)` says no such process, or
 * when a process with that pid exists but started at another time (the pid
 * was reused). A lock from another host, or one that cannot be read, is
 * never judged stale, except an empty or unreadable `LOCK` older than
 * {@link STALE_UNREADABLE_LOCK_MS} (an owner that died between creating and
 * writing it). Taking over is itself guarded by a second `O_EXCL` file,
 * `LOCK.break`, so two processes that find the same stale lock cannot both
 * win.
 *
 * Worker threads share their process's pid but not this module's state: a
 * lock held by another thread of this process is reported as held.
 *
 * @module
 */

import { randomBytes } from 'node:crypto'
import { readFileSync, realpathSync } from 'node:fs'
import * as fsp from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { MakoError } from '../../lib/errors.js'
import { errnoCode } from './fs.js'

/** The lock file's name in the locked directory. */
export const LOCK_FILE = 'LOCK'
/** How old an empty or unreadable lock file must be to count as stale, in ms. */
export const STALE_UNREADABLE_LOCK_MS = 10_000
/** Attempts at taking a stale lock over before giving up with `LEVEL_LOCKED`. */
const MAX_TAKEOVER_ATTEMPTS = 20

/** A held directory lock. */
export interface DirectoryLock {
  /** The locked directory (its real path). */
  readonly dir: string
  /** Releases the lock: removes `LOCK` if it is still ours. Idempotent. */
  release (): Promise<void>
}

/** What a lock file says about its owner. */
interface Owner {
  pid: number
  start: string | undefined
  host: string
  token: string
}

/** Directories locked by this process (this module instance), by real path. */
const held = new Set<string>()

/** This process's start time in clock ticks since boot, from /proc; undefined without /proc. */
function startTimeOf (pid: number | 'self'): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may hold spaces and parentheses: count
    // fields from the last ')'. starttime is field 22, the 20th after it.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
  } catch {
    return undefined
  }
}

const self: Omit<Owner, 'token'> = { pid: process.pid, start: startTimeOf('self'), host: hostname() }

function parseOwner (text: string): Owner | undefined {
  try {
    const o = JSON.parse(text) as Partial<Owner>
    if (typeof o.pid !== 'number' || typeof o.token !== 'string' || typeof o.host !== 'string') return undefined
    return { pid: o.pid, start: typeof o.start === 'string' ? o.start : undefined, host: o.host, token: o.token }
  } catch {
    return undefined
  }
}

/** Whether the owner of a lock from this host is certainly gone. */
function ownerIsGone (owner: Owner): boolean {
  if (owner.host !== self.host) return false
  if (owner.pid === process.pid) return owner.start !== undefined && self.start !== undefined && owner.start !== self.start
  try {
    process.kill(owner.pid, 0)
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return errnoCode(err) === 'ESRCH'
  }
  if (owner.start === undefined) return false
  const start = startTimeOf(owner.pid)
  return start !== undefined && start !== owner.start
}

function locked (dir: string, owner: Owner | undefined): MakoError {
  const who = owner === undefined ? 'another owner' : `process ${owner.pid} on ${owner.host}`
  return new MakoError(`${dir} is locked by ${who}`, 'LEVEL_LOCKED')
}

async function readLock (path: string): Promise<{ owner: Owner | undefined, ageMs: number } | undefined> {
  try {
    const [text, st] = await Promise.all([fsp.readFile(path, 'utf8'), fsp.stat(path)])
    return { owner: parseOwner(text), ageMs: Date.now() - st.mtimeMs }
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined
    throw err
  }
}

/** Creates LOCK with O_EXCL and our details; false if it exists. */
async function tryCreate (path: string, owner: Owner): Promise<boolean> {
  let handle: fsp.FileHandle
  try {
    handle = await fsp.open(path, 'wx')
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') return false
    throw err
  }
  try {
    await handle.writeFile(JSON.stringify(owner) + '\n')
  } catch (err) {
    await handle.close().catch(() => {})
    await fsp.unlink(path).catch(() => {})
    throw err
  }
  await handle.close()
  return true
}

/**
 * Removes a stale LOCK, if it still is the one judged stale (same token, or
 * still unreadable), under the `LOCK.break` guard. Returns false when
 * another process is breaking it right now.
 */
async function breakStale (lockPath: string, judged: Owner | undefined): Promise<boolean> {
  const guard = lockPath + '.break'
  if (!await tryCreate(guard, { ...self, token: randomBytes(8).toString('hex') })) {
    // A breaker that died inside this short section leaves its guard behind.
    const st = await fsp.stat(guard).catch(() => undefined)
    if (st !== undefined && Date.now() - st.mtimeMs > STALE_UNREADABLE_LOCK_MS) await fsp.unlink(guard).catch(() => {})
    return false
  }
  try {
    const now = await readLock(lockPath)
    // Still the very lock judged stale? A fresh one (someone else broke the
    // old one and took the directory meanwhile) must be left alone.
    const same = now !== undefined && (judged === undefined
      ? now.owner === undefined && now.ageMs > STALE_UNREADABLE_LOCK_MS
      : now.owner?.token === judged.token)
    if (same) await fsp.unlink(lockPath)
  } finally {
    await fsp.unlink(guard).catch(() => {})
  }
  return true
}

/**
 * Locks directory `dir`, which must exist.
 *
 * @param dir The database directory.
 * @returns The held lock; call `release()` when closing.
 * @throws `LEVEL_LOCKED` when this process or a live one holds it;
 *   `MAKO_IO_ERROR` when the directory or the lock file cannot be used.
 */
export async function lockDirectory (dir: string): Promise<DirectoryLock> {
  let real: string
  try {
    real = realpathSync(dir)
  } catch (err) {
    throw new MakoError(`cannot lock ${dir}: ${(err as Error).message}`, 'MAKO_IO_ERROR', { cause: err })
  }
  // Synchronously, before any await: two opens in one tick must not both pass.
  if (held.has(real)) throw new MakoError(`${dir} is already open in this process`, 'LEVEL_LOCKED')
  held.add(real)
  const lockPath = join(real, LOCK_FILE)
  const owner: Owner = { ...self, token: randomBytes(16).toString('hex') }
  try {
    for (let attempt = 0; ; attempt++) {
      if (await tryCreate(lockPath, owner)) break
      const found = await readLock(lockPath)
      if (found === undefined) continue // released between our two calls
      const stale = found.owner === undefined
        ? found.ageMs > STALE_UNREADABLE_LOCK_MS
        : ownerIsGone(found.owner)
      if (!stale || attempt >= MAX_TAKEOVER_ATTEMPTS) throw locked(dir, found.owner)
      if (!await breakStale(lockPath, found.owner)) {
        await new Promise((resolve) => setTimeout(resolve, 5 + attempt * 5))
      }
    }
  } catch (err) {
    held.delete(real)
    if (err instanceof MakoError) throw err
    throw new MakoError(`cannot lock ${dir}: ${(err as Error).message}`, 'MAKO_IO_ERROR', { cause: err })
  }
  let released = false
  return {
    dir: real,
    async release () {
      if (released) return
      released = true
      try {
        const now = await readLock(lockPath)
        if (now?.owner?.token === owner.token) await fsp.unlink(lockPath)
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') {
          throw new MakoError(`cannot release the lock of ${dir}`, 'MAKO_IO_ERROR', { cause: err })
        }
      } finally {
        held.delete(real)
      }
    }
  }
}
