/**
 * IntervalJoin: two streams joined on equal keys within a time bound (planner/interval-join.ts). The query
 * reads both streams; its partitions are the left stream's followed by the right's, so a batch's partition
 * says its side. Each row of a batch is joined at once with the other side's waiting rows of its key whose
 * time is within the bound (every pair is made exactly once: when its later row arrives), then waits in
 * state itself until the watermark passes the last time a row of the other side could still match it:
 *
 *   a left row at t waits until the watermark passes t + upper + the right stream's allowed lateness,
 *   a right row at t waits until it passes t - lower + the left stream's allowed lateness.
 *
 * A row later than that (behind the watermark by more than its stream's allowed lateness) could miss rows
 * already dropped: it is reported late and not joined. A row with a NULL key never matches and is not kept.
 *
 * Outer joins (LEFT, RIGHT, FULL): a preserved side's row that leaves state without having matched (ON,
 * residual conditions included) is put out then, with NULLs for the other side's columns, under its own
 * source position; whether it matched is part of its state entry, so a restart neither repeats nor loses it.
 * One with a NULL key, or already past its bound when it arrives, unmatched, is put out at once.
 *
 * State: the waiting rows, one entry per row in a table of their own (under their source position), kept in
 * memory too, by key, for the probes; the view's rows, one entry per batch under its source position, as a
 * view without aggregation keeps them. Both tables go into the same checkpoint as the offsets, so a restart
 * finds the waiting rows that were waiting at the checkpoint and replays the rest; the memory index is read
 * back from the table on the first batch after a restart.
 */
import type { Row, Value } from '../../common/types.ts'
import { compilePredicate, compileProjection } from '../../expr/compile.ts'
import type { EvalContext } from '../../expr/runtime.ts'
import type { IntervalJoinSpec } from '../../planner/interval-join.ts'
import type { ViewPlan } from '../../planner/view-plan.ts'
import { internalError } from '../../common/errors.ts'
import { DueQueue } from './due-queue.ts'
import type { KeyedTable } from './keyed-table.ts'
import { followTable, type ViewFollower } from './view-follower.ts'
import { AppendingOperator, type ChangeSink, type OperatorBatch, type StreamOperator } from './operator.ts'
import type { PositionEncoder } from './append-project.ts'
import type { KeyEncoder } from './keyed-aggregate.ts'

/** A waiting row: its side (0 left, 1 right), its event time, the row, whether it matched (outer joins), its source position. */
export type WaitingEntry = [side: number, time: number, row: Row, matched: boolean, partition: number, offset: number]
/** The view's rows made from one batch. */
export type JoinedEntry = Row[]

export const BEHIND_BOUND = 'event time is behind the watermark by more than the allowed lateness: rows of the other stream it could join may be gone'

const LEFT = 0
const RIGHT = 1
/** Ends the key of an output entry (as AppendProject's batches). */
const BATCH_MARK = '*'
/** Ends the key of an outer join's unmatched row put out when it left state (under its own position). */
const UNMATCHED_MARK = '~'
const EMPTY: Value[] = []

interface Waiting {
  readonly side: number
  readonly group: string
  readonly time: number
  readonly row: Row
  readonly partition: number
  readonly offset: number
  matched: boolean
}

export class IntervalJoin extends AppendingOperator implements StreamOperator {
  readonly role = 'view'
  readonly keyed = null
  private readonly spec: IntervalJoinSpec
  private readonly project: (r: readonly Value[], p: readonly Value[], ctx: EvalContext) => Value[]
  /** ON's conditions besides keys and bound: whether two rows match. */
  private readonly residual: ((r: readonly Value[], p: readonly Value[], ctx: EvalContext) => boolean) | null
  /** The view's WHERE, over each joined (or padded) row. */
  private readonly where: ((r: readonly Value[], p: readonly Value[], ctx: EvalContext) => boolean) | null
  /** Per side: its unmatched rows are put out (the preserved sides of an outer join). */
  private readonly preserved: readonly [boolean, boolean]
  /** Per side: the NULLs standing for its columns in a padded row. */
  private readonly nulls: readonly [Value[], Value[]]
  /** Per side: key group -> waiting rows by their table key. */
  private readonly groups: [Map<string, Map<string, Waiting>>, Map<string, Map<string, Waiting>>] = [new Map(), new Map()]
  /** Waiting rows by table key, due (to leave) when the watermark passes their last possible match. */
  private readonly due = new DueQueue()
  private readonly waiting = new Map<string, Waiting>()
  private restored: Promise<void> | null = null

