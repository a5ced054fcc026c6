/**
 * COPY TO formatting: option checks as PostgreSQL's ProcessCopyOptions makes them, text/CSV escaping and
 * quoting as copyto.c writes, the binary format's framing, and one row per CopyData payload.
 * (test/copy.test.ts compares whole outputs with the real PostgreSQL.)
 */
import { describe, expect, it } from 'vitest'
import { SluiceError } from '../common/errors.ts'
import { Types, arrayOf, type Row } from '../common/types.ts'
import type { OptionDef } from '../parser/ast.ts'
import { BINARY_HEADER, BINARY_TRAILER, type CopyColumn, CopyToWriter, copyToChunks, copyToFormat } from './copy-to.ts'
import { arrayCursor } from './row-cursor.ts'
import { UTC_ZONE, resolveTimeZone } from './wire/timezone.ts'

const SPAN = { start: 0, end: 1 }
const opts = (o: Record<string, string | number | boolean>): OptionDef[] => Object.entries(o).map(([name, value]) => ({ name, value, span: SPAN }))
const COLS: CopyColumn[] = [
  { name: 'id', type: Types.int8 },
  { name: 'note', type: Types.text },
]

function sqlstateOf(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(SluiceError)
    return `${(err as SluiceError).sqlstate} ${(err as SluiceError).message}`
  }
  throw new Error('expected an error')
}

describe('COPY TO options', () => {
  it('defaults: text with tab and \\N; CSV with comma, empty NULL and double quotes', () => {
    expect(copyToFormat({ options: [] }, COLS)).toMatchObject({ kind: 'text', delimiter: '\t', nullString: '\\N', header: false })
    expect(copyToFormat({ options: opts({ format: 'CSV', header: true }) }, COLS)).toMatchObject({ kind: 'csv', delimiter: ',', nullString: '', header: true, quote: '"', escape: '"' })
    expect(copyToFormat({ options: opts({ format: 'csv', header: 'off', escape: '\\' }) }, COLS)).toMatchObject({ header: false, escape: '\\' })
    expect(copyToFormat({ options: opts({ format: 'csv' }), forceQuote: ['note'] }, COLS).forceQuote).toEqual([false, true])
    expect(copyToFormat({ options: opts({ format: 'csv' }), forceQuote: '*' }, COLS).forceQuote).toEqual([true, true])
  })

  it('refuses what PostgreSQL refuses, with its SQLSTATE and message', () => {
    const cases: [Record<string, string | number | boolean>, string][] = [
      [{ format: 'xml' }, '22023 COPY format "xml" not recognized'],
      [{ foo: 1 }, '42601 option "foo" not recognized'],
      [{ format: 'binary', delimiter: ',' }, '42601 cannot specify DELIMITER in BINARY mode'],
      [{ format: 'binary', null: 'x' }, '42601 cannot specify NULL in BINARY mode'],
      [{ format: 'binary', header: true }, '0A000 cannot specify HEADER in BINARY mode'],
      [{ format: 'text', quote: '"' }, '0A000 COPY quote available only in CSV mode'],
      [{ format: 'text', escape: '"' }, '0A000 COPY escape available only in CSV mode'],
      [{ format: 'csv', escape: 'xx' }, '0A000 COPY escape must be a single one-byte character'],
      [{ format: 'csv', delimiter: '||' }, '0A000 COPY delimiter must be a single one-byte character'],
      [{ format: 'csv', quote: ',' }, '22023 COPY delimiter and quote must be different'],
      [{ format: 'csv', null: 'x,' }, '0A000 COPY delimiter must not appear in the NULL specification'],
      [{ format: 'csv', header: 'match' }, '0A000 cannot use "match" with HEADER in COPY TO'],
      [{ header: 'maybe' }, '42601 header requires a Boolean value or "match"'],
      [{ format: 'csv', force_not_null: true }, '0A000 COPY force not null only available using COPY FROM'],
      [{ format: 'text', delimiter: 'a' }, '22023 COPY delimiter cannot be "a"'],
    ]
    for (const [o, expected] of cases) expect(sqlstateOf(() => copyToFormat({ options: opts(o) }, COLS)), JSON.stringify(o)).toBe(expected)
    const twice: OptionDef[] = [...opts({ format: 'csv' }), ...opts({ FORMAT: 'csv' })]
    expect(sqlstateOf(() => copyToFormat({ options: twice }, COLS))).toBe('42601 conflicting or redundant options')
    expect(sqlstateOf(() => copyToFormat({ options: opts({ format: 'text', force_quote: true }), forceQuote: '*' }, COLS))).toBe('0A000 COPY force quote available only in CSV mode')
    expect(sqlstateOf(() => copyToFormat({ options: opts({ format: 'csv', force_quote: true }), forceQuote: ['nope'] }, COLS))).toBe('42703 column "nope" does not exist')
  })
})

