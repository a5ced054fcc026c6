/**
 * A running materialized view: its position in each source partition, its watermark, its operator and its
 * counters. The stream scan hands it decoded micro-batches; it counts each event, observes its time, runs
 * the row stages built from the view's plan tree (lateness, window assignment, filter: operators/build.ts)
 * and feeds the operator through its contract (operators/operator.ts), then records how far it got. A query that throws is marked failed and stops
 * receiving events; the others go on.
 */
import { SluiceError, toSluiceError } from '../common/errors.ts'
import type { Row, Value } from '../common/types.ts'
import { compileExpr } from '../expr/compile.ts'
import type { EvalContext } from '../expr/runtime.ts'
import type { ViewDef } from '../planner/catalog.ts'
import { WatermarkTracker, type WatermarkState } from './watermark.ts'
import { CarriedWatermarks } from './carried-watermarks.ts'
import type { CarriedMark } from './source.ts'
import type { KeyedReads, OperatorBatch, RowBatch, RowStage, StreamOperator } from './operators/operator.ts'
import { buildRowStages } from './operators/build.ts'
import type { RowFilter } from './operators/filter.ts'
import { viewPlanTree } from '../planner/view-plan-tree.ts'
import { sliceSpec } from '../planner/hop-slices.ts'
import { type BatchIndex, batchIndex, keysHold } from './batch-index.ts'
import type { ViewFollower } from './operators/view-follower.ts'
import type { IndexKey } from '../planner/index-key.ts'
import { NO_LIMITS, type QueryLimits } from '../planner/query-limits.ts'
import { querySlots, type QuerySlot } from './query-slots.ts'
import { OutputRate, limitExceeded, stoppedError, stoppedRecord, type StoppedRecord } from './query-limit-enforcement.ts'
import { planColumnsRead, type ColumnsRead } from './columns-read.ts'

/** The parameter row of compiled expressions: views have no parameters. */
const EMPTY: Value[] = []

/** A retention pass over more entries than this is spaced out in time (small tables sweep at once). */
const BIG_SWEEP = 50_000

/** The operator a query drives (see executor/operators/operator.ts). */
export type ViewOperator = StreamOperator

export type QueryStatus = 'running' | 'failed'

/** What a checkpoint stores per query, next to its state, in the same atomic batch. */
export interface QueryProgress {
  readonly offsets: readonly number[]
  readonly watermark: WatermarkState
  readonly eventsIn: number
  readonly lateEvents: number
  /** Bytes of state as of this checkpoint (see StateTable.storedBytes); absent in older checkpoints. */
  readonly stateBytes?: number
  /** Stopped by a limit (or because a view it reads was): it stays stopped after a restart. */
  readonly stopped?: StoppedRecord
  /** Over a stream that carries its writers' watermarks: each source partition's last idle flag. */
  readonly carriedIdle?: readonly boolean[]
  /** With carriedIdle: the writer's position in each source partition when it said idle (-1: none). */
  readonly carriedIdleAt?: readonly number[]
}

export interface LateEvent {
  /** The stream it was read from, where the query reads several (an interval join); else the query's source. */
  readonly stream?: string
  readonly partition: number
  readonly offset: number
  readonly eventTime: number | null
  readonly watermark: number
  readonly reason: string
}

export interface DecodedBatch {
  readonly partition: number
  /** Offsets of the records, ascending; rows[i] is null where the record was a dead letter. */
  readonly offsets: readonly number[]
  readonly rows: readonly (Row | null)[]
}

/**
 * Where a lookup join finds the keyed view's rows: `rows(batch, keys)` gives, per event of the batch (by
 * index; `keys[i]` null for events not asked about), the view row to join, or null.
 */
export interface ViewLookup {
  rows(batch: DecodedBatch, keys: readonly (Value[] | null)[]): Promise<(Row | null)[]>
}

/** The view rows of a keyed view right after each event of the last batch it took in (see processTracked). */
export interface BatchSnapshot {
  readonly partition: number
  /** Offset -> the view row of that event's key right after it (null: none visible). */
  readonly rows: Map<number, Row | null>
}

