/** A RowCursor over rows already in memory: hands them out `max` at a time, for portals with row limits. */
import type { Row } from '../common/types.ts'
import type { RowCursor } from './backend.ts'

export function arrayCursor(rows: readonly Row[]): RowCursor {
  let pos = 0
  return {
    next: async (max) => {
      const end = max <= 0 ? rows.length : Math.min(rows.length, pos + max)
      const out = rows.slice(pos, end)
      pos = end
      return { rows: out, done: pos >= rows.length }
    },
    close: () => {
      pos = rows.length
    },
  }
}
