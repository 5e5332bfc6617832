/**
 * A segmented, append-only write-ahead log with group commit.
 *
 * ## Records and sequence numbers
 * Each record is a payload of bytes with a sequence number the log assigns:
 * consecutive, starting at `startSeq` (default 1) in a new log. The number is
 * assigned synchronously by {@link FileLog.append}, so `log.lastSeq` read
 * right after the call is that record's number. Append promises resolve in
 * sequence order.
 *
 * ## Group commit
 * Appends are gathered while the promise jobs queued in the current turn of
 * the event loop run (the writer starts in a microtask queued behind them),
 * and while a write is in flight, until it ends. Groups go on starting that
 * way until {@link MICROTASK_RUN_MS_MAX} has passed since the event loop last
 * turned for the writer (the clock is read every
 * {@link MICROTASK_GROUPS_MAX} groups); then one waits for the loop's next
 * check phase (`setImmediate`), so a writer that awaits each append and
 * appends again cannot starve timers and I/O. A lone writer thus pays no
 * event-loop turn per write (a turn costs about as much as the write
 * itself, 3 us here). Each gathered group goes to the file in one write
 * call and, if any of its appends asked for `sync` (or `sync()` was called),
 * one `fdatasync`. An append's promise resolves only after its bytes were
 * handed to the OS (so they survive a crash of the process) and, when it
 * asked for `sync`, after they reached stable storage (so they survive a
 * crash of the machine). {@link FileLog.appendTo} is the same append with a
 * callback object in place of the promise, told from inside the writer.
 *
 * The usual group (mapped or inline writes, no sync, room in the segment)
 * is written synchronously from the microtask that starts the writer, and
 * its waiters are told at once; only syncs, segment rolls, thread-pool
 * writes and failures go through async code.
 *
 * ## Mapped writes
 * In `writeMode: 'mapped'` (the default on Linux with the native addon,
 * see `mapping.ts`), "one write call" is one copy into a shared mapping of
 * the segment file: the bytes are in the page cache, where a `write` puts
 * them, without the call. (A group over 8 KiB is one `write` call: that
 * measured faster than a copy, which faults on each page written back.)
 * The log keeps the file ahead of its records by writing zeros (64 KiB to
 * 4 MiB at a time) before it maps them, so a full
 * disk fails that write with `ENOSPC` like any other; a store into the
 * mapping never needs the file system to find space. Before a segment is
 * rolled and on close, the zeros past the last record are cut off, so a
 * closed log's files are the same whatever the mode.
 *
 * ## Segments
 * Files named by their first sequence number (see `log-format.ts` for the
 * bytes). A new segment is started when the next group would take the
 * current one past `segmentBytesMax`; a segment is larger only when it holds
 * a single record that is. Before a segment is created, its predecessor is
 * fdatasynced in full, and the new file and the directory are synced. So
 * every segment but the last is always complete on disk, whatever crashed.
 *
 * ## Torn tail or corruption: the rule
 * On open every segment is read and checked. At the first damaged byte (a
 * short or invalid header, a record that is incomplete, fails its CRC, or
 * has the wrong sequence number):
 * - if it is in the last segment and no valid record (a complete frame with
 *   a correct CRC and a sequence number above the last good one) starts at
 *   any byte offset after it, it is a **torn tail**: the file is truncated
 *   there, synced, and reported (`onTornTail`, `log.recovery.tornTail`). This
 *   is what a crash in the middle of a write leaves.
 * - otherwise (damage in an earlier segment, which is synced in full before
 *   its successor exists, or damage followed by a valid record) it is
 *   **corruption**: open fails with `MAKO_CORRUPTION`, naming the file and
 *   offset. {@link repairLog} keeps the valid prefix.
 * A gap or overlap between segments' sequence numbers is corruption too.
 *
 * A last segment that ends in zeros from the first damaged byte on, with
 * nothing else after it, is not torn: it is the space a mapped log had
 * prepared when its process stopped without closing it (or what a power
 * loss leaves of unsynced appends, which were never promised). It is cut
 * off and counted in `log.recovery.zeroTailBytes`, not reported.
 *
 * One case to know: after a power loss (not a process crash), a file system
 * that persists appended pages out of order (XFS, ext4 with
 * `data=writeback`) may leave a hole of zeros followed by valid records that
 * were never synced. With `'mapped'` writes this can happen on any file
 * system, since the OS writes dirty pages of a mapping back in no set order.
 * That is reported as corruption; `repairLog` then keeps everything before
 * the hole, which includes every record acknowledged with `sync: true`.
 *
 * ## I/O errors
 * A failed write (a full disk, `EIO`) or a short write rejects every append
 * of that group with `MAKO_IO_ERROR` (`transient: true` for `ENOSPC`), and
 * also every append queued behind it: sequence numbers must stay contiguous,
 * so `lastSeq` goes back to the last written record and those numbers are
 * given out again. The log truncates the file back to the end of the last
 * acknowledged record and stays usable, so a later append can succeed once
 * there is space. If that truncation fails too, or an `fdatasync` fails
 * (after which the kernel may have dropped the dirty pages: retrying would
 * lie), the log enters a failed state: every later call rejects with
 * `MAKO_LOG_FAILED` until it is closed and reopened, and reopening treats
 * whatever was half-written as a torn tail. Nothing past a failed write is
 * ever acknowledged. A rejected append's record may still be found after a
 * reopen (when the failure came after its bytes were handed to the OS), like
 * any write whose outcome was not acknowledged.
 *
 * @module
 */

import { join } from 'node:path'
import { MakoError, assert } from '../../lib/errors.js'
import { mappingUnavailable } from './mapping.js'
import { errnoCode, nodeFileSystem, writeAll, writeAllSync, type FileMapper, type FileSystem } from './fs.js'
import {
  FRAME_HEADER_BYTES, SEGMENT_HEADER_BYTES, SEGMENT_NAME, STEP_END, STEP_MORE, STEP_RECORD, SegmentScanner,
  encodeFrame, encodeSegmentHeader, isFrameAt, sealFrame, segmentName
} from './log-format.js'

/** Default {@link FileLogOptions.segmentBytesMax}: 64 MiB. */
export const DEFAULT_SEGMENT_BYTES_MAX = 64 * 1024 * 1024
/** Default {@link FileLogOptions.maxRecordBytes}: 64 MiB. */
export const DEFAULT_MAX_RECORD_BYTES = 64 * 1024 * 1024
/** Default {@link FileLogOptions.maxPendingBytes}: 256 MiB. */
export const DEFAULT_MAX_PENDING_BYTES = 256 * 1024 * 1024
/** Size of a read when scanning a segment: 1 MiB. */
const READ_CHUNK_BYTES = 1024 * 1024
/**
 * Groups started in a row from microtasks between two looks at the clock
 * (see the module documentation and {@link MICROTASK_RUN_MS_MAX}).
 */
export const MICROTASK_GROUPS_MAX = 16
/**
 * Longest the writer goes on starting groups from microtasks, in ms, before
 * one waits for a turn of the event loop. It bounds how late a timer or an
 * I/O callback can be while a writer awaits each append and appends again.
 * A bound on time rather than on groups: yielding every 16 groups cost a
 * lone writer's put 0.2-0.4 us (a turn of the loop is about 3 us), while
 * timers only need the loop to turn every millisecond or so.
 */
export const MICROTASK_RUN_MS_MAX = 1
/** A group buffer above this is dropped after use rather than kept for the next group. */
const RETAIN_BUFFER_BYTES = 4 * 1024 * 1024
/** A settled promise whose `then` starts the writer in a microtask (see `FileLog.schedule`). */
const SETTLED = Promise.resolve()
/**
 * Smallest and largest step by which a mapped log prepares its segment
 * (writes zeros ahead of the records): each step doubles the segment's
 * prepared size within these bounds, so a small log stays small and a busy
 * one makes a zero-filling write and a new mapping every 4 MiB.
 */
const MAP_STEP_MIN_BYTES = 64 * 1024
const MAP_STEP_MAX_BYTES = 4 * 1024 * 1024
/**
 * A mapped log's group larger than this goes by one `write` call instead of
 * a copy into the mapping: a copy's first store to each page that was
 * written back takes a fault, which costs more than the call once a group
 * spans a few pages (measured with batches of 1000 entries, about 140 KB).
 */
