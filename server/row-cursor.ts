/** A RowCursor over rows already in memory: hands them out `max` at a time, for portals with row limits. */
import type { Row } from '../common/types.ts'
import type { RowCursor } from './backend.ts'
import type { QueryGuard } from '../executor/query-budget.ts'

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

/**
 * An arrayCursor whose batches count against a guard: a large result is sent in slices that give the
 * event loop back (the connection's own awaits between batches are only microtasks), and a cancel or the
 * guard's deadline ends the sending with 57014.
 */
export function slicedCursor(rows: readonly Row[], guard: QueryGuard): RowCursor {
  const inner = arrayCursor(rows)
  return {
    next: async (max) => {
      if (guard.tick(max <= 0 ? rows.length : max)) await guard.pause()
      return inner.next(max)
    },
    close: () => inner.close(),
  }
}
