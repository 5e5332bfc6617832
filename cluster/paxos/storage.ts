/**
 * A replica's durable storage: its records in a write-ahead log
 * ({@link FileLog}) in its own directory. Promises, accepted values, commit
 * marks, disk identity and snapshots are all records of the one log, so a
 * group commit covers them together and their order on disk is the order
 * the replica emitted them.
 *
 * Compaction: when a snapshot record is durable, the records still needed
 * above it (the promise, the disk identity, accepted slots above the
 * snapshot, the commit mark) are written again after it, and the log's
 * prefix before the snapshot record is dropped (whole segments).
 *
 * Losing the directory is detected by the replica, not here: an empty
 * directory has no `meta` record, so the replica starts without a disk id
 * and asks its peers whether the cluster exists (see `Recovery`).
 *
 * @module
 */

import { MakoError } from '../../lib/errors.js'
import { FileLog } from '../../adapters/disk/log.js'
import { decodeRecord, encodeRecord } from './codec.js'
import { applyRecord, emptyDurableState } from './durable.js'
import type { DurableState, PersistRecord } from './types.js'

/** What the driver needs of a replica's storage. */
export interface ReplicaStorage {
  /** The durable state found at open. */
  recovered (): DurableState
  /** Writes records in order; resolves when they are durable. */
  write (records: readonly PersistRecord[]): Promise<void>
  /** Flushes and closes. */
  close (): Promise<void>
}

/** Options of {@link PaxosStorage.open}. */
export interface PaxosStorageOptions {
  /** fdatasync before acknowledging (default true). False keeps records in the OS page cache only: they survive a process crash, not a power loss. */
  sync?: boolean
  /** Segment size of the log; default 8 MiB, so compaction frees space early. */
  segmentBytesMax?: number
}

/** Counters of a {@link PaxosStorage}. */
export interface PaxosStorageStats {
  /** Record batches written. */
  writes: number
  /** Records written. */
  records: number
  /** Compactions done. */
  compactions: number
}

/**
 * Durable storage of one replica. Not safe for two writers: one process
 * owns the directory.
 */
export class PaxosStorage implements ReplicaStorage {
  readonly #log: FileLog
  readonly #sync: boolean
  /** What the records written so far fold to (kept to rewrite the live part at compaction). */
  readonly #state: DurableState
  readonly #stats: PaxosStorageStats = { writes: 0, records: 0, compactions: 0 }
  #compacting: Promise<void> = Promise.resolve()
  #error: MakoError | undefined

  private constructor (log: FileLog, state: DurableState, sync: boolean) {
    this.#log = log
    this.#state = state
    this.#sync = sync
  }

  /**
   * Opens (or creates) the storage in `dir` and replays it.
   *
   * @param dir The replica's directory.
   * @param options Sync and log options.
   */
  static async open (dir: string, options: PaxosStorageOptions = {}): Promise<PaxosStorage> {
    const log = await FileLog.open(dir, { segmentBytesMax: options.segmentBytesMax ?? 8 * 1024 * 1024 })
    const state = emptyDurableState()
    for await (const rec of log.read(log.firstSeq)) applyRecord(state, decodeRecord(rec.payload))
    return new PaxosStorage(log, state, options.sync ?? true)
  }

  /**
   * The state on disk at open, to start the replica from. A copy: later
   * writes do not change it.
   */
  recovered (): DurableState {
    const s = this.#state
    return { ...s, accepted: new Map(s.accepted) }
  }

  /**
   * Writes records in order; resolves when all of them are durable (synced,
   * or in the page cache with `sync: false`).
   *
   * @param records What one Ready asked to persist.
   */
  async write (records: readonly PersistRecord[]): Promise<void> {
    if (records.length === 0) return
    if (this.#error !== undefined) throw this.#error
    this.#stats.writes++
    this.#stats.records += records.length
    let last: Promise<number> | undefined
    let snapshotSeq = 0
    for (const rec of records) {
      applyRecord(this.#state, rec)
      last = this.#log.append(encodeRecord(rec), { sync: this.#sync })
      if (rec.r === 'snapshot') snapshotSeq = this.#log.lastSeq
    }
    await last
    if (snapshotSeq > 0) this.#compact(snapshotSeq)
  }

  /** Rewrites the live records after a durable snapshot record and drops the log before it. */
  #compact (snapshotSeq: number): void {
    const s = this.#state
    const live: PersistRecord[] = [{ r: 'promise', b: s.promised }]
    if (s.disk !== undefined) live.push({ r: 'meta', disk: s.disk, recovery: s.recovery })
    for (const [slot, a] of s.accepted) live.push({ r: 'accept', slot, b: a.b, value: a.value, chosen: a.chosen })
    live.push({ r: 'commit', index: s.commit })
    let last: Promise<number> | undefined
    for (const rec of live) last = this.#log.append(encodeRecord(rec), { sync: this.#sync })
    this.#stats.compactions++
    // The snapshot record and everything after it stay; the rewritten
    // records must be durable before the old ones go.
    this.#compacting = this.#compacting.then(async () => {
      await last
      await this.#log.dropPrefix(snapshotSeq)
    }).catch((err: unknown) => {
      this.#error = new MakoError('Paxos log compaction failed', 'MAKO_IO_ERROR', { cause: err })
    })
  }

  /** Counters. */
  stats (): PaxosStorageStats {
    return { ...this.#stats }
  }

  /** Waits for compaction, syncs and closes the log. */
  async close (): Promise<void> {
    await this.#compacting.catch(() => {})
    await this.#log.close()
  }
}
