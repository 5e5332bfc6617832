/**
 * A file system in memory that models what a power loss keeps, for tests
 * that reopen logs thousands of times (no syscalls) and for crash tests.
 *
 * The model, deliberately pessimistic within what POSIX file systems do:
 * - a file's bytes reach stable storage only through `fdatasync` on it;
 * - a name (created, renamed, removed) reaches stable storage only through
 *   `syncDir` on its directory;
 * - at a crash, each file keeps its synced bytes plus, at the crash's
 *   choice, nothing, all, or a prefix of what was written after them
 *   (writes land in order here: holes are not modelled).
 *
 * @internal
 */

import { dirname, resolve } from 'node:path'
import type { FileMapper, FileSystem } from '../../adapters/disk/fs.js'
import type { Random } from '../util/random.js'

interface Inode {
  data: Uint8Array
  size: number
  /** Bytes as of the last fdatasync. */
  synced: Uint8Array
  /** Views of it handed out by `mapping.map` and not unmapped. */
  maps: number
}

function errno (code: string, op: string, path: string): Error {
  return Object.assign(new Error(`${code}: ${op} '${path}'`), { code, syscall: op, path })
}

/** @internal */
export class MemoryFs implements FileSystem {
  private readonly names = new Map<string, Inode>()
  /** Names as of each directory's last syncDir. */
  private readonly durableNames = new Map<string, Inode>()
  private readonly dirs = new Set<string>(['/'])
  private readonly fds = new Map<number, { path: string, inode: Inode }>()
  private nextFd = 3

  /** Puts a file in place, durable, as if written and synced long ago. */
  seed (path: string, bytes: Uint8Array): void {
    const p = resolve(path)
    this.addDir(dirname(p))
    const inode: Inode = { data: bytes.slice(), size: bytes.length, synced: bytes.slice(), maps: 0 }
    this.names.set(p, inode)
    this.durableNames.set(p, inode)
  }

  /** A file's current bytes, or undefined. */
  file (path: string): Uint8Array | undefined {
    const inode = this.names.get(resolve(path))
    return inode === undefined ? undefined : inode.data.slice(0, inode.size)
  }

  /** Current file paths, sorted. */
  list (): string[] {
    return [...this.names.keys()].sort()
  }

  /**
   * What a power loss leaves: a new MemoryFs holding durable names, each
   * file with its synced bytes and, per `rng`, none, all or a prefix of the
   * bytes written since.
   */
  crash (rng: Random): MemoryFs {
    const after = new MemoryFs()
    for (const d of this.dirs) after.dirs.add(d)
    for (const [path, inode] of this.durableNames) {
      const current = inode.data.subarray(0, inode.size)
      let keep = inode.synced
      const extends_ = current.length > keep.length && Buffer.compare(current.subarray(0, keep.length), keep) === 0
      if (extends_) {
        const choice = rng.int(3)
        const n = choice === 0 ? keep.length : choice === 1 ? current.length : keep.length + rng.int(current.length - keep.length + 1)
        keep = current.subarray(0, n)
      } else if (current.length === keep.length && Buffer.compare(current, keep) !== 0) {
        // Rewritten in place since the sync (a mapped log's stores into
        // its prepared zeros): the old bytes, the new, or the new up to
        // some byte from the first that changed.
        let first = 0
        while (current[first] === keep[first]) first++
        const choice = rng.int(3)
        const n = choice === 0 ? first : choice === 1 ? current.length : first + rng.int(current.length - first + 1)
        const mixed = keep.slice()
        mixed.set(current.subarray(0, n))
        keep = mixed
      } else if (rng.int(2) === 0 && Buffer.compare(current, keep) !== 0) {
        // Rewritten or truncated since the sync: either version may survive.
        keep = current
      }
      after.seed(path, keep)
    }
    return after
  }

  private addDir (dir: string): void {
    let d = dir
    while (!this.dirs.has(d)) {
      this.dirs.add(d)
      d = dirname(d)
    }
  }

  private fd (fd: number, op: string): { path: string, inode: Inode } {
    const f = this.fds.get(fd)
    if (f === undefined) throw errno('EBADF', op, String(fd))
    return f
  }

  private reserve (inode: Inode, size: number): void {
    if (size <= inode.data.length) return
    // A real file may grow while mapped; here a view would go stale, and
    // the log never does it (it unmaps first): say so rather than lose bytes.
    if (inode.maps > 0) throw new Error('MemoryFs: a mapped file cannot grow here; unmap it first')
    const next = new Uint8Array(Math.max(size, inode.data.length * 2, 256))
    next.set(inode.data.subarray(0, inode.size))
    inode.data = next
  }

