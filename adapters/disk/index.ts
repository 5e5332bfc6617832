/**
 * The disk layer: what makes a database directory crash-safe.
 *
 * - {@link FileLog}: a segmented, append-only write-ahead log with group
 *   commit, behind the small {@link Log} interface that the Paxos acceptors
 *   reuse; {@link repairLog} keeps the valid prefix of a damaged one.
 * - {@link writeCheckpoint}, {@link readCheckpoint},
 *   {@link loadNewestCheckpoint}: checkpoint files of every column family
 *   as of one sequence number, written atomically in the background.
 * - {@link lockDirectory}: one owner per directory, across processes
 *   (`LEVEL_LOCKED`).
 * - {@link crc32c}: the checksum framing both.
 * - {@link FileSystem}: the file calls used, injectable for tests, with
 *   the {@link FileMapper} of the native addon ({@link nativeMapper}) that
 *   the log writes through by default on Linux.
 *
 * ## How a database uses them
 * - Open: `lockDirectory(location)`; `loadNewestCheckpoint(ckptDir,
 *   { onHeader: start a fresh store, onEntry: load it })` gives seq `C` (0
 *   without one); `FileLog.open(walDir, { startSeq: C + 1, onTornTail })`
 *   (a log that ends before `C`, its unsynced tail lost to a power loss
 *   after the checkpoint was written, then continues at `C + 1`); then
 *   apply `log.read(max(C + 1, log.firstSeq))`. A log that starts after
 *   `C + 1` has lost records the checkpoint does not cover: corruption.
 * - Write: one log record per batch, so a batch is never half-applied.
 *   `append` assigns the seq at once and resolves in seq order; apply the
 *   batch to memory when it resolves, so nothing unwritten is ever read
 *   and a rejected batch leaves memory as it was.
 * - Checkpoint: take an O(1) snapshot at the last applied seq `S`,
 *   `writeCheckpoint(ckptDir, S, families)`, then
 *   `log.dropPrefix(written.kept.at(-1).seq + 1)`: records after the older
 *   kept checkpoint stay, for when the newest turns out damaged.
 *
 * Errors are `MakoError`s with stable codes: `MAKO_CORRUPTION`
 * (naming the file and offset), `MAKO_IO_ERROR` (with the platform error as
 * `cause`; transient for a full disk), `MAKO_LOG_FAILED`, `MAKO_LOG_CLOSED`,
 * `MAKO_LOG_COMPACTED`, `MAKO_LOG_BUSY`, `MAKO_RECORD_TOO_LARGE`,
 * `MAKO_CHECKPOINT_BUSY`, `MAKO_UNSUPPORTED_FORMAT`,
 * `MAKO_INVALID_ARGUMENT`, `LEVEL_LOCKED`.
 *
 * @module
 */

export { crc32c, crc32cRange } from './crc32c.js'
export { nodeFileSystem } from './fs.js'
export type { FileSystem, FileMapper } from './fs.js'
export { nativeMapper, mappingUnavailable } from './mapping.js'
export {
  FileLog, repairLog, DEFAULT_SEGMENT_BYTES_MAX, DEFAULT_MAX_RECORD_BYTES, DEFAULT_MAX_PENDING_BYTES,
  MICROTASK_GROUPS_MAX, MICROTASK_RUN_MS_MAX
} from './log.js'
export type {
  Log, LogRecord, AppendOptions, AppendWaiter, FileLogOptions, TornTail, LogRecovery, LogStats, LogRepair
} from './log.js'
export {
  writeCheckpoint, readCheckpoint, loadNewestCheckpoint, listCheckpoints, checkpointName,
  DEFAULT_CHECKPOINTS_KEPT, DEFAULT_CHECKPOINT_BLOCK_BYTES, DEFAULT_YIELD_EVERY_ENTRIES,
  MAX_CHECKPOINT_COLUMN_FAMILIES, MAX_COLUMN_FAMILY_NAME_BYTES
} from './checkpoint.js'
export type {
  CheckpointPair, CheckpointColumnFamily, WriteCheckpointOptions, CheckpointHeader, CheckpointRef,
  CheckpointInfo, CheckpointWritten, CheckpointSink, LoadCheckpointOptions
} from './checkpoint.js'
export { lockDirectory, LOCK_FILE, STALE_UNREADABLE_LOCK_MS } from './lock.js'
export type { DirectoryLock } from './lock.js'
