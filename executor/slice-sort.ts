/**
 * A stable sort that a pull query can interrupt: runs of SORT_RUN items are sorted with Array.sort, then
 * merged pairwise, round after round, with a tick of the query's guard per item merged. It yields (as the
 * executor's generators do) whenever the guard says the slice of time is over.
 */
import type { QueryGuard } from './query-budget.ts'

/** Inputs up to this size are sorted with one Array.sort. */
export const SORT_RUN = 2048

export function* sortInSlices<T>(items: T[], cmp: (a: T, b: T) => number, guard: QueryGuard): Generator<void, T[], void> {
  if (items.length <= SORT_RUN) return items.sort(cmp)
  let level: T[][] = []
  for (let i = 0; i < items.length; i += SORT_RUN) {
    level.push(items.slice(i, i + SORT_RUN).sort(cmp))
    guard.checkInterrupts()
    yield
  }
  while (level.length > 1) {
    const next: T[][] = []
    for (let i = 0; i < level.length; i += 2) {
      const a = level[i]!
      const b = level[i + 1]
      if (b === undefined) {
        next.push(a)
        continue
      }
      const m: T[] = new Array<T>(a.length + b.length)
      let x = 0
      let y = 0
      let o = 0
      while (x < a.length && y < b.length) {
        if (guard.tick()) yield
        // Ties take the left run's item first: the sort stays stable.
        m[o++] = cmp(b[y]!, a[x]!) < 0 ? b[y++]! : a[x++]!
      }
      while (x < a.length) m[o++] = a[x++]!
      while (y < b.length) m[o++] = b[y++]!
      next.push(m)
    }
    level = next
  }
  return level[0]!
}
