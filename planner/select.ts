/**
 * Binding of one SELECT block over an already-resolved input scope: WHERE, GROUP BY with aggregates,
 * HAVING, the select list (with `*` expansion and output names), ORDER BY and LIMIT. Continuous views and
 * pull queries both use it; they differ only in where the input rows come from.
 */
import * as ast from '../parser/ast.ts'
import { SqlState, planError, unsupported, type Span } from '../common/errors.ts'
import { Types, type SqlType } from '../common/types.ts'
import type { BoundCall, BoundExpr, OutputColumn } from '../expr/bound.ts'
import type { BoundAggregate } from '../expr/aggregates.ts'
import type { BoundWindowCall } from './window-functions.ts'
import { GROUPING_FN, bindExpr, coerceTo, exprKey, spanOf, type BindContext } from './bind-expr.ts'
import { Scope } from './scope.ts'
import { distinctOnOrder } from './distinct-on.ts'

export interface BoundOrder {
  /** Index into the output row, or an expression over the output row. */
  readonly expr: BoundExpr
  readonly descending: boolean
  readonly nullsFirst: boolean
}

export interface BoundAggregation {
  /** Group keys over the input row; the post-aggregation row is exactly these key values. */
  readonly keys: readonly BoundExpr[]
  readonly keyNames: readonly string[]
  readonly aggregates: readonly BoundAggregate[]
  /** Over the post-aggregation row plus aggregate values. */
  readonly having: BoundExpr | null
  /**
   * `ROLLUP` / `CUBE` / `GROUPING SETS`: for each set, the indexes of the keys it groups by. The last key is
   * then the set's number, which the executor fills in; the other keys are NULL in a set that lacks them.
   */
  readonly groupingSets?: readonly (readonly number[])[]
}

export interface BoundSelect {
  readonly filter: BoundExpr | null
  readonly aggregation: BoundAggregation | null
  /** Over the input row (no aggregation) or the post-aggregation row (with aggregation). */
  readonly output: readonly BoundExpr[]
  readonly outputColumns: readonly OutputColumn[]
  readonly orderBy: readonly BoundOrder[]
  readonly limit: BoundExpr | null
  readonly offset: BoundExpr | null
  readonly distinct: boolean
  /** `DISTINCT ON`: the first row of each group of rows equal in the first `distinctOn` ORDER BY keys. */
  readonly distinctOn?: number
  /** Window function calls of the select list (`agg_ref` i in `output` is call i), for continuous views. */
  readonly windows: readonly BoundWindowCall[]
}

export interface Target {
  readonly expr: ast.Expr
  readonly name: string
  readonly span: Span
}

/** Output name Postgres would give an unaliased select item. */
export function defaultName(e: ast.Expr): string {
  switch (e.kind) {
    case 'column_ref':
      return e.name
    case 'func_call':
      return e.name
    case 'cast':
      return e.expr.kind === 'literal' || e.expr.kind === 'param' ? e.type.name.split(' ')[0]! : defaultName(e.expr)
    case 'case': {
      // As PostgreSQL: a CASE is named after its ELSE when that is a column, function or cast of one.
      const named = e.else !== undefined && e.else.kind !== 'literal' ? defaultName(e.else) : '?column?'
      return named === '?column?' ? 'case' : named
    }
    case 'literal':
      return e.typeName ? e.typeName.name : '?column?'
    case 'array':
      return 'array'
    case 'subquery':
      if (e.mode === 'scalar' && e.query.kind === 'select' && e.query.targets.length === 1) {
        const t = e.query.targets[0]!
        return t.alias ?? defaultName(t.expr)
      }
      return e.mode === 'exists' ? 'exists' : e.mode === 'array' ? 'array' : '?column?'
    default:
      return '?column?'
  }
}

export function expandTargets(select: ast.Select, scope: Scope): Target[] {
  const out: Target[] = []
  for (const item of select.targets) {
    if (item.expr.kind === 'star') {
      for (const i of scope.expand(item.expr.table, item.expr.span)) {
        const c = scope.columns[i]!
        const ref: ast.ColumnRef = { kind: 'column_ref', table: c.table ? [c.table] : [], name: c.name, span: item.span }
        out.push({ expr: ref, name: c.name, span: item.span })
      }
    } else {
      out.push({ expr: item.expr, name: item.alias ?? defaultName(item.expr), span: item.span })
    }
  }
  return out
}

