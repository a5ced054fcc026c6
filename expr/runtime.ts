/**
 * Runtime helpers that compiled expressions call (as `H.name(...)`). They are the only code that runs per
 * event besides the generated functions, so they stay small and monomorphic.
 */
import { createHash } from 'node:crypto'
import { RawJson, jsonCompactText } from '../common/jsonb-text.ts'
import { SluiceError, SqlState } from '../common/errors.ts'
import {
  addInterval,
  civilFromDays,
  daysFromCivil,
  PG_TIMESTAMP_END,
  PG_TIMESTAMP_MIN,
  checkIntRange,
  formatValue,
  typeDisplayName,
  intervalMicros,
  isInterval,
  parseValue,
  MICROS_PER_DAY,
  MICROS_PER_HOUR,
  MICROS_PER_MINUTE,
  MICROS_PER_SECOND,
  type Interval,
  type SqlType,
  type Value,
} from '../common/types.ts'
import { percentileFraction } from './aggregates.ts'
import { numVariance } from './numeric-statistics.ts'
import {
  Numeric,
  applyTypmod,
  numAdd,
  numCmp,
  numDiv,
  numMod,
  numMul,
  numNeg,
  numSub,
  numSumStep,
  numericKey,
  numericToInteger,
  toNumeric,
  type Num,
} from '../common/numeric.ts'
import { compileLike } from './like.ts'
import { type TimeZone, UTC_ZONE, formatTimestamptz } from '../common/time-zone.ts'
import { wrapTime } from '../common/time-of-day.ts'
import { expChecked, lnChecked, powerChecked, roundHalfEven, signOf, sqrtChecked } from './math-functions.ts'
import { compileRegex, type TextMatcher } from './regex.ts'
import { similarToRegex } from './regex-syntax.ts'
import { hllAdd, hllEstimate, pctAdd, pctQuantile } from './sketches.ts'

export interface EvalContext {
  /** Statement timestamp for now()/current_timestamp, microseconds. */
  readonly now: number
  readonly user: string
  readonly database: string
  readonly pid?: number
  /** NOTIFY from a session (pg_notify); absent where notifications cannot be sent. */
  readonly notify?: (channel: string, payload: string) => void
  /** Whether system tables show the secrets in webhook URLs (not to read-only users). */
  readonly revealSecrets?: boolean
  /** The session's run-time settings (current_setting, set_config, pg_settings); absent outside a session. */
  readonly settings?: SessionSettings
}

export interface SettingEntry {
  readonly name: string
  readonly value: string
  readonly boot: string | null
  readonly source: 'default' | 'client' | 'session'
}

/** A session's settings by lower-case name. */
export interface SessionSettings {
  get(name: string): string | undefined
  /** `local`: until the end of the current transaction (SET LOCAL, set_config(..., true)). */
  set(name: string, value: string, local: boolean): void
  /** Every setting: its value, the server's default (`boot`) and where the value came from, as pg_settings shows them. */
  entries(): readonly SettingEntry[]
}

/** pg_notify(channel, payload): sends through the session; NULL channel is an error as in PostgreSQL. */
function pgNotify(ctx: EvalContext, channel: string | null, payload: string | null): string {
  if (channel === null || channel === '') throw new SluiceError('execution', SqlState.invalidParameterValue, 'channel name cannot be empty')
  if (ctx.notify === undefined) throw new SluiceError('execution', SqlState.featureNotSupported, 'pg_notify can only be called in a query of a session')
  ctx.notify(channel, payload ?? '')
  return ''
}

export const divisionByZero = (): SluiceError =>
  new SluiceError('execution', SqlState.divisionByZero, 'division by zero')

export function intDiv(a: number, b: number): number {
  if (b === 0) throw divisionByZero()
  return Math.trunc(a / b)
}

export function floatDiv(a: number, b: number): number {
  if (b === 0) throw divisionByZero()
  return a / b
}

export function intMod(a: number, b: number): number {
  if (b === 0) throw divisionByZero()
  return a % b
}

export function checkedInt(n: number, t: SqlType): number {
  checkIntRange(n, t)
  return n
}

