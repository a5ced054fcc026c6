/**
 * Interval joins of two streams (campaign attribution: a purchase within 30 minutes of an offer):
 *
 *   SELECT o.player_id, o.offer, p.amount, p.ts FROM offers o JOIN purchases p
 *     ON p.player_id = o.player_id AND p.ts BETWEEN o.ts AND o.ts + INTERVAL '30 minutes'
 *
 * Each side's rows wait in state for rows of the other side with an equal key and an event time within the
 * bound; once the watermark has passed the bound, no row can still come that would match, and a waiting
 * row is dropped. The bound must be on the streams' event-time columns (their WATERMARK FOR column), as
 * `r.ts BETWEEN l.ts + a AND l.ts + b` or a pair of comparisons (>=, <=, >, <) with constant intervals added
 * or subtracted on either side; without both a lower and an upper bound the state would grow forever, so
 * such a join is refused. Every bound is kept as one range of `right.ts - left.ts`.
 */
import * as ast from '../parser/ast.ts'
import { SqlState, planError, unsupported, type Span } from '../common/errors.ts'
import { formatInterval, intervalMicros, type Interval } from '../common/types.ts'
import { displayExpr } from './display.ts'
import type { BoundExpr } from '../expr/bound.ts'
import { bindExpr } from './bind-expr.ts'
import { Scope, type ScopeColumn } from './scope.ts'
import type { Catalog, StreamDef } from './catalog.ts'

/** How far `right.ts - left.ts` may be (microseconds): [lower, upper], each end inclusive unless strict. */
export interface TimeBound {
  readonly lower: number
  readonly lowerStrict: boolean
  readonly upper: number
  readonly upperStrict: boolean
}

/** INNER, or which sides keep their rows without a match (padded with NULLs once the watermark passes the bound). */
export type IntervalJoinType = 'inner' | 'left' | 'right' | 'full'

export interface IntervalJoinSpec {
  readonly type: IntervalJoinType
  readonly left: StreamDef
  readonly right: StreamDef
  /** Columns of the left row and of the right row that must be equal (a NULL never matches), pairwise. */
  readonly leftKeys: readonly number[]
  readonly rightKeys: readonly number[]
  /** The event-time columns (each stream's WATERMARK FOR column), in its own row. */
  readonly leftTime: number
  readonly rightTime: number
  readonly bound: TimeBound
  /** ON conditions that are neither key equalities nor the bound, over the joined row (left columns, then right). */
  readonly residual: BoundExpr | null
}

/** Both sides of a join are streams (not views): an interval join, planned here. */
export function isStreamJoin(join: ast.JoinRef, catalog: Catalog): boolean {
  const isStream = (f: ast.FromItem) => f.kind === 'table_ref' && catalog.get(f.name.parts[f.name.parts.length - 1]!)?.kind === 'stream'
  return isStream(join.left) && isStream(join.right)
}

function streamOf(f: ast.FromItem, catalog: Catalog): { stream: StreamDef; alias: string } {
  const ref = f as ast.TableRef
  const name = ref.name.parts[ref.name.parts.length - 1]!
  return { stream: catalog.stream(name, ref.name.span), alias: ref.alias ?? name }
}

/** The joined row's scope: the left stream's columns, then the right's. */
export function joinScope(left: StreamDef, leftAlias: string, right: StreamDef, rightAlias: string, type: IntervalJoinType): Scope {
  const leftPadded = type === 'right' || type === 'full'
  const rightPadded = type === 'left' || type === 'full'
  const cols: ScopeColumn[] = [
    ...left.columns.map((c) => ({ table: leftAlias, name: c.name, type: c.type, nullable: leftPadded || c.nullable })),
    ...right.columns.map((c) => ({ table: rightAlias, name: c.name, type: c.type, nullable: rightPadded || c.nullable })),
  ]
  return new Scope(cols)
}

/** A side of a comparison: an input column plus a constant offset (`o.ts + INTERVAL '30 minutes'`), or null. */
interface TimeTerm {
  readonly column: number
  readonly offset: number
}

/**
 * `where`: the view's WHERE, whose conjuncts may give keys and the bound too (an inner join's WHERE is as good
 * as its ON); they stay in the view's filter as well.
 */
