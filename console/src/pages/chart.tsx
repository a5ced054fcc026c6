/**
 * The chart of a windowed view: time on the x axis from `window_start`, one line per value of a dimension
 * column, the y values from a measure column. Both are chosen automatically (the first text column, the
 * first numeric one) and can be changed.
 */
import { useEffect, useRef, useState } from 'preact/hooks'
import uPlot from 'uplot'
import { parseTime } from '../table.tsx'

const NUMERIC = new Set(['int2', 'int4', 'int8', 'float4', 'float8', 'numeric'])
const TIME = new Set(['timestamptz', 'timestamp'])
/** Lines drawn at most: the dimension values with the largest totals. */
const MAX_SERIES = 12
const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#4d7c0f', '#9a3412', '#475569', '#0f766e', '#a21caf']

export interface ChartColumns {
  time: number
  measures: number[]
  dimensions: number[]
}

/** Which columns a chart can use; null when the view has no window_start (not windowed). */
export function chartColumns(columns: { name: string; type: string }[]): ChartColumns | null {
  const time = columns.findIndex((c) => c.name === 'window_start' && TIME.has(c.type))
  if (time < 0) return null
  const measures: number[] = []
  const dimensions: number[] = []
  columns.forEach((c, i) => {
    if (i === time || c.name.startsWith('window_')) return
    if (NUMERIC.has(c.type)) measures.push(i)
    else if (!TIME.has(c.type)) dimensions.push(i)
  })
  return measures.length === 0 ? null : { time, measures, dimensions }
}

/** uPlot's data: x (seconds) and one y array per series, null where a series has no row at that x. */
export function seriesOf(rows: (string | null)[][], cols: { time: number; measure: number; dimension: number | null }): { labels: string[]; data: (number | null)[][] } {
  const byLabel = new Map<string, Map<number, number>>()
  const xs = new Set<number>()
  const totals = new Map<string, number>()
  for (const r of rows) {
    const t = parseTime(r[cols.time] ?? null)
    const y = Number(r[cols.measure])
    if (!Number.isFinite(t) || r[cols.measure] === null) continue
    const label = cols.dimension === null ? 'value' : (r[cols.dimension] ?? 'NULL')
    const m = byLabel.get(label) ?? new Map<number, number>()
    m.set(t / 1000, (m.get(t / 1000) ?? 0) + y)
    byLabel.set(label, m)
    totals.set(label, (totals.get(label) ?? 0) + Math.abs(y))
    xs.add(t / 1000)
  }
  const labels = [...totals.entries()].sort((a, b) => b[1] - a[1]).slice(0, MAX_SERIES).map(([l]) => l).sort()
  const x = [...xs].sort((a, b) => a - b)
  return { labels, data: [x, ...labels.map((l) => x.map((t) => byLabel.get(l)!.get(t) ?? null))] }
}

export function Chart(props: { columns: { name: string; type: string }[]; rows: (string | null)[][]; cols: ChartColumns }) {
  const { cols } = props
  const [measure, setMeasure] = useState(cols.measures[0]!)
  const [dimension, setDimension] = useState<number | null>(cols.dimensions[0] ?? null)
  const box = useRef<HTMLDivElement>(null)
  const plot = useRef<{ u: uPlot; key: string } | null>(null)
  const { labels, data } = seriesOf(props.rows, { time: cols.time, measure, dimension })
  useEffect(() => {
    if (box.current === null) return
    const key = `${measure}/${dimension}/${labels.join('\u0000')}`
    if (plot.current?.key === key) {
      plot.current.u.setData(data as uPlot.AlignedData)
      return
    }
    plot.current?.u.destroy()
    const opts: uPlot.Options = {
      width: Math.max(400, box.current.clientWidth),
      height: 280,
      series: [{}, ...labels.map((l, i) => ({ label: l, stroke: COLORS[i % COLORS.length], width: 2, points: { show: true, size: 5 } }))],
      axes: [{}, { label: props.columns[measure]?.name }],
    }
    plot.current = { u: new uPlot(opts, data as uPlot.AlignedData, box.current), key }
  })
  useEffect(() => () => plot.current?.u.destroy(), [])
  return (
    <div class="chart">
      <div class="toolbar">
        <label>
          y
          <select id="chart-measure" value={measure} onChange={(e) => setMeasure(Number(e.currentTarget.value))}>
            {cols.measures.map((i) => <option value={i}>{props.columns[i]!.name}</option>)}
          </select>
        </label>
        <label>
          one line per
          <select id="chart-dimension" value={dimension ?? -1} onChange={(e) => setDimension(Number(e.currentTarget.value) < 0 ? null : Number(e.currentTarget.value))}>
            <option value={-1}>(none)</option>
            {cols.dimensions.map((i) => <option value={i}>{props.columns[i]!.name}</option>)}
          </select>
        </label>
        <span class="muted" id="chart-points">{data[0]!.length} windows, {labels.length} series</span>
      </div>
      <div ref={box} class="chart-box" />
    </div>
  )
}
