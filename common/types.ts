/**
 * SQL types as Sluice sees them, their Postgres OIDs, and how values look in JavaScript.
 *
 * Runtime representation (chosen for speed on the hot path: plain JS values, no wrappers):
 *   bool -> boolean; int2/int4/int8/float4/float8/numeric -> number (int8 exact up to 2^53, numeric is a double);
 *   text -> string; timestamptz/timestamp/date -> number of microseconds since 1970-01-01 UTC;
 *   interval -> Interval; json/jsonb -> string holding JSON text; bytea -> Buffer; NULL -> null.
 */
import { SluiceError, SqlState } from './errors.ts'

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
  | 'json'
  | 'jsonb'
  | 'bytea'
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
}

export interface Interval {
  readonly months: number
  readonly days: number
  readonly micros: number
}

export type Value = null | boolean | number | string | Interval | Buffer | Value[]

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
  json: scalar('json'),
  jsonb: scalar('jsonb'),
  bytea: scalar('bytea'),
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
  json: { oid: 114, arrayOid: 199, size: -1 },
  jsonb: { oid: 3802, arrayOid: 3807, size: -1 },
  bytea: { oid: 17, arrayOid: 1001, size: -1 },
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

export const typeFromOid = (oid: number): SqlType | undefined => byOid.get(oid)

/** The Postgres spelling users see (format_type): `bigint`, `timestamp with time zone`, `text[]`. */
export function typeDisplayName(t: SqlType): string {
  const base = DISPLAY[t.name]
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
  json: 'json',
  jsonb: 'jsonb',
  bytea: 'bytea',
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
  json: 'json',
  jsonb: 'jsonb',
  bytea: 'bytea',
}

/** Resolves a type name as written in SQL (case-insensitive, `pg_catalog.` allowed); undefined if unknown. */
export function typeFromName(name: string, isArray = false): SqlType | undefined {
  const key = name.toLowerCase().replace(/^pg_catalog\./, '').replace(/\s+/g, ' ').trim()
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
  if (years !== 0) parts.push(`${years} year${Math.abs(years) === 1 ? '' : 's'}`)
  if (mons !== 0) parts.push(`${mons} mon${Math.abs(mons) === 1 ? '' : 's'}`)
  if (i.days !== 0) parts.push(`${i.days} day${Math.abs(i.days) === 1 ? '' : 's'}`)
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

/**
 * Parses a timestamp: ISO 8601 (`2026-11-23T10:00:00Z`, `2026-11-23 10:00:00.123+01`, `2026-11-23`), with a
 * zone or, when none is given, UTC (the server's TimeZone). Returns microseconds since the epoch.
 */
export function parseTimestamp(text: string, typeName = 'timestamp with time zone'): number {
  const m = /^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6})\d*)?)?)?\s*(Z|UTC|[+-]\d{2}(?::?\d{2})?)?\s*$/i.exec(text)
  if (!m) {
    const lower = text.trim().toLowerCase()
    if (lower === 'epoch') return 0
    if (lower === 'infinity') return Number.POSITIVE_INFINITY
    if (lower === '-infinity') return Number.NEGATIVE_INFINITY
    throw invalid(typeName, text)
  }
  const [, y, mo, d, h, mi, s, frac, zone] = m
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h ?? 0), Number(mi ?? 0), Number(s ?? 0))
  if (Number.isNaN(ms)) throw invalid(typeName, text)
  let micros = ms * 1000 + (frac ? Number(frac.padEnd(6, '0')) : 0)
  if (zone && zone.toUpperCase() !== 'Z' && zone.toUpperCase() !== 'UTC') {
    const z = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone)!
    const offset = (Number(z[2]) * 60 + Number(z[3] ?? 0)) * MICROS_PER_MINUTE
    micros -= z[1] === '-' ? -offset : offset
  }
  return micros
}

/** `2026-11-23 10:00:00.5+00` (timestamptz) or without the zone (timestamp), as Postgres prints with TimeZone=UTC. */
export function formatTimestamp(micros: number, withZone = true): string {
  if (micros === Number.POSITIVE_INFINITY) return 'infinity'
  if (micros === Number.NEGATIVE_INFINITY) return '-infinity'
  const ms = Math.floor(micros / 1000)
  const sub = micros - ms * 1000
  const d = new Date(ms)
  const frac = d.getUTCMilliseconds() * 1000 + sub
  const fracText = frac === 0 ? '' : `.${pad(frac, 6).replace(/0+$/, '')}`
  const year = d.getUTCFullYear()
  const text = `${pad(year, 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${fracText}`
  return withZone ? `${text}+00` : text
}

export function formatDate(micros: number): string {
  return formatTimestamp(micros, false).slice(0, 10)
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
      return typeof v === 'number' ? formatNumeric(v) : String(v)
    case 'timestamptz':
      return typeof v === 'number' ? formatTimestamp(v, true) : String(v)
    case 'timestamp':
      return typeof v === 'number' ? formatTimestamp(v, false) : String(v)
    case 'date':
      return typeof v === 'number' ? formatDate(v) : String(v)
    case 'interval':
      return isInterval(v) ? formatInterval(v) : String(v)
    case 'bytea':
      return Buffer.isBuffer(v) ? `\\x${v.toString('hex')}` : String(v)
    case 'json':
    case 'jsonb':
    case 'text':
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

/**
 * Numeric output: plain decimal notation, never an exponent. Numerics are doubles for now, so the value is
 * rounded to 15 significant digits first: sums of decimal amounts print as `0.3`, not `0.30000000000000004`.
 */
export function formatNumeric(n: number): string {
  if (Number.isNaN(n)) return 'NaN'
  if (!Number.isFinite(n)) return n > 0 ? 'Infinity' : '-Infinity'
  const s = String(Number(n.toPrecision(15)))
  if (!/e/i.test(s)) return s
  return n.toLocaleString('en-US', { useGrouping: false, maximumFractionDigits: 20 })
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
      checkIntRange(n, t)
      return n
    }
    case 'float4':
    case 'float8':
    case 'numeric': {
      const s = text.trim()
      const lower = s.toLowerCase()
      if (lower === 'nan') return Number.NaN
      if (lower === 'infinity' || lower === '+infinity' || lower === 'inf') return Number.POSITIVE_INFINITY
      if (lower === '-infinity' || lower === '-inf') return Number.NEGATIVE_INFINITY
      if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(s)) throw invalid(typeDisplayName(t), text)
      return Number(s)
    }
    case 'timestamptz':
    case 'timestamp':
      return parseTimestamp(text, typeDisplayName(t))
    case 'date':
      return parseTimestamp(text, 'date')
    case 'interval':
      return parseInterval(text)
    case 'bytea':
      return text.startsWith('\\x') ? Buffer.from(text.slice(2), 'hex') : Buffer.from(text, 'utf8')
    case 'json':
    case 'jsonb':
      try {
        JSON.parse(text)
      } catch {
        throw invalid('json', text)
      }
      return text
    case 'text':
    case 'unknown':
      return text
  }
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
