/**
 * A trigger's page: its counters, its firings over time by outcome (delivered, held out, cooldown, cap,
 * ...), stacked per minute from the audit (sluice_trigger_audit), and the latest audit rows.
 */
import { useEffect, useState } from 'preact/hooks'
import { type Rec, literal, select } from '../api.ts'
import { ErrorBox, Status, Table, parseTime } from '../table.tsx'

const AUDIT_ROWS = 5000
const SHOWN = 200
const REFRESH_MS = 3000
const OUTCOME_COLORS: Record<string, string> = { delivered: '#16a34a', held_out: '#d97706', suppressed_cooldown: '#2563eb', suppressed_cap: '#dc2626' }

export function TriggerPage(props: { name: string }) {
  const [info, setInfo] = useState<Rec | null>(null)
  const [audit, setAudit] = useState<Rec[]>([])
  const [error, setError] = useState<string | null>(null)
  useEffect(() => {
    const read = async () => {
      try {
        const [t] = await select(`SELECT * FROM sluice_triggers WHERE name = ${literal(props.name)}`)
        setInfo(t ?? null)
        setAudit(await select(`SELECT event_time, key, outcome, payload FROM sluice_trigger_audit WHERE "trigger" = ${literal(props.name)} ORDER BY event_time DESC LIMIT ${AUDIT_ROWS}`))
      } catch (e) {
        setError((e as Error).message)
      }
    }
    void read()
    const t = setInterval(() => void read(), REFRESH_MS)
    return () => clearInterval(t)
  }, [props.name])
  return (
    <div class="trigger-page">
      <h1>
        {props.name} <Status value={info?.status ?? null} />
      </h1>
      {error && <ErrorBox error={{ message: error }} />}
      {info?.last_error && <ErrorBox error={{ message: info.last_error }} />}
      {info && (
        <p class="counters">
          fires {info.fires} · delivered {info.delivered} · held out {info.held_out} · cooldown {info.suppressed_cooldown} · cap {info.suppressed_cap} · failed {info.failed} · target {info.target}
        </p>
      )}
      <h2>Firings by outcome</h2>
      <OutcomeBars audit={audit} />
      <h2>Audit</h2>
      <Table columns={[{ name: 'event_time' }, { name: 'key' }, { name: 'outcome' }, { name: 'payload' }]} rows={audit.slice(0, SHOWN).map((r) => [r.event_time ?? null, r.key ?? null, r.outcome ?? null, r.payload ?? null])} />
    </div>
  )
}

/** Bucket widths to choose from: the smallest that gives at most MAX_BARS bars. */
const BUCKETS_MS = [1000, 10_000, 60_000, 600_000, 3_600_000, 86_400_000]
const MAX_BARS = 120

/** Stacked bars, one per bucket of event time (a second to a day, by the span), a segment per outcome. */
function OutcomeBars(props: { audit: Rec[] }) {
  const buckets = new Map<number, Map<string, number>>()
  const outcomes = new Set<string>()
  const times = props.audit.map((r) => parseTime(r.event_time ?? null)).filter(Number.isFinite)
  const range = times.length === 0 ? 0 : Math.max(...times) - Math.min(...times)
  const width = BUCKETS_MS.find((b) => range / b < MAX_BARS) ?? BUCKETS_MS.at(-1)!
  for (const r of props.audit) {
    const t = parseTime(r.event_time ?? null)
    if (!Number.isFinite(t)) continue
    const minute = Math.floor(t / width)
    const b = buckets.get(minute) ?? new Map<string, number>()
    b.set(r.outcome!, (b.get(r.outcome!) ?? 0) + 1)
    buckets.set(minute, b)
    outcomes.add(r.outcome!)
  }
  if (buckets.size === 0) return <p class="muted">No firings yet.</p>
  const minutes = [...buckets.keys()].sort((a, b) => a - b)
  const first = minutes[0]!
  const span = minutes.at(-1)! - first + 1
  const max = Math.max(...[...buckets.values()].map((b) => [...b.values()].reduce((a, n) => a + n, 0)))
  const W = 800
  const H = 160
  const barW = Math.max(2, Math.min(30, W / span - 2))
  const order = [...outcomes].sort()
  return (
    <div>
      <svg class="bars" width={W} height={H + 20} role="img" aria-label="firings by outcome">
        {minutes.flatMap((m) => {
          let y = H
          return order.map((o) => {
            const n = buckets.get(m)!.get(o) ?? 0
            const h = (n / max) * (H - 4)
            y -= h
            return n === 0 ? null : <rect x={((m - first) * W) / span} y={y} width={barW} height={h} fill={OUTCOME_COLORS[o] ?? '#64748b'}><title>{`${new Date(m * width).toISOString().slice(11, 19)} ${o}: ${n}`}</title></rect>
          })
        })}
        <text x={0} y={H + 16} class="axis">{new Date(first * width).toISOString().slice(0, 19).replace('T', ' ')}</text>
        <text x={W} y={H + 16} text-anchor="end" class="axis">{`${width / 1000} s per bar`}</text>
      </svg>
      <p class="legend">
        {order.map((o) => (
          <span><i style={{ background: OUTCOME_COLORS[o] ?? '#64748b' }} /> {o}</span>
        ))}
      </p>
    </div>
  )
}
