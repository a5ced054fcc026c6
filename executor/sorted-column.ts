/**
 * One column of a micro-batch with its rows ordered by value, built once per batch and shared by every
 * trigger with a range on the column: the rows of `20 <= level <= 40` are the run between two binary
 * searches. Values compare with JavaScript's operators, as the engine's compiled comparisons do (numbers of
 * every numeric type and times as numbers, text by UTF-16 code units); NULL, NaN and values of another
 * representation are left out, since no comparison with a constant is true for them.
 */
import type { Value } from '../common/types.ts'
import type { Bound } from '../planner/index-key.ts'

export class SortedColumn {
  /** Row indexes, ordered by their value. */
  private readonly order: Int32Array
  /** The values in that order. */
  private readonly values: Float64Array | string[]
  private readonly batchSize: number

  /** `values(i)`: row i's value (null for rows without one). */
  constructor(batchSize: number, values: (i: number) => Value, domain: 'number' | 'string') {
    this.batchSize = batchSize
    const picked: number[] = []
    if (domain === 'number') {
      const byRow = new Float64Array(batchSize)
      for (let i = 0; i < batchSize; i++) {
        const v = values(i)
        if (typeof v !== 'number' || Number.isNaN(v)) continue
        byRow[i] = v
        picked.push(i)
      }
      this.order = Int32Array.from(picked).sort((a, b) => byRow[a]! - byRow[b]!)
      this.values = Float64Array.from(this.order, (i) => byRow[i]!)
    } else {
      const byRow: string[] = new Array<string>(batchSize)
      for (let i = 0; i < batchSize; i++) {
        const v = values(i)
        if (typeof v !== 'string') continue
        byRow[i] = v
        picked.push(i)
      }
      this.order = Int32Array.from(picked).sort((a, b) => (byRow[a]! < byRow[b]! ? -1 : byRow[a]! > byRow[b]! ? 1 : 0))
      this.values = Array.from(this.order, (i) => byRow[i]!)
    }
  }

  countBetween(lower: Bound | null, upper: Bound | null): number {
    return Math.max(0, this.end(upper) - this.start(lower))
  }

  /** The rows (indexes, ascending) whose value lies within the bounds (null: unbounded). */
  rowsBetween(lower: Bound | null, upper: Bound | null): number[] {
    const from = this.start(lower)
    const to = this.end(upper)
    if (to <= from) return []
    const n = to - from
    // A long run is put back in row order by marking rows in a bitmap and reading it, a short one by sorting.
    if (n * Math.log2(n + 1) <= this.batchSize) {
      const run = this.order.slice(from, to).sort()
      const out = new Array<number>(n)
      for (let p = 0; p < n; p++) out[p] = run[p]!
      return out
    }
    const marked = new Uint8Array(this.batchSize)
    for (let p = from; p < to; p++) marked[this.order[p]!] = 1
    const out: number[] = []
    for (let i = 0; i < marked.length; i++) if (marked[i] === 1) out.push(i)
    return out
  }

  /** The first position inside the lower bound. */
  private start(lower: Bound | null): number {
    if (lower === null) return 0
    return this.firstPast(lower.value, !lower.inclusive)
  }

  /** The first position past the upper bound. */
  private end(upper: Bound | null): number {
    if (upper === null) return this.order.length
    return this.firstPast(upper.value, upper.inclusive)
  }

  /**
   * Binary search for the first position whose value is above `b` (`strict`) or at least `b`. No closure
   * per search: each trigger with a range searches every batch.
   */
  private firstPast(b: number | string, strict: boolean): number {
    const values = this.values
    let lo = 0
    let hi = values.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      const v = values[mid]!
      if (strict ? v > b : v >= b) hi = mid
      else lo = mid + 1
    }
    return lo
  }
}
