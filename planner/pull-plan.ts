/**
 * Plans a pull query: a SELECT over a materialized view, a stream's retained events, a system table, or
 * no relation at all (`SELECT 1`, `SELECT version()`). The executor fetches the source rows and applies the
 * bound select (filter, aggregation, projection, order, limit).
 *
 * Queries that need more (what psql, JDBC and BI tools send to browse the catalog: several relations,
 * joins, subqueries, UNION, VALUES, window functions (pull-window.ts), set-returning functions in the select
 * list, the virtual pg_catalog / information_schema tables of pg-catalog.ts) are planned as a small
 * relational tree (`RelNode`) that executor/pull.ts evaluates over in-memory rows.
 * Reads of one view, stream or system table keep the single-relation plan and its streaming execution.
 */
import * as ast from '../parser/ast.ts'
import { SqlState, planError, unsupported, type Span } from '../common/errors.ts'
import { Types, arrayOf, isNumeric, isTemporal, type Column, type SqlType } from '../common/types.ts'
import type { BoundExpr, EmitContext, OutputColumn } from '../expr/bound.ts'
import { bindExpr, coerceTo, spanOf } from './bind-expr.ts'
import { bindSelect, type BoundOrder, type BoundSelect } from './select.ts'
import { Scope, type BindHooks, type ScopeColumn } from './scope.ts'
import type { Catalog } from './catalog.ts'
import { pointKey } from './point-lookup.ts'
import { SYSTEM_TABLES } from './system-tables.ts'
import { CATALOG_TABLES, T, catalogTable, entryOid, formatType, namespaceOid, typeOidByName } from './pg-catalog.ts'
import { bindPullWindow, type PullWindowCall } from './pull-window.ts'
import { WINDOW_REF_BASE, groupedWindowBlocks, mapWindowCall, ungroupedWindows, type Regroup } from './grouped-windows.ts'
import { planJoins, type JoinCondition, type JoinLeaf } from './join-plan.ts'
import { KEYWORD_COLUMNS, OPTION_COLUMNS, TABLE_FUNCTIONS, isTableFunction, type ResultColumn, type TableFunction } from './table-functions.ts'
import { numericCommon } from './functions.ts'
import { planPattern, type PatternPlan } from './pattern-plan.ts'
import { groupedSetReturning } from './grouped-srf.ts'

export type PullSource =
  | { readonly kind: 'none' }
  | {
      readonly kind: 'view'
      readonly name: string
      readonly columns: readonly Column[]
      /** WHERE pins every group key: the values of the one entry to get (see point-lookup.ts). */
      readonly key?: readonly BoundExpr[]
    }
  | { readonly kind: 'stream'; readonly name: string; readonly columns: readonly Column[] }
  | { readonly kind: 'system'; readonly name: string; readonly columns: readonly Column[] }
  | { readonly kind: 'relational'; readonly name: string; readonly root: RelNode; readonly relations: readonly RelationRef[] }

export interface PullPlan {
  readonly source: PullSource
  readonly select: BoundSelect
  readonly paramTypes: readonly SqlType[]
  /**
   * For each output column read unchanged from a stream or view, its relation's OID and column number
   * (RowDescription's table OID and attribute number, which JDBC's ResultSetMetaData uses to look up the
   * column's table and nullability); null for computed columns. Absent means none is known.
   */
  readonly columnOrigins?: readonly (ColumnOrigin | null)[]
}

