/**
 * Window functions of pull queries over a written frame (`ROWS BETWEEN 3 PRECEDING AND CURRENT ROW`,
 * `RANGE BETWEEN INTERVAL '1 hour' PRECEDING AND CURRENT ROW`, `GROUPS 1 PRECEDING EXCLUDE TIES`): for
 * each row of a sorted partition the frame's first and last position, as PostgreSQL's nodeWindowAgg finds
 * them, less the rows EXCLUDE removes; aggregates are computed afresh over each row's frame and
 * first_value / last_value / nth_value read its rows. Work is counted on the query's guard, row by row.
 */
import type { Row, Value } from '../common/types.ts'
import { addInterval, isInterval } from '../common/types.ts'
import { SluiceError, SqlState } from '../common/errors.ts'
import { compileAggregates } from '../expr/compile-aggregates.ts'
import { compileExpr } from '../expr/compile.ts'
import { compareValues, type EvalContext } from '../expr/runtime.ts'
import type { PullFrame, PullFrameBound, PullWindowCall } from '../planner/pull-window.ts'
import type { QueryGuard } from './query-budget.ts'
import { peerGroups, type Sorted } from './pull-window-values.ts'

export function* framedCall(call: PullWindowCall, frame: PullFrame, p: Sorted, rows: readonly Row[], out: Value[][], ci: number, params: readonly Value[], ctx: EvalContext, guard: QueryGuard): Generator<void, void, void> {
  const n = p.order.length
  if (n === 0) return
  const groups = peerGroups(p, call)
  const groupOf = new Array<number>(n)
  groups.forEach(([s, e], g) => {
    for (let i = s; i < e; i++) groupOf[i] = g
  })
  const offset = (b: PullFrameBound, which: 'starting' | 'ending'): Value => {
    if (!('offset' in b)) return null
    const v = compileExpr(b.offset)([], params, ctx)
    if (v === null) throw new SluiceError('execution', SqlState.nullValueNotAllowed, `frame ${which} offset must not be null`)
    const negative = isInterval(v) ? v.months < 0 || v.days < 0 || v.micros < 0 : Number(v) < 0
    if (negative) {
      throw new SluiceError('execution', SqlState.invalidPrecedingOrFollowingSize, frame.mode === 'range' ? 'invalid preceding or following size in window function' : `frame ${which} offset must not be negative`)
    }
    return v
  }
  const startOffset = offset(frame.start, 'starting')
  const endOffset = offset(frame.end, 'ending')
  const bounds = frameBounds(frame, p, call.orderBy[0]?.descending ?? false, groups, groupOf, startOffset, endOffset)
  const excluded = (i: number, j: number): boolean => {
    switch (frame.exclude) {
      case null:
        return false
      case 'current_row':
        return i === j
      case 'group':
        return groupOf[i] === groupOf[j]
      case 'ties':
        return i !== j && groupOf[i] === groupOf[j]
    }
  }
  const fn = call.fn
  const at = (e: ReturnType<typeof compileExpr>, pos: number): Value => e(rows[p.order[pos]!]!, params, ctx)
  const agg = fn.kind === 'aggregate' ? compileAggregates([fn.aggregate]) : null
  const arg = fn.kind === 'first_value' || fn.kind === 'last_value' || fn.kind === 'nth_value' ? compileExpr(fn.arg) : null
  const nth = fn.kind === 'nth_value' ? compileExpr(fn.n) : null
  // A frame from the partition's start without EXCLUDE only grows (its end never moves back): one
  // accumulator takes each row once, as PostgreSQL's running aggregate does.
  const running = agg !== null && frame.start.kind === 'unbounded_preceding' && frame.exclude === null ? { acc: agg.init(), end: 0 } : null
  for (let i = 0; i < n; i++) {
    const [lo, hi] = bounds(i)
    if (running !== null) {
      if (hi < running.end) {
        // Not expected (the end is monotone); start over rather than answer wrong.
        running.acc = agg!.init()
        running.end = 0
      }
      if (guard.tick(Math.max(1, hi - running.end))) yield
      for (; running.end < hi; running.end++) agg!.update(running.acc, rows[p.order[running.end]!]!, params, ctx)
      out[p.order[i]!]![ci] = agg!.finalize(running.acc)[0] ?? null
      continue
    }
    if (guard.tick(Math.max(1, hi - lo))) yield
    let v: Value = null
    if (agg !== null) {
      const acc = agg.init()
      for (let j = lo; j < hi; j++) if (!excluded(i, j)) agg.update(acc, rows[p.order[j]!]!, params, ctx)
      v = agg.finalize(acc)[0] ?? null
    } else {
      const inFrame: number[] = []
      for (let j = lo; j < hi; j++) if (!excluded(i, j)) inFrame.push(j)
      if (fn.kind === 'first_value') v = inFrame.length > 0 ? at(arg!, inFrame[0]!) : null
      else if (fn.kind === 'last_value') v = inFrame.length > 0 ? at(arg!, inFrame[inFrame.length - 1]!) : null
      else {
        const k = at(nth!, i) as number | null
        if (k !== null && k <= 0) throw new SluiceError('execution', SqlState.invalidParameterValue, 'argument of nth_value must be greater than zero')
        v = k !== null && k <= inFrame.length ? at(arg!, inFrame[k - 1]!) : null
      }
    }
    out[p.order[i]!]![ci] = v
  }
}

