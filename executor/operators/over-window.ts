/**
 * OverWindow: window functions over a stream (`sum(x) OVER (PARTITION BY key ORDER BY ts)`, lag,
 * first_value / last_value IGNORE NULLS, row_number) as columns of an append-only view.
 *
 * Rows are computed in event-time order per partition key. An arriving row waits in its key's pending
 * list until the watermark has passed its time plus the allowed lateness: from then on no earlier row of
 * its key can be accepted, so the rows released are final and in order. Rows with the same time (peers)
 * are released together, so that RANGE frames see all of them, as in PostgreSQL.
 *
 * State, one entry per partition key (a key of values in the view's table):
 *   [pending rows, accumulators of the unbounded aggregates, recent history, row count]
 * where history keeps just the rows that ROWS/RANGE ... PRECEDING frames and lag still need. The view's
 * output rows live in the same table under their source position (partition, offset), so a replay after a
 * crash overwrites them instead of adding them twice.
 */
import { internalError } from '../../common/errors.ts'
import type { Row, Value } from '../../common/types.ts'
import { compileAggregates, type CompiledAggregates } from '../../expr/compile-aggregates.ts'
import { compileExpr, compileProjection, type CompiledExpr } from '../../expr/compile.ts'
import type { EvalContext } from '../../expr/runtime.ts'
import type { ViewPlan } from '../../planner/view-plan.ts'
import type { BoundWindowCall } from '../../planner/window-functions.ts'
import { isPositionKey } from '../state/layout.ts'
import type { KeyedTable } from './keyed-table.ts'
import type { OperatorBatch, StreamOperator } from './operator.ts'
import { followPositions } from './held-rows.ts'
import type { ViewFollower } from './view-follower.ts'
import type { KeyEncoder } from './keyed-aggregate.ts'
import type { PositionEncoder } from './append-project.ts'
import { HeldRowsOperator, admit, earliestOf, positionRows, type Held } from './held-rows.ts'

/** A row waiting for the watermark. */
type Pending = Held
/** A released row kept for frames and lag: [time, row]. */
type Past = [number, Row]
/** [pending, accumulators per call (null for calls without one), history, rows released so far]. */
type Entry = [Pending[], (Value[] | null)[], Past[], number]

/** Its table: each partition key's Entry, and output rows under their source positions (isPositionKey). */
export type OverWindowEntry = Entry | Row

const PENDING = 0
const ACCS = 1
const HISTORY = 2
const COUNT = 3

/** How one window call computes its value for a row, given the state it needs. */
type CallRunner =
  | { readonly kind: 'unbounded'; readonly peers: boolean; readonly aggs: CompiledAggregates }
  | { readonly kind: 'range'; readonly micros: number; readonly aggs: CompiledAggregates }
  | { readonly kind: 'rows'; readonly count: number; readonly aggs: CompiledAggregates }
  | { readonly kind: 'lag'; readonly offset: number; readonly arg: CompiledExpr; readonly fallback: CompiledExpr | null }
  | { readonly kind: 'row_number' }

const LATE_REASON = 'rows of its partition key up to the watermark were already computed: event time is behind the watermark by more than the allowed lateness'

export class OverWindow extends HeldRowsOperator implements StreamOperator {
  readonly role = 'view'
  readonly keyed = null
  private readonly calls: readonly CallRunner[]
  private readonly partitionOf: (r: readonly Value[], p: readonly Value[], ctx: EvalContext) => Value[]
  private readonly project: (r: readonly Value[], p: readonly Value[], ctx: EvalContext, a?: readonly Value[]) => Value[]
  private readonly timeIndex: number
  private readonly lateness: number
  /** History a key must keep: at least this many rows, and every row this far back in time. */
  private readonly keepRows: number
  private readonly keepMicros: number
  /** Keys with pending rows and their earliest pending time; rebuilt from the table after a restart. */
  private pendingKeys: Map<string, number> | null = null
  /** Rows held in state (pending, or kept as history for frames and lag), for sluice_queries.buffered_rows. */
  private held = 0

