/**
 * Date and time functions with PostgreSQL's semantics: date_trunc (with a zone), extract / date_part (of
 * timestamps in the session's zone and of intervals), date_bin, age, make_date / make_timestamp /
 * make_timestamptz / make_interval, justify_*, AT TIME ZONE (`timezone(zone, ts)`). The runtime halves are
 * plain functions reached through the constant table; the ones that read the session's zone take `ctx` and
 * are marked volatile so that planning never folds them in the planner's zone.
 */
import { SluiceError, SqlState } from '../common/errors.ts'
import { Numeric, type Num } from '../common/numeric.ts'
import { type TimeZone, UTC_ZONE, localToUtc, utcToLocal } from '../common/time-zone.ts'
import {
  MICROS_PER_DAY,
  MICROS_PER_HOUR,
  MICROS_PER_MINUTE,
  MICROS_PER_SECOND,
  Types,
  daysFromCivil,
  isNumeric,
  type Interval,
  type SqlType,
} from '../common/types.ts'
import type { EmitContext, ScalarImpl } from './bound.ts'
import { daysInMonth, fieldsOf, inRange, isoWeek, timestampOf } from './calendar.ts'
import type { Resolved } from './bound.ts'
import type { EvalContext } from './runtime.ts'
import { atTimeZone, intervalZone, localToTstz, offsetSeconds, sessionZone, tsPlusInterval, tstzPlusInterval, tstzToLocal } from './time-zone-eval.ts'
import { DATETIME_FORMAT_FUNCTIONS } from './datetime-format.ts'

type FunctionRule = (args: readonly SqlType[]) => Resolved | undefined

const isText = (t: SqlType): boolean => !t.element && (t.name === 'text' || t.name === 'unknown')
const isTs = (t: SqlType): boolean => !t.element && (t.name === 'timestamp' || t.name === 'timestamptz')
const isInterval = (t: SqlType): boolean => !t.element && t.name === 'interval'
const isNum = (t: SqlType): boolean => isNumeric(t) || (t.name === 'unknown' && !t.element)

const pure = (emit: (a: readonly string[], c: EmitContext) => string): ScalarImpl => ({ strict: true, emit })
/** Reads the session's zone: never folded when planned. */
const zoned = (emit: (a: readonly string[], c: EmitContext) => string): ScalarImpl => ({ strict: true, volatile: true, emit })

const TYPE_NAMES: Record<string, string> = { timestamp: 'timestamp without time zone', timestamptz: 'timestamp with time zone', date: 'date', interval: 'interval' }

const notRecognized = (unit: string, type: string): SluiceError =>
  new SluiceError('execution', SqlState.invalidParameterValue, `unit "${unit}" not recognized for type ${TYPE_NAMES[type] ?? type}`)
const notSupported = (unit: string, type: string): SluiceError =>
  new SluiceError('execution', SqlState.featureNotSupported, `unit "${unit}" not supported for type ${TYPE_NAMES[type] ?? type}`)

/** PostgreSQL's spellings of the units (its deltatktbl), lower-cased, to one name. */
const UNIT_SYNONYMS: Readonly<Record<string, string>> = (() => {
  const groups: Record<string, readonly string[]> = {
    microseconds: ['microsecond', 'microseconds', 'microsecon', 'us', 'usec', 'usecs', 'useconds', 'usecond'],
    milliseconds: ['millisecond', 'milliseconds', 'millisecon', 'ms', 'msec', 'msecs', 'mseconds', 'msecond'],
    second: ['second', 'seconds', 's', 'sec', 'secs'],
    minute: ['minute', 'minutes', 'm', 'min', 'mins'],
    hour: ['hour', 'hours', 'h', 'hr', 'hrs'],
    day: ['day', 'days', 'd'],
    week: ['week', 'weeks', 'w'],
    month: ['month', 'months', 'mon', 'mons'],
    quarter: ['quarter', 'qtr'],
    year: ['year', 'years', 'y', 'yr', 'yrs'],
    decade: ['decade', 'decades', 'dec', 'decs'],
    century: ['century', 'centuries', 'c', 'cent'],
    millennium: ['millennium', 'millennia', 'mil', 'mils', 'millenniums'],
    epoch: ['epoch'],
    dow: ['dow'],
    isodow: ['isodow'],
    doy: ['doy'],
    isoyear: ['isoyear'],
    julian: ['julian', 'j'],
    timezone: ['timezone'],
    timezone_hour: ['timezone_h', 'timezone_hour'],
    timezone_minute: ['timezone_m', 'timezone_minute'],
  }
  const out: Record<string, string> = {}
  for (const [name, spellings] of Object.entries(groups)) for (const s of spellings) out[s] = name
  return out
})()

