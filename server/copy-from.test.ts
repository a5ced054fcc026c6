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

  test('bytes that are not UTF-8 and NUL fail with 22021 at their line, as in PostgreSQL; escapes are bytes', async () => {
    const bad = (parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))))
    const run = async (chunks: Buffer[], format = TEXT) => {
      const sink = new CopyFromSink('s', columns, [0, 1, 2], format, async (b) => b.length)
      for (const c of chunks) await sink.write(c)
      return sink.end()
    }
    await expect(run([bad(['1\tok\t1\n2\tb', [0xff], 'ad\t1\n'])])).rejects.toMatchObject({ sqlstate: '22021', message: 'invalid byte sequence for encoding "UTF8": 0xff', detail: 'COPY s, line 2' })
    await expect(run([bad(['1\tok\t1\n']), bad(['2\tok\t1\n3\ta', [0], 'b\t1\n'])])).rejects.toMatchObject({ sqlstate: '22021', message: 'invalid byte sequence for encoding "UTF8": 0x00', detail: 'COPY s, line 3' })
    await expect(run([bad(['1\tok\t1\n2\tb', [0xc3]])])).rejects.toMatchObject({ sqlstate: '22021' })
    await expect(run([Buffer.from('1\tb\\000x\t1\n')])).rejects.toMatchObject({ sqlstate: '22021', message: 'invalid byte sequence for encoding "UTF8": 0x00', detail: 'COPY s, line 1' })
    await expect(run([Buffer.from('1\tb\\xff\t1\n')])).rejects.toMatchObject({ sqlstate: '22021' })
    await expect(run([bad(['1,b', [0xfe], ',1\n'])], CSV)).rejects.toMatchObject({ sqlstate: '22021' })
    const { rows } = await copy(TEXT, ['1\tcaf\\xc3\\xa9\t1\n'])
    expect(rows).toEqual([[1, 'café', 1]])
  })

  test('timestamps: strict fields (22008), bad syntax (22007), and only event times (22008 with a hint)', async () => {
    const timed: Column[] = [{ name: 'ts', type: Types.timestamptz, nullable: true }]
    const run = async (data: string) => {
      const sink = new CopyFromSink('s', timed, [0], TEXT, async (b) => b.length)
      await sink.write(Buffer.from(data))
      return sink.end()
    }
    await expect(run('2026-01-01\n2026-13-45 99:99:99\n')).rejects.toMatchObject({ sqlstate: '22008', message: 'date/time field value out of range: "2026-13-45 99:99:99"', detail: 'COPY s, line 2, column ts: "2026-13-45 99:99:99"' })
    await expect(run('soon\n')).rejects.toMatchObject({ sqlstate: '22007' })
    await expect(run('infinity\n')).rejects.toMatchObject({ sqlstate: '22008', hint: expect.stringContaining('infinity') })
    await expect(run('12026-01-01\n')).rejects.toMatchObject({ sqlstate: '22008' })
    await expect(run('2026-01-01 10:00:00+00\n')).resolves.toBe('COPY 1')
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
