/**
 * A child process for the cross-process lock tests:
 * `node lock-child.js <dir>` tries to lock `dir`, reports
 * `{ result: 'locked' | <error code> }` over IPC, then, if it holds the
 * lock, waits for 'release' (or a kill) and reports `{ result: 'released' }`.
 *
 * @internal
 */

import { lockDirectory } from '../../adapters/disk/lock.js'

const dir = process.argv[2] as string
const send = (msg: unknown): void => { process.send?.(msg) }

try {
  const lock = await lockDirectory(dir)
  send({ result: 'locked', pid: process.pid })
  process.on('message', (msg) => {
    if (msg !== 'release') return
    void lock.release().then(() => {
      send({ result: 'released' })
      process.disconnect()
    })
  })
} catch (err) {
  send({ result: (err as { code?: string }).code ?? String(err) })
  process.disconnect()
}