/** Units by their spelling as given: the unit is nearly always a constant, so this is one lookup per event. */
const unitCache = new Map<string, string | undefined>()
function unitName(unit: string): string | undefined {
  let u = unitCache.get(unit)
  if (u === undefined && !unitCache.has(unit)) {
    u = UNIT_SYNONYMS[unit.toLowerCase()]
    if (unitCache.size > 256) unitCache.clear()
    unitCache.set(unit, u)
  }
  return u
}

const TRUNC_FIXED: Readonly<Record<string, number>> = { microseconds: 1, milliseconds: 1000, second: MICROS_PER_SECOND, minute: MICROS_PER_MINUTE, hour: MICROS_PER_HOUR, day: MICROS_PER_DAY }

/** Truncates a wall-clock time to the unit; undefined for a unit that is no truncation unit. */
function truncLocal(unit: string, local: number): number | undefined {
  const fixed = TRUNC_FIXED[unit]
  if (fixed !== undefined) return Math.floor(local / fixed) * fixed
  const f = fieldsOf(local)
  switch (unit) {
    case 'week': {
      const days = Math.floor(local / MICROS_PER_DAY)
      return (days - ((f.dow + 6) % 7)) * MICROS_PER_DAY
    }
    case 'month':
      return timestampOf(f.year, f.month, 1)
    case 'quarter':
      return timestampOf(f.year, Math.floor((f.month - 1) / 3) * 3 + 1, 1)
    case 'year':
      return timestampOf(f.year, 1, 1)
    case 'decade':
      return timestampOf(f.year > 0 ? Math.trunc(f.year / 10) * 10 : -(Math.trunc((8 - (f.year - 1)) / 10) * 10) + 1, 1, 1)
    case 'century':
      return timestampOf(f.year > 0 ? Math.trunc((f.year + 99) / 100) * 100 - 99 : -(Math.trunc((99 - (f.year - 1)) / 100) * 100 - 1) + 1 - 1, 1, 1)
    case 'millennium':
      return timestampOf(f.year > 0 ? Math.trunc((f.year + 999) / 1000) * 1000 - 999 : -(Math.trunc((999 - (f.year - 1)) / 1000) * 1000 - 1) + 1 - 1, 1, 1)
    default:
      return undefined
  }
}

/** date_trunc(unit, timestamp). */
export function truncTimestamp(unit: string, ts: number): number {
  const u = unitName(unit)
  const out = u === undefined || !Number.isFinite(ts) ? (Number.isFinite(ts) ? undefined : ts) : truncLocal(u, ts)
  if (out === undefined || (u !== undefined && !(u in TRUNC_FIXED) && truncLocal(u, 0) === undefined)) throw notRecognized(unit, 'timestamp')
  return out
}

/**
 * date_trunc(unit, timestamptz [, zone]): truncated on the zone's wall clock. Units of a day or more find the
 * offset again for the result (midnight may have another offset than the input); smaller ones keep the input's,
 * as PostgreSQL's timestamptz_trunc_internal.
 */
export function truncTimestamptz(unit: string, ts: number, zone: TimeZone): number {
  const u = unitName(unit)
  if (u === undefined || (!(u in TRUNC_FIXED) && truncLocal(u, 0) === undefined)) throw notRecognized(unit, 'timestamptz')
  if (!Number.isFinite(ts)) return ts
  const fixed = TRUNC_FIXED[u]
  // UTC, the zone of every continuous view: no offset to find.
  if (zone === UTC_ZONE) return fixed !== undefined ? Math.floor(ts / fixed) * fixed : truncLocal(u, ts)!
  const local = utcToLocal(ts, zone)
  const t = truncLocal(u, local)!
  if (u === 'microseconds' || u === 'milliseconds' || u === 'second' || u === 'minute' || u === 'hour') return t - (local - ts)
  return localToUtc(t, zone)
}

