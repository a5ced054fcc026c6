/**
 * Window functions in pull queries (`row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum)`, what
 * pgjdbc's getColumns sends). Unlike a continuous view's window functions (window-functions.ts), which
 * wait for event time and see only earlier rows, a pull query has all its rows at once: it may order by
 * any expressions in either direction and look ahead (lead). The executor (executor/pull-window-values.ts) sorts
 * each partition in memory and computes the values; the select list reads call i's value through
 * `agg_ref` i, as after GROUP BY.
 *
 * Supported: row_number, rank, dense_rank, percent_rank, cume_dist, ntile, lag, lead, first_value,
 * last_value, nth_value, and every aggregate (count, sum, min, max, avg, ...) over the default frame (the
 * partition's rows up to the current row and its peers; the whole partition without ORDER BY).
 */
import * as ast from '../parser/ast.ts'
import { SqlState, planError, unsupported } from '../common/errors.ts'
import { Types, isNumeric, type SqlType } from '../common/types.ts'
import { Scope } from './scope.ts'
import type { BoundExpr } from '../expr/bound.ts'
import { resolveAggregate, type BoundAggregate } from '../expr/aggregates.ts'
import { bindExpr, coerceTo, exprKey, spanOf, type BindContext } from './bind-expr.ts'

export interface PullWindowOrder {
  readonly expr: BoundExpr
  readonly descending: boolean
  readonly nullsFirst: boolean
}

export type PullWindowFunction =
  | { readonly kind: 'row_number' | 'rank' | 'dense_rank' | 'percent_rank' | 'cume_dist' }
  | { readonly kind: 'ntile'; readonly buckets: BoundExpr }
  /** lag (`direction` -1) and lead (+1): the value `offset` rows away in the partition's order. */
  | { readonly kind: 'shift'; readonly direction: -1 | 1; readonly arg: BoundExpr; readonly offset: BoundExpr; readonly fallback: BoundExpr | null }
  | { readonly kind: 'first_value' | 'last_value'; readonly arg: BoundExpr }
  | { readonly kind: 'nth_value'; readonly arg: BoundExpr; readonly n: BoundExpr }
  | { readonly kind: 'aggregate'; readonly aggregate: BoundAggregate }

/** One end of a frame; offsets are constant expressions (ROWS / GROUPS: a count; RANGE: a distance in ORDER BY's unit). */
export type PullFrameBound =
  | { readonly kind: 'unbounded_preceding' | 'current_row' | 'unbounded_following' }
  | { readonly kind: 'preceding' | 'following'; readonly offset: BoundExpr }

/** A written frame clause (`ROWS BETWEEN 3 PRECEDING AND CURRENT ROW EXCLUDE TIES`); null means the default frame. */
export interface PullFrame {
  readonly mode: 'rows' | 'range' | 'groups'
  readonly start: PullFrameBound
  readonly end: PullFrameBound
  readonly exclude: 'current_row' | 'group' | 'ties' | null
}

export interface PullWindowCall {
  readonly fn: PullWindowFunction
  readonly partitionBy: readonly BoundExpr[]
  readonly orderBy: readonly PullWindowOrder[]
  readonly frame: PullFrame | null
  readonly type: SqlType
  readonly display: string
  readonly span: ast.Span
}

const RANKING = new Set(['row_number', 'rank', 'dense_rank', 'percent_rank', 'cume_dist'])