export function planIntervalJoin(join: ast.JoinRef, catalog: Catalog, where?: ast.Expr): { spec: IntervalJoinSpec; scope: Scope } {
  const { stream: left, alias: leftAlias } = streamOf(join.left, catalog)
  const { stream: right, alias: rightAlias } = streamOf(join.right, catalog)
  const type = join.joinType
  if (type === 'cross') throw unboundedJoin(left, right, join.span)
  if (left.name === right.name) throw unsupported('an interval join of a stream with itself is not supported yet', join.span)
  for (const s of [left, right]) {
    if (s.watermark === null) {
      throw planError(SqlState.objectNotInPrerequisiteState, `an interval join needs the event time of stream ${s.name}`, join.span, 'Declare WATERMARK FOR <time column> on both streams.')
    }
  }
  const scope = joinScope(left, leftAlias, right, rightAlias, type)
  const width = left.columns.length
  const leftTime = left.watermark!.columnIndex
  const rightTime = width + right.watermark!.columnIndex
  const leftKeys: number[] = []
  const rightKeys: number[] = []
  const residual: BoundExpr[] = []
  let lower: { at: number; strict: boolean } | null = null
  let upper: { at: number; strict: boolean } | null = null
  const addLower = (at: number, strict: boolean) => {
    if (lower === null || at > lower.at || (at === lower.at && strict)) lower = { at, strict }
  }
  const addUpper = (at: number, strict: boolean) => {
    if (upper === null || at < upper.at || (at === upper.at && strict)) upper = { at, strict }
  }
  const ctx = { scope, params: [], clause: 'JOIN/ON' }
  /** `a op b` on the time columns, as a bound of right.ts - left.ts; false when it is not one. */
  const timeComparison = (a: ast.Expr, op: string, b: ast.Expr): boolean => {
    const x = timeTerm(a, scope)
    const y = timeTerm(b, scope)
    if (x === null || y === null) return false
    // x.col + x.off  op  y.col + y.off, with one column the left time and the other the right time.
    let diff: number // right - left compared to diff, with op as if right were on the left side
    let rop = op
    if (x.column === rightTime && y.column === leftTime) diff = y.offset - x.offset
    else if (x.column === leftTime && y.column === rightTime) {
      diff = x.offset - y.offset
      rop = op === '>=' ? '<=' : op === '<=' ? '>=' : op === '>' ? '<' : '>'
    } else return false
    if (rop === '>=' || rop === '>') addLower(diff, rop === '>')
    else addUpper(diff, rop === '<')
    return true
  }
  if (join.using !== undefined) {
    for (const name of join.using) {
      const l = left.columns.findIndex((c) => c.name === name)
      const r = right.columns.findIndex((c) => c.name === name)
      if (l === -1 || r === -1) throw planError(SqlState.undefinedColumn, `column "${name}" specified in USING clause does not exist in ${l === -1 ? 'left' : 'right'} table`, join.span)
      leftKeys.push(l)
      rightKeys.push(r)
    }
  }
  // An outer join's WHERE filters its rows after the join (padded ones too): only an inner join's bounds it.
  const fromWhere = new Set(where === undefined || type !== 'inner' ? [] : conjuncts(where))
  for (const c of [...(join.on === undefined ? [] : conjuncts(join.on)), ...fromWhere]) {
    if (c.kind === 'between' && !c.negated) {
      if (timeComparison(c.expr, '>=', c.low)) {
        if (!timeComparison(c.expr, '<=', c.high)) throw unsupported('both ends of an interval join BETWEEN must be the other stream\'s event time plus or minus a constant interval', spanOf(c.high))
        continue
      }
    }
    if (c.kind === 'binary_op' && ['>=', '<=', '>', '<'].includes(c.op) && timeComparison(c.left, c.op, c.right)) continue
    if (c.kind === 'binary_op' && c.op === '=' && c.left.kind === 'column_ref' && c.right.kind === 'column_ref') {
      const a = scope.resolve(c.left.table, c.left.name, c.left.span)
      const b = scope.resolve(c.right.table, c.right.name, c.right.span)
      if ((a < width) !== (b < width)) {
        const [l, r] = a < width ? [a, b - width] : [b, a - width]
        if (left.columns[l]!.type.name !== right.columns[r]!.type.name) {
          throw planError(SqlState.datatypeMismatch, `join column types differ: ${left.name}.${left.columns[l]!.name} is ${left.columns[l]!.type.name}, ${right.name}.${right.columns[r]!.name} is ${right.columns[r]!.type.name}`, spanOf(c))
        }
        leftKeys.push(l)
        rightKeys.push(r)
        continue
      }
    }
    if (!fromWhere.has(c)) residual.push(bindExpr(c, ctx))
  }
  const lo = lower as { at: number; strict: boolean } | null
  const hi = upper as { at: number; strict: boolean } | null
  if (lo === null || hi === null) throw unboundedJoin(left, right, join.on === undefined ? join.span : spanOf(join.on), lo === null && hi === null ? undefined : lo === null ? 'lower' : 'upper')
  if (lo.at > hi.at || (lo.at === hi.at && (lo.strict || hi.strict))) {
    throw planError(SqlState.invalidParameterValue, 'the time bound of the interval join is empty: no pair of rows can match', join.on === undefined ? join.span : spanOf(join.on))
  }
  const bound: TimeBound = { lower: lo.at, lowerStrict: lo.strict, upper: hi.at, upperStrict: hi.strict }
  const rest: BoundExpr | null = residual.length === 0 ? null : residual.length === 1 ? residual[0]! : { kind: 'logic', op: 'and', args: residual, type: residual[0]!.type }
  return { spec: { type, left, right, leftKeys, rightKeys, leftTime, rightTime: right.watermark!.columnIndex, bound, residual: rest }, scope }
}