/** date_trunc(unit, interval): the fields below the unit set to zero. */
export function truncInterval(unit: string, i: Interval): Interval {
  const u = unitName(unit)
  const fixed = u === undefined ? undefined : TRUNC_FIXED[u]
  if (fixed !== undefined && u !== 'day') return { months: i.months, days: i.days, micros: Math.trunc(i.micros / fixed) * fixed }
  switch (u) {
    case 'day':
      return { months: i.months, days: i.days, micros: 0 }
    case 'month':
      return { months: i.months, days: 0, micros: 0 }
    case 'quarter':
      return { months: Math.trunc(i.months / 12) * 12 + Math.trunc((i.months % 12) / 3) * 3, days: 0, micros: 0 }
    case 'year':
      return { months: Math.trunc(i.months / 12) * 12, days: 0, micros: 0 }
    case 'decade':
      return { months: Math.trunc(i.months / 120) * 120, days: 0, micros: 0 }
    case 'century':
      return { months: Math.trunc(i.months / 1200) * 1200, days: 0, micros: 0 }
    case 'millennium':
      return { months: Math.trunc(i.months / 12000) * 12000, days: 0, micros: 0 }
    case 'week':
      throw new SluiceError('execution', SqlState.featureNotSupported, `unit "${unit}" not supported for type interval`, { detail: 'Months usually have fractional weeks.' })
    case undefined:
      throw notRecognized(unit, 'interval')
    default:
      throw notSupported(unit, 'interval')
  }
}

/** extract / date_part of a wall-clock time; `tz` is the offset (seconds east) for timestamptz, undefined for timestamp. */
export function extractLocal(unit: string, local: number, type: 'timestamp' | 'timestamptz' | 'date', epoch: number, tz: number | undefined): number {
  const u = unitName(unit)
  if (u === undefined) throw notRecognized(unit, type)
  if (!Number.isFinite(local)) return extractInfinite(u, local, unit, type)
  const days = Math.floor(local / MICROS_PER_DAY)
  const ofDay = local - days * MICROS_PER_DAY
  const timeUnit = u === 'microseconds' || u === 'milliseconds' || u === 'second' || u === 'minute' || u === 'hour'
  if (type === 'date' && timeUnit) throw notSupported(unit, 'date')
  // The time of day needs no calendar: the units a dashboard groups by most are answered here.
  switch (u) {
    case 'hour':
      return Math.floor(ofDay / MICROS_PER_HOUR)
    case 'minute':
      return Math.floor((ofDay % MICROS_PER_HOUR) / MICROS_PER_MINUTE)
    case 'epoch':
      return epoch / MICROS_PER_SECOND
    case 'dow':
      return (((days + 4) % 7) + 7) % 7
  }
  const f = fieldsOf(local)
  switch (u) {
    case 'microseconds':
      return f.second * MICROS_PER_SECOND + f.micro
    case 'milliseconds':
      return f.second * 1000 + f.micro / 1000
    case 'second':
      return f.second + f.micro / MICROS_PER_SECOND
    case 'minute':
      return f.minute
    case 'hour':
      return f.hour
    case 'day':
      return f.day
    case 'month':
      return f.month
    case 'quarter':
      return Math.floor((f.month - 1) / 3) + 1
    case 'week':
      return isoWeek(days).week
    case 'year':
      return f.year > 0 ? f.year : f.year - 1
    case 'decade':
      return f.year > 0 ? Math.floor(f.year / 10) : -Math.floor((9 - (f.year - 1)) / 10)
    case 'century':
      return f.year > 0 ? Math.floor((f.year + 99) / 100) : -Math.floor((99 - (f.year - 1)) / 100)
    case 'millennium':
      return f.year > 0 ? Math.floor((f.year + 999) / 1000) : -Math.floor((999 - (f.year - 1)) / 1000)
    case 'dow':
      return f.dow
    case 'isodow':
      return f.dow === 0 ? 7 : f.dow
    case 'doy':
      return f.doy
    case 'isoyear': {
      const y = isoWeek(days).year
      return y > 0 ? y : y - 1
    }
    case 'julian':
      return days + 2440588 + (type === 'date' ? 0 : (local - days * MICROS_PER_DAY) / MICROS_PER_DAY)
    case 'epoch':
      return epoch / MICROS_PER_SECOND
    case 'timezone':
    case 'timezone_hour':
    case 'timezone_minute':
      if (tz === undefined) throw notSupported(unit, type)
      return u === 'timezone' ? tz : u === 'timezone_hour' ? Math.trunc(tz / 3600) : Math.trunc((tz % 3600) / 60)
    default:
      throw notRecognized(unit, type)
  }
}

