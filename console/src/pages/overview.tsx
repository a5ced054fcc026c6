/**
 * The overview: streams, views, triggers and sinks with their status, read every few seconds. Events/s of
 * streams is the change of their event counters between two reads; the sparklines show the last samples
 * (kept in the browser, so they start when the page opens).
 */
import { useEffect, useRef, useState } from 'preact/hooks'
import { LoggedOut, type Overview, type Rec, overview } from '../api.ts'
import { Link } from '../router.tsx'
import { Sparkline, Status, formatBytes, formatRate, parseTime } from '../table.tsx'
import { progressOf } from '../progress.ts'

export const POLL_MS = 2000
const SAMPLES = 40

/** Rates per name, the newest last. */
type History = Map<string, number[]>

function pushSample(h: History, name: string, v: number): void {
  const list = h.get(name) ?? []
  list.push(v)
  if (list.length > SAMPLES) list.shift()
  h.set(name, list)
}

export function OverviewPage() {
  const [data, setData] = useState<Overview | null>(null)
  const [error, setError] = useState<string | null>(null)
  const streamRates = useRef<History>(new Map())
  const viewRates = useRef<History>(new Map())
  const last = useRef<Overview | null>(null)
  useEffect(() => {
    let stop = false
    const tick = async () => {
      try {
        const o = await overview()
        const prev = last.current
        for (const s of o.streams) {
          const before = prev?.streams.find((p) => p.name === s.name)
          if (prev && before) pushSample(streamRates.current, s.name!, Math.max(0, ((Number(s.events) - Number(before.events)) * 1000) / Math.max(1, o.at - prev.at)))
        }
        for (const q of o.queries) pushSample(viewRates.current, q.name!, Number(q.events_per_second ?? 0))
        last.current = o
        setData(o)
        setError(null)
      } catch (e) {
        if (e instanceof LoggedOut) throw e
        setError((e as Error).message)
      }
    }
    void tick()
    const t = setInterval(() => !stop && void tick(), POLL_MS)
    return () => {
      stop = true
      clearInterval(t)
    }
  }, [])
  if (data === null) return <p class="muted">{error ?? 'Loading…'}</p>
  return (
    <div class="overview">
      {error && <p class="error-text">{error}</p>}
      <Streams data={data} rates={streamRates.current} />
      <Views data={data} rates={viewRates.current} />
      <Triggers data={data} />
      <Sinks data={data} />
    </div>
  )
}

const sumBy = (rows: Rec[], key: string, match: (r: Rec) => boolean): number => rows.filter(match).reduce((a, r) => a + Number(r[key] ?? 0), 0)

function Streams(props: { data: Overview; rates: History }) {
  const { data } = props
  return (
    <section>
      <h2>Streams</h2>
      {data.streams.length === 0 ? (
        <p class="muted">No streams yet: CREATE STREAM in the SQL editor.</p>
      ) : (
        <table class="grid" id="streams">
          <thead>
            <tr><th>name</th><th>partitions</th><th>events/s</th><th /><th>events</th><th>lag per partition</th><th>dead letters</th><th>late events</th></tr>
          </thead>
          <tbody>
            {data.streams.map((s) => {
              const rates = props.rates.get(s.name!) ?? []
              const lags = data.partitions.filter((p) => p.stream === s.name)
              const byPartition = new Map<string, number>()
              for (const p of lags) byPartition.set(p.partition!, Math.max(byPartition.get(p.partition!) ?? 0, Number(p.lag)))
              const dead = sumBy(data.deadLetters, 'dead_letters', (r) => r.stream === s.name)
              const late = sumBy(data.lateEvents, 'late_events', (r) => r.stream === s.name)
              return (
                <tr data-name={s.name!}>
                  <td><Link href={`/views/${encodeURIComponent(s.name!)}`}>{s.name}</Link>{s.closed === 't' ? ' (closed)' : ''}</td>
                  <td class="num">{s.partitions}</td>
                  <td class="num">{rates.length > 0 ? formatRate(rates.at(-1)!) : '—'}</td>
                  <td><Sparkline values={rates} /></td>
                  <td class="num">{s.events}</td>
                  <td class="num">{byPartition.size === 0 ? '—' : [...byPartition.values()].join(' · ')}</td>
                  <td class="num">{dead > 0 ? <Link href={`/dead-letters?stream=${encodeURIComponent(s.name!)}`}>{dead}</Link> : 0}</td>
                  <td class="num">{late > 0 ? <Link href={`/late-events?stream=${encodeURIComponent(s.name!)}`}>{late}</Link> : 0}</td>
                </tr>
              )
            })}
          </tbody>
        </table>
      )}
    </section>
  )
}

