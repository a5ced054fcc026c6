/**
 * libpg-query `SelectStmt` -> `Query`: a SELECT block, a set operation (UNION / INTERSECT / EXCEPT) or a
 * VALUES list. FROM items live in `from.ts`.
 */
import type * as pg from 'libpg-query'
import { unsupported, type Span } from '../../common/errors.ts'
import type * as ast from '../ast.ts'
import { at, closeBrackets, cover, keywordBefore, need, nested, QUERY_WEIGHT, spanOf, tokenIndexAt, type TranslateContext } from './context.ts'
import { textSpan, translateExpr, translateExprs } from './expr.ts'
import { withCtes } from './cte.ts'
import { windowDefinitions } from './window-clause.ts'
import { translateGroupBy } from './grouping-sets.ts'
import { translateFromItem } from './from.ts'
import { translateSortBy } from './func.ts'

export function translateQuery(s: pg.SelectStmt, ctx: TranslateContext): ast.Query {
  return nested(QUERY_WEIGHT, () => ctx.fallback, () => query(s, ctx))
}

function query(s: pg.SelectStmt, ctx: TranslateContext): ast.Query {
  if (s.withClause !== undefined) {
    const w = s.withClause
    return withCtes(w, ctx, translateQuery, () => query({ ...s, withClause: undefined }, ctx))
  }
  if (s.op !== undefined && s.op !== 'SETOP_NONE') return setOperation(s, ctx)
  if (s.valuesLists !== undefined) return valuesQuery(s, ctx)
  return selectBlock(s, ctx)
}

function selectBlock(s: pg.SelectStmt, outerCtx: TranslateContext): ast.Select {
  const ctx: TranslateContext = { ...outerCtx, windowDefs: windowDefinitions(s.windowClause, outerCtx) }
  const targets = (s.targetList ?? []).map((t) => selectItem(t, ctx))
  const from = (s.fromClause ?? []).map((f) => translateFromItem(f, ctx))
  const where = s.whereClause === undefined ? undefined : translateExpr(s.whereClause, ctx)
  const grouping = translateGroupBy(s.groupClause, ctx, ctx.fallback)
  const groupBy = grouping.groupBy
  const having = s.havingClause === undefined ? undefined : translateExpr(s.havingClause, ctx)
  const tail = queryTail(s, ctx)
  const firstPart = targets[0]?.span ?? from[0]?.span
  const start = firstPart === undefined ? ctx.fallback.start : (keywordBefore(ctx, firstPart.start, ['select', 'table']) ?? firstPart.start)
  const parts = [...targets.map((t) => t.span), ...from.map((f) => f.span), where?.span, ...groupBy.map((g) => g.span), having?.span, ...tail.spans]
  const span = spanOf(ctx, start, parts)
  rejectClauses(s, span)
  return {
    kind: 'select',
    ...distinctOf(s, ctx),
    targets,
    from,
    ...(where === undefined ? {} : { where }),
    groupBy,
    ...(grouping.groupingSets === undefined ? {} : { groupingSets: grouping.groupingSets }),
    ...(having === undefined ? {} : { having }),
    ...tail.clauses,
    span,
  }
}

/** Clauses PostgreSQL accepts on a SELECT that Sluice has no meaning for (yet). */
function rejectClauses(s: pg.SelectStmt, span: Span): void {
  if (s.intoClause !== undefined) throw unsupported('SELECT INTO is not supported', span, 'Use CREATE MATERIALIZED VIEW ... AS SELECT.')
  if (s.lockingClause !== undefined) throw unsupported('FOR UPDATE / FOR SHARE is not supported', span)
  if (s.groupDistinct === true) throw unsupported('GROUP BY DISTINCT is not supported', span)
  if (s.limitOption === 'LIMIT_OPTION_WITH_TIES') throw unsupported('FETCH ... WITH TIES is not supported', span)
}

/** `DISTINCT` arrives as a list holding one empty node; `DISTINCT ON (...)` as the list of expressions. */
function distinctOf(s: pg.SelectStmt, ctx: TranslateContext): { distinct: boolean; distinctOn?: ast.Expr[] } {
  const clause = s.distinctClause
  if (clause === undefined) return { distinct: false }
  if (clause.length === 1 && Object.keys(clause[0]!).length === 0) return { distinct: true }
  return { distinct: false, distinctOn: translateExprs(clause, ctx) }
}