const MAP_COPY_MAX_BYTES = 8 * 1024
/** Zeros for preparing a mapped segment, written this many bytes a call. */
const ZEROS = new Uint8Array(256 * 1024)

/** One record read back from a log. */
export interface LogRecord {
  /** Its sequence number. */
  seq: number
  /**
   * Its payload. A view into a buffer the log does not reuse: it stays valid
   * after iteration. It may share that buffer with neighbouring records, so
   * copy it (`slice()`) to keep a small part of a large read alive alone.
   */
  payload: Uint8Array
}

/** Options of {@link Log.append}. */
export interface AppendOptions {
  /** Resolve only after the record reached stable storage (fdatasync). Default false. */
  sync?: boolean
}

/**
 * An append-only log of byte records with consecutive sequence numbers: the
 * interface the database's write-ahead log and the Paxos acceptors' storage
 * share.
 */
export interface Log {
  /**
   * Appends a record. Its sequence number is assigned before this returns
   * ({@link Log.lastSeq}); the promise resolves to it once the record is
   * written (and synced, with `sync: true`). Promises resolve in sequence
   * order.
   */
  append (payload: Uint8Array, options?: AppendOptions): Promise<number>
  /** Resolves once every record appended before the call is on stable storage. */
  sync (): Promise<void>
  /**
   * Records with `seq >= from`, in order, up to the last record acknowledged
   * when iteration starts. Rejects with `MAKO_LOG_COMPACTED` if `from` is
   * below {@link Log.firstSeq}.
   */
  read (from: number): AsyncIterable<LogRecord>
  /**
   * Removes records below `beforeSeq` where that frees whole segments. Never
   * removes records at or above it; may keep some below it.
   */
  dropPrefix (beforeSeq: number): Promise<void>
  /** Writes what is queued, syncs, and closes. Later calls reject with `MAKO_LOG_CLOSED`. */
  close (): Promise<void>
  /** The lowest sequence number still held (or the next to be assigned, if none is). */
  readonly firstSeq: number
  /** The highest sequence number assigned so far (firstSeq - 1 if none). */
  readonly lastSeq: number
}

/** A torn tail found and truncated when a log was opened. */
export interface TornTail {
  /** The segment file. */
  file: string
  /** Where it was truncated: the offset of the first byte that was not part of a valid record. */
  offset: number
  /** How many bytes were dropped. */
  bytesDropped: number
  /** What was wrong at `offset`. */
  reason: string
}

/** What {@link FileLog.open} found. */
export interface LogRecovery {
  /** The torn tail truncated on open, if there was one. */
  tornTail: TornTail | undefined
  /**
   * Bytes of zeros cut from the end of the last segment on open: the space
   * a mapped log had prepared when it was last stopped without `close`
   * (see the module documentation). Not damage; 0 when there were none.
   */
  zeroTailBytes: number
  /** Segment files found (0 for a new log). */
  segments: number
  /** Records found. */
  records: number
  /**
   * Set when the log ended before `startSeq - 1` and was emptied to go on
   * at `startSeq` (see {@link FileLogOptions.startSeq}): the last record it
   * held, and the seq it now continues at.
   */
  restarted: {
    /** The last record the log held. */
    lastSeq: number
    /** The sequence number it continues at. */
    startSeq: number
  } | undefined
}

/** Counters of a {@link FileLog}, for tests and `getProperty`. */
export interface LogStats {
  /** Records acknowledged since open. */
  appends: number
  /**
   * Writes that carried records: one per group, or per part of a group
   * split across segments (a write call, or with `'mapped'` a copy).
   */
  writes: number
  /** fdatasync calls on segments. */
  syncs: number
  /** Record bytes written (the zeros a mapped log prepares are not counted). */
  bytes: number
  /** Segments created since open. */
  segmentsCreated: number
}

/** Options of {@link FileLog.open}. */
export interface FileLogOptions {
  /** The file system; default {@link nodeFileSystem}. Tests inject failures here. */
  fs?: FileSystem
  /** Start a new segment when the current one would grow beyond this many bytes. Default 64 MiB. */
  segmentBytesMax?: number
  /** Largest payload accepted, in bytes; larger appends reject with `MAKO_RECORD_TOO_LARGE`. Default 64 MiB. */
  maxRecordBytes?: number
  /**
   * Bytes of records waiting to be written beyond which appends reject with
   * `MAKO_LOG_BUSY` (transient) until the disk catches up. Default 256 MiB.
   */
  maxPendingBytes?: number
  /**
   * The first sequence number the caller needs from this log: the first
   * record of a new log (default 1), or the one after the checkpoint the
   * caller recovered from. An existing log that ends before it holds only
   * records the checkpoint covers (after a power loss took its unsynced
   * tail, say): it is emptied and continues at `startSeq`, so no sequence
   * number is handed out twice (`recovery.restarted`). A log that reaches
   * `startSeq - 1` or beyond is kept as it is.
   */
  startSeq?: number
  /**
   * How writes are made.
   * - `'mapped'` (the default where the file system has a
   *   {@link FileSystem.mapping}: Linux, with the native addon built) copies
   *   each group into a shared mapping of the segment, with no call at all
   *   (a group over 8 KiB is one `write` call, which is faster there).
   *   The segment is prepared ahead with zeros written by `write` calls
   *   (so a full disk is an error there, never a fault on a store), 64 KiB
   *   to 4 MiB at a time.
   * - `'inline'` (the default elsewhere) calls `write` on the main thread: a
   *   write into the page cache takes microseconds, against tens for a
   *   thread-pool round trip.
   * - `'threadpool'` makes every call on the thread pool.
   *
   * With `'mapped'` and `'inline'`, a stalled disk stalls the event loop;
   * `'threadpool'` never blocks it. fdatasync always runs on the thread pool.
   */
  writeMode?: 'mapped' | 'inline' | 'threadpool'
  /** Called once on open when a torn tail was truncated. */
  onTornTail?: (tail: TornTail) => void
}

/** A segment as the log tracks it. */
interface Segment {
  readonly firstSeq: number
  readonly path: string
  /** Last acknowledged record in it (firstSeq - 1 when none). */
  lastSeq: number
  /** File offset just past that record (or the header). */
  end: number
}

/**
 * Told the outcome of an append made with {@link FileLog.appendTo}: the
 * callback form of {@link FileLog.append}, for an owner with work to do the
 * moment its record is written (the database applies the batch to memory)
 * and no use for a promise in between.
 */
export interface AppendWaiter {
  /**
   * The record is written (and synced, if asked). Called by the writer, in
   * sequence order, synchronously after the write; it must not throw. It may
   * append again: that record goes into the next group.
   */
  written (seq: number): void
  /** The record was not written (see the module documentation on I/O errors). It must not throw. */
  failed (err: unknown): void
}

/**
 * Writes a record's payload straight into the log's group buffer, for
 * {@link FileLog.appendEncoded}: the database encodes a batch there, with
 * no array of its own to copy from.
 */
export interface RecordSource {
  /**
   * Writes the payload at `into[at..at + length)`, `length` being what was
   * given to `appendEncoded`, and returns `at + length`. It must not throw,
   * nor touch `into` elsewhere.
   */
  writeRecord (into: Uint8Array, at: number): number
}

/** The waiter behind a promise of {@link FileLog.append}. */
class PromiseWaiter implements AppendWaiter {
  constructor (private readonly resolve: (seq: number) => void, private readonly reject: (err: unknown) => void) {}

  written (seq: number): void {
    this.resolve(seq)
  }

  failed (err: unknown): void {
    this.reject(err)
  }
}

/** A `sync()` call waiting for the next group. */
interface SyncWaiter {
  resolve: () => void
  reject: (err: unknown) => void
}

type State = 'open' | 'closing' | 'closed' | 'failed'

function ioError (what: string, cause: unknown): MakoError {
  const code = errnoCode(cause)
  const detail = cause instanceof Error ? cause.message : String(cause)
  return new MakoError(`${what}: ${detail}`, 'MAKO_IO_ERROR', { cause, transient: code === 'ENOSPC' })
}

