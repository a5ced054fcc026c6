/**
 * Decoding stream records (JSON objects, one per event) into rows of the stream's schema, and encoding rows
 * back (INSERT writes the same JSON the Kafka connector will read). The decoder is generated once per
 * stream: one JSON.parse and one straight-line coercion per column, no per-field dispatch on types.
 */
import { SluiceError, SqlState } from '../common/errors.ts'
import { jsonCompactText, jsonbFromText, jsonbText, parseJsonDigits } from '../common/jsonb-text.ts'
import { isAscii, isUtf8 } from 'node:buffer'
import {
  EVENT_TIME_MIN,
  EVENT_TIME_END,
  eventTimeError,
  formatValue,
  invalidEncodingError,
  invalidUtf8At,
  isEventTime,
  nulInText,
  parseTimestamp,
  parseValue,
  typeDisplayName,
  type Column,
  type Row,
  type SqlType,
  type Value,
} from '../common/types.ts'

import { JsonScanner, UNREAD } from './json-scan.ts'
import { NumKind, Numeric, applyTypmod, numericFromNumber, parseNumeric, parseShortAt } from '../common/numeric.ts'

export type DecodeResult = { readonly ok: true; readonly row: Row } | { readonly ok: false; readonly reason: string }

export class DecodeError extends Error {}

const MIN_MS = EVENT_TIME_MIN / 1000
const END_MS = EVENT_TIME_END / 1000

/** A value as a dead letter's reason shows it: JSON, cut short. */
const shown = (v: unknown): string => {
  const text = JSON.stringify(v) ?? String(v)
  return text.length > 40 ? `${text.slice(0, 40)}...` : text
}

const outOfEventTime = (column: string, v: unknown): DecodeError =>
  new DecodeError(`column "${column}": timestamp out of range for an event time: ${shown(v)} (Sluice accepts 0001-01-01 to 9999-12-31 UTC)`)

/**
 * An event's timestamp: epoch milliseconds (the common convention of event producers) or text. Either must
 * lie in the event-time range (common/types.ts): NaN, infinities, `infinity` and numbers in the wrong unit
 * (`9e15` milliseconds is the year 287000) are refused, so that they never become a watermark. The fast
 * path reads the ISO form we write ourselves (`2026-11-23T10:00:00.123456Z`); anything else goes the slow,
 * strict way (a day past the month's end is refused, never rolled over as Date.parse does).
 */
export function timestampFromJson(v: unknown, column: string): number {
  if (typeof v === 'number') {
    if (!(v >= MIN_MS && v < END_MS)) throw outOfEventTime(column, v)
    return Math.round(v * 1000)
  }
  if (typeof v !== 'string') throw new DecodeError(`column "${column}": expected a timestamp, got ${typeof v}`)
  const n = v.length
  if (n >= 20 && n <= 27 && v.charCodeAt(n - 1) === 90 /* Z */ && v.charCodeAt(10) === 84 /* T */ && dayFits(v)) {
    const ms = Date.parse(n > 24 ? `${v.slice(0, 23)}Z` : v)
    if (ms >= MIN_MS && ms < END_MS) return ms * 1000 + (n > 24 ? Number(v.slice(23, n - 1).padEnd(3, '0')) : 0)
  }
  let micros: number
  try {
    micros = parseTimestamp(v)
  } catch (err) {
    throw new DecodeError(`column "${column}": ${(err as Error).message.replace(/: ".*"$/s, '')}: ${shown(v)}`)
  }
  if (!isEventTime(micros)) throw outOfEventTime(column, v)
  return micros
}

const digit = (v: string, i: number): number => v.charCodeAt(i) - 48

/** `YYYY-MM-DD...`: whether the day exists in its month (Date.parse rolls February 30 over to March). */
function dayFits(v: string): boolean {
  const day = digit(v, 8) * 10 + digit(v, 9)
  if (day <= 28) return true
  const month = digit(v, 5) * 10 + digit(v, 6)
  if (month !== 2) return day <= (month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31)
  const year = digit(v, 0) * 1000 + digit(v, 1) * 100 + digit(v, 2) * 10 + digit(v, 3)
  return day === 29 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)
}

