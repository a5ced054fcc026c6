/** EXPLAIN text for pull queries (views explain themselves in planner/view-plan.ts). */
import type { PullPlan } from '../planner/pull-plan.ts'
import { displayExpr } from '../planner/display.ts'

export function explainPull(plan: PullPlan): string[] {
  const lines: string[] = []
  const names = 'columns' in plan.source ? plan.source.columns.map((c) => c.name) : []
  const push = (depth: number, text: string) => lines.push(`${depth === 0 ? '' : `${'  '.repeat(depth - 1)}->  `}${text}`)
  const s = plan.select
  let depth = 0
  if (s.limit || s.offset) push(depth++, 'Limit')
  if (s.orderBy.length > 0) push(depth++, `Sort`)
  if (s.distinct) push(depth++, 'Distinct')
  if (s.aggregation) {
    const keyNames = s.aggregation.keys.map((k) => displayExpr(k, names))
    push(depth++, `HashAggregate keys=[${keyNames.join(', ')}] aggregates=[${s.aggregation.aggregates.map((a) => a.display).join(', ')}]`)
  } else {
    push(depth++, `Project ${s.output.map((o) => displayExpr(o, names)).join(', ')}`)
  }
  if (s.filter) push(depth++, `Filter ${displayExpr(s.filter, names)}`)
  const src = plan.source
  push(depth, src.kind === 'none' ? 'Result (one row)' : src.kind === 'view' ? (src.key !== undefined ? `ViewKeyLookup ${src.name} key=(${src.key.map((k) => displayExpr(k, names)).join(', ')}) (state store, read-your-writes)` : `ViewScan ${src.name} (state store, read-your-writes)`) : src.kind === 'stream' ? `LogScan ${src.name}` : `SystemTable ${src.name}`)
  return lines
}
