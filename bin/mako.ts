#!/usr/bin/env node
/**
 * The `mako` command line.
 *
 * @module
 * @internal
 */

import { runDemo } from './demo.js'
import { runServe } from './serve.js'

const USAGE = `usage: mako <command> [options]

commands:
  demo [--entries N]   a short tour of the embedded store (the default)
  serve --config FILE --node ID [--data DIR] [--sync]
                       run one node of a cluster until SIGINT/SIGTERM
                       (mako serve --help for more)
  help                 this text
`

async function main (argv: string[]): Promise<number> {
  const [command = 'demo', ...rest] = argv
  switch (command) {
    case 'demo': {
      const at = rest.indexOf('--entries')
      const entries = at >= 0 ? Number(rest[at + 1]) : undefined
      if (entries !== undefined && !(Number.isInteger(entries) && entries > 0)) {
        process.stderr.write('mako demo: --entries takes a positive whole number\n')
        return 2
      }
      await runDemo(entries === undefined ? {} : { entries })
      return 0
    }
    case 'serve':
      return await runServe(rest)
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE)
      return 0
    default:
      process.stderr.write(`mako: unknown command '${command}'\n\n${USAGE}`)
      return 2
  }
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code }, (err: unknown) => {
  process.stderr.write(`mako: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exitCode = 1
})