/**
 * A record's bytes as text, refused (a dead letter) when they are not UTF-8, as PostgreSQL refuses such
 * input (22021). ASCII, nearly every record, is read byte for byte (see record-text.ts).
 */
export function strictRecordText(record: Buffer | string): string {
  if (typeof record === 'string') return record
  if (isAscii(record)) return record.toString('latin1')
  if (isUtf8(record)) return record.toString('utf8')
  throw new DecodeError(invalidEncodingError(record, invalidUtf8At(record)).message)
}

/** A NUL character in a text value: PostgreSQL refuses it (22021). */
const nulIn = (column: string): DecodeError => new DecodeError(`column "${column}": ${nulInText().message}`)

/** After a record whose text holds `\u0000`: the first text column (or text array) holding a NUL, refused. */
function checkNul(row: Row, columns: readonly Column[]): void {
  for (let i = 0; i < columns.length; i++) {
    const v = row[i]
    if ((typeof v === 'string' && columns[i]!.type.name === 'text' && v.includes('\0')) || (Array.isArray(v) && v.some((x) => typeof x === 'string' && x.includes('\0')))) {
      throw nulIn(columns[i]!.name)
    }
  }
}

/** An integer that fits the column's type (a double: int8 exact to 2^53 - 1). */
function integerIn(v: number, t: SqlType, column: string): number {
  const fits = t.name === 'int2' ? v >= -32768 && v <= 32767 : t.name === 'int4' ? (v | 0) === v : Number.isSafeInteger(v)
  if (!fits) throw new DecodeError(`column "${column}": value ${shown(v)} is out of range for type ${typeDisplayName(t)}`)
  return v
}

/** A number that fits the column's type: JSON's 1e400 parses as Infinity, which PostgreSQL refuses (22003). */
function numberIn(v: number, t: SqlType, column: string): number {
  if (!Number.isFinite(t.name === 'float4' ? Math.fround(v) : v)) throw new DecodeError(`column "${column}": value ${shown(v)} is out of range for type ${typeDisplayName(t)}`)
  return v
}

/** Text parsed by the column's type as PostgreSQL would; its error (22P02, 22003, ...) becomes the reason. */
function parsedIn(v: string, t: SqlType, column: string): Value {
  try {
    return parseValue(v, t)
  } catch (err) {
    throw new DecodeError(`column "${column}": ${(err as Error).message}`)
  }
}

/** Coerces one JSON value to a column type; throws DecodeError with a reason for the dead-letter table. */
export function coerceJson(v: unknown, t: SqlType, column: string): Value {
  if (v === null || v === undefined) return null
  if (t.element) {
    if (!Array.isArray(v)) throw new DecodeError(`column "${column}": expected an array`)
    return v.map((x) => coerceJson(x, t.element!, column))
  }
  switch (t.name) {
    case 'int2':
    case 'int4':
    case 'int8':
      if (typeof v === 'number' && Number.isInteger(v)) return integerIn(v, t, column)
      if (typeof v === 'string' && /^\s*[+-]?\d+\s*$/.test(v)) return parsedIn(v, t, column)
      throw new DecodeError(`column "${column}": expected an integer, got ${shown(v)}`)
    case 'numeric':
      if (typeof v === 'number') return numericIn(String(v), t, column)
      if (typeof v === 'string') return parsedIn(v, t, column)
      throw new DecodeError(`column "${column}": expected a number, got ${shown(v)}`)
    case 'float4':
    case 'float8':
      if (typeof v === 'number') return numberIn(v, t, column)
      if (typeof v === 'string') return parsedIn(v, t, column)
      throw new DecodeError(`column "${column}": expected a number, got ${shown(v)}`)
    case 'text':
    case 'unknown': {
      const text = typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v)
      if (text.includes('\0')) throw nulIn(column)
      return text
    }
    case 'bool':
      if (typeof v === 'boolean') return v
      if (v === 'true' || v === 't' || v === 1) return true
      if (v === 'false' || v === 'f' || v === 0) return false
      throw new DecodeError(`column "${column}": expected a boolean, got ${shown(v)}`)
    case 'timestamptz':
    case 'timestamp':
    case 'date':
      return timestampFromJson(v, column)
    case 'json':
      return JSON.stringify(v)
    case 'jsonb':
      return jsonbText(v)
    case 'interval':
    case 'uuid':
    case 'time':
      return parseValue(String(v), t)
    case 'bytea':
      if (typeof v !== 'string') throw new DecodeError(`column "${column}": expected a string`)
      return parsedIn(v, t, column)
  }
}

