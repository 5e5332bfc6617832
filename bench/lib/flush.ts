/**
 * Flushing the OS's dirty pages (the `sync` command) from a benchmark
 * without forking the benchmark's own process each time.
 *
 * Spawning a command from Node forks the process; after a fork every page
 * of the parent is copy-on-write until the child is gone, and the parent
 * then takes a page fault on its first write to each of them. A benchmark
 * that runs `sync` with `execFileSync` before every timed run can make the
 * run pay those faults: a cost of the benchmark, falling hardest on the
 * database whose work is in the JavaScript heap. (How much is hard to see
 * on a noisy machine: 100k awaited MakoLevel puts right after an
 * `execFileSync('sync')` took 7.7-11.0 us a put, without one 7.6-9.7 us,
 * four runs each.) So a small shell is started once, before anything is
 * measured, and each flush asks it to run `sync`: the benchmark process is
 * never forked while it is large.
 *
 * @module
 * @internal
 */

import { spawn, type ChildProcessByStdio } from 'node:child_process'
import type { Readable, Writable } from 'node:stream'

/** Runs `sync` in a helper process started once. @internal */
export class DirtyPageFlusher {
  private readonly child: ChildProcessByStdio<Writable, Readable, null>
  private waiter: { resolve: () => void, reject: (err: Error) => void } | undefined
  private unavailable: string | undefined
  private output = ''

  /** Starts the helper; call before the data of the benchmark is built, so the fork is of a small process. */
  constructor (private readonly timeoutMs: number) {
    // One line in, `sync`, one line out: the shell forks only itself.
    this.child = spawn('sh', ['-c', 'while read -r line; do sync; echo "$line"; done'], {
      stdio: ['pipe', 'pipe', 'ignore']
    })
    // Never what keeps the benchmark alive: a flush in progress holds its
    // own timer.
    this.child.unref()
    for (const pipe of [this.child.stdin, this.child.stdout]) (pipe as unknown as { unref?: () => void }).unref?.()
    this.child.stdout.setEncoding('utf8')
    this.child.stdout.on('data', (s: string) => {
      this.output += s
      if (!this.output.includes('\n')) return
      this.output = ''
      const w = this.waiter
      this.waiter = undefined
      w?.resolve()
    })
    this.child.on('error', (err) => { this.stop(err.message) })
    this.child.on('exit', (code) => { this.stop(`the sync helper exited (${String(code)})`) })
    this.child.stdin.on('error', (err) => { this.stop(err.message) })
  }

  /** Why flushing is not possible, once it failed (the benchmark goes on without). */
  get failure (): string | undefined {
    return this.unavailable
  }

  /**
   * Writes the OS's dirty pages to disk, untimed, before a write run or an
   * open. Resolves without flushing once the helper failed (see
   * {@link DirtyPageFlusher.failure}).
   */
  async flush (): Promise<void> {
    if (this.unavailable !== undefined) return
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`sync took longer than ${this.timeoutMs} ms`)) }, this.timeoutMs)
      this.waiter = {
        resolve: () => { clearTimeout(timer); resolve() },
        reject: (err) => { clearTimeout(timer); reject(err) }
      }
      this.child.stdin.write('flushed\n')
    }).catch((err: unknown) => { this.stop((err as Error).message) })
  }

  /** Ends the helper. */
  close (): void {
    this.unavailable ??= 'closed'
    this.child.stdin.end()
  }

  private stop (why: string): void {
    if (this.unavailable === undefined) {
      this.unavailable = why
      console.log(`note: flushing dirty pages failed (${why}); write rows run without flushing the OS's dirty pages first`)
      this.child.kill()
    }
    const w = this.waiter
    this.waiter = undefined
    w?.reject(new Error(why))
  }
}