export class ContinuousQuery {
  /**
   * Offsets whose rows went all the way through: consumed, and the watermark step after them done
   * (window-function rows released, retention applied). Readers who want their writes wait for these.
   */
  settled: number[]
  /** Set while a lookup join reads this (keyed) view as of each event: it keeps per-event rows of each batch. */
  trackSnapshots = false
  snapshot: BatchSnapshot | null = null
  /** For a view with a lookup join: how the joined view is read. Set by the engine at deployment. */
  lookup: ViewLookup | null = null
  /**
   * For a trigger whose WHEN requires `column = value`, a range or a set of values (one or more): only the
   * batch's rows satisfying them are looked at, from the narrowest of these keys.
   */
  indexKeys: readonly IndexKey[] = []
  /** The index keys say all the condition says (planner/index-key.ts, keysCover): testing them replaces evaluating it. */
  indexCovers = false
  readonly offsets: number[]
  readonly watermark: WatermarkTracker
  /**
   * Views (and triggers) that read this view's rows (views over views). They move in step with it: each
   * takes the rows this one wrote while it took in a batch or moved its watermark, right after.
   */
  readonly downstream: ContinuousQuery[] = []
  /**
   * Rows written since the last hand-on to `downstream` (only while there is one), each with its sign: +1
   * added, -1 withdrawn (the old row of a group that changed).
   */
  private outbox: Row[] = []
  private outSigns: number[] = []
  /** For a view over a view: how far behind the read view's watermark its rows are final (else null). */
  private readonly lag: number | null
  status: QueryStatus = 'running'
  lastError: SluiceError | null = null
  /** WITH (max_state, max_output_rate): set by the engine at deployment (and by ALTER ... SET). */
  limits: QueryLimits = NO_LIMITS
  /** Bytes of this query's state, for max_state; set by the engine at deployment. */
  stateBytes: () => number = () => 0
  /** Why it was stopped by a limit (its own or a read view's), else null: kept by checkpoints. */
  stopped: StoppedRecord | null = null
  private outputRate = new OutputRate()
  eventsIn: number
  lateEvents: number
  /** Late events not yet written by a checkpoint. */
  readonly pendingLate: LateEvent[] = []
  private watermarkOf: ((r: readonly Value[], p: readonly Value[], ctx: EvalContext) => Value) | null
  /** Over a stream whose records carry their writers' watermarks (carryWatermarks), else null. */
  carried: CarriedWatermarks | null = null
  private readonly restoredIdle: readonly boolean[] | undefined
  private readonly restoredIdleAt: readonly number[] | undefined
  /** An interval join: the right stream's watermark expression, for its partitions (from `rightFrom` on). */
  private rightWatermarkOf: ((r: readonly Value[], p: readonly Value[], ctx: EvalContext) => Value) | null = null
  private readonly rightFrom: number = Number.POSITIVE_INFINITY
  /**
   * Where each partition of the query is read: a stream and its partition there. One stream's partitions,
   * or an interval join's two streams', the left's first; a view over a view takes the read view's.
   */
  slots: readonly QuerySlot[]
  /** The row stages in front of the operator (lateness, window assignment, WHERE), run in order per batch. */
  private readonly stages: readonly RowStage[]
  /** WHERE, for the paths that test it per event themselves (tracked and indexed batches). */
  private readonly where: RowFilter | null
  private readonly timeIndex: number
  /** The columns of its stream's rows it reads (columns-read.ts); null for every column. */
  readonly columnsRead: ColumnsRead
  /** Sliced HOP windows (planner/hop-slices.ts): the slice length, else null. */
  readonly sliceLength: number | null