export interface ColumnOrigin {
  readonly tableOid: number
  readonly columnNumber: number
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
  /** `VALUES (...), (...)`: one row per list, its expressions over the enclosing query's row. */
  | { readonly kind: 'values'; readonly rows: readonly (readonly BoundExpr[])[] }
  /** A set-returning function in FROM (planner/table-functions.ts): its rows, arguments over the enclosing row. */
  | { readonly kind: 'function'; readonly fn: TableFunction; readonly args: readonly BoundExpr[] }
  /**
   * A two-way join as written. `on` is over the left row, the right row and `outer`; after join planning
   * (join-plan.ts) it is what remains of ON beside the hash `keys` (each over its side's row and `outer`)
   * and the filters of a side applied before the join.
   */
  | {
      readonly kind: 'join'
      readonly joinType: 'inner' | 'left' | 'right' | 'full' | 'cross'
      readonly left: RelNode
      readonly right: RelNode
      readonly leftWidth: number
      readonly rightWidth: number
      readonly on: BoundExpr | null
      readonly keys?: { readonly left: readonly BoundExpr[]; readonly right: readonly BoundExpr[] }
      readonly leftFilter?: BoundExpr | null
      readonly rightFilter?: BoundExpr | null
    }
  /**
   * `FROM a, LATERAL (SELECT ... a.x ...) b`, `a LEFT JOIN LATERAL f(a.x) ON true`: `right` runs once per
   * left row, its expressions seeing the left row followed by `outer`; `on` is over left row, right row, outer.
   */
  | {
      readonly kind: 'lateral'
      readonly joinType: 'inner' | 'left'
      readonly left: RelNode
      readonly right: RelNode
      readonly leftWidth: number
      readonly rightWidth: number
      readonly on: BoundExpr | null
    }
  /** Inner and comma joins with WHERE and ON pushed down (join-plan.ts); rows are `width` wide, leaves in place. */
  | { readonly kind: 'multi_join'; readonly leaves: readonly JoinLeaf[]; readonly conditions: readonly JoinCondition[]; readonly width: number }
  /** `windows` are the window function calls of the select list (`agg_ref` i reads call i). */
  | { readonly kind: 'block'; readonly from: RelNode; readonly select: BoundSelect; readonly windows: readonly PullWindowCall[] }
  /**
   * The set-returning functions of a select list (`_pg_expandarray(indkey)`, `unnest(x)`,
   * `generate_subscripts(x, 1)`), run in lockstep as PostgreSQL does: each input row repeated as many times
   * as the longest call has values, with one more column per call (NULL where a call has run out; for
   * `_pg_expandarray` the record `(x, n)`: the element and its position).
   */
  | { readonly kind: 'expand'; readonly input: RelNode; readonly calls: readonly SetReturningCall[] }
  /** MATCH_RECOGNIZE over the rows of `input` (a stream's stored rows or a view's rows), as final input. */
  | { readonly kind: 'match_recognize'; readonly input: RelNode; readonly pattern: PatternPlan }
  /** With `recursive`: `right` runs again on the rows the step before added (its `working` scans) until it adds none. */
  | { readonly kind: 'set_op'; readonly op: 'union' | 'intersect' | 'except'; readonly all: boolean; readonly left: RelNode; readonly right: RelNode; readonly width: number; readonly orderBy: readonly BoundOrder[]; readonly limit: BoundExpr | null; readonly offset: BoundExpr | null; readonly recursive?: WorkingTable }
  /** The working table of a recursive query (WITH RECURSIVE), read by its recursive term. */
  | { readonly kind: 'working'; readonly table: WorkingTable; readonly width: number }

/** Identifies one recursive query's working table; the rows are the executor's, per run. */
export interface WorkingTable {
  readonly name: string
}

export interface SetReturningCall {
  readonly fn: TableFunction
  readonly args: readonly BoundExpr[]
}

/** A subquery inside an expression; compiled code calls `ctx.subquery(this, row, params, ctx, testValue)`. */
export interface SubqueryPlan {
  readonly node: RelNode
  readonly mode: 'scalar' | 'exists' | 'in' | 'array'
  readonly negated: boolean
  /** False when it reads no outer column: then it runs once per statement. */
  readonly correlated: boolean
  /** The enclosing scope's columns it reads; their values are the call's arguments after the IN test value. */
  readonly outerColumns: readonly number[]
}

const PULL = { groupingSets: true }

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
  const select = bindSelect(query, scope, params, PULL)
  if (select.windows.length > 0) {
    throw unsupported('window functions in a query of a view are not supported yet', select.windows[0]!.span, 'Compute them in the continuous view itself.')
  }
  let columnOrigins: (ColumnOrigin | null)[] | undefined
  const entry = source.kind === 'view' || source.kind === 'stream' ? catalog.get(source.name) : undefined
  if (source.kind === 'view' && entry?.kind === 'view') {
    const key = pointKey(entry, select.filter)
    if (key !== null) source = { ...source, key }
  }
  if (entry !== undefined && select.aggregation === null) {
    const tableOid = entryOid(entry)
    columnOrigins = select.outputColumns.map((_, i) => {
      const e = select.output[i]!
      return e.kind === 'column' ? { tableOid, columnNumber: e.index + 1 } : null
    })
  }
  return { source, select, paramTypes: params, ...(columnOrigins ? { columnOrigins } : {}) }
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
  if (q.kind === 'set_operation' || q.kind === 'values') return true
  if (q.from.length > 1) return true
  const f = q.from[0]
  if (f !== undefined) {
    if (f.kind === 'join' || f.kind === 'subquery_ref' || f.kind === 'function_ref' || f.kind === 'match_recognize') return true
    if (f.kind === 'table_ref' && catalog.get(f.name.parts[f.name.parts.length - 1]!) === undefined && catalogTable(f.name.parts) !== undefined) return true
  }
  return hasSubquery(q)
}

const SET_RETURNING: ReadonlySet<string | undefined> = TABLE_FUNCTIONS
/** Functions that read the running catalog through `ctx.pg` (pg-catalog.ts `CatalogLookup`). */
const CATALOG_FUNCTIONS = new Set<string | undefined>(['pg_get_viewdef', 'pg_get_indexdef', 'pg_get_constraintdef'])
const CATALOG_CASTS = new Set(['oid', 'regclass', 'regtype', 'regnamespace', 'regproc', 'regprocedure', 'regoper', 'regoperator'])

/** Subqueries, casts to `oid`/`regclass`/..., and functions that read the catalog (`pg_get_viewdef`). */
function hasSubquery(node: unknown): boolean {
  if (node === null || typeof node !== 'object') return false
  if (Array.isArray(node)) return node.some(hasSubquery)
  const n = node as { kind?: string; type?: ast.TypeRef; name?: string }
  if (n.kind === 'subquery') return true
  if (n.kind === 'cast' && n.type !== undefined && CATALOG_CASTS.has(n.type.name.replace(/^pg_catalog\./, ''))) return true
  const typed = (node as { typeName?: ast.TypeRef }).typeName
  if (n.kind === 'literal' && typed !== undefined && CATALOG_CASTS.has(typed.name.replace(/^pg_catalog\./, ''))) return true
  // An ordered aggregate (`string_agg(x, ',' ORDER BY y)`) sorts its block's input first (hoistAggregateOrder).
  if (n.kind === 'func_call' && (CATALOG_FUNCTIONS.has(n.name) || (n as ast.FuncCall).over !== undefined || SET_RETURNING.has(n.name) || ((n as ast.FuncCall).orderBy?.length ?? 0) > 0)) return true
  if (n.kind === 'field_select') return true
  return Object.values(node as Record<string, unknown>).some(hasSubquery)
}

