/**
 * Time in the session's TimeZone, as PostgreSQL computes it: timestamptz values are instants, and whatever
 * looks at their calendar fields (text output, casts to timestamp or date, date_trunc, extract, adding a day
 * or a month) does so in the session's zone. Also the zones `AT TIME ZONE` names, which PostgreSQL reads
 * differently from `SET TimeZone`: abbreviations (`PST`), and a bare number in POSIX sign (`'+02'` is two
 * hours west).
 */
import { SluiceError, SqlState } from '../common/errors.ts'
import { MICROS_PER_DAY, MICROS_PER_SECOND, Types, formatValue, parseValue, type Interval, type SqlType, type Value } from '../common/types.ts'
import type { BoundExpr } from './bound.ts'
import { type TimeZone, UTC_ZONE, formatOffset, formatTimestamptz, localToUtc, resolveTimeZone, utcToLocal } from '../common/time-zone.ts'
import { addMonthsDays, inRange } from './calendar.ts'
import { wrapTime } from '../common/time-of-day.ts'
import type { EvalContext } from './runtime.ts'

/** The session's TimeZone; UTC where there is no session (continuous views). */
export function sessionZone(ctx: EvalContext): TimeZone {
  const name = ctx.settings?.get('timezone')
  return name === undefined || name === 'UTC' ? UTC_ZONE : resolveTimeZone(name)
}

const fixed = (name: string, seconds: number): TimeZone => ({ name, offsetSeconds: () => seconds })

/** PostgreSQL's default zone abbreviations (the `Default` set) that dashboards use; hours east of UTC. */
const ABBREVIATIONS: Readonly<Record<string, number>> = {
  utc: 0, ut: 0, gmt: 0, z: 0, zulu: 0, wet: 0, west: 1, bst: 1, cet: 1, cest: 2, met: 1, mest: 2, eet: 2, eest: 3,
  msk: 3, ist: 2, jst: 9, kst: 9, hkt: 8, awst: 8, acst: 9.5, acdt: 10.5, aest: 10, aedt: 11, nzst: 12, nzdt: 13,
  est: -5, edt: -4, cst: -6, cdt: -5, mst: -7, mdt: -6, pst: -8, pdt: -7, akst: -9, akdt: -8, hst: -10, ast: -4, adt: -3, nst: -3.5, ndt: -2.5,
}

const zoneCache = new Map<string, TimeZone>()

/** The zone `AT TIME ZONE 'spec'` means; 22023 for one PostgreSQL would not know. */
export function atTimeZone(spec: string): TimeZone {
  let zone = zoneCache.get(spec)
  if (zone === undefined) {
    zone = parseAtZone(spec)
    if (zoneCache.size > 256) zoneCache.clear()
    zoneCache.set(spec, zone)
  }
  return zone
}

function parseAtZone(spec: string): TimeZone {
  const abbrev = ABBREVIATIONS[spec.toLowerCase()]
  if (abbrev !== undefined) return fixed(spec, Math.round(abbrev * 3600))
  // A bare offset is POSIX: hours west of UTC.
  const m = /^([+-]?)(\d{1,2})(?::?(\d{2}))?(?::(\d{2}))?$/.exec(spec)
  if (m !== null) {
    const west = Number(m[2]) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0)
    return fixed(spec, m[1] === '-' ? west : -west)
  }
  try {
    return resolveTimeZone(spec)
  } catch {
    throw new SluiceError('execution', SqlState.invalidParameterValue, `time zone "${spec}" not recognized`)
  }
}

/** `AT TIME ZONE INTERVAL '-03:00'`: a fixed offset east of UTC; months are refused as PostgreSQL does. */
export function intervalZone(i: Interval): TimeZone {
  if (i.months !== 0 || i.days !== 0) throw new SluiceError('execution', SqlState.invalidParameterValue, `interval time zone "${formatValue(i, { name: 'interval' })}" must not include months or days`)
  return fixed('interval', Math.trunc(i.micros / MICROS_PER_SECOND))
}

/** `tstz AT TIME ZONE z`: the wall clock there, a timestamp. */
export const tstzToLocal = (ts: number, zone: TimeZone): number => utcToLocal(ts, zone)
/** `ts AT TIME ZONE z`: the instant that wall clock shows there, a timestamptz. */
export const localToTstz = (ts: number, zone: TimeZone): number => inRange(localToUtc(ts, zone))

/**
 * timestamptz + interval in a zone: months and days move the wall clock (so a day across a DST change is 23
 * or 25 hours), the time part moves the instant, as timestamptz_pl_interval.
 */