  constructor(
    readonly view: ViewDef,
    readonly operator: ViewOperator,
    private readonly ctx: EvalContext,
    progress?: QueryProgress,
  ) {
    const plan = view.plan
    const partitions = plan.source.partitions
    this.offsets = progress ? progress.offsets.slice() : new Array<number>(partitions).fill(0)
    this.settled = this.offsets.slice()
    this.slots = querySlots(plan)
    const join = plan.intervalJoin
    this.watermark = new WatermarkTracker(partitions, progress?.watermark, join && [join.left.partitions, join.right.partitions])
    this.eventsIn = progress?.eventsIn ?? 0
    this.lateEvents = progress?.lateEvents ?? 0
    this.restoredIdle = progress?.carriedIdle
    this.restoredIdleAt = progress?.carriedIdleAt
    const from = plan.source.source
    this.lag = from.kind === 'view' ? from.lag : null
    // Over a view, the watermark is the read view's (followUpstream), not its rows' times.
    this.watermarkOf = plan.source.watermark && this.lag === null ? compileExpr(plan.source.watermark.expr) : null
    // An interval join: each stream's rows by its own watermark (its partitions follow the left stream's).
    if (join !== undefined) {
      this.watermarkOf = compileExpr(join.left.watermark!.expr)
      this.rightWatermarkOf = compileExpr(join.right.watermark!.expr)
      this.rightFrom = join.left.partitions
    }
    const { stages, where } = buildRowStages(viewPlanTree(view.name, plan), { plan, ctx })
    this.stages = stages
    this.where = where
    this.timeIndex = plan.window?.timeIndex ?? -1
    this.columnsRead = planColumnsRead(plan, operator.role)
    this.sliceLength = plan.body.kind === 'aggregate' ? (sliceSpec(plan)?.length ?? null) : null
    // Windows up to the checkpointed watermark were put together before it.
    operator.resumeAt(this.watermark.current)
    if (progress?.stopped !== undefined) {
      this.status = 'failed'
      this.stopped = progress.stopped
      this.lastError = stoppedError(progress.stopped)
    }
  }

  private rateWindowStart = Date.now()
  private rateWindowEvents = 0
  private lastRate = 0

  /** Events per second over roughly the last few seconds. */
  rate(): number {
    const now = Date.now()
    const elapsed = now - this.rateWindowStart
    if (elapsed >= 1000) {
      this.lastRate = ((this.eventsIn - this.rateWindowEvents) * 1000) / elapsed
      this.rateWindowStart = now
      this.rateWindowEvents = this.eventsIn
    }
    return Math.round(this.lastRate)
  }

  get name(): string {
    return this.view.name
  }

  progress(): QueryProgress {
    const base: QueryProgress = { offsets: this.offsets.slice(), watermark: this.watermark.snapshot(), eventsIn: this.eventsIn, lateEvents: this.lateEvents, stateBytes: this.stateBytes(), ...(this.carried === null ? {} : carriedProgress(this.carried)) }
    return this.stopped === null ? base : { ...base, stopped: this.stopped }
  }

  /**
   * The stream's records carry their writers' watermarks (a cluster's repartition topic): the watermark
   * comes from them (`takeMarks`), no longer from the rows' times. Set at deployment, before any batch.
   */
  carryWatermarks(): void {
    // (An interval join's two streams both carry theirs: a repartitioned join, cluster/joins.ts.)
    this.watermarkOf = null
    this.rightWatermarkOf = null
    this.carried = new CarriedWatermarks(this.offsets.length, this.restoredIdle, this.restoredIdleAt)
  }

  /**
   * The carried watermarks of a batch of partition `partition`, before the batch itself is consumed (the
   * marks this query has already taken, below its offset, are skipped). Never throws.
   */
  takeMarks(partition: number, marks: readonly CarriedMark[]): void {
    if (this.carried === null || this.status !== 'running') return
    try {
      // An interval join's right stream: its source partitions are the query's from `rightFrom` on.
      const base = partition < this.rightFrom ? 0 : this.rightFrom
      const width = partition < this.rightFrom ? Math.min(this.rightFrom, this.offsets.length) : this.offsets.length - this.rightFrom
      this.carried.take(marks, this.offsets[partition]!, this.watermark, base, width)
    } catch (err) {
      this.fail(err)
    }
  }

  /** Feeds the part of a batch this query has not seen yet. Never throws: failures mark the query failed. */
  async consume(batch: DecodedBatch, nextOffset: number): Promise<void> {
    if (this.status !== 'running') return
    const from = this.offsets[batch.partition]!
    if (from >= nextOffset) return
    try {
      await this.take(batch, from)
      this.offsets[batch.partition] = nextOffset
    } catch (err) {
      this.fail(err)
    }
    await this.handOn()
    // After the hand-on: the views reading this one get every row it wrote before it stopped.
    this.checkLimits()
  }