// ---------------------------------------------------------------------------------------------------------
// The relational planner

interface PlanContext {
  readonly catalog: Catalog
  readonly params: SqlType[]
  readonly relations: RelationRef[]
  readonly hooks: BindHooks
  /** The working tables of the recursive queries being planned, by name (innermost wins). */
  readonly working?: Map<string, { readonly table: WorkingTable; readonly columns: readonly Column[] }>
}

/** Tracks whether a subquery reads a column of the query around it. */
interface Correlation {
  correlated: boolean
  /** Which columns of the enclosing query's scope it reads. */
  readonly used: Set<number>
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
      this.tracker.used.add(index)
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
      orderedAggregates: true,
      subquery: (e, scope) => bindSubquery(e, scope, ctx),
      cast: (inner, target, span) => bindCatalogCast(inner, target, span),
      fieldSelect: bindFieldSelect,
    },
  }
  const planned = showRegclass(planQuery(query, null, { correlated: false, used: new Set() }, ctx))
  const select: BoundSelect =
    planned.node.kind === 'block'
      ? planned.node.select
      : { filter: null, aggregation: null, output: [], outputColumns: planned.columns, orderBy: [], limit: null, offset: null, distinct: false, windows: [] }
  return { source: { kind: 'relational', name: relations.map((r) => r.name).join(', ') || 'one row', root: planned.node, relations }, select, paramTypes: params }
}

/**
 * `'ends'::regclass` is an OID while the query runs (it compares with `oid` columns), but a client reading
 * it is shown the relation's name, as PostgreSQL's regclass output prints it.
 */
const REGCLASS_OID: SqlType = Object.freeze({ name: 'int4', pgOid: 2205, pgSize: 4 })

function showRegclass(planned: Planned): Planned {
  if (!planned.columns.some((c) => c.type === REGCLASS_OID)) return planned
  const output = planned.columns.map((c, i): BoundExpr => {
    const col: BoundExpr = { kind: 'column', index: i, name: c.name, type: c.type }
    if (c.type !== REGCLASS_OID) return col
    return { kind: 'call', fn: 'regclassout', impl: { strict: true, volatile: true, emit: ([x]) => `(ctx.pg === undefined ? String(${x}) : ctx.pg.relname(${x}))` }, args: [col], type: T.regclass }
  })
  const columns = planned.columns.map((c) => (c.type === REGCLASS_OID ? { ...c, type: T.regclass } : c))
  const select: BoundSelect = { filter: null, aggregation: null, output, outputColumns: columns, orderBy: [], limit: null, offset: null, distinct: false, windows: [] }
  return { node: { kind: 'block', from: planned.node, select, windows: [] }, columns }
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
      return planValues(q, outer, tracker, ctx)
  }
}

/** Each column takes the type of its first typed value (untyped literals become text), as PostgreSQL does. */
function planValues(q: ast.ValuesQuery, outer: Scope | null, tracker: Correlation, ctx: PlanContext): Planned {
  const scope = new NestedScope([], outer, tracker, ctx.hooks)
  const width = q.rows[0]?.length ?? 0
  if (q.rows.some((r) => r.length !== width)) throw planError(SqlState.syntaxError, 'VALUES lists must all be the same length', q.span)
  const bound = q.rows.map((r) => r.map((e) => bindExpr(e, { scope, params: ctx.params, clause: 'VALUES' })))
  const types = Array.from({ length: width }, (_, i) => valuesColumnType(bound.map((r) => r[i]!.type)))
  const rows = bound.map((r, ri) => r.map((e, i) => coerceTo(e, types[i]!, spanOf(q.rows[ri]![i]!), 'VALUES')))
  return { node: { kind: 'values', rows }, columns: types.map((type, i) => ({ name: `column${i + 1}`, type, nullable: true })) }
}

/** A VALUES column's type: its first typed value's, widened over numeric types (`(1), (2.5)` is numeric). */
function valuesColumnType(types: readonly SqlType[]): SqlType {
  let out: SqlType | undefined
  for (const t of types) {
    if (t.name === 'unknown') continue
    out = out !== undefined && out.name !== t.name && isNumeric(out) && isNumeric(t) ? numericCommon(out, t) : (out ?? t)
  }
  return out ?? Types.text
}

