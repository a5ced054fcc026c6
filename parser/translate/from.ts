/**
 * FROM items: tables, subqueries, joins, set-returning functions, and the window table functions
 * `TUMBLE` / `HOP` / `SESSION`. PostgreSQL parses `TUMBLE(game_events, ts, INTERVAL '1 minute')` as a
 * function in FROM whose first argument is a column reference (the stream's name) or a scalar subquery
 * (`TUMBLE((SELECT ...), ...)`); both are recognized here and become a `WindowTvf`.
 */
import type * as pg from 'libpg-query'
import { syntaxError, unsupported, type Span } from '../../common/errors.ts'
import type * as ast from '../ast.ts'
import { isPunct } from '../lexer.ts'
import { at, closeBrackets, cover, dottedNameSpan, need, nested, spanOf, stringsOf, tokenIndexAt, unsupportedNode, type TranslateContext } from './context.ts'
import { cteReference } from './cte.ts'
import { nodeSpan, translateExpr } from './expr.ts'
import { aliasEnd, translateQuery } from './select.ts'

export function translateFromItem(node: pg.Node, ctx: TranslateContext): ast.FromItem {
  return nested(1, () => nodeSpan(node, ctx), () => fromItem(node, ctx))
}

function fromItem(node: pg.Node, ctx: TranslateContext): ast.FromItem {
  if ('RangeVar' in node) return tableRef(node.RangeVar, ctx)
  if ('JoinExpr' in node) return joinRef(node.JoinExpr, ctx)
  if ('RangeSubselect' in node) return subqueryRef(node.RangeSubselect, ctx)
  if ('RangeFunction' in node) return functionItem(node.RangeFunction, ctx)
  throw unsupportedNode(node, nodeSpan(node, ctx))
}

function tableRef(r: pg.RangeVar, ctx: TranslateContext): ast.TableRef | ast.SubqueryRef | ast.MatchRecognizeRef {
  const parts = [r.catalogname, r.schemaname, r.relname].filter((p): p is string => p !== undefined)
  const start = at(ctx, r.location) ?? ctx.fallback.start
  const name: ast.QualifiedName = { parts, span: dottedNameSpan(ctx, start, parts.length) }
  const nameEnd = name.span.end
  const alias = r.alias?.aliasname
  const columnAliases = r.alias?.colnames === undefined ? undefined : stringsOf(r.alias.colnames)
  const span = { start, end: alias === undefined ? nameEnd : aliasEnd(ctx, nameEnd, alias, columnAliases !== undefined) }
  // `t MATCH_RECOGNIZE (...)`, or `t AS x MATCH_RECOGNIZE (...)` (the input named x, as Trino allows).
  const clause = ctx.matchRecognize?.get(span.end)
  if (clause !== undefined) {
    if (columnAliases !== undefined) throw unsupported('column aliases on the input of MATCH_RECOGNIZE are not supported', span, 'Rename the columns in a view and match over it.')
    const input: ast.TableRef = { kind: 'table_ref', name, ...(alias === undefined ? {} : { alias }), span }
    return { kind: 'match_recognize', input, clause, ...(clause.alias === undefined ? {} : { alias: clause.alias.name }), span: { start, end: clause.span.end } }
  }
  if (r.inh === false) throw unsupported('ONLY is not supported', span)
  const ref: ast.TableRef = { kind: 'table_ref', name, ...(alias === undefined ? {} : { alias }), span }
  const cte = cteReference(ref, ctx)
  if (columnAliases === undefined) return cte ?? ref
  // `t AS a(x, y)` renames t's first columns: the subquery `(SELECT * FROM t) AS a(x, y)`, which pull queries plan.
  const star: ast.SelectItem = { expr: { kind: 'star', table: [], span }, span }
  const query: ast.Select = { kind: 'select', distinct: false, targets: [star], from: [ref], groupBy: [], orderBy: [], span }
  const renamed = [...columnAliases, ...(cte?.columnAliases ?? []).slice(columnAliases.length)]
  return { kind: 'subquery_ref', query: cte?.query ?? query, alias: alias ?? name.parts[name.parts.length - 1]!, columnAliases: renamed, span }
}

const JOIN_TYPES: Partial<Record<NonNullable<pg.JoinExpr['jointype']>, ast.JoinRef['joinType']>> = {
  JOIN_INNER: 'inner',
  JOIN_LEFT: 'left',
  JOIN_RIGHT: 'right',
  JOIN_FULL: 'full',
}

