// Cross-shard transactions on a real cluster: three `mako serve` processes
// on loopback hosting two shards of three replicas each. The test process
// runs a bank workload through connectClient (transfers between accounts of
// different shards, about eight transactions in flight, durability final)
// while the leader of a shard is killed with SIGKILL, three times, and
// restarted on its data directory. Checked: every final read-only
// transaction sees the total unchanged and no negative balance; after the
// restarts a final read does too; each transfer appends its id to an audit
// list of its worker on each shard in the same transaction, and at the end
// both lists of a worker are equal (atomic across shards), hold no id twice,
// and hold every id acknowledged final (nothing final was lost).
//
// Also: `mako serve` refuses bad configurations with one clear line and
// exit code 2, without starting anything.
import t from 'tap'
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connectClient } from '../cluster/node/connect.js'
import type { ClusterConnection } from '../cluster/node/connect.js'
import { SeededRandom } from '../cluster/sim/random.js'
import { MakoError } from '../lib/errors.js'
import { makoCommand, ServeCluster } from './txn/serve-cluster.js'
import { replayHint, testSeed } from './transport/seed.js'

const seed = testSeed()
const enc = new TextEncoder()
const dec = new TextDecoder()
const sleep = (ms: number): Promise<void> => new Promise((resolve) => { setTimeout(resolve, ms) })

const ids = ['n1', 'n2', 'n3']
const WORKERS = 8
const WORKLOAD_MS = 8000
const KILLS = 3
const START_BALANCE = 100
// Keys below "m" are shard 0's, the rest shard 1's.
const low = ['a0', 'a1', 'a2', 'a3']
const high = ['x0', 'x1', 'x2', 'x3']
const accounts = [...low, ...high]
const TOTAL = START_BALANCE * accounts.length
const logKey = (shard: 0 | 1, worker: number): Uint8Array => enc.encode(shard === 0 ? `log/${worker}` : `xlog/${worker}`)

function parseList (v: Uint8Array | null): string[] {
  return v === null || v.length === 0 ? [] : dec.decode(v).split(',')
}

/** Polls until `check` gives a value, at most `ms`. */
async function until<T> (what: string, ms: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = performance.now() + ms
  for (;;) {
    const v = await check()
    if (v !== undefined) return v
    if (performance.now() > deadline) throw new Error(`${what}: not within ${ms} ms`)
    await sleep(50)
  }
}

