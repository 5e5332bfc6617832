/**
 * Temporary directories for disk tests, removed when the test ends.
 *
 * @internal
 */

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { nodeFileSystem } from '../../adapters/disk/fs.js'

/** A fresh directory under the OS temp dir; removed by `t.teardown`. @internal */
export function tempDir (t: { teardown: (fn: () => void) => void }, prefix = 'mako-disk-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/**
 * Whether the real file system has the native mapping. When it has not,
 * records in `t` that this is allowed only off Linux (where a test that
 * needs it then has nothing to run); on Linux that assertion fails, since
 * `npm install` builds the addon there.
 *
 * @internal
 */
export function realFsMaps (t: { equal: (found: unknown, wanted: unknown, message: string) => unknown }): boolean {
  if (nodeFileSystem.mapping !== undefined) return true
  t.equal(process.platform === 'linux', false, 'no native mapping: only off Linux (disk-log.test.ts checks it is built)')
  return false
}
