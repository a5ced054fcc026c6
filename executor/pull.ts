/**
 * Runs a pull query over rows the engine provides: filter, hash aggregation, projection, DISTINCT, sort,
 * offset and limit. Results are small next to the event flow (a view's groups), so this works on arrays.
 */
import type { Row, Value } from '../common/types.ts'
import { SluiceError } from '../common/errors.ts'
import { compileAggregates } from '../planner/compile-aggregates.ts'
import { compileExpr, compilePredicate, compileProjection } from '../planner/compile.ts'
import type { EvalContext } from '../planner/runtime.ts'
import { compareValues } from '../planner/runtime.ts'
import type { BoundSelect } from '../planner/select.ts'

export async function runSelect(select: BoundSelect, input: AsyncIterable<Row> | Iterable<Row>, params: readonly Value[], ctx: EvalContext): Promise<Row[]> {
  const filter = select.filter ? compilePredicate(select.filter) : null
  let rows: Row[] = []
  if (select.aggregation === null) {
    const project = compileProjection(select.output)
    for await (const r of input) {
      if (filter !== null && !filter(r, params, ctx)) continue
      rows.push(project(r, params, ctx))
    }
  } else {
    const agg = select.aggregation
    const keyOf = compileProjection(agg.keys)
    const aggs = compileAggregates(agg.aggregates, agg.keys.length)
    const groups = new Map<string, Value[]>()
    for await (const r of input) {
      if (filter !== null && !filter(r, params, ctx)) continue
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
  const width = select.outputColumns.length
  if (select.distinct) {
    const seen = new Set<string>()
    rows = rows.filter((r) => {
      const k = JSON.stringify(r.slice(0, width))
      if (seen.has(k)) return false
      seen.add(k)
      return true
    })
  }
  if (select.orderBy.length > 0) {
    const keys = select.orderBy.map((o) => ({ get: compileExpr(o.expr), desc: o.descending, nullsFirst: o.nullsFirst }))
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
    rows = decorated.map((d) => d.r)
  }
  const offset = select.offset ? limitValue(compileExpr(select.offset)([], params, ctx), 'OFFSET') : 0
  const limit = select.limit ? limitValue(compileExpr(select.limit)([], params, ctx), 'LIMIT') : Number.POSITIVE_INFINITY
  if (offset > 0 || limit !== Number.POSITIVE_INFINITY) rows = rows.slice(offset, offset + limit)
  // ORDER BY on expressions outside the select list added hidden trailing columns.
  return rows.map((r) => (r.length > width ? r.slice(0, width) : r))
}

function limitValue(v: Value, clause: string): number {
  if (v === null) return clause === 'LIMIT' ? Number.POSITIVE_INFINITY : 0
  if (typeof v !== 'number' || v < 0) throw new SluiceError('execution', '2201W', `${clause} must not be negative`)
  return v
}