describe('COPY TO rows', () => {
  const text = (o: Record<string, string | number | boolean>, row: Row, columns = COLS, forceQuote?: '*' | string[]) =>
    new CopyToWriter(copyToFormat({ options: opts(o), ...(forceQuote === undefined ? {} : { forceQuote }) }, columns), columns, UTC_ZONE).row(row).toString('utf8')

  it('text: backslash escapes for backslash, control characters and the delimiter; \\N for NULL', () => {
    expect(text({}, [1, 'a\tb\nc\\d\re\bf\fg\vh'])).toBe('1\ta\\tb\\nc\\\\d\\re\\bf\\fg\\vh\n')
    expect(text({}, [null, ''])).toBe('\\N\t\n')
    expect(text({ delimiter: '|' }, [2, 'x|y'])).toBe('2|x\\|y\n')
    expect(text({ null: 'NIL' }, [null, 'é'])).toBe('NIL\té\n')
  })

  it('CSV: quoted only when needed (delimiter, quote, CR, LF, the NULL string); quotes doubled', () => {
    expect(text({ format: 'csv' }, [1, 'plain'])).toBe('1,plain\n')
    expect(text({ format: 'csv' }, [1, 'a,b'])).toBe('1,"a,b"\n')
    expect(text({ format: 'csv' }, [1, 'say "hi"'])).toBe('1,"say ""hi"""\n')
    expect(text({ format: 'csv' }, [1, 'two\nlines'])).toBe('1,"two\nlines"\n')
    // An empty string is quoted so that it is not read back as NULL.
    expect(text({ format: 'csv' }, [null, ''])).toBe(',""\n')
    expect(text({ format: 'csv', null: 'N' }, [null, 'N'])).toBe('N,"N"\n')
    expect(text({ format: 'csv', escape: '\\' }, [1, 'a"b\\c'])).toBe('1,"a\\"b\\\\c"\n')
    expect(text({ format: 'csv' }, [1, 'x'], COLS, '*')).toBe('"1","x"\n')
    expect(text({ format: 'csv' }, [null, null], COLS, '*')).toBe(',\n')
    // `\.` alone on a line would end the data: quoted when it is the only column.
    expect(text({ format: 'csv' }, ['\\.'], [{ name: 'v', type: Types.text }])).toBe('"\\."\n')
    expect(text({ format: 'csv' }, [1, '\\.'])).toBe('1,\\.\n')
  })

  it('arrays and timestamps in text: the array literal, the zone of the session', () => {
    const cols: CopyColumn[] = [
      { name: 'xs', type: arrayOf(Types.text) },
      { name: 'ts', type: Types.timestamptz },
    ]
    const row: Row = [['a', null, 'b c'], Date.UTC(2026, 2, 29, 1, 30) * 1000]
    expect(text({}, row, cols)).toBe('{a,NULL,"b c"}\t2026-03-29 01:30:00+00\n')
    expect(text({ format: 'csv' }, row, cols)).toBe('"{a,NULL,""b c""}",2026-03-29 01:30:00+00\n')
    const berlin = new CopyToWriter(copyToFormat({ options: [] }, cols), cols, resolveTimeZone('Europe/Berlin'))
    expect(berlin.row(row).toString()).toBe('{a,NULL,"b c"}\t2026-03-29 03:30:00+02\n')
  })

  it('header: the column names, escaped like values', () => {
    const cols: CopyColumn[] = [
      { name: 'a,b', type: Types.int4 },
      { name: 'c', type: Types.int4 },
    ]
    expect(new CopyToWriter(copyToFormat({ options: opts({ format: 'csv', header: true }) }, cols), cols, UTC_ZONE).header()?.toString()).toBe('"a,b",c\n')
    expect(new CopyToWriter(copyToFormat({ options: opts({ header: true }) }, cols), cols, UTC_ZONE).header()?.toString()).toBe('a,b\tc\n')
    expect(new CopyToWriter(copyToFormat({ options: [] }, cols), cols, UTC_ZONE).header()).toBeNull()
  })

  it('binary: signature, then per row a field count and length-prefixed fields, then -1', () => {
    expect(BINARY_HEADER.toString('hex')).toBe('5047434f50590aff0d0a00' + '00000000' + '00000000')
    const w = new CopyToWriter(copyToFormat({ options: opts({ format: 'binary' }) }, COLS), COLS, UTC_ZONE)
    expect(w.row([7, null]).toString('hex')).toBe('0002' + '00000008' + '0000000000000007' + 'ffffffff')
    expect(w.row([1, 'é']).toString('hex')).toBe('0002' + '00000008' + '0000000000000001' + '00000002' + 'c3a9')
    expect(w.trailer()).toEqual(BINARY_TRAILER)
  })
})

describe('COPY TO messages', () => {
  const collect = async (format: Record<string, string | number | boolean>, rows: Row[]) => {
    const writer = new CopyToWriter(copyToFormat({ options: opts(format) }, COLS), COLS, UTC_ZONE)
    const { chunks, rowCount } = copyToChunks(arrayCursor(rows), writer)
    const out: string[] = []
    for await (const c of chunks) out.push(c.toString('latin1'))
    return { out, count: rowCount() }
  }
  const rows: Row[] = Array.from({ length: 2500 }, (_, i) => [i, `n${i}`])

  it('one row per message; a CSV header is a message of its own', async () => {
    const csv = await collect({ format: 'csv', header: true }, rows)
    expect(csv.count).toBe(2500)
    expect(csv.out.length).toBe(2501)
    expect(csv.out[0]).toBe('id,note\n')
    expect(csv.out[1]).toBe('0,n0\n')
    expect(csv.out.every((m) => m.split('\n').length === 2)).toBe(true)
  })

  it('binary: the signature travels with the first row, the trailer alone; with no rows, both in one', async () => {
    const bin = await collect({ format: 'binary' }, rows.slice(0, 2))
    expect(bin.out.length).toBe(3)
    expect(bin.out[0]!.startsWith('PGCOPY\n\xff\r\n\0')).toBe(true)
    expect(bin.out[2]).toBe('\xff\xff')
    const empty = await collect({ format: 'binary' }, [])
    expect(empty.out).toEqual([BINARY_HEADER.toString('latin1') + '\xff\xff'])
    expect(empty.count).toBe(0)
  })
})
