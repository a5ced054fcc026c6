/**
 * Two-phase aggregation (docs/cluster-repartitioning.md, "Two-phase aggregation"): a view that aggregates a
 * stream over no key but its TUMBLE or HOP window, or over no key at all (events per minute over all
 * players, total revenue), has no key to repartition by, and used to run in the global task, which read
 * every event of every partition on one node. Such a view is split the way Flink's local-global aggregation
 * and Kafka Streams' pre-aggregation split it:
 *
 * - *Partials*: the repartition writer of each task (repartition.ts) folds the events it takes from its
 *   partition, per transaction, into one partial row per window (per slice of a HOP window): the partial
 *   values of the view's aggregates over those events (count, sum, min, max; avg as a sum and a count),
 *   after the view's WHERE, with `_ts`, the latest event time among them (in the same window, so windowed
 *   and judged late as its latest event would be). It writes those rows, instead of the events, to the internal topic, keyed by
 *   the window (TUMBLE; HOP windows overlap, so all of a HOP view's partials go to one task), with the
 *   carried watermarks of every repartition topic.
 * - *Merge*: each task engine runs the view's own SQL rewritten over the partial rows (`count(*)` becomes
 *   `sum("_p0")::bigint`, `avg(x)` the sum of sums over the sum of counts, and so on; the WHERE is gone, the
 *   writers applied it), so every window's partials meet in one task, repartitioned by the window: reads,
 *   SUBSCRIBE, EMIT ON WINDOW CLOSE, HAVING and sinks work as for any repartitioned view.
 *
 * Only aggregates whose partial results combine exactly are split: count, count(x), sum and avg over
 * integers and numeric, min and max (no DISTINCT; FILTER is applied by the writer). sum and avg over
 * floating point would add in another order than one process does, and stay global, as do SESSION
 * windows and views whose stream has no event time. Pure logic and a fold; the unit tests are in
 * partials.test.ts.
 */
import type * as ast from '../parser/ast.ts'
import { isInteger, typeDisplayName, type Column, type SqlType, type Value } from '../common/types.ts'
import type { BoundExpr } from '../expr/bound.ts'
import { resolveAggregate, type BoundAggregate } from '../expr/aggregates.ts'
import { compileAggregates, type CompiledAggregates } from '../expr/compile-aggregates.ts'
import { compileExpr, compilePredicate } from '../expr/compile.ts'
import type { EvalContext } from '../expr/runtime.ts'
import type { StreamDef, ViewDef } from '../planner/catalog.ts'
import { encodeRow } from '../executor/decode.ts'
import { statementOf } from './commands.ts'
import { readsOnlyBelow } from './placement.ts'

/** How one of the view's aggregates is split: the partial aggregates the writer computes, and their merge. */
interface SplitAggregate {
  /** Partial aggregates (one, or avg's sum and count), as the writer computes them over source rows. */
  readonly partials: readonly BoundAggregate[]
  /** SQL of the merge over the partial columns named by `cols`. */
  readonly merge: (cols: readonly string[]) => string
}

const ident = (s: string) => `"${s.replace(/"/g, '""')}"`
const exact = (t: SqlType) => !t.element && (isInteger(t) || t.name === 'numeric')

/** The split of one aggregate, or null when its partial results do not combine exactly. */
function splitAggregate(a: BoundAggregate): SplitAggregate | null {
  if (a.distinct) return null
  const name = a.spec.name
  const argType = a.args[0]?.type
  const with_ = (fn: string): BoundAggregate | null => {
    const spec = resolveAggregate(fn, a.args.map((x) => x.type), false)
    return spec === undefined ? null : { spec, args: a.args, filter: a.filter, distinct: false, display: `${fn}:${a.display}` }
  }
  switch (name) {
    case 'count':
      return { partials: [a], merge: ([c]) => `sum(${c})::bigint` }
    case 'sum':
      if (argType === undefined || !exact(argType)) return null
      // sum(int) is bigint; the sum of bigint partials is numeric: cast back.
      return { partials: [a], merge: ([s]) => (a.spec.type.name === 'int8' ? `sum(${s})::bigint` : `sum(${s})`) }
    case 'min':
    case 'max':
      return a.args.length === 1 ? { partials: [a], merge: ([m]) => `${name}(${m})` } : null
    case 'avg': {
      if (argType === undefined || !exact(argType)) return null
      const sum = with_('sum')
      const count = with_('count')
      return sum === null || count === null ? null : { partials: [sum, count], merge: ([s, c]) => `(sum(${s})::numeric / sum(${c}))` }
    }
  }
  return null
}

/** A view split into partials and their merge: what the writer folds, and the SQL of both sides. */
export interface PartialPlan {
  readonly view: ViewDef
  readonly source: StreamDef
  /** The partial row's columns: `_ts`, then one per partial aggregate. */
  readonly columns: readonly Column[]
  /** The partial aggregates, in column order (each view aggregate's one or two, in the plan's order). */
  readonly partials: readonly BoundAggregate[]
  /** The stream column whose value is `_ts`: the window's time column, else the watermark's. */
  readonly timeIndex: number
  /** What a partial row covers: a TUMBLE window, or a slice of HOP windows (null: all time). */
  readonly window: { readonly size: number; readonly offset: number } | null
  /** Whether partial rows are keyed by their window (TUMBLE), else all by one key (HOP, no window). */
  readonly byWindow: boolean
}

