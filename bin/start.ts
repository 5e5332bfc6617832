/**
 * `mako start` (what `npm start` runs): a cluster at work, in about twenty
 * seconds. It starts a local cluster (three `mako serve` processes, two
 * shards), runs bank transfers across the shards with a live progress
 * line, kills one shard's leader with SIGKILL halfway and restarts it,
 * then reads every account at one consistent cut and checks that money
 * was neither made nor lost.
 *
 * The accounts live in the data directory: the first run creates them,
 * a later run checks the total they hold before it moves any money.
 *
 * Progress and events go to standard error (one line redrawn on a
 * terminal, a line every two seconds otherwise); the summary table and
 * the verdict go to standard output. Exit codes: 0 when the invariant
 * held, 1 when it did not or the cluster failed, 2 for bad usage.
 *
 * @module
 * @internal
 */

import { parseArgs } from 'node:util'
import { MakoError } from '../lib/errors.js'
import { connectClient } from '../cluster/node/connect.js'
import type { ClusterConnection } from '../cluster/node/connect.js'
import { startLocalCluster } from '../cluster/node/local.js'
import type { LocalCluster } from '../cluster/node/local.js'
import type { ClusterClient } from '../cluster/txn/client.js'

/** The usage of `mako start`. @internal */
export const START_USAGE = `usage: mako start [--seconds 20] [--data ./data]

Starts a local cluster (3 nodes, 2 shards; see mako local), runs bank
transfers between ${1000} accounts spread over the shards, kills the leader of
a shard with SIGKILL halfway and restarts it, then reads every account at
one consistent cut and checks the total is unchanged and no balance is
negative. The accounts are kept: a second run checks them first.

options:
  --seconds N   how long the transfers run (default 20)
  --data DIR    the cluster's configuration and data (default ./data)

exits 0 when the invariant held, 1 when it did not or the cluster failed,
2 on a bad command line.
`

/** Accounts the bank has. */
const accountCount = 1000
/** Each account's balance when the bank is created. */
const startBalance = 100
/** Transfers in flight at once. */
const workers = 8
/** The key that says the bank exists, and with what total. */
const bankKey = 'bank'
/** Milliseconds between plain progress lines when standard error is not a terminal. */
const plainEveryMs = 2000
/** Milliseconds between consistency checks during the workload. */
const checkEveryMs = 2000

const enc = new TextEncoder()
const dec = new TextDecoder()

/**
 * Account `i`'s key: four hex digits spread evenly over `0000`-`ffff`
 * first, so that the accounts fall evenly into shards cut at hex digits
 * (as `mako local` cuts them).
 */
function accountKey (i: number): string {
  return `${Math.floor((i * 0x10000) / accountCount).toString(16).padStart(4, '0')}/acct-${i}`
}
const accountPattern = /^[0-9a-f]{4}\/acct-(\d+)$/

/** A percentile of sorted numbers. */
function percentile (sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!
}

function ms (x: number): string {
  return Number.isNaN(x) ? '-' : x < 10 ? `${x.toFixed(1)} ms` : `${Math.round(x)} ms`
}

const num = (x: number): string => x.toLocaleString('en-US')

/** What a read of every account found. */
interface BankView {
  /** Balances by account number; NaN for an account that is missing or not a number. */
  balances: number[]
  total: number
  problems: string[]
}

/** Checks balances against the invariant: every account there, none negative, the total unchanged. */
function judge (balances: number[], total: number): BankView {
  const problems: string[] = []
  let sum = 0
  let missing = 0
  let negative = 0
  for (const b of balances) {
    if (Number.isNaN(b)) missing++
    else if (b < 0) negative++
    if (!Number.isNaN(b)) sum += b
  }
  if (missing > 0) problems.push(`${missing} account${missing === 1 ? '' : 's'} missing or unreadable`)
  if (negative > 0) problems.push(`${negative} negative balance${negative === 1 ? '' : 's'}`)
  if (sum !== total) problems.push(`total ${num(sum)}, not ${num(total)}`)
  return { balances, total: sum, problems }
}

/** The bank's description, if it exists: read in a transaction at the leader, so the client's marks cover everything final before it. */
async function readBank (client: ClusterClient): Promise<string | null> {
  const v = await client.transaction(async (tx) => await tx.get(enc.encode(bankKey)), { attempts: 10 })
  return v === null ? null : dec.decode(v)
}