export function tstzPlusInterval(ts: number, i: Interval, sign: 1 | -1, zone: TimeZone): number {
  if (!Number.isFinite(ts)) return ts
  let out = ts
  // In UTC (every continuous view) a day is 24 hours: no wall clock to go through.
  if (i.months === 0 && zone === UTC_ZONE) return inRange(ts + sign * (i.days * MICROS_PER_DAY + i.micros))
  if (i.months !== 0 || i.days !== 0) out = localToUtc(addMonthsDays(utcToLocal(out, zone), sign * i.months, sign * i.days), zone)
  return inRange(out + sign * i.micros)
}

/** timestamp + interval: the same by the calendar, without a zone. */
export function tsPlusInterval(ts: number, i: Interval, sign: 1 | -1): number {
  if (!Number.isFinite(ts)) return ts
  return inRange(addMonthsDays(ts, sign * i.months, sign * i.days) + sign * i.micros)
}

/** A timestamptz as text in the session's zone (`::text`, `||`). */
export const tstzText = (ts: number, ctx: EvalContext): string => formatTimestamptz(ts, sessionZone(ctx))

/** Text of any value where timestamptz (and arrays of it) follow the session's zone. */
export function textInZone(v: Value, t: SqlType, ctx: EvalContext): string | null {
  if (v === null) return null
  if (t.name !== 'timestamptz') return formatValue(v, t)
  const zone = sessionZone(ctx)
  if (zone === UTC_ZONE) return formatValue(v, t)
  if (!t.element) return typeof v === 'number' ? formatTimestamptz(v, zone) : formatValue(v, t)
  if (!Array.isArray(v)) return formatValue(v, t)
  return `{${v.map((x) => (typeof x === 'number' ? (Number.isFinite(x) ? `"${formatTimestamptz(x, zone)}"` : formatTimestamptz(x, zone)) : 'NULL')).join(',')}}`
}

/**
 * A timestamp text that names no zone (`2024-03-31`, `2024-03-31 12:00:05.5`, `2024-03-31T12:00`): as a
 * timestamptz, PostgreSQL reads it on the session's wall clock.
 */
export const isZonelessTimestampText = (text: string): boolean => /^\s*\d{4,}-\d{1,2}-\d{1,2}(?:(?:T|\s+)\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\s*$/i.test(text)

/**
 * A timestamptz literal (or untyped text meeting a timestamptz): checked now, and when it names no zone read
 * when the statement runs, in the session's zone (a cast of the text, which planning does not fold).
 */
export function timestamptzLiteral(text: string): BoundExpr {
  const value = parseValue(text, Types.timestamptz)
  if (!isZonelessTimestampText(text)) return { kind: 'const', value, type: Types.timestamptz }
  return { kind: 'cast', expr: { kind: 'const', value: text, type: Types.text }, type: Types.timestamptz }
}

/** Casts that depend on the session's zone: timestamptz to and from timestamp, date and text. */
export function zoneCast(v: Value, from: SqlType, to: SqlType, ctx: EvalContext): Value {
  if (Array.isArray(v)) return textInZone(v, from, ctx)
  if (typeof v === 'string' && to.name === 'timestamptz') {
    return isZonelessTimestampText(v) ? localToTstz(parseValue(v, Types.timestamp) as number, sessionZone(ctx)) : parseValue(v, Types.timestamptz)
  }
  if (v === null || typeof v !== 'number') return v
  const zone = sessionZone(ctx)
  if (from.name === 'timestamptz') {
    if (to.name === 'text') return formatTimestamptz(v, zone)
    if (to.name === 'timestamp') return utcToLocal(v, zone)
    if (to.name === 'time') {
      const local = utcToLocal(v, zone)
      return Number.isFinite(local) ? wrapTime(local) : local
    }
    if (to.name === 'date') {
      const local = utcToLocal(v, zone)
      return Number.isFinite(local) ? Math.floor(local / MICROS_PER_DAY) * MICROS_PER_DAY : local
    }
  }
  if (to.name === 'timestamptz' && (from.name === 'timestamp' || from.name === 'date')) return localToTstz(v, zone)
  return v
}

/** Whether a cast between these types reads the session's zone (and so must not be folded when planned). */
export const isZoneCast = (from: SqlType, to: SqlType): boolean =>
  (from.name === 'timestamptz' && from.element !== undefined && to.name === 'text' && !to.element) ||
  (!from.element && !to.element &&
  ((from.name === 'timestamptz' && (to.name === 'text' || to.name === 'timestamp' || to.name === 'date' || to.name === 'time')) ||
    (to.name === 'timestamptz' && (from.name === 'timestamp' || from.name === 'date' || from.name === 'text'))))

/** The offset of an instant in the session's zone, as `+02` (to_char's OF, extract(timezone)). */
export const offsetSeconds = (ts: number, zone: TimeZone): number => zone.offsetSeconds(Math.floor(ts / 1000))
export { formatOffset }
