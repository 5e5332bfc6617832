// The cluster command line against real processes: three `mako serve`
// nodes on loopback (n1 with --metrics), three shards (two of three
// replicas, one held by n1 alone, so n1 always leads it). `mako
// put/get/del/scan` run as child processes and are checked for their
// output and exit codes; `mako status --once --json` shows every shard
// with a leader and a node killed as unreachable; a dead URL and a wrong
// secret are refused with a clear message and exit 1; bad usage is exit 2;
// and n1's /metrics shows its samples, the commit counter of the shard it
// leads grown by the puts made to it.
import t from 'tap'
import { execFile, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { makoCommand } from './txn/serve-cluster.js'
import { freePort } from './paxos/cluster.js'

const ids = ['n1', 'n2', 'n3']
const cluster = 'cli-test'
const secret = 'cli-kv-status-test-secret'
const sleep = (ms: number): Promise<void> => new Promise((resolve) => { setTimeout(resolve, ms) })

interface Run { status: number | null, stdout: string, stderr: string }

/** Runs `mako ...` to its end; the environment without MAKO_SECRET unless given. */
function mako (args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const [command, argv] = makoCommand(args)
    const base = { ...process.env }
    delete base['MAKO_SECRET']
    const child = execFile(command, argv, { encoding: 'utf8', timeout: 20_000, env: { ...base, ...env } }, (_err, stdout, stderr) => {
      resolve({ status: child.exitCode, stdout, stderr })
    })
  })
}

/** The value of a sample in a Prometheus text body; undefined when absent. */
function sample (body: string, name: string, labels: string): number | undefined {
  const line = body.split('\n').find((l) => l.startsWith(`${name}{${labels}} `))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1))
}

