/**
 * Plans CREATE MATERIALIZED VIEW into a keyed operator pipeline over one stream:
 *   StreamScan -> [LookupJoin] -> [TumbleWindow | HopWindow | SessionWindow] -> [Filter] -> operator -> Project
 * EXPLAIN prints it as a tree of nodes (view-plan-tree.ts, stream-plan-nodes.ts).
 */
import * as ast from '../parser/ast.ts'
import { SqlState, planError, unsupported } from '../common/errors.ts'
import { Types, intervalMicros, type Column } from '../common/types.ts'
import type { BoundExpr } from '../expr/bound.ts'
import type { BoundAggregation } from './select.ts'
import { bindSelect } from './select.ts'
import { bindExpr, exprKey } from './bind-expr.ts'
import type { BoundWindowCall } from './window-functions.ts'
import { lookupView, planLookupJoin, viewScopeColumns, type LookupJoinSpec } from './lookup-join.ts'
import { planPattern, type PatternPlan } from './pattern-plan.ts'
import { Scope, type ScopeColumn } from './scope.ts'
import type { Catalog, StreamDef, ViewDef } from './catalog.ts'
import { intervalOption } from './stream-plan.ts'
import { checkChangingSource, viewAsStream } from './view-source.ts'
import { LIMIT_OPTIONS, queryLimits, type QueryLimits } from './query-limits.ts'
import { printPlanTree } from './stream-plan-nodes.ts'
import { viewPlanTree } from './view-plan-tree.ts'
import { bindSourceFilter, inlineDerivedTables } from './derived-tables.ts'
import { isStreamJoin, type IntervalJoinSpec } from './interval-join.ts'
import { planIntervalJoinView } from './interval-join-view.ts'

/**
 * TUMBLE(stream, ts, size [, offset]): each row falls in exactly one window [start, start + size).
 * HOP(stream, ts, slide, size [, offset]): windows of `size` starting every `slide`; a row falls in every
 * window that covers its time (size / slide of them when size is a multiple of slide).
 */
export interface FixedWindowSpec {
  readonly kind: 'tumble' | 'hop'
  readonly timeIndex: number
  readonly size: number
  /** Distance between window starts; equals size for TUMBLE. */
  readonly slide: number
  readonly offset: number
}

/**
 * SESSION(stream, ts, gap [, key ...]): per key, a session is a run of events each less than `gap` after
 * the previous one; window_start is its first event's time and window_end its last event's time plus the
 * gap. A late event that falls between two sessions of its key merges them.
 */
export interface SessionWindowSpec {
  readonly kind: 'session'
  readonly timeIndex: number
  readonly gap: number
  /** Stream columns that key the sessions (none: one session sequence for the whole stream). */
  readonly keyIndexes: readonly number[]
}

export type WindowSpec = FixedWindowSpec | SessionWindowSpec

/** At most this many windows per row (HOP with a tiny slide would otherwise multiply every event). */
const MAX_WINDOWS_PER_ROW = 1000

export type ViewBody =
  /** GROUP BY: one accumulator per key in the state store; the view is the finalized groups. */
  | { readonly kind: 'aggregate'; readonly aggregation: BoundAggregation; readonly output: readonly BoundExpr[]; readonly windowKey: number | null }
  /** No aggregation: the view keeps every projected row, in arrival order. */
  | { readonly kind: 'project'; readonly output: readonly BoundExpr[] }
  /**
   * Window functions (stateful columns): every row, in event-time order per partition key, with the values
   * of `windows` (the `agg_ref`s of `output`). Rows wait until the watermark has passed their time plus the
   * allowed lateness, so that every earlier row of their partition has been seen.
   */
  | { readonly kind: 'over'; readonly windows: readonly BoundWindowCall[]; readonly partitionBy: readonly BoundExpr[]; readonly timeIndex: number; readonly output: readonly BoundExpr[] }
  /**
   * MATCH_RECOGNIZE: rows wait per partition key for the watermark, then the pattern runs over them in
   * event-time order; `output` and `outputFilter` (the SELECT's list and WHERE) read the pattern's rows.
   */
  | { readonly kind: 'pattern'; readonly pattern: PatternPlan; readonly output: readonly BoundExpr[]; readonly outputFilter: BoundExpr | null }

