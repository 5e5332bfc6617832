/**
 * Checkpoint files: every entry of every column family as of one sequence
 * number, so recovery loads the newest checkpoint and replays only the log
 * after it.
 *
 * ## Format (version 1, little-endian)
 * ```
 * header:
 *   'MKCP'  crc u32  version u32 = 1  length u32
 *   length bytes: seq u64  cfCount u32  cfCount x (nameLength u32, name UTF-8)
 *   (crc: CRC32C of version, length and those bytes: checked before the
 *   version is believed, so a damaged version reads as damage, and a newer
 *   format as `MAKO_UNSUPPORTED_FORMAT`)
 * blocks, each the entries of one column family, in the order written:
 *   'MKCB'  crc u32  index u32  cf u32  count u32  length u32
 *   length bytes: count x (keyLength varint, key, valueLength varint, value)
 *   (crc: CRC32C of index, cf, count, length and the entry bytes)
 * footer:
 *   'MKCE'  blockCount u32  entryCount u64  dataBytes u64  cfCount u32
 *   cfCount x entries u64
 *   crc u32: CRC32C of the footer bytes before it
 * and nothing after it.
 * ```
 * Every byte is checked (magics by comparison, the rest by a CRC, block
 * indexes by succession, counts and sizes against the footer), so a
 * truncation or a flipped byte anywhere is detected, never loaded as data.
 *
 * ## Writing
 * {@link writeCheckpoint} takes the column families' entries as iterables
 * (sync or async; from an O(1) snapshot of the store, so writers go on),
 * yields to the event loop every few thousand entries and at every write,
 * writes `<seq>.ckpt.tmp`, fdatasyncs it, renames it to `<seq>.ckpt`,
 * syncs the directory, and only then removes checkpoints older than the
 * newest `keep` (2), and leftover temporary files.
 *
 * ## Reading
 * {@link readCheckpoint} streams entries to a callback. A block's entries
 * are delivered only after its CRC is checked; the footer is checked at the
 * end. So a damaged file can fail after delivering some entries: discard
 * what was loaded when it rejects. {@link loadNewestCheckpoint} does that
 * protocol over the newest valid checkpoint of a directory.
 *
 * @module
 */

import { join, resolve } from 'node:path'
import { MakoError } from '../../lib/errors.js'
import { ChunkedReader } from './chunked-reader.js'
import { crc32cRange } from './crc32c.js'
import { errnoCode, nodeFileSystem, writeAll, type FileSystem } from './fs.js'
import { getU32, getU64, putU32, putU64 } from './log-format.js'

/** Default {@link WriteCheckpointOptions.keep}: the newest two checkpoints. */
export const DEFAULT_CHECKPOINTS_KEPT = 2
/** Default {@link WriteCheckpointOptions.blockBytes}: 64 KiB. */
export const DEFAULT_CHECKPOINT_BLOCK_BYTES = 64 * 1024
/** Default {@link WriteCheckpointOptions.yieldEveryEntries}. */
export const DEFAULT_YIELD_EVERY_ENTRIES = 4096
/** Most column families in a checkpoint; beyond, `MAKO_INVALID_ARGUMENT` (and corruption when reading). */
export const MAX_CHECKPOINT_COLUMN_FAMILIES = 4096
/** Longest column family name in UTF-8 bytes. */
export const MAX_COLUMN_FAMILY_NAME_BYTES = 1024
/** Largest header a reader accepts: every column family at its longest name. */
const MAX_HEADER_BYTES = 12 + MAX_CHECKPOINT_COLUMN_FAMILIES * (4 + MAX_COLUMN_FAMILY_NAME_BYTES)

