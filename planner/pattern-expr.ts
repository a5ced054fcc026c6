/**
 * Binds a DEFINE condition or a measure of MATCH_RECOGNIZE (SQL:2016 row pattern navigation) into an
 * expression over *slots*: each navigation, aggregate or MATCH_NUMBER() of the expression becomes a
 * synthetic column whose value the executor (executor/pattern/expressions.ts) computes from the match at
 * hand before it calls the compiled expression.
 *
 *   A.price, price            LAST(A.price): the last row mapped to A (unqualified: any row), in RUNNING
 *                             semantics the row being tested or output
 *   FIRST(e [, n]), LAST(e [, n])     logical navigation among the rows mapped to e's variable
 *   PREV(e [, n]), NEXT(e [, n])      physical navigation from that row, into the rest of the partition
 *   PREV(LAST(e, m), n)       the two combined (physical over logical, never the other way round)
 *   CLASSIFIER([v])           the variable the row is mapped to, as written in PATTERN; with v: at the last
 *                             row mapped to v (a primary or SUBSET variable)
 *   MATCH_NUMBER()
 *   agg(e, ...)               any aggregate over the rows mapped to e's variable (all rows when none)
 *   TIMED_OUT()               Sluice: true on the row emitted when WITHIN cut a partial match off
 *
 * `e` is any expression over the columns of one row, CLASSIFIER() and MATCH_NUMBER(); its column
 * references must all name the same variable (or none), as the standard requires.
 */
import * as ast from '../parser/ast.ts'
import { SqlState, planError, unsupported, type Span } from '../common/errors.ts'
import { Types, type SqlType } from '../common/types.ts'
import type { PatternExpr } from '../parser/match-recognize/ast.ts'
import type { BoundExpr } from '../expr/bound.ts'
import { isAggregateName, type BoundAggregate } from '../expr/aggregates.ts'
import { bindExpr } from './bind-expr.ts'
import { Scope } from './scope.ts'
import type { StreamDef } from './catalog.ts'

/** A value read at one row of the partition: the input of a navigation's or an aggregate's expression. */
export type RowSlot =
  | { readonly kind: 'column'; readonly column: number; readonly type: SqlType }
  | { readonly kind: 'classifier'; readonly type: SqlType }
  | { readonly kind: 'match_number'; readonly type: SqlType }

/** An expression over one row: column i of its input is `slots[i]`. */
export interface RowExpression {
  readonly expr: BoundExpr
  readonly slots: readonly RowSlot[]
}

/**
 * What a slot of a pattern expression stands for. `variable` null means all rows (the universal variable).
 * `semantics` is set where RUNNING or FINAL is written before the call.
 */
export type Slot =
  | {
      readonly kind: 'nav'
      /** The row: FIRST / LAST(variable, offset) among the mapped rows, then `physical` rows on (negative: PREV). */
      readonly logical: 'first' | 'last'
      readonly variable: string | null
      readonly offset: number
      readonly physical: number
      readonly value: RowExpression
      readonly semantics?: 'running' | 'final'
      readonly type: SqlType
    }
  | {
      readonly kind: 'agg'
      readonly variable: string | null
      /** Its arguments are bound over `rowSlots`. */
      readonly aggregate: BoundAggregate
      readonly rowSlots: readonly RowSlot[]
      readonly semantics?: 'running' | 'final'
      readonly type: SqlType
    }
  | { readonly kind: 'match_number'; readonly type: SqlType }
  | { readonly kind: 'timed_out'; readonly type: SqlType }

/** A DEFINE condition or a measure: an expression over its slots (column i of its input is slot i). */
export interface PatternExpression {
  readonly expr: BoundExpr
  readonly slots: readonly Slot[]
  readonly semantics: 'running' | 'final'
}

type Clause = 'DEFINE' | 'MEASURES'

/** The variable of a navigation's or aggregate's argument, found while its references are collected. */
interface RowScope {
  readonly slots: RowSlot[]
  /** undefined: no reference seen yet; null: the universal variable. */
  variable: string | null | undefined
  readonly what: string
}

const NAV_FUNCTIONS = new Set(['first', 'last', 'prev', 'next'])
const MAX_OFFSET = 10_000

