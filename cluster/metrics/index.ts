/**
 * Metrics of a node in the Prometheus text format, on an HTTP endpoint that
 * is off unless configured.
 *
 * @module
 */

export { MetricsBuilder, serveMetrics } from './prometheus.js'
export type { Labels, MetricType, MetricsServer, MetricsServerOptions } from './prometheus.js'
export { collectNode } from './collect.js'
export type { NodeSources } from './collect.js'