function joinRef(j: pg.JoinExpr, ctx: TranslateContext): ast.JoinRef {
  const left = translateFromItem(need(j.larg, 'JoinExpr.larg'), ctx)
  const right = translateFromItem(need(j.rarg, 'JoinExpr.rarg'), ctx)
  const on = j.quals === undefined ? undefined : translateExpr(j.quals, ctx)
  const using = j.usingClause === undefined ? undefined : stringsOf(j.usingClause)
  const whole = cover(ctx, [left.span, right.span, on?.span])
  const span = { start: whole.start, end: closeBrackets(ctx.tokens, whole.start, whole.end) }
  if (j.isNatural === true) throw unsupported('NATURAL joins are not supported', span, 'Name the columns with USING (...).')
  if (j.alias !== undefined || j.join_using_alias !== undefined) throw unsupported('aliases on joins are not supported', span)
  const type = JOIN_TYPES[j.jointype ?? 'JOIN_INNER']
  if (type === undefined) throw unsupported('this join type is not supported', span)
  // CROSS JOIN is an inner join without a condition; a written inner join always has ON or USING.
  const joinType = type === 'inner' && on === undefined && using === undefined ? 'cross' : type
  return { kind: 'join', joinType, left, right, ...(on === undefined ? {} : { on }), ...(using === undefined ? {} : { using }), span }
}

function subqueryRef(r: pg.RangeSubselect, ctx: TranslateContext): ast.SubqueryRef {
  const node = need(r.subquery, 'RangeSubselect.subquery')
  if (!('SelectStmt' in node)) throw unsupportedNode(node, ctx.fallback)
  const query = translateQuery(node.SelectStmt, ctx)
  const span = parenthesized(ctx, query.span)
  const alias = r.alias?.aliasname
  const columnAliases = r.alias?.colnames === undefined ? undefined : stringsOf(r.alias.colnames)
  const full = { start: span.start, end: alias === undefined ? span.end : aliasEnd(ctx, span.end, alias) }
  // (The clause is blanked before PostgreSQL's parser sees it: left here, it would be dropped without a word.)
  const clause = ctx.matchRecognize?.get(alias === undefined ? span.end : aliasEnd(ctx, span.end, alias, columnAliases !== undefined))
  if (clause !== undefined) throw unsupported('MATCH_RECOGNIZE over a subquery is not supported', { start: full.start, end: clause.span.end }, 'Create a view of the subquery and match over the view.')
  return {
    kind: 'subquery_ref',
    query,
    ...(alias === undefined ? {} : { alias }),
    ...(columnAliases === undefined ? {} : { columnAliases }),
    ...(r.lateral === true ? { lateral: true } : {}),
    span: full,
  }
}

/** Widens a query's span over the parentheses around it. */
function parenthesized(ctx: TranslateContext, span: Span): Span {
  let i = tokenIndexAt(ctx.tokens, span.start) - 1
  let start = span.start
  while (i >= 0 && isPunct(ctx.tokens[i], '(')) start = ctx.tokens[i--]!.start
  return { start, end: closeBrackets(ctx.tokens, start, span.end) }
}

const WINDOW_TVFS: Record<ast.WindowTvf['fn'], { readonly min: number; readonly max: number; readonly usage: string }> = {
  tumble: { min: 3, max: 4, usage: 'TUMBLE(stream, time_column, size [, offset])' },
  hop: { min: 4, max: 5, usage: 'HOP(stream, time_column, slide, size [, offset])' },
  session: { min: 3, max: 4, usage: 'SESSION(stream, time_column, gap [, key])' },
}

const isWindowTvf = (name: string): name is ast.WindowTvf['fn'] => Object.hasOwn(WINDOW_TVFS, name)

