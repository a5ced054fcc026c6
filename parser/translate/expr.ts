/**
 * libpg-query expression nodes -> `Expr`. Every node kind Sluice understands is translated here or in
 * `func.ts` (calls and their relatives); anything else becomes a 0A000 error pointing at the node.
 */
import type * as pg from 'libpg-query'
import { unsupported, type Span } from '../../common/errors.ts'
import type * as ast from '../ast.ts'
import { isPunct, isWord } from '../lexer.ts'
import { groupingCall } from './grouping-sets.ts'
import { at, closeBrackets, cover, dottedNameSpan, extendToEnd, need, nested, spanOf, stringsOf, tokenAt, tokenIndexAt, unsupportedNode, type TranslateContext } from './context.ts'
import { coalesceCall, funcCall, minMaxCall, nullIfCall, valueFunction } from './func.ts'
import { translateQuery } from './select.ts'
import { translatePlainType, translateType } from './types.ts'

export function translateExpr(node: pg.Node, ctx: TranslateContext): ast.Expr {
  return nested(1, () => nodeSpan(node, ctx), () => translateNode(node, ctx))
}

function translateNode(node: pg.Node, ctx: TranslateContext): ast.Expr {
  if ('ColumnRef' in node) return columnRef(node.ColumnRef, ctx)
  if ('A_Const' in node) return constant(node.A_Const, ctx)
  if ('ParamRef' in node) return param(node.ParamRef, ctx)
  if ('TypeCast' in node) return typeCast(node.TypeCast, ctx)
  if ('A_Expr' in node) return aExpr(node.A_Expr, ctx)
  if ('BoolExpr' in node) return boolExpr(node.BoolExpr, ctx)
  if ('NullTest' in node) return nullTest(node.NullTest, ctx)
  if ('BooleanTest' in node) return booleanTest(node.BooleanTest, ctx)
  if ('FuncCall' in node) return funcCall(node.FuncCall, ctx)
  if ('GroupingFunc' in node) return groupingCall(node.GroupingFunc, ctx)
  if ('CoalesceExpr' in node) return coalesceCall(node.CoalesceExpr, ctx)
  if ('MinMaxExpr' in node) return minMaxCall(node.MinMaxExpr, ctx)
  if ('SQLValueFunction' in node) return valueFunction(node.SQLValueFunction, ctx)
  if ('CaseExpr' in node) return caseExpr(node.CaseExpr, ctx)
  if ('SubLink' in node) return subLink(node.SubLink, ctx)
  if ('A_ArrayExpr' in node) return arrayExpr(node.A_ArrayExpr, ctx)
  if ('RowExpr' in node) return rowExpr(node.RowExpr, ctx)
  if ('A_Indirection' in node) return indirection(node.A_Indirection, ctx)
  // A collation changes comparisons of text only; Sluice compares by code point, so the clause is dropped.
  if ('CollateClause' in node && node.CollateClause.arg !== undefined) return translateExpr(node.CollateClause.arg, ctx)
  throw unsupportedNode(node, nodeSpan(node, ctx))
}

export const translateExprs = (nodes: readonly pg.Node[] | undefined, ctx: TranslateContext): ast.Expr[] =>
  (nodes ?? []).map((n) => translateExpr(n, ctx))

/** A best-effort span for a node we are about to reject: its own location, else the enclosing one. */
export function nodeSpan(node: pg.Node, ctx: TranslateContext): Span {
  const body = Object.values(node)[0] as { location?: number } | undefined
  const start = at(ctx, body?.location)
  return start === undefined ? ctx.fallback : spanOf(ctx, start)
}

/** Where an expression's text begins: an operator's span starts at the operator, its left operand earlier. */
export function textStart(e: ast.Expr): number {
  switch (e.kind) {
    case 'binary_op':
      return Math.min(e.span.start, textStart(e.left))
    case 'is_test':
    case 'between':
    case 'like':
    case 'in_list':
    case 'cast':
    case 'subscript':
      return Math.min(e.span.start, textStart(e.expr))
    case 'bool_expr':
      return Math.min(e.span.start, ...e.args.map(textStart))
    case 'subquery':
      return e.expr === undefined ? e.span.start : Math.min(e.span.start, textStart(e.expr))
    default:
      return e.span.start
  }
}

/** The span of an expression's whole text, for clauses that wrap one (ORDER BY items, WHEN branches). */
export const textSpan = (e: ast.Expr): Span => ({ start: textStart(e), end: e.span.end })

