/**
 * Subqueries in FROM of a continuous view (derived tables, and so CTEs, which the parser turns into them),
 * merged into the query that reads them before it is planned:
 *
 *   SELECT player_id, sum(a) FROM (SELECT player_id, amount * 2 AS a FROM game_events WHERE type = 'buy') e
 *   GROUP BY player_id
 *
 * becomes `SELECT player_id, sum(amount * 2) FROM game_events WHERE type = 'buy' GROUP BY player_id`: each
 * reference to a column of the subquery is replaced by the expression that computes it, and the subquery's
 * WHERE is ANDed into the outer one. The result is an ordinary view over one stream, so every operator,
 * check and EXPLAIN applies unchanged; per event, the merged query computes exactly what the nested one
 * does (a subquery without aggregation maps each event to at most one row).
 *
 * TUMBLE/HOP/SESSION((SELECT ...), ts, ...) windows the stream itself; the time column (and a SESSION key)
 * must be a column of the stream the subquery passes through, so the window keeps the stream's event time and
 * watermark. For SESSION the subquery's WHERE decides which events exist, so which events shape the sessions:
 * it is returned as `sourceFilter`, applied before the window (the outer WHERE only decides what is counted).
 *
 * Not merged, with 0A000 at the subquery: a subquery that joins, sorts or limits. One that aggregates, uses
 * window functions or DISTINCT (the outer query reads a changing result) is cut out of a continuous view
 * before this as a hidden view (hidden-views.ts); a trigger's query still gets the 0A000 here.
 */
import type * as ast from '../parser/ast.ts'
import { SqlState, planError, unsupported, type Span } from '../common/errors.ts'
import type { BoundExpr } from '../expr/bound.ts'
import { Types } from '../common/types.ts'
import { bindExpr, coerceTo } from './bind-expr.ts'
import type { Scope } from './scope.ts'
import { bindSelect, defaultName, expandTargets } from './select.ts'
import type { Catalog } from './catalog.ts'
import { sourceStream, streamScope } from './view-plan.ts'

export interface InlinedQuery {
  readonly query: ast.Select
  /** SESSION over a subquery with WHERE: that WHERE, over the stream's columns, applied before the window. */
  readonly sourceFilter: ast.Expr | null
}

/** One column of a derived table: its name and the expression over the stream (and window) row it stands for. */
interface DerivedColumn {
  readonly name: string
  readonly expr: ast.Expr
  /** The stream column it passes through unchanged, when it does (a window's time column must be one). */
  readonly streamColumn: string | null
  /** Computed by a volatile function: reading it twice would give two values. */
  readonly volatile: boolean
}

/** A FROM item over a subquery, merged: the plain FROM item that replaces it and how its columns read that. */
interface Derived {
  /** A stream or view, or a window TVF over one. */
  readonly item: ast.TableRef | ast.WindowTvf
  /** The name the outer query qualifies the derived columns with (undefined: only unqualified). */
  readonly alias: string | undefined
  readonly columns: readonly DerivedColumn[]
  /** The subquery's WHERE over `item`'s row, to AND into the outer WHERE (or apply before a SESSION window). */
  readonly where: ast.Expr | null
  /** The name `item`'s own columns are qualified with in the merged query. */
  readonly table: string
}

