/**
 * Window functions (`... OVER (PARTITION BY key ORDER BY ts [frame])`): stateful columns of a continuous
 * view. Each call binds to one `BoundWindowCall`; the select list refers to its value per row through an
 * `agg_ref` (the row's window values play the part the group's aggregate values play after GROUP BY).
 *
 * Supported, per row of the partition in event-time order:
 *   - every aggregate (count, sum, avg, min, max, bool_or, first_value, last_value, ...), with FILTER and,
 *     for first_value / last_value, IGNORE NULLS; over the default frame (RANGE UNBOUNDED PRECEDING to
 *     CURRENT ROW, peers included), ROWS UNBOUNDED PRECEDING, `RANGE BETWEEN INTERVAL '...' PRECEDING AND
 *     CURRENT ROW` or `ROWS BETWEEN n PRECEDING AND CURRENT ROW`;
 *   - lag(x [, n [, default]]) [IGNORE NULLS is not part of it] and row_number().
 * Frames that end after the current row need rows that have not arrived yet and are refused.
 */
import * as ast from '../parser/ast.ts'
import { SqlState, planError, unsupported } from '../common/errors.ts'
import { Types, intervalMicros, type SqlType } from '../common/types.ts'
import type { BoundExpr } from '../expr/bound.ts'
import { resolveAggregate, type BoundAggregate } from '../expr/aggregates.ts'
import { bindExpr, coerceTo, exprKey, spanOf, type BindContext } from './bind-expr.ts'
import { Scope } from './scope.ts'

/** Which rows before the current one an aggregate sees. */
export type FrameSpec =
  /** From the partition's first row; `range` includes the current row's peers (equal ORDER BY value). */
  | { readonly kind: 'unbounded'; readonly mode: 'rows' | 'range' }
  /** Rows whose time is at most `micros` before the current row's, peers included. */
  | { readonly kind: 'range'; readonly micros: number }
  /** The current row and the `count` rows before it. */
  | { readonly kind: 'rows'; readonly count: number }

export type WindowFunction =
  | { readonly kind: 'aggregate'; readonly aggregate: BoundAggregate; readonly frame: FrameSpec }
  | { readonly kind: 'lag'; readonly arg: BoundExpr; readonly offset: number; readonly fallback: BoundExpr | null }
  | { readonly kind: 'row_number' }

export interface BoundWindowCall {
  readonly fn: WindowFunction
  readonly partitionBy: readonly BoundExpr[]
  /** The ORDER BY expression (one, ascending). */
  readonly orderBy: BoundExpr
  readonly type: SqlType
  /** For EXPLAIN and to share identical calls. */
  readonly display: string
  readonly span: ast.Span
}

/** Binds `fn(...) OVER (...)` where window functions are allowed (a continuous view's select list). */
export function bindWindowCall(e: ast.FuncCall, ctx: BindContext): BoundExpr {
  const over = e.over!
  if (ctx.windows === undefined) {
    throw planError(SqlState.windowingError, `window functions are not allowed in ${ctx.clause}`, e.span)
  }
  if (over.name !== undefined) throw unsupported('named windows (WINDOW w AS ...) are not supported yet', over.span, 'Write the window inline: OVER (PARTITION BY ... ORDER BY ...).')
  const inner: BindContext = { scope: ctx.scope, params: ctx.params, clause: 'window function arguments' }
  const partitionBy = over.partitionBy.map((p) => bindExpr(p, { ...inner, clause: 'PARTITION BY' }))
  if (over.orderBy.length !== 1) {
    throw unsupported('a window in a continuous view is ordered by exactly one column, the event time', over.span, 'Add ORDER BY ts, the column of the stream\'s WATERMARK FOR.')
  }
  const order = over.orderBy[0]!
  if (order.direction === 'desc') throw unsupported('a continuous view orders its windows by ascending event time', order.span)
  const orderBy = bindExpr(order.expr, { ...inner, clause: 'ORDER BY' })
  const fn = bindFunction(e, over, inner)
  const type = fn.kind === 'aggregate' ? fn.aggregate.spec.type : fn.kind === 'lag' ? fn.arg.type : Types.int8
  const display = `${displayFunction(fn)} OVER (${partitionBy.length > 0 ? `PARTITION BY ${partitionBy.map(exprKey).join(', ')} ` : ''}ORDER BY ${exprKey(orderBy)})`
  const windows = ctx.windows
  let index = windows.findIndex((w) => w.display === display)
  if (index === -1) {
    windows.push({ fn, partitionBy, orderBy, type, display, span: e.span })
    index = windows.length - 1
  }
  return { kind: 'agg_ref', index, type }
}

