/**
 * `SELECT DISTINCT ON (e, ...) ... ORDER BY ...`: the first row of each group of equal DISTINCT ON values,
 * in ORDER BY order. As in PostgreSQL the DISTINCT ON expressions must be the leftmost ORDER BY items (in
 * any order among themselves); those ORDER BY lacks are sorted on after it, ascending, which is only
 * possible when every ORDER BY item is one of them. Rows of a group then lie next to each other after the
 * sort, so the executor keeps a row when its first `count` sort keys differ from the previous row's.
 */
import { planError, SqlState, type Span } from '../common/errors.ts'
import { exprKey } from './bind-expr.ts'
import type { BoundOrder } from './select.ts'

export interface DistinctOnOrder {
  readonly orderBy: BoundOrder[]
  /** How many leading sort keys make up a group. */
  readonly count: number
}

export function distinctOnOrder(orderBy: readonly BoundOrder[], on: readonly BoundOrder[], spans: readonly Span[]): DistinctOnOrder {
  const keys = new Set(on.map((o) => exprKey(o.expr)))
  const mismatch = (span: Span | undefined) =>
    planError(SqlState.invalidColumnReference, 'SELECT DISTINCT ON expressions must match initial ORDER BY expressions', span)
  let count = 0
  let skipped = false
  const covered = new Set<string>()
  for (const o of orderBy) {
    const k = exprKey(o.expr)
    if (!keys.has(k)) {
      skipped = true
      continue
    }
    if (skipped) throw mismatch(spans[on.findIndex((x) => exprKey(x.expr) === k)])
    covered.add(k)
    count++
  }
  const rest: BoundOrder[] = []
  on.forEach((o, i) => {
    const k = exprKey(o.expr)
    if (covered.has(k)) return
    if (skipped) throw mismatch(spans[i])
    covered.add(k)
    rest.push({ expr: o.expr, descending: false, nullsFirst: false })
  })
  return { orderBy: [...orderBy, ...rest], count: count + rest.length }
}
