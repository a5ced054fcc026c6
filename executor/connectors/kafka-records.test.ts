/**
 * Reading Kafka record batches (message format v2) into a partition buffer: varints at their byte
 * boundaries, keys and headers passed over, null values, records below the fetch position, transaction
 * markers, aborted transactions (read_committed), compressed batches, and a batch cut off at the end of a
 * fetch answer. The batches are built here from the protocol's layout.
 */
import { compressionsAlgorithms } from '@platformatic/kafka'
import { describe, expect, test } from 'vitest'
import { CorruptBatchError, nextFetchOffset, readRecordBatches, type AbortedTransaction, type RecordSink } from './kafka-records.ts'

/** A zigzag varint (or varlong) of an integer up to 2^52 in magnitude. */
function varint(n: number): Buffer {
  let v = n >= 0 ? n * 2 : -n * 2 - 1
  const bytes: number[] = []
  while (v >= 0x80) {
    bytes.push((v % 128) | 0x80)
    v = Math.floor(v / 128)
  }
  bytes.push(v)
  return Buffer.from(bytes)
}

interface TestRecord {
  readonly offsetDelta: number
  readonly timestampDelta?: number
  readonly key?: Buffer | null
  readonly value: Buffer | null
  readonly headers?: readonly [string, string][]
}

function bytesOf(b: Buffer | null | undefined): Buffer {
  return b === null || b === undefined ? varint(-1) : Buffer.concat([varint(b.length), b])
}

function record(r: TestRecord): Buffer {
  const headers = r.headers ?? []
  const body = Buffer.concat([
    Buffer.from([0]),
    varint(r.timestampDelta ?? 0),
    varint(r.offsetDelta),
    bytesOf(r.key),
    bytesOf(r.value),
    varint(headers.length),
    ...headers.flatMap(([k, v]) => [bytesOf(Buffer.from(k)), bytesOf(Buffer.from(v))]),
  ])
  return Buffer.concat([varint(body.length), body])
}

interface BatchSpec {
  readonly baseOffset: number
  readonly records: readonly TestRecord[]
  readonly baseTimestamp?: number
  readonly maxTimestamp?: number
  readonly codec?: 'gzip' | 'snappy' | 'lz4' | 'zstd'
  readonly logAppendTime?: boolean
  readonly transactional?: boolean
  readonly control?: boolean
  readonly producerId?: number
  /** Overrides the last offset delta (a batch whose last records were compacted away). */
  readonly lastOffsetDelta?: number
  readonly magic?: number
}

function batch(spec: BatchSpec): Buffer {
  let records: Buffer = Buffer.concat(spec.records.map(record))
  let attributes = 0
  if (spec.codec !== undefined) {
    const algorithm = compressionsAlgorithms[spec.codec]
    records = algorithm.compressSync(records)
    attributes |= algorithm.bitmask
  }
  if (spec.logAppendTime === true) attributes |= 0x08
  if (spec.transactional === true) attributes |= 0x10
  if (spec.control === true) attributes |= 0x20
  const header = Buffer.alloc(61)
  header.writeBigInt64BE(BigInt(spec.baseOffset), 0)
  header.writeInt32BE(61 - 12 + records.length, 8)
  header.writeInt32BE(0, 12) // partition leader epoch
  header.writeInt8(spec.magic ?? 2, 16)
  header.writeUInt32BE(0, 17) // crc: not checked by the reader
  header.writeInt16BE(attributes, 21)
  header.writeInt32BE(spec.lastOffsetDelta ?? Math.max(0, ...spec.records.map((r) => r.offsetDelta)), 23)
  header.writeBigInt64BE(BigInt(spec.baseTimestamp ?? 0), 27)
  header.writeBigInt64BE(BigInt(spec.maxTimestamp ?? spec.baseTimestamp ?? 0), 35)
  header.writeBigInt64BE(BigInt(spec.producerId ?? -1), 43)
  header.writeInt16BE(0, 51)
  header.writeInt32BE(0, 53)
  header.writeInt32BE(spec.records.length, 57)
  return Buffer.concat([header, records])
}

/** A transaction marker: a control batch of one record whose key is (version 0, type). */
function marker(offset: number, producerId: number, type: 'abort' | 'commit'): Buffer {
  const key = Buffer.alloc(4)
  key.writeInt16BE(type === 'abort' ? 0 : 1, 2)
  return batch({ baseOffset: offset, producerId, control: true, transactional: true, records: [{ offsetDelta: 0, key, value: Buffer.alloc(6) }] })
}

type ViewSink = RecordSink & { values: Buffer[] }

