/**
 * Durability for a MakoLevel with a location: the write-ahead log and
 * checkpoints in its directory, recovery on open, and the commit path.
 *
 * ```
 * <location>/LOCK          held while open (adapters/disk/lock)
 * <location>/wal/          log segments: one record per batch
 * <location>/checkpoints/  every family as of one sequence number
 * ```
 *
 * A write is appended to the log first and applied to the in-memory store
 * when the log's writer reports it written (`FileLog.appendTo`): then its
 * bytes are with the OS (so it survives a crash of the process) and, with
 * `sync: true`, on stable storage. Readers therefore never see a write the
 * log does not hold, and the writer reports records in sequence order, so
 * the store applies batches in log order and the store's sequence number is
 * the log's.
 *
 * A checkpoint is written from an O(1) snapshot in the background while
 * writes go on; once it is durable, log segments it covers are dropped.
 * Recovery loads the newest valid checkpoint and replays the log after it.
 *
 * @module
 * @internal
 */

import { mkdir, rm, rmdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { MakoError } from '../../lib/errors.js'
import { BTree, Cursor, place, placedBuffer, placedOffset, type Node } from '../../lib/btree/index.js'
import { batchBytes, decodeBatch, encodeBatchAt, type BatchOp, type Store, type StoreSnapshot } from '../../lib/store/index.js'
import { FileLog, repairLog, type AppendWaiter, type LogRepair, type RecordSource, type TornTail } from '../disk/log.js'
import { listCheckpoints, loadNewestCheckpoint, readCheckpoint, writeCheckpoint, type CheckpointPair } from '../disk/checkpoint.js'
import { lockDirectory, type DirectoryLock } from '../disk/lock.js'
import { nodeFileSystem, type FileSystem } from '../disk/fs.js'

/** Log bytes written since the last checkpoint that start a new one: 64 MiB. @internal */
export const CHECKPOINT_LOG_BYTES_DEFAULT = 64 * 1024 * 1024

/** Options of {@link Durable.open}. @internal */
export interface DurableOptions {
  createIfMissing: boolean
  errorIfExists: boolean
  /** Start a checkpoint after this many log bytes. */
  checkpointLogBytes?: number
  /** Told of a torn log tail truncated on open. */
  onTornTail?: (tail: TornTail) => void
  /** Told of a damaged checkpoint skipped on open (an older one was used). */
  onCorruptCheckpoint?: (path: string, error: MakoError) => void
  /** The file system under the log and checkpoints (tests inject faults). */
  fs?: FileSystem
  /** How the log writes (`FileLogOptions.writeMode`). */
  writeMode?: 'mapped' | 'inline' | 'threadpool'
  /** Write no checkpoints (the database refuses writes). */
  readOnly?: boolean
}

/** What {@link Durable} holds as its next batch between commits: none. */
const NO_OPS: readonly BatchOp[] = []

/** Column family slots of a checkpoint are family ids; an unused id has this name. */
const UNUSED = ''

/**
 * The disk side of one open database.
 * @internal
 */
export class Durable {
  /**
   * Batches appended to the log and not yet applied, oldest first. A
   * transaction validating now must count them as already written: they
   * come before it in the log.
   */
  readonly pending: Array<readonly BatchOp[]> = []
  private checkpointing: Promise<void> | null = null
  private logBytesAtCheckpoint = 0
  private failure: unknown = null

  private constructor (
    readonly location: string,
    readonly store: Store,
    private readonly log: FileLog,
    private readonly lock: DirectoryLock,
    private readonly checkpointLogBytes: number,
    private readonly fs: FileSystem,
    private readonly readOnly: boolean
  ) {}

  /** Opens (or creates) the database at `location` into a new store. */
  static async open (location: string, store: Store, options: DurableOptions): Promise<Durable> {
    const exists = await isDirectory(location)
    if (!exists && !options.createIfMissing) {
      throw new MakoError(`database ${location} does not exist (createIfMissing is false)`, 'MAKO_DATABASE_NOT_FOUND')
    }
    if (exists && options.errorIfExists && await holdsDatabase(location)) {
      throw new MakoError(`database ${location} exists (errorIfExists is true)`, 'MAKO_DATABASE_EXISTS')
    }
    await mkdir(location, { recursive: true })
    // Fails with LEVEL_LOCKED while another owner, here or in another
    // process, has the directory open.
    const lock = await lockDirectory(location)
    let log: FileLog | null = null
    try {
      const fs = options.fs ?? nodeFileSystem
      const checkpointSeq = await loadCheckpoint(join(location, 'checkpoints'), store, fs, options.onCorruptCheckpoint)
      log = await FileLog.open(join(location, 'wal'), {
        fs,
        startSeq: checkpointSeq + 1,
        ...(options.writeMode !== undefined ? { writeMode: options.writeMode } : {}),
        ...(options.onTornTail !== undefined ? { onTornTail: options.onTornTail } : {})
      })
      if (log.firstSeq > checkpointSeq + 1) {
        throw new MakoError(`the log of ${location} starts at record ${log.firstSeq} but the newest checkpoint covers only up to ${checkpointSeq}`, 'MAKO_CORRUPTION')
      }
      for await (const record of log.read(Math.max(log.firstSeq, checkpointSeq + 1))) {
        store.apply(decodeBatch(record.payload, store, `${record.seq} of ${location}`), record.seq)
      }
      return new Durable(location, store, log, lock, options.checkpointLogBytes ?? CHECKPOINT_LOG_BYTES_DEFAULT, fs, options.readOnly === true)
    } catch (err) {
      await log?.close().catch(() => {})
      await lock.release()
      throw err
    }
  }

  /**
   * Logs a batch, then applies it. Resolves once it is with the OS (and on
   * stable storage with `sync`); rejects, without applying, if the log could
   * not take it.
   *
   * Not an async function: the log tells the batch's {@link Commit}
   * straight from its writer, which applies the batch and settles this one
   * promise. An `await` of the log's own promise here cost a promise, a
   * suspended frame and a microtask per put, about a tenth of a lone
   * writer's durable put.
   */
  commit (ops: readonly BatchOp[], sync: boolean): Promise<number> {
    this.nextOps = ops
    this.nextSync = sync
    return new Promise<number>(this.startCommit)
  }

  /** The batch {@link Durable.startCommit} is about to log (set just before it runs). */
  private nextOps: readonly BatchOp[] = NO_OPS
  private nextSync = false
  /**
   * The executor of every commit's promise, made once: it runs
   * synchronously inside `new Promise`, so it can take its batch from
   * `nextOps` rather than from a closure made for each call (a closure and
   * its context are about 100 bytes per put).
   */
  private readonly startCommit = (resolve: (seq: number) => void, reject: (err: unknown) => void): void => {
    const ops = this.nextOps
    this.nextOps = NO_OPS
    const commit = new Commit(this, ops, resolve, reject)
    this.pending.push(ops)
    try {
      // The batch is encoded straight into the log's group buffer.
      this.log.appendEncoded(batchBytes(ops), commit, this.nextSync, commit)
    } catch (err) {
      this.pending.pop()
      reject(err)
    }
  }

  /** The log holds `ops` as record `seq`: applies them (called by {@link Commit}, in log order). */
  applyLogged (ops: readonly BatchOp[], seq: number): void {
    this.dropPending(ops)
    this.store.apply(ops, seq)
    this.maybeCheckpoint()
  }

  /** `ops` leaves {@link Durable.pending}: applied, or the log could not take it (called by {@link Commit}). */
  dropPending (ops: readonly BatchOp[]): void {
    const pending = this.pending
    // Records are written in log order, so this batch is normally the
    // oldest pending one; a failed append's batch has left the queue already.
    if (pending[0] === ops) {
      pending.shift()
      return
    }
    const at = pending.indexOf(ops)
    if (at >= 0) pending.splice(at, 1)
  }

  /** Bytes in the log since it was opened (log statistics). */
  get logBytes (): number {
    return this.log.stats.bytes
  }

  private maybeCheckpoint (): void {
    if (this.checkpointing !== null) return
    if (this.log.stats.bytes - this.logBytesAtCheckpoint < this.checkpointLogBytes) return
    this.checkpointing = this.checkpoint().catch((err: unknown) => {
      // A background checkpoint that fails loses nothing (the log still holds
      // every record); it is retried at the next trigger and on close.
      this.failure = err
    }).finally(() => { this.checkpointing = null })
  }

  /**
   * Writes a checkpoint of every family as of now, then drops the log
   * segments that the checkpoints kept no longer need. Writers go on
   * meanwhile: the checkpoint reads an O(1) snapshot.
   */
  async checkpoint (): Promise<void> {
    const snapshot = this.store.snapshot()
    const bytesAtStart = this.log.stats.bytes
    try {
      // Log records are written after their append resolves; the checkpoint
      // covers exactly what the store held at the snapshot.
      const slots = checkpointSlots(snapshot)
      const written = await writeCheckpoint(join(this.location, 'checkpoints'), snapshot.sequence, slots, { fs: this.fs })
      const oldestKept = written.kept.at(-1)!.seq
      await this.log.dropPrefix(oldestKept + 1)
      this.logBytesAtCheckpoint = bytesAtStart
    } finally {
      snapshot.release()
    }
  }

  /** Waits for a running checkpoint, writes a last one, closes the log. */
  async close (): Promise<void> {
    try {
      if (this.checkpointing !== null) await this.checkpointing
      if (!this.readOnly && (this.log.stats.bytes > this.logBytesAtCheckpoint || this.failure !== null)) await this.checkpoint()
    } finally {
      try {
        await this.log.close()
      } finally {
        await this.lock.release()
      }
    }
  }
}

/**
 * One batch on its way through the log: it encodes the batch into the
 * log's buffer and, told by the log's writer when its record is written
 * (or not), applies the batch and settles the promise of
 * {@link Durable.commit}. One object for both roles: one allocation per
 * commit.
 * @internal
 */
class Commit implements AppendWaiter, RecordSource {
  constructor (
    private readonly durable: Durable,
    private readonly ops: readonly BatchOp[],
    private readonly resolve: (seq: number) => void,
    private readonly reject: (err: unknown) => void
  ) {}

  writeRecord (into: Uint8Array, at: number): number {
    return encodeBatchAt(this.ops, into, at)
  }

  written (seq: number): void {
    try {
      this.durable.applyLogged(this.ops, seq)
    } catch (err) {
      // A bug (the store refused a batch it was given): the caller hears of
      // it, and the log's writer goes on with the rest of the group.
      this.reject(err)
      return
    }
    this.resolve(seq)
  }

  failed (err: unknown): void {
    this.durable.dropPending(this.ops)
    this.reject(err)
  }
}

/**
 * The families of `snapshot` as checkpoint slots: slot i is the family with
 * id i, or an unused slot.
 * @internal
 */
export function checkpointSlots (snapshot: StoreSnapshot): Array<{ name: string, entries: Iterable<CheckpointPair> }> {
  // The families as of the snapshot: one dropped since is still in it, and
  // the log after the checkpoint replays its drop.
  const families = snapshot.families()
  const maxId = Math.max(...families.map((f) => f.id))
  return Array.from({ length: maxId + 1 }, (_, id) => {
    const family = families.find((f) => f.id === id)
    return { name: family?.name ?? UNUSED, entries: family === undefined ? [] : entriesOf(snapshot.view(family).root) }
  })
}

function * entriesOf (root: Node): Generator<CheckpointPair> {
  const cursor = new Cursor(root)
  for (cursor.first(); cursor.valid; cursor.next()) yield [cursor.key(), cursor.value()]
}

/**
 * Loads the newest valid checkpoint into `store` and returns the sequence
 * number it covers (0 when there is none).
 */
async function loadCheckpoint (
  dir: string, store: Store, fs: FileSystem, onCorrupt: ((path: string, error: MakoError) => void) | undefined
): Promise<number> {
  let columns: Array<{ bufs: ArrayBuffer[], offs: number[], klens: number[], vlens: number[] }> = []
  const info = await loadNewestCheckpoint(dir, {
    fs,
    ...(onCorrupt !== undefined ? { onCorrupt } : {}),
    onHeader: (header) => {
      columns = header.columnFamilies.map(() => ({ bufs: [], offs: [], klens: [], vlens: [] }))
    },
    onEntry: (cf, key, value) => {
      // Copied into chunks: the read buffer holds keys and values apart,
      // and copying lets that 4 MiB buffer go once it is read.
      const column = columns[cf]!
      place(key, value)
      column.bufs.push(placedBuffer)
      column.offs.push(placedOffset)
      column.klens.push(key.length)
      column.vlens.push(value.length)
    }
  })
  if (info === undefined) return 0
  info.columnFamilies.forEach((name, id) => {
    if (name === UNUSED) return
    const c = columns[id]!
    const tree = BTree.fromSorted(c.bufs, c.offs, c.klens, c.vlens, treeOptionsOf(store))
    if (id === 0) store.defaultFamily.tree = tree
    else store.createFamily(name, id, tree)
  })
  store.sequence = info.seq
  return info.seq
}

function treeOptionsOf (store: Store): { leafSize: number, branchSize: number } {
  const tree = store.defaultFamily.tree
  return { leafSize: tree.leafSize, branchSize: tree.branchSize }
}

async function isDirectory (path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

async function holdsDatabase (location: string): Promise<boolean> {
  return await isDirectory(join(location, 'wal')) || await isDirectory(join(location, 'checkpoints'))
}

/** What `MakoLevel.repair()` found and did. */
export interface RepairReport {
  /** The log: the last record kept, and what was dropped from the first damage on. */
  log: LogRepair
  /** Checkpoint files that failed their checks and were removed. */
  checkpointsRemoved: string[]
}

/**
 * Repairs the database at `location`: keeps the log's valid prefix and
 * removes damaged checkpoints, so that it opens again. Records after the
 * first damage in the log are lost, as they cannot be applied without the
 * ones before them; the report says what went.
 * @internal
 */
export async function repairDatabase (location: string): Promise<RepairReport> {
  if (!await isDirectory(location)) {
    throw new MakoError(`database ${location} does not exist`, 'MAKO_DATABASE_NOT_FOUND')
  }
  const lock = await lockDirectory(location)
  try {
    const checkpointsRemoved: string[] = []
    for (const { path } of await listCheckpoints(join(location, 'checkpoints'))) {
      try {
        await readCheckpoint(path, { onEntry: () => {} })
      } catch (err) {
        if ((err as MakoError).code !== 'MAKO_CORRUPTION') throw err
        await rm(path)
        checkpointsRemoved.push(path)
      }
    }
    return { log: await repairLog(join(location, 'wal')), checkpointsRemoved }
  } finally {
    await lock.release()
  }
}

/**
 * Removes the database at `location`: its log, checkpoints and lock, then
 * the directory if nothing else is in it. Fails with `LEVEL_LOCKED` while it
 * is open. A location that does not exist is fine (nothing to do).
 * @internal
 */
export async function destroyDatabase (location: string): Promise<void> {
  if (!await isDirectory(location)) return
  const lock = await lockDirectory(location)
  try {
    await rm(join(location, 'wal'), { recursive: true, force: true })
    await rm(join(location, 'checkpoints'), { recursive: true, force: true })
  } finally {
    await lock.release()
  }
  try {
    await rmdir(location)
  } catch (err) {
    // Files of the user's in the directory stay, and so does the directory.
    if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY') throw err
  }
}
