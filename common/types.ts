/**
 * SQL types as Sluice sees them, their Postgres OIDs, and how values look in JavaScript.
 *
 * Runtime representation (chosen for speed on the hot path: plain JS values, no wrappers):
 *   bool -> boolean; int2/int4/int8/float4/float8 -> number (int8 exact up to 2^53); numeric -> Numeric (an exact
 *   decimal, common/numeric.ts; numeric positions also accept a number, converted exactly); text -> string; timestamptz/timestamp/date -> number of microseconds since 1970-01-01 UTC;
 *   interval -> Interval; json/jsonb -> string holding JSON text; bytea -> Buffer; NULL -> null.
 */
import { isUtf8 } from 'node:buffer'
import { SluiceError, SqlState } from './errors.ts'
import { jsonbFromText } from './jsonb-text.ts'
import { Numeric, applyTypmod, formatNumeric, parseNumeric, toNumeric } from './numeric.ts'
import { formatTime, parseTime } from './time-of-day.ts'

export type TypeName =
  | 'bool'
  | 'int2'
  | 'int4'
  | 'int8'
  | 'float4'
  | 'float8'
  | 'numeric'
  | 'text'
  | 'timestamptz'
  | 'timestamp'
  | 'date'
  | 'interval'
  | 'time'
  | 'json'
  | 'jsonb'
  | 'bytea'
  | 'uuid'
  | 'unknown'

export interface SqlType {
  readonly name: TypeName
  /** Element type for arrays (e.g. text[]); absent for scalars. */
  readonly element?: SqlType
  /**
   * For catalog types carried by a Sluice type (`name` and `"char"` as text, `oid` as int4): the OID and
   * size clients are told, so that RowDescription matches PostgreSQL's. Absent for ordinary types.
   */
  readonly pgOid?: number
  readonly pgSize?: number
  /** numeric(precision, scale): values are rounded to the scale and checked against the precision. */
  readonly precision?: number
  readonly scale?: number
}

export interface Interval {
  readonly months: number
  readonly days: number
  readonly micros: number
}

export type Value = null | boolean | number | string | Numeric | Interval | Buffer | Value[]

/** A row is an array of values in schema column order. */
export type Row = Value[]

export interface Column {
  readonly name: string
  readonly type: SqlType
  readonly nullable: boolean
}

export interface Schema {
  readonly columns: readonly Column[]
}

const scalar = (name: TypeName): SqlType => Object.freeze({ name })

export const Types = {
  bool: scalar('bool'),
  int2: scalar('int2'),
  int4: scalar('int4'),
  int8: scalar('int8'),
  float4: scalar('float4'),
  float8: scalar('float8'),
  numeric: scalar('numeric'),
  text: scalar('text'),
  timestamptz: scalar('timestamptz'),
  timestamp: scalar('timestamp'),
  date: scalar('date'),
  interval: scalar('interval'),
  time: scalar('time'),
  json: scalar('json'),
  jsonb: scalar('jsonb'),
  bytea: scalar('bytea'),
  uuid: scalar('uuid'),
  unknown: scalar('unknown'),
} as const

/** Array OIDs of the catalog types carried by Sluice types (`"char"`, `name`, `oid`, `varchar`). */
const CATALOG_ARRAY_OIDS: Readonly<Record<number, number>> = { 18: 1002, 19: 1003, 26: 1028, 1043: 1015 }

export const arrayOf = (element: SqlType): SqlType => {
  const pgOid = element.pgOid === undefined ? undefined : CATALOG_ARRAY_OIDS[element.pgOid]
  return Object.freeze(pgOid === undefined ? { name: element.name, element } : { name: element.name, element, pgOid, pgSize: -1 })
}

/** Postgres type OIDs (pg_type.oid) for scalars and their array types. */
export const TypeOid: Record<TypeName, { readonly oid: number; readonly arrayOid: number; readonly size: number }> = {
  bool: { oid: 16, arrayOid: 1000, size: 1 },
  int2: { oid: 21, arrayOid: 1005, size: 2 },
  int4: { oid: 23, arrayOid: 1007, size: 4 },
  int8: { oid: 20, arrayOid: 1016, size: 8 },
  float4: { oid: 700, arrayOid: 1021, size: 4 },
  float8: { oid: 701, arrayOid: 1022, size: 8 },
  numeric: { oid: 1700, arrayOid: 1231, size: -1 },
  text: { oid: 25, arrayOid: 1009, size: -1 },
  timestamptz: { oid: 1184, arrayOid: 1185, size: 8 },
  timestamp: { oid: 1114, arrayOid: 1115, size: 8 },
  date: { oid: 1082, arrayOid: 1182, size: 4 },
  interval: { oid: 1186, arrayOid: 1187, size: 16 },
  time: { oid: 1083, arrayOid: 1183, size: 8 },
  json: { oid: 114, arrayOid: 199, size: -1 },
  jsonb: { oid: 3802, arrayOid: 3807, size: -1 },
  bytea: { oid: 17, arrayOid: 1001, size: -1 },
  uuid: { oid: 2950, arrayOid: 2951, size: 16 },
  unknown: { oid: 705, arrayOid: 0, size: -2 },
}

