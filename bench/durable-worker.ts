/**
 * A worker of the durability benchmark: one contender's
 * {@link ContenderSession} in a process of its own, answering the
 * benchmark's requests one at a time over the IPC channel (see
 * `durable-session.ts` for why). Started by the benchmark with the
 * session's configuration as its one argument; exits when told to close
 * or when the benchmark goes away.
 *
 * @module
 * @internal
 */

import { ContenderSession, type SessionConfig, type WorkerReply, type WorkerRequest } from './durable-session.js'
import { DirtyPageFlusher } from './lib/flush.js'

/** Longest the untimed `sync` before a write run may take (ms). */
const MAX_FLUSH_MS = 60_000

async function main (): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '') as SessionConfig
  // Its own flusher, started while this process is small (see lib/flush.ts).
  const flusher = new DirtyPageFlusher(MAX_FLUSH_MS)
  const session = new ContenderSession(config, async () => { await flusher.flush() })
  const reply = (m: WorkerReply): void => { process.send?.(m) }
  let queue = Promise.resolve()
  const handle = async (req: WorkerRequest): Promise<void> => {
    try {
      switch (req.op) {
        case 'prepare': session.prepare(req.data); reply({ n: req.n, ok: true }); break
        case 'write': reply({ n: req.n, ok: true, result: await session.write(req.row, req.data) }); break
        case 'read': reply({ n: req.n, ok: true, result: await session.read(req.row, req.data) }); break
        case 'openRead': await session.openRead(req.data); reply({ n: req.n, ok: true }); break
        case 'closeRead': await session.closeRead(); reply({ n: req.n, ok: true }); break
        case 'close':
          await session.close()
          flusher.close()
          reply({ n: req.n, ok: true })
          process.disconnect?.()
          break
      }
    } catch (err) {
      const e = err as Error
      reply({ n: req.n, ok: false, error: `${e.message}${e.stack !== undefined ? `\n${e.stack}` : ''}` })
    }
  }
  // One request at a time, in order, whatever the benchmark sends.
  process.on('message', (req: WorkerRequest) => { queue = queue.then(() => handle(req)) })
  process.on('disconnect', () => {
    void queue.then(() => session.close()).catch(() => {}).finally(() => {
      flusher.close()
      process.exit(0)
    })
  })
}

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})
