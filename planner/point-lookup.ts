/**
 * Point lookups on a view: `SELECT ... FROM profile WHERE player_id = $1` names one group of a GROUP BY
 * view, which is one entry of the view's state, so the executor can get it by key instead of reading every
 * row. The WHERE must require `key column = expression` for every group key, the expressions reading
 * nothing from the row (constants, parameters) and having the key column's exact type, so that their
 * values encode like the group keys the view stored. The rest of WHERE still applies to the row found.
 */
import type { ViewDef } from './catalog.ts'
import { isConstant, type BoundExpr } from '../expr/bound.ts'
import { conjunctsOf } from './index-key.ts'

/** The expressions giving each group key's value, in GROUP BY order; null when WHERE does not pin them all. */
export function pointKey(view: ViewDef, filter: BoundExpr | null): BoundExpr[] | null {
  const plan = view.plan
  const body = plan.body
  if (filter === null || body.kind !== 'aggregate' || body.aggregation.keys.length === 0) return null
  // Rows of an on-window-close view show only once their window closed; a key alone does not say that.
  if (plan.emit === 'on_window_close') return null
  // A SESSION view keeps a key's sessions together in one entry: its groups are not entries.
  if (plan.window?.kind === 'session') return null
  const keyColumns = body.aggregation.keys.map((_, j) => body.output.findIndex((o) => o.kind === 'column' && o.index === j))
  if (keyColumns.some((c) => c < 0)) return null
  const pinned = new Map<number, BoundExpr>()
  for (const c of conjunctsOf(filter)) {
    if (c.kind !== 'call' || c.fn !== '=' || c.args.length !== 2) continue
    const [a, b] = c.args as [BoundExpr, BoundExpr]
    const [col, value] = a.kind === 'column' ? [a, b] : [b, a]
    if (col.kind !== 'column' || !isConstant(value) || value.type.name !== col.type.name || value.type.element !== col.type.element) continue
    if (!pinned.has(col.index)) pinned.set(col.index, value)
  }
  const out: BoundExpr[] = []
  for (const c of keyColumns) {
    const e = pinned.get(c)
    if (e === undefined) return null
    out.push(e)
  }
  return out
}
