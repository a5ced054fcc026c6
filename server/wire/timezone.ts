/**
 * How text-format cells show timestamptz values in the session's TimeZone (the zones themselves are in
 * common/time-zone.ts, which expressions share).
 */
import { type SqlType, type Value, formatValue } from '../../common/types.ts'
import { type TimeZone, UTC_ZONE, formatTimestamptz } from '../../common/time-zone.ts'

export { type TimeZone, UTC_ZONE, formatOffset, formatTimestamptz, resolveTimeZone } from '../../common/time-zone.ts'

/** Text output of a value in a zone: timestamptz (and arrays of it) in the zone, everything else as always. */
export function formatText(v: Value, t: SqlType, zone: TimeZone): string | null {
  if (zone === UTC_ZONE || v === null || t.name !== 'timestamptz') return formatValue(v, t)
  if (!t.element) return typeof v === 'number' ? formatTimestamptz(v, zone) : formatValue(v, t)
  if (!Array.isArray(v)) return formatValue(v, t)
  // Every shown timestamptz has a space: array elements are quoted.
  return `{${v.map((x) => (typeof x === 'number' ? (Number.isFinite(x) ? `"${formatTimestamptz(x, zone)}"` : formatTimestamptz(x, zone)) : 'NULL')).join(',')}}`
}
