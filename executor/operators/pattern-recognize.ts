/**
 * PatternRecognize: MATCH_RECOGNIZE over a stream, per PARTITION BY key, in event-time order.
 *
 * An arriving row waits in its key's pending list until the watermark has passed its time plus the allowed
 * lateness (as in OverWindow); released rows join the key's sequence in time order and the matcher
 * (executor/pattern/) runs over the sequence from where it stopped. A start row whose outcome depends on
 * rows not yet released (a greedy quantifier at the end, `$`, NEXT) waits for them; ALTER STREAM ... CLOSE
 * makes the input final, which settles every pending match as batch SQL would. With WITHIN, a key whose
 * partial match may time out is looked at again once the watermark passes the deadline, even without new
 * rows, so that an absence ("A, then no B within 5 minutes") is reported when it becomes certain.
 *
 * State, one entry per partition key: [pending rows (empty: see below), sequence rows kept, absolute index
 * of the first kept row, matcher state]. Rows before the next start row are dropped, except the few PREV
 * reaches back to. Output rows are stored under their source position plus the match number, so a replay
 * overwrites.
 *
 * What is written is what changed. A row waiting for the watermark is kept in memory only, in its key's
 * arrival list, and the key's entry is not touched until the watermark releases the row; a checkpoint
 * writes the arrival lists it finds under their own keys (the partition key and a tag), and the release of
 * a list a checkpoint wrote deletes it. So an event costs one read and one write of its key's entry, at
 * its release, and the checkpoint encodes the entries released into since the last one plus the lists
 * still waiting. The search waiting at a key's next start row is kept in memory too and resumed when rows
 * come (executor/pattern/partition.ts), so a partial match is advanced by the new rows only.
 */
import { internalError } from '../../common/errors.ts'
import type { Row, Value } from '../../common/types.ts'
import { compilePredicate, compileProjection } from '../../expr/compile.ts'
import type { EvalContext } from '../../expr/runtime.ts'
import type { PatternPlan } from '../../planner/pattern-plan.ts'
import { CompiledPatternExpression, type EvaluationContext } from '../pattern/expressions.ts'
import { rowOrder } from '../pattern/row-order.ts'
import type { ViewPlan } from '../../planner/view-plan.ts'
import {
  compileMatchRecognize,
  INITIAL_PARTITION_STATE,
  matchPartition,
  matchView,
  outputRows,
  type CompiledPattern,
  type DefineFn,
  type PartitionState,
  type PatternMatch,
  type OutputRow,
  type PatternTimeout,
  type RowsPerMatchMode,
  type SuspendedAttempt,
} from '../pattern/pattern.ts'
import { isPositionKey } from '../state/layout.ts'
import type { KeyedTable } from './keyed-table.ts'
import type { ChangeSink, OperatorBatch, StreamOperator } from './operator.ts'
import type { Mutation } from '../state/rocks.ts'
import { followPositions } from './held-rows.ts'
import type { ViewFollower } from './view-follower.ts'
import type { KeyEncoder } from './keyed-aggregate.ts'
import type { PositionEncoder } from './append-project.ts'
import { HeldRowsOperator, admit, earliestOf, positionRows, type Held } from './held-rows.ts'
import { DueQueue } from './due-queue.ts'

const LATE_REASON = 'rows of its partition key up to the watermark were already matched: event time is behind the watermark by more than the allowed lateness'
/**
 * [pending, sequence, index of sequence[0] in the partition, matcher state as [position, match number,
 * matched through]]. Pending rows are kept in arrival lists now; an entry written before that may hold some.
 */
type Entry = [Held[], Held[], number, [number, number, number]]

/** A key's rows waiting for the watermark as a checkpoint found them, under arrivalKey(key). */
type Arrivals = ['arrivals', Held[]]

/**
 * Its table: each partition key's Entry, its Arrivals under arrivalKey, and output rows under their source
 * positions (isPositionKey).
 */
export type PatternEntry = Entry | Arrivals | Row