/**
 * The split of a view, or null when it is not one two-phase aggregation takes (see the top of the file):
 * a GROUP BY over a Kafka stream with event time whose keys are only TUMBLE or HOP window columns (or none), with
 * aggregates that combine, and nothing else that reads the stream's rows after the WHERE.
 */
export function partialPlan(view: ViewDef): PartialPlan | null {
  const plan = view.plan
  const body = plan.body
  const source = plan.source
  if (body.kind !== 'aggregate' || body.aggregation.groupingSets !== undefined || plan.join !== null || plan.intervalJoin !== undefined) return null
  if (plan.sourceFilter !== undefined || (plan.hidden?.length ?? 0) > 0 || plan.idleTtl !== null) return null
  if (source.source.kind !== 'kafka' || source.watermark === null || source.metadata.some((m) => m.key !== 'timestamp')) return null
  const window = plan.window
  if (window !== null && window.kind !== 'tumble' && window.kind !== 'hop') return null
  // Keys: window columns only (they follow the stream's columns in the row the keys read).
  const width = source.columns.length
  if (!body.aggregation.keys.every((k) => window !== null && k.kind === 'column' && k.index >= width)) return null
  if (body.aggregation.aggregates.length === 0 || body.aggregation.aggregates.some((a) => a.spans === undefined || a.spans.length === 0)) return null
  // The writer folds source rows: aggregates and the WHERE must read the stream's columns only.
  if (!body.aggregation.aggregates.every((a) => a.args.every((x) => readsOnlyBelow(x, width)) && (a.filter === null || readsOnlyBelow(a.filter, width)))) return null
  if (plan.filter !== null && !readsOnlyBelow(plan.filter, width)) return null
  const partials: BoundAggregate[] = []
  for (const a of body.aggregation.aggregates) {
    const split = splitAggregate(a)
    if (split === null) return null
    partials.push(...split.partials)
  }
  // `_ts`: the window's time column (or the watermark's), of its own type, so window_start keeps it.
  const timeIndex = window?.timeIndex ?? source.watermark.columnIndex
  const time = source.columns[timeIndex]!
  const columns: Column[] = [{ name: '_ts', type: time.type, nullable: false }, ...partials.map((p, i) => ({ name: `_p${i}`, type: p.spec.type, nullable: true }))]
  // A HOP window is a run of whole slices (the gcd of size and slide, as hop-slices.ts cuts them): partials
  // per slice fall in exactly the windows their events fall in. But windows overlap, so a slice's partial
  // belongs to several windows: every partial goes to one task, which merges every window (partials are
  // few: about one per slice per writer transaction). A TUMBLE window's partials go to its own task.
  return {
    view,
    source,
    columns,
    partials,
    timeIndex,
    window: window === null ? null : { size: window.kind === 'tumble' ? window.size : gcd(window.size, window.slide), offset: window.offset },
    byWindow: window?.kind === 'tumble',
  }
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b))

/** The internal stream of partial rows: `_ts` and the partial columns, on the internal topic from its start. */
export function partialStreamSql(p: PartialPlan, name: string, topic: string): string {
  const columns = p.columns.map((c) => `${ident(c.name)} ${typeDisplayName(c.type)}${c.nullable ? '' : ' NOT NULL'}`).join(', ')
  const lateness = `${p.source.allowedLateness / 1_000_000} seconds`
  return `CREATE STREAM ${ident(name)} (${columns}, WATERMARK FOR "_ts" AS "_ts") WITH (connector = 'kafka', topic = '${topic.replace(/'/g, "''")}', start = 'earliest', allowed_lateness = '${lateness}')`
}

/**
 * The view's SQL over the partial rows in `stream`: its FROM reads the stream (TUMBLE over `_ts`, the alias
 * kept), its WHERE is gone (the writers applied it), and every aggregate call is its merge.
 */