  /**
   * `joined`: where an aggregation over the join in the same view takes the joined rows (through WHERE) of
   * each step; the operator then keeps and projects none (`output` unused).
   */
  constructor(
    plan: ViewPlan,
    private readonly output: KeyedTable<JoinedEntry>,
    private readonly buffer: KeyedTable<WaitingEntry>,
    private readonly bufferKey: KeyEncoder,
    private readonly encodePosition: PositionEncoder,
    private readonly ctx: EvalContext,
    private readonly joined: ((rows: Row[]) => void) | null = null,
  ) {
    super()
    const spec = plan.intervalJoin
    if (spec === undefined || (plan.body.kind !== 'project' && joined === null)) throw internalError('IntervalJoin built for a plan without an interval join')
    this.spec = spec
    this.project = plan.body.kind === 'project' ? compileProjection(plan.body.output) : (r) => r as Value[]
    this.residual = spec.residual === null ? null : compilePredicate(spec.residual)
    this.where = plan.filter === null ? null : compilePredicate(plan.filter)
    this.preserved = [spec.type === 'left' || spec.type === 'full', spec.type === 'right' || spec.type === 'full']
    this.nulls = [spec.left.columns.map(() => null), spec.right.columns.map(() => null)]
  }

  describe(): string {
    return 'IntervalJoin'
  }

  override bufferedRows(): number {
    return this.waiting.size
  }