/** Options of a pull query's SELECT that a continuous view has no operator for. */
export interface PullOptions {
  readonly groupingSets: boolean
  /** Given the grouped block's rewrite over its keys, for expressions bound outside the select (window calls). */
  readonly regroup?: (regroup: (e: BoundExpr, span: Span) => BoundExpr) => void
}

export function bindSelect(select: ast.Select, scope: Scope, params: SqlType[], options: PullOptions = { groupingSets: false }): BoundSelect {
  if (select.groupingSets !== undefined && !options.groupingSets) {
    throw unsupported('GROUPING SETS, ROLLUP and CUBE are not supported in continuous views', select.groupBy[0]?.span ?? select.span, 'Query the view with GROUP BY ROLLUP (...) instead.')
  }
  const base: BindContext = { scope, params, clause: 'WHERE' }
  const filter = select.where ? coerceTo(bindExpr(select.where, base), Types.bool, spanOf(select.where), 'argument of WHERE') : null
  const targets = expandTargets(select, scope)

  const aggregates: BoundAggregate[] = []
  const windows: BoundWindowCall[] = []
  const withAggs: BindContext = { scope, params, aggregates, windows, clause: 'SELECT' }
  const boundTargets = targets.map((t) => bindExpr(t.expr, withAggs))
  const having = select.having ? coerceTo(bindExpr(select.having, { scope, params, aggregates, clause: 'HAVING' }), Types.bool, spanOf(select.having), 'argument of HAVING') : null

  const grouped = select.groupBy.length > 0 || aggregates.length > 0 || having !== null || boundTargets.some(hasGroupingCall)
  const outputColumns = targets.map((t, i): OutputColumn => ({ name: t.name, type: finalType(boundTargets[i]!.type), nullable: true, span: t.span }))

  if (grouped && windows.length > 0) {
    throw unsupported('window functions over an aggregation are not supported yet', windows[0]!.span, 'Compute the window in a view of its own.')
  }
  if (!grouped) {
    const output = boundTargets.map((b) => (b.type.name === 'unknown' ? coerceTo(b, Types.text, { start: 0, end: 0 }, 'output') : b))
    const orderCtx: BindContext = { scope, params, clause: 'ORDER BY' }
    return withDistinctOn(select, targets, orderCtx, null, {
      filter,
      aggregation: null,
      output,
      outputColumns,
      orderBy: bindOrder(select, targets, output, outputColumns, orderCtx, null),
      limit: bindLimit(select.limit, params, 'LIMIT'),
      offset: bindLimit(select.offset, params, 'OFFSET'),
      distinct: select.distinct,
      windows,
    })
  }

  const keyCtx: BindContext = { scope, params, clause: 'GROUP BY' }
  const written = select.groupBy.map((g) => bindGroupKey(g, targets, keyCtx))
  const keyIndex = new Map<string, number>()
  const keys: BoundExpr[] = []
  for (const k of written) {
    if (select.groupingSets !== undefined && keyIndex.has(exprKey(k))) continue
    keyIndex.set(exprKey(k), keys.push(k) - 1)
  }
  const sets = select.groupingSets?.map((set) => [...new Set(set.map((i) => keyIndex.get(exprKey(written[i]!))!))].sort((a, b) => a - b))
  const grouping = sets === undefined ? undefined : groupingSetColumn(keys.length, sets)
  if (grouping !== undefined) keys.push({ kind: 'const', value: 0, type: Types.int4 })
  const keyNames = keys.map((k, i) => (k.kind === 'column' ? k.name : `key${i}`))
  const regroup = (e: BoundExpr, span: Span): BoundExpr => rewriteOverKeys(e, keyIndex, keys, scope, span, grouping)
  options.regroup?.(regroup)
  const output = boundTargets.map((b, i) => regroup(b.type.name === 'unknown' ? coerceTo(b, Types.text, targets[i]!.span, 'output') : b, targets[i]!.span))
  const aggregation: BoundAggregation = {
    keys,
    keyNames,
    aggregates,
    having: having === null ? null : regroup(having, spanOf(select.having!)),
    ...(sets === undefined ? {} : { groupingSets: sets }),
  }
  return withDistinctOn(select, targets, withAggs, regroup, {
    filter,
    aggregation,
    output,
    outputColumns,
    orderBy: bindOrder(select, targets, output, outputColumns, withAggs, (e, span) => regroup(e, span)),
    limit: bindLimit(select.limit, params, 'LIMIT'),
    offset: bindLimit(select.offset, params, 'OFFSET'),
    distinct: select.distinct,
    windows: [],
  })
}