function corruption (file: string, offset: number, reason: string): MakoError {
  return new MakoError(`write-ahead log corrupt in ${file} at offset ${offset}: ${reason}`, 'MAKO_CORRUPTION')
}

function checkPositiveInteger (name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new MakoError(`${name} must be an integer >= ${min}, got ${value}`, 'MAKO_INVALID_ARGUMENT')
  }
}

/** What scanning one segment found. */
interface SegmentScan {
  lastSeq: number
  validEnd: number
  records: number
  size: number
  damage: { offset: number, reason: string } | undefined
  /** The segment is of a newer format version. */
  unsupported: boolean
}

/** Reads a segment file through, checking everything. */
async function scanFile (
  fs: FileSystem, path: string, firstSeq: number, maxRecordBytes: number
): Promise<SegmentScan> {
  const fd = await fs.open(path, 'r')
  try {
    const size = await fs.size(fd)
    const scanner = new SegmentScanner(
      { read: (b, o, l, p) => fs.read(fd, b, o, l, p) }, size, firstSeq, maxRecordBytes, READ_CHUNK_BYTES)
    let records = 0
    for (;;) {
      const r = scanner.step()
      if (r === STEP_RECORD) records++
      else if (r === STEP_MORE) await scanner.fill()
      else break
    }
    return {
      lastSeq: scanner.lastSeq, validEnd: scanner.validEnd, records, size, damage: scanner.damage,
      unsupported: scanner.unsupported
    }
  } finally {
    await fs.close(fd)
  }
}

/** What follows the first damage in a segment (see {@link inspectTail}). */
interface TailFound {
  /** The offset of a valid record with a sequence number above the last good one, if one starts after the damage. */
  validAt: number | undefined
  /** Every byte from the damage to the end of the file is zero. */
  zeros: boolean
}

/**
 * Reads what follows the damage at `from` in `path`: whether a valid record
 * with seq above `afterSeq` starts anywhere after it, and whether it is all
 * zeros (the space a mapped log had prepared, see the module documentation).
 */
async function inspectTail (
  fs: FileSystem, path: string, from: number, size: number, afterSeq: number, maxRecordBytes: number
): Promise<TailFound> {
  if (size <= from) return { validAt: undefined, zeros: true }
  // The rest of one segment, read once: this runs only when damage was found.
  const fd = await fs.open(path, 'r')
  let bytes: Uint8Array
  try {
    bytes = new Uint8Array(size - from)
    let filled = 0
    while (filled < bytes.length) {
      const got = await fs.read(fd, bytes, filled, bytes.length - filled, from + filled)
      if (got <= 0) break
      filled += got
    }
    bytes = bytes.subarray(0, filled)
  } finally {
    await fs.close(fd)
  }
  let zeros = bytes.length === size - from
  for (let p = 0; zeros && p < bytes.length; p++) if (bytes[p] !== 0) zeros = false
  if (zeros) return { validAt: undefined, zeros }
  for (let p = 1; p + FRAME_HEADER_BYTES <= bytes.length; p++) {
    if (isFrameAt(bytes, p, bytes.length, afterSeq, maxRecordBytes)) return { validAt: from + p, zeros }
  }
  return { validAt: undefined, zeros }
}

/** Segment files in `dir`, sorted by first sequence number. */
async function listSegments (fs: FileSystem, dir: string): Promise<Array<{ firstSeq: number, path: string, name: string }>> {
  const names = await fs.readdir(dir)
  const out: Array<{ firstSeq: number, path: string, name: string }> = []
  for (const name of names) {
    const m = SEGMENT_NAME.exec(name)
    if (m === null) continue
    const firstSeq = Number(m[1])
    if (!Number.isSafeInteger(firstSeq)) continue
    out.push({ firstSeq, path: join(dir, name), name })
  }
  out.sort((a, b) => a.firstSeq - b.firstSeq)
  return out
}

/**
 * The write-ahead log on files: see the module documentation for the format,
 * group commit, the torn-tail rule and I/O errors.
 *
 * It does not lock its directory; the owner does (see `lock.ts`).
 *
 * @example
 * ```ts
 * const log = await FileLog.open('./db/wal', { onTornTail: (t) => console.warn(t) })
 * for await (const { seq, payload } of log.read(log.firstSeq)) apply(seq, payload)
 * const seq = await log.append(bytes, { sync: true })
 * await log.close()
 * ```
 */
export class FileLog implements Log {
  /** What open found. */
  readonly recovery: LogRecovery
  /** Counters since open. */
  readonly stats: LogStats = { appends: 0, writes: 0, syncs: 0, bytes: 0, segmentsCreated: 0 }
  /** How this log writes (see {@link FileLogOptions.writeMode}). */
  readonly writeMode: 'mapped' | 'inline' | 'threadpool'

  private readonly fs: FileSystem
  private readonly dir: string
  private readonly segmentBytesMax: number
  private readonly maxRecordBytes: number
  private readonly maxPendingBytes: number
  /** Writes are made on the main thread (`'inline'` or `'mapped'`). */
  private readonly inline: boolean
  /** Set in `'mapped'` mode: groups are copied into {@link FileLog.window}. */
  private readonly mapper: FileMapper | undefined
  /**
   * In `'mapped'` mode, a shared mapping of the current segment's file bytes
   * `[windowStart, fileEnd)`, where the next group is copied; undefined
   * until the first group of a segment, and after a failure or a roll.
   */
  private window: Uint8Array | undefined
  private windowStart = 0
  /**
   * Size of the current segment's file: its last record's end, or beyond
   * it by the zeros a mapped log prepared.
   */
  private fileEnd: number
  /** Segments in order; the last is the one written to. */
  private readonly segments: Segment[]
  /** Descriptor of the last segment, open for writing. */
  private fd: number
  private state: State = 'open'
  private failure: unknown
  /** Written since the last fdatasync of the current segment. */
  private dirty = false
  private nextSeq: number

  /**
   * Records not yet taken by the writer, framed back to back in `buf`: the
   * waiter of each, and (at the same index) the offset in `buf` just past
   * its frame. Their sequence numbers are the `queue.length` numbers before
   * `nextSeq`. Two arrays of the same length rather than an object per
   * append: a lone writer's put then allocates nothing here.
   */
  private queue: AppendWaiter[] = []
  private ends: number[] = []
  /** Index in `queue` of the last append that asked for `sync` (-1 for none). */
  private lastSyncAt = -1
  /** Emptied queue arrays of a finished group, reused for the next one. */
  private spareQueue: AppendWaiter[] = []
  private spareEnds: number[] = []
  private buf: Uint8Array
  private bufLen = 0
  /** A group buffer the writer finished with, reused for the next group. */
  private spare: Uint8Array | undefined
  /**
   * The writer as a function made once: scheduling it is then one
   * `then` on a settled promise (see `schedule`), with no closure per group.
   */
  private readonly runTask = (): void => { this.run() }
  private syncWaiters: SyncWaiter[] = []
  private scheduled = false
  /** Groups left that may start from a microtask before the clock is read. */
  private microtaskGroups = MICROTASK_GROUPS_MAX
  /** When the writer last started from a turn of the event loop (performance.now(), ms). */
  private lastTurnAt = performance.now()
  private working = false
  /** Resolved when the writer goes idle; for close(). */
  private idleWaiters: Array<() => void> = []
  private dropping: Promise<void> = Promise.resolve()
  private closing: Promise<void> | undefined

  private constructor (
    dir: string, fs: FileSystem, options: Required<Pick<FileLogOptions, 'segmentBytesMax' | 'maxRecordBytes' | 'maxPendingBytes' | 'writeMode'>>,
    segments: Segment[], fd: number, recovery: LogRecovery
  ) {
    this.dir = dir
    this.fs = fs
    this.segmentBytesMax = options.segmentBytesMax
    this.maxRecordBytes = options.maxRecordBytes
    this.maxPendingBytes = options.maxPendingBytes
    this.writeMode = options.writeMode
    this.inline = options.writeMode !== 'threadpool'
    this.mapper = options.writeMode === 'mapped' ? fs.mapping : undefined
    this.segments = segments
    this.fd = fd
    this.recovery = recovery
    const last = segments[segments.length - 1]
    assert(last !== undefined, 'a log has a segment')
    this.nextSeq = last.lastSeq + 1
    this.fileEnd = last.end
    this.buf = new Uint8Array(64 * 1024)
  }