  /**
   * `consume` without a promise where nothing has to wait: null when the batch was taken in at once (an
   * indexed trigger without a join whose firing waits for nothing: most triggers, and a thousand of them
   * see every batch), else the promise of the work left.
   */
  consumeNow(batch: DecodedBatch, nextOffset: number): Promise<void> | null {
    if (this.status !== 'running') return null
    const from = this.offsets[batch.partition]!
    if (from >= nextOffset) return null
    // The batches `take` hands to consumeIndexed, less those that read a joined view.
    if (this.indexKeys.length === 0 || this.timeIndex >= 0 || this.lookup !== null || (this.trackSnapshots && this.operator.keyed !== null)) return this.consume(batch, nextOffset)
    let pending: Promise<void> | null = null
    try {
      pending = this.consumeIndexedNow(this.indexKeys, batch, from)
      if (pending === null) this.offsets[batch.partition] = nextOffset
    } catch (err) {
      this.fail(err)
    }
    if (pending !== null) return this.tookLater(pending, batch.partition, nextOffset)
    if (this.downstream.length > 0) return this.handOn().then(() => this.checkLimits())
    this.checkLimits()
    return null
  }

  /** The rest of `consume` for a batch whose operator is still at work (`pending`). */
  private async tookLater(pending: Promise<void>, partition: number, nextOffset: number): Promise<void> {
    try {
      await pending
      this.offsets[partition] = nextOffset
    } catch (err) {
      this.fail(err)
    }
    await this.handOn()
    this.checkLimits()
  }

  /**
   * A view over a view: the rows the read view just wrote, as events. They are numbered by how many rows
   * this view has taken in (its events_in, checkpointed with its state), which gives rows kept in arrival
   * order their positions. Never throws.
   */
  async consumeRows(rows: readonly Row[], signs?: readonly number[]): Promise<void> {
    if (this.status !== 'running' || rows.length === 0) return
    const first = this.eventsIn
    const offsets = rows.map((_, i) => first + i)
    try {
      await this.take({ partition: 0, offsets, rows }, first, signs)
    } catch (err) {
      this.fail(err)
    }
    await this.handOn()
    this.checkLimits()
  }

  /** Starts handing this view's rows to `reader` after every step (a view or trigger reading this view). */
  attach(reader: ContinuousQuery): void {
    if (this.downstream.length === 0) {
      this.operator.attachReader((row: Row) => {
        this.outbox.push(row)
        this.outSigns.push(1)
      })
    }
    this.downstream.push(reader)
  }

  /** Stops handing rows to `reader`. */
  detach(reader: ContinuousQuery): void {
    const i = this.downstream.indexOf(reader)
    if (i !== -1) this.downstream.splice(i, 1)
    if (this.downstream.length > 0) return
    this.operator.detachReader()
    this.outbox = []
    this.outSigns = []
  }

  /**
   * What a new reader of this view starts from: its rows so far (for a windowed view, the closed windows'),
   * and, for an on-window-close view, from here on the windows it closes are handed on.
   */
  rowsForReader(): Promise<Row[]> {
    return this.operator.rowsForReader(this.watermark.current)
  }

  /** A view over a view: its watermark follows the read view's, `lag` behind. */
  followUpstream(upstreamWatermark: number): void {
    const w = upstreamWatermark - (this.lag ?? 0)
    for (let p = 0; p < this.offsets.length; p++) this.watermark.observe(p, w)
    this.watermark.advance(this.offsets.map(() => false))
  }

  /**
   * ALTER STREAM ... RESET WATERMARK: the watermark is computed anew from these partition watermarks (`idle`
   * as in the engine's round). What was done up to the old watermark is not redone: windows it closed are
   * open again (events for them count and close them again), window functions wait for the new one. The
   * views reading this one follow it from scratch.
   */
  resetWatermark(partitions: readonly number[], idle: readonly boolean[]): void {
    this.watermark.reset(partitions)
    this.watermark.advance(idle)
    this.operator.rewindWatermark(this.watermark.current)
    this.nextExpiry = Number.NEGATIVE_INFINITY
    for (const d of this.downstream) {
      d.resetWatermark([], d.offsets.map(() => false))
      d.followUpstream(this.watermark.current)
    }
  }

  /** The offsets and position after a step, for this view and the views that read it. */
  settle(): void {
    this.settled = this.offsets.slice()
    for (const d of this.downstream) {
      for (let p = 0; p < this.offsets.length; p++) d.offsets[p] = this.offsets[p]!
      d.settle()
    }
  }

