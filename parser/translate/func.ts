/**
 * Function calls and the expressions PostgreSQL parses into nodes of their own but Sluice treats as calls:
 * `coalesce`, `nullif`, `greatest`, `least`, and the SQL value functions (`CURRENT_TIMESTAMP`,
 * `CURRENT_USER`, ...). Also window specifications and ORDER BY items, which calls share with queries.
 */
import type * as pg from 'libpg-query'
import { SluiceError, SqlState, unsupported, type Span } from '../../common/errors.ts'
import type * as ast from '../ast.ts'
import { isPunct } from '../lexer.ts'
import { at, closeBrackets, need, spanOf, stringsOf, tokenAt, tokenIndexAt, unsupportedNode, type TranslateContext } from './context.ts'
import { textStart, translateExpr, translateExprs } from './expr.ts'
import { resolveWindow } from './window-clause.ts'

export function funcCall(f: pg.FuncCall, ctx: TranslateContext): ast.FuncCall {
  const start = at(ctx, f.location)
  const head = spanOf(ctx, start)
  const names = stringsOf(f.funcname)
  if (names.length > 2) throw unsupported(`cross-database references are not implemented: ${names.join('.')}`, head)
  if (f.agg_within_group === true) throw unsupported('WITHIN GROUP is not supported', head)
  if (f.func_variadic === true) throw unsupported('VARIADIC arguments are not supported', head)
  const args = namedArgs(names[names.length - 1] ?? '', f.args, ctx) ?? translateExprs(f.args, ctx)
  const filter = f.agg_filter === undefined ? undefined : translateExpr(f.agg_filter, ctx)
  const orderBy = f.agg_order === undefined ? undefined : f.agg_order.map((o) => translateSortBy(o, ctx))
  const over = f.over === undefined ? undefined : windowSpec(f.over, ctx)
  const ignoreNulls = start !== undefined && ctx.ignoreNulls.delete(start)
  // Calls written in SQL syntax (`x AT TIME ZONE z`, `EXTRACT(...)`) have no parentheses after their name.
  const parens = f.funcformat === 'COERCE_SQL_SYNTAX' || start === undefined ? undefined : callParens(ctx, start)
  const span = spanOf(ctx, start, [...args.map((a) => a.span), filter?.span, ...(orderBy ?? []).map((o) => o.span), over?.span, parens])
  return {
    kind: 'func_call',
    name: names[names.length - 1] ?? '',
    ...(names.length === 2 && isWrittenSchema(ctx, start, names[0]!) ? { schema: names[0]! } : {}),
    args,
    star: f.agg_star === true,
    distinct: f.agg_distinct === true,
    ...(filter === undefined ? {} : { filter }),
    ...(orderBy === undefined ? {} : { orderBy }),
    ...(over === undefined ? {} : { over }),
    ...(ignoreNulls ? { ignoreNulls: true } : {}),
    span,
  }
}

/** Parameter names of the built-in functions called with named arguments (`make_interval(days => 3)`). */
const PARAMETER_NAMES: Readonly<Record<string, readonly string[]>> = {
  make_interval: ['years', 'months', 'weeks', 'days', 'hours', 'mins', 'secs'],
}

/**
 * Named arguments (`name => value`, `name := value`) as positional ones, the parameters left out given their
 * default 0; undefined when the call has none. An unknown name is 42883, as PostgreSQL finds no such function.
 */
function namedArgs(fn: string, nodes: readonly pg.Node[] | undefined, ctx: TranslateContext): ast.Expr[] | undefined {
  if (nodes === undefined || !nodes.some((n) => 'NamedArgExpr' in n)) return undefined
  const params = PARAMETER_NAMES[fn]
  const span = spanOf(ctx, at(ctx, (nodes.find((n) => 'NamedArgExpr' in n) as { NamedArgExpr: pg.NamedArgExpr }).NamedArgExpr.location))
  if (params === undefined) throw unsupported(`named arguments of ${fn} are not supported`, span)
  const out: (ast.Expr | undefined)[] = []
  nodes.forEach((n, i) => {
    if (!('NamedArgExpr' in n)) {
      out[i] = translateExpr(n, ctx)
      return
    }
    const named = n.NamedArgExpr
    const at = params.indexOf(named.name ?? '')
    if (at < 0 || named.arg === undefined) throw new SluiceError('plan', SqlState.undefinedFunction, `function ${fn} has no parameter named "${named.name ?? ''}"`, { span })
    out[at] = translateExpr(named.arg, ctx)
  })
  const last = out.length
  const zero = (): ast.Expr => ({ kind: 'literal', value: 0, literalType: 'integer', span })
  return Array.from({ length: last }, (_, i) => out[i] ?? zero())
}

