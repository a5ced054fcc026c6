import { describe, expect, it } from 'vitest'
import { Types, type Row } from '../common/types.ts'
import { compileDecoder } from './decode.ts'
import type { StreamSource } from './source.ts'
import { partitionWatermarksFromLog } from './watermark-reset.ts'

const at = (minute: number) => Date.UTC(2026, 11, 6, 10, minute) * 1000

/** Two partitions of JSON records, read two at a time; partition 1 skips offsets (as Kafka's markers do). */
function source(parts: string[][], skip = false): StreamSource {
  return {
    partitionCount: parts.length,
    endOffset: (p) => (skip && p === 1 ? parts[p]!.length * 2 : parts[p]!.length),
    async read(p, from, max) {
      if (skip && p === 1) {
        const first = Math.ceil(from / 2)
        const records = parts[1]!.slice(first, first + max)
        return { records, offsets: records.map((_, i) => (first + i) * 2), nextOffset: (first + records.length) * 2 }
      }
      const records = parts[p]!.slice(from, from + max)
      return { records, nextOffset: from + records.length }
    },
    async close() {},
  }
}

describe('partitionWatermarksFromLog', () => {
  const decode = compileDecoder([{ name: 'id', type: Types.int4, nullable: true }, { name: 'ts', type: Types.timestamptz, nullable: false }])
  const rec = (id: number, ts: string | number) => JSON.stringify({ id, ts })
  const parts = [
    [rec(1, '2026-12-06T10:01:00Z'), rec(2, 1e300), rec(3, '2026-12-06T10:03:00Z'), rec(4, 'infinity'), rec(5, '2026-12-06T10:02:00Z')],
    [rec(6, '2026-12-06T10:05:00Z'), '{oops', rec(7, 9e15)],
  ]

  it('takes, per view and partition, the largest watermark of the valid events before its position', async () => {
    const out = await partitionWatermarksFromLog(source(parts), (r) => decode(r), (row: Row) => row[1]!, [[5, 3], [2, 0], [3, 1]], 2, 2)
    expect(out).toEqual([
      [at(3), at(5)],
      [at(1), Number.NEGATIVE_INFINITY],
      [at(3), at(5)],
    ])
  })

  it('follows offsets that skip numbers', async () => {
    const out = await partitionWatermarksFromLog(source(parts, true), (r) => decode(r), (row: Row) => row[1]!, [[0, 6], [0, 1]], 2, 1)
    expect(out).toEqual([
      [Number.NEGATIVE_INFINITY, at(5)],
      [Number.NEGATIVE_INFINITY, at(5)],
    ])
  })
})