const MAGIC_HEADER = 0x50434b4d // 'MKCP' read as u32 LE
const MAGIC_BLOCK = 0x42434b4d // 'MKCB'
const MAGIC_FOOTER = 0x45434b4d // 'MKCE'
const VERSION = 1
const BLOCK_HEADER_BYTES = 24
const FOOTER_FIXED_BYTES = 28
const CHECKPOINT_NAME = /^(\d{20})\.ckpt$/
const TEMP_NAME = /^\d{20}\.ckpt\.tmp$/
/** Default bytes gathered before a write, and bytes per read. */
const WRITE_BUFFER_BYTES = 1024 * 1024
const READ_CHUNK_BYTES = 4 * 1024 * 1024

/** A key and its value. */
export type CheckpointPair = readonly [key: Uint8Array, value: Uint8Array]

/** One column family to write: its name and its entries (usually in key order, from a snapshot). */
export interface CheckpointColumnFamily {
  /** Its name, at most {@link MAX_COLUMN_FAMILY_NAME_BYTES} in UTF-8. */
  name: string
  /** Its entries; sync or async. Keys and values must be Uint8Arrays. */
  entries: Iterable<CheckpointPair> | AsyncIterable<CheckpointPair>
}

/** Options of {@link writeCheckpoint}. */
export interface WriteCheckpointOptions {
  /** The file system; default {@link nodeFileSystem}. */
  fs?: FileSystem
  /** Entry bytes per block (a larger entry gets a block of its own). Default 64 KiB. */
  blockBytes?: number
  /** Yield to the event loop after this many entries without I/O. Default 4096. */
  yieldEveryEntries?: number
  /** How many of the newest checkpoints to keep once the new one is durable. Default 2. */
  keep?: number
  /** Bytes gathered before each write. Default 1 MiB. */
  writeBufferBytes?: number
}

/** What a checkpoint's header says. */
export interface CheckpointHeader {
  /** The sequence number it covers: every write up to it, none after. */
  seq: number
  /** Column family names, by index. */
  columnFamilies: string[]
}

/** A checkpoint file found in a directory. */
export interface CheckpointRef {
  /** Its sequence number (from its name). */
  seq: number
  /** Its path. */
  path: string
}

/** A checkpoint written or read. */
export interface CheckpointInfo extends CheckpointHeader {
  /** Its path. */
  path: string
  /** Entries in it. */
  entries: number
  /** Entries per column family, by index. */
  counts: number[]
  /** Its size in bytes. */
  bytes: number
}

/** What {@link writeCheckpoint} did. */
export interface CheckpointWritten extends CheckpointInfo {
  /**
   * The checkpoints kept in the directory after this one was written, newest
   * first (this one included). Log records after the oldest of them must be
   * kept: recovery falls back to it if a newer one is damaged. So drop the
   * log's prefix only up to `kept.at(-1).seq + 1`.
   */
  kept: CheckpointRef[]
  /** Older checkpoint and temporary files removed. */
  removed: string[]
}

/** Callbacks of {@link readCheckpoint}. */
export interface CheckpointSink {
  /** Called once with the header, before any entry. */
  onHeader?: (header: CheckpointHeader) => void
  /**
   * Called for each entry in file order. `key` and `value` are views into a
   * read buffer that is never reused: they stay valid, and keep that buffer
   * (4 MiB) alive while held. Copy what you keep for long.
   */
  onEntry: (cf: number, key: Uint8Array, value: Uint8Array) => void
}

function ioError (what: string, cause: unknown): MakoError {
  const detail = cause instanceof Error ? cause.message : String(cause)
  return new MakoError(`${what}: ${detail}`, 'MAKO_IO_ERROR', { cause, transient: errnoCode(cause) === 'ENOSPC' })
}

function corrupt (path: string, offset: number, reason: string): MakoError {
  return new MakoError(`checkpoint ${path} is corrupt at offset ${offset}: ${reason}`, 'MAKO_CORRUPTION')
}

function invalid (message: string): MakoError {
  return new MakoError(message, 'MAKO_INVALID_ARGUMENT')
}

/** The file name of the checkpoint covering `seq`. */
export function checkpointName (seq: number): string {
  return String(seq).padStart(20, '0') + '.ckpt'
}

