/**
 * Decoding stream records (JSON objects, one per event) into rows of the stream's schema, and encoding rows
 * back (INSERT writes the same JSON the Kafka connector will read). The decoder is generated once per
 * stream: one JSON.parse and one straight-line coercion per column, no per-field dispatch on types.
 */
import { SluiceError, SqlState } from '../common/errors.ts'
import { formatValue, parseTimestamp, parseValue, type Column, type Row, type SqlType, type Value } from '../common/types.ts'
import { recordText } from './record-text.ts'

export type DecodeResult = { readonly ok: true; readonly row: Row } | { readonly ok: false; readonly reason: string }

export class DecodeError extends Error {}

/** Fast path for the ISO form we write ourselves (`2026-11-23T10:00:00.123456Z`); anything else goes the slow way. */
export function timestampFromJson(v: unknown, column: string): number {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new DecodeError(`column "${column}": invalid timestamp ${v}`)
    return Math.round(v * 1000) // epoch milliseconds, the common convention of event producers
  }
  if (typeof v !== 'string') throw new DecodeError(`column "${column}": expected a timestamp, got ${typeof v}`)
  const n = v.length
  if (n >= 20 && n <= 27 && v.charCodeAt(n - 1) === 90 /* Z */ && v.charCodeAt(10) === 84 /* T */) {
    const ms = Date.parse(n > 24 ? `${v.slice(0, 23)}Z` : v)
    if (!Number.isNaN(ms)) return ms * 1000 + (n > 24 ? Number(v.slice(23, n - 1).padEnd(3, '0')) : 0)
  }
  try {
    return parseTimestamp(v)
  } catch {
    throw new DecodeError(`column "${column}": invalid timestamp "${v.length > 40 ? `${v.slice(0, 40)}...` : v}"`)
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
      if (typeof v === 'number' && Number.isInteger(v)) return v
      if (typeof v === 'string' && /^-?\d+$/.test(v)) return Number(v)
      throw new DecodeError(`column "${column}": expected an integer, got ${JSON.stringify(v).slice(0, 40)}`)
    case 'float4':
    case 'float8':
    case 'numeric':
      if (typeof v === 'number') return v
      if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v)
      throw new DecodeError(`column "${column}": expected a number, got ${JSON.stringify(v).slice(0, 40)}`)
    case 'text':
    case 'unknown':
      return typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v)
    case 'bool':
      if (typeof v === 'boolean') return v
      if (v === 'true' || v === 't' || v === 1) return true
      if (v === 'false' || v === 'f' || v === 0) return false
      throw new DecodeError(`column "${column}": expected a boolean, got ${JSON.stringify(v).slice(0, 40)}`)
    case 'timestamptz':
    case 'timestamp':
    case 'date':
      return timestampFromJson(v, column)
    case 'json':
    case 'jsonb':
      return JSON.stringify(v)
    case 'interval':
    case 'bytea':
      if (typeof v !== 'string') throw new DecodeError(`column "${column}": expected a string`)
      try {
        return parseValue(v, t)
      } catch (err) {
        throw new DecodeError(`column "${column}": ${(err as Error).message}`)
      }
  }
}

const FAST: Partial<Record<string, (get: string, col: string) => string>> = {
  int2: (g, c) => `(typeof ${g} === 'number' && Number.isInteger(${g}) ? ${g} : C(${g}, T[${c}], N[${c}]))`,
  int4: (g, c) => `(typeof ${g} === 'number' && Number.isInteger(${g}) ? ${g} : C(${g}, T[${c}], N[${c}]))`,
  int8: (g, c) => `(typeof ${g} === 'number' && Number.isInteger(${g}) ? ${g} : C(${g}, T[${c}], N[${c}]))`,
  float4: (g, c) => `(typeof ${g} === 'number' ? ${g} : C(${g}, T[${c}], N[${c}]))`,
  float8: (g, c) => `(typeof ${g} === 'number' ? ${g} : C(${g}, T[${c}], N[${c}]))`,
  numeric: (g, c) => `(typeof ${g} === 'number' ? ${g} : C(${g}, T[${c}], N[${c}]))`,
  text: (g, c) => `(typeof ${g} === 'string' ? ${g} : C(${g}, T[${c}], N[${c}]))`,
  bool: (g, c) => `(typeof ${g} === 'boolean' ? ${g} : C(${g}, T[${c}], N[${c}]))`,
  timestamptz: (g, c) => `TS(${g}, N[${c}])`,
  timestamp: (g, c) => `TS(${g}, N[${c}])`,
}

export type RowDecoder = (record: Buffer | string) => Row

/**
 * Builds the decoder of one stream. It throws DecodeError (malformed JSON, wrong types, NULL in a NOT NULL
 * column); the scan catches it and files the record as a dead letter.
 */
export function compileDecoder(columns: readonly Column[]): RowDecoder {
  const lines: string[] = []
  columns.forEach((c, i) => {
    const get = `o[${JSON.stringify(c.name)}]`
    lines.push(`const v${i} = ${get};`)
    const fast = c.type.element ? undefined : FAST[c.type.name]
    const conv = fast ? fast(`v${i}`, String(i)) : `C(v${i}, T[${i}], N[${i}])`
    lines.push(`const x${i} = (v${i} === undefined || v${i} === null) ? null : ${conv};`)
    if (!c.nullable) lines.push(`if (x${i} === null) throw new E('null value in column "' + N[${i}] + '" violates not-null constraint');`)
  })
  const body = `
return function decode(record) {
  let o;
  try { o = JSON.parse(RT(record)); }
  catch (err) { throw new E('malformed JSON: ' + err.message); }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new E('expected a JSON object');
  ${lines.join('\n  ')}
  return [${columns.map((_, i) => `x${i}`).join(', ')}];
}`
  const factory = new Function('C', 'TS', 'T', 'N', 'E', 'RT', body) as (...args: unknown[]) => RowDecoder
  return factory(
    coerceJson,
    timestampFromJson,
    columns.map((c) => c.type),
    columns.map((c) => c.name),
    DecodeError,
    recordText,
  )
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
  return JSON.stringify(rowObject(row, columns, keepNulls))
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
        o[c.name] = JSON.parse(v as string)
        break
      case 'interval':
      case 'bytea':
        o[c.name] = formatValue(v, c.type)
        break
      default:
        o[c.name] = v
    }
  }
  return o
}

/** Checks NOT NULL before anything is written, so INSERT fails whole instead of feeding dead letters. */
export function checkRow(row: readonly Value[], columns: readonly Column[]): void {
  columns.forEach((c, i) => {
    if (!c.nullable && (row[i] ?? null) === null) {
      throw new SluiceError('execution', SqlState.notNullViolation, `null value in column "${c.name}" violates not-null constraint`)
    }
  })
}
