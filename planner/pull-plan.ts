/**
 * Plans a pull query: a SELECT over a materialized view, a stream's retained events, a system table, or
 * no relation at all (`SELECT 1`, `SELECT version()`). The executor fetches the source rows and applies the
 * bound select (filter, aggregation, projection, order, limit).
 *
 * Queries that need more (what psql, JDBC and BI tools send to browse the catalog: several relations,
 * joins, subqueries, UNION, the virtual pg_catalog / information_schema tables of pg-catalog.ts) are
 * planned as a small relational tree (`RelNode`) that executor/pull.ts evaluates over in-memory rows.
 * Reads of one view, stream or system table keep the single-relation plan and its streaming execution.
 */
import * as ast from '../parser/ast.ts'
import { SqlState, planError, unsupported, type Span } from '../common/errors.ts'
import { Types, arrayOf, isNumeric, type Column, type SqlType } from '../common/types.ts'
import type { BoundExpr, EmitContext, OutputColumn } from './bound.ts'
import { bindExpr, coerceTo, spanOf } from './bind-expr.ts'
import { bindSelect, type BoundOrder, type BoundSelect } from './select.ts'
import { Scope, type BindHooks, type ScopeColumn } from './scope.ts'
import type { Catalog } from './catalog.ts'
import { SYSTEM_TABLES } from './system-tables.ts'
import { CATALOG_TABLES, T, catalogTable, formatType, typeOidByName } from './pg-catalog.ts'

export type PullSource =
  | { readonly kind: 'none' }
  | { readonly kind: 'view'; readonly name: string; readonly columns: readonly Column[] }
  | { readonly kind: 'stream'; readonly name: string; readonly columns: readonly Column[] }
  | { readonly kind: 'system'; readonly name: string; readonly columns: readonly Column[] }
  | { readonly kind: 'relational'; readonly name: string; readonly root: RelNode; readonly relations: readonly RelationRef[] }

export interface PullPlan {
  readonly source: PullSource
  readonly select: BoundSelect
  readonly paramTypes: readonly SqlType[]
}

/** A base relation a relational plan reads; the executor fetches each once per execution. */
export interface RelationRef {
  readonly source: 'view' | 'stream' | 'system' | 'catalog'
  readonly name: string
}

/**
 * A relational plan. Every node yields rows of its own columns; expressions inside a node see the node's
 * input row followed by the row of the enclosing query (`outer`), which is how correlated subqueries and
 * function arguments read outer columns.
 */
export type RelNode =
  | { readonly kind: 'scan'; readonly relation: RelationRef; readonly width: number }
  | { readonly kind: 'one_row' }
  | { readonly kind: 'function'; readonly fn: 'generate_series' | 'unnest'; readonly args: readonly BoundExpr[] }
  | { readonly kind: 'join'; readonly joinType: 'inner' | 'left' | 'right' | 'cross'; readonly left: RelNode; readonly right: RelNode; readonly leftWidth: number; readonly rightWidth: number; readonly on: BoundExpr | null }
  | { readonly kind: 'block'; readonly from: RelNode; readonly select: BoundSelect }
  | { readonly kind: 'set_op'; readonly op: 'union' | 'intersect' | 'except'; readonly all: boolean; readonly left: RelNode; readonly right: RelNode; readonly width: number; readonly orderBy: readonly BoundOrder[]; readonly limit: BoundExpr | null; readonly offset: BoundExpr | null }

/** A subquery inside an expression; compiled code calls `ctx.subquery(this, row, params, ctx, testValue)`. */
export interface SubqueryPlan {
  readonly node: RelNode
  readonly mode: 'scalar' | 'exists' | 'in' | 'array'
  readonly negated: boolean
  /** False when it reads no outer column: then it runs once per statement. */
  readonly correlated: boolean
}