/** Bytes of `n` as an unsigned LEB128 varint. */
function varintBytes (n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5
}

/** Writes `n` (< 2^32) as a varint at `p`; returns the offset after it. */
function putVarint (b: Uint8Array, p: number, n: number): number {
  while (n >= 0x80) {
    b[p++] = (n & 0x7f) | 0x80
    n >>>= 7
  }
  b[p++] = n
  return p
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })
const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** Directories with a checkpoint being written in this process. */
const writing = new Set<string>()

/**
 * Encodes entries into blocks in a buffer and writes the buffer out when it
 * is full. A block never spans two writes, so its header is filled in
 * before its bytes leave.
 */
class CheckpointEncoder {
  buf: Uint8Array
  len = 0
  /** Bytes already written to the file. */
  written = 0
  blocks = 0
  entries = 0
  readonly counts: number[]
  private blockStart = -1
  private blockCf = 0
  private blockCount = 0
  private sinceYield = 0

  constructor (
    private readonly fs: FileSystem,
    private readonly fd: number,
    cfCount: number,
    private readonly blockBytes: number,
    private readonly yieldEvery: number,
    private readonly flushBytes: number
  ) {
    this.counts = new Array<number>(cfCount).fill(0)
    this.buf = new Uint8Array(flushBytes)
  }

  private reserve (n: number): void {
    if (this.len + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.len + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.len))
    this.buf = next
  }

  /** Appends raw bytes (header, footer). */
  raw (bytes: Uint8Array): void {
    this.reserve(bytes.length)
    this.buf.set(bytes, this.len)
    this.len += bytes.length
  }

  /**
   * Adds one entry of column family `cf`. Returns true when the caller
   * should `await drain()`: the buffer is full or it is time to yield.
   */
  add (cf: number, key: Uint8Array, value: Uint8Array): boolean {
    const klen = key.length
    const vlen = value.length
    const need = varintBytes(klen) + klen + varintBytes(vlen) + vlen
    if (this.blockStart >= 0 && (cf !== this.blockCf || this.len - this.blockStart - BLOCK_HEADER_BYTES + need > this.blockBytes)) {
      this.closeBlock()
    }
    if (this.blockStart < 0) {
      this.reserve(BLOCK_HEADER_BYTES + need)
      this.blockStart = this.len
      this.blockCf = cf
      this.blockCount = 0
      this.len += BLOCK_HEADER_BYTES
    } else {
      this.reserve(need)
    }
    const b = this.buf
    let p = putVarint(b, this.len, klen)
    // A byte loop beats TypedArray#set below about 32 bytes (set has a fixed
    // cost of its own); keys are usually short.
    if (klen < 32) for (let i = 0; i < klen; i++) b[p + i] = key[i] as number
    else b.set(key, p)
    p = putVarint(b, p + klen, vlen)
    if (vlen < 32) for (let i = 0; i < vlen; i++) b[p + i] = value[i] as number
    else b.set(value, p)
    this.len = p + vlen
    this.blockCount++
    this.entries++
    this.counts[cf] = (this.counts[cf] as number) + 1
    return this.len >= this.flushBytes || ++this.sinceYield >= this.yieldEvery
  }

  /** Fills in the open block's header and CRC. */
  closeBlock (): void {
    const s = this.blockStart
    if (s < 0) return
    const b = this.buf
    putU32(b, s, MAGIC_BLOCK)
    putU32(b, s + 8, this.blocks)
    putU32(b, s + 12, this.blockCf)
    putU32(b, s + 16, this.blockCount)
    putU32(b, s + 20, this.len - s - BLOCK_HEADER_BYTES)
    putU32(b, s + 4, crc32cRange(b, s + 8, this.len))
    this.blocks++
    this.blockStart = -1
  }

  /** Writes the buffer out if it is full, or yields to the event loop. */
  async drain (): Promise<void> {
    if (this.len >= this.flushBytes) {
      this.closeBlock()
      await this.flush()
    } else {
      await yieldToLoop()
    }
    this.sinceYield = 0
  }

  /** Writes out everything buffered (the open block must be closed). */
  async flush (): Promise<void> {
    if (this.len === 0) return
    await writeAll(this.fs, this.fd, this.buf, 0, this.len, this.written)
    this.written += this.len
    this.len = 0
  }
}