export interface ViewPlan {
  readonly source: StreamDef
  readonly window: WindowSpec | null
  /** A keyed view each event looks up; its columns extend the row after the window columns. */
  readonly join: LookupJoinSpec | null
  /** Over the source row, extended by window_start and window_end when windowed (and the joined view's columns). */
  readonly filter: BoundExpr | null
  /**
   * The WHERE of a subquery a SESSION window reads (`SESSION((SELECT ... WHERE ...), ...)`), over the source
   * row: which events exist for the window at all, applied before it. `filter` only decides what is counted.
   */
  readonly sourceFilter?: BoundExpr
  readonly body: ViewBody
  readonly columns: readonly Column[]
  readonly emit: 'on_update' | 'on_window_close'
  /** Names of the input row's columns, for EXPLAIN. */
  readonly inputNames: readonly string[]
  /**
   * WITH (retention = ...): a window is deleted once the watermark passes its end plus the allowed
   * lateness plus this (microseconds); null keeps every window.
   */
  readonly retention: number | null
  /**
   * WITH (idle_ttl = ...) on a GROUP BY without a window: a group whose latest event time is this far
   * behind the watermark is deleted (players inactive for 90 days); null keeps every group.
   */
  readonly idleTtl: number | null
  /** WITH (max_state = ..., max_output_rate = ...): past either, the view is stopped (planner/query-limits.ts). */
  readonly limits: QueryLimits
  /** Two streams joined within a time bound (planner/interval-join.ts); `source` then stands for both. */
  readonly intervalJoin?: IntervalJoinSpec
  /** The hidden views this view owns (its aggregating subqueries, planner/hidden-views.ts), each before those reading it. */
  readonly hidden?: readonly ViewDef[]
}

const VIEW_OPTIONS = new Set(['retention', 'idle_ttl', ...LIMIT_OPTIONS])

/** The view's WITH options, checked against what its shape allows. */
function viewOptions(stmt: ast.CreateView, window: WindowSpec | null, body: ViewBody, stream: StreamDef): { retention: number | null; idleTtl: number | null; limits: QueryLimits } {
  let retention: number | null = null
  let idleTtl: number | null = null
  for (const o of stmt.options) {
    if (!VIEW_OPTIONS.has(o.name)) {
      throw planError(SqlState.invalidParameterValue, `unrecognized materialized view option "${o.name}"`, o.span, `Known options: ${[...VIEW_OPTIONS].join(', ')}.`)
    }
    if (LIMIT_OPTIONS.includes(o.name)) continue
    if (o.name === 'retention') {
      if (window === null || body.kind !== 'aggregate') throw planError(SqlState.invalidParameterValue, 'retention applies to windowed aggregations (TUMBLE, HOP, SESSION)', o.span)
      retention = intervalOption(o)
    } else {
      if (window !== null || body.kind !== 'aggregate') throw planError(SqlState.invalidParameterValue, 'idle_ttl applies to a GROUP BY without a window (a keyed profile)', o.span, 'Windowed views use retention.')
      if (stream.watermark === null) throw planError(SqlState.invalidParameterValue, `idle_ttl needs the event time of stream ${stream.name}`, o.span, 'Declare WATERMARK FOR <time column> on the stream.')
      idleTtl = intervalOption(o)
      if (idleTtl === 0) throw planError(SqlState.invalidParameterValue, 'idle_ttl must be positive', o.span)
    }
  }
  return { retention, idleTtl, limits: queryLimits(stmt.options) }
}

const WINDOW_COLUMNS = ['window_start', 'window_end'] as const