export function planPull(query: ast.Query, catalog: Catalog, paramTypes: readonly SqlType[]): PullPlan {
  if (needsRelational(query, catalog)) return planRelational(query, catalog, paramTypes)
  if (query.kind !== 'select') throw unsupported('VALUES as a query is not supported yet', query.span)
  const params = [...paramTypes]
  const from = query.from[0]
  let source: PullSource = { kind: 'none' }
  let scope = Scope.empty()
  if (from !== undefined) {
    if (from.kind !== 'table_ref') {
      const hint = from.kind === 'window_tvf' ? 'Window functions such as TUMBLE belong in CREATE MATERIALIZED VIEW.' : undefined
      throw unsupported('a pull query reads one view, stream or system table', from.span, hint)
    }
    const parts = from.name.parts
    const name = parts[parts.length - 1]!
    checkSchema(parts, from.name.span)
    const system = SYSTEM_TABLES[name]
    const entry = catalog.get(name)
    if (entry !== undefined) {
      source = entry.kind === 'view' ? { kind: 'view', name, columns: entry.columns } : { kind: 'stream', name, columns: entry.columns }
    } else if (system !== undefined) {
      source = { kind: 'system', name, columns: system }
    } else {
      throw planError(SqlState.undefinedTable, `relation "${parts.join('.')}" does not exist`, from.name.span)
    }
    const table = from.alias ?? name
    scope = new Scope(source.columns.map((c) => ({ table, name: c.name, type: c.type, nullable: c.nullable })))
  }
  const select = bindSelect(query, scope, params)
  if (select.windows.length > 0) {
    throw unsupported('window functions in a query of a view are not supported yet', select.windows[0]!.span, 'Compute them in the continuous view itself.')
  }
  return { source, select, paramTypes: params }
}

function checkSchema(parts: readonly string[], span: Span): void {
  const schema = parts.length > 1 ? parts[parts.length - 2] : undefined
  if (schema !== undefined && schema !== 'public' && schema !== 'sluice') {
    throw planError(SqlState.undefinedTable, `relation "${parts.join('.')}" does not exist`, span)
  }
}

/**
 * The single-relation plan covers one SELECT over at most one view, stream or system table, without
 * subqueries; anything else (and any read of a catalog table) goes to the relational planner.
 */
function needsRelational(q: ast.Query, catalog: Catalog): boolean {
  if (q.kind === 'set_operation') return true
  if (q.kind !== 'select') return false
  if (q.from.length > 1) return true
  const f = q.from[0]
  if (f !== undefined) {
    if (f.kind === 'join' || f.kind === 'subquery_ref' || f.kind === 'function_ref') return true
    if (f.kind === 'table_ref' && catalog.get(f.name.parts[f.name.parts.length - 1]!) === undefined && catalogTable(f.name.parts) !== undefined) return true
  }
  return hasSubquery(q)
}

const CATALOG_CASTS = new Set(['oid', 'regclass', 'regtype', 'regnamespace', 'regproc'])

/** Subqueries, casts to `oid`/`regclass`/..., and functions that read the catalog (`pg_get_viewdef`). */
function hasSubquery(node: unknown): boolean {
  if (node === null || typeof node !== 'object') return false
  if (Array.isArray(node)) return node.some(hasSubquery)
  const n = node as { kind?: string; type?: ast.TypeRef; name?: string }
  if (n.kind === 'subquery') return true
  if (n.kind === 'cast' && n.type !== undefined && CATALOG_CASTS.has(n.type.name.replace(/^pg_catalog\./, ''))) return true
  const typed = (node as { typeName?: ast.TypeRef }).typeName
  if (n.kind === 'literal' && typed !== undefined && CATALOG_CASTS.has(typed.name.replace(/^pg_catalog\./, ''))) return true
  if (n.kind === 'func_call' && n.name === 'pg_get_viewdef') return true
  return Object.values(node as Record<string, unknown>).some(hasSubquery)
}

// ---------------------------------------------------------------------------------------------------------
// The relational planner

interface PlanContext {
  readonly catalog: Catalog
  readonly params: SqlType[]
  readonly relations: RelationRef[]
  readonly hooks: BindHooks
}

/** Tracks whether a subquery reads a column of the query around it. */
interface Correlation {
  correlated: boolean
}

/** A scope whose own columns come first; names it lacks resolve in the enclosing query's scope. */
class NestedScope extends Scope {
  private readonly own: Scope

  constructor(
    own: readonly ScopeColumn[],
    private readonly outer: Scope | null,
    private readonly tracker: Correlation,
    hooks: BindHooks,
  ) {
    super([...own, ...(outer?.columns ?? [])], hooks)
    this.own = new Scope(own)
  }

