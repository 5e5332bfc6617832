/**
 * A file system for tests: the real one, with every call counted and
 * logged, one call made to fail (or to write short and then fail), and
 * calls that can be held back until a test releases them.
 *
 * @internal
 */

import { nodeFileSystem, type FileMapper, type FileSystem } from '../../adapters/disk/fs.js'

/** Names of the calls of a FileSystem. @internal */
export type FsOp = keyof FileSystem

/** A platform-like error with a `code`, as Node's fs raises them. @internal */
export function errnoError (code: string, op: string): Error {
  return Object.assign(new Error(`${code}: injected failure of ${op}`), { code, errno: -28, syscall: op })
}

/** @internal */
export class FaultyFs implements FileSystem {
  /** Every call, in order, with the path it concerns. */
  readonly calls: Array<{ op: FsOp, path: string }> = []
  /** The call index (into `calls`) that fails, or -1. */
  failAt = -1
  /** How it fails: an error with this code, or a short write followed by that error on the next write. */
  failCode = 'ENOSPC'
  shortWrite = false
  /** Whether the injected failure has happened. */
  fired = false
  /** Calls of these ops wait for `release()` before running. */
  readonly gated = new Set<FsOp>()
  private gateWaiters: Array<() => void> = []
  private failNextWrite = false
  private readonly paths = new Map<number, string>()

  /**
   * The inner file system's mapper, if it has one, with `map` counted and
   * failing (`ENOMEM`) like any other call; `unmap` is passed through.
   */
  readonly mapping?: FileMapper

  constructor (private readonly inner: FileSystem = nodeFileSystem) {
    const mapper = inner.mapping
    if (mapper !== undefined) {
      this.mapping = {
        pageBytes: mapper.pageBytes,
        map: (fd, offset, length) => {
          if (this.hit('mapping', this.pathOf(fd))) throw errnoError('ENOMEM', 'mmap')
          return mapper.map(fd, offset, length)
        },
        unmap: (view) => { mapper.unmap(view) }
      }
    }
  }

  /** How many calls of `op` were made. */
  count (op: FsOp): number {
    let n = 0
    for (const c of this.calls) if (c.op === op) n++
    return n
  }

  /** Lets every held call run. */
  release (): void {
    const waiters = this.gateWaiters
    this.gateWaiters = []
    for (const w of waiters) w()
  }

  /** Calls being held. */
  get held (): number {
    return this.gateWaiters.length
  }

  private hit (op: FsOp, path: string): boolean {
    const i = this.calls.length
    this.calls.push({ op, path })
    if (i === this.failAt) {
      this.fired = true
      return true
    }
    return false
  }

  private async gate (op: FsOp): Promise<void> {
    if (this.gated.has(op)) await new Promise<void>((resolve) => { this.gateWaiters.push(resolve) })
  }

  private pathOf (fd: number): string {
    return this.paths.get(fd) ?? `fd ${fd}`
  }

  async open (path: string, flags: 'r' | 'r+' | 'w' | 'w+' | 'wx'): Promise<number> {
    if (this.hit('open', path)) throw errnoError(this.failCode, 'open')
    await this.gate('open')
    const fd = await this.inner.open(path, flags)
    this.paths.set(fd, path)
    return fd
  }

  async close (fd: number): Promise<void> {
    const path = this.pathOf(fd)
    this.paths.delete(fd)
    if (this.hit('close', path)) {
      await this.inner.close(fd)
      throw errnoError(this.failCode, 'close')
    }
    await this.inner.close(fd)
  }

  async read (fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    if (this.hit('read', this.pathOf(fd))) throw errnoError(this.failCode === 'ENOSPC' ? 'EIO' : this.failCode, 'read')
    await this.gate('read')
    return await this.inner.read(fd, buffer, offset, length, position)
  }

  /** A write that fails, writes short, or writes. */
  private writeFault (fd: number, length: number): number | undefined {
    const failNow = this.hit('write', this.pathOf(fd))
    if (this.failNextWrite) {
      this.failNextWrite = false
      throw errnoError(this.failCode, 'write')
    }
    if (!failNow) return undefined
    if (this.shortWrite && length > 1) {
      this.failNextWrite = true
      return Math.floor(length / 2)
    }
    throw errnoError(this.failCode, 'write')
  }

  async write (fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const short = this.writeFault(fd, length)
    await this.gate('write')
    return await this.inner.write(fd, buffer, offset, short ?? length, position)
  }

  writeSync (fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number {
    const short = this.writeFault(fd, length)
    return this.inner.writeSync(fd, buffer, offset, short ?? length, position)
  }

  async fdatasync (fd: number): Promise<void> {
    if (this.hit('fdatasync', this.pathOf(fd))) throw errnoError(this.failCode === 'ENOSPC' ? 'EIO' : this.failCode, 'fdatasync')
    await this.gate('fdatasync')
    await this.inner.fdatasync(fd)
  }

  async ftruncate (fd: number, length: number): Promise<void> {
    if (this.hit('ftruncate', this.pathOf(fd))) throw errnoError(this.failCode === 'ENOSPC' ? 'EIO' : this.failCode, 'ftruncate')
    await this.inner.ftruncate(fd, length)
  }

  async size (fd: number): Promise<number> {
    if (this.hit('size', this.pathOf(fd))) throw errnoError('EIO', 'fstat')
    return await this.inner.size(fd)
  }

  async readdir (path: string): Promise<string[]> {
    if (this.hit('readdir', path)) throw errnoError('EIO', 'readdir')
    return await this.inner.readdir(path)
  }

  async mkdir (path: string): Promise<void> {
    if (this.hit('mkdir', path)) throw errnoError(this.failCode, 'mkdir')
    await this.inner.mkdir(path)
  }

  async rename (from: string, to: string): Promise<void> {
    if (this.hit('rename', to)) throw errnoError(this.failCode, 'rename')
    await this.inner.rename(from, to)
  }

  async unlink (path: string): Promise<void> {
    if (this.hit('unlink', path)) throw errnoError('EIO', 'unlink')
    await this.inner.unlink(path)
  }

  async syncDir (path: string): Promise<void> {
    if (this.hit('syncDir', path)) throw errnoError('EIO', 'fsync')
    await this.gate('syncDir')
    await this.inner.syncDir(path)
  }
}

/**
 * The real file system without fdatasync and directory syncs: for tests that
 * damage files by hand and reopen them thousands of times, where a real
 * fsync per reopen would cost seconds and tests nothing they check.
 *
 * @internal
 */
export const noSyncFs: FileSystem = {
  ...nodeFileSystem,
  fdatasync: async () => {},
  syncDir: async () => {}
}
