/**
 * PostgreSQL's date/time templates (§9.8 "Data Type Formatting Functions"): `to_char(timestamp|interval,
 * template)`, and reading them back with `to_timestamp(text, template)` and `to_date(text, template)`. A
 * template is read once into nodes (patterns with their FM/TH modifiers, literal text) and cached.
 */
import { SluiceError, SqlState } from '../common/errors.ts'
import { MICROS_PER_DAY, MICROS_PER_HOUR, MICROS_PER_MINUTE, MICROS_PER_SECOND, Types, daysFromCivil, isNumeric, type Interval, type SqlType } from '../common/types.ts'
import { type TimeZone, UTC_ZONE, formatOffset, localToUtc } from '../common/time-zone.ts'
import type { EmitContext, ScalarImpl } from './bound.ts'
import { daysInMonth, fieldsOf, inRange, isoWeek, isoYearStart, type Fields } from './calendar.ts'
import type { Resolved } from './bound.ts'
import { NUMBER_FORMAT_FUNCTIONS } from './number-format.ts'
import type { EvalContext } from './runtime.ts'
import { sessionZone } from './time-zone-eval.ts'

type FunctionRule = (args: readonly SqlType[]) => Resolved | undefined

/** The patterns, longest first so that `HH24` wins over `HH` and `MONTH` over `MON`. */
const PATTERNS = [
  'A.D.', 'a.d.', 'B.C.', 'b.c.', 'A.M.', 'a.m.', 'P.M.', 'p.m.', 'Y,YYY', 'y,yyy',
  'MONTH', 'Month', 'month', 'SSSSS', 'sssss', 'SSSS', 'ssss', 'HH24', 'hh24', 'HH12', 'hh12', 'IDDD', 'iddd', 'IYYY', 'iyyy', 'YYYY', 'yyyy',
  'DAY', 'Day', 'day', 'FF1', 'FF2', 'FF3', 'FF4', 'FF5', 'FF6', 'ff1', 'ff2', 'ff3', 'ff4', 'ff5', 'ff6', 'MON', 'Mon', 'mon', 'DDD', 'ddd', 'IYY', 'iyy', 'YYY', 'yyy', 'TZH', 'tzh', 'TZM', 'tzm',
  'AD', 'ad', 'BC', 'bc', 'AM', 'am', 'PM', 'pm', 'HH', 'hh', 'MI', 'mi', 'SS', 'ss', 'MS', 'ms', 'US', 'us', 'DY', 'Dy', 'dy', 'DD', 'dd', 'ID', 'id', 'IW', 'iw', 'IY', 'iy', 'YY', 'yy', 'MM', 'mm', 'WW', 'ww', 'CC', 'cc', 'RM', 'rm', 'TZ', 'tz', 'OF', 'of',
  'D', 'd', 'I', 'i', 'Y', 'y', 'W', 'w', 'J', 'j', 'Q', 'q',
] as const

type Node = { kind: 'pattern'; key: string; fm: boolean; th: 'TH' | 'th' | undefined } | { kind: 'text'; text: string; quoted: boolean }

const templates = new Map<string, readonly Node[]>()