// The fast paths take what is certainly in range (int2 and float4 ranges are checked in C).
const FAST: Partial<Record<string, (get: string, col: string) => string>> = {
  int2: (g, c) => `(typeof ${g} === 'number' && ${g} >= -32768 && ${g} <= 32767 && Number.isInteger(${g}) ? ${g} : C(${g}, T[${c}], N[${c}]))`,
  int4: (g, c) => `(typeof ${g} === 'number' && (${g} | 0) === ${g} ? ${g} : C(${g}, T[${c}], N[${c}]))`,
  int8: (g, c) => `(Number.isSafeInteger(${g}) ? ${g} : C(${g}, T[${c}], N[${c}]))`,
  float4: (g, c) => `(typeof ${g} === 'number' && ${g} - ${g} === 0 && Math.abs(${g}) <= 3.4028234663852886e38 ? ${g} : C(${g}, T[${c}], N[${c}]))`,
  float8: (g, c) => `(typeof ${g} === 'number' && ${g} - ${g} === 0 ? ${g} : C(${g}, T[${c}], N[${c}]))`,
  // A JSON number keeps the digits of the record's text (0.10 stays 0.10; no detour through a double).
  numeric: (g, c) => `(typeof ${g} === 'number' ? DEC(${g}, text, N[${c}], T[${c}], Q[${c}]) : C(${g}, T[${c}], N[${c}]))`,
  text: (g, c) => `(typeof ${g} === 'string' ? ${g} : C(${g}, T[${c}], N[${c}]))`,
  bool: (g, c) => `(typeof ${g} === 'boolean' ? ${g} : C(${g}, T[${c}], N[${c}]))`,
  timestamptz: (g, c) => `TS(${g}, N[${c}])`,
  timestamp: (g, c) => `TS(${g}, N[${c}])`,
  // A number anywhere in the value keeps the digits of the record's text (2.50 stays 2.50, as in jsonb).
  jsonb: (g, c) => `(typeof ${g} === 'object' || typeof ${g} === 'number' ? JB(${g}, text, Q[${c}], true) : C(${g}, T[${c}], N[${c}]))`,
  json: (g, c) => `(typeof ${g} === 'object' || typeof ${g} === 'number' ? JB(${g}, text, Q[${c}], false) : C(${g}, T[${c}], N[${c}]))`,
}

export type RowDecoder = (record: Buffer | string) => Row

/**
 * Builds the decoder of one stream. It throws DecodeError (malformed JSON, wrong types, NULL in a NOT NULL
 * column); the scan catches it and files the record as a dead letter.
 */
export function compileDecoder(columns: readonly Column[]): RowDecoder {
  const lines = coercions(columns, (i) => `o[${JSON.stringify(columns[i]!.name)}]`)
  // A NUL can only come in as the escape \u0000 (JSON refuses a raw one): a text holding that escape has
  // its text columns checked; every other record pays one substring search.
  const textual = columns.some((c) => c.type.name === 'text')
  const body = `
return function decode(record) {
  let o;
  const text = RT(record);
  try { o = JSON.parse(text); }
  catch (err) { throw new E('malformed JSON: ' + err.message); }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new E('expected a JSON object');
  ${lines.join('\n  ')}
  const row = [${columns.map((_, i) => `x${i}`).join(', ')}];
  ${textual ? "if (text.includes('\\\\u0000')) NUL(row, COLS);" : ''}
  return row;
}`
  return decoderFactory(body)(...decoderArguments(columns))
}