function Views(props: { data: Overview; rates: History }) {
  const { data } = props
  const showProgress = data.progress !== null
  // sluice_queries lists triggers too (they are continuous queries); they have their own table below.
  const triggers = new Set(data.triggers.map((t) => t.name))
  const views = data.queries.filter((q) => !triggers.has(q.name))
  return (
    <section>
      <h2>Views</h2>
      {views.length === 0 ? (
        <p class="muted">No materialized views yet.</p>
      ) : (
        <table class="grid" id="views">
          <thead>
            <tr><th>name</th><th>status</th><th>source</th><th>events/s</th><th /><th>lag</th>{showProgress && <th>catch-up</th>}<th>state</th><th>keys</th><th>watermark delay</th><th>last error</th></tr>
          </thead>
          <tbody>
            {views.map((q) => {
              const rates = props.rates.get(q.name!) ?? []
              const wm = parseTime(q.watermark)
              const delay = Number.isFinite(wm) ? Math.max(0, (data.at - wm) / 1000) : null
              const p = showProgress ? progressOf(data.progress ?? [], q.name!) : null
              return (
                <tr data-name={q.name!}>
                  <td><Link href={`/views/${encodeURIComponent(q.name!)}`}>{q.name}</Link></td>
                  <td><Status value={q.status} /></td>
                  <td>{q.source}</td>
                  <td class="num">{formatRate(Number(q.events_per_second ?? 0))}</td>
                  <td><Sparkline values={rates} /></td>
                  <td class="num">{q.lag}</td>
                  {showProgress && <td>{p ? <span class="progress" title={p.text}><span style={{ width: `${(p.fraction * 100).toFixed(1)}%` }} /><em>{p.text}</em></span> : '—'}</td>}
                  <td class="num">{formatBytes(Number(q.state_bytes ?? 0))}</td>
                  <td class="num">{q.state_keys}</td>
                  <td class="num">{delay === null ? '—' : `${delay.toFixed(1)} s`}</td>
                  <td class="error-cell">{q.last_error ?? ''}</td>
                </tr>
              )
            })}
          </tbody>
        </table>
      )}
    </section>
  )
}

function Triggers(props: { data: Overview }) {
  if (props.data.triggers.length === 0) return null
  return (
    <section>
      <h2>Triggers</h2>
      <table class="grid" id="triggers">
        <thead>
          <tr><th>name</th><th>status</th><th>stream</th><th>target</th><th>fires</th><th>delivered</th><th>held out</th><th>cooldown</th><th>cap</th><th>failed</th><th>last fire</th><th>last error</th></tr>
        </thead>
        <tbody>
          {props.data.triggers.map((t) => (
            <tr data-name={t.name!}>
              <td><Link href={`/triggers/${encodeURIComponent(t.name!)}`}>{t.name}</Link></td>
              <td><Status value={t.status} /></td>
              <td>{t.stream}</td>
              <td>{t.target}</td>
              <td class="num">{t.fires}</td>
              <td class="num">{t.delivered}</td>
              <td class="num">{t.held_out}</td>
              <td class="num">{t.suppressed_cooldown}</td>
              <td class="num">{t.suppressed_cap}</td>
              <td class="num">{t.failed}</td>
              <td>{t.last_fire ?? '—'}</td>
              <td class="error-cell">{t.last_error ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  )
}

function Sinks(props: { data: Overview }) {
  if (props.data.sinks.length === 0) return null
  return (
    <section>
      <h2>Sinks</h2>
      <table class="grid" id="sinks">
        <thead>
          <tr><th>name</th><th>status</th><th>source</th><th>topic</th><th>mode</th><th>records out</th><th>pending batches</th><th>last error</th></tr>
        </thead>
        <tbody>
          {props.data.sinks.map((s) => (
            <tr data-name={s.name!}>
              <td>{s.name}</td>
              <td><Status value={s.status} /></td>
              <td>{s.source}</td>
              <td>{s.topic}</td>
              <td>{s.mode}</td>
              <td class="num">{s.records_out}</td>
              <td class="num">{s.batches_pending}</td>
              <td class="error-cell">{s.last_error ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  )
}