function planBlock(q0: ast.Select, outer: Scope | null, tracker: Correlation, ctx: PlanContext): Planned {
  const expandAfterGrouping = groupedSetReturning(q0, (name) => SET_RETURNING.has(name))
  if (expandAfterGrouping !== null) return planBlock(expandAfterGrouping, outer, tracker, ctx)
  let q = q0
  let from: RelNode = { kind: 'one_row' }
  let cols: ScopeColumn[] = []
  q.from.forEach((item, i) => {
    if (i > 0 && isLateral(item)) {
      const lateral = planLateral(from, cols, item, 'inner', undefined, outer, tracker, ctx)
      from = lateral.node
      cols = lateral.cols
      return
    }
    const next = planFrom(item, outer, tracker, ctx)
    if (i === 0) {
      from = next.node
      cols = next.cols
    } else {
      from = { kind: 'join', joinType: 'cross', left: from, right: next.node, leftWidth: cols.length, rightWidth: next.cols.length, on: null }
      cols = [...cols, ...next.cols]
    }
  })
  const fromWidth = cols.length
  const srf = setReturningCalls(q)
  if (srf !== null) {
    from = planJoins(from, fromWidth, null).node
    const scope = new NestedScope(cols, outer, tracker, ctx.hooks)
    const calls = srf.calls.map((call): SetReturningCall & { column: ResultColumn } => {
      const planned = planTableCall(call, call.args.map((a) => bindExpr(a, { scope, params: ctx.params, clause: 'FROM' })), call.span)
      if (planned.columns.length !== 1) throw unsupported(`${call.name} in a select list is not supported; call it in FROM`, call.span)
      return { fn: call.name as TableFunction, args: planned.args, column: planned.columns[0]! }
    })
    from = { kind: 'expand', input: from, calls: calls.map(({ fn, args }) => ({ fn, args })) }
    cols = [...cols, ...calls.map((c, k) => ({ name: `${SRF_COLUMN}${k}`, type: c.column.type, nullable: true, hidden: true }))]
    q = srf.rewritten
  }
  const ordered = hoistAggregateOrder(q)
  if (ordered !== null) {
    // `array_agg(x ORDER BY y)`: the block's input sorted by y first; aggregates take rows in input order.
    const scope = new NestedScope(cols, outer, tracker, ctx.hooks)
    const orderBy = ordered.orderBy.map((o): BoundOrder => {
      const descending = o.direction === 'desc'
      return { expr: bindExpr(o.expr, { scope, params: ctx.params, clause: 'ORDER BY' }), descending, nullsFirst: o.nulls === undefined ? descending : o.nulls === 'first' }
    })
    const output: BoundExpr[] = cols.map((c, i) => ({ kind: 'column', index: i, name: c.name, type: c.type }))
    const outputColumns = cols.map((c) => ({ name: c.name, type: c.type, nullable: true }))
    from = { kind: 'block', from, select: { filter: null, aggregation: null, output, outputColumns, orderBy, limit: null, offset: null, distinct: false, windows: [] }, windows: [] }
    q = ordered.rewritten
  }
  const windows: PullWindowCall[] = []
  const hooks: BindHooks = { ...ctx.hooks, window: (e, c) => windowReference(bindPullWindow(e, c, windows)) }
  const scope = new NestedScope(cols, outer, tracker, hooks)
  let regroup: Regroup | undefined
  let select = bindSelect(q, scope, ctx.params, { ...PULL, regroup: (r) => (regroup = r) })
  if (srf === null) {
    // WHERE conjuncts go down to the joins: filters of single relations, hash keys of equalities.
    const joined = planJoins(from, fromWidth, select.filter)
    from = joined.node
    select = { ...select, filter: joined.filter }
  }
  if (windows.length > 0 && select.aggregation !== null && regroup !== undefined) {
    const rg = regroup
    const split = groupedWindowBlocks(from, select, windows.map((w) => mapWindowCall(w, (e) => rg(e, w.span))))
    return { node: split.node, columns: select.outputColumns }
  }
  if (windows.length > 0) select = ungroupedWindows(select)
  return { node: { kind: 'block', from, select, windows }, columns: select.outputColumns }
}

/** Window call j while binding (grouped-windows.ts): apart from aggregate values until the block is planned. */
function windowReference(e: BoundExpr): BoundExpr {
  return e.kind === 'agg_ref' ? { ...e, index: e.index + WINDOW_REF_BASE } : e
}