  /**
   * Opens (creating if needed) the log in `dir`: reads every segment,
   * verifies it, truncates a torn tail, and fails with `MAKO_CORRUPTION` on
   * damage anywhere else (see the module documentation for the rule).
   *
   * @param dir The log's directory; created if missing. Files in it not named
   *   like segments are ignored, so it may be shared.
   * @param options Limits, the file system, and the torn-tail callback.
   * @throws `MAKO_CORRUPTION` naming the file and offset; `MAKO_IO_ERROR`.
   */
  static async open (dir: string, options: FileLogOptions = {}): Promise<FileLog> {
    const fs = options.fs ?? nodeFileSystem
    const segmentBytesMax = options.segmentBytesMax ?? DEFAULT_SEGMENT_BYTES_MAX
    const maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES
    const maxPendingBytes = options.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES
    const startSeq = options.startSeq ?? 1
    const writeMode = options.writeMode ?? (fs.mapping !== undefined ? 'mapped' : 'inline')
    checkPositiveInteger('segmentBytesMax', segmentBytesMax, 4096)
    checkPositiveInteger('maxRecordBytes', maxRecordBytes, 0)
    checkPositiveInteger('maxPendingBytes', maxPendingBytes, 1)
    checkPositiveInteger('startSeq', startSeq, 1)
    if (writeMode !== 'mapped' && writeMode !== 'inline' && writeMode !== 'threadpool') {
      throw new MakoError(`writeMode must be 'mapped', 'inline' or 'threadpool'`, 'MAKO_INVALID_ARGUMENT')
    }
    if (writeMode === 'mapped' && fs.mapping === undefined) {
      throw new MakoError(`writeMode 'mapped' needs a file system with mappings (${fs === nodeFileSystem ? mappingUnavailable() ?? 'none' : 'this one has none'})`,
        'MAKO_INVALID_ARGUMENT')
    }

    try {
      await fs.mkdir(dir)
    } catch (err) {
      throw ioError(`cannot create log directory ${dir}`, err)
    }

    let found
    try {
      found = await listSegments(fs, dir)
    } catch (err) {
      throw ioError(`cannot list log directory ${dir}`, err)
    }

    const segments: Segment[] = []
    let records = 0
    let tornTail: TornTail | undefined
    let zeroTailBytes = 0
    let tail: { damage: { offset: number, reason: string }, size: number, zeros: boolean } | undefined
    for (let i = 0; i < found.length; i++) {
      const f = found[i] as { firstSeq: number, path: string, name: string }
      const prev = segments[segments.length - 1]
      if (prev !== undefined && f.firstSeq !== prev.lastSeq + 1) {
        throw corruption(f.path, 0,
          `segment starts at seq ${f.firstSeq} but the previous one, ${prev.path}, ends at ${prev.lastSeq}`)
      }
      let scan: SegmentScan
      try {
        scan = await scanFile(fs, f.path, f.firstSeq, maxRecordBytes)
      } catch (err) {
        throw ioError(`cannot read log segment ${f.path}`, err)
      }
      records += scan.records
      segments.push({ firstSeq: f.firstSeq, path: f.path, lastSeq: scan.lastSeq, end: scan.validEnd })
      if (scan.damage === undefined) continue
      if (scan.unsupported) {
        throw new MakoError(`log segment ${f.path}: ${scan.damage.reason}; this build reads version 1`,
          'MAKO_UNSUPPORTED_FORMAT')
      }
      if (i < found.length - 1) {
        throw corruption(f.path, scan.damage.offset, `${scan.damage.reason} (not the last segment)`)
      }
      let after: TailFound
      try {
        after = await inspectTail(fs, f.path, scan.damage.offset, scan.size, scan.lastSeq, maxRecordBytes)
      } catch (err) {
        throw ioError(`cannot read log segment ${f.path}`, err)
      }
      if (after.validAt !== undefined) {
        throw corruption(f.path, scan.damage.offset, `${scan.damage.reason}, followed by a valid record at offset ${after.validAt}`)
      }
      tail = { damage: scan.damage, size: scan.size, zeros: after.zeros && scan.damage.offset >= SEGMENT_HEADER_BYTES }
    }

    let fd: number
    if (segments.length === 0) {
      const path = join(dir, segmentName(startSeq))
      try {
        fd = await FileLog.createSegment(fs, dir, path, startSeq)
      } catch (err) {
        throw ioError(`cannot create log segment ${path}`, err)
      }
      segments.push({ firstSeq: startSeq, path, lastSeq: startSeq - 1, end: SEGMENT_HEADER_BYTES })
    } else {
      const last = segments[segments.length - 1] as Segment
      try {
        fd = await fs.open(last.path, 'r+')
      } catch (err) {
        throw ioError(`cannot open log segment ${last.path}`, err)
      }
      if (tail !== undefined) {
        try {
          if (tail.damage.offset < SEGMENT_HEADER_BYTES) {
            // A torn header: the segment was being created. Write it again.
            await fs.ftruncate(fd, 0)
            await writeAll(fs, fd, encodeSegmentHeader(last.firstSeq), 0, SEGMENT_HEADER_BYTES, 0, false)
            last.end = SEGMENT_HEADER_BYTES
          } else {
            await fs.ftruncate(fd, last.end)
          }
          await fs.fdatasync(fd)
        } catch (err) {
          await fs.close(fd).catch(() => {})
          throw ioError(`cannot truncate the torn tail of ${last.path}`, err)
        }
        if (tail.zeros) {
          zeroTailBytes = tail.size - tail.damage.offset
        } else {
          tornTail = {
            file: last.path,
            offset: tail.damage.offset,
            bytesDropped: tail.size - tail.damage.offset,
            reason: tail.damage.reason
          }
        }
      }
    }

    let restarted: LogRecovery['restarted']
    const lastSeq = (segments[segments.length - 1] as Segment).lastSeq
    if (lastSeq < startSeq - 1) {
      restarted = { lastSeq, startSeq }
      const path = join(dir, segmentName(startSeq))
      try {
        await fs.close(fd)
        // The old segments first: interrupted, the next open with the same
        // startSeq finds fewer of them (or none) and does the rest.
        for (const seg of segments) await fs.unlink(seg.path)
        fd = await FileLog.createSegment(fs, dir, path, startSeq)
      } catch (err) {
        throw ioError(`cannot restart the log in ${dir} at seq ${startSeq}`, err)
      }
      segments.splice(0, segments.length, { firstSeq: startSeq, path, lastSeq: startSeq - 1, end: SEGMENT_HEADER_BYTES })
    }

    const log = new FileLog(dir, fs, { segmentBytesMax, maxRecordBytes, maxPendingBytes, writeMode }, segments, fd,
      { tornTail, zeroTailBytes, segments: found.length, records, restarted })
    if (tornTail !== undefined) options.onTornTail?.(tornTail)
    return log
  }

  /** Creates a segment file holding only its header, synced, with its directory entry synced; open read-write, as a mapping needs. */
  private static async createSegment (fs: FileSystem, dir: string, path: string, firstSeq: number): Promise<number> {
    const fd = await fs.open(path, 'w+')
    try {
      await writeAll(fs, fd, encodeSegmentHeader(firstSeq), 0, SEGMENT_HEADER_BYTES, 0, false)
      await fs.fdatasync(fd)
      await fs.syncDir(dir)
    } catch (err) {
      await fs.close(fd).catch(() => {})
      throw err
    }
    return fd
  }

  /** {@inheritDoc Log.firstSeq} */
  get firstSeq (): number {
    return (this.segments[0] as Segment).firstSeq
  }

  /** {@inheritDoc Log.lastSeq} */
  get lastSeq (): number {
    return this.nextSeq - 1
  }

  /** The highest sequence number acknowledged (its append resolved or about to). */
  get ackedSeq (): number {
    return (this.segments[this.segments.length - 1] as Segment).lastSeq
  }

