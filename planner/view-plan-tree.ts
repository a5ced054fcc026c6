/**
 * A view's plan as a tree of nodes (planner/stream-plan-nodes.ts), built from its ViewPlan: the output
 * projection and the stateful operator at the top, then the row stages (filter, window, lookup join) down to
 * the scan of its stream or view.
 */
import { displayExpr } from './display.ts'
import { sliceSpec } from './hop-slices.ts'
import type { StreamPlanNode } from './stream-plan-nodes.ts'
import type { ViewPlan } from './view-plan.ts'
import { intervalJoinNode } from './interval-join-view.ts'

/** `#3` in an aggregate's display text is the input column 3: named as EXPLAIN shows it. */
const named = (display: string, names: readonly string[]) => display.replace(/#(\d+)/g, (_, i) => names[Number(i)] ?? `#${i}`)

export function viewPlanTree(name: string, plan: ViewPlan): StreamPlanNode {
  return { kind: 'materialized_view', name, emit: plan.emit, retention: plan.retention, idleTtl: plan.idleTtl, limits: plan.limits, input: bodyNode(plan) }
}

/** The output and the operator that makes the view's rows, over the row stages (a trigger's query too). */
export function bodyNode(plan: ViewPlan): StreamPlanNode {
  const names = plan.inputNames
  const columns = plan.columns.map((c) => c.name)
  const body = plan.body
  switch (body.kind) {
    case 'aggregate': {
      const agg = body.aggregation
      const keyNames = agg.keys.map((k) => displayExpr(k, names))
      const aggNames = agg.aggregates.map((a) => named(a.display, names))
      let node: StreamPlanNode = { kind: 'exchange', keyNames, input: rowStages(plan) }
      node = { kind: 'aggregate', aggregation: agg, keyNames, aggNames, session: plan.window?.kind === 'session', input: node }
      if (agg.having) node = { kind: 'filter', predicate: agg.having, role: 'having', names: keyNames, aggNames, input: node }
      return { kind: 'project', output: body.output, columns, names: keyNames, aggNames, append: false, input: node }
    }
    case 'pattern': {
      const streamNames = plan.source.columns.map((c) => c.name)
      let node: StreamPlanNode = { kind: 'pattern_recognize', pattern: body.pattern, streamNames, columns: names, input: { kind: 'scan', source: plan.source } }
      if (body.outputFilter) node = { kind: 'filter', predicate: body.outputFilter, role: 'output', names, aggNames: undefined, input: node }
      return { kind: 'project', output: body.output, columns, names, aggNames: undefined, append: true, input: node }
    }
    case 'over': {
      const windowNames = body.windows.map((w) => named(w.display, names))
      const node: StreamPlanNode = { kind: 'window_functions', windows: body.windows, windowNames, partitionBy: body.partitionBy, timeIndex: body.timeIndex, names, input: rowStages(plan) }
      return { kind: 'project', output: body.output, columns, names, aggNames: windowNames, append: true, input: node }
    }
    case 'project':
      return { kind: 'project', output: body.output, columns, names, aggNames: undefined, append: true, input: rowStages(plan) }
  }
}

/** What every event goes through before the operator: a SESSION subquery's WHERE, lookup join, window assignment, WHERE. */
function rowStages(plan: ViewPlan): StreamPlanNode {
  const names = plan.inputNames
  if (plan.intervalJoin) return intervalJoinNode(plan, plan.intervalJoin)
  let node: StreamPlanNode = { kind: 'scan', source: plan.source }
  if (plan.sourceFilter) node = { kind: 'filter', predicate: plan.sourceFilter, role: 'source', names, aggNames: undefined, input: node }
  if (plan.join) node = { kind: 'lookup_join', join: plan.join, names, input: node }
  if (plan.window) node = { kind: 'window', window: plan.window, slices: plan.window.kind === 'hop' ? sliceSpec(plan) : null, names, input: node }
  if (plan.filter) node = { kind: 'filter', predicate: plan.filter, role: 'where', names, aggNames: undefined, input: node }
  return node
}