/** The key of a partition key's arrival list: a tag no encoded value starts with, after the whole key. */
const arrivalKey = (key: string): string => `${key}\u0008`
const isArrivals = (value: PatternEntry): value is Arrivals => value[0] === 'arrivals'

const PENDING = 0
const SEQUENCE = 1
const BASE = 2
const STATE = 3

export class PatternRecognize extends HeldRowsOperator implements StreamOperator {
  readonly role = 'view'
  readonly keyed = null
  private readonly pp: PatternPlan
  private readonly pattern: CompiledPattern
  private readonly defines: Map<string, CompiledPatternExpression>
  private readonly measures: readonly CompiledPatternExpression[]
  private readonly outputFilter: ((r: readonly Value[], p: readonly Value[], ctx: EvalContext) => boolean) | null
  private readonly project: (r: readonly Value[], p: readonly Value[], ctx: EvalContext) => Value[]
  private readonly lateness: number
  private readonly order: (a: Held, b: Held) => number
  private readonly rowsMode: RowsPerMatchMode
  /** Keys with pending rows (earliest pending time) and keys whose matcher waits (when to look again). */
  private pendingKeys: DueQueue | null = null
  private readonly waitingKeys = new DueQueue()
  /** Rows held in state (pending or kept in a sequence), for sluice_queries.buffered_rows. */
  private held = 0
  /**
   * Per key, the search that waits for rows at the key's next start row, resumed when they come instead of
   * searched again from the start row (executor/pattern/partition.ts). Memory only: it is derived from the
   * key's entry, so a restart, or a key dropped here to bound memory, searches again and gets the same answer.
   */
  private readonly suspended = new Map<string, SuspendedAttempt>()
  /** Per key, the rows waiting for the watermark (see the file comment). */
  private readonly arrived = new Map<string, Waiting>()
  /** Some entry holds pending rows (written before arrival lists): a key's due time may come from them. */
  private olderPending = false
  /** Arrival lists that changed since the last checkpoint (each once): what the next one writes. */
  private arrivalsChanged: Waiting[] = []

  constructor(
    readonly plan: ViewPlan,
    private readonly table: KeyedTable<PatternEntry>,
    private readonly encodeKey: KeyEncoder,
    private readonly encodePosition: PositionEncoder,
    private readonly ctx: EvalContext,
  ) {
    super()
    if (plan.body.kind !== 'pattern') throw internalError('PatternRecognize built for a plan without MATCH_RECOGNIZE')
    this.pp = plan.body.pattern
    this.pattern = compileMatchRecognize(this.pp.clause, { lookAhead: this.pp.lookAhead, ...(this.pp.within === null ? {} : { within: this.pp.within }) })
    this.defines = new Map([...this.pp.defines].map(([v, d]) => [v, new CompiledPatternExpression(d)]))
    this.measures = this.pp.measures.map((m) => new CompiledPatternExpression(m.expression))
    this.outputFilter = plan.body.outputFilter === null ? null : compilePredicate(plan.body.outputFilter)
    this.project = compileProjection(plan.body.output)
    this.lateness = plan.source.allowedLateness
    this.order = heldOrder(this.pp.tieBreak)
    this.rowsMode = this.pp.rowsPerMatch === 'one_row' ? { kind: 'one_row' } : { kind: 'all_rows', mode: this.pp.allRowsMode }
    this.keyValues = new Array<Value>(this.pp.partitionBy.length).fill(null)
    this.runEvaluation = this.evaluation(false)
  }

  /** The partition key values of the row being keyed (the encoder reads them, keeps nothing). */
  private readonly keyValues: Value[]
  private readonly keyOf = (row: Row): string => {
    const columns = this.pp.partitionBy
    const values = this.keyValues
    for (let c = 0; c < columns.length; c++) values[c] = row[columns[c]!] ?? null
    return this.encodeKey(values)
  }

