/**
 * Plans CREATE MATERIALIZED VIEW into a keyed operator pipeline over one stream:
 *   StreamScan -> [TumbleWindow | HopWindow] -> [Filter] -> KeyedAggregate (state) | Project (append)
 * and prints it for EXPLAIN. The executor builds its operators from this plan.
 */
import * as ast from '../parser/ast.ts'
import { SqlState, planError, unsupported } from '../common/errors.ts'
import { Types, formatInterval, intervalMicros, type Column } from '../common/types.ts'
import type { BoundExpr } from './bound.ts'
import type { BoundAggregation } from './select.ts'
import { bindSelect } from './select.ts'
import { bindExpr } from './bind-expr.ts'
import { Scope, type ScopeColumn } from './scope.ts'
import { displayExpr } from './display.ts'
import type { Catalog, StreamDef } from './catalog.ts'

/**
 * TUMBLE(stream, ts, size [, offset]): each row falls in exactly one window [start, start + size).
 * HOP(stream, ts, slide, size [, offset]): windows of `size` starting every `slide`; a row falls in every
 * window that covers its time (size / slide of them when size is a multiple of slide).
 */
export interface WindowSpec {
  readonly kind: 'tumble' | 'hop'
  readonly timeIndex: number
  readonly size: number
  /** Distance between window starts; equals size for TUMBLE. */
  readonly slide: number
  readonly offset: number
}

/** At most this many windows per row (HOP with a tiny slide would otherwise multiply every event). */
const MAX_WINDOWS_PER_ROW = 1000

export type ViewBody =
  /** GROUP BY: one accumulator per key in the state store; the view is the finalized groups. */
  | { readonly kind: 'aggregate'; readonly aggregation: BoundAggregation; readonly output: readonly BoundExpr[]; readonly windowKey: number | null }
  /** No aggregation: the view keeps every projected row, in arrival order. */
  | { readonly kind: 'project'; readonly output: readonly BoundExpr[] }

export interface ViewPlan {
  readonly source: StreamDef
  readonly window: WindowSpec | null
  /** Over the source row, extended by window_start and window_end when windowed. */
  readonly filter: BoundExpr | null
  readonly body: ViewBody
  readonly columns: readonly Column[]
  readonly emit: 'on_update' | 'on_window_close'
  /** Names of the input row's columns, for EXPLAIN. */
  readonly inputNames: readonly string[]
}

const WINDOW_COLUMNS = ['window_start', 'window_end'] as const