/** Binds `fn(...) OVER (...)` in a pull query's select list or ORDER BY; the call goes to `calls`. */
export function bindPullWindow(e: ast.FuncCall, ctx: BindContext, calls: PullWindowCall[]): BoundExpr {
  const over = e.over!
  if (ctx.windows === undefined) throw planError(SqlState.windowingError, `window functions are not allowed in ${ctx.clause}`, e.span)
  if (e.distinct) throw unsupported('DISTINCT is not implemented for window functions', e.span)
  // Aggregates may appear inside (`rank() OVER (ORDER BY sum(x))`): windows run after GROUP BY (grouped-windows.ts).
  const inner: BindContext = { scope: ctx.scope, params: ctx.params, ...(ctx.aggregates === undefined ? {} : { aggregates: ctx.aggregates }), clause: 'window function arguments' }
  const partitionBy = over.partitionBy.map((p) => bindExpr(p, { ...inner, clause: 'PARTITION BY' }))
  const orderBy = over.orderBy.map((o): PullWindowOrder => {
    const descending = o.direction === 'desc'
    return { expr: bindExpr(o.expr, { ...inner, clause: 'ORDER BY' }), descending, nullsFirst: o.nulls === undefined ? descending : o.nulls === 'first' }
  })
  const fn = bindFunction(e, inner)
  const type = typeOfFunction(fn)
  const frame = over.frame === undefined ? null : bindFrame(over.frame, orderBy, over.span, inner)
  const display = `${e.name}(${argsOf(fn).map(exprKey).join(', ')}) OVER (${partitionBy.map(exprKey).join(', ')}; ${orderBy.map((o) => `${exprKey(o.expr)}${o.descending ? ' desc' : ''}${o.nullsFirst ? ' nulls first' : ''}`).join(', ')}${frame === null ? '' : `; ${frameDisplay(frame)}`})`
  let index = calls.findIndex((c) => c.display === display)
  if (index === -1) {
    calls.push({ fn, partitionBy, orderBy, frame, type, display, span: e.span })
    index = calls.length - 1
  }
  return { kind: 'agg_ref', index, type }
}

/**
 * A frame clause, checked as PostgreSQL does: RANGE with an offset needs exactly one ORDER BY column and
 * an offset of its type (an interval for timestamps); GROUPS needs ORDER BY; ROWS and GROUPS offsets are
 * bigint. Offsets may not read columns (they are evaluated once per partition).
 */
function bindFrame(f: ast.WindowFrame, orderBy: readonly PullWindowOrder[], span: ast.Span, ctx: BindContext): PullFrame {
  const hasOffset = f.start.kind === 'preceding' || f.start.kind === 'following' || f.end.kind === 'preceding' || f.end.kind === 'following'
  if (f.mode === 'range' && hasOffset && orderBy.length !== 1) {
    throw planError(SqlState.windowingError, 'RANGE with offset PRECEDING/FOLLOWING requires exactly one ORDER BY column', span)
  }
  if (f.mode === 'groups' && orderBy.length === 0) throw planError(SqlState.windowingError, 'GROUPS mode requires an ORDER BY clause', span)
  const offsetCtx: BindContext = { scope: Scope.empty(), params: ctx.params, clause: f.mode.toUpperCase() }
  const bound = (b: ast.FrameBound): PullFrameBound => {
    if (b.kind !== 'preceding' && b.kind !== 'following') return { kind: b.kind }
    const raw = bindExpr(b.offset, offsetCtx)
    const key = orderBy[0]?.expr.type
    const target = f.mode !== 'range' ? Types.int8 : key !== undefined && (key.name === 'timestamp' || key.name === 'timestamptz' || key.name === 'date') ? Types.interval : key
    if (target === undefined || !(isNumeric(target) || target.name === 'interval')) {
      throw planError(SqlState.featureNotSupported, `RANGE with offset PRECEDING/FOLLOWING is not supported for column type ${key?.name ?? 'unknown'}`, spanOf(b.offset))
    }
    return { kind: b.kind, offset: coerceTo(raw, target, spanOf(b.offset), f.mode.toUpperCase()) }
  }
  return { mode: f.mode, start: bound(f.start), end: bound(f.end), exclude: f.exclude ?? null }
}

function frameDisplay(f: PullFrame): string {
  const bound = (b: PullFrameBound): string => ('offset' in b ? `${exprKey(b.offset)} ${b.kind}` : b.kind)
  return `${f.mode} ${bound(f.start)} ${bound(f.end)}${f.exclude === null ? '' : ` exclude ${f.exclude}`}`
}

