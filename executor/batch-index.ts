/**
 * What many queries over one micro-batch can share instead of each computing it again: per row, the value
 * of the stream's watermark expression; from any row on, how many events there are and their largest
 * watermark; and, per column asked for, which rows hold which value. Triggers use it so that one whose
 * WHEN requires `NEW.type = 'fight'` looks only at the fights of a batch (an index on the event's
 * conditions), however many triggers watch the stream.
 */
import type { Row, Value } from '../common/types.ts'

export interface BatchLike {
  readonly offsets: readonly number[]
  readonly rows: readonly (Row | null)[]
}

export class BatchIndex {
  /** Events (non-null rows) from row i to the end. */
  private readonly eventsFrom: Int32Array
  /** Largest watermark value from row i to the end (-Infinity: none). */
  private readonly watermarkFrom: Float64Array
  private readonly columns = new Map<number, Map<Value, number[]>>()

  constructor(
    private readonly batch: BatchLike,
    watermarkOf: ((row: Row) => Value) | null,
  ) {
    const n = batch.rows.length
    this.eventsFrom = new Int32Array(n + 1)
    this.watermarkFrom = new Float64Array(n + 1).fill(Number.NEGATIVE_INFINITY)
    for (let i = n - 1; i >= 0; i--) {
      const row = batch.rows[i]
      this.eventsFrom[i] = this.eventsFrom[i + 1]! + (row === null || row === undefined ? 0 : 1)
      let w = this.watermarkFrom[i + 1]!
      if (row !== null && row !== undefined && watermarkOf !== null) {
        const v = watermarkOf(row)
        if (typeof v === 'number' && v > w) w = v
      }
      this.watermarkFrom[i] = w
    }
  }

  /** The first row at or after source offset `from`. */
  firstAt(from: number): number {
    const offsets = this.batch.offsets
    let lo = 0
    let hi = offsets.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (offsets[mid]! < from) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  events(start: number): number {
    return this.eventsFrom[start] ?? 0
  }

  maxWatermark(start: number): number {
    return this.watermarkFrom[start] ?? Number.NEGATIVE_INFINITY
  }

  /** The rows (indexes, ascending) whose `column` equals `value`. */
  rowsWith(column: number, value: Value): readonly number[] {
    let index = this.columns.get(column)
    if (index === undefined) {
      index = new Map()
      this.batch.rows.forEach((row, i) => {
        if (row === null || row === undefined) return
        const v = row[column] ?? null
        const list = index!.get(v)
        if (list === undefined) index!.set(v, [i])
        else list.push(i)
      })
      this.columns.set(column, index)
    }
    return index.get(value) ?? []
  }
}

const indexes = new WeakMap<BatchLike, BatchIndex>()

/** The batch's shared index (built on first use; the stream's queries share one watermark expression). */
export function batchIndex(batch: BatchLike, watermarkOf: ((row: Row) => Value) | null): BatchIndex {
  let index = indexes.get(batch)
  if (index === undefined) {
    index = new BatchIndex(batch, watermarkOf)
    indexes.set(batch, index)
  }
  return index
}