function encodeHeader (seq: number, names: Uint8Array[]): Uint8Array {
  let size = 16 + 12
  for (const n of names) size += 4 + n.length
  const b = new Uint8Array(size)
  putU32(b, 0, MAGIC_HEADER)
  putU32(b, 8, VERSION)
  putU32(b, 12, size - 16)
  putU64(b, 16, seq)
  putU32(b, 24, names.length)
  let p = 28
  for (const n of names) {
    putU32(b, p, n.length)
    b.set(n, p + 4)
    p += 4 + n.length
  }
  putU32(b, 4, crc32cRange(b, 8, size))
  return b
}

function encodeFooter (enc: CheckpointEncoder, dataBytes: number): Uint8Array {
  const cfCount = enc.counts.length
  const b = new Uint8Array(FOOTER_FIXED_BYTES + 8 * cfCount + 4)
  putU32(b, 0, MAGIC_FOOTER)
  putU32(b, 4, enc.blocks)
  putU64(b, 8, enc.entries)
  putU64(b, 16, dataBytes)
  putU32(b, 24, cfCount)
  let p = FOOTER_FIXED_BYTES
  for (const c of enc.counts) {
    putU64(b, p, c)
    p += 8
  }
  putU32(b, p, crc32cRange(b, 0, p))
  return b
}

function isAsync<T> (it: Iterable<T> | AsyncIterable<T>): it is AsyncIterable<T> {
  return typeof (it as Partial<AsyncIterable<T>>)[Symbol.asyncIterator] === 'function'
}

function checkPair (pair: CheckpointPair): void {
  if (!(pair[0] instanceof Uint8Array) || !(pair[1] instanceof Uint8Array)) {
    throw invalid('checkpoint entries must be [Uint8Array, Uint8Array] pairs')
  }
}

/**
 * Writes a checkpoint of `columnFamilies` as of `seq` into `dir`, durably
 * and atomically (temporary file, fdatasync, rename, directory sync), then
 * removes older checkpoints beyond the newest `keep`.
 *
 * One checkpoint at a time per directory in a process: a second concurrent
 * call rejects with `MAKO_CHECKPOINT_BUSY` (transient). A failure leaves the
 * previous checkpoints as they were and removes the temporary file.
 *
 * @param dir The directory; created if missing. Files in it not named like
 *   checkpoints are left alone.
 * @param seq The sequence number the entries are a snapshot of.
 * @param columnFamilies Names and entries, in index order.
 * @param options Block size, yielding, how many to keep, the file system.
 * @returns The written checkpoint and which ones the directory keeps.
 * @throws `MAKO_IO_ERROR`, `MAKO_INVALID_ARGUMENT`, `MAKO_CHECKPOINT_BUSY`.
 */