export function streamScope(stream: StreamDef, alias: string | undefined, windowed: boolean): Scope {
  const table = alias ?? stream.name
  const cols: ScopeColumn[] = stream.columns.map((c) => ({ table, name: c.name, type: c.type, nullable: c.nullable }))
  if (windowed) for (const w of WINDOW_COLUMNS) cols.push({ table, name: w, type: Types.timestamptz, nullable: false })
  return new Scope(cols)
}

function constantInterval(e: ast.Expr, what: string): number {
  const b = bindExpr(e, { scope: Scope.empty(), params: [], clause: what })
  if (b.kind !== 'const' || b.type.name !== 'interval' || b.value === null) {
    throw planError(SqlState.invalidParameterValue, `${what} must be a constant interval such as INTERVAL '1 minute'`, e.span)
  }
  const micros = intervalMicros(b.value as { months: number; days: number; micros: number })
  if (!(micros > 0)) throw planError(SqlState.invalidParameterValue, `${what} must be positive`, e.span)
  return micros
}

/** `forTrigger`: the query of a trigger, which may read a view whose rows change (it fires on their new rows). */
export function planView(stmt: ast.CreateView, catalog: Catalog, forTrigger = false): ViewPlan {
  if (stmt.query.kind !== 'select') throw unsupported('a materialized view must be a single SELECT (no UNION or VALUES) for now', stmt.query.span)
  // Subqueries in FROM (and CTEs) are merged into the query (planner/derived-tables.ts).
  const { query: q, sourceFilter: sourceWhere } = inlineDerivedTables(stmt.query, catalog)
  if (q.from.length !== 1) {
    throw unsupported('a materialized view reads exactly one stream (joins are not supported yet)', q.from[1]?.span ?? q.span)
  }
  if (q.orderBy.length > 0 || q.limit !== undefined || q.offset !== undefined) {
    throw unsupported('ORDER BY and LIMIT have no meaning in a continuous view', q.orderBy[0]?.span ?? q.limit?.span ?? q.span, 'Order or limit when you query the view.')
  }
  let from = q.from[0]!
  if (from.kind === 'match_recognize') return planPatternView(stmt, q, from, catalog)
  if (from.kind === 'join' && isStreamJoin(from, catalog)) return planIntervalJoinView(stmt, q, from, catalog, forTrigger, (body, stream) => viewOptions(stmt, null, body, stream))
  // A stream joined to a keyed view: the stream side is planned as usual, the view is looked up per event.
  const joinRef = from.kind === 'join' ? from : null
  if (joinRef !== null) from = joinRef.left
  let stream: StreamDef
  let window: WindowSpec | null = null
  let alias: string | undefined
  switch (from.kind) {
    case 'table_ref':
      stream = sourceStream(from, catalog)
      alias = from.alias
      break
    case 'window_tvf': {
      const fn = from.fn.toUpperCase()
      if (from.input.kind !== 'table_ref') throw unsupported(`${fn} reads a stream, a view or a subquery`, from.input.span)
      stream = sourceStream(from.input, catalog)
      alias = from.alias ?? from.input.alias
      const streamColumns = new Scope(stream.columns.map((c) => ({ name: c.name, type: c.type, nullable: c.nullable })))
      const timeIndex = streamColumns.resolve(from.timeColumn.table.slice(1), from.timeColumn.name, from.timeColumn.span)
      const timeCol = stream.columns[timeIndex]!
      if (timeCol.type.name !== 'timestamptz' && timeCol.type.name !== 'timestamp') {
        throw planError(SqlState.datatypeMismatch, `the time column of ${fn} must be a timestamp, not ${timeCol.type.name}`, from.timeColumn.span)
      }
      if (from.fn === 'tumble') {
        if (from.args.length < 1 || from.args.length > 2) throw planError(SqlState.syntaxError, 'TUMBLE takes (stream, time column, size [, offset])', from.span)
        const size = constantInterval(from.args[0]!, 'the TUMBLE size')
        const offset = from.args[1] ? constantInterval(from.args[1], 'the TUMBLE offset') % size : 0
        window = { kind: 'tumble', timeIndex, size, slide: size, offset }
      } else if (from.fn === 'hop') {
        if (from.args.length < 2 || from.args.length > 3) throw planError(SqlState.syntaxError, 'HOP takes (stream, time column, slide, size [, offset])', from.span)
        const slide = constantInterval(from.args[0]!, 'the HOP slide')
        const size = constantInterval(from.args[1]!, 'the HOP size')
        if (size / slide > MAX_WINDOWS_PER_ROW) {
          throw planError(SqlState.invalidParameterValue, `a HOP size of more than ${MAX_WINDOWS_PER_ROW} slides puts each event in too many windows`, from.args[1]!.span)
        }
        const offset = from.args[2] ? constantInterval(from.args[2], 'the HOP offset') % slide : 0
        window = { kind: 'hop', timeIndex, size, slide, offset }
      } else {
        if (from.args.length < 1) throw planError(SqlState.syntaxError, 'SESSION takes (stream, time column, gap [, key column ...])', from.span)
        const gap = constantInterval(from.args[0]!, 'the SESSION gap')
        const keyIndexes = from.args.slice(1).map((k) => {
          if (k.kind !== 'column_ref') throw planError(SqlState.syntaxError, 'a SESSION key must be a column of the stream', k.span)
          return streamColumns.resolve(k.table.slice(-1), k.name, k.span)
        })
        window = { kind: 'session', timeIndex, gap, keyIndexes }
      }
      break
    }
    case 'subquery_ref':
    case 'join':
    case 'function_ref':
    case 'match_recognize':
      throw unsupported('a materialized view reads one stream, view or subquery, optionally through TUMBLE(...), HOP(...) or SESSION(...)', from.span)
  }
  const sourceFilter = sourceWhere === null ? null : bindSourceFilter(sourceWhere, streamScope(stream, alias, false))
  let scope = streamScope(stream, alias, window !== null)
  let join: LookupJoinSpec | null = null
  if (joinRef !== null) {
    if (window?.kind === 'session') throw unsupported('a SESSION window over a lookup join is not supported yet', joinRef.span)
    const { view, alias: viewAlias } = lookupView(joinRef.right, catalog)
    const viewStart = scope.columns.length
    scope = new Scope([...scope.columns, ...viewScopeColumns(view, viewAlias, joinRef.using, joinRef.joinType === 'left')])
    join = planLookupJoin(joinRef, stream, view, scope, viewStart)
  }
  const bound = bindSelect(q, scope, [])
  if (bound.distinct || bound.distinctOn !== undefined) throw unsupported('SELECT DISTINCT in a continuous view is not supported yet', q.span)
  const sourceSpan = from.kind === 'window_tvf' ? from.input.span : from.span
  checkChangingSource(stream, { window: window !== null, join: join !== null, aggregates: bound.aggregation?.aggregates ?? null, windowFunctions: bound.windows.length > 0, trigger: forTrigger }, sourceSpan)
  const columns = bound.outputColumns.map((c) => ({ name: c.name, type: c.type, nullable: c.nullable }))
  const names = new Set<string>()
  for (const c of bound.outputColumns) {
    if (names.has(c.name)) throw planError(SqlState.duplicateColumn, `column "${c.name}" specified more than once`, c.span, 'Give the columns distinct names with AS.')
    names.add(c.name)
  }
  const inputNames = scope.columns.map((c) => c.name)

  let body: ViewBody
  if (bound.windows.length > 0) {
    if (window !== null) throw unsupported(`window functions over ${window.kind.toUpperCase()} windows are not supported yet`, bound.windows[0]!.span)
    body = overBody(bound.windows, bound.output, stream)
  } else if (bound.aggregation === null) {
    if (window?.kind === 'hop') throw unsupported('a HOP view must aggregate (each event falls in several windows)', q.span, 'GROUP BY window_start, window_end.')
    if (window?.kind === 'session') throw unsupported('a SESSION view must aggregate (a session is known only as its events arrive)', q.span, 'GROUP BY window_start, window_end and the session key.')
    body = { kind: 'project', output: bound.output }
  } else {
    const windowKey = window === null ? null : findWindowKey(bound.aggregation, stream.columns.length)
    if (window !== null && windowKey === null) {
      throw unsupported('a windowed aggregation must GROUP BY window_start or window_end', q.span, 'Add window_start, window_end to GROUP BY.')
    }
    body = { kind: 'aggregate', aggregation: bound.aggregation, output: bound.output, windowKey }
    if (window?.kind === 'session') checkSessionGrouping(window, bound.aggregation, bound.filter, stream, q.span)
  }
  const emit = q.emit ?? 'on_update'
  if (emit === 'on_window_close' && window === null) {
    throw unsupported('EMIT ON WINDOW CLOSE needs a windowed aggregation', q.span)
  }
  const { retention, idleTtl, limits } = viewOptions(stmt, window, body, stream)
  return { source: stream, window, join, filter: bound.filter, body, columns, emit, inputNames, retention, idleTtl, limits, ...(sourceFilter === null ? {} : { sourceFilter }) }
}

