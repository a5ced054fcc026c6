/**
 * Binds AST expressions against a scope: resolves names to column indexes, infers and checks types,
 * coerces untyped literals to the type they meet (as Postgres does with `unknown`), folds typed literals,
 * picks functions and operators, and collects aggregates when the context allows them.
 */
import * as ast from '../parser/ast.ts'
import { SluiceError, SqlState, assertNever, planError, unsupported, type Span } from '../common/errors.ts'
import {
  Types,
  isNumeric,
  parseInterval,
  parseValue,
  typeDisplayName,
  typeFromName,
  arrayOf,
  numericType,
  type SqlType,
  type Value,
} from '../common/types.ts'
import { Numeric, checkNumericTypmod, numNeg, parseNumeric } from '../common/numeric.ts'
import type { BoundExpr, EmitContext, ScalarImpl } from '../expr/bound.ts'
import { resolveAggregate, isAggregateName, type BoundAggregate } from '../expr/aggregates.ts'
import { resolveFunction, resolveOperator, isKnownFunction, comparable } from './functions.ts'
import { jsonOperandType } from '../expr/json-functions.ts'
import { T as PgT } from './pg-catalog.ts'
import { Scope } from './scope.ts'
import { bindWindowCall, type BoundWindowCall } from './window-functions.ts'
import { orderedAggregate } from './ordered-aggregate.ts'
import { castValue, likeRegex, posixRegex } from '../expr/runtime.ts'
import { compileExpr } from '../expr/compile.ts'
import { isZoneCast, timestamptzLiteral } from '../expr/time-zone-eval.ts'

export interface BindContext {
  readonly scope: Scope
  /** Parameter types; `unknown` entries are filled in from how the parameter is used. */
  readonly params: SqlType[]
  /** Where aggregates go when allowed here; undefined means aggregates are an error (e.g. in WHERE). */
  readonly aggregates?: BoundAggregate[]
  /** Where window function calls go when allowed here (a continuous view's select list). */
  readonly windows?: BoundWindowCall[]
  /** The clause being bound, for messages: 'WHERE', 'GROUP BY', ... */
  readonly clause: string
}

const boolConst = (value: boolean | null): BoundExpr => ({ kind: 'const', value, type: Types.bool })