function selectItem(node: pg.Node, ctx: TranslateContext): ast.SelectItem {
  if (!('ResTarget' in node)) throw unsupported('unexpected select list item', ctx.fallback)
  const t = node.ResTarget
  const expr = translateExpr(need(t.val, 'ResTarget.val'), ctx)
  const start = at(ctx, t.location) ?? textSpan(expr).start
  const end = t.name === undefined ? expr.span.end : aliasEnd(ctx, expr.span.end, t.name)
  return { expr, ...(t.name === undefined ? {} : { alias: t.name }), span: { start, end: Math.max(end, expr.span.end) } }
}

/** The end of `[AS] alias [(columns)]` written after offset `from`; `from` itself when there is none. */
export function aliasEnd(ctx: TranslateContext, from: number, alias: string, hasColumns = false): number {
  let i = tokenIndexAt(ctx.tokens, from)
  if (ctx.tokens[i]?.kind === 'word' && ctx.tokens[i]!.value === 'as') i++
  const name = ctx.tokens[i]
  if (name === undefined || (name.kind !== 'word' && name.kind !== 'quoted_ident') || name.value !== alias) return from
  const next = ctx.tokens[i + 1]
  return hasColumns && next !== undefined && next.value === '(' ? closeBrackets(ctx.tokens, next.start, next.end) : name.end
}

interface QueryTail {
  readonly clauses: { orderBy: ast.OrderItem[]; limit?: ast.Expr; offset?: ast.Expr }
  readonly spans: readonly Span[]
}

/** ORDER BY, LIMIT / FETCH FIRST and OFFSET. `LIMIT ALL` (a NULL count) means no limit. */
function queryTail(s: pg.SelectStmt, ctx: TranslateContext): QueryTail {
  const orderBy = (s.sortClause ?? []).map((o) => translateSortBy(o, ctx))
  const count = s.limitCount === undefined || ('A_Const' in s.limitCount && s.limitCount.A_Const.isnull === true) ? undefined : s.limitCount
  const limit = count === undefined ? undefined : translateExpr(count, ctx)
  const offset = s.limitOffset === undefined ? undefined : translateExpr(s.limitOffset, ctx)
  const spans = [...orderBy.map((o) => o.span), limit?.span, offset?.span].filter((x): x is Span => x !== undefined)
  return { clauses: { orderBy, ...(limit === undefined ? {} : { limit }), ...(offset === undefined ? {} : { offset }) }, spans }
}

function setOperation(s: pg.SelectStmt, ctx: TranslateContext): ast.SetOperation {
  const left = translateQuery(need(s.larg, 'larg'), ctx)
  const right = translateQuery(need(s.rarg, 'rarg'), ctx)
  const tail = queryTail(s, ctx)
  const op = s.op === 'SETOP_INTERSECT' ? 'intersect' : s.op === 'SETOP_EXCEPT' ? 'except' : 'union'
  const whole = cover(ctx, [left.span, right.span, ...tail.spans])
  const span = { start: whole.start, end: closeBrackets(ctx.tokens, whole.start, whole.end) }
  rejectClauses(s, span)
  return { kind: 'set_operation', op, all: s.all === true, left, right, ...tail.clauses, span }
}

function valuesQuery(s: pg.SelectStmt, ctx: TranslateContext): ast.ValuesQuery {
  const rows = (s.valuesLists ?? []).map((row) => ('List' in row ? translateExprs(row.List.items, ctx) : [translateExpr(row, ctx)]))
  const parts = rows.flat().map((e) => e.span)
  const first = parts[0]
  const start = first === undefined ? undefined : keywordBefore(ctx, first.start, ['values'])
  const span = spanOf(ctx, start, parts)
  if (s.sortClause !== undefined || s.limitCount !== undefined || s.limitOffset !== undefined) {
    throw unsupported('ORDER BY, LIMIT and OFFSET on VALUES are not supported', span, 'Wrap the VALUES list in SELECT * FROM (VALUES ...) AS v.')
  }
  return { kind: 'values', rows, span }
}