export const typeOid = (t: SqlType): number => t.pgOid ?? (t.element ? TypeOid[t.name].arrayOid : TypeOid[t.name].oid)
export const typeSize = (t: SqlType): number => t.pgSize ?? (t.element ? -1 : TypeOid[t.name].size)

const byOid = new Map<number, SqlType>()
for (const [name, info] of Object.entries(TypeOid) as [TypeName, (typeof TypeOid)[TypeName]][]) {
  byOid.set(info.oid, scalar(name))
  if (info.arrayOid !== 0) byOid.set(info.arrayOid, arrayOf(scalar(name)))
}
byOid.set(1043, Types.text) // varchar
byOid.set(1042, Types.text) // bpchar
byOid.set(19, Types.text) // name

/** numeric(precision, scale) (typmods checked by the caller, see checkNumericTypmod). */
export const numericType = (precision: number, scale: number): SqlType => Object.freeze({ name: 'numeric', precision, scale })

export const typeFromOid = (oid: number): SqlType | undefined => byOid.get(oid)

/** The Postgres spelling users see (format_type): `bigint`, `timestamp with time zone`, `text[]`. */
export function typeDisplayName(t: SqlType): string {
  const base = t.precision === undefined ? DISPLAY[t.name] : `${DISPLAY[t.name]}(${t.precision},${t.scale ?? 0})`
  return t.element ? `${base}[]` : base
}

const DISPLAY: Record<TypeName, string> = {
  bool: 'boolean',
  int2: 'smallint',
  int4: 'integer',
  int8: 'bigint',
  float4: 'real',
  float8: 'double precision',
  numeric: 'numeric',
  text: 'text',
  timestamptz: 'timestamp with time zone',
  timestamp: 'timestamp without time zone',
  date: 'date',
  interval: 'interval',
  time: 'time without time zone',
  json: 'json',
  jsonb: 'jsonb',
  bytea: 'bytea',
  uuid: 'uuid',
  unknown: 'unknown',
}

const ALIASES: Record<string, TypeName> = {
  bool: 'bool',
  boolean: 'bool',
  int2: 'int2',
  smallint: 'int2',
  int: 'int4',
  int4: 'int4',
  integer: 'int4',
  serial: 'int4',
  int8: 'int8',
  bigint: 'int8',
  bigserial: 'int8',
  float4: 'float4',
  real: 'float4',
  float: 'float8',
  float8: 'float8',
  'double precision': 'float8',
  double: 'float8',
  numeric: 'numeric',
  decimal: 'numeric',
  text: 'text',
  varchar: 'text',
  'character varying': 'text',
  char: 'text',
  character: 'text',
  bpchar: 'text',
  string: 'text',
  name: 'text',
  timestamptz: 'timestamptz',
  'timestamp with time zone': 'timestamptz',
  timestamp: 'timestamp',
  'timestamp without time zone': 'timestamp',
  date: 'date',
  interval: 'interval',
  time: 'time',
  'time without time zone': 'time',
  json: 'json',
  jsonb: 'jsonb',
  bytea: 'bytea',
  uuid: 'uuid',
}

/** pg_type names of element types whose array type is `_` and the name. */
const PG_ELEMENT_NAMES = new Set(['bool', 'int2', 'int4', 'int8', 'float4', 'float8', 'numeric', 'text', 'varchar', 'bpchar', 'char', 'name', 'timestamptz', 'timestamp', 'date', 'interval', 'time', 'json', 'jsonb', 'bytea', 'uuid'])

/** Resolves a type name as written in SQL (case-insensitive, `pg_catalog.` allowed); undefined if unknown. */
export function typeFromName(name: string, isArray = false): SqlType | undefined {
  const key = name.toLowerCase().replace(/^pg_catalog\./, '').replace(/\s+/g, ' ').trim()
  // `_int4` is pg_type's name of `int4[]`, as PostgreSQL accepts it in casts.
  if (!isArray && key.startsWith('_') && PG_ELEMENT_NAMES.has(key.slice(1))) return arrayOf(scalar(ALIASES[key.slice(1)]!))
  const found = ALIASES[key]
  if (found === undefined) return undefined
  return isArray ? arrayOf(scalar(found)) : scalar(found)
}

export const isNumeric = (t: SqlType): boolean =>
  !t.element && (t.name === 'int2' || t.name === 'int4' || t.name === 'int8' || t.name === 'float4' || t.name === 'float8' || t.name === 'numeric')
export const isInteger = (t: SqlType): boolean => !t.element && (t.name === 'int2' || t.name === 'int4' || t.name === 'int8')
export const isTemporal = (t: SqlType): boolean =>
  !t.element && (t.name === 'timestamptz' || t.name === 'timestamp' || t.name === 'date')
