/**
 * The envelope of a repartition topic's records (docs/cluster-repartitioning.md, "Watermarks of repartition
 * topics"): each record the writer of source partition q writes carries q, q's watermark after it and
 * whether q was idle, so that the task reading the topic can take the least watermark over source partitions
 * (executor/carried-watermarks.ts). A watermark-only record carries no event.
 *
 * Layout: version (1 byte), flags (1 byte: IDLE, MARK_ONLY), source partition (uint32 BE), watermark
 * (float64 BE, microseconds; minus infinity before the partition's first event), then the event's record
 * as the stream's producer wrote it. 14 bytes per record: cheaper than headers, which the engine's record
 * reader skips unparsed. A watermark-only record has, in place of the event, the writer's position in its
 * source partition (float64 BE: the offset after what it had read): an idle mark is true only while the
 * source partition still ends there (carried-watermarks.ts), so that the mark of a writer that died does
 * not keep its partition idle while records arrive there that no one writes on.
 */
import type { CarriedMark, SourceBatch } from '../executor/source.ts'

const VERSION = 2
const IDLE = 1
const MARK_ONLY = 2
const HEADER_BYTES = 14

/** One event's record with its writer's source partition and watermark (events are never idle marks). */
export function wrapRecord(payload: Buffer, partition: number, watermark: number): Buffer {
  return Buffer.concat([header(partition, watermark, 0), payload])
}

/** A watermark-only record: the writer's source partition, its watermark, idle or not, and the writer's position there. */
export function wrapMark(partition: number, watermark: number, idle: boolean, position: number): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + 8)
  header(partition, watermark, MARK_ONLY | (idle ? IDLE : 0)).copy(out, 0)
  out.writeDoubleBE(position, HEADER_BYTES)
  return out
}

function header(partition: number, watermark: number, flags: number): Buffer {
  const head = Buffer.allocUnsafe(HEADER_BYTES)
  head.writeUInt8(VERSION, 0)
  head.writeUInt8(flags, 1)
  head.writeUInt32BE(partition, 2)
  head.writeDoubleBE(watermark, 6)
  return head
}

/**
 * Opens a batch of enveloped records: the events' records with their offsets, and every record's mark. A
 * record without a readable envelope is passed on whole, with no mark (its decode then fails: a dead
 * letter, as any unreadable record).
 */
export function openEnvelopes(batch: SourceBatch): SourceBatch {
  const n = batch.records.length
  if (n === 0) return batch
  const given = batch.offsets
  if (given === undefined) throw new Error('enveloped records need their offsets')
  const records: Buffer[] = []
  const offsets: number[] = []
  const timestamps: number[] | undefined = batch.timestamps === undefined ? undefined : []
  const marks: CarriedMark[] = []
  for (let i = 0; i < n; i++) {
    const raw = batch.records[i]!
    const r = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw
    const offset = given[i]!
    const ok = r.length >= HEADER_BYTES && r[0] === VERSION
    const markOnly = ok && (r[1]! & MARK_ONLY) !== 0
    if (ok) {
      const mark = { offset, partition: r.readUInt32BE(2), watermark: r.readDoubleBE(6), idle: (r[1]! & IDLE) !== 0 }
      // An idle mark without the writer's position vouches for nothing: taken as busy.
      marks.push(markOnly ? { ...mark, ...(r.length >= HEADER_BYTES + 8 ? { position: r.readDoubleBE(HEADER_BYTES) } : { idle: false }) } : mark)
    }
    if (markOnly) continue
    records.push(ok ? r.subarray(HEADER_BYTES) : r)
    offsets.push(offset)
    timestamps?.push(batch.timestamps![i]!)
  }
  return { records, offsets, ...(timestamps === undefined ? {} : { timestamps }), nextOffset: batch.nextOffset, marks }
}