export async function writeCheckpoint (
  dir: string, seq: number, columnFamilies: readonly CheckpointColumnFamily[], options: WriteCheckpointOptions = {}
): Promise<CheckpointWritten> {
  const fs = options.fs ?? nodeFileSystem
  const blockBytes = options.blockBytes ?? DEFAULT_CHECKPOINT_BLOCK_BYTES
  const yieldEvery = options.yieldEveryEntries ?? DEFAULT_YIELD_EVERY_ENTRIES
  const keep = options.keep ?? DEFAULT_CHECKPOINTS_KEPT
  const writeBufferBytes = options.writeBufferBytes ?? WRITE_BUFFER_BYTES
  if (!Number.isSafeInteger(seq) || seq < 0) throw invalid(`checkpoint seq must be a safe integer >= 0, got ${seq}`)
  if (!Number.isSafeInteger(blockBytes) || blockBytes < 1) throw invalid('blockBytes must be a positive integer')
  if (!Number.isSafeInteger(yieldEvery) || yieldEvery < 1) throw invalid('yieldEveryEntries must be a positive integer')
  if (!Number.isSafeInteger(keep) || keep < 1) throw invalid('keep must be an integer >= 1')
  if (!Number.isSafeInteger(writeBufferBytes) || writeBufferBytes < 1) throw invalid('writeBufferBytes must be a positive integer')
  if (columnFamilies.length > MAX_CHECKPOINT_COLUMN_FAMILIES) {
    throw invalid(`at most ${MAX_CHECKPOINT_COLUMN_FAMILIES} column families in a checkpoint`)
  }
  const names = columnFamilies.map((cf) => encoder.encode(cf.name))
  for (const n of names) {
    if (n.length > MAX_COLUMN_FAMILY_NAME_BYTES) throw invalid(`column family name longer than ${MAX_COLUMN_FAMILY_NAME_BYTES} bytes`)
  }

  const key = resolve(dir)
  if (writing.has(key)) {
    throw new MakoError(`a checkpoint of ${dir} is already being written`, 'MAKO_CHECKPOINT_BUSY', { transient: true })
  }
  writing.add(key)
  try {
    const path = join(dir, checkpointName(seq))
    const temp = path + '.tmp'
    try {
      await fs.mkdir(dir)
    } catch (err) {
      throw ioError(`cannot create checkpoint directory ${dir}`, err)
    }
    let fd: number
    try {
      fd = await fs.open(temp, 'w')
    } catch (err) {
      throw ioError(`cannot create ${temp}`, err)
    }
    let enc: CheckpointEncoder
    let bytes: number
    try {
      enc = new CheckpointEncoder(fs, fd, names.length, blockBytes, yieldEvery, writeBufferBytes)
      enc.raw(encodeHeader(seq, names))
      for (let cf = 0; cf < columnFamilies.length; cf++) {
        const entries = (columnFamilies[cf] as CheckpointColumnFamily).entries
        if (isAsync(entries)) {
          for await (const pair of entries) {
            checkPair(pair)
            if (enc.add(cf, pair[0], pair[1])) await enc.drain()
          }
        } else {
          for (const pair of entries) {
            checkPair(pair)
            if (enc.add(cf, pair[0], pair[1])) await enc.drain()
          }
        }
        enc.closeBlock()
      }
      const dataBytes = enc.written + enc.len
      enc.raw(encodeFooter(enc, dataBytes))
      bytes = enc.written + enc.len
      await enc.flush()
      await fs.fdatasync(fd)
      await fs.close(fd)
    } catch (err) {
      await fs.close(fd).catch(() => {})
      await fs.unlink(temp).catch(() => {})
      // A platform error is an I/O error; anything else (ours, or thrown by
      // the caller's entry source) goes out as it came.
      if (err instanceof MakoError || errnoCode(err) === undefined) throw err
      throw ioError(`cannot write checkpoint ${temp}`, err)
    }
    try {
      await fs.rename(temp, path)
      await fs.syncDir(dir)
    } catch (err) {
      await fs.unlink(temp).catch(() => {})
      throw ioError(`cannot put checkpoint ${path} in place`, err)
    }
    const { kept, removed } = await pruneCheckpoints(fs, dir, keep)
    return {
      path, seq, columnFamilies: columnFamilies.map((cf) => cf.name),
      entries: enc.entries, counts: enc.counts, bytes, kept, removed
    }
  } finally {
    writing.delete(key)
  }
}

/**
 * Removes all but the newest `keep` checkpoints, and temporary files of
 * unfinished ones. Called only after the newest is durable.
 */