/** DISTINCT ON items bind as ORDER BY items do (positions, output names, hidden columns); see distinct-on.ts. */
function withDistinctOn(select: ast.Select, targets: readonly Target[], ctx: BindContext, regroup: ((e: BoundExpr, span: Span) => BoundExpr) | null, bound: BoundSelect): BoundSelect {
  const on = select.distinctOn
  if (on === undefined) return bound
  const items = on.map((expr): ast.OrderItem => ({ expr, direction: 'asc', span: expr.span }))
  const keys = bindOrder({ ...select, orderBy: items }, targets, bound.output as BoundExpr[], bound.outputColumns, ctx, regroup)
  const order = distinctOnOrder(bound.orderBy, keys, on.map((e) => e.span))
  return { ...bound, orderBy: order.orderBy, distinctOn: order.count }
}

const finalType = (t: SqlType): SqlType => (t.name === 'unknown' ? Types.text : t)

/** GROUP BY accepts an expression, an output column position (`GROUP BY 1`) or an output alias. */
function bindGroupKey(g: ast.Expr, targets: readonly Target[], ctx: BindContext): BoundExpr {
  if (g.kind === 'literal' && g.literalType === 'integer') {
    const pos = Number(g.value)
    const t = targets[pos - 1]
    if (t === undefined) throw planError(SqlState.invalidColumnReference, `GROUP BY position ${pos} is not in select list`, g.span)
    return bindExpr(t.expr, ctx)
  }
  if (g.kind === 'column_ref' && g.table.length === 0 && !ctx.scope.columns.some((c) => c.name === g.name)) {
    const t = targets.find((x) => x.name === g.name)
    if (t !== undefined) return bindExpr(t.expr, ctx)
  }
  return bindExpr(g, ctx)
}

/**
 * After GROUP BY, expressions may only use group keys and aggregates: a sub-expression equal to a key
 * becomes a reference to that key; any other column is error 42803, as in Postgres.
 */
function rewriteOverKeys(e: BoundExpr, keyIndex: Map<string, number>, keys: readonly BoundExpr[], scope: Scope, span: Span, grouping: GroupingColumn | undefined): BoundExpr {
  if (e.kind === 'call' && e.fn === GROUPING_FN) return groupingValue(e, keyIndex, grouping, span)
  const hit = keyIndex.get(exprKey(e))
  if (hit !== undefined && e.kind !== 'const') return { kind: 'column', index: hit, name: keys[hit]!.kind === 'column' ? (keys[hit] as { name: string }).name : `key${hit}`, type: e.type }
  const r = (x: BoundExpr) => rewriteOverKeys(x, keyIndex, keys, scope, span, grouping)
  switch (e.kind) {
    case 'column': {
      const c = scope.columns[e.index]!
      throw planError(SqlState.groupingError, `column "${c.table ? `${c.table}.` : ''}${c.name}" must appear in the GROUP BY clause or be used in an aggregate function`, span)
    }
    case 'const':
    case 'param':
    case 'agg_ref':
      return e
    case 'call':
      return { ...e, args: e.args.map(r) }
    case 'logic':
      return { ...e, args: e.args.map(r) }
    case 'case':
      return { ...e, whens: e.whens.map((w) => ({ when: r(w.when), then: r(w.then) })), else: e.else ? r(e.else) : null }
    case 'cast':
    case 'is_null':
      return { ...e, expr: r(e.expr) }
    case 'in_list':
      return { ...e, expr: r(e.expr), list: e.list.map(r) }
  }
}

/** The set-number column of grouping sets and, per set, which keys it groups by. */
interface GroupingColumn {
  readonly index: number
  readonly sets: readonly (readonly number[])[]
}

const groupingSetColumn = (index: number, sets: readonly (readonly number[])[]): GroupingColumn => ({ index, sets })