/** A view over MATCH_RECOGNIZE: the SELECT reads the pattern's rows (no aggregation over them yet). */
function planPatternView(stmt: ast.CreateView, q: ast.Select, from: ast.MatchRecognizeRef, catalog: Catalog): ViewPlan {
  const { stream, plan } = planPattern(from, catalog)
  const table = from.alias ?? stream.name
  const scope = new Scope(plan.columns.map((c) => ({ table, name: c.name, type: c.type, nullable: c.nullable })))
  const bound = bindSelect(q, scope, [])
  if (bound.aggregation !== null) throw unsupported('aggregating the rows of MATCH_RECOGNIZE in the same view is not supported yet', q.span, 'Aggregate in MEASURES, or make the pattern a view of its own and aggregate its rows in a view over it.')
  if (bound.windows.length > 0) throw unsupported('window functions over MATCH_RECOGNIZE are not supported yet', bound.windows[0]!.span)
  if (bound.distinct || bound.distinctOn !== undefined) throw unsupported('SELECT DISTINCT in a continuous view is not supported yet', q.span)
  const columns = bound.outputColumns.map((c) => ({ name: c.name, type: c.type, nullable: c.nullable }))
  const names = new Set<string>()
  for (const c of bound.outputColumns) {
    if (names.has(c.name)) throw planError(SqlState.duplicateColumn, `column "${c.name}" specified more than once`, c.span, 'Give the columns distinct names with AS.')
    names.add(c.name)
  }
  if (q.emit === 'on_window_close') throw unsupported('EMIT ON WINDOW CLOSE needs a windowed aggregation; MATCH_RECOGNIZE rows are final when they appear', q.span)
  const body: ViewBody = { kind: 'pattern', pattern: plan, output: bound.output, outputFilter: bound.filter }
  const { retention, idleTtl, limits } = viewOptions(stmt, null, body, stream)
  return { source: stream, window: null, join: null, filter: null, body, columns, emit: 'on_update', inputNames: plan.columns.map((c) => c.name), retention, idleTtl, limits }
}