  /** Segment files currently held, oldest first (for tests and diagnostics). */
  get segmentFiles (): string[] {
    return this.segments.map((s) => s.path)
  }

  private unusable (): MakoError | undefined {
    if (this.state === 'open') return undefined
    if (this.state === 'failed') {
      return new MakoError('the write-ahead log failed after an I/O error; reopen it', 'MAKO_LOG_FAILED',
        { cause: this.failure })
    }
    return new MakoError('the write-ahead log is closed', 'MAKO_LOG_CLOSED')
  }

  /** {@inheritDoc Log.append} */
  append (payload: Uint8Array, options?: AppendOptions): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const waiter = new PromiseWaiter(resolve, reject)
      try {
        this.appendTo(payload, options?.sync === true, waiter)
      } catch (err) {
        reject(err)
      }
    })
  }

  /**
   * {@link FileLog.append} with a waiter instead of a promise: the same
   * record, sequence number, group commit and errors, but the waiter is
   * told from inside the writer, at once after the write (and the
   * fdatasync, with `sync`), in sequence order. The database applies a
   * batch to memory there, so no promise job runs between a record reaching
   * the OS and memory holding it.
   *
   * @param payload The record; copied before this returns.
   * @param sync Tell the waiter only once the record is on stable storage.
   * @param waiter Told the outcome, never before this returns.
   * @returns The record's sequence number.
   * @throws `MAKO_LOG_CLOSED`, `MAKO_LOG_FAILED`, `MAKO_INVALID_ARGUMENT`,
   *   `MAKO_RECORD_TOO_LARGE`, `MAKO_LOG_BUSY` (transient), synchronously,
   *   with nothing appended and the waiter not told.
   */
  appendTo (payload: Uint8Array, sync: boolean, waiter: AppendWaiter): number {
    if (this.state !== 'open') throw this.unusable() as MakoError
    if (!(payload instanceof Uint8Array)) {
      throw new MakoError('a log record must be a Uint8Array', 'MAKO_INVALID_ARGUMENT')
    }
    const start = this.reserve(payload.length)
    const seq = this.nextSeq++
    encodeFrame(this.buf, start, seq, payload)
    this.enqueue(start + FRAME_HEADER_BYTES + payload.length, sync, waiter)
    return seq
  }

  /**
   * {@link FileLog.appendTo} for a payload that `source` writes straight
   * into the log's group buffer: the same record, sequence number, group
   * commit and errors, without a copy of the payload in between.
   *
   * @param length The payload's length in bytes.
   * @param source Writes the payload, before this returns.
   * @param sync Tell the waiter only once the record is on stable storage.
   * @param waiter Told the outcome, never before this returns.
   * @returns The record's sequence number.
   * @throws As {@link FileLog.appendTo}; and an `AssertionError` if
   *   `source` wrote other than `length` bytes (nothing is appended then).
   */
  appendEncoded (length: number, source: RecordSource, sync: boolean, waiter: AppendWaiter): number {
    const start = this.reserve(length)
    const end = source.writeRecord(this.buf, start + FRAME_HEADER_BYTES)
    assert(end === start + FRAME_HEADER_BYTES + length, 'a record source writes the length it announced')
    const seq = this.nextSeq++
    sealFrame(this.buf, start, seq, length)
    this.enqueue(end, sync, waiter)
    return seq
  }

  /**
   * Checks that a record of `len` payload bytes can be appended now and
   * makes room for its frame at the end of the group buffer; returns where
   * the frame starts. Throws, with nothing changed, if it cannot.
   */
  private reserve (len: number): number {
    if (this.state !== 'open') throw this.unusable() as MakoError
    if (len > this.maxRecordBytes) {
      throw new MakoError(`log record of ${len} bytes is above maxRecordBytes (${this.maxRecordBytes})`,
        'MAKO_RECORD_TOO_LARGE')
    }
    const frame = FRAME_HEADER_BYTES + len
    const start = this.bufLen
    if (start + frame > this.maxPendingBytes && start > 0) {
      throw new MakoError(`more than maxPendingBytes (${this.maxPendingBytes}) waiting to be written`,
        'MAKO_LOG_BUSY', { transient: true })
    }
    if (start + frame > this.buf.length) this.grow(start + frame)
    return start
  }

  /** Queues the record just framed in the group buffer, ending at `end`, for the writer. */
  private enqueue (end: number, sync: boolean, waiter: AppendWaiter): void {
    this.bufLen = end
    if (sync) this.lastSyncAt = this.queue.length
    this.queue.push(waiter)
    this.ends.push(end)
    this.schedule()
  }

  /** Grows the group buffer to hold at least `need` bytes, keeping its contents. */
  private grow (need: number): void {
    let size = this.buf.length * 2
    while (size < need) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.bufLen), 0)
    this.buf = next
  }

  /** {@inheritDoc Log.sync} */
  sync (): Promise<void> {
    const bad = this.unusable()
    if (bad !== undefined) return Promise.reject(bad)
    if (!this.working && this.queue.length === 0 && !this.dirty) return Promise.resolve()
    const promise = new Promise<void>((resolve, reject) => { this.syncWaiters.push({ resolve, reject }) })
    this.schedule()
    return promise
  }

  private schedule (): void {
    if (this.working || this.scheduled) return
    this.scheduled = true
    if (this.microtaskGroups === 0 && performance.now() - this.lastTurnAt < MICROTASK_RUN_MS_MAX) {
      this.microtaskGroups = MICROTASK_GROUPS_MAX
    }
    if (this.microtaskGroups > 0) {
      this.microtaskGroups--
      // A `then` on a settled promise rather than queueMicrotask: Node's
      // queueMicrotask makes an AsyncResource and a bound function for
      // every call, which cost more than the rest of scheduling together.
      void SETTLED.then(this.runTask)
    } else {
      setImmediate(() => {
        this.microtaskGroups = MICROTASK_GROUPS_MAX
        this.lastTurnAt = performance.now()
        this.run()
      })
    }
  }

  /**
   * Takes the queue as the next group: swaps in the spare queue arrays
   * (empty) and, if `freshBuffer`, a fresh group buffer, so appends made
   * while the group is written gather behind it. The group's arrays become
   * the spares once {@link FileLog.recycle} has emptied them; only one group
   * is ever in the writer, so nothing takes them before that.
   */
  private takeQueue (freshBuffer: boolean): void {
    const queue = this.spareQueue
    const ends = this.spareEnds
    this.spareQueue = this.queue
    this.spareEnds = this.ends
    this.queue = queue
    this.ends = ends
    this.lastSyncAt = -1
    this.bufLen = 0
    if (freshBuffer) {
      this.buf = this.spare ?? new Uint8Array(64 * 1024)
      this.spare = undefined
    }
  }

  /**
   * Empties a finished group's arrays for reuse. Popped one by one, not
   * cut with `length = 0`: V8 drops an array's backing store when its
   * length is set to 0, so every group's first push would allocate a new
   * one (measured: 48 ns and about 100 bytes per append, against 4 ns and
   * none).
   */
  private recycle (group: AppendWaiter[], ends: number[]): void {
    while (group.length > 0) group.pop()
    while (ends.length > 0) ends.pop()
  }

  /**
   * The writer: takes whatever is queued and writes it as one group. If more
   * arrived meanwhile, the next group is scheduled, never run straight from
   * this one; and every {@link MICROTASK_GROUPS_MAX} groups the loop turns:
   * with inline writes (or a file system whose calls resolve at once) a
   * writer that awaits each append and appends again would otherwise keep
   * this going in microtasks and starve timers and I/O.
   *
   * The common group (inline writes, no sync asked, all of it fitting in the
   * current segment, the log healthy) is written here, synchronously: one
   * write call and the waiters told, with no async function or promise in
   * the way. Everything else takes {@link FileLog.writeGroup}.
   */
  private run (): void {
    this.scheduled = false
    if (this.working) return
    const group = this.queue
    const ends = this.ends
    const count = group.length
    const firstSeq = this.nextSeq - count
    if (this.inline && count > 0 && this.lastSyncAt < 0 && this.syncWaiters.length === 0 && this.state !== 'failed') {
      const seg = this.segments[this.segments.length - 1] as Segment
      const end = this.bufLen
      if (end <= this.segmentBytesMax - seg.end || (count === 1 && seg.end === SEGMENT_HEADER_BYTES)) {
        this.writeNow(seg, group, ends, firstSeq, end)
        return
      }
    }
    this.working = true
    const lastSyncAt = this.lastSyncAt
    const buf = this.buf
    const waiters = this.syncWaiters
    this.syncWaiters = []
    this.takeQueue(true)
    void this.writeGroup(group, ends, firstSeq, lastSyncAt, buf, waiters).then(() => {
      if (buf.length <= RETAIN_BUFFER_BYTES) this.spare = buf
      this.recycle(group, ends)
      this.working = false
      this.afterGroup()
    })
  }

  /** The synchronous path of {@link FileLog.run}: the whole group in one inline write. */
  private writeNow (seg: Segment, group: AppendWaiter[], ends: number[], firstSeq: number, end: number): void {
    const buf = this.buf
    try {
      if (this.mapper !== undefined) this.copyToMap(seg, buf, 0, end)
      else writeAllSync(this.fs, this.fd, buf, 0, end, seg.end)
    } catch (err) {
      // The slow path from here: truncate back (a file call that waits),
      // then reject the group and whatever queued behind it.
      this.working = true
      this.takeQueue(false)
      void this.undoWrite(seg, ioError(`write to log segment ${seg.path} at offset ${seg.end} failed`, err))
        .then((error) => {
          this.abandon(group, 0, [], error)
          this.recycle(group, ends)
          this.working = false
          this.afterGroup()
        })
      return
    }
    this.dirty = true
    this.stats.writes++
    this.stats.bytes += end
    this.stats.appends += group.length
    seg.end += end
    seg.lastSeq = firstSeq + group.length - 1
    // The group's bytes are with the OS, so the same buffer takes the next
    // group: a waiter that appends again from its callback writes into it
    // from offset 0. Keeping one buffer also keeps CRC32C's cached DataView
    // (it caches the last array it saw), which alternating buffers defeat.
    this.takeQueue(false)
    for (let k = 0; k < group.length; k++) (group[k] as AppendWaiter).written(firstSeq + k)
    this.recycle(group, ends)
    this.afterGroup()
  }

  /** After a group: schedules the next if anything is waiting, else tells close() the writer is idle. */
  private afterGroup (): void {
    if (this.queue.length > 0 || this.syncWaiters.length > 0) {
      this.schedule()
      return
    }
    if (this.scheduled || this.idleWaiters.length === 0) return
    const idle = this.idleWaiters
    this.idleWaiters = []
    for (const fn of idle) fn()
  }

  /**
   * Writes one group: as many records as fit in the current segment in one
   * write (and one fdatasync if asked), then, if some are left, a new
   * segment and the rest. Never throws: failures reject the appends.
   *
   * @param group The waiters, in sequence order from `firstSeq`.
   * @param ends Offset in `buf` just past each record's frame.
   * @param lastSyncAt Index of the last record that asked for sync (-1 for none).
   */
  private async writeGroup (
    group: AppendWaiter[], ends: number[], firstSeq: number, lastSyncAt: number, buf: Uint8Array, waiters: SyncWaiter[]
  ): Promise<void> {
    let i = 0
    let bufStart = 0
    try {
      if (this.state === 'failed') throw this.unusable()
      while (i < group.length) {
        const seg = this.segments[this.segments.length - 1] as Segment
        const room = this.segmentBytesMax - seg.end
        const empty = seg.end === SEGMENT_HEADER_BYTES
        let j = i
        while (j < group.length && !((ends[j] as number) - bufStart > room && !(j === i && empty))) j++
        if (j === i) {
          await this.roll(seg)
          continue
        }
        const partEnd = ends[j - 1] as number
        // A sync asked for in this part or a later one: a later one's part
        // needs this part synced first anyway (roll syncs a segment in full
        // before its successor exists), so syncing it here costs nothing more.
        const needSync = lastSyncAt >= i || (j === group.length && waiters.length > 0)
        try {
          if (this.mapper !== undefined) this.copyToMap(seg, buf, bufStart, partEnd)
          else if (this.inline) writeAllSync(this.fs, this.fd, buf, bufStart, partEnd, seg.end)
          else await writeAll(this.fs, this.fd, buf, bufStart, partEnd, seg.end)
        } catch (err) {
          throw await this.undoWrite(seg, ioError(`write to log segment ${seg.path} at offset ${seg.end} failed`, err))
        }
        this.dirty = true
        this.stats.writes++
        this.stats.bytes += partEnd - bufStart
        if (needSync) await this.syncSegment(seg)
        seg.end += partEnd - bufStart
        seg.lastSeq = firstSeq + j - 1
        this.stats.appends += j - i
        for (let k = i; k < j; k++) (group[k] as AppendWaiter).written(firstSeq + k)
        i = j
        bufStart = partEnd
      }
      if (waiters.length > 0 && this.dirty) {
        await this.syncSegment(this.segments[this.segments.length - 1] as Segment)
      }
      for (const w of waiters) w.resolve()
    } catch (err) {
      this.abandon(group, i, waiters, err)
    }
  }

  /**
   * The write of `'mapped'` mode: copies `buf[start..end)` to the segment's
   * end through the mapping, first preparing and mapping more of the file
   * if it does not reach that far; a group above MAP_COPY_MAX_BYTES is one
   * `write` call instead. Throws the file system's error (an inline write
   * may have put part of the group in the file then: the caller cuts it).
   */
  private copyToMap (seg: Segment, buf: Uint8Array, start: number, end: number): void {
    const need = seg.end + end - start
    if (end - start > MAP_COPY_MAX_BYTES) {
      // Past the prepared zeros the window ends before these bytes, so the
      // next copy needs a new mapping anyway: letting this one go now means
      // the file never grows under a view.
      const grows = need > this.fileEnd
      if (grows) this.unmapWindow()
      writeAllSync(this.fs, this.fd, buf, start, end, seg.end)
      if (grows) this.fileEnd = need
      return
    }
    let window = this.window
    if (window === undefined || need > this.windowStart + window.length) window = this.mapMore(seg, need)
    window.set(buf.subarray(start, end), seg.end - this.windowStart)
  }

  /**
   * Makes the current segment's file reach at least `need` bytes, by
   * writing zeros after `fileEnd` (a step that doubles the file, within the
   * MAP_STEP bounds), and maps it from the page holding `seg.end`. Zeros
   * are written, not a hole left (`ftruncate`), so that the blocks exist
   * before a store reaches them: a full disk fails this write with
   * `ENOSPC` rather than killing the process with SIGBUS on the store.
   */
  private mapMore (seg: Segment, need: number): Uint8Array {
    const mapper = this.mapper as FileMapper
    this.unmapWindow()
    const step = Math.min(Math.max(this.fileEnd, MAP_STEP_MIN_BYTES), MAP_STEP_MAX_BYTES)
    const page = mapper.pageBytes
    const target = Math.ceil(Math.max(need, Math.min(this.fileEnd + step, this.segmentBytesMax)) / page) * page
    while (this.fileEnd < target) {
      const n = Math.min(ZEROS.length, target - this.fileEnd)
      writeAllSync(this.fs, this.fd, ZEROS, 0, n, this.fileEnd)
      this.fileEnd += n
    }
    const start = Math.floor(seg.end / page) * page
    const window = mapper.map(this.fd, start, this.fileEnd - start)
    this.window = window
    this.windowStart = start
    return window
  }

  /** Lets the current mapping go, if there is one. */
  private unmapWindow (): void {
    const window = this.window
    if (window === undefined) return
    this.window = undefined
    ;(this.mapper as FileMapper).unmap(window)
  }

  /**
   * Cuts the zeros a mapped log prepared past the segment's last record,
   * so the file ends at that record again (before a roll and on close).
   */
  private async trimPrepared (seg: Segment): Promise<void> {
    this.unmapWindow()
    if (this.fileEnd === seg.end) return
    await this.fs.ftruncate(this.fd, seg.end)
    this.fileEnd = seg.end
    this.dirty = true
  }

  /** fdatasync of the current segment; a failure puts the log in the failed state. */
  private async syncSegment (seg: Segment): Promise<void> {
    try {
      await this.fs.fdatasync(this.fd)
    } catch (err) {
      throw this.fail(ioError(`fdatasync of log segment ${seg.path} failed`, err))
    }
    this.dirty = false
    this.stats.syncs++
  }

  /**
   * After a failed or short write: cuts the segment back to its last
   * acknowledged record so nothing half-written sits where the next write
   * goes. If that fails too, the log is failed.
   */
  private async undoWrite (seg: Segment, err: MakoError): Promise<MakoError> {
    try {
      // The mapping first: no view may reach past the end of the file.
      this.unmapWindow()
      await this.fs.ftruncate(this.fd, seg.end)
      this.fileEnd = seg.end
    } catch (truncErr) {
      this.fail(err)
      return new MakoError(`${err.message}; truncating back to offset ${seg.end} failed too`, 'MAKO_IO_ERROR',
        { cause: truncErr })
    }
    return err
  }

  /** Enters the failed state; returns the error for the caller to throw. */
  private fail (err: MakoError): MakoError {
    if (this.state !== 'closed') this.state = 'failed'
    this.failure ??= err
    return err
  }

  /**
   * Rejects the group's appends from index `from`, every append queued
   * behind them and the sync waiters, and hands their sequence numbers out
   * again.
   */
  private abandon (group: AppendWaiter[], from: number, waiters: SyncWaiter[], err: unknown): void {
    const queued = this.queue
    const queuedWaiters = this.syncWaiters
    this.queue = []
    this.ends = []
    this.lastSyncAt = -1
    this.syncWaiters = []
    this.bufLen = 0
    this.nextSeq = this.ackedSeq + 1
    const behind = err instanceof MakoError && err.code === 'MAKO_LOG_FAILED'
      ? err
      : new MakoError('an earlier write to the write-ahead log failed', 'MAKO_IO_ERROR', {
        cause: err, transient: err instanceof MakoError && err.transient
      })
    for (let k = from; k < group.length; k++) (group[k] as AppendWaiter).failed(err)
    for (const w of waiters) w.reject(err)
    for (const p of queued) p.failed(behind)
    for (const w of queuedWaiters) w.reject(behind)
  }

  /**
   * Starts a new segment after `prev`: syncs `prev` in full first, so no
   * earlier segment can ever be torn; then creates the new file with its
   * header, synced, and syncs the directory.
   */
  private async roll (prev: Segment): Promise<void> {
    try {
      await this.trimPrepared(prev)
    } catch (err) {
      throw this.fail(ioError(`cannot cut the prepared end of log segment ${prev.path}`, err))
    }
    if (this.dirty) await this.syncSegment(prev)
    const firstSeq = prev.lastSeq + 1
    const path = join(this.dir, segmentName(firstSeq))
    let fd: number
    try {
      fd = await FileLog.createSegment(this.fs, this.dir, path, firstSeq)
    } catch (err) {
      const error = ioError(`cannot create log segment ${path}`, err)
      // A half-made segment must not stay behind the current one: reopening
      // would see it as the last segment. If it cannot be removed, stop.
      try {
        await this.fs.unlink(path)
      } catch (unlinkErr) {
        if (errnoCode(unlinkErr) !== 'ENOENT') throw this.fail(error)
      }
      throw error
    }
    const oldFd = this.fd
    this.fd = fd
    this.fileEnd = SEGMENT_HEADER_BYTES
    this.segments.push({ firstSeq, path, lastSeq: firstSeq - 1, end: SEGMENT_HEADER_BYTES })
    this.stats.segmentsCreated++
    // Its data is synced; a failing close loses nothing.
    await this.fs.close(oldFd).catch(() => {})
  }

  /** {@inheritDoc Log.read} */
  read (from: number): AsyncIterableIterator<LogRecord> {
    const bad = this.unusable()
    if (bad !== undefined && this.state !== 'failed') return failingIterator(bad)
    if (from < this.firstSeq) {
      return failingIterator(new MakoError(
        `log records before seq ${this.firstSeq} were dropped (asked from ${from})`, 'MAKO_LOG_COMPACTED'))
    }
    const snapshot = this.segments.map((s) => ({ firstSeq: s.firstSeq, path: s.path, lastSeq: s.lastSeq, end: s.end }))
    return new LogReader(this.fs, snapshot, from, this.ackedSeq, this.maxRecordBytes)
  }

  /** {@inheritDoc Log.dropPrefix} */
  dropPrefix (beforeSeq: number): Promise<void> {
    const run = this.dropping.then(() => this.dropNow(beforeSeq))
    this.dropping = run.catch(() => {})
    return run
  }

  private async dropNow (beforeSeq: number): Promise<void> {
    const bad = this.unusable()
    if (bad !== undefined && this.state !== 'failed') throw bad
    let dropped = 0
    // Oldest first, so an interruption leaves a contiguous suffix. Never the
    // last segment: it is the one being written.
    while (this.segments.length > 1 && (this.segments[1] as Segment).firstSeq <= beforeSeq) {
      const seg = this.segments[0] as Segment
      try {
        await this.fs.unlink(seg.path)
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw ioError(`cannot remove log segment ${seg.path}`, err)
      }
      this.segments.shift()
      dropped++
    }
    if (dropped > 0) {
      try {
        await this.fs.syncDir(this.dir)
      } catch (err) {
        throw ioError(`cannot sync log directory ${this.dir}`, err)
      }
    }
  }

  /** {@inheritDoc Log.close} */
  close (): Promise<void> {
    this.closing ??= this.closeNow()
    return this.closing
  }

  private async closeNow (): Promise<void> {
    const wasFailed = this.state === 'failed'
    // New appends and syncs are refused from here; those already accepted
    // are still written.
    this.state = 'closing'
    if (this.working || this.scheduled) await new Promise<void>((resolve) => { this.idleWaiters.push(resolve) })
    await this.dropping
    let error: unknown
    const seg = this.segments[this.segments.length - 1] as Segment
    if (wasFailed) {
      this.unmapWindow()
    } else {
      try {
        await this.trimPrepared(seg)
      } catch (err) {
        error = ioError(`cannot cut the prepared end of log segment ${seg.path} on close`, err)
      }
    }
    if (!wasFailed && this.state === 'closing' && this.dirty) {
      try {
        await this.fs.fdatasync(this.fd)
        this.dirty = false
      } catch (err) {
        error = ioError('fdatasync of the write-ahead log on close failed', err)
      }
    }
    this.state = 'closed'
    try {
      await this.fs.close(this.fd)
    } catch (err) {
      error ??= ioError('cannot close the write-ahead log', err)
    }
    if (error !== undefined) throw error
  }
}

