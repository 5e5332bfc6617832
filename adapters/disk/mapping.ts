/**
 * Shared file mappings, from the small native addon in `native/mapping.c`
 * (built by `node-gyp` when the package is installed).
 *
 * The write-ahead log writes through one in `writeMode: 'mapped'`: it copies
 * each group of records into a mapping of its segment file instead of
 * making a `write` call. The bytes are in the OS's page cache when the copy
 * ends, as after a write, so they survive a crash of the process; an
 * `fdatasync` of the file flushes them. The call it saves is most of the
 * cost of an awaited put on disk.
 *
 * Only on Linux, where `fdatasync` is known to flush pages dirtied through
 * a shared mapping. Where the addon did not build or cannot load,
 * {@link nativeMapper} is undefined and the log writes with `write` calls.
 *
 * @module
 */

import { createRequire } from 'node:module'
import type { FileMapper } from './fs.js'

/** What the addon exports. */
interface Addon {
  map (fd: number, offset: number, length: number): ArrayBuffer
  unmap (buffer: ArrayBuffer): void
  pageBytes: number
}

/** Where the addon was looked for and why it is not used, when it is not. */
let unavailable: string | undefined

function load (): FileMapper | undefined {
  if (process.platform !== 'linux') {
    unavailable = `file mappings are used on Linux only (this is ${process.platform})`
    return undefined
  }
  let addon: Addon
  try {
    // From dist/adapters/disk to the package's root, where node-gyp builds.
    addon = createRequire(import.meta.url)('../../../build/Release/mako_mapping.node') as Addon
  } catch (err) {
    unavailable = `the native addon did not load (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`
    return undefined
  }
  return {
    pageBytes: addon.pageBytes,
    map: (fd, offset, length) => new Uint8Array(addon.map(fd, offset, length)),
    unmap: (view) => { addon.unmap(view.buffer as ArrayBuffer) }
  }
}

/**
 * The real file mapper, or undefined where it cannot be used (see
 * {@link mappingUnavailable}). `nodeFileSystem.mapping` is this.
 */
export const nativeMapper: FileMapper | undefined = load()

/**
 * Why {@link nativeMapper} is undefined (the platform, or the addon's load
 * error), or undefined when it is available.
 */
export function mappingUnavailable (): string | undefined {
  return unavailable
}