  /** Hands the rows written since the last step to the views reading this one. */
  private async handOn(): Promise<void> {
    if (this.downstream.length === 0) return
    this.operator.takeChanges(this.outbox, this.outSigns)
    if (this.outbox.length === 0) return
    const rows = this.outbox
    const signs = this.outSigns
    this.outbox = []
    this.outSigns = []
    const withdrawals = signs.includes(-1)
    for (let i = 0; i < this.downstream.length; i++) {
      const d = this.downstream[i]!
      for (let p = 0; p < this.offsets.length; p++) d.offsets[p] = this.offsets[p]!
      await d.consumeRows(i === 0 ? rows : rows.map((r) => r.slice()), withdrawals ? signs : undefined)
    }
  }

  /**
   * Takes in the rows of a batch from `from` on: each event counted and its time observed, joined to the
   * looked-up view, through the row stages, then into the operator. Throws what the operator throws.
   */
  private async take(batch: DecodedBatch, from: number, signs?: readonly number[]): Promise<void> {
    const keyed = this.operator.keyed
    if (this.trackSnapshots && keyed !== null && this.timeIndex < 0 && this.lookup === null && this.view.plan.intervalJoin === undefined) {
      await this.consumeTracked(keyed, batch, from)
      return
    }
    // Only a trigger has index keys (see the engine's deployTrigger).
    if (this.indexKeys.length > 0 && this.timeIndex < 0) {
      await this.consumeIndexed(this.indexKeys, batch, from)
      return
    }
    const joined = this.lookup === null ? null : await this.lookUp(batch, from)
    const rows: Row[] = []
    const offsets: number[] = []
    // Windowed: the joined columns go after the window's, so window assignment appends them.
    const extras: Value[][] | undefined = joined !== null && this.timeIndex >= 0 ? [] : undefined
    // With withdrawals (a view whose rows change, read without windows): each row's sign.
    const rowSigns: number[] | undefined = signs === undefined ? undefined : []
    for (let i = 0; i < batch.rows.length; i++) {
      if (batch.offsets[i]! < from) continue
      const row = batch.rows[i]
      if (row === null || row === undefined) continue
      this.observe(row, batch.partition)
      // The joined view's columns follow the event's (and its window's); an inner join drops the event.
      const extra = joined === null ? null : joined[i]
      if (extra === undefined) continue
      if (extras !== undefined) {
        rows.push(row)
        // (lookUp gives a view row or LEFT JOIN's nulls, never null: `extra` is a row here.)
        extras.push(extra!)
      } else rows.push(extra === null ? row : row.concat(extra))
      offsets.push(batch.offsets[i]!)
      rowSigns?.push(signs![i]!)
    }
    const wm = this.watermark.current
    const late = this.lateAt(wm)
    const prepared: RowBatch = { partition: batch.partition, rows, offsets, signs: rowSigns, windowStarts: undefined, extras }
    for (let s = 0; s < this.stages.length; s++) this.stages[s]!.apply(prepared, wm, late)
    // A trigger counts the firings it may make: on a view whose rows change, only the new rows.
    const outSigns = prepared.signs
    this.outputRate.add(outSigns === undefined || this.operator.role !== 'trigger' ? prepared.rows.length : outSigns.filter((x) => x > 0).length)
    await this.operator.process({ partition: prepared.partition, offsets: prepared.offsets, rows: prepared.rows, signs: outSigns, windowStarts: prepared.windowStarts, watermark: wm, late })
  }

  /**
   * The joined view's values per event of the batch: the view row, nulls for LEFT JOIN without a match,
   * undefined to drop the event (JOIN without a match).
   */
  private async lookUp(batch: DecodedBatch, from: number): Promise<(Value[] | null | undefined)[]> {
    const join = this.view.plan.join!
    const keys = batch.rows.map((row, i) => (row === null || row === undefined || batch.offsets[i]! < from ? null : join.keyIndexes.map((k) => row[k] ?? null)))
    const found = await this.lookup!.rows(batch, keys)
    const nulls = join.columns.map(() => null)
    return found.map((r) => (r !== null ? r : join.type === 'left' ? nulls : undefined))
  }