/** An iterator that rejects once with `err`. */
function failingIterator (err: unknown): AsyncIterableIterator<LogRecord> {
  let done = false
  return {
    next: () => {
      if (done) return Promise.resolve({ done: true, value: undefined })
      done = true
      return Promise.reject(err)
    },
    [Symbol.asyncIterator] () { return this }
  }
}

/**
 * The iterator of {@link FileLog.read}. Hand-written rather than an async
 * generator: records come out of a synchronous parse of buffered bytes, and
 * a resolved promise per record costs less than half of a generator's
 * resume (about 50 ns against 130 ns per record, measured).
 */
class LogReader implements AsyncIterableIterator<LogRecord> {
  private index = 0
  private scanner: SegmentScanner | undefined
  private fd: number | undefined
  private path = ''
  private done = false

  constructor (
    private readonly fs: FileSystem,
    private readonly segments: Array<{ firstSeq: number, path: string, lastSeq: number, end: number }>,
    private readonly from: number,
    private readonly upto: number,
    private readonly maxRecordBytes: number
  ) {}

  [Symbol.asyncIterator] (): AsyncIterableIterator<LogRecord> {
    return this
  }

  next (): Promise<IteratorResult<LogRecord>> {
    const scanner = this.scanner
    if (scanner !== undefined) {
      // The hot path: a record already buffered.
      for (;;) {
        if (scanner.step() !== STEP_RECORD) break
        const seq = scanner.lastSeq
        if (seq > this.upto) return this.finish()
        if (seq >= this.from) return Promise.resolve({ done: false, value: { seq, payload: scanner.payload() } })
      }
    }
    return this.slowNext()
  }