export function bindExpr(e: ast.Expr, ctx: BindContext): BoundExpr {
  switch (e.kind) {
    case 'column_ref':
      return bindColumn(e, ctx)
    case 'literal':
      if (e.typeName !== undefined && ctx.scope.hooks !== undefined) {
        const target = resolveCastTarget(e.typeName)
        if (typeof target === 'string') return ctx.scope.hooks.cast({ kind: 'const', value: e.value === null ? null : String(e.value), type: Types.unknown }, target, e.span)
        if (target === PgT.oidArray) return coerceTo({ kind: 'const', value: e.value === null ? null : String(e.value), type: Types.unknown }, target, e.span, 'cast')
      }
      return bindLiteral(e)
    case 'param':
      return bindParam(e, ctx)
    case 'binary_op':
      return bindBinary(e, ctx)
    case 'unary_op': {
      const operand = bindExpr(e.operand, ctx)
      if (e.op === '+') return operand
      if (operand.kind === 'const' && typeof operand.value === 'number') return { kind: 'const', value: -operand.value, type: operand.type }
      if (operand.kind === 'const' && operand.value instanceof Numeric) return { kind: 'const', value: numNeg(operand.value), type: operand.type }
      if (operand.type.name === 'numeric' && !operand.type.element) return call('-', { strict: true, emit: ([x]) => `H.numNeg(${x})` }, [operand], Types.numeric)
      if (operand.type.name === 'interval') return call('-', { strict: true, emit: ([x]) => `H.intervalNegate(${x})` }, [operand], operand.type)
      if (!isNumeric(operand.type)) throw operatorMissing('-', undefined, operand.type, e.span)
      return call('-', { strict: true, emit: ([x]) => `(-${x})` }, [operand], operand.type)
    }
    case 'bool_expr': {
      const args = e.args.map((a) => coerceTo(bindExpr(a, ctx), Types.bool, spanOf(a), `argument of ${e.op.toUpperCase()}`))
      return { kind: 'logic', op: e.op, args, type: Types.bool }
    }
    case 'func_call':
      return bindFunction(e, ctx)
    case 'cast':
      return bindCast(e, ctx)
    case 'case':
      return bindCase(e, ctx)
    case 'in_list': {
      const x = bindExpr(e.expr, ctx)
      const items = e.list.map((i) => bindExpr(i, ctx))
      const target = x.type.name === 'unknown' ? (items.find((i) => i.type.name !== 'unknown')?.type ?? Types.text) : x.type
      const list = items.map((item, i) => {
        const coerced = coerceTo(item, target, spanOf(e.list[i]!), 'IN list element')
        if (!comparable(coerced.type, target)) throw operatorMissing('=', target, coerced.type, spanOf(e.list[i]!))
        return coerced
      })
      return { kind: 'in_list', expr: coerceTo(x, target, spanOf(e.expr), 'IN'), list, negated: e.negated, type: Types.bool }
    }
    case 'between': {
      const x = bindExpr(e.expr, ctx)
      const low = compare('>=', x, bindExpr(e.low, ctx), e.span)
      const high = compare('<=', x, bindExpr(e.high, ctx), e.span)
      const both: BoundExpr = { kind: 'logic', op: 'and', args: [low, high], type: Types.bool }
      return e.negated ? { kind: 'logic', op: 'not', args: [both], type: Types.bool } : both
    }
    case 'is_test':
      return bindIsTest(e, ctx)
    case 'like': {
      const x = coerceTo(bindExpr(e.expr, ctx), Types.text, spanOf(e.expr), 'LIKE')
      const pattern = coerceTo(bindExpr(e.pattern, ctx), Types.text, spanOf(e.pattern), 'LIKE')
      const neg = e.negated ? '!' : ''
      return call(e.caseInsensitive ? 'ilike' : 'like', { strict: true, emit: ([v, p], c) => `(${neg}${likeMatcher(p!, e.caseInsensitive, c)}.test(${v}))` }, [x, pattern], Types.bool)
    }
    case 'array': {
      const items = e.elements.map((i) => bindExpr(i, ctx))
      const element = items.find((i) => i.type.name !== 'unknown')?.type ?? Types.text
      // An array of arrays would be printed with its inner arrays quoted, doubling per level: a 30-deep
      // ARRAY[ARRAY[...]] took gigabytes.
      if (element.element !== undefined) throw unsupported('multidimensional arrays are not supported', e.span)
      const args = items.map((item, i) => coerceTo(item, element, spanOf(e.elements[i]!), 'ARRAY element'))
      return call('array', { strict: false, emit: (xs) => `[${xs.join(', ')}]` }, args, arrayOf(element))
    }
    case 'subquery':
      if (ctx.scope.hooks !== undefined) return ctx.scope.hooks.subquery(e, ctx.scope, ctx.params)
      throw unsupported('subqueries in expressions are not supported here yet', e.span)
    case 'row':
      throw unsupported('row constructors are not supported', e.span)
    case 'star':
      throw planError(SqlState.syntaxError, '"*" is not allowed here', e.span)
    case 'subscript': {
      const arr = bindExpr(e.expr, ctx)
      // A `name` is a fixed array of characters: `typname[0]` is its first character (pg_dump).
      if (arr.type.pgOid === PgT.name.pgOid && !e.slice && e.index !== undefined) {
        const i = coerceTo(bindExpr(e.index, ctx), Types.int4, spanOf(e.index), 'array subscript')
        return call('subscript', { strict: true, emit: ([a, x]) => `(${a}[${x}] ?? null)` }, [arr, i], PgT.char)
      }
      if (arr.type.element === undefined) throw unsupported('subscripts of non-arrays are not supported yet', e.span)
      // Arrays are 1-based in SQL (int2vector and oidvector, of the catalog, 0-based); out of range gives NULL.
      const base = arr.type.pgOid === 22 || arr.type.pgOid === 30 ? 0 : 1
      const bound = (x: ast.Expr | undefined): BoundExpr | null => (x === undefined ? null : coerceTo(bindExpr(x, ctx), Types.int4, spanOf(x), 'array subscript'))
      if (e.slice) {
        const [lo, hi] = [bound(e.lower), bound(e.index)]
        const args = [arr, ...(lo ? [lo] : []), ...(hi ? [hi] : [])]
        return call('slice', { strict: true, emit: ([a, x, y]) => `${a}.slice(Math.max(${lo ? x : base} - ${base}, 0), Math.max(${hi ? (lo ? y : x) : `${a}.length - 1 + ${base}`} - ${base} + 1, 0))` }, args, arr.type)
      }
      const index = bound(e.index)!
      return call('subscript', { strict: true, emit: ([a, i]) => `(${a}[${i} - ${base}] ?? null)` }, [arr, index], arr.type.element)
    }
    case 'field_select':
      if (ctx.scope.hooks?.fieldSelect !== undefined) return ctx.scope.hooks.fieldSelect(bindExpr(e.expr, ctx), e.field, e.span)
      throw unsupported('selecting a field of a composite value is not supported', e.span)
    default:
      return assertNever(e, 'expression')
  }
}