function planFrom(item: ast.FromItem, outer: Scope | null, tracker: Correlation, ctx: PlanContext): { node: RelNode; cols: ScopeColumn[] } {
  switch (item.kind) {
    case 'table_ref': {
      const parts = item.name.parts
      const name = parts[parts.length - 1]!
      const table = item.alias ?? name
      const scoped = (columns: readonly Column[]): ScopeColumn[] => columns.map((c) => ({ table, name: c.name, type: c.type, nullable: c.nullable }))
      const working = parts.length === 1 ? ctx.working?.get(name) : undefined
      if (working !== undefined) return { node: { kind: 'working', table: working.table, width: working.columns.length }, cols: scoped(working.columns) }
      const entry = parts.length === 1 || parts[0] === 'public' ? ctx.catalog.get(name) : undefined
      let relation: RelationRef
      let columns: readonly Column[]
      const cat = catalogTable(parts)
      if (entry !== undefined) {
        relation = { source: entry.kind === 'view' ? 'view' : 'stream', name }
        columns = entry.columns
      } else if (cat !== undefined) {
        // Catalog rows end with the system column `tableoid` (pg_dump and psql's \dd read it).
        relation = { source: 'catalog', name: cat }
        columns = CATALOG_TABLES[cat]!
        ctx.relations.push(relation)
        const cols = [...scoped(columns), { table, name: 'tableoid', type: T.oid, nullable: false, hidden: true }]
        return { node: { kind: 'scan', relation, width: cols.length }, cols }
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
      if ((item.columnAliases?.length ?? 0) > planned.columns.length) {
        throw planError(SqlState.invalidColumnReference, `table "${table}" has ${planned.columns.length} columns available but ${item.columnAliases!.length} columns specified`, item.span)
      }
      return { node: planned.node, cols: planned.columns.map((c, i) => ({ table, name: item.columnAliases?.[i] ?? c.name, type: c.type, nullable: true })) }
    }
    case 'function_ref': {
      const call = item.call
      if (!isTableFunction(call.name) || call.name === '_pg_expandarray') throw unsupported(`function ${call.name} in FROM is not supported`, item.span)
      const scope = new NestedScope([], outer, tracker, ctx.hooks)
      const planned = planTableCall(call, call.args.map((a) => bindExpr(a, { scope, params: ctx.params, clause: 'FROM' })), item.span)
      const table = item.alias ?? call.name
      // A one-column function's column is named after the alias (`generate_series(1, 3) g`), as in PostgreSQL.
      const single = planned.columns.length === 1
      const cols = planned.columns.map((c, i): ScopeColumn => ({ table, name: item.columnAliases?.[i] ?? (single ? table : c.name), type: c.type, nullable: true }))
      return { node: { kind: 'function', fn: call.name, args: planned.args }, cols }
    }
    case 'join': {
      const left = planFrom(item.left, outer, tracker, ctx)
      if (isLateral(item.right)) {
        if (item.joinType !== 'inner' && item.joinType !== 'cross' && item.joinType !== 'left') {
          throw planError(SqlState.invalidColumnReference, `the combining JOIN type must be INNER or LEFT for a LATERAL reference`, item.span)
        }
        if (item.using !== undefined) throw unsupported('USING with LATERAL is not supported', item.span, 'Write the condition in ON.')
        return planLateral(left.node, left.cols, item.right, item.joinType === 'left' ? 'left' : 'inner', item.on, outer, tracker, ctx)
      }
      const right = planFrom(item.right, outer, tracker, ctx)
      let cols = [...left.cols, ...right.cols]
      let on: BoundExpr | null = null
      if (item.on !== undefined) {
        const scope = new NestedScope(cols, outer, tracker, ctx.hooks)
        on = coerceTo(bindExpr(item.on, { scope, params: ctx.params, clause: 'JOIN/ON' }), Types.bool, spanOf(item.on), 'argument of JOIN/ON')
      } else if (item.using !== undefined) {
        on = usingCondition(item.using, left.cols, right.cols, item.span, ctx)
        // The USING columns answer to their unqualified name from the left side (the right for RIGHT JOIN).
        const hide = item.joinType === 'right' ? 0 : 1
        cols = cols.map((c, i) => ((i < left.cols.length ? 0 : 1) === hide && item.using!.includes(c.name) ? { ...c, qualifiedOnly: true } : c))
      }
      const node: RelNode = { kind: 'join', joinType: item.joinType, left: left.node, right: right.node, leftWidth: left.cols.length, rightWidth: right.cols.length, on }
      return { node, cols }
    }
    case 'window_tvf':
      throw unsupported('window functions such as TUMBLE belong in CREATE MATERIALIZED VIEW', item.span)
    case 'match_recognize': {
      const { stream, plan } = planPattern(item, ctx.catalog)
      const name = item.input.name.parts[item.input.name.parts.length - 1]!
      const relation: RelationRef = { source: ctx.catalog.get(name)?.kind === 'view' ? 'view' : 'stream', name }
      ctx.relations.push(relation)
      const table = item.alias ?? stream.name
      const cols = plan.columns.map((c): ScopeColumn => ({ table, name: c.name, type: c.type, nullable: true }))
      return { node: { kind: 'match_recognize', input: { kind: 'scan', relation, width: stream.columns.length }, pattern: plan }, cols }
    }
  }
}

/**
 * A FROM item that reads the items before it: a `LATERAL` subquery, or a function whose arguments name
 * columns (PostgreSQL lets functions in FROM read earlier items without the keyword).
 */
function isLateral(item: ast.FromItem): boolean {
  if (item.kind === 'subquery_ref') return item.lateral === true
  return item.kind === 'function_ref' && JSON.stringify(item.call.args).includes('"kind":"column_ref"')
}

/** Plans `right` with the columns of `left` in scope before the enclosing query's. */
function planLateral(
  left: RelNode,
  leftCols: readonly ScopeColumn[],
  right: ast.FromItem,
  joinType: 'inner' | 'left',
  on: ast.Expr | undefined,
  outer: Scope | null,
  tracker: Correlation,
  ctx: PlanContext,
): { node: RelNode; cols: ScopeColumn[] } {
  const seen = new NestedScope(leftCols, outer, tracker, ctx.hooks)
  const planned = planFrom(right, seen, { correlated: false, used: new Set() }, ctx)
  const cols = [...leftCols, ...planned.cols]
  let cond: BoundExpr | null = null
  if (on !== undefined) {
    const scope = new NestedScope(cols, outer, tracker, ctx.hooks)
    cond = coerceTo(bindExpr(on, { scope, params: ctx.params, clause: 'JOIN/ON' }), Types.bool, spanOf(on), 'argument of JOIN/ON')
  }
  return { node: { kind: 'lateral', joinType, left, right: planned.node, leftWidth: leftCols.length, rightWidth: planned.cols.length, on: cond }, cols }
}

/** `USING (a, b)`: `l.a = r.a AND l.b = r.b`, each name resolved on its own side. */
function usingCondition(names: readonly string[], left: readonly ScopeColumn[], right: readonly ScopeColumn[], span: Span, ctx: PlanContext): BoundExpr {
  const L = '\u0000left'
  const R = '\u0000right'
  const side = (columns: readonly ScopeColumn[], table: string): ScopeColumn[] => columns.map((c) => (names.includes(c.name) && !c.qualifiedOnly ? { ...c, table } : { ...c, table: undefined, name: `\u0000${c.name}` }))
  const scope = new Scope([...side(left, L), ...side(right, R)])
  const ref = (table: string, name: string): ast.ColumnRef => ({ kind: 'column_ref', table: [table], name, span })
  const eqs: ast.Expr[] = names.map((n) => ({ kind: 'binary_op', op: '=', left: ref(L, n), right: ref(R, n), span }))
  const cond: ast.Expr = eqs.length === 1 ? eqs[0]! : { kind: 'bool_expr', op: 'and', args: eqs, span }
  try {
    return coerceTo(bindExpr(cond, { scope, params: ctx.params, clause: 'JOIN/USING' }), Types.bool, span, 'argument of JOIN/USING')
  } catch (err) {
    const e = err as { sqlstate?: string; message?: string }
    if (e.sqlstate === SqlState.undefinedColumn || e.sqlstate === SqlState.undefinedTable) {
      const missing = names.find((n) => !left.some((c) => c.name === n)) ?? names.find((n) => !right.some((c) => c.name === n)) ?? names[0]
      throw planError(SqlState.undefinedColumn, `column "${missing}" specified in USING clause does not exist in ${left.some((c) => c.name === missing) ? 'right' : 'left'} table`, span)
    }
    throw err
  }
}

/** The hidden column a select-list set-returning call reads after the rewrite of `setReturningCall`. */
const SRF_COLUMN = '\u0000srf'

/**
 * Finds the set-returning calls of a select list (`_pg_expandarray(x)`, `unnest(x)`,
 * `generate_subscripts(x, 1)`) and returns the select with each replaced by a reference to its expanded
 * column; the same call written twice (pgjdbc's `(_pg_expandarray(i.indkey)).n` beside
 * `_pg_expandarray(i.indkey) AS keys`) is one column.
 */
function setReturningCalls(q: ast.Select): { calls: ast.FuncCall[]; rewritten: ast.Select } | null {
  const calls: ast.FuncCall[] = []
  const keys: string[] = []
  const strip = (x: unknown): string => JSON.stringify(x, (k, v) => (k === 'span' ? undefined : v))
  const rewrite = (node: unknown): unknown => {
    if (node === null || typeof node !== 'object') return node
    if (Array.isArray(node)) return node.map(rewrite)
    const n = node as { kind?: string }
    if (n.kind === 'subquery') return node
    if (n.kind === 'func_call' && SET_RETURNING.has((n as ast.FuncCall).name) && (n as ast.FuncCall).over === undefined) {
      const call = n as ast.FuncCall
      const key = strip(call)
      let k = keys.indexOf(key)
      if (k < 0) {
        k = keys.push(key) - 1
        calls.push(call)
      }
      return { kind: 'column_ref', table: [], name: `${SRF_COLUMN}${k}`, span: call.span } satisfies ast.ColumnRef
    }
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, rewrite(v)]))
  }
  const targets = rewrite(q.targets) as ast.SelectItem[]
  if (calls.length === 0) return null
  if (q.groupBy.length > 0) throw unsupported(`${calls[0]!.name} in the select list of a grouped query is not supported`, calls[0]!.span)
  // Unaliased, the item keeps the function's name as PostgreSQL gives it.
  const named = targets.map((t, i) => (t.alias === undefined && q.targets[i]!.expr.kind === 'func_call' ? { ...t, alias: (q.targets[i]!.expr as ast.FuncCall).name } : t))
  return { calls, rewritten: { ...q, targets: named } }
}