/**
 * PostgreSQL adds `pg_catalog.` to the functions its grammar produces (`extract`, `timezone`,
 * `similar_to_escape`); only a qualifier the user wrote, found in the source, is kept.
 */
function isWrittenSchema(ctx: TranslateContext, start: number | undefined, schema: string): boolean {
  if (start === undefined) return false
  const t = tokenAt(ctx, start)
  return t !== undefined && (t.kind === 'word' || t.kind === 'quoted_ident') && t.value === schema
}

/** The span of the parenthesized argument list after a function name starting at `start`. */
function callParens(ctx: TranslateContext, start: number): Span | undefined {
  for (let i = tokenIndexAt(ctx.tokens, start); i < ctx.tokens.length; i++) {
    const t = ctx.tokens[i]!
    if (isPunct(t, '(')) return { start: t.start, end: closeBrackets(ctx.tokens, t.start, t.end) }
    if (t.kind !== 'word' && t.kind !== 'quoted_ident' && !isPunct(t, '.')) return undefined
  }
  return undefined
}

const plainCall = (name: string, args: ast.Expr[], span: Span): ast.FuncCall => ({ kind: 'func_call', name, args, star: false, distinct: false, span })

/** `COALESCE(a, b)`. */
export function coalesceCall(c: pg.CoalesceExpr, ctx: TranslateContext): ast.FuncCall {
  const args = translateExprs(c.args, ctx)
  return plainCall('coalesce', args, spanOf(ctx, at(ctx, c.location), args.map((a) => a.span)))
}

/** `GREATEST(a, b)`, `LEAST(a, b)`. */
export function minMaxCall(m: pg.MinMaxExpr, ctx: TranslateContext): ast.FuncCall {
  const args = translateExprs(m.args, ctx)
  return plainCall(m.op === 'IS_GREATEST' ? 'greatest' : 'least', args, spanOf(ctx, at(ctx, m.location), args.map((a) => a.span)))
}

/** `NULLIF(a, b)`, which libpg-query delivers as an operator expression. */
export function nullIfCall(left: ast.Expr, right: ast.Expr, start: number | undefined, ctx: TranslateContext): ast.FuncCall {
  return plainCall('nullif', [left, right], spanOf(ctx, start, [left.span, right.span]))
}

const VALUE_FUNCTIONS: Record<NonNullable<pg.SQLValueFunction['op']>, string> = {
  SVFOP_CURRENT_DATE: 'current_date',
  SVFOP_CURRENT_TIME: 'current_time',
  SVFOP_CURRENT_TIME_N: 'current_time',
  SVFOP_CURRENT_TIMESTAMP: 'current_timestamp',
  SVFOP_CURRENT_TIMESTAMP_N: 'current_timestamp',
  SVFOP_LOCALTIME: 'localtime',
  SVFOP_LOCALTIME_N: 'localtime',
  SVFOP_LOCALTIMESTAMP: 'localtimestamp',
  SVFOP_LOCALTIMESTAMP_N: 'localtimestamp',
  SVFOP_CURRENT_ROLE: 'current_role',
  SVFOP_CURRENT_USER: 'current_user',
  SVFOP_USER: 'user',
  SVFOP_SESSION_USER: 'session_user',
  SVFOP_CURRENT_CATALOG: 'current_catalog',
  SVFOP_CURRENT_SCHEMA: 'current_schema',
}

/** `CURRENT_TIMESTAMP`, `CURRENT_TIMESTAMP(3)`, `CURRENT_USER`: calls without parentheses. */
export function valueFunction(v: pg.SQLValueFunction, ctx: TranslateContext): ast.FuncCall {
  const start = at(ctx, v.location)
  const name = VALUE_FUNCTIONS[need(v.op, 'SQLValueFunction.op')]
  const withPrecision = (v.op ?? '').endsWith('_N') && v.typmod !== undefined && v.typmod >= 0
  const first = spanOf(ctx, start)
  const next = ctx.tokens[tokenIndexAt(ctx.tokens, first.end)]
  const span = withPrecision && isPunct(next, '(') ? { start: first.start, end: closeBrackets(ctx.tokens, next!.start, next!.end) } : first
  const args: ast.Expr[] = withPrecision ? [{ kind: 'literal', value: v.typmod!, literalType: 'integer', span }] : []
  return plainCall(name, args, span)
}