export function partialViewSql(p: PartialPlan, stream: string): string {
  const sql = p.view.sql
  const stmt = statementOf(sql, 'create_view')
  const q = stmt.query
  if (q.kind !== 'select' || q.from.length !== 1) throw new Error(`view ${p.view.name} is not a single SELECT over one stream`)
  const edits: [number, number, string][] = []
  const from = q.from[0]!
  const streamName = p.source.name
  if (from.kind === 'window_tvf') {
    const input = from.input as ast.TableRef
    edits.push([input.span.start, input.span.end, ident(stream)])
    edits.push([from.timeColumn.span.start, from.timeColumn.span.end, '"_ts"'])
    if (from.alias === undefined) edits.push([from.span.end, from.span.end, ` AS ${ident(input.alias ?? streamName)}`])
  } else if (from.kind === 'table_ref') {
    edits.push([from.name.span.start, from.name.span.end, from.alias === undefined ? `${ident(stream)} AS ${ident(streamName)}` : ident(stream)])
  } else {
    throw new Error(`view ${p.view.name} does not read its stream directly`)
  }
  if (q.where !== undefined) edits.push(whereClause(sql, q))
  // Each aggregate call (every place it is called) becomes its merge over its partial columns.
  const body = p.view.plan.body
  if (body.kind !== 'aggregate') throw new Error(`view ${p.view.name} does not aggregate`)
  let next = 0
  for (const a of body.aggregation.aggregates) {
    const split = splitAggregate(a)!
    const cols = split.partials.map(() => ident(`_p${next++}`))
    const seen = new Set<number>()
    for (const span of a.spans ?? []) {
      if (seen.has(span.start)) continue
      seen.add(span.start)
      edits.push([span.start, span.end, split.merge(cols)])
    }
  }
  let out = sql
  for (const [start, end, text] of edits.sort((x, y) => y[0] - x[0] || y[1] - x[1])) out = out.slice(0, start) + text + out.slice(end)
  return out
}

/** The text span of `WHERE <condition>`: from the keyword to the next clause (GROUP BY, HAVING, EMIT) or the query's end. */
function whereClause(sql: string, q: ast.Select): [number, number, string] {
  const [first] = extent(q.where)
  const start = sql.toLowerCase().lastIndexOf('where', first)
  let end = q.span.end
  if (q.groupBy.length > 0) end = sql.toLowerCase().lastIndexOf('group', extent(q.groupBy[0])[0])
  else if (q.having !== undefined) end = sql.toLowerCase().lastIndexOf('having', extent(q.having)[0])
  else if (q.emit === 'on_window_close') end = sql.toLowerCase().lastIndexOf('emit', q.span.end)
  if (start < 0 || end < start) throw new Error(`cannot find the WHERE clause of: ${sql}`)
  return [start, end, '']
}

/** The first start and last end of every span in an expression's tree. */
function extent(node: unknown): [number, number] {
  let lo = Number.POSITIVE_INFINITY
  let hi = Number.NEGATIVE_INFINITY
  const walk = (n: unknown): void => {
    if (n === null || typeof n !== 'object') return
    if (Array.isArray(n)) return n.forEach(walk)
    const span = (n as { span?: ast.Span }).span
    if (span !== undefined) {
      lo = Math.min(lo, span.start)
      hi = Math.max(hi, span.end)
    }
    for (const v of Object.values(n)) walk(v)
  }
  walk(node)
  return [lo, hi]
}

/** A partial row to write: the window it belongs to (its key) and its JSON record. */
export interface PartialRecord {
  readonly key: string
  readonly value: string
}

/**
 * The writer's fold of one transaction's events: per window, the partial aggregates' accumulator and the
 * latest event time. `add` takes a decoded source row (false: the view's WHERE drops it); `drain` gives
 * the partial rows and starts over.
 */
export class PartialFold {
  private readonly aggs: CompiledAggregates
  private readonly where: ((r: readonly Value[], p: readonly Value[], ctx: EvalContext) => boolean) | null
  private readonly timeOf: (r: readonly Value[], p: readonly Value[], ctx: EvalContext) => Value
  private readonly groups = new Map<number, { acc: Value[]; ts: number }>()
  private readonly none: Value[] = []

  constructor(private readonly plan: PartialPlan) {
    this.aggs = compileAggregates(plan.partials)
    this.where = plan.view.plan.filter === null ? null : compilePredicate(plan.view.plan.filter)
    const c = plan.source.columns[plan.timeIndex]!
    const time: BoundExpr = { kind: 'column', index: plan.timeIndex, name: c.name, type: c.type }
    this.timeOf = compileExpr(time)
  }

  /** Folds one row in; throws what the view would (an aggregate's or the WHERE's error). */
  add(row: readonly Value[], ctx: EvalContext): boolean {
    // The row the view's expressions read has the window's columns after the stream's (NULL here: the
    // aggregates and WHERE of a view split this way read no window column, checked when planned).
    if (this.where !== null && !this.where(row, this.none, ctx)) return false
    const ts = this.timeOf(row, this.none, ctx)
    if (typeof ts !== 'number') return false
    const w = this.plan.window
    const start = w === null ? 0 : Math.floor((ts - w.offset) / w.size) * w.size + w.offset
    let g = this.groups.get(start)
    if (g === undefined) this.groups.set(start, (g = { acc: this.aggs.init(), ts }))
    this.aggs.update(g.acc, row, this.none, ctx)
    if (ts > g.ts) g.ts = ts
    return true
  }

  get size(): number {
    return this.groups.size
  }

  drain(): PartialRecord[] {
    const out: PartialRecord[] = []
    for (const [start, g] of this.groups) out.push({ key: this.plan.byWindow ? String(start) : '', value: encodeRow([g.ts, ...this.aggs.finalize(g.acc)], this.plan.columns) })
    this.groups.clear()
    return out
  }
}