  override resolve(table: readonly string[], name: string, span: Span): number {
    try {
      return this.own.resolve(table, name, span)
    } catch (err) {
      const code = (err as { sqlstate?: string }).sqlstate
      if (this.outer === null || (code !== SqlState.undefinedColumn && code !== SqlState.undefinedTable)) throw err
      let index: number
      try {
        index = this.outer.resolve(table, name, span)
      } catch {
        throw err
      }
      this.tracker.correlated = true
      return this.own.columns.length + index
    }
  }

  override expand(table: readonly string[], span: Span): number[] {
    return this.own.expand(table, span)
  }
}

function planRelational(query: ast.Query, catalog: Catalog, paramTypes: readonly SqlType[]): PullPlan {
  const params = [...paramTypes]
  const relations: RelationRef[] = []
  const ctx: PlanContext = {
    catalog,
    params,
    relations,
    hooks: {
      subquery: (e, scope) => bindSubquery(e, scope, ctx),
      cast: (inner, target, span) => bindCatalogCast(inner, target, span),
    },
  }
  const planned = planQuery(query, null, { correlated: false }, ctx)
  const select: BoundSelect =
    planned.node.kind === 'block'
      ? planned.node.select
      : { filter: null, aggregation: null, output: [], outputColumns: planned.columns, orderBy: [], limit: null, offset: null, distinct: false, windows: [] }
  return { source: { kind: 'relational', name: relations.map((r) => r.name).join(', ') || 'one row', root: planned.node, relations }, select, paramTypes: params }
}

interface Planned {
  readonly node: RelNode
  readonly columns: readonly OutputColumn[]
}

function planQuery(q: ast.Query, outer: Scope | null, tracker: Correlation, ctx: PlanContext): Planned {
  switch (q.kind) {
    case 'select':
      return planBlock(q, outer, tracker, ctx)
    case 'set_operation':
      return planSetOp(q, outer, tracker, ctx)
    case 'values':
      throw unsupported('VALUES as a query is not supported yet', q.span)
  }
}

function planBlock(q: ast.Select, outer: Scope | null, tracker: Correlation, ctx: PlanContext): Planned {
  let from: RelNode = { kind: 'one_row' }
  let cols: ScopeColumn[] = []
  q.from.forEach((item, i) => {
    const next = planFrom(item, outer, tracker, ctx)
    if (i === 0) {
      from = next.node
      cols = next.cols
    } else {
      from = { kind: 'join', joinType: 'cross', left: from, right: next.node, leftWidth: cols.length, rightWidth: next.cols.length, on: null }
      cols = [...cols, ...next.cols]
    }
  })
  const scope = new NestedScope(cols, outer, tracker, ctx.hooks)
  const select = bindSelect(q, scope, ctx.params)
  if (select.windows.length > 0) throw unsupported('window functions in pull queries are not supported yet', select.windows[0]!.span)
  return { node: { kind: 'block', from, select }, columns: select.outputColumns }
}

