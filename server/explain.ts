/**
 * EXPLAIN text for pull queries (views explain themselves in planner/view-plan.ts), and EXPLAIN ANALYZE:
 * the query runs under the session's limits and each node of its plan shows the rows it gave, how often it
 * ran and the time spent in it, with the join order the executor chose.
 */
import { performance } from 'node:perf_hooks'
import { unsupported } from '../common/errors.ts'
import type { Row } from '../common/types.ts'
import type { BoundExpr } from '../expr/bound.ts'
import type * as ast from '../parser/ast.ts'
import { type PullPlan, type RelNode, planPull } from '../planner/pull-plan.ts'
import { explainView } from '../planner/view-plan.ts'
import { explainTrigger } from '../planner/trigger-plan.ts'
import { explainSink } from '../planner/sink-plan.ts'
import type { BoundSelect } from '../planner/select.ts'
import { displayExpr } from '../planner/display.ts'
import type { Engine } from '../executor/engine.ts'
import type { NodeStats } from '../executor/pull.ts'
import { type QueryGuard, formatBytes } from '../executor/query-budget.ts'

type Push = (depth: number, text: string) => void

export function explainPull(plan: PullPlan, stats?: ReadonlyMap<RelNode, NodeStats>): string[] {
  const lines: string[] = []
  const push: Push = (depth, text) => lines.push(`${depth === 0 ? '' : `${'  '.repeat(depth - 1)}->  `}${text}`)
  const names = 'columns' in plan.source ? plan.source.columns.map((c) => c.name) : []
  const src = plan.source
  if (src.kind === 'relational') {
    relational(src.root, 0, push, stats)
    return lines
  }
  const depth = selectLines(plan.select, names, 0, push)
  push(depth, src.kind === 'none' ? 'Result (one row)' : src.kind === 'view' ? (src.key !== undefined ? `ViewKeyLookup ${src.name} key=(${src.key.map((k) => displayExpr(k, names)).join(', ')}) (state store, read-your-writes)` : `ViewScan ${src.name} (state store, read-your-writes)`) : src.kind === 'stream' ? `LogScan ${src.name}` : `SystemTable ${src.name}`)
  return lines
}

/** The operators of one SELECT block, outermost first; returns the depth below them. */
function selectLines(s: BoundSelect, names: readonly string[], depth: number, push: Push, suffix = ''): number {
  const first = (text: string): void => {
    push(depth++, text + suffix)
    suffix = ''
  }
  if (s.limit || s.offset) first('Limit')
  if (s.orderBy.length > 0) first('Sort')
  if (s.distinct) first('Distinct')
  if (s.aggregation) {
    const keyNames = s.aggregation.keys.map((k) => displayExpr(k, names))
    const sets = s.aggregation.groupingSets
    // Grouping sets: the last key is the set's number, not a written key.
    const keys = sets === undefined ? `keys=[${keyNames.join(', ')}]` : `grouping sets=[${sets.map((set) => `(${set.map((i) => keyNames[i]).join(', ')})`).join(', ')}]`
    first(`HashAggregate ${keys} aggregates=[${s.aggregation.aggregates.map((a) => a.display).join(', ')}]`)
  } else {
    first(`Project ${s.output.map((o) => displayExpr(o, names)).join(', ')}`)
  }
  if (s.filter) push(depth++, `Filter ${displayExpr(s.filter, names)}`)
  return depth
}

const show = (e: BoundExpr): string => displayExpr(e, [])

