/**
 * The bytes of a write-ahead log segment, and a scanner that reads them back.
 *
 * A segment file is named by the sequence number of its first record,
 * zero-padded to 20 digits: `00000000000000000001.wal`. It holds:
 *
 * ```
 * header, 24 bytes:
 *   0  magic     'MKWL'
 *   4  version   u32 LE = 1
 *   8  firstSeq  u64 LE (equals the number in the file name)
 *  16  reserved  u32 LE = 0
 *  20  crc       u32 LE: CRC32C of bytes 0..20
 * then records, back to back, each:
 *   0  crc       u32 LE: CRC32C of bytes 4..16+length
 *   4  length    u32 LE: payload bytes
 *   8  seq       u64 LE: previous record's seq + 1 (the first is firstSeq)
 *  16  payload
 * ```
 *
 * Every byte of a segment is covered by a check: the magic and version by
 * comparison, the rest of the header and every record (its length and
 * sequence number included) by a CRC, and the sequence numbers by their
 * succession. So one flipped byte anywhere is always detected, and a record
 * whose length field is damaged cannot make the scanner skip to a wrong place
 * and accept what follows.
 *
 * @module
 * @internal
 */

import { ChunkedReader, type ReadSource } from './chunked-reader.js'
import { crc32cRange } from './crc32c.js'

/** @internal */
export const SEGMENT_MAGIC = Uint8Array.of(0x4d, 0x4b, 0x57, 0x4c) // 'MKWL'
/** @internal */
export const SEGMENT_VERSION = 1
/** Size of a segment header. @internal */
export const SEGMENT_HEADER_BYTES = 24
/** Size of a record's frame before its payload. @internal */
export const FRAME_HEADER_BYTES = 16
/** A segment file name: 20 decimal digits and `.wal`. @internal */
export const SEGMENT_NAME = /^(\d{20})\.wal$/

const TWO_32 = 2 ** 32

/** The file name of the segment whose first record is `firstSeq`. @internal */
export function segmentName (firstSeq: number): string {
  return String(firstSeq).padStart(20, '0') + '.wal'
}

/** Writes `value` as u32 little-endian at `p`. @internal */
export function putU32 (b: Uint8Array, p: number, value: number): void {
  b[p] = value
  b[p + 1] = value >>> 8
  b[p + 2] = value >>> 16
  b[p + 3] = value >>> 24
}

/** Reads a u32 little-endian at `p`. @internal */
export function getU32 (b: Uint8Array, p: number): number {
  return ((b[p] as number) | ((b[p + 1] as number) << 8) | ((b[p + 2] as number) << 16) |
    ((b[p + 3] as number) << 24)) >>> 0
}

/** Writes a safe non-negative integer as u64 little-endian at `p`. @internal */
export function putU64 (b: Uint8Array, p: number, value: number): void {
  putU32(b, p, value >>> 0)
  putU32(b, p + 4, Math.floor(value / TWO_32))
}

/**
 * Reads a u64 little-endian at `p`; returns -1 when it is beyond
 * `Number.MAX_SAFE_INTEGER` (never written by us, so a sign of damage).
 *
 * @internal
 */
export function getU64 (b: Uint8Array, p: number): number {
  const hi = getU32(b, p + 4)
  if (hi >= 0x200000) return -1
  return hi * TWO_32 + getU32(b, p)
}

/** The 24-byte header of a segment whose first record is `firstSeq`. @internal */
export function encodeSegmentHeader (firstSeq: number): Uint8Array {
  const b = new Uint8Array(SEGMENT_HEADER_BYTES)
  b.set(SEGMENT_MAGIC, 0)
  putU32(b, 4, SEGMENT_VERSION)
  putU64(b, 8, firstSeq)
  putU32(b, 16, 0)
  putU32(b, 20, crc32cRange(b, 0, 20))
  return b
}

/**
 * Checks a segment header; returns undefined when valid, else why not.
 *
 * @internal
 */
export function checkSegmentHeader (b: Uint8Array, p: number, firstSeq: number): string | undefined {
  for (let i = 0; i < 4; i++) if (b[p + i] !== SEGMENT_MAGIC[i]) return 'bad segment magic'
  if (getU32(b, p + 20) !== crc32cRange(b, p, p + 20)) return 'segment header checksum mismatch'
  const version = getU32(b, p + 4)
  if (version !== SEGMENT_VERSION) return `unsupported segment version ${version}`
  if (getU32(b, p + 16) !== 0) return 'segment header reserved field is not zero'
  const seq = getU64(b, p + 8)
  if (seq !== firstSeq) return `segment header says first seq ${seq}, file name says ${firstSeq}`
  return undefined
}

/**
 * Encodes one record frame at `p` in `b`, which must have room for
 * `FRAME_HEADER_BYTES + payload.length` bytes.
 *
 * @internal
 */
export function encodeFrame (b: Uint8Array, p: number, seq: number, payload: Uint8Array): void {
  b.set(payload, p + FRAME_HEADER_BYTES)
  sealFrame(b, p, seq, payload.length)
}

/**
 * Completes the frame at `p` in `b` whose `len`-byte payload is already in
 * place after the header: writes the length, the sequence number and the
 * CRC over them and the payload.
 *
 * @internal
 */
export function sealFrame (b: Uint8Array, p: number, seq: number, len: number): void {
  putU32(b, p + 4, len)
  putU64(b, p + 8, seq)
  putU32(b, p, crc32cRange(b, p + 4, p + FRAME_HEADER_BYTES + len))
}