function planFrom(item: ast.FromItem, outer: Scope | null, tracker: Correlation, ctx: PlanContext): { node: RelNode; cols: ScopeColumn[] } {
  switch (item.kind) {
    case 'table_ref': {
      const parts = item.name.parts
      const name = parts[parts.length - 1]!
      const table = item.alias ?? name
      const scoped = (columns: readonly Column[]): ScopeColumn[] => columns.map((c) => ({ table, name: c.name, type: c.type, nullable: c.nullable }))
      const entry = parts.length === 1 || parts[0] === 'public' ? ctx.catalog.get(name) : undefined
      let relation: RelationRef
      let columns: readonly Column[]
      const cat = catalogTable(parts)
      if (entry !== undefined) {
        relation = { source: entry.kind === 'view' ? 'view' : 'stream', name }
        columns = entry.columns
      } else if (cat !== undefined) {
        relation = { source: 'catalog', name: cat }
        columns = CATALOG_TABLES[cat]!
      } else if (SYSTEM_TABLES[name] !== undefined && (parts.length === 1 || parts[0] === 'sluice' || parts[0] === 'public')) {
        relation = { source: 'system', name }
        columns = SYSTEM_TABLES[name]!
      } else {
        throw planError(SqlState.undefinedTable, `relation "${parts.join('.')}" does not exist`, item.name.span)
      }
      ctx.relations.push(relation)
      return { node: { kind: 'scan', relation, width: columns.length }, cols: scoped(columns) }
    }
    case 'subquery_ref': {
      const planned = planQuery(item.query, outer, tracker, ctx)
      const table = item.alias
      return { node: planned.node, cols: planned.columns.map((c) => ({ table, name: c.name, type: c.type, nullable: true })) }
    }
    case 'function_ref': {
      const call = item.call
      if (call.name !== 'generate_series' && call.name !== 'unnest') throw unsupported(`function ${call.name} in FROM is not supported`, item.span)
      const scope = new NestedScope([], outer, tracker, ctx.hooks)
      const args = call.args.map((a) => bindExpr(a, { scope, params: ctx.params, clause: 'FROM' }))
      let type: SqlType
      if (call.name === 'unnest') {
        if (args.length !== 1 || args[0]!.type.element === undefined) throw planError(SqlState.undefinedFunction, 'function unnest requires one array argument', item.span)
        type = args[0]!.type.element
      } else {
        if (args.length < 2 || args.length > 3) throw planError(SqlState.undefinedFunction, 'function generate_series requires 2 or 3 arguments', item.span)
        args.forEach((a, i) => (args[i] = coerceTo(a, Types.int8, spanOf(call.args[i]!), 'argument')))
        if (!args.every((a) => isNumeric(a.type))) throw planError(SqlState.undefinedFunction, 'generate_series is supported over integers', item.span)
        type = args.every((a) => a.type.name === 'int4' || a.type.name === 'int2') ? Types.int4 : Types.int8
      }
      const name = item.columnAliases?.[0] ?? item.alias ?? call.name
      return { node: { kind: 'function', fn: call.name, args }, cols: [{ table: item.alias ?? call.name, name, type, nullable: true }] }
    }
    case 'join': {
      if (item.joinType === 'full') throw unsupported('FULL JOIN is not supported in pull queries', item.span)
      if (item.using !== undefined) throw unsupported('JOIN ... USING is not supported in pull queries; write ON', item.span)
      const left = planFrom(item.left, outer, tracker, ctx)
      const right = planFrom(item.right, outer, tracker, ctx)
      const cols = [...left.cols, ...right.cols]
      let on: BoundExpr | null = null
      if (item.on !== undefined) {
        const scope = new NestedScope(cols, outer, tracker, ctx.hooks)
        on = coerceTo(bindExpr(item.on, { scope, params: ctx.params, clause: 'JOIN/ON' }), Types.bool, spanOf(item.on), 'argument of JOIN/ON')
      }
      const node: RelNode = { kind: 'join', joinType: item.joinType, left: left.node, right: right.node, leftWidth: left.cols.length, rightWidth: right.cols.length, on }
      return { node, cols }
    }
    case 'window_tvf':
      throw unsupported('window functions such as TUMBLE belong in CREATE MATERIALIZED VIEW', item.span)
    case 'match_recognize':
      throw unsupported('MATCH_RECOGNIZE belongs in CREATE MATERIALIZED VIEW', item.span)
  }
}

function planSetOp(q: ast.SetOperation, outer: Scope | null, tracker: Correlation, ctx: PlanContext): Planned {
  const left = planQuery(q.left, outer, tracker, ctx)
  const right = planQuery(q.right, outer, tracker, ctx)
  if (left.columns.length !== right.columns.length) {
    throw planError(SqlState.syntaxError, `each ${q.op.toUpperCase()} query must have the same number of columns`, q.span)
  }
  const columns = left.columns.map((c, i) => ({ ...c, type: c.type.name === 'text' && !c.type.element && right.columns[i]!.type.name !== 'text' ? right.columns[i]!.type : c.type }))
  const orderBy = q.orderBy.map((o): BoundOrder => {
    const descending = o.direction === 'desc'
    const nullsFirst = o.nulls === undefined ? descending : o.nulls === 'first'
    let pos = -1
    if (o.expr.kind === 'literal' && o.expr.literalType === 'integer') pos = Number(o.expr.value) - 1
    else if (o.expr.kind === 'column_ref' && o.expr.table.length === 0) pos = columns.findIndex((c) => c.name === (o.expr as ast.ColumnRef).name)
    if (pos < 0 || pos >= columns.length) throw unsupported('ORDER BY of a set operation must name an output column or position', o.span)
    return { expr: { kind: 'column', index: pos, name: columns[pos]!.name, type: columns[pos]!.type }, descending, nullsFirst }
  })
  const bound = (e: ast.Expr | undefined, clause: string): BoundExpr | null =>
    e === undefined ? null : coerceTo(bindExpr(e, { scope: Scope.empty(), params: ctx.params, clause }), Types.int8, spanOf(e), `argument of ${clause}`)
  return {
    node: { kind: 'set_op', op: q.op, all: q.all, left: left.node, right: right.node, width: columns.length, orderBy, limit: bound(q.limit, 'LIMIT'), offset: bound(q.offset, 'OFFSET') },
    columns,
  }
}