/** The nodes of a template: patterns (with FM before and TH after), quoted or plain text. */
export function parseTemplate(fmt: string): readonly Node[] {
  let nodes = templates.get(fmt)
  if (nodes !== undefined) return nodes
  const out: Node[] = []
  let i = 0
  while (i < fmt.length) {
    let fm = false
    while (/^(FM|fm|FX|fx|TM|tm)/.test(fmt.slice(i))) {
      if (fmt[i]!.toLowerCase() === 'f' && fmt[i + 1]!.toLowerCase() === 'm') fm = true
      i += 2
    }
    const key = PATTERNS.find((p) => fmt.startsWith(p, i))
    if (key !== undefined) {
      i += key.length
      const th = fmt.startsWith('TH', i) ? 'TH' : fmt.startsWith('th', i) ? 'th' : undefined
      if (th !== undefined) i += 2
      out.push({ kind: 'pattern', key, fm, th })
      continue
    }
    if (i >= fmt.length) break
    const c = fmt[i]!
    if (c === '"') {
      let text = ''
      i++
      while (i < fmt.length && fmt[i] !== '"') {
        if (fmt[i] === '\\' && i + 1 < fmt.length) i++
        text += fmt[i]
        i++
      }
      i++
      out.push({ kind: 'text', text, quoted: true })
      continue
    }
    if (c === '\\' && fmt[i + 1] === '"') {
      out.push({ kind: 'text', text: '"', quoted: false })
      i += 2
      continue
    }
    const cp = String.fromCodePoint(fmt.codePointAt(i)!)
    out.push({ kind: 'text', text: cp, quoted: false })
    i += cp.length
  }
  nodes = out
  if (templates.size > 500) templates.clear()
  templates.set(fmt, nodes)
  return nodes
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December']
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday']
const ROMAN = ['I', 'II', 'III', 'IV', 'V', 'VI', 'VII', 'VIII', 'IX', 'X', 'XI', 'XII']

function ordinal(n: number, th: 'TH' | 'th'): string {
  const a = Math.abs(n)
  const last = a % 10
  const suffix = a % 100 >= 11 && a % 100 <= 13 ? 'th' : last === 1 ? 'st' : last === 2 ? 'nd' : last === 3 ? 'rd' : 'th'
  return th === 'TH' ? suffix.toUpperCase() : suffix
}

/** A number zero-padded to `width` (unless FM), with its TH suffix. */
function num(n: number, width: number, node: { fm: boolean; th: 'TH' | 'th' | undefined }): string {
  const text = node.fm ? String(n) : n < 0 ? `-${String(-n).padStart(width, '0')}` : String(n).padStart(width, '0')
  return node.th === undefined ? text : text + ordinal(n, node.th)
}

/** Names as the pattern's case asks: `MONTH` upper, `Month` capitalized, `month` lower; blank-padded to 9 unless FM. */
function name(full: string, key: string, fm: boolean, short: boolean): string {
  const base = short ? full.slice(0, 3) : full
  const cased = key === key.toUpperCase() && key.length > 1 && key[1] !== key[1]!.toLowerCase() ? base.toUpperCase() : key[0] === key[0]!.toLowerCase() ? base.toLowerCase() : base
  return short || fm ? cased : cased.padEnd(9, ' ')
}

/** What a timestamp's patterns read: calendar fields, and for timestamptz the zone's offset and abbreviation. */
interface Moment extends Fields {
  /** Days since 1970-01-01 (ISO weeks, Julian days). */
  readonly days: number
  /** An interval's fields: years may be 0 and are not shown BC. */
  readonly interval: boolean
  readonly offset?: number
  readonly abbrev?: string
}

function patternText(node: Extract<Node, { kind: 'pattern' }>, m: Moment): string {
  const k = node.key
  const up = k.toUpperCase()
  const bc = m.year <= 0
  const year = bc && !m.interval ? 1 - m.year : m.year
  switch (up) {
    case 'HH24':
      return num(m.hour, 2, node)
    case 'HH':
    case 'HH12': {
      const h = m.hour % 12
      return num(h === 0 ? 12 : h, 2, node)
    }
    case 'MI':
      return num(m.minute, 2, node)
    case 'SS':
      return num(m.second, 2, node)
    case 'MS':
      return num(Math.floor(m.micro / 1000), 3, node)
    case 'US':
      return num(m.micro, 6, node)
    case 'FF1':
    case 'FF2':
    case 'FF3':
    case 'FF4':
    case 'FF5':
    case 'FF6': {
      const digits = Number(up[2])
      return num(Math.floor(m.micro / 10 ** (6 - digits)), digits, node)
    }
    case 'SSSS':
    case 'SSSSS':
      return num(m.hour * 3600 + m.minute * 60 + m.second, 0, node)
    case 'AM':
    case 'PM':
      return m.hour >= 12 ? (k === k.toUpperCase() ? 'PM' : 'pm') : k === k.toUpperCase() ? 'AM' : 'am'
    case 'A.M.':
    case 'P.M.':
      return m.hour >= 12 ? (k === k.toUpperCase() ? 'P.M.' : 'p.m.') : k === k.toUpperCase() ? 'A.M.' : 'a.m.'
    case 'AD':
    case 'BC':
      return bc ? (k === up ? 'BC' : 'bc') : k === up ? 'AD' : 'ad'
    case 'A.D.':
    case 'B.C.':
      return bc ? (k === up ? 'B.C.' : 'b.c.') : k === up ? 'A.D.' : 'a.d.'
    case 'Y,YYY':
      return `${Math.floor(year / 1000)},${num(year % 1000, 3, { fm: false, th: undefined })}${node.th === undefined ? '' : ordinal(year, node.th)}`
    case 'YYYY':
      return num(year, 4, node)
    case 'YYY':
      return num(year % 1000, 3, node)
    case 'YY':
      return num(year % 100, 2, node)
    case 'Y':
      return num(year % 10, 1, node)
    case 'IYYY':
    case 'IYY':
    case 'IY':
    case 'I': {
      const iy = isoWeek(m.days).year
      const mod = up === 'IYYY' ? 0 : 10 ** up.length
      return num(mod === 0 ? iy : iy % mod, up.length, node)
    }
    case 'MONTH':
    case 'MON':
      if (m.month < 1) return ''
      return name(MONTHS[m.month - 1]!, k, node.fm, up === 'MON')
    case 'MM':
      return num(m.month, 2, node)
    case 'DAY':
    case 'DY':
      return name(DAYS[m.dow]!, k, node.fm, up === 'DY')
    case 'DDD':
      return num(m.doy, 3, node)
    case 'IDDD':
      return num(m.days - isoYearStart(isoWeek(m.days).year) + 1, 3, node)
    case 'DD':
      return num(m.day, 2, node)
    case 'D':
      return num(m.dow + 1, 1, node)
    case 'ID':
      return num(m.dow === 0 ? 7 : m.dow, 1, node)
    case 'W':
      return num(Math.floor((m.day - 1) / 7) + 1, 1, node)
    case 'WW':
      return num(Math.floor((m.doy - 1) / 7) + 1, 2, node)
    case 'IW':
      return num(isoWeek(m.days).week, 2, node)
    case 'CC': {
      const cc = m.interval ? Math.trunc(m.year / 100) : m.year > 0 ? Math.floor((m.year + 99) / 100) : -Math.floor((99 - (m.year - 1)) / 100)
      return num(cc, 2, node)
    }
    case 'J':
      return num(m.days + 2440588, 0, node)
    case 'Q':
      return m.month < 1 ? '' : num(Math.floor((m.month - 1) / 3) + 1, 0, node)
    case 'RM': {
      if (m.month < 1) return ''
      const r = ROMAN[m.month - 1]!
      const cased = k === 'rm' ? r.toLowerCase() : r
      return node.fm ? cased : cased.padEnd(4, ' ')
    }
    case 'TZ':
      if (m.offset === undefined) return ''
      return k === 'tz' ? (m.abbrev ?? '').toLowerCase() : (m.abbrev ?? '')
    case 'OF':
      return m.offset === undefined ? '' : formatOffset(m.offset)
    case 'TZH':
      return m.offset === undefined ? '' : `${m.offset < 0 ? '-' : '+'}${String(Math.floor(Math.abs(m.offset) / 3600)).padStart(2, '0')}`
    case 'TZM':
      return m.offset === undefined ? '' : String(Math.floor((Math.abs(m.offset) % 3600) / 60)).padStart(2, '0')
    default:
      return k
  }
}

function render(fmt: string, m: Moment): string {
  let out = ''
  for (const node of parseTemplate(fmt)) out += node.kind === 'text' ? node.text : patternText(node, m)
  return out
}

const momentOf = (local: number, offset?: number, abbrev?: string): Moment => {
  const f = fieldsOf(local)
  return { ...f, days: Math.floor(local / MICROS_PER_DAY), interval: false, ...(offset === undefined ? {} : { offset, abbrev: abbrev ?? '' }) }
}

/** tzdata's abbreviations (standard, daylight) for zones whose Intl short name is only `GMT+x`. */
const TZ_ABBREVIATIONS: Readonly<Record<string, readonly [string, string]>> = {
  'Asia/Kolkata': ['IST', 'IST'], 'Asia/Calcutta': ['IST', 'IST'], 'Asia/Tokyo': ['JST', 'JDT'], 'Asia/Seoul': ['KST', 'KDT'],
  'Asia/Shanghai': ['CST', 'CDT'], 'Asia/Hong_Kong': ['HKT', 'HKST'], 'Asia/Jerusalem': ['IST', 'IDT'], 'Asia/Karachi': ['PKT', 'PKST'],
  'Australia/Sydney': ['AEST', 'AEDT'], 'Australia/Melbourne': ['AEST', 'AEDT'], 'Australia/Brisbane': ['AEST', 'AEDT'],
  'Australia/Adelaide': ['ACST', 'ACDT'], 'Australia/Darwin': ['ACST', 'ACDT'], 'Australia/Perth': ['AWST', 'AWDT'],
  'Pacific/Auckland': ['NZST', 'NZDT'], 'Africa/Johannesburg': ['SAST', 'SAST'], 'Africa/Lagos': ['WAT', 'WAT'], 'Africa/Nairobi': ['EAT', 'EAT'],
  'America/St_Johns': ['NST', 'NDT'], 'America/Halifax': ['AST', 'ADT'], 'America/Sao_Paulo': ['-03', '-02'],
}

/** The zone's abbreviation at an instant, as tzdata spells it (`CET`, `EST`); `+03` where it has none. */
function zoneAbbrev(zone: TimeZone, ms: number, offset: number): string {
  if (zone === UTC_ZONE || zone.name === 'UTC') return 'UTC'
  const known = TZ_ABBREVIATIONS[zone.name]
  if (known !== undefined) {
    const year = new Date(ms).getUTCFullYear()
    const standard = Math.min(zone.offsetSeconds(Date.UTC(year, 0, 1)), zone.offsetSeconds(Date.UTC(year, 6, 1)))
    return offset === standard ? known[0] : known[1]
  }
  const locale = zone.name.startsWith('America/') ? 'en-US' : 'en-GB'
  try {
    const part = new Intl.DateTimeFormat(locale, { timeZone: zone.name, timeZoneName: 'short' }).formatToParts(new Date(ms)).find((p) => p.type === 'timeZoneName')?.value
    if (part !== undefined && !/^(GMT|UTC)[+-]/.test(part)) return part === 'GMT' && offset !== 0 ? formatOffset(offset) : part
  } catch {
    // A fixed-offset zone (`+02`, POSIX) has no tz database name.
  }
  return formatOffset(offset)
}

export function toCharTimestamp(ts: number, fmt: string): string | null {
  if (!Number.isFinite(ts)) return null
  // A timestamp has no zone: TZ is empty and OF +00, as PostgreSQL prints them.
  return render(fmt, momentOf(ts, 0, ''))
}

export function toCharTimestamptz(ts: number, fmt: string, ctx: EvalContext): string | null {
  if (!Number.isFinite(ts)) return null
  const zone = sessionZone(ctx)
  const ms = Math.floor(ts / 1000)
  const offset = zone.offsetSeconds(ms)
  return render(fmt, momentOf(ts + offset * MICROS_PER_SECOND, offset, fmt.toLowerCase().includes('tz') ? zoneAbbrev(zone, ms, offset) : ''))
}

export function toCharInterval(i: Interval, fmt: string): string {
  const hours = Math.trunc(i.micros / MICROS_PER_HOUR)
  let rest = i.micros - hours * MICROS_PER_HOUR
  const minute = Math.trunc(rest / MICROS_PER_MINUTE)
  rest -= minute * MICROS_PER_MINUTE
  const second = Math.trunc(rest / MICROS_PER_SECOND)
  const micro = rest - second * MICROS_PER_SECOND
  const m: Moment = {
    year: Math.trunc(i.months / 12), month: i.months % 12, day: i.days, hour: hours, minute, second, micro,
    dow: 0, doy: 0, days: 0, interval: true,
  }
  return render(fmt, m)
}

// --- Reading: to_timestamp(text, template), to_date(text, template) ---

interface Parsed {
  year?: number
  month?: number
  day?: number
  hour?: number
  minute?: number
  second?: number
  micro?: number
  pm?: boolean
  bc?: boolean
  doy?: number
  tzOffset?: number
  twelveHour?: boolean
}

const badValue = (value: string, key: string): SluiceError =>
  new SluiceError('execution', SqlState.invalidDatetimeFormat, `invalid value "${value}" for "${key}"`, { detail: 'Value must be an integer.' })

const NUMBER_WIDTH: Readonly<Record<string, number>> = {
  HH24: 2, HH12: 2, HH: 2, MI: 2, SS: 2, MS: 3, US: 6, YYYY: 4, YYY: 3, YY: 2, Y: 1, MM: 2, DD: 2, DDD: 3, D: 1, SSSS: 5, SSSSS: 5,
  IYYY: 4, IYY: 3, IY: 2, I: 1, ID: 1, IDDD: 3, W: 1, WW: 2, IW: 2, CC: 2, J: 7, Q: 1, FF1: 1, FF2: 2, FF3: 3, FF4: 4, FF5: 5, FF6: 6, TZM: 2,
}

function parseInput(text: string, fmt: string): Parsed {
  const out: Parsed = {}
  const nodes = parseTemplate(fmt)
  let pos = 0
  const skipSpaces = (): void => {
    while (pos < text.length && text[pos] === ' ') pos++
  }
  for (let n = 0; n < nodes.length; n++) {
    const node = nodes[n]!
    if (node.kind === 'text') {
      if (node.text === ' ') {
        skipSpaces()
        continue
      }
      // Any one character stands for a separator of the template, as PostgreSQL's non-FX mode reads it.
      if (pos < text.length && (text[pos] === node.text || !/[A-Za-z0-9]/.test(text[pos]!))) pos++
      continue
    }
    if (pos >= text.length) break
    skipSpaces()
    const up = node.key.toUpperCase()
    const nextIsDigit = nodes[n + 1]?.kind === 'pattern' && NUMBER_WIDTH[(nodes[n + 1] as { key: string }).key.toUpperCase()] !== undefined
    const width = NUMBER_WIDTH[up]
    if (width !== undefined || up === 'TZH' || up === 'Y,YYY') {
      const m = up === 'Y,YYY' ? /^\d{1,3},\d{3}/.exec(text.slice(pos)) : up === 'TZH' ? /^[+-]?\d{1,2}/.exec(text.slice(pos)) : new RegExp(`^-?\\d{1,${up === 'YYYY' && !nextIsDigit ? 9 : width}}`).exec(text.slice(pos))
      if (m === null) {
        const word = /^\S*/.exec(text.slice(pos))![0]
        throw badValue(word.slice(0, width ?? 2), node.key)
      }
      pos += m[0].length
      setNumber(out, up, Number(m[0].replace(',', '')), text)
      continue
    }
    switch (up) {
      case 'MONTH':
      case 'MON': {
        const found = MONTHS.findIndex((mo) => text.slice(pos, pos + (up === 'MON' ? 3 : mo.length)).toLowerCase() === (up === 'MON' ? mo.slice(0, 3) : mo).toLowerCase())
        if (found < 0) throw new SluiceError('execution', SqlState.invalidDatetimeFormat, `invalid value "${text.slice(pos, pos + 3)}" for "${node.key}"`, { detail: 'The given value did not match any of the allowed values for this field.' })
        out.month = found + 1
        pos += up === 'MON' ? 3 : MONTHS[found]!.length
        break
      }
      case 'DAY':
      case 'DY': {
        const found = DAYS.findIndex((d) => text.slice(pos, pos + (up === 'DY' ? 3 : d.length)).toLowerCase() === (up === 'DY' ? d.slice(0, 3) : d).toLowerCase())
        if (found < 0) throw new SluiceError('execution', SqlState.invalidDatetimeFormat, `invalid value "${text.slice(pos, pos + 3)}" for "${node.key}"`, { detail: 'The given value did not match any of the allowed values for this field.' })
        pos += up === 'DY' ? 3 : DAYS[found]!.length
        break
      }
      case 'AM':
      case 'PM':
      case 'A.M.':
      case 'P.M.': {
        const w = text.slice(pos, pos + up.length).toUpperCase()
        if (w !== 'AM' && w !== 'PM' && w !== 'A.M.' && w !== 'P.M.') throw new SluiceError('execution', SqlState.invalidDatetimeFormat, `invalid value "${text.slice(pos, pos + up.length)}" for "${node.key}"`, { detail: 'The given value did not match any of the allowed values for this field.' })
        out.pm = w.startsWith('P')
        out.twelveHour = true
        pos += up.length
        break
      }
      case 'AD':
      case 'BC':
      case 'A.D.':
      case 'B.C.': {
        out.bc = text.slice(pos, pos + 1).toUpperCase() === 'B'
        pos += up.length
        break
      }
      case 'TZ':
      case 'OF':
        throw new SluiceError('execution', SqlState.featureNotSupported, `formatting field "${node.key}" is only supported in to_char`)
      default:
        pos += node.key.length
    }
  }
  return out
}

function setNumber(out: Parsed, up: string, v: number, text: string): void {
  switch (up) {
    case 'HH24':
      out.hour = v
      return
    case 'HH':
    case 'HH12':
      out.hour = v
      out.twelveHour = true
      return
    case 'MI':
      out.minute = v
      return
    case 'SS':
      out.second = v
      return
    case 'MS':
      out.micro = (out.micro ?? 0) + v * 1000
      return
    case 'US':
      out.micro = v
      return
    case 'SSSS':
    case 'SSSSS':
      out.hour = Math.floor(v / 3600)
      out.minute = Math.floor((v % 3600) / 60)
      out.second = v % 60
      return
    case 'YYYY':
    case 'Y,YYY':
      out.year = v
      return
    case 'YYY':
    case 'YY':
    case 'Y':
      // Two-digit years: 70-99 are 1900s, else 2000s (as PostgreSQL's adjust_partial_year_to_2020).
      out.year = up === 'YY' ? (v < 70 ? 2000 + v : 1900 + v) : up === 'YYY' ? (v < 100 ? 2000 + v : v < 520 ? 2000 + v : 1000 + v) : 2000 + v
      return
    case 'MM':
      out.month = v
      return
    case 'DD':
      out.day = v
      return
    case 'DDD':
      out.doy = v
      return
    case 'TZH':
      out.tzOffset = v * 3600 + Math.sign(v || 1) * (out.tzOffset ?? 0)
      return
    case 'TZM':
      out.tzOffset = (out.tzOffset ?? 0) + Math.sign(out.tzOffset ?? 1) * v * 60
      return
    case 'FF1':
    case 'FF2':
    case 'FF3':
    case 'FF4':
    case 'FF5':
    case 'FF6':
      out.micro = v * 10 ** (6 - Number(up[2]))
      return
    default:
      void text
  }
}

const outOfRange = (text: string): SluiceError => new SluiceError('execution', SqlState.datetimeFieldOverflow, `date/time field value out of range: "${text}"`)

/** The wall-clock time (microseconds) a text shows by a template; the offset if it names one. */
function readLocal(text: string, fmt: string): { local: number; offset?: number } {
  const p = parseInput(text, fmt)
  let year = p.year ?? 1
  if (p.bc === true) year = 1 - year
  let hour = p.hour ?? 0
  if (p.twelveHour === true) {
    if (hour < 1 || hour > 12) throw new SluiceError('execution', SqlState.invalidDatetimeFormat, `hour "${hour}" is invalid for the 12-hour clock`, { hint: 'Use the 24-hour clock, or give an hour between 1 and 12.' })
    if (p.pm === true && hour < 12) hour += 12
    if (p.pm !== true && hour === 12) hour = 0
  }
  let month = p.month ?? 1
  let day = p.day ?? 1
  if (p.doy !== undefined && p.month === undefined && p.day === undefined) {
    const d = daysFromCivil(year, 1, 1) + p.doy - 1
    const f = fieldsOf(d * MICROS_PER_DAY)
    month = f.month
    day = f.day
  }
  const minute = p.minute ?? 0
  const second = p.second ?? 0
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 24 || minute > 59 || second > 60) throw outOfRange(text)
  const local = daysFromCivil(year, month, day) * MICROS_PER_DAY + hour * MICROS_PER_HOUR + minute * MICROS_PER_MINUTE + second * MICROS_PER_SECOND + (p.micro ?? 0)
  return p.tzOffset === undefined ? { local } : { local, offset: p.tzOffset }
}

