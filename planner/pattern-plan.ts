/**
 * Plans `SELECT ... FROM stream MATCH_RECOGNIZE (...) [AS] alias [WHERE ...]` as a continuous view.
 *
 * DEFINE conditions and MEASURES are SQL expressions with row pattern navigation. Each is parsed by the
 * PostgreSQL parser, then every navigation in it becomes a *slot*: a synthetic column whose value the
 * operator computes from the match at hand before it calls the compiled expression.
 *   price, A.price          the value in the last row mapped to the variable (unqualified: any variable);
 *                           in DEFINE the row being tested is already mapped, as the standard says
 *   FIRST(A.price [, n])    logical navigation among the rows mapped to A
 *   LAST(A.price [, n])
 *   PREV(price [, n])       physical navigation from that row in the partition
 *   NEXT(price [, n])
 *   count(*), count(A.*), sum(A.price), avg, min, max        over the rows mapped so far (RUNNING) or all
 *   CLASSIFIER(), MATCH_NUMBER()
 *   TIMED_OUT()             Sluice: true on the row emitted when WITHIN cut a partial match off (absence)
 * RUNNING is the default in DEFINE and in ALL ROWS PER MATCH; FINAL (or ONE ROW PER MATCH) sees the whole
 * match.
 */
import { checkChangingSource, viewAsStream } from './view-source.ts'
import * as ast from '../parser/ast.ts'
import { SqlState, planError, unsupported, type Span } from '../common/errors.ts'
import { Types, intervalMicros, type Column } from '../common/types.ts'
import { parseExpression } from '../parser/index.ts'
import { patternVariables, type MatchRecognize } from '../parser/match-recognize/ast.ts'
import { canMatchEmpty } from '../parser/match-recognize/validate.ts'
import { bindExpr, coerceTo } from './bind-expr.ts'
import { SlotBinder, type PatternExpression } from './pattern-expr.ts'
import { Scope } from './scope.ts'
import type { Catalog, StreamDef } from './catalog.ts'

export type { PatternExpression, RowExpression, RowSlot, Slot } from './pattern-expr.ts'

export interface PatternPlan {
  readonly clause: MatchRecognize
  /** Stream columns of PARTITION BY. */
  readonly partitionBy: readonly number[]
  /** The first ORDER BY column: the stream's event time. */
  readonly timeIndex: number
  /** Further ORDER BY columns, which break ties of event time (rows of equal time in their order). */
  readonly tieBreak: readonly { readonly column: number; readonly descending: boolean; readonly nullsFirst: boolean }[]
  /**
   * ALL ROWS PER MATCH's layout, as the standard gives it: the PARTITION BY columns, the ORDER BY columns,
   * the measures, then the remaining stream columns in stream order (`before` and `after` the measures).
   */
  readonly allRowsLayout: { readonly before: readonly number[]; readonly after: readonly number[] }
  readonly rowsPerMatch: 'one_row' | 'all_rows'
  readonly allRowsMode: 'show_empty_matches' | 'omit_empty_matches' | 'with_unmatched_rows'
  readonly defines: ReadonlyMap<string, PatternExpression>
  readonly measures: readonly { readonly name: string; readonly expression: PatternExpression }[]
  /** WITHIN, in microseconds. */
  readonly within: number | null
  /** Whether some measure asks for TIMED_OUT(): then partial matches cut off by WITHIN become rows. */
  readonly emitTimeouts: boolean
  /** How far back PREV reaches: rows kept before the next start row. */
  readonly lookBehind: number
  /** How far NEXT in MEASURES reaches past a match: a stream gives a match out once these rows are known. */
  readonly lookAhead: number
  /**
   * The rows the pattern produces (what the SELECT reads): ONE ROW PER MATCH gives the PARTITION BY columns
   * and the measures; ALL ROWS PER MATCH every stream column and then the measures.
   */
  readonly columns: readonly Column[]
}

