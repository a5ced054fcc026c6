import { describe, expect, it } from 'vitest'
import { Types, arrayOf, type Column } from '../common/types.ts'
import { DecodeError, checkRow, compileDecoder, timestampFromJson } from './decode.ts'
import { compileDelimitedDecoder } from './delimited.ts'

const col = (name: string, type: Column['type'], nullable = true): Column => ({ name, type, nullable })
const columns = [col('id', Types.int4), col('name', Types.text), col('ts', Types.timestamptz), col('tags', arrayOf(Types.text)), col('score', Types.float8), col('n', Types.int2)]
const decode = compileDecoder(columns)

const reason = (f: () => unknown): string => {
  try {
    f()
  } catch (err) {
    expect(err).toBeInstanceOf(DecodeError)
    return (err as Error).message
  }
  return 'decoded'
}

describe('event times in records', () => {
  it.each([
    ['{"ts": 1e300}', 'column "ts": timestamp out of range for an event time: 1e+300'],
    ['{"ts": 9e15}', 'column "ts": timestamp out of range for an event time: 9000000000000000'],
    ['{"ts": -1e300}', 'column "ts": timestamp out of range for an event time'],
    ['{"ts": 1e400}', 'column "ts": timestamp out of range for an event time'],
    ['{"ts": "infinity"}', 'column "ts": timestamp out of range for an event time: "infinity"'],
    ['{"ts": "-infinity"}', 'column "ts": timestamp out of range for an event time: "-infinity"'],
    ['{"ts": "10000-01-01 00:00:00"}', 'column "ts": timestamp out of range for an event time: "10000-01-01 00:00:00"'],
    ['{"ts": "2026-13-45 99:99:99"}', 'column "ts": date/time field value out of range: "2026-13-45 99:99:99"'],
    ['{"ts": "2026-02-30T10:00:00Z"}', 'column "ts": date/time field value out of range: "2026-02-30T10:00:00Z"'],
    ['{"ts": "0000-01-01T10:00:00Z"}', 'column "ts": date/time field value out of range'],
    ['{"ts": "soon"}', 'column "ts": invalid input syntax for type timestamp with time zone: "soon"'],
    ['{"ts": NaN}', 'malformed JSON'],
  ])('%s is a dead letter: %s', (record, expected) => expect(reason(() => decode(record))).toContain(expected))

  it('reads valid times, the fast ISO form and epoch milliseconds alike', () => {
    expect(decode('{"ts": "2026-11-23T10:00:00.123456Z"}')[2]).toBe(Date.UTC(2026, 10, 23, 10) * 1000 + 123456)
    expect(decode('{"ts": 1764000000000}')[2]).toBe(1764000000000 * 1000)
    expect(decode('{"ts": "2026-02-28T10:00:00Z"}')[2]).toBe(Date.UTC(2026, 1, 28, 10) * 1000)
    expect(decode('{"ts": "2024-02-29T10:00:00Z"}')[2]).toBe(Date.UTC(2024, 1, 29, 10) * 1000)
    expect(decode('{"ts": "2026-01-31T10:00:00.5Z"}')[2]).toBe(Date.UTC(2026, 0, 31, 10) * 1000 + 500_000)
    expect(decode('{"ts": "2026-04-30T10:00:00Z"}')[2]).toBe(Date.UTC(2026, 3, 30, 10) * 1000)
    expect(reason(() => decode('{"ts": "2026-04-31T10:00:00Z"}'))).toContain('date/time field value out of range')
    expect(reason(() => decode('{"ts": "2100-02-29T10:00:00Z"}'))).toContain('date/time field value out of range')
    expect(decode('{"ts": "2000-02-29T10:00:00Z"}')[2]).toBe(Date.UTC(2000, 1, 29, 10) * 1000)
    expect(timestampFromJson('2026-01-01 23:59:60', 'ts')).toBe(Date.UTC(2026, 0, 2) * 1000)
  })
})

