/**
 * The databases the embedded benchmark compares, as a table of factories.
 * Shared by `embedded.ts` (speed) and `memory-child.ts` (memory per entry).
 *
 * @module
 * @internal
 */

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AbstractLevel } from 'abstract-level'
import { MemoryLevel } from 'memory-level'
import { ClassicLevel } from 'classic-level'
import { FloorLevel } from './floor-level.js'

/** Keys and values as the benchmark hands them to a database. @internal */
export type Bytes = Buffer | string

/**
 * A database as the benchmark uses it: key and value encodings set at
 * construction ('buffer' for Buffer input, 'utf8' for string input), so calls
 * pass no options and take abstract-level's fast paths.
 *
 * @internal
 */
export type BenchDb = AbstractLevel<any, Bytes, Bytes> // eslint-disable-line @typescript-eslint/no-explicit-any

/** An opened database and how to get rid of it (close, remove files). @internal */
export interface OpenedDb {
  /** The open database. */
  db: BenchDb
  /** Close the database and remove anything it left on disk. */
  dispose: () => Promise<void>
}

/** One contender of the benchmark. @internal */
export interface Contender {
  /** Short id for `--only` and JSON keys. */
  id: string
  /** Name in the table. */
  label: string
  /**
   * The form of keys and values it is given: Buffers (encoding 'buffer'), or
   * the same bytes as strings (encoding 'utf8') where a store cannot take
   * Buffers (abstract-level cannot transcode 'buffer' to a utf8 store).
   */
  input: 'buffer' | 'string'
  /** A new, empty, open database. */
  open: () => Promise<OpenedDb>
}

const bufferOptions = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const
const stringOptions = { keyEncoding: 'utf8', valueEncoding: 'utf8' } as const

async function opened (db: AbstractLevel<any, any, any>, cleanup?: () => void): Promise<OpenedDb> {
  await db.open()
  return {
    db,
    dispose: async () => {
      await db.close()
      cleanup?.()
    }
  }
}

/** Where MakoLevel is, relative to this file (both in dist/). */
const MAKO_LEVEL_MODULE = '../adapters/level/mako-level.js'

/** Why MakoLevel could not be loaded, when it could not. @internal */
export let makoLevelUnavailable: string | undefined

/**
 * True when MakoLevel's module exists but failed to load (a bug to fix, not
 * a missing file): the benchmark then exits non-zero after the others ran.
 *
 * @internal
 */
export let makoLevelBroken = false

/**
 * MakoLevel's constructor, loaded at run time so that this benchmark builds
 * and runs before `adapters/level/mako-level.ts` exists, and while it is
 * being changed. A missing or broken module is reported, not thrown, so the
 * peers can still be measured.
 */
async function loadMakoLevel (): Promise<(new (options?: object) => BenchDb) | undefined> {
  // A variable specifier keeps tsc from resolving the (possibly missing) module.
  const specifier: string = MAKO_LEVEL_MODULE
  try {
    const mod = await import(specifier) as { MakoLevel?: new (options?: object) => BenchDb }
    if (typeof mod.MakoLevel !== 'function') {
      throw new Error(`${MAKO_LEVEL_MODULE} has no MakoLevel export`)
    }
    return mod.MakoLevel
  } catch (err) {
    const e = err as { code?: string, message?: string }
    if (e.code === 'ERR_MODULE_NOT_FOUND' && e.message?.includes('mako-level') === true) {
      makoLevelUnavailable = `${MAKO_LEVEL_MODULE} not found (build adapters/level/mako-level.ts first)`
    } else {
      makoLevelBroken = true
      makoLevelUnavailable = `${MAKO_LEVEL_MODULE} failed to load: ${String(err)}`
    }
    return undefined
  }
}

/**
 * All contenders, in table order. MakoLevel is left out (and
 * {@link makoLevelUnavailable} says why) when its module is missing or does
 * not load, and not loaded at all with `withMako: false`.
 *
 * @internal
 */
export async function contenders (options: { withMako?: boolean } = {}): Promise<Contender[]> {
  const list: Contender[] = []
  const MakoLevel = options.withMako === false ? undefined : await loadMakoLevel()
  if (MakoLevel !== undefined) {
    list.push({
      id: 'mako',
      label: 'MakoLevel',
      input: 'buffer',
      open: async () => await opened(new MakoLevel({ ...bufferOptions }))
    })
  }
  list.push(
    {
      id: 'memory-buffer',
      label: 'memory-level (buffer)',
      input: 'buffer',
      open: async () => await opened(new MemoryLevel<Buffer, Buffer>({ ...bufferOptions, storeEncoding: 'buffer' }))
    },
    {
      id: 'memory-utf8',
      label: 'memory-level (utf8, string data)',
      // abstract-level cannot transcode Buffer input to a utf8 store, so this
      // one gets the same bytes as strings (they are printable ASCII): the
      // fastest way to use memory-level, with string keys end to end.
      input: 'string',
      open: async () => await opened(new MemoryLevel<string, string>({ ...stringOptions, storeEncoding: 'utf8' }))
    },
    {
      id: 'classic',
      label: 'classic-level',
      input: 'buffer',
      open: async () => {
        const dir = mkdtempSync(join(tmpdir(), 'mako-bench-classic-'))
        return await opened(new ClassicLevel<Buffer, Buffer>(join(dir, 'db'), { ...bufferOptions }), () => {
          rmSync(dir, { recursive: true, force: true })
        })
      }
    },
    {
      id: 'floor',
      label: 'floor (no-op AbstractLevel)',
      input: 'buffer',
      open: async () => await opened(new FloorLevel<Buffer, Buffer>({ ...bufferOptions }))
    },
    {
      id: 'floor-views',
      label: 'floor + fresh views',
      input: 'buffer',
      open: async () => await opened(new FloorLevel<Buffer, Buffer>({ ...bufferOptions, freshViews: true }))
    }
  )
  return list
}