  /** Reads more, moves to the next segment, or ends. */
  private async slowNext (): Promise<IteratorResult<LogRecord>> {
    for (;;) {
      if (this.done) return { done: true, value: undefined }
      const scanner = this.scanner
      if (scanner === undefined) {
        if (!await this.openNext()) return this.finish()
        continue
      }
      const r = scanner.step()
      if (r === STEP_MORE) {
        try {
          await scanner.fill()
        } catch (err) {
          await this.finish()
          throw ioError(`cannot read log segment ${this.path}`, err)
        }
        continue
      }
      if (r === STEP_END) {
        const damage = scanner.damage
        await this.closeSegment()
        if (damage !== undefined) {
          await this.finish()
          throw corruption(this.path, damage.offset, `${damage.reason} (found while reading)`)
        }
        continue
      }
      const seq = scanner.lastSeq
      if (seq > this.upto) return this.finish()
      if (seq >= this.from) return { done: false, value: { seq, payload: scanner.payload() } }
    }
  }

  /** Opens the next segment holding records in [from, upto]; false when there is none. */
  private async openNext (): Promise<boolean> {
    while (this.index < this.segments.length) {
      const seg = this.segments[this.index++] as { firstSeq: number, path: string, lastSeq: number, end: number }
      if (seg.lastSeq < this.from) continue
      if (seg.firstSeq > this.upto) return false
      this.path = seg.path
      try {
        this.fd = await this.fs.open(seg.path, 'r')
      } catch (err) {
        this.done = true
        if (errnoCode(err) === 'ENOENT') {
          throw new MakoError(`log segment ${seg.path} was dropped while being read`, 'MAKO_LOG_COMPACTED')
        }
        throw ioError(`cannot open log segment ${seg.path}`, err)
      }
      const fd = this.fd
      this.scanner = new SegmentScanner({ read: (b, o, l, p) => this.fs.read(fd, b, o, l, p) },
        seg.end, seg.firstSeq, this.maxRecordBytes, READ_CHUNK_BYTES)
      return true
    }
    return false
  }

