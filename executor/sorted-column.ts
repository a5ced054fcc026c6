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
    // The rows with a value of the domain and their values, in row order, then sorted together in place:
    // no comparator callback (a typed array's sort calls one per comparison, which was most of the build).
    let n = 0
    if (domain === 'number') {
      const order = new Int32Array(batchSize)
      const byValue = new Float64Array(batchSize)
      for (let i = 0; i < batchSize; i++) {
        const v = values(i)
        if (typeof v !== 'number' || v !== v) continue
        order[n] = i
        byValue[n++] = v
      }
      this.order = order.subarray(0, n)
      this.values = byValue.subarray(0, n)
      sortTogether(this.values, this.order, 0, n)
    } else {
      const order = new Int32Array(batchSize)
      const byValue: string[] = []
      for (let i = 0; i < batchSize; i++) {
        const v = values(i)
        if (typeof v !== 'string') continue
        order[n++] = i
        byValue.push(v)
      }
      this.order = order.subarray(0, n)
      this.values = byValue
      sortTogether(byValue, this.order, 0, n)
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

/** Values the sort compares with `<` (numbers, or text by UTF-16 code units as the engine compares text). */
type Sortable = Float64Array | string[]

/**
 * Sorts `values[lo, hi)` ascending and moves `order` along with it (equal values in any order): quicksort
 * with a median of three and Hoare's partition (runs of equal values, common in a batch, split evenly),
 * insertion sort below 16 values, and a heap sort past twice the depth a balanced split gives, so no input
 * takes quadratic time.
 */
function sortTogether(values: Sortable, order: Int32Array, lo: number, hi: number): void {
  let depth = 2 * Math.ceil(Math.log2(hi - lo + 1))
  while (hi - lo > 16) {
    if (depth-- === 0) {
      heapSort(values, order, lo, hi)
      return
    }
    const mid = lo + ((hi - lo) >> 1)
    // Median of three into `mid`, then its value is the pivot.
    if (values[mid]! < values[lo]!) swap(values, order, mid, lo)
    if (values[hi - 1]! < values[lo]!) swap(values, order, hi - 1, lo)
    if (values[hi - 1]! < values[mid]!) swap(values, order, hi - 1, mid)
    const pivot = values[mid]!
    let i = lo - 1
    let j = hi
    for (;;) {
      do i++
      while (values[i]! < pivot)
      do j--
      while (pivot < values[j]!)
      if (i >= j) break
      swap(values, order, i, j)
    }
    // [lo, j] <= pivot <= [j + 1, hi): recurse into the smaller part, loop on the larger.
    if (j + 1 - lo < hi - j - 1) {
      sortTogether(values, order, lo, j + 1)
      lo = j + 1
    } else {
      sortTogether(values, order, j + 1, hi)
      hi = j + 1
    }
  }
  for (let i = lo + 1; i < hi; i++) {
    const v = values[i]!
    const o = order[i]!
    let j = i - 1
    while (j >= lo && v < values[j]!) {
      values[j + 1] = values[j]!
      order[j + 1] = order[j]!
      j--
    }
    values[j + 1] = v
    order[j + 1] = o
  }
}

function swap(values: Sortable, order: Int32Array, a: number, b: number): void {
  const v = values[a]!
  values[a] = values[b]!
  values[b] = v
  const o = order[a]!
  order[a] = order[b]!
  order[b] = o
}

function heapSort(values: Sortable, order: Int32Array, lo: number, hi: number): void {
  const n = hi - lo
  for (let i = (n >> 1) - 1; i >= 0; i--) siftDown(values, order, lo, i, n)
  for (let end = n - 1; end > 0; end--) {
    swap(values, order, lo, lo + end)
    siftDown(values, order, lo, 0, end)
  }
}

function siftDown(values: Sortable, order: Int32Array, lo: number, at: number, n: number): void {
  for (;;) {
    let largest = at
    const l = 2 * at + 1
    const r = l + 1
    if (l < n && values[lo + largest]! < values[lo + l]!) largest = l
    if (r < n && values[lo + largest]! < values[lo + r]!) largest = r
    if (largest === at) return
    swap(values, order, lo + at, lo + largest)
    at = largest
  }
}