// ---------------------------------------------------------------------------------------------------------
// Names, constants, parameters

function columnRef(c: pg.ColumnRef, ctx: TranslateContext): ast.ColumnRef | ast.Star {
  const fields = c.fields ?? []
  const span = dottedNameSpan(ctx, at(ctx, c.location), fields.length)
  const parts = stringsOf(fields.filter((f) => 'String' in f))
  if (fields.length > 0 && 'A_Star' in fields[fields.length - 1]!) return { kind: 'star', table: parts, span }
  return { kind: 'column_ref', table: parts.slice(0, -1), name: parts[parts.length - 1] ?? '', span }
}

const MAX_INT8 = 2n ** 63n - 1n
const MIN_INT8 = -(2n ** 63n)

function constant(c: pg.A_Const, ctx: TranslateContext): ast.Literal {
  const span = literalSpan(ctx, at(ctx, c.location))
  if (c.isnull === true) return { kind: 'literal', value: null, literalType: 'null', span }
  if (c.ival !== undefined) return { kind: 'literal', value: c.ival.ival ?? 0, literalType: 'integer', span }
  if (c.fval !== undefined) return numeric(c.fval.fval ?? '0', span)
  if (c.boolval !== undefined) return { kind: 'literal', value: c.boolval.boolval ?? false, literalType: 'boolean', span }
  if (c.sval !== undefined) return { kind: 'literal', value: c.sval.sval ?? '', literalType: 'string', span }
  throw unsupported('bit string literals are not supported', span)
}

/**
 * libpg-query hands over integers beyond int4 and all decimals as text. Whole numbers that fit int8 are
 * integers (exact numbers when safe in JavaScript, else their decimal text); the rest stay numeric text.
 */
function numeric(text: string, span: Span): ast.Literal {
  const negative = text.startsWith('-')
  const digits = (negative ? text.slice(1) : text).replace(/_/g, '')
  if (/^(\d+|0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+)$/.test(digits)) {
    const big = negative ? -BigInt(digits) : BigInt(digits)
    if (big >= MIN_INT8 && big <= MAX_INT8) {
      const value = big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big.toString()
      return { kind: 'literal', value, literalType: 'integer', span }
    }
    return { kind: 'literal', value: big.toString(), literalType: 'numeric', span }
  }
  return { kind: 'literal', value: text, literalType: 'numeric', span }
}

/** A constant's span; a negative number's location is its minus sign, a separate token. */
function literalSpan(ctx: TranslateContext, start: number | undefined): Span {
  if (start === undefined) return ctx.fallback
  const first = tokenAt(ctx, start)
  if (first?.kind === 'operator' && (first.value === '-' || first.value === '+')) {
    const next = ctx.tokens[tokenIndexAt(ctx.tokens, first.end)]
    return { start, end: next?.end ?? first.end }
  }
  return { start, end: first?.end ?? start + 1 }
}

function param(p: pg.ParamRef, ctx: TranslateContext): ast.Param {
  return { kind: 'param', index: p.number ?? 0, span: spanOf(ctx, at(ctx, p.location)) }
}

// ---------------------------------------------------------------------------------------------------------
// Casts and typed literals

/** `INTERVAL '1 minute'`, `'1'::int`, `CAST('x' AS text)`: a string constant with a type is a typed literal. */
function typeCast(tc: pg.TypeCast, ctx: TranslateContext): ast.Literal | ast.Cast {
  const arg = tc.arg
  const typeName = tc.typeName
  if (arg === undefined || typeName === undefined) throw unsupportedNode({ TypeCast: tc }, ctx.fallback)
  if ('A_Const' in arg && arg.A_Const.sval !== undefined) {
    const literal = constant(arg.A_Const, ctx)
    const { type, intervalUnit } = translateType(typeName, ctx)
    const unitEnd = intervalUnit === undefined ? literal.span.end : qualifierEnd(ctx, literal.span.end)
    const span = cover(ctx, [literal.span, type.span, { start: literal.span.start, end: unitEnd }])
    const whole = { start: span.start, end: closeBrackets(ctx.tokens, span.start, span.end) }
    return intervalUnit === undefined ? { ...literal, typeName: type, span: whole } : { ...literal, typeName: type, intervalUnit, span: whole }
  }
  const expr = translateExpr(arg, ctx)
  const type = translatePlainType(typeName, ctx)
  return { kind: 'cast', expr, type, span: spanOf(ctx, at(ctx, tc.location), [expr.span, type.span]) }
}

