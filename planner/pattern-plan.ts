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
import { Types, intervalMicros, type Column, type SqlType } from '../common/types.ts'
import { parseExpression } from '../parser/index.ts'
import { patternVariables, type MatchRecognize, type PatternExpr } from '../parser/match-recognize/ast.ts'
import { canMatchEmpty } from '../parser/match-recognize/validate.ts'
import type { BoundExpr } from '../expr/bound.ts'
import { bindExpr, coerceTo } from './bind-expr.ts'
import { resolveAggregate } from '../expr/aggregates.ts'
import { Scope } from './scope.ts'
import type { Catalog, StreamDef } from './catalog.ts'

/** What a slot of a pattern expression stands for. `variable` null means all rows (the universal variable). */
export type Slot =
  | { readonly kind: 'nav'; readonly fn: 'first' | 'last' | 'prev' | 'next'; readonly variable: string | null; readonly column: number; readonly offset: number; readonly type: SqlType }
  | { readonly kind: 'agg'; readonly fn: 'count' | 'sum' | 'avg' | 'min' | 'max'; readonly variable: string | null; readonly column: number | null; readonly type: SqlType }
  | { readonly kind: 'classifier'; readonly type: SqlType }
  | { readonly kind: 'match_number'; readonly type: SqlType }
  | { readonly kind: 'timed_out'; readonly type: SqlType }

/** A DEFINE condition or a measure: an expression over its slots (column i of its input is slot i). */
export interface PatternExpression {
  readonly expr: BoundExpr
  readonly slots: readonly Slot[]
  readonly semantics: 'running' | 'final'
}

export interface PatternPlan {
  readonly clause: MatchRecognize
  /** Stream columns of PARTITION BY. */
  readonly partitionBy: readonly number[]
  /** The ORDER BY column: the stream's event time. */
  readonly timeIndex: number
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
  if (clause.orderBy.length !== 1) throw unsupported('MATCH_RECOGNIZE on a stream orders by exactly one column, the event time', clause.span)
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

  const variables = new Set(patternVariables(clause.pattern))
  const subsets = new Set(clause.subsets.map((s) => s.name))
  const binder = new SlotBinder(stream, streamName, variables, subsets)
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
      : [...stream.columns.map((c) => ({ ...c })), ...measureColumns]
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
      rowsPerMatch,
      allRowsMode,
      defines,
      measures,
      within,
      emitTimeouts,
      lookBehind: binder.lookBehind,
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

const NAV_FUNCTIONS = new Set(['first', 'last', 'prev', 'next'])
const PATTERN_AGGREGATES = new Set(['count', 'sum', 'avg', 'min', 'max'])

/** Turns the navigation of one pattern expression into slots, then binds it over them. */
class SlotBinder {
  lookBehind = 0

  constructor(
    private readonly stream: StreamDef,
    private readonly streamName: string,
    private readonly variables: ReadonlySet<string>,
    private readonly subsets: ReadonlySet<string>,
  ) {}

  bind(pe: PatternExpr, clause: 'DEFINE' | 'MEASURES'): { expr: BoundExpr; slots: Slot[] } {
    const parsed = parseAt(pe.text, pe.span, pe.innerSemantics.map((m) => m.span))
    const slots: Slot[] = []
    const rewritten = this.rewrite(parsed, slots, clause)
    const scope = new Scope(slots.map((s, i) => ({ name: `__slot${i}`, type: s.type, nullable: true })))
    return { expr: bindExpr(rewritten, { scope, params: [], clause }), slots }
  }

  private slotRef(slots: Slot[], slot: Slot, span: Span): ast.Expr {
    slots.push(slot)
    return { kind: 'column_ref', table: [], name: `__slot${slots.length - 1}`, span }
  }

  /** A pattern variable (or SUBSET name) qualifying a column, or null for none / the stream's own name. */
  private variableOf(table: readonly string[], span: Span): string | null {
    if (table.length === 0) return null
    const q = table[table.length - 1]!
    if (this.variables.has(q) || this.subsets.has(q)) return q
    if (q === this.streamName) return null
    throw planError(SqlState.undefinedTable, `"${q}" is not a pattern variable of this MATCH_RECOGNIZE`, span)
  }

  private column(name: string, span: Span): number {
    const i = this.stream.columns.findIndex((c) => c.name === name)
    if (i === -1) throw planError(SqlState.undefinedColumn, `column "${name}" does not exist in stream ${this.stream.name}`, span)
    return i
  }

