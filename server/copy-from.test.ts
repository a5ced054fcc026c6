import { describe, expect, test } from 'vitest'
import { Types, type Column, type Row } from '../common/types.ts'
import { CopyFromSink, copyFormat, splitCsvRecord, splitTextRecord, type CopyFormat } from './copy-from.ts'

const span = { start: 0, end: 0 }
const TEXT = copyFormat([])
const CSV = copyFormat([{ name: 'format', value: 'csv', span }])

const columns: Column[] = [
  { name: 'player_id', type: Types.int8, nullable: false },
  { name: 'name', type: Types.text, nullable: true },
  { name: 'score', type: Types.float8, nullable: true },
]

async function copy(format: CopyFormat, chunks: string[], targets = [0, 1, 2]): Promise<{ rows: Row[]; tag: string }> {
  const rows: Row[] = []
  const sink = new CopyFromSink('s', columns, targets, format, async (batch) => {
    rows.push(...batch)
    return batch.length
  })
  for (const c of chunks) await sink.write(Buffer.from(c))
  return { rows, tag: await sink.end() }
}

describe('COPY FROM STDIN', () => {
  test('text format: tabs, \\N, backslash escapes, records cut anywhere between chunks', async () => {
    const data = '1\tann\t1.5\n2\t\\N\t\\N\n3\ttab\\there\\\\ and \\x41\\101\t2\n'
    const cut = [data.slice(0, 5), data.slice(5, 17), data.slice(17)]
    const { rows, tag } = await copy(TEXT, cut)
    expect(tag).toBe('COPY 3')
    expect(rows).toEqual([
      [1, 'ann', 1.5],
      [2, null, null],
      [3, 'tab\there\\ and AA', 2],
    ])
  })

  test('a UTF-8 character split between two chunks', async () => {
    const bytes = Buffer.from('1\tzoë\t1\n')
    const rows: Row[] = []
    const sink = new CopyFromSink('s', columns, [0, 1, 2], TEXT, async (b) => (rows.push(...b), b.length))
    await sink.write(bytes.subarray(0, 6))
    await sink.write(bytes.subarray(6))
    await sink.end()
    expect(rows).toEqual([[1, 'zoë', 1]])
  })

  test('CSV: header, quotes, doubled quotes, a newline inside quotes, empty string vs NULL, \\. ends the data', async () => {
    const data = 'player_id,name,score\n1,"a ""quoted"", name",1\n2,"two\nlines",\n3,"",3\n\\.\n4,ignored,4\n'
    const { rows, tag } = await copy(copyFormat([{ name: 'format', value: 'csv', span }, { name: 'header', value: true, span }]), [data.slice(0, 30), data.slice(30)])
    expect(tag).toBe('COPY 3')
    expect(rows).toEqual([
      [1, 'a "quoted", name', 1],
      [2, 'two\nlines', null],
      [3, '', 3],
    ])
  })

  test('a column list: the other columns are NULL; the last line may lack its newline', async () => {
    const { rows } = await copy(CSV, ['7,9.5\n8,1'], [0, 2])
    expect(rows).toEqual([
      [7, null, 9.5],
      [8, null, 1],
    ])
  })

  test('bad records fail the whole COPY with the line and column, and nothing is inserted', async () => {
    await expect(copy(TEXT, ['1\ta\t1\n2\tb\tnot a number\n'])).rejects.toMatchObject({ sqlstate: '22P02', detail: 'COPY s, line 2, column score: "not a number"' })
    await expect(copy(TEXT, ['1\ta\n'])).rejects.toMatchObject({ sqlstate: '22P04', message: 'missing data for column "score"' })
    await expect(copy(TEXT, ['1\ta\t1\t9\n'])).rejects.toMatchObject({ sqlstate: '22P04', message: 'extra data after last expected column' })
    await expect(copy(TEXT, ['\\N\ta\t1\n'])).rejects.toMatchObject({ sqlstate: '23502' })
    await expect(copy(CSV, ['1,"open\n'])).rejects.toMatchObject({ sqlstate: '22P04' })
  })

  test('options are checked as PostgreSQL checks them', () => {
    expect(() => copyFormat([{ name: 'format', value: 'xml', span }])).toThrow(/not recognized/)
    expect(() => copyFormat([{ name: 'delimiter', value: ';;', span }])).toThrow(/single one-byte/)
    expect(() => copyFormat([{ name: 'quote', value: "'", span }])).toThrow(/only in CSV/)
    expect(copyFormat([{ name: 'format', value: 'csv', span }, { name: 'delimiter', value: ';', span }, { name: 'null', value: 'NA', span }])).toMatchObject({ kind: 'csv', delimiter: ';', nullString: 'NA' })
  })

  test('field splitting on its own', () => {
    expect(splitTextRecord('a\t\\N\t', TEXT)).toEqual(['a', null, ''])
    expect(splitCsvRecord('a,,"",b', CSV)).toEqual(['a', null, '', 'b'])
  })
})