  async process(batch: OperatorBatch): Promise<void> {
    await this.restore()
    const rows = batch.rows
    if (rows.length === 0) return
    const spec = this.spec
    const side = batch.partition < spec.left.partitions ? LEFT : RIGHT
    const [timeIndex, keys, lateness] = side === LEFT ? [spec.leftTime, spec.leftKeys, spec.left.allowedLateness] : [spec.rightTime, spec.rightKeys, spec.right.allowedLateness]
    const others = this.groups[1 - side]!
    const { lower, upper, lowerStrict, upperStrict } = spec.bound
    const out: Row[] = []
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!
      const time = row[timeIndex]
      if (typeof time !== 'number') {
        batch.late(batch.partition, batch.offsets[i]!, null, 'event time is NULL')
        continue
      }
      if (time < batch.watermark - lateness) {
        batch.late(batch.partition, batch.offsets[i]!, time, BEHIND_BOUND)
        continue
      }
      const group = groupOf(row, keys)
      let matched = false
      const matches = group === null ? undefined : others.get(group)
      if (matches !== undefined) {
        for (const other of matches.values()) {
          // right.ts - left.ts within [lower, upper]
          const d = side === LEFT ? other.time - time : time - other.time
          if (d < lower || d > upper || (lowerStrict && d === lower) || (upperStrict && d === upper)) continue
          const joined = side === LEFT ? row.concat(other.row) : other.row.concat(row)
          if (this.residual !== null && !this.residual(joined, EMPTY, this.ctx)) continue
          matched = true
          if (!other.matched) this.matchedNow(other)
          this.emit(joined, out)
        }
      }
      const w: Waiting = { side, group: group ?? '', time, row, partition: batch.partition, offset: batch.offsets[i]!, matched }
      if (group !== null && this.hold(w, batch.watermark)) this.store(w)
      else if (!matched && this.preserved[side]) this.emit(this.padded(w), out)
    }
    this.put(out, this.encodePosition(batch.partition, batch.offsets[0]!) + BATCH_MARK)
  }

  /** A step's rows: to the aggregation over the join, or kept as the view's rows under `key`. */
  private put(out: Row[], key: string): void {
    if (out.length === 0) return
    if (this.joined !== null) this.joined(out)
    else this.output.append(key, out, out.length)
  }

  /** A joined (or padded) row through WHERE into the view's rows `out` and to its readers. */
  private emit(joined: Row, out: Row[]): void {
    if (this.where !== null && !this.where(joined, EMPTY, this.ctx)) return
    const row = this.project(joined, EMPTY, this.ctx)
    out.push(row)
    if (this.onOutput !== null && this.joined === null) this.onOutput(row)
  }

  /** The row with NULLs for the other side's columns. */
  private padded(w: Waiting): Row {
    return w.side === LEFT ? w.row.concat(this.nulls[RIGHT]) : this.nulls[LEFT].concat(w.row)
  }

  /** A waiting row's first match: an outer join remembers it in state (it will not be put out padded). */
  private matchedNow(w: Waiting): void {
    w.matched = true
    if (this.preserved[w.side]) this.store(w)
  }

  private store(w: Waiting): void {
    this.buffer.set(this.bufferKey([w.side, w.partition, w.offset]), [w.side, w.time, w.row, w.matched, w.partition, w.offset])
  }

  /** Keeps a row waiting in memory until the watermark passes its last possible match (false: it is past already). */
  private hold(w: Waiting, watermark: number): boolean {
    const key = this.bufferKey([w.side, w.partition, w.offset])
    const spec = this.spec
    const last = w.side === LEFT ? w.time + spec.bound.upper + spec.right.allowedLateness : w.time - spec.bound.lower + spec.left.allowedLateness
    if (last < watermark) return false
    let group = this.groups[w.side]!.get(w.group)
    if (group === undefined) this.groups[w.side]!.set(w.group, (group = new Map()))
    group.set(key, w)
    this.waiting.set(key, w)
    // Due once the watermark is past `last` (times are whole microseconds).
    this.due.set(key, last + 1)
    return true
  }

  /** Rows whose last possible match the watermark has passed leave state. */
  override async onWatermark(watermark: number): Promise<Row[]> {
    await this.restore()
    for (const key of this.due.takeDue(watermark)) this.drop(key)
    return []
  }

  /** A row leaves state; an outer join puts it out padded if it never matched. */
  private drop(key: string): void {
    const w = this.waiting.get(key)
    if (w === undefined) return
    this.waiting.delete(key)
    const group = this.groups[w.side]!.get(w.group)
    group?.delete(key)
    if (group?.size === 0) this.groups[w.side]!.delete(w.group)
    this.buffer.delete(key)
    if (!w.matched && this.preserved[w.side]) {
      const out: Row[] = []
      this.emit(this.padded(w), out)
      this.put(out, this.encodePosition(w.partition, w.offset) + UNMATCHED_MARK)
    }
  }

  /** After a restart: the rows that were waiting at the checkpoint, read back into memory once. */
  private restore(): Promise<void> {
    this.restored ??= (async () => {
      for await (const [, [side, time, row, matched, partition, offset]] of this.buffer.scan()) {
        const keys = side === LEFT ? this.spec.leftKeys : this.spec.rightKeys
        const group = groupOf(row, keys)
        if (group !== null) this.hold({ side, group, time, row, partition, offset, matched: matched === true }, Number.NEGATIVE_INFINITY)
      }
    })()
    return this.restored
  }

  /** Each row of the entry is a record appended. */
  override changes(_key: string, value: JoinedEntry, sink: ChangeSink): void {
    for (const row of value) sink.append(row)
  }

  follow(): ViewFollower {
    return followTable(this.output, (_key, value) => value ?? [])
  }

  async *rows(): AsyncGenerator<Row> {
    for await (const [, value] of this.output.scan()) yield* value
  }
}

/** The key group of a row: its key values encoded, or null when one is NULL (it never matches). */
function groupOf(row: Row, keys: readonly number[]): string | null {
  let s = ''
  for (const k of keys) {
    const v = row[k]
    if (v === null || v === undefined) return null
    s += typeof v === 'string' ? `s${v.length}:${v}` : typeof v === 'bigint' ? `b${v}|` : typeof v === 'number' ? `n${v}|` : `j${JSON.stringify(v, (_, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x))}|`
  }
  return s
}
