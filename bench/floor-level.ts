/**
 * The "floor" contender: an abstract-level 3 database whose private methods
 * do (almost) nothing, so its figures are what abstract-level's public API
 * costs by itself: validation, encoding, option handling, promises, resource
 * tracking. No store can beat it through the same API; a store close to it is
 * bound by abstract-level, not by its own code.
 *
 * To stay comparable with real stores it still does the minimum any store
 * must do for the caller: a get returns a value, getMany returns a fresh array,
 * an iterator returns a fresh `[key, value]` pair per entry and ends after as
 * many entries as were written (it counts writes, it keeps none), and honours
 * `limit` (through abstract-level). Range options are ignored: entries come
 * from a small fixed array.
 *
 * With `freshViews`, every key and value it returns is a new Buffer view of
 * its fixed bytes, made the fastest way Node allows (the one MakoLevel uses):
 * the least that any store must do which keeps its data in its own memory
 * rather than keeping the caller's Buffer objects, as memory-level does. The
 * gap between the two floors is the price of not keeping a Buffer object
 * (about 100 bytes of header) per key and per value.
 *
 * @module
 * @internal
 */

import { AbstractLevel, AbstractIterator, AbstractSnapshot } from 'abstract-level'
import type { AbstractDatabaseOptions, AbstractIteratorOptions } from 'abstract-level'
import { NodeBuffer } from '../adapters/level/encoding.js'

/** Size of the fixed entries the floor store returns. */
const FIXED_ENTRIES = 16
const KEY_BYTES = 16
const VALUE_BYTES = 100

function fixedBytes (size: number, seed: number): Buffer {
  const b = Buffer.alloc(size)
  for (let i = 0; i < size; i++) b[i] = (seed * 31 + i * 7) & 0xff
  return b
}

const fixedKeys: Buffer[] = Array.from({ length: FIXED_ENTRIES }, (_, i) => fixedBytes(KEY_BYTES, i))
const fixedValues: Buffer[] = Array.from({ length: FIXED_ENTRIES }, (_, i) => fixedBytes(VALUE_BYTES, i + 100))
const fixedValue = fixedValues[0] as Buffer
// The same bytes side by side in one ArrayBuffer, for fresh views of them.
const fixedBuffer = new ArrayBuffer(FIXED_ENTRIES * (KEY_BYTES + VALUE_BYTES))
const fixedBytesAll = new Uint8Array(fixedBuffer)
for (let i = 0; i < FIXED_ENTRIES; i++) {
  const at = i * (KEY_BYTES + VALUE_BYTES)
  fixedBytesAll.set(fixedKeys[i] as Buffer, at)
  fixedBytesAll.set(fixedValues[i] as Buffer, at + KEY_BYTES)
}

type Entry = [Buffer, Buffer]

function keyView (i: number): Buffer {
  return new NodeBuffer(fixedBuffer, i * (KEY_BYTES + VALUE_BYTES), KEY_BYTES) as Buffer
}

function valueView (i: number): Buffer {
  return new NodeBuffer(fixedBuffer, i * (KEY_BYTES + VALUE_BYTES) + KEY_BYTES, VALUE_BYTES) as Buffer
}

/** Options of {@link FloorLevel}: those of any abstract-level database, and `freshViews`. @internal */
export interface FloorLevelOptions<K, V> extends AbstractDatabaseOptions<K, V> {
  /** Return a new Buffer view for every key and value (see the module comment). */
  freshViews?: boolean
}

/**
 * An AbstractLevel whose private API returns at once. For benchmarks only.
 *
 * @internal
 */
export class FloorLevel<K = Buffer, V = Buffer> extends AbstractLevel<Buffer | Uint8Array | string, K, V> {
  /** Entries written (puts counted, never stored); iterators yield this many. */
  entries = 0
  /** Whether reads return new views rather than the fixed Buffers. */
  readonly freshViews: boolean

