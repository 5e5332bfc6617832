/**
 * Line charts as standalone SVG, for benchmark results: no dependency, a
 * grid of panels, each with its own axes, series and optional reference
 * line.
 *
 * @module
 * @internal
 */

/** One line of a panel: a point per x value (null leaves a gap). @internal */
export interface Series {
  label: string
  color: string
  dashed?: boolean
  points: Array<number | null>
}

/** One panel: x categories, a y axis, its series. @internal */
export interface Panel {
  title: string
  xLabel: string
  yLabel: string
  /** Labels of the x positions, evenly spaced. */
  x: readonly string[]
  /** Logarithmic y axis (values must be positive). */
  logY?: boolean
  series: Series[]
  /** A reference line through one y value per x (e.g. a bar to stay under). */
  reference?: { label: string, points: number[] }
}

const W = 460
const H = 300
const M = { left: 64, right: 16, top: 34, bottom: 84 }

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

function fmt (v: number): string {
  if (v >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`
  if (v >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`
  return `${+v.toPrecision(3)}`
}

function ticks (lo: number, hi: number, log: boolean): number[] {
  if (log) {
    const out: number[] = []
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(10 ** e)
    return out
  }
  const step = 10 ** Math.floor(Math.log10(Math.max(hi - lo, 1e-9) / 4))
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => (hi - lo) / s <= 6) ?? step * 10
  const out: number[] = []
  for (let v = Math.floor(lo / nice) * nice; v <= hi + 1e-9; v += nice) out.push(v)
  return out
}

function panel (p: Panel, ox: number, oy: number): string {
  const values = [...p.series.flatMap((s) => s.points), ...(p.reference?.points ?? [])]
    .filter((v): v is number => v !== null && Number.isFinite(v) && (!(p.logY ?? false) || v > 0))
  const log = p.logY ?? false
  let lo = values.length === 0 ? 0 : Math.min(...values)
  let hi = values.length === 0 ? 1 : Math.max(...values)
  if (log) {
    lo = 10 ** Math.floor(Math.log10(lo))
    hi = 10 ** Math.ceil(Math.log10(hi))
  } else {
    lo = Math.min(0, lo)
    hi = hi === lo ? lo + 1 : hi * 1.05
  }
  const t = ticks(lo, hi, log)
  if (!log) hi = Math.max(hi, t[t.length - 1]!)
  const pw = W - M.left - M.right
  const ph = H - M.top - M.bottom
  const xAt = (i: number): number => ox + M.left + (p.x.length <= 1 ? pw / 2 : (i * pw) / (p.x.length - 1))
  const yAt = (v: number): number => {
    const f = log ? (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) : (v - lo) / (hi - lo)
    return oy + M.top + ph * (1 - f)
  }
  const out: string[] = []
  out.push(`<text x="${ox + W / 2}" y="${oy + 20}" text-anchor="middle" font-weight="bold">${esc(p.title)}</text>`)
  for (const v of t) {
    const y = yAt(v)
    out.push(`<line x1="${ox + M.left}" x2="${ox + W - M.right}" y1="${y}" y2="${y}" stroke="#ddd"/>`)
    out.push(`<text x="${ox + M.left - 6}" y="${y + 4}" text-anchor="end" font-size="11">${fmt(v)}</text>`)
  }
  p.x.forEach((label, i) => {
    out.push(`<text x="${xAt(i)}" y="${oy + H - M.bottom + 16}" text-anchor="middle" font-size="11">${esc(label)}</text>`)
  })
  out.push(`<text x="${ox + M.left + pw / 2}" y="${oy + H - M.bottom + 32}" text-anchor="middle" font-size="12">${esc(p.xLabel)}</text>`)
  out.push(`<text transform="translate(${ox + 14} ${oy + M.top + ph / 2}) rotate(-90)" text-anchor="middle" font-size="12">${esc(p.yLabel)}</text>`)
  out.push(`<rect x="${ox + M.left}" y="${oy + M.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`)
  const line = (points: Array<number | null>, attrs: string): void => {
    let d = ''
    points.forEach((v, i) => {
      if (v === null || !Number.isFinite(v) || (log && v <= 0)) { d += ' '; return }
      d += `${d.endsWith(' ') || d === '' ? 'M' : 'L'}${xAt(i).toFixed(1)},${yAt(v).toFixed(1)} `
    })
    if (d.trim() !== '') out.push(`<path d="${d.trim()}" fill="none" ${attrs}/>`)
  }
  if (p.reference !== undefined) line(p.reference.points, 'stroke="#c00" stroke-width="1.5" stroke-dasharray="2 3"')
  for (const s of p.series) {
    line(s.points, `stroke="${s.color}" stroke-width="2"${s.dashed === true ? ' stroke-dasharray="6 4"' : ''}`)
    s.points.forEach((v, i) => {
      if (v !== null && Number.isFinite(v) && !(log && v <= 0)) out.push(`<circle cx="${xAt(i).toFixed(1)}" cy="${yAt(v).toFixed(1)}" r="2.5" fill="${s.color}"/>`)
    })
  }
  const legend = [...p.series.map((s) => ({ label: s.label, color: s.color, dash: s.dashed === true ? '6 4' : '' })),
    ...(p.reference !== undefined ? [{ label: p.reference.label, color: '#c00', dash: '2 3' }] : [])]
  legend.forEach((l, i) => {
    const lx = ox + M.left + (i % 2) * (pw / 2)
    const ly = oy + H - M.bottom + 48 + Math.floor(i / 2) * 14
    out.push(`<line x1="${lx}" x2="${lx + 18}" y1="${ly - 4}" y2="${ly - 4}" stroke="${l.color}" stroke-width="2"${l.dash !== '' ? ` stroke-dasharray="${l.dash}"` : ''}/>`)
    out.push(`<text x="${lx + 22}" y="${ly}" font-size="10">${esc(l.label)}</text>`)
  })
  return out.join('\n')
}

/**
 * A grid of panels as one SVG document.
 *
 * @param title Above the grid.
 * @param panels The panels, left to right, top to bottom.
 * @param columns Panels per row.
 * @internal
 */
export function lineCharts (title: string, panels: readonly Panel[], columns = 2): string {
  const rows = Math.ceil(panels.length / columns)
  const width = W * Math.min(columns, panels.length)
  const height = H * rows + 30
  const body = panels.map((p, i) => panel(p, (i % columns) * W, 30 + Math.floor(i / columns) * H)).join('\n')
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="${width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>
${body}
</svg>
`
}
