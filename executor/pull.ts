/**
 * Runs a pull query over rows the engine provides: filter, hash aggregation, projection, DISTINCT, sort,
 * offset and limit. Relational plans (joins, subqueries, set operations; what catalog browsing sends) run
 * here too, over relations fetched beforehand by executor/relational-query.ts; their joins are in pull-join.ts.
 *
 * Every loop runs under the query's guard (query-budget.ts): it counts rows, gives the event loop back when
 * its slice of time is over, stops on cancel or statement_timeout (57014), and charges the rows it holds to
 * the query's memory budget (53200). The relational executor is written as generators that `yield` at those
 * points; the guard's `drive` resumes them after `setImmediate`.
 */
import { performance } from 'node:perf_hooks'
import { isInterval, type Row, type Value } from '../common/types.ts'
import { Numeric, numericKeyReplacer } from '../common/numeric.ts'
import { SluiceError, SqlState } from '../common/errors.ts'
import { type BoundExpr, isConstant } from '../expr/bound.ts'
import type { CatalogLookup } from '../planner/pg-catalog.ts'
import type { RelNode, RelationRef, SubqueryPlan, WorkingTable } from '../planner/pull-plan.ts'
import { compileAggregates } from '../expr/compile-aggregates.ts'
import { compileExpr, compilePredicate, compileProjection, type CompiledExpr } from '../expr/compile.ts'
import type { EvalContext } from '../expr/runtime.ts'
import { BatchPattern } from './pattern/batch.ts'
import { compareValues, equalValues } from '../expr/runtime.ts'
import type { BoundSelect } from '../planner/select.ts'
import type { PullWindowCall } from '../planner/pull-window.ts'
import { windowValues } from './pull-window-values.ts'
import { QueryGuard, SLOT_BYTES, rowBytes, runToEnd, shallowRowBytes } from './query-budget.ts'
import { type RelContext, type Sink, type Steps, joinTwo, lateralJoin, multiJoin } from './pull-join.ts'
import { sortInSlices } from './slice-sort.ts'
import { tableFunctionRows } from '../planner/table-functions.ts'
import { sessionZone } from '../expr/time-zone-eval.ts'
import { timestampSeries } from '../expr/time-functions.ts'
import { isOrderedAggregate } from '../planner/ordered-aggregate.ts'

export async function runSelect(select: BoundSelect, input: AsyncIterable<Row> | Iterable<Row>, params: readonly Value[], ctx: EvalContext, guard: QueryGuard = QueryGuard.unlimited()): Promise<Row[]> {
  const run = selectRunner(select, params, ctx, guard)
  for await (const r of input) {
    run.push(r)
    if (run.full()) break
    if (guard.tick()) await guard.pause()
  }
  return guard.drive(run.finish())
}

interface SelectRunner {
  push(r: Row): void
  /** True once LIMIT has its rows and nothing (ORDER BY, DISTINCT, grouping) needs the rest of the input. */
  full(): boolean
  finish(): Steps<Row[]>
  /** Bytes charged for what it holds (groups, rows, window input). */
  readonly bytes: number
}