/** PostgreSQL answers infinity for the units that grow without end, NULL (here NaN -> null) for the others. */
function extractInfinite(u: string, v: number, unit: string, type: string): number {
  switch (u) {
    case 'epoch':
    case 'year':
    case 'decade':
    case 'century':
    case 'millennium':
    case 'julian':
    case 'isoyear':
      return v
    case 'timezone':
    case 'timezone_hour':
    case 'timezone_minute':
      if (type !== 'timestamptz') throw notSupported(unit, type)
      return Number.NaN
    default:
      return Number.NaN
  }
}

/** extract(unit from timestamptz) in the session's zone. */
export function extractTimestamptz(unit: string, ts: number, ctx: EvalContext): number | null {
  const zone = sessionZone(ctx)
  const tz = Number.isFinite(ts) && zone !== UTC_ZONE ? offsetSeconds(ts, zone) : 0
  const v = extractLocal(unit, Number.isFinite(ts) ? ts + tz * MICROS_PER_SECOND : ts, 'timestamptz', ts, tz)
  return Number.isNaN(v) ? null : v
}

export function extractTimestamp(unit: string, ts: number, type: 'timestamp' | 'date'): number | null {
  const v = extractLocal(unit, ts, type, ts, undefined)
  return Number.isNaN(v) ? null : v
}

/** extract(unit from interval), with C's truncating division as PostgreSQL's interval2tm. */
export function extractInterval(unit: string, i: Interval): number {
  const u = unitName(unit)
  const years = Math.trunc(i.months / 12)
  const hours = Math.trunc(i.micros / MICROS_PER_HOUR)
  const restOfHour = i.micros - hours * MICROS_PER_HOUR
  const minutes = Math.trunc(restOfHour / MICROS_PER_MINUTE)
  const secMicros = restOfHour - minutes * MICROS_PER_MINUTE
  switch (u) {
    case 'microseconds':
      return secMicros
    case 'milliseconds':
      return secMicros / 1000
    case 'second':
      return secMicros / MICROS_PER_SECOND
    case 'minute':
      return minutes
    case 'hour':
      return hours
    case 'day':
      return i.days
    case 'month':
      return i.months % 12
    case 'quarter':
      return Math.trunc((i.months % 12) / 3) + 1
    case 'year':
      return years
    case 'decade':
      return Math.trunc(years / 10)
    case 'century':
      return Math.trunc(years / 100)
    case 'millennium':
      return Math.trunc(years / 1000)
    case 'epoch':
      return i.micros / MICROS_PER_SECOND + 365.25 * 86400 * years + 30 * 86400 * (i.months % 12) + 86400 * i.days
    case undefined:
      throw notRecognized(unit, 'interval')
    default:
      throw notSupported(unit, 'interval')
  }
}

/** date_bin(stride, source, origin): the start of the stride-wide bin, counted from origin, that holds source. */
export function dateBin(stride: Interval, source: number, origin: number): number {
  if (stride.months !== 0) throw new SluiceError('execution', SqlState.featureNotSupported, 'timestamps cannot be binned into intervals containing months or years')
  const width = stride.days * MICROS_PER_DAY + stride.micros
  if (width <= 0) throw new SluiceError('execution', SqlState.datetimeFieldOverflow, 'stride must be greater than zero')
  if (!Number.isFinite(source)) throw new SluiceError('execution', SqlState.featureNotSupported, 'timestamps cannot be binned into infinite intervals')
  const diff = source - origin
  return inRange(origin + Math.floor(diff / width) * width)
}

/** age(a, b): the difference by calendar fields (years, months, days, time), as PostgreSQL's timestamp_age. */
export function ageLocal(a: number, b: number): Interval {
  if (!Number.isFinite(a) || !Number.isFinite(b)) throw new SluiceError('execution', SqlState.datetimeFieldOverflow, 'interval out of range')
  const x = fieldsOf(a)
  const y = fieldsOf(b)
  const flip = a < b ? -1 : 1
  let fsec = flip * (x.micro - y.micro)
  let sec = flip * (x.second - y.second)
  let min = flip * (x.minute - y.minute)
  let hour = flip * (x.hour - y.hour)
  let day = flip * (x.day - y.day)
  let mon = flip * (x.month - y.month)
  let year = flip * (x.year - y.year)
  while (fsec < 0) (fsec += MICROS_PER_SECOND), sec--
  while (sec < 0) (sec += 60), min--
  while (min < 0) (min += 60), hour--
  while (hour < 0) (hour += 24), day--
  while (day < 0) {
    const ref = a < b ? x : y
    day += daysInMonth(ref.year, ref.month)
    mon--
  }
  while (mon < 0) (mon += 12), year--
  const micros = flip * (((hour * 60 + min) * 60 + sec) * MICROS_PER_SECOND + fsec)
  return { months: flip * (year * 12 + mon), days: flip * day, micros }
}

