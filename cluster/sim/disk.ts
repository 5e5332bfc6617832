/**
 * A simulated disk with explicit sync. Writes change the files at once, as a
 * page cache would; only `sync()` makes them durable, after a simulated
 * latency. A crash puts every file back to what the last completed sync
 * covered (optionally keeping a random, possibly torn, part of unsynced
 * appends), so a node that sent a message before its write was durable is
 * caught by the simulation.
 *
 * @module
 */

import { MakoError } from '../../lib/errors.js'
import type { SeededRandom } from './random.js'

/** One file's bytes: chunks so that appends are O(1). */
interface FileState {
  chunks: Uint8Array[]
  size: number
}

/** What a file was at one moment: a file object and how many bytes of it. */
interface FileImage {
  readonly state: FileState | undefined
  readonly size: number
}

/** A copy that owns its memory (a Buffer's `slice` would share it). */
function copy (data: Uint8Array): Uint8Array {
  return Uint8Array.prototype.slice.call(data)
}

function flatten (state: FileState): Uint8Array {
  if (state.chunks.length === 1) return state.chunks[0] as Uint8Array
  const out = new Uint8Array(state.size)
  let offset = 0
  for (const chunk of state.chunks) {
    out.set(chunk, offset)
    offset += chunk.length
  }
  // Keep the flat copy: later reads are O(1) until the next append.
  state.chunks = state.size === 0 ? [] : [out]
  return out
}

/**
 * Files of one node; they outlive the node's crashes.
 *
 * @internal
 */
export class DiskState {
  readonly #files = new Map<string, FileState>()
  readonly #durable = new Map<string, FileImage>()
  #dirty = new Set<string>()

