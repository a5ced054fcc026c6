/** TimeZone settings and timestamptz text in a zone (test/timezone.test.ts compares with PostgreSQL). */
import { describe, expect, it } from 'vitest'
import { Types, arrayOf } from '../../common/types.ts'
import { UTC_ZONE, formatOffset, formatText, formatTimestamptz, resolveTimeZone } from './timezone.ts'

const at = (iso: string): number => Date.parse(iso) * 1000

describe('TimeZone', () => {
  it('offsets as PostgreSQL spells them: hours, then minutes and seconds only when not zero', () => {
    expect(formatOffset(0)).toBe('+00')
    expect(formatOffset(3600)).toBe('+01')
    expect(formatOffset(19800)).toBe('+05:30')
    expect(formatOffset(-12600)).toBe('-03:30')
    expect(formatOffset(-(3 * 3600 + 30 * 60 + 52))).toBe('-03:30:52')
  })

  it('tz database zones follow daylight saving time', () => {
    const berlin = resolveTimeZone('Europe/Berlin')
    expect(formatTimestamptz(at('2026-03-29T00:59:59Z'), berlin)).toBe('2026-03-29 01:59:59+01')
    expect(formatTimestamptz(at('2026-03-29T01:00:00Z'), berlin)).toBe('2026-03-29 03:00:00+02')
    expect(formatTimestamptz(at('2026-10-25T00:59:59.5Z'), berlin)).toBe('2026-10-25 02:59:59.5+02')
    expect(formatTimestamptz(at('2026-10-25T01:00:00Z'), berlin)).toBe('2026-10-25 02:00:00+01')
    expect(formatTimestamptz(at('2026-06-01T12:00:00Z'), resolveTimeZone('Asia/Kolkata'))).toBe('2026-06-01 17:30:00+05:30')
    expect(formatTimestamptz(Number.POSITIVE_INFINITY, berlin)).toBe('infinity')
    // Names are found in any case and shown in the tz database's spelling.
    expect(resolveTimeZone('europe/berlin').name).toBe('Europe/Berlin')
  })

  it('numbers are hours east (ISO), POSIX STD+offset hours west', () => {
    const plus2 = resolveTimeZone('+02')
    expect(plus2.name).toBe('<+02>-02')
    expect(formatTimestamptz(at('2026-01-01T00:00:00Z'), plus2)).toBe('2026-01-01 02:00:00+02')
    expect(resolveTimeZone('-5.5').name).toBe('<-05:30>+05:30')
    const posix = resolveTimeZone('UTC+3')
    expect(posix.name).toBe('UTC+3')
    expect(formatTimestamptz(at('2026-01-01T00:00:00Z'), posix)).toBe('2025-12-31 21:00:00-03')
    expect(resolveTimeZone('utc').name).toBe('UTC')
  })

  it('an unknown zone is 22023', () => {
    expect(() => resolveTimeZone('Nowhere/Else')).toThrow(expect.objectContaining({ sqlstate: '22023', message: 'invalid value for parameter "TimeZone": "Nowhere/Else"' }))
  })

  it('only timestamptz text changes with the zone', () => {
    const kolkata = resolveTimeZone('Asia/Kolkata')
    const t = at('2026-06-01T00:00:00Z')
    expect(formatText(t, Types.timestamptz, kolkata)).toBe('2026-06-01 05:30:00+05:30')
    expect(formatText(t, Types.timestamp, kolkata)).toBe('2026-06-01 00:00:00')
    expect(formatText([t, null], arrayOf(Types.timestamptz), kolkata)).toBe('{"2026-06-01 05:30:00+05:30",NULL}')
    expect(formatText(t, Types.timestamptz, UTC_ZONE)).toBe('2026-06-01 00:00:00+00')
  })
})
