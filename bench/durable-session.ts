/**
 * One contender of the durability benchmark as the benchmark drives it: a
 * {@link ContenderSession} runs one sample of a row at a time (a write run
 * on a fresh database, or a read run on the pass's loaded one) and reports
 * its timing. The benchmark talks to each contender through a
 * {@link ContenderRunner}: by default a {@link WorkerRunner}, which keeps
 * the session in a worker process of the contender's own
 * (`durable-worker.ts`), started once and kept warm for the whole run;
 * with `--in-process`, a {@link LocalRunner} in the benchmark's process.
 *
 * Why a process per contender: in one process, classic-level and MakoLevel
 * share abstract-level's code (its `put` is one function for both, its
 * call sites see both classes), and each contender's heap and native
 * threads are the others' neighbours. An application runs one database;
 * so does each worker. How much sharing costs varies from run to run: on
 * the put row (3 passes each, one after the other), MakoLevel did
 * 118-141k puts/s alone, 129-133k beside classic-level in one process, and
 * 100-130k beside it in workers; no difference stood out of the noise. A
 * fresh process per sample would be worse: it pays a page fault for every
 * page its heap grows into.
 *
 * @module
 * @internal
 */

import { fork, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CONTENDERS, type DurableContender, type DurableStore } from './durable-contenders.js'
import { batches, makeDataset, ROWS, WARMUP, type Dataset, type Row, type Sizes } from './durable-rows.js'
import { collectGarbage, type Timed } from './lib/stats.js'

/** Which data a sample runs on: the warm-up's or the measured one. @internal */
export type DataKind = 'warm' | 'main'

/** How to make a session's data: the seed and sizes of the measured data. @internal */
export interface SessionConfig {
  contender: string
  seed: number
  sizes: Sizes
}

/** A sample's timing and the problems the row found (wrong counts, misses). @internal */
export interface SampleResult {
  timed: Timed
  problems: string[]
}

/** What the benchmark asks of a contender. @internal */
export interface ContenderRunner {
  /** One run of a write row on a fresh database (opening and closing untimed). */
  write: (row: string, data: DataKind) => Promise<SampleResult>
  /** Writes the read database (batch(1000)), closes it and opens it again. */
  openRead: (data: DataKind) => Promise<void>
  /** One run of a read row on the read database. */
  read: (row: string, data: DataKind) => Promise<SampleResult>
  /** Closes and removes the read database. */
  closeRead: () => Promise<void>
  /** Ends the runner (and its process). */
  close: () => Promise<void>
}

/** Fresh database directories inside a contender's directory (removed at the end). @internal */
export class ContenderDir {
  readonly path: string
  private n = 0

  constructor (contender: string) {
    this.path = mkdtempSync(join(tmpdir(), `mako-bench-durable-${contender}-`))
  }

  /** A new database location inside the directory, not yet created. */
  fresh (name: string): string {
    return join(this.path, `${name}-${this.n++}`)
  }

  /** Removes the directory and everything in it. */
  remove (): void {
    rmSync(this.path, { recursive: true, force: true })
  }
}

/** Datasets made once per process, by seed and sizes: every local session shares them. */
const datasets = new Map<string, Dataset>()
function datasetOf (config: SessionConfig, kind: DataKind): Dataset {
  const seed = kind === 'warm' ? config.seed + 1 : config.seed
  const sizes = kind === 'warm' ? WARMUP : config.sizes
  const key = `${seed}/${JSON.stringify(sizes)}`
  let d = datasets.get(key)
  if (d === undefined) datasets.set(key, d = makeDataset(seed, sizes))
  return d
}

function rowOf (id: string): Row {
  const row = ROWS.find((r) => r.id === id)
  if (row === undefined) throw new Error(`unknown row ${id}`)
  return row
}

/** A contender's side of the benchmark, in whatever process it runs. @internal */
export class ContenderSession {
  private readonly contender: DurableContender
  private readonly dir: ContenderDir
  private readDb: { db: DurableStore, location: string } | undefined

  /**
   * @param config The contender and the data.
   * @param flush Flushes the OS's dirty pages before a write run (untimed).
   */
  constructor (private readonly config: SessionConfig, private readonly flush: () => Promise<void>) {
    const c = CONTENDERS.find((x) => x.id === config.contender)
    if (c === undefined) throw new Error(`unknown contender ${config.contender}`)
    this.contender = c
    this.dir = new ContenderDir(c.id)
  }

  /** Builds the data ahead (so no sample waits for it). */
  prepare (kinds: readonly DataKind[]): void {
    for (const kind of kinds) datasetOf(this.config, kind)
  }

  async write (rowId: string, kind: DataKind): Promise<SampleResult> {
    const row = rowOf(rowId)
    const d = datasetOf(this.config, kind)
    const location = this.dir.fresh(row.id)
    const db = await this.contender.open(location)
    const problems: string[] = []
    try {
      await this.flush()
      collectGarbage()
      return { timed: await row.run(db, d, problems), problems }
    } finally {
      await db.close()
      rmSync(location, { recursive: true, force: true })
    }
  }

