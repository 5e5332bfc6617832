/**
 * Iterators of {@link MakoLevel}: entries, keys and values over one frozen
 * tree root, so writes made while iterating are never seen and never
 * disturb the walk.
 *
 * @module
 * @internal
 */

import { AbstractIterator, AbstractKeyIterator, AbstractValueIterator } from 'abstract-level'
import { Cursor, ENT, KeyWords, compareEntry, compareFrom, type Leaf, type Node } from '../../lib/btree/index.js'
import { createRequire } from 'node:module'
import type { StoreFormat } from './encoding.js'
import { NodeBuffer, formatOf, keyOf, valueOf } from './encoding.js'

// abstract-level's own AbortError, so a caller sees the same code and name
// (LEVEL_ABORTED, AbortError) from every database.
const { AbortError } = createRequire(import.meta.url)('abstract-level/lib/errors.js') as { AbortError: new () => Error }

/** What a scan collects. @internal */
export type Kind = 0 | 1 | 2
export const ENTRIES = 0
export const KEYS = 1
export const VALUES = 2

/** Entries a long scan returns before it lets other work run. */
const YIELD_EVERY = 50_000

/** Range options as abstract-level hands them to private methods. @internal */
export interface RangeOptions {
  gt?: Uint8Array
  gte?: Uint8Array
  lt?: Uint8Array
  lte?: Uint8Array
  reverse?: boolean
  limit?: number
  signal?: AbortSignal | null
  keyEncoding?: string
  valueEncoding?: string
}

/**
 * A cursor confined to a range, walking forward or in reverse. Shared by the
 * three iterator kinds and by `clear()`.
 * @internal
 */
export class RangeScan {
  readonly cursor: Cursor
  readonly reverse: boolean
  private readonly signal: AbortSignal | null
  private readonly range: RangeOptions
  // The bound at which the walk stops, and whether it is inclusive.
  private readonly end: KeyWords | null
  private readonly endInclusive: boolean
  // The bound the walk starts from.
  private readonly start: Uint8Array | null
  private readonly startInclusive: boolean

  constructor (root: Node, options: RangeOptions) {
    this.cursor = new Cursor(root)
    this.range = options
    this.reverse = options.reverse === true
    this.signal = options.signal ?? null
    const lower = options.gte ?? options.gt ?? null
    const lowerInclusive = options.gte !== undefined
    const upper = options.lte ?? options.lt ?? null
    const upperInclusive = options.lte !== undefined
    if (this.reverse) {
      this.start = upper
      this.startInclusive = upperInclusive
      this.end = lower === null ? null : new KeyWords(lower)
      this.endInclusive = lowerInclusive
    } else {
      this.start = lower
      this.startInclusive = lowerInclusive
      this.end = upper === null ? null : new KeyWords(upper)
      this.endInclusive = upperInclusive
    }
    this.rewind()
  }

  private rewind (): void {
    const c = this.cursor
    if (this.start === null) {
      if (this.reverse) c.last()
      else c.first()
    } else if (this.reverse) {
      c.seek(this.start, this.startInclusive ? 'le' : 'lt')
    } else {
      c.seek(this.start, this.startInclusive ? 'ge' : 'gt')
    }
  }

  /** True while the cursor is on an entry inside the range. */
  get valid (): boolean {
    const c = this.cursor
    return c.leaf !== null && (this.end === null || this.inRange(c.leaf, c.pos))
  }

  /** True if entry `i` of `leaf` (reached in the walk's direction) has not passed the end bound. */
  private inRange (leaf: Leaf, i: number): boolean {
    // d is end - entry.
    const d = compareEntry(leaf, i, this.end!)
    if (this.reverse) return this.endInclusive ? d <= 0 : d < 0
    return this.endInclusive ? d >= 0 : d > 0
  }

  /**
   * With a signal, lets the caller's synchronous code after `next()` run
   * first, so an `abort()` right after the call still aborts it. Reads are
   * otherwise synchronous and would finish before any abort could land.
   */
  async checkSignal (): Promise<void> {
    await null
    if (this.signal!.aborted) throw new AbortError()
  }

  /** True when a signal was given: only then is {@link RangeScan.checkSignal} worth a promise. */
  get hasSignal (): boolean { return this.signal !== null }