/** All window calls of a view share one PARTITION BY and order by the stream's event time. */
function overBody(windows: readonly BoundWindowCall[], output: readonly BoundExpr[], stream: StreamDef): ViewBody {
  const first = windows[0]!
  const partitionKey = first.partitionBy.map(exprKey).join(',')
  for (const w of windows) {
    if (w.partitionBy.map(exprKey).join(',') !== partitionKey || exprKey(w.orderBy) !== exprKey(first.orderBy)) {
      throw unsupported('the window functions of one view must share PARTITION BY and ORDER BY', w.span, 'Split them into views, one per window.')
    }
  }
  if (stream.watermark === null) {
    throw planError(SqlState.objectNotInPrerequisiteState, `window functions need the event time of stream ${stream.name}`, first.span, 'Declare WATERMARK FOR <time column> on the stream.')
  }
  const order = first.orderBy
  if (order.kind !== 'column' || order.index !== stream.watermark.columnIndex) {
    const wmColumn = stream.columns[stream.watermark.columnIndex]!.name
    throw unsupported(`a continuous view orders its windows by the event time column ${wmColumn}`, first.span, `Use ORDER BY ${wmColumn}.`)
  }
  return { kind: 'over', windows, partitionBy: first.partitionBy, timeIndex: order.index, output }
}