/** Total order used by comparisons and ORDER BY for non-null values of one type. */
export function compareValues(a: Value, b: Value): number {
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0
  if (a instanceof Numeric || b instanceof Numeric) {
    if ((a instanceof Numeric || typeof a === 'number') && (b instanceof Numeric || typeof b === 'number')) return numCmp(a, b)
  }
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0
  if (typeof a === 'boolean' && typeof b === 'boolean') return a === b ? 0 : a ? 1 : -1
  if (isInterval(a) && isInterval(b)) return Math.sign(intervalMicros(a) - intervalMicros(b))
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return Buffer.compare(a, b)
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const x = a[i] ?? null
      const y = b[i] ?? null
      if (x === null || y === null) {
        if (x !== y) return x === null ? 1 : -1
        continue
      }
      const c = compareValues(x, y)
      if (c !== 0) return c
    }
    return a.length - b.length
  }
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0
}

export function equalValues(a: Value, b: Value): boolean {
  if (a === b) return true
  if (a instanceof Numeric || b instanceof Numeric) return compareValues(a, b) === 0
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  return compareValues(a, b) === 0
}

export const tsPlusInterval = (ts: number, i: Interval): number => timestampInRange(ts, addInterval(ts, i, 1))
export const tsMinusInterval = (ts: number, i: Interval): number => timestampInRange(ts, addInterval(ts, i, -1))

/** A timestamp computed from `ts`, if it lies in PostgreSQL's range (22008 if not); infinity stays infinity. */
function timestampInRange(ts: number, out: number): number {
  if (!Number.isFinite(ts)) return ts
  if (!(out >= PG_TIMESTAMP_MIN && out < PG_TIMESTAMP_END)) throw new SluiceError('execution', SqlState.datetimeFieldOverflow, 'timestamp out of range')
  return out
}

export function tsMinusTs(a: number, b: number): Interval {
  const diff = a - b
  const days = Math.trunc(diff / MICROS_PER_DAY)
  return { months: 0, days, micros: diff - days * MICROS_PER_DAY }
}

export const intervalPlus = (a: Interval, b: Interval): Interval => ({
  months: a.months + b.months,
  days: a.days + b.days,
  micros: a.micros + b.micros,
})
export const intervalMinus = (a: Interval, b: Interval): Interval => ({
  months: a.months - b.months,
  days: a.days - b.days,
  micros: a.micros - b.micros,
})
export const intervalTimes = (a: Interval, n: number): Interval => scaleInterval(a, (x) => x * n)

export function intervalDiv(a: Interval, n: number): Interval {
  if (n === 0) throw divisionByZero()
  return scaleInterval(a, (x) => x / n)
}

const intervalOutOfRange = (): SluiceError => new SluiceError('execution', SqlState.datetimeFieldOverflow, 'interval out of range')
/** PostgreSQL's TSROUND: to the microsecond. */
const toMicrosecond = (x: number): number => roundHalfEven(x * 1e6) / 1e6

/**
 * interval * or / a number as PostgreSQL's interval_mul and interval_div: months and days are truncated, and
 * what they lose cascades down (a fraction of a month as 30 days, a fraction of a day as seconds).
 */
function scaleInterval(a: Interval, by: (x: number) => number): Interval {
  const m = by(a.months)
  const d = by(a.days)
  if (Number.isNaN(m) || m > 2147483647 || m < -2147483648 || Number.isNaN(d) || d > 2147483647 || d < -2147483648) throw intervalOutOfRange()
  const months = Math.trunc(m)
  let days = Math.trunc(d)
  const monthRemainderDays = toMicrosecond((m - months) * 30)
  let secRemainder = toMicrosecond((d - days + monthRemainderDays - Math.trunc(monthRemainderDays)) * 86_400)
  if (Math.abs(secRemainder) >= 86_400) {
    const whole = Math.trunc(secRemainder / 86_400)
    days += whole
    secRemainder -= whole * 86_400
  }
  days += Math.trunc(monthRemainderDays)
  const micros = roundHalfEven(by(a.micros) + secRemainder * 1e6)
  if (!Number.isFinite(micros) || Math.abs(micros) > 9.2e18) throw intervalOutOfRange()
  return { months, days, micros: micros === 0 ? 0 : micros }
}
export const intervalNegate = (a: Interval): Interval => ({ months: -a.months, days: -a.days, micros: -a.micros })

const likeCache = new Map<string, TextMatcher>()

