/**
 * Runs a pull query over rows the engine provides: filter, hash aggregation, projection, DISTINCT, sort,
 * offset and limit. Results are small next to the event flow (a view's groups), so this works on arrays.
 * Relational plans (joins, subqueries, set operations; what catalog browsing sends) run here too, in memory
 * over relations fetched beforehand by executor/pg-catalog.ts.
 */
import type { Row, Value } from '../common/types.ts'
import { SluiceError } from '../common/errors.ts'
import type { BoundExpr } from '../planner/bound.ts'
import type { CatalogLookup } from '../planner/pg-catalog.ts'
import type { RelNode, RelationRef, SubqueryPlan } from '../planner/pull-plan.ts'
import { compileAggregates } from '../planner/compile-aggregates.ts'
import { compileExpr, compilePredicate, compileProjection, type CompiledExpr } from '../planner/compile.ts'
import type { EvalContext } from '../planner/runtime.ts'
import { compareValues, equalValues } from '../planner/runtime.ts'
import type { BoundSelect } from '../planner/select.ts'
import type { PullWindowCall } from '../planner/pull-window.ts'
import { windowValues } from './pull-window.ts'
import { tableFunctionRows } from '../planner/table-functions.ts'

export async function runSelect(select: BoundSelect, input: AsyncIterable<Row> | Iterable<Row>, params: readonly Value[], ctx: EvalContext): Promise<Row[]> {
  const run = selectRunner(select, params, ctx)
  for await (const r of input) run.push(r)
  return run.finish()
}

/** The same over rows already in memory, synchronously (relational plans and subqueries). */
export function runSelectSync(select: BoundSelect, input: Iterable<Row>, params: readonly Value[], ctx: EvalContext, windows: readonly PullWindowCall[] = []): Row[] {
  const run = selectRunner(select, params, ctx, windows)
  for (const r of input) run.push(r)
  return run.finish()
}

interface SelectRunner {
  push(r: Row): void
  finish(): Row[]
}

/** Filter and projection (or grouping) row by row, then DISTINCT, sort, offset and limit at the end. */
function selectRunner(select: BoundSelect, params: readonly Value[], ctx: EvalContext, windows: readonly PullWindowCall[] = []): SelectRunner {
  const filter = select.filter ? compilePredicate(select.filter) : null
  let rows: Row[] = []
  let push: (r: Row) => void
  let grouped: () => void = () => {}
  if (select.aggregation === null && windows.length > 0) {
    // Window functions see every row that passed WHERE; the projection reads their values as `agg_ref`s.
    const input: Row[] = []
    push = (r) => {
      if (filter === null || filter(r, params, ctx)) input.push(r)
    }
    grouped = () => {
      const project = compileProjection(select.output)
      const values = windowValues(input, windows, params, ctx)
      rows = input.map((r, i) => project(r, params, ctx, values[i]))
    }
  } else if (select.aggregation === null) {
    const project = compileProjection(select.output)
    push = (r) => {
      if (filter !== null && !filter(r, params, ctx)) return
      rows.push(project(r, params, ctx))
    }
  } else {
    const agg = select.aggregation
    const keyOf = compileProjection(agg.keys)
    const aggs = compileAggregates(agg.aggregates, agg.keys.length)
    const groups = new Map<string, Value[]>()
    push = (r) => {
      if (filter !== null && !filter(r, params, ctx)) return
      const kv = keyOf(r, params, ctx)
      const k = JSON.stringify(kv)
      let acc = groups.get(k)
      if (acc === undefined) {
        acc = kv
        acc.push(...aggs.init())
        groups.set(k, acc)
      }
      aggs.update(acc, r, params, ctx)
    }
    grouped = () => {
      // Without GROUP BY, an aggregate over no rows still gives one row (count = 0).
      if (groups.size === 0 && agg.keys.length === 0) groups.set('[]', aggs.init())
      const having = agg.having ? compilePredicate(agg.having) : null
      const project = compileProjection(select.output)
      for (const acc of groups.values()) {
        const a = aggs.finalize(acc)
        if (having !== null && !having(acc, params, ctx, a)) continue
        rows.push(project(acc, params, ctx, a))
      }
    }
  }
  return {
    push,
    finish: () => {
      grouped()
      const width = select.outputColumns.length
      if (select.distinct) rows = distinctRows(rows, width)
      rows = sortRows(rows, select.orderBy.map((o) => ({ get: compileExpr(o.expr), desc: o.descending, nullsFirst: o.nullsFirst })), params, ctx)
      rows = limitRows(rows, select.limit, select.offset, params, ctx)
      // ORDER BY on expressions outside the select list added hidden trailing columns.
      return rows.map((r) => (r.length > width ? r.slice(0, width) : r))
    },
  }
}