/** Filter and projection (or grouping) row by row, then DISTINCT, sort, offset and limit at the end. */
function selectRunner(select: BoundSelect, params: readonly Value[], ctx: EvalContext, guard: QueryGuard, windows: readonly PullWindowCall[] = []): SelectRunner {
  const filter = select.filter ? compilePredicate(select.filter) : null
  let bytes = 0
  const charge = (n: number): void => {
    guard.charge(n)
    bytes += n
  }
  let rows: Row[] = []
  let push: (r: Row) => void
  let grouped: () => Steps<void> = function* () {}
  if (select.aggregation === null && windows.length > 0) {
    // Window functions see every row that passed WHERE; the projection reads their values as `agg_ref`s.
    const input: Row[] = []
    push = (r) => {
      if (filter !== null && !filter(r, params, ctx)) return
      charge(SLOT_BYTES)
      input.push(r)
    }
    grouped = function* () {
      const project = compileProjection(select.output)
      charge(input.length * shallowRowBytes(windows.length))
      const values = yield* windowValues(input, windows, params, ctx, guard)
      for (let i = 0; i < input.length; i++) {
        if (guard.tick()) yield
        const p = project(input[i]!, params, ctx, values[i])
        charge(rowBytes(p))
        rows.push(p)
      }
    }
  } else if (select.aggregation === null) {
    const project = compileProjection(select.output)
    push = (r) => {
      if (filter !== null && !filter(r, params, ctx)) return
      const p = project(r, params, ctx)
      charge(rowBytes(p))
      rows.push(p)
    }
  } else {
    const agg = select.aggregation
    const keyOf = compileProjection(agg.keys)
    const aggs = compileAggregates(agg.aggregates, agg.keys.length)
    const groups = new Map<string, Value[]>()
    // Aggregates that sort their own values keep one tuple per row: charged as they grow.
    const keptBytes = agg.aggregates.reduce((n, a) => n + (isOrderedAggregate(a.spec) ? shallowRowBytes(a.args.length) : 0), 0)
    // Equal numerics (1.5, 1.50) are one group.
    const numericKeys = agg.keys.some((k) => k.type.name === 'numeric')
    const add = (kv: Value[], r: Row): void => {
      if (keptBytes > 0) charge(keptBytes)
      const k = numericKeys ? JSON.stringify(kv, numericKeyReplacer) : JSON.stringify(kv)
      let acc = groups.get(k)
      if (acc === undefined) {
        acc = kv
        acc.push(...aggs.init())
        charge(rowBytes(acc) + 16 + k.length)
        groups.set(k, acc)
      }
      aggs.update(acc, r, params, ctx)
    }
    const sets = agg.groupingSets
    push = (r) => {
      if (filter !== null && !filter(r, params, ctx)) return
      const kv = keyOf(r, params, ctx)
      if (sets === undefined) return add(kv, r)
      // Grouping sets: the row joins one group per set, keys outside the set NULL, the last key the set's number.
      for (let s = 0; s < sets.length; s++) add(groupingSetKey(kv, sets[s]!, s), r)
    }
    grouped = function* () {
      // Without GROUP BY, an aggregate over no rows still gives one row (count = 0); so does an empty grouping set.
      if (groups.size === 0 && agg.keys.length === 0) groups.set('[]', aggs.init())
      sets?.forEach((set, s) => {
        if (set.length > 0) return
        const kv = groupingSetKey(new Array<Value>(agg.keys.length).fill(null), set, s)
        const k = JSON.stringify(kv)
        if (!groups.has(k)) groups.set(k, [...kv, ...aggs.init()])
      })
      const having = agg.having ? compilePredicate(agg.having) : null
      const project = compileProjection(select.output)
      for (const acc of groups.values()) {
        if (guard.tick()) yield
        const a = aggs.finalize(acc)
        if (having !== null && !having(acc, params, ctx, a)) continue
        const p = project(acc, params, ctx, a)
        charge(rowBytes(p))
        rows.push(p)
      }
    }
  }
  // Without ORDER BY, DISTINCT, grouping or window functions, LIMIT n OFFSET m needs only n + m rows.
  let wanted = Number.POSITIVE_INFINITY
  if (select.limit !== null && select.orderBy.length === 0 && !select.distinct && select.aggregation === null && windows.length === 0 && isConstant(select.limit) && (select.offset === null || isConstant(select.offset))) {
    const offset = select.offset ? limitValue(compileExpr(select.offset)([], params, ctx), 'OFFSET') : 0
    wanted = offset + limitValue(compileExpr(select.limit)([], params, ctx), 'LIMIT')
  }
  return {
    push,
    full: () => rows.length >= wanted,
    get bytes() {
      return bytes
    },
    *finish() {
      yield* grouped()
      const width = select.outputColumns.length
      if (select.distinct) rows = yield* distinctRows(rows, width, guard)
      rows = yield* sortRows(rows, select.orderBy.map((o) => ({ get: compileExpr(o.expr), desc: o.descending, nullsFirst: o.nullsFirst })), params, ctx, guard)
      if (select.distinctOn !== undefined) rows = yield* firstOfGroups(rows, select.orderBy.slice(0, select.distinctOn).map((o) => compileExpr(o.expr)), params, ctx, guard)
      rows = limitRows(rows, select.limit, select.offset, params, ctx)
      // ORDER BY on expressions outside the select list added hidden trailing columns.
      if (!rows.some((r) => r.length > width)) return rows
      const out: Row[] = []
      for (const r of rows) {
        if (guard.tick()) yield
        out.push(r.length > width ? r.slice(0, width) : r)
      }
      return out
    },
  }
}