export function spanOf(e: ast.Expr): Span {
  return e.span
}

const call = (fn: string, impl: ScalarImpl, args: readonly BoundExpr[], type: SqlType): BoundExpr => ({ kind: 'call', fn, impl, args, type })

function bindColumn(e: ast.ColumnRef, ctx: BindContext): BoundExpr {
  const index = ctx.scope.resolve(e.table, e.name, e.span)
  const c = ctx.scope.columns[index]!
  return { kind: 'column', index, name: c.name, type: c.type }
}

function bindLiteral(e: ast.Literal): BoundExpr {
  if (e.typeName !== undefined) {
    const type = resolveType(e.typeName)
    if (e.value === null) return { kind: 'const', value: null, type }
    try {
      if (type.name === 'timestamptz' && !type.element) return timestamptzLiteral(String(e.value))
      const value = type.name === 'interval' && !type.element ? parseInterval(String(e.value), e.intervalUnit) : parseValue(String(e.value), type)
      return { kind: 'const', value, type }
    } catch (err) {
      throw withSpan(err, e.span)
    }
  }
  switch (e.literalType) {
    case 'integer': {
      const n = Number(e.value)
      return { kind: 'const', value: n, type: Math.abs(n) <= 2147483647 ? Types.int4 : Types.int8 }
    }
    case 'numeric':
      return { kind: 'const', value: parseNumeric(String(e.value)), type: Types.numeric }
    case 'string':
      return { kind: 'const', value: String(e.value), type: Types.unknown }
    case 'boolean':
      return boolConst(Boolean(e.value))
    case 'null':
      return { kind: 'const', value: null, type: Types.unknown }
  }
}

function bindParam(e: ast.Param, ctx: BindContext): BoundExpr {
  const index = e.index - 1
  if (index < 0 || index > 65535) throw planError(SqlState.syntaxError, `there is no parameter $${e.index}`, e.span)
  while (ctx.params.length <= index) ctx.params.push(Types.unknown)
  return { kind: 'param', index, type: ctx.params[index]! }
}

/** Gives an untyped literal or parameter the type it meets; checks other values can become `target`. */
export function coerceTo(b: BoundExpr, target: SqlType, span: Span, what: string, ctx?: BindContext): BoundExpr {
  if (b.type.name === target.name && !!b.type.element === !!target.element) return b
  if (b.kind === 'const' && b.type.name === 'unknown') {
    if (b.value === null) return { kind: 'const', value: null, type: target }
    try {
      if (target.name === 'timestamptz' && !target.element) return timestamptzLiteral(String(b.value))
      return { kind: 'const', value: parseValue(String(b.value), target), type: target }
    } catch (err) {
      throw withSpan(err, span)
    }
  }
  if (b.kind === 'param' && b.type.name === 'unknown') return { kind: 'param', index: b.index, type: target }
  if (isNumeric(b.type) && isNumeric(target)) return numericToFloat(b, target) ?? b
  if (target.name === 'bool' && b.type.name !== 'bool') {
    throw planError(SqlState.datatypeMismatch, `${what} must be type boolean, not type ${typeDisplayName(b.type)}`, span)
  }
  if ((target.name === 'text' || target.name === 'unknown') && b.type.name === 'unknown') return { ...b, type: Types.text } as BoundExpr
  if (ctx === undefined && target.name === 'text' && b.type.name === 'text') return b
  if (!comparable(b.type, target)) {
    throw planError(SqlState.datatypeMismatch, `${what} is of type ${typeDisplayName(b.type)} but expression of type ${typeDisplayName(target)} was expected`, span)
  }
  return b
}