  // The run of entries the last span() call found, in one leaf: positions
  // spanFrom, spanFrom + spanStep, ... (spanStep is -1 in reverse).
  spanLeaf: Leaf | null = null
  spanFrom = 0
  spanStep = 1

  /**
   * Finds the next run of at most `want` entries inside the range and in one
   * leaf, moves the cursor past it, and returns its length (0 at the end).
   * The end bound is checked once per leaf, on the leaf's far entry, except
   * in the one leaf where the range ends; so a scan's inner loop runs over a
   * leaf's arrays with no calls at all.
   */
  span (want: number): number {
    const c = this.cursor
    const leaf = c.leaf
    if (leaf === null || want <= 0) return 0
    const length = leaf.length
    const pos = c.pos
    this.spanLeaf = leaf
    this.spanFrom = pos
    if (!this.reverse) {
      let stop = length
      let ends = false
      if (this.end !== null && !this.inRange(leaf, stop - 1)) {
        stop = pos
        while (this.inRange(leaf, stop)) stop++
        ends = true
      }
      const n = stop - pos < want ? stop - pos : want
      this.spanStep = 1
      if (ends && pos + n === stop) c.leaf = null
      else { c.pos = pos + n - 1; c.next() }
      return n
    }
    let stop = -1
    let ends = false
    if (this.end !== null && !this.inRange(leaf, 0)) {
      stop = pos
      while (this.inRange(leaf, stop)) stop--
      ends = true
    }
    const n = pos - stop < want ? pos - stop : want
    this.spanStep = -1
    if (ends && pos - n === stop) c.leaf = null
    else { c.pos = pos - n + 1; c.prev() }
    return n
  }

  /**
   * Up to `size` entries, keys or values ahead, in the formats given,
   * yielding to the event loop now and then so that a huge scan does not
   * stall the process.
   */
  async collect (size: number, kind: Kind, kf: StoreFormat, vf: StoreFormat): Promise<unknown[]> {
    if (this.signal !== null) await this.checkSignal()
    const out: unknown[] = []
    let yielded = 0
    for (let n = this.span(size); n > 0; n = this.span(size - out.length)) {
      const leaf = this.spanLeaf!
      const step = this.spanStep
      let p = this.spanFrom
      // One loop per kind and format pair, so the loop body has no branches
      // on them (V8 then keeps each loop's allocation sites monomorphic).
      if (kind === ENTRIES && kf === 'buffer' && vf === 'buffer') {
        const { bufs, ents } = leaf
        for (let j = 0; j < n; j++, p += step) {
          const buffer = bufs[p]!
          const e = ENT * p
          const off = ents[e + 2]!
          const k = ents[e + 3]!
          out.push([new NodeBuffer(buffer, off, k), new NodeBuffer(buffer, off + k, ents[e + 4]!)])
        }
      } else if (kind === ENTRIES) {
        for (let j = 0; j < n; j++, p += step) out.push([keyOf(leaf, p, kf), valueOf(leaf, p, vf)])
      } else if (kind === KEYS) {
        for (let j = 0; j < n; j++, p += step) out.push(keyOf(leaf, p, kf))
      } else {
        for (let j = 0; j < n; j++, p += step) out.push(valueOf(leaf, p, vf))
      }
      if (out.length - yielded >= YIELD_EVERY) {
        yielded = out.length
        await breathe()
      }
    }
    return out
  }

  /** Steps in the walk's direction. */
  advance (): void {
    if (this.reverse) this.cursor.prev()
    else this.cursor.next()
  }

  /**
   * Moves to `target` (the first key at or after it, or at or before it in
   * reverse); a target outside the range ends the walk.
   */
  seek (target: Uint8Array): void {
    if (!withinRange(target, this.range)) {
      this.cursor.leaf = null
      return
    }
    this.cursor.seek(target, this.reverse ? 'le' : 'ge')
  }
}

/**
 * True if `key` satisfies every bound of `range` (gt, gte, lt, lte).
 * @internal
 */
export function withinRange (key: Uint8Array, range: RangeOptions): boolean {
  const { gt, gte, lt, lte } = range
  const n = key.length
  if (gt !== undefined && compareFrom(key, n, gt, gt.length, 0) <= 0) return false
  if (gte !== undefined && compareFrom(key, n, gte, gte.length, 0) < 0) return false
  if (lt !== undefined && compareFrom(key, n, lt, lt.length, 0) >= 0) return false
  if (lte !== undefined && compareFrom(key, n, lte, lte.length, 0) > 0) return false
  return true
}

