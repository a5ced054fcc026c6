import { describe, expect, test } from 'vitest'
import type { Value } from '../common/types.ts'
import type { Bound } from '../planner/index-key.ts'
import { SortedColumn } from './sorted-column.ts'

/** A small deterministic generator (the batches are the same on every run). */
function generator(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

/** The rows within the bounds, by testing each row with JavaScript's operators (what the index must agree with). */
function naive(values: readonly Value[], domain: 'number' | 'string', lower: Bound | null, upper: Bound | null): number[] {
  const out: number[] = []
  values.forEach((v, i) => {
    if (typeof v !== domain || v !== v) return
    const x = v as number | string
    if (lower !== null && (lower.inclusive ? !(x >= lower.value) : !(x > lower.value))) return
    if (upper !== null && (upper.inclusive ? !(x <= upper.value) : !(x < upper.value))) return
    out.push(i)
  })
  return out
}

describe('SortedColumn', () => {
  // Sizes around the insertion-sort cut-off and past it; values with many repeats (as a batch's levels
  // have), few repeats, all equal, sorted and reversed runs, NULL, NaN, -0 and values of the other domain.
  const shapes: Record<string, (r: () => number, i: number, n: number) => Value> = {
    repeats: (r) => Math.floor(r() * 10),
    spread: (r) => r() * 1e6 - 5e5,
    equal: () => 7,
    ascending: (_, i) => i,
    descending: (_, i, n) => n - i,
    mixed: (r, i) => (i % 7 === 0 ? null : i % 11 === 0 ? Number.NaN : i % 13 === 0 ? -0 : i % 17 === 0 ? 'x' : Math.floor(r() * 50) / 2),
  }

  for (const [shape, make] of Object.entries(shapes)) {
    test(`numbers (${shape}): every range gives the rows the operators give, in row order`, () => {
      const r = generator(shape.length)
      for (const n of [0, 1, 2, 15, 16, 17, 40, 1000, 2500]) {
        const values = Array.from({ length: n }, (_, i) => make(r, i, n))
        const column = new SortedColumn(n, (i) => values[i] ?? null, 'number')
        const numbers = values.filter((v): v is number => typeof v === 'number' && v === v)
        const probes = [...numbers.slice(0, 4), -1e9, 1e9, 0, 3.5]
        for (const a of probes) {
          for (const b of probes.slice(0, 3)) {
            for (const [li, ui] of [[true, true], [false, true], [true, false], [false, false]] as const) {
              const lower = { value: Math.min(a, b), inclusive: li }
              const upper = { value: Math.max(a, b), inclusive: ui }
              const both = naive(values, 'number', lower, upper)
              expect(column.rowsBetween(lower, upper)).toEqual(both)
              expect(column.countBetween(lower, upper)).toBe(both.length)
              expect(column.rowsBetween(lower, null)).toEqual(naive(values, 'number', lower, null))
              expect(column.rowsBetween(null, upper)).toEqual(naive(values, 'number', null, upper))
            }
          }
        }
      }
    })
  }

  test('text compares by UTF-16 code units, NULL and numbers left out', () => {
    const r = generator(3)
    const words = ['a', 'B', 'ab', 'é', 'Z', 'aa', '', 'zz', '\u{1F600}', 'b']
    for (const n of [5, 16, 33, 300]) {
      const values: Value[] = Array.from({ length: n }, (_, i) => (i % 9 === 0 ? null : i % 10 === 0 ? 5 : words[Math.floor(r() * words.length)]!))
      const column = new SortedColumn(n, (i) => values[i] ?? null, 'string')
      for (const a of words) {
        for (const b of words) {
          if (!(a <= b)) continue
          const lower = { value: a, inclusive: true }
          const upper = { value: b, inclusive: false }
          expect(column.rowsBetween(lower, upper)).toEqual(naive(values, 'string', lower, upper))
          expect(column.countBetween(lower, upper)).toBe(naive(values, 'string', lower, upper).length)
        }
      }
    }
  })
})