function withSpan(err: unknown, span: Span): unknown {
  if (err instanceof SluiceError && err.span === undefined) {
    return new SluiceError('plan', err.sqlstate, err.message, { span, detail: err.detail, hint: err.hint })
  }
  return err
}

function operatorMissing(op: string, left: SqlType | undefined, right: SqlType, span: Span): SluiceError {
  const sig = left === undefined ? `${op} ${typeDisplayName(right)}` : `${typeDisplayName(left)} ${op} ${typeDisplayName(right)}`
  return planError(SqlState.undefinedFunction, `operator does not exist: ${sig}`, span, 'No operator matches the given name and argument types. You might need to add explicit type casts.')
}

/** Untyped literals and parameters on one side take the other side's type. */
function unify(left: BoundExpr, right: BoundExpr, leftSpan: Span, rightSpan: Span, op: string): [BoundExpr, BoundExpr] {
  const lu = left.type.name === 'unknown'
  const ru = right.type.name === 'unknown'
  // `'x' || ts`: an untyped literal beside a scalar (json too) is text, as PostgreSQL's textanycat takes it
  // (jsonb and bytea have `||` of their own).
  const other = (lu ? right : left).type
  if (op === '||' && lu !== ru && !other.element && other.name !== 'jsonb' && other.name !== 'bytea') {
    return lu ? [coerceTo(left, Types.text, leftSpan, 'operand'), right] : [left, coerceTo(right, Types.text, rightSpan, 'operand')]
  }
  if (lu && !ru) {
    // `'1 day' + ts` is an interval; `'2024-01-01' - ts` is a timestamp (there is no interval - timestamp).
    const target = op === '+' && (right.type.name === 'timestamptz' || right.type.name === 'timestamp' || right.type.name === 'time') ? Types.interval : right.type
    return [coerceTo(left, target, leftSpan, 'operand'), right]
  }
  if (ru && !lu) {
    const jsonKey = jsonOperandType(op, left.type)
    if (jsonKey !== undefined) return [left, coerceTo(right, jsonKey, rightSpan, 'operand')]
    const isTime = left.type.name === 'timestamptz' || left.type.name === 'timestamp' || left.type.name === 'date' || left.type.name === 'time'
    const target = (op === '+' || op === '-') && isTime ? Types.interval : left.type
    return [left, coerceTo(right, target, rightSpan, 'operand')]
  }
  if (lu && ru) return [coerceTo(left, Types.text, leftSpan, 'operand'), coerceTo(right, Types.text, rightSpan, 'operand')]
  return [left, right]
}

function compare(op: string, l: BoundExpr, r: BoundExpr, span: Span): BoundExpr {
  const [left, right] = unify(l, r, span, span, op)
  const resolved = resolveOperator(op, left.type, right.type)
  if (resolved === undefined) throw operatorMissing(op, left.type, right.type, span)
  return call(op, resolved.impl, [left, right], resolved.type)
}

function bindBinary(e: ast.BinaryOp, ctx: BindContext): BoundExpr {
  const l = bindExpr(e.left, ctx)
  const r = bindExpr(e.right, ctx)
  if (e.quantifier !== undefined) return bindQuantified(e, l, r, ctx)
  const [left, right] = unify(l, r, spanOf(e.left), spanOf(e.right), e.op)
  noteParamType(l, left, ctx)
  noteParamType(r, right, ctx)
  const resolved = resolveOperator(e.op, left.type, right.type)
  if (resolved === undefined) throw operatorMissing(e.op, left.type, right.type, e.span)
  const bound = foldConstant(call(e.op, resolved.impl, [left, right], resolved.type))
  if (REGEX_OPS.has(e.op)) checkPattern(right, e.op.endsWith('*'), spanOf(e.right))
  return bound
}

/** A constant LIKE pattern (a string literal in the generated code) is compiled once, not looked up per row. */
const likeMatcher = (p: string, caseInsensitive: boolean, c: EmitContext): string =>
  p.startsWith('"') ? c.constant(likeRegex(JSON.parse(p) as string, caseInsensitive)) : `H.likeRegex(${p}, ${caseInsensitive})`

const REGEX_OPS = new Set(['~', '~*', '!~', '!~*'])

