/** The order of rows within one event time: MATCH_RECOGNIZE's ORDER BY columns after the event time. */
import type { Value } from '../../common/types.ts'

export interface SortColumn {
  readonly column: number
  readonly descending: boolean
  readonly nullsFirst: boolean
}

/** A comparator of rows by `columns` in turn; equal rows keep their arrival order (a stable sort). */
export function rowOrder(columns: readonly SortColumn[]): (a: readonly Value[], b: readonly Value[]) => number {
  if (columns.length === 0) return () => 0
  return (a, b) => {
    for (const c of columns) {
      const x = a[c.column] ?? null
      const y = b[c.column] ?? null
      if (x === y) continue
      if (x === null) return c.nullsFirst ? -1 : 1
      if (y === null) return c.nullsFirst ? 1 : -1
      const d = compareValues(x, y)
      if (d !== 0) return c.descending ? -d : d
    }
    return 0
  }
}

function compareValues(x: Value, y: Value): number {
  if (typeof x === 'number' && typeof y === 'number') return x - y
  if (typeof x === 'boolean' && typeof y === 'boolean') return Number(x) - Number(y)
  const sx = typeof x === 'string' ? x : JSON.stringify(x)
  const sy = typeof y === 'string' ? y : JSON.stringify(y)
  return sx < sy ? -1 : sx > sy ? 1 : 0
}