function breathe (): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

type AnyDb = any // eslint-disable-line @typescript-eslint/no-explicit-any

/** Iterator of `[key, value]` entries. @internal */
export class MakoIterator extends AbstractIterator<AnyDb, Uint8Array, Uint8Array> {
  private readonly scan: RangeScan
  private readonly keyFormat: StoreFormat
  private readonly valueFormat: StoreFormat

  constructor (db: AnyDb, root: Node, options: RangeOptions) {
    super(db, options as never)
    this.scan = new RangeScan(root, options)
    this.keyFormat = formatOf(options.keyEncoding)
    this.valueFormat = formatOf(options.valueEncoding)
  }

  async _next (): Promise<[Uint8Array, Uint8Array] | undefined> {
    const scan = this.scan
    if (scan.hasSignal) await scan.checkSignal()
    if (!scan.valid) return undefined
    const c = scan.cursor
    const entry: [Uint8Array, Uint8Array] = [keyOf(c.leaf!, c.pos, this.keyFormat), valueOf(c.leaf!, c.pos, this.valueFormat)]
    scan.advance()
    return entry
  }

  async _nextv (size: number): Promise<Array<[Uint8Array, Uint8Array]>> {
    return await this.collect(size)
  }

  async _all (): Promise<Array<[Uint8Array, Uint8Array]>> {
    return await this.collect(this.limit - this.count)
  }

  private async collect (size: number): Promise<Array<[Uint8Array, Uint8Array]>> {
    const kf = this.keyFormat
    const vf = this.valueFormat
    return await this.scan.collect(size, ENTRIES, kf, vf) as Array<[Uint8Array, Uint8Array]>
  }

  _seek (target: Uint8Array): void {
    this.scan.seek(target)
  }
}

/** Iterator of keys. @internal */
export class MakoKeyIterator extends AbstractKeyIterator<AnyDb, Uint8Array> {
  private readonly scan: RangeScan
  private readonly keyFormat: StoreFormat

  constructor (db: AnyDb, root: Node, options: RangeOptions) {
    super(db, options as never)
    this.scan = new RangeScan(root, options)
    this.keyFormat = formatOf(options.keyEncoding)
  }

  async _next (): Promise<Uint8Array | undefined> {
    const scan = this.scan
    if (scan.hasSignal) await scan.checkSignal()
    if (!scan.valid) return undefined
    const key = keyOf(scan.cursor.leaf!, scan.cursor.pos, this.keyFormat)
    scan.advance()
    return key
  }

  async _nextv (size: number): Promise<Uint8Array[]> {
    return await this.collect(size)
  }

  async _all (): Promise<Uint8Array[]> {
    return await this.collect(this.limit - this.count)
  }

  private async collect (size: number): Promise<Uint8Array[]> {
    const kf = this.keyFormat
    return await this.scan.collect(size, KEYS, kf, kf) as Uint8Array[]
  }

  _seek (target: Uint8Array): void {
    this.scan.seek(target)
  }
}

/** Iterator of values. @internal */
export class MakoValueIterator extends AbstractValueIterator<AnyDb, Uint8Array, Uint8Array> {
  private readonly scan: RangeScan
  private readonly valueFormat: StoreFormat

  constructor (db: AnyDb, root: Node, options: RangeOptions) {
    super(db, options as never)
    this.scan = new RangeScan(root, options)
    this.valueFormat = formatOf(options.valueEncoding)
  }

  async _next (): Promise<Uint8Array | undefined> {
    const scan = this.scan
    if (scan.hasSignal) await scan.checkSignal()
    if (!scan.valid) return undefined
    const value = valueOf(scan.cursor.leaf!, scan.cursor.pos, this.valueFormat)
    scan.advance()
    return value
  }

  async _nextv (size: number): Promise<Uint8Array[]> {
    return await this.collect(size)
  }

  async _all (): Promise<Uint8Array[]> {
    return await this.collect(this.limit - this.count)
  }

  private async collect (size: number): Promise<Uint8Array[]> {
    const vf = this.valueFormat
    return await this.scan.collect(size, VALUES, vf, vf) as Uint8Array[]
  }

  _seek (target: Uint8Array): void {
    this.scan.seek(target)
  }
}
