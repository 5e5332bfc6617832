/**
 * Metrics in the Prometheus text exposition format (version 0.0.4), served
 * over HTTP on an endpoint that is off unless configured. A scrape builds
 * the samples afresh from a collect function, so nothing is kept between
 * scrapes and nothing costs anything when nobody scrapes.
 *
 * @module
 */

import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { MakoError } from '../../lib/errors.js'

/** Labels of a sample. */
export type Labels = Readonly<Record<string, string | number>>

/** The kinds of metrics. */
export type MetricType = 'counter' | 'gauge' | 'histogram'

interface Family {
  readonly type: MetricType
  readonly help: string
  readonly lines: string[]
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/

function escapeLabel (v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
}

function fmtLabels (labels: Labels | undefined, extra?: string): string {
  const parts: string[] = []
  if (labels !== undefined) {
    for (const [k, v] of Object.entries(labels)) {
      if (!LABEL.test(k)) throw new MakoError(`Bad label name ${k}`, 'MAKO_INVALID_ARGUMENT')
      parts.push(`${k}="${escapeLabel(String(v))}"`)
    }
  }
  if (extra !== undefined) parts.push(extra)
  return parts.length === 0 ? '' : `{${parts.join(',')}}`
}

function fmtValue (v: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (v === Infinity) return '+Inf'
  if (v === -Infinity) return '-Inf'
  return String(v)
}

/**
 * The samples of one scrape, grouped by metric, rendered in the text format.
 */
export class MetricsBuilder {
  readonly #families = new Map<string, Family>()

  #family (name: string, type: MetricType, help: string): Family {
    if (!NAME.test(name)) throw new MakoError(`Bad metric name ${name}`, 'MAKO_INVALID_ARGUMENT')
    let f = this.#families.get(name)
    if (f === undefined) {
      f = { type, help, lines: [] }
      this.#families.set(name, f)
    } else if (f.type !== type) {
      throw new MakoError(`Metric ${name} is a ${f.type}, not a ${type}`, 'MAKO_INVALID_ARGUMENT')
    }
    return f
  }

  /**
   * Adds a counter sample (a total that only grows). The name should end in `_total`.
   *
   * @param name Metric name.
   * @param help What it counts.
   * @param value The total.
   * @param labels Labels.
   */
  counter (name: string, help: string, value: number, labels?: Labels): this {
    this.#family(name, 'counter', help).lines.push(`${name}${fmtLabels(labels)} ${fmtValue(value)}`)
    return this
  }

  /**
   * Adds a gauge sample (a value that goes up and down).
   *
   * @param name Metric name.
   * @param help What it measures.
   * @param value The value.
   * @param labels Labels.
   */
  gauge (name: string, help: string, value: number, labels?: Labels): this {
    this.#family(name, 'gauge', help).lines.push(`${name}${fmtLabels(labels)} ${fmtValue(value)}`)
    return this
  }

  /**
   * Adds a histogram from bucket counts.
   *
   * @param name Metric name (without `_bucket`).
   * @param help What it measures.
   * @param bounds Upper bounds of the buckets, ascending.
   * @param counts Observations per bucket (not cumulative), one more than
   *   `bounds` for the observations above every bound.
   * @param sum Sum of the observations.
   * @param labels Labels.
   */
  histogram (name: string, help: string, bounds: readonly number[], counts: readonly number[], sum: number, labels?: Labels): this {
    if (counts.length !== bounds.length + 1) throw new MakoError('A histogram needs one count per bound and one above', 'MAKO_INVALID_ARGUMENT')
    const f = this.#family(name, 'histogram', help)
    let cumulative = 0
    for (const [i, b] of bounds.entries()) {
      cumulative += counts[i]!
      f.lines.push(`${name}_bucket${fmtLabels(labels, `le="${fmtValue(b)}"`)} ${cumulative}`)
    }
    cumulative += counts[bounds.length]!
    f.lines.push(`${name}_bucket${fmtLabels(labels, 'le="+Inf"')} ${cumulative}`)
    f.lines.push(`${name}_sum${fmtLabels(labels)} ${fmtValue(sum)}`)
    f.lines.push(`${name}_count${fmtLabels(labels)} ${cumulative}`)
    return this
  }

  /** The text exposition of every sample added. */
  render (): string {
    const out: string[] = []
    for (const [name, f] of this.#families) {
      out.push(`# HELP ${name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`)
      out.push(`# TYPE ${name} ${f.type}`)
      for (const l of f.lines) out.push(l)
    }
    return out.join('\n') + '\n'
  }
}

/** Options of {@link serveMetrics}. */
export interface MetricsServerOptions {
  /** Port; 0 picks a free one. */
  port: number
  /** Interface; default `127.0.0.1`. */
  host?: string
  /** Adds the samples of one scrape. */
  collect: (m: MetricsBuilder) => void
}

/** A running metrics endpoint. */
export interface MetricsServer {
  /** The URL of the endpoint (`http://host:port/metrics`). */
  readonly url: string
  /** Stops serving. */
  close(): Promise<void>
}

/**
 * Serves `GET /metrics` in the Prometheus text format.
 *
 * @param options Port, host and the collect function.
 */
export async function serveMetrics (options: MetricsServerOptions): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && !(req.url ?? '').startsWith('/metrics?'))) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
      return
    }
    let body: string
    try {
      const m = new MetricsBuilder()
      options.collect(m)
      body = m.render()
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${err instanceof Error ? err.message : String(err)}\n`)
      return
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(body)
  })
  server.headersTimeout = 5000
  server.requestTimeout = 5000
  const host = options.host ?? '127.0.0.1'
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, host, () => { server.off('error', reject); resolve() })
  })
  const addr = server.address()
  const port = typeof addr === 'object' && addr !== null ? addr.port : options.port
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/metrics`,
    async close () {
      await new Promise<void>((resolve) => { server.close(() => { resolve() }); server.closeAllConnections() })
    }
  }
}