export const ageTimestamptz = (a: number, b: number, ctx: EvalContext): Interval => {
  const zone = sessionZone(ctx)
  return ageLocal(utcToLocal(a, zone), utcToLocal(b, zone))
}

/** age(ts): from midnight of today (in the session's zone for timestamptz). */
export function ageFromToday(ts: number, ctx: EvalContext, withZone: boolean): Interval {
  const zone = sessionZone(ctx)
  const today = Math.floor(utcToLocal(ctx.now, zone) / MICROS_PER_DAY) * MICROS_PER_DAY
  return ageLocal(today, withZone ? utcToLocal(ts, zone) : ts)
}

const dateOutOfRange = (y: number, m: number, d: number): SluiceError =>
  new SluiceError('execution', SqlState.datetimeFieldOverflow, `date field value out of range: ${y}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`)

/** make_date(year, month, day): a negative year is BC, year 0 does not exist. */
export function makeDate(y: number, m: number, d: number): number {
  const year = y < 0 ? y + 1 : y
  if (y === 0 || m < 1 || m > 12 || d < 1 || d > daysInMonth(year, m)) throw dateOutOfRange(y, m, d)
  return inRange(daysFromCivil(year, m, d) * MICROS_PER_DAY)
}

/** make_timestamp(year, month, day, hour, min, sec). */
export function makeTimestamp(y: number, m: number, d: number, h: number, mi: number, s: number): number {
  if (y <= 0) throw dateOutOfRange(y, m, d)
  const date = makeDate(y, m, d)
  if (h < 0 || h > 24 || mi < 0 || mi > 59 || !(s >= 0) || s > 60 || (h === 24 && (mi > 0 || s > 0))) {
    throw new SluiceError('execution', SqlState.datetimeFieldOverflow, `time field value out of range: ${h}:${String(mi).padStart(2, '0')}:${s < 10 ? '0' : ''}${s}`)
  }
  return inRange(date + h * MICROS_PER_HOUR + mi * MICROS_PER_MINUTE + Math.round(s * MICROS_PER_SECOND))
}

export function makeTimestamptz(ctx: EvalContext, y: number, m: number, d: number, h: number, mi: number, s: number, zone?: string | null): number | null {
  if (zone === null) return null
  const local = makeTimestamp(y, m, d, h, mi, s)
  return localToTstz(local, zone === undefined ? sessionZone(ctx) : atTimeZone(zone))
}

/** make_interval(years, months, weeks, days, hours, mins, secs): every argument defaults to 0. */
export function makeInterval(years = 0, months = 0, weeks = 0, days = 0, hours = 0, mins = 0, secs = 0): Interval {
  if (!Number.isFinite(secs)) throw new SluiceError('execution', SqlState.datetimeFieldOverflow, 'interval out of range')
  return { months: years * 12 + months, days: weeks * 7 + days, micros: hours * MICROS_PER_HOUR + mins * MICROS_PER_MINUTE + Math.round(secs * MICROS_PER_SECOND) }
}

export function justifyHours(i: Interval): Interval {
  let days = i.days + Math.trunc(i.micros / MICROS_PER_DAY)
  let micros = i.micros % MICROS_PER_DAY
  if (days > 0 && micros < 0) (micros += MICROS_PER_DAY), days--
  else if (days < 0 && micros > 0) (micros -= MICROS_PER_DAY), days++
  return { months: i.months, days, micros: micros + 0 }
}

export function justifyDays(i: Interval): Interval {
  let months = i.months + Math.trunc(i.days / 30)
  let days = i.days % 30
  if (months > 0 && days < 0) (days += 30), months--
  else if (months < 0 && days > 0) (days -= 30), months++
  return { months, days: days + 0, micros: i.micros }
}

