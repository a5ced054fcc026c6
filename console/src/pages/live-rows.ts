/**
 * A view's rows as the change feed gives them: a multiset of rows, each change a +1 or -1 of one row. The
 * server sends `columns`, then `rows` events of `[diff, ...cells]`, or `failure` with an error.
 */
import { useEffect, useState } from 'preact/hooks'
import type { ApiError } from '../api.ts'

export interface LiveRows {
  columns: { name: string; type: string }[]
  /** Distinct rows with how many times each is there. */
  rows: Map<string, { cells: (string | null)[]; count: number }>
  /** Changes received so far. */
  changes: number
  /** When the last change arrived (ms). */
  lastChange: number | null
  failure: ApiError | null
  connected: boolean
}

/** Follows `/api/live/<view>`; the returned value is replaced on each change (a new render). */
export function useLiveRows(view: string): LiveRows {
  const [state, setState] = useState<LiveRows>({ columns: [], rows: new Map(), changes: 0, lastChange: null, failure: null, connected: false })
  useEffect(() => {
    const rows = new Map<string, { cells: (string | null)[]; count: number }>()
    let columns: LiveRows['columns'] = []
    let changes = 0
    let lastChange: number | null = null
    const es = new EventSource(`/api/live/${encodeURIComponent(view)}`)
    const publish = (extra: Partial<LiveRows> = {}) => setState({ columns, rows, changes, lastChange, failure: null, connected: true, ...extra })
    es.addEventListener('columns', (e) => {
      columns = (JSON.parse((e as MessageEvent).data) as { columns: LiveRows['columns'] }).columns
      rows.clear()
      publish()
    })
    es.addEventListener('rows', (e) => {
      for (const [diff, ...cells] of JSON.parse((e as MessageEvent).data) as [number, ...(string | null)[]][]) {
        const key = JSON.stringify(cells)
        const had = rows.get(key)
        const count = (had?.count ?? 0) + diff
        if (count <= 0) rows.delete(key)
        else rows.set(key, { cells, count })
        changes++
      }
      lastChange = Date.now()
      publish()
    })
    es.addEventListener('failure', (e) => {
      es.close()
      publish({ failure: JSON.parse((e as MessageEvent).data) as ApiError, connected: false })
    })
    es.onerror = () => setState((s) => ({ ...s, connected: false }))
    return () => es.close()
  }, [view])
  return state
}

/** Rows expanded by their counts. */
export function expand(live: LiveRows): (string | null)[][] {
  const out: (string | null)[][] = []
  for (const { cells, count } of live.rows.values()) for (let i = 0; i < count; i++) out.push(cells)
  return out
}

/** CSV (RFC 4180) of columns and rows; NULL is an empty field. */
export function toCsv(columns: { name: string }[], rows: (string | null)[][]): string {
  const field = (v: string | null) => (v === null ? '' : /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v)
  return [columns.map((c) => field(c.name)).join(','), ...rows.map((r) => r.map(field).join(','))].join('\r\n') + '\r\n'
}