  async openRead (kind: DataKind): Promise<void> {
    await this.closeRead()
    const d = datasetOf(this.config, kind)
    const location = this.dir.fresh('read')
    const loading = await this.contender.open(location)
    for (const b of batches(d, 1000, d.sizes.entries)) await loading.batch(b, false)
    await loading.close()
    this.readDb = { db: await this.contender.open(location), location }
  }

  async read (rowId: string, kind: DataKind): Promise<SampleResult> {
    const row = rowOf(rowId)
    if (this.readDb === undefined) throw new Error('no read database is open')
    const problems: string[] = []
    collectGarbage()
    return { timed: await row.run(this.readDb.db, datasetOf(this.config, kind), problems), problems }
  }

  async closeRead (): Promise<void> {
    const r = this.readDb
    this.readDb = undefined
    if (r === undefined) return
    try {
      await r.db.close()
    } finally {
      rmSync(r.location, { recursive: true, force: true })
    }
  }

  async close (): Promise<void> {
    try {
      await this.closeRead()
    } finally {
      this.dir.remove()
    }
  }
}

/** A session in the benchmark's own process (`--in-process`). @internal */
export class LocalRunner implements ContenderRunner {
  private readonly session: ContenderSession

  constructor (config: SessionConfig, flush: () => Promise<void>) {
    this.session = new ContenderSession(config, flush)
  }

  write (row: string, data: DataKind): Promise<SampleResult> { return this.session.write(row, data) }
  openRead (data: DataKind): Promise<void> { return this.session.openRead(data) }
  read (row: string, data: DataKind): Promise<SampleResult> { return this.session.read(row, data) }
  closeRead (): Promise<void> { return this.session.closeRead() }
  close (): Promise<void> { return this.session.close() }
}

/** A request to a worker. @internal */
export type WorkerRequest =
  | { n: number, op: 'prepare', data: DataKind[] }
  | { n: number, op: 'write' | 'read', row: string, data: DataKind }
  | { n: number, op: 'openRead', data: DataKind }
  | { n: number, op: 'closeRead' | 'close' }

/** A request before it is numbered. */
type Unnumbered<T> = T extends unknown ? Omit<T, 'n'> : never

/** A worker's answer to request `n`. @internal */
export type WorkerReply =
  | { n: number, ok: true, result?: SampleResult }
  | { n: number, ok: false, error: string }

/**
 * A session in a worker process of its own, started at once and kept for
 * the whole run: one request at a time, over the IPC channel.
 * @internal
 */
export class WorkerRunner implements ContenderRunner {
  private readonly child: ChildProcess
  private next = 0
  private readonly waiting = new Map<number, { resolve: (r: SampleResult | undefined) => void, reject: (err: Error) => void }>()
  private exited: Error | undefined

  constructor (config: SessionConfig) {
    const script = fileURLToPath(new URL('./durable-worker.js', import.meta.url))
    this.child = fork(script, [JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.child.on('message', (m: WorkerReply) => {
      const w = this.waiting.get(m.n)
      if (w === undefined) return
      this.waiting.delete(m.n)
      if (m.ok) w.resolve(m.result)
      else w.reject(new Error(m.error))
    })
    this.child.on('exit', (code, signal) => {
      this.exited = new Error(`the ${config.contender} worker exited (${String(code ?? signal)})`)
      for (const w of this.waiting.values()) w.reject(this.exited)
      this.waiting.clear()
    })
  }

  private async call (request: Unnumbered<WorkerRequest>): Promise<SampleResult | undefined> {
    if (this.exited !== undefined) throw this.exited
    const n = this.next++
    return await new Promise((resolve, reject) => {
      this.waiting.set(n, { resolve, reject })
      this.child.send({ ...request, n })
    })
  }

  /** Has the worker build its data now, before anything is timed. */
  async prepare (data: DataKind[]): Promise<void> {
    await this.call({ op: 'prepare', data })
  }

  async write (row: string, data: DataKind): Promise<SampleResult> {
    return await this.call({ op: 'write', row, data }) as SampleResult
  }

  async openRead (data: DataKind): Promise<void> {
    await this.call({ op: 'openRead', data })
  }

  async read (row: string, data: DataKind): Promise<SampleResult> {
    return await this.call({ op: 'read', row, data }) as SampleResult
  }

  async closeRead (): Promise<void> {
    await this.call({ op: 'closeRead' })
  }

  async close (): Promise<void> {
    if (this.exited !== undefined) return
    const exit = new Promise<void>((resolve) => { this.child.once('exit', () => { resolve() }) })
    await this.call({ op: 'close' }).catch(() => {})
    this.child.disconnect()
    await exit
  }
}
