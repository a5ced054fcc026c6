/**
 * One stream's record decoder: the record's own fields (JSON, CSV or TSV) plus the columns filled from its
 * metadata (partition, offset, Kafka timestamp). Returns null for a record of another event type (skipped);
 * throws DecodeError for a record that does not fit (a dead letter).
 */
import { isEventTime, type Row, type Value } from '../common/types.ts'
import type { StreamDef } from '../planner/catalog.ts'
import { DecodeError, compileDecoder } from './decode.ts'
import { compileDelimitedDecoder } from './delimited.ts'

export type StreamDecoder = (record: Buffer | string, partition: number, offset: number, timestamp: number | null) => Row | null

export function streamDecoder(def: StreamDef): StreamDecoder {
  const metaAt = new Map(def.metadata.map((m) => [m.index, m.key]))
  const physical = def.columns.filter((_, i) => !metaAt.has(i))
  const decode = def.format.kind === 'json' ? compileDecoder(physical) : compileDelimitedDecoder(physical, def.format)
  if (metaAt.size === 0) return (record) => decode(record)
  // Where each column comes from: the decoded row's field, or the record's metadata.
  let field = 0
  const sources = def.columns.map((_, i) => metaAt.get(i) ?? field++)
  const n = def.columns.length
  // A producer sets a Kafka record's timestamp as it likes: one out of the event-time range is refused like
  // an event time in the record itself (it would become the watermark of a view timed by it).
  const timeColumn = def.metadata.find((m) => m.key === 'timestamp')
  const timeName = timeColumn === undefined ? '' : def.columns[timeColumn.index]!.name
  return (record, partition, offset, timestamp) => {
    const own = decode(record)
    if (own === null) return null
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