/** [first, last + 1) positions of row i's frame before exclusions. */
function frameBounds(
  frame: PullFrame,
  p: Sorted,
  descending: boolean,
  groups: readonly [number, number][],
  groupOf: readonly number[],
  startOffset: Value,
  endOffset: Value,
): (i: number) => [number, number] {
  const n = p.order.length
  const clamp = (x: number): number => Math.max(0, Math.min(n, x))
  switch (frame.mode) {
    case 'rows':
      return (i) => [clamp(rowsEdge(frame.start, i, Number(startOffset), n, true)), clamp(rowsEdge(frame.end, i, Number(endOffset), n, false))]
    case 'groups':
      return (i) => {
        const g = groupOf[i]!
        const edge = (b: PullFrameBound, off: number, isStart: boolean): number => {
          const target = b.kind === 'preceding' ? g - off : b.kind === 'following' ? g + off : g
          if (b.kind === 'unbounded_preceding') return 0
          if (b.kind === 'unbounded_following') return n
          if (target < 0) return 0
          if (target >= groups.length) return n
          return isStart ? groups[target]![0] : groups[target]![1]
        }
        return [edge(frame.start, Number(startOffset), true), Math.max(0, edge(frame.end, Number(endOffset), false))]
      }
    case 'range': {
      let first = 0
      while (first < n && (p.keys[first]![0] ?? null) === null) first++
      let last = n
      while (last > first && (p.keys[last - 1]![0] ?? null) === null) last--
      const nonNull: [number, number] = [first, last]
      return (i) => {
        const [gs, ge] = groups[groupOf[i]!]!
        const key = p.keys[i]![0] ?? null
        const edge = (b: PullFrameBound, off: Value, isStart: boolean): number => {
          if (b.kind === 'unbounded_preceding') return 0
          if (b.kind === 'unbounded_following') return n
          if (b.kind === 'current_row' || key === null) return isStart ? gs : ge
          // The bound value: key - offset for PRECEDING in ascending order, key + offset for FOLLOWING; reversed when descending.
          const sign = (b.kind === 'preceding') !== descending ? -1 : 1
          const limit = shift(key, off!, sign)
          // Rows whose key is null sort apart and are never within an offset of a non-null key.
          const inside = (j: number): boolean => {
            const k = p.keys[j]![0] ?? null
            if (k === null) return false
            const c = compareValues(k, limit)
            return isStart ? (descending ? c <= 0 : c >= 0) : descending ? c >= 0 : c <= 0
          }
          // Non-null keys are one sorted run, in which `inside` turns true (start) or false (end) once.
          let lo = nonNull[0]
          let hi = nonNull[1]
          while (lo < hi) {
            const mid = (lo + hi) >> 1
            if (inside(mid) === isStart) hi = mid
            else lo = mid + 1
          }
          return isStart ? (lo < nonNull[1] ? lo : n) : lo
        }
        return [edge(frame.start, startOffset, true), edge(frame.end, endOffset, false)]
      }
    }
  }
}

function rowsEdge(b: PullFrameBound, i: number, off: number, n: number, isStart: boolean): number {
  switch (b.kind) {
    case 'unbounded_preceding':
      return 0
    case 'unbounded_following':
      return n
    case 'current_row':
      return isStart ? i : i + 1
    case 'preceding':
      return isStart ? i - off : i - off + 1
    case 'following':
      return isStart ? i + off : i + off + 1
  }
}

function shift(key: Value, off: Value, sign: 1 | -1): Value {
  if (isInterval(off)) return addInterval(key as number, off, sign)
  return (key as number) + sign * Number(off)
}