/** `q` with every subquery in its FROM merged into it; `q` itself when it has none. */
export function inlineDerivedTables(q: ast.Select, catalog: Catalog): InlinedQuery {
  refuseSubqueryExprs([q.targets, q.where, q.groupBy, q.having, q.distinctOn, q.from.map((f) => (f.kind === 'join' ? f.on : undefined))])
  const from = q.from[0]
  if (from === undefined || q.from.length !== 1) return { query: q, sourceFilter: null }
  const join = from.kind === 'join' ? from : null
  const left = join === null ? from : join.left
  const derived = deriveItem(left, catalog)
  if (derived === null) return { query: q, sourceFilter: null }
  const { d, sourceFilter } = derived
  const viewColumns = join === null ? [] : joinedColumns(join, catalog)
  const reads = new Map<DerivedColumn, number>()
  const names: Names = { d, viewColumns, viewAlias: join === null ? undefined : joinAlias(join), outputs: new Set(q.targets.flatMap((t) => (t.alias === undefined ? [] : [t.alias]))), reads }
  const map = <T>(node: T): T => mapColumnRefs(node, (c) => resolve(c, names, false))
  const mapGroupKey = (e: ast.Expr): ast.Expr => mapColumnRefs(e, (c) => resolve(c, names, true))
  const targets: ast.SelectItem[] = []
  for (const t of q.targets) {
    const star = t.expr.kind === 'star' ? t.expr : null
    if (star !== null && (star.table.length === 0 || star.table[star.table.length - 1] === d.alias)) {
      for (const c of d.columns) targets.push({ expr: c.expr, alias: c.name, span: t.span })
      if (star.table.length === 0) for (const v of viewColumns) targets.push({ expr: { kind: 'column_ref', table: [v.table], name: v.name, span: t.span }, alias: v.name, span: t.span })
      continue
    }
    const expr = map(t.expr)
    targets.push(expr === t.expr || t.alias !== undefined ? { ...t, expr } : { ...t, expr, alias: defaultName(t.expr) })
  }
  const where = and(sourceFilter === null ? d.where : null, q.where === undefined ? null : map(q.where))
  const item: ast.FromItem = join === null ? d.item : { ...join, left: d.item, ...(join.on === undefined ? {} : { on: map(join.on) }) }
  if (join?.using !== undefined) checkUsing(join.using, d, join.span)
  const query: ast.Select = {
    ...q,
    targets,
    from: [item],
    ...(where === null ? {} : { where }),
    groupBy: q.groupBy.map(mapGroupKey),
    ...(q.having === undefined ? {} : { having: map(q.having) }),
    ...(q.distinctOn === undefined ? {} : { distinctOn: q.distinctOn.map(map) }),
  }
  for (const [c, n] of reads) {
    if (c.volatile && n > 1) throw unsupported(`column "${c.name}" of the subquery calls a volatile function and is read more than once`, q.span, 'Read it once, or compute it in a view of its own.')
  }
  return { query, sourceFilter }
}

/** A derived table (or a window over one) in FROM, merged; null for a stream or view read directly. */
function deriveItem(item: ast.FromItem, catalog: Catalog): { d: Derived; sourceFilter: ast.Expr | null } | null {
  if (item.kind === 'subquery_ref') return { d: deriveSubquery(item, catalog), sourceFilter: null }
  if (item.kind !== 'window_tvf' || item.input.kind !== 'subquery_ref') return null
  const fn = item.fn.toUpperCase()
  const inner = deriveSubquery(item.input, catalog)
  if (inner.item.kind !== 'table_ref') throw unsupported(`${fn} over a subquery that already has a window is not supported`, item.input.span, 'Window the stream once.')
  // The window's time column and SESSION keys: columns of the stream the subquery passes through.
  const streamRef = (c: ast.Expr, what: string): ast.ColumnRef => {
    if (c.kind !== 'column_ref') throw planError(SqlState.syntaxError, `${what} of ${fn} must be a column of the subquery`, c.span)
    const col = findColumn(inner, c)
    if (col.streamColumn === null) {
      throw unsupported(`${what} of ${fn} must be a column of the stream that the subquery passes through unchanged, so that the window keeps the stream's event time and watermark`, c.span)
    }
    return { kind: 'column_ref', table: [], name: col.streamColumn, span: c.span }
  }
  const args = item.fn === 'session' ? [...item.args.slice(0, 1), ...item.args.slice(1).map((k) => streamRef(k, 'a key'))] : item.args
  const tvf: ast.WindowTvf = {
    kind: 'window_tvf',
    fn: item.fn,
    input: inner.item,
    timeColumn: streamRef(item.timeColumn, 'the time column'),
    args,
    ...(inner.item.alias === undefined ? {} : { alias: inner.item.alias }),
    span: item.span,
  }
  const windowColumns: DerivedColumn[] = ['window_start', 'window_end'].map((name) => ({ name, expr: { kind: 'column_ref', table: [inner.table], name, span: item.span }, streamColumn: null, volatile: false }))
  const d: Derived = { item: tvf, alias: item.alias, columns: [...inner.columns, ...windowColumns], where: inner.where, table: inner.table }
  return { d, sourceFilter: item.fn === 'session' ? inner.where : null }
}