export const isTextual = (t: SqlType): boolean => !t.element && t.name === 'text'
export const sameType = (a: SqlType, b: SqlType): boolean =>
  a.name === b.name && (a.element === undefined) === (b.element === undefined)

// ---------------------------------------------------------------------------------------------------------
// Time and intervals

export const MICROS_PER_SECOND = 1_000_000
export const MICROS_PER_MINUTE = 60 * MICROS_PER_SECOND
export const MICROS_PER_HOUR = 60 * MICROS_PER_MINUTE
export const MICROS_PER_DAY = 24 * MICROS_PER_HOUR

/** An interval's length in microseconds, counting a month as 30 days (as Postgres does for comparisons). */
export const intervalMicros = (i: Interval): number => i.months * 30 * MICROS_PER_DAY + i.days * MICROS_PER_DAY + i.micros

export const isInterval = (v: unknown): v is Interval =>
  typeof v === 'object' && v !== null && !Buffer.isBuffer(v) && !Array.isArray(v) && 'micros' in v

/** Adds an interval to a timestamp (microseconds), months by the calendar as Postgres does. */
export function addInterval(ts: number, i: Interval, sign: 1 | -1 = 1): number {
  let out = ts
  if (i.months !== 0) {
    const d = new Date(Math.floor(out / 1000))
    const ms = out - Math.floor(out / 1000) * 1000
    d.setUTCMonth(d.getUTCMonth() + sign * i.months)
    out = d.getTime() * 1000 + ms
  }
  return out + sign * (i.days * MICROS_PER_DAY + i.micros)
}

const UNIT_MICROS: Record<string, { months?: number; days?: number; micros?: number }> = {
  microsecond: { micros: 1 },
  millisecond: { micros: 1000 },
  second: { micros: MICROS_PER_SECOND },
  minute: { micros: MICROS_PER_MINUTE },
  hour: { micros: MICROS_PER_HOUR },
  day: { days: 1 },
  week: { days: 7 },
  month: { months: 1 },
  year: { months: 12 },
}

function unitOf(word: string): (typeof UNIT_MICROS)[string] | undefined {
  const w = word.toLowerCase()
  const map: Record<string, string> = {
    us: 'microsecond', usec: 'microsecond', usecs: 'microsecond', microseconds: 'microsecond', microsecond: 'microsecond',
    ms: 'millisecond', msec: 'millisecond', msecs: 'millisecond', milliseconds: 'millisecond', millisecond: 'millisecond',
    s: 'second', sec: 'second', secs: 'second', second: 'second', seconds: 'second',
    m: 'minute', min: 'minute', mins: 'minute', minute: 'minute', minutes: 'minute',
    h: 'hour', hr: 'hour', hrs: 'hour', hour: 'hour', hours: 'hour',
    d: 'day', day: 'day', days: 'day',
    w: 'week', week: 'week', weeks: 'week',
    mon: 'month', mons: 'month', month: 'month', months: 'month',
    y: 'year', yr: 'year', yrs: 'year', year: 'year', years: 'year',
  }
  const canonical = map[w]
  return canonical === undefined ? undefined : UNIT_MICROS[canonical]
}

function invalid(typeName: string, text: string): SluiceError {
  return new SluiceError('execution', SqlState.invalidTextRepresentation, `invalid input syntax for type ${typeName}: "${text}"`)
}

/**
 * Parses Postgres interval input: `5 seconds`, `1 minute 30 seconds`, `30 min`, `1 day 02:00:00`, `00:05:00`,
 * `-1 hour`, `@ 1 hour ago`, and ISO 8601 durations (`PT5M`, `P1DT2H`).
 */