  /**
   * A trigger with an indexed condition: the batch's shared index gives its event count, its watermark and
   * the rows holding the required value; only those rows are joined and tested.
   */
  /** The stream's watermark expression as the batch index takes it (made once, not per batch). */
  private readonly indexWatermark = (row: Row): Value => this.watermarkOf!(row, EMPTY, this.ctx)
  /** How the index reads the joined view (one object while the lookup stays the same). */
  private joinedView: { lookup: ViewLookup; keyIndexes: readonly number[] } | null = null

  private async consumeIndexed(keys: readonly IndexKey[], batch: DecodedBatch, from: number): Promise<void> {
    const index = batchIndex(batch, this.watermarkOf === null ? null : this.indexWatermark)
    const start = this.observeIndexed(index, batch, from)
    if (this.lookup !== null && this.joinedView?.lookup !== this.lookup) this.joinedView = { lookup: this.lookup, keyIndexes: this.view.plan.join!.keyIndexes }
    const narrowest = await index.narrowest(keys, this.lookup === null ? null : this.joinedView)
    // The index gives the rows that satisfy every key on the event's columns (see narrowest).
    const candidates = start === 0 ? narrowest : narrowest.filter((i) => i >= start)
    // The join reads the view for the candidates only: a batch of just them, not one sized to the whole batch.
    let joined: readonly (Row | null)[] | null = null
    const join = this.view.plan.join
    if (join !== null && this.lookup !== null) {
      const rows = batch.rows
      if (candidates.length > 0) {
        const sub: DecodedBatch = { partition: batch.partition, offsets: candidates.map((i) => batch.offsets[i]!), rows: candidates.map((i) => rows[i]!) }
        joined = await this.lookup.rows(sub, sub.rows.map((r) => join.keyIndexes.map((k) => r![k] ?? null)))
      }
    }
    await this.operator.process(this.passing(keys, batch, candidates, joined))
  }

  /**
   * `consumeIndexed` for a trigger without a join, at once up to its operator; null when the operator took
   * the batch at once too (see StreamOperator.processNow), else the promise to wait for.
   */
  private consumeIndexedNow(keys: readonly IndexKey[], batch: DecodedBatch, from: number): Promise<void> | null {
    const index = batchIndex(batch, this.watermarkOf === null ? null : this.indexWatermark)
    const start = this.observeIndexed(index, batch, from)
    const narrowest = index.narrowestOnEvent(keys)
    const candidates = start === 0 ? narrowest : narrowest.filter((i) => i >= start)
    const prepared = this.passing(keys, batch, candidates, null)
    return this.operator.processNow === undefined ? this.operator.process(prepared) : this.operator.processNow(prepared)
  }

  /** An indexed batch from `from` on: its events counted and its largest watermark observed. Returns the first row from `from`. */
  private observeIndexed(index: BatchIndex, batch: DecodedBatch, from: number): number {
    const start = index.firstAt(from)
    this.eventsIn += index.events(start)
    const wm = index.maxWatermark(start)
    if (wm > Number.NEGATIVE_INFINITY) this.watermark.observe(batch.partition, wm)
    return start
  }

  /** The candidates (rows of the batch) that pass WHEN, joined to their view rows (`joined`, per candidate) where the trigger joins one. */
  private passing(keys: readonly IndexKey[], batch: DecodedBatch, candidates: readonly number[], joined: readonly (Row | null)[] | null): OperatorBatch {
    const join = this.view.plan.join
    const nulls = join === null || join.type !== 'left' ? null : join.columns.map(() => null)
    const covers = this.indexCovers
    // Without a join every key is on the event's columns, so where they cover WHEN the candidates pass it.
    const where = covers && join === null ? null : this.where
    const width = this.view.plan.source.columns.length
    const prepared: Row[] = []
    const offsets: number[] = []
    for (let j = 0; j < candidates.length; j++) {
      const i = candidates[j]!
      let row = batch.rows[i]!
      if (joined !== null) {
        // An inner join drops the event without a view row; a left join pads it with nulls.
        const extra = joined[j] ?? nulls
        if (extra === null) continue
        row = row.concat(extra)
      }
      if (where !== null && !(covers ? keysHold(keys, row, width) : where.passes(row))) continue
      prepared.push(row)
      offsets.push(batch.offsets[i]!)
    }
    this.outputRate.add(prepared.length)
    return { partition: batch.partition, offsets, rows: prepared, signs: undefined, windowStarts: undefined, watermark: this.watermark.current, late: this.lateAt(this.watermark.current) }
  }