/** `(SELECT ... FROM stream WHERE ...) AS alias (columns)`: checked, merged within, and its columns bound. */
function deriveSubquery(ref: ast.SubqueryRef, catalog: Catalog): Derived {
  if (ref.lateral === true) throw unsupported('LATERAL in a continuous view is not supported', ref.span)
  if (ref.query.kind !== 'select') throw unsupported('a subquery in FROM of a continuous view must be one SELECT (no UNION or VALUES)', ref.span)
  const inlined = inlineDerivedTables(ref.query, catalog)
  if (inlined.sourceFilter !== null) throw unsupported('a SESSION window inside a subquery must be aggregated in that subquery', ref.span, 'Put the SESSION window in the outer query.')
  const q = inlined.query
  const from = q.from[0]
  if (q.from.length !== 1 || from === undefined || (from.kind !== 'table_ref' && !(from.kind === 'window_tvf' && from.input.kind === 'table_ref'))) {
    throw unsupported('a subquery in FROM of a continuous view reads one stream or view, optionally through TUMBLE, HOP or SESSION', q.from[1]?.span ?? from?.span ?? ref.span, 'Put the lookup join in the outer query.')
  }
  const refuse = (what: string, span: Span) =>
    unsupported(`a subquery in FROM of a continuous view cannot ${what}: the outer query would read rows that change as events arrive`, span, 'Create the subquery as a materialized view of its own and read that view (views over views), or move the aggregation to the outer query.')
  if (q.groupBy.length > 0) throw refuse('GROUP BY', q.groupBy[0]!.span)
  if (q.having !== undefined) throw refuse('have HAVING', q.having.span)
  if (q.distinct || q.distinctOn !== undefined) throw refuse('use DISTINCT', q.span)
  if (q.orderBy.length > 0 || q.limit !== undefined || q.offset !== undefined) {
    throw unsupported('ORDER BY and LIMIT have no meaning in a subquery of a continuous view', q.orderBy[0]?.span ?? q.limit?.span ?? q.offset?.span ?? q.span)
  }
  const input = from.kind === 'window_tvf' ? (from.input as ast.TableRef) : from
  const stream = sourceStream(input, catalog)
  const alias = from.alias ?? input.alias
  const table = alias ?? stream.name
  const scope = streamScope(stream, alias, from.kind === 'window_tvf')
  const bound = bindSelect(q, scope, [])
  if (bound.aggregation !== null) throw refuse('aggregate', ref.span)
  if (bound.windows.length > 0) throw refuse('use window functions', bound.windows[0]!.span)
  const qualify = <T>(node: T): T => mapColumnRefs(node, (c) => (c.table.length === 0 ? { ...c, table: [table] } : c))
  const width = stream.columns.length
  const targets = expandTargets(q, scope)
  const names = ref.columnAliases ?? []
  if (names.length > targets.length) {
    throw planError(SqlState.invalidColumnReference, `table "${ref.alias ?? '?'}" has ${targets.length} columns available but ${names.length} columns specified`, ref.span)
  }
  const columns = targets.map((t, i): DerivedColumn => {
    const b = bound.output[i]!
    return { name: names[i] ?? t.name, expr: qualify(t.expr), streamColumn: b.kind === 'column' && b.index < width ? stream.columns[b.index]!.name : null, volatile: isVolatile(b) }
  })
  const item: ast.TableRef | ast.WindowTvf = from.kind === 'window_tvf' ? { ...from, input } : from
  return { item, alias: ref.alias, columns, where: q.where === undefined ? null : qualify(q.where), table }
}

/** The column of `d` that `c` names, or a 42703 / 42702 error at it. */
function findColumn(d: Derived, c: ast.ColumnRef): DerivedColumn {
  const found = d.columns.filter((x) => x.name === c.name)
  if (found.length > 1) throw planError(SqlState.ambiguousColumn, `column reference "${c.name}" is ambiguous`, c.span)
  if (found.length === 0) {
    const full = c.table.length === 0 ? c.name : `${c.table[c.table.length - 1]}.${c.name}`
    throw planError(SqlState.undefinedColumn, `column "${full}" does not exist`, c.span)
  }
  return found[0]!
}

interface ViewColumn {
  readonly table: string
  readonly name: string
}

function joinAlias(join: ast.JoinRef): string | undefined {
  return join.right.kind === 'table_ref' ? (join.right.alias ?? join.right.name.parts[join.right.name.parts.length - 1]) : undefined
}

/** The looked-up view's columns an unqualified name or `*` reaches (USING's columns are the stream's). */
function joinedColumns(join: ast.JoinRef, catalog: Catalog): ViewColumn[] {
  if (join.right.kind !== 'table_ref') return []
  const name = join.right.name.parts[join.right.name.parts.length - 1]!
  const entry = catalog.relation(name, join.right.name.span)
  const table = join.right.alias ?? name
  return entry.columns.filter((c) => !(join.using ?? []).includes(c.name)).map((c) => ({ table, name: c.name }))
}

/** What the outer query's names can reach: the derived table's columns, the joined view's, its output names. */
interface Names {
  readonly d: Derived
  readonly viewColumns: readonly ViewColumn[]
  readonly viewAlias: string | undefined
  /** Output names of the outer select list, which GROUP BY may name. */
  readonly outputs: ReadonlySet<string>
  readonly reads: Map<DerivedColumn, number>
}