function distinctRows(rows: Row[], width: number): Row[] {
  const seen = new Set<string>()
  return rows.filter((r) => {
    const k = JSON.stringify(r.slice(0, width))
    if (seen.has(k)) return false
    seen.add(k)
    return true
  })
}

interface SortKey {
  readonly get: CompiledExpr
  readonly desc: boolean
  readonly nullsFirst: boolean
}

function sortRows(rows: Row[], keys: readonly SortKey[], params: readonly Value[], ctx: EvalContext): Row[] {
  if (keys.length === 0) return rows
  const decorated = rows.map((r) => ({ r, k: keys.map((k) => k.get(r, params, ctx)) }))
  decorated.sort((x, y) => {
    for (let i = 0; i < keys.length; i++) {
      const a = x.k[i] ?? null
      const b = y.k[i] ?? null
      const spec = keys[i]!
      if (a === null || b === null) {
        if (a === b) continue
        return (a === null) === spec.nullsFirst ? -1 : 1
      }
      const c = compareValues(a, b)
      if (c !== 0) return spec.desc ? -c : c
    }
    return 0
  })
  return decorated.map((d) => d.r)
}

function limitRows(rows: Row[], limitExpr: BoundExpr | null, offsetExpr: BoundExpr | null, params: readonly Value[], ctx: EvalContext): Row[] {
  const offset = offsetExpr ? limitValue(compileExpr(offsetExpr)([], params, ctx), 'OFFSET') : 0
  const limit = limitExpr ? limitValue(compileExpr(limitExpr)([], params, ctx), 'LIMIT') : Number.POSITIVE_INFINITY
  return offset > 0 || limit !== Number.POSITIVE_INFINITY ? rows.slice(offset, offset + limit) : rows
}

// ---------------------------------------------------------------------------------------------------------
// Relational plans (planner/pull-plan.ts `RelNode`): joins, subqueries and set operations over rows in memory.

/** The rows of every base relation the plan reads, fetched before it runs. */
export type RelationRows = ReadonlyMap<string, readonly Row[]>

export const relationKey = (r: RelationRef): string => `${r.source}:${r.name}`