function bindFunction(e: ast.FuncCall, over: ast.WindowSpec, ctx: BindContext): WindowFunction {
  if (e.distinct) throw unsupported('DISTINCT is not implemented for window functions', e.span)
  if (e.name === 'row_number') {
    if (e.args.length > 0) throw planError(SqlState.undefinedFunction, 'function row_number() takes no arguments', e.span)
    rowsOnly(over, 'row_number')
    return { kind: 'row_number' }
  }
  if (e.name === 'lag') {
    if (e.args.length < 1 || e.args.length > 3) throw planError(SqlState.undefinedFunction, 'lag takes (value [, offset [, default]])', e.span)
    if (e.ignoreNulls) throw unsupported('lag ... IGNORE NULLS is not supported; use last_value(x) IGNORE NULLS over a frame', e.span)
    rowsOnly(over, 'lag')
    const arg = bindExpr(e.args[0]!, ctx)
    let offset = 1
    if (e.args[1] !== undefined) {
      const o = bindExpr(e.args[1], ctx)
      if (o.kind !== 'const' || typeof o.value !== 'number' || !Number.isInteger(o.value) || o.value < 0 || o.value > 1000) {
        throw planError(SqlState.invalidParameterValue, 'the lag offset must be a constant integer from 0 to 1000', spanOf(e.args[1]))
      }
      offset = o.value
    }
    const fallback = e.args[2] === undefined ? null : coerceTo(bindExpr(e.args[2], ctx), arg.type, spanOf(e.args[2]), 'lag default')
    return { kind: 'lag', arg, offset, fallback }
  }
  if (e.name === 'lead') throw unsupported('lead() looks at rows that have not arrived yet; a continuous view cannot wait for them', e.span, 'Use lag() and compare with the previous row instead.')
  const args = e.args.map((a) => {
    const b = bindExpr(a, ctx)
    return b.type.name === 'unknown' ? coerceTo(b, Types.text, spanOf(a), 'argument') : b
  })
  let spec = resolveAggregate(e.name, args.map((a) => a.type), e.star)
  if (spec === undefined) {
    throw planError(SqlState.undefinedFunction, `function ${e.name}(${e.star ? '*' : args.map((a) => a.type.name).join(', ')}) is not a window function this engine knows`, e.span)
  }
  spec.checkArgs?.(args, e.args.map(spanOf))
  if (e.orderBy !== undefined && e.orderBy.length > 0) throw unsupported(`ORDER BY inside ${e.name}(...) is not supported`, e.orderBy[0]!.span)
  if (e.ignoreNulls) {
    if (e.name !== 'first_value' && e.name !== 'last_value') throw planError(SqlState.syntaxError, `IGNORE NULLS applies to first_value and last_value, not ${e.name}`, e.span)
    // Null arguments never reach the update: the first (last) non-null value is kept.
    spec = { ...spec, acceptsNull: false }
  }
  const filter = e.filter === undefined ? null : coerceTo(bindExpr(e.filter, ctx), Types.bool, spanOf(e.filter), 'argument of FILTER')
  const display = `${e.name}(${e.star ? '*' : args.map(exprKey).join(', ')})${e.ignoreNulls ? ' IGNORE NULLS' : ''}${filter ? ` FILTER (WHERE ${exprKey(filter)})` : ''}`
  return { kind: 'aggregate', aggregate: { spec, args, filter, distinct: false, display }, frame: frameOf(over) }
}

/** lag and row_number count rows; a frame clause has no meaning for them. */
function rowsOnly(over: ast.WindowSpec, name: string): void {
  if (over.frame !== undefined) throw planError(SqlState.windowingError, `${name} does not take a frame clause`, over.span)
}

function frameOf(over: ast.WindowSpec): FrameSpec {
  const f = over.frame
  if (f === undefined) return { kind: 'unbounded', mode: 'range' }
  if (f.mode === 'groups' || f.exclude !== undefined) throw unsupported('GROUPS frames and EXCLUDE are not supported in continuous views', over.span)
  const mode = f.mode
  if (f.end.kind !== 'current_row') {
    throw unsupported('a window frame in a continuous view ends at CURRENT ROW (later rows have not arrived yet)', over.span)
  }
  switch (f.start.kind) {
    case 'unbounded_preceding':
      return { kind: 'unbounded', mode }
    case 'current_row':
      return mode === 'rows' ? { kind: 'rows', count: 0 } : { kind: 'range', micros: 0 }
    case 'preceding': {
      const b = bindExpr(f.start.offset, { scope: Scope.empty(), params: [], clause: 'a window frame' })
      if (mode === 'rows') {
        if (b.kind !== 'const' || typeof b.value !== 'number' || !Number.isInteger(b.value) || b.value < 0 || b.value > 10_000) {
          throw planError(SqlState.invalidParameterValue, 'ROWS n PRECEDING takes a constant n from 0 to 10000', spanOf(f.start.offset))
        }
        return { kind: 'rows', count: b.value }
      }
      if (b.kind !== 'const' || b.type.name !== 'interval' || b.value === null) {
        throw planError(SqlState.invalidParameterValue, "RANGE ... PRECEDING takes a constant interval such as INTERVAL '1 hour'", spanOf(f.start.offset))
      }
      const micros = intervalMicros(b.value as { months: number; days: number; micros: number })
      if (!(micros >= 0)) throw planError(SqlState.invalidParameterValue, 'the frame offset must not be negative', spanOf(f.start.offset))
      return { kind: 'range', micros }
    }
    default:
      throw unsupported('a window frame in a continuous view starts before the current row', over.span)
  }
}

function displayFunction(fn: WindowFunction): string {
  switch (fn.kind) {
    case 'aggregate': {
      const f = fn.frame
      const frame = f.kind === 'unbounded' ? (f.mode === 'rows' ? ' ROWS UNBOUNDED PRECEDING' : '') : f.kind === 'rows' ? ` ROWS ${f.count} PRECEDING` : ` RANGE ${f.micros}us PRECEDING`
      return `${fn.aggregate.display}${frame}`
    }
    case 'lag':
      return `lag(${exprKey(fn.arg)}, ${fn.offset}${fn.fallback ? `, ${exprKey(fn.fallback)}` : ''})`
    case 'row_number':
      return 'row_number()'
  }
}