function read(bytes: Buffer, from = 0, aborted: AbortedTransaction[] | null = null): { next: number; sink: ViewSink; texts: string[] } {
  const sink: ViewSink = { offsets: [], values: [], timestamps: [] }
  const next = readRecordBatches(bytes, from, aborted, sink)
  expect(nextFetchOffset(bytes, from)).toBe(next)
  // Kept as spans of their bytes (the engine's source) instead of views: the same records.
  const spans = { chunks: [] as Buffer[], starts: [] as number[], ends: [] as number[] }
  const spanned: RecordSink = { offsets: [], timestamps: [], spans }
  expect(readRecordBatches(bytes, from, aborted, spanned)).toBe(next)
  expect([spanned.offsets, spanned.timestamps]).toEqual([sink.offsets, sink.timestamps])
  expect(spans.chunks.map((c, i) => c.subarray(spans.starts[i], spans.ends[i]).toString())).toEqual(sink.values.map((v) => v.toString()))
  return { next, sink, texts: sink.values.map((v) => v.toString()) }
}

const text = (s: string): Buffer => Buffer.from(s)

describe('readRecordBatches', () => {
  test('offsets, values and timestamps; keys and headers passed over; a null value is empty', () => {
    const bytes = Buffer.concat([
      batch({
        baseOffset: 10,
        baseTimestamp: 1_700_000_000_000,
        records: [
          { offsetDelta: 0, key: text('k1'), value: text('{"a":1}'), headers: [['h', 'v']] },
          { offsetDelta: 1, timestampDelta: 5, key: null, value: null },
          { offsetDelta: 2, timestampDelta: -3, value: text('x') },
        ],
      }),
      batch({ baseOffset: 13, baseTimestamp: 1_700_000_001_000, records: [{ offsetDelta: 0, value: text('y') }] }),
    ])
    const { next, sink, texts } = read(bytes)
    expect(next).toBe(14)
    expect(sink.offsets).toEqual([10, 11, 12, 13])
    expect(texts).toEqual(['{"a":1}', '', 'x', 'y'])
    expect(sink.timestamps).toEqual([1_700_000_000_000_000, 1_700_000_000_005_000, 1_699_999_999_997_000, 1_700_000_001_000_000])
  })

  test('keys and null values when the sink asks for them (a changelog reader), in a compressed batch too', () => {
    for (const codec of [undefined, 'gzip'] as const) {
      const bytes = batch({
        baseOffset: 0,
        baseTimestamp: 1_700_000_000_000,
        ...(codec === undefined ? {} : { codec }),
        records: [
          { offsetDelta: 0, key: text('k1'), value: text('v1'), headers: [['op', 'd']] },
          { offsetDelta: 1, key: text('k2'), value: null },
          { offsetDelta: 2, key: null, value: Buffer.alloc(0) },
        ],
      })
      const sink: RecordSink = { offsets: [], values: [], timestamps: [], keys: [], nulls: [] }
      expect(readRecordBatches(bytes, 1, null, sink)).toBe(3)
      expect(sink.offsets).toEqual([1, 2])
      expect(sink.keys!.map((k) => k.toString())).toEqual(['k2', ''])
      expect(sink.nulls).toEqual([true, false])
      expect(sink.values.map((v) => v.length)).toEqual([0, 0])
    }
  })

  test('varints at their byte boundaries: lengths, offset deltas and timestamp deltas', () => {
    const sizes = [0, 1, 63, 64, 127, 128, 8191, 8192, 1_048_575, 1_048_576]
    const deltas = [0, 63, 64, 8191, 8192, 2 ** 31, -(2 ** 31) - 1, 2 ** 40]
    const records = sizes.map((size, i) => ({ offsetDelta: i === 0 ? 0 : 63 + i, timestampDelta: deltas[i % deltas.length]!, value: Buffer.alloc(size, 97 + i) }))
    const bytes = batch({ baseOffset: 2 ** 40, baseTimestamp: 1_000_000, records })
    const { next, sink } = read(bytes)
    expect(sink.values.map((v) => v.length)).toEqual(sizes)
    expect(sink.values.every((v, i) => v.every((c) => c === 97 + i))).toBe(true)
    expect(sink.offsets).toEqual(records.map((r) => 2 ** 40 + r.offsetDelta))
    expect(sink.timestamps).toEqual(records.map((r) => (1_000_000 + r.timestampDelta) * 1000))
    expect(next).toBe(2 ** 40 + 63 + sizes.length - 1 + 1)
  })

  test('records below the fetch position are left out; the next position is past the batch', () => {
    const bytes = batch({ baseOffset: 100, records: [0, 1, 2, 3].map((d) => ({ offsetDelta: d, value: text(`v${d}`) })) })
    const { next, sink, texts } = read(bytes, 102)
    expect(sink.offsets).toEqual([102, 103])
    expect(texts).toEqual(['v2', 'v3'])
    expect(next).toBe(104)
    // A batch whose last records were compacted away still moves the position to its last offset.
    expect(read(batch({ baseOffset: 0, lastOffsetDelta: 9, records: [{ offsetDelta: 0, value: text('a') }] })).next).toBe(10)
  })

  test('LogAppendTime: every record has the batch time the broker set', () => {
    const bytes = batch({ baseOffset: 0, baseTimestamp: 5, maxTimestamp: 9_000, logAppendTime: true, records: [{ offsetDelta: 0, value: text('a') }, { offsetDelta: 1, timestampDelta: 3, value: text('b') }] })
    expect(read(bytes).sink.timestamps).toEqual([9_000_000, 9_000_000])
  })

  test('transaction markers yield no record, and the position moves past them', () => {
    const bytes = Buffer.concat([
      batch({ baseOffset: 0, producerId: 7, transactional: true, records: [{ offsetDelta: 0, value: text('a') }, { offsetDelta: 1, value: text('b') }] }),
      marker(2, 7, 'commit'),
    ])
    const { next, sink, texts } = read(bytes, 0, [])
    expect(texts).toEqual(['a', 'b'])
    expect(sink.offsets).toEqual([0, 1])
    expect(next).toBe(3)
    // Without read_committed bookkeeping (no aborted list) markers are skipped all the same.
    expect(read(bytes).texts).toEqual(['a', 'b'])
  })

  test('read_committed: the batches of aborted transactions are left out, up to their abort marker', () => {
    const tx = (offset: number, producerId: number, value: string) => batch({ baseOffset: offset, producerId, transactional: true, records: [{ offsetDelta: 0, value: text(value) }] })
    const bytes = Buffer.concat([
      tx(0, 7, 'aborted-1'),
      tx(1, 8, 'committed-8'),
      tx(2, 7, 'aborted-2'),
      marker(3, 7, 'abort'),
      marker(4, 8, 'commit'),
      tx(5, 7, 'committed-7'), // producer 7's next transaction, committed
      batch({ baseOffset: 6, producerId: 9, records: [{ offsetDelta: 0, value: text('idempotent-9') }] }), // not transactional
      marker(7, 7, 'commit'),
      tx(8, 9, 'aborted-9'),
      marker(9, 9, 'abort'),
    ])
    const aborted = [
      { producerId: 9, firstOffset: 8 },
      { producerId: 7, firstOffset: 0 },
    ]
    const { next, sink, texts } = read(bytes, 0, aborted)
    expect(texts).toEqual(['committed-8', 'committed-7', 'idempotent-9'])
    expect(sink.offsets).toEqual([1, 5, 6])
    expect(next).toBe(10)
    // Fetched from the middle of the aborted transaction: still left out.
    expect(read(bytes, 2, aborted).texts).toEqual(['committed-7', 'idempotent-9'])
  })

  test.each(['gzip', 'snappy', 'lz4', 'zstd'] as const)('a batch compressed with %s', (codec) => {
    if (!compressionsAlgorithms[codec].available) return
    const records = Array.from({ length: 200 }, (_, i) => ({ offsetDelta: i, timestampDelta: i, key: text(`k${i}`), value: text(`{"player_id":${i},"type":"fight"}`) }))
    const bytes = Buffer.concat([batch({ baseOffset: 50, baseTimestamp: 1000, codec, records }), batch({ baseOffset: 250, records: [{ offsetDelta: 0, value: text('plain') }] })])
    const { next, sink, texts } = read(bytes, 60)
    expect(sink.offsets).toEqual(Array.from({ length: 191 }, (_, i) => 60 + i))
    expect(texts[0]).toBe('{"player_id":10,"type":"fight"}')
    expect(texts.at(-1)).toBe('plain')
    expect(sink.timestamps[0]).toBe(1010 * 1000)
    expect(next).toBe(251)
  })

  test('a batch cut off at the end of a fetch is left for the next fetch', () => {
    const first = batch({ baseOffset: 0, records: [{ offsetDelta: 0, value: text('a') }, { offsetDelta: 1, value: text('b') }] })
    const second = batch({ baseOffset: 2, records: [{ offsetDelta: 0, value: Buffer.alloc(500, 99) }] })
    for (const cut of [1, 11, 30, 60, 61, 62, second.length - 1]) {
      const { next, texts } = read(Buffer.concat([first, second.subarray(0, cut)]))
      expect(texts).toEqual(['a', 'b'])
      expect(next).toBe(2)
    }
    // Nothing complete at all: the position stays.
    expect(read(second.subarray(0, 100), 2).next).toBe(2)
    expect(read(Buffer.alloc(0), 5).next).toBe(5)
  })

  test('bytes that are not v2 batches are refused', () => {
    expect(() => read(batch({ baseOffset: 0, magic: 1, records: [{ offsetDelta: 0, value: text('a') }] }))).toThrow(CorruptBatchError)
    const bad = batch({ baseOffset: 0, records: [{ offsetDelta: 0, value: text('abc') }] })
    bad.writeUInt8(0x7e, 61) // the record's length now runs past the batch
    const sink: RecordSink = { offsets: [], values: [], timestamps: [] }
    expect(() => readRecordBatches(bad, 0, null, sink)).toThrow(CorruptBatchError)
  })
})