export function toTimestampText(text: string, fmt: string, ctx: EvalContext): number {
  const { local, offset } = readLocal(text, fmt)
  return inRange(offset === undefined ? localToUtc(local, sessionZone(ctx)) : local - offset * MICROS_PER_SECOND)
}

export function toDateText(text: string, fmt: string): number {
  const { local } = readLocal(text, fmt)
  return inRange(Math.floor(local / MICROS_PER_DAY) * MICROS_PER_DAY)
}

const isText = (t: SqlType): boolean => !t.element && (t.name === 'text' || t.name === 'unknown')
const impl = (volatile: boolean, emit: (a: readonly string[], c: EmitContext) => string): ScalarImpl => (volatile ? { strict: true, volatile: true, emit } : { strict: true, emit })

const toCharFn: FunctionRule = (args) => {
  if (args.length !== 2 || !isText(args[1]!) || args[0]!.element) return undefined
  const t = args[0]!
  switch (t.name) {
    case 'timestamptz':
      return { type: Types.text, impl: impl(true, ([x, f], c) => `${c.constant(toCharTimestamptz)}(${x}, ${f}, ctx)`), argTypes: [t, Types.text] }
    case 'timestamp':
    case 'date':
      return { type: Types.text, impl: impl(false, ([x, f], c) => `${c.constant(toCharTimestamp)}(${x}, ${f})`), argTypes: [Types.timestamp, Types.text] }
    case 'interval':
      return { type: Types.text, impl: impl(false, ([x, f], c) => `${c.constant(toCharInterval)}(${x}, ${f})`), argTypes: [t, Types.text] }
    default:
      return isNumeric(t) ? NUMBER_FORMAT_FUNCTIONS.to_char!(args) : undefined
  }
}

export const DATETIME_FORMAT_FUNCTIONS: Record<string, FunctionRule> = {
  to_char: toCharFn,
  to_timestamp: (args) => {
    if (args.length === 1 && (isNumeric(args[0]!) || (args[0]!.name === 'unknown' && !args[0]!.element))) {
      return { type: Types.timestamptz, impl: impl(false, ([x]) => `H.toTimestamp(${x})`), argTypes: [Types.float8] }
    }
    if (args.length !== 2 || !args.every(isText)) return undefined
    return { type: Types.timestamptz, impl: impl(true, ([x, f], c) => `${c.constant(toTimestampText)}(${x}, ${f}, ctx)`), argTypes: [Types.text, Types.text] }
  },
  to_date: (args) =>
    args.length === 2 && args.every(isText) ? { type: Types.date, impl: impl(false, ([x, f], c) => `${c.constant(toDateText)}(${x}, ${f})`), argTypes: [Types.text, Types.text] } : undefined,
  to_number: NUMBER_FORMAT_FUNCTIONS.to_number!,
}