function bindSubquery(e: ast.SubqueryExpr, scope: Scope, ctx: PlanContext): BoundExpr {
  const tracker: Correlation = { correlated: false }
  const planned = planQuery(e.query, scope, tracker, ctx)
  const first = planned.columns[0]
  if (e.mode !== 'exists' && planned.columns.length !== 1) {
    throw planError(SqlState.syntaxError, planned.columns.length > 1 ? 'subquery has too many columns' : 'subquery must return only one column', e.span)
  }
  const args: BoundExpr[] = []
  if (e.mode === 'in') {
    const x = bindExpr(e.expr!, { scope, params: ctx.params, clause: 'IN' })
    args.push(x.type.name === 'unknown' ? coerceTo(x, first!.type, spanOf(e.expr!), 'IN') : x)
  }
  const plan: SubqueryPlan = { node: planned.node, mode: e.mode, negated: e.negated ?? false, correlated: tracker.correlated }
  const type = e.mode === 'exists' || e.mode === 'in' ? Types.bool : e.mode === 'array' ? arrayOf(first!.type) : first!.type
  return {
    kind: 'call',
    fn: `subquery@${e.span.start}`,
    impl: { strict: false, volatile: true, emit: (xs, c) => `ctx.subquery(${c.constant(plan)}, r, p, ctx${xs.length > 0 ? `, ${xs[0]}` : ''})` },
    args,
    type,
  }
}

/** Casts to the catalog's own types: `oid`, `regclass`, `regtype`, `regnamespace`, `name`, `"char"`. */
function bindCatalogCast(inner: BoundExpr, target: string, span: Span): BoundExpr {
  const call = (fn: string, type: SqlType, emit: (x: string, c: EmitContext) => string, catalog = false): BoundExpr => ({
    kind: 'call',
    fn,
    impl: { strict: true, volatile: catalog, emit: ([x], c) => (catalog ? `(ctx.pg === undefined ? null : ${emit(x!, c)})` : emit(x!, c)) },
    args: [inner],
    type,
  })
  const numeric = isNumeric(inner.type)
  const isTextLike = !inner.type.element && (inner.type.name === 'text' || inner.type.name === 'unknown')
  switch (target) {
    case 'name':
      return isTextLike ? retype(inner, T.name, span) : call('name', T.name, (x) => `String(${x})`)
    case 'char':
      return isTextLike ? retype(inner, T.char, span) : call('char', T.char, (x) => `String(${x})`)
    case 'oid':
      if (numeric) return retype(inner, T.oid, span)
      return call('oid', T.oid, (x) => `Number(${x})`)
    case 'regclass':
      if (numeric) return call('regclass', T.regclass, (x) => `ctx.pg.relname(${x})`, true)
      return call('regclass', T.oid, (x) => `ctx.pg.relOid(${x})`, true)
    case 'regtype':
      if (numeric) return call('regtype', T.regtype, (x, c) => `${c.constant(formatType)}(${x}, null)`)
      return call('regtype', T.oid, (x, c) => `${c.constant(typeOidByName)}(${x})`)
    case 'regnamespace':
      if (numeric) return call('regnamespace', T.regnamespace, (x) => `ctx.pg.nspname(${x})`, true)
      break
    case 'regproc':
      return call('regproc', T.regproc, (x) => `String(${x})`)
  }
  throw unsupported(`casts to ${target} are not supported`, span)
}

/** An untyped literal or a value of the carrying type gets the catalog type; the value stays as it is. */
function retype(inner: BoundExpr, type: SqlType, span: Span): BoundExpr {
  const coerced = inner.type.name === 'unknown' ? coerceTo(inner, { name: type.name }, span, 'cast') : inner
  if (coerced.kind === 'const') return { kind: 'const', value: coerced.value, type }
  return { kind: 'cast', expr: coerced, type }
}