export function justifyInterval(i: Interval): Interval {
  let { months, days, micros } = i
  if ((days > 0 && micros > 0) || (days < 0 && micros < 0)) {
    months += Math.trunc(days / 30)
    days %= 30
  }
  days += Math.trunc(micros / MICROS_PER_DAY)
  micros %= MICROS_PER_DAY
  months += Math.trunc(days / 30)
  days %= 30
  if (months > 0 && (days < 0 || (days === 0 && micros < 0))) (days += 30), months--
  else if (months < 0 && (days > 0 || (days === 0 && micros > 0))) (days -= 30), months++
  if (days > 0 && micros < 0) (micros += MICROS_PER_DAY), days--
  else if (days < 0 && micros > 0) (micros -= MICROS_PER_DAY), days++
  return { months: months + 0, days: days + 0, micros: micros + 0 }
}

/** AT TIME ZONE's zone argument: a name (text) or a fixed offset (interval). */
const zoneArg = (z: string, t: SqlType, c: EmitContext): string => (isInterval(t) ? `${c.constant(intervalZone)}(${z})` : `${c.constant(atTimeZone)}(${z})`)

const zoneOfTs = (t: SqlType): 'timestamp' | 'timestamptz' => (t.name === 'timestamp' ? 'timestamp' : 'timestamptz')

/** `x AT TIME ZONE z` arrives as `timezone(z, x)`. */
const timezoneFn: FunctionRule = (args) => {
  if (args.length !== 2 || !(isText(args[0]!) || isInterval(args[0]!))) return undefined
  const t = args[1]!
  if (!isTs(t) && !(t.name === 'unknown' && !t.element) && !(t.name === 'date' && !t.element)) return undefined
  const z = isInterval(args[0]!) ? Types.interval : Types.text
  if (t.name === 'timestamp') return { type: Types.timestamptz, impl: pure(([zone, x], c) => `${c.constant(localToTstz)}(${x}, ${zoneArg(zone!, args[0]!, c)})`), argTypes: [z, Types.timestamp] }
  return { type: Types.timestamp, impl: pure(([zone, x], c) => `${c.constant(tstzToLocal)}(${x}, ${zoneArg(zone!, args[0]!, c)})`), argTypes: [z, Types.timestamptz] }
}

const dateTruncFn: FunctionRule = (args) => {
  if ((args.length !== 2 && args.length !== 3) || !isText(args[0]!)) return undefined
  const t = args[1]!
  if (args.length === 3) {
    if (!isText(args[2]!) || !(isTs(t) || (t.name === 'unknown' && !t.element))) return undefined
    return { type: Types.timestamptz, impl: pure(([u, x, z], c) => `${c.constant(truncTimestamptz)}(${u}, ${x}, ${c.constant(atTimeZone)}(${z}))`), argTypes: [Types.text, Types.timestamptz, Types.text] }
  }
  if (isInterval(t)) return { type: Types.interval, impl: pure(([u, x], c) => `${c.constant(truncInterval)}(${u}, ${x})`), argTypes: [Types.text, t] }
  if (t.name === 'timestamp' && !t.element) return { type: t, impl: pure(([u, x], c) => `${c.constant(truncTimestamp)}(${u}, ${x})`), argTypes: [Types.text, t] }
  if ((t.name === 'timestamptz' || t.name === 'date' || t.name === 'unknown') && !t.element) {
    return { type: Types.timestamptz, impl: zoned(([u, x], c) => `${c.constant(truncTimestamptz)}(${u}, ${x}, ${c.constant(sessionZone)}(ctx))`), argTypes: [Types.text, Types.timestamptz] }
  }
  return undefined
}

/**
 * extract's numeric at PostgreSQL's scale: seconds and epoch with 6 decimals (epoch of a date 0),
 * milliseconds with 3, every other field (and julian, left as computed) an integer or the double as is.
 */
export function extractNumeric(unit: string, v: number, argType: string): Num {
  if (!Number.isFinite(v)) return v
  const scale = EXTRACT_SCALE[unit.toLowerCase()]
  if (scale === undefined || (argType === 'date' && unit.toLowerCase() === 'epoch')) return v
  return new Numeric(BigInt(Math.round(v * 10 ** scale)), scale)
}

const EXTRACT_SCALE: Record<string, number> = { epoch: 6, second: 6, seconds: 6, sec: 6, secs: 6, s: 6, millisecond: 3, milliseconds: 3, ms: 3, msec: 3, msecs: 3, mseconds: 3 }

