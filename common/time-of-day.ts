/**
 * The `time` type (time without time zone): microseconds since midnight, 0 to 24:00:00 inclusive, as
 * PostgreSQL holds it. Text in and out as PostgreSQL reads and writes it (`13:05`, `1:05:00 pm`,
 * `2024-03-31 13:05:00.25`, `allballs`; shown `13:05:00.25`).
 */
import { SluiceError, SqlState } from './errors.ts'

export const MICROS_PER_DAY_OF_TIME = 86_400_000_000

const invalidTime = (text: string): SluiceError => new SluiceError('execution', SqlState.invalidDatetimeFormat, `invalid input syntax for type time: "${text}"`)
const outOfRange = (text: string): SluiceError => new SluiceError('execution', SqlState.datetimeFieldOverflow, `date/time field value out of range: "${text}"`)

// [date ]h[:mm[:ss[.frac]]][ am|pm][ zone]; a zone is read and ignored, as PostgreSQL does for time.
const TIME_TEXT = /^(?:\d{4,}-\d{1,2}-\d{1,2}(?:\s+|T))?(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?\s*(am|pm|a\.m\.|p\.m\.)?\s*(?:(?:z|utc|gmt|[+-]\d{1,2}(?::?\d{2})?(?::?\d{2})?|[a-z]+(?:\/[a-z_]+)+))?$/i

export function parseTime(text: string): number {
  const s = text.trim()
  const lower = s.toLowerCase()
  if (lower === 'allballs') return 0
  const m = TIME_TEXT.exec(s)
  if (m === null) throw invalidTime(text)
  let h = Number(m[1])
  const mi = Number(m[2])
  const sec = m[3] === undefined ? 0 : Number(m[3])
  const frac = m[4] === undefined ? 0 : Math.round(Number(`0.${m[4]}`) * 1e6)
  const meridiem = m[5]?.toLowerCase()[0]
  if (meridiem !== undefined) {
    if (h < 1 || h > 12) throw outOfRange(text)
    if (meridiem === 'a' && h === 12) h = 0
    else if (meridiem === 'p' && h !== 12) h += 12
  }
  if (mi > 59 || sec > 60) throw outOfRange(text)
  const micros = ((h * 60 + mi) * 60 + sec) * 1_000_000 + frac
  if (h > 24 || micros > MICROS_PER_DAY_OF_TIME) throw outOfRange(text)
  return micros
}

const pad = (n: number): string => String(n).padStart(2, '0')

export function formatTime(micros: number): string {
  const whole = Math.floor(micros / 1_000_000)
  const frac = micros - whole * 1_000_000
  const text = `${pad(Math.floor(whole / 3600))}:${pad(Math.floor(whole / 60) % 60)}:${pad(whole % 60)}`
  return frac === 0 ? text : `${text}.${String(frac).padStart(6, '0').replace(/0+$/, '')}`
}

/** A time of day from any count of microseconds (a timestamp, a time plus an interval): wrapped into one day. */
export const wrapTime = (micros: number): number => ((micros % MICROS_PER_DAY_OF_TIME) + MICROS_PER_DAY_OF_TIME) % MICROS_PER_DAY_OF_TIME