/** Turns the navigation of pattern expressions into slots, then binds each over them. */
export class SlotBinder {
  /** How far back PREV reaches from a row of the match: rows to keep before the next start row. */
  lookBehind = 0
  /** How far NEXT in MEASURES reaches past a match's last row: rows a stream waits for before giving it out. */
  lookAhead = 0
  private clause: Clause = 'DEFINE'
  private marks: readonly { semantics: 'running' | 'final'; span: Span }[] = []
  private text = ''
  private textStart = 0
  /** RUNNING / FINAL written before the whole expression: it belongs to the call the expression starts with. */
  private leading: 'running' | 'final' | undefined

  constructor(
    private readonly stream: StreamDef,
    private readonly streamName: string,
    private readonly variables: ReadonlySet<string>,
    private readonly subsets: ReadonlySet<string>,
    private readonly parse: (text: string, span: Span, blanks: readonly Span[]) => ast.Expr,
  ) {}

  bind(pe: PatternExpr, clause: Clause): { expr: BoundExpr; slots: Slot[] } {
    for (const m of pe.innerSemantics) if (clause === 'DEFINE' && m.semantics === 'final') throw planError(SqlState.syntaxError, 'FINAL is not allowed in DEFINE: a condition sees the match only up to the row it tests', m.span)
    this.marks = pe.innerSemantics
    this.text = pe.text
    this.textStart = pe.span.start
    this.leading = pe.semantics
    this.clause = clause
    const parsed = this.parse(pe.text, pe.span, pe.innerSemantics.map((m) => m.span))
    const slots: Slot[] = []
    const rewritten = this.rewrite(parsed, slots, clause)
    const scope = new Scope(slots.map((s, i) => ({ name: `__slot${i}`, type: s.type, nullable: true })))
    return { expr: bindExpr(rewritten, { scope, params: [], clause }), slots }
  }

  private slotRef(slots: Slot[], slot: Slot, span: Span): ast.Expr {
    slots.push(slot)
    return { kind: 'column_ref', table: [], name: `__slot${slots.length - 1}`, span }
  }