/** The stream a view reads, or a view read as a stream of its rows (views over views). */
export function sourceStream(ref: ast.TableRef, catalog: Catalog): StreamDef {
  const name = ref.name.parts[ref.name.parts.length - 1]!
  const entry = catalog.relation(name, ref.name.span)
  return entry.kind === 'stream' ? entry : viewAsStream(entry, ref.name.span)
}

/**
 * A session grows and merges as events arrive, so its groups are kept per session of a key: the GROUP BY
 * must hold the session key columns and the window columns as plain columns (their values change when the
 * session grows), and WHERE cannot look at the window (it filters events before they are counted, while
 * every event of the key still shapes the sessions, as in the batch form of the query).
 */
function checkSessionGrouping(window: SessionWindowSpec, agg: BoundAggregation, filter: BoundExpr | null, stream: StreamDef, span: ast.Span): void {
  const width = stream.columns.length
  const plainColumns = new Set(agg.keys.flatMap((k) => (k.kind === 'column' ? [k.index] : [])))
  for (const i of window.keyIndexes) {
    if (!plainColumns.has(i)) {
      throw unsupported(`a SESSION view must GROUP BY its session key ${stream.columns[i]!.name}`, span, `Add ${stream.columns[i]!.name} to GROUP BY.`)
    }
  }
  if (agg.keys.some((k) => k.kind !== 'column' && refersTo(k, (i) => i >= width))) {
    throw unsupported('a SESSION view groups by window_start and window_end as plain columns, not expressions of them', span)
  }
  if (filter !== null && refersTo(filter, (i) => i >= width)) {
    throw unsupported('WHERE cannot refer to window_start or window_end of a SESSION window', span, 'Use HAVING on the aggregated sessions.')
  }
}

/** Whether the expression reads a column whose index satisfies `test`. */
function refersTo(e: BoundExpr, test: (index: number) => boolean): boolean {
  let found = false
  const visit = (x: unknown): void => {
    if (found || x === null || typeof x !== 'object') return
    if (Array.isArray(x)) return x.forEach(visit)
    const node = x as { kind?: unknown; index?: unknown }
    if (node.kind === 'column' && typeof node.index === 'number' && test(node.index)) {
      found = true
      return
    }
    for (const v of Object.values(node)) visit(v)
  }
  visit(e)
  return found
}

/** The group key that is window_start or window_end, used to close windows and find late events. */
function findWindowKey(agg: BoundAggregation, streamWidth: number): number | null {
  const i = agg.keys.findIndex((k) => k.kind === 'column' && (k.index === streamWidth || k.index === streamWidth + 1))
  return i === -1 ? null : i
}

/** The plan tree, one node per line, leaves last (like EXPLAIN in Postgres); then each hidden view's tree. */
export function explainView(name: string, plan: ViewPlan): string[] {
  const lines = printPlanTree(viewPlanTree(name, plan))
  for (const h of plan.hidden ?? []) lines.push(`Hidden view ${h.name} (a subquery of ${name}, with its own state):`, ...printPlanTree(viewPlanTree(h.name, h.plan)).map((l) => `  ${l}`))
  return lines
}