/** A function in FROM: a window TVF, or any other set-returning function. */
function functionItem(r: pg.RangeFunction, ctx: TranslateContext): ast.WindowTvf | ast.FunctionRef {
  const items = r.functions ?? []
  const first = items[0]
  const pair = first !== undefined && 'List' in first ? (first.List.items ?? []) : []
  const callNode = need(pair[0], 'RangeFunction function')
  const headSpan = nodeSpan(callNode, ctx)
  if (items.length !== 1 || r.is_rowsfrom === true) throw unsupported('ROWS FROM (...) is not supported', headSpan)
  if (r.ordinality === true) throw unsupported('WITH ORDINALITY is not supported', headSpan)
  if (r.coldeflist !== undefined || (pair[1] !== undefined && Object.keys(pair[1]).length > 0)) {
    throw unsupported('column definition lists are not supported', headSpan)
  }
  const alias = r.alias?.aliasname
  if ('FuncCall' in callNode) {
    const names = stringsOf(callNode.FuncCall.funcname)
    if (names.length === 1 && isWindowTvf(names[0]!)) return windowTvf(names[0]!, callNode.FuncCall, alias, r.alias?.colnames, ctx)
  }
  const call = translateExpr(callNode, ctx)
  if (call.kind !== 'func_call') throw unsupported('only function calls may appear as functions in FROM', call.span)
  const columnAliases = r.alias?.colnames === undefined ? undefined : stringsOf(r.alias.colnames)
  const end = alias === undefined ? call.span.end : aliasEnd(ctx, call.span.end, alias, columnAliases !== undefined)
  return {
    kind: 'function_ref',
    call,
    ...(alias === undefined ? {} : { alias }),
    ...(columnAliases === undefined ? {} : { columnAliases }),
    span: { start: call.span.start, end },
  }
}

function windowTvf(fn: ast.WindowTvf['fn'], f: pg.FuncCall, alias: string | undefined, colnames: pg.Node[] | undefined, ctx: TranslateContext): ast.WindowTvf {
  const start = at(ctx, f.location) ?? ctx.fallback.start
  const args = f.args ?? []
  const callSpan = spanOf(ctx, start, args.map((a) => nodeSpan(a, ctx)))
  const { min, max, usage } = WINDOW_TVFS[fn]
  if (f.agg_star === true || f.agg_distinct === true || f.agg_filter !== undefined || f.over !== undefined || f.agg_order !== undefined) {
    throw syntaxError(`${fn.toUpperCase()} is a window table function; it takes ${usage}`, callSpan)
  }
  if (args.length < min || args.length > max) throw syntaxError(`${fn.toUpperCase()} takes ${usage}`, callSpan)
  const input = tvfInput(args[0]!, fn, usage, ctx)
  const timeColumn = descriptor(translateExpr(args[1]!, ctx))
  if (timeColumn.kind !== 'column_ref') throw syntaxError(`the second argument of ${fn.toUpperCase()} must be a time column`, timeColumn.span)
  const rest = args.slice(2).map((a) => translateExpr(a, ctx))
  const span = spanOf(ctx, start, [input.span, timeColumn.span, ...rest.map((a) => a.span)])
  const full = { start, end: alias === undefined ? span.end : aliasEnd(ctx, span.end, alias) }
  if (colnames !== undefined) throw unsupported(`column aliases on ${fn.toUpperCase()} are not supported`, full)
  return { kind: 'window_tvf', fn, input, timeColumn, args: rest, ...(alias === undefined ? {} : { alias }), span: full }
}

/** `DESCRIPTOR(ts)`, as Flink writes the time column of a window TVF: the column itself. */
function descriptor(e: ast.Expr): ast.Expr {
  if (e.kind !== 'func_call' || e.name !== 'descriptor' || e.schema !== undefined || e.args.length !== 1 || e.star || e.distinct) return e
  return e.args[0]!.kind === 'column_ref' ? e.args[0]! : e
}

/** The first argument of a window TVF: a stream or view name, a CTE's name, or a parenthesized query. */
function tvfInput(node: pg.Node, fn: string, usage: string, ctx: TranslateContext): ast.TableRef | ast.SubqueryRef {
  if ('ColumnRef' in node && (node.ColumnRef.fields ?? []).every((f) => 'String' in f)) {
    const ref = translateExpr(node, ctx)
    const parts = stringsOf(node.ColumnRef.fields)
    const table: ast.TableRef = { kind: 'table_ref', name: { parts, span: ref.span }, span: ref.span }
    return cteReference(table, ctx) ?? table
  }
  if ('SubLink' in node && node.SubLink.subLinkType === 'EXPR_SUBLINK' && node.SubLink.subselect !== undefined && 'SelectStmt' in node.SubLink.subselect) {
    const query = translateQuery(node.SubLink.subselect.SelectStmt, ctx)
    return { kind: 'subquery_ref', query, span: spanOf(ctx, at(ctx, node.SubLink.location), [query.span]) }
  }
  throw syntaxError(`the first argument of ${fn.toUpperCase()} must be a stream name or a parenthesized query; ${fn.toUpperCase()} takes ${usage}`, nodeSpan(node, ctx))
}