function unboundedJoin(left: StreamDef, right: StreamDef, span: Span, missing?: 'lower' | 'upper'): Error {
  const l = left.columns[left.watermark!.columnIndex]!.name
  const r = right.columns[right.watermark!.columnIndex]!.name
  const what = missing === undefined ? 'a time bound' : missing === 'upper' ? 'an upper time bound' : 'a lower time bound'
  return unsupported(
    `a join of streams ${left.name} and ${right.name} needs ${what} on their event times: without it, every row of each stream would wait in state forever`,
    span,
    `Bound the join on both sides, e.g. AND ${right.name}.${r} BETWEEN ${left.name}.${l} AND ${left.name}.${l} + INTERVAL '30 minutes'.`,
  )
}

/** `col`, `col + interval`, `col - interval`, `interval + col` (nested): the column and the summed offset. */
function timeTerm(e: ast.Expr, scope: Scope): TimeTerm | null {
  if (e.kind === 'column_ref') {
    try {
      return { column: scope.resolve(e.table, e.name, e.span), offset: 0 }
    } catch {
      return null
    }
  }
  if (e.kind === 'binary_op' && (e.op === '+' || e.op === '-')) {
    const left = timeTerm(e.left, scope)
    const rightConst = intervalConstant(e.right)
    if (left !== null && rightConst !== null) return { column: left.column, offset: left.offset + (e.op === '+' ? rightConst : -rightConst) }
    if (e.op === '+') {
      const leftConst = intervalConstant(e.left)
      const right = timeTerm(e.right, scope)
      if (leftConst !== null && right !== null) return { column: right.column, offset: right.offset + leftConst }
    }
  }
  return null
}

/** A constant interval in microseconds (months as 30 days, as elsewhere in the planner), else null. */
function intervalConstant(e: ast.Expr): number | null {
  if (e.kind === 'column_ref') return null
  try {
    const b = bindExpr(e, { scope: Scope.empty(), params: [], clause: 'JOIN/ON' })
    if (b.kind !== 'const' || b.type.name !== 'interval' || b.value === null) return null
    return intervalMicros(b.value as Interval)
  } catch {
    return null
  }
}

function conjuncts(e: ast.Expr): ast.Expr[] {
  return e.kind === 'bool_expr' && e.op === 'and' ? e.args.flatMap(conjuncts) : [e]
}

/** The expression's text: a binary operator's span starts at the operator, so from its leftmost operand on. */
function spanOf(e: ast.Expr): Span {
  const own = (e as { span: Span }).span
  const first = e.kind === 'binary_op' ? e.left : e.kind === 'bool_expr' ? e.args[0] : undefined
  return first === undefined ? own : { start: Math.min(own.start, spanOf(first).start), end: own.end }
}

const signed = (micros: number) => (micros < 0 ? `- ${formatMicros(-micros)}` : `+ ${formatMicros(micros)}`)
const formatMicros = (micros: number) => formatInterval({ months: 0, days: Math.floor(micros / DAY_MICROS), micros: micros % DAY_MICROS })
const DAY_MICROS = 86_400_000_000

/** EXPLAIN's line: keys, the bound as a BETWEEN on the right time, and when each side's rows leave state. */
export function intervalJoinLine(j: IntervalJoinSpec, names: readonly string[]): string {
  const width = j.left.columns.length
  const keys = j.leftKeys.map((l, i) => `${names[l]} = ${names[width + j.rightKeys[i]!]}`).join(', ')
  const lt = names[j.leftTime]!
  const rt = names[width + j.rightTime]!
  const b = j.bound
  const range = b.lowerStrict || b.upperStrict ? `${rt} ${b.lowerStrict ? '>' : '>='} ${lt} ${signed(b.lower)} AND ${rt} ${b.upperStrict ? '<' : '<='} ${lt} ${signed(b.upper)}` : `${rt} BETWEEN ${lt} ${signed(b.lower)} AND ${lt} ${signed(b.upper)}`
  const residual = j.residual === null ? '' : ` filter=${displayExpr(j.residual, names)}`
  const padded = (side: 'left' | 'right') => (j.type === side || j.type === 'full' ? ', then put out with NULLs if unmatched' : '')
  const leftKeep = `${j.left.name} rows until the watermark passes ${lt} ${signed(b.upper + j.right.allowedLateness)}${padded('left')}`
  const rightKeep = `${j.right.name} rows until it passes ${rt} ${signed(j.left.allowedLateness - b.lower)}${padded('right')}`
  return `IntervalJoin ${j.type === 'inner' ? 'inner' : `${j.type} outer`} key=[${keys}] ${range}${residual} state=rocksdb (${leftKeep}, ${rightKeep})`
}