/**
 * The ORDER BY inside the aggregate calls of a select list or HAVING (`array_agg(attname ORDER BY i)`),
 * removed from the calls. Sorting the input once serves every such aggregate, so they must all order alike.
 */
const DIFFERENT_ORDERS = new Error('aggregates ordered differently')

function hoistAggregateOrder(q: ast.Select): { orderBy: readonly ast.OrderItem[]; rewritten: ast.Select } | null {
  let found: readonly ast.OrderItem[] | null = null
  const strip = (x: unknown): string => JSON.stringify(x, (k, v) => (k === 'span' ? undefined : v))
  const rewrite = (node: unknown): unknown => {
    if (node === null || typeof node !== 'object') return node
    if (Array.isArray(node)) return node.map(rewrite)
    const n = node as { kind?: string }
    if (n.kind === 'subquery') return node
    if (n.kind === 'func_call' && (n as ast.FuncCall).over === undefined && ((n as ast.FuncCall).orderBy?.length ?? 0) > 0) {
      const call = n as ast.FuncCall
      if (found === null) found = call.orderBy!
      else if (strip(found) !== strip(call.orderBy)) throw DIFFERENT_ORDERS
      const { orderBy: _, ...rest } = call
      return { ...rest, args: rewrite(call.args) }
    }
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, rewrite(v)]))
  }
  let targets: ast.SelectItem[]
  let having: ast.Expr | undefined
  try {
    targets = rewrite(q.targets) as ast.SelectItem[]
    having = q.having === undefined ? undefined : (rewrite(q.having) as ast.Expr)
  } catch (err) {
    // Aggregates ordered differently each sort their own values (ordered-aggregate.ts).
    if (err === DIFFERENT_ORDERS) return null
    throw err
  }
  if (found === null) return null
  return { orderBy: found, rewritten: { ...q, targets, ...(having === undefined ? {} : { having }) } }
}