/** extract(unit FROM x) (numeric) and date_part(unit, x) (float8). */
const extractFn = (type: SqlType): FunctionRule => (args) => {
  const r = extractDouble(type, args)
  if (r === undefined || type.name !== 'numeric') return r
  const t = args[1]!.name
  return { ...r, impl: { ...r.impl, emit: (xs, c) => `${c.constant(extractNumeric)}(${xs[0]}, ${r.impl.emit(xs, c)}, '${t}')` } }
}

const extractDouble = (type: SqlType, args: readonly SqlType[]): Resolved | undefined => {
  if (args.length !== 2 || !isText(args[0]!)) return undefined
  const t = args[1]!
  if (t.element) return undefined
  switch (t.name) {
    case 'timestamptz':
    case 'unknown':
      return { type, impl: zoned(([u, x], c) => `${c.constant(extractTimestamptz)}(${u}, ${x}, ctx)`), argTypes: [Types.text, Types.timestamptz] }
    case 'timestamp':
    case 'date': {
      // date_part(text, date) reads the date as a timestamp; extract has a date form refusing time units.
      const as = t.name === 'date' && type.name === 'numeric' ? 'date' : 'timestamp'
      return { type, impl: pure(([u, x], c) => `${c.constant(extractTimestamp)}(${u}, ${x}, '${as}')`), argTypes: [Types.text, t] }
    }
    case 'interval':
      return { type, impl: pure(([u, x], c) => `${c.constant(extractInterval)}(${u}, ${x})`), argTypes: [Types.text, t] }
    case 'time':
      return { type, impl: pure(([u, x], c) => `${c.constant(extractTime)}(${u}, ${x})`), argTypes: [Types.text, t] }
    default:
      return undefined
  }
}

const TIME_UNITS_NOT_SUPPORTED = new Set(['day', 'days', 'week', 'weeks', 'month', 'months', 'year', 'years', 'quarter', 'decade', 'century', 'millennium', 'dow', 'isodow', 'doy', 'isoyear', 'julian', 'timezone', 'timezone_hour', 'timezone_minute'])

/** extract(field FROM time): the clock fields of a time of day, as PostgreSQL's time_part. */
export function extractTime(unit: string, micros: number): number {
  const u = unit.toLowerCase()
  const seconds = Math.floor(micros / 1_000_000) % 60
  const frac = micros % 1_000_000
  switch (u) {
    case 'hour':
    case 'hours':
      return Math.floor(micros / 3_600_000_000)
    case 'minute':
    case 'minutes':
      return Math.floor(micros / 60_000_000) % 60
    case 'second':
    case 'seconds':
      return seconds + frac / 1e6
    case 'millisecond':
    case 'milliseconds':
      return seconds * 1000 + frac / 1000
    case 'microsecond':
    case 'microseconds':
      return seconds * 1_000_000 + frac
    case 'epoch':
      return micros / 1e6
  }
  if (TIME_UNITS_NOT_SUPPORTED.has(u)) throw new SluiceError('execution', SqlState.featureNotSupported, `unit "${unit}" not supported for type time without time zone`)
  throw new SluiceError('execution', SqlState.invalidParameterValue, `unit "${unit}" not recognized for type time without time zone`)
}

const dateBinFn: FunctionRule = (args) => {
  if (args.length !== 3 || !isInterval(args[0]!) && args[0]!.name !== 'unknown') return undefined
  const t = args[1]!.name === 'timestamp' && !args[1]!.element ? Types.timestamp : Types.timestamptz
  if (!(isTs(args[1]!) || args[1]!.name === 'unknown') || !(isTs(args[2]!) || args[2]!.name === 'unknown')) return undefined
  return { type: t, impl: pure(([s, x, o], c) => `${c.constant(dateBin)}(${s}, ${x}, ${o})`), argTypes: [Types.interval, t, t] }
}

const ageFn: FunctionRule = (args) => {
  if (args.length === 1 && (isTs(args[0]!) || args[0]!.name === 'unknown')) {
    const tz = zoneOfTs(args[0]!) === 'timestamptz'
    return { type: Types.interval, impl: zoned(([x], c) => `${c.constant(ageFromToday)}(${x}, ctx, ${tz})`), argTypes: [tz ? Types.timestamptz : Types.timestamp] }
  }
  if (args.length !== 2 || !args.every((a) => isTs(a) || (a.name === 'unknown' && !a.element) || (a.name === 'date' && !a.element))) return undefined
  const tz = !args.every((a) => a.name === 'timestamp' || a.name === 'unknown' || a.name === 'date') || args.every((a) => a.name === 'unknown')
  if (!tz) return { type: Types.interval, impl: pure(([a, b], c) => `${c.constant(ageLocal)}(${a}, ${b})`), argTypes: [Types.timestamp, Types.timestamp] }
  return { type: Types.interval, impl: zoned(([a, b], c) => `${c.constant(ageTimestamptz)}(${a}, ${b}, ctx)`), argTypes: [Types.timestamptz, Types.timestamptz] }
}