/**
 * A constant regular expression is compiled when the statement is planned, so that a continuous view with a
 * malformed pattern (2201B) or one that cannot run in linear time (0A000) is refused by CREATE rather than
 * failing on its first event. The compiled matcher stays cached for the runtime.
 */
function checkPattern(pattern: BoundExpr, caseInsensitive: boolean, span: Span): void {
  if (pattern.kind !== 'const' || typeof pattern.value !== 'string') return
  try {
    posixRegex(pattern.value, caseInsensitive)
  } catch (err) {
    if (!(err instanceof SluiceError)) throw err
    throw new SluiceError('plan', err.sqlstate, err.message, { span, hint: err.hint, detail: err.detail })
  }
}

function bindQuantified(e: ast.BinaryOp, x: BoundExpr, arr: BoundExpr, ctx: BindContext): BoundExpr {
  if (arr.type.element === undefined && arr.type.name !== 'unknown') {
    throw planError(SqlState.wrongObjectType, `op ANY/ALL (array) requires array on right side`, e.span)
  }
  const element: SqlType = arr.type.element ?? (arr.type.name === 'unknown' ? x.type : arr.type)
  // `x = ANY($1)`: an untyped literal or parameter is an array of x's type (and x of the array's elements).
  const untyped = arr.type.name === 'unknown' && (arr.kind === 'const' || arr.kind === 'param')
  const list = untyped && element.name !== 'unknown' ? coerceTo(arr, arrayOf(element), e.span, 'ANY') : arr
  noteParamType(arr, list, ctx)
  const value = x.type.name === 'unknown' && element.name !== 'unknown' ? coerceTo(x, element, e.span, 'operand') : x
  noteParamType(x, value, ctx)
  const probe = resolveOperator(e.op, value.type.name === 'unknown' ? element : value.type, element)
  if (probe === undefined) throw operatorMissing(e.op, x.type, element, e.span)
  const cmp = e.op === '=' ? '===' : e.op === '<>' ? '!==' : e.op
  // Three-valued, as PostgreSQL: a NULL element makes ANY NULL when nothing matched, ALL NULL when nothing failed.
  const decided = e.quantifier === 'any' ? 'true' : 'false'
  const test = e.quantifier === 'any' ? '' : '!'
  return call(
    `${e.op} ${e.quantifier}`,
    { strict: true, emit: ([v, a]) => `((arr$) => { let null$ = false; for (const el$ of arr$) { if (el$ === null) null$ = true; else if (${test}(H.compareValues(${v}, el$) ${cmp} 0)) return ${decided} } return null$ ? null : ${e.quantifier === 'any' ? 'false' : 'true'} })(${a})` },
    [value, list],
    Types.bool,
  )
}

/** Remember a parameter's inferred type so Describe reports it. */
function noteParamType(before: BoundExpr, after: BoundExpr, ctx: BindContext): void {
  if (before.kind === 'param' && after.kind === 'param' && ctx.params[before.index]?.name === 'unknown') ctx.params[before.index] = after.type
}

function bindIsTest(e: ast.IsTest, ctx: BindContext): BoundExpr {
  const x = bindExpr(e.expr, ctx)
  switch (e.test) {
    case 'null':
      return { kind: 'is_null', expr: x, negated: e.negated, type: Types.bool }
    case 'true':
    case 'false': {
      const b = coerceTo(x, Types.bool, spanOf(e.expr), 'argument of IS TRUE')
      const want = e.test === 'true'
      return call(`is ${e.negated ? 'not ' : ''}${e.test}`, { strict: false, emit: ([v]) => `(${e.negated ? '!' : ''}(${v} === ${want}))` }, [b], Types.bool)
    }
    case 'distinct_from': {
      const other = bindExpr(e.other!, ctx)
      const [left, right] = unify(x, other, spanOf(e.expr), spanOf(e.other!), '=')
      if (!comparable(left.type, right.type)) throw operatorMissing('IS DISTINCT FROM', left.type, right.type, e.span)
      return call(
        e.negated ? 'is not distinct from' : 'is distinct from',
        { strict: false, emit: ([a, b]) => `(${e.negated ? '' : '!'}((${a} === null && ${b} === null) || (${a} !== null && ${b} !== null && H.equalValues(${a}, ${b}))))` },
        [left, right],
        Types.bool,
      )
    }
  }
}