/** A set-returning call's arguments (cast as its signature wants them) and result columns. */
function planTableCall(call: ast.FuncCall, bound: BoundExpr[], span: Span): { args: BoundExpr[]; columns: readonly ResultColumn[] } {
  const args = [...bound]
  const argSpan = (i: number): Span => (call.args[i] !== undefined ? spanOf(call.args[i]!) : span)
  const signature = (usage: string): never => {
    throw planError(SqlState.undefinedFunction, `function ${call.name}(${args.map((a) => a.type.name).join(', ')}) does not exist`, span, `${call.name} takes ${usage}.`)
  }
  const arrayArg = (i: number, usage: string): SqlType => {
    const t = args[i]?.type
    if (t === undefined || t.element === undefined) signature(usage)
    return t!.element!
  }
  switch (call.name as TableFunction) {
    case 'unnest':
      if (args.length !== 1) signature('one array')
      return { args, columns: [{ name: 'unnest', type: arrayArg(0, 'one array') }] }
    case '_pg_expandarray':
      if (args.length !== 1) signature('one array')
      return { args, columns: [{ name: '_pg_expandarray', type: expandArrayRecord(arrayArg(0, 'one array')) }] }
    case 'generate_series': {
      if (args.length < 2 || args.length > 3) signature('(start, stop [, step]) integers')
      if (args.length === 3 && (args.some((a) => isTemporal(a.type)) || args[2]!.type.name === 'interval')) {
        // Over timestamps: timestamp only when the start is one, else timestamptz (dates become timestamptz).
        const type = args[0]!.type.name === 'timestamp' && !args[0]!.type.element ? Types.timestamp : Types.timestamptz
        // A date becomes the midnight of the session's zone when run, not when planned.
        args.forEach((a, i) => (args[i] = a.type.name === 'date' && i < 2 && !a.type.element ? { kind: 'cast', expr: a, type } : coerceTo(a, i === 2 ? Types.interval : type, argSpan(i), 'argument')))
        if (args[2]!.type.name !== 'interval' || !args.slice(0, 2).every((a) => isTemporal(a.type))) signature('(start, stop, step interval) timestamps')
        args.push({ kind: 'const', value: type.name === 'timestamptz', type: Types.bool })
        return { args, columns: [{ name: 'generate_series', type }] }
      }
      args.forEach((a, i) => (args[i] = coerceTo(a, Types.int8, argSpan(i), 'argument')))
      if (!args.every((a) => isNumeric(a.type))) throw planError(SqlState.undefinedFunction, 'generate_series is supported over integers', span)
      const type = args.every((a) => a.type.name === 'int4' || a.type.name === 'int2') ? Types.int4 : Types.int8
      return { args, columns: [{ name: 'generate_series', type }] }
    }
    case 'generate_subscripts': {
      const usage = '(array, dimension [, reverse])'
      if (args.length < 2 || args.length > 3) signature(usage)
      arrayArg(0, usage)
      args[1] = coerceTo(args[1]!, Types.int4, argSpan(1), 'argument')
      if (args[2] !== undefined) args[2] = coerceTo(args[2], Types.bool, argSpan(2), 'argument')
      return { args, columns: [{ name: 'generate_subscripts', type: Types.int4 }] }
    }
    case 'pg_get_keywords':
      if (args.length !== 0) signature('no arguments')
      return { args, columns: KEYWORD_COLUMNS }
    case 'pg_options_to_table':
      if (args.length !== 1) signature('one text[]')
      args[0] = coerceTo(args[0]!, arrayOf(Types.text), argSpan(0), 'argument')
      return { args, columns: OPTION_COLUMNS }
    case 'regexp_matches':
    case 'regexp_split_to_table': {
      const usage = '(string, pattern [, flags]) texts'
      if (args.length < 2 || args.length > 3) signature(usage)
      args.forEach((a, i) => (args[i] = coerceTo(a, Types.text, argSpan(i), 'argument')))
      if (!args.every((a) => a.type.name === 'text' && !a.type.element)) signature(usage)
      return { args, columns: [{ name: call.name, type: call.name === 'regexp_matches' ? arrayOf(Types.text) : Types.text }] }
    }
    case 'jsonb_object_keys':
      if (args.length !== 1) signature('one jsonb')
      args[0] = coerceTo(args[0]!, Types.jsonb, argSpan(0), 'argument')
      if (args[0].type.name !== 'jsonb') signature('one jsonb')
      return { args, columns: [{ name: 'jsonb_object_keys', type: Types.text }] }
  }
}

/** The fields of the records catalog functions return, by the identity of their type. */
const RECORD_FIELDS = new WeakMap<SqlType, readonly { name: string; type: SqlType }[]>()

/** `_pg_expandarray(anyarray)` returns `(x anyelement, n int4)`: an element and its 1-based position. */
function expandArrayRecord(element: SqlType): SqlType {
  const type: SqlType = Object.freeze({ name: 'text', pgOid: 2249, pgSize: -1 })
  RECORD_FIELDS.set(type, [
    { name: 'x', type: element },
    { name: 'n', type: Types.int4 },
  ])
  return type
}