// ---------------------------------------------------------------------------------------------------------
// Windows and ordering

/** PostgreSQL's FRAMEOPTION_* bits (nodes/parsenodes.h). */
const Frame = {
  nonDefault: 0x1,
  range: 0x2,
  rows: 0x4,
  groups: 0x8,
  startUnboundedPreceding: 0x20,
  endUnboundedFollowing: 0x100,
  startCurrentRow: 0x200,
  endCurrentRow: 0x400,
  startOffsetPreceding: 0x800,
  endOffsetPreceding: 0x1000,
  startOffsetFollowing: 0x2000,
  endOffsetFollowing: 0x4000,
  excludeCurrentRow: 0x8000,
  excludeGroup: 0x10000,
  excludeTies: 0x20000,
} as const

function windowSpec(written: pg.WindowDef, ctx: TranslateContext): ast.WindowSpec {
  const start = at(ctx, written.location)
  const head = spanOf(ctx, start)
  const w = resolveWindow(written, ctx.windowDefs, head)
  const partitionBy = translateExprs(w.partitionClause, ctx)
  const orderBy = (w.orderClause ?? []).map((o) => translateSortBy(o, ctx))
  const frame = windowFrame(w, ctx, head)
  const parts = [...partitionBy.map((p) => p.span), ...orderBy.map((o) => o.span)]
  const span = spanOf(ctx, start, parts)
  return {
    kind: 'window_spec',
    partitionBy,
    orderBy,
    ...(frame === undefined ? {} : { frame }),
    span,
  }
}

function windowFrame(w: pg.WindowDef, ctx: TranslateContext, span: Span): ast.WindowFrame | undefined {
  const options = w.frameOptions ?? 0
  if ((options & Frame.nonDefault) === 0) return undefined
  const offset = (node: pg.Node | undefined): ast.Expr => translateExpr(need(node, 'frame offset'), ctx)
  const start: ast.FrameBound =
    (options & Frame.startUnboundedPreceding) !== 0 ? { kind: 'unbounded_preceding' }
    : (options & Frame.startOffsetPreceding) !== 0 ? { kind: 'preceding', offset: offset(w.startOffset) }
    : (options & Frame.startOffsetFollowing) !== 0 ? { kind: 'following', offset: offset(w.startOffset) }
    : { kind: 'current_row' }
  const end: ast.FrameBound =
    (options & Frame.endUnboundedFollowing) !== 0 ? { kind: 'unbounded_following' }
    : (options & Frame.endOffsetPreceding) !== 0 ? { kind: 'preceding', offset: offset(w.endOffset) }
    : (options & Frame.endOffsetFollowing) !== 0 ? { kind: 'following', offset: offset(w.endOffset) }
    : { kind: 'current_row' }
  const exclude =
    (options & Frame.excludeCurrentRow) !== 0 ? 'current_row'
    : (options & Frame.excludeGroup) !== 0 ? 'group'
    : (options & Frame.excludeTies) !== 0 ? 'ties'
    : undefined
  const mode = (options & Frame.rows) !== 0 ? 'rows' : (options & Frame.groups) !== 0 ? 'groups' : 'range'
  return { mode, start, end, ...(exclude === undefined ? {} : { exclude }) }
}

const ORDER_WORDS = new Set(['asc', 'desc', 'nulls', 'first', 'last'])

/** One ORDER BY item: `ts DESC NULLS LAST`. */
export function translateSortBy(node: pg.Node, ctx: TranslateContext): ast.OrderItem {
  if (!('SortBy' in node)) throw unsupportedNode(node, ctx.fallback)
  const s = node.SortBy
  const expr = translateExpr(need(s.node, 'SortBy.node'), ctx)
  let end = expr.span.end
  for (let i = tokenIndexAt(ctx.tokens, end); i < ctx.tokens.length; i++) {
    const t = ctx.tokens[i]!
    if (t.kind !== 'word' || !ORDER_WORDS.has(t.value)) break
    end = t.end
  }
  const span = { start: textStart(expr), end }
  if (s.sortby_dir === 'SORTBY_USING') throw unsupported('ORDER BY ... USING is not supported', span)
  const nulls = s.sortby_nulls === 'SORTBY_NULLS_FIRST' ? 'first' : s.sortby_nulls === 'SORTBY_NULLS_LAST' ? 'last' : undefined
  return { expr, direction: s.sortby_dir === 'SORTBY_DESC' ? 'desc' : 'asc', ...(nulls === undefined ? {} : { nulls }), span }
}
