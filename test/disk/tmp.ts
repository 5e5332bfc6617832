/**
 * Temporary directories for disk tests, removed when the test ends.
 *
 * @internal
 */

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A fresh directory under the OS temp dir; removed by `t.teardown`. @internal */
export function tempDir (t: { teardown: (fn: () => void) => void }, prefix = 'mako-disk-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}