/** The keys of one grouping set: those it lacks NULL, the last its number `s`. */
function groupingSetKey(kv: readonly Value[], set: readonly number[], s: number): Value[] {
  const out = new Array<Value>(kv.length).fill(null)
  for (const i of set) out[i] = kv[i]!
  out[kv.length - 1] = s
  return out
}

function* distinctRows(rows: readonly Row[], width: number, guard: QueryGuard): Steps<Row[]> {
  const seen = new Set<string>()
  const out: Row[] = []
  let bytes = 0
  for (const r of rows) {
    if (guard.tick()) yield
    const row = r.length > width ? r.slice(0, width) : r
    // Equal numerics (1.5, 1.50) are one row.
    const k = row.some((v) => v instanceof Numeric) ? JSON.stringify(row, numericKeyReplacer) : JSON.stringify(row)
    if (seen.has(k)) continue
    seen.add(k)
    const b = 16 + k.length + SLOT_BYTES
    bytes += b
    guard.charge(b)
    out.push(r)
  }
  guard.release(bytes)
  return out
}

/** DISTINCT ON over rows sorted on the group keys first: a row starts a group when its keys differ from the last. */
function* firstOfGroups(rows: readonly Row[], keys: readonly CompiledExpr[], params: readonly Value[], ctx: EvalContext, guard: QueryGuard): Steps<Row[]> {
  const out: Row[] = []
  let last: string | undefined
  for (const r of rows) {
    if (guard.tick()) yield
    const k = JSON.stringify(keys.map((get) => get(r, params, ctx)), (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))
    if (k === last) continue
    last = k
    out.push(r)
  }
  return out
}

interface SortKey {
  readonly get: CompiledExpr
  readonly desc: boolean
  readonly nullsFirst: boolean
}

interface Decorated {
  readonly r: Row
  readonly k: Value[]
}

function* sortRows(rows: Row[], keys: readonly SortKey[], params: readonly Value[], ctx: EvalContext, guard: QueryGuard): Steps<Row[]> {
  if (keys.length === 0 || rows.length < 2) return rows
  const bytes = rows.length * (2 * shallowRowBytes(keys.length))
  guard.charge(bytes)
  let decorated: Decorated[] = []
  for (const r of rows) {
    if (guard.tick()) yield
    decorated.push({ r, k: keys.map((k) => k.get(r, params, ctx)) })
  }
  const cmp = (x: Decorated, y: Decorated): number => {
    for (let i = 0; i < keys.length; i++) {
      const a = x.k[i] ?? null
      const b = y.k[i] ?? null
      const spec = keys[i]!
      if (a === null || b === null) {
        if (a === b) continue
        return (a === null) === spec.nullsFirst ? -1 : 1
      }
      const c = compareValues(a, b)
      if (c !== 0) return spec.desc ? -c : c
    }
    return 0
  }
  decorated = yield* sortInSlices(decorated, cmp, guard)
  const out = decorated.map((d) => d.r)
  guard.release(bytes)
  return out
}

function limitRows(rows: Row[], limitExpr: BoundExpr | null, offsetExpr: BoundExpr | null, params: readonly Value[], ctx: EvalContext): Row[] {
  const offset = offsetExpr ? limitValue(compileExpr(offsetExpr)([], params, ctx), 'OFFSET') : 0
  const limit = limitExpr ? limitValue(compileExpr(limitExpr)([], params, ctx), 'LIMIT') : Number.POSITIVE_INFINITY
  return offset > 0 || limit !== Number.POSITIVE_INFINITY ? rows.slice(offset, offset + limit) : rows
}

// ---------------------------------------------------------------------------------------------------------
// Relational plans (planner/pull-plan.ts `RelNode`): joins, subqueries and set operations over rows in memory.

/** The rows of every base relation the plan reads, fetched before it runs. */
export type RelationRows = ReadonlyMap<string, readonly Row[]>