/**
 * Whether a complete, valid frame with a sequence number above `afterSeq`
 * starts at `p` in `b[..end)`. Used to tell a torn tail (nothing valid after
 * the damage) from corruption in the middle of the log.
 *
 * @internal
 */
export function isFrameAt (b: Uint8Array, p: number, end: number, afterSeq: number, maxRecordBytes: number): boolean {
  if (end - p < FRAME_HEADER_BYTES) return false
  const len = getU32(b, p + 4)
  if (len > maxRecordBytes || len > end - p - FRAME_HEADER_BYTES) return false
  const seq = getU64(b, p + 8)
  if (seq <= afterSeq) return false
  return getU32(b, p) === crc32cRange(b, p + 4, p + FRAME_HEADER_BYTES + len)
}

/** Where and why a scan stopped before the end of its region. @internal */
export interface ScanDamage {
  /** File offset of the first byte that is not part of a valid record. */
  offset: number
  /** What was wrong there. */
  reason: string
}

/** {@link SegmentScanner.step} found a valid record. @internal */
export const STEP_RECORD = 1
/** {@link SegmentScanner.step} stopped: at the end of the region, or at damage. @internal */
export const STEP_END = 0
/** {@link SegmentScanner.step} needs `await fill()` first. @internal */
export const STEP_MORE = 2

/**
 * Reads a segment's records in order, in chunks, verifying the header, each
 * CRC and the succession of sequence numbers. Payloads are views into chunk
 * buffers that are never reused, so they stay valid after the scan.
 *
 * The loop is synchronous over buffered bytes (`step()`), with an await
 * only to read the next chunk (`fill()`).
 *
 * @internal
 */
export class SegmentScanner {
  /** Set when the scan stopped at damage rather than at the end. */
  damage: ScanDamage | undefined
  /** File offset just past the last valid record (or the header). */
  validEnd = 0
  /** Sequence number of the last valid record, or firstSeq - 1. */
  lastSeq: number
  /** The header is intact but of a format version this build does not read. */
  unsupported = false

  private readonly r: ChunkedReader
  private headerDone = false
  /** Where in the reader's buffer the last record's payload starts and ends. */
  private payloadBuf: Uint8Array = new Uint8Array(0)
  private payloadStart = 0
  private payloadEnd = 0

  /**
   * @param source Reads the file.
   * @param limit File offset where the region to scan ends (the file size).
   * @param firstSeq The sequence number of the first record (from the name).
   * @param maxRecordBytes A length above this is damage.
   * @param chunkBytes How much to read at a time.
   */
  constructor (
    source: ReadSource,
    limit: number,
    private readonly firstSeq: number,
    private readonly maxRecordBytes: number,
    chunkBytes: number
  ) {
    this.r = new ChunkedReader(source, limit, chunkBytes)
    this.lastSeq = firstSeq - 1
  }

  /** Reads the bytes the last STEP_MORE asked for. */
  fill (): Promise<void> {
    return this.r.fill()
  }

  private stop (reason: string): number {
    this.damage = { offset: this.r.pos, reason }
    return STEP_END
  }

  /**
   * Parses the next record from buffered bytes: STEP_RECORD (then
   * {@link SegmentScanner.lastSeq} is its seq and `payload()` its bytes),
   * STEP_END (at the end, or at damage: see `damage`), or STEP_MORE (call
   * `fill()`, then `step()` again).
   */
  step (): number {
    const r = this.r
    if (this.damage !== undefined) return STEP_END
    if (!this.headerDone) {
      if (r.left < SEGMENT_HEADER_BYTES) return this.stop('segment header incomplete')
      if (!r.has(SEGMENT_HEADER_BYTES)) return STEP_MORE
      const why = checkSegmentHeader(r.buf, r.at, this.firstSeq)
      if (why !== undefined) {
        this.unsupported = why.startsWith('unsupported')
        return this.stop(why)
      }
      this.headerDone = true
      r.pos += SEGMENT_HEADER_BYTES
      this.validEnd = r.pos
    }
    if (r.left === 0) return STEP_END
    if (r.left < FRAME_HEADER_BYTES) return this.stop('record header incomplete')
    if (!r.has(FRAME_HEADER_BYTES)) return STEP_MORE
    const len = getU32(r.buf, r.at + 4)
    if (len > this.maxRecordBytes) return this.stop(`record length ${len} above the limit`)
    const frame = FRAME_HEADER_BYTES + len
    if (r.left < frame) return this.stop('record incomplete')
    if (!r.has(frame)) return STEP_MORE
    const b = r.buf
    const p = r.at
    if (getU32(b, p) !== crc32cRange(b, p + 4, p + frame)) return this.stop('record checksum mismatch')
    const seq = getU64(b, p + 8)
    if (seq !== this.lastSeq + 1) return this.stop(`record seq ${seq} where ${this.lastSeq + 1} was expected`)
    this.lastSeq = seq
    this.payloadBuf = b
    this.payloadStart = p + FRAME_HEADER_BYTES
    this.payloadEnd = p + frame
    r.pos += frame
    this.validEnd = r.pos
    return STEP_RECORD
  }

  /** The payload of the record the last STEP_RECORD found. */
  payload (): Uint8Array {
    return this.payloadBuf.subarray(this.payloadStart, this.payloadEnd)
  }
}
