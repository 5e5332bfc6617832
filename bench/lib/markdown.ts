/**
 * Markdown tables and number formatting for benchmark reports.
 *
 * @module
 * @internal
 */

/** Cell alignment of a column. @internal */
export type Align = 'left' | 'right'

/**
 * A GitHub-flavoured markdown table with padded columns, so it reads well in a
 * terminal too.
 *
 * @internal
 */
export function markdownTable (header: readonly string[], rows: ReadonlyArray<readonly string[]>, align: readonly Align[] = []): string {
  const widths = header.map((h, i) => Math.max(3, h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const pad = (s: string, i: number): string =>
    (align[i] ?? 'left') === 'right' ? s.padStart(widths[i] ?? 0) : s.padEnd(widths[i] ?? 0)
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => pad(c, i)).join(' | ')} |`
  const rule = `|${widths.map((w, i) => (align[i] ?? 'left') === 'right' ? `${'-'.repeat(w + 1)}:` : `${'-'.repeat(w + 2)}`).join('|')}|`
  return [line(header), rule, ...rows.map((r) => line(header.map((_, i) => r[i] ?? '')))].join('\n')
}

/**
 * A rate or count with three significant figures and a k/M/G suffix
 * (1234567 -> "1.23M").
 *
 * @internal
 */
export function formatRate (n: number): string {
  if (!Number.isFinite(n)) return String(n)
  const abs = Math.abs(n)
  if (abs >= 1e9) return `${(n / 1e9).toPrecision(3)}G`
  if (abs >= 1e6) return `${(n / 1e6).toPrecision(3)}M`
  if (abs >= 1e3) return `${(n / 1e3).toPrecision(3)}k`
  return n.toPrecision(3)
}

/** A ratio as "2.31x". @internal */
export function formatRatio (r: number): string {
  if (!Number.isFinite(r)) return 'n/a'
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}x`
}

/** Bytes with one decimal and a unit. @internal */
export function formatBytes (n: number): string {
  if (!Number.isFinite(n)) return String(n)
  const abs = Math.abs(n)
  if (abs >= 1024 * 1024 * 1024) return `${(n / 1024 / 1024 / 1024).toFixed(1)} GiB`
  if (abs >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`
  if (abs >= 1024) return `${(n / 1024).toFixed(1)} KiB`
  return `${n.toFixed(0)} B`
}