/** Plans the MATCH_RECOGNIZE of a FROM item; the caller binds the SELECT over `plan.columns`. */
export function planPattern(from: ast.MatchRecognizeRef, catalog: Catalog): { stream: StreamDef; plan: PatternPlan } {
  const streamName = from.input.name.parts[from.input.name.parts.length - 1]!
  const entry = catalog.relation(streamName, from.input.name.span)
  // A view is matched over as the stream of its rows (views over views).
  const stream = entry.kind === 'stream' ? entry : viewAsStream(entry, from.input.name.span)
  checkChangingSource(stream, { window: false, join: false, aggregates: null, windowFunctions: false, trigger: false }, from.input.name.span)
  const clause = from.clause
  const streamScope = new Scope(stream.columns.map((c) => ({ table: streamName, name: c.name, type: c.type, nullable: c.nullable })))
  const columnOf = (text: { text: string; span: Span }, what: string): number => {
    const e = parseAt(text.text, text.span)
    if (e.kind !== 'column_ref') throw unsupported(`${what} of MATCH_RECOGNIZE takes stream columns`, text.span)
    return streamScope.resolve(e.table.slice(-1), e.name, e.span)
  }
  const partitionBy = clause.partitionBy.map((p) => columnOf(p, 'PARTITION BY'))
  if (clause.orderBy.length === 0) throw planError(SqlState.syntaxError, 'MATCH_RECOGNIZE on a stream needs ORDER BY its event time', clause.span)
  const order = clause.orderBy[0]!
  if (order.direction === 'desc') throw unsupported('MATCH_RECOGNIZE on a stream orders by ascending event time', order.span)
  const timeIndex = columnOf(order.expr, 'ORDER BY')
  if (stream.watermark === null || stream.watermark.columnIndex !== timeIndex) {
    const wm = stream.watermark === null ? null : stream.columns[stream.watermark.columnIndex]!.name
    throw unsupported(
      `MATCH_RECOGNIZE orders a stream by its event time${wm === null ? ', and this stream has none' : ` column ${wm}`}`,
      order.span,
      wm === null ? 'Declare WATERMARK FOR <time column> on the stream.' : `Use ORDER BY ${wm}.`,
    )
  }

  const tieBreak = clause.orderBy.slice(1).map((o) => {
    const descending = o.direction === 'desc'
    // PostgreSQL's default: NULLS LAST ascending, NULLS FIRST descending.
    return { column: columnOf(o.expr, 'ORDER BY'), descending, nullsFirst: o.nulls === undefined ? descending : o.nulls === 'first' }
  })
  const ordering = [...new Set([timeIndex, ...tieBreak.map((t) => t.column)])].filter((c) => !partitionBy.includes(c))
  const leading = [...partitionBy, ...ordering]
  const allRowsLayout = { before: leading, after: stream.columns.map((_, i) => i).filter((i) => !leading.includes(i)) }

  const variables = new Set(patternVariables(clause.pattern))
  const subsets = new Set(clause.subsets.map((s) => s.name))
  const binder = new SlotBinder(stream, streamName, variables, subsets, parseAt)
  const defines = new Map<string, PatternExpression>()
  for (const d of clause.defines) {
    const expr = binder.bind(d.condition, 'DEFINE')
    defines.set(d.variable, { ...expr, expr: coerceTo(expr.expr, Types.bool, d.condition.span, 'argument of DEFINE'), semantics: 'running' })
  }
  const rowsPerMatch = clause.rowsPerMatch?.kind ?? 'one_row'
  const allRowsMode = clause.rowsPerMatch?.kind === 'all_rows' ? clause.rowsPerMatch.mode : 'show_empty_matches'
  const measures = clause.measures.map((m) => {
    const bound = binder.bind(m.expr, 'MEASURES')
    // ONE ROW PER MATCH sees the whole match; ALL ROWS PER MATCH runs up to each row unless FINAL says so.
    const semantics = rowsPerMatch === 'one_row' ? 'final' : (m.expr.semantics ?? 'running')
    return { name: m.name, expression: { ...bound, semantics } }
  })
  const emitTimeouts = measures.some((m) => m.expression.slots.some((s) => s.kind === 'timed_out'))
  let within: number | null = null
  if (clause.within !== undefined) {
    const b = bindExpr(parseAt(clause.within.interval.text, clause.within.interval.span), { scope: Scope.empty(), params: [], clause: 'WITHIN' })
    if (b.kind !== 'const' || b.type.name !== 'interval' || b.value === null) {
      throw planError(SqlState.invalidParameterValue, "WITHIN takes a constant interval such as INTERVAL '5 minutes'", clause.within.interval.span)
    }
    within = intervalMicros(b.value as { months: number; days: number; micros: number })
    if (!(within > 0)) throw planError(SqlState.invalidParameterValue, 'WITHIN must be positive', clause.within.interval.span)
  } else if (emitTimeouts) {
    throw planError(SqlState.invalidParameterValue, 'TIMED_OUT() needs a WITHIN bound on the pattern', clause.patternSpan)
  }
  if (emitTimeouts && rowsPerMatch !== 'one_row') throw unsupported('TIMED_OUT() rows come with ONE ROW PER MATCH', clause.span)
  if (rowsPerMatch === 'one_row' && canMatchEmpty(clause.pattern) && clause.measures.length === 0) {
    // Fine: empty matches give rows of the partition columns only.
  }

  const measureColumns = measures.map((m): Column => ({ name: m.name, type: m.expression.expr.type.name === 'unknown' ? Types.text : m.expression.expr.type, nullable: true }))
  const columns: Column[] =
    rowsPerMatch === 'one_row'
      ? [...partitionBy.map((i) => ({ ...stream.columns[i]! })), ...measureColumns]
      : [...allRowsLayout.before.map((i) => ({ ...stream.columns[i]! })), ...measureColumns, ...allRowsLayout.after.map((i) => ({ ...stream.columns[i]! }))]
  const names = new Set<string>()
  for (const c of columns) {
    if (names.has(c.name)) throw planError(SqlState.duplicateColumn, `column "${c.name}" appears twice in the MATCH_RECOGNIZE output`, clause.span, 'Give the measure another name.')
    names.add(c.name)
  }
  return {
    stream,
    plan: {
      clause,
      partitionBy,
      timeIndex,
      tieBreak,
      allRowsLayout,
      rowsPerMatch,
      allRowsMode,
      defines,
      measures,
      within,
      emitTimeouts,
      lookBehind: binder.lookBehind,
      lookAhead: binder.lookAhead,
      columns,
    },
  }
}

/** Parses an expression kept as text by the MATCH_RECOGNIZE parser; spans point into the whole statement. */
function parseAt(text: string, span: Span, blanks: readonly Span[] = []): ast.Expr {
  let t = text
  for (const b of blanks) t = t.slice(0, b.start - span.start) + ' '.repeat(b.end - b.start) + t.slice(b.end - span.start)
  try {
    return shiftSpans(parseExpression(t), span.start)
  } catch (err) {
    const e = err as { span?: Span }
    if (e.span !== undefined) e.span = { start: e.span.start + span.start, end: e.span.end + span.start }
    throw err
  }
}

/** Moves every span of a freshly parsed expression by `offset`. */
function shiftSpans<T>(node: T, offset: number): T {
  if (Array.isArray(node)) return node.map((n) => shiftSpans(n, offset)) as T
  if (node === null || typeof node !== 'object') return node
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
    if (k === 'span' && v !== null && typeof v === 'object' && 'start' in v) {
      const s = v as Span
      out[k] = { start: s.start + offset, end: s.end + offset }
    } else out[k] = shiftSpans(v, offset)
  }
  return out as T
}