export const relationKey = (r: RelationRef): string => `${r.source}:${r.name}`

/** What EXPLAIN ANALYZE shows of a node: how often it ran, the rows it gave, the time inside it. */
export interface NodeStats {
  loops: number
  rows: number
  ms: number
  readonly notes: string[]
}

/** Runs a relational plan; `ctx.subquery` is added so that compiled expressions can run subqueries. */
export function runRelational(
  root: RelNode,
  data: RelationRows,
  params: readonly Value[],
  ctx: EvalContext,
  pg: CatalogLookup,
  guard: QueryGuard = QueryGuard.unlimited(),
  stats?: Map<RelNode, NodeStats>,
): Promise<Row[]> {
  const run = new RelationalRun(data, params, ctx, pg, guard, stats)
  return guard.drive(run.exec(root, []))
}

class RelationalRun implements RelContext {
  private readonly cache = new Map<SubqueryPlan, Row[]>()
  /** The working table of each recursive query under way (see `recursive`). */
  private readonly working = new Map<WorkingTable, Row[]>()
  private readonly predicates = new Map<BoundExpr, ReturnType<typeof compilePredicate>>()
  private readonly exprs = new Map<BoundExpr, CompiledExpr>()
  private readonly owned = new WeakMap<readonly Row[], number>()
  readonly ctx: EvalContext

  constructor(
    private readonly data: RelationRows,
    readonly params: readonly Value[],
    ctx: EvalContext,
    pg: CatalogLookup,
    readonly guard: QueryGuard,
    private readonly stats: Map<RelNode, NodeStats> | undefined,
  ) {
    this.ctx = { ...ctx, subquery: (plan: SubqueryPlan, outerValues: readonly Value[], test?: Value) => this.subquery(plan, outerValues, test), pg } as EvalContext
  }

  predicate(e: BoundExpr): ReturnType<typeof compilePredicate> {
    let p = this.predicates.get(e)
    if (p === undefined) this.predicates.set(e, (p = compilePredicate(e)))
    return p
  }

  expr(e: BoundExpr): CompiledExpr {
    let x = this.exprs.get(e)
    if (x === undefined) this.exprs.set(e, (x = compileExpr(e)))
    return x
  }

  own(rows: readonly Row[], bytes: number): void {
    if (bytes > 0) this.owned.set(rows, (this.owned.get(rows) ?? 0) + bytes)
  }

  free(rows: readonly Row[]): void {
    const bytes = this.owned.get(rows)
    if (bytes === undefined) return
    this.owned.delete(rows)
    this.guard.release(bytes)
  }

  trace(node: RelNode, line: string): void {
    this.stats?.get(node)?.notes.push(line)
  }

  /** The rows of `node`; a join given a `sink` hands its rows to it instead and returns none. */
  *exec(node: RelNode, outer: Row, sink?: Sink): Steps<Row[]> {
    if (this.stats === undefined) return yield* this.run(node, outer, sink)
    let s = this.stats.get(node)
    if (s === undefined) this.stats.set(node, (s = { loops: 0, rows: 0, ms: 0, notes: [] }))
    const t0 = performance.now()
    const rows = yield* this.run(node, outer, sink)
    s.loops++
    s.rows += rows.length
    s.ms += performance.now() - t0
    return rows
  }