async function pruneCheckpoints (
  fs: FileSystem, dir: string, keep: number
): Promise<{ kept: CheckpointRef[], removed: string[] }> {
  let names: string[]
  try {
    names = await fs.readdir(dir)
  } catch (err) {
    throw ioError(`cannot list checkpoint directory ${dir}`, err)
  }
  const all = refsOf(dir, names)
  const kept = all.slice(0, keep)
  const doomed = [...all.slice(keep).map((r) => r.path), ...names.filter((n) => TEMP_NAME.test(n)).map((n) => join(dir, n))]
  const removed: string[] = []
  try {
    for (const path of doomed) {
      await fs.unlink(path)
      removed.push(path)
    }
    if (removed.length > 0) await fs.syncDir(dir)
  } catch (err) {
    throw ioError(`cannot remove old checkpoints in ${dir}`, err)
  }
  return { kept, removed }
}

function refsOf (dir: string, names: string[]): CheckpointRef[] {
  const refs: CheckpointRef[] = []
  for (const name of names) {
    const m = CHECKPOINT_NAME.exec(name)
    if (m === null) continue
    const seq = Number(m[1])
    if (Number.isSafeInteger(seq)) refs.push({ seq, path: join(dir, name) })
  }
  return refs.sort((a, b) => b.seq - a.seq)
}

/**
 * Checkpoint files in `dir`, newest (highest seq) first. Temporary files of
 * unfinished checkpoints are not listed. A missing directory has none.
 */
export async function listCheckpoints (dir: string, options: { fs?: FileSystem } = {}): Promise<CheckpointRef[]> {
  const fs = options.fs ?? nodeFileSystem
  try {
    return refsOf(dir, await fs.readdir(dir))
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return []
    throw ioError(`cannot list checkpoint directory ${dir}`, err)
  }
}

/** Reads an unsigned varint at `p` within `end`; returns -1 if it runs past `end` or beyond 32 bits. */
function getVarint (b: Uint8Array, p: number, end: number, out: { p: number }): number {
  let n = 0
  let shift = 0
  while (p < end) {
    const byte = b[p++] as number
    if (shift === 28 && byte > 0x0f) return -1
    n += (byte & 0x7f) * 2 ** shift
    if (byte < 0x80) {
      out.p = p
      return n
    }
    shift += 7
    if (shift > 28) return -1
  }
  return -1
}

/**
 * Reads and checks the checkpoint at `path`, streaming its entries to
 * `sink.onEntry` in file order, block by verified block.
 *
 * @returns What it held, once everything including the footer checked out.
 * @throws `MAKO_CORRUPTION` naming the file and offset of the first damage
 *   (entries already delivered must then be discarded);
 *   `MAKO_UNSUPPORTED_FORMAT` for a newer version; `MAKO_IO_ERROR`.
 */
export async function readCheckpoint (
  path: string, sink: CheckpointSink, options: { fs?: FileSystem } = {}
): Promise<CheckpointInfo> {
  const fs = options.fs ?? nodeFileSystem
  let fd: number
  try {
    fd = await fs.open(path, 'r')
  } catch (err) {
    throw ioError(`cannot open checkpoint ${path}`, err)
  }
  try {
    let size: number
    try {
      size = await fs.size(fd)
    } catch (err) {
      throw ioError(`cannot read checkpoint ${path}`, err)
    }
    const r = new ChunkedReader({ read: (b, o, l, p) => fs.read(fd, b, o, l, p) }, size, READ_CHUNK_BYTES)
    const need = async (n: number, what: string): Promise<void> => {
      if (r.left < n) throw corrupt(path, r.pos, `file ends inside the ${what}`)
      if (r.has(n)) return
      try {
        await r.fill()
      } catch (err) {
        throw ioError(`cannot read checkpoint ${path}`, err)
      }
      if (!r.has(n)) throw corrupt(path, r.pos, `file ends inside the ${what}`)
    }
    return await parse(path, r, need, sink)
  } finally {
    await fs.close(fd).catch(() => {})
  }
}