function relational(node: RelNode, depth: number, push: Push, stats: ReadonlyMap<RelNode, NodeStats> | undefined): void {
  const s = stats?.get(node)
  const actual = stats === undefined ? '' : s === undefined ? ' (never executed)' : ` (actual rows=${s.loops > 0 ? Math.round(s.rows / s.loops) : 0} loops=${s.loops} time=${s.ms.toFixed(3)} ms)`
  const detail = (text: string): void => push(0, `${'  '.repeat(depth + 1)}${text}`)
  const notes = (): void => {
    for (const n of s?.notes ?? []) detail(n)
  }
  switch (node.kind) {
    case 'scan':
      push(depth, `Scan ${node.relation.source} ${node.relation.name}${actual}`)
      return
    case 'one_row':
      push(depth, `Result (one row)${actual}`)
      return
    case 'working':
      push(depth, `WorkTable Scan on ${node.table.name}${actual}`)
      return
    case 'values':
      push(depth, `Values (${node.rows.length} rows)${actual}`)
      return
    case 'function':
      push(depth, `Function ${node.fn}(${node.args.map(show).join(', ')})${actual}`)
      return
    case 'join': {
      const kind = node.joinType === 'cross' || node.joinType === 'inner' ? '' : ` ${node.joinType[0]!.toUpperCase()}${node.joinType.slice(1)}`
      push(depth, `${node.keys !== undefined ? `Hash${kind} Join` : `Nested Loop${kind}${kind === '' ? '' : ' Join'}`}${actual}`)
      if (node.keys !== undefined) detail(`Hash Cond: ${node.keys.left.map((l, i) => `(${show(l)} = ${show(node.keys!.right[i]!)})`).join(' AND ')}`)
      if (node.on !== null) detail(`Join Filter: ${show(node.on)}`)
      if (node.leftFilter != null) detail(`Left Filter: ${show(node.leftFilter)}`)
      if (node.rightFilter != null) detail(`Right Filter: ${show(node.rightFilter)}`)
      notes()
      relational(node.left, depth + 1, push, stats)
      relational(node.right, depth + 1, push, stats)
      return
    }
    case 'lateral':
      push(depth, `Nested Loop${node.joinType === 'left' ? ' Left Join' : ''} (lateral)${actual}`)
      if (node.on !== null) detail(`Join Filter: ${show(node.on)}`)
      relational(node.left, depth + 1, push, stats)
      relational(node.right, depth + 1, push, stats)
      return
    case 'multi_join': {
      const hashed = node.conditions.filter((c) => c.equi !== null).length
      push(depth, `Hash Join (${node.leaves.length} inputs, ${hashed} equality conditions; joined from the smallest input at run time)${actual}`)
      for (const c of node.conditions) detail(`${c.equi !== null ? 'Hash Cond' : 'Join Filter'}: ${show(c.expr)}`)
      notes()
      for (const leaf of node.leaves) {
        relational(leaf.node, depth + 1, push, stats)
        if (leaf.filter !== null) push(0, `${'  '.repeat(depth + 2)}Filter: ${show(leaf.filter)}`)
      }
      return
    }
    case 'block': {
      const below = selectLines(node.select, [], depth, push, actual)
      if (node.windows.length > 0) push(below, `WindowAgg (${node.windows.length} functions)`)
      relational(node.from, below + (node.windows.length > 0 ? 1 : 0), push, stats)
      return
    }
    case 'expand':
      push(depth, `ProjectSet ${node.calls.map((c) => `${c.fn}(${c.args.map(show).join(', ')})`).join(', ')}${actual}`)
      relational(node.input, depth + 1, push, stats)
      return
    case 'set_op':
      push(depth, `${node.recursive !== undefined ? 'Recursive Union' : `${node.op[0]!.toUpperCase()}${node.op.slice(1)}${node.all ? ' All' : ''}`}${actual}`)
      relational(node.left, depth + 1, push, stats)
      relational(node.right, depth + 1, push, stats)
      return
  }
}

/**
 * EXPLAIN ANALYZE: runs the query with `run` under a fresh guard (the session's memory budget, timeout and
 * cancel hold as for the query itself) and prints its plan with what each node did.
 */
export async function explainAnalyze(plan: PullPlan, run: (guard: QueryGuard, stats: Map<RelNode, NodeStats>) => Promise<Row[]>, guard: () => QueryGuard): Promise<string[]> {
  const stats = new Map<RelNode, NodeStats>()
  const g = guard()
  const t0 = performance.now()
  const rows = await run(g, stats)
  const ms = performance.now() - t0
  const lines = explainPull(plan, stats)
  if (plan.source.kind !== 'relational' && lines.length > 0) lines[0] += ` (actual rows=${rows.length} loops=1 time=${ms.toFixed(3)} ms)`
  lines.push(`Rows: ${rows.length}`)
  lines.push(`Peak Memory: ${formatBytes(Math.ceil(g.peak / 1024) * 1024)} (estimated; budget per query: sluice.query_memory)`)
  lines.push(`Execution Time: ${ms.toFixed(3)} ms`)
  return lines
}

/** EXPLAIN (without ANALYZE) of a statement: a query's plan, or what a CREATE would deploy. */
export function explainStatement(engine: Engine, s: ast.Statement): string[] {
  switch (s.kind) {
    case 'create_view': {
      const def = engine.viewDef(s, 0, '')
      return explainView(def.name, def.plan)
    }
    case 'create_trigger':
      return explainTrigger(s, engine.catalog)
    case 'create_sink':
      return explainSink(s, engine.catalog)
    case 'query':
      return explainPull(planPull(s.query, engine.catalog, []))
    case 'create_stream':
      return [`CreateStream ${s.name.parts.at(-1)} (${s.columns.length} columns)`, '  ->  EmbeddedLog (append-only segments per partition)']
    default: {
      const name = engine.catalog.get(s.kind === 'drop' ? (s.names[0]?.parts.at(-1) ?? '') : '')
      if (name?.kind === 'view') return explainView(name.name, name.plan)
      throw unsupported(`EXPLAIN of ${s.kind.replace('_', ' ')} is not supported`, s.span)
    }
  }
}
