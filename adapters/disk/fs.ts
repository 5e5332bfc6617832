/**
 * The few file-system calls the disk layer makes, behind an interface so
 * tests can inject a full disk, a short write or a failed fsync at any call,
 * and count calls to check group commit.
 *
 * {@link nodeFileSystem} is the real one: Node's callback `fs` functions
 * wrapped in promises (they cost one libuv thread-pool round trip each, less
 * than the `fs/promises` FileHandle API).
 *
 * @module
 */

import * as fs from 'node:fs'
import { nativeMapper } from './mapping.js'

/**
 * File-system calls used by the write-ahead log and checkpoints. Paths are
 * absolute or relative to the process's working directory; `fd`s come from
 * {@link FileSystem.open}. Every method rejects with the platform error
 * (`code` such as `ENOSPC`, `ENOENT`) on failure.
 */
export interface FileSystem {
  /**
   * Opens a file. `flags` as in Node: `'r'` read, `'r+'` read-write,
   * `'w'` create or truncate, `'w+'` the same, read-write (a file to map),
   * `'wx'` create, failing with `EEXIST`.
   */
  open (path: string, flags: 'r' | 'r+' | 'w' | 'w+' | 'wx'): Promise<number>
  /** Closes a descriptor. */
  close (fd: number): Promise<void>
  /** Reads up to `length` bytes at file `position`; resolves to the count read (0 at end of file). */
  read (fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>
  /** Writes up to `length` bytes at file `position`; resolves to the count written, which may be short. */
  write (fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>
  /**
   * The same write, done on the calling thread. The log uses it in
   * `writeMode: 'inline'`, where a write to the page cache costs a few
   * microseconds against a thread-pool round trip of tens.
   */
  writeSync (fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number
  /** Flushes a file's data (and the metadata needed to read it back, such as its size) to stable storage. */
  fdatasync (fd: number): Promise<void>
  /** Sets a file's length. */
  ftruncate (fd: number, length: number): Promise<void>
  /** A file's current size in bytes. */
  size (fd: number): Promise<number>
  /** Names in a directory. */
  readdir (path: string): Promise<string[]>
  /** Creates a directory and its parents; succeeds if it exists. */
  mkdir (path: string): Promise<void>
  /** Atomically renames a file, replacing any file at `to`. */
  rename (from: string, to: string): Promise<void>
  /** Removes a file. */
  unlink (path: string): Promise<void>
  /**
   * Makes a directory's entries (files created, renamed or removed in it)
   * durable. A no-op where the platform cannot fsync a directory (Windows).
   */
  syncDir (path: string): Promise<void>
  /**
   * Shared mappings of files, where the platform has them; the log's
   * `writeMode: 'mapped'` needs it (see {@link FileMapper}).
   */
  readonly mapping?: FileMapper
}

/**
 * Maps file bytes into memory, shared: a byte stored in a view is in the
 * file as if written there, with no call (the OS's page cache holds it,
 * and `fdatasync` of the file flushes it).
 */
export interface FileMapper {
  /** Mapping offsets are multiples of this. */
  readonly pageBytes: number
  /**
   * A read-write view of file bytes `[offset, offset + length)`. `offset`
   * is a multiple of {@link FileMapper.pageBytes}. Every byte of the range
   * must exist in the file, written (not a hole): a store to a page past
   * the end of the file kills the process (SIGBUS), and on a full disk so
   * can a store to a hole. Throws the platform error (`code` such as
   * `ENOMEM`).
   */
  map (fd: number, offset: number, length: number): Uint8Array
  /**
   * Lets a view's file pages go at once. The view's length becomes 0, so a
   * later store through it throws rather than reaching the file.
   */
  unmap (view: Uint8Array): void
}

/** Wraps a Node callback taking `(err, value)` into a promise. */
function call<T> (fn: (cb: (err: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    fn((err, value) => { if (err !== null) reject(err); else resolve(value) })
  })
}

/** Wraps a Node callback taking `(err)` into a promise. */
function callVoid (fn: (cb: (err: NodeJS.ErrnoException | null) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    fn((err) => { if (err !== null) reject(err); else resolve() })
  })
}

/**
 * The real file system, through Node's `fs` module, with the native
 * {@link FileMapper} where it loaded (`nodeFileSystem.mapping`).
 */
export const nodeFileSystem: FileSystem = {
  open: (path, flags) => call<number>((cb) => fs.open(path, flags, 0o644, cb)),
  close: (fd) => callVoid((cb) => fs.close(fd, cb)),
  read: (fd, buffer, offset, length, position) =>
    call<number>((cb) => fs.read(fd, buffer, offset, length, position, cb)),
  write: (fd, buffer, offset, length, position) =>
    call<number>((cb) => fs.write(fd, buffer, offset, length, position, cb)),
  writeSync: (fd, buffer, offset, length, position) => fs.writeSync(fd, buffer, offset, length, position),
  fdatasync: (fd) => callVoid((cb) => fs.fdatasync(fd, cb)),
  ftruncate: (fd, length) => callVoid((cb) => fs.ftruncate(fd, length, cb)),
  size: (fd) => call<fs.Stats>((cb) => fs.fstat(fd, cb)).then((st) => st.size),
  readdir: (path) => call<string[]>((cb) => fs.readdir(path, cb)),
  mkdir: (path) => callVoid((cb) => fs.mkdir(path, { recursive: true }, (err) => cb(err))),
  rename: (from, to) => callVoid((cb) => fs.rename(from, to, cb)),
  unlink: (path) => callVoid((cb) => fs.unlink(path, cb)),
  syncDir: async (path) => {
    // Windows cannot open a directory for fsync; NTFS journals renames.
    if (process.platform === 'win32') return
    const fd = await call<number>((cb) => fs.open(path, 'r', cb))
    try {
      await callVoid((cb) => fs.fsync(fd, cb))
    } finally {
      await callVoid((cb) => fs.close(fd, cb))
    }
  },
  ...(nativeMapper !== undefined ? { mapping: nativeMapper } : {})
}

/**
 * The `code` of a platform error (`'ENOENT'`), or undefined.
 *
 * @internal
 */
export function errnoCode (err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code
  return undefined
}

/**
 * Writes all of `buf[start..end)` at file `position`, looping over short
 * writes; a write that makes no progress is an `EIO` error.
 *
 * @param inline Use `writeSync` (see {@link FileSystem.writeSync}).
 * @internal
 */
export async function writeAll (
  fs: FileSystem, fd: number, buf: Uint8Array, start: number, end: number, position: number, inline = false
): Promise<void> {
  if (inline) {
    writeAllSync(fs, fd, buf, start, end, position)
    return
  }
  let off = start
  let pos = position
  while (off < end) {
    const n = await fs.write(fd, buf, off, end - off, pos)
    if (!(n > 0)) throw Object.assign(new Error(`write made no progress (${n} bytes)`), { code: 'EIO' })
    off += n
    pos += n
  }
}

/**
 * {@link writeAll} with `writeSync`, for callers on the write path that
 * should not pay a promise for a call that is done when it returns.
 *
 * @internal
 */
export function writeAllSync (fs: FileSystem, fd: number, buf: Uint8Array, start: number, end: number, position: number): void {
  let off = start
  let pos = position
  while (off < end) {
    const n = fs.writeSync(fd, buf, off, end - off, pos)
    if (!(n > 0)) throw Object.assign(new Error(`write made no progress (${n} bytes)`), { code: 'EIO' })
    off += n
    pos += n
  }
}