/** SQL LIKE pattern (`%` any run, `_` one character, `\` escapes) to a matcher linear in the input (like.ts). Cached per pattern. */
export function likeRegex(pattern: string, caseInsensitive: boolean): TextMatcher {
  const key = (caseInsensitive ? 'i:' : 's:') + pattern
  let m = likeCache.get(key)
  if (m === undefined) {
    m = compileLike(pattern, caseInsensitive)
    if (likeCache.size > 1000) likeCache.clear()
    likeCache.set(key, m)
  }
  return m
}

const regexCache = new Map<string, TextMatcher>()

/**
 * POSIX regex operators (`~`, `~*`, and SIMILAR TO after its rewrite): PostgreSQL's ARE syntax, matched in
 * time linear in the input (regex.ts), never by a backtracking engine that one pattern could stall.
 */
export function posixRegex(pattern: string, caseInsensitive: boolean): TextMatcher {
  const key = (caseInsensitive ? 'i:' : 's:') + pattern
  let m = regexCache.get(key)
  if (m === undefined) {
    m = compileRegex(pattern, caseInsensitive)
    if (regexCache.size > 1000) regexCache.clear()
    regexCache.set(key, m)
  }
  return m
}

/** Casts a non-null value between types, as `CAST(v AS t)` does. */
export function castValue(v: Value, from: SqlType, to: SqlType): Value {
  if (from.name === to.name && !!from.element === !!to.element && to.precision === undefined) return v
  if (to.element) {
    if (Array.isArray(v)) return v.map((x) => (x === null ? null : castValue(x, from.element ?? from, to.element!)))
    return parseValue(String(v), to)
  }
  switch (to.name) {
    case 'json':
    case 'jsonb':
      // Text becomes JSON by parsing it (22P02 when it is not JSON); jsonb is held in its normal form.
      if (typeof v === 'string' && !from.element && ['text', 'unknown', 'json', 'jsonb'].includes(from.name)) return parseValue(v, to)
      return formatValue(v, from)
    case 'text':
    case 'unknown':
      return formatValue(v, from)
    case 'int2':
    case 'int4':
    case 'int8':
      if (v instanceof Numeric) return checkedInt(numericToInteger(v, typeDisplayName(to)), to)
      if (typeof v === 'number') {
        const n = Math.round(v)
        checkIntRange(n, to)
        return n
      }
      if (typeof v === 'boolean') return v ? 1 : 0
      return parseValue(String(v), to)
    case 'numeric':
      if (typeof v === 'number' || v instanceof Numeric) return to.precision === undefined ? toNumeric(v) : applyTypmod(v, to.precision, to.scale ?? 0)
      if (typeof v === 'boolean') throw new SluiceError('plan', SqlState.cannotCoerce, 'cannot cast type boolean to numeric')
      return parseValue(String(v), to)
    case 'float4':
    case 'float8':
      if (typeof v === 'number' || v instanceof Numeric) return to.name === 'float4' ? Math.fround(+v) : +v
      if (typeof v === 'boolean') return v ? 1 : 0
      return parseValue(String(v), to)
    case 'bool':
      if (typeof v === 'number' || v instanceof Numeric) return +v !== 0
      return parseValue(String(v), to)
    case 'timestamptz':
    case 'timestamp':
      if (typeof v === 'number' && (from.name === 'timestamptz' || from.name === 'timestamp' || from.name === 'date')) return v
      return parseValue(String(v), to)
    case 'date':
      if (typeof v === 'number') return Math.floor(v / MICROS_PER_DAY) * MICROS_PER_DAY
      return parseValue(String(v), to)
    case 'interval':
      if (isInterval(v)) return v
      // A time is that long after midnight.
      if (typeof v === 'number' && from.name === 'time') return { months: 0, days: 0, micros: v }
      return parseValue(String(v), to)
    case 'time':
      // A timestamp's time of day (a timestamptz's on the session's clock: time-zone-eval.ts); an interval's time part.
      if (typeof v === 'number' && (from.name === 'timestamp' || from.name === 'timestamptz')) return wrapTime(v)
      if (isInterval(v)) return wrapTime(v.micros)
      return parseValue(String(v), to)
    case 'bytea':
      if (Buffer.isBuffer(v)) return v
      return parseValue(String(v), to)
    case 'uuid':
      return parseValue(String(v), to)
  }
}

const TRUNC_UNITS: Record<string, number> = {
  microseconds: 1,
  milliseconds: 1000,
  second: MICROS_PER_SECOND,
  minute: MICROS_PER_MINUTE,
  hour: MICROS_PER_HOUR,
  day: MICROS_PER_DAY,
}