async function parse (
  path: string, r: ChunkedReader, need: (n: number, what: string) => Promise<void>, sink: CheckpointSink
): Promise<CheckpointInfo> {
  const size = r.limit
  // The header is read whole and its CRC checked before any field in it is
  // believed, the version included.
  await need(16, 'header')
  if (getU32(r.buf, r.at) !== MAGIC_HEADER) throw corrupt(path, 0, 'not a checkpoint (bad magic)')
  const length = getU32(r.buf, r.at + 12)
  if (length > MAX_HEADER_BYTES || length < 12) throw corrupt(path, 12, `header length ${length}`)
  await need(16 + length, 'header')
  let h = r.at
  const hb = r.buf
  if (getU32(hb, h + 4) !== crc32cRange(hb, h + 8, h + 16 + length)) throw corrupt(path, 4, 'header checksum mismatch')
  const version = getU32(hb, h + 8)
  if (version !== VERSION) {
    throw new MakoError(`checkpoint ${path} has format version ${version}; this build reads version ${VERSION}`,
      'MAKO_UNSUPPORTED_FORMAT')
  }
  // From here the CRC matched: a field out of range is a writer's bug, and
  // still reported as corruption rather than trusted.
  const hend = h + 16 + length
  const seq = getU64(hb, h + 16)
  const cfCount = getU32(hb, h + 24)
  if (seq < 0) throw corrupt(path, 16, 'seq out of range')
  if (cfCount > MAX_CHECKPOINT_COLUMN_FAMILIES) throw corrupt(path, 24, `${cfCount} column families`)
  h += 28
  const names: string[] = []
  for (let i = 0; i < cfCount; i++) {
    const len = h + 4 <= hend ? getU32(hb, h) : -1
    if (len < 0 || len > hend - h - 4) throw corrupt(path, h - r.at + r.pos, 'column family names run past the header')
    try {
      names.push(decoder.decode(hb.subarray(h + 4, h + 4 + len)))
    } catch {
      throw corrupt(path, h - r.at + r.pos, 'column family name is not UTF-8')
    }
    h += 4 + len
  }
  if (h !== hend) throw corrupt(path, h - r.at + r.pos, 'header holds more than its column families')
  r.pos += 16 + length
  sink.onHeader?.({ seq, columnFamilies: names.slice() })

  const counts = new Array<number>(cfCount).fill(0)
  let blocks = 0
  let entries = 0
  const cursor = { p: 0 }
  const onEntry = sink.onEntry
  for (;;) {
    await need(4, 'block header')
    const tag = getU32(r.buf, r.at)
    if (tag === MAGIC_FOOTER) break
    if (tag !== MAGIC_BLOCK) throw corrupt(path, r.pos, 'expected a block or the footer')
    await need(BLOCK_HEADER_BYTES, 'block header')
    const at = r.at
    const length = getU32(r.buf, at + 20)
    if (length > r.left - BLOCK_HEADER_BYTES) throw corrupt(path, r.pos, `block length ${length} runs past the end`)
    await need(BLOCK_HEADER_BYTES + length, 'block')
    const b = r.buf
    const p0 = r.at
    if (getU32(b, p0 + 4) !== crc32cRange(b, p0 + 8, p0 + BLOCK_HEADER_BYTES + length)) {
      throw corrupt(path, r.pos, 'block checksum mismatch')
    }
    const index = getU32(b, p0 + 8)
    const cf = getU32(b, p0 + 12)
    const count = getU32(b, p0 + 16)
    if (index !== blocks) throw corrupt(path, r.pos, `block ${index} where ${blocks} was expected`)
    if (cf >= cfCount) throw corrupt(path, r.pos, `block of column family ${cf} of ${cfCount}`)
    // The CRC matched, so these bytes are as written; the checks below
    // guard against a writer bug, not against damage.
    let p = p0 + BLOCK_HEADER_BYTES
    const end = p + length
    for (let i = 0; i < count; i++) {
      const klen = getVarint(b, p, end, cursor)
      if (klen < 0 || klen > end - cursor.p) throw corrupt(path, r.pos, 'entry runs past its block')
      const kstart = cursor.p
      const vlen = getVarint(b, kstart + klen, end, cursor)
      if (vlen < 0 || vlen > end - cursor.p) throw corrupt(path, r.pos, 'entry runs past its block')
      p = cursor.p + vlen
      onEntry(cf, b.subarray(kstart, kstart + klen), b.subarray(cursor.p, p))
    }
    if (p !== end) throw corrupt(path, r.pos, 'block holds more than its count of entries')
    r.pos += BLOCK_HEADER_BYTES + length
    blocks++
    entries += count
    counts[cf] = (counts[cf] as number) + count
  }

  const footerAt = r.pos
  const footerBytes = FOOTER_FIXED_BYTES + 8 * cfCount + 4
  await need(footerBytes, 'footer')
  const b = r.buf
  const f = r.at
  if (getU32(b, f + footerBytes - 4) !== crc32cRange(b, f, f + footerBytes - 4)) {
    throw corrupt(path, footerAt, 'footer checksum mismatch')
  }
  if (getU32(b, f + 4) !== blocks) throw corrupt(path, footerAt, `footer says ${getU32(b, f + 4)} blocks, found ${blocks}`)
  if (getU64(b, f + 8) !== entries) throw corrupt(path, footerAt, `footer says ${getU64(b, f + 8)} entries, found ${entries}`)
  if (getU64(b, f + 16) !== footerAt) throw corrupt(path, footerAt, 'footer is not where it says')
  if (getU32(b, f + 24) !== cfCount) throw corrupt(path, footerAt, 'footer and header disagree on column families')
  for (let i = 0; i < cfCount; i++) {
    if (getU64(b, f + FOOTER_FIXED_BYTES + 8 * i) !== counts[i]) {
      throw corrupt(path, footerAt, `footer and blocks disagree on the entries of column family ${i}`)
    }
  }
  r.pos += footerBytes
  if (r.pos !== size) throw corrupt(path, r.pos, `${size - r.pos} bytes after the footer`)
  return { path, seq, columnFamilies: names, entries, counts, bytes: size }
}