export function parseInterval(text: string, unitQualifier?: string): Interval {
  const src = text.trim()
  let months = 0
  let days = 0
  let micros = 0
  const iso = /^P(?:(-?\d+(?:\.\d+)?)Y)?(?:(-?\d+(?:\.\d+)?)M)?(?:(-?\d+(?:\.\d+)?)W)?(?:(-?\d+(?:\.\d+)?)D)?(?:T(?:(-?\d+(?:\.\d+)?)H)?(?:(-?\d+(?:\.\d+)?)M)?(?:(-?\d+(?:\.\d+)?)S)?)?$/i.exec(src)
  if (iso && src.length > 1) {
    const n = (s: string | undefined) => (s === undefined ? 0 : Number(s))
    months = n(iso[1]) * 12 + n(iso[2])
    days = n(iso[3]) * 7 + n(iso[4])
    micros = Math.round(n(iso[5]) * MICROS_PER_HOUR + n(iso[6]) * MICROS_PER_MINUTE + n(iso[7]) * MICROS_PER_SECOND)
    return { months, days, micros }
  }
  let body = src.replace(/^@\s*/, '')
  let negateAll = false
  if (/\bago$/i.test(body)) {
    negateAll = true
    body = body.replace(/\s*ago$/i, '')
  }
  const tokens = body.split(/\s+/).filter((t) => t.length > 0)
  if (tokens.length === 0) throw invalid('interval', text)
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i]!
    const clock = /^([+-])?(\d+):(\d{1,2})(?::(\d{1,2}(?:\.\d+)?))?$/.exec(tok)
    if (clock) {
      const sign = clock[1] === '-' ? -1 : 1
      micros += sign * (Number(clock[2]) * MICROS_PER_HOUR + Number(clock[3]) * MICROS_PER_MINUTE + Math.round(Number(clock[4] ?? 0) * MICROS_PER_SECOND))
      continue
    }
    const numUnit = /^([+-]?\d+(?:\.\d+)?)([a-z]+)?$/i.exec(tok)
    if (!numUnit) throw invalid('interval', text)
    const amount = Number(numUnit[1])
    let unitWord = numUnit[2]
    if (unitWord === undefined) {
      const next = tokens[i + 1]
      if (next !== undefined && unitOf(next) !== undefined) {
        unitWord = next
        i++
      } else if (unitQualifier !== undefined) {
        unitWord = unitQualifier
      } else if (tokens.length === 1) {
        unitWord = 'second'
      } else {
        throw invalid('interval', text)
      }
    }
    const unit = unitOf(unitWord)
    if (unit === undefined) throw invalid('interval', text)
    if (unit.months) {
      const whole = Math.trunc(amount * unit.months)
      months += whole
      days += Math.round((amount * unit.months - whole) * 30)
    }
    if (unit.days) {
      const whole = Math.trunc(amount * unit.days)
      days += whole
      micros += Math.round((amount * unit.days - whole) * MICROS_PER_DAY)
    }
    if (unit.micros) micros += Math.round(amount * unit.micros)
  }
  return negateAll ? { months: -months, days: -days, micros: -micros } : { months, days, micros }
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0')

/** Postgres `IntervalStyle = postgres` output: `1 year 2 mons 3 days 04:05:06.5`. */
export function formatInterval(i: Interval): string {
  const parts: string[] = []
  const years = Math.trunc(i.months / 12)
  const mons = i.months % 12
  // PostgreSQL writes the singular for exactly 1 only: `-1 days`.
  if (years !== 0) parts.push(`${years} year${years === 1 ? '' : 's'}`)
  if (mons !== 0) parts.push(`${mons} mon${mons === 1 ? '' : 's'}`)
  if (i.days !== 0) parts.push(`${i.days} day${i.days === 1 ? '' : 's'}`)
  if (i.micros !== 0 || parts.length === 0) {
    const neg = i.micros < 0
    let m = Math.abs(i.micros)
    const h = Math.floor(m / MICROS_PER_HOUR)
    m -= h * MICROS_PER_HOUR
    const min = Math.floor(m / MICROS_PER_MINUTE)
    m -= min * MICROS_PER_MINUTE
    const s = Math.floor(m / MICROS_PER_SECOND)
    const frac = m - s * MICROS_PER_SECOND
    const fracText = frac === 0 ? '' : `.${pad(frac, 6).replace(/0+$/, '')}`
    parts.push(`${neg ? '-' : ''}${pad(h)}:${pad(min)}:${pad(s)}${fracText}`)
  }
  return parts.join(' ')
}

// Calendar arithmetic on day numbers (days since 1970-01-01, proleptic Gregorian, astronomical years: 1 BC
// is year 0), without JavaScript's Date: Date maps years 0-99 to 1900-1999 and ends in 275760, while
// PostgreSQL's timestamps run from 4714 BC to 294276 AD.

/** The day number of a calendar date. */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * ((month + 9) % 12) + 2) / 5) + day - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

/** The calendar date of a day number: [year, month 1-12, day 1-31]. */
export function civilFromDays(days: number): [number, number, number] {
  const z = days + 719468
  const era = Math.floor(z / 146097)
  const doe = z - era * 146097
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365)
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1
  const month = mp < 10 ? mp + 3 : mp - 9
  return [yoe + era * 400 + (month <= 2 ? 1 : 0), month, day]
}

const isLeap = (y: number): boolean => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
const daysInMonth = (y: number, m: number): number => (m === 2 && isLeap(y) ? 29 : DAYS_IN_MONTH[m - 1]!)

/** PostgreSQL's timestamp range in microseconds since 1970: [4714-11-24 00:00:00 BC, 294277-01-01 00:00:00). */
export const PG_TIMESTAMP_MIN = daysFromCivil(-4713, 11, 24) * MICROS_PER_DAY
export const PG_TIMESTAMP_END = daysFromCivil(294277, 1, 1) * MICROS_PER_DAY

/**
 * The timestamps a stream keeps (any timestamp column may be a view's event time): 0001-01-01 00:00:00
 * up to, not including, 10000-01-01 00:00:00 UTC. Narrower than PostgreSQL's range on purpose: a producer's
 * number in the wrong unit (`9e15` epoch milliseconds is the year 287000) or `infinity` would become every
 * view's watermark and close every window. Past about 2255 a double holds microseconds to 32 us at worst.
 */