  /** Takes rows into their keys' pending lists; rows the watermark has already passed are late. */
  async process(batch: OperatorBatch): Promise<void> {
    const { partition, offsets, rows, watermark, late } = batch
    const pendingKeys = await this.pending()
    const { keys, accepted } = admit(partition, offsets, rows, this.pp.timeIndex, this.lateness, watermark, this.keyOf, late, LATE_REASON)
    for (let j = 0; j < accepted.length; j++) {
      const i = accepted[j]!
      const key = keys[j]!
      const ts = rows[i]![this.pp.timeIndex] as number
      let w = this.arrived.get(key)
      if (w === undefined) this.arrived.set(key, (w = new Waiting(key, [], false)))
      w.rows.push([ts, partition, offsets[i]!, rows[i]!])
      this.changed(w)
      this.held++
      if (ts < w.earliest) {
        w.earliest = ts
        // (Rows of an entry written before arrival lists may be due earlier still.)
        const earliest = this.olderPending ? pendingKeys.get(key) : undefined
        if (earliest === undefined || ts < earliest) pendingKeys.set(key, ts)
      }
    }
  }

  private changed(w: Waiting): void {
    if (w.changed) return
    w.changed = true
    this.arrivalsChanged.push(w)
  }

  /**
   * Writes the arrival lists that changed with the entries that did (the rows they hold are past the
   * checkpoint's offsets); a list no row joined or left since the last checkpoint is in RocksDB as it is.
   */
  override checkpoint(out: Mutation[]): void {
    for (const w of this.arrivalsChanged) {
      w.changed = false
      // Released whole: the release deleted what a checkpoint stored.
      if (this.arrived.get(w.key) !== w) continue
      this.table.append(arrivalKey(w.key), ['arrivals', w.rows.slice()], w.rows.length)
      w.stored = true
    }
    this.arrivalsChanged = []
    super.checkpoint(out)
  }

  /** Releases what the watermark made final and runs the matcher where something changed or a deadline passed. */
  override async release(watermark: number): Promise<void> {
    const pendingKeys = await this.pending()
    const final = watermark === Number.POSITIVE_INFINITY
    const threshold = watermark - this.lateness
    // Each list holds a key once; only a key in both needs the set.
    const released = pendingKeys.takeDue(threshold)
    const waited = this.waitingKeys.takeDue(final ? Number.POSITIVE_INFINITY : threshold)
    const keys = waited.length === 0 ? released : released.length === 0 ? waited : [...new Set(released.concat(waited))]
    if (keys.length === 0) return
    await this.table.load(keys)
    for (const key of keys) {
      const w = this.arrived.get(key)
      const arrived = w?.rows
      let entry = this.entry(key)
      if (entry === undefined) {
        if (arrived === undefined) {
          pendingKeys.delete(key)
          this.waitingKeys.delete(key)
          continue
        }
        entry = newEntry()
      }
      // A key with nothing kept and no match under way, whose rows all go without starting one, is not written.
      const wasIdle = isIdle(entry)
      const matchNumber = entry[STATE][1]
      // Rows an entry written before arrival lists holds come first.
      const pending = entry[PENDING].length === 0 ? (arrived ?? NONE_WAITING) : entry[PENDING].concat(arrived ?? [])
      let ready: Held[] = pending
      let waiting: Held[] = NONE_WAITING
      // Usually the watermark passed every pending row of the key: they move as they are, no copies.
      if (anyAfter(pending, threshold)) {
        ready = []
        waiting = []
        for (const h of pending) (h[0] <= threshold ? ready : waiting).push(h)
      }
      if (ready.length > 1) ready.sort(this.order)
      // Rows of an older entry's pending list that still wait now go with the arrival list.
      const migrated = entry[PENDING].length > 0
      if (migrated) entry[PENDING] = []
      const sequence = entry[SEQUENCE]
      for (let i = 0; i < ready.length; i++) sequence.push(ready[i]!)
      if (waiting.length === 0) {
        // Not in pendingKeys: its due time was at most its earliest row's, so takeDue gave the key out.
        if (w !== undefined) {
          this.arrived.delete(key)
          if (w.stored) this.table.delete(arrivalKey(key))
        }
      } else {
        const left = w ?? new Waiting(key, [], false)
        if (w === undefined) this.arrived.set(key, left)
        left.rows = waiting
        left.earliest = earliestOf(waiting)
        pendingKeys.set(key, left.earliest)
        if (ready.length > 0 || migrated) this.changed(left)
      }
      this.run(key, entry, final, final ? Number.POSITIVE_INFINITY : threshold)
      if (!wasIdle || !isIdle(entry) || entry[STATE][1] !== matchNumber) this.table.set(key, entry)
    }
  }