function bindCase(e: ast.CaseExpr, ctx: BindContext): BoundExpr {
  const operand = e.operand ? bindExpr(e.operand, ctx) : undefined
  const whens = e.whens.map((w) => ({
    when: operand === undefined ? coerceTo(bindExpr(w.when, ctx), Types.bool, spanOf(w.when), 'argument of CASE/WHEN') : compare('=', operand, bindExpr(w.when, ctx), spanOf(w.when)),
    then: bindExpr(w.then, ctx),
  }))
  const otherwise = e.else ? bindExpr(e.else, ctx) : null
  const results = [...whens.map((w) => w.then), ...(otherwise ? [otherwise] : [])]
  let type: SqlType = results.find((r) => r.type.name !== 'unknown')?.type ?? Types.text
  for (const r of results) if (isNumeric(r.type) && isNumeric(type) && r.type.name !== type.name) type = r.type.name === 'float8' || type.name === 'float8' ? Types.float8 : Types.numeric
  return {
    kind: 'case',
    whens: whens.map((w, i) => ({ when: w.when, then: coerceTo(w.then, type, spanOf(e.whens[i]!.then), 'CASE result') })),
    else: otherwise ? coerceTo(otherwise, type, spanOf(e.else!), 'CASE result') : null,
    type,
  }
}

export function resolveType(t: ast.TypeRef): SqlType {
  const type = typeFromName(t.name, t.isArray)
  if (type === undefined) throw planError(SqlState.undefinedObject, `type "${t.name}" does not exist`, t.span)
  if (type.name === 'numeric' && t.modifiers.length > 0) return numericTypmod(type, t.modifiers, t.span)
  return type
}

/** numeric(p) and numeric(p, s), checked as PostgreSQL's numerictypmodin checks them. */
function numericTypmod(type: SqlType, modifiers: readonly number[], span: Span | undefined): SqlType {
  if (modifiers.length > 2) throw planError(SqlState.invalidParameterValue, 'invalid NUMERIC type modifier', span)
  const [precision, scale = 0] = modifiers as [number, number | undefined]
  try {
    checkNumericTypmod(precision, scale)
  } catch (err) {
    throw span === undefined ? err : withSpan(err, span)
  }
  const el = numericType(precision, scale)
  return type.element ? arrayOf(el) : el
}

function bindCast(e: ast.Cast, ctx: BindContext): BoundExpr {
  const resolved = resolveCastTarget(e.type)
  const inner = bindExpr(e.expr, ctx)
  if (typeof resolved === 'string' && ctx.scope.hooks !== undefined) return ctx.scope.hooks.cast(inner, resolved, e.span)
  const target = resolved === 'name' || resolved === 'char' || resolved === 'varchar' ? resolveType(e.type) : resolved
  if (typeof target === 'string') {
    throw unsupported(`casts to ${target} are not supported here yet`, e.span)
  }
  if (inner.kind === 'const' && inner.value !== null && !isZoneCast(inner.type, target)) {
    try {
      if (inner.type.name === 'unknown' && target.name === 'timestamptz' && !target.element) return timestamptzLiteral(String(inner.value))
      const value = inner.type.name === 'unknown' ? parseValue(String(inner.value), target) : castValue(inner.value, inner.type, target)
      return { kind: 'const', value, type: target }
    } catch (err) {
      throw withSpan(err, e.span)
    }
  }
  if (inner.kind === 'const' && inner.value === null) return { kind: 'const', value: null, type: target }
  if (inner.kind === 'param' && inner.type.name === 'unknown') {
    ctx.params[inner.index] = target
    return { kind: 'param', index: inner.index, type: target }
  }
  return { kind: 'cast', expr: inner, type: target }
}

function resolveCastTarget(t: ast.TypeRef): SqlType | 'regclass' | 'regtype' | 'regproc' | 'regprocedure' | 'regoper' | 'regoperator' | 'oid' | 'regnamespace' | 'name' | 'char' | 'varchar' {
  const n = t.name.replace(/^pg_catalog\./, '')
  const catalogType = n === 'regclass' || n === 'regtype' || n === 'regproc' || n === 'regprocedure' || n === 'regoper' || n === 'regoperator' || n === 'oid' || n === 'regnamespace'
  if (catalogType && !t.isArray) return n
  // `'{16525}'::oid[]` (pg_dump): an array of OIDs.
  if (catalogType) return PgT.oidArray
  if ((n === 'name' || n === 'char' || n === 'varchar' || n === 'character varying') && !t.isArray) return n === 'character varying' ? 'varchar' : n
  return resolveType(t)
}