/**
 * Every account read at the client's current cut (its marks of every
 * shard): one consistent snapshot of what is final, without locks, so it
 * does not slow the transfers down. It covers every transfer the client
 * saw become final.
 */
async function readAtCut (client: ClusterClient): Promise<number[]> {
  const balances = new Array<number>(accountCount).fill(NaN)
  for await (const [k, v] of client.rangeAtCut({}, client.marks.cut())) {
    const m = accountPattern.exec(dec.decode(k))
    if (m !== null && Number(m[1]) < accountCount) balances[Number(m[1])] = Number(dec.decode(v))
  }
  return balances
}

/** Options of {@link runStart}. @internal */
export interface StartOptions {
  /** Seconds the transfers run. */
  seconds: number
  /** The data directory. */
  dataDir: string
  /** Where the summary goes. */
  stdout: NodeJS.WritableStream
  /** Where progress and events go; redrawn in place when a terminal. */
  stderr: NodeJS.WritableStream & { isTTY?: boolean, columns?: number }
  /** Where SIGINT and SIGTERM arrive. */
  signals: NodeJS.EventEmitter
}

/**
 * Parses the command line of `mako start`.
 *
 * @param argv The arguments after `start`.
 * @returns Seconds and data directory, or `help`.
 * @throws MakoError `MAKO_INVALID_ARGUMENT` for a bad command line.
 * @internal
 */