  /** Names of existing files, sorted. */
  list (): string[] {
    return [...this.#files.keys()].sort()
  }

  /** @param name A file name. */
  read (name: string): Uint8Array | undefined {
    const state = this.#files.get(name)
    return state === undefined ? undefined : copy(flatten(state))
  }

  /** @param name A file name. */
  size (name: string): number | undefined {
    return this.#files.get(name)?.size
  }

  /** @param name A file name. @param data The new contents. */
  write (name: string, data: Uint8Array): void {
    // A new FileState, so images taken of the old one stay as they were.
    this.#files.set(name, { chunks: data.length === 0 ? [] : [copy(data)], size: data.length })
    this.#dirty.add(name)
  }

  /** @param name A file name. @param data Bytes to add at the end. */
  append (name: string, data: Uint8Array): void {
    let state = this.#files.get(name)
    if (state === undefined) {
      state = { chunks: [], size: 0 }
      this.#files.set(name, state)
    }
    if (data.length > 0) {
      state.chunks.push(copy(data))
      state.size += data.length
    }
    this.#dirty.add(name)
  }

  /** @param name A file name. */
  delete (name: string): void {
    if (!this.#files.delete(name)) return
    this.#dirty.add(name)
  }

  /**
   * What a sync started now will make durable: an image of each file
   * changed since the previous capture. O(files changed).
   *
   * @internal
   */
  capture (): Map<string, FileImage> {
    const images = new Map<string, FileImage>()
    for (const name of this.#dirty) {
      const state = this.#files.get(name)
      images.set(name, { state, size: state?.size ?? 0 })
    }
    this.#dirty = new Set()
    return images
  }

  /**
   * Makes a capture durable (its sync completed).
   *
   * @internal
   */
  commit (images: Map<string, FileImage>): void {
    for (const [name, image] of images) {
      if (image.state === undefined) this.#durable.delete(name)
      else this.#durable.set(name, image)
    }
  }

  /**
   * Loses what was not synced. With `torn`, a file that was only appended
   * to since its last sync keeps a random prefix of the unsynced bytes, as
   * a real disk may have written some of them.
   *
   * @param random The disk's random stream.
   * @param torn Whether to keep random parts of unsynced appends.
   * @internal
   */
  crash (random: SeededRandom, torn: boolean): void {
    const names = new Set([...this.#files.keys(), ...this.#durable.keys()])
    for (const name of [...names].sort()) {
      const current = this.#files.get(name)
      const image = this.#durable.get(name)
      if (image?.state === undefined) {
        this.#files.delete(name)
        continue
      }
      let size = image.size
      if (torn && current === image.state && current.size > size) size += random.int(current.size - size + 1)
      const bytes = copy(flatten(image.state).subarray(0, size))
      const state: FileState = { chunks: bytes.length === 0 ? [] : [bytes], size }
      this.#files.set(name, state)
      this.#durable.set(name, { state, size })
    }
    this.#dirty = new Set()
  }
}

/** Options of simulated disks. */
export interface DiskOptions {
  /**
   * Milliseconds a sync takes: a fixed number or `{ min, max }`.
   * Syncs complete in the order they were started.
   */
  syncDelay: number | {
    /** The shortest sync, in milliseconds. */
    min: number
    /** The bound of a sync's length, in milliseconds. */
    max: number
  }
  /** Whether a crash may keep a random (torn) part of unsynced appends. */
  tornWrites: boolean
}

/** Defaults of {@link DiskOptions}. */
export const defaultDiskOptions: Readonly<DiskOptions> = Object.freeze({
  syncDelay: { min: 0.05, max: 2 },
  tornWrites: false
})

/**
 * How a {@link SimDisk} asks the simulator to complete a sync later.
 *
 * @internal
 */
export type SyncScheduler = (complete: () => void) => void

/**
 * A node's disk, as its code sees it during one incarnation. After the node
 * crashes, this object does nothing (its syncs never complete): only the
 * next incarnation's disk sees the files.
 */
export class SimDisk {
  readonly #state: DiskState
  readonly #alive: () => boolean
  readonly #scheduleSync: SyncScheduler

  /** @internal */
  constructor (state: DiskState, alive: () => boolean, scheduleSync: SyncScheduler) {
    this.#state = state
    this.#alive = alive
    this.#scheduleSync = scheduleSync
  }

  /** Names of existing files, sorted. */
  list (): string[] {
    return this.#alive() ? this.#state.list() : []
  }

  /**
   * A copy of a file's contents (synced or not), or undefined if it does not exist.
   *
   * @param name A file name.
   */
  read (name: string): Uint8Array | undefined {
    return this.#alive() ? this.#state.read(name) : undefined
  }

  /**
   * A file's size in bytes, or undefined if it does not exist.
   *
   * @param name A file name.
   */
  size (name: string): number | undefined {
    return this.#alive() ? this.#state.size(name) : undefined
  }

  /**
   * Replaces a file's contents (atomically at the next sync, like writing a
   * temporary file and renaming it).
   *
   * @param name A file name.
   * @param data The contents; copied.
   */
  write (name: string, data: Uint8Array): void {
    checkName(name)
    if (this.#alive()) this.#state.write(name, data)
  }

  /**
   * Appends to a file, creating it if needed.
   *
   * @param name A file name.
   * @param data Bytes to add; copied.
   */
  append (name: string, data: Uint8Array): void {
    checkName(name)
    if (this.#alive()) this.#state.append(name, data)
  }

  /**
   * Deletes a file (durably at the next sync).
   *
   * @param name A file name.
   */
  delete (name: string): void {
    if (this.#alive()) this.#state.delete(name)
  }

  /**
   * Makes every write made before this call durable. Resolves after the
   * simulated latency; never resolves if the node crashes first.
   */
  sync (): Promise<void> {
    if (!this.#alive()) return new Promise(() => {})
    const images = this.#state.capture()
    return new Promise((resolve) => {
      this.#scheduleSync(() => {
        this.#state.commit(images)
        resolve()
      })
    })
  }
}

function checkName (name: string): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > 255) {
    throw new MakoError('A file name must be 1 to 255 characters', 'MAKO_INVALID_ARGUMENT')
  }
}
