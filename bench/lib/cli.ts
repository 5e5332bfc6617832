/**
 * Command-line options shared by benchmarks.
 *
 * @module
 * @internal
 */

/** Options every benchmark understands. @internal */
export interface BenchArgs {
  /** `--quick`: small data and one pass, a smoke run. */
  quick: boolean
  /** `--only <name>` (repeatable): run only these contenders. */
  only: string[]
  /** `--passes <n>`: passes per row, medians over them. */
  passes: number | undefined
  /** `--seed <n>`: seed of the data generator. */
  seed: number | undefined
  /** `--no-memory`: skip the memory rows (they start child processes). */
  memory: boolean
  /**
   * `--isolate`: run each contender's pass in a fresh child process, so V8
   * sees one database class at a time (as an application does).
   */
  isolate: boolean
  /**
   * `--in-process`: run every contender in the benchmark's own process
   * (benchmarks that give each contender a worker process by default).
   */
  inProcess: boolean
  /** `--worker <id>`: internal, this process is the child of `--isolate`. */
  worker: string | undefined
}

/**
 * Parse `argv` (without node and the script). Throws on an unknown flag, so a
 * typo does not silently run the full benchmark.
 *
 * @internal
 */
export function parseBenchArgs (argv: readonly string[]): BenchArgs {
  const args: BenchArgs = { quick: false, only: [], passes: undefined, seed: undefined, memory: true, isolate: false, inProcess: false, worker: undefined }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const value = (): string => {
      const v = argv[++i]
      if (v === undefined) throw new Error(`${String(a)} needs a value`)
      return v
    }
    const int = (v: string): number => {
      const n = Number(v)
      if (!Number.isInteger(n)) throw new Error(`${String(a)} needs an integer, got '${v}'`)
      return n
    }
    if (a === '--quick') args.quick = true
    else if (a === '--only') args.only.push(...value().split(','))
    else if (a?.startsWith('--only=') === true) args.only.push(...a.slice(7).split(','))
    else if (a === '--passes') args.passes = int(value())
    else if (a === '--seed') args.seed = int(value())
    else if (a === '--no-memory') args.memory = false
    else if (a === '--isolate') args.isolate = true
    else if (a === '--in-process') args.inProcess = true
    else if (a === '--worker') args.worker = value()
    else throw new Error(`unknown option '${String(a)}' (known: --quick, --only <name>, --passes <n>, --seed <n>, --no-memory, --isolate, --in-process)`)
  }
  return args
}