/** A function of numbers only: each argument cast to the type the signature names. */
const numbers = (types: readonly SqlType[], type: SqlType, impl: (a: readonly string[], c: EmitContext) => string, volatile = false): FunctionRule => (args) =>
  args.length === types.length && args.every(isNum) ? { type, impl: volatile ? zoned(impl) : pure(impl), argTypes: types } : undefined

const I = Types.int4
const F = Types.float8

const intervalFn = (f: (i: Interval) => Interval): FunctionRule => (args) =>
  args.length === 1 && (isInterval(args[0]!) || args[0]!.name === 'unknown') ? { type: Types.interval, impl: pure(([x], c) => `${c.constant(f)}(${x})`), argTypes: [Types.interval] } : undefined

export const TIME_FUNCTIONS: Record<string, FunctionRule> = {
  timezone: timezoneFn,
  date_trunc: dateTruncFn,
  date_part: extractFn(Types.float8),
  extract: extractFn(Types.numeric),
  date_bin: dateBinFn,
  age: ageFn,
  make_date: numbers([I, I, I], Types.date, ([y, m, d], c) => `${c.constant(makeDate)}(${y}, ${m}, ${d})`),
  make_timestamp: numbers([I, I, I, I, I, F], Types.timestamp, (a, c) => `${c.constant(makeTimestamp)}(${a.join(', ')})`),
  make_timestamptz: (args) => {
    if (args.length === 6) return numbers([I, I, I, I, I, F], Types.timestamptz, (a, c) => `${c.constant(makeTimestamptz)}(ctx, ${a.join(', ')})`, true)(args)
    if (args.length !== 7 || !args.slice(0, 6).every(isNum) || !isText(args[6]!)) return undefined
    return { type: Types.timestamptz, impl: pure((a, c) => `${c.constant(makeTimestamptz)}(ctx, ${a.join(', ')})`), argTypes: [I, I, I, I, I, F, Types.text] }
  },
  make_interval: (args) =>
    args.length <= 7 && args.every(isNum)
      ? { type: Types.interval, impl: pure((a, c) => `${c.constant(makeInterval)}(${a.join(', ')})`), argTypes: args.map((_, i) => (i === 6 ? F : I)) }
      : undefined,
  justify_hours: intervalFn(justifyHours),
  justify_days: intervalFn(justifyDays),
  justify_interval: intervalFn(justifyInterval),
  isfinite: (args) =>
    args.length === 1 && !args[0]!.element && ['timestamp', 'timestamptz', 'date', 'interval'].includes(args[0]!.name)
      ? { type: Types.bool, impl: pure(([x]) => (args[0]!.name === 'interval' ? 'true' : `Number.isFinite(${x})`)) }
      : undefined,
  ...DATETIME_FORMAT_FUNCTIONS,
}


/**
 * generate_series(start, stop, step interval) over timestamps: the step added again and again to the last
 * value (so a month from January 31 gives February 29, then March 29), on the session's wall clock for
 * timestamptz. `zone` undefined means timestamp.
 */
export function* timestampSeries(from: number, to: number, step: Interval, zone: TimeZone | undefined): Generator<number> {
  const sign = step.months * 30 * MICROS_PER_DAY + step.days * MICROS_PER_DAY + step.micros
  if (sign === 0) throw new SluiceError('execution', SqlState.invalidParameterValue, 'step size cannot equal zero')
  if (!Number.isFinite(from) || !Number.isFinite(to)) {
    if (from === to || (sign > 0 ? from > to : from < to)) return
    throw new SluiceError('execution', SqlState.invalidParameterValue, 'start value cannot be infinity')
  }
  for (let cur = from; sign > 0 ? cur <= to : cur >= to; ) {
    yield cur
    cur = zone === undefined ? tsPlusInterval(cur, step, 1) : tstzPlusInterval(cur, step, 1, zone)
  }
}