  /** Runs the matcher over a key's sequence, stores the output rows, and trims what is no longer needed. */
  /**
   * The partition `run` is matching, read by the callbacks below. They are made once, not per run: a closure
   * made per call costs an allocation and, under the TypeScript loader, a call that names it.
   */
  private runSequence: readonly Held[] = []
  private runBase = 0
  private runCount = 0
  private runFinal = false
  private readonly rowAt = (i: number): Held | undefined => this.runSequence[i - this.runBase]
  private readonly defineFn: DefineFn = (variable, _row, view) => {
    const d = this.defines.get(variable)
    if (d === undefined) return true
    const v = d.evaluate(view, view, this.runEvaluation)
    return v === 'need_more' ? 'need_more' : v === true
  }
  private readonly rowValuesAt = (i: number): readonly Value[] | undefined => this.runSequence[i - this.runBase]?.[3]
  /** The partition `run` is matching as DEFINE reads it: one object, its counts set per run. */
  private readonly runEvaluation: { -readonly [K in keyof EvaluationContext]: EvaluationContext[K] }
  /** Where `run` starts, handed to the matcher (which copies it out): one object, set per run. */
  private readonly runState: { -readonly [K in keyof PartitionState]: PartitionState[K] } = { ...INITIAL_PARTITION_STATE }
  /** The matcher's condition cache, one for every run (it empties it per call). */
  private readonly conditions = new Map<number, boolean>()
  /** Whether the matcher is to report unmatched rows: only ALL ROWS PER MATCH WITH UNMATCHED ROWS shows them. */
  private get unmatchedRows(): boolean {
    return this.rowsMode.kind === 'all_rows' && this.rowsMode.mode === 'with_unmatched_rows'
  }
  private evaluation(timedOut: boolean): EvaluationContext {
    return { rowAt: this.rowValuesAt, rowCount: this.runCount, final: this.runFinal, ctx: this.ctx, timedOut }
  }
  private readonly timeFn = (i: number): number => this.rowAt(i)![0]

  private run(key: string, entry: Entry, final: boolean, horizon: number): void {
    const sequence = entry[SEQUENCE]
    const base = entry[BASE]
    const rowCount = base + sequence.length
    this.runSequence = sequence
    this.runBase = base
    this.runCount = rowCount
    this.runFinal = final
    const evaluation = this.runEvaluation
    evaluation.rowCount = rowCount
    evaluation.final = final
    const rowAt = this.rowAt
    const kept = entry[STATE]
    const state = this.runState
    state.position = kept[0]
    state.matchNumber = kept[1]
    state.matchedThrough = kept[2]
    const input = { rowCount, final, define: this.defineFn, time: this.timeFn, horizon, unmatched: this.unmatchedRows }
    const result = matchPartition(this.pattern, input, state, this.suspended.size === 0 ? undefined : this.suspended.get(key), this.conditions)
    this.keepSuspended(key, result.suspended)
    for (const out of result.events.length === 0 ? NO_OUTPUT : outputRows(result.events, this.rowsMode)) {
      switch (out.kind) {
        case 'summary':
          this.emit(out.match, null, rowAt, rowCount, final, false)
          break
        case 'match_row':
          this.emit(out.match, out.row, rowAt, rowCount, final, false)
          break
        case 'empty_match':
          this.emit(out.match, out.row, rowAt, rowCount, final, false)
          break
        case 'unmatched':
          this.store(rowAt(out.row)!, 0, this.outputRow(rowAt(out.row)![3], this.measures.map(() => null)))
          break
      }
    }
    if (this.pp.emitTimeouts) for (const e of result.events) if (e.kind === 'timeout') this.emit(e, null, rowAt, rowCount, final, true)
    const next = result.state
    kept[0] = next.position
    kept[1] = next.matchNumber
    kept[2] = next.matchedThrough
    // Rows before the next start row are done with, but for what PREV may still reach back to.
    const keepFrom = Math.max(base, next.position - this.pp.lookBehind)
    if (keepFrom > base) {
      dropFirst(sequence, keepFrom - base)
      entry[BASE] = keepFrom
      this.runBase = keepFrom
      this.held -= keepFrom - base
    }
    if (sequence.length === 0 && kept[0] === entry[BASE]) {
      // Every row is done with: row indexes count from 0 again, and no match covers a row to come, so that
      // a key at rest has one state whatever rows went by (and an event that changes nothing writes nothing).
      entry[BASE] = 0
      kept[0] = 0
      kept[2] = -1
    }
    if (result.needMore && next.position < rowCount) {
      // Looked at again when a new row comes, or (with WITHIN) when the watermark passes the deadline.
      const start = rowAt(next.position)!
      this.waitingKeys.set(key, this.pp.within === null ? Number.POSITIVE_INFINITY : start[0] + this.pp.within)
    } else {
      this.waitingKeys.delete(key)
    }
  }

