/**
 * Common table expressions (`WITH a(x, y) AS (SELECT ...) SELECT ... FROM a`). Each CTE is
 * translated once, in order (a later one may read an earlier one), and every reference to its name in FROM
 * becomes a subquery in FROM holding the CTE's query: inlining is exact for non-recursive CTEs without side
 * effects, and the planners need no new node. A CTE name hides a view or stream of the same name inside its
 * WITH query, as in PostgreSQL; an inner WITH hides an outer one.
 */
import type * as pg from 'libpg-query'
import { planError, SqlState, unsupported } from '../../common/errors.ts'
import type * as ast from '../ast.ts'
import { at, need, spanOf, stringsOf, unsupportedNode, type TranslateContext } from './context.ts'

interface Cte {
  readonly query: ast.Query
  readonly columns?: readonly string[]
}

/**
 * The WITH lists being translated, innermost last, per statement: keyed by the statement's tokens, which a
 * context derived with another fallback span shares.
 */
const scopes = new WeakMap<readonly unknown[], Map<string, Cte>[]>()

/** Translates `body` with the CTEs of `w` in scope. */
export function withCtes<T>(w: pg.WithClause, ctx: TranslateContext, translate: (s: pg.SelectStmt, ctx: TranslateContext) => ast.Query, body: () => T): T {
  const start = at(ctx, w.location)
  const stack = scopes.get(ctx.tokens) ?? []
  scopes.set(ctx.tokens, stack)
  const own = new Map<string, Cte>()
  stack.push(own)
  try {
    for (const node of w.ctes ?? []) {
      if (!('CommonTableExpr' in node)) throw unsupportedNode(node, spanOf(ctx, start))
      const c = node.CommonTableExpr
      const name = need(c.ctename, 'CommonTableExpr.ctename')
      const span = spanOf(ctx, at(ctx, c.location) ?? start)
      if (own.has(name)) throw planError(SqlState.duplicateAlias, `WITH query name "${name}" specified more than once`, span)
      if (c.search_clause !== undefined || c.cycle_clause !== undefined) throw unsupported('SEARCH and CYCLE clauses are not supported', span)
      const q = need(c.ctequery, 'CommonTableExpr.ctequery')
      if (!('SelectStmt' in q)) throw unsupported('data-modifying statements in WITH are not supported', span)
      const columns = c.aliascolnames === undefined ? undefined : stringsOf(c.aliascolnames)
      let query = translate(q.SelectStmt, ctx)
      if (w.recursive === true && readsTable(query, name)) query = recursiveQuery(query, name, columns, span)
      own.set(name, { query, ...(columns === undefined ? {} : { columns }) })
    }
    return body()
  } finally {
    stack.pop()
  }
}

/** A reference to a CTE in scope, as the subquery in FROM it stands for; undefined for other tables. */
export function cteReference(ref: ast.TableRef, ctx: TranslateContext): ast.SubqueryRef | undefined {
  if (ref.name.parts.length !== 1) return undefined
  const name = ref.name.parts[0]!
  const stack = scopes.get(ctx.tokens) ?? []
  for (let i = stack.length - 1; i >= 0; i--) {
    const cte = stack[i]!.get(name)
    if (cte === undefined) continue
    return { kind: 'subquery_ref', query: cte.query, alias: ref.alias ?? name, ...(cte.columns === undefined ? {} : { columnAliases: cte.columns }), span: ref.span }
  }
  return undefined
}

/**
 * A recursive CTE as PostgreSQL takes it: `non-recursive term UNION [ALL] recursive term`, the name read
 * only by the second (the planner gives it the working table there; see planner/pull-plan.ts).
 */
function recursiveQuery(query: ast.Query, name: string, columns: readonly string[] | undefined, span: ast.Query['span']): ast.Query {
  if (query.kind !== 'set_operation' || query.op !== 'union') {
    throw planError(SqlState.invalidRecursion, `recursive query "${name}" does not have the form non-recursive-term UNION [ALL] recursive-term`, span)
  }
  if (readsTable(query.left, name)) throw planError(SqlState.invalidRecursion, `recursive reference to query "${name}" must not appear within its non-recursive term`, query.left.span)
  if (query.orderBy.length > 0 || query.limit !== undefined || query.offset !== undefined) {
    throw unsupported(`ORDER BY, LIMIT and OFFSET in a recursive query are not supported`, span)
  }
  return { ...query, recursive: { name, ...(columns === undefined ? {} : { columns }) } }
}

/** Whether `node` (a query or any part of one) reads a table of this unqualified name. */
function readsTable(node: unknown, name: string): boolean {
  if (node === null || typeof node !== 'object') return false
  if (Array.isArray(node)) return node.some((n) => readsTable(n, name))
  const o = node as { kind?: unknown; name?: { parts?: readonly string[] } }
  if (o.kind === 'table_ref' && o.name?.parts?.length === 1 && o.name.parts[0] === name) return true
  return Object.values(node).some((v) => readsTable(v, name))
}
