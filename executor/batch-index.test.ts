import { describe, expect, test } from 'vitest'
import { BatchIndex } from './batch-index.ts'

describe('BatchIndex', () => {
  const batch = {
    offsets: [10, 11, 12, 13, 14],
    rows: [['fight', 5], null, ['login', 9], ['fight', 7], ['fight', 2]],
  }
  const index = new BatchIndex(batch, (row) => row[1] ?? null)

  test('counts events and the largest watermark from any row on, skipping dead letters', () => {
    expect(index.events(0)).toBe(4)
    expect(index.events(index.firstAt(12))).toBe(3)
    expect(index.maxWatermark(0)).toBe(9)
    expect(index.maxWatermark(index.firstAt(13))).toBe(7)
    expect(index.events(index.firstAt(99))).toBe(0)
    expect(index.maxWatermark(index.firstAt(99))).toBe(Number.NEGATIVE_INFINITY)
  })

  test('gives the rows holding a value of a column, in order', () => {
    expect(index.rowsWith(0, 'fight')).toEqual([0, 3, 4])
    expect(index.rowsWith(0, 'login')).toEqual([2])
    expect(index.rowsWith(0, 'shop')).toEqual([])
  })
})