export function dateTrunc(unit: string, ts: number): number {
  const u = unit.toLowerCase()
  // infinity and -infinity truncate to themselves, as in PostgreSQL.
  if (!Number.isFinite(ts) && (TRUNC_UNITS[u] !== undefined || u === 'week' || u === 'month' || u === 'quarter' || u === 'year')) return ts
  const fixed = TRUNC_UNITS[u]
  if (fixed !== undefined) return Math.floor(ts / fixed) * fixed
  // By the proleptic calendar rather than a Date, which ends in the year 275760, before PostgreSQL's range.
  const days = Math.floor(ts / MICROS_PER_DAY)
  const [year, month] = civilFromDays(days)
  switch (u) {
    case 'week': {
      // 1970-01-01 was a Thursday: days + 3 counts from a Monday.
      const dow = (((days + 3) % 7) + 7) % 7
      return (days - dow) * MICROS_PER_DAY
    }
    case 'month':
      return daysFromCivil(year, month, 1) * MICROS_PER_DAY
    case 'quarter':
      return daysFromCivil(year, Math.floor((month - 1) / 3) * 3 + 1, 1) * MICROS_PER_DAY
    case 'year':
      return daysFromCivil(year, 1, 1) * MICROS_PER_DAY
    default:
      throw new SluiceError('execution', SqlState.invalidParameterValue, `unit "${unit}" not recognized for type timestamp`)
  }
}