/**
 * Statements that coerce each column's JSON value (`get(i)`) into `x<i>`, refusing a NULL in a NOT NULL
 * column. `read(i)` false: the value is only checked (a dead letter stays one), `x<i>` stays null, and
 * UNREAD (text the scanner did not make) passes.
 */
function coercions(columns: readonly Column[], get: (i: number) => string, read: (i: number) => boolean = () => true, fastPaths = FAST): string[] {
  const lines: string[] = []
  columns.forEach((c, i) => {
    lines.push(`const v${i} = ${get(i)};`)
    const fast = c.type.element ? undefined : fastPaths[c.type.name]
    const conv = fast ? fast(`v${i}`, String(i)) : `C(v${i}, T[${i}], N[${i}])`
    const notNull = `throw new E('null value in column "' + N[${i}] + '" violates not-null constraint');`
    if (read(i)) {
      lines.push(`const x${i} = (v${i} === undefined || v${i} === null) ? null : ${conv};`)
      if (!c.nullable) lines.push(`if (x${i} === null) ${notNull}`)
    } else {
      lines.push(`const x${i} = null;`)
      lines.push(`if (v${i} === undefined || v${i} === null) { ${c.nullable ? '' : notNull} } else if (v${i} !== UNREAD) ${conv};`)
    }
  })
  return lines
}

const DECODER_PARAMETERS = ['C', 'TS', 'T', 'N', 'E', 'RT', 'NUL', 'COLS', 'DEC', 'Q', 'JB', 'UNREAD'] as const

function decoderFactory(body: string, extra: readonly string[] = []): (...args: unknown[]) => RowDecoder {
  return new Function(...DECODER_PARAMETERS, ...extra, body) as (...args: unknown[]) => RowDecoder
}

function decoderArguments(columns: readonly Column[]): unknown[] {
  return [
    coerceJson,
    timestampFromJson,
    columns.map((c) => c.type),
    columns.map((c) => c.name),
    DecodeError,
    strictRecordText,
    checkNul,
    columns,
    numericFromJson,
    columns.map((c) => JSON.stringify(c.name)),
    jsonbFromRecord,
    UNREAD,
  ]
}

/** Decodes an ASCII record from its bytes, `bytes[start, end)`. */
export type ByteDecoder = (bytes: Uint8Array, start: number, end: number) => Row

/** Types whose JSON values the scanner reads (json-scan.ts); a non-null value of any other goes to JSON.parse. */
const SCANNED = new Set(['int2', 'int4', 'int8', 'float4', 'float8', 'text', 'bool', 'timestamptz', 'timestamp', 'date', 'numeric'])

/** As FAST, a numeric's number read from its text as the scanner kept it (SCAN.tokens) instead of searched for in the record. */
const BYTE_FAST: typeof FAST = {
  ...FAST,
  numeric: (g, c) => `(typeof ${g} === 'number' ? NT(SCAN.tokens[${c}], ${g}, N[${c}], T[${c}]) : C(${g}, T[${c}], N[${c}]))`,
}

/**
 * What numericFromJson makes of the number `v` when its member is the only one of that name in the record
 * and `token` is its text: the digits as written where they are that double, else the double's.
 */
function numericFromToken(token: string, v: number, column: string, t: SqlType): Numeric {
  const short = parseShortAt(token, 0, token.length, v)
  if (short !== undefined) {
    if (short !== null) return typed(short, t, column)
  } else if (Number(token) === v) return numericIn(token, t, column)
  return numericIn(String(v), t, column)
}