  private rewrite(e: ast.Expr, slots: Slot[], clause: 'DEFINE' | 'MEASURES'): ast.Expr {
    if (e.kind === 'column_ref') {
      const variable = this.variableOf(e.table, e.span)
      const column = this.column(e.name, e.span)
      return this.slotRef(slots, { kind: 'nav', fn: 'last', variable, column, offset: 0, type: this.stream.columns[column]!.type }, e.span)
    }
    if (e.kind === 'func_call' && e.schema === undefined) {
      const name = e.name
      if (NAV_FUNCTIONS.has(name)) return this.navigation(e, slots)
      if (name === 'classifier' || name === 'match_number' || name === 'timed_out') {
        if (e.args.length > 0) throw planError(SqlState.undefinedFunction, `${name.toUpperCase()}() takes no arguments`, e.span)
        if (name === 'timed_out' && clause === 'DEFINE') throw planError(SqlState.syntaxError, 'TIMED_OUT() belongs in MEASURES', e.span)
        const type = name === 'classifier' ? Types.text : name === 'match_number' ? Types.int8 : Types.bool
        return this.slotRef(slots, { kind: name, type } as Slot, e.span)
      }
      if (PATTERN_AGGREGATES.has(name) && e.over === undefined) return this.aggregate(e, slots)
    }
    return mapChildren(e, (c) => this.rewrite(c, slots, clause))
  }

  private navigation(e: ast.FuncCall, slots: Slot[]): ast.Expr {
    const fn = e.name as 'first' | 'last' | 'prev' | 'next'
    const arg = e.args[0]
    if (e.args.length < 1 || e.args.length > 2 || arg === undefined) throw planError(SqlState.undefinedFunction, `${fn.toUpperCase()} takes (column [, offset])`, e.span)
    if (arg.kind !== 'column_ref') throw unsupported(`${fn.toUpperCase()} navigates to a column, such as ${fn.toUpperCase()}(A.price)`, arg.span)
    let offset = fn === 'prev' || fn === 'next' ? 1 : 0
    if (e.args[1] !== undefined) {
      const o = bindExpr(e.args[1], { scope: Scope.empty(), params: [], clause: 'a navigation offset' })
      if (o.kind !== 'const' || typeof o.value !== 'number' || !Number.isInteger(o.value) || o.value < 0 || o.value > 10_000) {
        throw planError(SqlState.invalidParameterValue, 'a navigation offset is a constant integer from 0 to 10000', e.args[1].span)
      }
      offset = o.value
    }
    if (fn === 'prev') this.lookBehind = Math.max(this.lookBehind, offset)
    const variable = this.variableOf(arg.table, arg.span)
    const column = this.column(arg.name, arg.span)
    return this.slotRef(slots, { kind: 'nav', fn, variable, column, offset, type: this.stream.columns[column]!.type }, e.span)
  }

  private aggregate(e: ast.FuncCall, slots: Slot[]): ast.Expr {
    const fn = e.name as 'count' | 'sum' | 'avg' | 'min' | 'max'
    if (e.distinct || e.filter !== undefined) throw unsupported(`DISTINCT and FILTER are not supported in ${fn} over pattern variables`, e.span)
    if (e.star || (e.args.length === 0 && fn === 'count')) return this.slotRef(slots, { kind: 'agg', fn: 'count', variable: null, column: null, type: Types.int8 }, e.span)
    const arg = e.args[0]
    if (e.args.length !== 1 || arg === undefined) throw planError(SqlState.undefinedFunction, `${fn} takes one argument here`, e.span)
    if (arg.kind === 'star' && fn === 'count') {
      return this.slotRef(slots, { kind: 'agg', fn: 'count', variable: this.variableOf(arg.table, arg.span), column: null, type: Types.int8 }, e.span)
    }
    if (arg.kind !== 'column_ref') throw unsupported(`${fn} over pattern variables takes a column, such as ${fn}(A.price)`, arg.span)
    const column = this.column(arg.name, arg.span)
    const spec = resolveAggregate(fn, [this.stream.columns[column]!.type], false)
    if (spec === undefined) throw planError(SqlState.undefinedFunction, `function ${fn}(${this.stream.columns[column]!.type.name}) does not exist`, e.span)
    return this.slotRef(slots, { kind: 'agg', fn, variable: this.variableOf(arg.table, arg.span), column, type: spec.type }, e.span)
  }
}

/** The expression with each direct sub-expression replaced by `f` of it. */
function mapChildren(e: ast.Expr, f: (c: ast.Expr) => ast.Expr): ast.Expr {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(e)) {
    if (k === 'span') out[k] = v
    else if (isExpr(v)) out[k] = f(v)
    else if (Array.isArray(v)) out[k] = v.map((x) => (isExpr(x) ? f(x) : isWhen(x) ? { ...x, when: f(x.when), then: f(x.then) } : x))
    else out[k] = v
  }
  return out as unknown as ast.Expr
}

const EXPR_KINDS = new Set(['column_ref', 'literal', 'param', 'binary_op', 'unary_op', 'bool_expr', 'func_call', 'cast', 'case', 'in_list', 'between', 'is_test', 'like', 'subquery', 'array', 'row', 'subscript', 'field_select', 'star'])
const isExpr = (v: unknown): v is ast.Expr => v !== null && typeof v === 'object' && EXPR_KINDS.has((v as { kind?: string }).kind ?? '')
const isWhen = (v: unknown): v is { when: ast.Expr; then: ast.Expr } => v !== null && typeof v === 'object' && 'when' in v && 'then' in v