/** Runs a relational plan; `ctx.subquery` is added so that compiled expressions can run subqueries. */
export function runRelational(root: RelNode, data: RelationRows, params: readonly Value[], ctx: EvalContext, pg: CatalogLookup): Row[] {
  const cache = new Map<SubqueryPlan, Row[]>()
  const compiled = new Map<BoundExpr, ReturnType<typeof compilePredicate>>()
  const exec = (node: RelNode, outer: Row): Row[] => {
    switch (node.kind) {
      case 'one_row':
        return [[]]
      case 'values':
        return node.rows.map((r) => r.map((e) => compileExpr(e)(outer, params, rctx)))
      case 'scan':
        return (data.get(relationKey(node.relation)) ?? []) as Row[]
      case 'function':
        return tableFunctionRows(node.fn, node.args.map((a) => compileExpr(a)(outer, params, rctx)))
      case 'join': {
        const left = exec(node.left, outer)
        const right = exec(node.right, outer)
        let on: ReturnType<typeof compilePredicate> | null = null
        if (node.on !== null) {
          on = compiled.get(node.on) ?? compilePredicate(node.on)
          compiled.set(node.on, on)
        }
        const nullsL = new Array<Value>(node.leftWidth).fill(null)
        const nullsR = new Array<Value>(node.rightWidth).fill(null)
        const out: Row[] = []
        const matches = (l: Row, r: Row): boolean => on === null || on([...l, ...r, ...outer], params, rctx)
        if (node.joinType === 'full') {
          const matched = new Set<Row>()
          for (const l of left) {
            let hit = false
            for (const r of right) if (matches(l, r)) { out.push([...l, ...r]); hit = true; matched.add(r) }
            if (!hit) out.push([...l, ...nullsR])
          }
          for (const r of right) if (!matched.has(r)) out.push([...nullsL, ...r])
          return out
        }
        if (node.joinType === 'right') {
          for (const r of right) {
            let hit = false
            for (const l of left) if (matches(l, r)) { out.push([...l, ...r]); hit = true }
            if (!hit) out.push([...nullsL, ...r])
          }
          return out
        }
        for (const l of left) {
          let hit = false
          for (const r of right) if (matches(l, r)) { out.push([...l, ...r]); hit = true }
          if (!hit && node.joinType === 'left') out.push([...l, ...nullsR])
        }
        return out
      }
      case 'block': {
        const input = exec(node.from, outer)
        const rows = outer.length === 0 ? input : input.map((r) => [...r, ...outer])
        return runSelectSync(node.select, rows, params, rctx, node.windows)
      }
      case 'expand': {
        // The select list's set-returning calls in lockstep: as many rows as the longest, NULL past a shorter one.
        const input = exec(node.input, outer)
        const calls = node.calls.map((c) => ({ fn: c.fn, args: c.args.map((a) => compileExpr(a)) }))
        const out: Row[] = []
        for (const r of input) {
          const row = outer.length === 0 ? r : [...r, ...outer]
          const sets = calls.map((c) => tableFunctionRows(c.fn, c.args.map((a) => a(row, params, rctx))))
          const n = Math.max(0, ...sets.map((s) => s.length))
          for (let i = 0; i < n; i++) out.push([...r, ...sets.map((s) => s[i]?.[0] ?? null)])
        }
        return out
      }
      case 'set_op': {
        const left = exec(node.left, outer)
        const right = exec(node.right, outer)
        const key = (r: Row): string => JSON.stringify(r)
        let rows: Row[]
        if (node.op === 'union') rows = node.all ? [...left, ...right] : distinctRows([...left, ...right], node.width)
        else {
          const rightKeys = new Set(right.map(key))
          const keep = node.op === 'intersect'
          rows = left.filter((r) => rightKeys.has(key(r)) === keep)
          if (!node.all) rows = distinctRows(rows, node.width)
        }
        rows = sortRows(rows, node.orderBy.map((o) => ({ get: compileExpr(o.expr), desc: o.descending, nullsFirst: o.nullsFirst })), params, rctx)
        return limitRows(rows, node.limit, node.offset, params, rctx)
      }
    }
  }
  const subquery = (plan: SubqueryPlan, outerValues: readonly Value[], test?: Value): Value => {
    let rows = plan.correlated ? undefined : cache.get(plan)
    if (rows === undefined) {
      // The outer row as the subquery's expressions index it; only the columns it reads are filled in.
      const row: Value[] = []
      plan.outerColumns.forEach((index, k) => (row[index] = outerValues[k] ?? null))
      rows = exec(plan.node, row)
      if (!plan.correlated) cache.set(plan, rows)
    }
    switch (plan.mode) {
      case 'exists':
        return rows.length > 0
      case 'array':
        return rows.map((r) => r[0] ?? null)
      case 'scalar':
        if (rows.length > 1) throw new SluiceError('execution', '21000', 'more than one row returned by a subquery used as an expression')
        return rows.length === 0 ? null : (rows[0]![0] ?? null)
      case 'in': {
        if (test === null || test === undefined) return rows.length === 0 ? plan.negated : null
        let sawNull = false
        for (const r of rows) {
          const v = r[0] ?? null
          if (v === null) sawNull = true
          else if (equalValues(test, v)) return !plan.negated
        }
        return sawNull ? null : plan.negated
      }
    }
  }
  const rctx = { ...ctx, subquery, pg } as EvalContext
  return exec(root, [])
}

function limitValue(v: Value, clause: string): number {
  if (v === null) return clause === 'LIMIT' ? Number.POSITIVE_INFINITY : 0
  if (typeof v !== 'number' || v < 0) throw new SluiceError('execution', '2201W', `${clause} must not be negative`)
  return v
}