export function parseStartArgs (argv: string[]): { seconds: number, dataDir: string } | 'help' {
  let values: { seconds?: string | undefined, data?: string | undefined, help?: boolean | undefined }
  try {
    values = parseArgs({
      args: argv,
      options: { seconds: { type: 'string' }, data: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false
    }).values
  } catch (err) {
    throw new MakoError((err as Error).message, 'MAKO_INVALID_ARGUMENT', { cause: err })
  }
  if (values.help === true) return 'help'
  const seconds = values.seconds === undefined ? 20 : /^\d+$/.test(values.seconds) ? Number(values.seconds) : NaN
  if (!(seconds >= 2 && seconds <= 3600)) throw new MakoError(`--seconds takes a whole number from 2 to 3600 (got ${JSON.stringify(values.seconds)})`, 'MAKO_INVALID_ARGUMENT')
  if (values.data === '') throw new MakoError('--data takes a directory', 'MAKO_INVALID_ARGUMENT')
  return { seconds, dataDir: values.data ?? 'data' }
}

/**
 * Runs the whole show; resolves with the exit code.
 *
 * @param options Duration, directory, streams and signals.
 * @internal
 */
export async function runStart (options: StartOptions): Promise<number> {
  const { stdout, stderr } = options
  const tty = stderr.isTTY === true
  const t0 = performance.now()
  const clock = (): string => `${((performance.now() - t0) / 1000).toFixed(1).padStart(5)} s`
  let statusShown = false
  /** An event on its own line (clearing the progress line on a terminal). */
  const event = (line: string): void => {
    stderr.write(`${tty && statusShown ? '\r\x1b[K' : ''}${clock()}  ${line}\n`)
    statusShown = false
  }

  let interrupted = false
  const onSignal = (signal: string): void => {
    if (interrupted) {
      event(`${signal} again: stopping at once`)
      process.exit(130)
    }
    interrupted = true
    event(`${signal}: ending the transfers early, then checking and stopping`)
  }
  options.signals.on('SIGINT', onSignal)
  options.signals.on('SIGTERM', onSignal)

  let local: LocalCluster | undefined
  let conn: ClusterConnection | undefined
  try {
    event(`starting a local cluster in ${options.dataDir}`)
    local = await startLocalCluster({
      dataDir: options.dataDir,
      onExit: (node, code, signal) => { event(`node ${node} exited by itself (${signal ?? `code ${String(code)}`})`) }
    })
    const cluster = local
    const shardCount = cluster.config.shards.length
    event(`${cluster.config.nodeIds.length} nodes up (${cluster.urls.join(' ')}), ${shardCount} shard${shardCount === 1 ? '' : 's'}; ${cluster.created ? 'a new cluster' : 'the cluster found there'}, configuration in ${cluster.configPath}`)
    for (let s = 0; s < shardCount; s++) await cluster.waitForLeader(s, { timeoutMs: 15_000 })
    conn = await connectClient({ config: cluster.config, timeout: 5000, attemptTimeout: 500, finalTimeout: 10_000, connectTimeout: 5000 })
    const { client } = conn
    const shardOfAccount = Array.from({ length: accountCount }, (_, i) => client.space.shardOf(enc.encode(accountKey(i))))

    // The bank: made once, checked on every later run before any transfer.
    const total = accountCount * startBalance
    const meta = await readBank(client)
    let checks = 0
    const problems: string[] = []
    /** Every account at a cut, retried while a replica cannot serve the cut yet (bounded). */
    const finalCut = async (): Promise<BankView> => {
      for (let attempt = 0; ; attempt++) {
        try {
          return judge(await readAtCut(client), total)
        } catch (err) {
          if (!(err instanceof MakoError) || attempt >= 50) throw err
          await new Promise((resolve) => { setTimeout(resolve, 100) })
        }
      }
    }
    if (meta === null) {
      await client.transaction(async (tx) => {
        for (let i = 0; i < accountCount; i++) tx.put(enc.encode(accountKey(i)), enc.encode(String(startBalance)))
        tx.put(enc.encode(bankKey), enc.encode(JSON.stringify({ accounts: accountCount, total })))
      })
      event(`created ${num(accountCount)} accounts of ${startBalance} (total ${num(total)}), spread over ${shardCount} shards`)
    } else {
      const view = await finalCut()
      checks++
      if (view.problems.length > 0) problems.push(`before the transfers: ${view.problems.join(', ')}`)
      event(`found the ${num(accountCount)} accounts of an earlier run: ${view.problems.length === 0 ? `total ${num(view.total)}, none negative, as it should be` : `WRONG: ${view.problems.join(', ')}`}`)
    }

    // The transfers.
    const latencies: number[] = []
    const window: Array<[number, number]> = []
    let committed = 0
    let gaveUp = 0
    let lastCommitAt = 0
    let stop = false
    const transfer = async (): Promise<void> => {
      while (!stop) {
        const from = Math.floor(Math.random() * accountCount)
        let to = Math.floor(Math.random() * accountCount)
        // Half the transfers cross shards (two-phase commit), half do not.
        const cross = shardCount > 1 && Math.random() < 0.5
        while (to === from || (cross && shardOfAccount[to] === shardOfAccount[from])) to = Math.floor(Math.random() * accountCount)
        const want = 1 + Math.floor(Math.random() * 20)
        const began = performance.now()
        try {
          await client.transaction(async (tx) => {
            const src = Number(dec.decode((await tx.get(enc.encode(accountKey(from)))) ?? enc.encode('NaN')))
            const dst = Number(dec.decode((await tx.get(enc.encode(accountKey(to)))) ?? enc.encode('NaN')))
            const amount = Math.min(want, src)
            tx.put(enc.encode(accountKey(from)), enc.encode(String(src - amount)))
            tx.put(enc.encode(accountKey(to)), enc.encode(String(dst + amount)))
          }, { durability: 'final', attempts: 10 })
          const now = performance.now()
          latencies.push(now - began)
          window.push([now, now - began])
          committed++
          lastCommitAt = now
        } catch (err) {
          // Conflicts, rollbacks and timeouts while a leader is down are
          // expected: the transfer did not happen (or is retried). Anything
          // but a MakoError is a bug.
          if (!(err instanceof MakoError)) throw err
          gaveUp++
          await new Promise((resolve) => { setTimeout(resolve, 20) })
        }
      }
    }

    // Watermark lag at each shard's leader: transactions given a position
    // but not yet known replicated on a majority.
    const lag: Array<number | undefined> = new Array(shardCount).fill(undefined)
    let maxLag = 0
    const pollLag = async (): Promise<void> => {
      await Promise.all(cluster.leaders().map(async (l, s) => {
        if (l === undefined) { lag[s] = undefined; return }
        try {
          const st = (await conn!.status(l.node, 500)).shards.find((x) => x.shard === s && x.serving)
          lag[s] = st === undefined ? undefined : st.assigned - st.watermark
          if (st !== undefined) maxLag = Math.max(maxLag, st.assigned - st.watermark)
        } catch {
          lag[s] = undefined
        }
      }))
    }

    const aborts = (): number => Object.values(client.stats().aborted).reduce((x, y) => x + y, 0)
    const progress = (): string => {
      const now = performance.now()
      while (window.length > 0 && window[0]![0] < now - 2000) window.shift()
      const recent = window.map(([, l]) => l).sort((a, b) => a - b)
      const rate = window.length / Math.min(2, Math.max(0.001, (now - workStart) / 1000))
      return `${num(committed)} transfers  ${num(Math.round(rate))}/s  to final p50 ${ms(percentile(recent, 0.5))} p99 ${ms(percentile(recent, 0.99))}  watermark lag ${lag.map((x) => x ?? '-').join('/')}  aborted ${num(aborts())}  given up ${num(gaveUp)}`
    }

    const workStart = performance.now()
    const runMs = options.seconds * 1000
    event(`${workers} clients transfer money for ${options.seconds} s (each transfer final: replicated on a majority of every shard it touches)`)
    const running = Array.from({ length: workers }, transfer)
    let lastPlain = workStart
    const ticker = setInterval(() => {
      void pollLag()
      if (tty) {
        // One line redrawn in place: cut to the terminal's width, since a
        // wrapped line cannot be redrawn with a carriage return.
        const line = `${clock()}  ${progress()}`
        const columns = stderr.columns ?? 200
        stderr.write(`\r\x1b[K${line.slice(0, Math.max(20, columns - 1))}`)
        statusShown = true
      } else if (performance.now() - lastPlain >= plainEveryMs) {
        lastPlain = performance.now()
        event(progress())
      }
    }, 250)

    // Consistency checks at cuts while money moves.
    const checker = (async () => {
      while (!stop) {
        await new Promise((resolve) => { setTimeout(resolve, checkEveryMs) })
        if (stop) break
        try {
          const view = judge(await readAtCut(client), total)
          checks++
          if (view.problems.length > 0) {
            problems.push(`a cut during the transfers: ${view.problems.join(', ')}`)
            event(`INVARIANT BROKEN at a cut: ${view.problems.join(', ')}`)
          }
        } catch (err) {
          // A cut a replica cannot serve yet (a failover under way): the next one.
          if (!(err instanceof MakoError)) throw err
        }
      }
    })()

    // Every leader change shows, whoever caused it.
    const leadersSeen = new Set(cluster.leaders().map((l) => l === undefined ? '' : `${l.shard}:${l.epoch}`))
    const showLeaders = (): void => {
      for (const l of cluster.leaders()) {
        if (l === undefined || leadersSeen.has(`${l.shard}:${l.epoch}`)) continue
        leadersSeen.add(`${l.shard}:${l.epoch}`)
        event(`${l.node} leads shard ${l.shard} now (epoch ${l.epoch})`)
      }
    }
    const leaderWatch = setInterval(showLeaders, 50)

    // Halfway, the leader of one shard dies; it comes back once another
    // node leads, and the transfers go on meanwhile.
    const failover: string[] = []
    let killedAt: number | undefined
    const waitUntil = async (at: number): Promise<void> => {
      while (!interrupted && performance.now() < at) await new Promise((resolve) => { setTimeout(resolve, 50) })
    }
    const failing = (async () => {
      await waitUntil(workStart + runMs / 2)
      if (interrupted) return
      const shard = 0
      const victim = cluster.leaders()[shard] ?? await cluster.waitForLeader(shard)
      const ackedBefore = lastCommitAt
      killedAt = performance.now()
      await cluster.kill(victim.node, 'SIGKILL')
      event(`killed ${victim.node}, the leader of shard ${shard} (epoch ${victim.epoch}), with SIGKILL`)
      try {
        const next = await cluster.waitForLeader(shard, { after: victim.epoch, timeoutMs: 15_000 })
        if (!leadersSeen.has(`${shard}:${next.epoch}`)) {
          leadersSeen.add(`${shard}:${next.epoch}`)
          event(`${next.node} leads shard ${shard} now (epoch ${next.epoch}), ${Math.round(next.at - killedAt)} ms after the kill`)
        }
        failover.push(`${victim.node} (leader of shard ${shard}) killed at ${((killedAt - workStart) / 1000).toFixed(1)} s; ${next.node} led after ${Math.round(next.at - killedAt)} ms`)
        await new Promise((resolve) => { setTimeout(resolve, 500) })
        const restartAt = performance.now()
        await cluster.restart(victim.node)
        event(`${victim.node} restarted on its data and rejoined as a replica (ready in ${Math.round(performance.now() - restartAt)} ms)${lastCommitAt > killedAt && ackedBefore !== lastCommitAt ? '; transfers kept committing' : ''}`)
        failover.push(`${victim.node} restarted ${((restartAt - workStart) / 1000).toFixed(1)} s in, rejoined as a replica`)
      } catch (err) {
        if (!(err instanceof MakoError)) throw err
        problems.push(`failover: ${err.message}`)
        event(`FAILOVER FAILED: ${err.message}`)
      }
    })()
    await waitUntil(workStart + runMs)
    stop = true
    await Promise.all(running)
    await checker
    clearInterval(ticker)
    const workMs = performance.now() - workStart
    await failing
    clearInterval(leaderWatch)
    await pollLag()
    if (tty && statusShown) { stderr.write('\r\x1b[K'); statusShown = false }
    event(`transfers stopped: ${progress()}`)

    // The verdict: every account at one cut, once every shard has a leader.
    for (let s = 0; s < shardCount; s++) await cluster.waitForLeader(s, { timeoutMs: 15_000 })
    const atCut = await finalCut()
    checks++
    if (atCut.problems.length > 0) problems.push(`the final cut: ${atCut.problems.join(', ')}`)
    const held = problems.length === 0
    event(held ? 'invariant checked: it held' : 'invariant checked: BROKEN')

    latencies.sort((a, b) => a - b)
    const stats = client.stats()
    const abortText = Object.entries(stats.aborted).sort((a, b) => b[1] - a[1]).map(([code, n]) => `${code} ${num(n)}`).join(', ')
    const rows: Array<[string, string]> = [
      ['transfers committed (final)', `${num(committed)} in ${(workMs / 1000).toFixed(1)} s, ${num(Math.round(committed / (workMs / 1000)))}/s, ${workers} clients`],
      ['latency to final', `p50 ${ms(percentile(latencies, 0.5))}, p99 ${ms(percentile(latencies, 0.99))}, max ${ms(latencies.at(-1) ?? NaN)}`],
      ['aborted attempts (retried)', abortText === '' ? '0' : abortText],
      ['transfers given up', num(gaveUp)],
      ['watermark lag, largest seen', `${num(maxLag)} transaction${maxLag === 1 ? '' : 's'}`],
      ...failover.map((f, i): [string, string] => [i === 0 ? 'failover' : '', f]),
      ['consistency checks', `${num(checks)} cuts, each all ${num(accountCount)} accounts at once (${meta === null ? '' : 'one before, '}${num(checks - (meta === null ? 1 : 2))} while transfers ran, one after)`],
      ['accounts', `${num(accountCount)}, total ${num(atCut.total)} (expected ${num(total)})`],
      ['invariant', held ? 'HELD: total unchanged, no negative balance' : `BROKEN: ${problems.join('; ')}`]
    ]
    const width = Math.max(...rows.map(([k]) => k.length))
    stdout.write(`\n${rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n')}\n\n`)
    return held ? 0 : 1
  } catch (err) {
    if (!(err instanceof MakoError)) throw err
    event(`failed: ${err.message}`)
    return 1
  } finally {
    await conn?.close()
    if (local !== undefined) {
      const codes = await local.stop()
      const bad = Object.entries(codes).filter(([, code]) => code !== 0)
      event(bad.length === 0 ? 'cluster stopped' : `cluster stopped; not cleanly: ${bad.map(([id, code]) => `${id} (${code === null ? 'killed' : `code ${code}`})`).join(', ')}`)
    }
    options.signals.off('SIGINT', onSignal)
    options.signals.off('SIGTERM', onSignal)
  }
}

/**
 * `mako start`: parses the command line and runs {@link runStart} on the
 * process's streams and signals.
 *
 * @param _command The command's name.
 * @param argv The arguments after it.
 * @internal
 */
export async function main (_command: string, argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseStartArgs>
  try {
    parsed = parseStartArgs(argv)
  } catch (err) {
    process.stderr.write(`mako start: ${(err as Error).message} (mako start --help for usage)\n`)
    return 2
  }
  if (parsed === 'help') {
    process.stdout.write(START_USAGE)
    return 0
  }
  return await runStart({ ...parsed, stdout: process.stdout, stderr: process.stderr, signals: process })
}