  private keepSuspended(key: string, search: SuspendedAttempt | undefined): void {
    if (this.suspended.size > 0) this.suspended.delete(key)
    // A search that cost little so far costs little to do again: only those worth their memory are kept.
    if (search === undefined || search.steps < MIN_STEPS_KEPT) return
    // Oldest first out: a key that waits longest is the likeliest to have gone quiet.
    if (this.suspended.size >= MAX_SUSPENDED) this.suspended.delete(this.suspended.keys().next().value!)
    this.suspended.set(key, search)
  }

  /** One output row of a match (or of a timed-out partial match): ONE ROW when `row` is null, else ALL ROWS' row. */
  private emit(match: PatternMatch | PatternTimeout, row: number | null, rowAt: (i: number) => Held | undefined, rowCount: number, final: boolean, timedOut: boolean): void {
    const whole = matchView(this.pattern, match)
    const running = row === null || match.end === match.start ? whole : matchView(this.pattern, match, row)
    const c = this.evaluation(timedOut)
    const values = this.measures.map((m) => {
      const v = m.evaluate(m.semantics === 'final' ? whole : running, whole, c)
      return v === 'need_more' ? null : v
    })
    const source = rowAt(row ?? match.start)!
    this.store(source, match.number, this.outputRow(source[3], values))
  }

  /** The pattern's row (partition columns or all columns, then measures), through the SELECT. */
  private outputRow(streamRow: Row, measures: Value[]): Row | null {
    const pick = (columns: readonly number[]) => columns.map((c) => streamRow[c] ?? null)
    const layout = this.pp.allRowsLayout
    const r = this.pp.rowsPerMatch === 'one_row' ? pick(this.pp.partitionBy).concat(measures) : pick(layout.before).concat(measures, pick(layout.after))
    if (this.outputFilter !== null && !this.outputFilter(r, EMPTY, this.ctx)) return null
    return this.project(r, EMPTY, this.ctx)
  }

  private store(source: Held, matchNumber: number, row: Row | null): void {
    if (row === null) return
    // Final: never read back but by scans, so it goes past the state cache.
    this.table.append(`${this.encodePosition(source[1], source[2])}#${matchNumber}`, row)
    if (this.onOutput !== null) this.onOutput(row)
  }