function bindFunction(e: ast.FuncCall, ctx: BindContext): BoundExpr {
  if (e.over !== undefined) return ctx.scope.hooks?.window !== undefined ? ctx.scope.hooks.window(e, ctx) : bindWindowCall(e, ctx)
  if (e.name === 'grouping' && e.schema === undefined) return bindGroupingCall(e, ctx)
  if (isAggregateName(e.name)) {
    return bindAggregate(e, ctx)
  }
  if (e.star) throw planError(SqlState.syntaxError, `${e.name}(*) is only valid for aggregates`, e.span)
  if (e.filter !== undefined) throw planError(SqlState.syntaxError, `FILTER specified, but ${e.name} is not an aggregate function`, e.span)
  const args = e.args.map((a) => bindExpr(a, ctx))
  const resolved = resolveFunction(e.name, args.map((a) => a.type))
  if (resolved === undefined) {
    const sig = `${e.name}(${args.map((a) => typeDisplayName(a.type)).join(', ')})`
    throw planError(
      SqlState.undefinedFunction,
      `function ${sig} does not exist`,
      e.span,
      isKnownFunction(e.name) ? 'No function matches the given name and argument types. You might need to add explicit type casts.' : undefined,
    )
  }
  const castArgs = resolved.argTypes === undefined ? args : args.map((a, i) => coerceArg(a, resolved.argTypes![i]!, spanOf(e.args[i]!)))
  castArgs.forEach((a, i) => noteParamType(args[i]!, a, ctx))
  return foldConstant({ kind: 'call', fn: e.name, impl: resolved.impl, args: castArgs, type: resolved.type })
}

/**
 * `GROUPING(a, b)`: its arguments bound as they are written; planner/select.ts replaces the call, once the
 * query's grouping sets are known, by a lookup of the current set's bits. Where no GROUP BY binds it, the
 * placeholder fails as PostgreSQL does.
 */
function bindGroupingCall(e: ast.FuncCall, ctx: BindContext): BoundExpr {
  if (ctx.aggregates === undefined) throw planError(SqlState.groupingError, `grouping operations are not allowed in ${ctx.clause}`, e.span)
  const inner: BindContext = { scope: ctx.scope, params: ctx.params, clause: 'GROUPING' }
  const args = e.args.map((a) => bindExpr(a, inner))
  const fail = (): string => {
    throw planError(SqlState.groupingError, 'arguments to GROUPING must be grouping expressions of the associated query level', e.span)
  }
  return { kind: 'call', fn: GROUPING_FN, impl: { strict: false, volatile: true, emit: fail }, args, type: Types.int4 }
}

/** The name of the placeholder call `GROUPING(...)` binds to. */
export const GROUPING_FN = 'grouping'

function coerceArg(a: BoundExpr, t: SqlType, span: Span): BoundExpr {
  if (a.type.name === t.name) return a
  if (a.type.name === 'unknown') return coerceTo(a, t, span, 'argument')
  if (t.name === 'text' && a.type.name !== 'text') return { kind: 'cast', expr: a, type: Types.text }
  return numericToFloat(a, t) ?? a
}

/**
 * A numeric where a float is wanted (greatest(float8, numeric), a CASE or UNION of both) becomes a double,
 * as PostgreSQL resolves these to double precision; undefined when no conversion is due.
 */
function numericToFloat(a: BoundExpr, t: SqlType): BoundExpr | undefined {
  if (a.type.name !== 'numeric' || a.type.element || t.element || (t.name !== 'float8' && t.name !== 'float4')) return undefined
  return { kind: 'cast', expr: a, type: t }
}