/**
 * A reference of the outer query: the derived table's column's expression, or itself when it names the
 * joined view's column (or, in GROUP BY, an output column). Anything else did not exist in the outer
 * query's FROM, even if the merged FROM (the subquery's) has it: 42P01 or 42703, as PostgreSQL says.
 */
function resolve(c: ast.ColumnRef, n: Names, groupKey: boolean): ast.Expr {
  const { d, viewColumns } = n
  const qualifier = c.table[c.table.length - 1]
  if (qualifier !== undefined && qualifier === n.viewAlias && qualifier !== d.alias) return c
  if (qualifier !== undefined && qualifier !== d.alias) throw planError(SqlState.undefinedTable, `missing FROM-clause entry for table "${qualifier}"`, c.span)
  if (qualifier === undefined && !d.columns.some((x) => x.name === c.name)) {
    if (viewColumns.some((v) => v.name === c.name) || (groupKey && n.outputs.has(c.name))) return c
    throw planError(SqlState.undefinedColumn, `column "${c.name}" does not exist`, c.span)
  }
  if (qualifier === undefined && viewColumns.some((v) => v.name === c.name)) throw planError(SqlState.ambiguousColumn, `column reference "${c.name}" is ambiguous`, c.span)
  const col = findColumn(d, c)
  n.reads.set(col, (n.reads.get(col) ?? 0) + 1)
  return col.expr
}

/** JOIN ... USING (col) reads the stream's column of that name: the subquery must pass it through as it is. */
function checkUsing(using: readonly string[], d: Derived, span: Span): void {
  for (const name of using) {
    const col = d.columns.find((c) => c.name === name)
    if (col !== undefined && col.streamColumn !== name) {
      throw unsupported(`USING (${name}) needs the stream's column ${name} passed through unchanged by the subquery`, span, 'Write the join condition with ON.')
    }
  }
}

/**
 * A subquery in an expression (scalar, IN, EXISTS) has no per-event meaning: its result changes without an
 * event of the view's stream. Refused with 0A000 at the subquery.
 */
function refuseSubqueryExprs(node: unknown): void {
  if (node === null || typeof node !== 'object') return
  if (Array.isArray(node)) return node.forEach(refuseSubqueryExprs)
  const n = node as { kind?: unknown; span?: Span }
  if (n.kind === 'subquery') {
    throw unsupported('a continuous view cannot evaluate a subquery in an expression: its result changes without an event of the stream', n.span, 'Join a keyed materialized view instead (JOIN view USING (key)), or use the subquery when you query the view.')
  }
  for (const [k, v] of Object.entries(node)) if (k !== 'span') refuseSubqueryExprs(v)
}

function and(a: ast.Expr | null, b: ast.Expr | null): ast.Expr | null {
  if (a === null || b === null) return a ?? b
  return { kind: 'bool_expr', op: 'and', args: [a, b], span: b.span }
}

/**
 * A copy of `node` with every column reference replaced by `f` of it. Subqueries in expressions keep their
 * own references (they are refused in continuous views anyway, with their own error).
 */
function mapColumnRefs<T>(node: T, f: (c: ast.ColumnRef) => ast.Expr): T {
  const visit = (x: unknown): unknown => {
    if (x === null || typeof x !== 'object') return x
    if (Array.isArray(x)) return x.map(visit)
    const kind = (x as { kind?: unknown }).kind
    if (kind === 'column_ref') return f(x as ast.ColumnRef)
    if (kind === 'subquery') return x
    let changed = false
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(x)) {
      const m = k === 'span' ? v : visit(v)
      if (m !== v) changed = true
      out[k] = m
    }
    return changed ? out : x
  }
  return visit(node) as T
}

function isVolatile(e: BoundExpr): boolean {
  let found = false
  const visit = (x: unknown): void => {
    if (found || x === null || typeof x !== 'object') return
    if (Array.isArray(x)) return x.forEach(visit)
    const n = x as { kind?: unknown; impl?: { volatile?: boolean } }
    if (n.kind === 'call' && n.impl?.volatile === true) {
      found = true
      return
    }
    for (const [k, v] of Object.entries(n)) if (k !== 'impl' && k !== 'type') visit(v)
  }
  visit(e)
  return found
}

/** The WHERE of a subquery under SESSION, bound over the stream's row (before any window column exists). */
export function bindSourceFilter(where: ast.Expr, scope: Scope): BoundExpr {
  return coerceTo(bindExpr(where, { scope, params: [], clause: 'WHERE' }), Types.bool, where.span, 'argument of WHERE')
}