/**
 * The same decoding as `compileDecoder`, from the bytes of an ASCII record through the scanner
 * (json-scan.ts): no JSON.parse object, and the text of columns outside `read` (indexes; null: all) not
 * made. Those columns are still checked, so a record is a dead letter exactly when `compileDecoder`'s
 * would refuse it; their cells are null. A record the scanner does not take is decoded by
 * `compileDecoder`'s decoder, as text (its cells outside `read` nulled too, so that a reader never sees
 * a column it was not given, whatever the record's form). Null when the column names are ones the
 * scanner cannot match.
 */
export function compileByteDecoder(columns: readonly Column[], read: ReadonlySet<number> | null): ByteDecoder | null {
  if (!JsonScanner.takes(columns.map((c) => c.name))) return null
  const reads = (i: number): boolean => read === null || read.has(i)
  const scanner = new JsonScanner(
    columns.map((c, i) => ({ name: c.name, plain: !c.type.element && SCANNED.has(c.type.name), numeric: c.type.name === 'numeric', text: reads(i) || c.type.name !== 'text' })),
  )
  const lines = coercions(columns, (i) => `V[${i}]`, reads, BYTE_FAST)
  const body = `
const V = new Array(${columns.length});
return function decode(bytes, start, end) {
  if (!SCAN.scan(bytes, start, end, V)) {
    const whole = WHOLE(LATIN1.call(bytes, start, end));
    ${columns.flatMap((_, i) => (reads(i) ? [] : [`whole[${i}] = null;`])).join(' ')}
    return whole;
  }
  ${lines.join('\n  ')}
  return [${columns.map((_, i) => `x${i}`).join(', ')}];
}`
  return (decoderFactory(body, ['SCAN', 'WHOLE', 'LATIN1', 'NT']) as unknown as (...args: unknown[]) => ByteDecoder)(...decoderArguments(columns), scanner, compileDecoder(columns), (Buffer.prototype as unknown as { latin1Slice: unknown }).latin1Slice, numericFromToken)
}

/**
 * A json(b) member of a record with the digits of the record's text: the member's value is cut from the
 * text (the first occurrence of the name whose value is the parsed one), as jsonb writes it or, for json,
 * as compact text with the numbers as written; a name spelt with escapes, or no match, falls back to the parsed value (numbers as doubles).
 */
export function jsonbFromRecord(v: unknown, text: string, quoted: string, jsonb: boolean): string {
  // Most records have no number a double would change: then the parsed value is exact, and cheaper.
  if (!MAY_LOSE_DIGITS.test(text)) return jsonb ? jsonbText(v) : JSON.stringify(v)
  let parsed: string | undefined
  let at = text.indexOf(quoted)
  while (at >= 0) {
    const next = text.indexOf(quoted, at + 1)
    let i = at + quoted.length
    while (text.charCodeAt(i) <= 32) i++
    if (text.charCodeAt(i) === 58 /* : */) {
      i++
      while (text.charCodeAt(i) <= 32) i++
      const end = jsonValueEnd(text, i)
      if (end > i) {
        const raw = text.slice(i, end)
        // The only occurrence of the name followed by ':' is the member; with others, the value must match.
        try {
          if ((at === text.indexOf(quoted) && next < 0) || jsonbText(JSON.parse(raw)) === (parsed ??= jsonbText(v))) {
            return jsonb ? jsonbFromText(raw) : jsonCompactText(parseJsonDigits(raw))
          }
        } catch {
          // not a value there (the name was inside a string): look further
        }
      }
    }
    at = next
  }
  return jsonb ? (parsed ?? jsonbText(v)) : JSON.stringify(v)
}

/**
 * Text that may hold a number a double does not keep as written: a zero ending a fraction (`2.50`), an
 * exponent, or 16 or more digits in a row (counting a point). Strings may match too; that only costs time.
 */
const MAY_LOSE_DIGITS = /\.\d*0(?!\d)|\d[eE]|\d[\d.]{15}/

