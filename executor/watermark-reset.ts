/**
 * ALTER STREAM name RESET WATERMARK [TO time]: after a mistake (events from a misconfigured producer
 * stored before Sluice refused them, or a watermark expression gone wrong) every view's watermark over the
 * stream is set anew:
 *
 * - without TO, to what the valid events each view has read make it: the stream's log is read again up to
 *   each view's position and, per partition, the largest watermark value of the events that decode today
 *   is taken (records decoding refuses, such as event times out of range, count for nothing);
 * - with TO, every partition's watermark is the given time.
 *
 * The watermark then moves on as usual. The views' state is kept; windows the old watermark had closed are
 * open again (see ContinuousQuery.resetWatermark). This module computes the partition watermarks.
 */
import type { Row, Value } from '../common/types.ts'
import type { StreamDecoder } from './record-decoder.ts'
import type { StreamSource } from './source.ts'

/**
 * Per view (by index in `positions`) and partition: the largest watermark value of the events before the
 * view's position there, or -Infinity when none has one.
 */
export async function partitionWatermarksFromLog(
  source: StreamSource,
  decode: StreamDecoder,
  watermarkOf: (row: Row) => Value,
  positions: readonly (readonly number[])[],
  partitions: number,
  batchSize: number,
): Promise<number[][]> {
  const out = positions.map(() => new Array<number>(partitions).fill(Number.NEGATIVE_INFINITY))
  for (let p = 0; p < partitions; p++) {
    const ends = [...new Set(positions.map((o) => o[p] ?? 0))].sort((a, b) => a - b)
    const maxBefore = new Map<number, number>()
    const last = ends[ends.length - 1] ?? 0
    let max = Number.NEGATIVE_INFINITY
    let k = 0
    let offset = 0
    while (offset < last) {
      const { records, nextOffset, offsets, timestamps } = await source.read(p, offset, batchSize)
      if (records.length === 0) {
        if (nextOffset <= offset) break
        offset = nextOffset
        continue
      }
      for (let i = 0; i < records.length; i++) {
        const o = offsets?.[i] ?? offset + i
        while (k < ends.length && ends[k]! <= o) maxBefore.set(ends[k++]!, max)
        if (o >= last) break
        let row: Row | null
        try {
          row = decode(records[i]!, p, o, timestamps?.[i] ?? null)
        } catch {
          continue
        }
        if (row === null) continue
        const w = watermarkOf(row)
        if (typeof w === 'number' && w > max && w < Number.POSITIVE_INFINITY) max = w
      }
      offset = nextOffset
    }
    while (k < ends.length) maxBefore.set(ends[k++]!, max)
    positions.forEach((o, q) => (out[q]![p] = maxBefore.get(o[p] ?? 0)!))
  }
  return out
}
