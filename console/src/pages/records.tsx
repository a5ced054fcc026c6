/**
 * Dead letters (events a stream could not decode, with the raw record and the reason) and late events
 * (events a view dropped as behind its watermark), a page of rows at a time, filtered by stream.
 */
import { useEffect, useState } from 'preact/hooks'
import { type Rec, literal, select } from '../api.ts'
import { ErrorBox, Table } from '../table.tsx'

const PAGE = 50

interface Spec {
  title: string
  table: string
  columns: string[]
  order: string
}

const DEAD: Spec = { title: 'Dead letters', table: 'sluice_dead_letters', columns: ['stream', 'partition', 'offset', 'received_at', 'reason', 'raw'], order: 'received_at DESC, "offset" DESC' }
const LATE: Spec = { title: 'Late events', table: 'sluice_late_events', columns: ['query', 'stream', 'partition', 'offset', 'event_time', 'watermark', 'reason'], order: 'stream, partition, "offset" DESC' }

export const DeadLettersPage = () => <Records spec={DEAD} />
export const LateEventsPage = () => <Records spec={LATE} />

function Records(props: { spec: Spec }) {
  const { spec } = props
  const [stream, setStream] = useState(new URLSearchParams(location.search).get('stream') ?? '')
  const [page, setPage] = useState(0)
  const [rows, setRows] = useState<Rec[] | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [open, setOpen] = useState<Rec | null>(null)
  useEffect(() => {
    const where = stream === '' ? '' : ` WHERE stream = ${literal(stream)}`
    const cols = spec.columns.map((c) => `"${c}"`).join(', ')
    select(`SELECT ${cols} FROM ${spec.table}${where} ORDER BY ${spec.order} LIMIT ${PAGE + 1} OFFSET ${page * PAGE}`).then(
      (r) => {
        setRows(r)
        setError(null)
      },
      (e: Error) => setError(e.message),
    )
  }, [spec, stream, page])
  return (
    <div class="records">
      <h1>{spec.title}</h1>
      <div class="toolbar">
        <label>
          stream <input id="stream-filter" value={stream} placeholder="all" onChange={(e) => { setStream(e.currentTarget.value.trim()); setPage(0) }} />
        </label>
        <button disabled={page === 0} onClick={() => setPage(page - 1)}>Newer</button>
        <span class="muted">page {page + 1}</span>
        <button disabled={(rows?.length ?? 0) <= PAGE} onClick={() => setPage(page + 1)}>Older</button>
      </div>
      {error && <ErrorBox error={{ message: error }} />}
      {rows && rows.length === 0 && <p class="muted">None.</p>}
      {rows && rows.length > 0 && (
        <Table
          columns={spec.columns.map((name) => ({ name }))}
          rows={rows.slice(0, PAGE).map((r) => spec.columns.map((c) => r[c] ?? null))}
          cell={(i, v) => (spec.columns[i] === 'raw' || spec.columns[i] === 'reason' ? <button class="link cell" onClick={() => setOpen(rows.find((r) => r[spec.columns[i]!] === v) ?? null)}>{v === null ? 'NULL' : v.length > 80 ? `${v.slice(0, 80)}…` : v}</button> : v === null ? 'NULL' : v)}
        />
      )}
      {open && (
        <div class="record-detail" id="record-detail">
          <button class="link" onClick={() => setOpen(null)}>close</button>
          {spec.columns.map((c) => (
            <div>
              <strong>{c}</strong>
              <pre>{open[c] ?? 'NULL'}</pre>
            </div>
          ))}
        </div>
      )}
    </div>
  )
}
