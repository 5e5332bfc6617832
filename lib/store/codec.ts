/**
 * The bytes of a batch in the write-ahead log: a version byte, the number of
 * operations, then each operation as a tag byte and its fields. Numbers are
 * unsigned LEB128 varints; keys, values and names are a varint length and
 * the bytes.
 *
 * ```
 * batch    = version:u8 count:varint op*
 * put      = 1 family:varint key:bytes value:bytes
 * del      = 2 family:varint key:bytes
 * range    = 3 family:varint gte:bytes lt:bytes      (deleteRange [gte, lt))
 * clear    = 4 family:varint                         (every key of a family)
 * create   = 5 family:varint name:bytes              (a new column family)
 * drop     = 6 family:varint
 * ```
 *
 * The log frames each record with its length and a CRC, so decoding here
 * meets damaged bytes only through a bug or a log written by another
 * version: it still checks every length and fails with `MAKO_CORRUPTION`
 * rather than reading past the record.
 *
 * @module
 * @internal
 */

import { MakoError } from '../errors.js'
import { copyBytes } from '../btree/index.js'
import type { BatchOp, Family, Store } from './store.js'

/** Version byte of the batch encoding. @internal */
export const BATCH_VERSION = 1

const PUT = 1
const DEL = 2
const RANGE = 3
const CLEAR = 4
const CREATE = 5
const DROP = 6

const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8', { fatal: true })

function varintSize (n: number): number {
  let size = 1
  while (n >= 0x80) { n = Math.floor(n / 0x80); size++ }
  return size
}

// The writer is plain functions taking and returning the position, not an
// object: a Writer that escaped the optimiser was 40 bytes per durable put.

/** Writes `n` as a varint at `pos`; returns the position after it. */
function putVarint (bytes: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    bytes[pos++] = (n & 0x7f) | 0x80
    n = Math.floor(n / 0x80)
  }
  bytes[pos++] = n
  return pos
}

/** Writes `b` as a field (varint length, then the bytes) at `pos`; returns the position after it. */
function putField (bytes: Uint8Array, pos: number, b: Uint8Array): number {
  pos = putVarint(bytes, pos, b.length)
  copyBytes(bytes, b, pos)
  return pos + b.length
}

function fieldSize (b: Uint8Array): number {
  return varintSize(b.length) + b.length
}

/**
 * Encodes a batch for the log, into an array of its own.
 * @internal
 */
export function encodeBatch (ops: readonly BatchOp[]): Uint8Array {
  const bytes = new Uint8Array(batchBytes(ops))
  encodeBatchAt(ops, bytes, 0)
  return bytes
}

/**
 * The length of the batch's encoding, in bytes: what {@link encodeBatchAt}
 * writes. The log reserves that much room and has the batch encoded
 * straight into its group buffer, with no array of its own in between.
 * @internal
 */
export function batchBytes (ops: readonly BatchOp[]): number {
  let size = 1 + varintSize(ops.length)
  // Indexed loops, not for-of: an array iterator that escapes the
  // optimiser is an object per loop on every durable put.
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!
    switch (op.type) {
      case 'put': size += 1 + varintSize(op.family.id) + fieldSize(op.key) + fieldSize(op.value); break
      case 'del': size += 1 + varintSize(op.family.id) + fieldSize(op.key); break
      case 'deleteRange': size += 1 + varintSize(op.family.id) + fieldSize(op.gte) + fieldSize(op.lt); break
      case 'clear': size += 1 + varintSize(op.family.id); break
      // Names are encoded twice (here and when written): family creation is rare.
      case 'createFamily': size += 1 + varintSize(op.id) + fieldSize(utf8.encode(op.name)); break
      case 'dropFamily': size += 1 + varintSize(op.family.id); break
    }
  }
  return size
}

/**
 * Encodes the batch at `into[at..]`, which has room for
 * {@link batchBytes}`(ops)` bytes; returns the offset just past it.
 * @internal
 */
