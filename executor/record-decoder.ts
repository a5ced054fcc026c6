/**
 * One stream's record decoder: the record's own fields (JSON, CSV or TSV) plus the columns filled from its
 * metadata (partition, offset, Kafka timestamp). Returns null for a record of another event type (skipped);
 * throws DecodeError for a record that does not fit (a dead letter).
 */
import { isAscii } from 'node:buffer'
import { isEventTime, type Row, type Value } from '../common/types.ts'
import type { StreamDef } from '../planner/catalog.ts'
import type { ColumnsRead } from './columns-read.ts'
import { DecodeError, compileByteDecoder, compileDecoder } from './decode.ts'
import { compileDelimitedDecoder } from './delimited.ts'

export type StreamDecoder = (record: Buffer | string, partition: number, offset: number, timestamp: number | null) => Row | null

/** A stream decoder of an ASCII record given as `bytes[start, end)`. */
export type ByteStreamDecoder = (bytes: Uint8Array, start: number, end: number, partition: number, offset: number, timestamp: number | null) => Row | null

export function streamDecoder(def: StreamDef): StreamDecoder {
  const physical = physicalColumns(def)
  const decode = def.format.kind === 'json' ? compileDecoder(physical.columns) : compileDelimitedDecoder(physical.columns, def.format)
  const complete = withMetadata(def)
  if (complete === null) return (record) => decode(record)
  return (record, partition, offset, timestamp) => {
    const own = decode(record)
    return own === null ? null : complete(own, partition, offset, timestamp)
  }
}

/**
 * The decoder of a JSON stream's ASCII records through the scanner (decode.ts, compileByteDecoder): the
 * columns outside `read` are checked but left null. Null for a stream it does not serve (not JSON, or
 * column names the scanner cannot match).
 */
export function streamByteDecoder(def: StreamDef, read: ColumnsRead): ByteStreamDecoder | null {
  if (def.format.kind !== 'json') return null
  const physical = physicalColumns(def)
  const own = read === null ? null : new Set(physical.indexes.flatMap((at, i) => (read.has(at) ? [i] : [])))
  const decode = compileByteDecoder(physical.columns, own)
  if (decode === null) return null
  const complete = withMetadata(def)
  if (complete === null) return (bytes, start, end) => decode(bytes, start, end)
  return (bytes, start, end, partition, offset, timestamp) => complete(decode(bytes, start, end), partition, offset, timestamp)
}

/**
 * The loop's decoder of records for readers of `read` only: ASCII bytes through the scanner, anything else
 * (text, other encodings, other formats) decoded whole by `whole`, its cells outside `read` nulled as the
 * scanner leaves them, so that what a reader is given does not depend on the record's form.
 */
export function readingDecoder(def: StreamDef, read: ColumnsRead, whole: StreamDecoder): StreamDecoder {
  if (read === null) return whole
  const unread = def.columns.flatMap((_, i) => (read.has(i) ? [] : [i]))
  if (unread.length === 0) return whole
  const bytes = streamByteDecoder(def, read)
  const narrowed: StreamDecoder = (record, partition, offset, timestamp) => {
    const row = whole(record, partition, offset, timestamp)
    if (row !== null) for (const i of unread) row[i] = null
    return row
  }
  if (bytes === null) return narrowed
  return (record, partition, offset, timestamp) =>
    typeof record !== 'string' && isAscii(record) ? bytes(record, 0, record.length, partition, offset, timestamp) : narrowed(record, partition, offset, timestamp)
}

/** The columns the record itself holds (not its metadata), and their indexes among the stream's. */
function physicalColumns(def: StreamDef): { columns: StreamDef['columns']; indexes: number[] } {
  const metaAt = new Set(def.metadata.map((m) => m.index))
  const indexes = def.columns.flatMap((_, i) => (metaAt.has(i) ? [] : [i]))
  return { columns: indexes.map((i) => def.columns[i]!), indexes }
}

type Completion = (own: Row, partition: number, offset: number, timestamp: number | null) => Row

/** A stream's row from the record's own fields and its metadata; null for a stream without metadata columns. */
function withMetadata(def: StreamDef): Completion | null {
  const metaAt = new Map(def.metadata.map((m) => [m.index, m.key]))
  if (metaAt.size === 0) return null
  // Where each column comes from: the decoded row's field, or the record's metadata.
  let field = 0
  const sources = def.columns.map((_, i) => metaAt.get(i) ?? field++)
  const n = def.columns.length
  // A producer sets a Kafka record's timestamp as it likes: one out of the event-time range is refused like
  // an event time in the record itself (it would become the watermark of a view timed by it).
  const timeColumn = def.metadata.find((m) => m.key === 'timestamp')
  const timeName = timeColumn === undefined ? '' : def.columns[timeColumn.index]!.name
  return (own, partition, offset, timestamp) => {
    if (timeColumn !== undefined && timestamp !== null && !isEventTime(timestamp)) {
      throw new DecodeError(`column "${timeName}": record timestamp out of range for an event time: ${timestamp / 1000} ms`)
    }
    const row = new Array<Value>(n)
    for (let i = 0; i < n; i++) {
      const s = sources[i]!
      row[i] = typeof s === 'number' ? own[s]! : s === 'partition' ? partition : s === 'offset' ? offset : timestamp
    }
    return row
  }
}