  private *run(node: RelNode, outer: Row, sink?: Sink): Steps<Row[]> {
    const { params, guard } = this
    const rctx = this.ctx
    switch (node.kind) {
      case 'one_row':
        return [[]]
      case 'values':
        return node.rows.map((r) => r.map((e) => this.expr(e)(outer, params, rctx)))
      case 'scan':
        return (this.data.get(relationKey(node.relation)) ?? []) as Row[]
      case 'function': {
        const values = node.args.map((a) => this.expr(a)(outer, params, rctx))
        if (node.fn !== 'generate_series') {
          // Catalog functions (planner/table-functions.ts) give a few hundred rows at most; a copy, as the
          // keyword list is shared.
          const rows = tableFunctionRows(node.fn, values).slice()
          const bytes = rows.length * shallowRowBytes(rows[0]?.length ?? 1)
          guard.charge(bytes)
          this.own(rows, bytes)
          return rows
        }
        if (isInterval(values[2])) {
          const [start, stop, step, withZone] = values
          if (typeof start !== 'number' || typeof stop !== 'number') return []
          const out: Row[] = []
          const cost = shallowRowBytes(1)
          for (const ts of timestampSeries(start, stop, step, withZone === true ? sessionZone(rctx) : undefined)) {
            if (guard.tick()) yield
            guard.charge(cost)
            out.push([ts])
          }
          this.own(out, cost * out.length)
          return out
        }
        const from = (values[0] ?? null) as number | null
        const to = (values[1] ?? null) as number | null
        const step = (values.length > 2 ? values[2]! : 1) as number | null
        if (from === null || to === null || step === null) return []
        if (step === 0) throw new SluiceError('execution', SqlState.invalidParameterValue, 'step size cannot equal zero')
        const out: Row[] = []
        const cost = shallowRowBytes(1)
        for (let i = from; step > 0 ? i <= to : i >= to; i += step) {
          if (guard.tick()) yield
          guard.charge(cost)
          out.push([i])
        }
        this.own(out, cost * out.length)
        return out
      }
      case 'join':
        return yield* joinTwo(node, outer, this, sink)
      case 'multi_join':
        return yield* multiJoin(node, outer, this, sink)
      case 'lateral':
        return yield* lateralJoin(node, outer, this, sink)
      case 'block': {
        const runner = selectRunner(node.select, params, rctx, guard, node.windows)
        // A join's rows go straight into the block (filter, grouping, projection) instead of being held.
        const into: Sink = (r) => {
          runner.push(outer.length === 0 ? r : [...r, ...outer])
          return runner.full()
        }
        const input = yield* this.exec(node.from, outer, into)
        for (const r of input) {
          if (guard.tick()) yield
          runner.push(outer.length === 0 ? r : [...r, ...outer])
          if (runner.full()) break
        }
        const rows = yield* runner.finish()
        this.free(input)
        this.own(rows, runner.bytes)
        return rows
      }
      case 'match_recognize': {
        const input = yield* this.exec(node.input, outer)
        const rows = new BatchPattern(node.pattern).run(input, rctx, () => guard.tick())
        const bytes = rows.length * shallowRowBytes(node.pattern.columns.length)
        guard.charge(bytes)
        this.own(rows, bytes)
        return rows
      }
      case 'expand': {
        // The select list's set-returning calls in lockstep: as many rows as the longest, NULL past a shorter one.
        const input = yield* this.exec(node.input, outer)
        const calls = node.calls.map((c) => ({ fn: c.fn, args: c.args.map((a) => this.expr(a)) }))
        // generate_series in a select list is bounded as it grows, not after.
        const seriesCost = shallowRowBytes(1)
        let seriesBytes = 0
        const onRow = (): void => {
          guard.tick()
          guard.charge(seriesCost)
          seriesBytes += seriesCost
        }
        const out: Row[] = []
        let bytes = 0
        for (const r of input) {
          if (guard.tick()) yield
          const row = outer.length === 0 ? r : [...r, ...outer]
          const sets = calls.map((c) => tableFunctionRows(c.fn, c.args.map((a) => a(row, params, rctx)), onRow, sessionZone(rctx)))
          guard.release(seriesBytes)
          seriesBytes = 0
          const n = Math.max(0, ...sets.map((s) => s.length))
          for (let i = 0; i < n; i++) out.push([...r, ...sets.map((s) => s[i]?.[0] ?? null)])
          const b = n * shallowRowBytes(r.length + calls.length)
          bytes += b
          guard.charge(b)
        }
        this.free(input)
        this.own(out, bytes)
        return out
      }
      case 'working':
        return this.working.get(node.table) ?? []
      case 'set_op': {
        if (node.recursive !== undefined) return yield* this.recursive(node, node.recursive, outer)
        const left = yield* this.exec(node.left, outer)
        const right = yield* this.exec(node.right, outer)
        const key = (r: Row): string => JSON.stringify(r)
        let rows: Row[]
        if (node.op === 'union') {
          guard.charge(SLOT_BYTES * (left.length + right.length))
          rows = [...left, ...right]
          if (!node.all) rows = yield* distinctRows(rows, node.width, guard)
        } else {
          const rightKeys = new Set<string>()
          for (const r of right) {
            if (guard.tick()) yield
            const k = key(r)
            guard.charge(16 + k.length)
            rightKeys.add(k)
          }
          const keep = node.op === 'intersect'
          rows = []
          for (const r of left) {
            if (guard.tick()) yield
            if (rightKeys.has(key(r)) === keep) rows.push(r)
          }
          if (!node.all) rows = yield* distinctRows(rows, node.width, guard)
        }
        rows = yield* sortRows(rows, node.orderBy.map((o) => ({ get: compileExpr(o.expr), desc: o.descending, nullsFirst: o.nullsFirst })), params, rctx, guard)
        return limitRows(rows, node.limit, node.offset, params, rctx)
      }
    }
  }

