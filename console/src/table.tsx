/** Result tables: column headers with their types, NULL shown as such, long cells cut with the whole in a title. */
import type { ComponentChildren } from 'preact'

const CUT = 200

export function Table(props: { columns: { name: string; type?: string }[]; rows: (string | null)[][]; cell?: (col: number, value: string | null) => ComponentChildren; class?: string }) {
  return (
    <div class="table-wrap">
      <table class={`grid ${props.class ?? ''}`}>
        <thead>
          <tr>
            {props.columns.map((c) => (
              <th title={c.type}>{c.name}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {props.rows.map((r) => (
            <tr>
              {r.map((v, i) => (
                <td class={v === null ? 'null' : undefined} title={v !== null && v.length > CUT ? v : undefined}>
                  {props.cell ? props.cell(i, v) : v === null ? 'NULL' : v.length > CUT ? `${v.slice(0, CUT)}…` : v}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

/** A status word as a coloured badge: running green, failed red, anything else grey. */
export function Status(props: { value: string | null | undefined }) {
  const v = props.value ?? ''
  const tone = v === 'running' || v === 'active' ? 'ok' : v === 'failed' || v.startsWith('stopped') || v === 'degraded' ? 'bad' : 'neutral'
  return <span class={`badge ${tone}`}>{v || '—'}</span>
}

/** A small line of the last samples. */
export function Sparkline(props: { values: number[]; width?: number; height?: number }) {
  const w = props.width ?? 90
  const h = props.height ?? 22
  const vs = props.values
  if (vs.length < 2) return <svg class="spark" width={w} height={h} />
  const max = Math.max(...vs, 1)
  const step = w / (vs.length - 1)
  const points = vs.map((v, i) => `${(i * step).toFixed(1)},${(h - 1 - (v / max) * (h - 2)).toFixed(1)}`).join(' ')
  return (
    <svg class="spark" width={w} height={h} viewBox={`0 0 ${w} ${h}`}>
      <polyline points={points} fill="none" stroke="currentColor" stroke-width="1.5" />
    </svg>
  )
}

export function ErrorBox(props: { error: { sqlstate?: string; message: string; detail?: string; hint?: string } }) {
  const e = props.error
  return (
    <div class="error-box" role="alert">
      <strong>ERROR{e.sqlstate ? ` ${e.sqlstate}` : ''}:</strong> {e.message}
      {e.detail && <div>DETAIL: {e.detail}</div>}
      {e.hint && <div>HINT: {e.hint}</div>}
    </div>
  )
}

export const formatBytes = (n: number): string => (n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} kB` : n < 1024 ** 3 ? `${(n / 1024 ** 2).toFixed(1)} MB` : `${(n / 1024 ** 3).toFixed(2)} GB`)

export const formatRate = (n: number): string => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} M/s` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k/s` : `${n.toFixed(n < 10 ? 1 : 0)}/s`)

/** A timestamptz as the server writes it (`2026-01-01 10:00:00+00`) in milliseconds, NaN if not one. */
export function parseTime(s: string | null | undefined): number {
  if (s === undefined) return NaN
  return parseTimeText(s)
}

function parseTimeText(s: string | null): number {
  if (s === null) return NaN
  const iso = s.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00')
  return Date.parse(iso)
}