/** Where the JSON value starting at `i` ends (strings, nesting and escapes skipped), or `i` if none does. */
function jsonValueEnd(text: string, i: number): number {
  let depth = 0
  let j = i
  while (j < text.length) {
    const c = text.charCodeAt(j)
    if (c === 34 /* " */) {
      j++
      while (j < text.length && text.charCodeAt(j) !== 34) j += text.charCodeAt(j) === 92 /* \\ */ ? 2 : 1
      j++
      if (depth === 0) return j
      continue
    }
    if (c === 123 || c === 91) depth++
    else if (c === 125 || c === 93) {
      if (depth === 0) return j
      depth--
      if (depth === 0) return j + 1
    } else if (depth === 0 && (c === 44 || c <= 32)) return j
    j++
  }
  return depth === 0 ? j : i
}

/** Text parsed as numeric, with the column's typmod; errors become the dead letter's reason. */
function numericIn(text: string, t: SqlType, column: string): Numeric {
  let n: Numeric
  try {
    n = parseNumeric(text)
  } catch (err) {
    throw new DecodeError(`column "${column}": ${(err as Error).message}`)
  }
  return typed(n, t, column)
}

/** A numeric with the column's typmod applied; an overflow is the dead letter's reason. */
function typed(n: Numeric, t: SqlType, column: string): Numeric {
  if (t.precision === undefined) return n
  try {
    return applyTypmod(n, t.precision, t.scale ?? 0)
  } catch (err) {
    throw new DecodeError(`column "${column}": ${(err as Error).message}`)
  }
}

/**
 * A JSON number of a numeric column, with the digits the record's text has for it: JSON.parse gave a
 * double, so the text after the member's name is read again (the first occurrence whose number is this
 * double; a name spelt with escapes falls back to the double's shortest digits).
 */
export function numericFromJson(v: number, text: string, column: string, t: SqlType, quoted = JSON.stringify(column)): Numeric {
  let at = text.indexOf(quoted)
  while (at >= 0) {
    let i = at + quoted.length
    while (text.charCodeAt(i) <= 32) i++
    if (text.charCodeAt(i) === 58 /* : */) {
      i++
      while (text.charCodeAt(i) <= 32) i++
      let end = i
      for (let c = text.charCodeAt(end); (c >= 48 && c <= 57) || c === 46 || c === 45 || c === 43 || c === 101 || c === 69; c = text.charCodeAt(++end));
      const short = parseShortAt(text, i, end, v)
      if (short !== undefined) {
        if (short !== null) return typed(short, t, column)
      } else {
        const token = text.slice(i, end)
        if (end > i && Number(token) === v) return numericIn(token, t, column)
      }
    }
    at = text.indexOf(quoted, at + 1)
  }
  return numericIn(String(v), t, column)
}

const NUMBER_MARK = '\u0000n:'
const MARKED_NUMBER = /"\\u0000n:([^"]*)"/g

/** A numeric in a row object: written into JSON as a bare number with its exact digits (see rowJson). */
export class JsonDecimal {
  constructor(readonly text: string) {}
  toJSON(): string {
    return NUMBER_MARK + this.text
  }
}

const RAW_MARK = '\u0000r:'
const MARKED_RAW = /"\\u0000r:((?:[^"\\]|\\.)*)"/g

/** A json or jsonb value in a row object: written into JSON as its own text, numbers with every digit (`2.50`). */
export class JsonRaw extends JsonDecimal {
  override toJSON(): string {
    return RAW_MARK + this.text
  }
}

/** JSON text of a row object (rowObject), its numerics as bare numbers with every digit (`1.50`, not `"1.50"`). */
export function rowJson(o: unknown): string {
  const s = JSON.stringify(o)
  if (!s.includes('\\u0000')) return s
  return s.replace(MARKED_NUMBER, '$1').replace(MARKED_RAW, (_, escaped: string) => JSON.parse(`"${escaped}"`) as string)
}

