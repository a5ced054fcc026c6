/**
 * Kafka record batches (message format v2, the only one Kafka 4 writes) read straight into a partition's
 * buffer: offsets and timestamps as numbers, values as views of the fetched bytes. No object per record,
 * no headers, and keys only when asked (RecordSink.keys): the engine reads a record's value and its offset
 * and timestamp, nothing else.
 *
 * Layout of a batch (Kafka protocol guide, "Record Batch"): baseOffset int64, batchLength int32,
 * partitionLeaderEpoch int32, magic int8, crc uint32, attributes int16, lastOffsetDelta int32,
 * baseTimestamp int64, maxTimestamp int64, producerId int64, producerEpoch int16, baseSequence int32,
 * recordCount int32, then the records (compressed as a whole when the attributes say so). A record:
 * length varint, attributes int8, timestampDelta varlong, offsetDelta varint, key (varint length, bytes),
 * value (varint length, bytes; -1 is null), headers. Varints are zigzag-encoded.
 */
import { compressionsAlgorithmsByBitmask } from '@platformatic/kafka'

/** Where decoded records go: the partition buffer's parallel arrays, values either as views or as spans. */
export type RecordSink = RecordArrays & (
  | {
      /** Each value as a view of the fetched bytes. */
      values: Buffer[]
      spans?: undefined
    }
  | {
      values?: undefined
      /**
       * Each value as where it lies instead of a view (no object per record): the bytes holding it (the
       * fetch answer, or a batch's decompressed records) and its bounds there.
       */
      spans: { chunks: Buffer[]; starts: number[]; ends: number[] }
    }
)

interface RecordArrays {
  offsets: number[]
  /** Microseconds. */
  timestamps: number[]
  /**
   * When given, each record's key (empty when it has none) and whether its value is null (a tombstone,
   * which `values` shows as empty): a changelog's reader needs both; the engine's source needs neither.
   */
  keys?: Buffer[]
  nulls?: boolean[]
}

/** An aborted transaction from a read_committed fetch answer: its producer and its first offset. */
export interface AbortedTransaction {
  readonly producerId: number
  readonly firstOffset: number
}

export class CorruptBatchError extends Error {}

/** Bytes before a batch's records. */
export const BATCH_HEADER_BYTES = 61
/** baseOffset and batchLength: the part of a batch outside its own length. */
const LOG_OVERHEAD = 12
const MAGIC_AT = 16
const ATTRIBUTES_AT = 21
const LAST_OFFSET_DELTA_AT = 23
const BASE_TIMESTAMP_AT = 27
const MAX_TIMESTAMP_AT = 35
const PRODUCER_ID_AT = 43
const RECORD_COUNT_AT = 57

const COMPRESSION_MASK = 0x07
const LOG_APPEND_TIME = 0x08
const TRANSACTIONAL = 0x10
const CONTROL = 0x20
/** The control record type of a transaction's abort marker (a commit marker is 1). */
const ABORT_MARKER = 0
const EMPTY = Buffer.alloc(0)

/** An int64 that fits a double exactly (offsets, timestamps, producer ids all do). */
function int64(b: Buffer, at: number): number {
  return b.readInt32BE(at) * 4294967296 + b.readUInt32BE(at + 4)
}

/**
 * One past the last offset of the complete batches in `bytes` (a fetch answer's records of one partition),
 * or `from` when there is none. A fetch answer may end in the middle of a batch; that batch is fetched
 * again, whole, next time. Only the batch headers are read: the next fetch can be asked for before the
 * records are decoded.
 */
export function nextFetchOffset(bytes: Buffer, from: number): number {
  let next = from
  let at = 0
  while (at + BATCH_HEADER_BYTES <= bytes.length) {
    const end = at + LOG_OVERHEAD + bytes.readInt32BE(at + 8)
    if (end > bytes.length) break
    const last = int64(bytes, at) + bytes.readInt32BE(at + LAST_OFFSET_DELTA_AT)
    if (last + 1 > next) next = last + 1
    at = end
  }
  return next
}

/** The read position inside the buffer being decoded (module state: no object per varint). */
let pos = 0

/** A zigzag varint or varlong at `pos`, advancing it. Values beyond 2^53 lose precision (none used here do). */
function varint(b: Buffer, end: number): number {
  if (pos >= end) throw new CorruptBatchError('record runs past the end of its batch')
  let byte = b[pos++]!
  if (byte < 0x80) return (byte >>> 1) ^ -(byte & 1)
  let value = byte & 0x7f
  let scale = 128
  for (let i = 1; ; i++) {
    if (pos >= end || i >= 10) throw new CorruptBatchError('malformed varint in a record')
    byte = b[pos++]!
    value += (byte & 0x7f) * scale
    if (byte < 0x80) break
    scale *= 128
  }
  return value % 2 === 1 ? -(value + 1) / 2 : value / 2
}

/**
 * Decodes the complete batches of `bytes` into `into`, skipping records below `from` (a batch may begin
 * before the offset asked for), control batches (transaction markers) and, when `aborted` is given (a
 * read_committed fetch), the batches of aborted transactions. Returns one past the last offset of the last
 * complete batch, or `from` when there is none: the position of the next fetch, which also moves past
 * markers and aborted records that yield no record. Throws CorruptBatchError on bytes that are not batches.
 */