export const EVENT_TIME_MIN = daysFromCivil(1, 1, 1) * MICROS_PER_DAY
export const EVENT_TIME_END = daysFromCivil(10000, 1, 1) * MICROS_PER_DAY
export const EVENT_TIME_HINT = 'Stream timestamps are event times: Sluice accepts them from 0001-01-01 to 9999-12-31 (UTC); infinity and -infinity are not event times.'

/** Whether microseconds since 1970 lie in the range a stream accepts (false for NaN and infinities). */
export const isEventTime = (micros: number): boolean => micros >= EVENT_TIME_MIN && micros < EVENT_TIME_END

/** The error for a stream timestamp outside the event-time range (22008 with a hint), or null when it fits. */
export function eventTimeError(micros: number, column: string): SluiceError | null {
  if (isEventTime(micros)) return null
  const shown = Number.isNaN(micros) ? 'NaN' : formatTimestamp(micros)
  return new SluiceError('execution', SqlState.datetimeFieldOverflow, `timestamp out of range for an event time in column "${column}": "${shown}"`, { hint: EVENT_TIME_HINT })
}

const fieldOverflow = (text: string): SluiceError =>
  new SluiceError('execution', SqlState.datetimeFieldOverflow, `date/time field value out of range: "${text}"`)

/**
 * Parses a timestamp as PostgreSQL does for the forms Sluice reads: ISO 8601 dates with an optional time
 * (`2026-11-23T10:00:00Z`, `2026-11-23 10:00:00.123+01`, `2026-11-23`), an optional zone (UTC, the server's
 * TimeZone, when none is given) and an optional `BC`/`AD`; `epoch`, `infinity`, `-infinity`. Strict like
 * PostgreSQL: a field out of its range (month 13, February 30, 25:00, 23:60) is 22008, never rolled over;
 * a time outside 4714 BC .. 294276 AD is 22008; text of another form is 22007. Returns microseconds.
 */
export function parseTimestamp(text: string, typeName = 'timestamp with time zone'): number {
  const m = /^\s*(\d{4,6})-(\d{1,2})-(\d{1,2})(?:(?:T|\s+)(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d+))?)?)?\s*(Z|UTC|[+-]\d{1,2}(?::?\d{2})?)?(?:\s+(BC|AD))?\s*$/i.exec(text)
  if (!m) {
    const lower = text.trim().toLowerCase()
    if (lower === 'epoch') return 0
    if (lower === 'infinity' || lower === '+infinity') return Number.POSITIVE_INFINITY
    if (lower === '-infinity') return Number.NEGATIVE_INFINITY
    throw new SluiceError('execution', SqlState.invalidDatetimeFormat, `invalid input syntax for type ${typeName}: "${text}"`)
  }
  const [, ys, mos, ds, hs, mis, ss, frac, zone, era] = m
  let year = Number(ys)
  const month = Number(mos)
  const day = Number(ds)
  const hour = Number(hs ?? 0)
  const minute = Number(mis ?? 0)
  const second = Number(ss ?? 0)
  const fraction = frac === undefined ? 0 : Math.round(Number(`0.${frac}`) * MICROS_PER_SECOND)
  if (year === 0) throw fieldOverflow(text)
  if (era !== undefined && era.toUpperCase() === 'BC') year = 1 - year
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) throw fieldOverflow(text)
  // 24:00:00 and a leap second :60 are accepted and roll over, as in PostgreSQL; nothing past them.
  if (hour > 24 || minute > 59 || second > 60) throw fieldOverflow(text)
  if ((hour === 24 && (minute > 0 || second > 0 || fraction > 0)) || (second === 60 && fraction > 0)) throw fieldOverflow(text)
  let micros = daysFromCivil(year, month, day) * MICROS_PER_DAY + hour * MICROS_PER_HOUR + minute * MICROS_PER_MINUTE + second * MICROS_PER_SECOND + fraction
  if (zone !== undefined && zone.toUpperCase() !== 'Z' && zone.toUpperCase() !== 'UTC') {
    const z = /^([+-])(\d{1,2}):?(\d{2})?$/.exec(zone)!
    const zh = Number(z[2])
    const zm = Number(z[3] ?? 0)
    if (zh > 15 || zm > 59) {
      throw new SluiceError('execution', SqlState.invalidTimeZoneDisplacementValue, `time zone displacement out of range: "${text}"`)
    }
    const offset = (zh * 60 + zm) * MICROS_PER_MINUTE
    micros -= z[1] === '-' ? -offset : offset
  }
  if (micros < PG_TIMESTAMP_MIN || micros >= PG_TIMESTAMP_END) {
    throw new SluiceError('execution', SqlState.datetimeFieldOverflow, `${typeName === 'date' ? 'date' : 'timestamp'} out of range: "${text}"`)
  }
  return micros
}

const DAY_BIG = BigInt(MICROS_PER_DAY)