  async open (path: string, flags: 'r' | 'r+' | 'w' | 'w+' | 'wx'): Promise<number> {
    const p = resolve(path)
    let inode = this.names.get(p)
    if (inode === undefined) {
      if (flags === 'r' || flags === 'r+') throw errno('ENOENT', 'open', p)
      if (!this.dirs.has(dirname(p))) throw errno('ENOENT', 'open', p)
      inode = { data: new Uint8Array(0), size: 0, synced: new Uint8Array(0), maps: 0 }
      this.names.set(p, inode)
    } else if (flags === 'wx') {
      throw errno('EEXIST', 'open', p)
    } else if (flags === 'w' || flags === 'w+') {
      inode.size = 0
    }
    const fd = this.nextFd++
    this.fds.set(fd, { path: p, inode })
    return fd
  }

  async close (fd: number): Promise<void> {
    this.fd(fd, 'close')
    this.fds.delete(fd)
  }

  async read (fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const { inode } = this.fd(fd, 'read')
    const n = Math.max(0, Math.min(length, inode.size - position))
    buffer.set(inode.data.subarray(position, position + n), offset)
    return n
  }

  writeSync (fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number {
    const { inode } = this.fd(fd, 'write')
    this.reserve(inode, position + length)
    if (position > inode.size) inode.data.fill(0, inode.size, position)
    inode.data.set(buffer.subarray(offset, offset + length), position)
    inode.size = Math.max(inode.size, position + length)
    return length
  }

  async write (fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.writeSync(fd, buffer, offset, length, position)
  }

  async fdatasync (fd: number): Promise<void> {
    const { inode } = this.fd(fd, 'fdatasync')
    inode.synced = inode.data.slice(0, inode.size)
  }

  async ftruncate (fd: number, length: number): Promise<void> {
    const { inode } = this.fd(fd, 'ftruncate')
    // Cutting a mapped file under a view is what raises SIGBUS for real.
    if (inode.maps > 0) throw new Error('MemoryFs: ftruncate of a mapped file')
    this.reserve(inode, length)
    if (length > inode.size) inode.data.fill(0, inode.size, length)
    inode.size = length
  }

  async size (fd: number): Promise<number> {
    return this.fd(fd, 'fstat').inode.size
  }

  async readdir (path: string): Promise<string[]> {
    const p = resolve(path)
    if (!this.dirs.has(p)) throw errno('ENOENT', 'readdir', p)
    const out: string[] = []
    for (const name of this.names.keys()) if (dirname(name) === p) out.push(name.slice(p.length + 1))
    for (const d of this.dirs) if (d !== p && dirname(d) === p) out.push(d.slice(p.length + 1))
    return out
  }

  async mkdir (path: string): Promise<void> {
    this.addDir(resolve(path))
  }

  async rename (from: string, to: string): Promise<void> {
    const f = resolve(from)
    const inode = this.names.get(f)
    if (inode === undefined) throw errno('ENOENT', 'rename', f)
    this.names.delete(f)
    this.names.set(resolve(to), inode)
  }

  async unlink (path: string): Promise<void> {
    const p = resolve(path)
    if (!this.names.delete(p)) throw errno('ENOENT', 'unlink', p)
  }

  /**
   * Views into the files' bytes: a store through one is a write. The range
   * must lie within the file (past its end, a real store raises SIGBUS;
   * here `map` throws).
   */
  readonly mapping: FileMapper = {
    pageBytes: 4096,
    map: (fd, offset, length) => {
      const { path, inode } = this.fd(fd, 'mmap')
      if (offset % 4096 !== 0 || length <= 0) throw errno('EINVAL', 'mmap', path)
      if (offset + length > inode.size) throw new Error(`MemoryFs: a mapping of ${path} past its end (${offset + length} > ${inode.size}) would raise SIGBUS`)
      inode.maps++
      const view = inode.data.subarray(offset, offset + length)
      this.views.set(view, inode)
      return view
    },
    unmap: (view) => {
      const inode = this.views.get(view)
      if (inode === undefined) return
      this.views.delete(view)
      inode.maps--
    }
  }

  private readonly views = new Map<Uint8Array, Inode>()

  async syncDir (path: string): Promise<void> {
    const p = resolve(path)
    for (const name of [...this.durableNames.keys()]) {
      if (dirname(name) === p && !this.names.has(name)) this.durableNames.delete(name)
    }
    for (const [name, inode] of this.names) if (dirname(name) === p) this.durableNames.set(name, inode)
  }
}