  private async closeSegment (): Promise<void> {
    this.scanner = undefined
    const fd = this.fd
    this.fd = undefined
    if (fd !== undefined) await this.fs.close(fd).catch(() => {})
  }

  private async finish (): Promise<IteratorResult<LogRecord>> {
    this.done = true
    await this.closeSegment()
    return { done: true, value: undefined }
  }

  /** Called by `break` in a `for await`: closes the open segment. */
  return (): Promise<IteratorResult<LogRecord>> {
    return this.finish()
  }
}

/** What `repairLog()` did. */
export interface LogRepair {
  /** The last sequence number kept (firstSeq - 1 if none). */
  lastSeq: number
  /** Where the first damage was and what was dropped from there, or undefined if the log was sound. */
  dropped: {
    /** The segment holding the first damage. */
    file: string
    /** Its offset there. */
    offset: number
    /** What was wrong. */
    reason: string
    /** Bytes removed from that segment and every later one. */
    bytes: number
    /** Later segment files removed whole. */
    files: string[]
  } | undefined
}

/**
 * Keeps the valid prefix of the log in `dir`: everything before the first
 * damaged byte (or sequence gap) anywhere, and drops the rest, reporting
 * what it dropped. Records after the damage are lost even if valid: they
 * cannot be applied without the ones before them.
 *
 * The directory must not be open as a {@link FileLog}.
 *
 * @param dir The log's directory.
 * @param options The file system and `maxRecordBytes`.
 * @returns What was kept and dropped.
 */
export async function repairLog (
  dir: string, options: Pick<FileLogOptions, 'fs' | 'maxRecordBytes'> = {}
): Promise<LogRepair> {
  const fs = options.fs ?? nodeFileSystem
  const maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES
  let found
  try {
    found = await listSegments(fs, dir)
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return { lastSeq: 0, dropped: undefined }
    throw ioError(`cannot list log directory ${dir}`, err)
  }
  let lastSeq = (found[0]?.firstSeq ?? 1) - 1
  for (let i = 0; i < found.length; i++) {
    const f = found[i] as { firstSeq: number, path: string }
    let damage: { offset: number, reason: string } | undefined
    let scan: SegmentScan | undefined
    if (f.firstSeq !== lastSeq + 1) {
      const prev = (found[i - 1] as { path: string }).path
      damage = { offset: 0, reason: `segment starts at seq ${f.firstSeq} but the previous one, ${prev}, ends at ${lastSeq}` }
    } else {
      try {
        scan = await scanFile(fs, f.path, f.firstSeq, maxRecordBytes)
      } catch (err) {
        throw ioError(`cannot read log segment ${f.path}`, err)
      }
      if (scan.unsupported) {
        throw new MakoError(`log segment ${f.path} is of a newer format; repair refuses to cut it`,
          'MAKO_UNSUPPORTED_FORMAT')
      }
      lastSeq = scan.lastSeq
      damage = scan.damage
    }
    if (damage === undefined) continue
    try {
      if (scan !== undefined && i === found.length - 1 && damage.offset >= SEGMENT_HEADER_BYTES &&
          (await inspectTail(fs, f.path, damage.offset, scan.size, scan.lastSeq, maxRecordBytes)).zeros) {
        // A mapped log's prepared zeros, not damage (see the module documentation).
        await cutZeros(fs, f.path, damage.offset)
        return { lastSeq, dropped: undefined }
      }
      return { lastSeq, dropped: await cutLog(fs, dir, found.slice(i), damage, scan, i === 0) }
    } catch (err) {
      throw ioError(`cannot repair the write-ahead log in ${dir}`, err)
    }
  }
  return { lastSeq, dropped: undefined }
}

/** Truncates a segment at `offset`, synced. */
async function cutZeros (fs: FileSystem, path: string, offset: number): Promise<void> {
  const fd = await fs.open(path, 'r+')
  try {
    await fs.ftruncate(fd, offset)
    await fs.fdatasync(fd)
  } finally {
    await fs.close(fd)
  }
}

/**
 * Cuts the log at `damage` in `segs[0]` and removes `segs[1..]`. The damaged
 * segment keeps its valid records; it is removed if its header is damaged,
 * unless it is the log's first, whose name holds the starting sequence
 * number: then its header is written again.
 */
async function cutLog (
  fs: FileSystem, dir: string, segs: Array<{ firstSeq: number, path: string }>,
  damage: { offset: number, reason: string }, scan: SegmentScan | undefined, isFirst: boolean
): Promise<NonNullable<LogRepair['dropped']>> {
  const first = segs[0] as { firstSeq: number, path: string }
  const keepFirst = scan !== undefined && (damage.offset >= SEGMENT_HEADER_BYTES || isFirst)
  let bytes = 0
  const files: string[] = []
  if (keepFirst) {
    const fd = await fs.open(first.path, 'r+')
    try {
      if (damage.offset < SEGMENT_HEADER_BYTES) {
        bytes += scan.size
        await fs.ftruncate(fd, 0)
        await writeAll(fs, fd, encodeSegmentHeader(first.firstSeq), 0, SEGMENT_HEADER_BYTES, 0, false)
      } else {
        bytes += scan.size - scan.validEnd
        await fs.ftruncate(fd, scan.validEnd)
      }
      await fs.fdatasync(fd)
    } finally {
      await fs.close(fd)
    }
  }
  // Newest first: an interruption leaves a log that is still contiguous.
  for (let k = segs.length - 1; k >= (keepFirst ? 1 : 0); k--) {
    const g = segs[k] as { path: string }
    const fd = await fs.open(g.path, 'r')
    try { bytes += await fs.size(fd) } finally { await fs.close(fd) }
    await fs.unlink(g.path)
    files.unshift(g.path)
  }
  await fs.syncDir(dir)
  return { file: first.path, offset: damage.offset, reason: damage.reason, bytes, files }
}