function streamScope(stream: StreamDef, alias: string | undefined, windowed: boolean): Scope {
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

export function planView(stmt: ast.CreateView, catalog: Catalog): ViewPlan {
  const q = stmt.query
  if (q.kind !== 'select') throw unsupported('a materialized view must be a single SELECT (no UNION or VALUES) for now', q.span)
  if (q.from.length !== 1) {
    throw unsupported('a materialized view reads exactly one stream (joins are not supported yet)', q.from[1]?.span ?? q.span)
  }
  if (q.orderBy.length > 0 || q.limit !== undefined || q.offset !== undefined) {
    throw unsupported('ORDER BY and LIMIT have no meaning in a continuous view', q.orderBy[0]?.span ?? q.limit?.span ?? q.span, 'Order or limit when you query the view.')
  }
  const from = q.from[0]!
  let stream: StreamDef
  let window: WindowSpec | null = null
  let alias: string | undefined
  switch (from.kind) {
    case 'table_ref':
      stream = sourceStream(from, catalog)
      alias = from.alias
      break
    case 'window_tvf': {
      if (from.fn === 'session') throw unsupported('SESSION windows are not supported yet', from.span)
      const fn = from.fn.toUpperCase()
      if (from.input.kind !== 'table_ref') throw unsupported(`${fn} over a subquery is not supported yet`, from.input.span)
      stream = sourceStream(from.input, catalog)
      alias = from.alias ?? from.input.alias
      const timeIndex = new Scope(stream.columns.map((c) => ({ name: c.name, type: c.type, nullable: c.nullable }))).resolve(from.timeColumn.table.slice(1), from.timeColumn.name, from.timeColumn.span)
      const timeCol = stream.columns[timeIndex]!
      if (timeCol.type.name !== 'timestamptz' && timeCol.type.name !== 'timestamp') {
        throw planError(SqlState.datatypeMismatch, `the time column of ${fn} must be a timestamp, not ${timeCol.type.name}`, from.timeColumn.span)
      }
      if (from.fn === 'tumble') {
        if (from.args.length < 1 || from.args.length > 2) throw planError(SqlState.syntaxError, 'TUMBLE takes (stream, time column, size [, offset])', from.span)
        const size = constantInterval(from.args[0]!, 'the TUMBLE size')
        const offset = from.args[1] ? constantInterval(from.args[1], 'the TUMBLE offset') % size : 0
        window = { kind: 'tumble', timeIndex, size, slide: size, offset }
      } else {
        if (from.args.length < 2 || from.args.length > 3) throw planError(SqlState.syntaxError, 'HOP takes (stream, time column, slide, size [, offset])', from.span)
        const slide = constantInterval(from.args[0]!, 'the HOP slide')
        const size = constantInterval(from.args[1]!, 'the HOP size')
        if (size / slide > MAX_WINDOWS_PER_ROW) {
          throw planError(SqlState.invalidParameterValue, `a HOP size of more than ${MAX_WINDOWS_PER_ROW} slides puts each event in too many windows`, from.args[1]!.span)
        }
        const offset = from.args[2] ? constantInterval(from.args[2], 'the HOP offset') % slide : 0
        window = { kind: 'hop', timeIndex, size, slide, offset }
      }
      break
    }
    case 'subquery_ref':
    case 'join':
    case 'function_ref':
      throw unsupported('a materialized view reads one stream, optionally through TUMBLE(...) or HOP(...)', from.span)
  }
  const scope = streamScope(stream, alias, window !== null)
  const bound = bindSelect(q, scope, [])
  if (bound.distinct) throw unsupported('SELECT DISTINCT in a continuous view is not supported yet', q.span)
  const columns = bound.outputColumns.map((c) => ({ name: c.name, type: c.type, nullable: c.nullable }))
  const names = new Set<string>()
  for (const c of bound.outputColumns) {
    if (names.has(c.name)) throw planError(SqlState.duplicateColumn, `column "${c.name}" specified more than once`, c.span, 'Give the columns distinct names with AS.')
    names.add(c.name)
  }
  const inputNames = scope.columns.map((c) => c.name)

  let body: ViewBody
  if (bound.aggregation === null) {
    if (window?.kind === 'hop') throw unsupported('a HOP view must aggregate (each event falls in several windows)', q.span, 'GROUP BY window_start, window_end.')
    body = { kind: 'project', output: bound.output }
  } else {
    const windowKey = window === null ? null : findWindowKey(bound.aggregation, stream.columns.length)
    if (window !== null && windowKey === null) {
      throw unsupported('a windowed aggregation must GROUP BY window_start or window_end', q.span, 'Add window_start, window_end to GROUP BY.')
    }
    body = { kind: 'aggregate', aggregation: bound.aggregation, output: bound.output, windowKey }
  }
  const emit = q.emit ?? 'on_update'
  if (emit === 'on_window_close' && window === null) {
    throw unsupported('EMIT ON WINDOW CLOSE needs a windowed aggregation', q.span)
  }
  return { source: stream, window, filter: bound.filter, body, columns, emit, inputNames }
}

function sourceStream(ref: ast.TableRef, catalog: Catalog): StreamDef {
  const name = ref.name.parts[ref.name.parts.length - 1]!
  const entry = catalog.relation(name, ref.name.span)
  if (entry.kind !== 'stream') throw unsupported(`views over views ("${name}") are not supported yet`, ref.name.span, 'Define the view over the stream itself.')
  return entry
}

/** The group key that is window_start or window_end, used to close windows and find late events. */
function findWindowKey(agg: BoundAggregation, streamWidth: number): number | null {
  const i = agg.keys.findIndex((k) => k.kind === 'column' && (k.index === streamWidth || k.index === streamWidth + 1))
  return i === -1 ? null : i
}

/** The operator graph, one operator per line, leaves last (like EXPLAIN in Postgres). */
export function explainView(name: string, plan: ViewPlan): string[] {
  const lines: string[] = []
  const push = (depth: number, text: string) => lines.push(`${depth === 0 ? '' : `${'  '.repeat(depth - 1)}->  `}${text}`)
  let depth = 0
  push(depth++, `MaterializedView ${name} (emit ${plan.emit === 'on_update' ? 'on update' : 'on window close'})`)
  const names = plan.inputNames
  if (plan.body.kind === 'aggregate') {
    const agg = plan.body.aggregation
    const keyNames = agg.keys.map((k) => displayExpr(k, names))
    const aggNames = agg.aggregates.map((a) => a.display.replace(/#(\d+)/g, (_, i) => names[Number(i)] ?? `#${i}`))
    push(depth++, `Project ${plan.body.output.map((o, i) => `${displayExpr(o, keyNames, aggNames)} AS ${plan.columns[i]!.name}`).join(', ')}`)
    if (agg.having) push(depth++, `Filter (having) ${displayExpr(agg.having, keyNames, aggNames)}`)
    push(depth++, `KeyedAggregate keys=[${keyNames.join(', ')}] aggregates=[${aggNames.join(', ')}] state=rocksdb(cache)`)
    push(depth++, `Exchange hash(${keyNames.join(', ')}) -> key groups`)
  } else {
    push(depth++, `Project ${plan.body.output.map((o, i) => `${displayExpr(o, names)} AS ${plan.columns[i]!.name}`).join(', ')} (append)`)
  }
  if (plan.filter) push(depth++, `Filter ${displayExpr(plan.filter, names)}`)
  if (plan.window) {
    const fmt = (micros: number) => formatInterval({ months: 0, days: 0, micros })
    const w = plan.window
    if (w.kind === 'tumble') push(depth++, `TumbleWindow time=${names[w.timeIndex]} size=${fmt(w.size)}`)
    else push(depth++, `HopWindow time=${names[w.timeIndex]} slide=${fmt(w.slide)} size=${fmt(w.size)}`)
  }
  const s = plan.source
  const wm = s.watermark ? ` watermark=${s.watermark.sql}` : ''
  push(depth, `StreamScan ${s.name} (shared, ${s.partitions} partitions)${wm}`)
  return lines
}