export function encodeBatchAt (ops: readonly BatchOp[], into: Uint8Array, at: number): number {
  const b = into
  b[at] = BATCH_VERSION
  let p = putVarint(b, at + 1, ops.length)
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!
    switch (op.type) {
      case 'put': b[p++] = PUT; p = putVarint(b, p, op.family.id); p = putField(b, p, op.key); p = putField(b, p, op.value); break
      case 'del': b[p++] = DEL; p = putVarint(b, p, op.family.id); p = putField(b, p, op.key); break
      case 'deleteRange': b[p++] = RANGE; p = putVarint(b, p, op.family.id); p = putField(b, p, op.gte); p = putField(b, p, op.lt); break
      case 'clear': b[p++] = CLEAR; p = putVarint(b, p, op.family.id); break
      case 'createFamily': b[p++] = CREATE; p = putVarint(b, p, op.id); p = putField(b, p, utf8.encode(op.name)); break
      case 'dropFamily': b[p++] = DROP; p = putVarint(b, p, op.family.id); break
    }
  }
  return p
}

class Reader {
  pos = 0
  constructor (readonly bytes: Uint8Array, readonly where: string) {}

  fail (what: string): never {
    throw new MakoError(`malformed batch record ${this.where} at byte ${this.pos}: ${what}`, 'MAKO_CORRUPTION')
  }

  u8 (): number {
    if (this.pos >= this.bytes.length) this.fail('truncated')
    return this.bytes[this.pos++]!
  }

  varint (): number {
    let n = 0
    let scale = 1
    for (let i = 0; i < 8; i++) {
      const b = this.u8()
      n += (b & 0x7f) * scale
      if (b < 0x80) return n
      scale *= 0x80
    }
    return this.fail('varint too long')
  }

  field (): Uint8Array {
    const n = this.varint()
    if (n > this.bytes.length - this.pos) this.fail('field runs past the record')
    const out = this.bytes.subarray(this.pos, this.pos + n)
    this.pos += n
    return out
  }
}

/**
 * Decodes a batch from the log against `store`'s families. A family must
 * exist before a batch writes to it: creating and dropping a family are
 * batches of their own (the database never mixes them with writes), so
 * every family a batch names is in the store when the batch is replayed.
 * `where` names the record in errors.
 * @internal
 */
export function decodeBatch (bytes: Uint8Array, store: Store, where: string): BatchOp[] {
  const r = new Reader(bytes, where)
  const version = r.u8()
  if (version !== BATCH_VERSION) r.fail(`unknown version ${version}`)
  const count = r.varint()
  if (count > bytes.length) r.fail('operation count larger than the record')
  const ops: BatchOp[] = []
  const family = (id: number): Family => store.familyById(id) ?? r.fail(`unknown column family ${id}`)
  for (let i = 0; i < count; i++) {
    const tag = r.u8()
    switch (tag) {
      case PUT: { const f = family(r.varint()); const key = r.field(); ops.push({ type: 'put', family: f, key, value: r.field() }); break }
      case DEL: { const f = family(r.varint()); ops.push({ type: 'del', family: f, key: r.field() }); break }
      case RANGE: { const f = family(r.varint()); const gte = r.field(); ops.push({ type: 'deleteRange', family: f, gte, lt: r.field() }); break }
      case CLEAR: ops.push({ type: 'clear', family: family(r.varint()) }); break
      case CREATE: {
        const id = r.varint()
        let name: string
        try { name = utf8Decoder.decode(r.field()) } catch { return r.fail('family name is not UTF-8') }
        ops.push({ type: 'createFamily', id, name })
        break
      }
      case DROP: ops.push({ type: 'dropFamily', family: family(r.varint()) }); break
      default: r.fail(`unknown operation ${tag}`)
    }
  }
  if (r.pos !== bytes.length) r.fail('trailing bytes')
  return ops
}
