/**
 * Machine description and JSON result files for benchmarks.
 *
 * @module
 * @internal
 */

import { cpus, totalmem, platform, arch, release, loadavg } from 'node:os'
import { mkdirSync, writeFileSync, renameSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Where a benchmark ran. @internal */
export interface MachineInfo {
  /** ISO date of the run. */
  date: string
  /** `process.version`. */
  node: string
  /** V8 version. */
  v8: string
  /** `os.platform()` `os.release()` `os.arch()`. */
  os: string
  /** CPU model of the first core. */
  cpuModel: string
  /** Logical cores. */
  cpuCount: number
  /** Physical memory in bytes. */
  totalMemoryBytes: number
  /**
   * 1, 5 and 15 minute load averages when described: on a shared machine, a
   * high load means other work competed with the benchmark.
   */
  loadAverage: number[]
}

/** Describe this machine and process. @internal */
export function machineInfo (): MachineInfo {
  const c = cpus()
  return {
    date: new Date().toISOString(),
    node: process.version,
    v8: process.versions.v8,
    os: `${platform()} ${release()} ${arch()}`,
    cpuModel: c[0]?.model ?? 'unknown',
    cpuCount: c.length,
    totalMemoryBytes: totalmem(),
    loadAverage: loadavg()
  }
}

/**
 * The source folder `bench/results/`, found from the compiled file's place
 * (`dist/bench/lib/results.js`), so results land next to the sources and not
 * in `dist/`.
 *
 * @internal
 */
export function resultsDir (): string {
  const here = dirname(fileURLToPath(import.meta.url))
  return join(here, '..', '..', '..', 'bench', 'results')
}

/**
 * Write `data` as pretty JSON to `bench/results/<name>.json`, atomically
 * (a temporary file renamed over the old one). Returns the path.
 *
 * @internal
 */
export function writeResults (name: string, data: unknown): string {
  const dir = resultsDir()
  mkdirSync(dir, { recursive: true })
  const path = join(dir, `${name}.json`)
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(data, null, 2) + '\n')
  renameSync(tmp, path)
  return path
}
