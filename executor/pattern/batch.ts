/**
 * MATCH_RECOGNIZE over a finite set of rows (a pull query over a stream's stored rows or a view's rows):
 * the rows grouped by PARTITION BY, each partition sorted by ORDER BY and matched as final input, then each
 * output row built as the plan lays it out (ONE ROW PER MATCH: partition columns and measures; ALL ROWS PER
 * MATCH: partition and order columns, measures, the remaining columns).
 */
import type { Row, Value } from '../../common/types.ts'
import type { EvalContext } from '../../expr/runtime.ts'
import type { PatternPlan } from '../../planner/pattern-plan.ts'
import { CompiledPatternExpression, type EvaluationContext } from './expressions.ts'
import type { DefineFn, SuspendedAttempt } from './matcher.ts'
import { INITIAL_PARTITION_STATE, matchPartition, matchView, outputRows, type PatternEvent, type PatternMatch, type PatternTimeout } from './partition.ts'
import { compileMatchRecognize, type CompiledPattern } from './program.ts'
import { rowOrder } from './row-order.ts'

/** A MATCH_RECOGNIZE compiled once for any number of runs. */
export class BatchPattern {
  private readonly pattern: CompiledPattern
  private readonly defines: Map<string, CompiledPatternExpression>
  private readonly measures: readonly CompiledPatternExpression[]
  private readonly order: (a: readonly Value[], b: readonly Value[]) => number

  constructor(private readonly plan: PatternPlan) {
    this.pattern = compileMatchRecognize(plan.clause, plan.within === null ? {} : { within: plan.within })
    this.defines = new Map([...plan.defines].map(([v, d]) => [v, new CompiledPatternExpression(d)]))
    this.measures = plan.measures.map((m) => new CompiledPatternExpression(m.expression))
    const ties = rowOrder(plan.tieBreak)
    const t = plan.timeIndex
    this.order = (a, b) => compareTime(a[t] ?? null, b[t] ?? null) || ties(a, b)
  }

  /** The output rows of the pattern over `rows` (stream rows), partitions in order of first appearance. */
  run(rows: readonly Row[], ctx: EvalContext, tick: () => void = () => {}): Row[] {
    const out: Row[] = []
    for (const p of this.partitions(rows)) this.partition(p, ctx, out, tick)
    return out
  }

  /**
   * The same rows computed as a stream computes them: each partition's rows given `step` at a time (the
   * watermark at the last one given) with the input not final, every call going on from the search the
   * previous one stopped, then the end of the input. For checking the streaming matcher against the
   * search over the whole input (test/match-incremental.test.ts).
   */
  runStreaming(rows: readonly Row[], ctx: EvalContext, step: number): Row[] {
    const streaming = compileMatchRecognize(this.plan.clause, { lookAhead: this.plan.lookAhead, ...(this.plan.within === null ? {} : { within: this.plan.within }) })
    const t = this.plan.timeIndex
    const out: Row[] = []
    for (const p of this.partitions(rows)) {
      const events: PatternEvent[] = []
      let state = INITIAL_PARTITION_STATE
      let suspended: SuspendedAttempt | undefined
      for (let known = Math.min(step, p.length); ; known = Math.min(known + step, p.length)) {
        const final = known === p.length
        const c: EvaluationContext = { rowAt: (i) => (i < known ? p[i] : undefined), rowCount: known, final, ctx, timedOut: false }
        const horizon = final ? Number.POSITIVE_INFINITY : (p[known - 1]![t] as number)
        const run = matchPartition(streaming, { rowCount: known, final, define: this.defineOver(c), time: (i) => p[i]![t] as number, horizon }, state, suspended)
        events.push(...run.events)
        state = run.state
        suspended = run.suspended
        if (final) break
      }
      this.output(events, p, { rowAt: (i) => p[i], rowCount: p.length, final: true, ctx, timedOut: false }, out)
    }
    return out
  }

  private partitions(rows: readonly Row[]): Row[][] {
    const partitions = new Map<string, Row[]>()
    for (const r of rows) {
      const key = JSON.stringify(this.plan.partitionBy.map((c) => r[c] ?? null))
      let p = partitions.get(key)
      if (p === undefined) partitions.set(key, (p = []))
      p.push(r)
    }
    const out = [...partitions.values()]
    for (const p of out) p.sort(this.order)
    return out
  }

  /** DEFINE over the rows `c` holds. */
  private defineOver(c: EvaluationContext, tick: () => void = () => {}): DefineFn {
    return (variable, _row, view) => {
      const d = this.defines.get(variable)
      if (d === undefined) return true
      tick()
      const v = d.evaluate(view, view, c)
      return v === 'need_more' ? v : v === true
    }
  }

  private partition(rows: readonly Row[], ctx: EvalContext, out: Row[], tick: () => void): void {
    const t = this.plan.timeIndex
    const c: EvaluationContext = { rowAt: (i) => rows[i], rowCount: rows.length, final: true, ctx, timedOut: false }
    const time = (i: number): number => rows[i]![t] as number
    const run = matchPartition(this.pattern, { rowCount: rows.length, final: true, define: this.defineOver(c, tick), time, horizon: Number.POSITIVE_INFINITY })
    this.output(run.events, rows, c, out)
  }

  private output(events: readonly PatternEvent[], rows: readonly Row[], c: EvaluationContext, out: Row[]): void {
    const run = { events }
    const mode = this.plan.rowsPerMatch === 'one_row' ? ({ kind: 'one_row' } as const) : ({ kind: 'all_rows', mode: this.plan.allRowsMode } as const)
    for (const o of outputRows(run.events, mode)) {
      switch (o.kind) {
        case 'summary':
          out.push(this.row(o.match, null, rows, c))
          break
        case 'match_row':
        case 'empty_match':
          out.push(this.row(o.match, o.row, rows, c))
          break
        case 'unmatched':
          out.push(this.layout(rows[o.row]!, this.measures.map(() => null)))
          break
      }
    }
    if (this.plan.emitTimeouts) {
      for (const e of run.events) if (e.kind === 'timeout') out.push(this.row(e, null, rows, { ...c, timedOut: true }))
    }
  }

  /** One output row of a match: ONE ROW PER MATCH's when `row` is null, else ALL ROWS PER MATCH's row. */
  private row(match: PatternMatch | PatternTimeout, row: number | null, rows: readonly Row[], c: EvaluationContext): Row {
    const whole = matchView(this.pattern, match)
    const running = row === null || match.end === match.start ? whole : matchView(this.pattern, match, row)
    const values = this.measures.map((m) => {
      const v = m.evaluate(m.semantics === 'final' ? whole : running, whole, c)
      return v === 'need_more' ? null : v
    })
    return this.layout(rows[row ?? match.start]!, values)
  }

  private layout(source: Row, measures: Value[]): Row {
    const pick = (columns: readonly number[]) => columns.map((i) => source[i] ?? null)
    if (this.plan.rowsPerMatch === 'one_row') return pick(this.plan.partitionBy).concat(measures)
    return pick(this.plan.allRowsLayout.before).concat(measures, pick(this.plan.allRowsLayout.after))
  }
}

function compareTime(a: Value, b: Value): number {
  if (a === b) return 0
  if (a === null) return 1
  if (b === null) return -1
  return (a as number) - (b as number)
}
