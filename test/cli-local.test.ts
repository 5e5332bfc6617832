// `mako local` as a real process: it starts three `mako serve` children,
// prints their URLs, and a client that knows only a URL and the secret
// (connectRemote) writes and reads through them; SIGINT stops every child
// and frees every port; a second run on the same directory reuses the
// configuration and finds the data. A busy port, a node that cannot start
// and bad flags are refused, with nothing left running.
import t from 'tap'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { createServer } from 'node:net'
import type { Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connectRemote } from '../cluster/node/remote.js'
import { makoCommand } from './txn/serve-cluster.js'

const enc = new TextEncoder()
const dec = new TextDecoder()

/** A `mako local` process and what it printed so far. */
interface Run {
  child: ChildProcess
  stdout: string[]
  stderr: string
  /** The exit code, once the process ended and its pipes closed. */
  exit: Promise<number | null>
}

const runs = new Set<ChildProcess>()

function mako (args: string[]): Run {
  const [command, argv] = makoCommand(args)
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
  runs.add(child)
  const run: Run = {
    child,
    stdout: [],
    stderr: '',
    // 'close', not 'exit': it comes once the pipes are drained too, so what
    // the process printed last is in stdout and stderr when this resolves.
    exit: new Promise((resolve) => { child.once('close', (code) => { runs.delete(child); resolve(code) }) })
  }
  let buf = ''
  child.stdout!.setEncoding('utf8')
  child.stdout!.on('data', (chunk: string) => {
    buf += chunk
    const parts = buf.split('\n')
    buf = parts.pop()!
    run.stdout.push(...parts)
  })
  child.stderr!.setEncoding('utf8')
  child.stderr!.on('data', (chunk: string) => { run.stderr += chunk })
  return run
}

// Whatever happens, no `mako local` outlives the test (its nodes go with it).
t.teardown(() => { for (const c of runs) c.kill('SIGINT') })

/** Polls until `check` gives a value, at most `ms`. */
async function until<T> (what: string, ms: number, check: () => T | undefined): Promise<T> {
  const deadline = performance.now() + ms
  for (;;) {
    const v = check()
    if (v !== undefined) return v
    if (performance.now() > deadline) throw new Error(`${what}: not within ${ms} ms`)
    await new Promise((resolve) => { setTimeout(resolve, 50) })
  }
}

/** Whether a port on loopback can be bound (nothing listens there). */
function portFree (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer()
    srv.once('error', () => { resolve(false) })
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => { srv.close(() => { resolve(true) }) })
  })
}

function listen (): Promise<Server> {
  return new Promise((resolve) => {
    const srv = createServer()
    srv.listen(0, '127.0.0.1', () => { resolve(srv) })
  })
}

const portOf = (url: string): number => Number(new URL(url).port)

// The ready lines go to stdout and the guide to stderr just after them: two
// pipes, so the guide may reach this process later. Its last line ends it.
const guidePrinted = (run: Run): boolean => /Ctrl-C stops every node; .*\n/.test(run.stderr)

