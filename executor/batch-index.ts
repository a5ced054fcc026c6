/**
 * What many queries over one micro-batch can share instead of each computing it again: per row, the value
 * of the stream's watermark expression; from any row on, how many events there are and their largest
 * watermark; and, per column asked for, which rows hold which value. Triggers use it so that one whose
 * WHEN requires `NEW.type = 'fight'` looks only at the fights of a batch (an index on the event's
 * conditions), however many triggers watch the stream.
 */
import type { Row, Value } from '../common/types.ts'
import { assertNever } from '../common/errors.ts'
import type { IndexKey, RangeKey } from '../planner/index-key.ts'
import { SortedColumn } from './sorted-column.ts'

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
  /** Per column and domain asked for in a range (`3:number`): its rows ordered by value. */
  private readonly sorted = new Map<string, SortedColumn>()

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

  /** The rows (indexes, ascending) that satisfy the key. */
  rowsFor(key: IndexKey): readonly number[] {
    switch (key.kind) {
      case 'eq':
        return this.rowsWith(key.column, key.value)
      case 'set':
        return this.rowsIn(key.column, key.values)
      case 'range':
        return this.sortedColumn(key).rowsBetween(key.lower, key.upper)
      default:
        return assertNever(key)
    }
  }

  /**
   * The rows (ascending) of the key that holds the fewest: every key must hold, so the others need not be
   * looked at. Only the chosen key's rows are put together; the others are only counted.
   */
  narrowest(keys: readonly IndexKey[]): readonly number[] {
    let best = -1
    let fewest = Number.POSITIVE_INFINITY
    for (let k = 0; k < keys.length && fewest > 0; k++) {
      const n = this.count(keys[k]!)
      if (n < fewest) {
        fewest = n
        best = k
      }
    }
    return best < 0 || fewest === 0 ? [] : this.rowsFor(keys[best]!)
  }

  /** How many rows satisfy the key. */
  count(key: IndexKey): number {
    switch (key.kind) {
      case 'eq':
        return this.rowsWith(key.column, key.value).length
      case 'set': {
        let n = 0
        for (const v of key.values) n += this.rowsWith(key.column, v).length
        return n
      }
      case 'range':
        return this.sortedColumn(key).countBetween(key.lower, key.upper)
      default:
        return assertNever(key)
    }
  }

  /** The union of the rows of each value (the values are distinct, so the lists are disjoint). */
  private rowsIn(column: number, values: readonly Value[]): readonly number[] {
    const lists = values.map((v) => this.rowsWith(column, v)).filter((l) => l.length > 0)
    if (lists.length <= 1) return lists[0] ?? []
    const out = new Int32Array(lists.reduce((n, l) => n + l.length, 0))
    let at = 0
    for (const l of lists) for (const i of l) out[at++] = i
    return Array.from(out.sort())
  }

  private sortedColumn(key: RangeKey): SortedColumn {
    const name = `${key.column}:${key.domain}`
    let s = this.sorted.get(name)
    if (s === undefined) {
      s = new SortedColumn(this.batch.rows, key.column, key.domain)
      this.sorted.set(name, s)
    }
    return s
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