t.test('get, put, del, scan, status and metrics against three mako serve processes', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mako-cli-'))
  const nodes: Record<string, { url: string }> = {}
  for (const id of ids) nodes[id] = { url: `ws://127.0.0.1:${await freePort()}` }
  const configPath = join(dir, 'cluster.json')
  writeFileSync(configPath, JSON.stringify({
    cluster,
    secret,
    nodes,
    shards: [{ end: 'm', replicas: ids }, { start: 'm', end: 't', replicas: ids }, { start: 't', replicas: ['n1'] }],
    markMs: 2
  }))
  const procs = new Map<string, ChildProcess>()
  const log: string[] = []
  t.teardown(async () => {
    await Promise.all([...procs.values()].map(async (p) => {
      if (p.exitCode !== null || p.signalCode !== null) return
      const exited = new Promise((resolve) => { p.once('exit', resolve) })
      p.kill('SIGTERM')
      const timer = setTimeout(() => { p.kill('SIGKILL') }, 3000)
      await exited
      clearTimeout(timer)
    }))
    rmSync(dir, { recursive: true, force: true })
  })
  const leaders = new Set<number>()
  let metricsUrl: string | undefined
  const start = (id: string, extra: string[]): Promise<void> => new Promise((resolve, reject) => {
    const [command, argv] = makoCommand(['serve', '--config', configPath, '--node', id, '--data', join(dir, id), ...extra])
    const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
    procs.set(id, child)
    const timer = setTimeout(() => { reject(new Error(`${id} not ready in time:\n${log.join('\n')}`)) }, 15_000)
    let buf = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => {
      buf += chunk
      let nl
      while ((nl = buf.indexOf('\n')) >= 0) {
        const words = buf.slice(0, nl).split(' ')
        buf = buf.slice(nl + 1)
        if (words[0] === 'metrics') metricsUrl = words[1]
        else if (words[0] === 'leader') leaders.add(Number(words[1]))
        else if (words[0] === 'ready') { clearTimeout(timer); resolve() }
      }
    })
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (chunk: string) => { log.push(`${id} ${chunk.trimEnd()}`) })
    child.once('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`${id} exited ${String(code ?? signal)}:\n${log.join('\n')}`)) })
  })
  await Promise.all(ids.map(async (id) => { await start(id, id === 'n1' ? ['--metrics', '127.0.0.1:0'] : []) }))
  t.match(metricsUrl, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/, 'serve prints the metrics URL')
  const deadline = performance.now() + 15_000
  while (leaders.size < 3 && performance.now() < deadline) await sleep(20)
  t.equal(leaders.size, 3, 'every shard got a leader')

  const before = await (await fetch(metricsUrl!)).text()
  const installedBefore = sample(before, 'mako_txn_installed_total', 'node="n1",shard="2"')
  t.equal(typeof installedBefore, 'number', 'n1 reports the commits of the shard it leads')

  const url = (id: string): string => nodes[id]!.url
  const auth = ['--secret', secret, '--cluster', cluster]
  // Keys of every shard: below m, m to t, t and above (über is UTF-8 above t).
  const puts = await Promise.all([
    mako(['put', url('n2'), 'alice', '1', ...auth]),
    mako(['put', url('n3'), 'nina', '2', ...auth]),
    mako(['put', url('n1'), 'zed', '3', '--cluster', cluster], { MAKO_SECRET: secret }),
    mako(['put', '--config', configPath, 'über', 'ça va'])
  ])
  for (const p of puts) t.strictSame([p.status, p.stdout, p.stderr], [0, '', ''], 'put succeeds quietly')

  const [alice, uber, scan, range, reverse] = await Promise.all([
    mako(['get', url('n3'), 'alice', ...auth]),
    mako(['get', '--config', configPath, 'über']),
    mako(['scan', url('n2'), ...auth]),
    mako(['scan', url('n1'), '--gte', 'b', '--lt', 'zed', ...auth]),
    mako(['scan', url('n1'), '--reverse', '--limit', '2', ...auth])
  ])
  t.strictSame([alice.status, alice.stdout], [0, '1\n'], 'get prints the value')
  t.strictSame([uber.status, uber.stdout], [0, 'ça va\n'], 'UTF-8 keys and values, with --config')
  t.strictSame([scan.status, scan.stdout], [0, 'alice\t1\nnina\t2\nzed\t3\nüber\tça va\n'], 'scan: key<TAB>value in key order across shards')
  t.equal(range.stdout, 'nina\t2\n', 'scan --gte --lt')
  t.equal(reverse.stdout, 'über\tça va\nzed\t3\n', 'scan --reverse --limit')

  // Independent of one another, so run together: a del, bad usage (exit 2
  // with what is wrong; --help is exit 0), and the refusals of nothing at
  // a URL and of a server that refuses the secret (exit 1).
  const deadUrl = `ws://127.0.0.1:${await freePort()}`
  const [del, noKey, badLimit, noSecret, help, badInterval, dead, wrong] = await Promise.all([
    mako(['del', url('n1'), 'alice', ...auth]),
    mako(['get', url('n1'), ...auth]),
    mako(['scan', url('n1'), '--limit', 'many', ...auth]),
    mako(['get', url('n1'), 'alice']),
    mako(['scan', '--help']),
    mako(['status', url('n1'), '--interval', '5', ...auth]),
    mako(['status', deadUrl, ...auth, '--once']),
    mako(['get', url('n2'), 'nina', '--secret', 'not-the-cluster-secret', '--cluster', cluster])
  ])
  t.equal(del.status, 0, 'del')
  const gone = await mako(['get', url('n2'), 'alice', ...auth])
  t.equal(gone.status, 1, 'get of a missing key: exit 1')
  t.equal(gone.stdout, '')
  t.match(gone.stderr, /mako get: key not found: "alice"/)
  t.equal(noKey.status, 2, 'a missing KEY')
  t.match(noKey.stderr, /takes URL KEY, got 1 argument/)
  t.equal(badLimit.status, 2)
  t.match(badLimit.stderr, /--limit takes a whole number/)
  t.equal(noSecret.status, 2, 'no secret anywhere')
  t.match(noSecret.stderr, /give the cluster secret: --secret S, --config FILE or the MAKO_SECRET environment variable/)
  t.equal(help.status, 0)
  t.match(help.stdout, /usage: mako scan URL \[--gte K\]/)
  t.equal(badInterval.status, 2)
  t.match(badInterval.stderr, /--interval takes a whole number of milliseconds/)
  t.equal(dead.status, 1, 'status of a dead URL: exit 1')
  t.match(dead.stderr, new RegExp(`mako status: cannot reach cluster ${cluster}: nothing listens at ${deadUrl}`))
  t.equal(wrong.status, 1, 'a wrong secret: exit 1')
  t.match(wrong.stderr, /answers but did not accept the secret and cluster id "cli-test" \(wrong --secret or --cluster\?\)/)

  // Status: every shard led, every node reachable. An election may be
  // under way at the moment of a sample on a loaded machine: look again.
  let report: { cluster: string, nodes: Array<{ id: string, reachable: boolean }>, shards: Array<{ shard: number, leader: string | null, epoch: number, commitIndex: number, watermark: number, watermarkLag: number, commitsPerSecond: number | null }> } | undefined
  for (let i = 0; i < 5; i++) {
    const st = await mako(['status', url('n2'), ...auth, '--once', '--json', '--interval', '300'])
    t.equal(st.status, 0, 'status --once --json')
    report = JSON.parse(st.stdout) as typeof report
    if (report!.shards.every((s) => s.leader !== null)) break
  }
  t.equal(report!.cluster, cluster)
  t.strictSame(report!.nodes.map((n) => [n.id, n.reachable]), ids.map((id) => [id, true]), 'every node reachable')
  t.equal(report!.shards.length, 3)
  for (const s of report!.shards) {
    t.ok(s.leader !== null && ids.includes(s.leader), `shard ${s.shard} has a leader (${String(s.leader)})`)
    t.ok(s.epoch >= 1 && s.commitIndex >= 1 && s.watermark >= 0 && s.watermarkLag >= 0, `shard ${s.shard} positions: ${JSON.stringify(s)}`)
    t.equal(typeof s.commitsPerSecond, 'number', 'commits per second from two samples')
  }
  t.equal(report!.shards[2]!.leader, 'n1', 'the single-replica shard is led by its replica')

  const after = await (await fetch(metricsUrl!)).text()
  // Shard 2 got zed and über: two commits at its leader, n1.
  t.equal(sample(after, 'mako_txn_installed_total', 'node="n1",shard="2"'), installedBefore! + 2, 'the commit counter grew by the puts to the shard')
  t.equal(sample(after, 'mako_shard_leader', 'node="n1",shard="2"'), 1, 'mako_shard_leader')
  t.ok(sample(after, 'mako_paxos_commit_index', 'node="n1",shard="0"')! > sample(before, 'mako_paxos_commit_index', 'node="n1",shard="0"')!, 'Paxos slots of a replicated shard grew')
  t.equal(sample(after, 'mako_link_up', 'node="n1",peer="n2"'), 1, 'links to the other nodes')
  t.match(after, /# TYPE mako_shard_watermark_lag gauge\n/)
  t.match(after, /mako_link_messages_sent_total\{node="n1",peer="n3"\} [1-9]/)
  t.notMatch(after, /peer="client-/, 'short-lived clients are not series of their own')

  // A node killed: reported unreachable, its replicas down, status still 0.
  const n3 = procs.get('n3')!
  const exited = new Promise((resolve) => { n3.once('exit', resolve) })
  n3.kill('SIGKILL')
  await exited
  const down = await mako(['status', url('n1'), ...auth, '--once', '--interval', '300'])
  t.equal(down.status, 0)
  t.match(down.stdout, /2\/3 nodes reachable/)
  t.match(down.stdout, /n3 +ws:\/\/\S+ +unreachable/)
  const linkDown = await (await fetch(metricsUrl!)).text()
  t.equal(sample(linkDown, 'mako_link_up', 'node="n1",peer="n3"'), 0, 'a link down reads 0')
})