  constructor(
    readonly plan: ViewPlan,
    private readonly table: KeyedTable<OverWindowEntry>,
    private readonly encodeKey: KeyEncoder,
    private readonly encodePosition: PositionEncoder,
    private readonly ctx: EvalContext,
  ) {
    super()
    if (plan.body.kind !== 'over') throw internalError('OverWindow built for a plan without window functions')
    this.calls = plan.body.windows.map(runnerOf)
    this.partitionOf = compileProjection(plan.body.partitionBy)
    this.project = compileProjection(plan.body.output)
    this.timeIndex = plan.body.timeIndex
    this.lateness = plan.source.allowedLateness
    let rows = 0
    let micros = Number.NEGATIVE_INFINITY
    for (const c of this.calls) {
      if (c.kind === 'rows') rows = Math.max(rows, c.count + 1)
      if (c.kind === 'lag') rows = Math.max(rows, c.offset + 1)
      if (c.kind === 'range') micros = Math.max(micros, c.micros)
    }
    this.keepRows = rows
    this.keepMicros = micros
  }

  /**
   * Takes a micro-batch of rows (already through WHERE) into their keys' pending lists. `watermark` is the
   * query's watermark before the batch: a row its partition can no longer take in order is late.
   */
  async process(batch: OperatorBatch): Promise<void> {
    const { partition, offsets, rows, watermark, late } = batch
    const pendingKeys = await this.pending()
    const empty: Value[] = []
    const { keys, accepted } = admit(partition, offsets, rows, this.timeIndex, this.lateness, watermark, (row) => this.encodeKey(this.partitionOf(row, empty, this.ctx)), late, LATE_REASON)
    await this.table.load(keys)
    for (let j = 0; j < accepted.length; j++) {
      const i = accepted[j]!
      const key = keys[j]!
      const row = rows[i]!
      const ts = row[this.timeIndex] as number
      let entry = this.entry(key)
      if (entry === undefined) entry = [[], this.calls.map((c) => (c.kind === 'unbounded' ? c.aggs.init() : null)), [], 0]
      entry[PENDING].push([ts, partition, offsets[i]!, row])
      this.held++
      this.table.set(key, entry)
      const earliest = pendingKeys.get(key)
      if (earliest === undefined || ts < earliest) pendingKeys.set(key, ts)
    }
  }

  /** Computes every pending row the watermark has made final, in time order per key. */
  override async release(watermark: number): Promise<void> {
    const pendingKeys = await this.pending()
    const threshold = watermark - this.lateness
    const ready: string[] = []
    for (const [key, earliest] of pendingKeys) if (earliest <= threshold) ready.push(key)
    if (ready.length === 0) return
    await this.table.load(ready)
    for (const key of ready) {
      const entry = this.entry(key)
      if (entry === undefined) {
        pendingKeys.delete(key)
        continue
      }
      const due: Pending[] = []
      const waiting: Pending[] = []
      for (const p of entry[PENDING]) (p[0] <= threshold ? due : waiting).push(p)
      // Stable: rows with the same time stay in arrival order.
      due.sort((a, b) => a[0] - b[0])
      entry[PENDING] = waiting
      for (let g = 0; g < due.length; ) {
        let end = g + 1
        while (end < due.length && due[end]![0] === due[g]![0]) end++
        this.computePeers(entry, due.slice(g, end))
        g = end
      }
      this.trimHistory(entry)
      this.table.set(key, entry)
      if (waiting.length === 0) pendingKeys.delete(key)
      else pendingKeys.set(key, earliestOf(waiting))
    }
  }

