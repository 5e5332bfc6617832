// `mako start` (what `npm start` runs) as a real process: a first run on
// an empty directory creates the bank, moves money while a shard leader is
// killed and restarted, and exits 0 with the invariant held; a second run
// on the same directory finds the accounts and checks them first. Then one
// account is changed behind the bank's back (through `mako local` and a
// remote client), and the next run must say the invariant is broken and
// exit 1: the check is not one that cannot fail.
import t from 'tap'
import { execFile, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connectRemote } from '../cluster/node/remote.js'
import { makoCommand } from './txn/serve-cluster.js'

const enc = new TextEncoder()
const dec = new TextDecoder()

function mako (args: string[], timeout: number): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return new Promise((resolve) => {
    const [command, argv] = makoCommand(args)
    const child = execFile(command, argv, { encoding: 'utf8', timeout, killSignal: 'SIGINT' }, (_err, stdout, stderr) => {
      resolve({ code: child.exitCode, stdout, stderr })
    })
  })
}

function portFree (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer()
    srv.once('error', () => { resolve(false) })
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => { srv.close(() => { resolve(true) }) })
  })
}

t.test('mako start runs the bank through a failover, twice on the same data', { timeout: 55_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mako-cli-start-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const data = join(dir, 'data')
  const ports = (): number[] => Object.values((JSON.parse(readFileSync(join(data, 'cluster.json'), 'utf8')) as { nodes: Record<string, { url: string }> }).nodes)
    .map((n) => Number(new URL(n.url).port))

  const first = await mako(['start', '--seconds', '6', '--data', data], 40_000)
  t.equal(first.code, 0, `first run: exit code 0${first.code === 0 ? '' : `\n${first.stderr}${first.stdout}`}`)
  t.match(first.stderr, /a new cluster/, 'first run: a new cluster')
  t.match(first.stderr, /created 1,000 accounts of 100 \(total 100,000\), spread over 2 shards/, 'first run: creates the accounts')
  t.match(first.stderr, /killed n\d, the leader of shard 0 \(epoch \d+\), with SIGKILL/, 'says which leader it killed')
  t.match(first.stderr, /n\d leads shard 0 now \(epoch \d+\), \d+ ms after the kill/, 'says when the new leader appeared')
  t.match(first.stderr, /n\d restarted on its data and rejoined as a replica/, 'says the killed node came back')
  t.match(first.stderr, /\d+ transfers {2}\d+\/s {2}to final p50/, 'plain progress lines (not a terminal)')
  t.notMatch(first.stderr, /\r|\x1b\[K/, 'no redrawing when not a terminal')
  t.match(first.stdout, /invariant\s+HELD: total unchanged, no negative balance/, 'the invariant held')
  t.match(first.stdout, /failover\s+n\d \(leader of shard 0\) killed at/, 'the summary shows the failover')
  const committed = Number(/transfers committed \(final\)\s+([\d,]+)/.exec(first.stdout)?.[1]?.replace(/,/g, ''))
  t.ok(committed > 0, `transfers were committed (${committed})`)
  for (const port of ports()) t.ok(await portFree(port), `port ${port} is free after the run`)

  const second = await mako(['start', '--seconds', '3', '--data', data], 30_000)
  t.equal(second.code, 0, `second run: exit code 0${second.code === 0 ? '' : `\n${second.stderr}${second.stdout}`}`)
  t.match(second.stderr, /the cluster found there/, 'second run: the same cluster')
  t.match(second.stderr, /found the 1,000 accounts of an earlier run: total 100,000, none negative, as it should be/, 'second run: checks the accounts first')
  t.notMatch(second.stderr, /created 1,000 accounts/, 'second run: creates nothing')
  t.match(second.stdout, /invariant\s+HELD/, 'second run: the invariant held')

  // Money out of thin air: one account changed outside a transfer.
  const [command, argv] = makoCommand(['local', '--data', data])
  const local = spawn(command, argv, { stdio: ['ignore', 'pipe', 'ignore'] })
  t.teardown(() => { local.kill('SIGKILL') })
  let out = ''
  local.stdout.setEncoding('utf8')
  await new Promise<void>((resolve, reject) => {
    local.once('exit', (code) => { reject(new Error(`mako local exited ${String(code)}`)) })
    local.stdout.on('data', (chunk: string) => {
      out += chunk
      if (out.split('\n').filter((l) => l.startsWith('ready ')).length === 3) resolve()
    })
  })
  const url = /^ready n1 (\S+)$/m.exec(out)![1]!
  const { secret } = JSON.parse(readFileSync(join(data, 'cluster.json'), 'utf8')) as { secret: string }
  const conn = await connectRemote({ urls: [url], secret, connectTimeout: 5000 })
  try {
    await conn.client.transaction(async (tx) => {
      const balance = Number(dec.decode((await tx.get(enc.encode('0000/acct-0')))!))
      tx.put(enc.encode('0000/acct-0'), enc.encode(String(balance + 1_000_000)))
    })
  } finally {
    await conn.close()
  }
  local.removeAllListeners('exit')
  const stopped = new Promise((resolve) => { local.once('exit', resolve) })
  local.kill('SIGINT')
  await stopped

  const third = await mako(['start', '--seconds', '2', '--data', data], 30_000)
  t.equal(third.code, 1, 'a broken invariant: exit code 1')
  t.match(third.stderr, /found the 1,000 accounts of an earlier run: WRONG: total 1,100,000, not 100,000/, 'says the total is wrong before the transfers')
  t.match(third.stdout, /invariant\s+BROKEN: before the transfers: total 1,100,000, not 100,000/, 'the summary says it is broken, and where')
})

t.test('mako start refuses bad flags with exit code 2', async (t) => {
  const [bad, junk, help] = await Promise.all([
    mako(['start', '--seconds', 'forever'], 15_000),
    mako(['start', '--frobnicate'], 15_000),
    mako(['start', '--help'], 15_000)
  ])
  t.equal(bad.code, 2, '--seconds forever: exit code 2')
  t.match(bad.stderr, /--seconds takes a whole number from 2 to 3600/, '--seconds forever: says why')
  t.equal(junk.code, 2, 'an unknown flag: exit code 2')
  t.match(junk.stderr, /Unknown option '--frobnicate'/, 'an unknown flag: says why')
  t.equal(help.code, 0, '--help: exit code 0')
  t.match(help.stdout, /usage: mako start \[--seconds 20\] \[--data \.\/data\]/, '--help: the usage')
})