const QUALIFIER_WORDS = new Set(['year', 'month', 'day', 'hour', 'minute', 'second', 'to'])

/** The end of an interval qualifier (`DAY TO SECOND(3)`) following a literal that ends at `from`. */
function qualifierEnd(ctx: TranslateContext, from: number): number {
  let end = from
  for (let i = tokenIndexAt(ctx.tokens, from); i < ctx.tokens.length; i++) {
    const t = ctx.tokens[i]!
    if (t.kind === 'word' && QUALIFIER_WORDS.has(t.value)) end = t.end
    else if (isPunct(t, '(') && end > from) return closeBrackets(ctx.tokens, t.start, t.end)
    else break
  }
  return end
}

// ---------------------------------------------------------------------------------------------------------
// Operators

/** An operator name; `OPERATOR(pg_catalog.~)` (psql writes it) is the built-in `~`. */
function operatorName(names: readonly pg.Node[] | undefined, span: Span): string {
  const parts = stringsOf(names)
  if (parts.length === 2 && parts[0] === 'pg_catalog') return parts[1]!
  if (parts.length !== 1) throw unsupported(`operator ${parts.join('.')} is not supported`, span)
  return parts[0]!
}

function aExpr(a: pg.A_Expr, ctx: TranslateContext): ast.Expr {
  const left = a.lexpr === undefined ? undefined : translateExpr(a.lexpr, ctx)
  const rightNode = a.rexpr
  const start = at(ctx, a.location)
  const fallbackSpan = spanOf(ctx, start, [left?.span])
  if (rightNode === undefined) throw unsupportedNode({ A_Expr: a }, fallbackSpan)
  const op = operatorName(a.name, fallbackSpan)
  switch (a.kind ?? 'AEXPR_OP') {
    case 'AEXPR_OP':
    case 'AEXPR_OP_ANY':
    case 'AEXPR_OP_ALL': {
      const right = translateExpr(rightNode, ctx)
      const span = spanOf(ctx, start, [left?.span, right.span])
      if (left === undefined) {
        if (op !== '-' && op !== '+') throw unsupported(`prefix operator ${op} is not supported`, span)
        return { kind: 'unary_op', op, operand: right, span }
      }
      const quantifier = a.kind === 'AEXPR_OP_ANY' ? 'any' : a.kind === 'AEXPR_OP_ALL' ? 'all' : undefined
      return quantifier === undefined ? { kind: 'binary_op', op, left, right, span } : { kind: 'binary_op', op, left, right, quantifier, span }
    }
    case 'AEXPR_DISTINCT':
    case 'AEXPR_NOT_DISTINCT': {
      const other = translateExpr(rightNode, ctx)
      const expr = required(left, fallbackSpan)
      const span = spanOf(ctx, start, [expr.span, other.span])
      return { kind: 'is_test', expr, test: 'distinct_from', negated: a.kind === 'AEXPR_NOT_DISTINCT', other, span }
    }
    case 'AEXPR_NULLIF':
      return nullIfCall(required(left, fallbackSpan), translateExpr(rightNode, ctx), start, ctx)
    case 'AEXPR_IN': {
      const list = 'List' in rightNode ? translateExprs(rightNode.List.items, ctx) : [translateExpr(rightNode, ctx)]
      const expr = required(left, fallbackSpan)
      return { kind: 'in_list', expr, list, negated: op === '<>', span: spanOf(ctx, start, [expr.span, ...list.map((e) => e.span)]) }
    }
    case 'AEXPR_LIKE':
    case 'AEXPR_ILIKE': {
      const pattern = translateExpr(rightNode, ctx)
      const expr = required(left, fallbackSpan)
      const span = spanOf(ctx, start, [expr.span, pattern.span])
      return { kind: 'like', expr, pattern, caseInsensitive: a.kind === 'AEXPR_ILIKE', negated: op.startsWith('!'), span }
    }
    case 'AEXPR_SIMILAR': {
      // PostgreSQL itself rewrites `x SIMILAR TO p` to `x ~ similar_to_escape(p)`; we keep that form.
      const right = translateExpr(rightNode, ctx)
      const expr = required(left, fallbackSpan)
      return { kind: 'binary_op', op, left: expr, right, span: spanOf(ctx, start, [expr.span, right.span]) }
    }
    case 'AEXPR_BETWEEN':
    case 'AEXPR_NOT_BETWEEN': {
      const bounds = 'List' in rightNode ? translateExprs(rightNode.List.items, ctx) : []
      const expr = required(left, fallbackSpan)
      const [low, high] = bounds
      if (low === undefined || high === undefined) throw unsupportedNode({ A_Expr: a }, fallbackSpan)
      const span = spanOf(ctx, start, [expr.span, low.span, high.span])
      return { kind: 'between', expr, low, high, negated: a.kind === 'AEXPR_NOT_BETWEEN', span }
    }
    case 'AEXPR_BETWEEN_SYM':
    case 'AEXPR_NOT_BETWEEN_SYM':
      throw unsupported('BETWEEN SYMMETRIC is not supported', fallbackSpan)
  }
}