/**
 * The calendar fields of a timestamp: the date (astronomical year) and the microseconds into the day.
 * Past 2^53 microseconds (before 1685, after 2255) a double holds a time only to its spacing (up to 2048 us
 * at PostgreSQL's limits): the value is rounded to the decimal unit that spacing allows, in exact integers,
 * so that `294276-12-31 23:59:59` prints as written, not with the double's stray microseconds.
 */
function splitTimestamp(micros: number): { year: number; month: number; day: number; ofDay: number } {
  if (Math.abs(micros) <= Number.MAX_SAFE_INTEGER) {
    const days = Math.floor(micros / MICROS_PER_DAY)
    const [year, month, day] = civilFromDays(days)
    return { year, month, day, ofDay: micros - days * MICROS_PER_DAY }
  }
  const spacing = 2 ** (Math.floor(Math.log2(Math.abs(micros))) - 52)
  let unit = 1n
  while (Number(unit) < spacing) unit *= 10n
  const exact = BigInt(micros) + unit / 2n
  const rounded = (exact >= 0n ? exact / unit : (exact - unit + 1n) / unit) * unit
  const daysBig = rounded >= 0n ? rounded / DAY_BIG : (rounded - DAY_BIG + 1n) / DAY_BIG
  const [year, month, day] = civilFromDays(Number(daysBig))
  return { year, month, day, ofDay: Number(rounded - daysBig * DAY_BIG) }
}

/** `2026-11-23`, or `0044-03-15 BC` for year -43 (PostgreSQL prints years before 1 AD with BC). */
function dateText(year: number, month: number, day: number): { text: string; bc: boolean } {
  const bc = year <= 0
  return { text: `${pad(bc ? 1 - year : year, 4)}-${pad(month)}-${pad(day)}`, bc }
}

/** `2026-11-23 10:00:00.5+00` (timestamptz) or without the zone (timestamp), as Postgres prints with TimeZone=UTC. */
export function formatTimestamp(micros: number, withZone = true): string {
  if (micros === Number.POSITIVE_INFINITY) return 'infinity'
  if (micros === Number.NEGATIVE_INFINITY) return '-infinity'
  const { year, month, day, ofDay } = splitTimestamp(Math.round(micros))
  const h = Math.floor(ofDay / MICROS_PER_HOUR)
  const mi = Math.floor((ofDay - h * MICROS_PER_HOUR) / MICROS_PER_MINUTE)
  const rest = ofDay - h * MICROS_PER_HOUR - mi * MICROS_PER_MINUTE
  const s = Math.floor(rest / MICROS_PER_SECOND)
  const frac = rest - s * MICROS_PER_SECOND
  const fracText = frac === 0 ? '' : `.${pad(frac, 6).replace(/0+$/, '')}`
  const date = dateText(year, month, day)
  const text = `${date.text} ${pad(h)}:${pad(mi)}:${pad(s)}${fracText}${withZone ? '+00' : ''}`
  return date.bc ? `${text} BC` : text
}

export function formatDate(micros: number): string {
  if (micros === Number.POSITIVE_INFINITY) return 'infinity'
  if (micros === Number.NEGATIVE_INFINITY) return '-infinity'
  const { year, month, day } = splitTimestamp(Math.round(micros))
  const date = dateText(year, month, day)
  return date.bc ? `${date.text} BC` : date.text
}

/** Postgres float8 output (extra_float_digits = 1): shortest round-trip digits, exponent form past 1e15. */
export function formatFloat(n: number): string {
  if (Number.isNaN(n)) return 'NaN'
  if (n === Number.POSITIVE_INFINITY) return 'Infinity'
  if (n === Number.NEGATIVE_INFINITY) return '-Infinity'
  if (Object.is(n, -0)) return '-0'
  const abs = Math.abs(n)
  if (abs !== 0 && (abs >= 1e15 || abs < 1e-4)) {
    const [mant, exp] = n.toExponential().split('e') as [string, string]
    const e = Number(exp)
    return `${mant}e${e < 0 ? '-' : '+'}${pad(Math.abs(e))}`
  }
  return String(n)
}