/** `(record).field` over a record of RECORD_FIELDS (held as an array of its field values). */
function bindFieldSelect(inner: BoundExpr, field: string, span: Span): BoundExpr {
  const fields = RECORD_FIELDS.get(inner.type)
  if (fields === undefined) throw unsupported('selecting a field of a composite value is not supported', span)
  const i = fields.findIndex((f) => f.name === field)
  if (i === -1) throw planError(SqlState.undefinedColumn, `column "${field}" not found in data type record`, span)
  return { kind: 'call', fn: `.${field}`, impl: { strict: true, emit: ([x]) => `(${x}[${i}] ?? null)` }, args: [inner], type: fields[i]!.type }
}

function planSetOp(q: ast.SetOperation, outer: Scope | null, tracker: Correlation, ctx: PlanContext): Planned {
  const left = planQuery(q.left, outer, tracker, ctx)
  let table: WorkingTable | undefined
  let rightCtx = ctx
  if (q.recursive !== undefined) {
    // The recursive term reads the working table under the CTE's name, with the non-recursive term's columns.
    table = { name: q.recursive.name }
    const names = q.recursive.columns ?? []
    const columns = left.columns.map((c, i): Column => ({ name: names[i] ?? c.name, type: c.type, nullable: true }))
    rightCtx = { ...ctx, working: new Map(ctx.working).set(q.recursive.name, { table, columns }) }
  }
  const right = planQuery(q.right, outer, tracker, rightCtx)
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
    node: { kind: 'set_op', op: q.op, all: q.all, left: left.node, right: right.node, width: columns.length, orderBy, limit: bound(q.limit, 'LIMIT'), offset: bound(q.offset, 'OFFSET'), ...(table === undefined ? {} : { recursive: table }) },
    columns,
  }
}

function bindSubquery(e: ast.SubqueryExpr, scope: Scope, ctx: PlanContext): BoundExpr {
  const tracker: Correlation = { correlated: false, used: new Set() }
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
  // The outer columns it reads are arguments of the call, so that after GROUP BY they become group keys
  // (or error 42803) like any other expression of the select list, and the subquery sees their values.
  const outerColumns = [...tracker.used].sort((a, b) => a - b)
  const testArgs = args.length
  for (const i of outerColumns) args.push({ kind: 'column', index: i, name: scope.columns[i]!.name, type: scope.columns[i]!.type })
  const plan: SubqueryPlan = { node: planned.node, mode: e.mode, negated: e.negated ?? false, correlated: tracker.correlated, outerColumns }
  const type = e.mode === 'exists' || e.mode === 'in' ? Types.bool : e.mode === 'array' ? arrayOf(first!.type) : first!.type
  return {
    kind: 'call',
    fn: `subquery@${e.span.start}`,
    impl: {
      strict: false,
      volatile: true,
      emit: (xs, c) => `ctx.subquery(${c.constant(plan)}, [${xs.slice(testArgs).join(', ')}], ${testArgs > 0 ? xs[0] : 'undefined'})`,
    },
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
    case 'varchar':
      // `indkey::varchar` (SQLAlchemy): the value's text, typed character varying as PostgreSQL reports it.
      return isTextLike ? retype(inner, T.varchar, span) : call('varchar', T.varchar, (x, c) => `H.formatValue(${x}, ${c.constant(inner.type)})`)
    case 'oid':
      if (numeric) return retype(inner, T.oid, span)
      return call('oid', T.oid, (x) => `Number(${x})`)
    case 'regclass':
      if (numeric) return call('regclass', T.regclass, (x) => `ctx.pg.relname(${x})`, true)
      return call('regclass', REGCLASS_OID, (x) => `ctx.pg.relOid(${x})`, true)
    case 'regtype':
      if (numeric) return call('regtype', T.regtype, (x, c) => `${c.constant(formatType)}(${x}, null)`)
      // A type name as regtype prints it (`'int4'::regtype` is `integer`), so that it compares with `oid::regtype`.
      return call('regtype', T.regtype, (x, c) => `${c.constant(regtypeName)}(${x})`)
    case 'regnamespace':
      if (numeric) return call('regnamespace', T.regnamespace, (x) => `ctx.pg.nspname(${x})`, true)
      return call('regnamespace', T.oid, (x, c) => `${c.constant(namespaceOid)}(${x})`)
    case 'regproc':
    case 'regprocedure':
    case 'regoper':
    case 'regoperator':
      // A function's name as regproc prints it: without the pg_catalog qualifier.
      return call('regproc', T.regproc, (x) => `String(${x}).replace(/^pg_catalog\./, '')`)
  }
  throw unsupported(`casts to ${target} are not supported`, span)
}

function regtypeName(name: string): string {
  const oid = typeOidByName(name.toLowerCase())
  return (oid === null ? null : formatType(oid)) ?? name.replace(/^pg_catalog\./, '').replace(/^"|"$/g, '')
}

/** An untyped literal or a value of the carrying type gets the catalog type; the value stays as it is. */
function retype(inner: BoundExpr, type: SqlType, span: Span): BoundExpr {
  const coerced = inner.type.name === 'unknown' ? coerceTo(inner, { name: type.name }, span, 'cast') : inner
  if (coerced.kind === 'const') return { kind: 'const', value: coerced.value, type }
  return { kind: 'cast', expr: coerced, type }
}

