/**
 * Decoding delimited text records: CSV (RFC 4180 quoting) and tab-separated lines without a header, the
 * layout of many game telemetry pipelines. Fields map to the stream's columns by position; an empty field
 * or `\N` is NULL. With a type selector (`type_column = 2, type_id = 10005`), a record whose field at that
 * position is another type id belongs to another stream on the same topic: the decoder returns null and the
 * record is skipped, not filed as a dead letter.
 */
import { nulInText, parseValue, type Column, type Row, type Value } from '../common/types.ts'
import { DecodeError, strictRecordText, timestampFromJson } from './decode.ts'

export interface DelimitedFormat {
  readonly kind: 'csv' | 'tsv'
  /** 1-based position of the field holding the event type id. */
  readonly typeColumn?: number
  readonly typeId?: string
}

/** A decoder that returns null for records of another type (see the type selector). */
export type DelimitedDecoder = (record: Buffer | string) => Row | null

export function compileDelimitedDecoder(columns: readonly Column[], format: DelimitedFormat): DelimitedDecoder {
  const split = format.kind === 'csv' ? splitCsv : splitTsv
  const coerce = columns.map((c) => fieldCoercion(c))
  const typeIndex = format.typeColumn === undefined ? -1 : format.typeColumn - 1
  const typeId = format.typeId ?? ''
  return (record) => {
    const text = strictRecordText(record)
    // PostgreSQL refuses a NUL anywhere in its input (22021); a NUL cannot be part of any field's value.
    if (text.includes('\0')) throw new DecodeError(nulInText().message)
    const line = text.endsWith('\r\n') ? text.slice(0, -2) : text.endsWith('\n') ? text.slice(0, -1) : text
    const fields = split(line)
    if (typeIndex >= 0 && (fields[typeIndex] ?? '').trim() !== typeId) return null
    if (fields.length < columns.length) throw new DecodeError(`expected ${columns.length} fields, got ${fields.length}`)
    const row = new Array<Value>(columns.length)
    for (let i = 0; i < columns.length; i++) row[i] = coerce[i]!(fields[i] ?? null)
    return row
  }
}

/** One field -> the column's value: NULL (null field) checked against NOT NULL, text parsed by type. */
function fieldCoercion(c: Column): (field: string | null) => Value {
  return (field) => {
    if (field === null) {
      if (!c.nullable) throw new DecodeError(`null value in column "${c.name}" violates not-null constraint`)
      return null
    }
    try {
      switch (c.type.element ? 'array' : c.type.name) {
        case 'timestamptz':
        case 'timestamp':
        case 'date':
          return /^-?\d+(\.\d+)?$/.test(field) ? timestampFromJson(Number(field), c.name) : timestampFromJson(field, c.name)
        case 'text':
          return field
        case 'int2':
        case 'int4':
        case 'int8':
          if (!/^\s*-?\d+\s*$/.test(field)) throw new Error(`invalid integer "${field.slice(0, 40)}"`)
          return parseValue(field, c.type)
        default:
          return parseValue(field, c.type)
      }
    } catch (err) {
      if (err instanceof DecodeError) throw err
      throw new DecodeError(`column "${c.name}": ${(err as Error).message}`)
    }
  }
}

const nullIfEmpty = (f: string): string | null => (f === '' || f === '\\N' ? null : f)

/** Tab-separated: no quoting, every tab separates; an empty field or `\N` is NULL. */
export function splitTsv(line: string): (string | null)[] {
  return line.split('\t').map(nullIfEmpty)
}

/**
 * RFC 4180: fields separated by commas, optionally quoted with `"`, a quote inside doubled. An empty
 * unquoted field (or `\N`) is NULL; `""` is the empty string.
 */
export function splitCsv(line: string): (string | null)[] {
  const fields: (string | null)[] = []
  let i = 0
  const n = line.length
  for (;;) {
    if (line.charCodeAt(i) === 34 /* " */) {
      let value = ''
      let j = i + 1
      for (;;) {
        const q = line.indexOf('"', j)
        if (q === -1) throw new DecodeError('unterminated quoted field')
        value += line.slice(j, q)
        if (line.charCodeAt(q + 1) === 34) {
          value += '"'
          j = q + 2
        } else {
          j = q + 1
          break
        }
      }
      fields.push(value)
      if (j >= n) return fields
      if (line.charCodeAt(j) !== 44 /* , */) throw new DecodeError(`unexpected character after a quoted field at position ${j + 1}`)
      i = j + 1
    } else {
      const comma = line.indexOf(',', i)
      if (comma === -1) {
        fields.push(nullIfEmpty(line.slice(i)))
        return fields
      }
      fields.push(nullIfEmpty(line.slice(i, comma)))
      i = comma + 1
    }
  }
}
