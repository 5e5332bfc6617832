/**
 * Run a benchmark step in a fresh Node process and read back its JSON report.
 * A fresh process gives a clean heap (memory measurements) and lets V8 see
 * only one database class (no polymorphic call sites shared with others).
 *
 * @module
 * @internal
 */

import { spawn } from 'node:child_process'

/** Options of {@link runJsonChild}. @internal */
export interface JsonChildOptions {
  /** Flags for node itself, e.g. `['--expose-gc']`. */
  nodeArgs?: readonly string[]
  /** Kill the child after this long, in ms. */
  maxDurationMs: number
}

/**
 * Run `node [nodeArgs] script [args]`; the child prints its report as the
 * last line of stdout, as JSON. stderr is passed through. Rejects when the
 * child fails, is killed, or prints no parseable last line.
 *
 * @internal
 */
export function runJsonChild<T> (script: string, args: readonly string[], options: JsonChildOptions): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), script, ...args], {
      stdio: ['ignore', 'pipe', 'inherit']
    })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s })
    const timer = setTimeout(() => { child.kill('SIGKILL') }, options.maxDurationMs)
    child.on('error', (err) => { clearTimeout(timer); reject(err) })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const what = `${script} ${args.join(' ')}`
      if (code !== 0) {
        reject(new Error(`${what} exited with ${String(code ?? signal)}: ${out}`))
        return
      }
      const line = out.trim().split('\n').pop() ?? ''
      try {
        resolve(JSON.parse(line) as T)
      } catch (err) {
        // Exit code 0 without a report: its event loop ran dry with a
        // promise still pending (an operation that never settled).
        reject(new Error(`${what} exited without a report (a pending operation never settled?): '${out}'`, { cause: err }))
      }
    })
  })
}
