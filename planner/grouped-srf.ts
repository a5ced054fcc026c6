/**
 * Set-returning functions in the select list of a grouped query (`SELECT g, unnest(array_agg(x)) FROM t
 * GROUP BY g`): PostgreSQL expands them after grouping. The query is rewritten into the grouped query as a
 * subquery in FROM, yielding the plain items and the set-returning calls' arguments, and an outer query that
 * calls the functions over those columns (expanded in lockstep as any select-list set-returning call), with
 * the outer query's DISTINCT, ORDER BY, LIMIT and OFFSET. Items must be a set-returning call or free of one.
 */
import type * as ast from '../parser/ast.ts'
import { unsupported } from '../common/errors.ts'
import { isAggregateName } from '../expr/aggregates.ts'
import { defaultName } from './select.ts'

const GROUPED = '\u0000grouped'
const column = (name: string, span: ast.Span): ast.ColumnRef => ({ kind: 'column_ref', table: [GROUPED], name, span })

/** The rewritten query, or null when the query is not grouped or has no set-returning call in its select list. */
export function groupedSetReturning(q: ast.Select, isSetReturning: (name: string) => boolean): ast.Select | null {
  const isSrf = (e: ast.Expr): e is ast.FuncCall => e.kind === 'func_call' && e.over === undefined && isSetReturning(e.name)
  const contains = (node: unknown, test: (n: { kind?: string; name?: string; over?: unknown }) => boolean): boolean => {
    if (node === null || typeof node !== 'object') return false
    if (Array.isArray(node)) return node.some((x) => contains(x, test))
    const n = node as { kind?: string; name?: string; over?: unknown }
    if (n.kind === 'subquery') return false
    return test(n) || Object.values(node).some((x) => contains(x, test))
  }
  const srfIn = (node: unknown): boolean => contains(node, (n) => n.kind === 'func_call' && n.over === undefined && isSetReturning(n.name ?? ''))
  if (!q.targets.some((t) => srfIn(t.expr))) return null
  const grouped = q.groupBy.length > 0 || q.having !== undefined || contains(q.targets, (n) => n.kind === 'func_call' && n.over === undefined && isAggregateName(n.name ?? ''))
  if (!grouped) return null
  const inner: ast.SelectItem[] = []
  const outer: ast.SelectItem[] = q.targets.map((t, j) => {
    if (t.expr.kind === 'star') throw unsupported('* beside a set-returning function in a grouped query is not supported', t.span)
    const name = t.alias ?? defaultName(t.expr)
    if (!isSrf(t.expr)) {
      if (srfIn(t.expr)) throw unsupported('a set-returning function inside an expression of a grouped query is not supported', t.span, 'Call it as a select item of its own.')
      inner.push({ expr: t.expr, alias: `\u0000c${j}`, span: t.span })
      return { expr: column(`\u0000c${j}`, t.span), alias: name, span: t.span }
    }
    const call = t.expr
    const args = call.args.map((a, i) => {
      inner.push({ expr: a, alias: `\u0000a${j}_${i}`, span: a.span })
      return column(`\u0000a${j}_${i}`, a.span)
    })
    return { expr: { ...call, args }, alias: name, span: t.span }
  })
  const sub: ast.Select = { ...q, targets: inner, distinct: false, orderBy: [], limit: undefined, offset: undefined, distinctOn: undefined }
  const from: ast.SubqueryRef = { kind: 'subquery_ref', query: withoutUndefined(sub), alias: GROUPED, span: q.span }
  return withoutUndefined({
    kind: 'select' as const,
    distinct: q.distinct,
    distinctOn: q.distinctOn,
    targets: outer,
    from: [from],
    groupBy: [],
    orderBy: q.orderBy,
    limit: q.limit,
    offset: q.offset,
    span: q.span,
  })
}

/** Optional fields are absent, never undefined (the planner tests presence with `!== undefined` and `in`). */
function withoutUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T
}