function hasGroupingCall(e: BoundExpr): boolean {
  if (e.kind === 'call') return e.fn === GROUPING_FN || e.args.some(hasGroupingCall)
  if (e.kind === 'logic' || e.kind === 'in_list') return (e.kind === 'logic' ? e.args : [e.expr, ...e.list]).some(hasGroupingCall)
  if (e.kind === 'cast' || e.kind === 'is_null') return hasGroupingCall(e.expr)
  if (e.kind === 'case') return e.whens.some((w) => hasGroupingCall(w.when) || hasGroupingCall(w.then)) || (e.else !== null && hasGroupingCall(e.else))
  return false
}

/**
 * `GROUPING(a, b)`: one bit per argument, the first the most significant, set when the current grouping
 * set does not group by it; computed per set at plan time and looked up by the set's number. Without
 * grouping sets every bit is 0.
 */
function groupingValue(call: BoundCall, keyIndex: Map<string, number>, grouping: GroupingColumn | undefined, span: Span): BoundExpr {
  const positions = call.args.map((a) => keyIndex.get(exprKey(a)))
  if (positions.some((p) => p === undefined)) throw planError(SqlState.groupingError, 'arguments to GROUPING must be grouping expressions of the associated query level', span)
  if (grouping === undefined) return { kind: 'const', value: 0, type: Types.int4 }
  const values = grouping.sets.map((set) => positions.reduce<number>((bits, p) => (bits << 1) | (set.includes(p!) ? 0 : 1), 0))
  const table = JSON.stringify(values)
  const setNumber: BoundExpr = { kind: 'column', index: grouping.index, name: 'grouping set', type: Types.int4 }
  return { kind: 'call', fn: 'grouping', impl: { strict: true, emit: ([n]) => `${table}[${n}]` }, args: [setNumber], type: Types.int4 }
}

/**
 * ORDER BY binds against the output first (alias or position), then as an expression over the input;
 * in the latter case the expression is appended as a hidden output column by the caller's projection.
 */
function bindOrder(
  select: ast.Select,
  targets: readonly Target[],
  output: BoundExpr[],
  outputColumns: readonly OutputColumn[],
  ctx: BindContext,
  regroup: ((e: BoundExpr, span: Span) => BoundExpr) | null,
): BoundOrder[] {
  return select.orderBy.map((o) => {
    const descending = o.direction === 'desc'
    const nullsFirst = o.nulls === undefined ? descending : o.nulls === 'first'
    const e = o.expr
    if (e.kind === 'literal' && e.literalType === 'integer') {
      const pos = Number(e.value)
      if (pos < 1 || pos > outputColumns.length) throw planError(SqlState.invalidColumnReference, `ORDER BY position ${pos} is not in select list`, e.span)
      return { expr: outputRef(pos - 1, outputColumns), descending, nullsFirst }
    }
    if (e.kind === 'column_ref' && e.table.length === 0) {
      const pos = targets.findIndex((t) => t.name === e.name)
      if (pos !== -1 && !(ctx.scope.columns.some((c) => c.name === e.name) && targets[pos]!.expr.kind !== 'column_ref')) {
        return { expr: outputRef(pos, outputColumns), descending, nullsFirst }
      }
    }
    let bound = bindExpr(e, ctx)
    if (regroup !== null) bound = regroup(bound, e.span)
    const key = exprKey(bound)
    const same = output.findIndex((x) => exprKey(x) === key)
    if (same !== -1 && same < outputColumns.length) return { expr: outputRef(same, outputColumns), descending, nullsFirst }
    if (same !== -1) return { expr: { kind: 'column', index: same, name: `order${same}`, type: output[same]!.type }, descending, nullsFirst }
    // Not in the select list: compute it as a hidden trailing output column.
    output.push(bound)
    return { expr: { kind: 'column', index: output.length - 1, name: `order${output.length - 1}`, type: bound.type }, descending, nullsFirst }
  })
}

const outputRef = (index: number, cols: readonly OutputColumn[]): BoundExpr => ({ kind: 'column', index, name: cols[index]!.name, type: cols[index]!.type })

function bindLimit(e: ast.Expr | undefined, params: SqlType[], clause: string): BoundExpr | null {
  if (e === undefined) return null
  const b = bindExpr(e, { scope: emptyScope, params, clause })
  if (b.kind === 'const' && b.value === null) return null
  return coerceTo(b, Types.int8, e.span, `argument of ${clause}`)
}

const emptyScope = Scope.empty()