  /** Keys with pending rows or a waiting matcher, found by one scan of the table after a (re)start. */
  private async pending(): Promise<DueQueue> {
    if (this.pendingKeys !== null) return this.pendingKeys
    const found = new DueQueue()
    for await (const [key, value] of this.table.scan()) {
      if (isPositionKey(key)) continue
      if (isArrivals(value)) {
        const partitionKey = key.slice(0, -1)
        const list = value[1]
        const w = new Waiting(partitionKey, list, true)
        this.arrived.set(partitionKey, w)
        this.held += list.length
        const earliest = w.earliest
        if (earliest < (found.get(partitionKey) ?? Number.POSITIVE_INFINITY)) found.set(partitionKey, earliest)
        continue
      }
      const entry = value as Entry
      this.held += entry[PENDING].length + entry[SEQUENCE].length
      if (entry[PENDING].length > 0) this.olderPending = true
      if (entry[PENDING].length > 0 && earliestOf(entry[PENDING]) < (found.get(key) ?? Number.POSITIVE_INFINITY)) found.set(key, earliestOf(entry[PENDING]))
      const start = entry[SEQUENCE][entry[STATE][0] - entry[BASE]]
      if (start !== undefined) this.waitingKeys.set(key, this.pp.within === null ? Number.POSITIVE_INFINITY : start[0] + this.pp.within)
    }
    this.pendingKeys ??= found
    return this.pendingKeys
  }

  describe(): string {
    return 'PatternRecognize'
  }

  /** The state of a partition key (keys not under a source position hold an Entry). */
  private entry(key: string): Entry | undefined {
    return this.table.get(key) as Entry | undefined
  }

  /** Rows held in state: waiting for the watermark, or kept while a match may still start or grow there. */
  override bufferedRows(): number {
    return this.held
  }

  /** A checkpoint's write of a key to a view sink: output rows only (the rest is state). */
  override changes(key: string, value: Value[], sink: ChangeSink): void {
    if (isPositionKey(key)) sink.append(value)
  }

  /** The view's rows: every output row so far. */
  rows(): AsyncGenerator<Row> {
    return positionRows(this.table)
  }

  /** Live results by entry: the rows under source positions (the rest of the table is state). */
  follow(): ViewFollower {
    return followPositions(this.table)
  }
}

/** A key's rows waiting for the watermark, in arrival order, and what a checkpoint knows of them. */
class Waiting {
  /** The earliest time among `rows`. */
  earliest: number
  /** Rows joined or left since the last checkpoint (the key is in arrivalsChanged). */
  changed = false

  constructor(
    readonly key: string,
    public rows: Held[],
    /** A checkpoint wrote the list (under arrivalKey): the release of its last row deletes it. */
    public stored: boolean,
  ) {
    this.earliest = earliestOf(rows)
  }
}

const NO_OUTPUT: readonly OutputRow[] = []

/** The waiting rows of a key with none (a marker: release gives the key a fresh array). */
const NONE_WAITING: Held[] = []

/** Whether a held row is later than `time` (a loop: no closure per key). */
function anyAfter(held: readonly Held[], time: number): boolean {
  for (let i = 0; i < held.length; i++) if (held[i]![0] > time) return true
  return false
}

/** Removes the first `n` elements of `a` in place. */
function dropFirst(a: Held[], n: number): void {
  if (n >= a.length) {
    a.length = 0
    return
  }
  a.copyWithin(0, n)
  a.length -= n
}

/** Keys whose waiting search is kept in memory (see PatternRecognize.suspended); others search again. */
const MAX_SUSPENDED = 100_000
/** The steps a waiting search must have cost to be kept (see keepSuspended). */
const MIN_STEPS_KEPT = 100

/** The parameter row of compiled expressions: views have no parameters. */
const EMPTY: Value[] = []

/**
 * Whether a key's entry holds no rows and no search (indexes from 0: see `run`): such an entry differs from
 * another only by its match number.
 */
const isIdle = (e: Entry): boolean => e[PENDING].length === 0 && e[SEQUENCE].length === 0 && e[BASE] === 0 && e[STATE][0] === 0 && e[STATE][2] === -1

const newEntry = (): Entry => [[], [], 0, [INITIAL_PARTITION_STATE.position, INITIAL_PARTITION_STATE.matchNumber, INITIAL_PARTITION_STATE.matchedThrough]]

/** Held rows by event time, then by the further ORDER BY columns. */
function heldOrder(tieBreak: PatternPlan['tieBreak']): (a: Held, b: Held) => number {
  const rows = rowOrder(tieBreak)
  return (a, b) => a[0] - b[0] || rows(a[3], b[3])
}