function required(e: ast.Expr | undefined, span: Span): ast.Expr {
  if (e === undefined) throw unsupported('this operator form is not supported', span)
  return e
}

function boolExpr(b: pg.BoolExpr, ctx: TranslateContext): ast.BoolExpr {
  const args = translateExprs(b.args, ctx)
  const op = b.boolop === 'AND_EXPR' ? 'and' : b.boolop === 'OR_EXPR' ? 'or' : 'not'
  return { kind: 'bool_expr', op, args, span: spanOf(ctx, at(ctx, b.location), args.map((a) => a.span)) }
}

function nullTest(n: pg.NullTest, ctx: TranslateContext): ast.IsTest {
  const expr = translateExpr(need(n.arg, 'NullTest.arg'), ctx)
  const span = isTestSpan(ctx, at(ctx, n.location), expr)
  return { kind: 'is_test', expr, test: 'null', negated: n.nulltesttype === 'IS_NOT_NULL', span }
}

/** `IS UNKNOWN` is `IS NULL` restricted to booleans; Sluice keeps the one test. */
function booleanTest(b: pg.BooleanTest, ctx: TranslateContext): ast.IsTest {
  const expr = translateExpr(need(b.arg, 'BooleanTest.arg'), ctx)
  const span = isTestSpan(ctx, at(ctx, b.location), expr)
  const kind = b.booltesttype ?? 'IS_TRUE'
  const test = kind.includes('TRUE') ? 'true' : kind.includes('FALSE') ? 'false' : 'null'
  return { kind: 'is_test', expr, test, negated: kind.startsWith('IS_NOT'), span }
}

/** `x IS NOT NULL` / `x ISNULL`: the test's own words follow its location. */
function isTestSpan(ctx: TranslateContext, start: number | undefined, expr: ast.Expr): Span {
  const span = spanOf(ctx, start, [expr.span])
  let end = span.end
  for (let i = tokenIndexAt(ctx.tokens, span.start); i < ctx.tokens.length; i++) {
    const t = ctx.tokens[i]!
    if (t.kind !== 'word' || !['is', 'not', 'null', 'true', 'false', 'unknown', 'isnull', 'notnull'].includes(t.value)) break
    end = Math.max(end, t.end)
  }
  return { start: span.start, end }
}

// ---------------------------------------------------------------------------------------------------------
// Compound expressions

function caseExpr(c: pg.CaseExpr, ctx: TranslateContext): ast.CaseExpr {
  const operand = c.arg === undefined ? undefined : translateExpr(c.arg, ctx)
  const whens = (c.args ?? []).map((w) => {
    if (!('CaseWhen' in w)) throw unsupportedNode(w, ctx.fallback)
    return { when: translateExpr(need(w.CaseWhen.expr, 'CaseWhen.expr'), ctx), then: translateExpr(need(w.CaseWhen.result, 'CaseWhen.result'), ctx) }
  })
  const otherwise = c.defresult === undefined ? undefined : translateExpr(c.defresult, ctx)
  const parts = [operand?.span, ...whens.flatMap((w) => [w.when.span, w.then.span]), otherwise?.span]
  const span = extendToEnd(ctx, spanOf(ctx, at(ctx, c.location), parts))
  const base = { kind: 'case' as const, whens, span }
  return { ...base, ...(operand === undefined ? {} : { operand }), ...(otherwise === undefined ? {} : { else: otherwise }) }
}

