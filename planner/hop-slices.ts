/**
 * Sliced HOP windows. A HOP window of `size` every `slide` puts each event in size / slide windows, and
 * aggregating it into each of them costs that many state updates per event. When the view emits only closed
 * windows (EMIT ON WINDOW CLOSE) and its aggregates' partial results combine (count, sum, avg, min, max),
 * each event is aggregated once, into its slice of time (gcd(size, slide) long, aligned with the windows),
 * and a window is put together from its slices when the watermark closes it.
 *
 * The window columns may then appear only as plain GROUP BY keys: a WHERE, an aggregate argument or
 * another key that reads window_start or window_end would see the slice instead of the window.
 */
import type { BoundExpr } from '../expr/bound.ts'
import type { ViewPlan } from './view-plan.ts'

export interface SliceSpec {
  /** Slice length (microseconds): the greatest common divisor of size and slide. */
  readonly length: number
  /** Group key positions holding window_start, and window_end. */
  readonly startKeys: readonly number[]
  readonly endKeys: readonly number[]
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b))

/** How a view's HOP windows are sliced, or null where it aggregates per window. */
export function sliceSpec(plan: ViewPlan): SliceSpec | null {
  const w = plan.window
  if (w === null || w.kind !== 'hop' || w.size === w.slide || plan.emit !== 'on_window_close' || plan.join !== null) return null
  if (plan.source.source.kind === 'view' && plan.source.source.changes) return null
  if (plan.body.kind !== 'aggregate') return null
  const agg = plan.body.aggregation
  if (agg.aggregates.some((a) => a.spec.merge === undefined || a.distinct)) return null
  const start = plan.source.columns.length
  const windowColumns = [start, start + 1]
  const startKeys: number[] = []
  const endKeys: number[] = []
  for (let k = 0; k < agg.keys.length; k++) {
    const key = agg.keys[k]!
    if (key.kind === 'column' && key.index === start) startKeys.push(k)
    else if (key.kind === 'column' && key.index === start + 1) endKeys.push(k)
    else if (reads(key, windowColumns)) return null
  }
  if (plan.filter !== null && reads(plan.filter, windowColumns)) return null
  for (const a of agg.aggregates) {
    if (a.args.some((e) => reads(e, windowColumns)) || (a.filter !== null && reads(a.filter, windowColumns))) return null
  }
  return { length: gcd(w.size, w.slide), startKeys, endKeys }
}

/** Whether the expression reads any of the input columns `indexes` (a walk over its plain-data tree). */
function reads(e: BoundExpr, indexes: readonly number[]): boolean {
  const seen = (v: unknown): boolean => {
    if (Array.isArray(v)) return v.some(seen)
    if (v === null || typeof v !== 'object') return false
    const o = v as Record<string, unknown>
    if (o.kind === 'column' && typeof o.index === 'number' && indexes.includes(o.index)) return true
    if (o.kind === 'agg_ref') return false
    return Object.entries(o).some(([k, x]) => k !== 'type' && seen(x))
  }
  return seen(e)
}