/** A numeric as JSON: finite values as JsonDecimal, NaN and the infinities as text (JSON has no such numbers). */
const numericJson = (v: Value): unknown => {
  const n = v instanceof Numeric ? v : numericFromNumber(v as number)
  return n.k === NumKind.Finite ? new JsonDecimal(n.toString()) : n.toString()
}

/** ISO 8601 with microseconds, the form `timestampFromJson` reads fastest. */
export function timestampToJson(micros: number): string {
  const ms = Math.floor(micros / 1000)
  const sub = micros - ms * 1000
  const iso = new Date(ms).toISOString()
  return sub === 0 ? iso : `${iso.slice(0, 23)}${String(sub).padStart(3, '0')}Z`
}

/** One event as the JSON object stored in the log (NULL columns left out unless `keepNulls`). */
export function encodeRow(row: readonly Value[], columns: readonly Column[], keepNulls = false): string {
  return rowJson(rowObject(row, columns, keepNulls))
}

/** A row as a JSON-ready object: timestamps as ISO 8601 text, json columns as their value. */
export function rowObject(row: readonly Value[], columns: readonly Column[], keepNulls = false): Record<string, unknown> {
  const o: Record<string, unknown> = {}
  for (let i = 0; i < columns.length; i++) {
    const c = columns[i]!
    const v = row[i] ?? null
    if (v === null) {
      if (keepNulls) o[c.name] = null
      continue
    }
    switch (c.type.element ? 'array' : c.type.name) {
      case 'timestamptz':
      case 'timestamp':
      case 'date':
        o[c.name] = timestampToJson(v as number)
        break
      case 'json':
      case 'jsonb':
        o[c.name] = new JsonRaw(v as string)
        break
      case 'interval':
      case 'bytea':
      case 'time':
        o[c.name] = formatValue(v, c.type)
        break
      case 'numeric':
        // numeric(p, s): rounded to the scale (checkRow has refused what overflows).
        o[c.name] = numericJson(c.type.precision === undefined ? v : applyTypmod(v as Numeric, c.type.precision, c.type.scale ?? 0))
        break
      case 'float4':
      case 'float8':
        // JSON has no Infinity or NaN (JSON.stringify writes null): they are kept as the text PostgreSQL
        // reads back ('Infinity', '-Infinity', 'NaN'), which coerceJson parses for a float column.
        o[c.name] = Number.isFinite(v) ? v : formatValue(v, c.type)
        break
      case 'array': {
        const e = c.type.element!
        o[c.name] = e.name === 'float8' || e.name === 'float4' ? (v as (number | null)[]).map((x) => (x === null || Number.isFinite(x) ? x : formatValue(x, e))) : v
        break
      }
      default:
        o[c.name] = v
    }
  }
  return o
}

/**
 * Checks a row before anything is written, so INSERT and COPY fail whole instead of feeding dead letters:
 * NOT NULL, numeric(p, s) precision (22003), timestamps in the event-time range (`'infinity'` is a timestamp PostgreSQL keeps, but no event
 * time: 22008 with a hint), no NUL in text (22021).
 */
export function checkRow(row: readonly Value[], columns: readonly Column[]): void {
  for (let i = 0; i < columns.length; i++) {
    const c = columns[i]!
    const v = row[i] ?? null
    if (v === null) {
      if (!c.nullable) throw new SluiceError('execution', SqlState.notNullViolation, `null value in column "${c.name}" violates not-null constraint`)
      continue
    }
    if (c.type.element) continue
    const name = c.type.name
    if (name === 'timestamptz' || name === 'timestamp' || name === 'date') {
      const err = eventTimeError(v as number, c.name)
      if (err !== null) throw err
    } else if (name === 'text' && typeof v === 'string' && v.includes('\0')) throw nulInText()
    else if (name === 'numeric' && c.type.precision !== undefined) applyTypmod(v as Numeric, c.type.precision, c.type.scale ?? 0)
  }
}