  /** Rows with one time: each gets its window values and becomes an output row. */
  private computePeers(entry: Entry, peers: readonly Pending[]): void {
    const ts = peers[0]![0]
    const history = entry[HISTORY]
    const before = history.length
    for (const p of peers) history.push([ts, p[3]])
    const empty: Value[] = []
    const values: Value[][] = peers.map(() => new Array<Value>(this.calls.length))
    this.calls.forEach((c, ci) => {
      switch (c.kind) {
        case 'unbounded': {
          const acc = entry[ACCS][ci]!
          if (c.peers) {
            for (const p of peers) c.aggs.update(acc, p[3], empty, this.ctx)
            const v = c.aggs.finalize(acc)[0]!
            for (const out of values) out[ci] = v
          } else {
            peers.forEach((p, j) => {
              c.aggs.update(acc, p[3], empty, this.ctx)
              values[j]![ci] = c.aggs.finalize(acc)[0]!
            })
          }
          break
        }
        case 'range': {
          const acc = c.aggs.init()
          for (const [t, r] of history) if (t >= ts - c.micros) c.aggs.update(acc, r, empty, this.ctx)
          const v = c.aggs.finalize(acc)[0]!
          for (const out of values) out[ci] = v
          break
        }
        case 'rows':
          peers.forEach((_, j) => {
            const at = before + j
            const acc = c.aggs.init()
            for (let h = Math.max(0, at - c.count); h <= at; h++) c.aggs.update(acc, history[h]![1], empty, this.ctx)
            values[j]![ci] = c.aggs.finalize(acc)[0]!
          })
          break
        case 'lag':
          peers.forEach((p, j) => {
            const at = before + j - c.offset
            values[j]![ci] = at >= 0 ? c.arg(history[at]![1], empty, this.ctx) : c.fallback === null ? null : c.fallback(p[3], empty, this.ctx)
          })
          break
        case 'row_number':
          peers.forEach((_, j) => (values[j]![ci] = entry[COUNT] + j + 1))
          break
      }
    })
    entry[COUNT] += peers.length
    peers.forEach((p, j) => {
      const out = this.project(p[3], empty, this.ctx, values[j])
      // A released row is final and never read back by the operator: write-only, past the cache.
      this.table.append(this.encodePosition(p[1], p[2]), out)
      if (this.onOutput !== null) this.onOutput(out)
    })
  }

  /** Keeps only the released rows that frames and lag can still reach. */
  private trimHistory(entry: Entry): void {
    const history = entry[HISTORY]
    if (history.length === 0) return
    const last = history[history.length - 1]![0]
    let drop = 0
    while (history.length - drop > this.keepRows && !(history[drop]![0] >= last - this.keepMicros)) drop++
    if (drop > 0) entry[HISTORY] = history.slice(drop)
    this.held -= drop
  }

  /** The keys with pending rows, found by one scan of the table the first time after a (re)start. */
  private async pending(): Promise<Map<string, number>> {
    if (this.pendingKeys !== null) return this.pendingKeys
    const found = new Map<string, number>()
    for await (const [key, value] of this.table.scan()) {
      if (isPositionKey(key)) continue
      this.held += (value as Entry)[PENDING].length + (value as Entry)[HISTORY].length
      const pending = (value as Entry)[PENDING]
      if (pending.length > 0) found.set(key, earliestOf(pending))
    }
    this.pendingKeys ??= found
    return this.pendingKeys
  }

  describe(): string {
    return 'OverWindow'
  }

  /** The state of a partition key (keys not under a source position hold an Entry). */
  private entry(key: string): Entry | undefined {
    return this.table.get(key) as Entry | undefined
  }

  /** Rows held in state: waiting for the watermark, or kept as history for frames and lag. */
  override bufferedRows(): number {
    return this.held
  }

  /** The view's rows: every row released so far. */
  rows(): AsyncGenerator<Row> {
    return positionRows(this.table)
  }

  /** Live results by entry: the rows under source positions (the rest of the table is state). */
  follow(): ViewFollower {
    return followPositions(this.table)
  }
}

function runnerOf(call: BoundWindowCall): CallRunner {
  const fn = call.fn
  switch (fn.kind) {
    case 'aggregate': {
      const aggs = compileAggregates([fn.aggregate])
      const f = fn.frame
      if (f.kind === 'unbounded') return { kind: 'unbounded', peers: f.mode === 'range', aggs }
      if (f.kind === 'range') return { kind: 'range', micros: f.micros, aggs }
      return { kind: 'rows', count: f.count, aggs }
    }
    case 'lag':
      return { kind: 'lag', offset: fn.offset, arg: compileExpr(fn.arg), fallback: fn.fallback === null ? null : compileExpr(fn.fallback) }
    case 'row_number':
      return { kind: 'row_number' }
  }
}
