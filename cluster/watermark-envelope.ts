/**
 * The envelope of a repartition topic's records (docs/cluster.md, "Watermarks of repartition topics"): each
 * record the writer of source partition q writes carries q, q's watermark after it and whether q was idle,
 * so that the task reading the topic can take the least watermark over source partitions
 * (executor/carried-watermarks.ts). A watermark-only record carries no event.
 *
 * Layout: version (1 byte), flags (1 byte: IDLE, MARK_ONLY), source partition (uint32 BE), watermark
 * (float64 BE, microseconds; minus infinity before the partition's first event), then the event's record
 * as the stream's producer wrote it. 14 bytes per record: cheaper than headers, which the engine's record
 * reader skips unparsed.
 */
import type { CarriedMark, SourceBatch } from '../executor/source.ts'

const VERSION = 1
const IDLE = 1
const MARK_ONLY = 2
const HEADER_BYTES = 14

/** One record: the event's own bytes (null: watermark-only) with its writer's source partition and watermark. */
export function wrapRecord(payload: Buffer | null, partition: number, watermark: number, idle: boolean): Buffer {
  const head = Buffer.allocUnsafe(HEADER_BYTES)
  head.writeUInt8(VERSION, 0)
  head.writeUInt8((idle ? IDLE : 0) | (payload === null ? MARK_ONLY : 0), 1)
  head.writeUInt32BE(partition, 2)
  head.writeDoubleBE(watermark, 6)
  return payload === null ? head : Buffer.concat([head, payload])
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
    if (ok) marks.push({ offset, partition: r.readUInt32BE(2), watermark: r.readDoubleBE(6), idle: (r[1]! & IDLE) !== 0 })
    if (ok && (r[1]! & MARK_ONLY) !== 0) continue
    records.push(ok ? r.subarray(HEADER_BYTES) : r)
    offsets.push(offset)
    timestamps?.push(batch.timestamps![i]!)
  }
  return { records, offsets, ...(timestamps === undefined ? {} : { timestamps }), nextOffset: batch.nextOffset, marks }
}