  /** A keyed view read by lookup joins as of each event: remember its row after every event of the batch. */
  private async consumeTracked(operator: KeyedReads, batch: DecodedBatch, from: number): Promise<void> {
    const rows: Row[] = []
    const passes: boolean[] = []
    const offsets: number[] = []
    for (let i = 0; i < batch.rows.length; i++) {
      if (batch.offsets[i]! < from) continue
      const row = batch.rows[i]
      if (row === null || row === undefined) continue
      this.observe(row, batch.partition)
      rows.push(row)
      offsets.push(batch.offsets[i]!)
      passes.push(this.where === null || this.where.passes(row))
    }
    this.outputRate.add(passes.filter(Boolean).length)
    const after = await operator.processTracked(rows, passes)
    const map = new Map<number, Row | null>()
    offsets.forEach((o, j) => map.set(o, after[j]!))
    this.snapshot = { partition: batch.partition, rows: map }
  }

  /** Records the late rows an operator finds, against the watermark before the batch. */
  private lateAt(wm: number): (partition: number, offset: number, eventTime: number | null, reason: string) => void {
    // The same reporter while the watermark stays (a trigger's every batch makes one otherwise).
    if (this.lateReporter === null || this.lateReporterAt !== wm) {
      this.lateReporterAt = wm
      this.lateReporter = (partition, offset, eventTime, reason) => this.recordLate(partition, offset, eventTime, wm, reason)
    }
    return this.lateReporter
  }

  private lateReporter: ((partition: number, offset: number, eventTime: number | null, reason: string) => void) | null = null
  private lateReporterAt = 0

  /**
   * After the watermark moved (or the stream closed): window functions compute the rows it made final.
   * Never throws: a failure marks the query failed.
   */
  async afterWatermark(): Promise<void> {
    // Windows the watermark closed go to the views reading this one before retention may delete them.
    // Sliced HOP windows are put together from their slices now, whoever reads them.
    // Window functions and patterns release the rows it made final (to readers through attachReader).
    if (this.status === 'running') {
      try {
        const closed = await this.operator.onWatermark(this.watermark.current, this.downstream.length > 0)
        if (this.downstream.length > 0) {
          for (const row of closed) {
            this.outbox.push(row)
            this.outSigns.push(1)
          }
        }
      } catch (err) {
        this.fail(err)
      }
    }
    await this.expire()
    await this.handOn()
    for (const d of this.downstream) {
      d.followUpstream(this.watermark.current)
      await d.afterWatermark()
    }
  }

  /**
   * `afterWatermark` without a promise where it has nothing to do (null): an operator with no work on the
   * watermark (a trigger), no retention and no view reading this one. Every query takes this step every
   * round, a thousand triggers a thousand times.
   */
  afterWatermarkNow(): Promise<void> | null {
    const plan = this.view.plan
    if (this.operator.idleOnWatermark !== true || this.downstream.length > 0 || plan.retention !== null || plan.idleTtl !== null) return this.afterWatermark()
    return null
  }

  /** The watermark at which the next group or window of a view with retention / idle_ttl is due. */
  private nextExpiry = Number.NEGATIVE_INFINITY
  private lastSweep = 0
  private lastSweepMs = 0
  private lastSweepEntries = 0
  /** Groups, windows or sessions deleted by retention / idle_ttl since the start. */
  expired = 0

  /**
   * Retention and idle_ttl: once the watermark reaches the earliest deadline, one pass over the state
   * deletes what is due. A pass reads the whole table, so passes over big tables (more than BIG_SWEEP
   * entries) are spaced out: at least a second, and twenty times the last pass's duration. A closed stream (watermark at the end of time)
   * deletes nothing: its final results stay.
   */
  private async expire(): Promise<void> {
    const plan = this.view.plan
    if (this.status !== 'running' || (plan.retention === null && plan.idleTtl === null)) return
    const wm = this.watermark.current
    if (!Number.isFinite(wm) || wm < this.nextExpiry) return
    const now = Date.now()
    if (this.lastSweepEntries > BIG_SWEEP && now - this.lastSweep < Math.max(1000, 20 * this.lastSweepMs)) return
    try {
      const pass = this.operator.expire(wm)
      if (pass === null) return
      const { deleted, next, scanned } = await pass
      this.expired += deleted
      this.nextExpiry = next
      this.lastSweep = now
      this.lastSweepMs = Date.now() - now
      this.lastSweepEntries = scanned
    } catch (err) {
      this.fail(err)
    }
  }