t.test('bank transfers across shards while shard leaders are killed', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mako-txn-process-'))
  const cluster = await ServeCluster.create({
    dir,
    ids,
    config: { shards: [{ end: 'm', replicas: ids }, { start: 'm', replicas: ids }], markMs: 2 }
  })
  let conn: ClusterConnection | undefined
  t.teardown(async () => {
    await conn?.close()
    await cluster.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  const fail = (why: string): never => {
    throw new Error(`${why}; ${replayHint(seed, 'txn-process.test.js')}\n${cluster.log.slice(-30).join('\n')}`)
  }
  await Promise.all(ids.map(async (id) => { await cluster.start(id) }))
  conn = await connectClient({ config: cluster.config, timeout: 5000, attemptTimeout: 500, finalTimeout: 5000, connectTimeout: 5000 })
  const { client } = conn
  const random = new SeededRandom(seed, 'txn-process')

  await client.transaction(async (tx) => { for (const k of accounts) tx.put(enc.encode(k), enc.encode(String(START_BALANCE))) })

  const violations: string[] = []
  const acked = new Map<number, Set<string>>()
  const attempted = new Map<number, Set<string>>()
  const errors = new Map<string, number>()
  let reads = 0
  let lastAckAt = performance.now()
  let stop = false

  const checkBank = (values: number[], where: string): void => {
    const sum = values.reduce((x, y) => x + y, 0)
    if (values.length !== accounts.length || sum !== TOTAL || values.some((v) => !(v >= 0))) {
      violations.push(`${where} saw ${values.join(' ')} (total ${sum})`)
    }
  }
  const readAll = async (): Promise<number[]> => await client.transaction(async (tx) => {
    const values: number[] = []
    for (const k of accounts) {
      const v = await tx.get(enc.encode(k))
      values.push(v === null ? NaN : Number(dec.decode(v)))
    }
    return values
  })

  const worker = async (w: number): Promise<void> => {
    const mine = new Set<string>()
    const tried = new Set<string>()
    acked.set(w, mine)
    attempted.set(w, tried)
    let seq = 0
    while (!stop) {
      try {
        if (random.chance(0.2)) {
          checkBank(await readAll(), `a final read-only transaction of worker ${w}`)
          reads++
          continue
        }
        const lo = low[random.int(low.length)]!
        const hi = high[random.int(high.length)]!
        const [from, to] = random.chance(0.5) ? [lo, hi] : [hi, lo]
        const want = 1 + random.int(20)
        // A new id for every attempt: a retry after an unknown outcome must
        // not pass for the attempt that may have committed.
        const id = await client.transaction(async (tx) => {
          const txId = `${w}.${++seq}`
          tried.add(txId)
          const src = Number(dec.decode((await tx.get(enc.encode(from)))!))
          const dst = Number(dec.decode((await tx.get(enc.encode(to)))!))
          const log0 = await tx.get(logKey(0, w))
          const log1 = await tx.get(logKey(1, w))
          const amount = Math.min(want, src)
          tx.put(enc.encode(from), enc.encode(String(src - amount)))
          tx.put(enc.encode(to), enc.encode(String(dst + amount)))
          tx.put(logKey(0, w), enc.encode([...parseList(log0), txId].join(',')))
          tx.put(logKey(1, w), enc.encode([...parseList(log1), txId].join(',')))
          return txId
        }, { attempts: 5 })
        mine.add(id)
        lastAckAt = performance.now()
      } catch (err) {
        // Conflicts, rollbacks, timeouts and unknown outcomes while leaders
        // die are expected; anything that is not a MakoError is a bug.
        if (!(err instanceof MakoError)) throw err
        errors.set(err.code, (errors.get(err.code) ?? 0) + 1)
        await sleep(5 + random.int(20))
      }
    }
  }

  const leaderOf = async (shard: number): Promise<string | undefined> => {
    for (const id of ids) {
      if (!cluster.running(id)) continue
      try {
        const st = await conn!.status(id, 500)
        if (st.shards.some((s) => s.shard === shard && s.serving)) return id
      } catch {}
    }
    return undefined
  }

  const started = performance.now()
  const workers = Array.from({ length: WORKERS }, async (_, w) => { await worker(w) })
  const failovers: string[] = []
  for (let k = 0; k < KILLS; k++) {
    await sleep(700 + random.int(500))
    const shard = k % 2
    const victim = await until(`a leader of shard ${shard} before kill ${k + 1}`, 5000, async () => await leaderOf(shard))
    const epochBefore = Math.max(0, ...cluster.leaders.filter((l) => l.shard === shard).map((l) => l.epoch))
    const killedAt = performance.now()
    await cluster.kill(victim, 'SIGKILL')
    // Another node announces itself leader of the shard, in a later epoch.
    const next = await until(`a new leader of shard ${shard} after kill ${k + 1}`, 5000, async () => await Promise.resolve(
      cluster.leaders.find((l) => l.shard === shard && l.epoch > epochBefore && l.at > killedAt && l.node !== victim)))
    const ackBefore = lastAckAt
    await until(`a transfer acknowledged after kill ${k + 1}`, 8000, async () => await Promise.resolve(lastAckAt > killedAt && lastAckAt !== ackBefore ? true : undefined)).catch(() => undefined)
    failovers.push(`shard ${shard}: ${victim} killed, ${next.node} leads epoch ${next.epoch} after ${(next.at - killedAt).toFixed(0)} ms`)
    await sleep(200 + random.int(300))
    await cluster.start(victim)
  }
  await sleep(Math.max(0, WORKLOAD_MS - (performance.now() - started)))
  stop = true
  await Promise.all(workers)

  // Every node back and settled: each shard served, nothing locked or prepared.
  await until('all shards serve with nothing in doubt', 10_000, async () => {
    const st = (await Promise.all(ids.map(async (id) => await conn!.status(id, 1000).catch(() => undefined)))).filter((s) => s !== undefined)
    if (st.length !== ids.length) return undefined
    const replicas = st.flatMap((s) => s.shards)
    const serving = new Set(replicas.filter((r) => r.serving).map((r) => r.shard))
    return serving.size === 2 && replicas.every((r) => !r.serving || (r.locks === 0 && r.prepared === 0)) ? true : undefined
  })

  const finalValues = await readAll()
  checkBank(finalValues, 'the final read')
  const lists = await client.transaction(async (tx) => {
    const out = new Map<number, [string[], string[]]>()
    for (let w = 0; w < WORKERS; w++) out.set(w, [parseList(await tx.get(logKey(0, w))), parseList(await tx.get(logKey(1, w)))])
    return out
  })
  let ackedCount = 0
  let logged = 0
  for (let w = 0; w < WORKERS; w++) {
    const [l0, l1] = lists.get(w)!
    const mine = acked.get(w)!
    ackedCount += mine.size
    logged += l0.length
    if (l0.join(',') !== l1.join(',')) violations.push(`worker ${w}'s audit lists differ between shards: ${l0.length} and ${l1.length} ids`)
    if (new Set(l0).size !== l0.length) violations.push(`worker ${w}'s audit list holds an id twice`)
    const present = new Set(l0)
    const lost = [...mine].filter((id) => !present.has(id))
    if (lost.length > 0) violations.push(`worker ${w}: ${lost.length} transfers acknowledged final are lost: ${lost.slice(0, 5).join(' ')}`)
    const stray = l0.filter((id) => !attempted.get(w)!.has(id))
    if (stray.length > 0) violations.push(`worker ${w}: ids never attempted in the audit list: ${stray.slice(0, 5).join(' ')}`)
  }
  const tries = [...attempted.values()].reduce((n, set) => n + set.size, 0)
  t.comment(`seed ${seed}; ${((performance.now() - started) / 1000).toFixed(1)} s: ${ackedCount} transfers acknowledged final, ${logged} logged (${logged - ackedCount} with an unknown outcome), ${tries - logged} attempts retried or given up (conflicts, rollbacks, leader changes), ${reads} read-only checks; errors after retries ${JSON.stringify(Object.fromEntries(errors))}`)
  for (const f of failovers) t.comment(f)
  if (violations.length > 0) fail(`violations:\n${violations.slice(0, 20).join('\n')}`)
  t.pass('every final read saw the total unchanged and no negative balance')
  t.pass('the audit lists agree across shards and hold every transfer acknowledged final')
  t.equal(failovers.length, KILLS, `${KILLS} leaders killed, each replaced`)
  t.ok(ackedCount >= 50, `${ackedCount} transfers acknowledged (at least 50)`)
  t.ok(reads >= 10, `${reads} read-only transactions checked`)

  // A graceful stop: every node drains and exits 0.
  await conn.close()
  conn = undefined
  const codes = await cluster.stop(5000)
  t.strictSame(codes, ids.map(() => 0), 'SIGTERM stops every node cleanly (exit 0)')
  for (const id of ids) t.notOk(existsSync(join(cluster.dataDir(id), 'LOCK')), `${id} released its data directory`)
})

t.test('mako serve refuses a bad configuration with one line and exit code 2', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mako-serve-bad-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const nodes = { n1: { url: 'ws://127.0.0.1:1' }, n2: { url: 'ws://127.0.0.1:2' }, n3: { url: 'ws://127.0.0.1:3' } }
  const good = { cluster: 'bad-test', secret: 'serve-bad-config-secret', nodes, shards: [{ replicas: ['n1', 'n2', 'n3'] }] }
  // [what, configuration, node, what stderr says]
  const cases: Array<[string, unknown, string, RegExp]> = [
    ['an unknown replica', { ...good, shards: [{ replicas: ['n1', 'n2', 'n9'] }] }, 'n1', /shards\[0\]\.replicas\[2\]: unknown node "n9"/],
    ['an even replica count', { ...good, shards: [{ replicas: ['n1', 'n2'] }] }, 'n1', /shards\[0\]\.replicas: 2 replicas cannot form a majority that survives a failure/],
    ['overlapping ranges', { ...good, shards: [{ end: 'p', replicas: ['n1'] }, { start: 'k', replicas: ['n2'] }] }, 'n1', /shards\[1\]\.start: "k" is below the end of shards\[0\]/],
    ['a node not in the configuration', good, 'n9', /nodes: no node "n9" in the configuration \(nodes: n1, n2, n3\)/],
    ['a missing secret', { ...good, secret: undefined }, 'n1', /secret: missing/]
  ]
  // Each run is a process start (about half a second): they run side by side.
  const mako = (args: string[]): Promise<{ status: number | null, stdout: string, stderr: string }> => new Promise((resolve) => {
    const [command, argv] = makoCommand(args)
    const child = execFile(command, argv, { encoding: 'utf8', timeout: 15_000 }, (_err, stdout, stderr) => {
      resolve({ status: child.exitCode, stdout, stderr })
    })
  })
  const runs = cases.map(async ([what, json, node, message], i) => {
    const file = join(dir, `bad-${i}.json`)
    writeFileSync(file, JSON.stringify(json))
    const data = join(dir, `data-${i}`)
    return { what, message, file, data, run: await mako(['serve', '--config', file, '--node', node, '--data', data]) }
  })
  const [usage, missing, help] = await Promise.all([
    mako(['serve', '--node', 'n1']),
    mako(['serve', '--config', join(dir, 'nope.json'), '--node', 'n1']),
    mako(['serve', '--help'])
  ])
  for (const { what, message, file, data, run } of await Promise.all(runs)) {
    t.equal(run.status, 2, `${what}: exit code 2`)
    t.equal(run.stdout, '', `${what}: nothing on standard output (no ready line)`)
    t.match(run.stderr, message, `${what}: says why`)
    t.equal(run.stderr.trimEnd().split('\n').length, 1, `${what}: in one line`)
    t.ok(run.stderr.startsWith(`mako serve: ${file}: `), `${what}: names the file`)
    t.notOk(existsSync(data), `${what}: no data directory made`)
  }
  t.equal(usage!.status, 2, 'no --config: exit code 2')
  t.match(usage!.stderr, /--config FILE is required/, 'no --config: says so')
  t.equal(missing!.status, 1, 'an unreadable file: exit code 1')
  t.match(missing!.stderr, /nope\.json: cannot read the configuration: no such file/, 'an unreadable file: says so')
  t.equal(help!.status, 0, '--help: exit code 0')
  t.match(help!.stdout, /usage: mako serve --config FILE --node ID/, '--help: the usage')
})