  /** RUNNING or FINAL written right before the call at `span`. */
  private semanticsAt(span: Span): 'running' | 'final' | undefined {
    if (this.leading !== undefined && span.start === this.textStart) return this.leading
    for (const m of this.marks) {
      const between = this.text.slice(m.span.end - this.textStart, span.start - this.textStart)
      if (m.span.end <= span.start && between.trim() === '') return m.semantics
    }
    return undefined
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

  private rewrite(e: ast.Expr, slots: Slot[], clause: Clause): ast.Expr {
    if (e.kind === 'func_call' && e.schema === undefined && e.name === 'classifier' && this.semanticsAt(e.span) !== undefined) {
      throw planError(SqlState.syntaxError, `${this.semanticsAt(e.span)!.toUpperCase()} applies to FIRST, LAST and aggregates, not to CLASSIFIER`, e.span)
    }
    if (e.kind === 'column_ref' || (e.kind === 'func_call' && e.schema === undefined && e.name === 'classifier' && e.over === undefined)) {
      // A.price and CLASSIFIER(v) read the last row mapped to the variable, as LAST(...) does.
      return this.navigation({ kind: 'func_call', name: 'last', args: [e], star: false, distinct: false, span: e.span }, slots, false)
    }
    if (e.kind === 'func_call' && e.schema === undefined && e.over === undefined) {
      const name = e.name
      const semantics = this.semanticsAt(e.span)
      if (semantics !== undefined && (name === 'prev' || name === 'next' || name === 'classifier' || name === 'match_number')) {
        // The standard gives RUNNING / FINAL to FIRST, LAST and aggregates only: write PREV(FINAL LAST(A.x)).
        throw planError(SqlState.syntaxError, `${semantics.toUpperCase()} applies to FIRST, LAST and aggregates, not to ${name.toUpperCase()}`, e.span)
      }
      if (NAV_FUNCTIONS.has(name)) return this.navigation(e, slots, true)
      if (name === 'match_number' || name === 'timed_out') {
        if (e.args.length > 0 || e.star) throw planError(SqlState.undefinedFunction, `${name.toUpperCase()}() takes no arguments`, e.span)
        if (name === 'timed_out' && clause === 'DEFINE') throw planError(SqlState.syntaxError, 'TIMED_OUT() belongs in MEASURES', e.span)
        return this.slotRef(slots, { kind: name, type: name === 'match_number' ? Types.int8 : Types.bool }, e.span)
      }
      if (isAggregateName(name)) return this.aggregate(e, slots)
    }
    return mapChildren(e, (c) => this.rewrite(c, slots, clause))
  }

  /** FIRST / LAST / PREV / NEXT (and a bare column or CLASSIFIER, as LAST of it). */
  private navigation(e: ast.FuncCall, slots: Slot[], written: boolean): ast.Expr {
    const fn = e.name as 'first' | 'last' | 'prev' | 'next'
    const physical = fn === 'prev' || fn === 'next'
    const arg = e.args[0]
    if (e.args.length < 1 || e.args.length > 2 || arg === undefined || e.star) throw planError(SqlState.undefinedFunction, `${fn.toUpperCase()} takes (expression [, offset])`, e.span)
    if (e.distinct || e.filter !== undefined) throw planError(SqlState.syntaxError, `DISTINCT and FILTER do not apply to ${fn.toUpperCase()}`, e.span)
    const offset = e.args[1] === undefined ? (physical ? 1 : 0) : this.offset(e.args[1])
    let logical: 'first' | 'last' = physical ? 'last' : fn
    let logicalOffset = physical ? 0 : offset
    let inner = arg
    if (physical && arg.kind === 'func_call' && (arg.name === 'first' || arg.name === 'last') && arg.schema === undefined) {
      // PREV(LAST(A.price, 1), 2): the logical navigation picks the row, the physical one moves from it.
      if (arg.args.length < 1 || arg.args.length > 2) throw planError(SqlState.undefinedFunction, `${arg.name.toUpperCase()} takes (expression [, offset])`, arg.span)
      logical = arg.name
      logicalOffset = arg.args[1] === undefined ? 0 : this.offset(arg.args[1])
      inner = arg.args[0]!
    }
    const scope: RowScope = { slots: [], variable: undefined, what: written ? fn.toUpperCase() : 'a pattern variable reference' }
    const rowExpr = this.rowExpression(inner, scope)
    const value: RowExpression = { expr: bindExpr(rowExpr, { scope: rowScope(scope.slots), params: [], clause: `${scope.what}` }), slots: scope.slots }
    const step = physical ? (fn === 'prev' ? -offset : offset) : 0
    if (step < 0) this.lookBehind = Math.max(this.lookBehind, -step)
    if (step > 0 && this.clause === 'MEASURES') this.lookAhead = Math.max(this.lookAhead, step)
    const semantics = written ? this.semanticsAt(inner !== arg ? arg.span : e.span) : undefined
    const slot: Slot = { kind: 'nav', logical, variable: scope.variable ?? null, offset: logicalOffset, physical: step, value, type: value.expr.type, ...(semantics !== undefined ? { semantics } : {}) }
    return this.slotRef(slots, slot, e.span)
  }

  private offset(e: ast.Expr): number {
    const o = bindExpr(e, { scope: Scope.empty(), params: [], clause: 'a navigation offset' })
    if (o.kind !== 'const' || typeof o.value !== 'number' || !Number.isInteger(o.value) || o.value < 0 || o.value > MAX_OFFSET) {
      throw planError(SqlState.invalidParameterValue, `a navigation offset is a constant integer from 0 to ${MAX_OFFSET}`, e.span)
    }
    return o.value
  }

  /**
   * The argument of a navigation or an aggregate as an expression over one row: column references and
   * CLASSIFIER() become row slots, all of one variable.
   */
  private rowExpression(e: ast.Expr, scope: RowScope): ast.Expr {
    const ref = (slot: RowSlot, span: Span): ast.Expr => {
      scope.slots.push(slot)
      return { kind: 'column_ref', table: [], name: `__row${scope.slots.length - 1}`, span }
    }
    if (e.kind === 'column_ref') {
      this.useVariable(scope, this.variableOf(e.table, e.span), e.span)
      const column = this.column(e.name, e.span)
      return ref({ kind: 'column', column, type: this.stream.columns[column]!.type }, e.span)
    }
    if (e.kind === 'func_call' && e.schema === undefined && e.over === undefined) {
      if (e.name === 'classifier') {
        if (e.args.length > 1 || e.star) throw planError(SqlState.undefinedFunction, 'CLASSIFIER takes at most one argument, a pattern variable', e.span)
        const v = e.args[0]
        if (v !== undefined && (v.kind !== 'column_ref' || v.table.length > 0 || !(this.variables.has(v.name) || this.subsets.has(v.name)))) {
          throw planError(SqlState.undefinedTable, 'the argument of CLASSIFIER is a pattern variable or union variable of this MATCH_RECOGNIZE', v.span)
        }
        this.useVariable(scope, v === undefined ? null : v.name, e.span)
        return ref({ kind: 'classifier', type: Types.text }, e.span)
      }
      if (e.name === 'match_number') {
        if (e.args.length > 0 || e.star) throw planError(SqlState.undefinedFunction, 'MATCH_NUMBER() takes no arguments', e.span)
        return ref({ kind: 'match_number', type: Types.int8 }, e.span)
      }
      if (NAV_FUNCTIONS.has(e.name)) {
        throw planError(SqlState.syntaxError, `${e.name.toUpperCase()} cannot be nested in ${scope.what}: only PREV and NEXT may take FIRST or LAST`, e.span)
      }
      if (isAggregateName(e.name)) throw planError(SqlState.groupingError, `aggregate functions are not allowed in the argument of ${scope.what}`, e.span)
      if (e.name === 'timed_out') throw planError(SqlState.syntaxError, `TIMED_OUT() is not allowed in ${scope.what}`, e.span)
    }
    return mapChildren(e, (c) => this.rowExpression(c, scope))
  }

  private useVariable(scope: RowScope, variable: string | null, span: Span): void {
    if (scope.variable === undefined) scope.variable = variable
    else if (scope.variable !== variable) {
      const name = (v: string | null) => (v === null ? 'no variable' : v)
      throw planError(SqlState.syntaxError, `every column of ${scope.what} must belong to the same pattern variable: ${name(scope.variable)} and ${name(variable)} are mixed`, span)
    }
  }

  /** Any aggregate over the rows of one variable, of a SUBSET or of the whole match. */
  private aggregate(e: ast.FuncCall, slots: Slot[]): ast.Expr {
    const scope: RowScope = { slots: [], variable: undefined, what: `${e.name}()` }
    let call = e
    const arg = e.args[0]
    if (arg !== undefined && arg.kind === 'star' && e.name === 'count' && e.args.length === 1) {
      // count(A.*): the rows mapped to A.
      this.useVariable(scope, this.variableOf(arg.table, arg.span), arg.span)
      call = { ...e, args: [], star: true }
    }
    if (e.orderBy !== undefined && e.orderBy.length > 0) throw unsupported(`ORDER BY inside ${e.name}(...) over pattern rows is not supported: rows are aggregated in match order`, e.orderBy[0]!.span)
    const args = call.args.map((a) => this.rowExpression(a, scope))
    const filter = call.filter === undefined ? undefined : this.rowExpression(call.filter, scope)
    const aggregates: BoundAggregate[] = []
    const rewritten: ast.FuncCall = { ...call, args, ...(filter !== undefined ? { filter } : {}) }
    const bound = bindExpr(rewritten, { scope: rowScope(scope.slots), params: [], clause: 'MEASURES', aggregates })
    const aggregate = aggregates[0]
    if (bound.kind !== 'agg_ref' || aggregate === undefined) throw planError(SqlState.undefinedFunction, `${e.name} is not an aggregate function`, e.span)
    const semantics = this.semanticsAt(e.span)
    const slot: Slot = { kind: 'agg', variable: scope.variable ?? null, aggregate, rowSlots: scope.slots, type: bound.type, ...(semantics !== undefined ? { semantics } : {}) }
    return this.slotRef(slots, slot, e.span)
  }
}

function rowScope(slots: readonly RowSlot[]): Scope {
  return new Scope(slots.map((s, i) => ({ name: `__row${i}`, type: s.type, nullable: true })))
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