describe('values as PostgreSQL takes them', () => {
  it('refuses numbers out of their type range', () => {
    expect(reason(() => decode('{"id": 1e300}'))).toContain('column "id": value 1e+300 is out of range for type integer')
    expect(reason(() => decode('{"id": 2147483648}'))).toContain('out of range for type integer')
    expect(reason(() => decode('{"n": 40000}'))).toContain('out of range for type smallint')
    expect(reason(() => decode('{"id": "99999999999"}'))).toContain('value "99999999999" is out of range for type integer')
    expect(reason(() => decode('{"score": 1e400}'))).toContain('out of range for type double precision')
    expect(reason(() => decode('{"score": "0x10"}'))).toContain('invalid input syntax for type double precision')
    expect(decode('{"id": -2147483648, "n": -32768, "score": "1.5"}')).toEqual([-2147483648, null, null, null, 1.5, -32768])
  })

  it('refuses NUL in text and bytes that are not UTF-8', () => {
    expect(reason(() => decode('{"name": "a\\u0000b"}'))).toContain('column "name": invalid byte sequence for encoding "UTF8": 0x00')
    expect(reason(() => decode('{"tags": ["x", "\\u0000"]}'))).toContain('column "tags"')
    expect(decode('{"name": "a\\\\u0000b"}')[1]).toBe('a\\u0000b') // an escaped backslash: no NUL
    expect(reason(() => decode(Buffer.from([...Buffer.from('{"name": "b'), 0xff, ...Buffer.from('"}')])))).toContain('invalid byte sequence for encoding "UTF8": 0xff')
    expect(decode(Buffer.from('{"name": "héllo ✓"}'))[1]).toBe('héllo ✓')
  })

  it('delimited records too', () => {
    const csv = compileDelimitedDecoder([col('id', Types.int4), col('ts', Types.timestamptz), col('name', Types.text)], { kind: 'csv' })
    expect(reason(() => csv('1,1e300,x'))).toContain('invalid input syntax for type timestamp')
    expect(reason(() => csv('1,9000000000000000,x'))).toContain('timestamp out of range for an event time')
    expect(reason(() => csv('1,infinity,x'))).toContain('timestamp out of range for an event time')
    expect(reason(() => csv('1,2026-13-45 99:99:99,x'))).toContain('date/time field value out of range')
    expect(reason(() => csv('99999999999,2026-01-01,x'))).toContain('out of range for type integer')
    expect(reason(() => csv('1,2026-01-01,a\0b'))).toContain('0x00')
    expect(reason(() => csv(Buffer.from([0x31, 0x2c, 0xc3, 0x28])))).toContain('0xc3 0x28')
    expect(csv('1,2026-01-01,x')).toEqual([1, Date.UTC(2026, 0, 1) * 1000, 'x'])
  })
})

describe('JSON columns of records', () => {
  it('holds a jsonb object in PostgreSQL normal form and a json one as compact JSON text', () => {
    const d = compileDecoder([col('j', Types.json), col('jb', Types.jsonb)])
    const row = d('{"j": {"bb": [1, {"z": 1, "a": null}], "a": "é"}, "jb": {"bb": [1, {"z": 1, "a": null}], "a": "é"}}')
    expect(row[0]).toBe('{"bb":[1,{"z":1,"a":null}],"a":"é"}')
    expect(row[1]).toBe('{"a": "é", "bb": [1, {"a": null, "z": 1}]}')
  })
})

describe('checkRow (INSERT and COPY)', () => {
  it('refuses infinity as an event time with 22008 and a hint, and NUL in text with 22021', () => {
    const cols = [col('ts', Types.timestamptz), col('name', Types.text)]
    const err = (row: unknown[]) => {
      try {
        checkRow(row as never, cols)
      } catch (e) {
        return e as { sqlstate: string; hint?: string }
      }
      return null
    }
    expect(err([Number.POSITIVE_INFINITY, 'x'])).toMatchObject({ sqlstate: '22008', hint: expect.stringContaining('infinity') })
    expect(err([Number.NEGATIVE_INFINITY, 'x'])?.sqlstate).toBe('22008')
    expect(err([0, 'a\0'])?.sqlstate).toBe('22021')
    expect(err([0, 'x'])).toBeNull()
  })
})

describe('record metadata (Kafka)', () => {
  it('refuses a record timestamp out of the event-time range when a column is timed by it', async () => {
    const { streamDecoder } = await import('./record-decoder.ts')
    const def = {
      columns: [col('id', Types.int4), col('produced_at', Types.timestamptz)],
      metadata: [{ index: 1, key: 'timestamp' }],
      format: { kind: 'json' },
    } as unknown as Parameters<typeof streamDecoder>[0]
    const decodeRecord = streamDecoder(def)
    const at = Date.UTC(2026, 11, 6) * 1000
    expect(decodeRecord('{"id": 1}', 0, 7, at)).toEqual([1, at])
    expect(reason(() => decodeRecord('{"id": 1}', 0, 8, 9e15 * 1000))).toContain('column "produced_at": record timestamp out of range for an event time')
  })
})
