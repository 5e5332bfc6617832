/**
 * Reads a file region front to back in large chunks, for parsers that work
 * synchronously over buffered bytes and await only to read the next chunk
 * (an await per record would cost more than checking the record).
 *
 * @module
 * @internal
 */

/** The one file call a reader needs. @internal */
export interface ReadSource {
  /** Reads up to `length` bytes at `position` into `buffer[offset..]`; resolves to the count (0 at the end). */
  read (buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>
}

/**
 * A cursor over file bytes `[0, limit)`. `has(n)` says whether the `n` bytes
 * at `pos` are in `buf` (at index `at`); if not, `fill()` reads them.
 *
 * Every fill makes a fresh buffer, never reusing one: views into earlier
 * buffers, handed to callers as payloads, keys and values, stay intact.
 *
 * @internal
 */
export class ChunkedReader {
  /** The buffered bytes. */
  buf: Uint8Array = new Uint8Array(0)
  /** File offset of `buf[0]`. */
  private bufFile = 0
  /** File offset just past the buffered bytes. */
  private bufEndFile = 0
  /** Bytes from `pos` the next `fill()` must make available. */
  private need = 0

  /**
   * @param source Reads the file.
   * @param limit File offset where the region ends (usually the file size).
   * @param chunkBytes How much to read at a time, at least.
   * @param pos The file offset to start at.
   */
  constructor (
    private readonly source: ReadSource,
    public limit: number,
    private readonly chunkBytes: number,
    /** The current file offset; parsers advance it. */
    public pos = 0
  ) {}

  /** Index in `buf` of the byte at `pos`. */
  get at (): number {
    return this.pos - this.bufFile
  }

  /** Bytes left in the region from `pos`. */
  get left (): number {
    return this.limit - this.pos
  }

  /** Whether `n` bytes from `pos` are buffered; if not, the next `fill()` reads them. */
  has (n: number): boolean {
    if (this.pos + n <= this.bufEndFile) return true
    this.need = n
    return false
  }

  /**
   * Reads so that the bytes `has()` asked for are buffered. If the file
   * turns out shorter than `limit`, `limit` shrinks to its end: what is
   * missing is treated as absent.
   */
  async fill (): Promise<void> {
    const keep = this.bufEndFile - this.pos
    const want = Math.min(Math.max(this.chunkBytes, this.need), this.limit - this.pos)
    const next = new Uint8Array(want)
    if (keep > 0) next.set(this.buf.subarray(this.at, this.bufEndFile - this.bufFile), 0)
    let filled = keep
    while (filled < want) {
      const got = await this.source.read(next, filled, want - filled, this.pos + filled)
      if (got <= 0) break
      filled += got
    }
    this.buf = next
    this.bufFile = this.pos
    this.bufEndFile = this.pos + filled
    if (filled < this.need) this.limit = this.pos + filled
  }
}
