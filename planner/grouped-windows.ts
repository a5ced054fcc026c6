/**
 * Window functions over an aggregation in pull queries (`SELECT g, sum(x), rank() OVER (ORDER BY sum(x))
 * FROM t GROUP BY g`): PostgreSQL computes windows after GROUP BY and HAVING, over the groups. The block is
 * planned in two: an inner block that aggregates and yields each group as its keys followed by its
 * aggregate values, and an outer block whose window calls and select list read that row (a key as its
 * column, aggregate i as column keys + i).
 *
 * While binding, the window hook returns `agg_ref` WINDOW_REF_BASE + j for window call j, so that window
 * values and aggregate values (`agg_ref` i) stay apart until the block knows whether it is grouped.
 */
import type { Span } from '../common/errors.ts'
import type { BoundExpr, OutputColumn } from '../expr/bound.ts'
import type { BoundSelect } from './select.ts'
import type { PullFrameBound, PullWindowCall, PullWindowFunction } from './pull-window.ts'
import type { RelNode } from './pull-plan.ts'

export const WINDOW_REF_BASE = 1 << 20

/** Replaces every `agg_ref` of `e` by `f(index)`. */
export function mapAggRefs(e: BoundExpr, f: (index: number, ref: BoundExpr) => BoundExpr): BoundExpr {
  const r = (x: BoundExpr): BoundExpr => mapAggRefs(x, f)
  switch (e.kind) {
    case 'agg_ref':
      return f(e.index, e)
    case 'column':
    case 'const':
    case 'param':
      return e
    case 'call':
      return { ...e, args: e.args.map(r) }
    case 'logic':
      return { ...e, args: e.args.map(r) }
    case 'case':
      return { ...e, whens: e.whens.map((w) => ({ when: r(w.when), then: r(w.then) })), else: e.else === null ? null : r(e.else) }
    case 'cast':
    case 'is_null':
      return { ...e, expr: r(e.expr) }
    case 'in_list':
      return { ...e, expr: r(e.expr), list: e.list.map(r) }
  }
}

/** Window call j's value: `agg_ref` j once the block's windows are computed. */
const windowRef = (index: number, ref: BoundExpr): BoundExpr => (index >= WINDOW_REF_BASE ? { ...ref, index: index - WINDOW_REF_BASE } as BoundExpr : ref)

/** The select list of a block without aggregation: window references back to plain `agg_ref` j. */
export function ungroupedWindows(select: BoundSelect): BoundSelect {
  return { ...select, output: select.output.map((e) => mapAggRefs(e, windowRef)) }
}

/** Every expression of a window call passed through `f`. */
export function mapWindowCall(call: PullWindowCall, f: (e: BoundExpr) => BoundExpr): PullWindowCall {
  const bound = (b: PullFrameBound): PullFrameBound => ('offset' in b ? { ...b, offset: f(b.offset) } : b)
  return {
    ...call,
    fn: mapFunction(call.fn, f),
    partitionBy: call.partitionBy.map(f),
    orderBy: call.orderBy.map((o) => ({ ...o, expr: f(o.expr) })),
    frame: call.frame === null ? null : { ...call.frame, start: bound(call.frame.start), end: bound(call.frame.end) },
  }
}

function mapFunction(fn: PullWindowFunction, f: (e: BoundExpr) => BoundExpr): PullWindowFunction {
  switch (fn.kind) {
    case 'row_number':
    case 'rank':
    case 'dense_rank':
    case 'percent_rank':
    case 'cume_dist':
      return fn
    case 'ntile':
      return { ...fn, buckets: f(fn.buckets) }
    case 'shift':
      return { ...fn, arg: f(fn.arg), offset: f(fn.offset), fallback: fn.fallback === null ? null : f(fn.fallback) }
    case 'first_value':
    case 'last_value':
      return { ...fn, arg: f(fn.arg) }
    case 'nth_value':
      return { ...fn, arg: f(fn.arg), n: f(fn.n) }
    case 'aggregate':
      return { ...fn, aggregate: { ...fn.aggregate, args: fn.aggregate.args.map(f), filter: fn.aggregate.filter === null ? null : f(fn.aggregate.filter) } }
  }
}

/**
 * Splits a grouped block with window calls: `windows` have been regrouped (their input columns turned into
 * key columns, 42803 for others) by the caller; aggregate i becomes column keys + i everywhere after.
 */
export function groupedWindowBlocks(from: RelNode, select: BoundSelect, windows: readonly PullWindowCall[]): { node: RelNode; windows: PullWindowCall[] } {
  const agg = select.aggregation!
  const width = agg.keys.length
  const afterGroup = (index: number, ref: BoundExpr): BoundExpr =>
    index >= WINDOW_REF_BASE ? windowRef(index, ref) : { kind: 'column', index: width + index, name: `agg${index}`, type: ref.type }
  const groupRow: BoundExpr[] = [
    ...agg.keys.map((k, i): BoundExpr => ({ kind: 'column', index: i, name: agg.keyNames[i] ?? `key${i}`, type: k.type })),
    ...agg.aggregates.map((a, i): BoundExpr => ({ kind: 'agg_ref', index: i, type: a.spec.type })),
  ]
  const groupColumns: OutputColumn[] = groupRow.map((e, i) => ({ name: `g${i}`, type: e.type, nullable: true }))
  const inner: BoundSelect = { filter: select.filter, aggregation: agg, output: groupRow, outputColumns: groupColumns, orderBy: [], limit: null, offset: null, distinct: false, windows: [] }
  const outer: BoundSelect = { ...select, filter: null, aggregation: null, output: select.output.map((e) => mapAggRefs(e, afterGroup)) }
  const calls = windows.map((w) => mapWindowCall(w, (e) => mapAggRefs(e, afterGroup)))
  return { node: { kind: 'block', from: { kind: 'block', from, select: inner, windows: [] }, select: outer, windows: calls }, windows: calls }
}

export type Regroup = (e: BoundExpr, span: Span) => BoundExpr
