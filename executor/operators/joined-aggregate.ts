/**
 * An aggregation over an interval join in one view (`SELECT o.offer, count(*), sum(p.amount) FROM offers o
 * JOIN purchases p ON ... GROUP BY o.offer`): the join (interval-join.ts) hands the rows it makes in a step
 * straight to the GROUP BY (keyed-aggregate.ts) instead of keeping them; the view is the aggregation's, read
 * by key, followed and sunk as any GROUP BY view. A checkpoint takes both operators' tables, so the waiting
 * rows, the groups and the offsets of both streams land together.
 */
import type { Row, Value } from '../../common/types.ts'
import type { Mutation } from '../state/rocks.ts'
import type { ViewFollower } from './view-follower.ts'
import type { ChangeSink, ExpiryPass, KeyedReads, OperatorBatch, StreamOperator } from './operator.ts'

export class JoinedAggregate implements StreamOperator {
  readonly role = 'view'
  private pending: Row[] = []

  /** `join` hands its rows to `take` (given to it at construction): the rows of the step under way. */
  constructor(
    private readonly join: StreamOperator,
    private readonly aggregate: StreamOperator,
  ) {}

  /** What the join built for this operator calls with each step's joined rows. */
  readonly take = (rows: Row[]): void => {
    for (const r of rows) this.pending.push(r)
  }

  describe(): string {
    return `${this.aggregate.describe()} over IntervalJoin`
  }

  get keyed(): KeyedReads | null {
    return this.aggregate.keyed
  }

  async process(batch: OperatorBatch): Promise<void> {
    await this.join.process(batch)
    await this.flush(batch.partition, batch.offsets[0] ?? 0, batch.watermark, batch.late)
  }

  /** The joined rows of the step into the aggregation (their positions are the batch's: it does not read them). */
  private async flush(partition: number, offset: number, watermark: number, late: OperatorBatch['late']): Promise<void> {
    if (this.pending.length === 0) return
    const rows = this.pending
    this.pending = []
    await this.aggregate.process({ partition, offsets: rows.map(() => offset), rows, signs: undefined, windowStarts: undefined, watermark, late })
  }

  async onWatermark(watermark: number, forReaders: boolean): Promise<Row[]> {
    // An outer join's unmatched rows leave now, padded: they count too.
    await this.join.onWatermark(watermark, false)
    await this.flush(0, 0, watermark, () => undefined)
    return this.aggregate.onWatermark(watermark, forReaders)
  }

  rewindWatermark(watermark: number): void {
    this.join.rewindWatermark(watermark)
    this.aggregate.rewindWatermark(watermark)
  }

  resumeAt(watermark: number): void {
    this.join.resumeAt(watermark)
    this.aggregate.resumeAt(watermark)
  }

  expire(watermark: number): Promise<ExpiryPass> | null {
    return this.aggregate.expire(watermark)
  }

  rows(watermark: number): AsyncGenerator<Row> {
    return this.aggregate.rows(watermark)
  }

  follow(watermark: () => number): ViewFollower | null {
    return this.aggregate.follow(watermark)
  }

  changes(key: string, value: Value[], sink: ChangeSink): void {
    this.aggregate.changes(key, value, sink)
  }

  attachReader(collect: (row: Row) => void): void {
    this.aggregate.attachReader(collect)
  }

  rowsForReader(watermark: number): Promise<Row[]> {
    return this.aggregate.rowsForReader(watermark)
  }

  detachReader(): void {
    this.aggregate.detachReader()
  }

  takeChanges(rows: Row[], signs: number[]): void {
    this.aggregate.takeChanges(rows, signs)
  }

  bufferedRows(): number {
    return this.join.bufferedRows()
  }

  checkpoint(out: Mutation[]): void {
    this.join.checkpoint(out)
    this.aggregate.checkpoint(out)
  }
}
