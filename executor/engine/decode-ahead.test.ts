import { afterEach, describe, expect, it } from 'vitest'
import { Types, type Column } from '../../common/types.ts'
import type { StreamDef } from '../../planner/catalog.ts'
import { streamDecoder } from '../record-decoder.ts'
import type { SourceBatch, StreamSource } from '../source.ts'
import { DecodeAhead } from './decode-ahead.ts'
import type { StreamRuntime } from './state.ts'

const col = (name: string, type: Column['type']): Column => ({ name, type, nullable: true })

/** A stream of 3,000 records in one partition, read from memory (the loop's source, without a log). */
function runtime(): StreamRuntime {
  const columns = [col('id', Types.int8), col('kind', Types.text), col('note', Types.text)]
  const def = { kind: 'stream', id: 1, name: 'ev', columns, watermark: null, options: {}, partitions: 1, keyColumn: null, allowedLateness: 0, source: { kind: 'embedded' }, format: { kind: 'json' }, metadata: [], sql: '' } as StreamDef
  const records = Array.from({ length: 3000 }, (_, i) => Buffer.from(JSON.stringify({ id: i, kind: `k${i % 3}`, note: `note ${i}` })))
  const log: StreamSource = {
    partitionCount: 1,
    endOffset: () => records.length,
    read: async (_p: number, from: number, max: number): Promise<SourceBatch> => {
      const part = records.slice(from, from + max)
      return { records: part, nextOffset: from + part.length }
    },
  } as unknown as StreamSource
  return { def, log, decode: streamDecoder(def), queries: [], sinks: [], deadLetterMark: [0], inFlightAppends: 0, closed: false } as unknown as StreamRuntime
}

const opened: DecodeAhead[] = []
afterEach(async () => {
  for (const d of opened.splice(0)) await d.close()
})

describe('batches read ahead for some columns', () => {
  it('hand their rows on for readers of those columns, and none for a reader of more (decoded in place again)', async () => {
    const rt = runtime()
    const ahead = new DecodeAhead(1000, true)
    opened.push(ahead)
    const first = await ahead.read(rt, 0, 0, new Set([0, 1]))
    const rows = await first.decoded
    expect(rows).not.toBeNull()
    // The column nobody reads is null; the others are the record's.
    expect(rows!.rows[5]).toEqual([5, 'k2', null])
    // The next batch decodes on the thread for the same columns; a reader of fewer takes it as it is.
    ahead.readAhead(rt, 0, first.nextOffset, first.count, new Set([0, 1]))
    const second = await ahead.read(rt, 0, first.nextOffset, new Set([1]))
    expect((await second.decoded)!.rows[0]).toEqual([1000, 'k1', null])
    // A view added meanwhile reads `note`: that batch is not handed on, the loop decodes it in place.
    ahead.readAhead(rt, 0, second.nextOffset, second.count, new Set([0, 1]))
    const third = await ahead.read(rt, 0, second.nextOffset, null)
    expect(third.count).toBe(1000)
    expect(await third.decoded).toBeNull()
    expect(third.read).toBeNull()
    // In place, the decoder for a set leaves the rest null; for every column it is the stream's own.
    expect(ahead.inPlace(rt, new Set([2]))(third.record(0), 0, 2000, null)).toEqual([null, null, 'note 2000'])
    expect(ahead.inPlace(rt, null)(third.record(0), 0, 2000, null)).toEqual([2000, 'k2', 'note 2000'])
  })
})
