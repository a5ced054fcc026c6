/**
 * Computes the window functions of a pull query (planner/pull-window.ts) over rows in memory: each call's
 * rows are split by PARTITION BY, sorted by its ORDER BY (stable, so rows keep their input order among
 * peers), and walked once. Peers (equal ORDER BY values) share rank and, for aggregates, the value over
 * the frame that ends with the last of them, as in PostgreSQL's default frame.
 */
import type { Row, Value } from '../common/types.ts'
import { SluiceError, SqlState } from '../common/errors.ts'
import { compileAggregates } from '../expr/compile-aggregates.ts'
import { compileExpr, compileProjection } from '../expr/compile.ts'
import type { PullWindowCall } from '../planner/pull-window.ts'
import { compareValues, type EvalContext } from '../expr/runtime.ts'
import type { QueryGuard } from './query-budget.ts'
import { sortInSlices } from './slice-sort.ts'
import { framedCall } from './pull-window-frames.ts'

/**
 * For each row, the values of every call in order (what `agg_ref` i reads). A generator of the pull
 * executor: it yields when the query's slice of time is over (between rows while partitioning, while
 * sorting, between partitions).
 */
export function* windowValues(rows: readonly Row[], calls: readonly PullWindowCall[], params: readonly Value[], ctx: EvalContext, guard: QueryGuard): Generator<void, Value[][], void> {
  const out: Value[][] = rows.map(() => new Array<Value>(calls.length).fill(null))
  for (let ci = 0; ci < calls.length; ci++) {
    const call = calls[ci]!
    for (const part of yield* partitions(rows, call, params, ctx, guard)) {
      if (call.frame !== null && FRAMED.has(call.fn.kind)) yield* framedCall(call, call.frame, part, rows, out, ci, params, ctx, guard)
      else computeCall(call, part, rows, out, ci, params, ctx)
      if (guard.tick(part.order.length)) yield
    }
  }
  return out
}

/** The functions a frame clause applies to; ranking functions, lag, lead and ntile ignore it, as in PostgreSQL. */
const FRAMED: ReadonlySet<PullWindowCall['fn']['kind']> = new Set(['aggregate', 'first_value', 'last_value', 'nth_value'])

export interface Sorted {
  /** Row indexes in the partition's order. */
  readonly order: number[]
  /** ORDER BY values per position. */
  readonly keys: Value[][]
}

function* partitions(rows: readonly Row[], call: PullWindowCall, params: readonly Value[], ctx: EvalContext, guard: QueryGuard): Generator<void, Sorted[], void> {
  const partKey = compileProjection(call.partitionBy)
  const orderKey = compileProjection(call.orderBy.map((o) => o.expr))
  const groups = new Map<string, number[]>()
  for (let i = 0; i < rows.length; i++) {
    if (guard.tick()) yield
    const k = call.partitionBy.length === 0 ? '' : JSON.stringify(partKey(rows[i]!, params, ctx))
    let g = groups.get(k)
    if (g === undefined) groups.set(k, (g = []))
    g.push(i)
  }
  const out: Sorted[] = []
  for (const idx of groups.values()) {
    const keyed = idx.map((i) => ({ i, k: orderKey(rows[i]!, params, ctx) }))
    const sorted = yield* sortInSlices(keyed, (x, y) => compareKeys(x.k, y.k, call), guard)
    out.push({ order: sorted.map((x) => x.i), keys: sorted.map((x) => x.k) })
  }
  return out
}

export function compareKeys(a: readonly Value[], b: readonly Value[], call: PullWindowCall): number {
  for (let i = 0; i < call.orderBy.length; i++) {
    const x = a[i] ?? null
    const y = b[i] ?? null
    const spec = call.orderBy[i]!
    if (x === null || y === null) {
      if (x === y) continue
      return (x === null) === spec.nullsFirst ? -1 : 1
    }
    const c = compareValues(x, y)
    if (c !== 0) return spec.descending ? -c : c
  }
  return 0
}

