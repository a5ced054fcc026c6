/**
 * A materialized view over an interval join of two streams (planner/interval-join.ts): the SELECT (and its
 * WHERE) read the joined row, the left stream's columns then the right's. The view keeps every joined row as
 * it is made, like a view without aggregation, or a GROUP BY over them (no window: a windowed aggregation
 * over the join is a view over a join view).
 *
 * The plan's source stands for both streams: its partitions are the left stream's followed by the right's
 * (the query keeps one position per partition of either), and its event time is the output column that
 * passes one of the two event times through, held back by the bound: a pair is made when its later row
 * arrives, and that row may be the other side's, up to the bound away.
 */
import * as ast from '../parser/ast.ts'
import { SqlState, planError, unsupported } from '../common/errors.ts'
import type { BoundExpr } from '../expr/bound.ts'
import { bindSelect } from './select.ts'
import type { Catalog, StreamDef, WatermarkSpec } from './catalog.ts'
import type { ViewBody, ViewPlan } from './view-plan.ts'
import type { StreamPlanNode } from './stream-plan-nodes.ts'
import { planIntervalJoin, type IntervalJoinSpec } from './interval-join.ts'

export function planIntervalJoinView(stmt: ast.CreateView, q: ast.Select, join: ast.JoinRef, catalog: Catalog, forTrigger: boolean, options: (body: ViewBody, stream: StreamDef) => Pick<ViewPlan, 'retention' | 'idleTtl' | 'limits'>): ViewPlan {
  if (forTrigger) throw unsupported('a trigger on an interval join of two streams is not supported yet', join.span, 'Create the join as a materialized view and put the trigger on the view.')
  const { spec, scope } = planIntervalJoin(join, catalog, q.where)
  const bound = bindSelect(q, scope, [])
  if (bound.windows.length > 0) throw unsupported('window functions over an interval join are not supported yet', bound.windows[0]!.span)
  if (bound.distinct || bound.distinctOn !== undefined) throw unsupported('SELECT DISTINCT in a continuous view is not supported yet', q.span)
  if (q.emit === 'on_window_close') throw unsupported('EMIT ON WINDOW CLOSE needs a windowed aggregation; the rows of an interval join are final when they appear', q.span)
  const columns = bound.outputColumns.map((c) => ({ name: c.name, type: c.type, nullable: c.nullable }))
  const names = new Set<string>()
  for (const c of bound.outputColumns) {
    if (names.has(c.name)) throw planError(SqlState.duplicateColumn, `column "${c.name}" specified more than once`, c.span, 'Give the columns distinct names with AS.')
    names.add(c.name)
  }
  // A GROUP BY over the join (without a window: windows over the join are a view over it) keeps its groups.
  const body: ViewBody = bound.aggregation === null ? { kind: 'project', output: bound.output } : { kind: 'aggregate', aggregation: bound.aggregation, output: bound.output, windowKey: null }
  // An aggregation's rows carry no event time (it is read as changes); only passed-through columns do.
  const source = joinedSource(spec, body.kind === 'project' ? bound.output : [])
  const { retention, idleTtl, limits } = options(body, source)
  const inputNames = scope.columns.map((c) => `${c.table}.${c.name}`)
  return { source, window: null, join: null, filter: bound.filter, body, columns, emit: 'on_update', inputNames, retention, idleTtl, limits, intervalJoin: spec }
}

/**
 * How far behind the join's watermark a joined row's left and right event times can be: the later row of a
 * pair is on time (at most its stream's allowed lateness behind), and the earlier one at most the bound away.
 */
export function holdBack(spec: IntervalJoinSpec): { left: number; right: number } {
  const latL = spec.left.allowedLateness
  const latR = spec.right.allowedLateness
  return { left: Math.max(latL, latR + spec.bound.upper), right: Math.max(latR, latL - spec.bound.lower) }
}

/** The source a join view's plan reads: both streams' partitions, its rows' time as explained above. */
function joinedSource(spec: IntervalJoinSpec, output: readonly BoundExpr[]): StreamDef {
  const { left, right } = spec
  const width = left.columns.length
  const columns = [...left.columns, ...right.columns]
  const passes = (i: number) => output.some((e) => e.kind === 'column' && e.index === i)
  const hold = holdBack(spec)
  // An outer join's padded side has no time in its unmatched rows: only a preserved side's time is the rows'.
  const leftKept = spec.type === 'inner' || spec.type === 'left'
  const rightKept = spec.type === 'inner' || spec.type === 'right'
  const time = leftKept && passes(spec.leftTime) ? { index: spec.leftTime, lateness: hold.left } : rightKept && passes(width + spec.rightTime) ? { index: width + spec.rightTime, lateness: hold.right } : null
  let watermark: WatermarkSpec | null = null
  if (time !== null) {
    const c = columns[time.index]!
    watermark = { columnIndex: time.index, expr: { kind: 'column', index: time.index, name: c.name, type: c.type }, sql: c.name }
  }
  return {
    ...left,
    columns,
    watermark,
    partitions: left.partitions + right.partitions,
    keyColumn: null,
    allowedLateness: time?.lateness ?? 0,
    sql: `${left.sql}; ${right.sql}`,
  }
}

/** The join over both streams' scans; the view's WHERE reads the joined row, so the join's operator tests it. */
export function intervalJoinNode(plan: ViewPlan, join: IntervalJoinSpec): StreamPlanNode {
  const names = plan.inputNames
  const node: StreamPlanNode = { kind: 'interval_join', join, names, left: { kind: 'scan', source: join.left }, right: { kind: 'scan', source: join.right } }
  return plan.filter === null ? node : { kind: 'filter', predicate: plan.filter, role: 'output', names, aggNames: undefined, input: node }
}