/** Text-format output of a value, as Postgres would send it in a DataRow. */
export function formatValue(v: Value, t: SqlType): string | null {
  if (v === null) return null
  if (t.element) {
    if (!Array.isArray(v)) return String(v)
    // int2vector and oidvector (pg_index.indkey) print as `1 2`, without braces.
    if (t.pgOid === 22 || t.pgOid === 30) return v.map((x) => String(x)).join(' ')
    const el = t.element
    return `{${v.map((x) => formatArrayElement(x, el)).join(',')}}`
  }
  switch (t.name) {
    case 'bool':
      return v ? 't' : 'f'
    case 'int2':
    case 'int4':
    case 'int8':
      return typeof v === 'number' ? String(Math.trunc(v)) : String(v)
    case 'float4':
    case 'float8':
      return typeof v === 'number' ? formatFloat(v) : String(v)
    case 'numeric':
      return v instanceof Numeric ? formatNumeric(v) : typeof v === 'number' ? formatNumeric(toNumeric(v)) : String(v)
    case 'timestamptz':
      return typeof v === 'number' ? formatTimestamp(v, true) : String(v)
    case 'timestamp':
      return typeof v === 'number' ? formatTimestamp(v, false) : String(v)
    case 'date':
      return typeof v === 'number' ? formatDate(v) : String(v)
    case 'interval':
      return isInterval(v) ? formatInterval(v) : String(v)
    case 'time':
      return typeof v === 'number' ? formatTime(v) : String(v)
    case 'bytea':
      return Buffer.isBuffer(v) ? `\\x${v.toString('hex')}` : String(v)
    case 'json':
    case 'jsonb':
    case 'text':
    case 'uuid':
    case 'unknown':
      return typeof v === 'string' ? v : Array.isArray(v) ? JSON.stringify(v) : String(v)
  }
}