  /**
   * WITH RECURSIVE, as PostgreSQL evaluates it: the non-recursive term's rows (without duplicates for
   * UNION) are the first working table; the recursive term runs on each working table in turn, and the rows
   * it adds (for UNION, those not seen before) are the next, until it adds none. The guard's budget and
   * cancellation bound a recursion that never ends, as PostgreSQL's statement_timeout does.
   */
  private *recursive(node: Extract<RelNode, { kind: 'set_op' }>, table: WorkingTable, outer: Row): Steps<Row[]> {
    const { guard } = this
    const seen = new Set<string>()
    const fresh = function* (rows: readonly Row[]): Steps<Row[]> {
      if (node.all) return rows.slice()
      const out: Row[] = []
      for (const r of rows) {
        if (guard.tick()) yield
        const k = JSON.stringify(r.length > node.width ? r.slice(0, node.width) : r)
        if (seen.has(k)) continue
        seen.add(k)
        guard.charge(16 + k.length)
        out.push(r.length > node.width ? r.slice(0, node.width) : r)
      }
      return out
    }
    let work = yield* fresh(yield* this.exec(node.left, outer))
    const all = [...work]
    guard.charge(SLOT_BYTES * work.length)
    while (work.length > 0) {
      this.working.set(table, work)
      work = yield* fresh(yield* this.exec(node.right, outer))
      guard.charge(SLOT_BYTES * work.length)
      for (const r of work) all.push(r)
    }
    this.working.delete(table)
    return all
  }

  /** A subquery of an expression: compiled code calls it synchronously, so it runs to its end at once. */
  private subquery(plan: SubqueryPlan, outerValues: readonly Value[], test?: Value): Value {
    let rows = plan.correlated ? undefined : this.cache.get(plan)
    if (rows === undefined) {
      // The outer row as the subquery's expressions index it; only the columns it reads are filled in.
      const row: Value[] = []
      plan.outerColumns.forEach((index, k) => (row[index] = outerValues[k] ?? null))
      rows = runToEnd(this.exec(plan.node, row))
      if (!plan.correlated) this.cache.set(plan, rows)
    }
    try {
      return subqueryValue(plan, rows, test)
    } finally {
      if (plan.correlated) this.free(rows)
    }
  }
}

function subqueryValue(plan: SubqueryPlan, rows: readonly Row[], test: Value | undefined): Value {
  switch (plan.mode) {
    case 'exists':
      return rows.length > 0
    case 'array':
      return rows.map((r) => r[0] ?? null)
    case 'scalar':
      if (rows.length > 1) throw new SluiceError('execution', SqlState.cardinalityViolation, 'more than one row returned by a subquery used as an expression')
      return rows.length === 0 ? null : (rows[0]![0] ?? null)
    case 'in': {
      if (test === null || test === undefined) return rows.length === 0 ? plan.negated : null
      let sawNull = false
      for (const r of rows) {
        const v = r[0] ?? null
        if (v === null) sawNull = true
        else if (equalValues(test, v)) return !plan.negated
      }
      return sawNull ? null : plan.negated
    }
  }
}

function limitValue(v: Value, clause: string): number {
  if (v === null) return clause === 'LIMIT' ? Number.POSITIVE_INFINITY : 0
  if (typeof v !== 'number' || v < 0) throw new SluiceError('execution', SqlState.invalidRowCountInLimitClause, `${clause} must not be negative`)
  return v
}

