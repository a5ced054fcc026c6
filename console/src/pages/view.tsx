/** A view's page (`/views/<name>`): its status, its rows live, a chart when it is windowed, CSV download. */
import { useEffect, useState } from 'preact/hooks'
import { type Rec, literal, select } from '../api.ts'
import { ErrorBox, Status, Table } from '../table.tsx'
import { Chart, chartColumns } from './chart.tsx'
import { expand, toCsv, useLiveRows } from './live-rows.ts'

/** Rows shown in the table at most (all are counted, charted and downloaded). */
const SHOWN = 500
const STATUS_MS = 3000

export function ViewPage(props: { name: string }) {
  const live = useLiveRows(props.name)
  const info = useViewInfo(props.name)
  const rows = expand(live)
  const windowStart = live.columns.findIndex((c) => c.name === 'window_start')
  if (windowStart >= 0) rows.sort((a, b) => (b[windowStart] ?? '').localeCompare(a[windowStart] ?? ''))
  const cols = chartColumns(live.columns)
  const download = () => {
    const url = URL.createObjectURL(new Blob([toCsv(live.columns, rows)], { type: 'text/csv' }))
    const a = document.createElement('a')
    a.href = url
    a.download = `${props.name}.csv`
    a.click()
    setTimeout(() => URL.revokeObjectURL(url), 1000)
  }
  return (
    <div class="view-page">
      <h1>
        {props.name} <Status value={info?.status ?? null} />
      </h1>
      {info?.last_error && <ErrorBox error={{ message: info.last_error }} />}
      {live.failure && <ErrorBox error={live.failure} />}
      {info?.sql && <pre class="sql-text">{info.sql}</pre>}
      {cols && <Chart columns={live.columns} rows={rows} cols={cols} />}
      <div class="toolbar">
        <span id="row-count">{rows.length} rows</span>
        <span class="muted">{live.connected ? 'live' : 'not connected'}{live.lastChange ? `, last change ${new Date(live.lastChange).toLocaleTimeString()}` : ''}</span>
        <button id="csv" onClick={download} disabled={live.columns.length === 0}>Download CSV</button>
      </div>
      <Table class="live" columns={live.columns} rows={rows.slice(0, SHOWN)} />
    </div>
  )
}

/** The view's row of sluice_queries, read again every few seconds. */
function useViewInfo(name: string): Rec | null {
  const [info, setInfo] = useState<Rec | null>(null)
  useEffect(() => {
    const read = () => void select(`SELECT status, last_error, sql FROM sluice_queries WHERE name = ${literal(name)}`).then((r) => setInfo(r[0] ?? null), () => {})
    read()
    const t = setInterval(read, STATUS_MS)
    return () => clearInterval(t)
  }, [name])
  return info
}