export function readRecordBatches(bytes: Buffer, from: number, aborted: readonly AbortedTransaction[] | null, into: RecordSink): number {
  let next = from
  let at = 0
  // read_committed: the producers whose transaction is open and aborted at this point of the log (the
  // broker lists each aborted transaction by its first offset; its abort marker ends it).
  const pending = aborted === null || aborted.length === 0 ? null : [...aborted].sort((x, y) => x.firstOffset - y.firstOffset)
  let nextAborted = 0
  const abortedProducers = new Set<number>()
  while (at + BATCH_HEADER_BYTES <= bytes.length) {
    const batchEnd = at + LOG_OVERHEAD + bytes.readInt32BE(at + 8)
    if (batchEnd > bytes.length) break // cut off at the end of the fetch: fetched again next time
    if (batchEnd < at + BATCH_HEADER_BYTES) throw new CorruptBatchError(`record batch shorter than its header at byte ${at}`)
    const magic = bytes.readInt8(at + MAGIC_AT)
    if (magic !== 2) throw new CorruptBatchError(`record batch of message format v${magic}; Sluice reads v2 (Kafka 0.11 and later)`)
    const base = int64(bytes, at)
    const last = base + bytes.readInt32BE(at + LAST_OFFSET_DELTA_AT)
    if (last + 1 > next) next = last + 1
    const attributes = bytes.readInt16BE(at + ATTRIBUTES_AT)
    const batchStart = at
    at = batchEnd
    if (last < from) continue
    const control = (attributes & CONTROL) !== 0
    if (pending !== null || abortedProducers.size > 0) {
      const producerId = int64(bytes, batchStart + PRODUCER_ID_AT)
      if (producerId >= 0) {
        while (pending !== null && nextAborted < pending.length && pending[nextAborted]!.firstOffset <= last) {
          abortedProducers.add(pending[nextAborted++]!.producerId)
        }
        if (control) {
          if (controlType(bytes, batchStart, batchEnd) === ABORT_MARKER) abortedProducers.delete(producerId)
          continue
        }
        if ((attributes & TRANSACTIONAL) !== 0 && abortedProducers.has(producerId)) continue
      }
    }
    if (control) continue
    readRecords(bytes, batchStart, batchEnd, attributes, base, from, into)
  }
  return next
}

/** The type of a control batch's record (abort or commit marker), from its key: version int16, type int16. */
function controlType(bytes: Buffer, batchStart: number, batchEnd: number): number {
  if (bytes.readInt32BE(batchStart + RECORD_COUNT_AT) < 1) return -1
  pos = batchStart + BATCH_HEADER_BYTES
  varint(bytes, batchEnd) // length
  pos++ // attributes
  varint(bytes, batchEnd) // timestamp delta
  varint(bytes, batchEnd) // offset delta
  const keyLength = varint(bytes, batchEnd)
  if (keyLength < 4 || pos + keyLength > batchEnd) throw new CorruptBatchError('control record without a key')
  return bytes.readInt16BE(pos + 2)
}

function readRecords(bytes: Buffer, batchStart: number, batchEnd: number, attributes: number, base: number, from: number, into: RecordSink): void {
  const count = bytes.readInt32BE(batchStart + RECORD_COUNT_AT)
  const baseTimestamp = int64(bytes, batchStart + BASE_TIMESTAMP_AT)
  // LogAppendTime: the broker's time, the same for every record of the batch, is the batch's max timestamp.
  const logAppendTime = (attributes & LOG_APPEND_TIME) !== 0 ? int64(bytes, batchStart + MAX_TIMESTAMP_AT) * 1000 : -1
  const codec = attributes & COMPRESSION_MASK
  let b = bytes
  let end = batchEnd
  pos = batchStart + BATCH_HEADER_BYTES
  if (codec !== 0) {
    const algorithm = compressionsAlgorithmsByBitmask[codec]
    if (algorithm === undefined) throw new CorruptBatchError(`record batch compressed with unknown codec ${codec}`)
    b = algorithm.decompressSync(bytes.subarray(pos, batchEnd))
    pos = 0
    end = b.length
  }
  const { offsets, values, timestamps, keys, nulls, spans } = into
  for (let i = 0; i < count; i++) {
    const length = varint(b, end)
    const recordEnd = pos + length
    if (length < 0 || recordEnd > end) throw new CorruptBatchError('record runs past the end of its batch')
    pos++ // attributes
    const timestampDelta = varint(b, end)
    const offset = base + varint(b, end)
    const keyLength = varint(b, end)
    if (pos + Math.max(keyLength, 0) > recordEnd) throw new CorruptBatchError('record key runs past the end of its record')
    const keyAt = pos
    if (keyLength > 0) pos += keyLength
    const valueLength = varint(b, end)
    if (pos + Math.max(valueLength, 0) > recordEnd) throw new CorruptBatchError('record value runs past the end of its record')
    if (offset >= from) {
      offsets.push(offset)
      if (spans !== undefined) {
        spans.chunks.push(b)
        spans.starts.push(pos)
        spans.ends.push(pos + Math.max(valueLength, 0))
      } else values!.push(valueLength <= 0 ? EMPTY : b.subarray(pos, pos + valueLength))
      timestamps.push(logAppendTime >= 0 ? logAppendTime : (baseTimestamp + timestampDelta) * 1000)
      if (keys !== undefined) keys.push(keyLength <= 0 ? EMPTY : b.subarray(keyAt, keyAt + keyLength))
      if (nulls !== undefined) nulls.push(valueLength < 0)
    }
    pos = recordEnd // past the headers, which the engine does not read
  }
}