export function extractField(field: string, ts: number): number {
  const f = field.toLowerCase()
  const d = new Date(Math.floor(ts / 1000))
  switch (f) {
    case 'epoch':
      return ts / MICROS_PER_SECOND
    case 'year':
      return d.getUTCFullYear()
    case 'month':
      return d.getUTCMonth() + 1
    case 'day':
      return d.getUTCDate()
    case 'hour':
      return d.getUTCHours()
    case 'minute':
      return d.getUTCMinutes()
    case 'second':
      return d.getUTCSeconds() + (ts - Math.floor(ts / MICROS_PER_SECOND) * MICROS_PER_SECOND) / MICROS_PER_SECOND
    case 'dow':
      return d.getUTCDay()
    case 'isodow':
      return d.getUTCDay() === 0 ? 7 : d.getUTCDay()
    case 'doy':
      return Math.floor((Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86400000) + 1
    case 'quarter':
      return Math.floor(d.getUTCMonth() / 3) + 1
    case 'milliseconds':
      return (ts % (60 * MICROS_PER_SECOND)) / 1000
    case 'microseconds':
      return ts % (60 * MICROS_PER_SECOND)
    default:
      throw new SluiceError('execution', SqlState.invalidParameterValue, `unit "${field}" not recognized for type timestamp`)
  }
}

/** `to_timestamp(seconds)`: microseconds, in PostgreSQL's range (22008 outside it or for NaN); infinities stay. */
export function toTimestamp(seconds: number): number {
  if (seconds === Infinity || seconds === -Infinity) return seconds
  const micros = Math.round(seconds * MICROS_PER_SECOND)
  if (!(micros >= PG_TIMESTAMP_MIN && micros < PG_TIMESTAMP_END)) throw new SluiceError('execution', SqlState.datetimeFieldOverflow, `timestamp out of range: "${seconds}"`)
  return micros
}

export function roundTo(x: number, digits: number): number {
  const f = 10 ** digits
  // Postgres rounds half away from zero.
  return (Math.sign(x) * Math.round(Math.abs(x) * f)) / f
}

/**
 * JSON text of a value for json_build_object and friends. Times are ISO 8601 as PostgreSQL writes them in
 * JSON: a `T` between date and time, a timestamptz on the wall clock of `zone` (the session's) with its offset
 * as `+HH:MM`, and only the fractional digits needed.
 */
export function toJsonValue(v: Value, t: SqlType, zone: TimeZone = UTC_ZONE): unknown {
  if (v === null) return null
  if (t.element && Array.isArray(v)) return v.map((x) => toJsonValue(x, t.element!, zone))
  switch (t.name) {
    case 'bool':
    case 'int2':
    case 'int4':
    case 'int8':
    case 'float4':
    case 'float8':
    case 'numeric':
      // A finite numeric stays a Numeric: the JSON writers (jsonCompactText, jsonbText) keep its digits.
      if (v instanceof Numeric) return v.k === 0 ? v : v.toString()
      return typeof v === 'number' && !Number.isFinite(v) ? String(v) : v
    case 'json':
    case 'jsonb':
      return typeof v === 'string' ? new RawJson(v) : v
    case 'timestamptz':
      if (typeof v !== 'number' || !Number.isFinite(v)) return formatValue(v, t)
      return formatTimestamptz(v, zone).replace(' ', 'T').replace(/([+-]\d\d)(:\d\d)?(:\d\d)?((?: BC)?)$/, (_, h: string, m?: string, sec?: string, bc?: string) => `${h}${m ?? ':00'}${sec ?? ''}${bc ?? ''}`)
    case 'timestamp':
      return (formatValue(v, t) ?? '').replace(' ', 'T')
    default:
      return formatValue(v, t)
  }
}

/** Whether a value of this type is written in JSON on the session's wall clock (so the call reads the session). */
export const jsonNeedsZone = (types: readonly (SqlType | undefined)[]): boolean => types.some((t) => t?.name === 'timestamptz')

/** Postgres' json_build_object text: `{"a" : 1, "b" : "x"}` (json keeps its builder's spacing). */
export function jsonBuildObject(pairs: readonly { key: Value; value: Value; type: SqlType }[], zone: TimeZone = UTC_ZONE): string {
  const parts: string[] = []
  for (const p of pairs) {
    if (p.key === null) throw new SluiceError('execution', SqlState.invalidParameterValue, 'argument 1 cannot be null')
    const v = p.type.name === 'json' && typeof p.value === 'string' ? p.value : jsonCompactText(toJsonValue(p.value, p.type, zone))
    parts.push(`${JSON.stringify(String(p.key))} : ${v}`)
  }
  return `{${parts.join(', ')}}`
}

export function jsonGet(json: string, key: Value, asText: boolean): Value {
  let parsed: unknown
  try {
    parsed = JSON.parse(json)
  } catch {
    return null
  }
  const v = typeof key === 'number' ? (Array.isArray(parsed) ? parsed[key] : undefined) : (parsed as Record<string, unknown> | null)?.[String(key)]
  if (v === undefined || (v === null && asText)) return null
  if (asText) return typeof v === 'string' ? v : JSON.stringify(v)
  return JSON.stringify(v)
}

export function extreme(values: readonly Value[], sign: 1 | -1): Value {
  let best: Value = null
  for (const v of values) {
    if (v === null) continue
    if (best === null || compareValues(v, best) * sign > 0) best = v
  }
  return best
}

export const md5 = (text: string): string => createHash('md5').update(text).digest('hex')

/** What `version()` answers; clients parse the leading `PostgreSQL <major>.<minor>`. */
export const VERSION_STRING = 'PostgreSQL 15.0 (Sluice 0.1.0, a streaming SQL engine) on x86_64-pc-linux-gnu, 64-bit'

const numSum = (acc: Num | null, x: Num): Numeric => numSumStep(acc, x)

export const Runtime = {
  numAdd,
  numVariance,
  numSub,
  numMul,
  numDiv,
  numMod,
  numNeg,
  numCmp,
  numSum,
  numericKey,
  numericToInteger,
  toNumeric,
  applyTypmod,
  extreme,
  md5,
  toJsonValue,
  jsonCompactText,
  versionString: VERSION_STRING,
  intDiv,
  floatDiv,
  intMod,
  sqrtChecked,
  lnChecked,
  expChecked,
  powerChecked,
  signOf,
  roundHalfEven,
  checkedInt,
  compareValues,
  equalValues,
  tsPlusInterval,
  tsMinusInterval,
  tsMinusTs,
  intervalPlus,
  intervalMinus,
  intervalTimes,
  intervalDiv,
  intervalNegate,
  intervalMicros,
  likeRegex,
  posixRegex,
  similarToRegex,
  castValue,
  dateTrunc,
  toTimestamp,
  extractField,
  roundTo,
  jsonBuildObject,
  jsonGet,
  formatValue,
  // Aggregate state (expr/aggregates.ts): sketches updated in place in the accumulator.
  hllAdd,
  hllEstimate,
  pctAdd,
  pctQuantile,
  percentileFraction,
  pgNotify,
}
export type RuntimeHelpers = typeof Runtime
