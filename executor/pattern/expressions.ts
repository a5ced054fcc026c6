/**
 * Evaluates a bound DEFINE condition or measure (planner/pattern-expr.ts) over a match as a MatchView sees
 * it: each slot's value (a navigation, an aggregate, MATCH_NUMBER()) first, then the compiled expression
 * over them.
 *
 * Navigation finds a row and evaluates its expression there. The logical step (FIRST / LAST) stays among
 * the rows mapped so far; a variable that matched no rows (an empty match, `A*` taken zero times) gives no
 * row, so the value is NULL. The physical step (PREV / NEXT) leaves the match: PREV reads earlier rows of
 * the partition (NULL before its first row), NEXT later ones, which in a stream may not have come yet
 * (`need_more`: the caller waits for them, or, with the input final, there are none and the value is NULL).
 * CLASSIFIER() at a row outside the match is NULL.
 */
import type { Value } from '../../common/types.ts'
import { compileAggregates, type CompiledAggregates } from '../../expr/compile-aggregates.ts'
import { compileExpr, type CompiledExpr } from '../../expr/compile.ts'
import type { EvalContext } from '../../expr/runtime.ts'
import type { PatternExpression, RowExpression, RowSlot, Slot } from '../../planner/pattern-expr.ts'
import type { MatchView } from './matcher.ts'

/** The partition's rows as the caller holds them: values of row i, undefined when not held. */
export interface PartitionRows {
  readonly rowAt: (i: number) => readonly Value[] | undefined
  /** Rows 0 .. rowCount-1 are known. */
  readonly rowCount: number
  /** No row follows row rowCount-1. */
  readonly final: boolean
}

export interface EvaluationContext extends PartitionRows {
  readonly ctx: EvalContext
  /** TIMED_OUT(): the row is the absence row of a partial match that WITHIN cut off. */
  readonly timedOut: boolean
}

type SlotFn = (running: MatchView, whole: MatchView, c: EvaluationContext) => Value | typeof NEED_MORE

const NEED_MORE = Symbol('need_more')
const EMPTY: Value[] = []

/** A compiled pattern expression: `evaluate` gives its value, or 'need_more' when it reads rows not come yet. */
export class CompiledPatternExpression {
  readonly semantics: 'running' | 'final'
  private readonly slots: readonly SlotFn[]
  private readonly fn: CompiledExpr

  constructor(e: PatternExpression) {
    this.semantics = e.semantics
    this.slots = e.slots.map(compileSlot)
    this.fn = compileExpr(e.expr)
  }

  /**
   * `running` is the view the expression's own semantics selects (RUNNING up to the current row, or the
   * whole match); `whole` serves calls marked FINAL. In DEFINE both are the partial match.
   */
  evaluate(running: MatchView, whole: MatchView, c: EvaluationContext): Value | 'need_more' {
    const values = new Array<Value>(this.slots.length)
    for (let i = 0; i < this.slots.length; i++) {
      const v = this.slots[i]!(running, whole, c)
      if (v === NEED_MORE) return 'need_more'
      values[i] = v
    }
    return this.fn(values, EMPTY, c.ctx)
  }
}

function compileSlot(slot: Slot): SlotFn {
  switch (slot.kind) {
    case 'match_number':
      return (running) => running.matchNumber
    case 'timed_out':
      return (_r, _w, c) => c.timedOut
    case 'nav':
      return compileNavigation(slot)
    case 'agg':
      return compileAggregate(slot)
  }
}

const pick = (semantics: 'running' | 'final' | undefined, running: MatchView, whole: MatchView): MatchView => (semantics === 'final' ? whole : running)

function compileNavigation(slot: Extract<Slot, { kind: 'nav' }>): SlotFn {
  const value = compileRowExpression(slot.value)
  const variable = slot.variable ?? undefined
  // FIRST reads the whole match even in RUNNING semantics, as Trino has it: the rows before the current
  // one are the same either way, and FIRST(x, n) may reach past it. (In DEFINE both views are the partial match.)
  const semantics = slot.logical === 'first' ? 'final' : slot.semantics
  return (running, whole, c) => {
    const view = pick(semantics, running, whole)
    let at = logicalRow(view, slot.logical, variable, slot.offset)
    if (at === undefined) return null
    at += slot.physical
    if (at < 0) return null
    if (at >= c.rowCount) return c.final ? null : NEED_MORE
    const row = c.rowAt(at)
    // CLASSIFIER() at the row reached reads the whole match, as in Trino: NEXT(CLASSIFIER()) in RUNNING
    // semantics names the next row's variable when that row belongs to the match.
    return row === undefined ? null : value(whole, at, row, c.ctx)
  }
}

/** FIRST / LAST(variable, offset) among the rows the view maps; the universal variable needs no scan. */
function logicalRow(view: MatchView, fn: 'first' | 'last', variable: string | undefined, offset: number): number | undefined {
  if (variable === undefined) {
    const at = fn === 'first' ? view.start + offset : view.current - offset
    return at >= view.start && at <= view.current ? at : undefined
  }
  return fn === 'first' ? view.first(variable, offset) : view.last(variable, offset)
}

type RowFn = (view: MatchView, at: number, row: readonly Value[], ctx: EvalContext) => Value

/** An expression over one row; a lone column is read directly. */
function compileRowExpression(e: RowExpression): RowFn {
  const only = e.slots[0]
  if (e.slots.length === 1 && e.expr.kind === 'column' && e.expr.index === 0 && only !== undefined && only.kind === 'column') {
    const column = only.column
    return (_v, _at, row) => row[column] ?? null
  }
  const fn = compileExpr(e.expr)
  const slots = e.slots
  return (view, at, row, ctx) => fn(rowValues(slots, view, at, row), EMPTY, ctx)
}

function rowValues(slots: readonly RowSlot[], view: MatchView, at: number, row: readonly Value[]): Value[] {
  const out = new Array<Value>(slots.length)
  for (let i = 0; i < slots.length; i++) {
    const s = slots[i]!
    switch (s.kind) {
      case 'column':
        out[i] = row[s.column] ?? null
        break
      case 'classifier':
        out[i] = view.classifier(at) ?? null
        break
      case 'match_number':
        out[i] = view.matchNumber
        break
    }
  }
  return out
}

function compileAggregate(slot: Extract<Slot, { kind: 'agg' }>): SlotFn {
  const aggs: CompiledAggregates = compileAggregates([slot.aggregate])
  const variable = slot.variable ?? undefined
  return (running, whole, c) => {
    const view = pick(slot.semantics, running, whole)
    const acc = aggs.init()
    for (const at of view.rowsOf(variable)) {
      const row = c.rowAt(at)
      if (row === undefined) continue
      aggs.update(acc, rowValues(slot.rowSlots, view, at, row), EMPTY, c.ctx)
    }
    return aggs.finalize(acc)[0] ?? null
  }
}