function formatArrayElement(v: Value, t: SqlType): string {
  const s = formatValue(v, t)
  if (s === null) return 'NULL'
  if (s === '' || /[{}",\\\s]/.test(s) || s.toUpperCase() === 'NULL') return `"${s.replace(/(["\\])/g, '\\$1')}"`
  return s
}


/** Parses the text form of a value (a parameter, a CSV field, a string literal cast). */
export function parseValue(text: string, t: SqlType): Value {
  if (t.element) return parseArrayLiteral(text, t.element)
  switch (t.name) {
    case 'bool': {
      const s = text.trim().toLowerCase()
      if (['t', 'true', 'yes', 'y', 'on', '1'].includes(s)) return true
      if (['f', 'false', 'no', 'n', 'off', '0'].includes(s)) return false
      throw invalid('boolean', text)
    }
    case 'int2':
    case 'int4':
    case 'int8': {
      const s = text.trim()
      if (!/^[+-]?\d+$/.test(s)) throw invalid(typeDisplayName(t), text)
      const n = Number(s)
      const range = INT_RANGE[t.name]!
      if (n < range[0] || n > range[1]) {
        throw new SluiceError('execution', SqlState.numericValueOutOfRange, `value "${text}" is out of range for type ${typeDisplayName(t)}`, {
          hint: t.name === 'int8' ? 'Sluice keeps bigint values exact up to 2^53 - 1 (9007199254740991).' : undefined,
        })
      }
      return n
    }
    case 'numeric': {
      const n = parseNumeric(text)
      return t.precision === undefined ? n : applyTypmod(n, t.precision, t.scale ?? 0)
    }
    case 'float4':
    case 'float8': {
      const s = text.trim()
      const lower = s.toLowerCase()
      if (lower === 'nan') return Number.NaN
      if (lower === 'infinity' || lower === '+infinity' || lower === 'inf') return Number.POSITIVE_INFINITY
      if (lower === '-infinity' || lower === '-inf') return Number.NEGATIVE_INFINITY
      if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(s)) throw invalid(typeDisplayName(t), text)
      const n = Number(s)
      const stored = t.name === 'float4' ? Math.fround(n) : n
      // Too big becomes an infinity and too small a zero: PostgreSQL refuses both.
      if (!Number.isFinite(stored) || (stored === 0 && /[1-9]/.test(s.replace(/e.*$/i, '')))) {
        throw new SluiceError('execution', SqlState.numericValueOutOfRange, `"${text}" is out of range for type ${typeDisplayName(t)}`)
      }
      return n
    }
    case 'timestamptz':
    case 'timestamp':
      return parseTimestamp(text, typeDisplayName(t))
    case 'date':
      return parseTimestamp(text, 'date')
    case 'interval':
      return parseInterval(text)
    case 'time':
      return parseTime(text)
    case 'bytea':
      return text.startsWith('\\x') ? Buffer.from(text.slice(2), 'hex') : Buffer.from(text, 'utf8')
    case 'json':
    case 'jsonb': {
      try {
        JSON.parse(text)
      } catch {
        throw invalid('json', text)
      }
      return t.name === 'jsonb' ? jsonbFromText(text) : text
    }
    case 'text':
    case 'unknown':
      if (text.includes('\0')) throw nulInText()
      return text
    case 'uuid':
      return parseUuid(text)
  }
}

/**
 * uuid input as PostgreSQL reads it: 32 hex digits, optionally in braces, with a hyphen allowed after any
 * group of four; held as the canonical lower-case `8-4-4-4-12` text, so that text order is uuid order.
 */
export function parseUuid(text: string): string {
  let body = text
  if (body.startsWith('{') && body.endsWith('}')) body = body.slice(1, -1)
  if (!/^[0-9a-fA-F]{4}(?:-?[0-9a-fA-F]{4}){7}$/.test(body)) throw invalid('uuid', text)
  const hex = body.replace(/-/g, '').toLowerCase()
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/** PostgreSQL refuses a NUL character in text (22021), as it refuses bytes that are not UTF-8. */
export const nulInText = (): SluiceError => new SluiceError('execution', SqlState.characterNotInRepertoire, 'invalid byte sequence for encoding "UTF8": 0x00')

/**
 * Where `bytes` stop being UTF-8 as PostgreSQL accepts it: the index of the first byte of an invalid,
 * overlong, surrogate or truncated sequence, or of a NUL; -1 when every byte is fine.
 */
export function invalidUtf8At(bytes: Uint8Array, from = 0, to = bytes.length): number {
  let i = from
  while (i < to) {
    const b = bytes[i]!
    if (b === 0) return i
    if (b < 0x80) {
      i++
      continue
    }
    const need = b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : 0
    if (need === 0 || i + need >= to) return i
    for (let k = 1; k <= need; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) return i
    const next = bytes[i + 1]!
    if ((b === 0xe0 && next < 0xa0) || (b === 0xed && next > 0x9f) || (b === 0xf0 && next < 0x90) || (b === 0xf4 && next > 0x8f)) return i
    i += need + 1
  }
  return -1
}

/** PostgreSQL's 22021 for the invalid sequence at `at`: its bytes in hex, as many as its lead byte announces. */
export function invalidEncodingError(bytes: Uint8Array, at: number): SluiceError {
  const lead = bytes[at] ?? 0
  const len = (lead & 0x80) === 0 ? 1 : (lead & 0xe0) === 0xc0 ? 2 : (lead & 0xf0) === 0xe0 ? 3 : (lead & 0xf8) === 0xf0 ? 4 : 1
  const shown = Array.from(bytes.subarray(at, Math.min(bytes.length, at + len)), (b) => `0x${b.toString(16).padStart(2, '0')}`)
  return new SluiceError('execution', SqlState.characterNotInRepertoire, `invalid byte sequence for encoding "UTF8": ${shown.join(' ')}`)
}

/** Bytes as text, refused as PostgreSQL refuses them (22021) when they are not UTF-8 or hold a NUL. */
export function utf8Text(bytes: Buffer): string {
  if (isUtf8(bytes) && !bytes.includes(0)) return bytes.toString('utf8')
  const at = invalidUtf8At(bytes)
  if (at >= 0) throw invalidEncodingError(bytes, at)
  return bytes.toString('utf8')
}

const INT_RANGE: Partial<Record<TypeName, [number, number]>> = {
  int2: [-32768, 32767],
  int4: [-2147483648, 2147483647],
  int8: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
}

export function checkIntRange(n: number, t: SqlType): void {
  const range = INT_RANGE[t.name]
  if (range && (n < range[0] || n > range[1] || !Number.isFinite(n))) {
    throw new SluiceError('execution', SqlState.numericValueOutOfRange, `${typeDisplayName(t)} out of range`)
  }
}

/**
 * array_in for one dimension: `{a,"b c",NULL,"q\\"x",d\\,e}`. Quoted elements and backslashes escape; an
 * unquoted NULL is SQL NULL; whitespace around elements is dropped. Nested braces (more dimensions) are 0A000.
 */
function parseArrayLiteral(text: string, element: SqlType): Value[] {
  const malformed = (): SluiceError => new SluiceError('execution', SqlState.invalidTextRepresentation, `malformed array literal: "${text}"`)
  const s = text.trim()
  if (!s.startsWith('{') || !s.endsWith('}')) throw malformed()
  const out: Value[] = []
  let i = 1
  const end = s.length - 1
  const space = (ch: string | undefined) => ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || ch === '\v' || ch === '\f'
  while (i < end && space(s[i])) i++
  if (i === end) return out
  for (;;) {
    while (i < end && space(s[i])) i++
    if (s[i] === '{') throw new SluiceError('unsupported', SqlState.featureNotSupported, 'multidimensional arrays are not supported')
    let item = ''
    let quoted = false
    let escaped = false
    if (s[i] === '"') {
      quoted = true
      i++
      for (;;) {
        if (i >= end) throw malformed()
        const ch = s[i++]!
        if (ch === '"') break
        if (ch === '\\') {
          if (i >= end) throw malformed()
          item += s[i++]
        } else item += ch
      }
      while (i < end && space(s[i])) i++
    } else {
      // Unquoted: up to the next comma; escaped characters are kept as they are, trailing spaces dropped.
      let kept = 0
      while (i < end && s[i] !== ',') {
        const ch = s[i++]!
        if (ch === '"' || ch === '{' || ch === '}') throw malformed()
        if (ch === '\\') {
          if (i >= end) throw malformed()
          item += s[i++]
          escaped = true
          kept = item.length
        } else {
          item += ch
          if (!space(ch)) kept = item.length
        }
      }
      item = item.slice(0, kept)
      if (item === '') throw malformed()
    }
    out.push(!quoted && !escaped && item.toUpperCase() === 'NULL' ? null : parseValue(item, element))
    if (i === end) return out
    if (s[i] !== ',') throw malformed()
    i++
  }
}