  /** Rows window functions and MATCH_RECOGNIZE hold in state (0 for other views). */
  bufferedRows(): number {
    return this.operator.bufferedRows()
  }

  /** Counts an event in and lets its time move the partition's watermark. */
  private observe(row: Row, partition: number): void {
    this.eventsIn++
    const watermarkOf = partition < this.rightFrom ? this.watermarkOf : this.rightWatermarkOf
    if (watermarkOf !== null) {
      const w = watermarkOf(row, EMPTY, this.ctx)
      if (typeof w === 'number') this.watermark.observe(partition, w)
    }
  }

  fail(err: unknown): void {
    if (this.status === 'failed') return
    this.status = 'failed'
    this.lastError = toSluiceError(err)
    // The views and triggers reading this one would wait for rows that no longer come: they stop too, saying why.
    for (const d of this.downstream) {
      const why = new SluiceError('execution', this.lastError.sqlstate, `materialized view "${this.name}", which it reads, ${this.stopped === null ? 'failed' : 'was stopped'}: ${this.lastError.message}`, {
        hint: `See sluice_queries for "${this.name}".`,
      })
      if (this.stopped === null) d.fail(why)
      else d.stop(why, this.name)
    }
  }

  /** The rows it put out per second over the last few seconds (view row changes, trigger firings). */
  outputPerSecond(): number {
    return this.outputRate.perSecond()
  }

  /** Rows it put out since the server started (the count behind outputPerSecond), for /metrics. */
  eventsOut(): number {
    return this.outputRate.total
  }

  /** Stops the query past one of its limits (it stays in the catalog, stopped, until raised or dropped). */
  private checkLimits(): void {
    const limits = this.limits
    if (this.status !== 'running' || (limits.maxStateBytes === null && limits.maxOutputRate === null)) return
    const err = limitExceeded(limits, limits.maxStateBytes === null ? 0 : this.stateBytes(), limits.maxOutputRate === null ? 0 : this.outputRate.perSecond(), this.operator.role === 'trigger' ? 'trigger' : 'materialized view', this.name)
    if (err !== null) this.stop(err)
  }

  /** Stops the query, for good across restarts (`upstream`: because the view it reads was stopped). */
  stop(err: SluiceError, upstream?: string): void {
    if (this.status === 'failed') return
    this.stopped = { ...stoppedRecord(err), ...(upstream === undefined ? {} : { upstream }) }
    this.fail(err)
  }

  /**
   * Runs a query stopped by a limit again (after ALTER ... SET raised it), where it stopped, with the views
   * and triggers that stopped because it did. False if it was not stopped by a limit.
   */
  resume(): boolean {
    if (this.stopped === null) return false
    this.status = 'running'
    this.lastError = null
    this.stopped = null
    this.outputRate = new OutputRate(Date.now(), this.outputRate.total)
    for (const d of this.downstream) if (d.stopped?.upstream === this.name) d.resume()
    return true
  }

  private recordLate(partition: number, offset: number, eventTime: number | null, watermark: number, reason: string): void {
    this.lateEvents++
    // An interval join's partitions are its two streams': the event's own stream and partition there.
    const slot = this.view.plan.intervalJoin === undefined ? undefined : this.slots[partition]
    if (slot !== undefined) this.pendingLate.push({ stream: slot.stream, partition: slot.partition, offset, eventTime, watermark, reason })
    else this.pendingLate.push({ partition, offset, eventTime, watermark, reason })
  }

  /** Live results by table entry (see ViewFollower); null where only a full re-read is right. */
  follow(): ViewFollower | null {
    return this.operator.follow(() => this.watermark.current)
  }

  rows(): AsyncGenerator<Row> {
    return this.operator.rows(this.watermark.current)
  }
}

/** A query's carried idle flags and positions, for its progress record. */
function carriedProgress(carried: CarriedWatermarks): Pick<QueryProgress, 'carriedIdle' | 'carriedIdleAt'> {
  const { idle, idleAt } = carried.snapshot()
  return { carriedIdle: idle, carriedIdleAt: idleAt }
}