function subLink(s: pg.SubLink, ctx: TranslateContext): ast.SubqueryExpr {
  const start = at(ctx, s.location)
  const headSpan = spanOf(ctx, start)
  if (s.subselect === undefined || !('SelectStmt' in s.subselect)) throw unsupported('this subquery form is not supported', headSpan)
  const query = translateQuery(s.subselect.SelectStmt, ctx)
  switch (s.subLinkType) {
    case 'EXPR_SUBLINK':
      return { kind: 'subquery', mode: 'scalar', query, span: spanOf(ctx, start, [query.span]) }
    case 'EXISTS_SUBLINK':
      return { kind: 'subquery', mode: 'exists', query, span: spanOf(ctx, start, [query.span]) }
    case 'ARRAY_SUBLINK':
      return { kind: 'subquery', mode: 'array', query, span: spanOf(ctx, start, [query.span]) }
    case 'ANY_SUBLINK': {
      const ops = stringsOf(s.operName)
      if (s.testexpr === undefined || (ops.length > 0 && operatorName(s.operName, headSpan) !== '=')) {
        throw unsupported(`${ops.join('.')} ANY (subquery) is not supported; use IN (subquery)`, headSpan)
      }
      const expr = translateExpr(s.testexpr, ctx)
      return { kind: 'subquery', mode: 'in', expr, query, span: spanOf(ctx, start, [expr.span, query.span]) }
    }
    default:
      throw unsupported(`${(s.subLinkType ?? 'this').replace('_SUBLINK', '')} subqueries are not supported`, headSpan)
  }
}

function arrayExpr(a: pg.A_ArrayExpr, ctx: TranslateContext): ast.ArrayExpr {
  const elements = translateExprs(a.elements, ctx)
  return { kind: 'array', elements, span: spanOf(ctx, at(ctx, a.location), elements.map((e) => e.span)) }
}

function rowExpr(r: pg.RowExpr, ctx: TranslateContext): ast.RowExpr {
  const fields = translateExprs(r.args, ctx)
  return { kind: 'row', fields, span: spanOf(ctx, at(ctx, r.location), fields.map((e) => e.span)) }
}

/** `x[1]`, `x[1:2]`, `(f(x)).field`: one node per step, the innermost first. */
function indirection(ind: pg.A_Indirection, ctx: TranslateContext): ast.Expr {
  if (ind.arg === undefined) throw unsupportedNode({ A_Indirection: ind }, ctx.fallback)
  let expr = translateExpr(ind.arg, ctx)
  const start = textStart(expr)
  for (const step of ind.indirection ?? []) {
    if ('A_Indices' in step) {
      const index = step.A_Indices.uidx === undefined ? undefined : translateExpr(step.A_Indices.uidx, ctx)
      const lower = step.A_Indices.lidx === undefined ? undefined : translateExpr(step.A_Indices.lidx, ctx)
      const span = { start, end: bracketAfter(ctx, expr.span.end) }
      expr = { kind: 'subscript', expr, slice: step.A_Indices.is_slice === true, span, ...(index === undefined ? {} : { index }), ...(lower === undefined ? {} : { lower }) }
    } else if ('String' in step) {
      const field = step.String.sval ?? ''
      expr = { kind: 'field_select', expr, field, span: { start, end: fieldEnd(ctx, expr.span.end, field) } }
    } else {
      throw unsupported('selecting all fields with (x).* is not supported', spanOf(ctx, start, [expr.span]))
    }
  }
  return expr
}

/** The end of the `[...]` following offset `from` (past a closing parenthesis, if the base was wrapped). */
function bracketAfter(ctx: TranslateContext, from: number): number {
  for (let i = tokenIndexAt(ctx.tokens, from); i < ctx.tokens.length; i++) {
    const t = ctx.tokens[i]!
    if (isPunct(t, '[')) return closeBrackets(ctx.tokens, t.start, t.end)
    if (!isPunct(t, ')')) break
  }
  return from
}

/** The end of `.field` following offset `from`. */
function fieldEnd(ctx: TranslateContext, from: number, field: string): number {
  for (let i = tokenIndexAt(ctx.tokens, from); i < ctx.tokens.length; i++) {
    const t = ctx.tokens[i]!
    if ((t.kind === 'word' || t.kind === 'quoted_ident') && t.value === field) return t.end
    if (!isPunct(t, ')') && !isPunct(t, '.') && !isWord(t, field)) break
  }
  return from
}