t.test('mako local runs a cluster a remote client uses, and stops it on SIGINT', { timeout: 40_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mako-cli-local-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const data = join(dir, 'data')

  const first = mako(['local', '--data', data])
  const readyLines = await until('three ready lines', 25_000, () => {
    if (first.child.exitCode !== null) throw new Error(`mako local exited ${first.child.exitCode}: ${first.stderr}`)
    const ready = first.stdout.filter((l) => l.startsWith('ready '))
    return ready.length === 3 && guidePrinted(first) ? ready : undefined
  })
  const urls = readyLines.map((l) => l.split(' ')[2]!)
  t.same(readyLines.map((l) => l.split(' ')[1]), ['n1', 'n2', 'n3'], 'a ready line per node')
  for (const url of urls) t.match(url, /^ws:\/\/127\.0\.0\.1:\d+$/, `${url} is on loopback`)
  const configPath = join(data, 'cluster.json')
  t.ok(first.stdout.includes(`config ${configPath}`), 'names the configuration file')
  t.match(first.stderr, /a new cluster/, 'says it made a new cluster')
  t.match(first.stderr, new RegExp(`mako status ${urls[0]!} --config ${configPath}`), 'shows a status command to copy')
  t.match(first.stderr, /new MakoLevel\(\{ connect: \["ws:/, 'shows a JavaScript snippet')
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as { secret: string, shards: unknown[] }
  t.notMatch(first.stderr + first.stdout.join('\n'), config.secret, 'never prints the secret')
  t.equal(config.shards.length, 2, 'two shards')

  // A client that knows one URL and the secret, keys on both shards.
  let conn = await connectRemote({ urls: [urls[1]!], secret: config.secret, connectTimeout: 5000 })
  try {
    await conn.client.transaction(async (tx) => {
      tx.put(enc.encode('1-low'), enc.encode('one'))
      tx.put(enc.encode('f-high'), enc.encode('two'))
    })
    const got = await conn.client.transaction(async (tx) => [await tx.get(enc.encode('1-low')), await tx.get(enc.encode('f-high'))])
    t.same(got.map((v) => v === null ? null : dec.decode(v)), ['one', 'two'], 'a put on each shard is read back')
    t.equal(conn.config.nodeIds.length, 3, 'the node described a cluster of three nodes')
  } finally {
    await conn.close()
  }
  await until('leader lines for both shards', 5000, () => first.stdout.filter((l) => /^leader [01] n\d \d+$/.test(l)).length >= 2 ? true : undefined)

  first.child.kill('SIGINT')
  t.equal(await first.exit, 0, 'SIGINT: exit code 0')
  t.equal(first.stdout.at(-1), 'stopped', 'prints stopped last')
  t.match(first.stderr, /every node stopped/, 'every node stopped cleanly')
  for (const url of urls) t.ok(await portFree(portOf(url)), `${url}'s port is free again`)
  for (const id of ['n1', 'n2', 'n3']) t.notOk(existsSync(join(data, id, 'LOCK')), `${id} released its data directory`)

  // The same directory again: the same configuration, the data kept.
  const again = mako(['local', '--data', data])
  await until('three ready lines again', 25_000, () => {
    if (again.child.exitCode !== null) throw new Error(`mako local exited ${again.child.exitCode}: ${again.stderr}`)
    return again.stdout.filter((l) => l.startsWith('ready ')).length === 3 && guidePrinted(again) ? true : undefined
  })
  t.same(again.stdout.filter((l) => l.startsWith('ready ')).map((l) => l.split(' ')[2]), urls, 'the same URLs')
  t.match(again.stderr, /the cluster found there/, 'says it reused the cluster')
  conn = await connectRemote({ urls: [urls[2]!], secret: config.secret, connectTimeout: 5000 })
  try {
    const v = await conn.client.transaction(async (tx) => await tx.get(enc.encode('f-high')))
    t.equal(v === null ? null : dec.decode(v), 'two', 'the data survived the restart')
  } finally {
    await conn.close()
  }
  again.child.kill('SIGTERM')
  t.equal(await again.exit, 0, 'SIGTERM: exit code 0')
  for (const url of urls) t.ok(await portFree(portOf(url)), `${url}'s port is free after the second run`)

  // Asking the existing cluster for another shape is refused.
  const other = mako(['local', '--data', data, '--nodes', '5'])
  t.equal(await other.exit, 2, 'a node count that does not fit cluster.json: exit code 2')
  t.match(other.stderr, /describes a cluster of 3 nodes, not 5/, 'says why')
})

t.test('a busy port or a node that cannot start leaves nothing running', { timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mako-cli-local-bad-'))
  const busy = await listen()
  t.teardown(() => { busy.close(); rmSync(dir, { recursive: true, force: true }) })
  const port = (busy.address() as { port: number }).port

  // The second node's port is taken.
  const data = join(dir, 'busy')
  const refused = mako(['local', '--data', data, '--base-port', String(port - 1)])
  t.equal(await refused.exit, 1, 'a busy port: exit code 1')
  t.match(refused.stderr, new RegExp(`n2's port ${port} is in use`), 'names the node and the port')
  t.same(refused.stdout.filter((l) => l.startsWith('ready ')), [], 'no node reported ready')
  t.notOk(existsSync(join(data, 'cluster.json')), 'no configuration left behind')
  t.ok(await portFree(port - 1), 'nothing listens on the first node\'s port')

  // Node n2 cannot open its data directory (a file is in the way): the
  // nodes that started are killed, and the first run leaves no trace.
  const blocked = join(dir, 'blocked')
  mkdirSync(blocked)
  writeFileSync(join(blocked, 'n2'), 'not a directory')
  const failed = mako(['local', '--data', blocked])
  t.equal(await failed.exit, 1, 'a node that cannot start: exit code 1')
  t.match(failed.stderr, /node n2 exited \(code 1\) before it was ready/, 'names the node that failed')
  t.notOk(existsSync(join(blocked, 'cluster.json')), 'no configuration left behind')
  t.notOk(existsSync(join(blocked, 'n1')) || existsSync(join(blocked, 'n3')), 'no data directories left behind')
  t.ok(existsSync(join(blocked, 'n2')), 'what was there before is kept')
})

t.test('mako local answers --help and refuses bad flags with exit code 2', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mako-cli-local-flags-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const cases: Array<[string[], RegExp]> = [
    [['--nodes', 'lots'], /--nodes takes a whole number from 1 to 9 \(got "lots"\)/],
    [['--nodes', '0'], /--nodes takes a whole number from 1 to 9/],
    [['--shards', '17'], /--shards takes a whole number from 1 to 16/],
    [['--base-port', '70000'], /--base-port takes a whole number/],
    [['--frobnicate'], /Unknown option '--frobnicate'/],
    [['extra'], /Unexpected argument 'extra'/]
  ]
  const results = await Promise.all(cases.map(async ([args]) => {
    const run = mako(['local', '--data', join(dir, 'data'), ...args])
    return { run, code: await run.exit }
  }))
  for (const [i, [args, message]] of cases.entries()) {
    const { run, code } = results[i]!
    t.equal(code, 2, `${args.join(' ')}: exit code 2`)
    t.match(run.stderr, message, `${args.join(' ')}: says why`)
    t.same(run.stdout, [], `${args.join(' ')}: nothing on standard output`)
  }
  t.notOk(existsSync(join(dir, 'data')), 'no data directory made')
  const help = mako(['local', '--help'])
  t.equal(await help.exit, 0, '--help: exit code 0')
  t.match(help.stdout.join('\n'), /usage: mako local \[--nodes 3\]/, '--help: the usage')
})
