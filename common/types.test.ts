import { describe, expect, it } from 'vitest'
import { SluiceError } from './errors.ts'
import {
  EVENT_TIME_END,
  EVENT_TIME_MIN,
  PG_TIMESTAMP_END,
  PG_TIMESTAMP_MIN,
  Types,
  civilFromDays,
  daysFromCivil,
  eventTimeError,
  formatTimestamp,
  invalidUtf8At,
  parseTimestamp,
  parseValue,
  utf8Text,
} from './types.ts'

const code = (f: () => unknown): string => {
  try {
    f()
  } catch (err) {
    return (err as SluiceError).sqlstate
  }
  return 'ok'
}

describe('calendar arithmetic', () => {
  it('agrees with Date where Date is right, and round-trips far beyond it', () => {
    for (const [y, m, d] of [[1970, 1, 1], [2000, 2, 29], [2026, 12, 31], [1600, 3, 1], [9999, 12, 31]] as const) {
      const days = daysFromCivil(y, m, d)
      expect(days * 86_400_000).toBe(new Date(`${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}T00:00:00Z`).getTime())
      expect(civilFromDays(days)).toEqual([y, m, d])
    }
    for (const days of [-2_500_000, -719_162, 0, 106_751_991, 106_000_000]) expect(daysFromCivil(...civilFromDays(days))).toBe(days)
  })

  it('has PostgreSQL timestamp bounds', () => {
    expect(formatTimestamp(PG_TIMESTAMP_MIN)).toBe('4714-11-24 00:00:00+00 BC')
    expect(formatTimestamp(PG_TIMESTAMP_END - 86_400_000_000)).toBe('294276-12-31 00:00:00+00')
    expect(formatTimestamp(parseTimestamp('294276-12-31 23:59:59'))).toBe('294276-12-31 23:59:59+00')
    expect(formatTimestamp(parseTimestamp('4714-11-24 10:00:01 BC'))).toBe('4714-11-24 10:00:01+00 BC')
    expect(formatTimestamp(parseTimestamp('9999-12-31 23:59:59.5'))).toBe('9999-12-31 23:59:59.5+00')
    expect(formatTimestamp(EVENT_TIME_MIN)).toBe('0001-01-01 00:00:00+00')
    expect(formatTimestamp(EVENT_TIME_END)).toBe('10000-01-01 00:00:00+00')
  })
})

describe('parseTimestamp is as strict as PostgreSQL', () => {
  // SQLSTATEs as PostgreSQL 16 gives them for `SELECT '<text>'::timestamptz` (test/poisoned-input.test.ts asks the real one).
  const cases: [string, string][] = [
    ['2026-13-45 99:99:99', '22008'],
    ['2026-02-30', '22008'],
    ['2026-02-29', '22008'],
    ['2026-01-01 25:00:00', '22008'],
    ['2026-01-01 23:60:00', '22008'],
    ['2026-01-01 23:59:60.5', '22008'],
    ['2026-01-01 24:00:00.5', '22008'],
    ['0000-01-01', '22008'],
    ['294277-01-01', '22008'],
    ['4714-11-23 23:00:00 BC', '22008'],
    ['2026-01-01 10:00:00+16', '22009'],
    ['garbage', '22007'],
    ['2026-01-01 24:00:00', 'ok'],
    ['2026-01-01 23:59:60', 'ok'],
    ['2028-02-29 10:00', 'ok'],
    ['294276-12-31 23:59:59', 'ok'],
    ['4714-11-24 00:00:00 BC', 'ok'],
    ['infinity', 'ok'],
  ]
  it.each(cases)('%s -> %s', (text, expected) => expect(code(() => parseTimestamp(text))).toBe(expected))

  it('reads what PostgreSQL reads', () => {
    expect(formatTimestamp(parseTimestamp('2026-01-01 24:00:00'))).toBe('2026-01-02 00:00:00+00')
    expect(formatTimestamp(parseTimestamp('2026-01-01 10:00:00 +01:30'))).toBe('2026-01-01 08:30:00+00')
    expect(formatTimestamp(parseTimestamp('2026-01-01T10:00:00.1234567Z'))).toBe('2026-01-01 10:00:00.123457+00')
    expect(formatTimestamp(parseTimestamp('0044-03-15 BC'))).toBe('0044-03-15 00:00:00+00 BC')
    expect(parseTimestamp('2026-11-23T10:00:00.123Z')).toBe(Date.parse('2026-11-23T10:00:00.123Z') * 1000)
  })
})

describe('event times', () => {
  it('refuses what cannot be an event time with 22008 and a hint', () => {
    for (const v of [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, 1e303, 9e18, EVENT_TIME_END, EVENT_TIME_MIN - 1_000_000]) {
      const err = eventTimeError(v, 'ts')
      expect(err?.sqlstate).toBe('22008')
      expect(err?.message).toContain('"ts"')
      expect(err?.hint).toContain('0001-01-01')
    }
    expect(eventTimeError(parseTimestamp('2026-06-01 12:00:00'), 'ts')).toBeNull()
    expect(eventTimeError(EVENT_TIME_MIN, 'ts')).toBeNull()
  })
})

describe('parseValue numbers and text', () => {
  it('refuses out-of-range numbers with 22003 as PostgreSQL does', () => {
    expect(code(() => parseValue('40000', Types.int2))).toBe('22003')
    expect(code(() => parseValue('2147483648', Types.int4))).toBe('22003')
    expect(code(() => parseValue('9223372036854775808', Types.int8))).toBe('22003')
    expect(code(() => parseValue('1e400', Types.float8))).toBe('22003')
    expect(code(() => parseValue('1e-400', Types.float8))).toBe('22003')
    expect(code(() => parseValue('1e39', Types.float4))).toBe('22003')
    expect(code(() => parseValue('0.0e-400', Types.float8))).toBe('ok')
    expect(() => parseValue('40000', Types.int2)).toThrow('value "40000" is out of range for type smallint')
    expect(() => parseValue('1e400', Types.float8)).toThrow('"1e400" is out of range for type double precision')
  })

  it('refuses NUL in text with 22021', () => {
    expect(code(() => parseValue('a\0b', Types.text))).toBe('22021')
  })
})

describe('UTF-8', () => {
  it('finds the first byte PostgreSQL refuses', () => {
    expect(invalidUtf8At(Buffer.from('héllo'))).toBe(-1)
    expect(invalidUtf8At(Buffer.from([0x61, 0xff, 0x62]))).toBe(1)
    expect(invalidUtf8At(Buffer.from([0x61, 0x00]))).toBe(1)
    expect(invalidUtf8At(Buffer.from([0xc3]))).toBe(0) // truncated
    expect(invalidUtf8At(Buffer.from([0xc0, 0x80]))).toBe(0) // overlong
    expect(invalidUtf8At(Buffer.from([0xed, 0xa0, 0x80]))).toBe(0) // surrogate
    expect(() => utf8Text(Buffer.from([0x62, 0xff, 0x61]))).toThrow('invalid byte sequence for encoding "UTF8": 0xff')
    expect(utf8Text(Buffer.from('ok ✓'))).toBe('ok ✓')
  })
})
