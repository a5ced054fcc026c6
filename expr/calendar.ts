/**
 * Broken-down times: a timestamp (microseconds, a wall clock counted as if it were UTC) as calendar fields
 * and back, and calendar arithmetic as PostgreSQL does it (a month added to January 31 is the last day of
 * February). Shared by the time functions and the to_char / to_timestamp templates.
 */
import { SluiceError, SqlState } from '../common/errors.ts'
import {
  MICROS_PER_DAY,
  MICROS_PER_HOUR,
  MICROS_PER_MINUTE,
  MICROS_PER_SECOND,
  PG_TIMESTAMP_END,
  PG_TIMESTAMP_MIN,
  civilFromDays,
  daysFromCivil,
  type Interval,
} from '../common/types.ts'

export interface Fields {
  /** Astronomical year: 1 BC is 0. */
  readonly year: number
  readonly month: number
  readonly day: number
  readonly hour: number
  readonly minute: number
  readonly second: number
  /** Microseconds within the second. */
  readonly micro: number
  /** Day of week, 0 = Sunday. */
  readonly dow: number
  /** Day of year, 1-based. */
  readonly doy: number
}

export const isLeapYear = (y: number): boolean => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0
const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
export const daysInMonth = (y: number, m: number): number => (m === 2 && isLeapYear(y) ? 29 : MONTH_DAYS[m - 1]!)

export function fieldsOf(ts: number): Fields {
  const days = Math.floor(ts / MICROS_PER_DAY)
  let ofDay = ts - days * MICROS_PER_DAY
  const [year, month, day] = civilFromDays(days)
  const hour = Math.floor(ofDay / MICROS_PER_HOUR)
  ofDay -= hour * MICROS_PER_HOUR
  const minute = Math.floor(ofDay / MICROS_PER_MINUTE)
  ofDay -= minute * MICROS_PER_MINUTE
  const second = Math.floor(ofDay / MICROS_PER_SECOND)
  const micro = ofDay - second * MICROS_PER_SECOND
  const dow = (((days + 4) % 7) + 7) % 7
  const doy = days - daysFromCivil(year, 1, 1) + 1
  return { year, month, day, hour, minute, second, micro, dow, doy }
}

/** The timestamp of calendar fields; seconds may carry a fraction. */
export function timestampOf(year: number, month: number, day: number, hour = 0, minute = 0, seconds = 0): number {
  return daysFromCivil(year, month, day) * MICROS_PER_DAY + hour * MICROS_PER_HOUR + minute * MICROS_PER_MINUTE + Math.round(seconds * MICROS_PER_SECOND)
}

export const timestampOutOfRange = (): SluiceError => new SluiceError('execution', SqlState.datetimeFieldOverflow, 'timestamp out of range')

/** `ts` if it lies in PostgreSQL's range, 22008 if not; infinities pass. */
export function inRange(ts: number): number {
  if (!Number.isFinite(ts)) return ts
  if (!(ts >= PG_TIMESTAMP_MIN && ts < PG_TIMESTAMP_END)) throw timestampOutOfRange()
  return ts
}

/**
 * A wall-clock time plus an interval: months by the calendar (the day clamped to the month's length), then
 * days, then the time part, as PostgreSQL's timestamp_pl_interval.
 */
export function addMonthsDays(local: number, months: number, days: number): number {
  let out = local
  if (months !== 0) {
    const f = fieldsOf(out)
    const total = f.year * 12 + (f.month - 1) + months
    const year = Math.floor(total / 12)
    const month = total - year * 12 + 1
    const day = Math.min(f.day, daysInMonth(year, month))
    out = daysFromCivil(year, month, day) * MICROS_PER_DAY + (out - Math.floor(out / MICROS_PER_DAY) * MICROS_PER_DAY)
  }
  return out + days * MICROS_PER_DAY
}

/** ISO 8601 week-numbering year and week of a day number. */
export function isoWeek(days: number): { year: number; week: number } {
  const isoDow = ((((days + 4) % 7) + 7) % 7) || 7
  // The Thursday of this week decides the year.
  const thursday = days - isoDow + 4
  const [ty] = civilFromDays(thursday)
  const jan1 = daysFromCivil(ty, 1, 1)
  return { year: ty, week: Math.floor((thursday - jan1) / 7) + 1 }
}

/** The Monday that starts ISO week 1 of `isoYear`. */
export function isoYearStart(isoYear: number): number {
  const jan4 = daysFromCivil(isoYear, 1, 4)
  const dow = ((((jan4 + 4) % 7) + 7) % 7) || 7
  return jan4 - dow + 1
}

export const intervalOf = (months: number, days: number, micros: number): Interval => ({ months, days, micros })