  /** @param options Database options (encodings etc.). */
  constructor (options?: FloorLevelOptions<K, V>) {
    // The same capabilities MakoLevel declares (in-memory), so abstract-level
    // takes the same code paths: no transcoding for buffer or view input.
    // level-supports' IManifest type predates getSync, hence the cast.
    super({
      encodings: { buffer: true, view: true },
      seek: true,
      getSync: true,
      has: true,
      explicitSnapshots: true,
      implicitSnapshots: true,
      permanence: false,
      createIfMissing: false,
      errorIfExists: false,
      signals: { iterators: true }
    } as ConstructorParameters<typeof AbstractLevel>[0], options)
    this.freshViews = options?.freshViews === true
  }

  async _put (_key: unknown, _value: unknown, _options: unknown): Promise<void> {
    this.entries++
  }

  async _del (_key: unknown, _options: unknown): Promise<void> {}

  async _batch (operations: ReadonlyArray<{ type: string }>, _options: unknown): Promise<void> {
    for (let i = 0; i < operations.length; i++) {
      if (operations[i]?.type === 'put') this.entries++
    }
  }

  async _get (_key: unknown, _options: unknown): Promise<Buffer> {
    return this.freshViews ? valueView(0) : fixedValue
  }

  _getSync (_key: unknown, _options: unknown): Buffer {
    return this.freshViews ? valueView(0) : fixedValue
  }

  async _getMany (keys: readonly unknown[], _options: unknown): Promise<Buffer[]> {
    if (!this.freshViews) return new Array<Buffer>(keys.length).fill(fixedValue)
    const out = new Array<Buffer>(keys.length)
    for (let i = 0; i < keys.length; i++) out[i] = valueView(i % FIXED_ENTRIES)
    return out
  }

  async _has (_key: unknown, _options: unknown): Promise<boolean> {
    return true
  }

  async _hasMany (keys: readonly unknown[], _options: unknown): Promise<boolean[]> {
    return new Array<boolean>(keys.length).fill(true)
  }

  async _clear (_options: unknown): Promise<void> {
    this.entries = 0
  }

  _iterator (options: AbstractIteratorOptions<K, V>): FloorIterator<K, V> {
    return new FloorIterator(this, options, this.entries)
  }

  _snapshot (options: object): AbstractSnapshot {
    // abstract-level 3 constructs snapshots with the options it passes here
    // (they name the owner); its type declarations omit that constructor.
    return new SnapshotWithOptions(options)
  }
}

/** AbstractSnapshot with the constructor abstract-level 3 actually has. */
const SnapshotWithOptions = AbstractSnapshot as unknown as new (options: object) => AbstractSnapshot

/**
 * Yields `total` fresh entries cycling through the fixed array, then ends.
 *
 * @internal
 */
class FloorIterator<K, V> extends AbstractIterator<FloorLevel<K, V>, K, V> {
  private position = 0
  private readonly total: number
  private readonly freshViews: boolean

  constructor (db: FloorLevel<K, V>, options: AbstractIteratorOptions<K, V>, total: number) {
    super(db, options)
    this.total = total
    this.freshViews = db.freshViews
  }

  async _next (): Promise<Entry | undefined> {
    if (this.position >= this.total) return undefined
    const i = this.position++ % FIXED_ENTRIES
    return this.freshViews ? [keyView(i), valueView(i)] : [fixedKeys[i] as Buffer, fixedValues[i] as Buffer]
  }

  async _nextv (size: number, _options: unknown): Promise<Entry[]> {
    const n = Math.min(size, this.total - this.position)
    const out = new Array<Entry>(Math.max(0, n))
    // One loop per kind, so neither pays a branch per entry.
    if (this.freshViews) {
      for (let j = 0; j < n; j++) {
        const i = this.position++ % FIXED_ENTRIES
        out[j] = [keyView(i), valueView(i)]
      }
    } else {
      for (let j = 0; j < n; j++) {
        const i = this.position++ % FIXED_ENTRIES
        out[j] = [fixedKeys[i] as Buffer, fixedValues[i] as Buffer]
      }
    }
    return out
  }

  // _all() is not overridden: abstract-level's own calls _nextv() in chunks
  // of at most 1000 and stops at `limit`, as a store without its own _all()
  // would.

  _seek (_target: unknown, _options: unknown): void {
    // Range options are ignored: the floor store's entries are fixed.
  }
}
