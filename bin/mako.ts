#!/usr/bin/env node
/**
 * The `mako` command line: a table of commands, each in its own module
 * that exports `main(command, argv)` resolving with the exit code. A
 * command's module is loaded only when it runs.
 *
 * @module
 * @internal
 */

/** A command's module: `main` runs it with the arguments after its name. */
interface CommandModule {
  main: (command: string, argv: string[]) => Promise<number>
}

/** One row of the table: the module (beside this file) that runs it, and its usage. */
interface Command {
  module: string
  usage: string
}

const commands: Record<string, Command> = {
  demo: { module: 'demo.js', usage: 'demo [--entries N]   a short tour of the embedded store' },
  serve: {
    module: 'serve.js',
    usage: 'serve --config FILE --node ID [--data DIR] [--sync] [--metrics HOST:PORT]\n                       run one node of a cluster until SIGINT/SIGTERM'
  },
  local: {
    module: 'local.js',
    usage: 'local [--nodes 3] [--shards 2] [--data DIR] [--base-port P]\n                       a whole cluster of child processes on loopback'
  },
  start: {
    module: 'start.js',
    usage: 'start [--seconds 20] [--data DIR]\n                       what npm start runs: a local cluster, a bank workload,\n                       a leader killed halfway, the invariant checked'
  },
  status: {
    module: 'status.js',
    usage: 'status [URL...] (--secret S | --config FILE) [--once] [--json]\n                       per shard: leader, epoch, log and watermark positions, lag'
  },
  get: {
    module: 'kv.js',
    usage: 'get|put|del URL KEY [VALUE] (--secret S | --config FILE)\n                       read, write or delete one key'
  },
  put: { module: 'kv.js', usage: '' },
  del: { module: 'kv.js', usage: '' },
  scan: {
    module: 'kv.js',
    usage: 'scan URL [--gte K] [--lt K] [--limit N] [--reverse] (--secret S | --config FILE)\n                       key<TAB>value lines in key order, at one consistent cut'
  }
}

const USAGE = `usage: mako <command> [options]   (mako <command> --help for more)

commands:
${Object.values(commands).filter((c) => c.usage !== '').map((c) => `  ${c.usage}`).join('\n')}
  help                 this text
`

async function main (argv: string[]): Promise<number> {
  const [command = 'demo', ...rest] = argv
  if (command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE)
    return 0
  }
  const entry = Object.hasOwn(commands, command) ? commands[command] : undefined
  if (entry === undefined) {
    process.stderr.write(`mako: unknown command '${command}'\n\n${USAGE}`)
    return 2
  }
  // Loaded by a computed URL, so a command's code is read only when it runs.
  const mod = await import(new URL(`./${entry.module}`, import.meta.url).href) as CommandModule
  return await mod.main(command, rest)
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code }, (err: unknown) => {
  process.stderr.write(`mako: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exitCode = 1
})
