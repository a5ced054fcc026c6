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

/** A waiting row: its side (0 left, 1 right), its event time and the row. */
export type WaitingEntry = [side: number, time: number, row: Row]
/** The view's rows made from one batch. */
export type JoinedEntry = Row[]

export const BEHIND_BOUND = 'event time is behind the watermark by more than the allowed lateness: rows of the other stream it could join may be gone'

const LEFT = 0
const RIGHT = 1
/** Ends the key of an output entry (as AppendProject's batches). */
const BATCH_MARK = '*'
const EMPTY: Value[] = []

interface Waiting {
  readonly side: number
  readonly group: string
  readonly time: number
  readonly row: Row
}

export class IntervalJoin extends AppendingOperator implements StreamOperator {
  readonly role = 'view'
  readonly keyed = null
  private readonly spec: IntervalJoinSpec
  private readonly project: (r: readonly Value[], p: readonly Value[], ctx: EvalContext) => Value[]
  private readonly test: ((r: readonly Value[], p: readonly Value[], ctx: EvalContext) => boolean) | null
  /** Per side: key group -> waiting rows by their table key. */
  private readonly groups: [Map<string, Map<string, Waiting>>, Map<string, Map<string, Waiting>>] = [new Map(), new Map()]
  /** Waiting rows by table key, due (to leave) when the watermark passes their last possible match. */
  private readonly due = new DueQueue()
  private readonly waiting = new Map<string, Waiting>()
  private restored: Promise<void> | null = null

  constructor(
    plan: ViewPlan,
    private readonly output: KeyedTable<JoinedEntry>,
    private readonly buffer: KeyedTable<WaitingEntry>,
    private readonly bufferKey: KeyEncoder,
    private readonly encodePosition: PositionEncoder,
    private readonly ctx: EvalContext,
  ) {
    super()
    const spec = plan.intervalJoin
    if (spec === undefined || plan.body.kind !== 'project') throw internalError('IntervalJoin built for a plan without an interval join')
    this.spec = spec
    this.project = compileProjection(plan.body.output)
    const conditions = [spec.residual, plan.filter].filter((c) => c !== null)
    this.test = conditions.length === 0 ? null : compilePredicate(conditions.length === 1 ? conditions[0]! : { kind: 'logic', op: 'and', args: conditions, type: conditions[0]!.type })
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
      if (group === null) continue
      const matches = others.get(group)
      if (matches !== undefined) {
        for (const other of matches.values()) {
          // right.ts - left.ts within [lower, upper]
          const d = side === LEFT ? other.time - time : time - other.time
          if (d < lower || d > upper || (lowerStrict && d === lower) || (upperStrict && d === upper)) continue
          const joined = side === LEFT ? row.concat(other.row) : other.row.concat(row)
          if (this.test !== null && !this.test(joined, EMPTY, this.ctx)) continue
          out.push(this.project(joined, EMPTY, this.ctx))
        }
      }
      const key = this.bufferKey([side, batch.partition, batch.offsets[i]!])
      if (this.hold(key, { side, group, time, row }, batch.watermark)) this.buffer.set(key, [side, time, row])
    }
    if (out.length === 0) return
    if (this.onOutput !== null) for (const r of out) this.onOutput(r)
    this.output.append(this.encodePosition(batch.partition, batch.offsets[0]!) + BATCH_MARK, out)
  }

  /** Keeps a row waiting in memory until the watermark passes its last possible match (false: it is past already). */
  private hold(key: string, w: Waiting, watermark: number): boolean {
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

  private drop(key: string): void {
    const w = this.waiting.get(key)
    if (w === undefined) return
    this.waiting.delete(key)
    const group = this.groups[w.side]!.get(w.group)
    group?.delete(key)
    if (group?.size === 0) this.groups[w.side]!.delete(w.group)
    this.buffer.delete(key)
  }

  /** After a restart: the rows that were waiting at the checkpoint, read back into memory once. */
  private restore(): Promise<void> {
    this.restored ??= (async () => {
      for await (const [key, [side, time, row]] of this.buffer.scan()) {
        const keys = side === LEFT ? this.spec.leftKeys : this.spec.rightKeys
        const group = groupOf(row, keys)
        if (group !== null) this.hold(key, { side, group, time, row }, Number.NEGATIVE_INFINITY)
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