function bindAggregate(e: ast.FuncCall, ctx: BindContext): BoundExpr {
  if (ctx.aggregates === undefined) {
    throw planError(SqlState.groupingError, `aggregate functions are not allowed in ${ctx.clause}`, e.span)
  }
  // Aggregate arguments see the input rows, never other aggregates.
  const inner: BindContext = { scope: ctx.scope, params: ctx.params, clause: 'aggregate function arguments' }
  const args = e.args.map((a) => {
    const b = bindExpr(a, inner)
    return b.type.name === 'unknown' ? coerceTo(b, Types.text, spanOf(a), 'argument') : b
  })
  if (e.distinct && e.star) throw planError(SqlState.syntaxError, `${e.name}(DISTINCT *) is not valid`, e.span)
  const spec = resolveAggregate(e.name, args.map((a) => a.type), e.star)
  if (spec === undefined) {
    throw planError(SqlState.undefinedFunction, `function ${e.name}(${e.star ? '*' : args.map((a) => typeDisplayName(a.type)).join(', ')}) does not exist`, e.span)
  }
  spec.checkArgs?.(args, e.args.map(spanOf))
  let ordered = { spec, args, text: '' }
  if (e.orderBy !== undefined && e.orderBy.length > 0) {
    if (ctx.scope.hooks?.orderedAggregates !== true) {
      throw unsupported(`ORDER BY inside ${e.name}(...) is not supported yet: values are aggregated in arrival order`, e.orderBy[0]!.span)
    }
    // Pull queries: the aggregate sorts its group's values itself (ordered-aggregate.ts).
    const keys = e.orderBy.map((o) => ({ expr: bindExpr(o.expr, inner), descending: o.direction === 'desc', nullsFirst: o.nulls === undefined ? o.direction === 'desc' : o.nulls === 'first' }))
    ordered = {
      spec: orderedAggregate(spec, args.length, keys),
      args: [...args, ...keys.map((k) => k.expr)],
      text: ` ORDER BY ${keys.map((k) => `${exprKey(k.expr)}${k.descending ? ' DESC' : ''}${k.nullsFirst ? ' NULLS FIRST' : ''}`).join(', ')}`,
    }
  }
  const filter = e.filter === undefined ? null : coerceTo(bindExpr(e.filter, inner), Types.bool, spanOf(e.filter), 'argument of FILTER')
  const display = `${e.name}(${e.distinct ? 'DISTINCT ' : ''}${e.star ? '*' : args.map(exprKey).join(', ')}${ordered.text})${filter ? ` FILTER (WHERE ${exprKey(filter)})` : ''}`
  let index = ctx.aggregates.findIndex((a) => a.display === display)
  if (index === -1) {
    ctx.aggregates.push({ spec: ordered.spec, args: ordered.args, filter, distinct: e.distinct, display, spans: [] })
    index = ctx.aggregates.length - 1
  }
  if (e.span !== undefined) ctx.aggregates[index]!.spans?.push(e.span)
  return { kind: 'agg_ref', index, type: spec.type }
}

/** A canonical text of a bound expression: equal texts mean the same computation (GROUP BY matching, dedup). */
export function exprKey(e: BoundExpr): string {
  switch (e.kind) {
    case 'column':
      return `#${e.index}`
    case 'const':
      return `${JSON.stringify(e.value)}::${e.type.name}`
    case 'param':
      return `$${e.index + 1}`
    case 'agg_ref':
      return `agg${e.index}`
    case 'call':
      return `${e.fn}(${e.args.map(exprKey).join(', ')})`
    case 'logic':
      return `${e.op}(${e.args.map(exprKey).join(', ')})`
    case 'case':
      return `case(${e.whens.map((w) => `${exprKey(w.when)}=>${exprKey(w.then)}`).join(';')};${e.else ? exprKey(e.else) : ''})`
    case 'cast':
      return `cast(${exprKey(e.expr)} as ${e.type.name}${e.type.element ? '[]' : ''})`
    case 'is_null':
      return `isnull${e.negated ? '!' : ''}(${exprKey(e.expr)})`
    case 'in_list':
      return `in${e.negated ? '!' : ''}(${exprKey(e.expr)}; ${e.list.map(exprKey).join(', ')})`
  }
}

/** Folds a call whose arguments are all constants and which is not volatile. */
function foldConstant(e: BoundExpr): BoundExpr {
  if (e.kind !== 'call' || e.impl.volatile || !e.args.every((a) => a.kind === 'const')) return e
  if (e.args.some((a) => a.type.name === 'unknown')) return e
  const value = compileExpr(e)([], [], FOLD_CONTEXT)
  return { kind: 'const', value, type: e.type }
}

const FOLD_CONTEXT = { now: 0, user: '', database: '' }

export type { Value }