/** Options of {@link loadNewestCheckpoint}. */
export interface LoadCheckpointOptions extends CheckpointSink {
  /** The file system; default {@link nodeFileSystem}. */
  fs?: FileSystem
  /**
   * Called for each checkpoint found damaged before a valid one (or none)
   * was loaded. `onHeader` is called again for the next one: start over.
   */
  onCorrupt?: (path: string, error: MakoError) => void
}

/**
 * Loads the newest valid checkpoint in `dir`: tries each from the newest;
 * on damage, reports it (`onCorrupt`) and tries the next older one, calling
 * `onHeader` again so the caller can start over with fresh state.
 *
 * @returns The checkpoint loaded, or undefined if `dir` holds none.
 * @throws `MAKO_CORRUPTION` naming every file when checkpoints exist but
 *   none is valid; `MAKO_UNSUPPORTED_FORMAT`; `MAKO_IO_ERROR`.
 */
export async function loadNewestCheckpoint (dir: string, options: LoadCheckpointOptions): Promise<CheckpointInfo | undefined> {
  const fs = options.fs ?? nodeFileSystem
  const refs = await listCheckpoints(dir, { fs })
  const failures: MakoError[] = []
  for (const ref of refs) {
    try {
      return await readCheckpoint(ref.path, options, { fs })
    } catch (err) {
      if (!(err instanceof MakoError) || err.code !== 'MAKO_CORRUPTION') throw err
      failures.push(err)
      options.onCorrupt?.(ref.path, err)
    }
  }
  if (failures.length === 0) return undefined
  throw new MakoError(`no valid checkpoint in ${dir}: ${failures.map((e) => e.message).join('; ')}`,
    'MAKO_CORRUPTION', { cause: failures[0] })
}