/** [start, end) of each run of peers. */
export function peerGroups(p: Sorted, call: PullWindowCall): [number, number][] {
  const out: [number, number][] = []
  let start = 0
  for (let i = 1; i <= p.order.length; i++) {
    if (i === p.order.length || compareKeys(p.keys[i - 1]!, p.keys[i]!, call) !== 0) {
      out.push([start, i])
      start = i
    }
  }
  return out
}

function computeCall(call: PullWindowCall, p: Sorted, rows: readonly Row[], out: Value[][], ci: number, params: readonly Value[], ctx: EvalContext): void {
  const n = p.order.length
  const set = (pos: number, v: Value): void => {
    out[p.order[pos]!]![ci] = v
  }
  const valueAt = (e: ReturnType<typeof compileExpr>, pos: number): Value => e(rows[p.order[pos]!]!, params, ctx)
  const fn = call.fn
  switch (fn.kind) {
    case 'row_number':
      for (let i = 0; i < n; i++) set(i, i + 1)
      return
    case 'rank':
    case 'dense_rank':
    case 'percent_rank':
    case 'cume_dist': {
      peerGroups(p, call).forEach(([s, e], g) => {
        const v = fn.kind === 'rank' ? s + 1 : fn.kind === 'dense_rank' ? g + 1 : fn.kind === 'percent_rank' ? (n > 1 ? s / (n - 1) : 0) : e / n
        for (let i = s; i < e; i++) set(i, v)
      })
      return
    }
    case 'ntile': {
      const b = compileExpr(fn.buckets)
      for (let i = 0; i < n; i++) {
        const buckets = valueAt(b, i)
        if (buckets === null) continue
        if (typeof buckets !== 'number' || buckets <= 0) throw new SluiceError('execution', SqlState.invalidParameterValue, 'argument of ntile must be greater than zero')
        // PostgreSQL: the first (n mod buckets) buckets get one row more.
        const size = Math.floor(n / buckets)
        const extra = n % buckets
        const big = extra * (size + 1)
        set(i, i < big ? Math.floor(i / (size + 1)) + 1 : extra + Math.floor((i - big) / Math.max(size, 1)) + 1)
      }
      return
    }
    case 'shift': {
      const arg = compileExpr(fn.arg)
      const off = compileExpr(fn.offset)
      const fallback = fn.fallback === null ? null : compileExpr(fn.fallback)
      for (let i = 0; i < n; i++) {
        const o = valueAt(off, i)
        if (o === null) continue
        const j = i + fn.direction * (o as number)
        set(i, j >= 0 && j < n ? valueAt(arg, j) : fallback === null ? null : valueAt(fallback, i))
      }
      return
    }
    case 'first_value':
    case 'last_value':
    case 'nth_value': {
      const arg = compileExpr(fn.arg)
      const nth = fn.kind === 'nth_value' ? compileExpr(fn.n) : null
      // The default frame: from the partition's first row to the current row's last peer.
      for (const [s, e] of peerGroups(p, call)) {
        for (let i = s; i < e; i++) {
          let v: Value = null
          if (fn.kind === 'first_value') v = valueAt(arg, 0)
          else if (fn.kind === 'last_value') v = valueAt(arg, e - 1)
          else {
            const k = valueAt(nth!, i) as number | null
            if (k !== null && k <= 0) throw new SluiceError('execution', SqlState.invalidParameterValue, 'argument of nth_value must be greater than zero')
            v = k !== null && k <= e ? valueAt(arg, k - 1) : null
          }
          set(i, v)
        }
      }
      return
    }
    case 'aggregate': {
      const agg = compileAggregates([fn.aggregate])
      const acc = agg.init()
      for (const [s, e] of call.orderBy.length === 0 ? ([[0, n]] as [number, number][]) : peerGroups(p, call)) {
        for (let i = s; i < e; i++) agg.update(acc, rows[p.order[i]!]!, params, ctx)
        const v = agg.finalize(acc)[0] ?? null
        for (let i = s; i < e; i++) set(i, v)
      }
      return
    }
  }
}