function bindFunction(e: ast.FuncCall, ctx: BindContext): PullWindowFunction {
  const arity = (min: number, max: number): void => {
    if (e.args.length < min || e.args.length > max) throw planError(SqlState.undefinedFunction, `function ${e.name} takes ${min === max ? min : `${min} to ${max}`} arguments`, e.span)
  }
  const arg = (i: number): BoundExpr => {
    const b = bindExpr(e.args[i]!, ctx)
    return b.type.name === 'unknown' ? coerceTo(b, Types.text, spanOf(e.args[i]!), 'argument') : b
  }
  const int = (i: number, fallback: number): BoundExpr =>
    e.args[i] === undefined ? { kind: 'const', value: fallback, type: Types.int4 } : coerceTo(bindExpr(e.args[i], ctx), Types.int4, spanOf(e.args[i]), 'argument')
  if (e.ignoreNulls) throw unsupported(`${e.name} ... IGNORE NULLS is not supported in queries of a view`, e.span)
  if (RANKING.has(e.name)) {
    arity(0, 0)
    return { kind: e.name as 'row_number' }
  }
  switch (e.name) {
    case 'ntile':
      arity(1, 1)
      return { kind: 'ntile', buckets: int(0, 1) }
    case 'lag':
    case 'lead': {
      arity(1, 3)
      const x = arg(0)
      const fallback = e.args[2] === undefined ? null : coerceTo(bindExpr(e.args[2], ctx), x.type, spanOf(e.args[2]), `${e.name} default`)
      return { kind: 'shift', direction: e.name === 'lag' ? -1 : 1, arg: x, offset: int(1, 1), fallback }
    }
    case 'first_value':
    case 'last_value':
      arity(1, 1)
      return { kind: e.name, arg: arg(0) }
    case 'nth_value':
      arity(2, 2)
      return { kind: 'nth_value', arg: arg(0), n: int(1, 1) }
  }
  const args = e.args.map((_, i) => arg(i))
  const spec = resolveAggregate(e.name, args.map((a) => a.type), e.star)
  if (spec === undefined) {
    throw planError(SqlState.undefinedFunction, `function ${e.name}(${e.star ? '*' : args.map((a) => a.type.name).join(', ')}) is not a window function this engine knows`, e.span)
  }
  spec.checkArgs?.(args, e.args.map(spanOf))
  if (e.orderBy !== undefined && e.orderBy.length > 0) throw unsupported(`ORDER BY inside ${e.name}(...) is not supported`, e.orderBy[0]!.span)
  const filter = e.filter === undefined ? null : coerceTo(bindExpr(e.filter, ctx), Types.bool, spanOf(e.filter), 'argument of FILTER')
  const display = `${e.name}(${e.star ? '*' : args.map(exprKey).join(', ')})${filter ? ` FILTER (WHERE ${exprKey(filter)})` : ''}`
  return { kind: 'aggregate', aggregate: { spec, args, filter, distinct: false, display } }
}

function typeOfFunction(fn: PullWindowFunction): SqlType {
  switch (fn.kind) {
    case 'row_number':
    case 'rank':
    case 'dense_rank':
      return Types.int8
    case 'percent_rank':
    case 'cume_dist':
      return Types.float8
    case 'ntile':
      return Types.int4
    case 'shift':
    case 'first_value':
    case 'last_value':
    case 'nth_value':
      return fn.arg.type
    case 'aggregate':
      return fn.aggregate.spec.type
  }
}

function argsOf(fn: PullWindowFunction): readonly BoundExpr[] {
  switch (fn.kind) {
    case 'ntile':
      return [fn.buckets]
    case 'shift':
      return [fn.arg, fn.offset, ...(fn.fallback ? [fn.fallback] : []), { kind: 'const', value: fn.direction, type: Types.int4 }]
    case 'first_value':
    case 'last_value':
      return [fn.arg]
    case 'nth_value':
      return [fn.arg, fn.n]
    case 'aggregate':
      return [{ kind: 'const', value: fn.aggregate.display, type: Types.text }]
    default:
      return []
  }
}
